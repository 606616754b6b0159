//! `gather()` with 500 instrumented handlers against the same series in a hand-written registry.

use criterion::{Criterion, criterion_group, criterion_main};
use handler_metrics_benches::HandWrittenRegistry;
use metrics_runtime::{Config, prometheus::Registry};

macro_rules! groups {
    ($($group:ident)*) => {
        $(mod $group {
            handler_metrics_benches::fifty_handlers!();
        })*
        fn call_all() {
            $($group::call_all();)*
        }
    };
}

groups!(group0 group1 group2 group3 group4 group5 group6 group7 group8 group9);

fn gather(c: &mut Criterion) {
    Config::new()
        .registry(Registry::new())
        .process_metrics(false)
        .install()
        .expect("fresh process");
    call_all();
    let hand = HandWrittenRegistry::with_handlers(500).expect("valid metrics");
    assert_eq!(
        hand.render().lines().count(),
        metrics_runtime::gather().lines().count()
    );
    let mut group = c.benchmark_group("gather_500_handlers");
    group.bench_function("ours", |b| b.iter(metrics_runtime::gather));
    group.bench_function("hand_written", |b| b.iter(|| hand.render()));
    group.finish();
}

criterion_group!(benches, gather);
criterion_main!(benches);
