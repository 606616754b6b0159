//! Which shard of a call site the current thread writes to.
//!
//! A thread leases a shard index the first time it records a call, and returns it when it exits.
//! Holding the lease, it is the only writer of that shard in every call site, so it can update
//! counters with a plain load and store: no locked read-modify-write, no cache line bouncing
//! between cores. When no returned index is free the pool hands out a new one, so every live
//! thread has a shard of its own, up to `MAX_LEASES` threads alive at once. Threads beyond that,
//! and calls recorded while a thread tears down, write to one of `STRIPES` shared shards with
//! atomic read-modify-writes. Either way every increment lands, and `gather()` sums all shards.
//!
//! Shard indices: the stripes first, then the leases. A series stores its shards in chunks
//! (`chunk_sizes`): the first, the stripes and `initial_leases()` leases, allocated with the
//! series; each later one as large as all before it, allocated by the first thread that writes to
//! one of its shards (see `series`). Free indices are handed out lowest first and the pool only
//! grows when none is free, so a series holds at most 2 × (`STRIPES` + the most leases ever out
//! at once), and never more than `STRIPES + MAX_LEASES` shards. A lease is taken at a thread's
//! first recorded call, so the leases out are the threads alive that recorded a call.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use once_cell::sync::Lazy;

/// Counters per line of a shard.
pub(crate) const COUNTERS_PER_LINE: usize = 16;

/// What shards are made of: 128 bytes, two 64-byte lines, because adjacent-line prefetching
/// pairs them on x86_64, so one thread's counters never share a line pair with another's.
/// `repr(C)`: native histograms read two adjacent lines as one array (`native::storage::deferred_slot`).
#[repr(C, align(128))]
pub(crate) struct Line(pub(crate) [AtomicU64; COUNTERS_PER_LINE]);

/// `count` lines of zeroed counters.
pub(crate) fn zeroed(count: usize) -> Box<[Line]> {
    (0..count)
        .map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0))))
        .collect()
}

/// Shared shards, for the threads that found no lease.
const STRIPES: usize = 4;
/// The most leases out at once: bounds the shards, hence the memory, of every series.
const MAX_LEASES: usize = 4096;

/// Where a thread writes: a shard, named by its chunk and its position in that chunk.
#[derive(Clone, Copy)]
pub(crate) struct Writer {
    pub(crate) chunk: u8,
    pub(crate) offset: u32,
    exclusive: bool,
}

impl Writer {
    /// Whether this thread is the only writer of its shard (it holds a lease).
    #[cfg(feature = "native-histograms")]
    #[inline(always)]
    pub(crate) fn is_exclusive(self) -> bool {
        self.exclusive
    }

    /// Adds `value` to `counter`, a counter of this writer's shard. `Release` publishes every
    /// write before it to a scrape that reads this one with `Acquire`.
    #[inline(always)]
    pub(crate) fn add(self, counter: &AtomicU64, value: u64, order: Ordering) {
        if self.exclusive {
            // The lease makes this thread the only writer, so the read cannot go stale.
            counter.store(counter.load(Ordering::Relaxed).wrapping_add(value), order);
        } else {
            counter.fetch_add(value, order);
        }
    }

    /// Adds `value` to the 128-bit counter `(high, low)`. `low` is written before the carry
    /// into `high`, so a reader that reads `high`, `low`, `high` and sees `high` unchanged can
    /// only see a value that is behind, never one ahead (see `Series::sum_ticks`).
    #[inline(always)]
    pub(crate) fn add_wide(self, high: &AtomicU64, low: &AtomicU64, value: u64) {
        let carried = if self.exclusive {
            let (sum, carried) = low.load(Ordering::Relaxed).overflowing_add(value);
            low.store(sum, Ordering::Release);
            carried
        } else {
            low.fetch_add(value, Ordering::Release)
                .checked_add(value)
                .is_none()
        };
        if carried {
            self.add(high, 1, Ordering::Release);
        }
    }
}

/// Leases the first chunk holds: twice the CPUs, 4 to 64, unless `HANDLER_METRICS_SHARDS` says
/// otherwise. That variable is a knob for benchmarks and tests (few initial leases make every
/// thread past them take the growth path); read once, here. It is no `Config` setting, which
/// could return an error: a value it cannot take is said once on standard error instead.
fn initial_leases() -> usize {
    static COUNT: Lazy<usize> = Lazy::new(|| {
        let cores = std::thread::available_parallelism().map_or(4, usize::from);
        let default = (cores * 2).clamp(4, 64);
        let Some(value) = std::env::var_os(SHARDS_VARIABLE) else {
            return default;
        };
        let value = value.to_string_lossy();
        leases_from(&value, default).unwrap_or_else(|(used, why)| {
            eprintln!("metrics_runtime: {SHARDS_VARIABLE}={value:?} {why}; using {used}");
            used
        })
    });
    *COUNT
}

