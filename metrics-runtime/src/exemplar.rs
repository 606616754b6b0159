//! Exemplars: the trace id of a recent observation, kept per histogram bucket (and for errors)
//! so that a slow bucket leads to a trace of a request that landed in it.
//!
//! Taking one calls the server's source and allocates, so a call takes one only when its cell's
//! interval has passed: at most one per cell (a bucket, or the error counter) per series per second, decided with the clock
//! reading the call already made. Every other call pays one relaxed load and a comparison.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Returns the current request's trace id, if it has one: see `Config::exemplar_source`.
pub(crate) type ExemplarSource = fn() -> Option<String>;

/// The label an exemplar's trace id is written under.
pub(crate) const TRACE_ID_LABEL: &str = "trace_id";

/// OpenMetrics caps an exemplar's label names and values at 128 characters together.
const LABEL_SET_LIMIT: usize = 128;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: String,
    /// The observation: seconds for a latency bucket, 1 for an error.
    pub(crate) value: f64,
    /// When it was taken, in seconds since the Unix epoch.
    pub(crate) timestamp: f64,
}

pub(crate) struct Exemplars {
    source: ExemplarSource,
    interval_ticks: u64,
    /// Per cell, the clock reading before which no new exemplar is taken.
    next_tick: Box<[AtomicU64]>,
    latest: Mutex<Box<[Option<Exemplar>]>>,
}

impl Exemplars {
    pub(crate) fn new(source: ExemplarSource, cells: usize, interval_ticks: u64) -> Self {
        Exemplars {
            source,
            interval_ticks,
            next_tick: (0..cells).map(|_| AtomicU64::new(0)).collect(),
            latest: Mutex::new(vec![None; cells].into_boxed_slice()),
        }
    }

    /// Takes an exemplar for `cell` if its interval has passed since the last one.
    #[inline(always)]
    pub(crate) fn offer(&self, cell: usize, now_ticks: u64, value: impl FnOnce() -> f64) {
        if now_ticks >= self.next_tick[cell].load(Ordering::Relaxed) {
            self.take(cell, now_ticks, value());
        }
    }

    #[cold]
    #[inline(never)]
    fn take(&self, cell: usize, now_ticks: u64, value: f64) {
        let next = &self.next_tick[cell];
        let due = next.load(Ordering::Relaxed);
        // One call of those racing for this interval takes it.
        if now_ticks < due
            || next
                .compare_exchange(
                    due,
                    now_ticks.saturating_add(self.interval_ticks),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        // The source is the server's code, called from a guard's drop: a panic of its own must
        // not change the call's outcome, and one while the body unwinds would abort the process.
        if std::thread::panicking() {
            return;
        }
        let Ok(Some(trace_id)) = std::panic::catch_unwind(self.source) else {
            return;
        };
        let length = TRACE_ID_LABEL.len() + trace_id.chars().count();
        if trace_id.is_empty() || length > LABEL_SET_LIMIT {
            return;
        }
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |since| since.as_secs_f64());
        let exemplar = Exemplar {
            trace_id,
            value,
            timestamp,
        };
        // A scrape copying them out holds the lock briefly; a handler never waits for it.
        if let Ok(mut latest) = self.latest.try_lock() {
            latest[cell] = Some(exemplar);
        }
    }

    pub(crate) fn latest(&self) -> Vec<Option<Exemplar>> {
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .to_vec()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::Exemplars;

    thread_local! {
        static TRACE: Cell<Option<&'static str>> = const { Cell::new(None) };
        static CALLS: Cell<u32> = const { Cell::new(0) };
    }

    fn source() -> Option<String> {
        CALLS.set(CALLS.get() + 1);
        TRACE.get().map(str::to_owned)
    }

    #[test]
    fn one_exemplar_per_cell_and_interval_and_the_source_is_asked_only_then() {
        let exemplars = Exemplars::new(source, 2, 1_000);
        TRACE.set(Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        for tick in [10, 20, 500, 999] {
            exemplars.offer(0, tick, || tick as f64);
        }
        assert_eq!(CALLS.get(), 1, "the source is asked once per interval");
        let latest = exemplars.latest();
        let first = latest[0].as_ref().expect("an exemplar in cell 0");
        assert_eq!(
            (first.trace_id.as_str(), first.value),
            ("4bf92f3577b34da6a3ce929d0e0e4736", 10.0)
        );
        assert_eq!(latest[1], None);
        TRACE.set(Some("00f067aa0ba902b7"));
        exemplars.offer(0, 1_010, || 1.5);
        assert_eq!(CALLS.get(), 2);
        assert_eq!(
            exemplars.latest()[0].as_ref().unwrap().trace_id,
            "00f067aa0ba902b7"
        );
    }

    #[test]
    fn no_trace_id_or_one_over_the_limit_leaves_the_previous_exemplar() {
        let exemplars = Exemplars::new(source, 1, 100);
        TRACE.set(Some("abc"));
        exemplars.offer(0, 0, || 1.0);
        TRACE.set(None);
        exemplars.offer(0, 200, || 2.0);
        let too_long: &'static str = Box::leak("a".repeat(121).into_boxed_str());
        TRACE.set(Some(too_long));
        exemplars.offer(0, 400, || 3.0);
        let latest = exemplars.latest();
        assert_eq!(latest[0].as_ref().map(|e| e.trace_id.as_str()), Some("abc"));
        // 8 + 120 characters is the most OpenMetrics allows.
        let longest: &'static str = Box::leak("b".repeat(120).into_boxed_str());
        TRACE.set(Some(longest));
        exemplars.offer(0, 600, || 4.0);
        assert_eq!(exemplars.latest()[0].as_ref().unwrap().trace_id, longest);
    }
}
