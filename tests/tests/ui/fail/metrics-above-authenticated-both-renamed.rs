use metrics_runtime::{Authenticate, prometheus_metrics as measured, authenticated as checked};

struct Request;

impl Authenticate for Request {
    type Rejection = ();
    fn authenticate(&self) -> Result<(), ()> {
        Ok(())
    }
}

#[measured]
#[checked]
fn get_instances(request: &Request) {
    let _ = request;
}

fn main() {}
