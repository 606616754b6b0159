//! Per-call-site accumulation: the hot path of every instrumented call.
//!
//! Each call site owns striped, cache-line aligned shards of plain atomic counters; a thread
//! always writes to the same shard, so threads calling one handler do not fight over a cache
//! line. `gather()` folds the shards into exact totals.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use once_cell::sync::OnceCell;

use crate::state;

/// Counters of one shard, in this order, followed by one counter per bucket (the last is `+Inf`).
const STARTED: usize = 0;
const ERRORS: usize = 1;
const SUM_NANOS: usize = 2;
const FIRST_BUCKET: usize = 3;

const SLOTS_PER_LINE: usize = 16;

/// 128 bytes: two 64-byte lines, because adjacent-line prefetching pairs them on x86_64.
#[repr(align(128))]
struct Line([AtomicU64; SLOTS_PER_LINE]);

/// The accumulated metrics of one `(handler, module)` series.
pub(crate) struct SiteState {
    pub(crate) handler: String,
    pub(crate) module: &'static str,
    /// Bucket upper bounds in nanoseconds, without the implicit `+Inf`.
    bounds_nanos: Box<[u64]>,
    clock: &'static quanta::Clock,
    lines: Box<[Line]>,
    lines_per_shard: usize,
    shard_mask: usize,
}

/// What one scrape reads from a series.
pub(crate) struct Snapshot {
    pub(crate) started: u64,
    pub(crate) errors: u64,
    pub(crate) finished: u64,
    pub(crate) sum_seconds: f64,
    /// Cumulative counts for each finite bound.
    pub(crate) cumulative: Vec<u64>,
}

impl SiteState {
    pub(crate) fn new(
        handler: String,
        site: &'static CallSite,
        bounds_nanos: Box<[u64]>,
        clock: &'static quanta::Clock,
        shards: usize,
    ) -> Self {
        debug_assert!(shards.is_power_of_two());
        let slots = FIRST_BUCKET + bounds_nanos.len() + 1;
        let lines_per_shard = slots.div_ceil(SLOTS_PER_LINE);
        let lines = (0..shards * lines_per_shard)
            .map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0))))
            .collect();
        SiteState {
            handler,
            module: site.module,
            bounds_nanos,
            clock,
            lines,
            lines_per_shard,
            shard_mask: shards - 1,
        }
    }

    #[inline]
    fn slot(&self, shard: usize, slot: usize) -> &AtomicU64 {
        &self.lines[shard * self.lines_per_shard + slot / SLOTS_PER_LINE].0[slot % SLOTS_PER_LINE]
    }

    fn shards(&self) -> std::ops::Range<usize> {
        0..self.shard_mask + 1
    }

    #[inline]
    fn record_end(&self, shard: usize, elapsed_nanos: u64, failed: bool) {
        if failed {
            self.slot(shard, ERRORS).fetch_add(1, Ordering::Relaxed);
        }
        self.slot(shard, SUM_NANOS)
            .fetch_add(elapsed_nanos, Ordering::Relaxed);
        let bucket = self
            .bounds_nanos
            .iter()
            .position(|&bound| elapsed_nanos <= bound)
            .unwrap_or(self.bounds_nanos.len());
        // Release: a scrape that sees this observation also sees the start it ends.
        self.slot(shard, FIRST_BUCKET + bucket)
            .fetch_add(1, Ordering::Release);
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let buckets = self.bounds_nanos.len() + 1;
        let mut per_bucket = vec![0u64; buckets];
        let mut sum_nanos = 0u64;
        let mut errors = 0u64;
        // Observations first, then starts: every observation read has its start visible, so
        // `started >= finished` and the derived in-flight value is never negative.
        for shard in self.shards() {
            for (bucket, count) in per_bucket.iter_mut().enumerate() {
                *count += self
                    .slot(shard, FIRST_BUCKET + bucket)
                    .load(Ordering::Acquire);
            }
            sum_nanos += self.slot(shard, SUM_NANOS).load(Ordering::Relaxed);
            errors += self.slot(shard, ERRORS).load(Ordering::Relaxed);
        }
        let started: u64 = self
            .shards()
            .map(|shard| self.slot(shard, STARTED).load(Ordering::Acquire))
            .sum();
        let mut running = 0;
        let mut cumulative: Vec<u64> = per_bucket
            .iter()
            .map(|count| {
                running += count;
                running
            })
            .collect();
        let finished = running;
        cumulative.truncate(self.bounds_nanos.len());
        Snapshot {
            started,
            errors,
            finished,
            sum_seconds: sum_nanos as f64 / 1e9,
            cumulative,
        }
    }
}

