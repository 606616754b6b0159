//! The attribute macros of `metrics-runtime`. Depend on `metrics-runtime` and use them from
//! there: the generated code refers to `::metrics_runtime`.

mod arguments;
mod ast;
mod attr;
mod expand;
mod marker;
mod methods;
mod plan;
mod shape;
mod track_caller;

use proc_macro::TokenStream;

/// Counts, times and tracks a handler: `requests_total`, `request_latency_seconds`,
/// `requests_in_flight`, `request_errors_total` and, under `#[authenticated]`,
/// `requests_rejected_total`, labelled `handler` and `module`.
///
/// The `handler` label is the fn name, or `Type::method` for a method with a `self` receiver;
/// `#[prometheus_metrics(handler = "label")]` sets it. Put `#[authenticated]` *above* it so
/// that only authenticated calls are measured.
#[proc_macro_attribute]
pub fn prometheus_metrics(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::prometheus_metrics(args.into(), input.into()).into()
}

/// Checks `self` (or the first parameter, or the one named: `#[authenticated(request)]`) with
/// `metrics_runtime::Authenticate` before the handler body runs, and returns the rejection if
/// the check fails: `Err(rejection.into())` for a fn returning a `Result` (also behind an
/// alias), else `rejection.into()`.
///
/// Above `#[prometheus_metrics]`, rejected calls are not counted, timed or ever in flight.
#[proc_macro_attribute]
pub fn authenticated(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::authenticated(args.into(), input.into()).into()
}

/// On an `impl` block: gives each method's `#[prometheus_metrics]` its `Type::method` label at
/// compile time, so the method's series exist from the first scrape (a method's own attribute
/// cannot see its type's name, which is otherwise known only from its first call).
#[proc_macro_attribute]
pub fn prometheus_handlers(args: TokenStream, input: TokenStream) -> TokenStream {
    methods::prometheus_handlers(args.into(), input.into()).into()
}

/// Inert: `#[authenticated]` puts it below the attributes it did not recognise, so that a
/// `#[prometheus_metrics]` imported under another name sees that authentication is above it.
/// Nothing but `#[authenticated]` writes it; where no measuring attribute takes it off, it
/// leaves the fn as it is.
#[doc(hidden)]
#[proc_macro_attribute]
pub fn __authenticated_above(_args: TokenStream, input: TokenStream) -> TokenStream {
    input
}
