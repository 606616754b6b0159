//! Native histograms under load: threads call one handler without pause while scrapes are
//! taken; every scrape, decoded by the independent decoder, shows native bucket counts that
//! never go down and never exceed the observations the classic count has, and the last one,
//! after the threads stop, counts every call exactly, in native and classic buckets alike.

use std::time::Duration;

use handler_metrics_tests::protobuf::Decoded;
use handler_metrics_tests::while_threads_call;
use metrics_runtime::{Config, Format, NativeHistograms, gather_bytes, prometheus_metrics};

/// A few nanoseconds to a few microseconds: several native buckets.
#[prometheus_metrics]
fn busy(spins: u64) -> u64 {
    let mut x = spins;
    for _ in 0..spins {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
    }
    x
}

/// (bucket index, count) of the `busy` histogram, its native total and its sample count.
fn read(scrape: &[u8]) -> (Vec<(i64, u64)>, u64, u64) {
    let decoded = Decoded::of(scrape);
    let busy = decoded.series("handler_request_latency_seconds", "busy");
    let histogram = format!("{busy}.histogram");
    let buckets = decoded.native_buckets(&histogram);
    let zero = decoded.number(&format!("{histogram}.zero_count")) as u64;
    let native = zero + buckets.iter().map(|&(_, count)| count).sum::<u64>();
    let count = decoded.number(&format!("{histogram}.sample_count")) as u64;
    (buckets, native, count)
}

#[test]
fn scrapes_during_load_never_go_backwards_and_the_last_is_exact() {
    Config::new()
        .process_metrics(false)
        // No cap in reach: bucket indices stay comparable from one scrape to the next.
        .native_histograms(NativeHistograms::new().max_buckets(10_000))
        .install()
        .unwrap();
    let (calls, scrapes) = while_threads_call(
        4,
        |n| {
            busy(n % 2000);
        },
        || {
            (0..8)
                .map(|_| {
                    std::thread::sleep(Duration::from_millis(50));
                    gather_bytes(Format::Protobuf)
                })
                .collect::<Vec<Vec<u8>>>()
        },
    );
    let mut previous: Vec<(i64, u64)> = Vec::new();
    for (index, scrape) in scrapes.iter().enumerate() {
        let (buckets, native, count) = read(scrape);
        assert!(
            native <= count,
            "scrape {index}: {native} native > {count} classic"
        );
        for &(bucket, before) in &previous {
            let now = buckets
                .iter()
                .find(|&&(b, _)| b == bucket)
                .map_or(0, |&(_, count)| count);
            assert!(
                now >= before,
                "scrape {index}: bucket {bucket} went {before} → {now}"
            );
        }
        previous = buckets;
    }
    let (buckets, native, count) = read(&gather_bytes(Format::Protobuf));
    assert_eq!(count, calls);
    assert_eq!(native, calls, "{buckets:?}");
    assert!(
        buckets.len() > 1,
        "latencies spread over buckets: {buckets:?}"
    );
    eprintln!("{calls} calls over {} buckets", buckets.len());
}
