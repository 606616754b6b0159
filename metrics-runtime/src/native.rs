//! Native (sparse, exponential) histogram buckets of one series: which bucket an observation
//! falls in, the shards' counts of the buckets seen, and the buckets a scrape reports.
//!
//! At schema `s` bucket `i` holds the latencies in `(2^((i-1)/2^s), 2^(i/2^s)]` seconds. A call
//! lasts `t` clock ticks; shifted left until its top bit is bit 63, `t` reads `n = 2^63 · m`
//! with `1 <= m < 2`, and `t = m · 2^e`. Bucket bounds in ticks double every `2^s` buckets, so
//! the bucket of `t` is that of `m` plus `e · 2^s`; a table over the `s + 1` bits of `n` after
//! its top bit gives the bucket of each such cell of `m`, and the one bound that may fall inside
//! it, which one integer comparison of `n` settles (a cell spans `2^-(s+1)` of an octave, less
//! than the gap between two bounds, at least `ln 2 / 2^s`). No float, no logarithm on the hot
//! path: a leading-zero count, two shifts, a table read and a comparison.
//!
//! Storage is sparse by octave: the counts of one octave's `2^s` buckets are allocated, for all
//! shards of one chunk at once, by the first call that lands in it; an octave no call reached
//! costs a pointer per chunk. Octaves are bounded: a duration is 1 to 2^64 clock ticks, 65
//! octaves whatever the clock. Bucket indices are kept at `max(schema, 0)`; the scrape merges
//! neighbours (lowering the schema, as the specification allows) until at most `max_buckets`
//! are left, so the count a scraper sees is capped whatever the spread.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use once_cell::sync::OnceCell;

use crate::error::ConfigError;
use crate::writers::{self, COUNTERS_PER_LINE, Line, Writer, zeroed};

/// Native histograms for the handler latencies, in the protobuf exposition: exponential
/// buckets at a resolution chosen once, instead of bounds chosen up front.
///
/// ```
/// use metrics_runtime::{Config, NativeHistograms};
///
/// // Schema 3: each bucket is 2^(1/8) ≈ 1.09 times as wide as the one before, so a
/// // percentile is known within about 4.5 %; at most 160 buckets per series.
/// let native = NativeHistograms::new().schema(3).max_buckets(160);
///
/// // A bad setting is an error value that says why, and installs nothing.
/// let error = Config::new()
///     .native_histograms(native.clone().schema(9))
///     .install()
///     .unwrap_err();
/// assert!(error.to_string().contains("schema"));
///
/// Config::new().native_histograms(native).install().expect("first installation");
/// let scrape = metrics_runtime::gather_bytes(metrics_runtime::Format::Protobuf);
/// assert!(!scrape.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NativeHistograms {
    schema: i32,
    zero_threshold: f64,
    max_buckets: u32,
}

/// client_golang's default zero threshold: only a zero duration falls in the zero bucket.
const DEFAULT_ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39; // 2^-128

impl Default for NativeHistograms {
    fn default() -> Self {
        NativeHistograms {
            schema: 3,
            zero_threshold: DEFAULT_ZERO_THRESHOLD,
            max_buckets: 160,
        }
    }
}

impl NativeHistograms {
    /// Schema 3 (8 buckets per doubling, ≈ 9 % wide), zero threshold 2^-128 s, at most 160
    /// buckets per series.
    pub fn new() -> Self {
        NativeHistograms::default()
    }

    /// The resolution: `2^schema` buckets per doubling of the latency, from -4 (one bucket per
    /// 65,536×) to 8 (256 per doubling, ≈ 0.27 % wide). Higher costs more buckets, hence more
    /// memory and bigger scrapes, for a finer percentile.
    pub fn schema(mut self, schema: i32) -> Self {
        self.schema = schema;
        self
    }

    /// Latencies at or below this many seconds are counted in the zero bucket rather than an
    /// exponential one: finite, 0 or more.
    pub fn zero_threshold(mut self, seconds: f64) -> Self {
        self.zero_threshold = seconds;
        self
    }

