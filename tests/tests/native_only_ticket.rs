//! The native-only ticket states the bound of the schema the runtime is configured with, not
//! the default one.

use std::time::Duration;

use metrics_runtime::{Config, NativeHistograms, Objective, alert_rules, prometheus_metrics};

const SEARCH: Objective = Objective::new("search").latency(Duration::from_millis(10), 99.0);

#[prometheus_metrics(objective = SEARCH)]
fn search() {}

#[test]
fn the_native_only_ticket_names_the_configured_schema() {
    Config::new()
        .native_histograms(NativeHistograms::new().schema(1))
        .install()
        .unwrap();
    search();
    let rules = alert_rules();
    let ticket = rules
        .split("- alert: ")
        .find(|rule| rule.starts_with("HandlerLatencyNativeOnly"))
        .unwrap_or_else(|| panic!("a native-only ticket:\n{rules}"));
    // At schema 1, 10 ms lies in (2^-7, 2^-6.5] s.
    assert!(ticket.contains("at schema 1,"), "{ticket}");
    assert!(ticket.contains("0.0078125"), "{ticket}");
    assert!(!ticket.contains("at schema 3"), "{ticket}");
}
