//! The protobuf exposition: length-delimited `io.prometheus.client.MetricFamily` messages
//! (prometheus/client_model's `metrics.proto`), what Prometheus asks for when its native
//! histograms are on. The handler latency histograms carry their native buckets next to the
//! classic ones; the registry's other families are encoded from the prometheus crate's model.
//!
//! Written by hand rather than with `prost`: we only ever encode, a dozen messages and five
//! wire rules (varint, zigzag, 64-bit, length-delimited, field keys) are all it takes, and
//! `prost` would add two crates and their build to every user of the feature for the same
//! bytes. The tests decode the output with rust-protobuf's dynamic messages over the published
//! `metrics.proto`, parsed at test time: a decoder that shares no code with this one.

use prometheus::core::Desc;
use prometheus::proto::{Metric, MetricFamily, MetricType};

use crate::exemplar::{Exemplar, TRACE_ID_LABEL};
use crate::exposition::families::Families;
use crate::model;
use crate::native::NativeSnapshot;
use crate::series::{Series, Snapshot};

/// The wire types this encoder writes.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const DELIMITED: u8 = 2;

/// Encodes one message's fields.
struct Message(Vec<u8>);

impl Message {
    fn new() -> Self {
        Message(Vec::new())
    }

    fn key(&mut self, field: u32, wire: u8) {
        varint(&mut self.0, (u64::from(field) << 3) | u64::from(wire));
    }

    fn uint(&mut self, field: u32, value: u64) -> &mut Self {
        self.key(field, VARINT);
        varint(&mut self.0, value);
        self
    }

    /// `sint32`/`sint64`: zigzag, so that small negative numbers stay short.
    fn sint(&mut self, field: u32, value: i64) -> &mut Self {
        self.uint(field, ((value << 1) ^ (value >> 63)) as u64)
    }

    /// `int64`: two's complement as a varint.
    fn int(&mut self, field: u32, value: i64) -> &mut Self {
        self.uint(field, value as u64)
    }

    fn double(&mut self, field: u32, value: f64) -> &mut Self {
        self.key(field, FIXED64);
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) -> &mut Self {
        self.key(field, DELIMITED);
        varint(&mut self.0, bytes.len() as u64);
        self.0.extend_from_slice(bytes);
        self
    }

    fn string(&mut self, field: u32, value: &str) -> &mut Self {
        self.bytes(field, value.as_bytes())
    }