    /// The most buckets one series reports, at least 1: when its latencies spread over more,
    /// the scrape halves the resolution (schema - 1, each bucket two merged) until they fit,
    /// down to schema -4. Prometheus' own cap for client_golang is called the max bucket
    /// number; OpenTelemetry's exponential histograms default to 160.
    pub fn max_buckets(mut self, count: u32) -> Self {
        self.max_buckets = count;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, value: f64, reason| {
            Err(ConfigError::InvalidNativeHistograms {
                setting,
                value,
                reason,
            })
        };
        if !(MIN_SCHEMA..=MAX_SCHEMA).contains(&self.schema) {
            return invalid(
                "schema",
                self.schema.into(),
                "must be from -4 to 8, as Prometheus defines native histograms",
            );
        }
        if !self.zero_threshold.is_finite() || self.zero_threshold < 0.0 {
            return invalid(
                "zero_threshold",
                self.zero_threshold,
                "must be a finite number of seconds, 0 or more",
            );
        }
        if self.max_buckets == 0 {
            return invalid(
                "max_buckets",
                0.0,
                "must be at least 1; a series reports its buckets at lower resolution instead",
            );
        }
        Ok(())
    }
}

const MIN_SCHEMA: i32 = -4;
const MAX_SCHEMA: i32 = 8;

/// Cells of the bucket table at the highest schema: `2^(8 + 1)`.
const MAX_CELLS: usize = 2 << MAX_SCHEMA;

/// Where observations go, the same for every series of a runtime.
pub(crate) struct Layout {
    /// The schema asked for; storage is at `max(schema, 0)`.
    schema: i32,
    stored_schema: u32,
    zero_threshold: f64,
    /// Latencies of at most this many ticks go to the zero bucket.
    zero_ticks: u64,
    max_buckets: usize,
    /// `63 - stored_schema`: the shift that leaves a normalised count's cell.
    cell_shift: u32,
    /// Per cell of the normalised tick count: the position (see `position_plus_one`) of the
    /// cell's start in octave 0 of the ticks, plus one, as deferred slots hold it; and the bound
    /// inside the cell, normalised (`u64::MAX` if none).
    position_plus_one_in_octave_zero: [u64; MAX_CELLS],
    bound_inside: [u64; MAX_CELLS],
    /// The bucket of one tick: the first index a series stores.
    first_index: i32,
    /// Octaves from one tick to 2^64 ticks.
    octaves: usize,
    lines_per_block: usize,
}

impl Layout {
    pub(crate) fn new(settings: &NativeHistograms, ticks_per_second: f64) -> Layout {
        let stored_schema = settings.schema.max(0) as u32;
        let per_octave = 1i32 << stored_schema;
        let cells = 2usize << stored_schema;
        // Bound `i` in ticks: 2^(i / 2^s) seconds.
        let bound =
            |index: i32| (f64::from(index) / f64::from(per_octave)).exp2() * ticks_per_second;
        let mut bucket_in_octave_zero = [0; MAX_CELLS];
        let mut bound_inside = [u64::MAX; MAX_CELLS];
        for cell in 0..cells {
            // The cell's start, in ticks of octave 0: [1, 2).
            let start = 1.0 + cell as f64 / cells as f64;
            let mut index =
                ((start / ticks_per_second).log2() * f64::from(per_octave)).ceil() as i32;
            while bound(index - 1) >= start {
                index -= 1;
            }
            while bound(index) < start {
                index += 1;
            }
            bucket_in_octave_zero[cell] = index;
            // Normalised as `n` is: times 2^63 (`as` saturates past u64::MAX: no bound inside).
            bound_inside[cell] = (bound(index) * 2f64.powi(63)) as u64;
        }
        // One tick: normalised 2^63, octave 0, cell 0.
        let first_index = bucket_in_octave_zero[0] + i32::from(1 << 63 > bound_inside[0]);
        let mut layout = Layout {
            schema: settings.schema,
            stored_schema,
            zero_threshold: settings.zero_threshold,
            zero_ticks: (settings.zero_threshold * ticks_per_second) as u64,
            max_buckets: settings.max_buckets as usize,
            cell_shift: 63 - stored_schema,
            // Wrapping: a cell's start may lie in the bucket before the first one; positions
            // reached by a tick count are never below 0.
            position_plus_one_in_octave_zero: bucket_in_octave_zero
                .map(|bucket| (i64::from(bucket) - i64::from(first_index) + 1) as u64),
            bound_inside,
            first_index,
            octaves: 0,
            lines_per_block: (per_octave as usize).div_ceil(COUNTERS_PER_LINE),
        };
        let last = layout.position_plus_one_outside_zero(u64::MAX) - 1;
        layout.octaves = (last >> stored_schema) as usize + 1;
        layout
    }

