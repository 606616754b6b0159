//! Every native histogram of every protobuf scrape passes the checks a newer Prometheus and
//! Mimir apply when they ingest it, while threads call and scrapes race them. The checks are
//! written from prometheus/prometheus `model/histogram/histogram.go` (`Histogram.Validate`,
//! `checkHistogramSpans`, `checkHistogramBuckets`), plus the classic buckets' own consistency.

use handler_metrics_tests::protobuf::Decoded;
use handler_metrics_tests::while_threads_call;
use metrics_runtime::{Config, Format, NativeHistograms, gather_bytes, prometheus_metrics};

#[prometheus_metrics]
fn busy(spins: u64) -> u64 {
    let mut x = spins;
    for _ in 0..spins {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
    }
    x
}

/// Why Prometheus would refuse the histogram at `path`, if it would.
fn refused(decoded: &Decoded, path: &str) -> Option<String> {
    let number = |field: &str| decoded.get(&format!("{path}.{field}"));
    let schema: i32 = number("schema")?.parse().unwrap();
    if !(-4..=8).contains(&schema) {
        return Some(format!("schema {schema} outside -4..=8"));
    }
    let zero_threshold: f64 = number("zero_threshold").map_or(0.0, |v| v.parse().unwrap());
    if zero_threshold.is_nan() || zero_threshold < 0.0 {
        return Some(format!("zero threshold {zero_threshold}"));
    }
    let count: u64 = number("sample_count").map_or(0, |v| v.parse().unwrap());
    let sum: f64 = number("sample_sum").map_or(0.0, |v| v.parse().unwrap());
    let zero_count: u64 = number("zero_count").map_or(0, |v| v.parse().unwrap());
    let mut in_buckets = zero_count;
    for side in ["positive", "negative"] {
        // checkHistogramSpans: every span after the first has a gap of at least 0, and the
        // spans' lengths add up to the number of buckets.
        let spans = decoded.len(&format!("{path}.{side}_span"));
        let mut length = 0u64;
        for span in 0..spans {
            let field = |name: &str| decoded.get(&format!("{path}.{side}_span[{span}].{name}"));
            let offset: i64 = field("offset").map_or(0, |v| v.parse().unwrap());
            if span > 0 && offset < 0 {
                return Some(format!("{side} span {span} has offset {offset}"));
            }
            length += field("length").map_or(0, |v| v.parse::<u64>().unwrap());
        }
        let deltas = decoded.len(&format!("{path}.{side}_delta"));
        if length != deltas as u64 {
            return Some(format!(
                "{side}: spans of {length} buckets, {deltas} deltas"
            ));
        }
        // checkHistogramBuckets: no bucket below zero once the deltas are added up.
        let mut bucket = 0i64;
        for delta in 0..deltas {
            bucket += decoded.number(&format!("{path}.{side}_delta[{delta}]")) as i64;
            if bucket < 0 {
                return Some(format!("{side} bucket {delta} has count {bucket}"));
            }
            in_buckets += bucket as u64;
        }
    }
    // Validate: with a sum that is not NaN, the buckets hold exactly the count
    // (ErrHistogramCountMismatch); with NaN, at most the count.
    if (sum.is_nan() && in_buckets > count) || (!sum.is_nan() && in_buckets != count) {
        return Some(format!(
            "{in_buckets} observations in buckets, count {count} (sum {sum})"
        ));
    }
    // The classic buckets of the same histogram: cumulative, never above the count.
    let mut previous = 0u64;
    for bucket in 0..decoded.len(&format!("{path}.bucket")) {
        let cumulative: u64 = decoded
            .get(&format!("{path}.bucket[{bucket}].cumulative_count"))
            .map_or(0, |v| v.parse().unwrap());
        if cumulative < previous || cumulative > count {
            return Some(format!(
                "classic bucket {bucket}: {cumulative} after {previous}, count {count}"
            ));
        }
        previous = cumulative;
    }
    None
}

/// Checks every histogram of the handler latency family in `scrape`; how many it checked.
fn validate(scrape: &[u8], index: usize) -> usize {
    let decoded = Decoded::of(scrape);
    let family = decoded.family("handler_request_latency_seconds");
    let series = decoded.len(&format!("family[{family}].metric"));
    for metric in 0..series {
        let path = format!("family[{family}].metric[{metric}].histogram");
        if let Some(reason) = refused(&decoded, &path) {
            panic!("scrape {index}, {path}: Prometheus refuses it: {reason}");
        }
    }
    series
}

#[test]
fn every_native_histogram_in_every_scrape_passes_prometheus_validation() {
    Config::new()
        .process_metrics(false)
        .native_histograms(NativeHistograms::new().max_buckets(10_000))
        .install()
        .unwrap();
    const SCRAPES: usize = 200;
    let (calls, scrapes) = while_threads_call(
        3,
        |n| {
            busy(n % 500);
        },
        || {
            (0..SCRAPES)
                .map(|_| gather_bytes(Format::Protobuf))
                .collect::<Vec<Vec<u8>>>()
        },
    );
    let checked: usize = scrapes
        .iter()
        .enumerate()
        .map(|(index, scrape)| validate(scrape, index))
        .sum();
    assert!(checked >= SCRAPES, "a histogram in every scrape");
    // At rest, the count is every call again.
    let last = gather_bytes(Format::Protobuf);
    validate(&last, SCRAPES);
    let decoded = Decoded::of(&last);
    let busy = decoded.series("handler_request_latency_seconds", "busy");
    assert_eq!(
        decoded.number(&format!("{busy}.histogram.sample_count")) as u64,
        calls
    );
}
