//! What macro expansions name. Not public API: may change in any release.

use std::cell::Cell;
use std::convert::Infallible;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::task::Poll;

pub use crate::auth::Authenticate;
pub use crate::catalog::Registration;
pub use crate::objective::Objective;
use crate::outcome::CountsAsError;
pub use crate::site::{CallSite, Guard, Instrumented, no_self_type};
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

/// `(&&&Classify(&output)).split()` applies the rule of [`CountsAsError`] to the output's type
/// where the attribute expands (so aliases work): method resolution tries, in order,
/// `WholeOutcome` (the type implements `CountsAsError`: decided), `ResultOutcome` (a `Result`:
/// its `Ok` or `Err` value, for the expansion to judge with `Judge`, which sees the concrete
/// `T` and `E` there) and `AnyOutcome` (anything else: not an error). No closures: a handler
/// costs the compiler one `match`, not two closure types.
pub struct Classify<'a, T: ?Sized>(pub &'a T);

/// What classifying an output left to decide.
pub enum Split<'a, O: ?Sized, E: ?Sized> {
    Decided(bool),
    Ok(&'a O),
    Err(&'a E),
}

pub trait WholeOutcome<'a> {
    type Ok: ?Sized + 'a;
    type Err: ?Sized + 'a;
    fn split(&self) -> Split<'a, Self::Ok, Self::Err>;
}

impl<'a, T: CountsAsError + ?Sized> WholeOutcome<'a> for &&Classify<'a, T> {
    type Ok = Infallible;
    type Err = Infallible;
    #[inline(always)]
    fn split(&self) -> Split<'a, Infallible, Infallible> {
        Split::Decided(self.0.counts_as_error())
    }
}

pub trait ResultOutcome<'a> {
    type Ok: ?Sized + 'a;
    type Err: ?Sized + 'a;
    fn split(&self) -> Split<'a, Self::Ok, Self::Err>;
}

impl<'a, T, E> ResultOutcome<'a> for &Classify<'a, Result<T, E>> {
    type Ok = T;
    type Err = E;
    #[inline(always)]
    fn split(&self) -> Split<'a, T, E> {
        match self.0 {
            Ok(value) => Split::Ok(value),
            Err(error) => Split::Err(error),
        }
    }
}

pub trait AnyOutcome<'a> {
    type Ok: ?Sized + 'a;
    type Err: ?Sized + 'a;
    fn split(&self) -> Split<'a, Self::Ok, Self::Err>;
}

impl<'a, T: ?Sized> AnyOutcome<'a> for Classify<'a, T> {
    type Ok = Infallible;
    type Err = Infallible;
    #[inline(always)]
    fn split(&self) -> Split<'a, Infallible, Infallible> {
        Split::Decided(false)
    }
}

/// `(&&Judge(value)).counts_as_error_or(default)`: the value's own answer where its type
/// implements [`CountsAsError`], else `default`.
pub struct Judge<'a, T: ?Sized>(pub &'a T);

pub trait OwnVerdict {
    fn counts_as_error_or(&self, default: bool) -> bool;
}

impl<T: CountsAsError + ?Sized> OwnVerdict for &Judge<'_, T> {
    #[inline(always)]
    fn counts_as_error_or(&self, _: bool) -> bool {
        self.0.counts_as_error()
    }
}

pub trait DefaultVerdict {
    fn counts_as_error_or(&self, default: bool) -> bool;
}

impl<T: ?Sized> DefaultVerdict for Judge<'_, T> {
    #[inline(always)]
    fn counts_as_error_or(&self, default: bool) -> bool {
        default
    }
}

/// `(&Reject::<R, _>::new(rejection)).reject()` is `Err(rejection.into())` when the handler's
/// output `R` is a `Result` (also behind an alias such as `ApiResult<T>`), else
/// `rejection.into()`: the same kind of probe as `Classify`, on the output type instead of a
/// value.
pub struct Reject<R, J> {
    rejection: Cell<Option<J>>,
    output: PhantomData<fn() -> R>,
}

impl<R, J> Reject<R, J> {
    pub fn new(rejection: J) -> Self {
        Reject {
            rejection: Cell::new(Some(rejection)),
            output: PhantomData,
        }
    }

    fn take(&self) -> J {
        // Generated code calls `reject` once, on a fresh value.
        self.rejection
            .take()
            .unwrap_or_else(|| unreachable!("a rejection is converted once"))
    }
}

