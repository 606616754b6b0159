//! OpenMetrics 1.0 text: the handler families with their exemplars, written straight from the
//! snapshots, and the prometheus crate's `MetricFamily` values, the families a registry gathers
//! other than ours (process metrics, the server's own), and ours when the registry renames them.
//!
//! What differs from the text format: a counter family is named without `_total` in `# HELP`
//! and `# TYPE` (its samples keep it), `untyped` is `unknown`, `"` is escaped in help texts,
//! timestamps are seconds, exemplars may follow a sample, and `# EOF` ends the exposition.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};

use prometheus::core::Desc;
use prometheus::proto::{Metric, MetricFamily, MetricType};

use crate::exemplar::{Exemplar, TRACE_ID_LABEL};
use crate::exposition::families::Families;
use crate::exposition::text::escape;
use crate::model;
use crate::series::{Series, Snapshot};

/// Appends `families` in OpenMetrics text. `write!` into a `String` cannot fail.
///
/// Two families must not share a name, their own or a sample's (`names`), or strict parsers
/// reject the whole exposition. A family that would is left out, and said once on standard
/// error: the text format has no such clash and keeps it. `taken` holds the names of families
/// written elsewhere; the families `first` picks claim their names before the others.
pub(crate) fn write_families(
    out: &mut String,
    families: &[MetricFamily],
    taken: &mut HashSet<String>,
    first: impl Fn(&MetricFamily) -> bool,
) {
    let mut kept = vec![false; families.len()];
    for claim_first in [true, false] {
        for (index, family) in families.iter().enumerate() {
            if first(family) != claim_first {
                continue;
            }
            let (name, kind) = family_and_kind(family.name(), family.get_field_type());
            if names(name, kind).any(|taken_name| taken.contains(&taken_name)) {
                report_left_out(name, kind);
            } else {
                taken.extend(names(name, kind));
                kept[index] = true;
            }
        }
    }
    for (family, _) in families.iter().zip(kept).filter(|&(_, kept)| kept) {
        let name = family.name();
        let (family_name, kind) = family_and_kind(name, family.get_field_type());
        write_header(out, family_name, family.help(), kind);
        for metric in family.get_metric() {
            write_metric(out, name, family.get_field_type(), metric);
        }
    }
}

/// The OpenMetrics family name and type of a family the registry gathered as `name`.
pub(crate) fn family_and_kind(name: &str, kind: MetricType) -> (&str, &'static str) {
    match kind {
        MetricType::COUNTER => match name.strip_suffix("_total") {
            Some(base) => (base, "counter"),
            // OpenMetrics would name its sample `<name>_total`: kept as it is, as `unknown`,
            // so that both formats give the same samples.
            None => (name, "unknown"),
        },
        MetricType::GAUGE => (name, "gauge"),
        MetricType::HISTOGRAM => (name, "histogram"),
        MetricType::SUMMARY => (name, "summary"),
        MetricType::UNTYPED => (name, "unknown"),
    }
}

/// The names an OpenMetrics family of `kind` takes: its own and its samples'.
pub(crate) fn names<'a>(family: &'a str, kind: &str) -> impl Iterator<Item = String> + 'a {
    let suffixes: &[&str] = match kind {
        "counter" => &["", "_total", "_created"],
        "histogram" => &["", "_bucket", "_count", "_sum", "_created"],
        "summary" => &["", "_count", "_sum", "_created"],
        _ => &[""],
    };
    suffixes
        .iter()
        .map(move |suffix| format!("{family}{suffix}"))
}

fn report_left_out(family: &str, kind: &str) {
    static REPORTED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let mut reported = REPORTED.lock().unwrap_or_else(PoisonError::into_inner);
    if reported.insert(family.to_owned()) {
        eprintln!(
            "metrics_runtime: OpenMetrics family `{family}` ({kind}) is left out of the \
             OpenMetrics scrape: its name or one of its samples' is another family's, which \
             strict parsers reject; rename it (the text format keeps it)"
        );
    }
}

pub(crate) fn write_header(out: &mut String, name: &str, help: &str, kind: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    escape(out, help);
    let _ = writeln!(out, "\n# TYPE {name} {kind}");
}

