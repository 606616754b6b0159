//! The compile-time probes that decide whether an output counts as an error.

use std::convert::Infallible;

use crate::outcome::CountsAsError;

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
