//! One objective's rules, as values: the recorded ratios and traffic floors, the burn-rate
//! alerts on them, and the alerts for what would keep those silent.

use crate::catalog::ObjectiveUse;
use crate::objective::{BURNS, Burn, RATIO_WINDOWS, Severity};
use crate::promql::{self, Bad, Families, Matchers, Scope, decimal};
use crate::runtime;

use super::{AlertRules, Kind, Rule, RuleGroup};

/// A total outage pages below the traffic floor: at least this share of the last hour's
/// requests bad...
const OUTAGE_SHARE: f64 = 0.9;
/// ...and at least this many of them, so that one failed request alone pages nobody.
const OUTAGE_REQUESTS: u64 = 5;

/// How long an objective's handlers have no series before its no-data alert pages.
const NO_DATA_FOR: &str = "5m";

/// How long a ticket about the histograms' shape waits: a rolling deploy passes.
const SHAPE_FOR: &str = "10m";

/// The schema of `NativeHistograms::new()`: the bound the native-only ticket states where the
/// runtime has none configured.
const DEFAULT_NATIVE_SCHEMA: i32 = 3;

/// One objective's rule group.
pub(super) struct Group<'a> {
    pub(super) rules: &'a AlertRules,
    pub(super) namespace: &'a str,
    pub(super) uses: &'a ObjectiveUse,
    /// Whether the histograms also have native buckets: a Prometheus that ingests those may
    /// have no classic buckets, so the slow-request ratio reads either.
    pub(super) native: bool,
}

/// An objective's target as the rules see it: availability or latency.
struct Target {
    bad: Bad,
    /// `Availability` or `Latency`, in the alert's name.
    alert: &'static str,
    percent: f64,
    /// The ratio of bad requests, one line per part, over `[{w}]`.
    ratio: Vec<String>,
    /// What a bad request is, in the alert's summary.
    what: String,
    /// What a good request is, in the alert's summary.
    promise: String,
}

