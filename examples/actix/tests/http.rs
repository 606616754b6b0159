//! Real HTTP round trips against the example on an ephemeral loopback port, with exact metric
//! values read back by parsing `/metrics`.
//!
//! The registry is global to this test binary and tests run in parallel, so each handler is
//! driven by one test only: its before/after differences are then exact.

use std::collections::BTreeSet;
use std::time::Duration;

use actix_example::{Api, ApiError, Token};
use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, get};
use handler_metrics_tests::Scrape;
use metrics_runtime::{authenticated, prometheus_metrics};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "s3cret";

/// The other attribute order: ours above actix's route attribute.
#[authenticated]
#[prometheus_metrics]
#[get("/whoami")]
async fn whoami(token: Token) -> Result<HttpResponse, ApiError> {
    // Long enough that the latency sum shows the body was timed.
    actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    Ok(HttpResponse::Ok().body("alice"))
}

struct TestServer {
    base: String,
    client: reqwest::Client,
    handle: ServerHandle,
}

impl TestServer {
    async fn start() -> TestServer {
        let api = Api::new(TOKEN);
        let server = HttpServer::new(move || {
            App::new()
                .configure(|config| api.configure(config))
                .service(whoami)
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind an ephemeral loopback port");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        TestServer {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            handle,
        }
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(format!("{}{path}", self.base))
    }

    fn put(&self, path: &str) -> RequestBuilder {
        self.client.put(format!("{}{path}", self.base))
    }

    /// GET /metrics, checking its content type, parsed.
    async fn scrape(&self) -> Scrape {
        let response = self.get("/metrics").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[CONTENT_TYPE].to_str().unwrap(),
            metrics_runtime::CONTENT_TYPE
        );
        Scrape::parse(&response.text().await.unwrap()).unwrap_or_else(|error| panic!("{error}"))
    }

    async fn stop(self) {
        // Every request has been answered: no need to wait for a graceful drain.
        self.handle.stop(false).await;
    }
}

/// Sends the request and returns its status and JSON body.
async fn json(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    let value = serde_json::from_str(&body)
        .unwrap_or_else(|error| panic!("{status}: body {body:?} is not JSON: {error}"));
    (status, value)
}

/// Asserts that the request is refused with the 403 JSON body, whatever credentials it carries.
async fn assert_forbidden(request: RequestBuilder) {
    let (status, body) = json(request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "forbidden", "{body}");
}

/// The credentials every protected route must refuse.
fn bad_credentials(request: impl Fn() -> RequestBuilder) -> Vec<RequestBuilder> {
    vec![
        request(),
        request().bearer_auth("wrong"),
        request().bearer_auth(format!("{TOKEN}x")),
        request().header(AUTHORIZATION, format!("Basic {TOKEN}")),
        request().header(AUTHORIZATION, TOKEN),
    ]
}

