//! The OpenMetrics exposition: the whole registry, valid OpenMetrics 1.0, the same samples as the
//! text format, and exemplars with the trace ids of recent calls on the latency buckets and the
//! error counters, sampled so that the source is asked rarely. Its own binary: it installs a
//! configuration with an exemplar source.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use handler_metrics_tests::{OpenMetrics, Scrape};
use metrics_runtime::prometheus::{IntCounter, register};
use metrics_runtime::{Config, Format, gather, gather_as, prometheus_metrics};

thread_local! {
    static TRACE_ID: RefCell<Option<String>> = const { RefCell::new(None) };
    static SOURCE_CALLS: Cell<u32> = const { Cell::new(0) };
}

static SOURCE_CALLS_ALL: AtomicU32 = AtomicU32::new(0);

fn current_trace_id() -> Option<String> {
    SOURCE_CALLS.set(SOURCE_CALLS.get() + 1);
    SOURCE_CALLS_ALL.fetch_add(1, Ordering::Relaxed);
    TRACE_ID.with_borrow(Clone::clone)
}

fn traced<R>(trace_id: &str, call: impl FnOnce() -> R) -> R {
    TRACE_ID.set(Some(trace_id.to_owned()));
    let output = call();
    TRACE_ID.set(None);
    output
}

#[prometheus_metrics]
fn slow_lookup() {
    std::thread::sleep(Duration::from_millis(30));
}

#[prometheus_metrics]
fn failing_upload(fail: bool) -> Result<(), String> {
    if fail { Err("quota".into()) } else { Ok(()) }
}

#[prometheus_metrics]
fn hot_path(x: u64) -> u64 {
    x + 1
}

/// Handler samples and the server's own, which do not move between two scrapes (process
/// metrics do).
fn stable_samples(scrape: &Scrape) -> Vec<String> {
    let mut samples: Vec<String> = scrape
        .samples
        .iter()
        .filter(|s| !s.name.starts_with("process_"))
        .map(|s| format!("{} {:?} {}", s.name, s.labels, s.value))
        .collect();
    samples.sort();
    samples
}

/// One test: the configuration is installed once, before anything else in this binary.
#[test]
fn openmetrics_renders_the_registry_with_exemplars() {
    Config::new()
        .exemplar_source(current_trace_id)
        .install()
        .unwrap();
    let sessions = IntCounter::new("sessions_total", "Sessions \"opened\".").unwrap();
    register(Box::new(sessions.clone())).unwrap();
    sessions.inc();

    let first = OpenMetrics::parse(&gather_as(Format::OpenMetrics)).unwrap();
    let zero = first
        .scrape
        .find("handler_requests_total", "slow_lookup")
        .expect("every handler from the first scrape");
    assert_eq!(zero, 0.0);
    assert!(first.exemplars.is_empty(), "{:?}", first.exemplars);

    traced("4bf92f3577b34da6a3ce929d0e0e4736", slow_lookup);
    traced("00f067aa0ba902b7", || failing_upload(true)).unwrap_err();

    let text = gather();
    let open_metrics = gather_as(Format::OpenMetrics);
    assert!(
        !text.contains("trace_id"),
        "the text format never shows exemplars"
    );
    assert!(!text.contains("# EOF"));
    let parsed = OpenMetrics::parse(&open_metrics).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        stable_samples(&parsed.scrape),
        stable_samples(&Scrape::parse(&text).unwrap()),
        "the same samples as the text format"
    );

    // Counter families are named without `_total`; their samples keep it.
    let kind = |family: &str| {
        parsed
            .families
            .iter()
            .find(|(name, _)| name == family)
            .map(|(_, kind)| kind.as_str())
    };
    assert_eq!(kind("handler_requests"), Some("counter"));
    assert_eq!(kind("handler_request_errors"), Some("counter"));
    assert_eq!(kind("handler_requests_rejected"), Some("counter"));
    assert_eq!(kind("handler_request_latency_seconds"), Some("histogram"));
    assert_eq!(kind("handler_requests_in_flight"), Some("gauge"));
    assert_eq!(kind("sessions"), Some("counter"));
    assert_eq!(kind("process_cpu_seconds"), Some("counter"));
    assert!(open_metrics.contains("# HELP sessions Sessions \\\"opened\\\".\n"));

    // The 30 ms call's exemplar is on its bucket (le 0.05), with its value and time.
    let exemplar_on = |name: &str, handler: &str| {
        parsed
            .exemplars
            .iter()
            .filter(|(sample, _)| sample.name == name && sample.labels["handler"] == handler)
            .collect::<Vec<_>>()
    };
    let latency = exemplar_on("handler_request_latency_seconds_bucket", "slow_lookup");
    assert_eq!(latency.len(), 1, "{latency:?}");
    let (bucket, exemplar) = latency[0];
    assert_eq!(bucket.labels["le"], "0.05");
    assert_eq!(
        exemplar.labels["trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert!(
        (0.030..0.05).contains(&exemplar.value),
        "{}",
        exemplar.value
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let taken = exemplar.timestamp.expect("a timestamp");
    assert!((now - 60.0..=now).contains(&taken), "{taken} vs {now}");

    let errors = exemplar_on("handler_request_errors_total", "failing_upload");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].1.labels["trace_id"], "00f067aa0ba902b7");
    assert_eq!(errors[0].1.value, 1.0);
    let upload_latency = exemplar_on("handler_request_latency_seconds_bucket", "failing_upload");
    assert_eq!(upload_latency[0].1.labels["trace_id"], "00f067aa0ba902b7");

    // Sampled: 10,000 calls ask the source about once a second, not 10,000 times.
    let before = SOURCE_CALLS.get();
    let started = std::time::Instant::now();
    traced("hot", || {
        for x in 0..10_000 {
            std::hint::black_box(hot_path(x));
        }
    });
    let asked = SOURCE_CALLS.get() - before;
    let seconds = started.elapsed().as_secs_f64().ceil() as u32;
    // At most once per bucket (12) per second; a call descheduled into a slower bucket may
    // take that bucket's exemplar too.
    assert!(
        (1..=12 * seconds).contains(&asked),
        "the source was asked {asked} times in {seconds} s for 10,000 calls"
    );
    assert!(SOURCE_CALLS_ALL.load(Ordering::Relaxed) >= asked);
}
