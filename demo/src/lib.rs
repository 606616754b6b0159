//! The demo server: the Rucio JupyterLab extension's handlers in Rust, behind Jupyter-style token
//! authentication, each counted and timed by `#[prometheus_metrics]`, and one `/metrics` for
//! everything the process measures.
//!
//! `main.rs` parses arguments and serves [`router`]; the tests build the same router in-process.

mod auth;
mod error;
mod handlers;
pub mod objectives;
mod store;
mod trace;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, CONTENT_LENGTH, CONTENT_TYPE,
};
use axum::http::{Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_runtime::EdgeLayer;
use metrics_runtime::prometheus::{self, IntGauge, Opts};
use tower_http::timeout::TimeoutLayer;

pub use auth::Token;
use error::ApiError;
pub use handlers::App;
use handlers::{
    AuthConfigHandler, DIDBrowserHandler, DIDDetailsHandler, DIDMakeAvailableHandler,
    DIDSearchHandler, FileBrowserHandler, InstancesHandler, ListRSEsHandler, ListScopesHandler,
    MetricsHandler, OIDCAuthCheckHandler, OpenReplicationRuleHandler, PurgeCacheHandler,
    UploadHandler, UploadJobsDetailsHandler, UploadJobsHandler, UploadJobsLogHandler,
};
pub use trace::TRACE_ID_HEADER;

/// Metric names start with this, as upstream: `rucio_jupyterlab_requests_total`, ….
pub const NAMESPACE: &str = "rucio_jupyterlab";

/// Where the extension's routes live, as in JupyterLab.
pub const API_PREFIX: &str = "/rucio-jupyterlab";

/// Largest accepted request body. The extension's bodies are a few hundred bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Longest `did-search` or `list-rses` pattern accepted, in characters: longer than any Rucio DID
/// or RSE name. Longer ones get 400 `pattern_too_long`.
pub const MAX_PATTERN_LENGTH: usize = 256;

/// How long one simulated Rucio call takes unless configured. The handlers that call Rucio
/// (`files`, `did`, `did-search`, `list-scopes`, `list-rses`) await it, so their latency is real.
pub const RUCIO_LATENCY: Duration = Duration::from_millis(5);

/// How long a request may take unless configured: past it, the server answers 504 and the
/// handler it cut short counts an error (`EdgeLayer`). Far above any healthy call.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The git revision the binary was built from, or `unknown` (see `build.rs`).
pub const GIT_REVISION: &str = env!("DEMO_GIT_REVISION");

/// Histogram bounds in seconds. The handlers take microseconds (local) to a few milliseconds
/// (Rucio calls); the prometheus default buckets start at 5 ms and would lump them together.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Configures the metrics runtime (namespace, buckets, exemplars from each request's trace id,
/// native histograms if `native_histograms`) and registers the build-info gauge, in the default
/// registry next to the process metrics. Once per process, before serving.
pub fn install_metrics(
    native_histograms: bool,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config = metrics_runtime::Config::new()
        .namespace(NAMESPACE)
        .buckets(LATENCY_BUCKETS)
        .exemplar_source(trace::current_trace_id);
    let config = if native_histograms {
        // The defaults: schema 3 (buckets ≈ 9 % wide), at most 160 per series.
        config.native_histograms(metrics_runtime::NativeHistograms::new())
    } else {
        config
    };
    config.install()?;
    let build_info = IntGauge::with_opts(
        Opts::new(
            format!("{NAMESPACE}_build_info"),
            "Build of the demo server: version and git revision; always 1.",
        )
        .const_label("version", env!("CARGO_PKG_VERSION"))
        .const_label("revision", GIT_REVISION),
    )?;
    build_info.set(1);
    prometheus::register(Box::new(build_info))?;
    Ok(())
}

/// jupyter_server's `APIHandler.options`: any API route answers a CORS preflight, without
/// authentication (the real request is still checked), and nothing is measured.
async fn preflight(request: axum::extract::Request, next: middleware::Next) -> Response {
    if request.method() != Method::OPTIONS {
        return next.run(request).await;
    }
    let allow_headers = "accept, content-type, authorization, x-xsrftoken";
    let allow_methods = "GET, PUT, POST, PATCH, DELETE, OPTIONS";
    (
        [
            (ACCESS_CONTROL_ALLOW_HEADERS, allow_headers),
            (ACCESS_CONTROL_ALLOW_METHODS, allow_methods),
            (CONTENT_TYPE, "application/json"),
        ],
        "",
    )
        .into_response()
}

/// Tornado's `max_body_size`: a body declared over [`BODY_LIMIT`] is refused 413 before any
/// handler runs, authenticated or not (the edge counts it). A body without a length is cut at
/// the limit while it is read (`DefaultBodyLimit`): 413 before the handler for a client with the
/// token, 403 for one without.
async fn refuse_oversize(request: axum::extract::Request, next: middleware::Next) -> Response {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
            .into_response();
    }
    next.run(request).await
}

