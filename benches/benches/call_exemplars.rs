//! Cost of one call with an exemplar source installed (and of one whose `Err` type decides
//! whether it is an error), against the hand-written prometheus crate: the source is asked at
//! most once per bucket per second, so a call should cost what it costs without one.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use handler_metrics_benches::{bench_one_thread, hand_written};
use metrics_runtime::{Config, CountsAsError, prometheus_metrics};

/// What a server's source does: read the current request's trace id.
fn trace_id() -> Option<String> {
    Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned())
}

#[prometheus_metrics]
#[inline(never)]
fn ours_sync_exemplars(x: u64) -> Result<u64, ()> {
    Ok(black_box(x).wrapping_add(1))
}

#[derive(Debug)]
struct ApiError(u16);

impl CountsAsError for ApiError {
    fn counts_as_error(&self) -> bool {
        self.0 >= 500
    }
}

#[prometheus_metrics]
#[inline(never)]
fn ours_sync_classified(x: u64) -> Result<u64, ApiError> {
    match black_box(x) {
        u64::MAX => Err(ApiError(503)),
        x => Ok(x.wrapping_add(1)),
    }
}

fn one_thread(c: &mut Criterion) {
    Config::new()
        .exemplar_source(trace_id)
        .install()
        .expect("the first configuration of this benchmark");
    bench_one_thread(
        c,
        "exemplars",
        &[
            ("ours_sync_exemplars", |x| {
                ours_sync_exemplars(x).unwrap_or(0)
            }),
            ("ours_sync_classified", |x| {
                ours_sync_classified(x).unwrap_or(0)
            }),
            ("hand_written", hand_written),
        ],
    );
}

criterion_group!(benches, one_thread);
criterion_main!(benches);
