//! Generated code needs nothing in scope: not `prometheus`, not `once_cell`, not even the
//! runtime's name, and survives a crate that shadows `core`, `Result` and `Box` names.
#![deny(warnings)]
#![allow(dead_code)]

mod core {}
struct Result;
struct Err;

#[metrics_runtime::authenticated]
#[metrics_runtime::prometheus_metrics]
fn handler(token: &Token) -> std::result::Result<u8, ()> {
    let _ = token;
    Ok(1)
}

struct Token;

impl metrics_runtime::Authenticate for Token {
    type Rejection = ();
    fn authenticate(&self) -> std::result::Result<(), ()> {
        std::result::Result::Ok(())
    }
}

fn main() {
    assert_eq!(handler(&Token), Ok(1));
}