const SHARDS_VARIABLE: &str = "HANDLER_METRICS_SHARDS";

/// The initial leases `HANDLER_METRICS_SHARDS=value` asks for, or the count used instead and why.
fn leases_from(value: &str, default: usize) -> Result<usize, (usize, &'static str)> {
    match value.trim().parse::<usize>() {
        Ok(count @ 1..=MAX_LEASES) => Ok(count),
        Ok(count) => Err((count.clamp(1, MAX_LEASES), "is outside 1 to 4096")),
        Err(_) => Err((
            default,
            "is not a whole number of shards; the default is twice the CPUs, 4 to 64",
        )),
    }
}

/// Shards per chunk, the same for every series.
pub(crate) fn chunk_sizes() -> &'static [usize] {
    static SIZES: Lazy<Box<[usize]>> = Lazy::new(|| sizes_for(initial_leases()).into());
    &SIZES
}

/// The first chunk holds the stripes and `initial` leases, each later one as many shards as
/// all before it (so a thread's chunk takes a few steps to find, once), the last one cut at
/// `STRIPES + MAX_LEASES`.
fn sizes_for(initial: usize) -> Vec<usize> {
    let total = STRIPES + MAX_LEASES;
    let mut sizes = vec![STRIPES + initial];
    let mut covered = sizes[0];
    while covered < total {
        let size = covered.min(total - covered);
        sizes.push(size);
        covered += size;
    }
    sizes
}

/// The chunk and the position in it of the shard `index`, with chunks of `sizes` shards.
fn locate(sizes: &[usize], index: usize) -> (u8, u32) {
    let mut first = 0;
    for (chunk, &size) in sizes.iter().enumerate() {
        if index < first + size {
            // At most `STRIPES + MAX_LEASES` shards in a dozen or so chunks: both fit.
            return (chunk as u8, (index - first) as u32);
        }
        first += size;
    }
    unreachable!("shard {index} is past the last chunk")
}

/// Leased shard indices: the free ones and the next never handed out.
struct Pool {
    free: BinaryHeap<Reverse<usize>>,
    next: usize,
    end: usize,
}

impl Pool {
    const fn new(first: usize, end: usize) -> Self {
        Pool {
            free: BinaryHeap::new(),
            next: first,
            end,
        }
    }

    /// The lowest free index, or a new one; none once `end` is reached.
    fn take(&mut self) -> Option<usize> {
        if let Some(Reverse(index)) = self.free.pop() {
            return Some(index);
        }
        (self.next < self.end).then(|| {
            self.next += 1;
            self.next - 1
        })
    }

    fn give_back(&mut self, index: usize) {
        self.free.push(Reverse(index));
    }
}

fn pool() -> MutexGuard<'static, Pool> {
    static POOL: Mutex<Pool> = Mutex::new(Pool::new(STRIPES, STRIPES + MAX_LEASES));
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

thread_local! {
    /// The thread as a writer, `None` before its first recorded call: read on every call, so it has
    /// no destructor and no lazy initialisation to check.
    static WRITER: Cell<Option<Writer>> = const { Cell::new(None) };
    /// Owns the leased index and gives it back when the thread exits.
    static LEASE: RefCell<Option<Lease>> = const { RefCell::new(None) };
}

/// A leased shard index, returned to the pool when the thread exits.
struct Lease(usize);

impl Drop for Lease {
    fn drop(&mut self) {
        // Calls recorded later in this thread's teardown go to a shared shard.
        let _ = WRITER.try_with(|writer| writer.set(Some(shared(self.0 % STRIPES))));
        pool().give_back(self.0);
    }
}

/// The current thread as a writer: its shard and whether it shares it.
#[inline(always)]
pub(crate) fn current() -> Writer {
    match WRITER.try_with(Cell::get) {
        Ok(Some(writer)) => writer,
        Ok(None) => assign(),
        Err(_) => shared(0),
    }
}

/// The shared shard `stripe`: stripes are the first shards of the first chunk.
fn shared(stripe: usize) -> Writer {
    Writer {
        chunk: 0,
        offset: stripe as u32,
        exclusive: false,
    }
}

