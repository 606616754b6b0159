//! The demo's service-level objectives end to end: `--print-alert-rules` prints rules that pass
//! `promtool check rules`, and a real Prometheus loaded with them, scraping the demo during a
//! simulated Rucio outage, pages for the `rucio` objective and for nothing else; so does a hung
//! Rucio that the request timeout cuts short (`EdgeLayer`: a timeout is an error).
//!
//! Needs `prometheus` and `promtool` (Debian: `apt-get install prometheus`; CI installs them).

#![cfg(unix)]

#[path = "demo_support/process.rs"]
mod process;
#[path = "demo_support/prometheus.rs"]
mod prometheus;
#[path = "demo_support/traffic.rs"]
mod traffic;

use std::fs;
use std::time::{Duration, Instant};

use handler_metrics_demo::API_PREFIX;
use handler_metrics_demo::objectives::{LOCAL, RUCIO};
use process::{Demo, printed};
use prometheus::Prometheus;
use reqwest::header::AUTHORIZATION;
use reqwest::{Client, StatusCode};

const TOKEN: &str = "slo-test-token";

/// Upper bound for Prometheus to start, scrape the outage and page.
const DEADLINE: Duration = Duration::from_secs(45);

const PAGE: &str = r#"ALERTS{alertname="RucioJupyterlabAvailabilityBudgetBurn",objective="rucio",severity="page"}"#;

fn printed_rules() -> String {
    printed(&["--print-alert-rules"])
}

#[test]
#[cfg_attr(
    not(has_promtool),
    ignore = "needs promtool (Debian: apt-get install prometheus)"
)]
fn the_printed_rules_pass_promtool_and_cover_both_objectives() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("slo.rules.yml");
    fs::write(&rules, printed_rules()).unwrap();
    let output = handler_metrics_tests::promtool!()
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("promtool runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    // Per objective: 2 × 7 ratios, 4 traffic floors, 2 × 2 burn alerts, 1 for a missing bucket
    // and 1 for no data.
    assert!(report.contains("SUCCESS: 48 rules found"), "{report}");

    let text = fs::read_to_string(&rules).unwrap();
    for objective in [RUCIO, LOCAL] {
        let group = format!("- name: 'rucio_jupyterlab-objective-{}'", objective.name());
        assert!(text.contains(&group), "{group}");
    }
    assert!(text.contains(
        "handlers: 'DIDBrowserHandler::get, DIDDetailsHandler::get, DIDSearchHandler::get, \
         ListRSEsHandler::get, ListScopesHandler::get'"
    ));
    // Skipped handlers serve no objective; the thresholds are the demo's bucket bounds.
    assert!(!text.contains("OIDCAuthCheckHandler"));
    assert!(text.contains(r#"le="0.25""#) && text.contains(r#"le="0.01""#));
}

/// A query's series, or an error saying there were none.
fn non_empty(series: Vec<serde_json::Value>) -> Result<Vec<serde_json::Value>, String> {
    if series.is_empty() {
        Err("no series".to_owned())
    } else {
        Ok(series)
    }
}

/// Sends `count` GETs to `path` with the token, each answered with `status`.
async fn hit(client: &Client, demo: &Demo, path: &str, count: usize, status: StatusCode) {
    for _ in 0..count {
        let response = client
            .get(demo.url(&format!("{API_PREFIX}{path}")))
            .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
            .send()
            .await
            .expect("the demo answers");
        assert_eq!(response.status(), status, "{path}");
    }
}

#[tokio::test]
#[cfg_attr(
    not(has_prometheus),
    ignore = "needs prometheus (Debian: apt-get install prometheus)"
)]
async fn a_rucio_outage_pages_for_the_rucio_objective_and_for_nothing_else() {
    let started = Instant::now();
    let deadline = started + DEADLINE;
    let client = Client::new();
    let demo = Demo::spawn(&["--token", TOKEN, "--rucio-latency-ms", "0"]);
    let target = demo.addr.to_string();
    let prometheus =
        Prometheus::scraping(&client, &target, TOKEN, &printed_rules(), &[], deadline).await;

    // Rucio is down for every Rucio-calling request; the local routes answer. Traffic goes on
    // between scrapes (a rate needs two), in bounded rounds, until the page shows.
    let mut rounds = 0;
    let page = traffic::drive_until(
        &prometheus,
        "page during the outage",
        deadline,
        async || {
            rounds += 1;
            hit(
                &client,
                &demo,
                "/list-scopes?namespace=atlas&rucio_outage=true",
                10,
                StatusCode::BAD_GATEWAY,
            )
            .await;
            hit(
                &client,
                &demo,
                "/list-rses?namespace=cms&rucio_outage=true",
                10,
                StatusCode::BAD_GATEWAY,
            )
            .await;
            hit(&client, &demo, "/instances", 10, StatusCode::OK).await;
        },
        async || non_empty(prometheus.query(&client, PAGE).await),
    )
    .await;
    let state = page[0]["metric"]["alertstate"].as_str().unwrap();
    assert!(["pending", "firing"].contains(&state), "{page:?}");

    // The local objective's group evaluates on its own schedule: wait for its ratio, on
    // traffic, and see nothing wrong.
    let local_ratio = traffic::drive_until(
        &prometheus,
        "recorded ratio of the local objective",
        deadline,
        async || hit(&client, &demo, "/instances", 10, StatusCode::OK).await,
        async || {
            let ratio = r#"rucio_jupyterlab:request_errors:ratio_rate5m{objective="local"}"#;
            non_empty(prometheus.query(&client, ratio).await)
        },
    )
    .await;
    assert_eq!(local_ratio[0]["value"][1], "0", "{local_ratio:?}");
    let local_alerts = prometheus
        .query(&client, r#"ALERTS{objective="local"}"#)
        .await;
    assert!(local_alerts.is_empty(), "{local_alerts:?}");

    // What the on-call person reads.
    let alerts = prometheus.get(&client, "/api/v1/alerts", &[]).await;
    let paged = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|alert| alert["labels"]["severity"] == "page")
        .cloned()
        .unwrap();
    // Every Rucio-calling request fails: a burn near 1 / 0.5% = 200×. Not exactly: a scrape
    // may fall between a request's start and its end, and `rate()` extrapolates the errors and
    // the requests to the window's edges each on its own, so the ratio of two rates of a few
    // seconds of data can land a little above 1 as well as below (seen: 202.9×).
    let summary = paged["annotations"]["summary"].as_str().unwrap();
    let burn: f64 = summary
        .strip_prefix(
            "Objective rucio (99.5% of requests without error over 30 days): errors burn its \
             budget ",
        )
        .and_then(|rest| rest.strip_suffix("× as fast as it allows"))
        .and_then(|burn| burn.parse().ok())
        .unwrap_or_else(|| panic!("{paged}"));
    assert!((150.0..=250.0).contains(&burn), "{paged}");
    assert_eq!(
        paged["annotations"]["handlers"],
        "DIDBrowserHandler::get, DIDDetailsHandler::get, DIDSearchHandler::get, \
         ListRSEsHandler::get, ListScopesHandler::get"
    );
    eprintln!(
        "page after {:?}, {rounds} rounds: {paged}",
        started.elapsed()
    );
    assert!(demo.process.stop("TERM").success());
}

