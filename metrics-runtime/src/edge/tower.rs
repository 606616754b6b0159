//! [`EdgeLayer`] for tower services (axum, tonic, hyper).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};

use super::{Edged, UNMATCHED_ROUTE, count_response, families, method_label};

/// The route template an [`Edge`] labels its requests' answers by, resolved once: axum puts a
/// `Router::layer` around each route's service, so an `Edge` sees one template (and axum
/// clones it per request, so it holds a `&'static`, whose copy moves no reference count).
#[cfg(feature = "axum")]
#[derive(Debug, Default)]
struct RouteLabel(std::sync::OnceLock<&'static str>);

#[cfg(feature = "axum")]
type Route = &'static RouteLabel;
/// Without feature `axum`, no template to read.
#[cfg(not(feature = "axum"))]
#[derive(Clone, Copy, Debug)]
struct Route;

#[cfg(feature = "axum")]
fn new_route() -> Route {
    // One per route of a router built, never per request.
    Box::leak(Box::default())
}
#[cfg(not(feature = "axum"))]
fn new_route() -> Route {
    Route
}

/// The `route` of a request's answer: its `Edge`'s template, resolved once, or (an `Edge` that
/// sees several templates, around a nested service) the request's own `MatchedPath`, a
/// reference count, read only if the answer is counted at the edge.
enum Label {
    Resolved(&'static str),
    #[cfg(feature = "axum")]
    Matched(axum::extract::MatchedPath),
}

impl Label {
    fn as_str(&self) -> &str {
        match self {
            Label::Resolved(label) => label,
            #[cfg(feature = "axum")]
            Label::Matched(matched) => matched.as_str(),
        }
    }
}

/// The label of `request`'s route template (axum's `MatchedPath`), or [`UNMATCHED_ROUTE`].
#[cfg(feature = "axum")]
fn route_label<B>(request: &Request<B>, route: Route) -> Label {
    let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() else {
        return Label::Resolved(UNMATCHED_ROUTE);
    };
    let path = matched.as_str();
    let label = *route.0.get_or_init(|| super::intern_route(path));
    if label == path {
        Label::Resolved(label)
    } else {
        Label::Matched(matched.clone())
    }
}
#[cfg(not(feature = "axum"))]
fn route_label<B>(_: &Request<B>, _: Route) -> Label {
    Label::Resolved(UNMATCHED_ROUTE)
}

/// Measures a tower service's edge: `router.layer(metrics_runtime::EdgeLayer::new())`.
///
/// With it, a handler call that a response cuts short (a `TimeoutLayer` inside this one
/// answering 408/503/504, load shedding) counts as an error of that handler, and once in
/// `<namespace>_request_timeouts_total`; a call dropped because the client went away
/// stays a cancellation. Each response that no instrumented handler measured is counted in
/// `<namespace>_edge_responses_total{route, method, code}`, where `route` is axum's
/// `MatchedPath` (feature `axum`) or [`UNMATCHED_ROUTE`], and `method` one of HTTP's nine or
/// [`OTHER_METHOD`](crate::OTHER_METHOD): request data never makes a series.
///
/// ```
/// # #[cfg(feature = "axum")] {
/// use metrics_runtime::EdgeLayer;
///
/// let router: axum::Router = axum::Router::new()
///     // Inside: the timeout whose answers it judges.
///     // .layer(tower_http::timeout::TimeoutLayer::with_status_code(…))
///     .layer(EdgeLayer::new());
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct EdgeLayer(());

impl EdgeLayer {
    /// The layer; creates its two families in the runtime's registry.
    pub fn new() -> Self {
        families();
        EdgeLayer(())
    }
}

impl<S> tower_layer::Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            route: new_route(),
        }
    }
}

/// The service [`EdgeLayer`] wraps around another.
#[derive(Clone, Debug)]
pub struct Edge<S> {
    inner: S,
    route: Route,
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for Edge<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = EdgeFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> EdgeFuture<S::Future> {
        let method = method_label(request.method().as_str());
        let route = route_label(&request, self.route);
        EdgeFuture {
            edged: Edged::new(self.inner.call(request)),
            method,
            route,
        }
    }
}

/// The response future of [`Edge`].
#[must_use = "futures do nothing unless polled"]
pub struct EdgeFuture<F> {
    edged: Edged<F>,
    method: &'static str,
    route: Label,
}

impl<F, B, E> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `edged` is pinned with `self` (projected, never moved); the other fields
        // are not structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let edged = unsafe { Pin::new_unchecked(&mut this.edged) };
        let Poll::Ready(output) = edged.poll_inner(cx) else {
            return Poll::Pending;
        };
        let status = output
            .as_ref()
            .ok()
            .map(|response| response.status().as_u16());
        if !this.edged.judge(status) {
            count_response(this.route.as_str(), this.method, status);
        }
        Poll::Ready(output)
    }
}
