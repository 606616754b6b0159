#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

// Imports go one way, from the hot path up (`tests/tests/module_layering.rs` checks it):
// `clock`, `writers` and `model`; `exemplar`; `native` (feature `native-histograms`);
// `series`; `site` (a call site's identity); `exposition` (`families`, the renderers `text`,
// `openmetrics` and `protobuf`, and `format`); `error`, `objective`; `catalog` (the link-time
// list); `runtime`; `edge` (features `tower`, `actix-web`); `call` (what a call runs);
// `config`; `promql` (the expressions), then `rules` and `dashboard`, which both write them;
// `private` last. `auth` and `outcome` stand alone.
mod auth;
mod call;
mod catalog;
mod clock;
mod config;
#[cfg(feature = "dashboard")]
mod dashboard;
#[cfg(any(feature = "tower", feature = "actix-web"))]
mod edge;
mod error;
mod exemplar;
mod exposition;
mod model;
#[cfg(feature = "native-histograms")]
mod native;
mod objective;
mod outcome;
mod promql;
mod rules;
mod runtime;
mod series;
mod site;
mod writers;

pub use auth::Authenticate;
pub use catalog::{HandlerInfo, Measured, handlers, handlers_without_metrics};
pub use config::Config;
#[cfg(feature = "dashboard")]
pub use dashboard::{Dashboard, dashboard};
#[cfg(feature = "tower")]
pub use edge::{Edge, EdgeFuture, EdgeLayer};
#[cfg(feature = "actix-web")]
pub use edge::{EdgeMiddleware, EdgeMiddlewareFuture, EdgeMiddlewareService};
#[cfg(any(feature = "tower", feature = "actix-web"))]
pub use edge::{OTHER_METHOD, UNMATCHED_ROUTE};
pub use error::ConfigError;
pub use exposition::format::{CONTENT_TYPE, Format};
/// Checks a value with [`Authenticate`] before the handler body runs.
///
/// Above [`prometheus_metrics`], rejected calls are not counted, timed or ever in flight:
///
/// ```
/// use metrics_runtime::{Authenticate, authenticated, prometheus_metrics};
///
/// struct Request { token: &'static str }
///
/// impl Authenticate for Request {
///     type Rejection = u16;
///     fn authenticate(&self) -> Result<(), u16> {
///         if self.token == "secret" { Ok(()) } else { Err(403) }
///     }
/// }
///
/// #[authenticated]
/// #[prometheus_metrics]
/// fn purge_cache(request: &Request) -> Result<&'static str, u16> {
///     Ok("purged")
/// }
///
/// assert_eq!(purge_cache(&Request { token: "secret" }), Ok("purged"));
/// assert_eq!(purge_cache(&Request { token: "guess" }), Err(403));
/// let scrape = metrics_runtime::gather();
/// assert!(scrape.contains(r#"handler_requests_total{handler="purge_cache",module="#));
/// ```
pub use metrics_macro::authenticated;
/// Names the type in the `handler` label of its methods at compile time.
///
/// A method's `#[prometheus_metrics]` derives its label `Type::method` from `Self`, which Rust
/// names only when the method runs, so its series would appear with its first call. On the
/// `impl` block, this attribute writes the label in, and the series is there from the first
/// scrape. Methods with `handler = "…"` or `skip` keep theirs.
///
/// `#[prometheus_handlers(objective = PATH)]` puts every measured method of the block under an
/// [`Objective`], unless it names its own.
///
/// ```
/// use metrics_runtime::{prometheus_handlers, prometheus_metrics};
///
/// struct ListRsesHandler;
///
/// #[prometheus_handlers]
/// impl ListRsesHandler {
///     #[prometheus_metrics]
///     fn get(&self) -> Vec<&'static str> {
///         vec!["CERN-PROD", "DESY-ZN"]
///     }
/// }
///
/// // Before any call: the series is there, at 0.
/// let scrape = metrics_runtime::gather();
/// assert!(scrape.lines().any(|line| line.starts_with(
///     r#"handler_requests_total{handler="ListRsesHandler::get","#) && line.ends_with(" 0")));
/// ```
pub use metrics_macro::prometheus_handlers;
/// Measures a handler: calls, latency, calls in flight and errors.
///
/// Its arguments: `handler = "label"`, `error_if = path` (a `fn(&Output) -> bool`),
/// `objective = PATH` (an [`Objective`] whose alerts count this handler's requests), `skip` and
/// `crate = "path"`.
///
/// ```
/// use metrics_runtime::prometheus_metrics;
///
/// struct InstancesHandler;
///
/// impl InstancesHandler {
///     // Labelled handler="InstancesHandler::get".
///     #[prometheus_metrics]
///     async fn get(&self) -> Result<Vec<&'static str>, String> {
///         Ok(vec!["atlas", "cms"])
///     }
/// }
///
/// // Labelled handler="instances_put" instead of the fn name.
/// #[prometheus_metrics(handler = "instances_put")]
/// fn put_instance(name: &str) -> Result<(), String> {
///     if name.is_empty() { Err("no name".into()) } else { Ok(()) }
/// }
///
/// assert!(put_instance("").is_err()); // counted in handler_request_errors_total
/// ```
pub use metrics_macro::prometheus_metrics;
#[cfg(feature = "native-histograms")]
pub use native::NativeHistograms;
pub use objective::Objective;
pub use outcome::CountsAsError;
/// The prometheus crate this runtime uses, for building a [`Registry`](prometheus::Registry) to
/// pass to [`Config::registry`] or registering metrics of your own next to the handler metrics.
pub use prometheus;
pub use rules::{AlertRules, alert_rules};
pub use runtime::DEFAULT_NAMESPACE;

