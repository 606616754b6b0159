//! The accumulated metrics of one `(handler, module)` series: the data of the hot path.
//!
//! Each series owns cache-line aligned shards of atomic counters; a thread writes to the shard
//! its writer names (see `writers`), so threads calling one handler do not fight over a cache line.
//! A scrape folds the shards into exact totals.
//!
//! Shards live in chunks of the sizes `writers::chunk_sizes` gives: the first is allocated with the
//! series, each later one (as large as all before it) behind a `OnceCell` by the first thread
//! whose shard lies in it, so the hot path is a lock-free read of an initialised cell and
//! allocates nothing once a thread's chunk exists. A scrape sums the chunks allocated so far: one
//! it does not see yet holds only writes concurrent with it, which the next scrape counts.
//!
//! Memory: `lines_per_shard` 128-byte lines per shard (1 with the 11 default buckets, a line
//! more per 16 further counters). At most twice the shards of the highest lease index in use at
//! once, at least the first chunk, at most `STRIPES + MAX_LEASES` (see `writers`).
//!
//! Sizes: counts are `u64` (10^6 calls/s for 10 years is 3.2·10^14, far below 1.8·10^19); the
//! latency sum is 128 bits of clock ticks (10^6 calls/s of 10 s each for 10 years at 5 GHz is
//! 1.6·10^25 ticks, far below 3.4·10^38), so nothing wraps and `_sum` never goes backwards.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use once_cell::sync::OnceCell;

use crate::clock::{self, Clock};
use crate::exemplar::{Exemplar, ExemplarSource, Exemplars};
#[cfg(feature = "native-histograms")]
use crate::native::{DeferredLines, Layout, NativeBuckets, NativeSnapshot};
use crate::writers::{self, COUNTERS_PER_LINE, Line, Writer, zeroed};

/// A counter of a shard. A shard is a flat run of counters, in this order, then one per bucket
/// (the last is `+Inf`): the number of buckets is the configuration's, and the run is split into
/// cache lines.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Counter {
    Started,
    Errors,
    SumTicksLow,
    SumTicksHigh,
    Bucket(usize),
}

impl Counter {
    /// The counters before the first bucket.
    const FIXED: usize = 4;

    #[inline(always)]
    fn index(self) -> usize {
        match self {
            Counter::Started => 0,
            Counter::Errors => 1,
            Counter::SumTicksLow => 2,
            Counter::SumTicksHigh => 3,
            Counter::Bucket(bucket) => Counter::FIXED + bucket,
        }
    }
}

/// The lines of a series' shards, chunk by chunk (see `writers::chunk_sizes`): the first
/// allocated now, the others by their first writer.
fn chunks(lines_per_shard: usize) -> Box<[OnceCell<Box<[Line]>>]> {
    let sizes = writers::chunk_sizes();
    std::iter::once(OnceCell::with_value(zeroed(sizes[0] * lines_per_shard)))
        .chain(sizes[1..].iter().map(|_| OnceCell::new()))
        .collect()
}

/// The counters of one shard: `lines_per_shard` lines.
#[derive(Clone, Copy)]
struct Shard<'a>(&'a [Line]);

/// A writer and its shard of one series: a call that ends on the thread it started on finds
/// the shard once, for its start and its end.
#[derive(Clone, Copy)]
pub(crate) struct WriterShard<'a> {
    writer: Writer,
    shard: Shard<'a>,
}

impl<'a> Shard<'a> {
    #[inline]
    fn counter(self, counter: Counter) -> &'a AtomicU64 {
        let index = counter.index();
        &self.0[index / COUNTERS_PER_LINE].0[index % COUNTERS_PER_LINE]
    }
}

/// Adds 1 to `counter` of `shard`, with `order` (see `Writer::add`).
#[inline(always)]
fn increment(writer: Writer, shard: Shard<'_>, counter: Counter, order: Ordering) {
    #[cfg(test)]
    tests::log(tests::Access::Write, counter, order);
    writer.add(shard.counter(counter), 1, order);
}

/// Reads `counter` of `shard` for a scrape.
#[inline(always)]
fn load(shard: Shard<'_>, counter: Counter, order: Ordering) -> u64 {
    #[cfg(test)]
    tests::log(tests::Access::Read, counter, order);
    shard.counter(counter).load(order)
}

