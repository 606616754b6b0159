//! Native (sparse, exponential) histogram buckets of one series: which bucket an observation
//! falls in, the shards' counts of the buckets seen, and the buckets a scrape reports.
//!
//! At schema `s` bucket `i` holds the values in `(2^((i-1)/2^s), 2^(i/2^s)]` seconds. A
//! value `m · 2^e` (`1 <= m < 2`) is in bucket `e · 2^s + k`, where `k` counts the bounds
//! `2^(j/2^s)`, `0 <= j < 2^s`, below `m`: a table over the top `s + 1` bits of the mantissa
//! gives that count but for at most one bound, which one comparison settles (cells of width
//! `2^-(s+1)` are narrower than the gap between two bounds, at least `ln 2 / 2^s`). No
//! logarithm on the hot path.
//!
//! Storage is sparse by octave: a shard's counts for the `2^s + 1` buckets of one octave `e`
//! (the last is the first of octave `e + 1`, so every octave's values fit) are allocated, for
//! all shards of one chunk at once, by the first call that lands in it. An octave no call
//! reached costs a pointer per chunk. Octaves are bounded: a duration is 1 to 2^64 clock
//! ticks, 66 octaves whatever the clock. Bucket indices are kept at `max(schema, 0)`; the scrape
//! merges neighbours (lowering the schema, as the specification allows) until at most
//! `max_buckets` are left, so the count a scraper sees is capped whatever the spread.

use std::sync::atomic::{AtomicU64, Ordering};

use once_cell::race::OnceBox;
use once_cell::sync::OnceCell;

use crate::error::ConfigError;
use crate::writers::{self, Writer};

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

/// Octaves a duration can reach: 1 to 2^64 ticks.
const OCTAVES: usize = 66;
/// The zero bucket's entry in a directory, after the octaves.
const ZERO: usize = OCTAVES;

const COUNTERS_PER_LINE: usize = 16;

/// 128 bytes, as a series' shard lines: one shard's counters never share a line with another's.
#[repr(align(128))]
struct Line([AtomicU64; COUNTERS_PER_LINE]);

fn zeroed(count: usize) -> Box<[Line]> {
    (0..count)
        .map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0))))
        .collect()
}

/// Where observations go, the same for every series of a runtime.
pub(crate) struct Layout {
    /// The schema asked for; storage is at `max(schema, 0)`.
    schema: i32,
    stored_schema: u32,
    zero_threshold: f64,
    max_buckets: usize,
    seconds_per_tick: f64,
    /// The binary exponent of one tick in seconds: octave 0.
    lowest_exponent: i32,
    /// Counters per octave: `2^stored_schema + 1`.
    slots: usize,
    lines_per_block: usize,
    /// Per mantissa cell: the bounds below the cell, and the one bound inside it (2 if none).
    below: Box<[u16]>,
    inside: Box<[f64]>,
}

impl Layout {
    pub(crate) fn new(settings: &NativeHistograms, seconds_per_tick: f64) -> Layout {
        let stored_schema = settings.schema.max(0) as u32;
        let per_octave = 1usize << stored_schema;
        let cells = per_octave * 2;
        let bounds: Vec<f64> = (0..per_octave)
            .map(|j| (j as f64 / per_octave as f64).exp2())
            .collect();
        let mut below = Vec::with_capacity(cells);
        let mut inside = Vec::with_capacity(cells);
        for cell in 0..cells {
            let start = 1.0 + cell as f64 / cells as f64;
            let end = 1.0 + (cell + 1) as f64 / cells as f64;
            below.push(bounds.iter().filter(|&&bound| bound < start).count() as u16);
            let within: Vec<f64> = bounds
                .iter()
                .copied()
                .filter(|&bound| start <= bound && bound < end)
                .collect();
            debug_assert!(within.len() <= 1, "cells are narrower than bucket gaps");
            inside.push(within.first().copied().unwrap_or(2.0));
        }
        let slots = per_octave + 1;
        Layout {
            schema: settings.schema,
            stored_schema,
            zero_threshold: settings.zero_threshold,
            max_buckets: settings.max_buckets as usize,
            seconds_per_tick,
            lowest_exponent: exponent(seconds_per_tick),
            slots,
            lines_per_block: slots.div_ceil(COUNTERS_PER_LINE),
            below: below.into(),
            inside: inside.into(),
        }
    }

