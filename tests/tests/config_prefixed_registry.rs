//! A registry made with a prefix and common labels renames and labels the handler families as
//! it does every other family.

use std::collections::HashMap;

use handler_metrics_tests::Scrape;
use metrics_runtime::prometheus::Registry;
use metrics_runtime::{Config, prometheus_metrics};

#[prometheus_metrics]
fn prefixed_handler() -> Result<(), ()> {
    Err(())
}

#[test]
fn the_registry_prefix_and_labels_apply_to_handler_families() {
    let labels = HashMap::from([("instance".to_owned(), "jupyter-1".to_owned())]);
    let registry = Registry::new_custom(Some("lab".to_owned()), Some(labels)).unwrap();
    Config::new()
        .registry(registry)
        .process_metrics(false)
        .install()
        .unwrap();
    prefixed_handler().unwrap_err();
    let scrape = Scrape::take();
    let values = scrape.handler_in("lab_handler", "prefixed_handler");
    assert_eq!(
        (values.requests, values.errors, values.latency_count),
        (1.0, 1.0, 1.0)
    );
    let labels = scrape.labels("lab_handler_requests_total", "prefixed_handler");
    assert_eq!(labels["instance"], "jupyter-1");
    assert_eq!(labels["module"], "config_prefixed_registry");
    assert!(
        scrape
            .find("handler_requests_total", "prefixed_handler")
            .is_none()
    );
}