pub(crate) struct Series {
    pub(crate) handler: String,
    pub(crate) module: &'static str,
    /// The series' labels as the text format writes them.
    pub(crate) label_pairs: String,
    /// Bucket upper bounds in clock ticks, without the implicit `+Inf`.
    bounds_ticks: Box<[u64]>,
    pub(crate) clock: &'static Clock,
    /// The shards' lines, chunk by chunk; the first chunk is always there.
    chunks: Box<[OnceCell<Box<[Line]>>]>,
    lines_per_shard: usize,
    /// Recent observations' trace ids, when the server gave a source: one exemplar cell per bucket,
    /// then one for errors.
    exemplars: Option<Exemplars>,
    /// Calls `#[authenticated]` rejected: not on the path of measured calls, so one shared
    /// counter, on a line of its own so that an attack's contention stays off the fields every
    /// call reads.
    rejected: Padded,
    /// The largest latency sum a scrape reported, in ticks: a scrape racing a carry into the
    /// high word can read a sum that is behind (never ahead), and reports this instead.
    sum_reported: Mutex<u128>,
    /// The latencies' native buckets, when the configuration asks for them.
    #[cfg(feature = "native-histograms")]
    native: Option<NativeBuckets>,
}

#[repr(align(128))]
struct Padded(AtomicU64);

/// What one scrape reads from a series.
pub(crate) struct Snapshot {
    /// Calls started, read after everything else: never below `finished` or `errors`.
    pub(crate) started: u64,
    /// Calls started, read before everything else: what the in-flight gauge counts from.
    started_before: u64,
    pub(crate) errors: u64,
    pub(crate) rejected: u64,
    pub(crate) finished: u64,
    pub(crate) sum_seconds: f64,
    /// Cumulative counts for each finite bound.
    pub(crate) cumulative: Vec<u64>,
    /// Per bucket (the last is `+Inf`), then for errors; empty without an exemplar source.
    pub(crate) exemplars: Vec<Option<Exemplar>>,
    #[cfg(feature = "native-histograms")]
    pub(crate) native: Option<NativeSnapshot>,
}

impl Snapshot {
    /// The exemplar of bucket `bucket` (`bounds.len()` is `+Inf`).
    pub(crate) fn bucket_exemplar(&self, bucket: usize) -> Option<&Exemplar> {
        self.exemplars.get(bucket)?.as_ref()
    }

    pub(crate) fn error_exemplar(&self) -> Option<&Exemplar> {
        self.exemplars.get(self.cumulative.len() + 1)?.as_ref()
    }
}

impl Snapshot {
    /// Calls started and not yet ended, at most the bodies that could be running: the starts
    /// read before `finished`, so each one counted either has its end counted too or was
    /// running when they were read. A call that started after that read and has already ended
    /// can make `finished` the larger: then none is shown running.
    pub(crate) fn in_flight(&self) -> u64 {
        self.started_before.saturating_sub(self.finished)
    }
}

impl Series {
    pub(crate) fn new(
        handler: String,
        module: &'static str,
        label_pairs: String,
        bounds_seconds: &[f64],
        exemplar_source: Option<ExemplarSource>,
    ) -> Self {
        let clock = clock::clock();
        let bounds_ticks: Box<[u64]> = bounds_seconds.iter().map(|&b| clock.ticks(b)).collect();
        let counters = Counter::FIXED + bounds_ticks.len() + 1;
        let lines_per_shard = counters.div_ceil(COUNTERS_PER_LINE);
        let chunks = chunks(lines_per_shard);
        let exemplars = exemplar_source
            .map(|source| Exemplars::new(source, bounds_ticks.len() + 2, clock.ticks(1.0)));
        Series {
            handler,
            module,
            label_pairs,
            bounds_ticks,
            clock,
            chunks,
            lines_per_shard,
            exemplars,
            rejected: Padded(AtomicU64::new(0)),
            sum_reported: Mutex::new(0),
            #[cfg(feature = "native-histograms")]
            native: None,
        }
    }

    /// Adds native buckets laid out as `layout` says, and to each shard two lines for the
    /// observations they defer (see `NativeBuckets::record`), its last.
    #[cfg(feature = "native-histograms")]
    pub(crate) fn with_native(mut self, layout: Option<&'static Layout>) -> Self {
        if let Some(layout) = layout {
            self.native = Some(NativeBuckets::new(layout));
            self.lines_per_shard += 2;
            self.chunks = chunks(self.lines_per_shard);
        }
        self
    }

