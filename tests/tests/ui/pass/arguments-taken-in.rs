//! The measured body takes every argument in (so they drop inside the call) without a warning:
//! `mut` arguments it mutates, `ref mut` bindings, `_` and patterns, a by-value `self`.
#![deny(warnings)]

use metrics_runtime::{authenticated, prometheus_metrics, Authenticate};

struct Request;

impl Authenticate for Request {
    type Rejection = ();
    fn authenticate(&self) -> Result<(), ()> {
        Ok(())
    }
}

struct Pair {
    left: u8,
    right: Vec<u8>,
}

#[prometheus_metrics]
fn mutated(mut count: u8, _: String, (first, _): (u8, u8)) -> u8 {
    count += first;
    count
}

#[prometheus_metrics]
fn by_mutable_reference(ref mut total: u32, Pair { left, mut right }: Pair) -> usize {
    *total += u32::from(left);
    right.push(1);
    right.len()
}

#[authenticated]
#[prometheus_metrics]
async fn checked(request: Request, mut lines: Vec<String>) -> Result<usize, ()> {
    let _ = &request;
    lines.push(String::new());
    Ok(lines.len())
}

struct Service(u8);

impl Service {
    #[prometheus_metrics(handler = "Service::consume")]
    fn consume(mut self, _unused: u8) -> u8 {
        self.0 += 1;
        self.0
    }
}

fn main() {
    assert_eq!(mutated(1, String::new(), (2, 3)), 3);
    assert_eq!(by_mutable_reference(0, Pair { left: 1, right: Vec::new() }), 1);
    let _ = checked(Request, Vec::new());
    assert_eq!(Service(1).consume(0), 2);
}
