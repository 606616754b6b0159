//! The end-to-end tests' loop: drive a round of traffic at the demo, ask Prometheus, and again,
//! until it answers what the test waits for (a rate needs two scrapes of fresh traffic, a rule
//! an evaluation after them). Include next to `prometheus.rs`.

use std::time::{Duration, Instant};

use crate::prometheus::Prometheus;

/// Runs `round`, then `check`, until `check` returns `Ok`; panics at `deadline` with `what`, how
/// many rounds ran, `check`'s last `Err` and the tail of Prometheus' log.
pub async fn drive_until<T>(
    prometheus: &Prometheus,
    what: &str,
    deadline: Instant,
    mut round: impl AsyncFnMut(),
    mut check: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let mut rounds = 0;
    loop {
        round().await;
        rounds += 1;
        let last = match check().await {
            Ok(value) => return value,
            Err(last) => last,
        };
        assert!(
            Instant::now() < deadline,
            "no {what} after {rounds} rounds of traffic; last: {last}\nPrometheus log:\n{}",
            prometheus.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
