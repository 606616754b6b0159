//! The server's edge (feature `tower`): [`EdgeLayer`] sees every response, so it can judge the
//! handler calls a response cut short and count the answers no handler measured.
//!
//! No lock or map on a measured request: around each poll of the service's future, a
//! thread-local points at a small [`Slot`] inside the layer's own future. An instrumented
//! future dropped unfinished while a slot is current parks its end there instead of recording
//! a cancellation; the layer records it once the response's status is known. Any measured call
//! marks the slot, so the layer knows whether the answer is a handler's.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use once_cell::sync::OnceCell;
use prometheus::{IntCounterVec, Opts};

use crate::runtime;
use crate::series::Series;
use crate::writers;

#[cfg(feature = "actix-web")]
mod actix;
#[cfg(feature = "tower")]
mod tower;

#[cfg(feature = "actix-web")]
pub use actix::{EdgeMiddleware, EdgeMiddlewareFuture, EdgeMiddlewareService};
#[cfg(feature = "tower")]
pub use tower::{Edge, EdgeFuture, EdgeLayer};

/// `route` of a response with no matched route template: the fallback's 404 and the like.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// `method` of a request whose method is not one of HTTP's nine (OpenTelemetry's `_OTHER`).
pub const OTHER_METHOD: &str = "_OTHER";

/// How many cut-short calls one response can judge. Past them (deep nesting of instrumented
/// futures), the innermost parked call is recorded as a cancellation, as without the layer, to
/// make room: calls are dropped inside out, and the outermost, the handler, is the one its
/// objective reads.
const PARKED: usize = 4;

/// A call dropped unfinished, waiting for the response's verdict.
#[derive(Clone, Copy)]
struct Parked {
    series: &'static Series,
    /// Clock ticks at the drop: the latency is the call's, not the response's.
    now: u64,
    elapsed: u64,
}

/// What the instrumented calls of one request leave for the layer.
#[derive(Default)]
struct Slot {
    measured: Cell<bool>,
    /// How many calls parked here, in drop order: the next goes to `parked[count % PARKED]`.
    /// A response that cut nothing short (nearly all) reads only this to judge.
    count: Cell<usize>,
    parked: [Cell<Option<Parked>>; PARKED],
}

impl Slot {
    fn judge(&self, failed: bool) {
        let count = self.count.replace(0);
        for parked in &self.parked[..count.min(PARKED)] {
            if let Some(parked) = parked.take() {
                parked.end(failed);
            }
        }
    }

    /// Parks `call`; a full slot first records its innermost call as a cancellation.
    fn park(&self, call: Parked) {
        let count = self.count.get();
        self.count.set(count + 1);
        if let Some(innermost) = self.parked[count % PARKED].replace(Some(call)) {
            innermost.end(false);
        }
    }
}

impl Parked {
    fn end(self, failed: bool) {
        let Parked {
            series,
            now,
            elapsed,
        } = self;
        let shard = series.writer_shard(writers::current());
        series.record_end(shard, now, elapsed, failed);
        if failed {
            count_timeout(series);
        }
    }
}

thread_local! {
    static CURRENT: Cell<*const Slot> = const { Cell::new(std::ptr::null()) };
}

/// A measured call ended (returned, or was rejected by `#[authenticated]`) on this thread.
#[inline(always)]
pub(crate) fn mark_measured() {
    CURRENT.with(|current| {
        let slot = current.get();
        // SAFETY: non-null only while `EdgeFuture::poll` runs below on this thread's stack,
        // with the slot it points at borrowed for that time (see `Current`).
        if let Some(slot) = unsafe { slot.as_ref() } {
            slot.measured.set(true);
        }
    });
}

/// An instrumented future dropped unfinished: parks its end in the current slot, if there is
/// one, and says whether it did (else the caller records a cancellation).
#[inline]
pub(crate) fn park(series: &'static Series, start: u64) -> bool {
    CURRENT.with(|current| {
        // SAFETY: as in `mark_measured`.
        let Some(slot) = (unsafe { current.get().as_ref() }) else {
            return false;
        };
        let now = series.clock.now();
        slot.park(Parked {
            series,
            now,
            elapsed: now.saturating_sub(start),
        });
        slot.measured.set(true);
        true
    })
}

/// Makes a slot current for one poll; puts the previous one back on drop, unwinding included.
struct Current(*const Slot);

impl Current {
    fn enter(slot: &Slot) -> Current {
        Current(CURRENT.with(|current| current.replace(slot)))
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.0));
    }
}

/// The counters of the edge, in the runtime's registry.
struct Families {
    responses: IntCounterVec,
    timeouts: IntCounterVec,
}

static FAMILIES: OnceCell<Families> = OnceCell::new();

