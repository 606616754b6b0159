use metrics_runtime::{Authenticate, authenticated, prometheus_metrics};

struct Request;

impl Authenticate for Request {
    type Rejection = ();
    fn authenticate(&self) -> Result<(), ()> {
        Ok(())
    }
}

#[prometheus_metrics]
#[authenticated]
fn get_instances(request: &Request) {
    let _ = request;
}

fn main() {}
