//! The demo server under load and hostile input: 1,000 concurrent requests lose nothing,
//! 100,000 requests with random paths, query strings, tokens and bodies cannot add a series (the
//! edge family's grow by route template, method and status only), and
//! wildcard patterns cannot stall it.

#[path = "demo_support/in_process.rs"]
mod in_process;

use std::collections::BTreeSet;
use std::time::Duration;

use handler_metrics_demo::{API_PREFIX, MAX_PATTERN_LENGTH, NAMESPACE};
use handler_metrics_tests::Scrape;
use reqwest::header::AUTHORIZATION;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinSet;

fn family(suffix: &str) -> String {
    format!("{NAMESPACE}_{suffix}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_requests_are_counted_exactly() {
    let server = std::sync::Arc::new(in_process::start(false).await);
    let handlers = [
        ("/list-scopes?namespace=atlas", "ListScopesHandler::get"),
        ("/instances", "InstancesHandler::get"),
    ];
    let before = server.scrape().await;
    let mut requests = JoinSet::new();
    for index in 0..1_000 {
        let server = std::sync::Arc::clone(&server);
        let (path, _) = handlers[index % 2];
        requests.spawn(async move {
            server
                .api(Method::GET, path)
                .send()
                .await
                .map(|r| r.status())
        });
    }
    // Scrapes taken while the requests run parse and never go backwards.
    let mut previous = before.clone();
    while !requests.is_empty() {
        let scrape = server.scrape().await;
        for (_, handler) in handlers {
            let (then, now) = (
                previous.handler_in(NAMESPACE, handler),
                scrape.handler_in(NAMESPACE, handler),
            );
            assert!(now.requests >= then.requests && now.latency_count >= then.latency_count);
            assert!(
                now.latency_count <= now.requests,
                "{handler}: ends before starts"
            );
        }
        previous = scrape;
        while let Some(done) = requests.try_join_next() {
            assert_eq!(
                done.expect("request task").expect("HTTP round trip"),
                StatusCode::OK
            );
        }
        tokio::task::yield_now().await;
    }
    let after = server.scrape().await;
    for (_, handler) in handlers {
        let (then, now) = (
            before.handler_in(NAMESPACE, handler),
            after.handler_in(NAMESPACE, handler),
        );
        assert_eq!(now.requests - then.requests, 500.0, "{handler}");
        assert_eq!(now.latency_count - then.latency_count, 500.0, "{handler}");
        assert_eq!(now.errors - then.errors, 0.0, "{handler}");
        assert_eq!(now.in_flight, 0.0, "{handler}");
        assert_eq!(
            now.latency_count, now.requests,
            "{handler}: histogram count = requests"
        );
    }
}

/// A small deterministic generator: the same "random" requests on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        choices[self.next() as usize % choices.len()]
    }

    fn word(&mut self) -> String {
        let length = 1 + self.next() % 24;
        (0..length)
            .map(|_| {
                char::from(b"abcdefghijklmnopqrstuvwxyz0123456789-_.~%"[self.next() as usize % 41])
            })
            .collect()
    }
}