    /// The directory entry and the counter in it that a latency of `ticks` increments.
    #[inline(always)]
    fn locate(&self, ticks: u64) -> (usize, usize) {
        let seconds = ticks as f64 * self.seconds_per_tick;
        if seconds <= self.zero_threshold {
            return (ZERO, 0);
        }
        let bits = seconds.to_bits();
        let mantissa = bits & MANTISSA;
        let cell = (mantissa >> (52 - (self.stored_schema + 1))) as usize;
        let scaled = f64::from_bits(mantissa | ONE);
        let slot = usize::from(self.below[cell]) + usize::from(scaled > self.inside[cell]);
        let octave = (exponent(seconds) - self.lowest_exponent) as usize;
        (octave.min(OCTAVES - 1), slot)
    }

    /// The bucket index at the stored schema of counter `slot` of `octave`.
    fn index(&self, octave: usize, slot: usize) -> i32 {
        ((octave as i32 + self.lowest_exponent) << self.stored_schema) + slot as i32
    }
}

const MANTISSA: u64 = (1 << 52) - 1;
const ONE: u64 = 0x3ff0_0000_0000_0000;

/// The binary exponent of a positive, normal `value`: `value = m · 2^e`, `1 <= m < 2`.
#[inline(always)]
fn exponent(value: f64) -> i32 {
    ((value.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

/// One chunk's octaves (and zero bucket), each allocated when a call first lands in it.
struct Directory(Box<[OnceBox<Box<[Line]>>]>);

/// The native buckets of one series.
pub(crate) struct NativeBuckets {
    layout: &'static Layout,
    /// One directory per chunk of shards (see `writers::chunk_sizes`).
    chunks: Box<[OnceCell<Directory>]>,
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
    #[cfg(test)]
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
        }
    }

    /// Counts a latency of `ticks`. `Release`, as the classic bucket: a scrape that reads this
    /// count with `Acquire` also sees the call's classic bucket and start.
    #[inline]
    pub(crate) fn record(&self, writer: Writer, ticks: u64) {
        let (entry, slot) = self.layout.locate(ticks);
        let chunk = usize::from(writer.chunk);
        let directory = match self.chunks[chunk].get() {
            Some(directory) => directory,
            None => self.directory(chunk),
        };
        let lines = match directory.0[entry].get() {
            Some(lines) => lines,
            None => self.block(directory, chunk, entry),
        };
        let line = writer.offset as usize * self.layout.lines_per_block + slot / COUNTERS_PER_LINE;
        writer.add(
            &lines[line].0[slot % COUNTERS_PER_LINE],
            1,
            Ordering::Release,
        );
    }

    #[cold]
    #[inline(never)]
    fn directory(&self, chunk: usize) -> &Directory {
        self.chunks[chunk]
            .get_or_init(|| Directory((0..=OCTAVES).map(|_| OnceBox::new()).collect()))
    }

    /// Allocates an octave's counters for every shard of `chunk` (a racing thread may allocate
    /// too; one allocation wins, the other is freed unused).
    #[cold]
    #[inline(never)]
    fn block<'a>(&self, directory: &'a Directory, chunk: usize, entry: usize) -> &'a [Line] {
        directory.0[entry].get_or_init(|| {
            Box::new(zeroed(
                writers::chunk_sizes()[chunk] * self.layout.lines_per_block,
            ))
        })
    }

    /// Bytes this series' native buckets hold now: directories and octave blocks.
    pub(crate) fn allocated_bytes(&self) -> usize {
        let mut bytes = std::mem::size_of_val(&*self.chunks);
        for directory in self.chunks.iter().filter_map(OnceCell::get) {
            bytes += std::mem::size_of_val(&*directory.0);
            for lines in directory.0.iter().filter_map(OnceBox::get) {
                bytes += std::mem::size_of_val(&**lines) + std::mem::size_of::<Box<[Line]>>();
            }
        }
        bytes
    }

    /// The counts of every shard, merged to at most `max_buckets` buckets.
    pub(crate) fn snapshot(&self) -> NativeSnapshot {
        let layout = self.layout;
        let mut zero_count = 0;
        // Octave `o`'s last counter is octave `o + 1`'s first bucket: indexed by bucket.
        let per_octave = layout.slots - 1;
        let mut counts = vec![0u64; OCTAVES * per_octave + 1];
        for directory in self.chunks.iter().filter_map(OnceCell::get) {
            for (entry, lines) in directory.0.iter().enumerate() {
                let Some(lines) = lines.get() else { continue };
                for shard in lines.chunks_exact(layout.lines_per_block) {
                    let counters = shard.iter().flat_map(|line| &line.0).take(layout.slots);
                    for (slot, counter) in counters.enumerate() {
                        let count = counter.load(Ordering::Acquire);
                        if entry == ZERO {
                            zero_count += count;
                        } else {
                            counts[entry * per_octave + slot] += count;
                        }
                    }
                }
            }
        }
        let first_index = layout.index(0, 0);
        let buckets = counts
            .into_iter()
            .enumerate()
            .filter(|&(_, count)| count > 0)
            .map(|(position, count)| (first_index + position as i32, count))
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
    use super::{Layout, NativeBuckets, NativeHistograms, ZERO, reduce};
    use crate::writers;

    /// The bucket of `seconds` at `schema`, from its definition: the smallest `i` with
    /// `seconds <= 2^(i / 2^schema)`.
    fn by_definition(seconds: f64, schema: i32) -> i32 {
        (seconds.log2() * f64::from(schema).exp2()).ceil() as i32
    }

    fn layout(schema: i32, seconds_per_tick: f64) -> &'static Layout {
        Box::leak(Box::new(Layout::new(
            &NativeHistograms::new().schema(schema),
            seconds_per_tick,
        )))
    }

    #[test]
    fn every_schema_puts_values_in_the_bucket_the_definition_gives() {
        for schema in 0..=8 {
            let layout = layout(schema, 1e-9);
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
                    let (octave, slot) = layout.locate(ticks);
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
        // 2^-30 s per tick: 2^k ticks is exactly 2^(k-30) s, the upper bound of bucket
        // (k - 30) · 2^schema.
        let layout = layout(3, (-30f64).exp2());
        // Up to 2^52: past 2^53, `ticks as f64` no longer tells 2^k + 1 from 2^k (2^53 ticks
        // are 35 days at 3 GHz).
        for k in 0..=52 {
            let (octave, slot) = layout.locate(1 << k);
            assert_eq!(layout.index(octave, slot), (k - 30) * 8, "2^{k} ticks");
            let (octave, slot) = layout.locate((1 << k) + 1);
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
            1e-9,
        )));
        assert_eq!(layout.locate(0), (ZERO, 0));
        assert_eq!(layout.locate(999), (ZERO, 0));
        assert_ne!(layout.locate(1_001).0, ZERO);
    }

    #[test]
    fn counts_are_exact_and_merged_across_shards() {
        let buckets = NativeBuckets::new(layout(3, 1e-9));
        let writer = writers::current();
        for _ in 0..5 {
            buckets.record(writer, 40_000_000); // 40 ms
        }
        buckets.record(writer, 0);
        let handle = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let writer = writers::current();
                    for _ in 0..3 {
                        buckets.record(writer, 40_000_000);
                    }
                    buckets.record(writer, 1_000_000_000);
                })
                .join()
        });
        handle.unwrap();
        let snapshot = buckets.snapshot();
        assert_eq!(snapshot.schema, 3);
        assert_eq!(snapshot.zero_count, 1);
        assert_eq!(
            snapshot.buckets,
            vec![(by_definition(0.04, 3), 8), (by_definition(1.0, 3), 1)]
        );
        assert_eq!(snapshot.count(), 10);
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
        let buckets = NativeBuckets::new(layout(3, 1e-9));
        let empty = buckets.allocated_bytes();
        let writer = writers::current();
        buckets.record(writer, 40_000_000);
        let one_octave = buckets.allocated_bytes();
        for _ in 0..1000 {
            buckets.record(writer, 41_000_000);
        }
        assert_eq!(
            buckets.allocated_bytes(),
            one_octave,
            "same octave, no growth"
        );
        buckets.record(writer, 100_000_000);
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
