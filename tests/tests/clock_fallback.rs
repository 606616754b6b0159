//! The hidden switch `HANDLER_METRICS_CLOCK=monotonic` makes the runtime time calls with the OS
//! monotonic clock, as it does where the kernel does not trust the TSC. Its own binary: the
//! clock is chosen once per process.

use std::time::Duration;

use handler_metrics_tests::HandlerValues;
use metrics_runtime::prometheus_metrics;

#[prometheus_metrics]
fn sleeps(duration: Duration) {
    std::thread::sleep(duration);
}

#[test]
fn the_monotonic_fallback_times_calls() {
    // SAFETY: the only test of this binary, and it sets the variable before any other thread
    // of the runtime exists.
    unsafe { std::env::set_var("HANDLER_METRICS_CLOCK", "monotonic") };
    sleeps(Duration::from_millis(30));
    assert_eq!(metrics_runtime::__private::clock_source(), "monotonic");
    let values = HandlerValues::of("sleeps");
    assert_eq!(values.latency_count, 1.0);
    assert!(
        (0.030..0.5).contains(&values.latency_sum),
        "{} s for a 30 ms sleep",
        values.latency_sum
    );
}
