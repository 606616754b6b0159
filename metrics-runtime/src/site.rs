//! Per-call-site accumulation: the hot path of every instrumented call.
//!
//! Each call site owns cache-line aligned shards of atomic counters; a thread writes to the
//! shard its slot names (see `slots`), so threads calling one handler do not fight over a cache
//! line. `gather()` folds the shards into exact totals.

use std::sync::atomic::{AtomicU64, Ordering};

use once_cell::sync::OnceCell;

use crate::clock::{self, Clock};
use crate::exposition;
use crate::slots::{self, Slot};
use crate::state;

/// Counters of one shard, in this order, followed by one counter per bucket (the last is `+Inf`).
const STARTED: usize = 0;
const ERRORS: usize = 1;
const SUM_TICKS: usize = 2;
const FIRST_BUCKET: usize = 3;

const SLOTS_PER_LINE: usize = 16;

/// 128 bytes: two 64-byte lines, because adjacent-line prefetching pairs them on x86_64.
#[repr(align(128))]
struct Line([AtomicU64; SLOTS_PER_LINE]);

/// The accumulated metrics of one `(handler, module)` series.
pub(crate) struct SiteState {
    pub(crate) handler: String,
    pub(crate) module: &'static str,
    /// The series' labels as the text format writes them.
    pub(crate) label_pairs: String,
    /// Bucket upper bounds in clock ticks, without the implicit `+Inf`.
    bounds_ticks: Box<[u64]>,
    clock: &'static Clock,
    lines: Box<[Line]>,
    lines_per_shard: usize,
    shards: usize,
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

impl Snapshot {
    /// Calls started and not yet ended. `snapshot` reads `started` last, so it is never below
    /// `finished`; saturating keeps even a broken invariant from wrapping around.
    pub(crate) fn in_flight(&self) -> u64 {
        self.started.saturating_sub(self.finished)
    }
}

impl SiteState {
    pub(crate) fn new(handler: String, site: &'static CallSite, bounds_seconds: &[f64]) -> Self {
        let clock = clock::clock();
        let bounds_ticks: Box<[u64]> = bounds_seconds.iter().map(|&b| clock.ticks(b)).collect();
        let shards = slots::shard_count();
        let slots = FIRST_BUCKET + bounds_ticks.len() + 1;
        let lines_per_shard = slots.div_ceil(SLOTS_PER_LINE);
        let lines = (0..shards * lines_per_shard)
            .map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0))))
            .collect();
        SiteState {
            label_pairs: exposition::label_pairs(&handler, site.module),
            handler,
            module: site.module,
            bounds_ticks,
            clock,
            lines,
            lines_per_shard,
            shards,
        }
    }

    #[inline]
    fn slot(&self, shard: usize, slot: usize) -> &AtomicU64 {
        &self.lines[shard * self.lines_per_shard + slot / SLOTS_PER_LINE].0[slot % SLOTS_PER_LINE]
    }

    fn shards(&self) -> std::ops::Range<usize> {
        0..self.shards
    }

    #[inline]
    fn record_start(&self, writer: Slot) {
        writer.add(self.slot(writer.shard, STARTED), 1, Ordering::Relaxed);
    }

    #[inline]
    fn record_end(&self, writer: Slot, elapsed_ticks: u64, failed: bool) {
        if failed {
            writer.add(self.slot(writer.shard, ERRORS), 1, Ordering::Relaxed);
        }
        writer.add(
            self.slot(writer.shard, SUM_TICKS),
            elapsed_ticks,
            Ordering::Relaxed,
        );
        let bucket = self
            .bounds_ticks
            .iter()
            .position(|&bound| elapsed_ticks <= bound)
            .unwrap_or(self.bounds_ticks.len());
        // Release: a scrape that sees this observation also sees the start it ends, even when
        // an async call started on another thread (the executor's hand-over orders the two).
        writer.add(
            self.slot(writer.shard, FIRST_BUCKET + bucket),
            1,
            Ordering::Release,
        );
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let buckets = self.bounds_ticks.len() + 1;
        let mut per_bucket = vec![0u64; buckets];
        let mut sum_ticks = 0u64;
        let mut errors = 0u64;
        // Observations first, then starts: every observation read has its start visible, so
        // `started >= finished` and the derived in-flight value is never negative.
        for shard in self.shards() {
            for (bucket, count) in per_bucket.iter_mut().enumerate() {
                *count += self
                    .slot(shard, FIRST_BUCKET + bucket)
                    .load(Ordering::Acquire);
            }
            sum_ticks += self.slot(shard, SUM_TICKS).load(Ordering::Relaxed);
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
        cumulative.truncate(self.bounds_ticks.len());
        Snapshot {
            started,
            errors,
            finished,
            sum_seconds: self.clock.seconds(sum_ticks),
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

    /// Starts timing a call of an `async fn`, which may end on another thread. `self_type`
    /// names `Self` for methods; it runs once per call site.
    #[inline(always)]
    pub fn enter(&'static self, self_type: fn() -> &'static str) -> Guard {
        self.start(self_type, false)
    }

    /// Starts timing a call of a sync fn, which ends on the thread it started on.
    #[inline(always)]
    pub fn enter_sync(&'static self, self_type: fn() -> &'static str) -> Guard {
        self.start(self_type, true)
    }

    #[inline(always)]
    fn start(&'static self, self_type: fn() -> &'static str, ends_here: bool) -> Guard {
        let state = match self.state.get() {
            Some(state) => *state,
            None => self.resolve(self_type),
        };
        let slot = slots::current();
        state.record_start(slot);
        Guard {
            state,
            start: state.clock.now(),
            end_slot: ends_here.then_some(slot),
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

/// Records the end of one call: through `finish` when the body returns, or when dropped
/// unfinished (panic unwinding, a cancelled future).
#[doc(hidden)]
#[must_use]
pub struct Guard {
    state: &'static SiteState,
    /// Clock ticks; scaled to seconds only when a scrape reads the sum.
    start: u64,
    /// The slot to record the end in, when the call cannot change threads.
    end_slot: Option<Slot>,
}

impl Guard {
    /// The body returned; `failed` says whether it returned `Err`.
    #[inline(always)]
    pub fn finish(self, failed: bool) {
        // Recorded here rather than by `drop`, so the common path stays inline.
        std::mem::ManuallyDrop::new(self).record_end(failed);
    }

    #[inline(always)]
    fn record_end(&self, failed: bool) {
        // A TSC that differs across sockets could read backwards: that is 0, not 584 years.
        let elapsed = self.state.clock.now().saturating_sub(self.start);
        // Otherwise the current thread's slot: an async call may end on another thread.
        let slot = self.end_slot.unwrap_or_else(slots::current);
        self.state.record_end(slot, elapsed, failed);
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Unfinished: a panic counts as an error, a cancelled future (dropped unfinished) does not.
        self.record_end(std::thread::panicking());
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
