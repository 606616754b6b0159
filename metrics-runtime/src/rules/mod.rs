//! Prometheus rules for the program's objectives, written from its own list of handlers: recording
//! rules for the error and slow-request ratios, and the SRE workbook's multi-window,
//! multi-burn-rate alerts on them. Built as values (`group.rs`, one objective's rules, from
//! the expressions of `promql.rs`), written once (`yaml.rs`).

mod group;
mod yaml;

use crate::catalog;
use crate::error::ConfigError;
use crate::promql;
use crate::runtime;

use group::Group;

/// Labels the generated rules use themselves: a selector cannot name them.
const RULE_LABELS: [&str; 5] = ["handler", "module", "le", "objective", "severity"];

/// Options of the generated rules; [`alert_rules`] renders the defaults.
///
/// ```
/// use std::time::Duration;
/// use metrics_runtime::{AlertRules, Objective, prometheus_metrics};
///
/// const UPLOADS: Objective = Objective::new("uploads").availability(99.5);
///
/// #[prometheus_metrics(objective = UPLOADS)]
/// fn upload() {}
///
/// let rules = AlertRules::new()
///     .selector("job", "rucio-jupyterlab")  // this service's series only
///     .min_requests(50)                     // no alert on fewer requests in the long window
///     .render()
///     .unwrap();
/// assert!(rules.contains(r#"handler_requests_total{handler="upload",job="rucio-jupyterlab"}[1h]"#));
/// assert!(rules.contains(">= 50"));
///
/// let error = AlertRules::new().selector("handler", "x").render().unwrap_err();
/// assert!(error.to_string().contains("the rules select handlers by it"));
/// ```
#[derive(Clone, Debug)]
#[must_use = "AlertRules does nothing until .render() is called"]
pub struct AlertRules {
    selector: Vec<(String, String)>,
    min_requests: u64,
}

impl Default for AlertRules {
    fn default() -> Self {
        AlertRules {
            selector: Vec::new(),
            min_requests: 100,
        }
    }
}

impl AlertRules {
    /// No selector, and at least 100 requests in an alert's long window.
    pub fn new() -> Self {
        AlertRules::default()
    }

    /// Scopes every expression to series with `label="value"` (call it again for more), for
    /// services that share a Prometheus: `.selector("job", "rucio-jupyterlab")`. The recorded
    /// ratios carry the label too, so that two services' rules never record the same series.
    pub fn selector(mut self, label: impl Into<String>, value: impl Into<String>) -> Self {
        self.selector.push((label.into(), value.into()));
        self
    }

    /// The traffic floor: an alert fires only if its long window (1h, 6h, 1d or 3d) saw at least
    /// `requests` requests, so that an objective with a handful of calls an hour does not page
    /// on one error. It counts requests, not a rate: a freshly started Prometheus with heavy
    /// traffic still pages. A total outage pages below it (at least 90% of at least 5
    /// requests bad in the last hour), when the floor is above 5. 0 turns the floor off.
    pub fn min_requests(mut self, requests: u64) -> Self {
        self.min_requests = requests;
        self
    }

    /// The rule file (YAML) for every objective of the program, named after the namespace of
    /// the [installed](crate::Config::install) configuration. Refuses a selector label that is
    /// not a label name or that the rules use themselves, and two different objectives with one
    /// name.
    pub fn render(&self) -> Result<String, ConfigError> {
        for (label, _) in &self.selector {
            check_selector_label(label)?;
        }
        let objectives = catalog::objectives()?;
        let namespace = runtime::namespace();
        let groups: Vec<RuleGroup> = objectives
            .iter()
            .map(|uses| {
                Group {
                    rules: self,
                    namespace: &namespace,
                    uses,
                    native: runtime::native_histograms(),
                }
                .build()
            })
            .collect();
        Ok(yaml::rule_file(&groups))
    }
}