impl Group<'_> {
    pub(super) fn build(&self) -> RuleGroup {
        let objective = self.uses.objective;
        let families = self.families();
        let mut rules = Vec::new();
        let targets = self.targets();
        for target in &targets {
            for window in RATIO_WINDOWS {
                let expr = target
                    .ratio
                    .iter()
                    .map(|line| line.replace("{w}", window))
                    .collect();
                rules.push(self.record(Families::ratio_rule(target.bad, window), expr));
            }
        }
        if self.rules.min_requests > 0 {
            for window in BURNS.iter().map(|burn| burn.long) {
                let requests = families.requests_increase(window, self.scope());
                rules.push(self.record(Families::increase_rule(window), vec![requests]));
            }
        }
        for target in &targets {
            for severity in [Severity::Page, Severity::Ticket] {
                rules.push(self.burn_alert(target, severity));
            }
        }
        rules.extend(self.missing_bucket_alert());
        rules.extend(self.native_only_alert());
        rules.push(self.no_data_alert());
        RuleGroup {
            name: format!("{}-objective-{}", self.namespace, objective.name()),
            rules,
        }
    }

    fn families(&self) -> Families<'_> {
        Families {
            namespace: self.namespace,
        }
    }

    /// The objective's handlers, scoped by the selector.
    fn scope(&self) -> Scope<'_> {
        Scope {
            handlers: &self.uses.handlers,
            selector: &self.rules.selector,
        }
    }

    /// `{objective="…",<selector>}`: the series this group records.
    fn recorded(&self) -> Matchers {
        Matchers::recorded(self.uses.objective.name(), &self.rules.selector)
    }

    fn record(&self, name: String, expr: Vec<String>) -> Rule {
        Rule {
            kind: Kind::Record,
            name: self.families().recorded(&name),
            expr,
            hold: None,
            labels: self.labels(None),
            annotations: Vec::new(),
        }
    }

    fn alert(
        &self,
        name: &str,
        expr: Vec<String>,
        hold: Option<&'static str>,
        severity: Severity,
    ) -> Rule {
        Rule {
            kind: Kind::Alert,
            name: format!("{}{name}", camel(self.namespace)),
            expr,
            hold,
            labels: self.labels(Some(severity)),
            annotations: Vec::new(),
        }
    }

    fn labels(&self, severity: Option<Severity>) -> Vec<(String, String)> {
        let mut labels = vec![(
            "objective".to_owned(),
            self.uses.objective.name().to_owned(),
        )];
        labels.extend(self.rules.selector.iter().cloned());
        labels
            .extend(severity.map(|severity| ("severity".to_owned(), severity.label().to_owned())));
        labels
    }

    /// Summary, description, and the handlers the alert covers.
    fn annotations(&self, summary: String, description: String) -> Vec<(&'static str, String)> {
        vec![
            ("summary", summary),
            ("description", description),
            ("handlers", template_literal(&self.uses.handlers.join(", "))),
        ]
    }

    /// A dead service has no series, so no ratio and no burn-rate alert: page when none of the
    /// objective's handlers has any (scrapes that fail make them stale at once).
    fn no_data_alert(&self) -> Rule {
        let objective = self.uses.objective;
        let requests = self.families().family("requests_total");
        let expr = vec![self.families().no_requests(self.scope())];
        let mut rule = self.alert("ObjectiveNoData", expr, Some(NO_DATA_FOR), Severity::Page);
        let minutes = NO_DATA_FOR.trim_end_matches('m');
        let summary = format!(
            "Objective {}: none of its handlers has reported requests for {minutes} minutes, \
             so its burn-rate alerts cannot fire",
            objective.name()
        );
        let description = format!(
            "Pages when no series of {requests} exists for any of the objective's handlers for \
             {minutes} minutes: the service is down, its scrapes fail, or the binary that runs \
             no longer has these handlers. A dead service fails every request and its \
             burn-rate alerts see no data."
        );
        rule.annotations = self.annotations(summary, description);
        rule
    }

    /// Where Prometheus keeps only the native buckets, the slow-request ratio interpolates
    /// within the threshold's native bucket: say so, so that classic buckets are kept.
    fn native_only_alert(&self) -> Option<Rule> {
        let objective = self.uses.objective;
        let (true, Some((threshold, _)), Some(seconds)) = (
            self.native,
            objective.latency_target(),
            objective.threshold_seconds(),
        ) else {
            return None;
        };
        let expr = self.families().native_only(self.scope());
        let mut rule = self.alert("LatencyNativeOnly", expr, Some(SHAPE_FOR), Severity::Ticket);
        let schema = runtime::native_schema().unwrap_or(DEFAULT_NATIVE_SCHEMA);
        let (lower, upper) = native_bucket(seconds, schema);
        let summary = format!(
            "Objective {}: {{{{ $labels.handler }}}} on {{{{ $labels.instance }}}} has only \
             native buckets, so its latency ratio at {threshold:?} is interpolated",
            objective.name()
        );
        let description = format!(
            "Prometheus keeps no classic buckets of this histogram, so the slow-request ratio \
             reads the native one and interpolates within the native bucket around the \
             threshold ({} s; at schema {schema}, the one configured, that bucket is {} to {} \
             s, wider where a series has more buckets than its cap and is reported lower): \
             requests in it may be counted slow or fast, enough to page falsely. Keep the \
             classic buckets: scrape_classic_histograms: true (Prometheus 2.45 and later 2.x), \
             always_scrape_classic_histograms: true (3.x); 2.40 to 2.44 keep them only \
             without the native-histograms feature.",
            decimal(seconds),
            decimal(lower),
            decimal(upper),
        );
        rule.annotations = self.annotations(summary, description);
        Some(rule)
    }

    /// A latency alert reads the threshold's bucket: where a running binary has none (it was
    /// built with other objectives or buckets than the rules), say so rather than stay silent.
    fn missing_bucket_alert(&self) -> Option<Rule> {
        let objective = self.uses.objective;
        let (Some((threshold, _)), Some(seconds)) =
            (objective.latency_target(), objective.threshold_seconds())
        else {
            return None;
        };
        let expr = self.families().missing_bucket(self.scope(), seconds);
        let mut rule = self.alert(
            "LatencyThresholdNotABucket",
            expr,
            Some(SHAPE_FOR),
            Severity::Ticket,
        );
        let summary = format!(
            "Objective {}: {{{{ $labels.handler }}}} on {{{{ $labels.instance }}}} has no \
             latency bucket at {threshold:?}, so the latency objective does not count its \
             requests",
            objective.name()
        );
        let description = format!(
            "The latency histogram has no bucket bound at the objective's threshold ({} s): \
             the binary that serves it was built with other objectives or buckets than these \
             rules, and its requests count on neither side of the slow-request ratio. \
             Regenerate the rules from the binary that runs.",
            decimal(seconds)
        );
        // Its labels name the handler: no list of them.
        rule.annotations = vec![("summary", summary), ("description", description)];
        Some(rule)
    }

    fn targets(&self) -> Vec<Target> {
        let objective = self.uses.objective;
        let families = self.families();
        let mut targets = Vec::new();
        if let Some(percent) = objective.availability_target() {
            targets.push(Target {
                bad: Bad::Errors,
                alert: "Availability",
                percent,
                ratio: families.error_ratio(self.scope()),
                what: "errors".to_owned(),
                promise: format!("{}% of requests without error", decimal(percent)),
            });
        }
        if let (Some((threshold, percent)), Some(seconds)) =
            (objective.latency_target(), objective.threshold_seconds())
        {
            targets.push(Target {
                bad: Bad::Slow,
                alert: "Latency",
                percent,
                ratio: families.slow_ratio(self.scope(), seconds, self.native),
                what: format!("requests slower than {threshold:?}"),
                promise: format!("{}% of requests within {threshold:?}", decimal(percent)),
            });
        }
        targets
    }

    fn burn_alert(&self, target: &Target, severity: Severity) -> Rule {
        let objective = self.uses.objective;
        let families = self.families();
        let budget = (100.0 - target.percent) / 100.0;
        let budget_text = decimal(budget);
        let recorded = self.recorded();
        let ratio = |window| families.recorded_ratio(target.bad, window, &recorded);
        let burns: Vec<&Burn> = BURNS
            .iter()
            .filter(|burn| burn.severity == severity)
            .collect();
        let mut expr = Vec::new();
        for (i, burn) in burns.iter().enumerate() {
            if i > 0 {
                expr.push("or".to_owned());
            }
            let factor = decimal(objective.burn_factor(burn.factor));
            let burning = |window| {
                format!(
                    "    {} > {factor}",
                    promql::burn_rate(&ratio(window), &budget_text)
                )
            };
            expr.push("(".to_owned());
            expr.push(burning(burn.long));
            expr.push("  and".to_owned());
            expr.push(burning(burn.short));
            if self.rules.min_requests > 0 {
                expr.push("  and".to_owned());
                expr.push(format!(
                    "    {} >= {}",
                    families.recorded_increase(burn.long, &recorded),
                    self.rules.min_requests
                ));
            }
            expr.push(")".to_owned());
        }
        let outage = self.outage();
        if let (Severity::Page, Some(outage)) = (severity, outage) {
            // Below the floor a total outage still pages: nearly every request of the last
            // hour bad, a few of them, and the last 5m not recovered (a 5m window without
            // requests has no ratio, and does not hold the page back).
            let fastest = &BURNS[0];
            expr.extend([
                "or".to_owned(),
                "(".to_owned(),
                format!(
                    "    {} >= {}",
                    promql::burn_rate(&ratio(fastest.long), &budget_text),
                    decimal(OUTAGE_SHARE / budget)
                ),
                "  and".to_owned(),
                format!(
                    "    {} >= {outage}",
                    families.recorded_increase(fastest.long, &recorded)
                ),
                "  unless".to_owned(),
                format!(
                    "    {} <= {}",
                    promql::burn_rate(&ratio(fastest.short), &budget_text),
                    decimal(objective.burn_factor(fastest.factor))
                ),
                ")".to_owned(),
            ]);
        }
        let name = format!("{}BudgetBurn", target.alert);
        let mut rule = self.alert(&name, expr, None, severity);
        let days = objective.window_length().as_secs_f64() / 86_400.0;
        let summary = format!(
            "Objective {} ({} over {} days): {} burn its budget \
             {{{{ printf \"%.1f\" $value }}}}× as fast as it allows",
            objective.name(),
            target.promise,
            decimal(days),
            target.what,
        );
        let conditions: Vec<String> = burns
            .iter()
            .map(|burn| {
                format!(
                    "faster than {}× over {} and {} ({} of the budget in {})",
                    decimal(objective.burn_factor(burn.factor)),
                    burn.long,
                    burn.short,
                    burn.spends,
                    burn.long
                )
            })
            .collect();
        let floor = match self.rules.min_requests {
            0 => String::new(),
            requests => format!(", with at least {requests} requests in the long window"),
        };
        let total_outage = match (severity, outage) {
            (Severity::Page, Some(outage)) => format!(
                "; or when {} are at least {}% of the requests in the last {}, {outage} or more, \
                 and the last {} show no recovery",
                target.what,
                decimal(OUTAGE_SHARE * 100.0),
                BURNS[0].long,
                BURNS[0].short,
            ),
            _ => String::new(),
        };
        let description = format!(
            "{} when {} burn the budget ({}% of requests) {}{floor}{total_outage}. \
             Calls rejected by authentication are not requests. The value is the burn rate \
             over the long window.",
            match severity {
                Severity::Page => "Pages",
                Severity::Ticket => "Opens a ticket",
            },
            target.what,
            decimal(budget * 100.0),
            conditions.join(", or "),
        );
        rule.annotations = self.annotations(summary, description);
        rule
    }

    /// The floor of a total outage's page: none where the traffic floor is no higher.
    fn outage(&self) -> Option<u64> {
        (self.rules.min_requests > OUTAGE_REQUESTS).then_some(OUTAGE_REQUESTS)
    }
}

