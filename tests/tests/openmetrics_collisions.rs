//! A family of the server's whose OpenMetrics names collide with the handler families' (our
//! counter family `handler_requests` is named without `_total`; every family also takes its
//! samples' suffixes `_total`, `_created`, `_bucket`, `_count`, `_sum`) never makes the
//! OpenMetrics scrape invalid. `install()` refuses such a family already in the registry, and
//! the registry then refuses one registered under those names. One that still reaches a scrape
//! (registered without `install`, or gathered by a collector that declares no descriptor) is
//! left out of the OpenMetrics exposition (the text format keeps it), said once on standard
//! error. Each case runs in a child process of this binary: it installs a configuration, and
//! its standard error is read.

use std::process::Command;

use handler_metrics_tests::{OpenMetrics, Scrape};
use metrics_runtime::prometheus::core::{Collector, Desc};
use metrics_runtime::prometheus::proto::MetricFamily;
use metrics_runtime::prometheus::{
    Histogram, HistogramOpts, IntCounter, IntGauge, Registry, register,
};
use metrics_runtime::{Config, ConfigError, Format, gather, gather_as, prometheus_metrics};

/// Names the case a child process runs.
const CASE: &str = "OPENMETRICS_COLLISIONS_CASE";

#[prometheus_metrics]
fn lookup(fail: bool) -> Result<(), String> {
    if fail { Err("down".into()) } else { Ok(()) }
}

/// Families whose OpenMetrics names collide with the default handler families'.
fn colliding() -> Vec<Box<dyn Collector>> {
    let gauge = |name: &str| Box::new(IntGauge::new(name, "The server's own.").unwrap());
    vec![
        gauge("handler_requests"),
        gauge("handler_requests_created"),
        gauge("handler_request_errors"),
        gauge("handler_request_latency_seconds_bucket"),
        gauge("handler_request_latency_seconds_count"),
        gauge("handler_request_latency_seconds_sum"),
        // OpenMetrics names this counter's family `handler_requests_in_flight`.
        Box::new(IntCounter::new("handler_requests_in_flight_total", "Own.").unwrap()),
        // Its samples are `handler_requests_bucket`, `…_sum`, `…_count`.
        Box::new(Histogram::with_opts(HistogramOpts::new("handler_requests", "Own.")).unwrap()),
    ]
}

/// A collector that declares no descriptor, so that the registry cannot check the names of what
/// it gathers: how a colliding family can still reach a scrape after `install`.
struct Unchecked(Vec<MetricFamily>);

impl Collector for Unchecked {
    fn desc(&self) -> Vec<&Desc> {
        Vec::new()
    }
    fn collect(&self) -> Vec<MetricFamily> {
        self.0.clone()
    }
}

/// The server's families, after `install`: three collide with the handler families.
fn late_families() -> Unchecked {
    let requests = IntGauge::new("handler_requests", "The server's own.").unwrap();
    requests.set(42);
    let bucket = IntGauge::new("handler_request_latency_seconds_bucket", "Own.").unwrap();
    let in_flight = IntCounter::new("handler_requests_in_flight_total", "Own.").unwrap();
    let queue = IntGauge::new("queue_depth", "Collides with nothing.").unwrap();
    queue.set(3);
    Unchecked(
        [
            requests.collect(),
            bucket.collect(),
            in_flight.collect(),
            queue.collect(),
        ]
        .concat(),
    )
}

