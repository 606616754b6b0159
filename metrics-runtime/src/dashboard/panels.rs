//! The dashboard's panels and rows: the overview, a row per objective, the repeated row per
//! handler. Their queries are the expressions of `promql.rs`, the ones the rules write.

use serde_json::{Value, json};

use crate::catalog::ObjectiveUse;
use crate::objective::{BURNS, Severity};
use crate::promql::{self, Bad, Families, Matchers, decimal};

use super::layout::Layout;

/// The ratio window the objective panels read (the shortest recorded): the SLI over an
/// objective's window is its average, sampled every [`SLI_STEP`].
const SLI_WINDOW: &str = "5m";

/// The step of that average: a fresh series has a sample at a step within a minute.
const SLI_STEP: &str = "1m";

/// A query of a panel.
struct Query {
    expr: String,
    legend: String,
    exemplar: bool,
}

fn query(expr: String, legend: &str) -> Query {
    Query {
        expr,
        legend: legend.to_owned(),
        exemplar: false,
    }
}

/// What the panels are written from.
pub(super) struct Model<'a> {
    pub(super) namespace: &'a str,
    pub(super) selector: &'a [(String, String)],
    pub(super) datasource: Value,
    /// Whether the histograms also have native buckets: the quantiles read either kind.
    pub(super) native: bool,
}

