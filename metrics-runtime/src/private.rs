//! What macro expansions name. Not public API: may change in any release.

use std::cell::Cell;
use std::marker::PhantomData;

pub use crate::catalog::Registration;
pub use crate::site::{CallSite, Guard};
pub use inventory;

/// Runs a handler body as a closure, so `return` and `?` inside it end the body, not the
/// instrumented fn. `FnOnce` lets the body move out of, or return borrows of, what it captured.
#[inline(always)]
pub fn call_once<R>(body: impl FnOnce() -> R) -> R {
    body()
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
