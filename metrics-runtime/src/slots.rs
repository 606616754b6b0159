//! Which shard of a call site the current thread writes to.
//!
//! A thread leases one of a fixed number of exclusive shard indices the first time it records a
//! call, and returns it when it exits. Holding the lease, it is the only writer of that shard in
//! every call site, so it can update counters with a plain load and store: no locked
//! read-modify-write, no cache line bouncing between cores. Threads beyond the number of leases
//! share one extra shard and update it with atomic read-modify-writes. Either way every
//! increment lands, and `gather()` sums all shards.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use once_cell::sync::Lazy;

/// Where a thread writes.
#[derive(Clone, Copy)]
pub(crate) struct Slot {
    pub(crate) shard: usize,
    exclusive: bool,
}

impl Slot {
    /// Adds `value` to `counter`, a counter of this slot's shard. `Release` publishes every
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

/// Number of shards every call site has: the exclusive ones and the shared one after them.
pub(crate) fn shard_count() -> usize {
    exclusive_count() + 1
}

/// Twice the CPUs, 4 to 64, unless `HANDLER_METRICS_SHARDS` says otherwise: a knob for
/// benchmarks and tests, which shows on few cores what many threads do on many. Read once, here.
fn exclusive_count() -> usize {
    static COUNT: Lazy<usize> = Lazy::new(|| {
        let forced = std::env::var("HANDLER_METRICS_SHARDS")
            .ok()
            .and_then(|value| value.trim().parse::<usize>().ok());
        forced.map_or_else(
            || {
                let cores = std::thread::available_parallelism().map_or(4, usize::from);
                (cores * 2).clamp(4, 64)
            },
            |count| count.clamp(1, 64),
        )
    });
    *COUNT
}

static FREE: Lazy<Mutex<Vec<usize>>> =
    Lazy::new(|| Mutex::new((0..exclusive_count()).rev().collect()));

/// `SLOT` before the thread's first recorded call.
const UNASSIGNED: usize = usize::MAX;
/// Marks an exclusive shard index in `SLOT`.
const EXCLUSIVE: usize = 1 << (usize::BITS - 1);

thread_local! {
    /// The thread's slot, encoded: read on every call, so it has no destructor and no lazy
    /// initialisation to check.
    static SLOT: Cell<usize> = const { Cell::new(UNASSIGNED) };
    /// Owns the exclusive index and gives it back when the thread exits.
    static LEASE: RefCell<Option<Lease>> = const { RefCell::new(None) };
}

/// An exclusive shard index, returned to the pool when the thread exits.
struct Lease(usize);

impl Drop for Lease {
    fn drop(&mut self) {
        // Calls recorded later in this thread's teardown go to the shared shard.
        let _ = SLOT.try_with(|slot| slot.set(exclusive_count()));
        FREE.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self.0);
    }
}

/// The current thread's slot.
#[inline(always)]
pub(crate) fn current() -> Slot {
    match SLOT.try_with(Cell::get) {
        Ok(UNASSIGNED) => assign(),
        Ok(encoded) if encoded & EXCLUSIVE != 0 => Slot {
            shard: encoded & !EXCLUSIVE,
            exclusive: true,
        },
        Ok(shared) => Slot {
            shard: shared,
            exclusive: false,
        },
        Err(_) => shared(),
    }
}

fn shared() -> Slot {
    Slot {
        shard: exclusive_count(),
        exclusive: false,
    }
}

#[cold]
#[inline(never)]
fn assign() -> Slot {
    let Some(index) = FREE.lock().unwrap_or_else(PoisonError::into_inner).pop() else {
        let _ = SLOT.try_with(|slot| slot.set(exclusive_count()));
        return shared();
    };
    let leased = LEASE.try_with(|lease| *lease.borrow_mut() = Some(Lease(index)));
    if leased.is_err() {
        // The thread is exiting: nothing would give the index back.
        FREE.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(index);
        return shared();
    }
    SLOT.with(|slot| slot.set(index | EXCLUSIVE));
    Slot {
        shard: index,
        exclusive: true,
    }
}
