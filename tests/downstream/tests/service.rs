//! The runtime inside a service whose other dependencies turn on the `prometheus` crate's
//! `protobuf` and `push` features: both exposition formats, with the service's own metrics in
//! the same scrape, and the crate's own encoders over the same registry.

use handler_metrics_tests::{OpenMetrics, Scrape};
use metrics_runtime::{Authenticate, Format, authenticated, prometheus_metrics};
use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntGauge};

struct Request {
    token: &'static str,
}

impl Authenticate for Request {
    type Rejection = u16;
    fn authenticate(&self) -> Result<(), u16> {
        if self.token == "secret" {
            Ok(())
        } else {
            Err(403)
        }
    }
}

#[authenticated]
#[prometheus_metrics]
fn list_scopes(request: &Request, fail: bool) -> Result<&'static str, u16> {
    let _ = request;
    if fail { Err(502) } else { Ok("user.alice") }
}

#[test]
fn both_formats_carry_the_handler_and_the_services_own_metrics() {
    let sessions = IntCounter::new("sessions_total", "Sessions opened.").unwrap();
    let workers = IntGauge::new("workers", "Workers running.").unwrap();
    let io = Histogram::with_opts(HistogramOpts::new("io_seconds", "IO.").buckets(vec![0.5, 1.0]))
        .unwrap();
    for collector in [
        Box::new(sessions.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(workers.clone()),
        Box::new(io.clone()),
    ] {
        prometheus::register(collector).unwrap();
    }
    sessions.inc_by(3);
    workers.set(-2);
    io.observe(0.75);

    list_scopes(&Request { token: "secret" }, false).unwrap();
    list_scopes(&Request { token: "secret" }, true).unwrap_err();
    list_scopes(&Request { token: "guess" }, false).unwrap_err();

    let text = Scrape::parse(&metrics_runtime::gather()).unwrap();
    let values = text.handler("list_scopes");
    assert_eq!((values.requests, values.errors), (2.0, 1.0));
    assert_eq!(
        text.get("handler_requests_rejected_total", "list_scopes"),
        1.0
    );
    let exposition = metrics_runtime::gather();
    for line in [
        "sessions_total 3",
        "workers -2",
        "io_seconds_bucket{le=\"1\"} 1",
        "io_seconds_sum 0.75",
    ] {
        assert!(
            exposition.lines().any(|l| l == line),
            "{line} missing:\n{exposition}"
        );
    }

    let openmetrics = metrics_runtime::gather_as(Format::OpenMetrics);
    let parsed = OpenMetrics::parse(&openmetrics).unwrap();
    assert!(
        parsed
            .families
            .contains(&("sessions".to_owned(), "counter".to_owned())),
        "{openmetrics}"
    );
    for line in [
        "sessions_total 3",
        "workers -2",
        "io_seconds_bucket{le=\"1\"} 1",
        "io_seconds_count 1",
    ] {
        assert!(
            openmetrics.lines().any(|l| l == line),
            "{line} missing:\n{openmetrics}"
        );
    }
    assert!(
        openmetrics.contains(r#"handler_requests_total{handler="list_scopes",module="service"} 2"#),
        "{openmetrics}"
    );

    // The crate's own encoders read the handler families from the same registry.
    let families = prometheus::gather();
    let mut protobuf = Vec::new();
    prometheus::ProtobufEncoder::new()
        .encode(&families, &mut protobuf)
        .unwrap();
    let protobuf = String::from_utf8_lossy(&protobuf);
    assert!(protobuf.contains("handler_request_latency_seconds"));
    let mut crate_text = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&families, &mut crate_text)
        .unwrap();
    let crate_text = Scrape::parse(&String::from_utf8(crate_text).unwrap()).unwrap();
    assert_eq!(crate_text.handler("list_scopes").requests, 2.0);
}
