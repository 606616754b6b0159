//! The demo server over real HTTP: every route answers, the instrumented methods are counted and
//! timed exactly, only 5xx answers are errors, rejected requests are counted apart and never
//! measured, and `/metrics` is behind the token.
//! Values are read back by parsing `/metrics`.

#[path = "demo_support/in_process.rs"]
mod in_process;
#[path = "demo_support/process.rs"]
mod process;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use handler_metrics_demo::{API_PREFIX, BODY_LIMIT, GIT_REVISION, NAMESPACE, RUCIO_LATENCY};
use handler_metrics_tests::{HandlerValues, Scrape};
use in_process::TOKEN;
use metrics_runtime::Measured;
use process::{Demo, PROCESS_TIMEOUT};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

const ATLAS_DATASET: &str = "data18_13TeV:data18_13TeV.00348885.physics_Main.deriv.DAOD_PHYS";

/// The methods the upstream extension instruments (the starred ones).
const INSTRUMENTED: [&str; 14] = [
    "InstancesHandler::get",
    "InstancesHandler::put",
    "AuthConfigHandler::get",
    "AuthConfigHandler::put",
    "DIDBrowserHandler::get",
    "DIDDetailsHandler::get",
    "DIDSearchHandler::get",
    "DIDMakeAvailableHandler::post",
    "FileBrowserHandler::get",
    "PurgeCacheHandler::post",
    "ListScopesHandler::get",
    "ListRSEsHandler::get",
    "UploadJobsHandler::get",
    "UploadHandler::post",
];

/// Authenticated and `#[prometheus_metrics(skip)]`, as upstream; `/metrics` is never measured.
const NOT_INSTRUMENTED: [&str; 6] = [
    "OIDCAuthCheckHandler::get",
    "OpenReplicationRuleHandler::get",
    "UploadJobsDetailsHandler::get",
    "UploadJobsDetailsHandler::delete",
    "UploadJobsLogHandler::get",
    "MetricsHandler::get",
];

fn family(suffix: &str) -> String {
    format!("{NAMESPACE}_{suffix}")
}

fn values(scrape: &Scrape, handler: &str) -> HandlerValues {
    scrape.handler_in(NAMESPACE, handler)
}

/// `requests_rejected_total` of `handler`; `None` when it has no such series.
fn rejected(scrape: &Scrape, handler: &str) -> Option<f64> {
    scrape.find(&family("requests_rejected_total"), handler)
}

fn inf_bucket(scrape: &Scrape, handler: &str) -> f64 {
    scrape.bucket(&family("request_latency_seconds_bucket"), handler, "+Inf")
}

async fn send(request: RequestBuilder) -> Response {
    request.send().await.expect("the server answers")
}

/// Asserts a JSON error response with `status`, and returns its message.
async fn expect_error(response: Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false, "{body}");
    body["error"].as_str().expect("an error message").to_owned()
}

async fn expect_json(response: Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.url());
    response.json().await.unwrap()
}

