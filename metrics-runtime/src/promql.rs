//! The PromQL the rules and the dashboard are written in: the objectives' ratios and burn
//! rates, the handler families' rates and quantiles, and the matchers and literals they are
//! made of. The alerts and the dashboard call the same functions, so they read one SLI.

use crate::exposition::text;

/// What an objective counts as bad: the name of its recorded ratio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bad {
    Errors,
    Slow,
}

impl Bad {
    /// The ratio's part of the recording rules' names (`<ns>:<name>:ratio_rate<w>`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Bad::Errors => "request_errors",
            Bad::Slow => "slow_requests",
        }
    }
}

/// A label selector, `{a="x",b=~"y"}`, from its matchers in order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Matchers(Vec<String>);

impl Matchers {
    /// `handler="x"`, or `handler=~"a|b"` for several, matched literally.
    pub(crate) fn handlers(handlers: &[String]) -> Matchers {
        Matchers(vec![match handlers {
            [one] => format!("handler={}", string(one)),
            _ => {
                let any: Vec<String> = handlers.iter().map(|h| regex_literal(h)).collect();
                format!("handler=~{}", string(&any.join("|")))
            }
        }])
    }

    /// `{objective="name",<selector>}`: the series an objective's rules record, as its alerts
    /// and the dashboard select them.
    pub(crate) fn recorded(objective: &str, selector: &[(String, String)]) -> Matchers {
        Matchers(vec![format!("objective={}", string(objective))]).selector(selector)
    }

    /// A matcher written as it is, `job=~"$job"`.
    pub(crate) fn raw(mut self, matcher: impl Into<String>) -> Matchers {
        self.0.push(matcher.into());
        self
    }

    /// The bucket bound of `seconds`, as this crate and Prometheus 3 write it.
    pub(crate) fn le(self, seconds: f64) -> Matchers {
        self.raw(le_matcher(seconds))
    }

    /// `label="value"` for each pair.
    pub(crate) fn selector(mut self, selector: &[(String, String)]) -> Matchers {
        self.0.extend(
            selector
                .iter()
                .map(|(label, value)| format!("{label}={}", string(value))),
        );
        self
    }
}

/// The series of some handlers, scoped by a selector.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scope<'a> {
    pub(crate) handlers: &'a [String],
    pub(crate) selector: &'a [(String, String)],
}

impl Scope<'_> {
    /// `{handler…,<selector>}`.
    pub(crate) fn all(&self) -> Matchers {
        Matchers::handlers(self.handlers).selector(self.selector)
    }

    /// `{handler…,le…,<selector>}`: their bucket at `seconds`.
    pub(crate) fn under(&self, seconds: f64) -> Matchers {
        Matchers::handlers(self.handlers)
            .le(seconds)
            .selector(self.selector)
    }
}

impl std::fmt::Display for Matchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{{}}}", self.0.join(","))
    }
}

/// The families the expressions read, named after the runtime's namespace.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Families<'a> {
    pub(crate) namespace: &'a str,
}

