//! Placeholder demo: two instrumented handlers, called once each, then the exposition.

use metrics_runtime::{self as runtime, Authenticate, authenticated, prometheus_metrics};

struct Request {
    token: &'static str,
}

impl Authenticate for Request {
    type Rejection = String;
    fn authenticate(&self) -> Result<(), String> {
        if self.token == "demo" { Ok(()) } else { Err("403 Forbidden".to_owned()) }
    }
}

#[authenticated]
#[prometheus_metrics]
fn list_instances(request: &Request) -> Result<Vec<&'static str>, String> {
    let _ = request;
    Ok(vec!["atlas", "cms"])
}

#[authenticated]
#[prometheus_metrics]
fn purge_cache(request: &Request) -> Result<(), String> {
    let _ = request;
    Ok(())
}

fn main() -> Result<(), runtime::ConfigError> {
    runtime::Config::new().namespace("rucio_jupyterlab").install()?;
    println!("{:?}", list_instances(&Request { token: "demo" }));
    println!("{:?}", purge_cache(&Request { token: "wrong" }));
    print!("{}", runtime::gather());
    Ok(())
}