    /// The position of the counter a latency of `ticks` increments, `entry << stored_schema |
    /// slot` (`entry`: an octave's directory entry, or the zero bucket's after them), plus one:
    /// the value a deferred slot holds, where 0 means empty. See the module's comment for the
    /// lookup.
    #[inline(always)]
    fn position_plus_one(&self, ticks: u64) -> u64 {
        if ticks <= self.zero_ticks {
            return self.zero_position() as u64 + 1;
        }
        self.position_plus_one_outside_zero(ticks)
    }

    /// The position itself.
    #[cfg(test)]
    fn locate(&self, ticks: u64) -> usize {
        (self.position_plus_one(ticks) - 1) as usize
    }

    /// `position_plus_one` of a latency of `ticks` (at least 1) above the zero threshold.
    #[inline(always)]
    fn position_plus_one_outside_zero(&self, ticks: u64) -> u64 {
        let shift = ticks.leading_zeros();
        let normalised = ticks << shift;
        let octave = u64::from(63 - shift);
        // At most 2^(8+1) cells: the mask only spares a bounds check.
        let cell = ((normalised << 1) >> self.cell_shift) as usize & (MAX_CELLS - 1);
        let above = normalised > self.bound_inside[cell];
        self.position_plus_one_in_octave_zero[cell]
            .wrapping_add(octave << self.stored_schema)
            .wrapping_add(u64::from(above))
    }

    /// The directory entry and the counter in it of a position (see `position_plus_one`).
    #[inline(always)]
    fn entry_and_slot(&self, position: usize) -> (usize, usize) {
        (
            position >> self.stored_schema,
            position & ((1 << self.stored_schema) - 1),
        )
    }

    /// The bucket index at the stored schema of counter `slot` of directory entry `octave`.
    #[cfg(test)]
    fn index(&self, octave: usize, slot: usize) -> i32 {
        self.first_index + ((octave << self.stored_schema) + slot) as i32
    }

    /// The directory entry of the zero bucket, after the octaves.
    fn zero_entry(&self) -> usize {
        self.octaves
    }

    /// The zero bucket's counter, as a position.
    fn zero_position(&self) -> usize {
        self.zero_entry() << self.stored_schema
    }
}

/// A directory entry's counters, for every shard of a chunk.
struct Block<'a> {
    entry: usize,
    lines: &'a [Line],
}

impl Block<'_> {
    const NONE: Block<'static> = Block {
        entry: usize::MAX,
        lines: &[],
    };
}

/// One chunk's octaves (and zero bucket), each allocated when a call first lands in it.
struct Directory(Box<[OnceCell<Box<[Line]>>]>);

/// Observations a shard's thread defers (see `NativeBuckets::record`): two lines, less the
/// count of them.
const DEFERRED: usize = 2 * COUNTERS_PER_LINE - 1;

/// Bits of one field of a batch's tally (see `NativeBuckets::settle`): enough for a whole
/// batch in one bucket.
const FIELD_BITS: u32 = 5;
/// Bucket positions a batch tallies in one register.
const TALLIED: u64 = (u64::BITS / FIELD_BITS) as u64;
const _: () = assert!(DEFERRED < 1 << FIELD_BITS);

/// A shard's deferred observations, the last two lines of the shard (so a call finds them
/// where it finds its other counters): `DEFERRED` slots, each a `Layout::position_plus_one`
/// (0: empty), then how many are filled.
pub(crate) type DeferredLines = [Line; 2];

/// Slot `index` of a shard's deferred lines, `DEFERRED` being the count. One index into both
/// lines, rather than a line and a counter in it: the call pays two instructions, not six.
#[inline(always)]
fn deferred_slot(lines: &DeferredLines, index: usize) -> &AtomicU64 {
    const SLOTS: usize = 2 * COUNTERS_PER_LINE;
    const _: () = assert!(size_of::<DeferredLines>() == size_of::<[AtomicU64; SLOTS]>());
    // SAFETY: `Line` is `repr(C)` around `[AtomicU64; COUNTERS_PER_LINE]` and exactly its size
    // (asserted above), so two lines are `SLOTS` adjacent `AtomicU64`s: the same objects, of
    // the same type, at the same addresses, borrowed for as long as `lines` is.
    let slots = unsafe { &*std::ptr::from_ref(lines).cast::<[AtomicU64; SLOTS]>() };
    // The mask spares a bounds check.
    &slots[index % SLOTS]
}

