//! Cost of one call of a trivial handler: bare, instrumented by our macro (sync, async, an
//! explicit label, a method's `Type::method` label), and the prometheus crate written by hand.
//! One thread, then two threads calling the same handler.

use std::hint::black_box;
use std::sync::LazyLock;

use criterion::{Criterion, criterion_group, criterion_main};
use handler_metrics_benches::{
    Handler, bare, bench_one_thread, bench_two_threads, hand_written, poll_ready,
};
use metrics_runtime::prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};
use metrics_runtime::prometheus_metrics;

handler_metrics_benches::measured_handlers!();

#[inline(never)]
async fn bare_async(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// The floor under any timed call on x86_64: the bare fn between two TSC reads, what our clock
/// reads cost without anything recorded.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
fn two_tsc_reads(x: u64) -> u64 {
    // SAFETY: `rdtsc` exists on every x86_64 CPU and only reads the time-stamp counter.
    let start = unsafe { core::arch::x86_64::_rdtsc() };
    let result = black_box(x).wrapping_add(1);
    // SAFETY: as above.
    let end = unsafe { core::arch::x86_64::_rdtsc() };
    black_box(end.wrapping_sub(start));
    result
}

#[prometheus_metrics(handler = "get_instances")]
#[inline(never)]
fn ours_labelled(x: u64) -> Result<u64, ()> {
    Ok(black_box(x).wrapping_add(1))
}

/// A second async handler: two threads on two call sites, to tell contention on a shared call
/// site from the cost of two threads running at once.
#[prometheus_metrics]
#[inline(never)]
async fn ours_async_other(x: u64) -> Result<u64, ()> {
    Ok(black_box(x).wrapping_add(1))
}

struct InstancesHandler;

impl InstancesHandler {
    #[prometheus_metrics]
    #[inline(never)]
    fn get(&self, x: u64) -> Result<u64, ()> {
        Ok(black_box(x).wrapping_add(1))
    }
}

static LABELLED_COUNTER: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(Opts::new("labelled_total", "requests"), &["handler"]).expect("valid")
});
static LABELLED_HISTOGRAM: LazyLock<HistogramVec> = LazyLock::new(|| {
    HistogramVec::new(
        HistogramOpts::new("labelled_seconds", "latency"),
        &["handler"],
    )
    .expect("valid")
});

/// The same with `with_label_values` on every call.
#[inline(never)]
fn with_label_values(x: u64) -> u64 {
    LABELLED_COUNTER.with_label_values(&["get"]).inc();
    let _timer = LABELLED_HISTOGRAM.with_label_values(&["get"]).start_timer();
    black_box(x).wrapping_add(1)
}

fn call_ours_async(x: u64) -> u64 {
    poll_ready(ours_async(x)).unwrap_or(0)
}

fn variants() -> Vec<(&'static str, Handler)> {
    let mut variants: Vec<(&'static str, Handler)> = vec![
        ("bare", bare),
        ("bare_async", |x| poll_ready(bare_async(x))),
        ("ours_sync", |x| ours_sync(x).unwrap_or(0)),
        ("ours_async", call_ours_async),
        ("ours_labelled", |x| ours_labelled(x).unwrap_or(0)),
        ("ours_method", |x| InstancesHandler.get(x).unwrap_or(0)),
        ("hand_written", hand_written),
        ("with_label_values", with_label_values),
    ];
    #[cfg(target_arch = "x86_64")]
    variants.insert(2, ("two_tsc_reads", two_tsc_reads));
    variants
}

fn one_thread(c: &mut Criterion) {
    bench_one_thread(c, "one_thread", &variants());
}

fn two_threads(c: &mut Criterion) {
    let mut pairs: Vec<_> = variants()
        .into_iter()
        .map(|(name, call)| (name, call, call))
        .collect();
    let other: Handler = |x| poll_ready(ours_async_other(x)).unwrap_or(0);
    pairs.push(("ours_async_two_handlers", call_ours_async, other));
    bench_two_threads(c, "two_threads", &pairs);
}

criterion_group!(benches, one_thread, two_threads);
criterion_main!(benches);