impl Model<'_> {
    /// The series of the handler families this dashboard shows: the selector's, and the
    /// variables' `job`, `instance` and, given `handler`, the handler.
    fn matchers(&self, handler: bool) -> Matchers {
        let matchers = Matchers::default()
            .selector(self.selector)
            .raw(r#"job=~"$job""#)
            .raw(r#"instance=~"$instance""#);
        if handler {
            matchers.raw(r#"handler=~"$handler""#)
        } else {
            matchers
        }
    }

    fn families(&self) -> Families<'_> {
        Families {
            namespace: self.namespace,
        }
    }

    pub(super) fn variables(&self, handlers: &[String], datasource_variable: bool) -> Vec<Value> {
        let mut variables = Vec::new();
        if datasource_variable {
            variables.push(json!({
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "hide": 0,
                "refresh": 1,
                "regex": "",
                "options": [],
                "skipUrlSync": false,
            }));
        }
        let requests = self.families().family("requests_total");
        let selector = Matchers::default().selector(self.selector);
        let with_job = selector.clone().raw(r#"job=~"$job""#);
        for (name, matchers) in [("job", selector), ("instance", with_job)] {
            let query = format!("label_values({requests}{matchers}, {name})");
            variables.push(json!({
                "name": name,
                "label": name,
                "type": "query",
                "datasource": self.datasource,
                "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
                "hide": 0,
                "includeAll": true,
                "allValue": ".*",
                "multi": true,
                "options": [],
                "refresh": 2,
                "regex": "",
                "skipUrlSync": false,
                "sort": 1,
            }));
        }
        // The program's own list: a handler is there before its first call, and one that is
        // gone from the program is gone from the dashboard.
        let options: Vec<Value> = handlers
            .iter()
            .map(|handler| json!({"selected": false, "text": handler, "value": handler}))
            .collect();
        let custom: Vec<String> = handlers
            .iter()
            .map(|handler| handler.replace('\\', "\\\\").replace(',', "\\,"))
            .collect();
        variables.push(json!({
            "name": "handler",
            "label": "handler",
            "type": "custom",
            "description": "The handlers metrics_runtime::handlers() lists.",
            "query": custom.join(","),
            "current": {"selected": true, "text": ["All"], "value": ["$__all"]},
            "hide": 0,
            "includeAll": true,
            "multi": true,
            "options": options,
            "skipUrlSync": false,
        }));
        variables
    }

    fn panel(&self, kind: &str, title: &str, description: &str, queries: Vec<Query>) -> Value {
        let targets: Vec<Value> = queries
            .into_iter()
            .zip('A'..='Z')
            .map(|(query, ref_id)| {
                json!({
                    "datasource": self.datasource,
                    "editorMode": "code",
                    "expr": query.expr,
                    "exemplar": query.exemplar,
                    "legendFormat": query.legend,
                    "range": true,
                    "refId": ref_id.to_string(),
                })
            })
            .collect();
        let mut panel = json!({
            "type": kind,
            "title": title,
            "description": description,
            "datasource": self.datasource,
            "targets": targets,
            "fieldConfig": {"defaults": {}, "overrides": []},
            "options": {},
        });
        match kind {
            "timeseries" => {
                panel["options"] = json!({
                    "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": true},
                    "tooltip": {"mode": "multi", "sort": "desc"},
                });
                panel["fieldConfig"]["defaults"]["custom"] = json!({
                    "drawStyle": "line",
                    "lineWidth": 1,
                    "fillOpacity": 10,
                    "showPoints": "never",
                    "spanNulls": false,
                    "thresholdsStyle": {"mode": "off"},
                });
            }
            "stat" | "gauge" => {
                panel["options"] = json!({
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
                    "orientation": "auto",
                });
            }
            _ => {}
        }
        panel
    }

    fn rate(&self, family: &str, handler: bool, by: &str) -> String {
        self.families()
            .panel_rate(family, &self.matchers(handler), by)
    }

    fn request_rate(&self, handler: bool) -> Value {
        let panel = self.panel(
            "timeseries",
            "Request rate",
            "Requests that reached the handler body, per second.",
            vec![query(
                self.rate("requests_total", handler, "handler"),
                "{{handler}}",
            )],
        );
        with_unit(panel, "reqps")
    }

    fn error_ratio(&self, handler: bool) -> Value {
        let expr = self.families().panel_error_ratio(&self.matchers(handler));
        let panel = self.panel(
            "timeseries",
            "Error ratio",
            "The share of requests that were errors (as request_errors_total counts them).",
            vec![query(expr, "{{handler}}")],
        );
        let panel = with_thresholds(
            with_unit(panel, "percentunit"),
            &[("green", None), ("orange", Some(0.01)), ("red", Some(0.05))],
        );
        with_threshold_style(panel, "dashed")
    }

    /// p50, p90 and p99 over the selected series, exemplars on: from the native histogram
    /// where Prometheus has one, else from the classic buckets.
    fn latency(&self, handler: bool) -> Value {
        let matchers = self.matchers(handler);
        let queries = [("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99")]
            .into_iter()
            .map(|(q, legend)| {
                let expr = self.families().panel_quantile(q, &matchers, self.native);
                Query {
                    expr,
                    legend: legend.to_owned(),
                    exemplar: true,
                }
            })
            .collect();
        let panel = self.panel(
            "timeseries",
            "Latency",
            "p50, p90 and p99 of the handler bodies' latency, with exemplars where the \
             exposition carries them (OpenMetrics).",
            queries,
        );
        with_unit(panel, "s")
    }

    fn in_flight(&self, handler: bool) -> Value {
        let expr = self.families().panel_in_flight(&self.matchers(handler));
        let panel = self.panel(
            "timeseries",
            "In flight",
            "Handler bodies running now.",
            vec![query(expr, "{{handler}}")],
        );
        with_unit(panel, "short")
    }

    fn rejected(&self, handler: bool) -> Value {
        let panel = self.panel(
            "timeseries",
            "Rejected",
            "Calls that #[authenticated] rejected before the handler body ran, per second: \
             they are not requests and spend no error budget.",
            vec![query(
                self.rate("requests_rejected_total", handler, "handler"),
                "{{handler}}",
            )],
        );
        with_unit(panel, "reqps")
    }

    pub(super) fn overview(&self, layout: &mut Layout, objectives: &[ObjectiveUse]) {
        layout.row(json!({"type": "row", "title": "Overview", "collapsed": false, "panels": []}));
        let objectives: Vec<String> = objectives
            .iter()
            .map(|uses| {
                format!(
                    "- **{}**: {}",
                    uses.objective.name(),
                    markdown(&uses.handlers.join(", "))
                )
            })
            .collect();
        let content = format!(
            "Generated by `metrics_runtime::dashboard()` for the `{}` metrics of this program.\n\n\
             Objectives and the handlers they cover:\n\n{}",
            self.namespace,
            if objectives.is_empty() {
                "- none".to_owned()
            } else {
                objectives.join("\n")
            }
        );
        let mut text = json!({"type": "text", "title": "About", "options": {"mode": "markdown", "content": content}});
        text["description"] = json!("What this dashboard shows.");
        layout.add(text, 6, 8);
        layout.add(self.request_rate(false), 9, 8);
        layout.add(self.error_ratio(false), 9, 8);
        layout.add(self.latency(false), 8, 8);
        layout.add(self.in_flight(false), 8, 8);
        layout.add(self.rejected(false), 8, 8);
        self.edge(layout);
    }

    /// The edge's panels, where an edge layer or middleware was made: they would stay empty
    /// otherwise.
    #[cfg(any(feature = "tower", feature = "actix-web"))]
    fn edge(&self, layout: &mut Layout) {
        if !crate::edge::in_use() {
            return;
        }
        let answers = self.panel(
            "timeseries",
            "Answers outside any handler",
            "Responses no instrumented handler measured (routing, extractor and middleware \
             answers: 404, 405, 413, rejected bodies), per second, by route template and status \
             code, as EdgeLayer or EdgeMiddleware counts them.",
            vec![query(
                self.rate("edge_responses_total", false, "route, code"),
                "{{code}} {{route}}",
            )],
        );
        layout.add(with_unit(answers, "reqps"), 12, 8);
        let cut_short = self.panel(
            "timeseries",
            "Calls cut short",
            "Handler calls the server's own answer cut short (a timeout's 408 or 5xx), per \
             second: each is also one of the handler's errors.",
            vec![query(
                self.rate("request_timeouts_total", false, "handler"),
                "{{handler}}",
            )],
        );
        layout.add(with_unit(cut_short, "reqps"), 12, 8);
    }

    #[cfg(not(any(feature = "tower", feature = "actix-web")))]
    fn edge(&self, _: &mut Layout) {}

    pub(super) fn objective_row(&self, layout: &mut Layout, uses: &ObjectiveUse) {
        let objective = uses.objective;
        let days = objective.window_length().as_secs_f64() / 86_400.0;
        let window = prometheus_duration(objective.window_length().as_secs());
        let handlers = uses.handlers.join(", ");
        let mut promises = Vec::new();
        if let Some(percent) = objective.availability_target() {
            promises.push(format!("{}% of requests without error", decimal(percent)));
        }
        if let Some((threshold, percent)) = objective.latency_target() {
            promises.push(format!(
                "{}% of requests within {threshold:?}",
                decimal(percent)
            ));
        }
        layout.row(json!({
            "type": "row",
            "title": format!("Objective {}: {}", objective.name(), handlers),
            "description": format!(
                "{} over {} days, for the handlers {}. The panels read the ratios the \
                 objective's rules record, over all instances, as its alerts do.",
                promises.join(" and "),
                decimal(days),
                handlers
            ),
            "collapsed": false,
            "panels": [],
        }));
        let recorded = Matchers::recorded(objective.name(), self.selector);
        let mut targets = Vec::new();
        if let Some(percent) = objective.availability_target() {
            targets.push((Bad::Errors, "Availability", "errors", percent));
        }
        if let Some((_, percent)) = objective.latency_target() {
            targets.push((Bad::Slow, "Latency", "slow requests", percent));
        }
        for (bad, name, what, percent) in targets {
            let target = percent / 100.0;
            let budget = decimal(1.0 - target);
            let ratio = |window: &str| self.families().recorded_ratio(bad, window, &recorded);
            let bad_over_window = promql::average_ratio(&ratio(SLI_WINDOW), &window, SLI_STEP);
            let sli = self.panel(
                "stat",
                &format!("{name} over {} days", decimal(days)),
                &format!(
                    "1 − the average {SLI_WINDOW} ratio of {what} over the objective's window; \
                     the target is {}%.",
                    decimal(percent)
                ),
                vec![query(format!("1 - {bad_over_window}"), name)],
            );
            let sli = with_thresholds(
                with_unit(sli, "percentunit"),
                &[("red", None), ("green", Some(target))],
            );
            let mut sli = sli;
            sli["fieldConfig"]["defaults"]["decimals"] = json!(3);
            layout.add(sli, 4, 8);

            let left = self.panel(
                "gauge",
                &format!("{name} error budget left"),
                &format!(
                    "The share of the {} days' budget ({}% {what}) not yet spent, at the \
                     average ratio over the window.",
                    decimal(days),
                    decimal(100.0 - percent)
                ),
                vec![query(
                    format!("1 - {}", promql::burn_rate(&bad_over_window, &budget)),
                    "left",
                )],
            );
            let mut left = with_thresholds(
                with_unit(left, "percentunit"),
                &[("red", None), ("orange", Some(0.25)), ("green", Some(0.5))],
            );
            left["fieldConfig"]["defaults"]["min"] = json!(0);
            left["fieldConfig"]["defaults"]["max"] = json!(1);
            layout.add(left, 4, 8);

            let over_time = self.panel(
                "timeseries",
                &format!("{name} SLI"),
                &format!(
                    "1 − the recorded ratio of {what}, over 1h and 1d; the dashed line is the \
                     target, {}%.",
                    decimal(percent)
                ),
                vec![
                    query(format!("1 - {}", ratio("1h")), "1h"),
                    query(format!("1 - {}", ratio("1d")), "1d"),
                ],
            );
            let over_time = with_thresholds(
                with_unit(over_time, "percentunit"),
                &[("red", None), ("green", Some(target))],
            );
            layout.add(with_threshold_style(over_time, "dashed"), 8, 8);

            let burns: Vec<Query> = BURNS
                .iter()
                .map(|burn| query(promql::burn_rate(&ratio(burn.long), &budget), burn.long))
                .collect();
            let mut steps = vec![("green", None)];
            for burn in BURNS.iter().rev() {
                let color = match burn.severity {
                    Severity::Page => "red",
                    Severity::Ticket => "orange",
                };
                steps.push((color, Some(objective.burn_factor(burn.factor))));
            }
            steps.sort_by(|a, b| a.1.partial_cmp(&b.1).expect("factors are numbers"));
            let conditions: Vec<String> = BURNS
                .iter()
                .map(|burn| {
                    format!(
                        "{} over {} and {}: {}×",
                        burn.severity.label(),
                        burn.long,
                        burn.short,
                        decimal(objective.burn_factor(burn.factor))
                    )
                })
                .collect();
            let burn = self.panel(
                "timeseries",
                &format!("{name} burn rate"),
                &format!(
                    "How many times faster than the window allows the {what} spend the budget, \
                     over each alert's long window. The thresholds are the alerts' ({}); an \
                     alert also needs its short window above the factor.",
                    conditions.join(", ")
                ),
                burns,
            );
            let burn = with_thresholds(with_unit(burn, "x"), &steps);
            layout.add(with_threshold_style(burn, "dashed"), 8, 8);
        }
    }

    pub(super) fn handler_row(&self, layout: &mut Layout) {
        layout.row(json!({
            "type": "row",
            "title": "Handler $handler",
            "description": "One row per handler of the handler variable.",
            "collapsed": false,
            "repeat": "handler",
            "panels": [],
        }));
        layout.add(self.request_rate(true), 8, 8);
        layout.add(self.error_ratio(true), 8, 8);
        layout.add(self.latency(true), 8, 8);
        layout.add(self.in_flight(true), 12, 6);
        layout.add(self.rejected(true), 12, 6);
    }
}

fn with_unit(mut panel: Value, unit: &str) -> Value {
    panel["fieldConfig"]["defaults"]["unit"] = json!(unit);
    panel
}

/// Threshold steps, the first one the base (`None`).
fn with_thresholds(mut panel: Value, steps: &[(&str, Option<f64>)]) -> Value {
    let steps: Vec<Value> = steps
        .iter()
        .map(|(color, value)| json!({"color": color, "value": value}))
        .collect();
    panel["fieldConfig"]["defaults"]["thresholds"] = json!({"mode": "absolute", "steps": steps});
    panel
}

fn with_threshold_style(mut panel: Value, mode: &str) -> Value {
    panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] = json!({"mode": mode});
    panel
}

