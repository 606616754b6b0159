//! Our `#[prometheus_metrics]` against peer libraries, in one run, per call of the same trivial
//! handler (`x + 1` behind `black_box`, returning `Result<u64, ()>`), one thread and then two
//! threads calling the same handler:
//!
//! - `ours_sync`: `#[metrics_runtime::prometheus_metrics]` (counter, in-flight, latency
//!   histogram, error check), as in `call.rs`;
//! - `hand_written`: the prometheus crate by hand, a static `IntCounter` and
//!   `Histogram::start_timer()`, as in `call.rs`;
//! - `autometrics`: `#[autometrics::autometrics]` (autometrics 3, `prometheus-0_14` backend:
//!   the same prometheus crate, a labelled counter, histogram and caller tracking);
//! - `metered`: `#[metered(registry = ...)]` with `#[measure([HitCount, ResponseTime])]` (an
//!   atomic counter and an HdrHistogram behind a mutex; metered has no Prometheus exporter of
//!   its own).
//!
//! Why: the numbers in `BENCHMARKS.md` compare us with the prometheus crate written by hand;
//! someone choosing a library compares us with the attribute macros they would use instead.
//! Before timing, each peer is called once and its registry is checked to hold that call, so
//! what is timed is a real recording path, not a disabled one.
//!
//! The peers are dev-dependencies of this bench-only package: only this bench (and builds with
//! `--all-targets`) compiles them, never a user of the library.

use std::hint::black_box;
use std::sync::LazyLock;

use criterion::{Criterion, criterion_group, criterion_main};
use handler_metrics_benches::{
    HAND_COUNTER, HAND_HISTOGRAM, Handler, bench_one_thread, bench_two_threads, hand_written,
    render,
};
use metered::{HitCount, ResponseTime, metered};
use metrics_runtime::prometheus::Registry;

#[metrics_runtime::prometheus_metrics]
#[inline(never)]
fn ours_sync(x: u64) -> Result<u64, ()> {
    Ok(black_box(x).wrapping_add(1))
}

#[autometrics::autometrics]
#[inline(never)]
fn autometrics_handler(x: u64) -> Result<u64, ()> {
    Ok(black_box(x).wrapping_add(1))
}

/// Metered keeps its registry in the value the methods are called on: no global state.
#[derive(Default)]
struct MeteredHandler {
    metrics: MeteredHandlerMetrics,
}

#[metered(registry = MeteredHandlerMetrics)]
impl MeteredHandler {
    #[measure([HitCount, ResponseTime])]
    #[inline(never)]
    fn get(&self, x: u64) -> Result<u64, ()> {
        Ok(black_box(x).wrapping_add(1))
    }
}

static METERED: LazyLock<MeteredHandler> = LazyLock::new(MeteredHandler::default);

fn variants() -> Vec<(&'static str, Handler)> {
    vec![
        ("ours_sync", |x| ours_sync(x).unwrap_or(0)),
        ("hand_written", hand_written),
        ("autometrics", |x| autometrics_handler(x).unwrap_or(0)),
        ("metered", |x| METERED.get(x).unwrap_or(0)),
    ]
}

/// Sets the peers up and checks, after one call of each, that every one of them recorded it.
fn set_up() {
    metrics_runtime::Config::new()
        .registry(Registry::new())
        .process_metrics(false)
        .install()
        .expect("fresh process");
    let autometrics_registry = Registry::new();
    autometrics::settings::AutometricsSettings::builder()
        .prometheus_registry(autometrics_registry.clone())
        .init();

    for (_, call) in variants() {
        assert_eq!(call(1), 2);
    }

    let ours = metrics_runtime::gather();
    assert!(
        ours.lines().any(|line| {
            line.starts_with("handler_requests_total{handler=\"ours_sync\"") && line.ends_with(" 1")
        }),
        "our counter holds the warm-up call:\n{ours}"
    );
    assert_eq!(HAND_COUNTER.get(), 1);
    assert_eq!(HAND_HISTOGRAM.get_sample_count(), 1);

    let exposition = render(&autometrics_registry);
    let recorded = |family: &str| {
        exposition.lines().any(|line| {
            line.starts_with(family)
                && line.contains("function=\"autometrics_handler\"")
                && line.ends_with(" 1")
        })
    };
    assert!(
        recorded("function_calls_total{") && recorded("function_calls_duration_seconds_count{"),
        "autometrics recorded the warm-up call:\n{exposition}"
    );

    let metrics = &METERED.metrics.get;
    assert_eq!(
        metrics.hit_count.0.get(),
        1,
        "metered counted the warm-up call"
    );
    assert_eq!(
        metrics.response_time.histogram().len(),
        1,
        "metered timed it"
    );
}

fn one_thread(c: &mut Criterion) {
    set_up();
    bench_one_thread(c, "peers_one_thread", &variants());
}

fn two_threads(c: &mut Criterion) {
    let pairs: Vec<_> = variants()
        .into_iter()
        .map(|(name, call)| (name, call, call))
        .collect();
    bench_two_threads(c, "peers_two_threads", &pairs);
}

criterion_group!(benches, one_thread, two_threads);
criterion_main!(benches);
