//! Real Prometheus tooling against real demo processes: `promtool check metrics` accepts a live
//! scrape without a lint warning, and a throw-away Prometheus on loopback scrapes two demo
//! instances with the bearer token (in OpenMetrics, which it asks for) and counts exactly the
//! requests they were sent, and stores a request's `traceparent` trace id as an exemplar. The
//! demo's README: its config and rules pass `promtool check config` and `check rules`, and its alert
//! fires as `promtool test rules` expects.
//!
//! Needs `prometheus` and `promtool` (Debian: `apt-get install prometheus`). Without them the
//! tests are ignored, each saying so (`tests/find_tools.rs`), unless `CI` is set: then the build
//! fails.

#![cfg(unix)]

#[path = "demo_support/process.rs"]
mod process;
#[path = "demo_support/prometheus.rs"]
mod prometheus;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use handler_metrics_demo::{API_PREFIX, NAMESPACE};
use handler_metrics_tests::Scrape;
use process::Demo;
use prometheus::Prometheus;
use reqwest::header::AUTHORIZATION;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "scrape-test-token";

/// The trace id of the one traced request.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Upper bound for Prometheus to start, scrape both targets and answer the query.
const PROMETHEUS_DEADLINE: Duration = Duration::from_secs(30);

/// Sends `count` GETs to `path` with (or without) the token, each answered with `status`.
async fn hit(
    client: &Client,
    demo: &Demo,
    path: &str,
    token: Option<&str>,
    count: usize,
    status: StatusCode,
) {
    for _ in 0..count {
        let mut request = client.get(demo.url(&format!("{API_PREFIX}{path}")));
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = request.send().await.expect("the demo answers");
        assert_eq!(response.status(), status, "{path}");
    }
}

