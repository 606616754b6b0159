//! A small actix-web 4 service whose handlers are authenticated and measured with
//! `#[authenticated]` and `#[prometheus_metrics]`, with one `/metrics` route for Prometheus.
//!
//! # Attribute order
//!
//! Write actix's route attribute on top, then ours, `#[authenticated]` above
//! `#[prometheus_metrics]` as always:
//!
//! ```
//! use actix_example::{ApiError, Token};
//! use actix_web::{Responder, get, web::Json};
//! use metrics_runtime::{authenticated, prometheus_metrics};
//!
//! #[get("/scopes")]
//! #[authenticated]
//! #[prometheus_metrics]
//! async fn list_scopes(token: Token) -> Result<impl Responder, ApiError> {
//!     Ok(Json(["user.alice", "data18"]))
//! }
//! ```
//!
//! `#[get]` turns the fn into a unit struct that registers the route and keeps the fn, with our
//! attributes still on it, inside that struct's `register`; ours then expand on that fn as on any
//! other. Putting the route attribute last (`#[authenticated] #[prometheus_metrics] #[get(…)]`)
//! works as well: ours rewrite the body and leave `#[get]` on the fn, which then wraps the
//! instrumented fn. Both orders authenticate before measuring and count each request exactly once
//! (`tests/http.rs` serves a handler of each order). Only the order of our two attributes matters:
//! `#[prometheus_metrics]` above `#[authenticated]` is a compile error.
//!
//! # Authentication
//!
//! [`Token`] is an extractor that never fails: it only records the `Authorization` header, so a
//! missing or wrong token reaches `#[authenticated]`, which rejects it with [`ApiError::Forbidden`]
//! (403, JSON body) before the handler is counted or timed.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, AUTHORIZATION};
use actix_web::middleware::Next;
use actix_web::web::{Data, Json, JsonConfig, Path, ServiceConfig};
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder, ResponseError, get};
use metrics_runtime::{Authenticate, CountsAsError, authenticated, prometheus_metrics};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// How long a request may take before [`request_timeout`] answers 504 for it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest JSON body a handler reads; a larger one gets actix's 413 before the handler.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The service's shared state; cloning it is cheap, so every actix worker's `App` can have one.
#[derive(Clone)]
pub struct Api {
    token: ApiToken,
    instances: Data<Mutex<BTreeMap<String, Instance>>>,
    settings: Data<Settings>,
}

/// How long `/upstream`'s simulated Rucio call takes, and when a request is cut off.
struct Settings {
    upstream_latency: Duration,
    request_timeout: Duration,
}

impl Api {
    /// A service that accepts requests presenting `token`; Rucio answers at once, and a request
    /// is cut off after [`REQUEST_TIMEOUT`].
    pub fn new(token: &str) -> Api {
        Api::with_timing(token, Duration::ZERO, REQUEST_TIMEOUT)
    }

    /// The same, with `/upstream`'s Rucio call taking `upstream_latency` (above
    /// `request_timeout`: a hung Rucio) and requests cut off after `request_timeout`.
    pub fn with_timing(token: &str, upstream_latency: Duration, request_timeout: Duration) -> Api {
        Api {
            token: ApiToken(token.into()),
            instances: Data::default(),
            settings: Data::new(Settings {
                upstream_latency,
                request_timeout,
            }),
        }
    }

    /// Registers the routes and their state; use it as `App::new().configure(|c| api.configure(c))`.
    pub fn configure(&self, config: &mut ServiceConfig) {
        config
            .app_data(self.token.clone())
            .app_data(self.instances.clone())
            .app_data(self.settings.clone())
            .app_data(JsonConfig::default().limit(BODY_LIMIT))
            .service(metrics)
            .service(list_scopes)
            // One resource for both methods, so another method gets its 405 (with the
            // resource's pattern at the edge), where two `#[get]`/`#[put]` resources would
            // each pass it on to the default service's 404.
            .service(
                actix_web::web::resource("/instances/{name}")
                    .get(get_instance)
                    .put(put_instance),
            )
            .service(upstream_status);
    }
}

/// The token the service expects. No `Debug`: it is a secret.
#[derive(Clone)]
struct ApiToken(Arc<str>);

/// What a request presented in `Authorization: Bearer <T>` or `Authorization: token <T>`,
/// checked by `#[authenticated]` against the service's token.
pub struct Token {
    presented: Option<String>,
    expected: Option<ApiToken>,
}

impl FromRequest for Token {
    // Infallible on purpose: rejecting here would answer with actix's response instead of
    // `ApiError::Forbidden`, and would hide the decision from `#[authenticated]`.
    type Error = Infallible;
    type Future = Ready<Result<Token, Infallible>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let presented = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().split_once(' '))
            // Authentication schemes are case-insensitive (RFC 9110 §11.1).
            .filter(|(scheme, _)| {
                scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")
            })
            .map(|(_, token)| token.trim_start().to_owned());
        ready(Ok(Token {
            presented,
            expected: request.app_data::<ApiToken>().cloned(),
        }))
    }
}

impl Authenticate for Token {
    type Rejection = ApiError;

