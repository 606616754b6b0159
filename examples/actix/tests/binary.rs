//! The example's binary over HTTP, started as a user starts it, with a hung Rucio
//! (`--upstream-latency-ms` above `--request-timeout-ms`): the timeout's 504 is an error of
//! the handler it cut short, and the answers no handler gives (404, 405, 413, malformed JSON)
//! are counted at the edge, by resource pattern.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use actix_example::BODY_LIMIT;
use handler_metrics_tests::Scrape;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

const TOKEN: &str = "binary-s3cret";

/// The running binary, killed on drop.
struct Example {
    child: Child,
    base: String,
}

impl Example {
    fn start(args: &[&str]) -> Example {
        let mut child = Command::new(env!("CARGO_BIN_EXE_actix-example"))
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("API_TOKEN", TOKEN)
            .env_remove("REQUEST_TIMEOUT_MS")
            .env_remove("UPSTREAM_LATENCY_MS")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Example { child, base }
    }

    fn request(&self, client: &Client, method: Method, path: &str) -> reqwest::RequestBuilder {
        client
            .request(method, format!("{}{path}", self.base))
            .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
    }

    async fn scrape(&self, client: &Client) -> Scrape {
        let text = client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        Scrape::parse(&text).unwrap()
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn edge(scrape: &Scrape, route: &str, method: &str, code: &str) -> f64 {
    scrape.edge_responses("handler", route, method, code)
}

#[actix_web::test]
async fn a_hung_upstream_is_an_error_and_answers_outside_the_handlers_are_counted_at_the_edge() {
    let example = Example::start(&[
        "--upstream-latency-ms",
        "2000",
        "--request-timeout-ms",
        "100",
    ]);
    let client = Client::new();
    let before = example.scrape(&client).await;

    let hung = example
        .request(&client, Method::GET, "/upstream")
        .send()
        .await
        .unwrap();
    assert_eq!(hung.status(), StatusCode::GATEWAY_TIMEOUT);
    let body: Value = hung.json().await.unwrap();
    assert_eq!(body["error"], "timeout", "{body}");
    let answers = [
        (
            example.request(&client, Method::GET, "/no/such/path"),
            404,
            "unmatched",
            "GET",
        ),
        (
            example.request(&client, Method::DELETE, "/instances/cms"),
            405,
            "/instances/{name}",
            "DELETE",
        ),
        (
            example
                .request(&client, Method::PUT, "/instances/cms")
                .header(CONTENT_TYPE, "application/json")
                .body("{\"site\":"),
            400,
            "/instances/{name}",
            "PUT",
        ),
        (
            example
                .request(&client, Method::PUT, "/instances/cms")
                .header(CONTENT_TYPE, "application/json")
                .body(format!("{{\"site\":\"{}\"}}", "x".repeat(BODY_LIMIT))),
            413,
            "/instances/{name}",
            "PUT",
        ),
    ];
    for (request, status, route, method) in &answers {
        let request = request.try_clone().unwrap();
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), *status, "{route} {method}");
    }
    let scopes = example
        .request(&client, Method::GET, "/scopes")
        .send()
        .await
        .unwrap();
    assert_eq!(scopes.status(), StatusCode::OK);

    let after = example.scrape(&client).await;
    // Cut short by the timeout's 504: an error of the handler, with its latency, and a timeout.
    let upstream = after
        .handler("upstream_status")
        .since(&before.handler("upstream_status"));
    assert_eq!(
        (
            upstream.requests,
            upstream.errors,
            upstream.in_flight,
            upstream.latency_count
        ),
        (1.0, 1.0, 0.0, 1.0),
        "{upstream:?}"
    );
    let timeouts = "handler_request_timeouts_total";
    assert_eq!(
        after.get(timeouts, "upstream_status") - before.get(timeouts, "upstream_status"),
        1.0
    );
    for (_, status, route, method) in &answers {
        let code = status.to_string();
        let added = edge(&after, route, method, &code) - edge(&before, route, method, &code);
        assert_eq!(added, 1.0, "{route} {method} {code}");
    }
    // The handlers' own answers are theirs only.
    assert_eq!(edge(&after, "/upstream", "GET", "504"), 0.0);
    assert_eq!(edge(&after, "/scopes", "GET", "200"), 0.0);
    let put = after
        .handler("put_instance")
        .since(&before.handler("put_instance"));
    assert_eq!(put.requests, 0.0);
    let scopes = after
        .handler("list_scopes")
        .since(&before.handler("list_scopes"));
    assert_eq!(scopes.requests, 1.0);
}

#[test]
fn bad_timings_stop_the_binary_with_a_message() {
    for args in [
        &["--request-timeout-ms", "0"][..],
        &["--request-timeout-ms", "soon"],
        &["--upstream-latency-ms", "-1"],
        &["--request-timeout-ms"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_actix-example"))
            .args(args)
            .env("API_TOKEN", TOKEN)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("actix-example: "), "{args:?}: {stderr}");
    }
}
