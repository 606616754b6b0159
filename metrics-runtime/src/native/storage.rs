//! A series' native counts: sparse by octave, one shard per writer, and the positions a
//! shard's thread defers and counts in batches.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use once_cell::sync::OnceCell;

use super::layout::Layout;
use crate::writers::{self, COUNTERS_PER_LINE, Line, Writer, zeroed};

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
pub(super) struct Directory(pub(super) Box<[OnceCell<Box<[Line]>>]>);

/// Observations a shard's thread defers (see `NativeBuckets::record`): two lines, less the
/// count of them.
pub(super) const DEFERRED: usize = 2 * COUNTERS_PER_LINE - 1;

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
pub(super) fn deferred_slot(lines: &DeferredLines, index: usize) -> &AtomicU64 {
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
    pub(super) layout: &'static Layout,
    /// One directory per chunk of shards (see `writers::chunk_sizes`).
    pub(super) chunks: Box<[OnceCell<Directory>]>,
    /// The largest count a scrape reported per bucket position: a scrape that reads a deferred
    /// observation and the next one, racing its move into a bucket, may count it in neither, and
    /// reports what the first one did instead (see `record`).
    pub(super) reported: Mutex<BTreeMap<usize, u64>>,
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
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::Ordering;

    use super::super::tests::{by_definition, deferred_line, layout};
    use super::NativeBuckets;
    use crate::writers;

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
}
