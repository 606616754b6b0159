//! Native histograms end to end, against Debian's Prometheus 2.42:
//! - started with `--enable-feature=native-histograms`, it scrapes the demo (run with
//!   `--native-histograms --rucio-latency-ms 40`) in the protobuf format and keeps the native
//!   buckets only: `histogram_quantile` over them finds the 40 ms of the Rucio call within 10 %;
//! - the latency rules printed with `--native-histograms` record the slow-request ratio whichever
//!   representation Prometheus ingested: native only (the feature on) or classic only (off);
//! - a text scrape of the same demo still passes `promtool check metrics`.
//!
//! Needs `prometheus` and `promtool` (Debian: `apt-get install prometheus`; CI installs them).

#![cfg(unix)]

#[path = "demo_support/process.rs"]
#[allow(dead_code)] // `stop`: these demos end with the test
mod process;
#[path = "demo_support/prometheus.rs"]
mod prometheus;

use std::time::{Duration, Instant};

use handler_metrics_demo::API_PREFIX;
use process::{Demo, printed};
use prometheus::Prometheus;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, StatusCode};

const TOKEN: &str = "native-test-token";

/// Upper bound for Prometheus to start, scrape the traffic and evaluate the rules.
const DEADLINE: Duration = Duration::from_secs(60);

const LATENCY: &str = "rucio_jupyterlab_request_latency_seconds";
const LIST_SCOPES: &str = r#"{handler="ListScopesHandler::get"}"#;
const SLOW_RATIO: &str = r#"rucio_jupyterlab:slow_requests:ratio_rate5m{objective="rucio"}"#;

/// What Prometheus 2.42 sends with native histograms on: protobuf first.
const NATIVE_ACCEPT: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn printed_rules() -> String {
    printed(&["--native-histograms", "--print-alert-rules"])
}

/// `count` list-scopes calls at once, each answered 200.
async fn burst(client: &Client, demo: &Demo, count: usize) {
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..count {
        let request = client
            .get(demo.url(&format!("{API_PREFIX}/list-scopes?namespace=atlas")))
            .header(AUTHORIZATION, format!("Bearer {TOKEN}"));
        calls.spawn(async move { request.send().await.map(|response| response.status()) });
    }
    while let Some(status) = calls.join_next().await {
        assert_eq!(status.unwrap().expect("the demo answers"), StatusCode::OK);
    }
}

