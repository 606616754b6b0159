//! `/metrics` in the format the scraper asks for, and the trace ids of requests as exemplars:
//! Prometheus gets OpenMetrics, browsers and curl get text; a request's `traceparent` trace id
//! shows on its handler's latency bucket (and error counter) in OpenMetrics, never in text.
//!
//! An exemplar is taken at most once per bucket per second, so each test calls handlers that no
//! other test in this file calls.

#[path = "demo_support/in_process.rs"]
mod in_process;

use std::io::{Read, Write};
use std::net::TcpStream;

use handler_metrics_demo::{NAMESPACE, TRACE_ID_HEADER};
use handler_metrics_tests::{OpenMetrics, Scrape};
use in_process::{Server, TOKEN};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

/// What Prometheus 2.42 sends when it scrapes.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics` with the token and `accept`; returns the content type and the body.
async fn metrics(server: &Server, accept: &str) -> (String, String) {
    let response = server
        .metrics()
        .header(AUTHORIZATION, format!("token {TOKEN}"))
        .header(ACCEPT, accept)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.text().await.unwrap())
}

/// `GET /metrics` with no `Accept` header at all (reqwest would send `*/*`), over a raw
/// connection; returns the response head (lowercase) and body.
async fn metrics_without_accept(server: &Server) -> (String, String) {
    let url = server.metrics().build().unwrap().url().clone();
    let addr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    // Blocking I/O off the runtime that serves the request.
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        let request = format!(
            "GET /metrics HTTP/1.1\r\nHost: test\r\nAuthorization: token {TOKEN}\r\n\
             Connection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    (head.to_ascii_lowercase(), body.to_owned())
}

fn openmetrics(body: &str) -> OpenMetrics {
    OpenMetrics::parse(body).unwrap_or_else(|error| panic!("{error}"))
}

/// The trace ids of the exemplars on `sample_name` of `handler`.
fn exemplar_trace_ids(exposition: &OpenMetrics, sample_name: &str, handler: &str) -> Vec<String> {
    exposition
        .exemplars
        .iter()
        .filter(|(sample, _)| {
            sample.name == sample_name
                && sample.labels.get("handler").map(String::as_str) == Some(handler)
        })
        .map(|(_, exemplar)| exemplar.labels["trace_id"].clone())
        .collect()
}

#[tokio::test]
async fn prometheus_gets_openmetrics_and_browsers_and_curl_get_text() {
    let server = in_process::start(false).await;
    let (content_type, body) = metrics(&server, PROMETHEUS_ACCEPT).await;
    assert_eq!(content_type, OPENMETRICS);
    let parsed = openmetrics(&body);
    let requests = format!("{NAMESPACE}_requests");
    assert!(
        parsed
            .families
            .contains(&(requests.clone(), "counter".to_owned())),
        "{:?}",
        parsed.families
    );
    // No request in between: the same counts in both formats.
    let text = server.scrape().await;
    let requests_total = format!("{requests}_total");
    let counts = |scrape: &Scrape| -> Vec<(String, f64)> {
        scrape
            .samples
            .iter()
            .filter(|sample| sample.name == requests_total)
            .map(|sample| (sample.labels["handler"].clone(), sample.value))
            .collect()
    };
    assert_eq!(counts(&parsed.scrape).len(), 14);
    assert_eq!(counts(&parsed.scrape), counts(&text));

    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for accept in ["*/*", browser, "text/plain"] {
        let (content_type, body) = metrics(&server, accept).await;
        assert_eq!(content_type, metrics_runtime::CONTENT_TYPE, "{accept}");
        assert!(!body.contains("# EOF"), "{accept}");
        Scrape::parse(&body).unwrap();
    }
    let (head, body) = metrics_without_accept(&server).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let content_type = format!("content-type: {}", metrics_runtime::CONTENT_TYPE);
    assert!(head.lines().any(|line| line == content_type), "{head}");
    assert!(body.contains(&requests_total) && !body.contains("# EOF"));
}

#[tokio::test]
async fn a_requests_traceparent_is_an_exemplar_in_openmetrics_and_never_in_text() {
    let server = in_process::start(false).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = server
        .api(Method::GET, "/upload/jobs?namespace=atlas")
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[TRACE_ID_HEADER], trace_id);

    // A failed call leaves its trace id on the error counter too.
    let failed_id = "0af7651916cd43dd8448eb211c80319c";
    let response = server
        .api(Method::GET, "/list-rses?namespace=cms&rucio_outage=true")
        .header("traceparent", format!("00-{failed_id}-b7ad6b7169203331-00"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);

    let (_, body) = metrics(&server, PROMETHEUS_ACCEPT).await;
    let parsed = openmetrics(&body);
    let bucket = format!("{NAMESPACE}_request_latency_seconds_bucket");
    let on_buckets = exemplar_trace_ids(&parsed, &bucket, "UploadJobsHandler::get");
    assert_eq!(on_buckets, [trace_id], "{body}");
    assert_eq!(
        exemplar_trace_ids(&parsed, &bucket, "ListRSEsHandler::get"),
        [failed_id]
    );
    let errors = format!("{NAMESPACE}_request_errors_total");
    assert_eq!(
        exemplar_trace_ids(&parsed, &errors, "ListRSEsHandler::get"),
        [failed_id]
    );
    // The bucket the exemplar is on counts the call.
    let (sample, _) = parsed
        .exemplars
        .iter()
        .find(|(_, exemplar)| exemplar.labels["trace_id"] == trace_id)
        .unwrap();
    assert!(sample.value >= 1.0, "{sample:?}");

    let (_, text) = metrics(&server, "*/*").await;
    assert!(!text.contains(trace_id) && !text.contains(failed_id));
    assert!(!text.contains("trace_id"));
}

#[tokio::test]
async fn requests_without_a_valid_traceparent_get_a_fresh_trace_id() {
    let server = in_process::start(false).await;
    let mut seen = Vec::new();
    for traceparent in [
        None,
        Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
        Some("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
        Some("garbage"),
    ] {
        // A rejected request too: the id is the request's, whatever the answer.
        let mut request = server.anonymous(Method::GET, "/instances");
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let trace_id = response.headers()[TRACE_ID_HEADER]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(trace_id.len(), 32, "{trace_id}");
        assert!(
            trace_id
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "{trace_id}"
        );
        assert!(!seen.contains(&trace_id), "{trace_id} twice");
        seen.push(trace_id);
    }
}
