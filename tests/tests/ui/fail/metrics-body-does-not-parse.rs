// A typo in the body is reported once, by the compiler, not a second time by the attribute.
use metrics_runtime::{Authenticate, authenticated, prometheus_metrics};

struct Request;

impl Authenticate for Request {
    type Rejection = ();
    fn authenticate(&self) -> Result<(), ()> {
        Ok(())
    }
}

#[authenticated]
#[prometheus_metrics]
fn typo(request: &Request) -> u32 {
    let _ = request;
    let x = ;
    x
}

fn main() {}
