//! The probe that turns a rejection into the handler's output type.

use std::cell::Cell;
use std::marker::PhantomData;

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
