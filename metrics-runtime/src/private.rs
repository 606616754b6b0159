//! What macro expansions name. Not public API: may change in any release.

use std::cell::Cell;
use std::convert::Infallible;
use std::marker::PhantomData;
use std::ops::ControlFlow;

pub use crate::auth::Authenticate;
pub use crate::catalog::Registration;
pub use crate::site::{CallSite, Guard, Instrumented};
pub use inventory;

/// Runs a handler body as a closure, so `return` and `?` inside it end the body, not the
/// instrumented fn. `FnOnce` lets the body move out of, or return borrows of, what it captured.
#[inline(always)]
pub fn call_once<R>(body: impl FnOnce() -> R) -> R {
    body()
}

/// Which clock times calls: `tsc` or `monotonic`.
pub fn clock_source() -> &'static str {
    crate::clock::clock().source().name()
}

/// For free fns, which have no `Self` to name.
pub fn no_self_type() -> &'static str {
    ""
}

/// `(&Outcome(&output)).failed()` is `output.is_err()` for a `Result` and `false` for any other
/// type: method resolution tries `ResultOutcome` (by value) before `AnyOutcome` (by reference).
pub struct Outcome<'a, T: ?Sized>(pub &'a T);

pub trait ResultOutcome {
    fn failed(&self) -> bool;
}

impl<T, E> ResultOutcome for Outcome<'_, Result<T, E>> {
    #[inline(always)]
    fn failed(&self) -> bool {
        self.0.is_err()
    }
}

pub trait AnyOutcome {
    fn failed(&self) -> bool;
}

impl<T: ?Sized> AnyOutcome for &Outcome<'_, T> {
    #[inline(always)]
    fn failed(&self) -> bool {
        false
    }
}

/// `(&Reject::<R, _>::new(rejection)).reject()` is `Err(rejection.into())` when the handler's
/// output `R` is a `Result` (also behind an alias such as `ApiResult<T>`), else
/// `rejection.into()`: the same probe as `Outcome`, on the output type instead of a value.
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