#[tokio::test]
async fn every_route_answers_and_exactly_the_starred_methods_are_measured() {
    let server = in_process::start(false).await;
    let before = server.scrape().await;
    let get = |path: &str| server.api(Method::GET, path);
    let json_body = |method: Method, path: &str, body: Value| server.api(method, path).json(&body);

    let instances = expect_json(send(get("/instances")).await).await;
    assert_eq!(instances["active_instance"], "atlas");
    assert_eq!(instances["instances"].as_array().unwrap().len(), 2);
    let picked = json!({"instance": "cms", "auth": "userpass"});
    expect_json(send(json_body(Method::PUT, "/instances", picked)).await).await;
    let instances = expect_json(send(get("/instances")).await).await;
    assert_eq!(instances["active_instance"], "cms");

    let credentials = json!({"namespace": "atlas", "type": "userpass",
                             "params": {"username": "alice", "password": "secret"}});
    expect_json(send(json_body(Method::PUT, "/auth", credentials)).await).await;
    let stored = expect_json(send(get("/auth?namespace=atlas&type=userpass")).await).await;
    assert_eq!(stored["username"], "alice");

    let files = format!("/files?namespace=atlas&did={ATLAS_DATASET}");
    let files = expect_json(send(get(&files)).await).await;
    assert_eq!(files.as_array().unwrap().len(), 3);
    let details = format!("/did?namespace=atlas&did={ATLAS_DATASET}");
    let details = expect_json(send(get(&details)).await).await;
    assert_eq!(details[0]["status"], "NOT_AVAILABLE");
    let search = "/did-search?namespace=atlas&did=mc16_13TeV:mc16_13TeV.410470.PhPy8EG_A14_ttbar.deriv.DAOD_PHYS";
    let found = expect_json(send(get(search)).await).await;
    assert_eq!(found[0]["type"], "dataset");
    let make_available = json!({"did": ATLAS_DATASET});
    let path = "/did/make-available?namespace=atlas";
    expect_json(send(json_body(Method::POST, path, make_available)).await).await;
    let listing = expect_json(send(get("/file-browser?namespace=atlas&path=~/data")).await).await;
    assert_eq!(listing[0]["path"], "/home/jovyan/data/events.csv");
    expect_json(send(server.api(Method::POST, "/purge-cache?namespace=atlas")).await).await;
    let oidc = expect_json(send(get("/oidc-auth-check?namespace=atlas")).await).await;
    assert_eq!(oidc["success"], true);
    let scopes = expect_json(send(get("/list-scopes?namespace=cms")).await).await;
    assert_eq!(scopes["scopes"], json!(["cms", "user.bob"]));
    let rses = expect_json(send(get("/list-rses?namespace=cms&expression=T2_*")).await).await;
    assert_eq!(rses, json!(["T2_CH_CERN", "T2_DE_DESY"]));
    let upload = json!({"file_paths": ["~/data/hist.root"], "rse": "CERN-PROD_SCRATCHDISK",
                        "scope": "user.alice"});
    let path = "/upload?namespace=atlas";
    expect_json(send(json_body(Method::POST, path, upload)).await).await;
    let jobs = expect_json(send(get("/upload/jobs?namespace=atlas")).await).await;
    assert_eq!(jobs.as_array().unwrap().len(), 1);
    let job = format!("?namespace=atlas&id={}", jobs[0]["id"].as_u64().unwrap());
    let details = expect_json(send(get(&format!("/upload/jobs/details{job}"))).await).await;
    assert_eq!(details["did"], "user.alice:hist.root");
    let log = send(get(&format!("/upload/jobs/log{job}"))).await;
    assert_eq!(log.status(), StatusCode::OK);
    let log: Value = log.json().await.unwrap();
    assert!(
        log["text"]
            .as_str()
            .unwrap()
            .starts_with("Preparing upload"),
        "{log}"
    );
    let delete = server.api(Method::DELETE, &format!("/upload/jobs/details{job}"));
    expect_json(send(delete).await).await;

    let after = server.scrape().await;
    for handler in INSTRUMENTED {
        let (then, now) = (values(&before, handler), values(&after, handler));
        // InstancesHandler::get was called twice, every other method once.
        let calls = if handler == "InstancesHandler::get" {
            2.0
        } else {
            1.0
        };
        assert_eq!(now.requests - then.requests, calls, "{handler}");
        assert_eq!(now.latency_count - then.latency_count, calls, "{handler}");
        assert_eq!(now.errors - then.errors, 0.0, "{handler}");
        assert_eq!(now.in_flight, 0.0, "{handler}");
        let labels = after.labels(&family("requests_total"), handler);
        assert_eq!(labels["module"], "handler_metrics_demo::handlers");
    }
    for handler in NOT_INSTRUMENTED {
        assert_eq!(
            after.find(&family("requests_total"), handler),
            None,
            "{handler}"
        );
    }
    let measured: BTreeSet<&str> = after
        .samples
        .iter()
        .filter(|sample| sample.name == family("requests_total"))
        .map(|sample| sample.labels["handler"].as_str())
        .collect();
    assert_eq!(measured, INSTRUMENTED.into_iter().collect());
}