#[actix_web::test]
async fn route_attribute_on_top_measures_only_authenticated_requests() {
    let server = TestServer::start().await;
    let before = server.scrape().await;

    for request in [
        server.get("/scopes").bearer_auth(TOKEN),
        server.get("/scopes").bearer_auth(TOKEN),
        server
            .get("/scopes")
            .header(AUTHORIZATION, format!("token {TOKEN}")),
        server
            .get("/scopes")
            .header(AUTHORIZATION, format!("BEARER {TOKEN}")),
    ] {
        let (status, body) = json(request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!(["user.alice", "data18"]));
    }
    for request in bad_credentials(|| server.get("/scopes")) {
        assert_forbidden(request).await;
    }

    let cms = json!({ "site": "CERN" });
    // A rejected PUT must not run its body: the instance is not stored.
    for request in bad_credentials(|| server.put("/instances/cms").json(&cms)) {
        assert_forbidden(request).await;
    }
    // actix's extractors run before the handler: a body that does not parse is refused with
    // actix's 400, with or without a token, and never reaches `#[authenticated]` or the metrics.
    for request in [
        server.put("/instances/cms"),
        server.put("/instances/cms").bearer_auth(TOKEN),
    ] {
        let response = request
            .header(CONTENT_TYPE, "application/json")
            .body("{")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    let (status, body) = json(server.get("/instances/cms").bearer_auth(TOKEN)).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );
    let (status, body) = json(server.put("/instances/cms").bearer_auth(TOKEN).json(&cms)).await;
    assert_eq!((status, body), (StatusCode::OK, cms.clone()));
    let (status, body) = json(server.get("/instances/cms").bearer_auth(TOKEN)).await;
    assert_eq!((status, body), (StatusCode::OK, cms));
    for request in bad_credentials(|| server.get("/instances/cms")) {
        assert_forbidden(request).await;
    }

    let after = server.scrape().await;
    let change = |handler| after.handler(handler).since(&before.handler(handler));
    let list_scopes = change("list_scopes");
    let get_instance = change("get_instance");
    let put_instance = change("put_instance");
    assert_eq!((list_scopes.requests, list_scopes.errors), (4.0, 0.0));
    assert_eq!(list_scopes.latency_count, 4.0);
    // The 404 is the client's mistake: `ApiError` says it is not an error.
    assert_eq!((get_instance.requests, get_instance.errors), (2.0, 0.0));
    assert_eq!(get_instance.latency_count, 2.0);
    assert_eq!((put_instance.requests, put_instance.errors), (1.0, 0.0));
    assert_eq!(put_instance.latency_count, 1.0);
    for handler in ["list_scopes", "get_instance", "put_instance"] {
        assert_eq!(after.find("handler_requests_in_flight", handler), Some(0.0));
        let labels = after.labels("handler_requests_total", handler);
        assert_eq!(labels["module"], "actix_example", "{handler}");
    }
    server.stop().await;
}

#[actix_web::test]
async fn our_attributes_on_top_measure_only_authenticated_requests() {
    let server = TestServer::start().await;
    let before = server.scrape().await;

    for _ in 0..2 {
        let response = server
            .get("/whoami")
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), "alice");
    }
    for request in bad_credentials(|| server.get("/whoami")) {
        assert_forbidden(request).await;
    }

    let after = server.scrape().await;
    let change = after.handler("whoami").since(&before.handler("whoami"));
    assert_eq!((change.requests, change.errors), (2.0, 0.0));
    assert_eq!(change.latency_count, 2.0);
    assert!(change.latency_sum >= 0.040, "timed: {}", change.latency_sum);
    assert_eq!(
        after.find("handler_requests_in_flight", "whoami"),
        Some(0.0)
    );
    assert_eq!(
        after.labels("handler_requests_total", "whoami")["module"],
        "http"
    );
    server.stop().await;
}

#[actix_web::test]
async fn a_5xx_response_is_an_error_and_a_rejected_call_is_counted_apart() {
    let server = TestServer::start().await;
    let before = server.scrape().await;
    for path in ["/upstream", "/upstream?down=true", "/upstream?down=false"] {
        let response = server.get(path).bearer_auth(TOKEN).send().await.unwrap();
        let expected = if path.ends_with("=true") {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        assert_eq!(response.status(), expected, "{path}");
    }
    assert_forbidden(server.get("/upstream?down=true")).await;
    let after = server.scrape().await;
    let change = after
        .handler("upstream_status")
        .since(&before.handler("upstream_status"));
    assert_eq!((change.requests, change.errors), (3.0, 1.0));
    let rejected =
        |scrape: &Scrape| scrape.get("handler_requests_rejected_total", "upstream_status");
    assert_eq!(rejected(&after) - rejected(&before), 1.0);
    server.stop().await;
}

#[actix_web::test]
async fn metrics_lists_every_handler_and_is_neither_protected_nor_measured() {
    let server = TestServer::start().await;
    // `scrape` asserts 200 and the exact content type without any credentials.
    let scrape = server.scrape().await;
    let handlers: BTreeSet<&str> = scrape
        .samples
        .iter()
        .filter(|sample| sample.name == "handler_requests_total")
        .map(|sample| sample.labels["handler"].as_str())
        .collect();
    assert_eq!(
        handlers,
        BTreeSet::from([
            "get_instance",
            "list_scopes",
            "put_instance",
            "upstream_status",
            "whoami"
        ])
    );
    server.stop().await;
}
