//! The protobuf exposition, decoded by an independent decoder (`protobuf::Decoded`: the
//! published `metrics.proto` read by rust-protobuf's dynamic messages): every field
//! of every family we write, the registry's own families (counter, gauge, histogram, summary,
//! timestamp) as well as the handler families with native and classic buckets and exemplars.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use handler_metrics_tests::protobuf::Decoded;
use metrics_runtime::prometheus::core::{Collector, Desc};
use metrics_runtime::prometheus::proto::{MetricFamily, MetricType};
use metrics_runtime::prometheus::{Counter, Gauge, Histogram, HistogramOpts, Registry};
use metrics_runtime::{Config, Format, NativeHistograms, gather_bytes, prometheus_metrics};

#[prometheus_metrics]
fn sleepy(milliseconds: u64) -> Result<(), &'static str> {
    std::thread::sleep(Duration::from_millis(milliseconds));
    if milliseconds > 30 {
        Err("slow")
    } else {
        Ok(())
    }
}

#[prometheus_metrics]
fn never_called() {}

#[prometheus_metrics]
fn quick(x: u64) -> u64 {
    x.wrapping_add(1)
}

/// A summary with a timestamp, which the prometheus crate has no collector for.
struct Summaries(Desc);

impl Collector for Summaries {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.0]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut family = MetricFamily::default();
        family.set_name("rpc_seconds".to_owned());
        family.set_help("RPC durations.".to_owned());
        family.set_field_type(MetricType::SUMMARY);
        let mut summary = metrics_runtime::prometheus::proto::Summary::default();
        summary.set_sample_count(10);
        summary.set_sample_sum(5.5);
        let quantiles = [(0.5, 0.4), (0.99, 0.9)].map(|(at, value)| {
            let mut quantile = metrics_runtime::prometheus::proto::Quantile::default();
            quantile.set_quantile(at);
            quantile.set_value(value);
            quantile
        });
        summary.set_quantile(quantiles.to_vec());
        let mut metric = metrics_runtime::prometheus::proto::Metric::default();
        metric.set_summary(summary);
        metric.set_timestamp_ms(1_234_567);
        family.set_metric(vec![metric]);
        vec![family]
    }
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
static EXEMPLARS_ASKED: AtomicU64 = AtomicU64::new(0);

fn install() {
    let registry = Registry::new();
    let counter = Counter::new("jobs_total", "Jobs.").unwrap();
    counter.inc_by(2.5);
    registry.register(Box::new(counter)).unwrap();
    let gauge = Gauge::new("temperature", "Degrees.").unwrap();
    gauge.set(-4.25);
    registry.register(Box::new(gauge)).unwrap();
    let histogram =
        Histogram::with_opts(HistogramOpts::new("sizes", "Sizes.").buckets(vec![1.0, 2.0]))
            .unwrap();
    histogram.observe(1.5);
    registry.register(Box::new(histogram)).unwrap();
    let desc = Desc::new(
        "rpc_seconds".into(),
        "RPC durations.".into(),
        vec![],
        Default::default(),
    )
    .unwrap();
    registry.register(Box::new(Summaries(desc))).unwrap();
    Config::new()
        .namespace("pb")
        .buckets(vec![0.01, 0.1, 1.0])
        .registry(registry)
        .process_metrics(false)
        .exemplar_source(|| {
            EXEMPLARS_ASKED.fetch_add(1, Ordering::Relaxed);
            Some(TRACE.to_owned())
        })
        .native_histograms(NativeHistograms::new().schema(3))
        .install()
        .expect("first installation");
}

/// The upper bound in seconds of native bucket `index` at `schema`.
fn upper_bound(index: i64, schema: i32) -> f64 {
    (index as f64 / f64::from(schema).exp2()).exp2()
}