/// The native bucket `(lower, upper]` holding `seconds` at `schema`: its bounds are powers of
/// `2^(2^-schema)`. Within it a native ratio interpolates; outside it, it is exact.
fn native_bucket(seconds: f64, schema: i32) -> (f64, f64) {
    let step = 2f64.powi(-schema);
    let index = (seconds.log2() / step).ceil();
    (2f64.powf((index - 1.0) * step), 2f64.powf(index * step))
}

/// `rucio_jupyterlab` → `RucioJupyterlab`: alert names are CamelCase.
fn camel(namespace: &str) -> String {
    namespace
        .split('_')
        .flat_map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
        })
        .collect()
}

/// Text that Prometheus's alert templating leaves as it is: a `{{` in a handler label would
/// start an action.
fn template_literal(text: &str) -> String {
    text.replace("{{", "{{ \"{{\" }}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_native_ratio_is_off_only_within_the_thresholds_native_bucket() {
        // Schema 3 around 10 ms: 2^(-54/8) to 2^(-53/8) s, 9% wide. Requests in it may be
        // counted on either side of the threshold; none outside it.
        let (lower, upper) = native_bucket(0.01, 3);
        assert!((lower - 0.009_290_680).abs() < 1e-9, "{lower}");
        assert!((upper - 0.010_131_559).abs() < 1e-9, "{upper}");
        assert!(
            lower < 0.0095 && 0.0095 < 0.01,
            "9.5 ms shares the threshold's bucket"
        );
        // A bound is the top of its own bucket: 0.25 s = 2^-2 exactly.
        assert_eq!(native_bucket(0.25, 3).1, 0.25);
    }

    #[test]
    fn names_and_templates() {
        assert_eq!(camel("rucio_jupyterlab"), "RucioJupyterlab");
        assert_eq!(camel("handler"), "Handler");
        assert_eq!(template_literal("a{{x}}"), "a{{ \"{{\" }}x}}");
    }
}