    /// A shard's deferred native observations: its last two lines.
    #[cfg(feature = "native-histograms")]
    #[inline]
    fn deferred<'a>(&self, shard: Shard<'a>) -> &'a DeferredLines {
        // The shard's own length: no second bound to check it against.
        let last = shard.0.last_chunk();
        last.expect("a series with native buckets has two lines for them")
    }

    /// Bytes the native buckets of this series hold: theirs, and each allocated shard's lines
    /// of deferred observations.
    #[cfg(feature = "native-histograms")]
    pub(crate) fn native_bytes(&self) -> usize {
        self.native.as_ref().map_or(0, |native| {
            native.allocated_bytes() + self.shards().count() * std::mem::size_of::<DeferredLines>()
        })
    }

    /// The shard `writer` names. `Acquire` (in `get`) makes the chunk's zeroed counters visible
    /// to a thread that did not allocate it.
    #[inline]
    fn shard(&self, writer: Writer) -> Shard<'_> {
        let chunk = usize::from(writer.chunk);
        let lines = match self.chunks[chunk].get() {
            Some(lines) => lines,
            None => self.allocate(chunk),
        };
        let first = writer.offset as usize * self.lines_per_shard;
        Shard(&lines[first..first + self.lines_per_shard])
    }

    /// The first write to a shard of `chunk`: allocates it, or waits for the thread that does.
    #[cold]
    #[inline(never)]
    fn allocate(&self, chunk: usize) -> &[Line] {
        self.chunks[chunk]
            .get_or_init(|| zeroed(writers::chunk_sizes()[chunk] * self.lines_per_shard))
    }

    /// Every shard allocated so far.
    fn shards(&self) -> impl Iterator<Item = Shard<'_>> {
        self.chunks
            .iter()
            .filter_map(OnceCell::get)
            .flat_map(|lines| lines.chunks_exact(self.lines_per_shard))
            .map(Shard)
    }

    /// The shard `writer` records in.
    #[inline]
    pub(crate) fn writer_shard(&self, writer: Writer) -> WriterShard<'_> {
        WriterShard {
            writer,
            shard: self.shard(writer),
        }
    }

    /// `Release` (a plain store on x86, as `Relaxed`): a scrape that reads this start with
    /// `Acquire` also sees the end of the call this thread ran before it (see `snapshot`).
    #[inline]
    pub(crate) fn record_start(&self, WriterShard { writer, shard }: WriterShard<'_>) {
        increment(writer, shard, Counter::Started, Ordering::Release);
    }

    /// `now_ticks` is the clock reading that ended the call.
    #[inline]
    pub(crate) fn record_end(
        &self,
        WriterShard { writer, shard }: WriterShard<'_>,
        now_ticks: u64,
        elapsed_ticks: u64,
        failed: bool,
    ) {
        // Release, as the bucket below: a scrape that reads this error with `Acquire` sees the
        // start of its call too (see `snapshot`), so it never shows more errors than requests.
        if failed {
            increment(writer, shard, Counter::Errors, Ordering::Release);
        }
        writer.add_wide(
            shard.counter(Counter::SumTicksHigh),
            shard.counter(Counter::SumTicksLow),
            elapsed_ticks,
        );
        let bucket = self
            .bounds_ticks
            .iter()
            .position(|&bound| elapsed_ticks <= bound)
            .unwrap_or(self.bounds_ticks.len());
        // Release: a scrape that sees this observation also sees the start it ends, even when
        // an async call started on another thread (the executor's hand-over orders the two).
        increment(writer, shard, Counter::Bucket(bucket), Ordering::Release);
        // After the classic bucket: a scrape reads native counts first, so it never shows more
        // native observations than classic ones.
        #[cfg(feature = "native-histograms")]
        if let Some(native) = &self.native {
            native.record(writer, self.deferred(shard), elapsed_ticks);
        }
        if let Some(exemplars) = &self.exemplars {
            exemplars.offer(bucket, now_ticks, || {
                self.clock.seconds(elapsed_ticks.into())
            });
            if failed {
                exemplars.offer(self.bounds_ticks.len() + 1, now_ticks, || 1.0);
            }
        }
    }

    pub(crate) fn record_rejection(&self) {
        self.rejected.0.fetch_add(1, Ordering::Relaxed);
    }

    /// One shard's latency sum. Read high, low, high: when the high word did not move, the
    /// value is at most behind by a carry still being written (`Writer::add_wide`).
    fn sum_ticks(shard: Shard<'_>) -> u128 {
        let high = shard.counter(Counter::SumTicksHigh);
        let low = shard.counter(Counter::SumTicksLow);
        loop {
            let before = high.load(Ordering::Acquire);
            let low_word = low.load(Ordering::Acquire);
            if high.load(Ordering::Acquire) == before {
                return (u128::from(before) << 64) | u128::from(low_word);
            }
        }
    }

    /// Calls started, summed over every shard.
    fn started(&self) -> u64 {
        self.shards()
            .map(|shard| load(shard, Counter::Started, Ordering::Acquire))
            .sum()
    }

    /// Makes every snapshot of this series wait until the guard is dropped: a slow scrape.
    #[cfg(test)]
    pub(crate) fn hold_snapshots(&self) -> std::sync::MutexGuard<'_, u128> {
        self.sum_reported.lock().unwrap()
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        // Starts before anything else, for the in-flight gauge: a start read here makes the end
        // of its thread's previous call visible to the reads below, so a call that starts and
        // ends while they run is not counted as running (`in_flight`).
        let started_before = self.started();
        #[cfg(feature = "native-histograms")]
        let native = self
            .native
            .as_ref()
            .map(|native| native.snapshot(self.shards().map(|shard| self.deferred(shard))));
        let buckets = self.bounds_ticks.len() + 1;
        let mut per_bucket = vec![0u64; buckets];
        let mut sum_ticks = 0u128;
        let mut errors = 0u64;
        // Observations and errors, then starts again. A call increments `Started` before its
        // error and its bucket, and those two with `Release`; read here with `Acquire`, each
        // error or observation counted makes its call's start visible to the reads of
        // `Started` that follow (on any CPU, weakly ordered ones included). So by construction
        // `started >= finished` (`_count` never above requests) and `started >= errors` (a
        // scrape never shows more errors than requests).
        for shard in self.shards() {
            for (bucket, count) in per_bucket.iter_mut().enumerate() {
                *count += load(shard, Counter::Bucket(bucket), Ordering::Acquire);
            }
            sum_ticks += Self::sum_ticks(shard);
            errors += load(shard, Counter::Errors, Ordering::Acquire);
        }
        let started = self.started();
        let sum_ticks = {
            let mut reported = self
                .sum_reported
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *reported = (*reported).max(sum_ticks);
            *reported
        };
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
            started_before,
            errors,
            rejected: self.rejected.0.load(Ordering::Relaxed),
            finished,
            sum_seconds: self.clock.seconds(sum_ticks),
            cumulative,
            exemplars: self
                .exemplars
                .as_ref()
                .map_or_else(Vec::new, Exemplars::latest),
            #[cfg(feature = "native-histograms")]
            native,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::sync::atomic::Ordering;

    use super::{Counter, Series};
    use crate::writers;

    #[derive(Clone, Copy, Debug, PartialEq)]
    pub(super) enum Access {
        Read,
        Write,
    }

    thread_local! {
        /// The counter accesses of this thread, in program order, while a test records them.
        static ACCESSES: RefCell<Option<Vec<(Access, Counter, Ordering)>>> =
            const { RefCell::new(None) };
    }

    pub(super) fn log(access: Access, counter: Counter, order: Ordering) {
        ACCESSES.with_borrow_mut(|log| {
            if let Some(log) = log {
                log.push((access, counter, order));
            }
        });
    }

    fn accesses(run: impl FnOnce()) -> Vec<(Access, Counter, Ordering)> {
        ACCESSES.set(Some(Vec::new()));
        run();
        ACCESSES.take().unwrap()
    }

    /// The orderings that make `errors <= started` and `finished <= started` hold in every
    /// scrape, on weakly ordered CPUs too: a call writes its start before its error and its
    /// observation, and those with `Release`; a scrape reads errors and observations with
    /// `Acquire`, all of them before the starts it reports. And the ones that keep in flight at
    /// most the bodies running: starts are written with `Release` and read once more, with
    /// `Acquire`, before anything else. x86 never reorders these accesses, so the
    /// stress test (`errors_never_exceed_requests.rs`) cannot catch a wrong ordering there:
    /// this test checks the orderings themselves.
    #[test]
    fn errors_and_observations_publish_their_start_and_are_read_between_two_reads_of_starts() {
        let series = series();
        let writer = writers::current();
        let implies_start =
            |counter: Counter| matches!(counter, Counter::Errors | Counter::Bucket(_));

        let writes = accesses(|| {
            let shard = series.writer_shard(writer);
            series.record_start(shard);
            series.record_end(shard, series.clock.now(), 1, true);
        });
        let start = writes
            .iter()
            .position(|&(_, index, _)| index == Counter::Started)
            .expect("the start is written");
        let implied: Vec<_> = writes
            .iter()
            .enumerate()
            .filter(|&(_, &(_, index, _))| implies_start(index))
            .collect();
        assert_eq!(implied.len(), 2, "an error and a bucket: {writes:?}");
        for (position, &(access, index, order)) in implied {
            assert_eq!(access, Access::Write);
            assert!(position > start, "{index:?} written before the start");
            assert_eq!(order, Ordering::Release, "{index:?}");
        }

        assert_eq!(
            writes[start].2,
            Ordering::Release,
            "a start publishes the end of the call before it"
        );

        let reads = accesses(|| {
            series.snapshot();
        });
        // Two passes over the starts: one before everything else (in flight), one after (the
        // requests counter).
        let starts: Vec<usize> = reads
            .iter()
            .enumerate()
            .filter(|&(_, &(_, index, order))| {
                index == Counter::Started && order == Ordering::Acquire
            })
            .map(|(position, _)| position)
            .collect();
        let shards = series.shards().count();
        assert_eq!(starts.len(), 2 * shards, "{reads:?}");
        let (last_early_start, first_start) = (starts[shards - 1], starts[shards]);
        let implied: Vec<_> = reads
            .iter()
            .enumerate()
            .filter(|&(_, &(_, index, _))| implies_start(index))
            .collect();
        assert!(
            implied
                .iter()
                .any(|&(_, &(_, index, _))| index == Counter::Errors)
        );
        for (position, &(access, index, order)) in implied {
            assert_eq!(access, Access::Read);
            assert!(position < first_start, "{index:?} read after a start");
            assert!(
                position > last_early_start,
                "{index:?} read before in flight's starts"
            );
            assert_eq!(order, Ordering::Acquire, "{index:?}");
        }
    }

    fn series() -> Series {
        Series::new("wrap".into(), "tests", String::new(), &[0.1, 1.0], None)
    }

    /// The state a process reaches after ~71 days of 1,000 concurrent 1 s calls at 3 GHz.
    #[test]
    fn the_latency_sum_carries_past_64_bits_and_never_goes_backwards() {
        let series = series();
        let writer = writers::current();
        let near_wrap = u64::MAX - 1_000;
        series
            .shard(writer)
            .counter(Counter::SumTicksLow)
            .store(near_wrap, Ordering::Relaxed);
        let before = series.snapshot();
        let ticks = series.clock.ticks(0.5);
        let shard = series.writer_shard(writer);
        series.record_start(shard);
        series.record_end(shard, series.clock.now(), ticks, false);
        let after = series.snapshot();
        assert!(
            after.sum_seconds > before.sum_seconds,
            "{} s then {} s",
            before.sum_seconds,
            after.sum_seconds
        );
        let expected = u128::from(near_wrap) + u128::from(ticks);
        assert_eq!(Series::sum_ticks(series.shard(writer)), expected);
        assert_eq!(
            series
                .shard(writer)
                .counter(Counter::SumTicksHigh)
                .load(Ordering::Relaxed),
            1
        );
        assert_eq!(after.finished, 1);
        // 10^6 calls/s of 10 s each for 10 years, at 5 GHz: still exact in 128 bits.
        let decade = 1e6 * 10.0 * 10.0 * 365.25 * 86_400.0 * 5e9;
        assert!(decade < u128::MAX as f64);
    }

    #[test]
    fn a_sum_read_behind_a_carry_is_never_reported_below_an_earlier_one() {
        let series = series();
        let writer = writers::current();
        series
            .shard(writer)
            .counter(Counter::SumTicksHigh)
            .store(1, Ordering::Relaxed);
        let first = series.snapshot().sum_seconds;
        // A torn read: the high word seemingly lost its carry.
        series
            .shard(writer)
            .counter(Counter::SumTicksHigh)
            .store(0, Ordering::Relaxed);
        assert_eq!(series.snapshot().sum_seconds, first);
    }
}