/// A hung Rucio, the most common outage: every Rucio call outlasts the request timeout, the
/// server answers 504, and `EdgeLayer` makes each an error of the handler cut short, so the
/// same availability page fires (without the layer they were cancellations: no page).
#[tokio::test]
#[cfg_attr(
    not(has_prometheus),
    ignore = "needs prometheus (Debian: apt-get install prometheus)"
)]
async fn a_hung_rucio_pages_through_the_request_timeout() {
    let deadline = Instant::now() + DEADLINE;
    let client = Client::new();
    let demo = Demo::spawn(&[
        "--token",
        TOKEN,
        "--rucio-latency-ms",
        "60000",
        "--request-timeout",
        "0.05",
    ]);
    let target = demo.addr.to_string();
    let prometheus =
        Prometheus::scraping(&client, &target, TOKEN, &printed_rules(), &[], deadline).await;
    let page = traffic::drive_until(
        &prometheus,
        "page for the hung Rucio calls",
        deadline,
        async || {
            let hung = "/list-scopes?namespace=atlas";
            hit(&client, &demo, hung, 10, StatusCode::GATEWAY_TIMEOUT).await;
            hit(&client, &demo, "/instances", 10, StatusCode::OK).await;
        },
        async || non_empty(prometheus.query(&client, PAGE).await),
    )
    .await;
    let state = page[0]["metric"]["alertstate"].as_str().unwrap();
    assert!(["pending", "firing"].contains(&state), "{page:?}");
    let timeouts = prometheus
        .query(
            &client,
            r#"rucio_jupyterlab_request_timeouts_total{handler="ListScopesHandler::get"}"#,
        )
        .await;
    let timeouts: f64 = timeouts[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(timeouts >= 10.0, "{timeouts}");
    assert!(demo.process.stop("TERM").success());
}

/// A dead service: the demo is killed, its scrapes fail, Prometheus marks its series stale, and
/// each objective's no-data alert goes pending at once (it pages after its 5 minutes).
#[tokio::test]
#[cfg_attr(
    not(has_prometheus),
    ignore = "needs prometheus (Debian: apt-get install prometheus)"
)]
async fn a_killed_demo_raises_each_objectives_no_data_alert() {
    let deadline = Instant::now() + DEADLINE;
    let client = Client::new();
    let demo = Demo::spawn(&["--token", TOKEN, "--rucio-latency-ms", "0"]);
    let target = demo.addr.to_string();
    let prometheus =
        Prometheus::scraping(&client, &target, TOKEN, &printed_rules(), &[], deadline).await;
    let no_data = r#"ALERTS{alertname="RucioJupyterlabObjectiveNoData"}"#;
    // Alive and scraped: the series are there, and the alert stays quiet.
    loop {
        let requests = prometheus
            .query(&client, "rucio_jupyterlab_requests_total")
            .await;
        if !requests.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the demo is never scraped");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Two evaluations (1 s apart) on live series.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let quiet = prometheus.query(&client, no_data).await;
    assert!(quiet.is_empty(), "{quiet:?}");

    assert!(!demo.process.stop("KILL").success());
    let alerts = loop {
        let alerts = prometheus.query(&client, no_data).await;
        if alerts.len() == 2 {
            break alerts;
        }
        assert!(
            Instant::now() < deadline,
            "no no-data alert for both objectives: {alerts:?}\nPrometheus log:\n{}",
            prometheus.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut objectives: Vec<&str> = alerts
        .iter()
        .map(|alert| {
            assert_eq!(alert["metric"]["severity"], "page", "{alert}");
            assert_eq!(alert["metric"]["alertstate"], "pending", "{alert}");
            alert["metric"]["objective"].as_str().unwrap()
        })
        .collect();
    objectives.sort_unstable();
    assert_eq!(objectives, [LOCAL.name(), RUCIO.name()]);
}