/// [`router_with_timeout`] with the default [`REQUEST_TIMEOUT`].
pub fn router(app: App) -> Router {
    router_with_timeout(app, REQUEST_TIMEOUT)
}

/// Every route: the extension's under [`API_PREFIX`], and `/metrics` at the root. Every request
/// carries a trace id: its `traceparent`'s, or a fresh one, echoed in [`TRACE_ID_HEADER`].
///
/// A request still running after `request_timeout` is answered 504; [`EdgeLayer`], outside the
/// timeout, makes that an error of the handler cut short, and counts the answers no handler
/// gives (404, 405, 413, rejected JSON, preflights) in `rucio_jupyterlab_edge_responses_total`.
/// Inside the trace layer, so an error it records carries the request's trace id.
pub fn router_with_timeout(app: App, request_timeout: Duration) -> Router {
    router_with_options(app, request_timeout, true)
}

/// [`router_with_timeout`], with [`EdgeLayer`] only if `edge`: the benchmark times a request
/// through both (`benches/edge.rs`).
pub fn router_with_options(app: App, request_timeout: Duration, edge: bool) -> Router {
    let api = Router::new()
        .route(
            "/instances",
            get(InstancesHandler::get).put(InstancesHandler::put),
        )
        .route(
            "/auth",
            get(AuthConfigHandler::get).put(AuthConfigHandler::put),
        )
        .route("/files", get(DIDBrowserHandler::get))
        .route("/did", get(DIDDetailsHandler::get))
        .route("/did-search", get(DIDSearchHandler::get))
        .route("/did/make-available", post(DIDMakeAvailableHandler::post))
        .route("/file-browser", get(FileBrowserHandler::get))
        .route("/purge-cache", post(PurgeCacheHandler::post))
        .route("/oidc-auth-check", get(OIDCAuthCheckHandler::get))
        .route(
            "/open-replication-rule",
            get(OpenReplicationRuleHandler::get),
        )
        .route("/list-scopes", get(ListScopesHandler::get))
        .route("/list-rses", get(ListRSEsHandler::get))
        .route("/upload/jobs", get(UploadJobsHandler::get))
        .route(
            "/upload/jobs/details",
            get(UploadJobsDetailsHandler::get).delete(UploadJobsDetailsHandler::delete),
        )
        .route("/upload/jobs/log", get(UploadJobsLogHandler::get))
        .route("/upload", post(UploadHandler::post))
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(middleware::from_fn(preflight));
    let routed = Router::new()
        .route("/metrics", get(MetricsHandler::get))
        .nest(API_PREFIX, api)
        .fallback(|| async { ApiError::not_found("no such route") });
    // One `Router::layer` for the whole stack, outermost first: axum boxes each route's layered
    // service once, where a `.layer` call per layer nests a box per call, and a request clones
    // the nested boxes (BENCHMARKS.md: the edge's own `.layer` call cost 5 % of a request).
    let layers = tower::ServiceBuilder::new()
        .layer(middleware::from_fn(trace::propagate))
        .option_layer(edge.then(EdgeLayer::new))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            request_timeout,
        ))
        .layer(middleware::from_fn(refuse_oversize))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    routed.layer(layers).with_state(app)
}
