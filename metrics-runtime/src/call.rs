//! One call of an instrumented fn: what generated code runs. Its first call at a call site
//! resolves the series its labels name (through the runtime); later calls go straight to it.
//! The guard records the end of the call on every way out; `Instrumented` times a future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use once_cell::sync::OnceCell;

use crate::runtime;
use crate::series::{Series, WriterShard};
use crate::site::{CallSite, Resolved, SelfType, no_self_type, short_type_name};
use crate::writers;

impl CallSite {
    /// Starts timing a call that may end on another thread (an `async fn`, or the future a fn
    /// returns). `self_type` names `Self` for methods.
    #[inline(always)]
    pub fn enter(&'static self, self_type: SelfType) -> Guard {
        self.start(self_type, false)
    }

    /// Starts timing a call of a sync fn, which ends on the thread it started on.
    #[inline(always)]
    pub fn enter_sync(&'static self, self_type: SelfType) -> Guard {
        self.start(self_type, true)
    }

    /// Counts a call that `#[authenticated]` rejected before the body ran.
    #[inline(never)]
    pub fn reject(&'static self, self_type: SelfType) {
        #[cfg(any(feature = "tower", feature = "actix-web"))]
        crate::edge::mark_measured();
        self.series(self_type).record_rejection();
    }

    #[inline(always)]
    fn series(&'static self, self_type: SelfType) -> &'static Series {
        match self.resolved.get() {
            Some(first) if std::ptr::fn_addr_eq(first.self_type, self_type) => first.series,
            _ => self.resolve(self_type),
        }
    }

    #[inline(always)]
    fn start(&'static self, self_type: SelfType, ends_here: bool) -> Guard {
        let series = self.series(self_type);
        let shard = series.writer_shard(writers::current());
        series.record_start(shard);
        Guard {
            series,
            start: series.clock.now(),
            end_shard: ends_here.then_some(shard),
            unwinding_is_error: true,
        }
    }

    pub(crate) fn create_series_if_label_known(&'static self) {
        if !self.qualify_with_self_type {
            self.resolve(no_self_type);
        }
    }

    /// The series for `self_type`, found in the list or added to it. The same type can come
    /// with more than one fn pointer (one per codegen unit): each gets an entry, and all of
    /// them name the one series of the label.
    #[cold]
    #[inline(never)]
    fn resolve(&'static self, self_type: SelfType) -> &'static Series {
        let mut cell = &self.resolved;
        loop {
            match cell.get() {
                Some(resolved) if std::ptr::fn_addr_eq(resolved.self_type, self_type) => {
                    return resolved.series;
                }
                Some(resolved) => cell = &resolved.next,
                None => {
                    let handler = if self.qualify_with_self_type {
                        format!("{}::{}", short_type_name(self_type()), self.handler)
                    } else {
                        self.handler.to_owned()
                    };
                    let series = runtime::runtime().series(handler, self.module);
                    let entry = Resolved {
                        self_type,
                        series,
                        next: OnceCell::new(),
                    };
                    // Another thread may fill this cell first: then go on down the list.
                    if cell.set(Box::leak(Box::new(entry))).is_ok() {
                        return series;
                    }
                }
            }
        }
    }
}

/// Records the end of one call: through `finish` when the body returns, or when dropped
/// unfinished (a panic unwinding through a sync body, a cancelled future).
#[doc(hidden)]
#[must_use]
pub struct Guard {
    series: &'static Series,
    /// Clock ticks; scaled to seconds only when a scrape reads the sum.
    start: u64,
    /// The shard to record the end in, when the call cannot change threads.
    end_shard: Option<WriterShard<'static>>,
    /// Whether a drop while the thread unwinds means the body panicked. True while the body
    /// runs on this thread's stack; false once a future holds the guard, where the future's
    /// `poll` tells a panic of its own (see `Instrumented`) from a drop during an unrelated
    /// unwind (a `join!` whose other branch panicked).
    unwinding_is_error: bool,
}

impl Guard {
    /// The body returned; `failed` says whether its output counts as an error.
    #[inline(always)]
    pub fn finish(self, failed: bool) {
        #[cfg(any(feature = "tower", feature = "actix-web"))]
        crate::edge::mark_measured();
        // Recorded here rather than by `drop`, so the common path stays inline.
        std::mem::ManuallyDrop::new(self).record_end(failed);
    }

    /// The body returned a future, which now holds the guard: dropping it unpolled while the
    /// thread unwinds for another reason cancels the call, it does not fail it.
    #[inline(always)]
    pub fn held_by_future(mut self) -> Guard {
        self.unwinding_is_error = false;
        self
    }

    #[inline(always)]
    fn record_end(&self, failed: bool) {
        let now = self.series.clock.now();
        // A TSC that differs across sockets could read backwards: that is 0, not 584 years.
        let elapsed = now.saturating_sub(self.start);
        // Otherwise the current thread's: an async call may end on another thread.
        let shard = self
            .end_shard
            .unwrap_or_else(|| self.series.writer_shard(writers::current()));
        self.series.record_end(shard, now, elapsed, failed);
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // A future dropped unfinished under an `EdgeLayer`: the response decides.
        #[cfg(any(feature = "tower", feature = "actix-web"))]
        if !self.unwinding_is_error && crate::edge::park(self.series, self.start) {
            return;
        }
        self.record_end(self.unwinding_is_error && std::thread::panicking());
    }
}

/// A future timed by its guard: it completes with the guard, for the caller to `finish` with
/// the output, and records an error itself if polling the future panics.
#[doc(hidden)]
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<F> {
    future: F,
    guard: Option<Guard>,
}

impl<F: Future> Instrumented<F> {
    /// `R` is the future's output: naming it lets the compiler infer an `async` block's output
    /// type (and the conversions of its `?`) from the fn's return type.
    #[inline(always)]
    pub fn new<R>(mut guard: Guard, future: F) -> Self
    where
        F: Future<Output = R>,
    {
        guard.unwinding_is_error = false;
        Instrumented {
            future,
            guard: Some(guard),
        }
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = (F::Output, Guard);

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        /// Records the error when dropped, which only unwinding out of `poll` does.
        struct PanicInPoll<'a>(&'a mut Option<Guard>);
        impl Drop for PanicInPoll<'_> {
            fn drop(&mut self) {
                if let Some(guard) = self.0.take() {
                    guard.finish(true);
                }
            }
        }

        // SAFETY: `future` is pinned with `self`: it is never moved out of `self` or handed out
        // unpinned, and `Instrumented` has no `Drop` of its own. `guard` is not structurally
        // pinned (a `Guard` is `Unpin`).
        let this = unsafe { self.get_unchecked_mut() };
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        let panic_in_poll = PanicInPoll(&mut this.guard);
        let polled = future.poll(cx);
        std::mem::forget(panic_in_poll);
        match polled {
            Poll::Ready(output) => {
                let guard = this.guard.take();
                Poll::Ready((
                    output,
                    guard.unwrap_or_else(|| unreachable!("polled once more after it completed")),
                ))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
