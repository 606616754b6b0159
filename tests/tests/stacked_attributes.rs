//! `#[authenticated]` keeps its check first whatever sits between it and a
//! `#[prometheus_metrics]` imported under another name, the coverage check lists such a handler
//! once, and a body that looks like a written check is left alone.

use std::time::Duration;

use handler_metrics_tests::{HandlerValues, Scrape};
use metrics_runtime::{Authenticate, authenticated, handlers, handlers_without_metrics};

mod renamed {
    pub use metrics_runtime::prometheus_metrics as measured;
}

#[derive(Debug)]
struct Req {
    token: &'static str,
}

#[derive(Debug, PartialEq)]
struct Forbidden;

impl Authenticate for Req {
    type Rejection = Forbidden;
    fn authenticate(&self) -> Result<(), Forbidden> {
        if self.token == "secret" {
            Ok(())
        } else {
            Err(Forbidden)
        }
    }
}

#[authenticated]
#[tracing::instrument(skip_all)]
#[renamed::measured]
fn between(req: Req) -> Result<u32, Forbidden> {
    let _ = req;
    Ok(1)
}

#[authenticated]
#[tracing::instrument(skip_all)]
#[renamed::measured]
async fn between_async(req: Req) -> Result<u32, Forbidden> {
    let _ = req;
    tokio::task::yield_now().await;
    Ok(2)
}

#[authenticated]
#[tracing::instrument(skip_all, err)]
#[renamed::measured]
fn between_with_err(req: Req, fail: bool) -> Result<u32, String> {
    let _ = req;
    if fail {
        return Err("failed".to_owned());
    }
    let parsed: u32 = "3".parse().map_err(|_| "unparsable".to_owned())?;
    Ok(parsed)
}

impl From<Forbidden> for String {
    fn from(_: Forbidden) -> String {
        "forbidden".to_owned()
    }
}

#[async_trait::async_trait]
trait Handler {
    async fn handle(&self, req: Req) -> Result<u32, Forbidden>;
}

struct TraitHandler;

// `#[async_trait]` rewrites the body before both of ours expand, and `#[tracing::instrument]`
// again between them.
#[async_trait::async_trait]
impl Handler for TraitHandler {
    #[authenticated(req)]
    #[tracing::instrument(skip_all)]
    #[renamed::measured(handler = "TraitHandler::handle")]
    async fn handle(&self, req: Req) -> Result<u32, Forbidden> {
        let _ = req;
        Ok(4)
    }
}

fn exact(handler: &str, before: &HandlerValues) -> (f64, f64, f64) {
    let scrape = Scrape::take();
    let after = scrape.handler(handler).since(before);
    let rejected = scrape.get("handler_requests_rejected_total", handler);
    (after.requests, after.errors, rejected)
}

#[test]
fn a_body_rewriting_attribute_between_keeps_authentication_first() {
    let before = HandlerValues::of("between");
    for _ in 0..4 {
        assert_eq!(between(Req { token: "guess" }), Err(Forbidden));
    }
    assert_eq!(between(Req { token: "secret" }), Ok(1));
    assert_eq!(exact("between", &before), (1.0, 0.0, 4.0));

    let before = HandlerValues::of("between_with_err");
    assert!(between_with_err(Req { token: "guess" }, false).is_err());
    assert_eq!(
        between_with_err(Req { token: "secret" }, true),
        Err("failed".to_owned())
    );
    assert_eq!(between_with_err(Req { token: "secret" }, false), Ok(3));
    assert_eq!(exact("between_with_err", &before), (2.0, 1.0, 1.0));
}

#[tokio::test]
async fn an_async_body_rewritten_between_keeps_authentication_first() {
    let before = HandlerValues::of("between_async");
    for _ in 0..3 {
        assert_eq!(between_async(Req { token: "guess" }).await, Err(Forbidden));
    }
    assert_eq!(between_async(Req { token: "secret" }).await, Ok(2));
    assert_eq!(exact("between_async", &before), (1.0, 0.0, 3.0));

    let before = HandlerValues::of("TraitHandler::handle");
    let handler = TraitHandler;
    assert_eq!(handler.handle(Req { token: "guess" }).await, Err(Forbidden));
    assert_eq!(handler.handle(Req { token: "secret" }).await, Ok(4));
    assert_eq!(exact("TraitHandler::handle", &before), (1.0, 0.0, 1.0));
}

#[authenticated]
#[renamed::measured]
fn covered(req: Req) -> Result<u32, Forbidden> {
    let _ = req;
    Ok(5)
}

#[test]
fn a_renamed_measured_handler_is_listed_once_authenticated_and_measured() {
    let listed: Vec<_> = handlers()
        .into_iter()
        .filter(|info| info.name == "covered")
        .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].authenticated);
    assert_eq!(listed[0].measured, metrics_runtime::Measured::Yes);
    assert!(
        !handlers_without_metrics()
            .iter()
            .any(|info| info.name == "covered")
    );
    assert_eq!(covered(Req { token: "secret" }), Ok(5));
}

#[metrics_runtime::prometheus_metrics]
fn looks_like_a_check(slow: bool) -> u32 {
    #[allow(dead_code, non_upper_case_globals)]
    const __HANDLER_METRICS_AUTHENTICATED: () = ();
    if slow {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(60));
    7
}

#[test]
fn a_user_const_with_the_markers_old_name_is_only_a_const() {
    let before = HandlerValues::of("looks_like_a_check");
    for slow in [true, true, false] {
        assert_eq!(looks_like_a_check(slow), 7);
    }
    let scrape = Scrape::take();
    let after = scrape.handler("looks_like_a_check").since(&before);
    assert_eq!(after.requests, 3.0);
    assert_eq!(
        scrape.get("handler_requests_rejected_total", "looks_like_a_check"),
        0.0
    );
    assert!(after.latency_sum >= 0.180, "{}", after.latency_sum);
}
