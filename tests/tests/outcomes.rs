//! What counts as an error: the value the body returns decides (`CountsAsError`, `Result`s by
//! their `Ok` and `Err` types, 5xx statuses with the `http` feature, `error_if`), through type
//! aliases, for sync and async fns, methods and `#[async_trait]`; a panic always counts. And
//! the calls `#[authenticated]` rejects are counted apart, from the first scrape on.

use async_trait::async_trait;
use handler_metrics_tests::{HandlerValues, Scrape};
use metrics_runtime::{Authenticate, CountsAsError, authenticated, prometheus_metrics};

/// An HTTP-style error: 4xx is the client's mistake, 5xx the server's.
#[derive(Debug)]
struct ApiError(u16);

impl CountsAsError for ApiError {
    fn counts_as_error(&self) -> bool {
        self.0 >= 500
    }
}

/// A reply that can itself say it failed.
struct Reply {
    status: u16,
}

impl CountsAsError for Reply {
    fn counts_as_error(&self) -> bool {
        self.status >= 500
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn errors_added(handler: &str, calls: impl FnOnce()) -> f64 {
    let before = HandlerValues::of(handler);
    calls();
    let after = HandlerValues::of(handler).since(&before);
    after.errors
}

#[prometheus_metrics]
fn plain_err(fail: bool) -> Result<(), String> {
    if fail { Err("failed".into()) } else { Ok(()) }
}

#[prometheus_metrics]
fn classified_err(status: u16) -> ApiResult<u8> {
    if status == 200 {
        Ok(1)
    } else {
        Err(ApiError(status))
    }
}

#[prometheus_metrics]
fn classified_ok(status: u16) -> Result<Reply, String> {
    if status == 0 {
        Err("no reply".into())
    } else {
        Ok(Reply { status })
    }
}

#[prometheus_metrics]
fn whole_value(status: u16) -> Reply {
    Reply { status }
}

#[prometheus_metrics]
fn anything_else(status: u16) -> u16 {
    status
}

#[prometheus_metrics]
fn panics(status: u16) -> Reply {
    if status >= 500 {
        panic!("server error");
    }
    Reply { status }
}

#[test]
fn err_counts_unless_its_type_says_otherwise() {
    assert_eq!(
        errors_added("plain_err", || {
            let _ = plain_err(true);
            let _ = plain_err(false);
        }),
        1.0
    );
    assert_eq!(
        errors_added("classified_err", || {
            let _ = classified_err(200);
            let _ = classified_err(400);
            let _ = classified_err(404);
            let _ = classified_err(502);
        }),
        1.0,
        "only the 502 is the server's error"
    );
}

#[test]
fn ok_counts_only_if_its_type_says_so() {
    assert_eq!(
        errors_added("classified_ok", || {
            let _ = classified_ok(200);
            let _ = classified_ok(503);
            let _ = classified_ok(0);
        }),
        2.0,
        "Ok(503) and Err(_)"
    );
}

#[test]
fn a_type_implementing_counts_as_error_decides_and_anything_else_never_fails() {
    assert_eq!(
        errors_added("whole_value", || {
            let _ = whole_value(200);
            let _ = whole_value(500);
            let _ = whole_value(501);
        }),
        2.0
    );
    assert_eq!(
        errors_added("anything_else", || {
            let _ = anything_else(500);
        }),
        0.0
    );
}

#[test]
fn a_panic_is_an_error_whatever_the_type() {
    assert_eq!(
        errors_added("panics", || {
            let _ = std::panic::catch_unwind(|| panics(500));
            let _ = panics(200);
        }),
        1.0
    );
}

#[prometheus_metrics]
async fn async_classified(status: u16) -> ApiResult<Reply> {
    tokio::task::yield_now().await;
    match status {
        400..500 => Err(ApiError(status)),
        _ => Ok(Reply { status }),
    }
}

struct Handlers;

impl Handlers {
    #[prometheus_metrics]
    fn method_classified(&self, status: u16) -> ApiResult<()> {
        if status < 400 {
            Ok(())
        } else {
            Err(ApiError(status))
        }
    }
}

#[async_trait]
trait Upstream {
    async fn fetch(&self, status: u16) -> ApiResult<Reply>;
}

#[async_trait]
impl Upstream for Handlers {
    #[prometheus_metrics]
    async fn fetch(&self, status: u16) -> ApiResult<Reply> {
        tokio::task::yield_now().await;
        if status == 404 {
            Err(ApiError(404))
        } else {
            Ok(Reply { status })
        }
    }
}

#[tokio::test]
async fn the_rule_holds_for_async_fns_methods_and_async_trait() {
    let before = HandlerValues::of("async_classified");
    for status in [200, 404, 500] {
        let _ = async_classified(status).await;
    }
    assert_eq!(
        HandlerValues::of("async_classified").since(&before).errors,
        1.0,
        "Ok(500) only"
    );
    assert_eq!(
        errors_added("Handlers::method_classified", || {
            for status in [200, 404, 503] {
                let _ = Handlers.method_classified(status);
            }
        }),
        1.0
    );
    let before = HandlerValues::of("Handlers::fetch");
    for status in [200, 404, 502] {
        let _ = Handlers.fetch(status).await;
    }
    let after = HandlerValues::of("Handlers::fetch").since(&before);
    assert_eq!((after.requests, after.errors), (3.0, 1.0));
}

fn is_teapot(output: &Result<u16, String>) -> bool {
    matches!(output, Ok(418))
}

#[prometheus_metrics(error_if = is_teapot)]
fn overridden(status: u16) -> Result<u16, String> {
    if status == 0 {
        Err("no status".into())
    } else {
        Ok(status)
    }
}

#[test]
fn error_if_overrides_the_rule() {
    assert_eq!(
        errors_added("overridden", || {
            let _ = overridden(0);
            let _ = overridden(418);
            let _ = overridden(500);
        }),
        1.0,
        "only the teapot"
    );
}

mod http_statuses {
    use http::StatusCode;

    use super::*;

    #[prometheus_metrics]
    fn status_only(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    #[prometheus_metrics]
    fn response(code: u16) -> http::Response<&'static str> {
        http::Response::builder().status(code).body("").unwrap()
    }

    #[prometheus_metrics]
    async fn status_and_body(code: u16) -> Result<(StatusCode, String), ApiError> {
        Ok((StatusCode::from_u16(code).unwrap(), "body".into()))
    }

    #[tokio::test]
    async fn a_5xx_status_is_an_error_and_a_4xx_is_not() {
        assert_eq!(
            errors_added("status_only", || {
                for code in [200, 404, 500, 503] {
                    let _ = status_only(code);
                }
            }),
            2.0
        );
        assert_eq!(
            errors_added("response", || {
                for code in [201, 400, 502] {
                    let _ = response(code);
                }
            }),
            1.0
        );
        let before = HandlerValues::of("status_and_body");
        for code in [200, 422, 500] {
            let _ = status_and_body(code).await;
        }
        assert_eq!(
            HandlerValues::of("status_and_body").since(&before).errors,
            1.0
        );
    }
}

struct Token(&'static str);

impl Authenticate for Token {
    type Rejection = ApiError;

    fn authenticate(&self) -> Result<(), ApiError> {
        if self.0 == "secret" {
            Ok(())
        } else {
            Err(ApiError(403))
        }
    }
}

#[authenticated]
#[prometheus_metrics]
fn guarded(token: &Token) -> ApiResult<()> {
    let _ = token;
    Ok(())
}

#[authenticated]
#[prometheus_metrics]
async fn guarded_async(token: &Token) -> ApiResult<()> {
    let _ = token;
    Ok(())
}

#[authenticated]
#[prometheus_metrics]
fn never_rejected(token: &Token) -> ApiResult<()> {
    let _ = token;
    Ok(())
}

fn rejected(scrape: &Scrape, handler: &str) -> f64 {
    scrape.get("handler_requests_rejected_total", handler)
}

#[test]
fn rejected_calls_are_counted_apart_and_nowhere_else() {
    assert!(
        Scrape::take()
            .find("handler_requests_rejected_total", "never_rejected")
            .is_some()
    );
    let before = Scrape::take();
    let values_before = HandlerValues::of("guarded");
    for token in ["guess", "secret", "guess", "guess"] {
        let _ = guarded(&Token(token));
    }
    let after = Scrape::take();
    assert_eq!(
        rejected(&after, "guarded") - rejected(&before, "guarded"),
        3.0
    );
    let values = HandlerValues::of("guarded").since(&values_before);
    assert_eq!(
        (values.requests, values.errors, values.latency_count),
        (1.0, 0.0, 1.0)
    );
    assert_eq!(rejected(&after, "never_rejected"), 0.0);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let before = Scrape::take();
    for token in ["guess", "secret"] {
        let _ = runtime.block_on(guarded_async(&Token(token)));
    }
    let after = Scrape::take();
    assert_eq!(
        rejected(&after, "guarded_async") - rejected(&before, "guarded_async"),
        1.0
    );
}
