//! Counts the instructions of requests through the demo's router, for the edge's cost where
//! wall-clock timings are too noisy to resolve it (BENCHMARKS.md). Run under callgrind, which
//! counts only inside `measured` (after a warm-up of 2,000 requests):
//!
//! ```text
//! cargo build --release -p handler-metrics-demo --example edge_instructions
//! valgrind --tool=callgrind --toggle-collect='edge_instructions::measured' \
//!     target/release/examples/edge_instructions MODE 4000
//! ```
//!
//! `MODE`: `without` (the demo's router without `EdgeLayer`), `with` (with it, where the demo
//! puts it), `identity` (without it, plus `tower`'s identity layer around the routes: what axum
//! adds for any `Router::layer`) or `outer` (without it, plus `EdgeLayer` where `identity` is).

use axum::body::Body;
use axum::http::Request;
use handler_metrics_demo::{App, REQUEST_TIMEOUT, Token, install_metrics, router_with_options};
use tower::ServiceExt;

const USAGE: &str = "usage: edge_instructions without|with|identity|outer REQUESTS";

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(mode), Some(Ok(requests))) = (args.next(), args.next().map(|n| n.parse())) else {
        panic!("{USAGE}");
    };
    install_metrics(false).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = App::new(Token::new("bench-token".to_owned()).unwrap(), false);
    let router = router_with_options(app, REQUEST_TIMEOUT, mode == "with");
    let router = match mode.as_str() {
        "without" | "with" => router,
        "identity" => router.layer(tower::layer::util::Identity::new()),
        "outer" => router.layer(metrics_runtime::EdgeLayer::new()),
        _ => panic!("{USAGE}"),
    };
    let send = |requests: usize| {
        for _ in 0..requests {
            let request = Request::get("/rucio-jupyterlab/instances")
                .header("authorization", "token bench-token")
                .body(Body::empty())
                .unwrap();
            let response = runtime.block_on(router.clone().oneshot(request)).unwrap();
            assert!(response.status().is_success());
        }
    };
    send(2000);
    measured(&send, requests);
}

/// The requests callgrind counts.
#[inline(never)]
fn measured(send: &dyn Fn(usize), requests: usize) {
    send(requests);
}
