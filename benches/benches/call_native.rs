//! Cost of one call with native histograms on (`Config::native_histograms`, schema 3), against
//! the hand-written prometheus crate with its classic histogram: a call also finds its native
//! bucket (a table lookup and one comparison, no logarithm) and defers it to its shard's batch.
//! `call_ratio --native` measures the same ratio round by round, steadier on a noisy machine.
//!
//! `cargo bench -p handler-metrics-benches --features native-histograms --bench call_native`

use criterion::{Criterion, criterion_group, criterion_main};
use handler_metrics_benches::{
    Handler, bare, bench_one_thread, bench_two_threads, hand_written, poll_ready,
};
use metrics_runtime::{Config, NativeHistograms};

handler_metrics_benches::measured_handlers!();

fn variants() -> Vec<(&'static str, Handler)> {
    vec![
        ("bare", bare),
        ("ours_sync_native", |x| ours_sync(x).unwrap_or(0)),
        ("ours_async_native", |x| {
            poll_ready(ours_async(x)).unwrap_or(0)
        }),
        ("hand_written", hand_written),
    ]
}

fn one_thread(c: &mut Criterion) {
    Config::new()
        .native_histograms(NativeHistograms::new())
        .install()
        .expect("the first configuration of this benchmark");
    // Check that the native path is the one timed: the series carries native buckets.
    ours_sync(1).unwrap();
    assert!(metrics_runtime::__private::native_histogram_bytes() > 0);
    bench_one_thread(c, "native", &variants());
}

fn two_threads(c: &mut Criterion) {
    let pairs: Vec<_> = variants()
        .into_iter()
        .map(|(name, call)| (name, call, call))
        .collect();
    bench_two_threads(c, "native_two_threads", &pairs);
}

criterion_group!(benches, one_thread, two_threads);
criterion_main!(benches);
