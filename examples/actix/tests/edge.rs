//! `EdgeMiddleware` over real HTTP: the answers no handler gives (the default service's 404, a
//! rejected JSON body) are counted in `handler_edge_responses_total` by resource pattern, a
//! measured answer is not counted twice, and an instrumented call that a 504 cuts short is an
//! error. The app is the example's, wrapped as `main.rs` wraps it.

use std::time::Duration;

use actix_example::Api;
use actix_web::{App, HttpResponse, HttpServer, get};
use handler_metrics_tests::Scrape;
use metrics_runtime::{EdgeMiddleware, prometheus_metrics};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};

const TOKEN: &str = "edge-s3cret";
const EDGE: &str = "handler_edge_responses_total";

#[prometheus_metrics]
async fn hung_upstream_call() -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

/// Not measured itself: gives up on the instrumented call it awaits, and answers 504.
#[get("/gives-up")]
async fn gives_up() -> HttpResponse {
    match actix_web::rt::time::timeout(Duration::from_millis(50), hung_upstream_call()).await {
        Ok(answer) => HttpResponse::Ok().body(answer),
        Err(_) => HttpResponse::GatewayTimeout().finish(),
    }
}

fn edge(scrape: &Scrape, route: &str, method: &str, code: &str) -> f64 {
    scrape.edge_responses("handler", route, method, code)
}

#[actix_web::test]
async fn the_edge_counts_what_no_handler_answered_and_judges_what_it_cut_short() {
    let api = Api::new(TOKEN);
    let server = HttpServer::new(move || {
        App::new()
            .configure(|config| api.configure(config))
            .service(gives_up)
            .wrap(EdgeMiddleware::new())
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let base = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let client = reqwest::Client::new();
    let token = format!("token {TOKEN}");

    let before = Scrape::take();
    let hung_before = before.handler("hung_upstream_call");
    let scopes_before = before.handler("list_scopes");
    let missing = client
        .get(format!("{base}/no/such/{}", "x".repeat(40)))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let broken = client
        .put(format!("{base}/instances/atlas"))
        .header(AUTHORIZATION, &token)
        .header(CONTENT_TYPE, "application/json")
        .body("{\"auth\":")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    let scopes = client
        .get(format!("{base}/scopes"))
        .header(AUTHORIZATION, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(scopes.status(), StatusCode::OK);
    let gave_up = client.get(format!("{base}/gives-up")).send().await.unwrap();
    assert_eq!(gave_up.status(), StatusCode::GATEWAY_TIMEOUT);

    let after = Scrape::take();
    let added = |route, method, code| {
        edge(&after, route, method, code) - edge(&before, route, method, code)
    };
    assert_eq!(added("unmatched", "GET", "404"), 1.0);
    assert_eq!(added("/instances/{name}", "PUT", "400"), 1.0);
    // Measured answers are the handlers' only.
    assert_eq!(added("/scopes", "GET", "200"), 0.0);
    assert_eq!(
        after.handler("list_scopes").since(&scopes_before).requests,
        1.0
    );
    assert_eq!(added("/gives-up", "GET", "504"), 0.0);
    // Cut short by the handler's 504: an error of the call, not a cancellation.
    let hung = after.handler("hung_upstream_call").since(&hung_before);
    assert_eq!(
        (hung.requests, hung.errors, hung.in_flight),
        (1.0, 1.0, 0.0),
        "{hung:?}"
    );
    assert_eq!(
        after.get("handler_request_timeouts_total", "hung_upstream_call"),
        1.0
    );
    handle.stop(true).await;
}

/// actix-http answers a request head that does not arrive within `client_request_timeout` with
/// 408 from the connection, before any service runs: no middleware sees it (README), so it is in
/// no metric, and no handler's error.
#[actix_web::test]
async fn a_client_request_timeout_is_answered_before_the_edge_and_counted_nowhere() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let api = Api::new(TOKEN);
    let server = HttpServer::new(move || {
        App::new()
            .configure(|config| api.configure(config))
            .wrap(EdgeMiddleware::new())
    })
    .workers(1)
    .disable_signals()
    .client_request_timeout(Duration::from_millis(100))
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let before = Scrape::take();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Half a request head, then nothing.
    stream
        .write_all(b"GET /scopes HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");

    // No 408 at the edge, under any route (the other test of this file runs alongside, so only
    // 408s are compared).
    let edge_408s = |scrape: &Scrape| -> f64 {
        let edge = scrape.samples.iter().filter(|sample| sample.name == EDGE);
        let timeouts =
            edge.filter(|sample| sample.labels.get("code").map(String::as_str) == Some("408"));
        timeouts.map(|sample| sample.value).sum()
    };
    assert_eq!(edge_408s(&Scrape::take()), edge_408s(&before));
    handle.stop(true).await;
}