/// The native buckets of one series.
pub(crate) struct NativeBuckets {
    layout: &'static Layout,
    /// One directory per chunk of shards (see `writers::chunk_sizes`).
    chunks: Box<[OnceCell<Directory>]>,
    /// The largest count a scrape reported per bucket position: a scrape that reads a deferred
    /// observation and the next one, racing its move into a bucket, may count it in neither, and
    /// reports what the first one did instead (see `record`).
    reported: Mutex<BTreeMap<usize, u64>>,
}

/// What a scrape reports of a series' native buckets.
#[derive(Debug, PartialEq)]
pub(crate) struct NativeSnapshot {
    pub(crate) schema: i32,
    pub(crate) zero_threshold: f64,
    pub(crate) zero_count: u64,
    /// Populated buckets by index, in increasing order.
    pub(crate) buckets: Vec<(i32, u64)>,
}

impl NativeSnapshot {
    /// The observations in the buckets, zero bucket included.
    pub(crate) fn count(&self) -> u64 {
        self.zero_count + self.buckets.iter().map(|&(_, count)| count).sum::<u64>()
    }
}

impl NativeBuckets {
    pub(crate) fn new(layout: &'static Layout) -> Self {
        NativeBuckets {
            layout,
            chunks: writers::chunk_sizes()
                .iter()
                .map(|_| OnceCell::new())
                .collect(),
            reported: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counts a latency of `ticks`.
    ///
    /// The call finds its bucket (arithmetic and two table reads, which the CPU runs in the
    /// shadow of the clock reading), but a thread that owns its shard does not count it yet: it
    /// appends the bucket's position to its shard's `deferred` lines, and every `DEFERRED`th
    /// call counts the batch (`settle`). A counter whose address comes from the clock reading
    /// would make the CPU wait, before the next call's reads, until it knows whether they
    /// depend on it; the slot's address is known early (BENCHMARKS.md has the measurements). A
    /// scrape counts the deferred positions too (see `snapshot`), so none waits for a batch to
    /// be seen. Threads without a shard of their own (see `writers`) count directly.
    #[inline]
    pub(crate) fn record(&self, writer: Writer, deferred: &DeferredLines, ticks: u64) {
        let position_plus_one = self.layout.position_plus_one(ticks);
        if !writer.is_exclusive() {
            let (directory, position) = (self.directory(writer), position_plus_one as usize - 1);
            let mut block = Block::NONE;
            self.add_to(directory, writer, &mut block, position, 1);
            return;
        }
        let filled = deferred_slot(deferred, DEFERRED);
        let filled_now = filled.load(Ordering::Relaxed) as usize;
        // `filled` stays below `DEFERRED` (this thread alone writes it), so this is never the
        // count itself.
        deferred_slot(deferred, filled_now).store(position_plus_one, Ordering::Relaxed);
        if filled_now + 1 < DEFERRED {
            // Release: a scrape that reads the count with `Acquire` sees the slots below it,
            // and the call's classic bucket and start.
            filled.store(filled_now as u64 + 1, Ordering::Release);
        } else {
            self.settle(writer, deferred);
        }
    }

    /// Adds a shard's deferred observations to their counters.
    ///
    /// Counted one by one, each count would wait for the one before it: its address comes from
    /// a slot, and the CPU cannot tell whether the previous write went there. Positions near
    /// the batch's first and last are tallied in `FIELD_BITS`-bit fields of one register
    /// instead, and written once per bucket; the others, one by one.
    #[cold]
    #[inline(never)]
    fn settle(&self, writer: Writer, deferred: &DeferredLines) {
        let directory = self.directory(writer);
        let slot = |index| deferred_slot(deferred, index);
        // Latencies lean right (a slow tail): the window starts a little below the smaller of
        // the batch's first and last positions. Stored values are positions plus one, so
        // `base` >= 1 leaves an empty slot (0) out of the tally.
        let smaller = slot(0)
            .load(Ordering::Relaxed)
            .min(slot(DEFERRED - 1).load(Ordering::Relaxed));
        let base = smaller.saturating_sub(TALLIED / 4).max(1);
        let mut tally: u64 = 0;
        let mut block = Block::NONE;
        // Release, here and for the counts: no slot is pending before any is counted, so a
        // scrape that sees one of these counts (with `Acquire`), and reads the count of slots
        // after it, never also finds the observation in its slot.
        slot(DEFERRED).store(0, Ordering::Release);
        for pending in (0..DEFERRED).map(slot) {
            let stored = pending.load(Ordering::Relaxed);
            let offset = stored.wrapping_sub(base);
            if offset < TALLIED {
                tally += 1 << (u64::from(FIELD_BITS) * offset);
            } else if stored != 0 {
                self.add_to(directory, writer, &mut block, stored as usize - 1, 1);
            }
        }
        let field_mask = (1 << FIELD_BITS) - 1;
        while tally != 0 {
            let field = tally.trailing_zeros() / FIELD_BITS;
            let shift = FIELD_BITS * field;
            let tallied = (tally >> shift) & field_mask;
            tally &= !(field_mask << shift);
            let position = (base - 1) as usize + field as usize;
            self.add_to(directory, writer, &mut block, position, tallied);
        }
    }

    #[inline(always)]
    fn directory(&self, writer: Writer) -> &Directory {
        let chunk = usize::from(writer.chunk);
        match self.chunks[chunk].get() {
            Some(directory) => directory,
            None => self.allocate_directory(chunk),
        }
    }

    /// Adds `count` to counter `slot` of the writer's shard in an octave's `lines`.
    /// `Release`: a scrape that reads it with `Acquire` sees the call's classic bucket and
    /// start, and its slot no longer pending (see `settle`).
    #[inline(always)]
    fn add(&self, writer: Writer, lines: &[Line], slot: usize, count: u64) {
        let line = writer.offset as usize * self.layout.lines_per_block + slot / COUNTERS_PER_LINE;
        writer.add(
            &lines[line].0[slot % COUNTERS_PER_LINE],
            count,
            Ordering::Release,
        );
    }

    /// Adds `count` to the counter at `position` of the writer's shard; `block` keeps the last
    /// octave's counters, which the next position most likely shares.
    #[inline(always)]
    fn add_to<'a>(
        &self,
        directory: &'a Directory,
        writer: Writer,
        block: &mut Block<'a>,
        position: usize,
        count: u64,
    ) {
        let (entry, slot) = self.layout.entry_and_slot(position);
        if block.entry != entry {
            *block = Block {
                entry,
                lines: self.lines(directory, writer, entry),
            };
        }
        self.add(writer, block.lines, slot, count);
    }

    /// The counters of octave (or zero bucket) `entry` for every shard of the writer's chunk.
    #[inline(always)]
    fn lines<'a>(&self, directory: &'a Directory, writer: Writer, entry: usize) -> &'a [Line] {
        match directory.0[entry].get() {
            Some(lines) => lines,
            None => self.block(directory, usize::from(writer.chunk), entry),
        }
    }

    #[cold]
    #[inline(never)]
    fn allocate_directory(&self, chunk: usize) -> &Directory {
        self.chunks[chunk]
            .get_or_init(|| Directory((0..=self.layout.octaves).map(|_| OnceCell::new()).collect()))
    }

    /// Allocates an octave's counters for every shard of `chunk`, or waits for the thread that
    /// does.
    #[cold]
    #[inline(never)]
    fn block<'a>(&self, directory: &'a Directory, chunk: usize, entry: usize) -> &'a [Line] {
        directory.0[entry]
            .get_or_init(|| zeroed(writers::chunk_sizes()[chunk] * self.layout.lines_per_block))
    }

    /// Bytes this series' native buckets hold now: directories and octave blocks.
    pub(crate) fn allocated_bytes(&self) -> usize {
        let mut bytes = std::mem::size_of_val(&*self.chunks);
        for directory in self.chunks.iter().filter_map(OnceCell::get) {
            bytes += std::mem::size_of_val(&*directory.0);
            for lines in directory.0.iter().filter_map(OnceCell::get) {
                bytes += std::mem::size_of_val(&**lines) + std::mem::size_of::<Box<[Line]>>();
            }
        }
        bytes
    }

    /// The counts of every shard, with the observations in `deferred` (every shard's line),
    /// merged to at most `max_buckets` buckets.
    pub(crate) fn snapshot<'a>(
        &self,
        deferred: impl Iterator<Item = &'a DeferredLines>,
    ) -> NativeSnapshot {
        let layout = self.layout;
        let per_octave = 1usize << layout.stored_schema;
        let mut counts: BTreeMap<usize, u64> = BTreeMap::new();
        // The buckets first, then each shard's count of pending slots, then those slots: an
        // observation counted after the buckets were read is still pending when the count is
        // read, or no longer (or its slot already holds a newer one); then neither read counts
        // it, and `reported` keeps its earlier count. A slot holds only observations not yet
        // counted, so none is read twice.
        for directory in self.chunks.iter().filter_map(OnceCell::get) {
            for (entry, lines) in directory.0.iter().enumerate() {
                let Some(lines) = lines.get() else { continue };
                for shard in lines.chunks_exact(layout.lines_per_block) {
                    let counters = shard.iter().flat_map(|line| &line.0).take(per_octave);
                    for (slot, counter) in counters.enumerate() {
                        let count = counter.load(Ordering::Acquire);
                        if count > 0 {
                            *counts.entry(entry * per_octave + slot).or_default() += count;
                        }
                    }
                }
            }
        }
        for lines in deferred {
            let filled = deferred_slot(lines, DEFERRED).load(Ordering::Acquire) as usize;
            for slot in (0..filled.min(DEFERRED)).map(|index| deferred_slot(lines, index)) {
                let stored = slot.load(Ordering::Relaxed);
                if stored != 0 {
                    *counts.entry(stored as usize - 1).or_default() += 1;
                }
            }
        }
        {
            let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
            for (position, count) in &mut counts {
                let last = reported.entry(*position).or_default();
                *count = (*count).max(*last);
                *last = *count;
            }
            for (position, &count) in reported.iter() {
                counts.entry(*position).or_insert(count);
            }
        }
        let zero_count = counts.remove(&layout.zero_position()).unwrap_or(0);
        let buckets = counts
            .into_iter()
            .map(|(position, count)| (layout.first_index + position as i32, count))
            .collect();
        let (schema, buckets) = reduce(
            layout.stored_schema as i32,
            buckets,
            layout.schema,
            layout.max_buckets,
        );
        NativeSnapshot {
            schema,
            zero_threshold: layout.zero_threshold,
            zero_count,
            buckets,
        }
    }
}

