//! The bucket cap: latencies spread over more buckets than `max_buckets` allows are reported
//! at a lower resolution (a smaller schema), in at most that many buckets, with every
//! observation still counted.

use std::time::Duration;

use handler_metrics_tests::protobuf::Decoded;
use metrics_runtime::{Config, Format, NativeHistograms, gather_bytes, prometheus_metrics};

#[prometheus_metrics]
fn waits(duration: Duration) {
    std::thread::sleep(duration);
}

#[test]
fn a_wide_spread_is_reported_at_a_lower_schema_within_the_cap() {
    Config::new()
        .process_metrics(false)
        .native_histograms(NativeHistograms::new().schema(3).max_buckets(4))
        .install()
        .unwrap();
    // 0.1 ms to 20 ms: about 8 octaves, some 60 buckets at schema 3.
    let waits_ms = [0.1, 0.3, 1.0, 2.0, 5.0, 9.0, 20.0];
    for &milliseconds in &waits_ms {
        waits(Duration::from_secs_f64(milliseconds / 1e3));
    }
    let decoded = Decoded::of(&gather_bytes(Format::Protobuf));
    let family = decoded.family("handler_request_latency_seconds");
    let histogram = format!("family[{family}].metric[0].histogram");
    let schema = decoded.number(&format!("{histogram}.schema"));
    let buckets = decoded.native_buckets(&histogram);
    assert!(schema < 3.0, "schema {schema}");
    assert!(schema >= -4.0);
    assert!(buckets.len() <= 4, "{buckets:?} at schema {schema}");
    let total: u64 = buckets.iter().map(|&(_, count)| count).sum();
    assert_eq!(total, waits_ms.len() as u64);
    // Each reported bucket still bounds its latencies: the widest spans 20 ms at most 2^(2^-s)
    // times over its lower bound.
    let width = 2f64.powf(2f64.powf(-schema));
    let first_upper = width.powf(buckets[0].0 as f64);
    assert!(
        first_upper >= 0.0001 && first_upper / width < 0.0003,
        "{first_upper}"
    );
}
