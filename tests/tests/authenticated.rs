//! `#[authenticated]` above `#[prometheus_metrics]`: authentication runs first, so rejected calls
//! never touch a metric, and the rejection is returned in the handler's own type.

use std::sync::Mutex;
use std::time::Duration;

use handler_metrics_tests::{HandlerValues, Scrape};
use metrics_runtime::{Authenticate, authenticated, prometheus_metrics};

/// A request carrying a token; authenticating it records what the metrics said at that moment.
struct Request {
    token: &'static str,
    seen_during_auth: Mutex<Option<HandlerValues>>,
    watched_handler: &'static str,
}

impl Request {
    fn new(token: &'static str, watched_handler: &'static str) -> Request {
        Request {
            token,
            seen_during_auth: Mutex::new(None),
            watched_handler,
        }
    }
}

#[derive(Debug, PartialEq)]
struct Forbidden;

impl Authenticate for Request {
    type Rejection = Forbidden;

    fn authenticate(&self) -> Result<(), Forbidden> {
        *self.seen_during_auth.lock().unwrap() = Some(HandlerValues::of(self.watched_handler));
        if self.token == "secret" {
            Ok(())
        } else {
            Err(Forbidden)
        }
    }
}

#[derive(Debug, PartialEq)]
enum ApiError {
    Forbidden,
    NotFound,
}

impl From<Forbidden> for ApiError {
    fn from(_: Forbidden) -> Self {
        ApiError::Forbidden
    }
}

#[authenticated]
#[prometheus_metrics]
fn get_instance(request: &Request, name: &str) -> Result<HandlerValues, ApiError> {
    let _ = request;
    if name.is_empty() {
        return Err(ApiError::NotFound);
    }
    // What the metrics say while the body runs.
    Ok(HandlerValues::of("get_instance"))
}

#[test]
fn authentication_runs_before_the_metrics_start() {
    let accepted = Request::new("secret", "get_instance");
    let before = HandlerValues::of("get_instance");
    let inside = get_instance(&accepted, "cms").unwrap();
    let during_auth = accepted.seen_during_auth.lock().unwrap().unwrap();
    assert_eq!(
        during_auth.requests, before.requests,
        "not counted yet while authenticating"
    );
    assert_eq!(
        during_auth.in_flight, 0.0,
        "not in flight while authenticating"
    );
    assert_eq!(
        inside.requests,
        before.requests + 1.0,
        "counted once the body runs"
    );
    assert_eq!(inside.in_flight, 1.0, "in flight while the body runs");
    let after = HandlerValues::of("get_instance");
    assert_eq!(after.requests, before.requests + 1.0);
    assert_eq!(after.latency_count, before.latency_count + 1.0);
    assert_eq!(after.in_flight, 0.0);
}

#[test]
fn rejected_calls_leave_every_family_unchanged() {
    // A warm-up call so the series exist and changes would show.
    get_instance(&Request::new("secret", "get_instance"), "x").unwrap();
    let before = Scrape::take();
    for _ in 0..10 {
        let rejected = Request::new("wrong", "get_instance");
        assert_eq!(get_instance(&rejected, "cms"), Err(ApiError::Forbidden));
    }
    let after = Scrape::take();
    assert_eq!(
        after.handler("get_instance"),
        before.handler("get_instance")
    );
    assert_eq!(
        after.bucket(
            "handler_request_latency_seconds_bucket",
            "get_instance",
            "+Inf"
        ),
        before.bucket(
            "handler_request_latency_seconds_bucket",
            "get_instance",
            "+Inf"
        ),
    );
}

#[authenticated]
#[prometheus_metrics]
fn never_authenticated(request: &Request) -> Result<(), ApiError> {
    let _ = request;
    Ok(())
}

#[test]
fn a_handler_only_ever_rejected_stays_at_zero() {
    for _ in 0..3 {
        let rejected = Request::new("nope", "never_authenticated");
        assert_eq!(never_authenticated(&rejected), Err(ApiError::Forbidden));
    }
    let scrape = Scrape::take();
    for family in [
        "handler_requests_total",
        "handler_request_errors_total",
        "handler_requests_in_flight",
        "handler_request_latency_seconds_count",
        "handler_request_latency_seconds_sum",
    ] {
        assert_eq!(
            scrape.find(family, "never_authenticated"),
            Some(0.0),
            "{family}"
        );
    }
}