/// The static each instrumented fn keeps: its labels and, once it has run, its series.
#[doc(hidden)]
pub struct CallSite {
    handler: &'static str,
    qualify_with_self_type: bool,
    pub(crate) module: &'static str,
    state: OnceCell<&'static SiteState>,
}

impl CallSite {
    /// A call site whose `handler` label is exactly `handler`.
    pub const fn new(handler: &'static str, module: &'static str) -> Self {
        CallSite {
            handler,
            qualify_with_self_type: false,
            module,
            state: OnceCell::new(),
        }
    }

    /// A method's call site: its `handler` label becomes `Type::method`.
    pub const fn method(method: &'static str, module: &'static str) -> Self {
        CallSite {
            qualify_with_self_type: true,
            ..CallSite::new(method, module)
        }
    }

    /// Starts timing a call. `self_type` names `Self` for methods; it runs once per call site.
    #[inline]
    pub fn enter(&'static self, self_type: fn() -> &'static str) -> Guard {
        let state = match self.state.get() {
            Some(state) => *state,
            None => self.resolve(self_type),
        };
        let shard = thread_shard() & state.shard_mask;
        state.slot(shard, STARTED).fetch_add(1, Ordering::Relaxed);
        Guard {
            state,
            shard,
            start: state.clock.raw(),
            outcome: None,
        }
    }

    /// The `handler` label, if known without calling the fn.
    pub(crate) fn label(&self) -> Option<String> {
        match self.state.get() {
            Some(state) => Some(state.handler.clone()),
            None => (!self.qualify_with_self_type).then(|| self.handler.to_owned()),
        }
    }

    pub(crate) fn create_series_if_label_known(&'static self) {
        if !self.qualify_with_self_type {
            self.resolve(crate::__private::no_self_type);
        }
    }

    #[cold]
    #[inline(never)]
    fn resolve(&'static self, self_type: fn() -> &'static str) -> &'static SiteState {
        self.state.get_or_init(|| {
            let handler = if self.qualify_with_self_type {
                format!("{}::{}", short_type_name(self_type()), self.handler)
            } else {
                self.handler.to_owned()
            };
            state::runtime().site(handler, self)
        })
    }
}

/// `my_crate::handlers::InstancesHandler<T>` → `InstancesHandler`.
fn short_type_name(full: &str) -> &str {
    let without_refs = full
        .trim_start_matches(['&', '*'])
        .trim_start_matches("mut ");
    let without_generics = without_refs.split('<').next().unwrap_or(without_refs);
    without_generics
        .rsplit("::")
        .next()
        .unwrap_or(without_generics)
}

/// Threads get consecutive numbers, so threads started together land on different shards.
fn thread_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    SHARD.with(|shard| *shard)
}

/// Records the end of one call when dropped, however the call ends.
#[doc(hidden)]
#[must_use]
pub struct Guard {
    state: &'static SiteState,
    shard: usize,
    /// Raw clock reading (TSC ticks where the TSC is invariant); scaled once, at the end.
    start: u64,
    /// `Some(failed)` once the body returned; `None` while running, on panic or cancellation.
    outcome: Option<bool>,
}

impl Guard {
    /// The body returned; `failed` says whether it returned `Err`.
    #[inline]
    pub fn finish(mut self, failed: bool) {
        self.outcome = Some(failed);
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        let clock = self.state.clock;
        let elapsed = clock.delta_as_nanos(self.start, clock.raw());
        // Unfinished: a panic counts as an error, a cancelled future (dropped unfinished) does not.
        let failed = self.outcome.unwrap_or_else(std::thread::panicking);
        self.state.record_end(self.shard, elapsed, failed);
    }
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn type_names_keep_the_last_segment_without_generics() {
        assert_eq!(short_type_name("a::b::Handler"), "Handler");
        assert_eq!(short_type_name("a::Handler<b::C<d::E>>"), "Handler");
        assert_eq!(short_type_name("&a::Handler"), "Handler");
        assert_eq!(short_type_name("&mut a::Handler<u8>"), "Handler");
        assert_eq!(short_type_name("Handler"), "Handler");
    }
}