/// A window as PromQL writes it: `30d`, or `36h` for a part of a day.
fn prometheus_duration(seconds: u64) -> String {
    if seconds % 86_400 == 0 {
        format!("{}d", seconds / 86_400)
    } else if seconds % 3600 == 0 {
        format!("{}h", seconds / 3600)
    } else {
        format!("{seconds}s")
    }
}

/// Text shown as it is in Markdown.
fn markdown(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\`*_{}[]<>()#+-.!|".contains(c) {
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
    fn windows_and_markdown() {
        assert_eq!(prometheus_duration(30 * 86_400), "30d");
        assert_eq!(prometheus_duration(36 * 3600), "36h");
        assert_eq!(prometheus_duration(90), "90s");
        assert_eq!(markdown("A::get(v1)"), r"A::get\(v1\)");
    }

    #[test]
    fn burn_thresholds_are_the_alerts_factors_scaled_to_the_window() {
        use std::time::Duration;
        static WEEKLY: crate::Objective = crate::Objective::new("weekly")
            .availability(99.0)
            .window(Duration::from_secs(7 * 86_400));
        let uses = ObjectiveUse {
            objective: &WEEKLY,
            handlers: vec!["a".to_owned()],
        };
        let model = Model {
            namespace: "ns",
            selector: &[],
            datasource: json!({"type": "prometheus", "uid": "x"}),
            native: false,
        };
        let mut layout = Layout::default();
        model.objective_row(&mut layout, &uses);
        let burn = layout
            .panels
            .iter()
            .find(|panel| panel["title"] == "Availability burn rate")
            .expect("a burn panel");
        let steps: Vec<f64> = burn["fieldConfig"]["defaults"]["thresholds"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|step| step["value"].as_f64())
            .collect();
        let expected: Vec<f64> = [1.0, 3.0, 6.0, 14.4]
            .iter()
            .map(|factor| factor * 7.0 / 30.0)
            .collect();
        assert_eq!(steps.len(), 4);
        for (step, factor) in steps.iter().zip(&expected) {
            assert!((step - factor).abs() < 1e-12, "{steps:?}");
        }
        let exprs: Vec<&str> = burn["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|target| target["expr"].as_str().unwrap())
            .collect();
        assert_eq!(
            exprs,
            [
                r#"ns:request_errors:ratio_rate1h{objective="weekly"} / 0.01"#,
                r#"ns:request_errors:ratio_rate6h{objective="weekly"} / 0.01"#,
                r#"ns:request_errors:ratio_rate1d{objective="weekly"} / 0.01"#,
                r#"ns:request_errors:ratio_rate3d{objective="weekly"} / 0.01"#,
            ]
        );
        let sli = layout
            .panels
            .iter()
            .find(|panel| panel["title"] == "Availability over 7 days")
            .expect("an SLI panel");
        assert_eq!(
            sli["targets"][0]["expr"],
            r#"1 - avg_over_time((ns:request_errors:ratio_rate5m{objective="weekly"} >= 0)[7d:1m])"#
        );
    }
}
