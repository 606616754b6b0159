//! Outputs and bodies the attribute sees only partly: a future dropped unpolled during another
//! unwind, results behind pointers, bodies that never return, `?` on `Poll` under
//! `#[track_caller]`, a blanket impl under `#[prometheus_handlers]`, and `error_if = never`.

use std::fmt::Display;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

use handler_metrics_tests::{HandlerValues, Scrape};
use metrics_runtime::{prometheus_handlers, prometheus_metrics};

#[prometheus_metrics]
fn fetch() -> impl Future<Output = Result<u32, String>> {
    async { Ok(1) }
}

#[test]
fn a_returned_future_dropped_unpolled_during_an_unrelated_unwind_is_a_cancellation() {
    let before = HandlerValues::of("fetch");
    let unwound = std::panic::catch_unwind(|| {
        let _future = fetch();
        panic!("an unrelated panic");
    });
    assert!(unwound.is_err());
    let after = HandlerValues::of("fetch").since(&before);
    assert_eq!(
        (after.requests, after.errors, after.latency_count),
        (1.0, 0.0, 1.0)
    );
}

#[prometheus_metrics]
fn boxed(fail: bool) -> Box<Result<u32, String>> {
    Box::new(if fail { Err("no".into()) } else { Ok(1) })
}

static STORED: [Result<u32, String>; 2] = [Ok(1), Err(String::new())];

#[prometheus_metrics]
fn borrowed(fail: bool) -> &'static Result<u32, String> {
    &STORED[usize::from(fail)]
}

#[prometheus_metrics]
fn shared(fail: bool) -> Arc<Result<u32, String>> {
    Arc::new(if fail { Err("no".into()) } else { Ok(1) })
}

#[prometheus_metrics]
fn counted(fail: bool) -> Rc<Result<u32, String>> {
    Rc::new(if fail { Err("no".into()) } else { Ok(1) })
}

#[test]
fn results_behind_a_box_a_reference_or_a_shared_pointer_are_classified() {
    let names = ["boxed", "borrowed", "shared", "counted"];
    let before: Vec<_> = names.iter().map(|name| HandlerValues::of(name)).collect();
    for fail in [true, false, true] {
        let _ = boxed(fail);
        let _ = borrowed(fail);
        let _ = shared(fail);
        let _ = counted(fail);
    }
    let scrape = Scrape::take();
    for (name, before) in names.iter().zip(&before) {
        let after = scrape.handler(name).since(before);
        assert_eq!((after.requests, after.errors), (3.0, 2.0), "{name}");
    }
}

#[prometheus_metrics]
fn unfinished() {
    todo!()
}

#[prometheus_metrics]
#[allow(dead_code)]
fn exits() {
    std::process::exit(3)
}

#[test]
fn a_body_that_never_returns_compiles_and_its_panic_is_an_error() {
    let before = HandlerValues::of("unfinished");
    assert!(std::panic::catch_unwind(unfinished).is_err());
    let after = HandlerValues::of("unfinished").since(&before);
    assert_eq!((after.requests, after.errors), (1.0, 1.0));
}

#[prometheus_metrics]
#[track_caller]
fn poll_next(ready: Poll<Result<u32, String>>) -> Poll<Result<u32, String>> {
    let value = ready?;
    value.map(|value| Ok(value + 1))
}

#[prometheus_metrics]
#[track_caller]
fn poll_item(ready: Poll<Option<Result<u32, String>>>) -> Poll<Option<Result<u32, String>>> {
    let value = ready?;
    value.map(|value| value.map(|value| Ok(value * 2)))
}

#[test]
fn question_marks_on_poll_work_under_track_caller() {
    let before = HandlerValues::of("poll_next");
    assert_eq!(poll_next(Poll::Ready(Ok(1))), Poll::Ready(Ok(2)));
    assert_eq!(poll_next(Poll::Pending), Poll::Pending);
    assert_eq!(
        poll_next(Poll::Ready(Err("e".into()))),
        Poll::Ready(Err("e".to_owned()))
    );
    assert_eq!(
        poll_item(Poll::Ready(Some(Ok(2)))),
        Poll::Ready(Some(Ok(4)))
    );
    assert_eq!(poll_item(Poll::Ready(None)), Poll::Ready(None));
    assert_eq!(
        poll_item(Poll::Ready(Some(Err("e".into())))),
        Poll::Ready(Some(Err("e".to_owned())))
    );
    let after = HandlerValues::of("poll_next").since(&before);
    assert_eq!(after.requests, 3.0);
}

#[prometheus_metrics(error_if = metrics_runtime::never)]
fn pass_through<R>(response: R) -> R {
    response
}

#[test]
fn error_if_never_says_no_output_is_an_error() {
    let before = HandlerValues::of("pass_through");
    assert_eq!(pass_through(Err::<(), _>("not ours")), Err("not ours"));
    let after = HandlerValues::of("pass_through").since(&before);
    assert_eq!((after.requests, after.errors), (1.0, 0.0));
}

trait Handle {
    fn handle(&self) -> usize;
}

#[prometheus_handlers]
impl<T: Display> Handle for T {
    #[prometheus_metrics]
    fn handle(&self) -> usize {
        self.to_string().len()
    }
}

#[test]
fn a_blanket_impl_is_labelled_by_the_real_type() {
    let before_u8 = HandlerValues::of("u8::handle");
    let before_str = HandlerValues::of("str::handle");
    assert_eq!(1u8.handle(), 1);
    assert_eq!("xy".handle(), 2);
    assert_eq!("xyz".handle(), 3);
    assert_eq!(
        HandlerValues::of("u8::handle").since(&before_u8).requests,
        1.0
    );
    assert_eq!(
        HandlerValues::of("str::handle").since(&before_str).requests,
        2.0
    );
    assert!(
        Scrape::take()
            .find("handler_requests_total", "T::handle")
            .is_none(),
        "no series for the type parameter"
    );
}