/// `#[prometheus_metrics(error_if = metrics_runtime::never)]`: no output of this handler is an
/// error (a panic still is). For outputs the attribute cannot classify where it expands, such
/// as a type parameter (`fn forward<R>(r: R) -> R`) or an associated type (`-> Self::Out`).
///
/// ```
/// use metrics_runtime::prometheus_metrics;
///
/// #[prometheus_metrics(error_if = metrics_runtime::never)]
/// fn forward<R>(response: R) -> R {
///     response
/// }
///
/// assert_eq!(forward(Err::<(), _>("passed on, not ours")), Err("passed on, not ours"));
/// ```
pub fn never<T: ?Sized>(_output: &T) -> bool {
    false
}

/// Every handler is visible from the first scrape, at 0, not only after its first call.
fn create_known_series() {
    catalog::create_known_series();
    catalog::warn_about_shared_series();
}

#[doc(hidden)]
#[path = "private/mod.rs"]
pub mod __private;

/// Renders every metric of the runtime's registry (handler metrics, process metrics and
/// whatever else the server registered there) in the text exposition format.
///
/// Serve it from the server's one `/metrics` route with [`CONTENT_TYPE`]. Every instrumented
/// fn has its series, at 0, from the first scrape on; a method labelled by its `Self` type
/// appears with its first call, unless its `impl` block has
/// [`#[prometheus_handlers]`](prometheus_handlers).
///
/// ```
/// use metrics_runtime::prometheus::{IntCounter, register};
///
/// // A metric of the server's own joins the same exposition.
/// let sessions = IntCounter::new("sessions_total", "Sessions opened.").unwrap();
/// register(Box::new(sessions.clone())).unwrap();
/// sessions.inc();
///
/// let exposition = metrics_runtime::gather();
/// assert!(exposition.lines().any(|line| line == "sessions_total 1"));
/// ```
pub fn gather() -> String {
    gather_as(Format::Text)
}

/// Renders the whole registry, as [`gather`] does, in `format`: choose it with
/// [`Format::negotiate`] from the scrape request's `Accept` header, and answer with
/// [`Format::content_type`]. OpenMetrics carries the exemplars that
/// [`Config::exemplar_source`] provides; the text format never shows them.
///
/// The protobuf format (feature `native-histograms`) is binary and has no `String` form: asked
/// for it, this returns the text format. Use [`gather_bytes`], which renders every format.
pub fn gather_as(format: Format) -> String {
    #[cfg(feature = "native-histograms")]
    let format = match format {
        Format::Protobuf => Format::Text,
        text => text,
    };
    String::from_utf8(gather_bytes(format)).expect("the text formats are written as UTF-8")
}

/// Renders the whole registry, as [`gather_as`] does, as the bytes of a response body: the
/// form every [`Format`] has, the binary protobuf exposition included.
///
/// ```
/// use metrics_runtime::{Format, gather_bytes};
///
/// let accept = Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5");
/// let format = Format::negotiate(accept);
/// let body: Vec<u8> = gather_bytes(format);
/// assert!(body.ends_with(b"# EOF\n"));
/// // Answer with `format.content_type()` as the Content-Type.
/// ```
pub fn gather_bytes(format: Format) -> Vec<u8> {
    static KNOWN_SERIES: std::sync::Once = std::sync::Once::new();
    KNOWN_SERIES.call_once(create_known_series);
    runtime::runtime().gather(format)
}
