//! Without a `Config`, a name clash with a metric the server registered itself cannot be an
//! error value (nothing returns one); it is reported, and the scrape stays valid: the server's
//! metric once, no duplicate family.

use handler_metrics_tests::Scrape;
use metrics_runtime::prometheus::{IntCounter, register};
use metrics_runtime::prometheus_metrics;

#[prometheus_metrics]
fn clashing_handler() {}

#[test]
fn a_clash_with_the_default_names_keeps_the_scrape_valid() {
    let own = IntCounter::new("handler_requests_total", "The server's own counter.").unwrap();
    register(Box::new(own.clone())).unwrap();
    own.inc_by(5);
    clashing_handler();
    let text = metrics_runtime::gather();
    let scrape = Scrape::parse(&text).unwrap();
    let requests: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.name == "handler_requests_total")
        .collect();
    assert_eq!(requests.len(), 1, "{text}");
    assert_eq!(requests[0].value, 5.0);
    assert!(requests[0].labels.is_empty());
    assert_eq!(text.matches("# TYPE handler_requests_total").count(), 1);
}
