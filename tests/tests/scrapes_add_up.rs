//! Every figure one scrape shows is a state the program could have been in: in flight never
//! above the bodies that can be running, and an argument dropped inside the measured call, so
//! that a `Drop` that panics is that call's error.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use handler_metrics_tests::{HandlerValues, Scrape};
use metrics_runtime::prometheus_metrics;

#[prometheus_metrics]
fn busy(round: u64) -> u64 {
    std::hint::black_box(round.wrapping_mul(31))
}

/// N threads call one handler without pause while scrapes race them: a call that starts and
/// ends between two of a scrape's reads must not count as running.
#[test]
fn in_flight_never_exceeds_the_threads_that_call() {
    const THREADS: usize = 4;
    const SCRAPES: usize = 300;
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..THREADS)
        .map(|_| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut round = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    busy(round);
                    round += 1;
                }
            })
        })
        .collect();
    let mut highest = 0.0f64;
    let mut over = 0;
    let mut previous = HandlerValues::default();
    for _ in 0..SCRAPES {
        let values = Scrape::take().handler("busy");
        highest = highest.max(values.in_flight);
        if values.in_flight > THREADS as f64 {
            over += 1;
        }
        assert!(values.in_flight >= 0.0, "{values:?}");
        assert!(values.errors <= values.requests, "{values:?}");
        assert!(values.latency_count <= values.requests, "{values:?}");
        assert!(
            values.requests >= previous.requests,
            "{previous:?} then {values:?}"
        );
        assert!(
            values.latency_count >= previous.latency_count,
            "{previous:?} then {values:?}"
        );
        previous = values;
    }
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.join().unwrap();
    }
    assert!(previous.requests > 0.0, "the threads called");
    assert_eq!(
        over, 0,
        "{over} of {SCRAPES} scrapes showed more than {THREADS} calls in flight (up to {highest})"
    );
    let settled = HandlerValues::of("busy");
    assert_eq!(settled.in_flight, 0.0);
    assert_eq!(settled.latency_count, settled.requests);
}

/// An argument whose `Drop` panics, as a guard of an upstream connection might.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic!("dropping the argument failed");
        }
    }
}

#[prometheus_metrics]
fn ignores_its_argument(_unused: PanicsOnDrop) -> u8 {
    1
}

#[prometheus_metrics]
fn ignores_a_pattern((_first, count): (PanicsOnDrop, u8)) -> u8 {
    count
}

#[prometheus_metrics]
fn ignores_an_unnamed_argument(_: PanicsOnDrop, count: u8) -> u8 {
    count
}

#[prometheus_metrics]
async fn ignores_its_argument_async(_unused: PanicsOnDrop) -> u8 {
    1
}

#[prometheus_metrics]
async fn ignores_an_unnamed_argument_async(_: PanicsOnDrop) -> u8 {
    1
}

struct Service;

impl Service {
    #[prometheus_metrics(handler = "Service::ignores")]
    fn ignores(self, _unused: PanicsOnDrop) -> u8 {
        1
    }
}

fn counted_as_error(handler: &str, call: impl FnOnce()) {
    let before = HandlerValues::of(handler);
    let outcome = catch_unwind(AssertUnwindSafe(call));
    assert!(outcome.is_err(), "{handler}: the caller sees the panic");
    let added = HandlerValues::of(handler).since(&before);
    assert_eq!(added.requests, 1.0, "{handler}: {added:?}");
    assert_eq!(
        added.errors, 1.0,
        "{handler}: the panic is the call's error: {added:?}"
    );
    assert_eq!(added.latency_count, 1.0, "{handler}: {added:?}");
    assert_eq!(added.in_flight, 0.0, "{handler}: {added:?}");
}

#[test]
fn an_argument_whose_drop_panics_is_an_error_of_the_sync_call() {
    counted_as_error("ignores_its_argument", || {
        ignores_its_argument(PanicsOnDrop);
    });
    counted_as_error("ignores_a_pattern", || {
        ignores_a_pattern((PanicsOnDrop, 2));
    });
    counted_as_error("ignores_an_unnamed_argument", || {
        ignores_an_unnamed_argument(PanicsOnDrop, 2);
    });
    counted_as_error("Service::ignores", || {
        Service.ignores(PanicsOnDrop);
    });
}

#[test]
fn an_argument_whose_drop_panics_is_an_error_of_the_async_call() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    counted_as_error("ignores_its_argument_async", || {
        runtime.block_on(ignores_its_argument_async(PanicsOnDrop));
    });
    counted_as_error("ignores_an_unnamed_argument_async", || {
        runtime.block_on(ignores_an_unnamed_argument_async(PanicsOnDrop));
    });
}
