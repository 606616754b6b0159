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

const CATALOGUE: metrics_runtime::Objective =
    metrics_runtime::Objective::new("catalogue").availability(99.9);

struct Scopes;

#[metrics_runtime::prometheus_handlers(objective = CATALOGUE)]
impl Scopes {
    #[metrics_runtime::authenticated(token)]
    #[metrics_runtime::prometheus_metrics]
    fn get(&self, token: &Token) -> std::result::Result<u8, ()> {
        let _ = token;
        Ok(2)
    }
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
    assert_eq!(Scopes.get(&Token), Ok(2));
}
