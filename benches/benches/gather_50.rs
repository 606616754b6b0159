//! `gather()` with 50 instrumented handlers against the same series in a hand-written registry.

use criterion::{Criterion, criterion_group, criterion_main};

mod group0 {
    handler_metrics_benches::fifty_handlers!();
}

fn gather(c: &mut Criterion) {
    handler_metrics_benches::compare_gather(c, 50, group0::call_all);
}

criterion_group!(benches, gather);
criterion_main!(benches);
