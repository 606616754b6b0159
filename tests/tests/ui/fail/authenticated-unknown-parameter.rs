use metrics_runtime::{Authenticate, authenticated};

struct Request;

impl Authenticate for Request {
    type Rejection = ();
    fn authenticate(&self) -> Result<(), ()> {
        Ok(())
    }
}

#[authenticated(nonexistent)]
fn get_instances(request: &Request, name: &str) {
    let _ = (request, name);
}

fn main() {}