pub trait RejectIntoResult<R> {
    fn reject(&self) -> R;
}

impl<T, E, J: Into<E>> RejectIntoResult<Result<T, E>> for Reject<Result<T, E>, J> {
    fn reject(&self) -> Result<T, E> {
        Err(self.take().into())
    }
}

pub trait RejectInto<R> {
    fn reject(&self) -> R;
}

impl<R, J: Into<R>> RejectInto<R> for &Reject<R, J> {
    fn reject(&self) -> R {
        self.take().into()
    }
}

/// `expr?` in a `#[track_caller]` body, which runs inline rather than in a closure (a closure
/// would report its own location as the caller's): the expansion rewrites it to a `match` on
/// `Branch::branch(expr)` that breaks out of the body with `FromResidual::from_residual`, as
/// the unstable `Try` trait would.
pub trait Branch {
    type Output;
    type Residual;
    fn branch(self) -> ControlFlow<Self::Residual, Self::Output>;
}

impl<T, E> Branch for Result<T, E> {
    type Output = T;
    type Residual = Result<Infallible, E>;

    #[inline(always)]
    fn branch(self) -> ControlFlow<Self::Residual, T> {
        match self {
            Ok(value) => ControlFlow::Continue(value),
            Err(error) => ControlFlow::Break(Err(error)),
        }
    }
}

impl<T> Branch for Option<T> {
    type Output = T;
    type Residual = Option<Infallible>;

    #[inline(always)]
    fn branch(self) -> ControlFlow<Self::Residual, T> {
        match self {
            Some(value) => ControlFlow::Continue(value),
            None => ControlFlow::Break(None),
        }
    }
}

impl<T, E> Branch for Poll<Result<T, E>> {
    type Output = Poll<T>;
    type Residual = Result<Infallible, E>;

    #[inline(always)]
    fn branch(self) -> ControlFlow<Self::Residual, Poll<T>> {
        match self {
            Poll::Ready(Ok(value)) => ControlFlow::Continue(Poll::Ready(value)),
            Poll::Ready(Err(error)) => ControlFlow::Break(Err(error)),
            Poll::Pending => ControlFlow::Continue(Poll::Pending),
        }
    }
}

impl<T, E> Branch for Poll<Option<Result<T, E>>> {
    type Output = Poll<Option<T>>;
    type Residual = Result<Infallible, E>;

    #[inline(always)]
    fn branch(self) -> ControlFlow<Self::Residual, Poll<Option<T>>> {
        match self {
            Poll::Ready(Some(Ok(value))) => ControlFlow::Continue(Poll::Ready(Some(value))),
            Poll::Ready(Some(Err(error))) => ControlFlow::Break(Err(error)),
            Poll::Ready(None) => ControlFlow::Continue(Poll::Ready(None)),
            Poll::Pending => ControlFlow::Continue(Poll::Pending),
        }
    }
}

pub trait FromResidual<R> {
    fn from_residual(residual: R) -> Self;
}

impl<T, E, F: From<E>> FromResidual<Result<Infallible, E>> for Result<T, F> {
    #[inline(always)]
    fn from_residual(residual: Result<Infallible, E>) -> Self {
        match residual {
            Err(error) => Err(From::from(error)),
            Ok(never) => match never {},
        }
    }
}

impl<T> FromResidual<Option<Infallible>> for Option<T> {
    #[inline(always)]
    fn from_residual(_: Option<Infallible>) -> Self {
        None
    }
}

impl<T, E, F: From<E>> FromResidual<Result<Infallible, E>> for Poll<Result<T, F>> {
    #[inline(always)]
    fn from_residual(residual: Result<Infallible, E>) -> Self {
        Poll::Ready(Result::from_residual(residual))
    }
}

impl<T, E, F: From<E>> FromResidual<Result<Infallible, E>> for Poll<Option<Result<T, F>>> {
    #[inline(always)]
    fn from_residual(residual: Result<Infallible, E>) -> Self {
        Poll::Ready(Some(Result::from_residual(residual)))
    }
}

/// Bytes the native histogram buckets of every series hold now: for the memory figures of
/// the `native_memory` benchmark.
#[cfg(feature = "native-histograms")]
pub fn native_histogram_bytes() -> usize {
    crate::registry::runtime().native_bytes()
}
