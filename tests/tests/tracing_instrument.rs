//! `#[tracing::instrument]` next to `#[authenticated]` and `#[prometheus_metrics]`, in both orders.
//!
//! Each of these attributes rewrites the body it is given, so the attribute written *lower*
//! wraps, at run time, what the upper one produced:
//!
//! - `#[tracing::instrument]` above `#[authenticated]`: authentication and the metrics run
//!   outside the span; only authenticated calls get a span, around the measured body.
//! - `#[tracing::instrument]` below `#[prometheus_metrics]`: every call gets a span, rejected
//!   ones too, and authentication runs inside it.
//!
//! Either way the metrics count exactly the authenticated calls.

use std::sync::{Arc, Mutex, PoisonError};

use handler_metrics_tests::HandlerValues;
use metrics_runtime::{Authenticate, authenticated, prometheus_metrics};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// `#[tracing::instrument]` records the arguments, so they must be `Debug`.
#[derive(Debug)]
struct Request {
    token: &'static str,
}

#[derive(Debug, PartialEq)]
struct Forbidden;

impl Authenticate for Request {
    type Rejection = Forbidden;

    fn authenticate(&self) -> Result<(), Forbidden> {
        // Shows in the log which spans were entered while authenticating.
        tracing::info!(name: "authenticate", "authenticate");
        if self.token == "secret" {
            Ok(())
        } else {
            Err(Forbidden)
        }
    }
}

#[tracing::instrument]
#[authenticated]
#[prometheus_metrics]
fn instrument_above_sync(request: &Request) -> Result<u32, Forbidden> {
    tracing::info!(name: "body", "body");
    Ok(1)
}

#[authenticated]
#[prometheus_metrics]
#[tracing::instrument]
fn instrument_below_sync(request: &Request) -> Result<u32, Forbidden> {
    tracing::info!(name: "body", "body");
    Ok(1)
}

#[tracing::instrument]
#[authenticated]
#[prometheus_metrics]
async fn instrument_above_async(request: Request) -> Result<u32, Forbidden> {
    // A suspension point: the span must be entered again when the body resumes.
    tokio::task::yield_now().await;
    tracing::info!(name: "body", "body");
    Ok(1)
}

#[authenticated]
#[prometheus_metrics]
#[tracing::instrument]
async fn instrument_below_async(request: Request) -> Result<u32, Forbidden> {
    tokio::task::yield_now().await;
    tracing::info!(name: "body", "body");
    Ok(1)
}

/// A subscriber that records the spans created and, for each event, the spans entered then.
#[derive(Default)]
struct Recorder(Mutex<Log>);

#[derive(Default, Debug)]
struct Log {
    /// The name of each span created; span `Id` n is `spans[n - 1]`.
    spans: Vec<&'static str>,
    /// The spans entered and not exited yet, innermost last.
    entered: Vec<u64>,
    /// Each event's name with the names of the spans entered when it happened.
    events: Vec<(&'static str, Vec<&'static str>)>,
}

impl Recorder {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut log = self.log();
        log.spans.push(span.metadata().name());
        Id::from_u64(log.spans.len() as u64)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut log = self.log();
        let entered = log
            .entered
            .iter()
            .map(|&id| log.spans[id as usize - 1])
            .collect();
        log.events.push((event.metadata().name(), entered));
    }

    fn enter(&self, span: &Id) {
        self.log().entered.push(span.into_u64());
    }

    fn exit(&self, span: &Id) {
        let mut log = self.log();
        if let Some(index) = log.entered.iter().rposition(|&id| id == span.into_u64()) {
            log.entered.remove(index);
        }
    }
}

const ACCEPTED: [&str; 2] = ["secret", "secret"];
const REJECTED: [&str; 3] = ["", "wrong", "Secret"];

