//! One authenticated `GET /rucio-jupyterlab/instances` through the demo's whole router
//! (trace-id middleware, request timeout, routing, authentication, the instrumented handler),
//! in-process with `tower::ServiceExt::oneshot`, with and without `EdgeLayer`: what the layer
//! adds to a request a handler measures. `cargo bench -p handler-metrics-demo --bench edge`.

use std::hint::black_box;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use criterion::{Criterion, criterion_group, criterion_main};
use handler_metrics_demo::{App, REQUEST_TIMEOUT, Token, install_metrics, router_with_options};
use tower::ServiceExt;

const TOKEN: &str = "bench-token";

fn request() -> Request<Body> {
    Request::get("/rucio-jupyterlab/instances")
        .header("authorization", format!("token {TOKEN}"))
        .body(Body::empty())
        .unwrap()
}

fn edge(c: &mut Criterion) {
    install_metrics(false).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("request");
    for (name, with_edge) in [("without_edge_layer", false), ("with_edge_layer", true)] {
        let app = App::new(Token::new(TOKEN.to_owned()).unwrap(), false);
        let router = router_with_options(app, REQUEST_TIMEOUT, with_edge);
        let answer = runtime.block_on(router.clone().oneshot(request())).unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{name}");
        group.bench_function(name, |b| {
            b.iter(|| {
                let response = runtime.block_on(router.clone().oneshot(request()));
                black_box(response.unwrap().status())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, edge);
criterion_main!(benches);
