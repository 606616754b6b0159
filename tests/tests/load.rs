//! Under load nothing is lost or torn: 8 threads × 100,000 calls while another thread scrapes
//! in a loop. Every scrape parses, every counter only grows, and the totals are exact.

use std::sync::atomic::{AtomicBool, Ordering};

use handler_metrics_tests::Scrape;
use metrics_runtime::prometheus_metrics;

#[prometheus_metrics]
fn load_ok(i: u64) -> u64 {
    i
}

#[prometheus_metrics]
fn load_mixed(i: u64) -> Result<u64, u64> {
    if i % 7 == 0 { Err(i) } else { Ok(i) }
}

const HANDLERS: [&str; 2] = ["load_ok", "load_mixed"];
const COUNTERS: [&str; 3] = [
    "handler_requests_total",
    "handler_request_errors_total",
    "handler_request_latency_seconds_count",
];

#[test]
fn concurrent_calls_and_scrapes_lose_nothing() {
    const THREADS: u64 = 8;
    const CALLS: u64 = 100_000;
    let done = AtomicBool::new(false);
    let scrapes = std::thread::scope(|scope| {
        let scraper = scope.spawn(|| {
            let mut previous: Option<Scrape> = None;
            let mut scrapes = 0u32;
            while !done.load(Ordering::Acquire) {
                let text = metrics_runtime::gather();
                let scrape = Scrape::parse(&text).unwrap_or_else(|error| panic!("{error}"));
                for handler in HANDLERS {
                    let values = scrape.handler(handler);
                    assert!(values.in_flight >= 0.0, "{handler}: in flight below 0");
                    assert!(
                        values.latency_count <= values.requests,
                        "{handler}: ends before starts"
                    );
                    if let Some(previous) = &previous {
                        for family in COUNTERS {
                            assert!(
                                scrape.get(family, handler) >= previous.get(family, handler),
                                "{family}{{handler={handler:?}}} went down"
                            );
                        }
                    }
                }
                previous = Some(scrape);
                scrapes += 1;
            }
            scrapes
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    for i in 0..CALLS {
                        load_ok(i);
                        let _ = load_mixed(i);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("worker");
        }
        done.store(true, Ordering::Release);
        scraper.join().expect("scraper")
    });
    assert!(
        scrapes >= 2,
        "the scraper ran during the load ({scrapes} scrapes)"
    );

    let scrape = Scrape::take();
    let calls = (THREADS * CALLS) as f64;
    let errors_per_thread = CALLS.div_ceil(7) as f64;
    for handler in HANDLERS {
        let values = scrape.handler(handler);
        assert_eq!(values.in_flight, 0.0, "{handler}");
        assert_eq!(values.requests, calls, "{handler}");
        assert_eq!(values.latency_count, values.requests, "{handler}");
        assert_eq!(
            scrape.bucket("handler_request_latency_seconds_bucket", handler, "+Inf"),
            calls,
            "{handler}"
        );
    }
    assert_eq!(scrape.handler("load_ok").errors, 0.0);
    assert_eq!(
        scrape.handler("load_mixed").errors,
        errors_per_thread * THREADS as f64
    );
}
