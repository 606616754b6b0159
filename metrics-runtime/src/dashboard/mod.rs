//! A Grafana dashboard for the program's handlers and objectives (feature `dashboard`), written
//! from the same lists as the alert rules: the handlers of [`handlers`](crate::handlers), the
//! objectives of the catalog, and the burn conditions of `objective::BURNS`. The objective
//! panels read the series the rules record, so the dashboard and the alerts read one SLI.
//! This file is the builder, its checks and the dashboard's frame; `panels.rs` the panels and
//! rows, `layout.rs` their places on the grid.

mod layout;
mod panels;

use serde_json::{Value, json};

use crate::catalog;
use crate::error::ConfigError;
use crate::promql;
use crate::runtime;

use layout::Layout;
use panels::Model;

/// The schema version Grafana 11.0 to 11.2 writes: newer Grafana migrates it on import.
const SCHEMA_VERSION: u64 = 39;

/// Labels the dashboard's queries use themselves: a selector cannot name them.
const OWN_LABELS: [&str; 6] = ["handler", "module", "le", "objective", "job", "instance"];

/// Options of the generated dashboard; [`dashboard`] renders the defaults.
///
/// ```
/// use metrics_runtime::{Dashboard, Objective, prometheus_metrics};
///
/// const UPLOADS: Objective = Objective::new("uploads").availability(99.5);
///
/// #[prometheus_metrics(objective = UPLOADS)]
/// fn upload() {}
///
/// let json = Dashboard::new()
///     .selector("env", "prod")          // as AlertRules::selector: the same series
///     .title("Uploads")
///     .uid("uploads-handlers")
///     .datasource("P1809F7CD0C75ACF3") // a fixed Prometheus instead of a variable
///     .render()
///     .unwrap();
/// assert!(json.contains(r#"handler:request_errors:ratio_rate5m{objective=\"uploads\",env=\"prod\"}"#));
///
/// let error = Dashboard::new().uid("no spaces").render().unwrap_err();
/// assert!(error.to_string().contains("uid"));
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "Dashboard does nothing until .render() is called"]
pub struct Dashboard {
    selector: Vec<(String, String)>,
    title: Option<String>,
    uid: Option<String>,
    datasource: Option<String>,
}

impl Dashboard {
    /// No selector, the title `<namespace> handlers`, the uid `<namespace>-handlers`, and a
    /// `datasource` variable to pick the Prometheus with.
    pub fn new() -> Self {
        Dashboard::default()
    }

    /// Scopes every query to series with `label="value"`, as
    /// [`AlertRules::selector`](crate::AlertRules::selector) does the rules: give the dashboard
    /// the selector the rules were rendered with, so that its objective panels find the series
    /// those rules record.
    pub fn selector(mut self, label: impl Into<String>, value: impl Into<String>) -> Self {
        self.selector.push((label.into(), value.into()));
        self
    }

    /// The dashboard's title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// The dashboard's uid (at most 40 of `[A-Za-z0-9_-]`): importing it again replaces it.
    pub fn uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = Some(uid.into());
        self
    }

    /// The uid of the Prometheus data source every panel queries, instead of a `datasource`
    /// variable.
    pub fn datasource(mut self, uid: impl Into<String>) -> Self {
        self.datasource = Some(uid.into());
        self
    }

    /// The dashboard as Grafana's JSON model, for the program's handlers and objectives, named
    /// after the namespace of the [installed](crate::Config::install) configuration. Refuses a
    /// selector label that is not a label name or that the queries use themselves, a uid
    /// Grafana would refuse, an empty title or data source, and two different objectives with
    /// one name.
    pub fn to_json(&self) -> Result<Value, ConfigError> {
        for (label, _) in &self.selector {
            check_selector_label(label)?;
        }
        let namespace = runtime::namespace();
        let uid = self.uid.clone().unwrap_or_else(|| default_uid(&namespace));
        check_uid(&uid)?;
        let title = self
            .title
            .clone()
            .unwrap_or_else(|| format!("{namespace} handlers"));
        if title.trim().is_empty() {
            return Err(invalid("title", &title, "a dashboard needs a title"));
        }
        if let Some(datasource) = &self.datasource {
            if datasource.trim().is_empty() {
                return Err(invalid(
                    "datasource",
                    datasource,
                    "give the data source's uid",
                ));
            }
        }
        let objectives = catalog::objectives()?;
        let mut handlers: Vec<String> = catalog::handlers()
            .into_iter()
            .filter_map(|handler| handler.label)
            .collect();
        handlers.sort();
        handlers.dedup();
        let model = Model {
            namespace: &namespace,
            selector: &self.selector,
            datasource: match &self.datasource {
                Some(uid) => json!({"type": "prometheus", "uid": uid}),
                None => json!({"type": "prometheus", "uid": "${datasource}"}),
            },
            native: runtime::native_histograms(),
        };
        let mut layout = Layout::default();
        model.overview(&mut layout, &objectives);
        for uses in &objectives {
            model.objective_row(&mut layout, uses);
        }
        model.handler_row(&mut layout);
        Ok(json!({
            "annotations": {"list": [{
                "builtIn": 1,
                "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": true,
                "hide": true,
                "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts",
                "type": "dashboard",
            }]},
            "description": "Generated by metrics_runtime::dashboard() from the handlers of this \
                program: regenerate it rather than editing it.",
            "editable": true,
            "fiscalYearStartMonth": 0,
            "graphTooltip": 1,
            "id": null,
            "links": [],
            "panels": layout.panels,
            "refresh": "30s",
            "schemaVersion": SCHEMA_VERSION,
            "tags": ["handler-metrics", namespace],
            "templating": {"list": model.variables(&handlers, self.datasource.is_none())},
            "time": {"from": "now-6h", "to": "now"},
            "timepicker": {},
            "timezone": "",
            "title": title,
            "uid": uid,
            "version": 1,
            "weekStart": "",
        }))
    }

    /// [`Dashboard::to_json`], as the text to import in Grafana.
    pub fn render(&self) -> Result<String, ConfigError> {
        let model = self.to_json()?;
        let mut out = serde_json::to_string_pretty(&model).expect("a JSON value serializes");
        out.push('\n');
        Ok(out)
    }
}

