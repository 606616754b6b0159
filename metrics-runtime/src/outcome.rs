//! What counts as an error: the value a handler's body returns decides, as HTTP services count
//! errors (a client's mistake is not the server's error; a 5xx answer is, whatever its type).

/// Whether a handler's output counts in `request_errors_total`.
///
/// The value the body returns decides:
/// - a type implementing `CountsAsError`: its answer;
/// - a `Result<T, E>`: `Err(e)` is an error unless `E: CountsAsError` says otherwise, and
///   `Ok(t)` is an error only if `T: CountsAsError` says so;
/// - anything else: not an error.
///
/// A panic is always an error; `#[prometheus_metrics(error_if = path)]` overrides all of this
/// for one handler. With the `http` feature, `http::StatusCode`, `http::Response<B>` and
/// `(StatusCode, T)` count as errors exactly when the status is 5xx.
///
/// The output is classified by its type where the attribute expands, so type aliases such as
/// `ApiResult<T>` work. A return type written as `impl IntoResponse` has no name to classify:
/// write the type (`Response`, or a named type of yours), or give `error_if`.
///
/// ```
/// use metrics_runtime::{CountsAsError, prometheus_metrics};
///
/// #[derive(Debug)]
/// enum ApiError {
///     BadRequest(&'static str),
///     Upstream(&'static str),
/// }
///
/// impl CountsAsError for ApiError {
///     fn counts_as_error(&self) -> bool {
///         // The client's mistake does not burn the server's error budget.
///         matches!(self, ApiError::Upstream(_))
///     }
/// }
///
/// #[prometheus_metrics]
/// fn list_dids(pattern: &str) -> Result<Vec<&'static str>, ApiError> {
///     match pattern {
///         "" => Err(ApiError::BadRequest("empty pattern")),
///         "*" => Err(ApiError::Upstream("rucio unreachable")),
///         _ => Ok(vec!["user.alice:ttbar"]),
///     }
/// }
///
/// # let _ = (list_dids(""), list_dids("*"), list_dids("user.*"));
/// let scrape = metrics_runtime::gather();
/// assert!(scrape.lines().any(|line| line.starts_with(
///     r#"handler_request_errors_total{handler="list_dids","#) && line.ends_with(" 1")));
/// ```
pub trait CountsAsError {
    /// `true` if this value means the call failed.
    fn counts_as_error(&self) -> bool;
}

impl<T: CountsAsError + ?Sized> CountsAsError for &T {
    fn counts_as_error(&self) -> bool {
        T::counts_as_error(self)
    }
}

impl<T: CountsAsError + ?Sized> CountsAsError for Box<T> {
    fn counts_as_error(&self) -> bool {
        T::counts_as_error(self)
    }
}

#[cfg(feature = "http")]
mod http_types {
    use super::CountsAsError;

    /// A 5xx status is the server's error; 4xx is the client's.
    impl CountsAsError for http::StatusCode {
        fn counts_as_error(&self) -> bool {
            self.is_server_error()
        }
    }

    impl<B> CountsAsError for http::Response<B> {
        fn counts_as_error(&self) -> bool {
            self.status().is_server_error()
        }
    }

    /// axum's `(StatusCode, Json<T>)` and the like.
    impl<T> CountsAsError for (http::StatusCode, T) {
        fn counts_as_error(&self) -> bool {
            self.0.is_server_error()
        }
    }
}
