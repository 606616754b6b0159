//! Shapes at the edges: trait default methods, `Self` behind a pointer or a trait object, fns that
//! return futures, `-> !`, `#[track_caller]`, and cancellation while something else unwinds.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use handler_metrics_tests::{HandlerValues, Scrape};
use metrics_runtime::{handlers, prometheus_handlers, prometheus_metrics};

trait Handle {
    #[prometheus_metrics]
    fn handle(&self) -> u32 {
        7
    }
}

struct Xray;
struct Yankee;
impl Handle for Xray {}
impl Handle for Yankee {}

#[test]
fn each_implementor_of_a_default_method_has_its_own_series() {
    let before_x = HandlerValues::of("Xray::handle");
    let before_y = HandlerValues::of("Yankee::handle");
    assert_eq!(Yankee.handle(), 7);
    for _ in 0..3 {
        assert_eq!(Xray.handle(), 7);
    }
    let x = HandlerValues::of("Xray::handle").since(&before_x);
    let y = HandlerValues::of("Yankee::handle").since(&before_y);
    assert_eq!((x.requests, x.latency_count), (3.0, 3.0));
    assert_eq!((y.requests, y.latency_count), (1.0, 1.0));
}

trait Describe {
    fn describe(self: Arc<Self>) -> &'static str;
}

struct Foo;

impl Describe for Foo {
    #[prometheus_metrics]
    fn describe(self: Arc<Self>) -> &'static str {
        "foo"
    }
}

trait Tr {
    fn name(&self) -> &'static str;
}

impl Tr for Foo {
    fn name(&self) -> &'static str {
        "foo"
    }
}

trait Labelled {
    fn labelled(&self) -> u8;
}

impl Labelled for Arc<Foo> {
    #[prometheus_metrics]
    fn labelled(&self) -> u8 {
        1
    }
}

impl Labelled for Box<dyn Tr + Send> {
    #[prometheus_metrics]
    fn labelled(&self) -> u8 {
        2
    }
}

#[test]
fn a_self_behind_a_pointer_or_a_trait_object_is_labelled_by_the_type_inside() {
    assert_eq!(Arc::new(Foo).describe(), "foo");
    assert_eq!(Arc::new(Foo).labelled(), 1);
    let object: Box<dyn Tr + Send> = Box::new(Foo);
    assert_eq!(object.name(), "foo");
    assert_eq!(object.labelled(), 2);
    let scrape = Scrape::take();
    assert_eq!(scrape.get("handler_requests_total", "Foo::describe"), 1.0);
    assert_eq!(scrape.get("handler_requests_total", "Foo::labelled"), 1.0);
    assert_eq!(scrape.get("handler_requests_total", "Tr::labelled"), 1.0);
    for wrong in [
        "Arc::describe",
        "Arc::labelled",
        "Box::labelled",
        "Send::labelled",
    ] {
        assert_eq!(
            scrape.find("handler_requests_total", wrong),
            None,
            "{wrong}"
        );
    }
}

struct Alpha;
struct Beta;

#[prometheus_handlers]
impl Alpha {
    #[prometheus_metrics]
    fn create() -> Alpha {
        Alpha
    }
}

#[prometheus_handlers]
impl Beta {
    #[prometheus_metrics]
    fn create() -> Beta {
        Beta
    }
}

#[prometheus_handlers]
impl Labelled for Box<Beta> {
    #[prometheus_metrics]
    fn labelled(&self) -> u8 {
        3
    }
}

#[test]
fn associated_fns_under_prometheus_handlers_are_labelled_with_their_type() {
    let before_alpha = HandlerValues::of("Alpha::create");
    let before_beta = HandlerValues::of("Beta::create");
    let _ = Alpha::create();
    let _ = Beta::create();
    let _ = Beta::create();
    // The receiver is `Box<Self>` on purpose (rustc 1.85 calls the box unneeded).
    #[allow(unused_allocation)]
    let labelled = Box::new(Beta).labelled();
    assert_eq!(labelled, 3);
    let alpha = HandlerValues::of("Alpha::create").since(&before_alpha);
    let beta = HandlerValues::of("Beta::create").since(&before_beta);
    assert_eq!(alpha.requests, 1.0);
    assert_eq!(beta.requests, 2.0);
    let listed: Vec<_> = handlers()
        .into_iter()
        .filter_map(|handler| handler.label)
        .collect();
    for label in ["Alpha::create", "Beta::create", "Beta::labelled"] {
        assert!(listed.iter().any(|l| l == label), "{label} in {listed:?}");
    }
}

