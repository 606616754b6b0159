//! Installing a configuration after handler metrics were created with the defaults is an
//! error value: the two configurations cannot both hold.

use handler_metrics_tests::Scrape;
use metrics_runtime::{Config, ConfigError, prometheus_metrics};

#[prometheus_metrics]
fn ran_before_install() {}

#[test]
fn install_after_first_use_is_refused_and_defaults_stay() {
    ran_before_install();
    let error = Config::new().namespace("late").install().unwrap_err();
    assert!(matches!(error, ConfigError::AlreadyInUse), "{error:?}");
    assert!(error.to_string().contains("before either"), "{error}");
    let scrape = Scrape::take();
    assert_eq!(
        scrape.find("handler_requests_total", "ran_before_install"),
        Some(1.0)
    );
    assert_eq!(
        scrape.find("late_requests_total", "ran_before_install"),
        None
    );
    // Default registry: process metrics are there on Linux.
    if cfg!(target_os = "linux") {
        assert!(
            scrape
                .samples
                .iter()
                .any(|s| s.name == "process_cpu_seconds_total")
        );
    }
}
