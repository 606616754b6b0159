//! A crate that forbids `unsafe` can still use both attributes: the generated code has none of
//! its own.
#![forbid(unsafe_code)]
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

#[authenticated]
#[prometheus_metrics(skip)]
fn oidc_auth_check(request: &Request) {
    let _ = request;
}

fn main() {
    get_instances(&Request).unwrap();
    oidc_auth_check(&Request);
}