#[test]
fn every_handler_is_authenticated_and_measured_or_deliberately_skipped() {
    let ours: Vec<_> = metrics_runtime::handlers()
        .into_iter()
        .filter(|handler| handler.module == "handler_metrics_demo::handlers")
        .collect();
    assert!(ours.iter().all(|handler| handler.authenticated));
    let count = |measured| ours.iter().filter(|h| h.measured == measured).count();
    assert_eq!(count(Measured::Yes), INSTRUMENTED.len());
    assert_eq!(count(Measured::Skipped), NOT_INSTRUMENTED.len());
    assert_eq!(count(Measured::No), 0);
    assert!(metrics_runtime::handlers_without_metrics().is_empty());
}

#[tokio::test]
async fn both_token_schemes_are_accepted() {
    let server = in_process::start(false).await;
    let before = values(&server.scrape().await, "ListScopesHandler::get");
    for scheme in ["token", "Token", "Bearer", "bearer"] {
        let request = server
            .anonymous(Method::GET, "/list-scopes?namespace=atlas")
            .header(AUTHORIZATION, format!("{scheme} {TOKEN}"));
        expect_json(send(request).await).await;
    }
    let after = values(&server.scrape().await, "ListScopesHandler::get");
    assert_eq!(after.requests - before.requests, 4.0);
}

