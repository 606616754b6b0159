//! The five handler families: their names and help texts, and their values in the prometheus
//! crate's model, for a registry that renames or labels every family it gathers (a prefix,
//! common labels) or a server that gathers the registry itself.

use prometheus::core::Desc;
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};

use crate::series::{Series, Snapshot};

/// The five handler families.
pub(crate) struct Families {
    pub(crate) requests: Desc,
    pub(crate) latency: Desc,
    pub(crate) in_flight: Desc,
    pub(crate) rejected: Desc,
    pub(crate) errors: Desc,
}

impl Families {
    /// The five families of `namespace`, with their help texts.
    pub(crate) fn new(namespace: &str) -> Families {
        let desc = |suffix: &str, help: &str| {
            let name = format!("{namespace}_{suffix}");
            let labels = vec!["handler".to_owned(), "module".to_owned()];
            Desc::new(name, help.to_owned(), labels, Default::default())
                .expect("validated namespace gives valid metric names")
        };
        Families {
            requests: desc("requests_total", "Requests that reached the handler body."),
            latency: desc(
                "request_latency_seconds",
                "Time spent in the handler body, however it ended.",
            ),
            in_flight: desc("requests_in_flight", "Handler bodies running now."),
            rejected: desc(
                "requests_rejected_total",
                "Calls that #[authenticated] rejected before the handler body ran.",
            ),
            errors: desc(
                "request_errors_total",
                "Handler calls that failed: a panic, an Err (unless its error type says \
                 otherwise), a 5xx status, or an output whose CountsAsError says so.",
            ),
        }
    }

    pub(crate) fn all(&self) -> [&Desc; 5] {
        self.typed().map(|(desc, _)| desc)
    }

    /// Each family with its type.
    pub(crate) fn typed(&self) -> [(&Desc, MetricType); 5] {
        [
            (&self.requests, MetricType::COUNTER),
            (&self.latency, MetricType::HISTOGRAM),
            (&self.in_flight, MetricType::GAUGE),
            (&self.rejected, MetricType::COUNTER),
            (&self.errors, MetricType::COUNTER),
        ]
    }
}

/// The five families as the prometheus crate's values, for its `TextEncoder` to write.
pub(crate) fn metric_families(
    families: &Families,
    bounds_seconds: &[f64],
    series: Vec<(&Series, Snapshot)>,
) -> Vec<MetricFamily> {
    let mut requests = Vec::new();
    let mut latency = Vec::new();
    let mut in_flight = Vec::new();
    let mut rejected = Vec::new();
    let mut errors = Vec::new();
    for (site, snapshot) in series {
        let labelled = || {
            Metric::from_label(vec![
                label_pair("handler", &site.handler),
                label_pair("module", site.module),
            ])
        };
        let mut metric = labelled();
        metric.set_counter(counter(snapshot.started));
        requests.push(metric);

        let mut metric = labelled();
        metric.set_counter(counter(snapshot.errors));
        errors.push(metric);

        let mut metric = labelled();
        metric.set_counter(counter(snapshot.rejected));
        rejected.push(metric);

        let mut gauge = Gauge::default();
        gauge.set_value(snapshot.in_flight() as f64);
        let mut metric = labelled();
        metric.set_gauge(gauge);
        in_flight.push(metric);

        let mut histogram = Histogram::default();
        histogram.set_sample_count(snapshot.finished);
        histogram.set_sample_sum(snapshot.sum_seconds);
        histogram.set_bucket(
            bounds_seconds
                .iter()
                .zip(&snapshot.cumulative)
                .map(|(&bound, &count)| {
                    let mut bucket = Bucket::default();
                    bucket.set_upper_bound(bound);
                    bucket.set_cumulative_count(count);
                    bucket
                })
                .collect(),
        );
        let mut metric = labelled();
        metric.set_histogram(histogram);
        latency.push(metric);
    }
    [
        (&families.requests, MetricType::COUNTER, requests),
        (&families.latency, MetricType::HISTOGRAM, latency),
        (&families.in_flight, MetricType::GAUGE, in_flight),
        (&families.rejected, MetricType::COUNTER, rejected),
        (&families.errors, MetricType::COUNTER, errors),
    ]
    .into_iter()
    .map(|(desc, kind, metrics)| {
        let mut family = MetricFamily::default();
        family.set_name(desc.fq_name.clone());
        family.set_help(desc.help.clone());
        family.set_field_type(kind);
        family.set_metric(metrics);
        family
    })
    .collect()
}

fn counter(value: u64) -> Counter {
    let mut counter = Counter::default();
    counter.set_value(value as f64);
    counter
}

fn label_pair(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.to_owned());
    pair.set_value(value.to_owned());
    pair
}