fn write_metric(out: &mut String, name: &str, kind: MetricType, metric: &Metric) {
    let labels = label_pairs(metric);
    let timestamp = (metric.timestamp_ms() != 0).then(|| metric.timestamp_ms());
    let mut sample = |suffix: &str, extra: Option<(&str, String)>, value: f64| {
        out.push_str(name);
        out.push_str(suffix);
        write_labels(out, &labels, extra);
        out.push(' ');
        push_number(out, value);
        if let Some(milliseconds) = timestamp {
            let _ = write!(out, " {}.{:03}", milliseconds / 1000, milliseconds % 1000);
        }
        out.push('\n');
    };
    match kind {
        MetricType::COUNTER => sample("", None, model::counter_value(metric)),
        MetricType::GAUGE => sample("", None, model::gauge_value(metric)),
        // Left out before rendering (see `model::without_untyped`).
        MetricType::UNTYPED => {}
        MetricType::HISTOGRAM => {
            let histogram = metric.get_histogram();
            let mut infinite = false;
            for bucket in histogram.get_bucket() {
                infinite |= bucket.upper_bound() == f64::INFINITY;
                let le = number(bucket.upper_bound());
                sample(
                    "_bucket",
                    Some(("le", le)),
                    bucket.cumulative_count() as f64,
                );
            }
            let count = histogram.get_sample_count() as f64;
            if !infinite {
                sample("_bucket", Some(("le", "+Inf".to_owned())), count);
            }
            sample("_sum", None, histogram.get_sample_sum());
            sample("_count", None, count);
        }
        MetricType::SUMMARY => {
            let summary = metric.get_summary();
            for quantile in summary.get_quantile() {
                let at = number(quantile.quantile());
                sample("", Some(("quantile", at)), quantile.value());
            }
            sample("_sum", None, summary.sample_sum());
            sample("_count", None, summary.sample_count() as f64);
        }
    }
}

fn label_pairs(metric: &Metric) -> Vec<(&str, &str)> {
    metric
        .get_label()
        .iter()
        .map(|pair| (pair.name(), pair.value()))
        .collect()
}

fn write_labels(out: &mut String, labels: &[(&str, &str)], extra: Option<(&str, String)>) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    let extra = extra.as_ref().map(|(name, value)| (*name, value.as_str()));
    for (index, (name, value)) in labels.iter().copied().chain(extra).enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        escape(out, value);
        out.push('"');
    }
    out.push('}');
}

/// A number as OpenMetrics writes it: `+Inf`, `-Inf`, `NaN`, or the shortest decimal that
/// reads back as the same `f64` (never an exponent).
pub(crate) fn number(value: f64) -> String {
    let mut out = String::new();
    push_number(&mut out, value);
    out
}

pub(crate) fn push_number(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{value}");
    }
}

/// ` # {trace_id="…"} value timestamp`, after a sample.
pub(crate) fn push_exemplar(out: &mut String, exemplar: &Exemplar) {
    let _ = write!(out, " # {{{TRACE_ID_LABEL}=\"");
    escape(out, &exemplar.trace_id);
    out.push_str("\"} ");
    push_number(out, exemplar.value);
    out.push(' ');
    push_number(out, exemplar.timestamp);
}

/// Appends the five families in OpenMetrics, with the latest exemplars on the latency buckets
/// and the error counters.
pub(crate) fn write_handler_families(
    out: &mut String,
    families: &Families,
    le: &[String],
    series: &[(&Series, Snapshot)],
) {
    write_om_integers(out, &families.errors, series, |s| {
        (s.errors, s.error_exemplar())
    });

    let (name, help) = (&families.latency.fq_name, &families.latency.help);
    write_header(out, name, help, "histogram");
    for (site, snapshot) in series {
        let labels = &site.label_pairs;
        let finished = snapshot.finished;
        let bounds = le.iter().map(String::as_str).chain(["+Inf"]);
        let counts = snapshot.cumulative.iter().copied().chain([finished]);
        for (bucket, (bound, count)) in bounds.zip(counts).enumerate() {
            let _ = write!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {count}");
            if let Some(exemplar) = snapshot.bucket_exemplar(bucket) {
                push_exemplar(out, exemplar);
            }
            out.push('\n');
        }
        let _ = write!(out, "{name}_sum{{{labels}}} ");
        push_number(out, snapshot.sum_seconds);
        let _ = writeln!(out, "\n{name}_count{{{labels}}} {finished}");
    }

    write_om_integers(out, &families.in_flight, series, |s| (s.in_flight(), None));
    write_om_integers(out, &families.rejected, series, |s| (s.rejected, None));
    write_om_integers(out, &families.requests, series, |s| (s.started, None));
}

