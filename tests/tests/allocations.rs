//! After its first call, an instrumented call allocates nothing: proven with a counting global
//! allocator (per thread, so the test harness's own threads do not interfere).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use metrics_runtime::{Authenticate, authenticated, prometheus_metrics};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; only counts calls on the calling thread.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations_during(work: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    work();
    ALLOCATIONS.with(Cell::get) - before
}

fn poll_ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future must complete at once"),
    }
}

struct Token(bool);

impl Authenticate for Token {
    type Rejection = u8;
    fn authenticate(&self) -> Result<(), u8> {
        if self.0 { Ok(()) } else { Err(0) }
    }
}

#[authenticated]
#[prometheus_metrics]
fn sync_handler(token: &Token, x: u64) -> Result<u64, u8> {
    let _ = token;
    if x % 2 == 0 { Ok(x) } else { Err(1) }
}

#[authenticated]
#[prometheus_metrics]
async fn async_handler(token: &Token, x: u64) -> Result<u64, u8> {
    let _ = token;
    Ok(x)
}

struct FilesHandler;

impl FilesHandler {
    #[prometheus_metrics]
    fn get(&self, x: u64) -> u64 {
        x + 1
    }
}

#[test]
fn instrumented_calls_allocate_nothing_after_the_first() {
    let token = Token(true);
    // First calls resolve each call site's series (and start the runtime): they may allocate.
    let _ = sync_handler(&token, 0);
    let _ = poll_ready(async_handler(&token, 0));
    let _ = FilesHandler.get(0);
    metrics_runtime::gather();

    let counted = allocations_during(|| {
        for x in 0..10_000 {
            let _ = sync_handler(&token, x);
            let _ = poll_ready(async_handler(&token, x));
            let _ = FilesHandler.get(x);
            let _ = sync_handler(&Token(false), x);
        }
    });
    assert_eq!(counted, 0, "allocations in 40,000 instrumented calls");

    // The allocator does count: a scrape allocates.
    assert!(allocations_during(|| drop(metrics_runtime::gather())) > 0);
}
