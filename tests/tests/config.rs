//! `Config::install`: every bad configuration is an error value with a clear message, and a
//! good one renames the families and joins the registry it names. One process, one sequence:
//! installation is global.

use handler_metrics_tests::Scrape;
use metrics_runtime::prometheus::{IntCounter, Registry, TextEncoder};
use metrics_runtime::{Config, ConfigError, prometheus_metrics};

#[prometheus_metrics]
fn configured_handler() -> Result<(), ()> {
    Ok(())
}

fn message(error: &ConfigError) -> String {
    error.to_string()
}

#[test]
fn bad_configurations_are_rejected_then_a_good_one_installs_once() {
    let invalid_namespaces = [
        ("", "empty"),
        ("9lives", "starts with a digit"),
        (
            "rucio-jupyterlab",
            "only ASCII letters, digits and underscores",
        ),
        ("ns:sub", "only ASCII letters, digits and underscores"),
        ("__reserved", "reserved"),
    ];
    for (namespace, reason) in invalid_namespaces {
        let error = Config::new().namespace(namespace).install().unwrap_err();
        assert!(
            matches!(error, ConfigError::InvalidNamespace { .. }),
            "{namespace:?}"
        );
        assert!(message(&error).contains(reason), "{namespace:?}: {error}");
    }

    let error = Config::new().buckets(vec![]).install().unwrap_err();
    assert!(matches!(error, ConfigError::EmptyBuckets));
    assert!(message(&error).contains("at least one"));

    for (buckets, index) in [
        (vec![0.1, f64::NAN], 1),
        (vec![f64::INFINITY], 0),
        (vec![-1.0], 0),
        (vec![0.0, 1.0], 0),
    ] {
        let error = Config::new()
            .buckets(buckets.clone())
            .install()
            .unwrap_err();
        assert!(
            matches!(error, ConfigError::InvalidBucket { index: i, .. } if i == index),
            "{buckets:?}: {error:?}"
        );
        assert!(message(&error).contains("finite and greater than 0"));
    }

    for buckets in [vec![0.1, 0.1], vec![0.5, 0.25, 1.0]] {
        let error = Config::new()
            .buckets(buckets.clone())
            .install()
            .unwrap_err();
        assert!(
            matches!(error, ConfigError::BucketsNotIncreasing { index: 1, .. }),
            "{buckets:?}: {error:?}"
        );
        assert!(message(&error).contains("strictly increasing"), "{error}");
    }

    // A registry that already has one of the names: an error naming it; nothing is installed.
    let crowded = Registry::new();
    crowded
        .register(Box::new(
            IntCounter::new("rucio_jupyterlab_request_errors_total", "taken").unwrap(),
        ))
        .unwrap();
    let error = Config::new()
        .namespace("rucio_jupyterlab")
        .registry(crowded.clone())
        .install()
        .unwrap_err();
    assert!(
        matches!(&error, ConfigError::NameClash { name, .. } if name == "rucio_jupyterlab_request_errors_total"),
        "{error:?}"
    );
    assert!(message(&error).contains("rucio_jupyterlab_request_errors_total"));
    assert!(std::error::Error::source(&error).is_some());
    let left: Vec<String> = crowded
        .gather()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    assert_eq!(
        left,
        ["rucio_jupyterlab_request_errors_total"],
        "the failed install added nothing"
    );

    // The good configuration: own registry, namespace, buckets.
    let registry = Registry::new();
    let own_metric =
        IntCounter::new("server_own_total", "A metric the server registers itself.").unwrap();
    registry.register(Box::new(own_metric.clone())).unwrap();
    own_metric.inc_by(3);
    Config::new()
        .namespace("rucio_jupyterlab")
        .buckets(vec![0.001, 0.01, 0.1])
        .registry(registry.clone())
        .install()
        .expect("a valid configuration installs");

    configured_handler().unwrap();
    let scrape = Scrape::take();
    // `gather()` writes the handler families itself; through the registry, as anyone else
    // gathering it sees them, they are the same samples.
    let via_registry = TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    let handler_samples = |scrape: &Scrape| {
        let mut samples: Vec<String> = scrape
            .samples
            .iter()
            .filter(|s| s.name.starts_with("rucio_jupyterlab_"))
            .map(|s| format!("{} {:?} {}", s.name, s.labels, s.value))
            .collect();
        samples.sort();
        samples
    };
    let direct = handler_samples(&scrape);
    assert_eq!(
        direct.len(),
        4 + 6,
        "4 counters/gauges and a histogram of 3 bounds"
    );
    assert_eq!(
        direct,
        handler_samples(&Scrape::parse(&via_registry).unwrap())
    );
    let values = scrape.handler_in("rucio_jupyterlab", "configured_handler");
    assert_eq!(values.requests, 1.0);
    assert_eq!(values.latency_count, 1.0);
    assert_eq!(
        scrape.find("handler_requests_total", "configured_handler"),
        None
    );
    let bounds: Vec<&str> = scrape
        .samples
        .iter()
        .filter(|s| s.name == "rucio_jupyterlab_request_latency_seconds_bucket")
        .map(|s| s.labels["le"].as_str())
        .collect();
    assert_eq!(bounds, ["0.001", "0.01", "0.1", "+Inf"]);
    // One endpoint for everything: the server's own metric and the process metrics come along.
    let own = scrape
        .samples
        .iter()
        .find(|s| s.name == "server_own_total")
        .unwrap();
    assert_eq!(own.value, 3.0);
    if cfg!(target_os = "linux") {
        assert!(
            scrape
                .samples
                .iter()
                .any(|s| s.name == "process_cpu_seconds_total")
        );
        assert!(
            scrape
                .samples
                .iter()
                .any(|s| s.name == "process_resident_memory_bytes")
        );
    }

    let error = Config::new().namespace("other").install().unwrap_err();
    assert!(matches!(error, ConfigError::AlreadyInstalled), "{error:?}");
    assert!(message(&error).contains("already installed"));
}
