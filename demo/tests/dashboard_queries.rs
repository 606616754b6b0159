//! The dashboard `--print-dashboard` prints, against a live Prometheus 2.42 that scrapes the
//! demo under scripted traffic with the printed rules loaded: every panel's expression, with
//! the variables substituted as Grafana would, parses and returns data, in both histogram
//! modes; the `job`, `instance` and `handler` variables find what Prometheus scraped.
//!
//! Needs `prometheus` (Debian: `apt-get install prometheus`; CI installs it).

#![cfg(unix)]

#[path = "demo_support/process.rs"]
#[allow(dead_code)] // `stop`: these demos end with the test
mod process;
#[path = "demo_support/prometheus.rs"]
mod prometheus;
#[path = "demo_support/traffic.rs"]
mod traffic;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use handler_metrics_demo::API_PREFIX;
use process::{Demo, printed};
use prometheus::Prometheus;
use reqwest::header::AUTHORIZATION;
use reqwest::{Client, StatusCode};
use serde_json::Value;

const TOKEN: &str = "dashboard-test-token";

/// Prometheus starts, scrapes, records, and a fresh recorded series reaches the objective
/// panels' 1-minute step: well within this.
const DEADLINE: Duration = Duration::from_secs(150);

const JOB: &str = "rucio-jupyterlab";

/// The handler the per-handler row is checked for.
const HANDLER: &str = "ListScopesHandler::get";

/// Every panel's expressions, rows' nested panels included.
fn exprs(dashboard: &Value) -> Vec<(String, String)> {
    let mut panels = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        panels.push(panel);
        panels.extend(panel["panels"].as_array().into_iter().flatten());
    }
    panels
        .into_iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap().to_owned();
            panel["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |target| (title.clone(), target["expr"].as_str().unwrap().to_owned()))
        })
        .collect()
}

/// A label value as a regex that matches it alone: Grafana escapes a multi-value variable so.
fn regex(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

fn substitute(expr: &str, instance: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$job", &regex(JOB))
        .replace("$instance", &regex(instance))
        .replace("$handler", &regex(HANDLER))
}

/// One round of traffic: answered calls, calls a timeout cuts short, rejected calls, and
/// answers no handler gives.
async fn one_round(client: &Client, demo: &Demo) {
    let send = async |path: &str, token: &str, expected: StatusCode| {
        let response = client
            .get(demo.url(path))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{path}");
    };
    for _ in 0..5 {
        send(&format!("{API_PREFIX}/instances"), TOKEN, StatusCode::OK).await;
        let hung = format!("{API_PREFIX}/list-scopes?namespace=atlas");
        send(&hung, TOKEN, StatusCode::GATEWAY_TIMEOUT).await;
        send(
            &format!("{API_PREFIX}/no-such-route"),
            TOKEN,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
}

async fn every_panel_answers(native: bool) {
    let deadline = Instant::now() + DEADLINE;
    let client = Client::new();
    let mut demo_flags = vec![
        "--token",
        TOKEN,
        "--rucio-latency-ms",
        "60000",
        "--request-timeout",
        "0.05",
    ];
    let mut print = vec![];
    if native {
        demo_flags.push("--native-histograms");
        print.push("--native-histograms");
    }
    let demo = Demo::spawn(&demo_flags);
    let dashboard: Value =
        serde_json::from_str(&printed(&[&print[..], &["--print-dashboard"]].concat()))
            .expect("the dashboard is JSON");
    let rules = printed(&[&print[..], &["--print-alert-rules"]].concat());
    let instance = demo.addr.to_string();
    let flags: &[&str] = if native {
        &["--enable-feature=native-histograms"]
    } else {
        &[]
    };
    let prometheus = Prometheus::scraping(&client, &instance, TOKEN, &rules, flags, deadline).await;

    let exprs = exprs(&dashboard);
    assert!(exprs.len() > 30, "{exprs:#?}");
    if native {
        assert!(
            exprs.iter().any(
                |(_, expr)| expr.contains("sum(rate(rucio_jupyterlab_request_latency_seconds{")
            )
        );
    }
    let mut waiting: BTreeSet<(String, String)> = exprs
        .iter()
        .map(|(title, expr)| (title.clone(), substitute(expr, &instance)))
        .collect();
    traffic::drive_until(
        &prometheus,
        "data for every expression",
        deadline,
        async || one_round(&client, &demo).await,
        async || {
            let mut answered = Vec::new();
            for (title, expr) in &waiting {
                // An expression that does not parse fails here: `get` asserts a success.
                if !prometheus.query(&client, expr).await.is_empty() {
                    answered.push((title.clone(), expr.clone()));
                }
            }
            for done in answered {
                waiting.remove(&done);
            }
            if waiting.is_empty() {
                Ok(())
            } else {
                Err(format!("{} without data: {waiting:#?}", waiting.len()))
            }
        },
    )
    .await;

    // The variables: `label_values(metric{…}, label)` is the series API's label values.
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let values = async |label: &str, selector: &str| -> BTreeSet<String> {
        let path = format!("/api/v1/label/{label}/values");
        let data = prometheus
            .get(&client, &path, &[("match[]", selector)])
            .await;
        data.as_array()
            .unwrap()
            .iter()
            .map(|value| value.as_str().unwrap().to_owned())
            .collect()
    };
    for (name, expected) in [("job", JOB), ("instance", instance.as_str())] {
        let variable = variables.iter().find(|v| v["name"] == name).unwrap();
        let definition = variable["query"]["query"].as_str().unwrap();
        let inner = definition
            .strip_prefix("label_values(")
            .and_then(|rest| rest.strip_suffix(&format!(", {name})")))
            .unwrap_or_else(|| panic!("{definition}"));
        let found = values(name, &substitute(inner, &instance)).await;
        assert_eq!(found, BTreeSet::from([expected.to_owned()]), "{definition}");
    }
    let handler = variables.iter().find(|v| v["name"] == "handler").unwrap();
    let options: BTreeSet<String> = handler["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|option| option["value"].as_str().unwrap().to_owned())
        .collect();
    let scraped = values("handler", "rucio_jupyterlab_requests_total").await;
    assert_eq!(
        options, scraped,
        "the handler variable is what Prometheus scraped"
    );
    assert!(options.contains(HANDLER));
}

#[tokio::test]
#[cfg_attr(
    not(has_prometheus),
    ignore = "needs prometheus (Debian: apt-get install prometheus)"
)]
async fn every_panel_answers_with_classic_histograms() {
    every_panel_answers(false).await;
}

#[tokio::test]
#[cfg_attr(
    not(has_prometheus),
    ignore = "needs prometheus (Debian: apt-get install prometheus)"
)]
async fn every_panel_answers_with_native_histograms() {
    every_panel_answers(true).await;
}