impl Families<'_> {
    pub(crate) fn family(&self, name: &str) -> String {
        format!("{}_{name}", self.namespace)
    }

    fn histogram(&self) -> String {
        self.family("request_latency_seconds")
    }

    /// `<ns>:<name>`: a series the rules record.
    pub(crate) fn recorded(&self, name: &str) -> String {
        format!("{}:{name}", self.namespace)
    }

    /// The name of a bad ratio's recording rule over `window`, without the namespace.
    pub(crate) fn ratio_rule(bad: Bad, window: &str) -> String {
        format!("{}:ratio_rate{window}", bad.name())
    }

    /// The name of the traffic floor's recording rule over `window`, without the namespace.
    pub(crate) fn increase_rule(window: &str) -> String {
        format!("requests:increase{window}")
    }

    /// The recorded ratio of `bad` over `window`, as alerts and panels read it.
    pub(crate) fn recorded_ratio(&self, bad: Bad, window: &str, recorded: &Matchers) -> String {
        format!(
            "{}{recorded}",
            self.recorded(&Self::ratio_rule(bad, window))
        )
    }

    /// The recorded requests over `window` (the traffic floor).
    pub(crate) fn recorded_increase(&self, window: &str, recorded: &Matchers) -> String {
        format!("{}{recorded}", self.recorded(&Self::increase_rule(window)))
    }

    /// The requests of `handlers` over `window`, summed: what the traffic floor records.
    pub(crate) fn requests_increase(&self, window: &str, scope: Scope<'_>) -> String {
        format!(
            "sum(increase({}{}[{window}]))",
            self.family("requests_total"),
            scope.all()
        )
    }

    /// The share of requests that were errors over `[{w}]` (the window filled in per rule),
    /// one line per part.
    pub(crate) fn error_ratio(&self, scope: Scope<'_>) -> Vec<String> {
        let handlers = scope.all();
        vec![
            format!(
                "sum(rate({}{handlers}[{{w}}]))",
                self.family("request_errors_total")
            ),
            "  /".to_owned(),
            format!(
                "sum(rate({}{handlers}[{{w}}]))",
                self.family("requests_total")
            ),
        ]
    }

    /// The share of requests slower than `seconds` over `[{w}]`, one line per part: `_count`
    /// and the threshold's `_bucket` paired per series, so that a replica without that bucket
    /// (another binary) counts on neither side instead of all its requests looking slow. With
    /// `native`, the native histogram's fraction where Prometheus kept no classic buckets.
    pub(crate) fn slow_ratio(&self, scope: Scope<'_>, seconds: f64, native: bool) -> Vec<String> {
        let histogram = self.histogram();
        let handlers = scope.all();
        let under = scope.under(seconds);
        let mut ratio = vec![
            "1 - (".to_owned(),
            format!("  sum(rate({histogram}_bucket{under}[{{w}}]))"),
            "    /".to_owned(),
            format!("  sum(rate({histogram}_count{handlers}[{{w}}])"),
            format!("    and ignoring(le) rate({histogram}_bucket{under}[{{w}}]))"),
            ")".to_owned(),
        ];
        if native {
            // Prometheus 2.40 to 2.44 with native histograms on (2.45+ without
            // scrape_classic_histograms) keeps only the native buckets of a series that has
            // both; one scraping text keeps only the classic ones. The classic ratio is
            // exact at the threshold (a bucket bound), so it comes first; the native one
            // interpolates within the threshold's bucket (LatencyNativeOnly says so).
            let classic = ratio.iter().map(|line| format!("  {line}"));
            ratio = std::iter::once("(".to_owned())
                .chain(classic)
                .chain([
                    ")".to_owned(),
                    "or".to_owned(),
                    format!(
                        "(1 - histogram_fraction(0, {}, sum(rate({histogram}{handlers}[{{w}}]))))",
                        decimal(seconds)
                    ),
                ])
                .collect();
        }
        ratio
    }

    /// No series of the requests counter for `handlers`: a dead service, or another binary.
    pub(crate) fn no_requests(&self, scope: Scope<'_>) -> String {
        format!("absent({}{})", self.family("requests_total"), scope.all())
    }

    /// Series that have native buckets but no classic ones, one line per part.
    pub(crate) fn native_only(&self, scope: Scope<'_>) -> Vec<String> {
        let histogram = self.histogram();
        let handlers = scope.all();
        vec![
            format!("histogram_count({histogram}{handlers})"),
            format!("unless {histogram}_count{handlers}"),
        ]
    }

    /// Series whose histogram has no bucket bound at `seconds`, one line per part.
    pub(crate) fn missing_bucket(&self, scope: Scope<'_>, seconds: f64) -> Vec<String> {
        let histogram = self.histogram();
        vec![
            format!("{histogram}_count{}", scope.all()),
            "unless ignoring(le)".to_owned(),
            format!("{histogram}_bucket{}", scope.under(seconds)),
        ]
    }
}

/// The dashboard's panels: rates over Grafana's `$__rate_interval`.
#[cfg(feature = "dashboard")]
impl Families<'_> {
    /// `sum by (<by>) (rate(<family><matchers>[$__rate_interval]))`: a panel's rate.
    pub(crate) fn panel_rate(&self, family: &str, matchers: &Matchers, by: &str) -> String {
        format!(
            "sum by ({by}) (rate({}{matchers}[$__rate_interval]))",
            self.family(family)
        )
    }

    /// The share of requests that were errors, per handler, for a panel.
    pub(crate) fn panel_error_ratio(&self, matchers: &Matchers) -> String {
        format!(
            "{}\n/\n{}",
            self.panel_rate("request_errors_total", matchers, "handler"),
            self.panel_rate("requests_total", matchers, "handler")
        )
    }

    /// The `q` quantile of the latency over the selected series: from the native histogram
    /// where Prometheus has one (with `native`), else from the classic buckets.
    pub(crate) fn panel_quantile(&self, q: &str, matchers: &Matchers, native: bool) -> String {
        let histogram = self.histogram();
        let classic = format!(
            "histogram_quantile({q}, sum by (le) (rate({histogram}_bucket{matchers}[$__rate_interval])))"
        );
        if native {
            // A Prometheus that ingests native histograms may keep only those; one scraping
            // text keeps the classic buckets. Whichever has data answers.
            format!(
                "histogram_quantile({q}, sum(rate({histogram}{matchers}[$__rate_interval])))\nor\n{classic}"
            )
        } else {
            classic
        }
    }

    /// Handler bodies running now, per handler.
    pub(crate) fn panel_in_flight(&self, matchers: &Matchers) -> String {
        format!(
            "sum by (handler) ({}{matchers})",
            self.family("requests_in_flight")
        )
    }
}

/// `ratio / budget`: how many times faster than allowed a ratio spends the budget.
pub(crate) fn burn_rate(ratio: &str, budget: &str) -> String {
    format!("{ratio} / {budget}")
}