async fn scrape(client: &Client, demo: &Demo) -> String {
    let response = client
        .get(demo.url("/metrics"))
        .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

fn sum_of(exposition: &str, name: &str) -> f64 {
    let scrape = Scrape::parse(exposition).unwrap_or_else(|error| panic!("{error}"));
    scrape
        .samples
        .iter()
        .filter(|sample| sample.name == name)
        .map(|sample| sample.value)
        .sum()
}

/// Prometheus config (JSON is YAML): scrape both demos every second with the bearer token.
fn write_config(dir: &Path, targets: &[String]) -> String {
    let token_file = dir.join("token");
    // The token in a file only its owner may read, never on a command line.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&token_file)
        .and_then(|mut file| file.write_all(TOKEN.as_bytes()))
        .unwrap();
    let config = json!({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{
            "job_name": "rucio-jupyterlab",
            "metrics_path": "/metrics",
            "authorization": {"type": "Bearer", "credentials_file": token_file},
            "static_configs": [{"targets": targets}],
        }],
    });
    let path = dir.join("prometheus.yml");
    fs::write(&path, config.to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
#[cfg_attr(
    not(all(has_prometheus, has_promtool)),
    ignore = "needs prometheus and promtool (Debian: apt-get install prometheus)"
)]
async fn prometheus_scrapes_two_demo_instances_with_the_bearer_token() {
    let client = Client::new();
    let demos = [
        Demo::spawn(&["--token", TOKEN]),
        Demo::spawn(&["--token", TOKEN]),
    ];

    // Counted: 3 + 2 + 1 (a 404: not an error) + 1 (a 502: an error) on the first, 4 + 1 on
    // the second. Rejected requests (no token, wrong token) are counted apart; the scrapes
    // themselves not at all.
    let ok = StatusCode::OK;
    let [first, second] = &demos;
    hit(&client, first, "/instances", Some(TOKEN), 3, ok).await;
    hit(
        &client,
        first,
        "/list-scopes?namespace=atlas",
        Some(TOKEN),
        2,
        ok,
    )
    .await;
    hit(
        &client,
        first,
        "/file-browser?namespace=atlas&path=nowhere",
        Some(TOKEN),
        1,
        StatusCode::NOT_FOUND,
    )
    .await;
    hit(
        &client,
        first,
        "/list-scopes?namespace=atlas&rucio_outage=true",
        Some(TOKEN),
        1,
        StatusCode::BAD_GATEWAY,
    )
    .await;
    hit(
        &client,
        second,
        "/list-rses?namespace=cms",
        Some(TOKEN),
        4,
        ok,
    )
    .await;
    hit(
        &client,
        second,
        "/upload/jobs?namespace=cms",
        Some(TOKEN),
        1,
        ok,
    )
    .await;
    for demo in &demos {
        hit(&client, demo, "/instances", None, 2, StatusCode::FORBIDDEN).await;
        hit(
            &client,
            demo,
            "/instances",
            Some("wrong"),
            2,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    // One more, traced: its trace id must come back from Prometheus as an exemplar.
    let traced = client
        .get(first.url(&format!("{API_PREFIX}/upload/jobs?namespace=atlas")))
        .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(traced.status(), StatusCode::OK);
    let (sent, errors, rejected) = (13.0, 1.0, 8.0);

    let requests_total = format!("{NAMESPACE}_requests_total");
    let (mut counted, mut counted_rejected) = (0.0, 0.0);
    for demo in &demos {
        let exposition = scrape(&client, demo).await;
        counted += sum_of(&exposition, &requests_total);
        counted_rejected += sum_of(&exposition, &format!("{NAMESPACE}_requests_rejected_total"));
        prometheus::promtool_check_metrics(exposition.as_bytes());
    }
    assert_eq!(counted, sent, "the demos' own scrapes");
    assert_eq!(counted_rejected, rejected, "the demos' own scrapes");

    let deadline = Instant::now() + PROMETHEUS_DEADLINE;
    let dir = tempfile::tempdir().unwrap();
    let targets: Vec<String> = demos.iter().map(|demo| demo.addr.to_string()).collect();
    let config = write_config(dir.path(), &targets);
    let prometheus = Prometheus::start(
        &client,
        dir.path(),
        Path::new(&config),
        &["--enable-feature=exemplar-storage"],
        deadline,
    )
    .await;

    let active = prometheus
        .wait_for(
            "both targets up",
            deadline,
            async || {
                let data = prometheus
                    .get(&client, "/api/v1/targets", &[("state", "active")])
                    .await;
                data["activeTargets"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            },
            |targets| {
                targets.len() == 2
                    && targets
                        .iter()
                        .all(|target| target["health"] == "up" && target["lastError"] == "")
            },
        )
        .await;
    let mut scraped: Vec<&str> = active
        .iter()
        .map(|target| target["labels"]["instance"].as_str().unwrap())
        .collect();
    scraped.sort_unstable();
    let mut expected: Vec<&str> = targets.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(scraped, expected);

    for (promql, value) in [
        (format!("sum({requests_total})"), sent),
        (format!("sum({NAMESPACE}_request_errors_total)"), errors),
        (
            format!("sum({NAMESPACE}_requests_rejected_total)"),
            rejected,
        ),
        (
            format!("sum({NAMESPACE}_request_latency_seconds_count)"),
            sent,
        ),
        (format!("count({NAMESPACE}_build_info)"), 2.0),
        ("sum(up{job=\"rucio-jupyterlab\"})".to_owned(), 2.0),
    ] {
        prometheus
            .wait_for(
                &promql,
                deadline,
                async || prometheus.query_value(&client, &promql).await,
                |result| *result == Some(value),
            )
            .await;
    }

    // Prometheus negotiated OpenMetrics by itself: the text format has no exemplars.
    let latency_buckets = format!("{NAMESPACE}_request_latency_seconds_bucket");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (start, end) = ((now - 3600).to_string(), (now + 3600).to_string());
    let exemplars = prometheus
        .wait_for(
            "the traced request's exemplar",
            deadline,
            async || {
                let params = [
                    ("query", latency_buckets.as_str()),
                    ("start", &start),
                    ("end", &end),
                ];
                let data = prometheus
                    .get(&client, "/api/v1/query_exemplars", &params)
                    .await;
                traced_series(&data)
            },
            |series| !series.is_empty(),
        )
        .await;
    assert_eq!(
        exemplars,
        [("UploadJobsHandler::get".to_owned(), targets[0].clone())]
    );

    // Graceful shutdown: each demo exits by itself, successfully, on SIGTERM.
    for demo in demos {
        assert!(demo.process.stop("TERM").success());
    }
}

/// `(handler, instance)` of each series of a `query_exemplars` answer with an exemplar of
/// [`TRACE_ID`].
fn traced_series(data: &Value) -> Vec<(String, String)> {
    let series = data.as_array().map(Vec::as_slice).unwrap_or_default();
    series
        .iter()
        .filter(|series| {
            series["exemplars"].as_array().is_some_and(|exemplars| {
                exemplars
                    .iter()
                    .any(|exemplar| exemplar["labels"]["trace_id"] == TRACE_ID)
            })
        })
        .map(|series| {
            let label = |name: &str| {
                series["seriesLabels"][name]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            };
            (label("handler"), label("instance"))
        })
        .collect()
}

/// The demo README's YAML block whose first line is `first_line`.
fn readme_block(first_line: &str) -> String {
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find(&format!("```yaml\n{first_line}\n"))
        .unwrap_or_else(|| panic!("no YAML block starting {first_line:?} in README.md"))
        + "```yaml\n".len();
    let length = readme[start..].find("\n```").expect("the block ends") + 1;
    readme[start..start + length].to_owned()
}

fn promtool(args: &[&str], file: &Path) -> String {
    let output = handler_metrics_tests::promtool!()
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?}:\n{report}");
    report
}

#[test]
#[cfg_attr(
    not(has_promtool),
    ignore = "needs promtool (Debian: apt-get install prometheus)"
)]
fn the_readme_demo_config_and_rules_pass_promtool_and_the_rejected_alert_fires_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus-demo.yml");
    fs::write(&config, readme_block("# prometheus-demo.yml")).unwrap();
    fs::write(dir.path().join("demo.token"), "demo-token").unwrap();
    let report = promtool(&["check", "config"], &config);
    assert!(report.contains("SUCCESS"), "{report}");

    let rules = dir.path().join("rucio-jupyterlab.rules.yml");
    fs::write(&rules, readme_block("# rucio-jupyterlab.rules.yml")).unwrap();
    let report = promtool(&["check", "rules"], &rules);
    assert!(report.contains("SUCCESS: 5 rules found"), "{report}");

    let alert = "RucioJupyterlabRequestsRejected";
    let rejected = |handler: &str, instance: &str, per_minute: u32| {
        json!({
            "series": format!(
                "{NAMESPACE}_requests_rejected_total{{handler=\"{handler}\",instance=\"{instance}\"}}"
            ),
            "values": format!("0+{per_minute}x40"),
        })
    };
    let fired = json!({
        "exp_labels": {"severity": "warning"},
        "exp_annotations": {
            "summary": "2 requests/s rejected by the token check for 10 minutes",
            "description": "A client with a stale token, or someone guessing tokens. Which \
                handlers: sum by (handler, instance) \
                (rate(rucio_jupyterlab_requests_rejected_total[5m]))",
        },
    });
    let tests = json!({
        "rule_files": [rules],
        "evaluation_interval": "1m",
        "tests": [
            {
                // 90 + 30 a minute across two instances: 2/s, over the threshold of 1/s.
                "interval": "1m",
                "input_series": [
                    rejected("InstancesHandler::get", "a", 90),
                    rejected("UploadHandler::post", "b", 30),
                ],
                "alert_rule_test": [
                    {"eval_time": "9m", "alertname": alert, "exp_alerts": []},
                    {"eval_time": "20m", "alertname": alert, "exp_alerts": [fired]},
                ],
            },
            {
                // 0.5/s for 40 minutes: never.
                "interval": "1m",
                "input_series": [rejected("InstancesHandler::get", "a", 30)],
                "alert_rule_test": [{"eval_time": "39m", "alertname": alert, "exp_alerts": []}],
            },
        ],
    });
    let tests_file = dir.path().join("tests.yml");
    fs::write(&tests_file, tests.to_string()).unwrap();
    let report = promtool(&["test", "rules"], &tests_file);
    assert!(report.contains("SUCCESS"), "{report}");
}