#[test]
fn errors_of_authenticated_calls_are_counted() {
    let before = HandlerValues::of("get_instance");
    let accepted = Request::new("secret", "get_instance");
    assert_eq!(get_instance(&accepted, ""), Err(ApiError::NotFound));
    let after = HandlerValues::of("get_instance");
    assert_eq!(after.errors - before.errors, 1.0);
}

/// A handler type in the style of tornado's `RequestHandler`: it authenticates itself.
struct InstancesHandler {
    token: &'static str,
}

impl Authenticate for InstancesHandler {
    type Rejection = &'static str;
    fn authenticate(&self) -> Result<(), &'static str> {
        if self.token == "secret" {
            Ok(())
        } else {
            Err("403: Forbidden")
        }
    }
}

impl InstancesHandler {
    /// Not a `Result`: the rejection converts into the return type itself.
    #[authenticated]
    #[prometheus_metrics]
    fn get(&self) -> String {
        "instances".to_owned()
    }

    #[authenticated]
    #[prometheus_metrics]
    async fn put(&mut self, body: &str) -> Result<usize, String> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(body.len())
    }
}

#[tokio::test]
async fn methods_check_self_sync_and_async() {
    let before_get = HandlerValues::of("InstancesHandler::get");
    let before_put = HandlerValues::of("InstancesHandler::put");
    assert_eq!(InstancesHandler { token: "secret" }.get(), "instances");
    assert_eq!(InstancesHandler { token: "bad" }.get(), "403: Forbidden");
    assert_eq!(InstancesHandler { token: "secret" }.put("abc").await, Ok(3));
    assert_eq!(
        InstancesHandler { token: "bad" }.put("abc").await,
        Err("403: Forbidden".to_owned())
    );
    let after_get = HandlerValues::of("InstancesHandler::get");
    let after_put = HandlerValues::of("InstancesHandler::put");
    assert_eq!(after_get.requests - before_get.requests, 1.0);
    assert_eq!(after_put.requests - before_put.requests, 1.0);
    assert_eq!(after_put.latency_count - before_put.latency_count, 1.0);
    assert!(after_put.latency_sum - before_put.latency_sum >= 0.005);
}

struct Token(&'static str);

impl Authenticate for Token {
    type Rejection = String;
    fn authenticate(&self) -> Result<(), String> {
        if self.0 == "secret" {
            Ok(())
        } else {
            Err(format!("bad token {:?}", self.0))
        }
    }
}

struct AppState;

/// An axum-style extractor pattern: the checked binding is named.
struct Extract<T>(T);

#[authenticated(token)]
#[prometheus_metrics]
fn named_parameter(_state: &AppState, Extract(token): Extract<Token>) -> Result<u8, String> {
    let _ = token;
    Ok(1)
}

#[authenticated]
fn authenticated_only(token: Token) -> Result<&'static str, String> {
    let _ = token;
    Ok("ran")
}

#[test]
fn a_named_parameter_inside_a_pattern_and_auth_without_metrics() {
    assert_eq!(named_parameter(&AppState, Extract(Token("secret"))), Ok(1));
    assert_eq!(
        named_parameter(&AppState, Extract(Token("x"))),
        Err("bad token \"x\"".to_owned())
    );
    assert_eq!(HandlerValues::of("named_parameter").requests, 1.0);
    assert_eq!(authenticated_only(Token("secret")), Ok("ran"));
    assert_eq!(
        authenticated_only(Token("no")),
        Err("bad token \"no\"".to_owned())
    );
    assert_eq!(
        Scrape::take().find("handler_requests_total", "authenticated_only"),
        None
    );
}

#[async_trait::async_trait]
trait Resource {
    async fn delete(&self, id: u32) -> Result<u32, String>;
}

struct Jobs {
    token: Token,
}

impl Authenticate for Jobs {
    type Rejection = String;
    fn authenticate(&self) -> Result<(), String> {
        self.token.authenticate()
    }
}