mod one {
    #[metrics_runtime::prometheus_metrics(handler = "same_label")]
    pub fn same() {}
}
mod two {
    #[metrics_runtime::prometheus_metrics(handler = "same_label")]
    pub fn same() {}
}
mod three {
    #[metrics_runtime::prometheus_metrics(handler = "same_label")]
    pub fn other() {}
}

#[test]
fn fns_that_share_a_series_are_visible_in_handlers() {
    one::same();
    two::same();
    three::other();
    let same: Vec<_> = handlers()
        .into_iter()
        .filter(|handler| handler.label.as_deref() == Some("same_label"))
        .collect();
    assert_eq!(same.len(), 3);
    // `one::same` and `two::same` have different `module` labels: each has its own series.
    let shared: Vec<_> = same.iter().filter(|h| h.shares_series).collect();
    assert!(shared.is_empty(), "{shared:?}");
    let alike: Vec<_> = handlers()
        .into_iter()
        .filter(|handler| handler.label.as_deref() == Some("twin"))
        .collect();
    assert_eq!(alike.len(), 2);
    assert!(alike.iter().all(|h| h.shares_series), "{alike:?}");
}

#[prometheus_metrics(handler = "twin")]
fn twin_a() {}

#[prometheus_metrics(handler = "twin")]
fn twin_b() {}

#[test]
fn twins_count_into_one_series() {
    let before = HandlerValues::of("twin");
    twin_a();
    twin_b();
    assert_eq!(HandlerValues::of("twin").since(&before).requests, 2.0);
}

#[prometheus_metrics]
fn later() -> impl Future<Output = u32> {
    async {
        tokio::time::sleep(Duration::from_millis(60)).await;
        3
    }
}

#[prometheus_metrics]
fn later_failing(fail: bool) -> Pin<Box<dyn Future<Output = Result<u8, String>> + Send>> {
    Box::pin(async move {
        tokio::task::yield_now().await;
        if fail {
            Err("failed".to_owned())
        } else {
            Ok(1)
        }
    })
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[prometheus_metrics]
fn later_boxed(value: &str) -> BoxFuture<'_, usize> {
    Box::pin(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        value.len()
    })
}

#[tokio::test]
async fn a_returned_future_is_timed_to_completion_and_in_flight_while_pending() {
    let before = HandlerValues::of("later");
    let pending = later();
    assert_eq!(HandlerValues::of("later").in_flight, 1.0);
    assert_eq!(pending.await, 3);
    let after = HandlerValues::of("later").since(&before);
    assert_eq!((after.requests, after.latency_count), (1.0, 1.0));
    assert!(after.latency_sum >= 0.060, "{} s", after.latency_sum);
    assert_eq!(HandlerValues::of("later").in_flight, 0.0);

    let before = HandlerValues::of("later_boxed");
    assert_eq!(later_boxed("four").await, 4);
    let after = HandlerValues::of("later_boxed").since(&before);
    assert_eq!(after.latency_count, 1.0);
    assert!(after.latency_sum >= 0.020, "{} s", after.latency_sum);
}

#[tokio::test]
async fn a_returned_future_counts_errors_from_its_output_and_cancellation_is_not_one() {
    let before = HandlerValues::of("later_failing");
    assert_eq!(later_failing(true).await, Err("failed".to_owned()));
    assert_eq!(later_failing(false).await, Ok(1));
    let after = HandlerValues::of("later_failing").since(&before);
    assert_eq!((after.requests, after.latency_count), (2.0, 2.0));
    assert_eq!(after.errors, 1.0);

    // Timed from the call: a future dropped before it completes was in flight, then cancelled.
    let before = HandlerValues::of("never_awaited");
    drop(never_awaited());
    let after = HandlerValues::of("never_awaited").since(&before);
    assert_eq!((after.requests, after.latency_count), (1.0, 1.0));
    assert_eq!(after.errors, 0.0);
    assert_eq!(HandlerValues::of("never_awaited").in_flight, 0.0);
}

