//! `#[prometheus_metrics]` on every fn shape a handler can have: each keeps its meaning and is
//! counted and timed exactly once per call.

use std::fmt::Display;
use std::time::Duration;

use handler_metrics_tests::{HandlerValues, Scrape};
use metrics_runtime::prometheus_metrics;

/// Runs `call` and asserts it added exactly `calls` requests and observations and `errors` errors
/// to `handler`, leaving nothing in flight.
fn assert_measured(handler: &str, calls: u32, errors: u32, call: impl FnOnce()) {
    let before = HandlerValues::of(handler);
    call();
    let after = HandlerValues::of(handler);
    assert_eq!(
        after.requests - before.requests,
        f64::from(calls),
        "{handler}: requests"
    );
    assert_eq!(
        after.latency_count - before.latency_count,
        f64::from(calls),
        "{handler}: latency count"
    );
    assert_eq!(
        after.errors - before.errors,
        f64::from(errors),
        "{handler}: errors"
    );
    assert_eq!(after.in_flight, 0.0, "{handler}: in flight");
}

#[prometheus_metrics]
fn plain_sync(x: u32) -> u32 {
    x + 1
}

#[test]
fn sync_fn() {
    assert_measured("plain_sync", 2, 0, || {
        assert_eq!(plain_sync(1), 2);
        assert_eq!(plain_sync(2), 3);
    });
}

#[prometheus_metrics]
fn unit_return() {}

#[test]
fn fn_without_return_type() {
    assert_measured("unit_return", 1, 0, unit_return);
}

#[prometheus_metrics]
async fn plain_async(x: u32) -> u32 {
    tokio::task::yield_now().await;
    x * 2
}

#[tokio::test]
async fn async_fn() {
    let before = HandlerValues::of("plain_async");
    assert_eq!(plain_async(4).await, 8);
    let after = HandlerValues::of("plain_async");
    assert_eq!(after.requests - before.requests, 1.0);
    assert_eq!(after.latency_count - before.latency_count, 1.0);
}

struct Store {
    items: Vec<String>,
}

impl Store {
    #[prometheus_metrics]
    fn first(&self) -> Option<&String> {
        self.items.first()
    }

    #[prometheus_metrics]
    fn push(&mut self, item: &str) -> &mut Vec<String> {
        self.items.push(item.to_owned());
        &mut self.items
    }

    #[prometheus_metrics]
    fn into_items(self) -> Vec<String> {
        self.items
    }

    #[prometheus_metrics]
    fn associated(capacity: usize) -> Store {
        Store {
            items: Vec::with_capacity(capacity),
        }
    }
}

#[test]
fn receivers_ref_mut_and_by_value() {
    // Without a `self` receiver the label is the fn name alone.
    assert_measured("associated", 1, 0, || {
        let store = Store::associated(2);
        assert!(store.items.capacity() >= 2);
    });
    let mut store = Store { items: vec![] };
    assert_measured("Store::push", 2, 0, || {
        store.push("a");
        store.push("b").push("c".to_owned());
    });
    assert_measured("Store::first", 1, 0, || {
        assert_eq!(store.first().map(String::as_str), Some("a"));
    });
    assert_measured("Store::into_items", 1, 0, || {
        assert_eq!(store.into_items(), ["a", "b", "c"]);
    });
}

struct Wrapper<T>(T);

impl<T: Clone + Display> Wrapper<T> {
    #[prometheus_metrics]
    fn describe<'a, U>(&'a self, other: &'a U) -> String
    where
        U: Display + ?Sized,
    {
        format!("{}/{}", self.0, other)
    }
}

#[prometheus_metrics]
fn generic_sum<T: Into<u64>, const N: usize>(values: [T; N]) -> u64 {
    values.into_iter().map(Into::into).sum()
}

