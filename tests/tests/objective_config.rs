//! `Config::install` makes every objective's latency threshold a bucket bound of the buckets it
//! is given, and the rules name the installed namespace. One process, one installation.

use std::time::Duration;

use handler_metrics_tests::Scrape;
use metrics_runtime::{Config, Objective, alert_rules, prometheus_metrics};

const SCOPES: Objective = Objective::new("scopes").latency(Duration::from_millis(250), 99.0);

// 1.1 s is already a bound: it must not be added twice.
const RSES: Objective = Objective::new("rses").latency(Duration::from_millis(1100), 95.0);

#[prometheus_metrics(objective = SCOPES)]
fn list_scopes() {}

#[prometheus_metrics(objective = RSES)]
fn list_rses() {}

#[test]
fn install_adds_the_thresholds_to_the_given_buckets_and_the_rules_follow_the_namespace() {
    Config::new()
        .namespace("rucio")
        .buckets(vec![0.1, 1.1, 5.0])
        .install()
        .unwrap();
    list_scopes();
    list_rses();
    let scrape = Scrape::take();
    let bounds: Vec<&str> = scrape
        .samples
        .iter()
        .filter(|sample| {
            sample.name == "rucio_request_latency_seconds_bucket"
                && sample.labels["handler"] == "list_rses"
        })
        .map(|sample| sample.labels["le"].as_str())
        .collect();
    assert_eq!(bounds, ["0.1", "0.25", "1.1", "5", "+Inf"]);

    let rules = alert_rules();
    assert!(
        rules.contains("- name: 'rucio-objective-scopes'"),
        "{rules}"
    );
    assert!(
        rules.contains("rucio_request_latency_seconds_bucket{handler=\"list_rses\",le=\"1.1\"}")
    );
    assert!(rules.contains("- record: rucio:slow_requests:ratio_rate5m"));
    assert!(rules.contains("- alert: RucioLatencyBudgetBurn"));
    assert!(
        !rules.contains("handler_"),
        "no default-namespace name is left"
    );
}
