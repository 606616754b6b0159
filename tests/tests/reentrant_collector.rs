//! A handler's first call never runs the registry's collectors: a collector that calls an
//! instrumented fn, or takes a lock the caller holds, cannot deadlock it. Its own binary: the
//! first call of the process is the one under test.

use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use handler_metrics_tests::Scrape;
use metrics_runtime::prometheus::core::{Collector, Desc};
use metrics_runtime::prometheus::proto::MetricFamily;
use metrics_runtime::prometheus_metrics;

static HELD_BY_CALLER: Mutex<()> = Mutex::new(());

#[prometheus_metrics]
fn called_by_collector() {}

#[prometheus_metrics]
fn first_call_of_the_process() -> u8 {
    1
}

struct Reentrant;

impl Collector for Reentrant {
    fn desc(&self) -> Vec<&Desc> {
        Vec::new()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let _held = HELD_BY_CALLER
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        called_by_collector();
        Vec::new()
    }
}

#[test]
fn a_first_call_does_not_run_collectors_that_reenter() {
    metrics_runtime::prometheus::register(Box::new(Reentrant)).unwrap();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let held = HELD_BY_CALLER
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let value = first_call_of_the_process();
        drop(held);
        done.send(value).unwrap();
    });
    let value = finished
        .recv_timeout(Duration::from_secs(20))
        .expect("the first call hung: it ran the registry's collectors");
    assert_eq!(value, 1);

    // A scrape runs the collector, which calls an instrumented fn for the first time.
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || done.send(Scrape::take()).unwrap());
    let scrape = finished
        .recv_timeout(Duration::from_secs(20))
        .expect("a scrape hung on a collector calling a handler");
    assert_eq!(
        scrape.get("handler_requests_total", "first_call_of_the_process"),
        1.0
    );
    assert!(
        scrape
            .find("handler_requests_total", "called_by_collector")
            .is_some()
    );
    assert!(Scrape::take().get("handler_requests_total", "called_by_collector") >= 1.0);
}
