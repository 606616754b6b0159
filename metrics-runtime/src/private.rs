//! What macro expansions name. Not public API: may change in any release.

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
