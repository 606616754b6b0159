//! `EdgeLayer` over real HTTP: a server-side timeout is an error of the handler it cut short, a
//! client hanging up stays a cancellation, and the answers no handler gives (404, 405, 413,
//! malformed JSON, a caught panic) are counted in the edge family, bounded by the router.
//!
//! A router of its own, in the default namespace `handler`: the demo's handlers are not needed
//! to show what the layer adds, and each test reads the change of its own series.

#[path = "demo_support/chunked.rs"]
mod chunked;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Json};
use axum::http::StatusCode;
use axum::routing::{get, post};
use chunked::post_chunked;
use handler_metrics_tests::{HandlerValues, Scrape};
use metrics_runtime::{EdgeLayer, UNMATCHED_ROUTE as UNMATCHED, prometheus_metrics};
use serde_json::Value;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

const TIMEOUT: Duration = Duration::from_millis(300);
const EDGE: &str = "handler_edge_responses_total";
const TIMEOUTS: &str = "handler_request_timeouts_total";

#[prometheus_metrics]
async fn hung_upstream() -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

#[prometheus_metrics]
async fn hung_for_the_client() -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

#[prometheus_metrics]
async fn hung_without_edge() -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

#[prometheus_metrics]
async fn hung_edge_inside() -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

#[prometheus_metrics]
async fn echo(Json(value): Json<Value>) -> Json<Value> {
    Json(value)
}

#[prometheus_metrics]
async fn fine() -> &'static str {
    "fine"
}

async fn unmeasured_panic() -> &'static str {
    panic!("a handler without metrics panicked")
}

/// The stack the README recommends: the edge outermost of the router's layers, the timeout
/// and the panic catcher inside it.
fn recommended() -> Router {
    Router::new()
        .route("/hung", get(hung_upstream))
        .route("/hung-for-the-client", get(hung_for_the_client))
        .route("/echo", post(echo))
        .route("/fine", get(fine))
        .route("/panic", get(unmeasured_panic))
        .layer(DefaultBodyLimit::max(1024))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            TIMEOUT,
        ))
        .layer(EdgeLayer::new())
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn edge_count(scrape: &Scrape, route: &str, method: &str, code: &str) -> f64 {
    scrape.edge_responses("handler", route, method, code)
}

fn edge_series(scrape: &Scrape) -> Vec<BTreeMap<String, String>> {
    scrape
        .samples
        .iter()
        .filter(|sample| sample.name == EDGE)
        .map(|sample| sample.labels.clone())
        .collect()
}