/// Every series in a scrape, by name and labels (values aside).
fn series(scrape: &Scrape) -> BTreeSet<(String, Vec<(String, String)>)> {
    scrape
        .samples
        .iter()
        .map(|sample| {
            let labels = sample
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (sample.name.clone(), labels)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_requests_cannot_grow_the_number_of_series() {
    const REQUESTS: u64 = 100_000;
    const CONCURRENCY: u64 = 50;
    const _: () = assert!(REQUESTS.is_multiple_of(CONCURRENCY));
    let server = std::sync::Arc::new(in_process::start(false).await);
    let routes = [
        "/instances",
        "/list-scopes",
        "/did-search",
        "/file-browser",
        "/upload/jobs",
    ];
    let methods = ["GET", "PUT", "POST", "DELETE", "PATCH"];
    // No warm-up: every measured handler's series exists from the first scrape.
    let before = series(&server.scrape().await);
    let requests_before: f64 = server
        .scrape()
        .await
        .samples
        .iter()
        .filter(|s| s.name == family("requests_total"))
        .map(|s| s.value)
        .sum();

    let mut workers = JoinSet::new();
    for worker in 0..CONCURRENCY {
        let server = std::sync::Arc::clone(&server);
        workers.spawn(async move {
            let mut random = XorShift(0x9E37_79B9_7F4A_7C15 ^ (worker + 1));
            let mut statuses = [0u64; 600];
            for _ in 0..REQUESTS / CONCURRENCY {
                let path = match random.next() % 3 {
                    0 => random.pick(&routes).to_owned(),
                    1 => format!("/{}", random.word()),
                    _ => format!("/{}/{}/{}", random.word(), random.word(), random.word()),
                };
                let query = format!(
                    "?{}={}&namespace={}",
                    random.word(),
                    random.word(),
                    random.word()
                );
                let method = random.pick(&methods);
                let mut request = server
                    .anonymous(
                        Method::from_bytes(method.as_bytes()).unwrap(),
                        &format!("{path}{query}"),
                    )
                    .body(random.word().repeat(1 + (random.next() % 50) as usize));
                let user = random.word();
                request = match random.next() % 4 {
                    0 => request.header(AUTHORIZATION, format!("token {}", in_process::TOKEN)),
                    1 => request.header(AUTHORIZATION, format!("Bearer {user}")),
                    2 => request.header(AUTHORIZATION, user),
                    _ => request,
                };
                let status = request
                    .send()
                    .await
                    .expect("the server keeps answering")
                    .status();
                statuses[usize::from(status.as_u16()) % 600] += 1;
            }
            statuses
        });
    }
    let mut answered = 0;
    let mut server_errors = 0;
    while let Some(statuses) = workers.join_next().await {
        let statuses = statuses.expect("worker");
        answered += statuses.iter().sum::<u64>();
        server_errors += statuses[500..].iter().sum::<u64>();
    }
    assert_eq!(answered, REQUESTS);
    assert_eq!(server_errors, 0, "no request made the server fail");

    let scrape = server.scrape().await;
    let after = series(&scrape);
    // The edge family (answers no handler gave: 404s, 405s) grows by route template, method
    // and status, never by what a request carried; every other series was there before.
    let edge = family("edge_responses_total");
    let (edge_after, after): (BTreeSet<_>, BTreeSet<_>) =
        after.into_iter().partition(|(name, _)| *name == edge);
    let before: BTreeSet<_> = before
        .into_iter()
        .filter(|(name, _)| *name != edge)
        .collect();
    assert_eq!(
        after.len(),
        before.len(),
        "the number of series is unchanged"
    );
    assert_eq!(after, before, "no series appeared or disappeared");
    let templates: Vec<String> = routes
        .iter()
        .map(|route| format!("{API_PREFIX}{route}"))
        .chain(["unmatched".to_owned(), "/metrics".to_owned()])
        .collect();
    for (_, labels) in &edge_after {
        let label = |name: &str| &labels.iter().find(|(key, _)| key == name).unwrap().1;
        assert!(templates.contains(label("route")), "{labels:?}");
        assert!(methods.contains(&label("method").as_str()), "{labels:?}");
    }
    // At most one status per template and method here: 404 unmatched, 405 on a route.
    assert!(
        edge_after.len() <= templates.len() * methods.len(),
        "{edge_after:?}"
    );
    let requests_after: f64 = scrape
        .samples
        .iter()
        .filter(|s| s.name == family("requests_total"))
        .map(|s| s.value)
        .sum();
    assert!(
        requests_after > requests_before,
        "some random requests reached handlers"
    );
}

/// Far longer than any answer takes: the hang detector, not a speed claim.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Patterns on which the old backtracking matcher ran for seconds (10 stars then `Z`: 29 s, with
/// the store locked) or practically forever (200 stars) get the right answer within the client's
/// timeout.
#[tokio::test]
async fn many_wildcards_are_answered_correctly_without_stalling() {
    let server = in_process::start(false).await;
    let stars = |count| "*".repeat(count);
    let skim = json!([{"did": "user.bob:user.bob.skim.root", "type": "file", "size": 104_857_600}]);
    // Upstream's answer when a search finds nothing.
    let nothing_found = json!({"success": false, "status": 404,
        "error": "No DIDs found for scope: \"cms\". Please check the parameters or try a different search."});
    let cases = [
        (
            format!("/list-rses?namespace=cms&expression={}Z", stars(10)),
            json!([]),
        ),
        (
            format!("/list-rses?namespace=cms&expression={}Z", stars(200)),
            json!([]),
        ),
        (
            format!("/list-rses?namespace=cms&expression={}", stars(200)),
            json!(["T1_US_FNAL_Disk", "T2_CH_CERN", "T2_DE_DESY"]),
        ),
        (
            format!(
                "/list-rses?namespace=cms&expression={0}T2{0}DE{0}",
                stars(60)
            ),
            json!(["T2_DE_DESY"]),
        ),
        (
            format!("/did-search?namespace=cms&type=all&did=cms:{}Z", stars(10)),
            nothing_found.clone(),
        ),
        (
            format!("/did-search?namespace=cms&type=all&did=cms:{}Z", stars(200)),
            nothing_found.clone(),
        ),
        (
            format!(
                "/did-search?namespace=cms&type=all&did=user.bob:{0}skim{0}",
                stars(90)
            ),
            skim,
        ),
    ];
    let before = server.scrape().await;
    for (path, expected) in &cases {
        let response = server
            .api(Method::GET, path)
            .timeout(CLIENT_TIMEOUT)
            .send()
            .await
            .unwrap_or_else(|error| panic!("{path}: {error}"));
        let status = if *expected == nothing_found {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(&response.json::<Value>().await.unwrap(), expected, "{path}");
    }
    let after = server.scrape().await;
    for (handler, calls) in [
        ("ListRSEsHandler::get", 4.0),
        ("DIDSearchHandler::get", 3.0),
    ] {
        let (then, now) = (
            before.handler_in(NAMESPACE, handler),
            after.handler_in(NAMESPACE, handler),
        );
        assert_eq!(now.requests - then.requests, calls, "{handler}");
        assert_eq!(now.errors - then.errors, 0.0, "{handler}");
    }
}

/// A pattern over the bound is a 400 with a JSON error, counted like other bad requests (a
/// request, not an error: the client's mistake); one at the bound (counted in characters, not
/// bytes) is answered.
#[tokio::test]
async fn patterns_over_the_length_bound_are_counted_400s() {
    let server = in_process::start(false).await;
    let at_bound = "*".repeat(MAX_PATTERN_LENGTH);
    let over = "*".repeat(MAX_PATTERN_LENGTH + 1);
    let umlauts = "ü".repeat(MAX_PATTERN_LENGTH);
    let before = server.scrape().await;
    let too_long = [
        format!("/list-rses?namespace=cms&expression={over}"),
        format!("/did-search?namespace=cms&type=all&did=cms:{over}"),
        format!(
            "/did-search?namespace=atlas&type=all&did=user.alice:{}",
            "a".repeat(1000)
        ),
    ];
    for path in &too_long {
        let response = server.api(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"success": false, "error": "pattern_too_long", "status": 400}),
            "{path}"
        );
    }
    let accepted = [
        (format!("/list-rses?namespace=cms&expression={at_bound}"), 3),
        (format!("/list-rses?namespace=cms&expression={umlauts}"), 0),
        (
            format!("/did-search?namespace=cms&type=all&did=cms:{at_bound}"),
            3,
        ),
    ];
    for (path, count) in &accepted {
        let response = server.api(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body.as_array().map(Vec::len), Some(*count), "{path}");
    }
    let after = server.scrape().await;
    for handler in ["ListRSEsHandler::get", "DIDSearchHandler::get"] {
        let (then, now) = (
            before.handler_in(NAMESPACE, handler),
            after.handler_in(NAMESPACE, handler),
        );
        assert_eq!(now.requests - then.requests, 3.0, "{handler}");
        assert_eq!(now.errors - then.errors, 0.0, "{handler}");
    }
}