#[tokio::test]
async fn rejected_requests_get_403_with_json_and_are_never_measured() {
    let server = in_process::start(false).await;
    let routes = [
        (Method::GET, "/instances", "InstancesHandler::get"),
        (Method::PUT, "/instances", "InstancesHandler::put"),
        (
            Method::GET,
            "/list-scopes?namespace=atlas",
            "ListScopesHandler::get",
        ),
        (
            Method::POST,
            "/purge-cache?namespace=atlas",
            "PurgeCacheHandler::post",
        ),
        (
            Method::POST,
            "/upload?namespace=atlas",
            "UploadHandler::post",
        ),
    ];
    // One accepted call each first, so that every series exists and any change would show.
    for (method, path, _) in &routes {
        send(server.api(method.clone(), path)).await;
    }
    let before = server.scrape().await;

    let wrong = format!("token {TOKEN}x");
    let prefix = format!("token {}", &TOKEN[..TOKEN.len() - 1]);
    let no_scheme = TOKEN.to_owned();
    let wrong_scheme = format!("Basic {TOKEN}");
    let two_words = format!("token {TOKEN} {TOKEN}");
    let headers: [Option<&str>; 9] = [
        None,
        Some(&wrong),
        Some(&prefix),
        Some("Bearer nope"),
        Some(&no_scheme),
        Some(&wrong_scheme),
        Some(&two_words),
        Some("token"),
        Some("Bearer  "),
    ];
    let mut rejected = 0;
    for (method, path, _) in &routes {
        for header in headers {
            let mut request = server.anonymous(method.clone(), path);
            if let Some(header) = header {
                request = request.header(AUTHORIZATION, header);
            }
            // Upstream's body, whatever was wrong.
            let message = expect_error(send(request).await, StatusCode::FORBIDDEN).await;
            assert_eq!(message, "Forbidden");
            rejected += 1;
        }
    }
    // Authentication comes before the body is judged: a body that cannot be read (400, 422,
    // 415 with the token) is still 403 without it. A body declared over the limit is refused
    // before any handler, as Tornado's `max_body_size` does: 413, counted at the edge
    // (`demo_edge.rs`), rejected by no handler.
    for (content_type, body) in [
        ("application/json", "{\"instance\":"),
        ("application/json", "[1, 2]"),
        ("text/plain", "{}"),
    ] {
        let malformed = server
            .anonymous(Method::PUT, "/instances")
            .header(CONTENT_TYPE, content_type)
            .body(body);
        expect_error(send(malformed).await, StatusCode::FORBIDDEN).await;
        rejected += 1;
    }
    let oversize = server
        .anonymous(Method::PUT, "/instances")
        .header(CONTENT_TYPE, "application/json")
        .body(format!("{{\"pad\":\"{}\"}}", "x".repeat(BODY_LIMIT)));
    expect_error(send(oversize).await, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(rejected, routes.len() * headers.len() + 3);

    // Each rejection counted once, in `requests_rejected_total` of its own handler, and
    // nowhere else.
    let after = server.scrape().await;
    for handler in INSTRUMENTED {
        assert_eq!(
            values(&after, handler),
            values(&before, handler),
            "{handler}"
        );
        assert_eq!(inf_bucket(&after, handler), inf_bucket(&before, handler));
        let expected = match handler {
            "InstancesHandler::put" => headers.len() + 3,
            _ if routes.iter().any(|(_, _, routed)| *routed == handler) => headers.len(),
            _ => 0,
        };
        assert_eq!(
            rejected_delta(&before, &after, handler),
            expected as f64,
            "{handler}"
        );
    }
}

fn rejected_delta(before: &Scrape, after: &Scrape, handler: &str) -> f64 {
    let count = |scrape| rejected(scrape, handler).unwrap_or_else(|| panic!("{handler}"));
    count(after) - count(before)
}

/// The routes whose handlers await a simulated Rucio call, with their handler labels.
fn rucio_calling_routes() -> [(String, &'static str); 5] {
    [
        (
            format!("/files?namespace=atlas&poll=1&did={ATLAS_DATASET}"),
            "DIDBrowserHandler::get",
        ),
        (
            format!("/did?namespace=atlas&did={ATLAS_DATASET}"),
            "DIDDetailsHandler::get",
        ),
        (
            "/did-search?namespace=cms&did=cms:*&type=all".to_owned(),
            "DIDSearchHandler::get",
        ),
        (
            "/list-scopes?namespace=atlas".to_owned(),
            "ListScopesHandler::get",
        ),
        (
            "/list-rses?namespace=atlas".to_owned(),
            "ListRSEsHandler::get",
        ),
    ]
}

#[tokio::test]
async fn async_handlers_are_timed_over_their_simulated_rucio_call() {
    let server = in_process::start(false).await;
    const CALLS: u32 = 3;
    let routes = rucio_calling_routes();
    let before = server.scrape().await;
    for (path, _) in &routes {
        for _ in 0..CALLS {
            expect_json(send(server.api(Method::GET, path)).await).await;
        }
    }
    let after = server.scrape().await;
    let simulated = (RUCIO_LATENCY * CALLS).as_secs_f64();
    for (_, handler) in routes {
        let (then, now) = (values(&before, handler), values(&after, handler));
        assert_eq!(now.latency_count - then.latency_count, f64::from(CALLS));
        let timed = now.latency_sum - then.latency_sum;
        assert!(
            timed >= simulated,
            "{handler}: {timed} s timed for {simulated} s of simulated Rucio calls"
        );
        // No call was faster than the Rucio call it awaited.
        let bucket = family("request_latency_seconds_bucket");
        assert_eq!(
            after.bucket(&bucket, handler, "0.0025"),
            before.bucket(&bucket, handler, "0.0025"),
            "{handler}"
        );
    }
}

#[tokio::test]
async fn bad_requests_are_counted_but_are_not_errors_and_the_server_keeps_serving() {
    let server = in_process::start(false).await;
    let before = server.scrape().await;
    let put = |content_type: &str, body: String| {
        server
            .api(Method::PUT, "/instances")
            .header(CONTENT_TYPE, content_type)
            .body(body)
    };
    let oversize = json!({"instance": "atlas", "auth": "oidc", "pad": "x".repeat(BODY_LIMIT)});
    let cases = [
        (
            put("application/json", "{\"instance\":".to_owned()),
            StatusCode::BAD_REQUEST,
        ),
        (
            put("application/json", "[1, 2]".to_owned()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            put("text/plain", "{}".to_owned()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            put("application/json", oversize.to_string()),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            put(
                "application/json",
                json!({"instance": "lhcb", "auth": "oidc"}).to_string(),
            ),
            StatusCode::NOT_FOUND,
        ),
    ];
    // A body that cannot be read, or is over the limit, is refused before the handler runs
    // (counted at the edge: `demo_edge.rs`), so only the unknown instance is its request.
    let put_errors = 1;
    for (request, status) in cases {
        expect_error(send(request).await, status).await;
    }
    let bad_did = server.api(Method::GET, "/files?namespace=atlas&did=no-colon");
    expect_error(send(bad_did).await, StatusCode::BAD_REQUEST).await;
    let no_namespace = server.api(Method::GET, "/list-scopes");
    expect_error(send(no_namespace).await, StatusCode::BAD_REQUEST).await;
    let unknown_route = server.api(Method::GET, "/no-such-route");
    expect_error(send(unknown_route).await, StatusCode::NOT_FOUND).await;
    expect_json(send(server.api(Method::GET, "/instances")).await).await;

    let after = server.scrape().await;
    let delta = |handler| {
        let (then, now) = (values(&before, handler), values(&after, handler));
        (now.requests - then.requests, now.errors - then.errors)
    };
    // 4xx: the client's mistakes, counted as requests, not as the server's errors.
    assert_eq!(delta("InstancesHandler::put"), (put_errors as f64, 0.0));
    assert_eq!(delta("DIDBrowserHandler::get"), (1.0, 0.0));
    assert_eq!(delta("ListScopesHandler::get"), (1.0, 0.0));
    assert_eq!(delta("InstancesHandler::get"), (1.0, 0.0));
}

#[tokio::test]
async fn a_simulated_rucio_outage_is_a_502_and_an_error_of_each_rucio_calling_handler() {
    let server = in_process::start(false).await;
    let routes = rucio_calling_routes();
    let before = server.scrape().await;
    for (path, _) in &routes {
        let down = server.api(Method::GET, &format!("{path}&rucio_outage=true"));
        let response = send(down).await;
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"success": false, "error": "rucio_unavailable", "status": 502})
        );
        // The switch is per request: the next one finds Rucio up.
        let up = server.api(Method::GET, &format!("{path}&rucio_outage=false"));
        expect_json(send(up).await).await;
        let garbled = server.api(Method::GET, &format!("{path}&rucio_outage=maybe"));
        expect_error(send(garbled).await, StatusCode::BAD_REQUEST).await;
    }
    let after = server.scrape().await;
    for (_, handler) in routes {
        let delta = values(&after, handler).since(&values(&before, handler));
        assert_eq!((delta.requests, delta.errors), (3.0, 1.0), "{handler}");
        assert_eq!(delta.latency_count, 3.0, "{handler}");
    }
}

#[tokio::test]
async fn metrics_need_the_token_and_carry_build_and_process_metrics() {
    let server = in_process::start(false).await;
    let malformed = format!("Basic {TOKEN}");
    for header in [None, Some("token wrong"), Some(malformed.as_str())] {
        let mut request = server.metrics();
        if let Some(header) = header {
            request = request.header(AUTHORIZATION, header);
        }
        expect_error(send(request).await, StatusCode::FORBIDDEN).await;
    }
    let response = send(
        server
            .metrics()
            .header(AUTHORIZATION, format!("token {TOKEN}")),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        metrics_runtime::CONTENT_TYPE
    );
    let scrape = Scrape::parse(&response.text().await.unwrap()).unwrap();
    let build_info: Vec<_> = scrape
        .samples
        .iter()
        .filter(|sample| sample.name == family("build_info"))
        .collect();
    assert_eq!(build_info.len(), 1);
    assert_eq!(build_info[0].value, 1.0);
    assert_eq!(build_info[0].labels["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(build_info[0].labels["revision"], GIT_REVISION);
    assert!(!GIT_REVISION.is_empty());
    #[cfg(target_os = "linux")]
    assert!(
        scrape
            .samples
            .iter()
            .any(|sample| sample.name == "process_resident_memory_bytes" && sample.value > 0.0)
    );
    assert!(
        scrape
            .samples
            .iter()
            .all(|sample| sample.labels.get("handler").map(String::as_str)
                != Some("MetricsHandler::get"))
    );
}

#[tokio::test]
async fn metrics_public_opens_only_the_metrics() {
    let server = in_process::start(true).await;
    let response = send(server.metrics()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(Scrape::parse(&response.text().await.unwrap()).is_ok());
    let api = server.anonymous(Method::GET, "/instances");
    expect_error(send(api).await, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn the_binary_prints_its_address_token_and_curl_line_and_stops_on_sigterm_or_ctrl_c() {
    let client = reqwest::Client::new();
    let given = Demo::spawn(&["--token", "cli-token"]);
    let generated = Demo::spawn(&[]);
    let mut tokens = Vec::new();
    for (mut demo, signal) in [(given, "TERM"), (generated, "INT")] {
        assert_ne!(demo.addr.port(), 0);
        let banner: Vec<String> = (0..4).map(|_| demo.line()).collect();
        let token = banner
            .iter()
            .find_map(|line| line.trim().strip_prefix("token:"))
            .expect("a token line")
            .trim()
            .to_owned();
        let instances = demo.url(&format!("{API_PREFIX}/instances"));
        let curl = format!("curl -H 'Authorization: token {token}' {instances}");
        assert!(
            banner.iter().any(|line| line.ends_with(&curl)),
            "{banner:#?}"
        );
        let answer = client
            .get(&instances)
            .header(AUTHORIZATION, format!("token {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let anonymous = client.get(&instances).send().await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);
        let status = demo.process.stop(signal);
        assert!(status.success(), "SIG{signal}: {status}");
        tokens.push(token);
    }
    assert_eq!(tokens[0], "cli-token");
    assert_eq!(tokens[1].len(), 48);
    assert!(tokens[1].bytes().all(|byte| byte.is_ascii_hexdigit()));
}

#[tokio::test]
async fn a_fresh_demo_process_shows_every_measured_handler_at_zero_in_its_first_scrape() {
    let demo = Demo::spawn(&["--token", "first-scrape"]);
    let response = reqwest::Client::new()
        .get(demo.url("/metrics"))
        .header(AUTHORIZATION, "token first-scrape")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let scrape = Scrape::parse(&response.text().await.unwrap()).unwrap();
    for handler in INSTRUMENTED {
        assert_eq!(
            values(&scrape, handler),
            HandlerValues::default(),
            "{handler}"
        );
        assert_eq!(
            scrape.find(&family("requests_total"), handler),
            Some(0.0),
            "{handler}"
        );
        assert_eq!(rejected(&scrape, handler), Some(0.0), "{handler}");
        let buckets: Vec<f64> = scrape
            .samples
            .iter()
            .filter(|s| {
                s.name == family("request_latency_seconds_bucket") && s.labels["handler"] == handler
            })
            .map(|s| s.value)
            .collect();
        assert_eq!(buckets.len(), 15, "{handler}: 14 bounds and +Inf");
        assert!(buckets.iter().all(|&count| count == 0.0), "{handler}");
    }
    for handler in NOT_INSTRUMENTED {
        assert_eq!(
            scrape.find(&family("requests_total"), handler),
            None,
            "{handler}"
        );
        assert_eq!(rejected(&scrape, handler), None, "{handler}");
    }
    assert_eq!(demo.process.stop("TERM").code(), Some(0));
}

/// Waits (bounded) until `/metrics` shows a request of `handler` in flight.
async fn wait_until_in_flight(demo: &Demo, token: &str, handler: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    loop {
        let response = client
            .get(demo.url("/metrics"))
            .header(AUTHORIZATION, format!("token {token}"))
            .send()
            .await
            .unwrap();
        let scrape = Scrape::parse(&response.text().await.unwrap()).unwrap();
        if values(&scrape, handler).in_flight == 1.0 {
            return;
        }
        assert!(Instant::now() < deadline, "{handler} never in flight");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts `GET list-scopes?namespace=atlas` on `demo`, answered after its Rucio latency.
fn list_scopes_in_background(
    demo: &Demo,
    token: &str,
) -> tokio::task::JoinHandle<reqwest::Result<Response>> {
    let request = reqwest::Client::new()
        .get(demo.url(&format!("{API_PREFIX}/list-scopes?namespace=atlas")))
        .header(AUTHORIZATION, format!("token {token}"));
    tokio::spawn(request.send())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigterm_a_request_past_the_shutdown_deadline_is_cut_off_and_the_exit_status_is_1() {
    let deadline = Duration::from_secs(1);
    let args = [
        "--token",
        "t",
        "--rucio-latency-ms",
        "60000",
        "--shutdown-timeout",
        "1",
    ];
    let demo = Demo::spawn(&args);
    let hanging = list_scopes_in_background(&demo, "t");
    wait_until_in_flight(&demo, "t", "ListScopesHandler::get").await;
    let signalled = Instant::now();
    // `stop` itself fails unless the demo exits within PROCESS_TIMEOUT of the signal.
    let status = tokio::task::spawn_blocking(move || demo.process.stop("TERM"))
        .await
        .unwrap();
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(1), "{status}");
    assert!(
        took >= deadline,
        "exited after {took:?}, before the deadline"
    );
    assert!(
        took < deadline + Duration::from_secs(5),
        "exited {took:?} after SIGTERM"
    );
    assert!(
        hanging.await.unwrap().is_err(),
        "the request cut off got no answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigterm_new_connections_are_refused_and_a_request_in_flight_still_completes() {
    let args = [
        "--token",
        "t",
        "--rucio-latency-ms",
        "3000",
        "--shutdown-timeout",
        "30",
    ];
    let demo = Demo::spawn(&args);
    let addr = demo.addr;
    let in_flight = list_scopes_in_background(&demo, "t");
    wait_until_in_flight(&demo, "t", "ListScopesHandler::get").await;
    let stopping = tokio::task::spawn_blocking(move || demo.process.stop("TERM"));
    // Connections made before the signal lands may still be accepted; then none is.
    let refusing_by = Instant::now() + PROCESS_TIMEOUT;
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            Instant::now() < refusing_by,
            "still accepting after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !in_flight.is_finished(),
        "the request ended before new connections were refused"
    );
    let answer = in_flight.await.unwrap().expect("an answer after SIGTERM");
    let scopes = expect_json(answer).await;
    assert_eq!(
        scopes["scopes"],
        json!(["data18_13TeV", "mc16_13TeV", "user.alice"])
    );
    let status = stopping.await.unwrap();
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn bad_shutdown_timeouts_and_latencies_stop_the_binary_with_a_message() {
    let cases = [
        (
            vec!["--shutdown-timeout", "soon"],
            None,
            "--shutdown-timeout",
        ),
        (vec!["--rucio-latency-ms", "-1"], None, "--rucio-latency-ms"),
        (
            vec![],
            Some(("DEMO_SHUTDOWN_TIMEOUT", "-3")),
            "DEMO_SHUTDOWN_TIMEOUT",
        ),
    ];
    for (args, env, culprit) in cases {
        let mut command = Command::new(env!("CARGO_BIN_EXE_handler-metrics-demo"));
        command.args(["--addr", "127.0.0.1:0"]).args(&args);
        if let Some((name, value)) = env {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: {culprit} needs")),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(output.stdout.is_empty(), "{args:?}: started anyway");
    }
}