/// The Prometheus rule file for the objectives of this program, with the default
/// [`AlertRules`]: print it from the binary (`--print-alert-rules`) and load it in Prometheus.
///
/// Each objective gets a group of recording rules, `<namespace>:request_errors:ratio_rate<w>`
/// and `<namespace>:slow_requests:ratio_rate<w>` over 5m, 30m, 1h, 2h, 6h, 1d and 3d plus
/// `<namespace>:requests:increase<w>` for the traffic floor, each labelled `objective`, and two
/// alerts per target, `<Namespace>AvailabilityBudgetBurn` and `<Namespace>LatencyBudgetBurn`:
/// `severity="page"` when the 1h and 5m ratios burn the budget faster than 14.4× or the 6h and
/// 30m ratios faster than 6×, `severity="ticket"` for 1d and 2h over 3× or 3d and 6h over 1×.
/// Its value is the burn rate over the long window. Below the traffic floor the page still
/// fires for a total outage: at least 90% of at least 5 requests bad in the last hour, and the
/// last 5m not recovered. The slow-request ratio pairs `_count` and the threshold's `_bucket`
/// per series. Each objective gets `<Namespace>ObjectiveNoData` (a page: none of its handlers
/// has series for 5m, a dead service); a latency objective `<Namespace>LatencyThresholdNotABucket`
/// (a ticket, for a running binary whose histogram has no bound at the threshold: its requests
/// count on neither side) and, with native histograms, `<Namespace>LatencyNativeOnly` (a
/// ticket: Prometheus kept only the native buckets, whose ratio interpolates). Call it after
/// [`Config::install`](crate::Config::install), whose namespace the rules name.
///
/// # Panics
///
/// If two different objectives have the same name; [`AlertRules::render`] returns that as an
/// error instead.
pub fn alert_rules() -> String {
    AlertRules::new()
        .render()
        .unwrap_or_else(|error| panic!("metrics_runtime::alert_rules: {error}"))
}

fn check_selector_label(label: &str) -> Result<(), ConfigError> {
    let reason = promql::label_name_problem(label).or_else(|| {
        RULE_LABELS
            .contains(&label)
            .then_some("the rules select handlers by it or label their own series with it")
    });
    match reason {
        Some(reason) => Err(ConfigError::InvalidSelector {
            label: label.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// A group of rules, as a rule file lists it.
pub(crate) struct RuleGroup {
    pub(crate) name: String,
    pub(crate) rules: Vec<Rule>,
}

/// A recording rule or an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Record,
    Alert,
}

/// One rule: what it records or alerts on, and what it says.
pub(crate) struct Rule {
    pub(crate) kind: Kind,
    pub(crate) name: String,
    /// The expression, one line per part.
    pub(crate) expr: Vec<String>,
    /// How long an alert's condition holds before it fires.
    pub(crate) hold: Option<&'static str>,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) annotations: Vec<(&'static str, String)>,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::catalog::ObjectiveUse;
    use crate::objective::Objective;

    #[test]
    fn a_weekly_window_scales_the_burn_factors_and_keeps_the_budget_shares() {
        static WEEKLY: Objective = Objective::new("weekly")
            .availability(99.0)
            .window(Duration::from_secs(7 * 24 * 3600));
        let uses = ObjectiveUse {
            objective: &WEEKLY,
            handlers: vec!["a".to_owned(), "b".to_owned()],
        };
        let group = Group {
            native: false,
            rules: &AlertRules::new(),
            namespace: "ns",
            uses: &uses,
        }
        .build();
        let out = yaml::rule_file(&[group]);
        // 14.4 × 7/30: the page still fires when 2% of the budget goes in an hour.
        assert!(
            out.contains(r#"ns:request_errors:ratio_rate1h{objective="weekly"} / 0.01 > 3.36"#)
        );
        assert!(out.contains("faster than 3.36× over 1h and 5m (2% of the budget in 1h)"));
        assert!(out.contains("(99% of requests without error over 7 days)"));
        assert!(out.contains(r#"sum(rate(ns_requests_total{handler=~"a|b"}[3d]))"#));
        assert!(
            !out.contains("slow_requests"),
            "no latency target, no latency rules"
        );
    }

    #[test]
    fn selector_labels_are_checked() {
        assert!(check_selector_label("job").is_ok());
        for label in ["", "9job", "job-name", "__name__", "handler", "objective"] {
            assert!(check_selector_label(label).is_err(), "{label:?}");
        }
    }
}
