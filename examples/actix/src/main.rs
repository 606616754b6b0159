//! `cargo run -p actix-example [-- --addr HOST:PORT] [--request-timeout-ms MS]
//! [--upstream-latency-ms MS]`: serves the example on 127.0.0.1:8080 with the access token from
//! `API_TOKEN`. The two timings also come from `REQUEST_TIMEOUT_MS` and `UPSTREAM_LATENCY_MS`
//! (a flag wins); an upstream latency above the timeout is a hung Rucio.

use std::process::ExitCode;
use std::time::Duration;

use actix_example::{Api, REQUEST_TIMEOUT, request_timeout};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer};
use metrics_runtime::EdgeMiddleware;

const USAGE: &str = "usage: actix-example [--addr HOST:PORT] [--request-timeout-ms MS] \
                     [--upstream-latency-ms MS]";

#[actix_web::main]
async fn main() -> ExitCode {
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("actix-example: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A duration in whole milliseconds, from flag or variable `name`.
fn milliseconds(name: &str, value: &str) -> Result<Duration, String> {
    value
        .parse()
        .map(Duration::from_millis)
        .map_err(|_| format!("{name} must be whole milliseconds, like 250; got {value:?}"))
}

async fn serve() -> Result<(), String> {
    let mut addr = "127.0.0.1:8080".to_owned();
    let mut timeout = std::env::var("REQUEST_TIMEOUT_MS").ok();
    let mut latency = std::env::var("UPSTREAM_LATENCY_MS").ok();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--addr" => addr = value,
            "--request-timeout-ms" => timeout = Some(value),
            "--upstream-latency-ms" => latency = Some(value),
            _ => return Err(USAGE.to_owned()),
        }
    }
    let timeout = match timeout {
        Some(value) => milliseconds("the request timeout", &value)?,
        None => REQUEST_TIMEOUT,
    };
    if timeout.is_zero() {
        return Err("the request timeout must be above 0 ms".to_owned());
    }
    let latency = match latency {
        Some(value) => milliseconds("the upstream latency", &value)?,
        None => Duration::ZERO,
    };
    let token = std::env::var("API_TOKEN")
        .ok()
        .filter(|token| !token.is_empty())
        .ok_or("set API_TOKEN to the token clients must present")?;
    let api = Api::with_timing(&token, latency, timeout);
    // The edge outermost: it sees every answer, the default service's 404s and the timeout's
    // 504s included (a timeout outside it would drop it with the handler: a cancellation).
    let server = HttpServer::new(move || {
        App::new()
            .configure(|config| api.configure(config))
            .wrap(from_fn(request_timeout))
            .wrap(EdgeMiddleware::new())
    })
    .bind(&addr)
    .map_err(|error| format!("cannot listen on {addr}: {error}"))?;
    // The real address, also when the port was 0.
    for addr in server.addrs() {
        println!("listening on http://{addr} (metrics at /metrics)");
    }
    server.run().await.map_err(|error| error.to_string())
}
