//! What a scrape reads of a series' native counts, and the resolution it lowers them to when
//! they spread over more buckets than the cap.

use std::collections::BTreeMap;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use once_cell::sync::OnceCell;

use super::settings::MIN_SCHEMA;
use super::storage::{DEFERRED, DeferredLines, NativeBuckets, deferred_slot};

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
    use super::super::storage::NativeBuckets;
    use super::super::tests::{by_definition, deferred_line, layout};
    use super::reduce;
    use crate::writers;

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
}