#[prometheus_metrics]
fn never_awaited() -> impl Future<Output = Result<(), String>> {
    std::future::ready(Err("never seen".to_owned()))
}

#[prometheus_metrics]
fn diverges(message: &str) -> ! {
    panic!("{message}")
}

#[test]
fn a_fn_returning_never_is_measured() {
    let before = HandlerValues::of("diverges");
    assert!(std::panic::catch_unwind(|| diverges("stop")).is_err());
    let after = HandlerValues::of("diverges").since(&before);
    assert_eq!(
        (after.requests, after.errors, after.latency_count),
        (1.0, 1.0, 1.0)
    );
}

#[track_caller]
#[prometheus_metrics]
fn called_from() -> &'static Location<'static> {
    Location::caller()
}

#[track_caller]
#[prometheus_metrics]
fn parse_at_caller(text: &str) -> Result<u32, std::num::ParseIntError> {
    if text.is_empty() {
        return Ok(0);
    }
    let value: u32 = text.parse()?;
    Ok(value)
}

#[track_caller]
#[prometheus_metrics]
fn first_char(text: &str) -> Option<char> {
    let first = text.chars().next()?;
    Some(first)
}

#[test]
fn track_caller_reports_the_callers_location() {
    let line = line!() + 1;
    let location = called_from();
    assert_eq!((location.file(), location.line()), (file!(), line));
}

#[test]
fn track_caller_fns_count_returns_and_question_marks() {
    let before = HandlerValues::of("parse_at_caller");
    assert_eq!(parse_at_caller(""), Ok(0));
    assert_eq!(parse_at_caller("12"), Ok(12));
    assert!(parse_at_caller("x").is_err());
    let after = HandlerValues::of("parse_at_caller").since(&before);
    assert_eq!(
        (after.requests, after.latency_count, after.errors),
        (3.0, 3.0, 1.0)
    );

    let before = HandlerValues::of("first_char");
    assert_eq!(first_char("ab"), Some('a'));
    assert_eq!(first_char(""), None);
    let after = HandlerValues::of("first_char").since(&before);
    assert_eq!(
        (after.requests, after.latency_count, after.errors),
        (2.0, 2.0, 0.0)
    );
}

#[prometheus_metrics]
async fn waits_forever() {
    std::future::pending::<()>().await
}

async fn panics_soon() {
    tokio::task::yield_now().await;
    panic!("an unrelated branch failed");
}

#[tokio::test]
async fn a_call_cancelled_while_another_branch_unwinds_is_not_an_error() {
    let before = HandlerValues::of("waits_forever");
    let joined = tokio::spawn(async {
        tokio::join!(waits_forever(), panics_soon());
    })
    .await;
    assert!(joined.unwrap_err().is_panic());
    let after = HandlerValues::of("waits_forever").since(&before);
    assert_eq!((after.requests, after.latency_count), (1.0, 1.0));
    assert_eq!(after.errors, 0.0, "cancelled, not failed");
    assert_eq!(HandlerValues::of("waits_forever").in_flight, 0.0);
}

#[prometheus_metrics]
async fn panics_in_body() {
    tokio::task::yield_now().await;
    panic!("the handler's own panic");
}

#[test]
fn a_panic_of_the_body_is_an_error_even_when_the_future_is_dropped_later() {
    let before = HandlerValues::of("panics_in_body");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut future = Box::pin(panics_in_body());
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(future.as_mut())
    }));
    assert!(polled.is_err());
    drop(future); // not unwinding any more
    let after = HandlerValues::of("panics_in_body").since(&before);
    assert_eq!((after.requests, after.errors), (1.0, 1.0));
}