/// Whether an edge layer or middleware was made, so its families exist.
#[cfg(feature = "dashboard")]
pub(crate) fn in_use() -> bool {
    FAMILIES.get().is_some()
}

fn families() -> &'static Families {
    FAMILIES.get_or_init(|| {
        let runtime = runtime::runtime();
        let namespace = runtime.namespace();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let counter =
                IntCounterVec::new(Opts::new(format!("{namespace}_{name}"), help), labels)
                    .expect("the edge's names and labels are valid");
            // As for the handler families: a clash is reported once, and the counters count
            // unexported rather than taking the server down.
            if let Err(clash) = runtime.registry().register(Box::new(counter.clone())) {
                eprintln!("metrics_runtime: edge metrics {name} are not exported: {clash}");
            }
            counter
        };
        Families {
            responses: counter(
                "edge_responses_total",
                "Responses that no instrumented handler measured (routing, extractor and \
                 middleware answers), by route template, method and status code.",
                &["route", "method", "code"],
            ),
            timeouts: counter(
                "request_timeouts_total",
                "Calls cut short by the server's own answer (a timeout's 408/5xx): each is \
                 also in handler_request_errors_total.",
                &["handler", "module"],
            ),
        }
    })
}

/// The method's label: one of HTTP's nine, else [`OTHER_METHOD`]. Never request data.
pub(crate) fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => OTHER_METHOD,
    }
}

/// Whether a response cuts its handler's call short as an error: a 5xx, or 408, which a
/// server-side timeout (tower-http's `TimeoutLayer`) answers.
fn fails_cut_short_calls(status: u16) -> bool {
    status >= 500 || status == 408
}

/// `route` as a label that lives as long as the program: a route template of the router (never
/// request data), so the set stays as small as the router. Locks: called only where an edge
/// sees its first template, and where a thread counts an edge answer it holds no counter for.
pub(crate) fn intern_route(route: &str) -> &'static str {
    static ROUTES: std::sync::Mutex<std::collections::BTreeSet<&'static str>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut routes = ROUTES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(interned) = routes.get(route) {
        return interned;
    }
    let interned: &'static str = Box::leak(route.into());
    routes.insert(interned);
    interned
}

/// How many edge counters of a family a thread keeps at hand: past them, a count pays the
/// registry's lookup (a read lock and a hash).
const THREAD_COUNTERS: usize = 32;

/// The counters of one family a thread resolved, each with its labels' key: a 404 storm, or an
/// outage's timeouts, take no lock.
struct Held<K>(std::cell::RefCell<Vec<(K, prometheus::IntCounter)>>);

impl<K> Held<K> {
    const fn new() -> Self {
        Held(std::cell::RefCell::new(Vec::new()))
    }
}

/// Adds one to the counter `is` finds among the thread's `held` ones, else to the one `resolve`
/// gives (its key and counter), which the thread then keeps if it has room.
fn count_held<K: 'static>(
    held: &'static std::thread::LocalKey<Held<K>>,
    is: impl Fn(&K) -> bool,
    resolve: impl FnOnce() -> (K, prometheus::IntCounter),
) {
    let mut resolve = Some(resolve);
    let counted = held.try_with(|held| {
        let mut held = held.0.borrow_mut();
        if let Some((_, counter)) = held.iter().find(|(key, _)| is(key)) {
            counter.inc();
            return;
        }
        let (key, counter) = (resolve.take().expect("resolved once"))();
        counter.inc();
        if held.len() < THREAD_COUNTERS {
            held.push((key, counter));
        }
    });
    // The thread is exiting: its counters are gone.
    if counted.is_err() {
        (resolve.take().expect("not resolved yet"))().1.inc();
    }
}

/// The key of an edge answer's counter: route, method, status (`None`: no response).
type ResponseKey = (&'static str, &'static str, Option<u16>);

thread_local! {
    static HELD_RESPONSES: Held<ResponseKey> = const { Held::new() };
    static HELD_TIMEOUTS: Held<*const Series> = const { Held::new() };
}

/// Counts a response that no instrumented fn measured, by its `status` (`None`: the service
/// failed without one, `code="error"`).
pub(crate) fn count_response(route: &str, method: &'static str, status: Option<u16>) {
    count_held(
        &HELD_RESPONSES,
        |&(r, m, s)| s == status && m == method && r == route,
        || {
            let key = (intern_route(route), method, status);
            (key, resolve_response(route, method, status))
        },
    );
}

/// Counts a call of `series` that the server's answer cut short.
fn count_timeout(series: &'static Series) {
    count_held(
        &HELD_TIMEOUTS,
        |&held| std::ptr::eq(held, series),
        || {
            let labels = [series.handler.as_str(), series.module];
            (
                series as *const Series,
                families().timeouts.with_label_values(&labels),
            )
        },
    );
}

