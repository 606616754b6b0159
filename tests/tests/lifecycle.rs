//! Every way a handler body can end is recorded: return, panic, cancellation; and nothing is
//! lost when threads call handlers concurrently.

use std::sync::mpsc;
use std::time::Duration;

use handler_metrics_tests::{HandlerValues, Scrape};
use metrics_runtime::prometheus_metrics;

#[prometheus_metrics]
async fn slow_rucio_call() -> Result<(), String> {
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(())
}

#[tokio::test]
async fn an_awaited_sleep_shows_up_in_the_histogram_sum() {
    let before = HandlerValues::of("slow_rucio_call");
    slow_rucio_call().await.unwrap();
    let after = HandlerValues::of("slow_rucio_call");
    assert_eq!(after.latency_count - before.latency_count, 1.0);
    let observed = after.latency_sum - before.latency_sum;
    assert!(observed >= 0.050, "observed {observed} s for a 50 ms sleep");
    let scrape = Scrape::take();
    assert_eq!(
        scrape.bucket(
            "handler_request_latency_seconds_bucket",
            "slow_rucio_call",
            "0.025"
        ),
        0.0,
        "a 50 ms call is not in the 25 ms bucket"
    );
}

#[prometheus_metrics]
fn panicking_handler(should_panic: bool) -> u8 {
    if should_panic {
        panic!("handler failed");
    }
    1
}

#[test]
fn a_panicking_handler_is_counted_timed_and_leaves_nothing_in_flight() {
    let before = HandlerValues::of("panicking_handler");
    let outcome = std::panic::catch_unwind(|| panicking_handler(true));
    assert!(outcome.is_err());
    let after = HandlerValues::of("panicking_handler");
    assert_eq!(after.requests - before.requests, 1.0);
    assert_eq!(after.latency_count - before.latency_count, 1.0);
    assert_eq!(
        after.errors - before.errors,
        1.0,
        "a panic counts as an error"
    );
    assert_eq!(after.in_flight, 0.0);
    // The registry keeps working.
    assert_eq!(panicking_handler(false), 1);
    assert_eq!(
        HandlerValues::of("panicking_handler").requests,
        after.requests + 1.0
    );
}

#[prometheus_metrics]
async fn panicking_async_handler() -> u8 {
    tokio::task::yield_now().await;
    panic!("async handler failed");
}

#[tokio::test]
async fn a_panicking_async_handler_in_a_spawned_task_is_recorded() {
    let before = HandlerValues::of("panicking_async_handler");
    let joined = tokio::spawn(panicking_async_handler()).await;
    assert!(joined.unwrap_err().is_panic());
    let after = HandlerValues::of("panicking_async_handler");
    assert_eq!(after.requests - before.requests, 1.0);
    assert_eq!(after.latency_count - before.latency_count, 1.0);
    assert_eq!(after.errors - before.errors, 1.0);
    assert_eq!(after.in_flight, 0.0);
}

#[prometheus_metrics]
async fn cancelled_handler() -> Result<(), String> {
    tokio::time::sleep(Duration::from_secs(30)).await;
    Ok(())
}

#[tokio::test]
async fn a_cancelled_future_is_timed_not_an_error_and_leaves_nothing_in_flight() {
    let before = HandlerValues::of("cancelled_handler");
    let timed_out = tokio::time::timeout(Duration::from_millis(20), cancelled_handler()).await;
    assert!(timed_out.is_err());
    let after = HandlerValues::of("cancelled_handler");
    assert_eq!(after.requests - before.requests, 1.0);
    assert_eq!(after.latency_count - before.latency_count, 1.0);
    assert!(after.latency_sum - before.latency_sum >= 0.020);
    assert_eq!(
        after.errors - before.errors,
        0.0,
        "cancellation is not an error"
    );
    assert_eq!(after.in_flight, 0.0);
}

#[prometheus_metrics]
async fn never_polled() {}

#[test]
fn a_future_that_is_never_polled_is_not_counted() {
    drop(never_polled());
    assert_eq!(
        HandlerValues::of("never_polled"),
        HandlerValues::default(),
        "listed at 0, never counted"
    );
    assert_eq!(
        Scrape::take().find("handler_requests_total", "never_polled"),
        Some(0.0)
    );
}

#[prometheus_metrics]
fn blocking_handler(release: mpsc::Receiver<()>, started: mpsc::Sender<()>) {
    started.send(()).unwrap();
    release.recv().unwrap();
}

#[test]
fn a_running_handler_is_in_flight() {
    let (release_tx, release_rx) = mpsc::channel();
    let (started_tx, started_rx) = mpsc::channel();
    let worker = std::thread::spawn(move || blocking_handler(release_rx, started_tx));
    started_rx.recv().unwrap();
    let during = HandlerValues::of("blocking_handler");
    assert_eq!(during.in_flight, 1.0);
    assert_eq!(during.requests, 1.0);
    assert_eq!(during.latency_count, 0.0);
    release_tx.send(()).unwrap();
    worker.join().unwrap();
    let after = HandlerValues::of("blocking_handler");
    assert_eq!(after.in_flight, 0.0);
    assert_eq!(after.latency_count, 1.0);
}

#[prometheus_metrics]
fn hammered(i: u64) -> Result<u64, u64> {
    if i % 10 == 0 { Err(i) } else { Ok(i) }
}

#[test]
fn eight_threads_times_ten_thousand_calls_give_exact_totals() {
    const THREADS: u64 = 8;
    const CALLS: u64 = 10_000;
    let before = HandlerValues::of("hammered");
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for i in 0..CALLS {
                    let _ = hammered(i);
                }
            });
        }
    });
    let after = HandlerValues::of("hammered");
    let calls = (THREADS * CALLS) as f64;
    assert_eq!(after.requests - before.requests, calls);
    assert_eq!(after.latency_count - before.latency_count, calls);
    assert_eq!(after.errors - before.errors, calls / 10.0);
    assert_eq!(after.in_flight, 0.0);
}