/// Waits until `handler`'s call has ended (its latency counted), or fails after 5 s.
async fn ended(handler: &str, before: &HandlerValues) -> HandlerValues {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let change = HandlerValues::of(handler).since(before);
        if change.latency_count >= 1.0 || Instant::now() > deadline {
            return change;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_is_an_error_of_the_handler_it_cut_short() {
    let addr = serve(recommended()).await;
    let before = HandlerValues::of("hung_upstream");
    let timeouts_before = Scrape::take().get(TIMEOUTS, "hung_upstream");
    let response = reqwest::get(format!("http://{addr}/hung")).await.unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let change = ended("hung_upstream", &before).await;
    assert_eq!((change.requests, change.errors), (1.0, 1.0), "{change:?}");
    assert_eq!(change.in_flight, 0.0);
    // The latency is the call's: about the timeout, not more.
    assert!(
        change.latency_sum >= TIMEOUT.as_secs_f64() * 0.9,
        "{change:?}"
    );
    let scrape = Scrape::take();
    assert_eq!(scrape.get(TIMEOUTS, "hung_upstream") - timeouts_before, 1.0);
    // The handler measured the answer: it is not counted at the edge too.
    assert_eq!(edge_count(&scrape, "/hung", "GET", "504"), 0.0);
    // More at once, on both of the server's threads: each counted once, by a thread that holds
    // the counter already or resolves it.
    let mut more = tokio::task::JoinSet::new();
    for _ in 0..6 {
        more.spawn(reqwest::get(format!("http://{addr}/hung")));
    }
    while let Some(response) = more.join_next().await {
        assert_eq!(
            response.unwrap().unwrap().status(),
            StatusCode::GATEWAY_TIMEOUT
        );
    }
    let change = HandlerValues::of("hung_upstream").since(&before);
    assert_eq!((change.requests, change.errors), (7.0, 7.0), "{change:?}");
    let timeouts = Scrape::take().get(TIMEOUTS, "hung_upstream") - timeouts_before;
    assert_eq!(timeouts, 7.0);
}

#[prometheus_metrics]
async fn hung_under_scrapes() -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_while_timeouts_are_judged_add_up() {
    const REQUESTS: usize = 200;
    const AT_ONCE: usize = 16;
    let router = Router::new()
        .route("/hung-under-scrapes", get(hung_under_scrapes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            Duration::from_millis(20),
        ))
        .layer(EdgeLayer::new());
    let addr = serve(router).await;
    let before = HandlerValues::of("hung_under_scrapes");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Scrapes in a thread of its own, as fast as it can, while the timeouts are judged.
    let scraper = std::thread::spawn({
        let done = done.clone();
        move || {
            let mut last = HandlerValues::of("hung_under_scrapes").since(&before);
            let mut scrapes = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                let now = HandlerValues::of("hung_under_scrapes").since(&before);
                assert!(now.errors <= now.requests, "{now:?}");
                assert!(now.latency_count <= now.requests, "{now:?}");
                assert!((0.0..=AT_ONCE as f64).contains(&now.in_flight), "{now:?}");
                assert!(
                    now.requests >= last.requests && now.errors >= last.errors,
                    "{now:?}"
                );
                last = now;
                scrapes += 1;
            }
            scrapes
        }
    });
    let client = reqwest::Client::new();
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..REQUESTS {
        requests.spawn(
            client
                .get(format!("http://{addr}/hung-under-scrapes"))
                .send(),
        );
        if requests.len() >= AT_ONCE {
            let response = requests.join_next().await.unwrap().unwrap().unwrap();
            assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        }
    }
    while let Some(response) = requests.join_next().await {
        assert_eq!(
            response.unwrap().unwrap().status(),
            StatusCode::GATEWAY_TIMEOUT
        );
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    let scrapes = scraper.join().unwrap();
    assert!(scrapes > 10, "only {scrapes} scrapes");
    let change = HandlerValues::of("hung_under_scrapes").since(&before);
    let all = REQUESTS as f64;
    assert_eq!(
        (
            change.requests,
            change.errors,
            change.latency_count,
            change.in_flight
        ),
        (all, all, all, 0.0),
        "{change:?}"
    );
}

#[prometheus_metrics]
async fn nested_1() -> &'static str {
    nested_2().await
}

#[prometheus_metrics]
async fn nested_2() -> &'static str {
    nested_3().await
}

#[prometheus_metrics]
async fn nested_3() -> &'static str {
    nested_4().await
}

#[prometheus_metrics]
async fn nested_4() -> &'static str {
    nested_5().await
}

