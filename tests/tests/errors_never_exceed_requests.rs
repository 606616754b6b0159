//! A scrape never shows more errors, or more finished calls, than requests, while calls run on
//! every thread, sync ones and async ones that end on another thread than they started on.
//! On x86 this holds even with the wrong orderings (the CPU does not reorder them); the unit
//! test `series::tests::errors_and_observations_publish_their_start_and_are_read_before_starts`
//! checks the orderings that make it hold on weakly ordered CPUs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use handler_metrics_tests::Scrape;
use metrics_runtime::prometheus_metrics;

#[prometheus_metrics]
fn always_fails(x: u64) -> Result<u64, u64> {
    Err(x)
}

#[prometheus_metrics]
async fn fails_after_a_yield(x: u64) -> Result<u64, u64> {
    tokio::task::yield_now().await;
    Err(x)
}

#[test]
fn no_scrape_shows_more_errors_than_requests() {
    static STOP: AtomicBool = AtomicBool::new(false);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let scrapes = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut x = 0;
            while !STOP.load(Ordering::Relaxed) {
                x += 1;
                let _ = always_fails(x);
            }
        });
        let async_calls = runtime.spawn(async {
            let mut x = 0;
            while !STOP.load(Ordering::Relaxed) {
                x += 1;
                let calls: Vec<_> = (0..8)
                    .map(|i| tokio::spawn(fails_after_a_yield(x + i)))
                    .collect();
                for call in calls {
                    let _ = call.await;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_millis(1500);
        let mut scrapes = 0;
        while Instant::now() < deadline {
            let scrape = Scrape::take();
            for handler in ["always_fails", "fails_after_a_yield"] {
                let values = scrape.handler(handler);
                assert!(values.errors <= values.requests, "{handler}: {values:?}");
                assert!(
                    values.latency_count <= values.requests,
                    "{handler}: {values:?}"
                );
            }
            scrapes += 1;
        }
        STOP.store(true, Ordering::Relaxed);
        runtime.block_on(async_calls).unwrap();
        scrapes
    });
    let last = Scrape::take();
    for handler in ["always_fails", "fails_after_a_yield"] {
        let values = last.handler(handler);
        assert!(values.requests > 100.0, "{handler}: {values:?}");
        assert_eq!(values.errors, values.requests, "{handler}");
    }
    assert!(scrapes > 10, "{scrapes} scrapes");
}