/// The average of a recorded ratio over `window`, sampled every `step`. A quiet interval
/// records 0/0: NaN would poison the average, so it is left out.
#[cfg(feature = "dashboard")]
pub(crate) fn average_ratio(ratio: &str, window: &str, step: &str) -> String {
    format!("avg_over_time(({ratio} >= 0)[{window}:{step}])")
}

/// Why `label` cannot be a label name, if it cannot.
pub(crate) fn label_name_problem(label: &str) -> Option<&'static str> {
    let mut chars = label.chars();
    let valid_start = chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_');
    if !valid_start || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Some("a label name matches [a-zA-Z_][a-zA-Z0-9_]*");
    }
    if label.starts_with("__") {
        return Some("names starting with `__` are reserved by Prometheus");
    }
    None
}

/// Matches the threshold's `le` as this crate writes it (`1`, `0.25`) and as Prometheus 3
/// rewrites it when it scrapes (`1.0`, `2.5e-05`): a matcher that misses its bucket would make
/// the latency alert silently never fire.
fn le_matcher(seconds: f64) -> String {
    let ours = seconds.to_string();
    let normalized = prometheus_float(seconds);
    if ours == normalized {
        format!("le={}", string(&ours))
    } else {
        let either = format!("{}|{}", regex_literal(&ours), regex_literal(&normalized));
        format!("le=~{}", string(&either))
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, with `.0` added to an integer: how Prometheus 3
/// normalizes `le` values.
fn prometheus_float(value: f64) -> String {
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` writes an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` writes an integer exponent");
    // 'g' with the shortest precision decides with precision 6: `1e+06`, `123456`.
    if (-4..6).contains(&exponent) {
        let plain = value.to_string();
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

/// A number as a person writes it: at most 9 decimals, no trailing zeros, no float noise
/// (`100 - 99.9` is `0.1`).
pub(crate) fn decimal(value: f64) -> String {
    let fixed = format!("{value:.9}");
    fixed.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A PromQL string literal.
pub(crate) fn string(value: &str) -> String {
    let mut out = String::from('"');
    text::escape(&mut out, value);
    out.push('"');
    out
}

/// A label value matched literally by an RE2 regex.
fn regex_literal(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn le_values_match_ours_and_prometheus_3s() {
        assert_eq!(le_matcher(0.25), r#"le="0.25""#);
        assert_eq!(le_matcher(1.0), r#"le=~"1|1\\.0""#);
        assert_eq!(le_matcher(0.00002), r#"le=~"0\\.00002|2e-05""#);
        assert_eq!(prometheus_float(2.5e-5), "2.5e-05");
        assert_eq!(prometheus_float(0.0001), "0.0001");
        assert_eq!(prometheus_float(100.0), "100.0");
        assert_eq!(prometheus_float(1e21), "1e+21");
        // Go's 'g' at the shortest precision: exponent form from 1e6 up and below 1e-4.
        assert_eq!(prometheus_float(1e6), "1e+06");
        assert_eq!(prometheus_float(1_234_567.0), "1.234567e+06");
        assert_eq!(prometheus_float(123_456.0), "123456.0");
        assert_eq!(prometheus_float(1e-5), "1e-05");
        assert_eq!(prometheus_float(0.25), "0.25");
    }

    #[test]
    fn numbers_strings_and_matchers() {
        assert_eq!(decimal((100.0 - 99.9) / 100.0), "0.001");
        assert_eq!(decimal(14.4), "14.4");
        assert_eq!(decimal(6.0), "6");
        assert_eq!(decimal(30.0), "30");
        assert_eq!(string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(string("a\nb"), r#""a\nb""#);
        assert_eq!(regex_literal("Api::get(v1)"), r"Api::get\(v1\)");
        let selector = [("job".to_owned(), "it's".to_owned())];
        assert_eq!(
            Matchers::handlers(&["a.b".to_owned(), "c".to_owned()])
                .le(0.25)
                .selector(&selector)
                .to_string(),
            r#"{handler=~"a\\.b|c",le="0.25",job="it's"}"#
        );
        assert_eq!(
            Matchers::recorded("o", &selector)
                .raw(r#"x=~"$x""#)
                .to_string(),
            r#"{objective="o",job="it's",x=~"$x"}"#
        );
    }

    #[test]
    fn alerts_and_panels_read_one_recorded_ratio() {
        let families = Families { namespace: "ns" };
        let recorded = Matchers::recorded("o", &[]);
        let ratio = families.recorded_ratio(Bad::Slow, "1h", &recorded);
        assert_eq!(ratio, r#"ns:slow_requests:ratio_rate1h{objective="o"}"#);
        assert_eq!(
            format!("ns:{}", Families::ratio_rule(Bad::Slow, "1h")),
            ratio.split('{').next().unwrap(),
            "the rule records what the expression reads"
        );
        assert_eq!(burn_rate(&ratio, "0.01"), format!("{ratio} / 0.01"));
    }

    #[test]
    fn label_names_are_checked() {
        assert_eq!(label_name_problem("job"), None);
        for label in ["", "9job", "job-name", "__name__"] {
            assert!(label_name_problem(label).is_some(), "{label:?}");
        }
    }
}
