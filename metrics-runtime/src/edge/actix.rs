//! [`EdgeMiddleware`] for actix-web: the same edge as `EdgeLayer`, as `App::wrap`'s middleware.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};

use super::{Edged, UNMATCHED_ROUTE, count_response, families, method_label};

/// Measures an actix-web app's edge: `App::new().wrap(metrics_runtime::EdgeMiddleware::new())`.
///
/// As `EdgeLayer` does for tower: a handler call that the answer cuts short (a middleware inside
/// this one answering 408/5xx while the handler runs) is an error of that handler; a client
/// that goes away leaves a cancellation. Each response no instrumented handler measured — the
/// default service's 404, a `JsonConfig` or `PathConfig` rejection, a middleware's refusal — is
/// counted in `<namespace>_edge_responses_total{route, method, code}`, `route` being the
/// resource's pattern (`HttpRequest::match_pattern`) or [`UNMATCHED_ROUTE`].
///
/// Wrap it last (outermost) so that it sees the other middlewares' answers.
#[derive(Clone, Copy, Debug, Default)]
pub struct EdgeMiddleware(());

impl EdgeMiddleware {
    /// The middleware; creates its two families in the runtime's registry.
    pub fn new() -> Self {
        families();
        EdgeMiddleware(())
    }
}

impl<S, B> Transform<S, ServiceRequest> for EdgeMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = EdgeMiddlewareService<S>;
    type InitError = ();
    type Future = Ready<Result<EdgeMiddlewareService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(EdgeMiddlewareService { service }))
    }
}

/// The service [`EdgeMiddleware`] wraps around another.
#[derive(Debug)]
pub struct EdgeMiddlewareService<S> {
    service: S,
}

impl<S, B> Service<ServiceRequest> for EdgeMiddlewareService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = EdgeMiddlewareFuture<S::Future>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let method = method_label(request.method().as_str());
        EdgeMiddlewareFuture {
            edged: Edged::new(self.service.call(request)),
            method,
        }
    }
}

/// The response future of [`EdgeMiddlewareService`].
#[must_use = "futures do nothing unless polled"]
pub struct EdgeMiddlewareFuture<F> {
    edged: Edged<F>,
    method: &'static str,
}

impl<F, B> Future for EdgeMiddlewareFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `edged` is pinned with `self` (projected, never moved); `method` is not
        // structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let edged = unsafe { Pin::new_unchecked(&mut this.edged) };
        let Poll::Ready(output) = edged.poll_inner(cx) else {
            return Poll::Pending;
        };
        // An error still becomes a response, with the status the error names.
        let status = match &output {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        if !this.edged.judge(Some(status.as_u16())) {
            // The pattern is looked up (and allocated) only here, for the answers at the edge.
            let route = output
                .as_ref()
                .ok()
                .and_then(|response| response.request().match_pattern());
            count_response(
                route.as_deref().unwrap_or(UNMATCHED_ROUTE),
                this.method,
                Some(status.as_u16()),
            );
        }
        Poll::Ready(output)
    }
}