/// Lowers the resolution of `buckets` (at `schema`) to `target` and further, one step at a
/// time, while more than `max_buckets` are populated; never below schema -4. Each step merges
/// buckets `2i - 1` and `2i` into `i`: `(2^((2i-2)/2^s), 2^(2i/2^s)]` is bucket `i` at `s - 1`.
fn reduce(
    mut schema: i32,
    mut buckets: Vec<(i32, u64)>,
    target: i32,
    max_buckets: usize,
) -> (i32, Vec<(i32, u64)>) {
    while schema > MIN_SCHEMA && (schema > target || buckets.len() > max_buckets) {
        let mut merged: Vec<(i32, u64)> = Vec::with_capacity(buckets.len());
        for (index, count) in buckets {
            // ceil(index / 2), for negative indices too.
            let index = (index + 1) >> 1;
            match merged.last_mut() {
                Some((last, sum)) if *last == index => *sum += count,
                _ => merged.push((index, count)),
            }
        }
        buckets = merged;
        schema -= 1;
    }
    (schema, buckets)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::Ordering;

    use super::{DeferredLines, Layout, NativeBuckets, NativeHistograms, reduce};
    use crate::writers::{self, Line};

    /// The bucket of `seconds` at `schema`, from its definition: the smallest `i` with
    /// `seconds <= 2^(i / 2^schema)`.
    fn by_definition(seconds: f64, schema: i32) -> i32 {
        (seconds.log2() * f64::from(schema).exp2()).ceil() as i32
    }

    /// A shard's lines of deferred observations, as a series keeps them.
    fn deferred_line() -> &'static DeferredLines {
        let lines: &'static [Line] = Box::leak(writers::zeroed(2));
        lines.try_into().expect("two lines")
    }

    fn layout(schema: i32, ticks_per_second: f64) -> &'static Layout {
        Box::leak(Box::new(Layout::new(
            &NativeHistograms::new().schema(schema),
            ticks_per_second,
        )))
    }

    #[test]
    fn every_schema_puts_values_in_the_bucket_the_definition_gives() {
        for schema in 0..=8 {
            let layout = layout(schema, 1e9);
            let mut value = 1u64;
            // 1 ns to ~18 s, ~1.7 % apart, plus the neighbours of each.
            while value < 18_000_000_000 {
                for ticks in [value, value + 1] {
                    let seconds = ticks as f64 * 1e-9;
                    let expected = by_definition(seconds, schema);
                    // A value within rounding of a bound may go either way; the definition
                    // computed with `log2` is no more exact there than the table.
                    let bound = (f64::from(expected) / f64::from(schema).exp2()).exp2();
                    if ((seconds - bound) / bound).abs() < 1e-12 {
                        continue;
                    }
                    let (octave, slot) = layout.entry_and_slot(layout.locate(ticks));
                    assert_eq!(
                        layout.index(octave, slot),
                        expected,
                        "{ticks} ns at schema {schema}"
                    );
                }
                value += value / 60 + 1;
            }
        }
    }

    #[test]
    fn powers_of_two_are_upper_bounds_of_their_bucket() {
        // 2^30 ticks per second: 2^k ticks is exactly 2^(k-30) s, the upper bound of bucket
        // (k - 30) · 2^schema.
        let layout = layout(3, 30f64.exp2());
        for k in 0..=62 {
            let (octave, slot) = layout.entry_and_slot(layout.locate(1 << k));
            assert_eq!(layout.index(octave, slot), (k - 30) * 8, "2^{k} ticks");
            let (octave, slot) = layout.entry_and_slot(layout.locate((1 << k) + 1));
            if k > 3 {
                assert_eq!(
                    layout.index(octave, slot),
                    (k - 30) * 8 + 1,
                    "2^{k}+1 ticks"
                );
            }
        }
    }

    #[test]
    fn zero_and_values_under_the_threshold_go_to_the_zero_bucket() {
        let layout = Box::leak(Box::new(Layout::new(
            &NativeHistograms::new().zero_threshold(1e-6),
            1e9,
        )));
        let zero = (layout.zero_entry(), 0);
        let located = |ticks| layout.entry_and_slot(layout.locate(ticks));
        assert_eq!(located(0), zero);
        assert_eq!(located(999), zero);
        assert_ne!(located(1_001), zero);
    }

    #[test]
    fn counts_are_exact_and_merged_across_shards() {
        let buckets = NativeBuckets::new(layout(3, 1e9));
        let writer = writers::current();
        let (here, there) = (deferred_line(), deferred_line());
        for _ in 0..5 {
            buckets.record(writer, here, 40_000_000); // 40 ms
        }
        buckets.record(writer, here, 0);
        let handle = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let writer = writers::current();
                    for _ in 0..3 {
                        buckets.record(writer, there, 40_000_000);
                    }
                    buckets.record(writer, there, 1_000_000_000);
                })
                .join()
        });
        handle.unwrap();
        let snapshot = buckets.snapshot([here, there].into_iter());
        assert_eq!(snapshot.schema, 3);
        assert_eq!(snapshot.zero_count, 1);
        assert_eq!(
            snapshot.buckets,
            vec![(by_definition(0.04, 3), 8), (by_definition(1.0, 3), 1)]
        );
        assert_eq!(snapshot.count(), 10);
    }

    /// A batch counts the buckets near its first latency in one register of 4-bit fields, the
    /// others one by one: a whole batch in one bucket fills a field without spilling into the
    /// next, and buckets far below and above the first, and the zero bucket, are counted too.
    #[test]
    fn a_batch_counts_near_and_far_buckets_exactly() {
        let buckets = NativeBuckets::new(layout(3, 1e9));
        let writer = writers::current();
        let line = deferred_line();
        for _ in 0..super::DEFERRED {
            buckets.record(writer, line, 5_000_000); // 5 ms
        }
        let snapshot = buckets.snapshot(std::iter::once(line));
        let whole = super::DEFERRED as u64;
        assert_eq!(snapshot.buckets, vec![(by_definition(0.005, 3), whole)]);
        // 5 ms first; 1 µs and 10 s lie hundreds of buckets away; 0 is the zero bucket.
        let pattern = [
            5e-3, 1e-6, 5.1e-3, 10.0, 0.0, 6e-3, 1e-6, 5e-3, 4.9e-3, 10.0, 7e-3,
        ];
        let batch: Vec<f64> = pattern
            .iter()
            .cycle()
            .take(super::DEFERRED)
            .copied()
            .collect();
        for &seconds in &batch {
            buckets.record(writer, line, (seconds * 1e9) as u64);
        }
        let filled = &line[1].0[super::COUNTERS_PER_LINE - 1];
        assert_eq!(filled.load(Ordering::Relaxed), 0, "a whole batch counted");
        let snapshot = buckets.snapshot(std::iter::once(line));
        let mut expected = BTreeMap::from([(by_definition(0.005, 3), whole)]);
        for &seconds in batch.iter().filter(|&&seconds| seconds > 0.0) {
            *expected.entry(by_definition(seconds, 3)).or_default() += 1;
        }
        let zeros = batch.iter().filter(|&&seconds| seconds == 0.0).count();
        assert_eq!(snapshot.zero_count, zeros as u64);
        assert_eq!(snapshot.buckets, expected.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn settled_and_deferred_observations_are_each_counted_once() {
        let buckets = NativeBuckets::new(layout(3, 1e9));
        let writer = writers::current();
        let line = deferred_line();
        // Two batches counted, and 10 observations still deferred.
        let calls = 2 * super::DEFERRED as u64 + 10;
        for call in 0..calls {
            buckets.record(writer, line, 1_000_000 * (1 + call % 3));
            let snapshot = buckets.snapshot(std::iter::once(line));
            assert_eq!(snapshot.count(), call + 1, "after call {call}");
        }
        let snapshot = buckets.snapshot(std::iter::once(line));
        let expected: Vec<(i32, u64)> = [1e-3, 2e-3, 3e-3]
            .iter()
            .map(|&seconds| {
                (
                    by_definition(seconds, 3),
                    calls / 3 + u64::from(calls % 3 > 0),
                )
            })
            .collect();
        // 40 calls: 14 of 1 ms, 13 of 2 ms, 13 of 3 ms.
        assert_eq!(
            snapshot
                .buckets
                .iter()
                .map(|&(_, count)| count)
                .sum::<u64>(),
            calls
        );
        assert_eq!(snapshot.buckets[0], expected[0]);
    }

    #[test]
    fn too_many_buckets_lower_the_resolution() {
        // 40 neighbouring buckets at schema 3, capped at 10: schema 1 (10 buckets of 4).
        let buckets: Vec<(i32, u64)> = (1..=40).map(|index| (index, 1)).collect();
        let (schema, merged) = reduce(3, buckets, 3, 10);
        assert_eq!(schema, 1);
        assert_eq!(merged.len(), 10);
        assert!(merged.iter().all(|&(_, count)| count == 4));
        assert_eq!(merged[0].0, 1);
        // Negative indices merge by the same rule: ceil(i / 2).
        let (schema, merged) = reduce(1, vec![(-3, 1), (-2, 2), (-1, 4), (0, 8)], 0, 160);
        assert_eq!((schema, merged), (0, vec![(-1, 3), (0, 12)]));
        // Never below -4, whatever the cap.
        let spread: Vec<(i32, u64)> = (0..8).map(|i| (i * 1000, 1)).collect();
        let (schema, merged) = reduce(3, spread, 3, 1);
        assert_eq!(schema, -4);
        assert!(merged.len() > 1);
    }

    #[test]
    fn memory_grows_with_the_octaves_seen_only() {
        let buckets = NativeBuckets::new(layout(3, 1e9));
        let empty = buckets.allocated_bytes();
        let writer = writers::current();
        let line = deferred_line();
        // A batch of calls is counted (see `record`).
        for _ in 0..super::DEFERRED {
            buckets.record(writer, line, 40_000_000);
        }
        let one_octave = buckets.allocated_bytes();
        for _ in 0..1000 {
            buckets.record(writer, line, 41_000_000);
        }
        assert_eq!(
            buckets.allocated_bytes(),
            one_octave,
            "same octave, no growth"
        );
        for _ in 0..super::DEFERRED {
            buckets.record(writer, line, 100_000_000);
        }
        assert!(buckets.allocated_bytes() > one_octave);
        assert!(one_octave > empty);
    }

    #[test]
    fn bad_settings_are_errors() {
        assert!(NativeHistograms::new().validate().is_ok());
        for bad in [
            NativeHistograms::new().schema(9),
            NativeHistograms::new().schema(-5),
            NativeHistograms::new().zero_threshold(-1.0),
            NativeHistograms::new().zero_threshold(f64::NAN),
            NativeHistograms::new().zero_threshold(f64::INFINITY),
            NativeHistograms::new().max_buckets(0),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        for good in [-4, 0, 8] {
            assert!(NativeHistograms::new().schema(good).validate().is_ok());
        }
    }
}