#[async_trait::async_trait]
impl Resource for Jobs {
    #[authenticated]
    #[prometheus_metrics]
    async fn delete(&self, id: u32) -> Result<u32, String> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(id)
    }
}

#[tokio::test]
async fn async_trait_methods_authenticate_first_and_time_the_work() {
    let before = HandlerValues::of("Jobs::delete");
    let ok = Jobs {
        token: Token("secret"),
    };
    let bad = Jobs {
        token: Token("bad"),
    };
    assert_eq!(ok.delete(7).await, Ok(7));
    assert_eq!(bad.delete(7).await, Err("bad token \"bad\"".to_owned()));
    let after = HandlerValues::of("Jobs::delete");
    assert_eq!(after.requests - before.requests, 1.0);
    assert_eq!(after.errors - before.errors, 0.0);
    assert!(after.latency_sum - before.latency_sum >= 0.020);
}

type ApiResult<T> = Result<T, ApiError>;

#[authenticated]
#[prometheus_metrics]
fn aliased_result(request: &Request) -> ApiResult<u8> {
    let _ = request;
    Ok(7)
}

/// Not a `Result` at all: the rejection converts into the output itself.
#[derive(Debug, PartialEq)]
struct Response(u16);

impl From<Forbidden> for Response {
    fn from(_: Forbidden) -> Self {
        Response(403)
    }
}

#[authenticated]
#[prometheus_metrics]
async fn plain_response(request: &Request) -> Response {
    let _ = request;
    Response(200)
}

#[tokio::test]
async fn rejections_convert_by_type_also_through_result_aliases() {
    assert_eq!(
        aliased_result(&Request::new("secret", "aliased_result")),
        Ok(7)
    );
    assert_eq!(
        aliased_result(&Request::new("guess", "aliased_result")),
        Err(ApiError::Forbidden)
    );
    assert_eq!(
        plain_response(&Request::new("secret", "plain_response")).await,
        Response(200)
    );
    assert_eq!(
        plain_response(&Request::new("no", "plain_response")).await,
        Response(403)
    );
    assert_eq!(HandlerValues::of("aliased_result").requests, 1.0);
    assert_eq!(HandlerValues::of("plain_response").requests, 1.0);
}

mod renamed {
    pub use metrics_runtime::authenticated as checked;
    pub use metrics_runtime::prometheus_metrics as measured;
}

#[authenticated]
#[renamed::measured]
fn renamed_metrics_below(request: &Request) -> Result<(), ApiError> {
    let _ = request;
    Ok(())
}

#[renamed::checked]
#[renamed::measured]
async fn both_renamed(request: &Request) -> Result<(), ApiError> {
    let _ = request;
    Ok(())
}

#[test]
fn rejected_calls_are_not_measured_whatever_the_attributes_are_called() {
    let before = HandlerValues::of("renamed_metrics_below");
    let rejected_before =
        Scrape::take().get("handler_requests_rejected_total", "renamed_metrics_below");
    for _ in 0..5 {
        let rejected = renamed_metrics_below(&Request::new("guess", "renamed_metrics_below"));
        assert_eq!(rejected, Err(ApiError::Forbidden));
    }
    assert_eq!(
        renamed_metrics_below(&Request::new("secret", "renamed_metrics_below")),
        Ok(())
    );
    let after = HandlerValues::of("renamed_metrics_below").since(&before);
    assert_eq!(
        (after.requests, after.errors, after.latency_count),
        (1.0, 0.0, 1.0)
    );
    // The check the renamed `#[prometheus_metrics]` found still counts what it rejects.
    let rejected = Scrape::take().get("handler_requests_rejected_total", "renamed_metrics_below");
    assert_eq!(rejected - rejected_before, 5.0);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let before = HandlerValues::of("both_renamed");
    for token in ["guess", "guess", "secret"] {
        let _ = runtime.block_on(both_renamed(&Request::new(token, "both_renamed")));
    }
    let after = HandlerValues::of("both_renamed").since(&before);
    assert_eq!(
        (after.requests, after.errors, after.latency_count),
        (1.0, 0.0, 1.0)
    );
}