#[prometheus_metrics]
async fn nested_5() -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_judges_four_nested_calls_and_a_fifth_stays_a_cancellation() {
    let router = Router::new()
        .route("/nested", get(nested_1))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            TIMEOUT,
        ))
        .layer(EdgeLayer::new());
    let addr = serve(router).await;
    let names = ["nested_1", "nested_2", "nested_3", "nested_4", "nested_5"];
    let before = names.map(HandlerValues::of);
    let response = reqwest::get(format!("http://{addr}/nested")).await.unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    // Calls are dropped inside out and the slot holds four: the fifth to park (the handler)
    // takes the innermost's place, which is recorded as a cancellation, so the four outermost,
    // the handler first, are judged by the 504.
    for (name, before) in names.iter().zip(&before) {
        let change = HandlerValues::of(name).since(before);
        let errors = if *name == "nested_5" { 0.0 } else { 1.0 };
        assert_eq!(
            (
                change.requests,
                change.errors,
                change.in_flight,
                change.latency_count
            ),
            (1.0, errors, 0.0, 1.0),
            "{name}: {change:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hanging_up_stays_a_cancellation() {
    let addr = serve(recommended()).await;
    let before = HandlerValues::of("hung_for_the_client");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let gone = client
        .get(format!("http://{addr}/hung-for-the-client"))
        .send()
        .await;
    assert!(gone.unwrap_err().is_timeout());
    let change = ended("hung_for_the_client", &before).await;
    assert_eq!((change.requests, change.errors), (1.0, 0.0), "{change:?}");
    assert_eq!(change.latency_count, 1.0);
    // Ended when the connection closed, well before the server's timeout would have.
    assert!(change.latency_sum < TIMEOUT.as_secs_f64(), "{change:?}");
    assert_eq!(Scrape::take().get(TIMEOUTS, "hung_for_the_client"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_layer_a_timeout_stays_a_cancellation() {
    // Today's behaviour, unchanged: the README says what the layer adds.
    let router =
        Router::new()
            .route("/hung", get(hung_without_edge))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::GATEWAY_TIMEOUT,
                TIMEOUT,
            ));
    let addr = serve(router).await;
    let before = HandlerValues::of("hung_without_edge");
    let response = reqwest::get(format!("http://{addr}/hung")).await.unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let change = ended("hung_without_edge", &before).await;
    assert_eq!((change.requests, change.errors), (1.0, 0.0), "{change:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_inside_the_timeout_cannot_see_its_answer() {
    // The order the README warns against: the timeout drops the edge's future with the
    // handler's, so the call is a cancellation and the 504 is nowhere.
    let router = Router::new()
        .route("/hung-inside", get(hung_edge_inside))
        .layer(EdgeLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            TIMEOUT,
        ));
    let addr = serve(router).await;
    let before = HandlerValues::of("hung_edge_inside");
    let response = reqwest::get(format!("http://{addr}/hung-inside"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let change = ended("hung_edge_inside", &before).await;
    assert_eq!((change.requests, change.errors), (1.0, 0.0), "{change:?}");
    assert_eq!(
        edge_count(&Scrape::take(), "/hung-inside", "GET", "504"),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_no_handler_gives_are_counted_at_the_edge() {
    let addr = serve(recommended()).await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{addr}{path}");
    let before = Scrape::take();
    let echo_before = before.handler("echo");
    let cases = [
        (client.get(url("/no/such/route")), 404, "unmatched", "GET"),
        (client.delete(url("/fine")), 405, "/fine", "DELETE"),
        (
            client
                .post(url("/echo"))
                .header("content-type", "application/json")
                .body(vec![b' '; 4096]),
            413,
            "/echo",
            "POST",
        ),
        (
            client
                .post(url("/echo"))
                .header("content-type", "application/json")
                .body("{\"broken\":"),
            400,
            "/echo",
            "POST",
        ),
        (client.post(url("/echo")).body("{}"), 415, "/echo", "POST"),
        (client.get(url("/panic")), 500, "/panic", "GET"),
    ];
    let mut expected = Vec::new();
    for (request, status, route, method) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{route} {method}");
        expected.push((route, method, status.to_string()));
    }
    let after = Scrape::take();
    for (route, method, code) in &expected {
        let added =
            edge_count(&after, route, method, code) - edge_count(&before, route, method, code);
        assert_eq!(added, 1.0, "{route} {method} {code}");
    }
    // Rejected before its body ran: the handler counted nothing.
    assert_eq!(after.handler("echo").since(&echo_before).requests, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_measured_answer_is_not_counted_twice() {
    let addr = serve(recommended()).await;
    let before = Scrape::take();
    let fine_before = before.handler("fine");
    let echo_before = before.handler("echo");
    let client = reqwest::Client::new();
    let fine = client
        .get(format!("http://{addr}/fine"))
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), StatusCode::OK);
    let echoed = client
        .post(format!("http://{addr}/echo"))
        .json(&serde_json::json!({"scope": "user.jdoe"}))
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.status(), StatusCode::OK);
    let after = Scrape::take();
    assert_eq!(after.handler("fine").since(&fine_before).requests, 1.0);
    assert_eq!(after.handler("echo").since(&echo_before).requests, 1.0);
    assert_eq!(edge_count(&after, "/fine", "GET", "200"), 0.0);
    assert_eq!(edge_count(&after, "/echo", "POST", "200"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_random_requests_add_a_handful_of_edge_series() {
    let addr = serve(recommended()).await;
    let client = reqwest::Client::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut random = move || {
        // xorshift64: no dependency, a different path and method each request.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..10_000 {
        let (path, method, header) = (random(), random(), random());
        // No GET: the other tests of this process count GET 404s of their own.
        let method = match method % 2 {
            0 => reqwest::Method::POST,
            _ => reqwest::Method::from_bytes(format!("M{method:X}").as_bytes()).unwrap(),
        };
        let request = client
            .request(method, format!("http://{addr}/{path:x}/{}", path % 97))
            .header("x-random", format!("{header:x}"))
            .body(format!("{{\"{header:x}\":"));
        requests.spawn(async move { request.send().await.map(|r| r.status()) });
        if requests.len() >= 16 {
            requests.join_next().await.unwrap().unwrap().unwrap();
        }
    }
    while let Some(done) = requests.join_next().await {
        done.unwrap().unwrap();
    }
    let series = edge_series(&Scrape::take());
    let routes = [
        "unmatched",
        "/hung",
        "/hung-for-the-client",
        "/echo",
        "/fine",
        "/panic",
        // The two-template test's, in the same process.
        "/teapot-a/{id}",
        "/teapot-b",
        // The body-limit test's.
        "/limit-inside",
        "/limit-outside",
    ];
    for labels in &series {
        assert!(routes.contains(&labels["route"].as_str()), "{labels:?}");
    }
    let unmatched = series
        .iter()
        .filter(|labels| labels["route"] == "unmatched");
    let unmatched: Vec<_> = unmatched.collect();
    // POST and _OTHER here, GET from the other tests, each a 404: three series, whatever the
    // paths and methods were.
    assert!(unmatched.len() <= 4, "{unmatched:?}");
    assert!(
        unmatched
            .iter()
            .any(|labels| labels["method"] == "_OTHER" && labels["code"] == "404"),
        "{unmatched:?}"
    );
    assert!(series.len() <= 22, "{} {series:?}", series.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_caught_outside_the_edge_is_not_counted_there() {
    let router = Router::new()
        .route("/panic-outside", get(unmeasured_panic))
        .layer(EdgeLayer::new())
        .layer(CatchPanicLayer::new());
    let addr = serve(router).await;
    let response = reqwest::get(format!("http://{addr}/panic-outside"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        edge_count(&Scrape::take(), "/panic-outside", "GET", "500"),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_limit_on_either_side_of_the_edge_is_an_extractor_answer_there() {
    let inside = Router::new()
        .route("/limit-inside", post(echo))
        .layer(DefaultBodyLimit::max(1024))
        .layer(EdgeLayer::new());
    let outside = Router::new()
        .route("/limit-outside", post(echo))
        .layer(EdgeLayer::new())
        .layer(DefaultBodyLimit::max(1024));
    let (inside, outside) = (serve(inside).await, serve(outside).await);
    let before = Scrape::take();
    let echo_before = before.handler("echo");
    // `DefaultBodyLimit` only sets the limit `Json` reads by, wherever it sits: the 413 is the
    // extractor's, before the handler, declared length or chunked.
    for (addr, route) in [(inside, "/limit-inside"), (outside, "/limit-outside")] {
        let declared = reqwest::Client::new()
            .post(format!("http://{addr}{route}"))
            .header("content-type", "application/json")
            .body(vec![b' '; 4096])
            .send()
            .await
            .unwrap();
        assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE, "{route}");
        assert_eq!(
            post_chunked(&addr.to_string(), route, &[], 4096).await,
            413,
            "{route}"
        );
        assert_eq!(
            post_chunked(&addr.to_string(), route, &[], 16).await,
            200,
            "{route}"
        );
    }
    let after = Scrape::take();
    for route in ["/limit-inside", "/limit-outside"] {
        let added = |code| {
            edge_count(&after, route, "POST", code) - edge_count(&before, route, "POST", code)
        };
        assert_eq!(added("413"), 2.0, "{route}");
        // The small body reached the handler: its answer is the handler's only.
        assert_eq!(added("200"), 0.0, "{route}");
    }
    assert_eq!(after.handler("echo").since(&echo_before).requests, 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_layer_edge_misses_the_fallback() {
    let router = Router::new()
        .route("/fine", get(fine))
        .route_layer(EdgeLayer::new());
    let addr = serve(router).await;
    let client = reqwest::Client::new();
    let before = Scrape::take();
    // PUT: no other test of this process sends one.
    let missing = client
        .put(format!("http://{addr}/nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let after = Scrape::take();
    let added =
        edge_count(&after, UNMATCHED, "PUT", "404") - edge_count(&before, UNMATCHED, "PUT", "404");
    assert_eq!(added, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_around_the_whole_router_sees_no_route_template() {
    let router = Router::new().route("/fine-whole", get(fine));
    let service = tower::Layer::layer(&EdgeLayer::new(), router);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            axum::ServiceExt::<axum::extract::Request>::into_make_service(service),
        )
        .await
        .unwrap()
    });
    let before = Scrape::take();
    let response = reqwest::Client::new()
        .patch(format!("http://{addr}/fine-whole"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let after = Scrape::take();
    // Counted, but as `unmatched`: axum sets `MatchedPath` inside the router.
    let added = edge_count(&after, UNMATCHED, "PATCH", "405")
        - edge_count(&before, UNMATCHED, "PATCH", "405");
    assert_eq!(added, 1.0);
    assert_eq!(edge_count(&after, "/fine-whole", "PATCH", "405"), 0.0);
}

#[prometheus_metrics]
async fn hung_traced_inside() -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

#[prometheus_metrics]
async fn hung_traced_outside() -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

/// `TraceLayer` inside or outside the edge: either way the timeout is the handler's error,
/// counted once, and the 504 is not counted at the edge too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_layer_on_either_side_of_the_edge_changes_nothing() {
    use tower_http::trace::TraceLayer;
    let timeout = || TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, TIMEOUT);
    let trace_inside = Router::new()
        .route("/hung-traced-inside", get(hung_traced_inside))
        .layer(timeout())
        .layer(TraceLayer::new_for_http())
        .layer(EdgeLayer::new());
    let trace_outside = Router::new()
        .route("/hung-traced-outside", get(hung_traced_outside))
        .layer(timeout())
        .layer(EdgeLayer::new())
        .layer(TraceLayer::new_for_http());
    for (router, handler, path) in [
        (trace_inside, "hung_traced_inside", "/hung-traced-inside"),
        (trace_outside, "hung_traced_outside", "/hung-traced-outside"),
    ] {
        let addr = serve(router).await;
        let before = HandlerValues::of(handler);
        let timeouts_before = Scrape::take().get(TIMEOUTS, handler);
        let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT, "{path}");
        let change = ended(handler, &before).await;
        assert_eq!(
            (change.requests, change.errors),
            (1.0, 1.0),
            "{path}: {change:?}"
        );
        let scrape = Scrape::take();
        assert_eq!(
            scrape.get(TIMEOUTS, handler) - timeouts_before,
            1.0,
            "{path}"
        );
        assert_eq!(edge_count(&scrape, path, "GET", "504"), 0.0, "{path}");
    }
}

/// One `EdgeLayer` shared by two routes (`route_service` with the same service) labels each
/// answer by its own template: the template it resolved first is not reused for the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_edge_under_two_templates_labels_each_by_its_own() {
    let refuse = tower::service_fn(|_: axum::extract::Request| async {
        Ok::<_, std::convert::Infallible>(axum::response::IntoResponse::into_response(
            StatusCode::IM_A_TEAPOT,
        ))
    });
    let edge = tower::Layer::layer(&EdgeLayer::new(), refuse);
    let router = Router::new()
        .route_service("/teapot-a/{id}", edge.clone())
        .route_service("/teapot-b", edge);
    let addr = serve(router).await;
    let client = reqwest::Client::new();
    let before = Scrape::take();
    for path in ["/teapot-a/1", "/teapot-b", "/teapot-a/2", "/teapot-b"] {
        let response = client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
    }
    let after = Scrape::take();
    for route in ["/teapot-a/{id}", "/teapot-b"] {
        let added =
            edge_count(&after, route, "GET", "418") - edge_count(&before, route, "GET", "418");
        assert_eq!(added, 2.0, "{route}");
    }
}