    fn authenticate(&self) -> Result<(), ApiError> {
        match (&self.presented, &self.expected) {
            // Constant time in the token's content, so timing does not reveal a partial match.
            (Some(presented), Some(ApiToken(expected)))
                if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) =>
            {
                Ok(())
            }
            // No token configured fails closed.
            _ => Err(ApiError::Forbidden),
        }
    }
}

/// Every error a handler answers with, as a JSON body `{"error": "...", "message": "..."}`.
#[derive(Debug, PartialEq)]
pub enum ApiError {
    /// No token, an unknown scheme or a wrong token: 403.
    Forbidden,
    /// No instance of that name: 404.
    NotFound(String),
    /// No answer within the request timeout: 504, from [`request_timeout`].
    Timeout(Duration),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Forbidden => f.write_str("a valid token is required"),
            ApiError::NotFound(name) => write!(f, "no instance named {name:?}"),
            ApiError::Timeout(limit) => write!(f, "no answer within {} ms", limit.as_millis()),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    message: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let error = match self {
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Timeout(_) => "timeout",
        };
        HttpResponse::build(self.status_code()).json(ErrorBody {
            error,
            message: self.to_string(),
        })
    }
}

/// What counts in `request_errors_total`: a 5xx answer, the server's fault; a 403 or 404 is the
/// client's and burns no error budget.
impl CountsAsError for ApiError {
    fn counts_as_error(&self) -> bool {
        self.status_code().is_server_error()
    }
}

/// Lets handlers that answer with an `HttpResponse` return a rejection as one.
impl From<ApiError> for HttpResponse {
    fn from(error: ApiError) -> HttpResponse {
        error.error_response()
    }
}

/// For handlers answering with actix's own `HttpResponse`: the same rule, by its status. A
/// type of another crate cannot implement `CountsAsError` here, so the handler names this fn
/// with `error_if`.
pub fn server_error(response: &HttpResponse) -> bool {
    response.status().is_server_error()
}

/// A Rucio instance as the API stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub site: String,
}

/// The one route Prometheus scrapes: not authenticated and not measured itself. In the format
/// its `Accept` header prefers: OpenMetrics for Prometheus, text for curl.
#[get("/metrics")]
async fn metrics(request: HttpRequest) -> HttpResponse {
    let accept = request
        .headers()
        .get(ACCEPT)
        .and_then(|value| value.to_str().ok());
    let format = metrics_runtime::Format::negotiate(accept);
    HttpResponse::Ok()
        .content_type(format.content_type())
        .body(metrics_runtime::gather_bytes(format))
}

#[get("/scopes")]
#[authenticated]
#[prometheus_metrics]
async fn list_scopes(token: Token) -> Result<impl Responder, ApiError> {
    Ok(Json(["user.alice", "data18"]))
}

#[authenticated]
#[prometheus_metrics]
async fn get_instance(
    token: Token,
    name: Path<String>,
    instances: Data<Mutex<BTreeMap<String, Instance>>>,
) -> Result<Json<Instance>, ApiError> {
    let name = name.into_inner();
    let instances = instances.lock().unwrap_or_else(PoisonError::into_inner);
    match instances.get(&name) {
        Some(instance) => Ok(Json(instance.clone())),
        None => Err(ApiError::NotFound(name)),
    }
}

#[authenticated]
#[prometheus_metrics]
async fn put_instance(
    token: Token,
    name: Path<String>,
    instance: Json<Instance>,
    instances: Data<Mutex<BTreeMap<String, Instance>>>,
) -> Result<Json<Instance>, ApiError> {
    let instance = instance.into_inner();
    instances
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(name.into_inner(), instance.clone());
    Ok(Json(instance))
}

#[derive(Deserialize)]
struct UpstreamQuery {
    #[serde(default)]
    down: bool,
}

/// Whether the upstream Rucio server answers, after the configured latency: `?down=true`
/// simulates an outage (503); a latency over the request timeout, a hung Rucio (504 from
/// [`request_timeout`], an error of this handler under `EdgeMiddleware`).
#[get("/upstream")]
#[authenticated]
#[prometheus_metrics(error_if = server_error)]
async fn upstream_status(
    token: Token,
    query: actix_web::web::Query<UpstreamQuery>,
    settings: Data<Settings>,
) -> HttpResponse {
    actix_web::rt::time::sleep(settings.upstream_latency).await;
    if query.down {
        HttpResponse::ServiceUnavailable().json(ErrorBody {
            error: "upstream_unavailable",
            message: "the Rucio server does not answer".to_owned(),
        })
    } else {
        HttpResponse::Ok().json(["up"])
    }
}

/// Answers 504 ([`ApiError::Timeout`]) for a request its service has not answered within the
/// request timeout, dropping the handler's future:
/// `App::new().….wrap(from_fn(request_timeout)).wrap(EdgeMiddleware::new())`. The edge outside it
/// sees the 504, so the call it cut short is an error of its handler.
pub async fn request_timeout(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let limit = request
        .app_data::<Data<Settings>>()
        .map_or(REQUEST_TIMEOUT, |settings| settings.request_timeout);
    match actix_web::rt::time::timeout(limit, next.call(request)).await {
        Ok(response) => response,
        Err(_) => Err(ApiError::Timeout(limit).into()),
    }
}