/// The events of the accepted calls and then the rejected ones, given the spans entered around
/// authentication and around the body.
fn expected_events(
    around_auth: &[&'static str],
    around_body: &[&'static str],
) -> Vec<(&'static str, Vec<&'static str>)> {
    let accepted = [
        ("authenticate", around_auth.to_vec()),
        ("body", around_body.to_vec()),
    ];
    let rejected = ("authenticate", around_auth.to_vec());
    let mut events = Vec::new();
    for _ in ACCEPTED {
        events.extend(accepted.clone());
    }
    for _ in REJECTED {
        events.push(rejected.clone());
    }
    events
}

/// Exactly the two accepted calls were counted and timed, none failed, none is left in flight.
fn assert_counted_accepted_calls_only(handler: &str, before: HandlerValues) {
    let after = HandlerValues::of(handler);
    assert_eq!(after.requests - before.requests, ACCEPTED.len() as f64);
    assert_eq!(
        after.latency_count - before.latency_count,
        ACCEPTED.len() as f64
    );
    assert_eq!(after.errors, before.errors);
    assert_eq!(after.in_flight, 0.0);
}

#[test]
fn instrument_above_ours_spans_only_authenticated_sync_calls() {
    const NAME: &str = "instrument_above_sync";
    let before = HandlerValues::of(NAME);
    let recorder = Arc::new(Recorder::default());
    let _subscriber = tracing::subscriber::set_default(recorder.clone());
    for token in ACCEPTED {
        assert_eq!(instrument_above_sync(&Request { token }), Ok(1));
    }
    for token in REJECTED {
        assert_eq!(instrument_above_sync(&Request { token }), Err(Forbidden));
    }
    let log = recorder.log();
    assert_eq!(log.spans, [NAME; ACCEPTED.len()]);
    assert_eq!(log.events, expected_events(&[], &[NAME]));
    assert!(log.entered.is_empty(), "every span was exited");
    assert_counted_accepted_calls_only(NAME, before);
}

#[test]
fn instrument_below_ours_spans_every_sync_call_around_authentication() {
    const NAME: &str = "instrument_below_sync";
    let before = HandlerValues::of(NAME);
    let recorder = Arc::new(Recorder::default());
    let _subscriber = tracing::subscriber::set_default(recorder.clone());
    for token in ACCEPTED {
        assert_eq!(instrument_below_sync(&Request { token }), Ok(1));
    }
    for token in REJECTED {
        assert_eq!(instrument_below_sync(&Request { token }), Err(Forbidden));
    }
    let log = recorder.log();
    assert_eq!(log.spans, [NAME; ACCEPTED.len() + REJECTED.len()]);
    assert_eq!(log.events, expected_events(&[NAME], &[NAME]));
    assert!(log.entered.is_empty(), "every span was exited");
    assert_counted_accepted_calls_only(NAME, before);
}

#[tokio::test]
async fn instrument_above_ours_spans_only_authenticated_async_calls() {
    const NAME: &str = "instrument_above_async";
    let before = HandlerValues::of(NAME);
    let recorder = Arc::new(Recorder::default());
    // The test runtime is single-threaded, so the handlers are polled on this thread.
    let _subscriber = tracing::subscriber::set_default(recorder.clone());
    for token in ACCEPTED {
        assert_eq!(instrument_above_async(Request { token }).await, Ok(1));
    }
    for token in REJECTED {
        assert_eq!(
            instrument_above_async(Request { token }).await,
            Err(Forbidden)
        );
    }
    let log = recorder.log();
    assert_eq!(log.spans, [NAME; ACCEPTED.len()]);
    assert_eq!(log.events, expected_events(&[], &[NAME]));
    assert!(log.entered.is_empty(), "every span was exited");
    assert_counted_accepted_calls_only(NAME, before);
}

#[tokio::test]
async fn instrument_below_ours_spans_every_async_call_around_authentication() {
    const NAME: &str = "instrument_below_async";
    let before = HandlerValues::of(NAME);
    let recorder = Arc::new(Recorder::default());
    let _subscriber = tracing::subscriber::set_default(recorder.clone());
    for token in ACCEPTED {
        assert_eq!(instrument_below_async(Request { token }).await, Ok(1));
    }
    for token in REJECTED {
        assert_eq!(
            instrument_below_async(Request { token }).await,
            Err(Forbidden)
        );
    }
    let log = recorder.log();
    assert_eq!(log.spans, [NAME; ACCEPTED.len() + REJECTED.len()]);
    assert_eq!(log.events, expected_events(&[NAME], &[NAME]));
    assert!(log.entered.is_empty(), "every span was exited");
    assert_counted_accepted_calls_only(NAME, before);
}
