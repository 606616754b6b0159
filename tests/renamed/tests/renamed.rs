//! With the runtime renamed to `hm`, `crate = "hm"` on all three attributes makes the
//! expansions compile and measure as usual.

use handler_metrics_renamed::{InstancesHandler, Token, list_scopes, purge_cache, whoami};

fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn every_attribute_takes_the_renamed_crate() {
    let first = hm::gather();
    let requests = |handler: &str| {
        format!(r#"handler_requests_total{{handler="{handler}",module="handler_metrics_renamed"}}"#)
    };
    // `#[prometheus_handlers(crate = "hm")]` named the method's type at compile time.
    assert_eq!(value(&first, &requests("InstancesHandler::get")), Some(0.0));

    assert_eq!(list_scopes(), ["user.alice"]);
    assert_eq!(InstancesHandler.get(), 2);
    let runtime = std::thread::spawn(|| {
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        let mut rejected = std::pin::pin!(purge_cache(&Token("guess")));
        let rejected = rejected.as_mut().poll(&mut context);
        let mut accepted = std::pin::pin!(purge_cache(&Token("secret")));
        let accepted = accepted.as_mut().poll(&mut context);
        (rejected, accepted)
    });
    let (rejected, accepted) = runtime.join().unwrap();
    use std::task::Poll;
    assert_eq!(rejected, Poll::Ready(Err("forbidden")));
    assert_eq!(accepted, Poll::Ready(Ok(())));
    assert_eq!(whoami(&Token("secret")), "alice");

    let scrape = hm::gather();
    assert_eq!(value(&scrape, &requests("list_scopes")), Some(1.0));
    assert_eq!(
        value(&scrape, &requests("InstancesHandler::get")),
        Some(1.0)
    );
    assert_eq!(value(&scrape, &requests("purge_cache")), Some(1.0));
    assert_eq!(value(&scrape, &requests("whoami")), None);
}