fn resolve_response(route: &str, method: &str, status: Option<u16>) -> prometheus::IntCounter {
    let code = status.map_or_else(|| "error".to_owned(), |status| status.to_string());
    families()
        .responses
        .with_label_values(&[route, method, &code])
}

/// A service's response future and the slot its polls make current.
pub(crate) struct Edged<F> {
    inner: Option<F>,
    slot: Slot,
}

impl<F: Future> Edged<F> {
    pub(crate) fn new(inner: F) -> Self {
        Edged {
            inner: Some(inner),
            slot: Slot::default(),
        }
    }

    /// Polls the inner future with the slot current; once it is ready, drops it, still with
    /// the slot current: a timeout's future that answered still holds the handler's future it
    /// cut short.
    pub(crate) fn poll_inner(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is pinned with `self`: never moved, only dropped in place (here and
        // in `drop`). `slot` is not structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let Some(inner) = this.inner.as_mut() else {
            panic!("an edge future polled after it completed");
        };
        let _current = Current::enter(&this.slot);
        match unsafe { Pin::new_unchecked(inner) }.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(output) => {
                this.inner = None;
                Poll::Ready(output)
            }
        }
    }

    /// Judges the calls the answer cut short by its status (`None`: the service failed without
    /// one, which fails them too), and says whether an instrumented fn measured the request.
    pub(crate) fn judge(&self, status: Option<u16>) -> bool {
        self.slot.judge(status.is_none_or(fails_cut_short_calls));
        self.slot.measured.get()
    }
}

impl<F> Drop for Edged<F> {
    fn drop(&mut self) {
        // No answer (the client went away, or an outer timeout dropped this layer): what was
        // cut short is a cancellation, as without the layer. The inner future is dropped first
        // with no slot current, so its calls record their cancellations themselves.
        self.inner = None;
        self.slot.judge(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_labelled_by_http_s_nine_or_other() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("PATCH"), "PATCH");
        assert_eq!(method_label("get"), OTHER_METHOD);
        assert_eq!(method_label("BREW"), OTHER_METHOD);
        assert_eq!(method_label(""), OTHER_METHOD);
    }

    #[test]
    fn timeouts_and_server_errors_fail_what_they_cut_short() {
        for status in [408, 500, 503, 504, 599] {
            assert!(fails_cut_short_calls(status), "{status}");
        }
        for status in [200, 204, 400, 404, 413, 429, 499] {
            assert!(!fails_cut_short_calls(status), "{status}");
        }
    }

    #[test]
    fn answers_count_through_each_threads_held_counters_and_past_them() {
        let value = |route: &str, code: &str| {
            families()
                .responses
                .with_label_values(&[route, "GET", code])
                .get()
        };
        for _ in 0..3 {
            count_response("/held", "GET", Some(404));
        }
        std::thread::spawn(|| {
            count_response("/held", "GET", Some(404));
            count_response("/held", "GET", None);
        })
        .join()
        .unwrap();
        assert_eq!(value("/held", "404"), 4);
        assert_eq!(value("/held", "error"), 1);
        // More answers than a thread holds counters for: each still counted, once.
        std::thread::spawn(|| {
            for round in 0..2 {
                for code in 0..THREAD_COUNTERS as u16 + 8 {
                    count_response("/many", "GET", Some(200 + code));
                }
                let held = HELD_RESPONSES.with(|held| held.0.borrow().len());
                assert_eq!(held, THREAD_COUNTERS, "round {round}");
            }
        })
        .join()
        .unwrap();
        for code in 0..THREAD_COUNTERS as u16 + 8 {
            assert_eq!(value("/many", &(200 + code).to_string()), 2, "{code}");
        }
    }

    fn current() -> *const Slot {
        CURRENT.with(Cell::get)
    }

    #[test]
    fn nested_slots_put_the_outer_one_back_also_when_a_poll_panics() {
        let (outer, inner) = (Slot::default(), Slot::default());
        assert!(current().is_null());
        {
            let _outer = Current::enter(&outer);
            {
                let _inner = Current::enter(&inner);
                mark_measured();
                assert_eq!(current(), &inner as *const Slot);
            }
            assert_eq!(current(), &outer as *const Slot);
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _inner = Current::enter(&inner);
                panic!("a poll panicked");
            }));
            assert!(panicked.is_err());
            assert_eq!(current(), &outer as *const Slot);
        }
        assert!(current().is_null());
        assert!(inner.measured.get());
        assert!(!outer.measured.get());
        // No slot: nothing to mark, and nothing parks.
        mark_measured();
    }
}
