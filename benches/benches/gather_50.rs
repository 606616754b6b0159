//! `gather()` with 50 instrumented handlers against the same series in a hand-written registry.

use criterion::{Criterion, criterion_group, criterion_main};
use handler_metrics_benches::HandWrittenRegistry;
use metrics_runtime::{Config, prometheus::Registry};

mod group0 {
    handler_metrics_benches::fifty_handlers!();
}

fn gather(c: &mut Criterion) {
    Config::new()
        .registry(Registry::new())
        .process_metrics(false)
        .install()
        .expect("fresh process");
    group0::call_all();
    let hand = HandWrittenRegistry::with_handlers(50).expect("valid metrics");
    assert_eq!(
        hand.render().lines().count(),
        metrics_runtime::gather().lines().count()
    );
    let mut group = c.benchmark_group("gather_50_handlers");
    group.bench_function("ours", |b| b.iter(metrics_runtime::gather));
    group.bench_function("hand_written", |b| b.iter(|| hand.render()));
    group.finish();
}

criterion_group!(benches, gather);
criterion_main!(benches);
