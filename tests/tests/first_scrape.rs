//! Every handler is visible from the first scrape, before any of them ran, and the link-time
//! list finds the handlers that were never instrumented.

use handler_metrics_tests::Scrape;
use metrics_runtime::{
    Authenticate, HandlerInfo, Measured, authenticated, handlers, handlers_without_metrics,
    prometheus_handlers, prometheus_metrics,
};

struct Token;

impl Authenticate for Token {
    type Rejection = ();
    fn authenticate(&self) -> Result<(), ()> {
        Ok(())
    }
}

const LIST_SCOPES_LINE: u32 = line!() + 3;
#[authenticated]
#[prometheus_metrics]
fn list_scopes(token: &Token) -> Result<(), ()> {
    let _ = token;
    Ok(())
}

#[prometheus_metrics(error_if = metrics_runtime::never)]
fn generic_handler<T: Default>() -> T {
    T::default()
}

struct UploadJobsHandler;

impl UploadJobsHandler {
    #[prometheus_metrics(handler = "UploadJobsHandler::get")]
    fn get(&self) {}

    #[prometheus_metrics]
    fn delete(&self) {}
}

struct ListRsesHandler;

impl Authenticate for ListRsesHandler {
    type Rejection = ();
    fn authenticate(&self) -> Result<(), ()> {
        Ok(())
    }
}

/// The impl-level attribute names the type at compile time: no first call needed.
#[prometheus_handlers]
impl ListRsesHandler {
    #[authenticated]
    #[prometheus_metrics]
    fn get(&self) -> Result<(), ()> {
        Ok(())
    }

    #[prometheus_metrics(handler = "rses_put")]
    fn put(&self) {}

    #[prometheus_metrics]
    fn create() -> ListRsesHandler {
        ListRsesHandler
    }
}

#[authenticated]
#[prometheus_metrics(skip)]
fn oidc_auth_check(token: &Token) {
    let _ = token;
}

/// Deliberately uninstrumented: the coverage check must catch it.
#[authenticated]
fn forgotten_handler(token: &Token) {
    let _ = token;
}

fn find<'a>(found: &'a [HandlerInfo], name: &str) -> &'a HandlerInfo {
    found
        .iter()
        .find(|handler| handler.name == name)
        .unwrap_or_else(|| panic!("{name} is not listed"))
}

/// One test: it must take the first scrape of this process before any handler runs.
#[test]
fn first_scrape_lists_every_handler_at_zero_and_the_coverage_check_finds_the_gap() {
    let scrape = Scrape::take();
    for handler in [
        "list_scopes",
        "generic_handler",
        "UploadJobsHandler::get",
        "ListRsesHandler::get",
        "rses_put",
        "ListRsesHandler::create",
    ] {
        let values = scrape.handler(handler);
        assert_eq!(
            values,
            handler_metrics_tests::HandlerValues::default(),
            "{handler} at 0"
        );
        assert!(
            scrape.find("handler_requests_total", handler).is_some(),
            "{handler} listed"
        );
        let buckets: Vec<f64> = scrape
            .samples
            .iter()
            .filter(|s| {
                s.name == "handler_request_latency_seconds_bucket" && s.labels["handler"] == handler
            })
            .map(|s| s.value)
            .collect();
        assert_eq!(
            buckets,
            vec![0.0; 12],
            "{handler}: 11 bounds and +Inf, all at 0"
        );
    }
    for unmeasured in ["oidc_auth_check", "forgotten_handler"] {
        assert_eq!(scrape.find("handler_requests_total", unmeasured), None);
    }

    let found = handlers();
    let scopes = find(&found, "list_scopes");
    assert_eq!(scopes.label.as_deref(), Some("list_scopes"));
    assert_eq!(scopes.module, "first_scrape");
    assert!(scopes.file.ends_with("first_scrape.rs"), "{}", scopes.file);
    assert_eq!(scopes.line, LIST_SCOPES_LINE, "the line of the fn's name");
    assert!(scopes.authenticated);
    assert_eq!(scopes.measured, Measured::Yes);
    assert_eq!(
        find(&found, "generic_handler").label.as_deref(),
        Some("generic_handler")
    );
    assert!(!find(&found, "generic_handler").authenticated);
    assert!(
        found
            .iter()
            .any(|h| h.name == "get" && h.label.as_deref() == Some("UploadJobsHandler::get"))
    );
    assert_eq!(find(&found, "oidc_auth_check").measured, Measured::Skipped);
    assert_eq!(find(&found, "forgotten_handler").measured, Measured::No);
    assert_eq!(find(&found, "put").label.as_deref(), Some("rses_put"));
    let rses = found
        .iter()
        .find(|h| h.label.as_deref() == Some("ListRsesHandler::get"));
    assert!(rses.is_some_and(|h| h.authenticated && h.measured == Measured::Yes));
    assert_eq!(
        found.iter().filter(|h| h.module == "first_scrape").count(),
        9
    );

    // A method's derived label needs `Self`, which is known from its first call on.
    assert_eq!(find(&found, "delete").label, None);
    UploadJobsHandler.delete();
    assert_eq!(
        find(&handlers(), "delete").label.as_deref(),
        Some("UploadJobsHandler::delete")
    );

    // One series for every instantiation of a generic fn.
    let _: u8 = generic_handler();
    let _: String = generic_handler();
    assert_eq!(
        Scrape::take().get("handler_requests_total", "generic_handler"),
        2.0
    );

    let missing: Vec<&str> = handlers_without_metrics().iter().map(|h| h.name).collect();
    assert_eq!(missing, ["forgotten_handler"]);
    list_scopes(&Token).unwrap();
    ListRsesHandler::create().get().unwrap();
    ListRsesHandler.put();
    assert_eq!(
        Scrape::take().get("handler_requests_total", "ListRsesHandler::get"),
        1.0
    );
    oidc_auth_check(&Token);
    forgotten_handler(&Token);
}