    fn message(&mut self, field: u32, message: Message) -> &mut Self {
        self.bytes(field, &message.0)
    }
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

// Field numbers of metrics.proto.
mod field {
    pub(super) const FAMILY_NAME: u32 = 1;
    pub(super) const FAMILY_HELP: u32 = 2;
    pub(super) const FAMILY_TYPE: u32 = 3;
    pub(super) const FAMILY_METRIC: u32 = 4;
    pub(super) const METRIC_LABEL: u32 = 1;
    pub(super) const METRIC_GAUGE: u32 = 2;
    pub(super) const METRIC_COUNTER: u32 = 3;
    pub(super) const METRIC_SUMMARY: u32 = 4;
    pub(super) const METRIC_TIMESTAMP_MS: u32 = 6;
    pub(super) const METRIC_HISTOGRAM: u32 = 7;
    pub(super) const LABEL_NAME: u32 = 1;
    pub(super) const LABEL_VALUE: u32 = 2;
    /// `Gauge.value` and `Counter.value`.
    pub(super) const VALUE: u32 = 1;
    pub(super) const COUNTER_EXEMPLAR: u32 = 2;
    pub(super) const SUMMARY_COUNT: u32 = 1;
    pub(super) const SUMMARY_SUM: u32 = 2;
    pub(super) const SUMMARY_QUANTILE: u32 = 3;
    pub(super) const QUANTILE_QUANTILE: u32 = 1;
    pub(super) const QUANTILE_VALUE: u32 = 2;
    pub(super) const HISTOGRAM_COUNT: u32 = 1;
    pub(super) const HISTOGRAM_SUM: u32 = 2;
    pub(super) const HISTOGRAM_BUCKET: u32 = 3;
    pub(super) const HISTOGRAM_SCHEMA: u32 = 5;
    pub(super) const HISTOGRAM_ZERO_THRESHOLD: u32 = 6;
    pub(super) const HISTOGRAM_ZERO_COUNT: u32 = 7;
    pub(super) const HISTOGRAM_POSITIVE_SPAN: u32 = 12;
    pub(super) const HISTOGRAM_POSITIVE_DELTA: u32 = 13;
    pub(super) const BUCKET_CUMULATIVE_COUNT: u32 = 1;
    pub(super) const BUCKET_UPPER_BOUND: u32 = 2;
    pub(super) const BUCKET_EXEMPLAR: u32 = 3;
    pub(super) const SPAN_OFFSET: u32 = 1;
    pub(super) const SPAN_LENGTH: u32 = 2;
    pub(super) const EXEMPLAR_LABEL: u32 = 1;
    pub(super) const EXEMPLAR_VALUE: u32 = 2;
    pub(super) const EXEMPLAR_TIMESTAMP: u32 = 3;
    pub(super) const TIMESTAMP_SECONDS: u32 = 1;
    pub(super) const TIMESTAMP_NANOS: u32 = 2;
}

/// `MetricType` of metrics.proto.
fn type_number(kind: MetricType) -> u64 {
    match kind {
        MetricType::COUNTER => 0,
        MetricType::GAUGE => 1,
        MetricType::SUMMARY => 2,
        MetricType::UNTYPED => 3,
        MetricType::HISTOGRAM => 4,
    }
}

/// Appends one family, prefixed with its length.
fn write_family(
    out: &mut Vec<u8>,
    name: &str,
    help: &str,
    kind: MetricType,
    metrics: Vec<Message>,
) {
    let mut family = Message::new();
    family
        .string(field::FAMILY_NAME, name)
        .string(field::FAMILY_HELP, help)
        .uint(field::FAMILY_TYPE, type_number(kind));
    for metric in metrics {
        family.message(field::FAMILY_METRIC, metric);
    }
    varint(out, family.0.len() as u64);
    out.extend_from_slice(&family.0);
}

fn label(name: &str, value: &str) -> Message {
    let mut pair = Message::new();
    pair.string(field::LABEL_NAME, name)
        .string(field::LABEL_VALUE, value);
    pair
}

/// Appends the registry's families other than the handler families written directly.
pub(crate) fn write_families(out: &mut Vec<u8>, families: &[MetricFamily]) {
    for family in families {
        let kind = family.get_field_type();
        let metrics = family
            .get_metric()
            .iter()
            .map(|metric| encode_metric(metric, kind))
            .collect();
        write_family(out, family.name(), family.help(), kind, metrics);
    }
}

fn encode_metric(metric: &Metric, kind: MetricType) -> Message {
    let mut message = Message::new();
    for pair in metric.get_label() {
        message.message(field::METRIC_LABEL, label(pair.name(), pair.value()));
    }
    match kind {
        MetricType::COUNTER => {
            let mut counter = Message::new();
            counter.double(field::VALUE, model::counter_value(metric));
            message.message(field::METRIC_COUNTER, counter);
        }
        MetricType::GAUGE => {
            let mut gauge = Message::new();
            gauge.double(field::VALUE, model::gauge_value(metric));
            message.message(field::METRIC_GAUGE, gauge);
        }
        // Left out before rendering (see `model::without_untyped`).
        MetricType::UNTYPED => {}
        MetricType::SUMMARY => {
            let summary = metric.get_summary();
            let mut encoded = Message::new();
            encoded
                .uint(field::SUMMARY_COUNT, summary.sample_count())
                .double(field::SUMMARY_SUM, summary.sample_sum());
            for quantile in summary.get_quantile() {
                let mut pair = Message::new();
                pair.double(field::QUANTILE_QUANTILE, quantile.quantile())
                    .double(field::QUANTILE_VALUE, quantile.value());
                encoded.message(field::SUMMARY_QUANTILE, pair);
            }
            message.message(field::METRIC_SUMMARY, encoded);
        }
        MetricType::HISTOGRAM => {
            let histogram = metric.get_histogram();
            let mut encoded = Message::new();
            encoded
                .uint(field::HISTOGRAM_COUNT, histogram.get_sample_count())
                .double(field::HISTOGRAM_SUM, histogram.get_sample_sum());
            for bucket in histogram.get_bucket() {
                encoded.message(
                    field::HISTOGRAM_BUCKET,
                    classic_bucket(bucket.cumulative_count(), bucket.upper_bound(), None),
                );
            }
            message.message(field::METRIC_HISTOGRAM, encoded);
        }
    }
    if metric.timestamp_ms() != 0 {
        message.int(field::METRIC_TIMESTAMP_MS, metric.timestamp_ms());
    }
    message
}

fn classic_bucket(cumulative: u64, upper_bound: f64, exemplar: Option<&Exemplar>) -> Message {
    let mut bucket = Message::new();
    bucket
        .uint(field::BUCKET_CUMULATIVE_COUNT, cumulative)
        .double(field::BUCKET_UPPER_BOUND, upper_bound);
    if let Some(exemplar) = exemplar {
        bucket.message(field::BUCKET_EXEMPLAR, encode_exemplar(exemplar));
    }
    bucket
}

fn encode_exemplar(exemplar: &Exemplar) -> Message {
    let mut timestamp = Message::new();
    let seconds = exemplar.timestamp.floor();
    timestamp.int(field::TIMESTAMP_SECONDS, seconds as i64).int(
        field::TIMESTAMP_NANOS,
        ((exemplar.timestamp - seconds) * 1e9) as i64,
    );
    let mut encoded = Message::new();
    encoded
        .message(
            field::EXEMPLAR_LABEL,
            label(TRACE_ID_LABEL, &exemplar.trace_id),
        )
        .double(field::EXEMPLAR_VALUE, exemplar.value)
        .message(field::EXEMPLAR_TIMESTAMP, timestamp);
    encoded
}

/// The native buckets' fields of a `Histogram`: schema, zero bucket, and the populated buckets
/// as spans of consecutive indices with each count as the difference to the one before.
fn write_native(histogram: &mut Message, native: &NativeSnapshot) {
    histogram
        .sint(field::HISTOGRAM_SCHEMA, native.schema.into())
        .double(field::HISTOGRAM_ZERO_THRESHOLD, native.zero_threshold)
        .uint(field::HISTOGRAM_ZERO_COUNT, native.zero_count);
    let mut spans: Vec<(i32, u32)> = Vec::new();
    let mut previous_index = None;
    for &(index, _) in &native.buckets {
        match (previous_index, spans.last_mut()) {
            (Some(previous), Some((_, length))) if index == previous + 1 => *length += 1,
            // The first span's offset is its first index; a later one's, the gap before it.
            (Some(previous), _) => spans.push((index - previous - 1, 1)),
            (None, _) => spans.push((index, 1)),
        }
        previous_index = Some(index);
    }
    if spans.is_empty() {
        // No observation yet: an empty span says "native" to Prometheus even with a zero
        // threshold of 0, as client_golang does.
        spans.push((0, 0));
    }
    for (offset, length) in spans {
        let mut span = Message::new();
        span.sint(field::SPAN_OFFSET, offset.into())
            .uint(field::SPAN_LENGTH, length.into());
        histogram.message(field::HISTOGRAM_POSITIVE_SPAN, span);
    }
    let mut previous_count = 0i64;
    for &(_, count) in &native.buckets {
        let count = count as i64;
        histogram.sint(field::HISTOGRAM_POSITIVE_DELTA, count - previous_count);
        previous_count = count;
    }
}

/// Appends the five handler families, one series per snapshot, in the order the text format
/// writes them.
pub(crate) fn write_handler_families(
    out: &mut Vec<u8>,
    families: &Families,
    bounds_seconds: &[f64],
    series: &[(&Series, Snapshot)],
) {
    let labelled = |site: &Series| {
        let mut metric = Message::new();
        metric
            .message(field::METRIC_LABEL, label("handler", &site.handler))
            .message(field::METRIC_LABEL, label("module", site.module));
        metric
    };
    // A value per series, and the exemplar a counter carries, if any.
    let integers =
        |out: &mut Vec<u8>, desc: &Desc, kind, value: fn(&Snapshot) -> (u64, Option<&Exemplar>)| {
            let metrics = series
                .iter()
                .map(|(site, snapshot)| {
                    let (value, exemplar) = value(snapshot);
                    let mut metric = labelled(site);
                    let mut number = Message::new();
                    number.double(field::VALUE, value as f64);
                    if kind == MetricType::COUNTER {
                        if let Some(exemplar) = exemplar {
                            number.message(field::COUNTER_EXEMPLAR, encode_exemplar(exemplar));
                        }
                        metric.message(field::METRIC_COUNTER, number);
                    } else {
                        metric.message(field::METRIC_GAUGE, number);
                    }
                    metric
                })
                .collect();
            write_family(out, &desc.fq_name, &desc.help, kind, metrics);
        };
    integers(out, &families.errors, MetricType::COUNTER, |s| {
        (s.errors, s.error_exemplar())
    });
    let latency = series
        .iter()
        .map(|(site, snapshot)| {
            // Prometheus since 2.4x and Mimir refuse a native histogram whose buckets do not
            // hold exactly its count. The native buckets are read first and lag the classic
            // ones by the calls that end meanwhile, so the histogram's count is theirs, and its
            // classic buckets are capped at it: one count for both, every bucket within it.
            let count = snapshot
                .native
                .as_ref()
                .map_or(snapshot.finished, NativeSnapshot::count);
            let mut histogram = Message::new();
            histogram
                .uint(field::HISTOGRAM_COUNT, count)
                .double(field::HISTOGRAM_SUM, snapshot.sum_seconds);
            for (bucket, (&bound, &cumulative)) in
                bounds_seconds.iter().zip(&snapshot.cumulative).enumerate()
            {
                histogram.message(
                    field::HISTOGRAM_BUCKET,
                    classic_bucket(
                        cumulative.min(count),
                        bound,
                        snapshot.bucket_exemplar(bucket),
                    ),
                );
            }
            // The format leaves `+Inf` implicit; written only to carry an exemplar (as
            // client_golang does), which would otherwise be lost.
            if let Some(exemplar) = snapshot.bucket_exemplar(bounds_seconds.len()) {
                histogram.message(
                    field::HISTOGRAM_BUCKET,
                    classic_bucket(count, f64::INFINITY, Some(exemplar)),
                );
            }
            if let Some(native) = &snapshot.native {
                write_native(&mut histogram, native);
            }
            let mut metric = labelled(site);
            metric.message(field::METRIC_HISTOGRAM, histogram);
            metric
        })
        .collect();
    write_family(
        out,
        &families.latency.fq_name,
        &families.latency.help,
        MetricType::HISTOGRAM,
        latency,
    );
    integers(out, &families.in_flight, MetricType::GAUGE, |s| {
        (s.in_flight(), None)
    });
    integers(out, &families.rejected, MetricType::COUNTER, |s| {
        (s.rejected, None)
    });
    integers(out, &families.requests, MetricType::COUNTER, |s| {
        (s.started, None)
    });
}

#[cfg(test)]
mod tests {
    use super::{Message, varint};

    /// Values from the protobuf encoding guide.
    #[test]
    fn wire_rules() {
        let mut out = Vec::new();
        varint(&mut out, 150);
        assert_eq!(out, [0x96, 0x01]);
        let mut message = Message::new();
        message.uint(1, 150);
        assert_eq!(message.0, [0x08, 0x96, 0x01]);
        let mut message = Message::new();
        message.string(2, "testing");
        assert_eq!(message.0, b"\x12\x07testing");
        for (value, zigzag) in [(0i64, 0u8), (-1, 1), (1, 2), (-2, 3)] {
            let mut message = Message::new();
            message.sint(1, value);
            assert_eq!(message.0, [0x08, zigzag], "{value}");
        }
        let mut message = Message::new();
        message.double(1, 1.0);
        assert_eq!(message.0, [0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
        let mut message = Message::new();
        message.int(6, -1);
        assert_eq!(message.0.len(), 11, "a negative int64 takes ten bytes");
    }
}
