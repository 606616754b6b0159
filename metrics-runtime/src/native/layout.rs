//! The bucket of a latency: the table a runtime's series share, and the lookup of the hot path
//! (see the module above for how it works).

use super::settings::{MAX_SCHEMA, NativeHistograms};
use crate::writers::COUNTERS_PER_LINE;

/// Cells of the bucket table at the highest schema: `2^(8 + 1)`.
const MAX_CELLS: usize = 2 << MAX_SCHEMA;

/// Where observations go, the same for every series of a runtime.
pub(crate) struct Layout {
    /// The schema asked for; storage is at `max(schema, 0)`.
    pub(super) schema: i32,
    pub(super) stored_schema: u32,
    pub(super) zero_threshold: f64,
    /// Latencies of at most this many ticks go to the zero bucket.
    zero_ticks: u64,
    pub(super) max_buckets: usize,
    /// `63 - stored_schema`: the shift that leaves a normalised count's cell.
    cell_shift: u32,
    /// Per cell of the normalised tick count: the position (see `position_plus_one`) of the
    /// cell's start in octave 0 of the ticks, plus one, as deferred slots hold it; and the bound
    /// inside the cell, normalised (`u64::MAX` if none).
    position_plus_one_in_octave_zero: [u64; MAX_CELLS],
    bound_inside: [u64; MAX_CELLS],
    /// The bucket of one tick: the first index a series stores.
    pub(super) first_index: i32,
    /// Octaves from one tick to 2^64 ticks.
    pub(super) octaves: usize,
    pub(super) lines_per_block: usize,
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
    pub(super) fn position_plus_one(&self, ticks: u64) -> u64 {
        if ticks <= self.zero_ticks {
            return self.zero_position() as u64 + 1;
        }
        self.position_plus_one_outside_zero(ticks)
    }

    /// The position itself.
    #[cfg(test)]
    pub(super) fn locate(&self, ticks: u64) -> usize {
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

    /// The schema asked for (a scrape may report a lower one, see `snapshot`).
    pub(crate) fn schema(&self) -> i32 {
        self.schema
    }

    /// The directory entry and the counter in it of a position (see `position_plus_one`).
    #[inline(always)]
    pub(super) fn entry_and_slot(&self, position: usize) -> (usize, usize) {
        (
            position >> self.stored_schema,
            position & ((1 << self.stored_schema) - 1),
        )
    }

    /// The bucket index at the stored schema of counter `slot` of directory entry `octave`.
    #[cfg(test)]
    pub(super) fn index(&self, octave: usize, slot: usize) -> i32 {
        self.first_index + ((octave << self.stored_schema) + slot) as i32
    }

    /// The directory entry of the zero bucket, after the octaves.
    #[inline]
    pub(super) fn zero_entry(&self) -> usize {
        self.octaves
    }

    /// The zero bucket's counter, as a position.
    #[inline]
    pub(super) fn zero_position(&self) -> usize {
        self.zero_entry() << self.stored_schema
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{by_definition, layout};
    use super::{Layout, NativeHistograms};

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
}
