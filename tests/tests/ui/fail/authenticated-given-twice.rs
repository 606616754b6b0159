use metrics_runtime::{Authenticate, authenticated};

struct Request;

impl Authenticate for Request {
    type Rejection = ();
    fn authenticate(&self) -> Result<(), ()> {
        Ok(())
    }
}

#[authenticated]
#[authenticated]
fn get_instances(request: &Request) {
    let _ = request;
}

fn main() {}