/// The Grafana dashboard (JSON) for the handlers and objectives of this program, with the
/// default [`Dashboard`]: print it from the binary (`--print-dashboard`) and import it.
///
/// An overview (request rate, error ratio, p50/p90/p99 latency with exemplars, calls in flight,
/// rejected calls, and where an `EdgeLayer` or `EdgeMiddleware` was made before, the answers
/// no handler gave and the calls a response cut short); a row per objective that reads the ratios
/// [`alert_rules`](crate::alert_rules) records (the SLI over the objective's window, the error
/// budget left, the burn rate over each alert's long window with the page and ticket factors
/// as thresholds); and a row per handler, repeated over the `handler` variable, whose options
/// are the labels [`handlers`](crate::handlers) lists. Variables `job` and `instance` scope
/// every panel but the objectives', whose recorded series add up all instances as the alerts
/// do. Call it after [`Config::install`](crate::Config::install), whose namespace and
/// histogram kind the queries follow.
///
/// # Panics
///
/// If two different objectives have the same name; [`Dashboard::render`] returns that as an
/// error instead.
pub fn dashboard() -> String {
    Dashboard::new()
        .render()
        .unwrap_or_else(|error| panic!("metrics_runtime::dashboard: {error}"))
}

fn invalid(setting: &'static str, value: &str, reason: &'static str) -> ConfigError {
    ConfigError::InvalidDashboard {
        setting,
        value: value.to_owned(),
        reason,
    }
}

fn check_selector_label(label: &str) -> Result<(), ConfigError> {
    let reason = promql::label_name_problem(label).or_else(|| {
        OWN_LABELS
            .contains(&label)
            .then_some("the dashboard selects by it itself (a variable or the rules' own label)")
    });
    match reason {
        Some(reason) => Err(invalid("selector", label, reason)),
        None => Ok(()),
    }
}

fn check_uid(uid: &str) -> Result<(), ConfigError> {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if uid.is_empty() || uid.len() > 40 || !uid.chars().all(valid) {
        return Err(invalid(
            "uid",
            uid,
            "Grafana takes 1 to 40 of the characters [A-Za-z0-9_-]",
        ));
    }
    Ok(())
}

/// `<namespace>-handlers`, cut to Grafana's 40 characters (a namespace is `[a-zA-Z0-9_]`).
fn default_uid(namespace: &str) -> String {
    let mut uid = format!("{namespace}-handlers");
    uid.truncate(40);
    uid
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The edge's panels come with an edge layer: without one they could only stay empty.
    #[cfg(feature = "tower")]
    #[test]
    fn the_edge_panels_come_with_an_edge_layer() {
        let has_panel = |json: &str| json.contains("Answers outside any handler");
        if !crate::edge::in_use() {
            assert!(!has_panel(&dashboard()));
        }
        crate::EdgeLayer::new();
        let json = dashboard();
        assert!(has_panel(&json));
        assert!(json.contains("edge_responses_total"));
    }

    #[test]
    fn uids_and_labels() {
        assert_eq!(default_uid("handler"), "handler-handlers");
        assert_eq!(default_uid(&"n".repeat(50)).len(), 40);
        assert!(check_uid("a-b_C9").is_ok());
        for uid in ["", "a b", "é", &"x".repeat(41)] {
            assert!(check_uid(uid).is_err(), "{uid:?}");
        }
        assert!(check_selector_label("env").is_ok());
        for label in ["", "9x", "a-b", "__name__", "job", "handler", "objective"] {
            assert!(check_selector_label(label).is_err(), "{label:?}");
        }
    }
}
