//! Per-handler RED metrics (rate, errors, duration) for Rust servers, rendered for Prometheus.
//!
//! Put `#[authenticated]` and `#[prometheus_metrics]` on a handler, serve [`gather`] from the
//! server's one `/metrics` route. See the README for the metric families and the order rule.
//!
//! ```
//! use metrics_runtime as runtime;
//! use runtime::prometheus_metrics;
//!
//! #[prometheus_metrics]
//! fn list_scopes() -> Vec<&'static str> {
//!     vec!["user.alice", "data18"]
//! }
//!
//! list_scopes();
//! let exposition = runtime::gather();
//! assert!(exposition.contains(r#"handler_requests_total{handler="list_scopes""#));
//! ```

#![deny(missing_docs)]

mod auth;
mod catalog;
mod clock;
mod config;
mod site;
mod slots;
mod state;

pub use auth::Authenticate;
pub use catalog::{HandlerInfo, Measured, handlers, handlers_without_metrics};
pub use config::{Config, ConfigError, DEFAULT_NAMESPACE};
pub use metrics_macro::{authenticated, prometheus_metrics};
/// The prometheus crate this runtime uses, for building a [`Registry`](prometheus::Registry) to
/// pass to [`Config::registry`] or registering metrics of your own next to the handler metrics.
pub use prometheus;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The `Content-Type` of [`gather`]'s output: Prometheus text exposition format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every metric of the runtime's registry (handler metrics, process metrics and
/// whatever else the server registered there) in the text exposition format.
///
/// Serve it from the server's one `/metrics` route with [`CONTENT_TYPE`].
pub fn gather() -> String {
    static KNOWN_SERIES: std::sync::Once = std::sync::Once::new();
    // Every handler is visible from the first scrape, at 0, not only after its first call.
    KNOWN_SERIES.call_once(catalog::create_known_series);
    let families = state::runtime().registry.gather();
    let mut exposition = String::new();
    if let Err(error) = prometheus::TextEncoder::new().encode_utf8(&families, &mut exposition) {
        // A comment keeps the scrape parseable and makes the failure visible in it.
        exposition.push_str(&format!("# metrics_runtime: encoding failed: {error}\n"));
    }
    exposition
}
