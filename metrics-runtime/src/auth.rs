//! The check `#[authenticated]` runs before a handler's body, and what it accepts as the value
//! to check.

use std::rc::Rc;
use std::sync::Arc;

/// A value that `#[authenticated]` can check before a handler runs.
///
/// The macro calls `Authenticate::authenticate(&param)` on the receiver (or the chosen parameter).
/// On `Err(rejection)` the handler returns at once, without running its body:
/// `Err(rejection.into())` when its return type is a `Result` (also behind an alias), otherwise
/// `rejection.into()`. Under `#[prometheus_metrics]` the rejected call is counted in
/// `requests_rejected_total` only: it is not a request, an error, a latency or in flight.
///
/// Implemented for references and smart pointers of implementors, so a handler may take
/// `&Request`, `&mut Request`, `Box<Request>`, `Arc<Request>` or `Rc<Request>`.
///
/// ```
/// use metrics_runtime::{Authenticate, authenticated};
///
/// struct Request { token: Option<&'static str> }
///
/// impl Authenticate for Request {
///     type Rejection = String;
///     fn authenticate(&self) -> Result<(), String> {
///         match self.token {
///             Some("secret") => Ok(()),
///             _ => Err("403 Forbidden".to_owned()),
///         }
///     }
/// }
///
/// #[authenticated]
/// fn whoami(request: &Request) -> Result<&'static str, String> {
///     Ok("alice")
/// }
///
/// assert_eq!(whoami(&Request { token: Some("secret") }), Ok("alice"));
/// assert_eq!(whoami(&Request { token: None }), Err("403 Forbidden".to_owned()));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be checked by `#[authenticated]`: it does not implement `metrics_runtime::Authenticate`",
    label = "`#[authenticated]` checks this parameter",
    note = "implement `Authenticate` for it, or name the parameter to check: `#[authenticated(request)]`"
)]
pub trait Authenticate {
    /// What a rejected call returns (converted with `Into` into the handler's error or output).
    type Rejection;

    /// `Ok(())` lets the call through; `Err` rejects it before the handler body runs.
    fn authenticate(&self) -> Result<(), Self::Rejection>;
}

macro_rules! forward_authenticate {
    ($($pointer:ty),*) => {$(
        impl<T: Authenticate + ?Sized> Authenticate for $pointer {
            type Rejection = T::Rejection;
            fn authenticate(&self) -> Result<(), Self::Rejection> {
                T::authenticate(self)
            }
        }
    )*};
}

forward_authenticate!(&T, &mut T, Box<T>, Arc<T>, Rc<T>);
