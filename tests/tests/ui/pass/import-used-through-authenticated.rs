//! The `prometheus_metrics` import counts as used when `#[authenticated]` expands it.
#![deny(warnings)]

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
fn get_instances(request: &Request) -> Result<(), ()> {
    let _ = request;
    Ok(())
}

fn main() {
    get_instances(&Request).unwrap();
}