async fn metrics(client: &Client, demo: &Demo, accept: &str) -> (String, Vec<u8>) {
    let response = client
        .get(demo.url("/metrics"))
        .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(ACCEPT, accept)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
#[cfg_attr(
    not(all(has_prometheus, has_promtool)),
    ignore = "needs prometheus and promtool (Debian: apt-get install prometheus)"
)]
async fn a_native_prometheus_finds_the_rucio_latency_in_the_native_buckets() {
    let deadline = Instant::now() + DEADLINE;
    let client = Client::new();
    let demo = Demo::spawn(&[
        "--token",
        TOKEN,
        "--native-histograms",
        "--rucio-latency-ms",
        "40",
    ]);

    // What each kind of scraper gets from the same demo.
    let (content_type, text) = metrics(&client, &demo, "text/plain;version=0.0.4").await;
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    prometheus::promtool_check_metrics(&text);
    let (content_type, protobuf) = metrics(&client, &demo, NATIVE_ACCEPT).await;
    assert_eq!(
        content_type,
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    );
    assert!(
        !protobuf.is_empty() && std::str::from_utf8(&protobuf).is_err(),
        "binary"
    );

    let target = demo.addr.to_string();
    let flags = ["--enable-feature=native-histograms"];
    let prometheus =
        Prometheus::scraping(&client, &target, TOKEN, &printed_rules(), &flags, deadline).await;

    // Bounded: 20 calls a round until Prometheus has two scrapes of them, at most the deadline.
    let count = format!("histogram_count(sum(rate({LATENCY}{LIST_SCOPES}[1m])))");
    let mut rounds = 0;
    let calls_per_second = loop {
        burst(&client, &demo, 20).await;
        rounds += 1;
        if let Some(rate) = prometheus.query_value(&client, &count).await
            && rate > 0.0
        {
            break rate;
        }
        assert!(
            Instant::now() < deadline,
            "no native histogram count after {rounds} rounds\n{}",
            prometheus.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let median = format!("histogram_quantile(0.5, sum(rate({LATENCY}{LIST_SCOPES}[1m])))");
    let median = prometheus
        .query_value(&client, &median)
        .await
        .expect("a median");
    assert!(
        (median - 0.040).abs() <= 0.004,
        "median {median} s, not within 10 % of 40 ms"
    );
    // Prometheus 2.42 kept the native buckets only: the classic series are not there.
    let classic = format!("{LATENCY}_bucket{LIST_SCOPES}");
    assert!(prometheus.query(&client, &classic).await.is_empty());
    eprintln!(
        "after {rounds} rounds: {calls_per_second:.1} calls/s, median {:.2} ms",
        median * 1e3
    );
}

/// Slow Rucio calls (300 ms, over the `rucio` objective's 250 ms) until the recorded
/// slow-request ratio shows them, with `flags` for Prometheus; returns that ratio.
async fn slow_ratio(flags: &[&str], representation: &str) -> f64 {
    let deadline = Instant::now() + DEADLINE;
    let client = Client::new();
    let demo = Demo::spawn(&[
        "--token",
        TOKEN,
        "--native-histograms",
        "--rucio-latency-ms",
        "300",
    ]);
    let target = demo.addr.to_string();
    let prometheus =
        Prometheus::scraping(&client, &target, TOKEN, &printed_rules(), flags, deadline).await;
    let mut rounds = 0;
    loop {
        burst(&client, &demo, 10).await;
        rounds += 1;
        if let Some(ratio) = prometheus.query_value(&client, SLOW_RATIO).await
            && ratio > 0.0
        {
            // Only the representation under test is stored.
            let classic = format!("{LATENCY}_bucket{LIST_SCOPES}");
            let native = format!("histogram_count({LATENCY}{LIST_SCOPES})");
            let (present, absent) = match representation {
                "native" => (native, classic),
                _ => (classic, native),
            };
            assert!(!prometheus.query(&client, &present).await.is_empty());
            assert!(prometheus.query(&client, &absent).await.is_empty());
            // Native buckets alone: the ratio interpolates, and a ticket says so (pending: it
            // waits 10m); with classic buckets it stays quiet.
            let native_only = r#"ALERTS{alertname="RucioJupyterlabLatencyNativeOnly"}"#;
            loop {
                let alerts = prometheus.query(&client, native_only).await;
                if representation != "native" {
                    assert!(alerts.is_empty(), "{alerts:?}");
                    break;
                }
                let handler = "ListScopesHandler::get";
                if let Some(alert) = alerts.iter().find(|a| a["metric"]["handler"] == handler) {
                    assert_eq!(alert["metric"]["severity"], "ticket", "{alert}");
                    assert_eq!(alert["metric"]["objective"], "rucio", "{alert}");
                    break;
                }
                assert!(Instant::now() < deadline, "no native-only ticket");
                burst(&client, &demo, 10).await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            eprintln!("{representation}: ratio {ratio} after {rounds} rounds");
            return ratio;
        }
        assert!(
            Instant::now() < deadline,
            "no slow-request ratio ({representation}) after {rounds} rounds\n{}",
            prometheus.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
#[cfg_attr(
    not(has_prometheus),
    ignore = "needs prometheus (Debian: apt-get install prometheus)"
)]
async fn the_latency_rules_read_native_buckets() {
    let ratio = slow_ratio(&["--enable-feature=native-histograms"], "native").await;
    // Every call took 300 ms: all slow. histogram_fraction interpolates within the bucket that
    // holds 250 ms, whose calls are all above it, so the ratio is 1 up to rounding.
    assert!((0.99..=1.0 + 1e-9).contains(&ratio), "{ratio}");
}

#[tokio::test]
#[cfg_attr(
    not(has_prometheus),
    ignore = "needs prometheus (Debian: apt-get install prometheus)"
)]
async fn the_latency_rules_read_classic_buckets() {
    let ratio = slow_ratio(&[], "classic").await;
    assert!((0.99..=1.0 + 1e-9).contains(&ratio), "{ratio}");
}
