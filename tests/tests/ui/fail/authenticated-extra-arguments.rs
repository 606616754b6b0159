use metrics_runtime::{Authenticate, authenticated};

struct Request;

impl Authenticate for Request {
    type Rejection = ();
    fn authenticate(&self) -> Result<(), ()> {
        Ok(())
    }
}

#[authenticated(request, other)]
fn get_instances(request: &Request, other: &Request) {
    let _ = (request, other);
}

fn main() {}
