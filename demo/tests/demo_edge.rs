//! The demo's edge (`EdgeLayer`): the answers no handler gives — the 404 fallback, 405, a CORS
//! preflight, a body over the limit or one that cannot be read — are counted in
//! `rucio_jupyterlab_edge_responses_total` by route template, and a handler's own answers
//! (its 403 to an unauthenticated client, whatever the body, included) only in its series.

#[path = "demo_support/chunked.rs"]
mod chunked;
#[path = "demo_support/in_process.rs"]
mod in_process;

use chunked::post_chunked;
use handler_metrics_demo::{API_PREFIX, BODY_LIMIT, NAMESPACE};
use handler_metrics_tests::Scrape;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};

fn edge(scrape: &Scrape, route: &str, method: &str, code: u16) -> f64 {
    scrape.edge_responses(NAMESPACE, route, method, &code.to_string())
}

#[tokio::test]
async fn answers_outside_the_handlers_are_counted_at_the_edge_once() {
    let server = in_process::start(false).await;
    let instances = format!("{API_PREFIX}/instances");
    let make_available = format!("{API_PREFIX}/did/make-available");
    let before = server.scrape().await;
    let cases = [
        (
            server.api(Method::GET, "/no-such-route?x=1"),
            StatusCode::NOT_FOUND,
            "unmatched",
            "GET",
        ),
        (
            server.api(Method::DELETE, "/instances"),
            StatusCode::METHOD_NOT_ALLOWED,
            instances.as_str(),
            "DELETE",
        ),
        (
            server.anonymous(Method::OPTIONS, "/instances"),
            StatusCode::OK,
            instances.as_str(),
            "OPTIONS",
        ),
        (
            server
                .api(Method::from_bytes(b"BREW").unwrap(), "/instances")
                .body("coffee"),
            StatusCode::METHOD_NOT_ALLOWED,
            instances.as_str(),
            "_OTHER",
        ),
        // A body over the limit is refused before any handler runs, as Tornado's
        // `max_body_size`: authenticated or not, it never reaches the handler.
        (
            server
                .api(Method::PUT, "/instances")
                .header(CONTENT_TYPE, "application/json")
                .body("x".repeat(BODY_LIMIT + 1)),
            StatusCode::PAYLOAD_TOO_LARGE,
            instances.as_str(),
            "PUT",
        ),
        (
            server
                .anonymous(Method::POST, "/did/make-available")
                .header(CONTENT_TYPE, "application/json")
                .body("x".repeat(BODY_LIMIT + 1)),
            StatusCode::PAYLOAD_TOO_LARGE,
            make_available.as_str(),
            "POST",
        ),
    ];
    let mut expected = Vec::new();
    for (request, status, route, method) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{route} {method}");
        expected.push((route, method, status.as_u16()));
    }
    // A body a client with the token sent that cannot be read is refused before the handler,
    // as axum's `Json` extractor refuses it: the edge's answer, with the demo's JSON error.
    let bodies = [
        (
            Some("application/json"),
            "{\"instance\":",
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("application/json"),
            "{\"instance\":\"atlas\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            None,
            "{\"instance\":\"atlas\",\"auth\":\"userpass\"}",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (content_type, body, status) in bodies {
        let mut put = server.api(Method::PUT, "/instances").body(body);
        if let Some(content_type) = content_type {
            put = put.header(CONTENT_TYPE, content_type);
        }
        let response = put.send().await.unwrap();
        assert_eq!(response.status(), status, "{body}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["status"], status.as_u16(), "{answer}");
        expected.push((instances.as_str(), "PUT", status.as_u16()));
    }
    // Over the limit without a declared length: cut while the body is read, before the
    // handler; without the token, the handler's 403 comes first.
    let token = format!("authorization: token {}", in_process::TOKEN);
    let path = format!("{API_PREFIX}/did/make-available");
    let chunked = post_chunked(server.host(), &path, &[&token], BODY_LIMIT + 1).await;
    assert_eq!(chunked, 413);
    expected.push((make_available.as_str(), "POST", 413));
    let anonymous = post_chunked(server.host(), &path, &[], BODY_LIMIT + 1).await;
    assert_eq!(anonymous, 403);
    let after = server.scrape().await;
    for &(route, method, code) in &expected {
        let added = edge(&after, route, method, code) - edge(&before, route, method, code);
        let sent = expected
            .iter()
            .filter(|&&answer| answer == (route, method, code));
        assert_eq!(added, sent.count() as f64, "{route} {method} {code}");
    }
    let put_handler = after
        .handler_in(NAMESPACE, "InstancesHandler::put")
        .since(&before.handler_in(NAMESPACE, "InstancesHandler::put"));
    assert_eq!((put_handler.requests, put_handler.errors), (0.0, 0.0));
    // The oversize and unreadable bodies reached no handler: neither measured nor rejected
    // there, but for the anonymous chunked one, which `#[authenticated]` rejected.
    let rejected = format!("{NAMESPACE}_requests_rejected_total");
    for (handler, expected) in [
        ("InstancesHandler::put", 0.0),
        ("DIDMakeAvailableHandler::post", 1.0),
    ] {
        assert_eq!(
            after.get(&rejected, handler) - before.get(&rejected, handler),
            expected,
            "{handler}"
        );
    }
    let make_available_handler = after
        .handler_in(NAMESPACE, "DIDMakeAvailableHandler::post")
        .since(&before.handler_in(NAMESPACE, "DIDMakeAvailableHandler::post"));
    assert_eq!(make_available_handler.requests, 0.0);
    // The metrics handler is `skip`ped: its answers are the edge's, each counted after it was
    // rendered, so this scrape shows the one before it.
    assert_eq!(
        edge(&after, "/metrics", "GET", 200) - edge(&before, "/metrics", "GET", 200),
        1.0
    );
}