/// Two scrapes, both valid, with the handler families whole and `queue_depth`.
fn scrape_twice(prefix: &str) {
    lookup(false).unwrap();
    lookup(true).unwrap_err();
    for _ in 0..2 {
        let exposition = gather_as(Format::OpenMetrics);
        let parsed =
            OpenMetrics::parse(&exposition).unwrap_or_else(|e| panic!("{e}\n{exposition}"));
        let kind = |family: &str| {
            let family = format!("{prefix}{family}");
            let kinds: Vec<_> = parsed
                .families
                .iter()
                .filter(|(name, _)| *name == family)
                .collect();
            assert!(kinds.len() <= 1);
            kinds.first().map(|(_, kind)| kind.clone())
        };
        assert_eq!(kind("handler_requests").as_deref(), Some("counter"));
        assert_eq!(kind("handler_requests_in_flight").as_deref(), Some("gauge"));
        assert_eq!(
            kind("handler_request_latency_seconds").as_deref(),
            Some("histogram")
        );
        assert_eq!(kind("handler_request_latency_seconds_bucket"), None);
        assert_eq!(kind("queue_depth").as_deref(), Some("gauge"));
        let values = parsed
            .scrape
            .handler_in(&format!("{prefix}handler"), "lookup");
        assert_eq!(
            (values.requests, values.errors, values.latency_count),
            (2.0, 1.0, 2.0)
        );
        assert_eq!(values.in_flight, 0.0);
    }
    // The text format has no such collision: it keeps the server's families.
    let text = Scrape::parse(&gather()).unwrap();
    let name = format!("{prefix}handler_requests");
    let own = text.samples.iter().find(|s| s.name == name).unwrap();
    assert_eq!(own.value, 42.0);
}

fn installed() {
    for family in colliding() {
        let name = family.desc()[0].fq_name.clone();
        let registry = Registry::new();
        registry.register(family).unwrap();
        let refused = Config::new().registry(registry).install().unwrap_err();
        match &refused {
            ConfigError::NameClash { name: taken, .. } => assert_eq!(*taken, name, "{refused}"),
            other => panic!("{name}: {other}"),
        }
        assert!(refused.to_string().contains("OpenMetrics"), "{refused}");
    }

    let registry = Registry::new();
    Config::new().registry(registry.clone()).install().unwrap();
    // Names install() saw free stay reserved: the registry refuses them later.
    for family in colliding() {
        let name = family.desc()[0].fq_name.clone();
        let refused = registry.register(family).unwrap_err().to_string();
        assert!(refused.contains(&format!("{name:?}")), "{name}: {refused}");
    }
    registry.register(Box::new(late_families())).unwrap();
    scrape_twice("");
}

/// Without `install`, nothing can refuse a family registered after the runtime started.
fn default_runtime() {
    gather();
    let requests = IntGauge::new("handler_requests", "The server's own.").unwrap();
    requests.set(42);
    register(Box::new(requests)).unwrap();
    let bucket = IntGauge::new("handler_request_latency_seconds_bucket", "Own.").unwrap();
    register(Box::new(bucket)).unwrap();
    let in_flight = IntCounter::new("handler_requests_in_flight_total", "Own.").unwrap();
    register(Box::new(in_flight)).unwrap();
    register(Box::new(
        IntGauge::new("queue_depth", "Collides with nothing.").unwrap(),
    ))
    .unwrap();
    scrape_twice("");
}

/// A registry with a prefix renders the handler families itself: they still win.
fn prefixed() {
    let registry = Registry::new_custom(Some("app".to_owned()), None).unwrap();
    Config::new().registry(registry.clone()).install().unwrap();
    registry.register(Box::new(late_families())).unwrap();
    scrape_twice("app_");
}

/// The lines of the child's standard error that say a family was left out.
fn run_child(case: &str) -> Vec<String> {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "colliding_families_never_make_the_openmetrics_scrape_invalid",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CASE, case)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(child.status.success(), "{case}: {stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{case}: {stdout}");
    stderr
        .lines()
        .filter(|line| line.starts_with("metrics_runtime:"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn colliding_families_never_make_the_openmetrics_scrape_invalid() {
    match std::env::var(CASE).as_deref() {
        Ok("installed") => return installed(),
        Ok("default") => return default_runtime(),
        Ok("prefixed") => return prefixed(),
        _ => {}
    }
    for (case, prefix) in [("installed", ""), ("default", ""), ("prefixed", "app_")] {
        let lines = run_child(case);
        // Two scrapes, one line per family left out.
        assert_eq!(lines.len(), 3, "{case}: {lines:#?}");
        for family in [
            "handler_requests",
            "handler_request_latency_seconds_bucket",
            "handler_requests_in_flight",
        ] {
            let named = format!("OpenMetrics family `{prefix}{family}` ");
            let found = lines.iter().any(|line| line.contains(&named));
            assert!(found, "{case}: {family}: {lines:#?}");
        }
    }
}
