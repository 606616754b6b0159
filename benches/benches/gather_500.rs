//! `gather()` with 500 instrumented handlers against the same series in a hand-written registry.

use criterion::{Criterion, criterion_group, criterion_main};

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
    handler_metrics_benches::compare_gather(c, 500, call_all);
}

criterion_group!(benches, gather);
criterion_main!(benches);