/// A counter (named `…_total`) or gauge family with one integer value per series.
fn write_om_integers(
    out: &mut String,
    desc: &Desc,
    series: &[(&Series, Snapshot)],
    value: fn(&Snapshot) -> (u64, Option<&Exemplar>),
) {
    let name = &desc.fq_name;
    match name.strip_suffix("_total") {
        Some(family) => write_header(out, family, &desc.help, "counter"),
        None => write_header(out, name, &desc.help, "gauge"),
    }
    for (site, snapshot) in series {
        let (value, exemplar) = value(snapshot);
        let _ = write!(out, "{name}{{{}}} {value}", site.label_pairs);
        if let Some(exemplar) = exemplar {
            push_exemplar(out, exemplar);
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use prometheus::core::Collector;
    use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Opts};

    use super::{number, write_families};

    #[test]
    fn counters_lose_total_in_their_family_name_only() {
        let counter = IntCounter::new("sessions_total", "Sessions \"opened\"\\ok").unwrap();
        counter.inc_by(3);
        let mut out = String::new();
        write_families(&mut out, &counter.collect(), &mut HashSet::new(), |_| false);
        assert_eq!(
            out,
            "# HELP sessions Sessions \\\"opened\\\"\\\\ok\n# TYPE sessions counter\nsessions_total 3\n"
        );
    }

    #[test]
    fn a_counter_without_total_keeps_its_sample_name_as_unknown() {
        let counter = IntCounter::new("restarts", "Restarts.").unwrap();
        let mut out = String::new();
        write_families(&mut out, &counter.collect(), &mut HashSet::new(), |_| false);
        assert_eq!(
            out,
            "# HELP restarts Restarts.\n# TYPE restarts unknown\nrestarts 0\n"
        );
    }

    #[test]
    fn gauges_and_histograms_with_escaped_labels() {
        let gauge = IntGauge::with_opts(
            Opts::new("build_info", "Build.").const_label("version", "1.0 \"beta\"\nx"),
        )
        .unwrap();
        gauge.set(1);
        let histogram =
            Histogram::with_opts(HistogramOpts::new("io_seconds", "IO.").buckets(vec![0.5, 1.0]))
                .unwrap();
        histogram.observe(0.75);
        let mut out = String::new();
        write_families(&mut out, &gauge.collect(), &mut HashSet::new(), |_| false);
        write_families(&mut out, &histogram.collect(), &mut HashSet::new(), |_| {
            false
        });
        assert_eq!(
            out,
            "# HELP build_info Build.\n# TYPE build_info gauge\n\
             build_info{version=\"1.0 \\\"beta\\\"\\nx\"} 1\n\
             # HELP io_seconds IO.\n# TYPE io_seconds histogram\n\
             io_seconds_bucket{le=\"0.5\"} 0\nio_seconds_bucket{le=\"1\"} 1\n\
             io_seconds_bucket{le=\"+Inf\"} 1\nio_seconds_sum 0.75\nio_seconds_count 1\n"
        );
    }

    #[test]
    fn a_family_whose_names_are_taken_is_left_out_and_the_first_ones_claim_theirs_first() {
        let gauge = IntGauge::new("jobs", "A gauge.").unwrap();
        let counter = IntCounter::new("jobs_total", "A counter.").unwrap();
        let created = IntGauge::new("jobs_created", "Clashes with the counter's sample.").unwrap();
        let other = IntGauge::new("queue", "Clashes with nothing.").unwrap();
        let families: Vec<_> = [gauge.collect(), counter.collect(), created.collect()]
            .into_iter()
            .chain([other.collect()])
            .flatten()
            .collect();
        let mut out = String::new();
        let mut taken = HashSet::new();
        write_families(&mut out, &families, &mut taken, |family| {
            family.name() == "jobs_total"
        });
        assert_eq!(
            out,
            "# HELP jobs A counter.\n# TYPE jobs counter\njobs_total 0\n\
             # HELP queue Clashes with nothing.\n# TYPE queue gauge\nqueue 0\n"
        );
        let mut out = String::new();
        write_families(&mut out, &other.collect(), &mut taken, |_| false);
        assert_eq!(out, "", "`queue` was taken by the first call");
    }

    #[test]
    fn numbers() {
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(0.000_000_25), "0.00000025");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(1e21), "1000000000000000000000");
    }
}
