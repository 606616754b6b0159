//! The one error type of the API: an HTTP status and upstream's JSON body
//! `{"success": false, "error": …, "status": …}` (its `RucioAPIHandler.write_error`).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use metrics_runtime::CountsAsError;
use serde_json::json;

/// A request that failed: rejected by authentication, malformed, about something unknown, or
/// failed upstream.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// As jupyter_server answers an unauthenticated API call.
    pub(crate) fn forbidden() -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "Forbidden")
    }

    /// Tornado's answer to a method the route does not have, in upstream's error body.
    pub(crate) fn method_not_allowed() -> Self {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
    }

    /// Upstream's `RucioAPIHandler.prepare()`: no `?namespace=`.
    pub(crate) fn missing_instance() -> Self {
        ApiError::bad_request("Missing Rucio instance")
    }

    /// Upstream's `ensure_credentials_present`: nothing stored for the instance.
    pub(crate) fn credentials_not_found() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Credentials not found. Did you authenticate?",
        )
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// Rucio did not answer: the server's failure, not the client's.
    pub(crate) fn rucio_unavailable() -> Self {
        ApiError::new(StatusCode::BAD_GATEWAY, "rucio_unavailable")
    }
}

/// As HTTP services count errors: a 4xx is the client's mistake and leaves the error budget
/// alone; a 5xx is the server's error.
impl CountsAsError for ApiError {
    fn counts_as_error(&self) -> bool {
        self.status.is_server_error()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "success": false,
            "error": self.message,
            "status": self.status.as_u16(),
        });
        (self.status, Json(body)).into_response()
    }
}

/// A body's rejection, answered before the handler for a client with the token (see
/// `JsonBody`); an unauthenticated client gets 403 whatever its body.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}
