//! What macro expansions name. Not public API: may change in any release. This file holds
//! the re-exports and the small helpers an expansion calls; the compile-time probes are in
//! `classify` (is this output an error?), `reject` (a rejection as the output type) and
//! `track_caller` (`?` in a body that runs inline).

mod classify;
mod reject;
mod track_caller;

pub use classify::{
    AnyOutcome, Classify, DefaultVerdict, Judge, OwnVerdict, ResultOutcome, Split, WholeOutcome,
};
pub use reject::{Reject, RejectInto, RejectIntoResult};
pub use track_caller::{Branch, FromResidual};

pub use crate::auth::Authenticate;
pub use crate::call::{Guard, Instrumented};
pub use crate::catalog::Registration;
pub use crate::objective::Objective;
pub use crate::site::{CallSite, no_self_type};
pub use inventory;
/// The sign `#[authenticated]` leaves on a fn when it did not recognise a
/// `#[prometheus_metrics]` below it: an attribute, which other attribute macros pass on, so that
/// a measuring attribute below can tell that it must keep the check first.
pub use metrics_macro::__authenticated_above as authenticated_above;

/// Where `#[authenticated]` wrote its check: the statement before the `if let` that checks.
/// Alone, it registers the fn in the inventory; a `#[prometheus_metrics]` expanding later
/// replaces it with its own registration. The macro's path is the marker: user code cannot
/// write it by accident.
#[macro_export]
#[doc(hidden)]
macro_rules! __handler_metrics_authenticated_check {
    ($($registration:tt)*) => { $($registration)* };
}
pub use crate::__handler_metrics_authenticated_check as authenticated_check;

/// The statement `#[prometheus_metrics]` leaves where it instruments a body; expands to nothing.
#[macro_export]
#[doc(hidden)]
macro_rules! __handler_metrics_measured_here {
    () => {};
}
pub use crate::__handler_metrics_measured_here as measured_here;

/// Runs a handler body as a closure, so `return` and `?` inside it end the body, not the
/// instrumented fn. `FnOnce` lets the body move out of, or return borrows of, what it captured.
#[inline(always)]
pub fn call_once<R>(body: impl FnOnce() -> R) -> R {
    body()
}

/// `const _: () = check_objective(&PATH);`: a bad objective is a compile error, with its
/// problem as the message.
pub const fn check_objective(objective: &Objective) {
    if let Some(problem) = objective.problem() {
        problem.fail();
    }
}

/// Which clock times calls: `tsc` or `monotonic`.
pub fn clock_source() -> &'static str {
    crate::clock::clock().source().name()
}

/// Bytes the native histogram buckets of every series hold now: for the memory figures of
/// the `native_memory` benchmark.
#[cfg(feature = "native-histograms")]
pub fn native_histogram_bytes() -> usize {
    crate::runtime::runtime().native_bytes()
}
