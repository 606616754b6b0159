//! Native (sparse, exponential) histogram buckets of one series, one file a step: `settings`
//! (what the user chooses, and its checks), `layout` (which bucket an observation falls in),
//! `storage` (the shards' counts and the positions they defer), `snapshot` (what a scrape
//! reports, merged down to the cap).
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

mod layout;
mod settings;
mod snapshot;
mod storage;

pub(crate) use layout::Layout;
pub use settings::NativeHistograms;
pub(crate) use snapshot::NativeSnapshot;
pub(crate) use storage::{DeferredLines, NativeBuckets};

#[cfg(test)]
mod tests {
    use super::{DeferredLines, Layout, NativeHistograms};
    use crate::writers::{self, Line};

    /// The bucket of `seconds` at `schema`, from its definition: the smallest `i` with
    /// `seconds <= 2^(i / 2^schema)`.
    pub(super) fn by_definition(seconds: f64, schema: i32) -> i32 {
        (seconds.log2() * f64::from(schema).exp2()).ceil() as i32
    }

    /// A shard's lines of deferred observations, as a series keeps them.
    pub(super) fn deferred_line() -> &'static DeferredLines {
        let lines: &'static [Line] = Box::leak(writers::zeroed(2));
        lines.try_into().expect("two lines")
    }

    pub(super) fn layout(schema: i32, ticks_per_second: f64) -> &'static Layout {
        Box::leak(Box::new(Layout::new(
            &NativeHistograms::new().schema(schema),
            ticks_per_second,
        )))
    }
}