#[test]
fn every_field_decodes_with_the_published_schema() {
    install();
    for _ in 0..3 {
        sleepy(20).unwrap();
    }
    sleepy(40).unwrap_err();
    // Heavy use from several threads at once: the native counts stay exact.
    let threads = 8;
    let calls = 20_000;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for x in 0..calls {
                    std::hint::black_box(quick(x));
                }
            });
        }
    });

    let bytes = gather_bytes(Format::Protobuf);
    let decoded = Decoded::of(&bytes);

    // The registry's families, in its order (by name), each field.
    let names: Vec<String> = (0..decoded.len("family"))
        .map(|index| decoded.string(&format!("family[{index}].name")))
        .collect();
    assert_eq!(
        names,
        [
            "jobs_total",
            "rpc_seconds",
            "sizes",
            "temperature",
            "pb_request_errors_total",
            "pb_request_latency_seconds",
            "pb_requests_in_flight",
            "pb_requests_rejected_total",
            "pb_requests_total",
        ]
    );
    let jobs = decoded.family("jobs_total");
    assert_eq!(decoded.string(&format!("family[{jobs}].help")), "Jobs.");
    assert_eq!(
        decoded.get(&format!("family[{jobs}].type")),
        Some("COUNTER")
    );
    assert_eq!(
        decoded.number(&format!("family[{jobs}].metric[0].counter.value")),
        2.5
    );
    let temperature = decoded.family("temperature");
    assert_eq!(
        decoded.get(&format!("family[{temperature}].type")),
        Some("GAUGE")
    );
    assert_eq!(
        decoded.number(&format!("family[{temperature}].metric[0].gauge.value")),
        -4.25
    );
    let sizes = decoded.family("sizes");
    let histogram = format!("family[{sizes}].metric[0].histogram");
    assert_eq!(
        decoded.get(&format!("family[{sizes}].type")),
        Some("HISTOGRAM")
    );
    assert_eq!(decoded.number(&format!("{histogram}.sample_count")), 1.0);
    assert_eq!(decoded.number(&format!("{histogram}.sample_sum")), 1.5);
    assert_eq!(
        decoded.number(&format!("{histogram}.bucket[0].upper_bound")),
        1.0
    );
    assert_eq!(
        decoded.number(&format!("{histogram}.bucket[0].cumulative_count")),
        0.0
    );
    assert_eq!(
        decoded.number(&format!("{histogram}.bucket[1].upper_bound")),
        2.0
    );
    assert_eq!(
        decoded.number(&format!("{histogram}.bucket[1].cumulative_count")),
        1.0
    );
    assert_eq!(
        decoded.get(&format!("{histogram}.schema")),
        None,
        "no native buckets"
    );
    let rpc = decoded.family("rpc_seconds");
    let summary = format!("family[{rpc}].metric[0].summary");
    assert_eq!(decoded.get(&format!("family[{rpc}].type")), Some("SUMMARY"));
    assert_eq!(decoded.number(&format!("{summary}.sample_count")), 10.0);
    assert_eq!(decoded.number(&format!("{summary}.sample_sum")), 5.5);
    assert_eq!(
        decoded.number(&format!("{summary}.quantile[1].quantile")),
        0.99
    );
    assert_eq!(decoded.number(&format!("{summary}.quantile[1].value")), 0.9);
    assert_eq!(
        decoded.number(&format!("family[{rpc}].metric[0].timestamp_ms")),
        1_234_567.0
    );

    // The handler families: label pairs, values, exemplars.
    let metric_of = |family: &str, handler: &str| {
        let path = decoded.series(family, handler);
        assert_eq!(decoded.string(&format!("{path}.label[0].name")), "handler");
        assert_eq!(decoded.string(&format!("{path}.label[1].name")), "module");
        assert_eq!(
            decoded.string(&format!("{path}.label[1].value")),
            "protobuf_exposition"
        );
        path
    };
    let requests = metric_of("pb_requests_total", "sleepy");
    assert_eq!(decoded.number(&format!("{requests}.counter.value")), 4.0);
    let errors = metric_of("pb_request_errors_total", "sleepy");
    assert_eq!(decoded.number(&format!("{errors}.counter.value")), 1.0);
    assert_eq!(
        decoded.string(&format!("{errors}.counter.exemplar.label[0].name")),
        "trace_id"
    );
    assert_eq!(
        decoded.string(&format!("{errors}.counter.exemplar.label[0].value")),
        TRACE
    );
    assert_eq!(
        decoded.number(&format!("{errors}.counter.exemplar.value")),
        1.0
    );
    assert!(decoded.number(&format!("{errors}.counter.exemplar.timestamp.seconds")) > 1.7e9);
    let in_flight = metric_of("pb_requests_in_flight", "sleepy");
    assert_eq!(decoded.number(&format!("{in_flight}.gauge.value")), 0.0);
    let rejected = metric_of("pb_requests_rejected_total", "sleepy");
    assert_eq!(decoded.number(&format!("{rejected}.counter.value")), 0.0);

    let latency = format!(
        "{}.histogram",
        metric_of("pb_request_latency_seconds", "sleepy")
    );
    assert_eq!(decoded.number(&format!("{latency}.sample_count")), 4.0);
    let sum = decoded.number(&format!("{latency}.sample_sum"));
    assert!(
        (0.1..5.0).contains(&sum),
        "3 × 20 ms + 40 ms, slept: {sum} s"
    );
    // Classic buckets.
    let bounds: Vec<f64> = (0..decoded.len(&format!("{latency}.bucket")))
        .map(|bucket| decoded.number(&format!("{latency}.bucket[{bucket}].upper_bound")))
        .collect();
    assert_eq!(bounds, [0.01, 0.1, 1.0]);
    assert_eq!(
        decoded.number(&format!("{latency}.bucket[0].cumulative_count")),
        0.0
    );
    let at_100ms = decoded.number(&format!("{latency}.bucket[1].cumulative_count"));
    // An exemplar on a populated bucket.
    let exemplar = format!("{latency}.bucket[1].exemplar");
    if at_100ms > 0.0 {
        assert_eq!(decoded.string(&format!("{exemplar}.label[0].value")), TRACE);
        let value = decoded.number(&format!("{exemplar}.value"));
        assert!((0.02..0.1).contains(&value), "{value}");
    }
    // Native buckets: schema, zero bucket, spans and deltas.
    assert_eq!(decoded.number(&format!("{latency}.schema")), 3.0);
    assert_eq!(
        decoded.number(&format!("{latency}.zero_threshold")),
        (-128f64).exp2()
    );
    assert_eq!(decoded.number(&format!("{latency}.zero_count")), 0.0);
    let native = decoded.native_buckets(&latency);
    let native_total: u64 = native.iter().map(|&(_, count)| count).sum();
    assert_eq!(native_total, 4, "{native:?}");
    for &(index, _) in &native {
        let (lower, upper) = (upper_bound(index - 1, 3), upper_bound(index, 3));
        assert!(
            lower >= 0.018 && upper <= 5.0,
            "bucket {index}: ({lower}, {upper}]"
        );
    }
    // The classic count under 100 ms agrees with the native buckets: at least those wholly
    // under it, at most those that start under it.
    let wholly_under: u64 = native
        .iter()
        .filter(|&&(index, _)| upper_bound(index, 3) <= 0.1)
        .map(|&(_, count)| count)
        .sum();
    let starting_under: u64 = native
        .iter()
        .filter(|&&(index, _)| upper_bound(index - 1, 3) < 0.1)
        .map(|&(_, count)| count)
        .sum();
    assert!(
        (wholly_under as f64..=starting_under as f64).contains(&at_100ms),
        "{at_100ms} vs native {native:?}"
    );
    // The 40 ms call is in a bucket at or above 40 ms.
    assert!(
        native
            .iter()
            .any(|&(index, _)| upper_bound(index, 3) >= 0.04)
    );

    // Exact under load: classic, native and the request counter agree.
    let quick_latency = format!(
        "{}.histogram",
        metric_of("pb_request_latency_seconds", "quick")
    );
    let total = (threads * calls) as f64;
    assert_eq!(
        decoded.number(&format!("{quick_latency}.sample_count")),
        total
    );
    let quick_native: u64 = decoded
        .native_buckets(&quick_latency)
        .iter()
        .map(|&(_, count)| count)
        .sum::<u64>()
        + decoded.number(&format!("{quick_latency}.zero_count")) as u64;
    assert_eq!(quick_native as f64, total);
    let quick_requests = metric_of("pb_requests_total", "quick");
    assert_eq!(
        decoded.number(&format!("{quick_requests}.counter.value")),
        total
    );

    // A series without calls is native already: an empty span, as client_golang writes.
    let idle = format!(
        "{}.histogram",
        metric_of("pb_request_latency_seconds", "never_called")
    );
    assert_eq!(
        decoded.number(&format!("{idle}.positive_span[0].offset")),
        0.0
    );
    assert_eq!(
        decoded.number(&format!("{idle}.positive_span[0].length")),
        0.0
    );
    assert_eq!(decoded.len(&format!("{idle}.positive_delta")), 0);
    assert_eq!(decoded.number(&format!("{idle}.sample_count")), 0.0);
    never_called();

    // The text formats keep the classic buckets only, and agree on the counts.
    let text = metrics_runtime::gather();
    assert!(text.contains(
        "pb_request_latency_seconds_count{handler=\"sleepy\",module=\"protobuf_exposition\"} 4"
    ));
    assert!(!text.contains("schema"));
    assert!(EXEMPLARS_ASKED.load(Ordering::Relaxed) > 0);
    // `gather_as` has no binary form: it answers a protobuf request with the text format.
    assert!(
        metrics_runtime::gather_as(Format::Protobuf).contains("# TYPE pb_requests_total counter")
    );
}