#[test]
fn generics_lifetimes_and_where_clauses_share_one_series() {
    assert_measured("Wrapper::describe", 2, 0, || {
        assert_eq!(Wrapper(1u8).describe("x"), "1/x");
        assert_eq!(Wrapper("s").describe(&2.5), "s/2.5");
    });
    assert_measured("generic_sum", 2, 0, || {
        assert_eq!(generic_sum([1u8, 2, 3]), 6);
        assert_eq!(generic_sum([10u32]), 10);
    });
}

#[prometheus_metrics]
fn impl_trait_in_and_out(value: impl Display) -> impl Display {
    format!("<{value}>")
}

#[test]
fn impl_trait_in_argument_and_return_position() {
    assert_measured("impl_trait_in_and_out", 1, 0, || {
        assert_eq!(impl_trait_in_and_out(7).to_string(), "<7>");
    });
}

/// # Safety
/// `pointer` must be valid for reads.
#[prometheus_metrics]
unsafe fn read_raw(pointer: *const u32) -> u32 {
    unsafe { *pointer }
}

#[prometheus_metrics]
extern "C" fn c_callback(x: i32) -> i32 {
    x - 1
}

#[test]
fn unsafe_and_extern_c_fns() {
    let value = 41;
    assert_measured("read_raw", 1, 0, || {
        assert_eq!(unsafe { read_raw(&value) }, 41);
    });
    assert_measured("c_callback", 1, 0, || assert_eq!(c_callback(1), 0));
}

#[prometheus_metrics]
fn early_return(x: i32) -> &'static str {
    if x < 0 {
        return "negative";
    }
    "non-negative"
}

#[prometheus_metrics]
fn parse_number(text: &str) -> Result<i64, std::num::ParseIntError> {
    let number: i64 = text.trim().parse()?;
    Ok(number * 2)
}

#[derive(Debug)]
struct HandlerError;

impl From<std::num::ParseIntError> for HandlerError {
    fn from(_: std::num::ParseIntError) -> Self {
        HandlerError
    }
}

type HandlerResult<T> = std::result::Result<T, HandlerError>;

#[prometheus_metrics]
fn aliased_result(text: &str) -> HandlerResult<u8> {
    Ok(text.parse::<u8>()?)
}

#[test]
fn early_return_and_question_mark_keep_their_meaning() {
    assert_measured("early_return", 2, 0, || {
        assert_eq!(early_return(-1), "negative");
        assert_eq!(early_return(1), "non-negative");
    });
    assert_measured("parse_number", 3, 1, || {
        assert_eq!(parse_number(" 21 "), Ok(42));
        assert!(parse_number("x").is_err());
        assert_eq!(parse_number("0"), Ok(0));
    });
    assert_measured("aliased_result", 2, 1, || {
        assert_eq!(aliased_result("7").unwrap(), 7);
        assert!(aliased_result("300").is_err());
    });
}

#[prometheus_metrics]
fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.len() >= b.len() { a } else { b }
}

#[prometheus_metrics]
fn first_word(text: &str) -> &str {
    text.split(' ').next().unwrap_or(text)
}

#[test]
fn returning_references_borrowed_from_arguments() {
    assert_measured("longest", 1, 0, || assert_eq!(longest("abc", "de"), "abc"));
    assert_measured("first_word", 1, 0, || {
        let owned = String::from("hello world");
        assert_eq!(first_word(&owned), "hello");
    });
}

#[prometheus_metrics]
fn factorial(n: u64) -> u64 {
    if n <= 1 { 1 } else { n * factorial(n - 1) }
}

#[test]
fn recursion_counts_every_call() {
    assert_measured("factorial", 5, 0, || assert_eq!(factorial(5), 120));
}

trait Handler {
    fn handle(&self, input: u32) -> Result<u32, String>;
}

struct Doubler;

impl Handler for Doubler {
    #[prometheus_metrics]
    fn handle(&self, input: u32) -> Result<u32, String> {
        input.checked_mul(2).ok_or_else(|| "overflow".to_owned())
    }
}

