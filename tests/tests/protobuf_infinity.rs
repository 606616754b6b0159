//! The `+Inf` classic bucket in the protobuf exposition: the format lets it be left out (the
//! count says it), but then the exemplar of a call above the last bound, which OpenMetrics
//! shows on its `+Inf` bucket, would be lost. It is written when it has an exemplar, as
//! client_golang does, and only then.

use std::time::Duration;

use handler_metrics_tests::protobuf::Decoded;
use metrics_runtime::{Config, Format, NativeHistograms, gather_bytes, prometheus_metrics};

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

#[prometheus_metrics]
fn above_every_bound() {
    std::thread::sleep(Duration::from_millis(5));
}

#[prometheus_metrics]
fn under_the_bound() {}

/// The decoded path of the latency histogram of `handler`.
fn latency_of(decoded: &Decoded, handler: &str) -> String {
    let series = decoded.series("inf_request_latency_seconds", handler);
    format!("{series}.histogram")
}

#[test]
fn the_infinite_bucket_is_written_when_it_has_an_exemplar() {
    Config::new()
        .namespace("inf")
        .buckets(vec![0.001])
        .process_metrics(false)
        .exemplar_source(|| Some(TRACE.to_owned()))
        .native_histograms(NativeHistograms::new())
        .install()
        .expect("first installation");
    above_every_bound();
    under_the_bound();
    let decoded = Decoded::of(&gather_bytes(Format::Protobuf));

    let above = latency_of(&decoded, "above_every_bound");
    assert_eq!(decoded.len(&format!("{above}.bucket")), 2);
    assert_eq!(
        decoded.number(&format!("{above}.bucket[0].upper_bound")),
        0.001
    );
    assert_eq!(
        decoded.number(&format!("{above}.bucket[0].cumulative_count")),
        0.0
    );
    let infinite = format!("{above}.bucket[1]");
    assert_eq!(
        decoded.number(&format!("{infinite}.upper_bound")),
        f64::INFINITY
    );
    assert_eq!(decoded.number(&format!("{infinite}.cumulative_count")), 1.0);
    assert_eq!(
        decoded.string(&format!("{infinite}.exemplar.label[0].value")),
        TRACE
    );
    let value = decoded.number(&format!("{infinite}.exemplar.value"));
    assert!((0.005..1.0).contains(&value), "{value}");

    // Under the last bound: the `+Inf` bucket has no exemplar, and is left out.
    let under = latency_of(&decoded, "under_the_bound");
    assert_eq!(decoded.len(&format!("{under}.bucket")), 1);
    assert_eq!(
        decoded.number(&format!("{under}.bucket[0].cumulative_count")),
        1.0
    );
    assert!(
        decoded
            .string(&format!("{under}.bucket[0].exemplar.label[0].value"))
            .contains(TRACE)
    );
}