#[cold]
#[inline(never)]
fn assign() -> Writer {
    let Some(index) = pool().take() else {
        // Spreads the threads past `MAX_LEASES` over the stripes.
        static OVERFLOWED: AtomicUsize = AtomicUsize::new(0);
        let writer = shared(OVERFLOWED.fetch_add(1, Ordering::Relaxed) % STRIPES);
        let _ = WRITER.try_with(|current| current.set(Some(writer)));
        return writer;
    };
    let leased = LEASE.try_with(|lease| *lease.borrow_mut() = Some(Lease(index)));
    if leased.is_err() {
        // The thread is exiting: nothing would give the index back.
        pool().give_back(index);
        return shared(index % STRIPES);
    }
    let (chunk, offset) = locate(chunk_sizes(), index);
    let writer = Writer {
        chunk,
        offset,
        exclusive: true,
    };
    WRITER.with(|current| current.set(Some(writer)));
    writer
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Barrier;

    use super::{MAX_LEASES, Pool, STRIPES, chunk_sizes, current, leases_from, locate, sizes_for};
    use crate::series::Series;

    /// Three times as many threads as the first chunk has shards, all alive at once: each writes
    /// to a shard of its own, most of them in chunks allocated on demand, and a scrape of the
    /// series counts every call.
    #[test]
    fn threads_past_the_first_chunk_get_shards_of_their_own_and_lose_nothing() {
        const CALLS: u64 = 10_000;
        let threads = 3 * chunk_sizes()[0];
        let series = Series::new("threads".into(), "tests", String::new(), &[0.1, 1.0], None);
        let all_leased = Barrier::new(threads);
        let writers: Vec<_> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let writer = current();
                        // Leases return at thread exit: past this point all are held at once.
                        all_leased.wait();
                        for ticks in 0..CALLS {
                            let shard = series.writer_shard(writer);
                            series.record_start(shard);
                            series.record_end(shard, ticks, ticks, ticks % 3 == 0);
                        }
                        writer
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().expect("worker"))
                .collect()
        });
        assert!(
            writers.iter().all(|writer| writer.exclusive),
            "a thread shared"
        );
        let places: HashSet<(u8, u32)> = writers.iter().map(|s| (s.chunk, s.offset)).collect();
        assert_eq!(places.len(), threads, "two threads leased one shard");
        assert!(places.iter().any(|&(chunk, _)| chunk > 0), "no growth");

        let snapshot = series.snapshot();
        let calls = threads as u64 * CALLS;
        assert_eq!(snapshot.started, calls);
        assert_eq!(snapshot.finished, calls);
        assert_eq!(snapshot.cumulative, [calls, calls]);
        assert_eq!(snapshot.errors, threads as u64 * CALLS.div_ceil(3));
        let ticks = u128::from(threads as u64) * u128::from(CALLS * (CALLS - 1) / 2);
        assert_eq!(snapshot.sum_seconds, series.clock.seconds(ticks));
    }

    #[test]
    fn shard_counts_outside_the_range_are_clamped_and_others_get_the_default() {
        assert_eq!(leases_from(" 3 ", 8), Ok(3));
        assert_eq!(leases_from("4096", 8), Ok(MAX_LEASES));
        assert_eq!(leases_from("0", 8).map_err(|(used, _)| used), Err(1));
        assert_eq!(
            leases_from("99999", 8).map_err(|(used, _)| used),
            Err(MAX_LEASES)
        );
        for value in ["abc", "-3", "", "2.5"] {
            assert_eq!(leases_from(value, 8).map_err(|(used, _)| used), Err(8));
        }
    }

    #[test]
    fn the_pool_grows_only_when_no_index_is_free_and_stops_at_its_end() {
        let mut pool = Pool::new(STRIPES, STRIPES + 6);
        let first: Vec<usize> = (0..4).filter_map(|_| pool.take()).collect();
        assert_eq!(first, [4, 5, 6, 7]);
        pool.give_back(5);
        pool.give_back(4);
        // Returned indices are reused, lowest first, before the pool grows.
        assert_eq!(pool.take(), Some(4));
        assert_eq!(pool.take(), Some(5));
        assert_eq!(pool.take(), Some(8));
        assert_eq!(pool.take(), Some(9));
        assert_eq!(pool.take(), None, "past the end: a stripe instead");
        pool.give_back(7);
        assert_eq!(pool.take(), Some(7));
    }

    #[test]
    fn chunks_double_and_every_shard_has_one_place() {
        for initial in [1, 2, 4, 64, MAX_LEASES] {
            let sizes = sizes_for(initial);
            assert_eq!(sizes[0], STRIPES + initial);
            assert_eq!(sizes.iter().sum::<usize>(), STRIPES + MAX_LEASES);
            for (chunk, &size) in sizes.iter().enumerate().skip(1) {
                let earlier: usize = sizes[..chunk].iter().sum();
                let last = chunk == sizes.len() - 1;
                assert!(size == earlier || (last && size < earlier), "{sizes:?}");
            }
            let places: HashSet<(u8, u32)> = (0..STRIPES + MAX_LEASES)
                .map(|index| locate(&sizes, index))
                .collect();
            assert_eq!(places.len(), STRIPES + MAX_LEASES);
            for (chunk, offset) in places {
                assert!((offset as usize) < sizes[usize::from(chunk)]);
            }
        }
    }
}