#[test]
fn trait_impl_methods_are_labelled_with_the_type() {
    assert_measured("Doubler::handle", 2, 1, || {
        assert_eq!(Doubler.handle(2), Ok(4));
        assert!(Doubler.handle(u32::MAX).is_err());
    });
    let labels = Scrape::take().labels("handler_requests_total", "Doubler::handle");
    assert_eq!(labels["module"], "fn_shapes");
}

#[async_trait::async_trait]
trait AsyncHandler {
    async fn fetch(&self, delay: Duration) -> Result<u64, String>;
}

struct Rucio;

#[async_trait::async_trait]
impl AsyncHandler for Rucio {
    #[prometheus_metrics]
    async fn fetch(&self, delay: Duration) -> Result<u64, String> {
        tokio::time::sleep(delay).await;
        if delay.is_zero() {
            return Err("no delay".to_owned());
        }
        Ok(delay.as_millis() as u64)
    }
}

#[tokio::test]
async fn async_trait_methods_time_the_awaited_work() {
    let before = HandlerValues::of("Rucio::fetch");
    assert_eq!(Rucio.fetch(Duration::from_millis(50)).await, Ok(50));
    assert!(Rucio.fetch(Duration::ZERO).await.is_err());
    let after = HandlerValues::of("Rucio::fetch");
    assert_eq!(after.requests - before.requests, 2.0);
    assert_eq!(after.errors - before.errors, 1.0);
    assert_eq!(after.latency_count - before.latency_count, 2.0);
    assert!(
        after.latency_sum - before.latency_sum >= 0.050,
        "the 50 ms of awaited work are in the histogram sum: {}",
        after.latency_sum - before.latency_sum
    );
}

struct Native;

impl Native {
    #[prometheus_metrics]
    async fn load(&self, name: &str) -> Result<String, String> {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok(name.to_uppercase())
    }
}

#[tokio::test]
async fn async_methods_and_native_async_results() {
    let before = HandlerValues::of("Native::load");
    assert_eq!(Native.load("did").await.as_deref(), Ok("DID"));
    let after = HandlerValues::of("Native::load");
    assert_eq!(after.requests - before.requests, 1.0);
    assert_eq!(after.errors - before.errors, 0.0);
}

#[prometheus_metrics(handler = "instances_get")]
fn overridden_label() -> u8 {
    1
}

mod nested {
    #[metrics_runtime::prometheus_metrics]
    pub fn in_module() {}
}

#[test]
fn handler_override_and_module_label() {
    assert_measured("instances_get", 1, 0, || assert_eq!(overridden_label(), 1));
    assert_measured("in_module", 1, 0, nested::in_module);
    let scrape = Scrape::take();
    assert_eq!(
        scrape.labels("handler_requests_total", "in_module")["module"],
        "fn_shapes::nested"
    );
    assert!(
        scrape
            .find("handler_requests_total", "overridden_label")
            .is_none()
    );
}

#[test]
fn histogram_buckets_are_cumulative_and_end_at_the_count() {
    assert_measured("factorial", 1, 0, || assert_eq!(factorial(1), 1));
    let scrape = Scrape::take();
    let count = scrape.get("handler_request_latency_seconds_count", "factorial");
    assert_eq!(
        scrape.bucket(
            "handler_request_latency_seconds_bucket",
            "factorial",
            "+Inf"
        ),
        count
    );
    let bounds = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
    ];
    let cumulative: Vec<f64> = bounds
        .iter()
        .map(|le| scrape.bucket("handler_request_latency_seconds_bucket", "factorial", le))
        .collect();
    assert!(
        cumulative.windows(2).all(|pair| pair[0] <= pair[1]),
        "{cumulative:?}"
    );
    assert!(
        cumulative[0] >= 1.0,
        "a trivial call lands in the first bucket: {cumulative:?}"
    );
}
