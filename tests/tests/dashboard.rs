//! The Grafana dashboard (feature `dashboard`) of a binary with two objectives and a handler
//! under none: core panel types only, every query names only series this runtime writes or its
//! rules record, and the handlers are the ones `handlers()` lists.

use std::collections::BTreeSet;
use std::time::Duration;

use metrics_runtime::{
    AlertRules, Dashboard, Objective, alert_rules, dashboard, handlers, prometheus_handlers,
    prometheus_metrics,
};
use serde_json::Value;

const CATALOGUE: Objective = Objective::new("catalogue")
    .availability(99.9)
    .latency(Duration::from_millis(300), 99.0);

const UPLOADS: Objective = Objective::new("uploads").availability(99.5);

#[prometheus_metrics(objective = CATALOGUE)]
fn list_scopes() {}

struct ListRsesHandler;

#[prometheus_handlers(objective = CATALOGUE)]
impl ListRsesHandler {
    #[prometheus_metrics]
    fn get(&self) {}
}

/// Regex and Markdown characters in a label.
#[prometheus_metrics(handler = "upload.v1(files)", objective = UPLOADS)]
fn upload() {}

/// Under no objective.
#[prometheus_metrics]
fn health() {}

/// A label that is not the fn's name: the dashboard shows the label.
#[prometheus_metrics(handler = "renamed_for_the_dashboard")]
fn old_name() {}

fn model() -> Value {
    serde_json::from_str(&dashboard()).expect("dashboard() is JSON")
}

/// Every panel, rows' nested panels included.
fn panels(model: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in model["panels"].as_array().expect("panels") {
        all.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all.extend(nested);
        }
    }
    all
}

fn exprs(model: &Value) -> Vec<String> {
    panels(model)
        .into_iter()
        .filter_map(|panel| panel["targets"].as_array())
        .flatten()
        .map(|target| target["expr"].as_str().expect("expr").to_owned())
        .collect()
}

/// The metric names a PromQL expression selects: each identifier right before a `{`.
fn selected_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    for (at, &byte) in bytes.iter().enumerate() {
        if byte != b'{' {
            continue;
        }
        let start = bytes[..at]
            .iter()
            .rposition(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c == b':'))
            .map_or(0, |before| before + 1);
        if start < at {
            names.push(expr[start..at].to_owned());
        }
    }
    names
}

/// The names of the series the runtime writes (a histogram as its three sample names) and the
/// series the rules record.
fn written_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    // A call first: the gathered families have their series.
    health();
    ListRsesHandler.get();
    for line in metrics_runtime::gather().lines() {
        let Some(declared) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = declared.split_once(' ').expect("# TYPE name kind");
        if kind == "histogram" {
            for suffix in ["_bucket", "_count", "_sum"] {
                names.insert(format!("{name}{suffix}"));
            }
        } else {
            names.insert(name.to_owned());
        }
    }
    for line in alert_rules().lines() {
        if let Some(record) = line.trim().strip_prefix("- record: ") {
            names.insert(record.to_owned());
        }
    }
    names
}

#[test]
fn every_panel_is_a_core_panel_with_a_unique_id_on_the_grid() {
    let model = model();
    assert_eq!(model["schemaVersion"], 39);
    assert_eq!(model["uid"], "handler-handlers");
    assert_eq!(model["title"], "handler handlers");
    let core = ["timeseries", "stat", "gauge", "text", "row"];
    let mut ids = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for panel in panels(&model) {
        let kind = panel["type"].as_str().expect("a type");
        assert!(core.contains(&kind), "{kind} is not a core panel type");
        kinds.insert(kind);
        assert!(ids.insert(panel["id"].as_u64().expect("an id")), "{panel}");
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
        assert!(x + w <= 24 && grid["h"].as_u64().unwrap() > 0, "{grid}");
    }
    assert_eq!(kinds.len(), core.len(), "each core type is used: {kinds:?}");
    let variables: Vec<&str> = model["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|variable| variable["name"].as_str().unwrap())
        .collect();
    assert_eq!(variables, ["datasource", "job", "instance", "handler"]);
}

#[test]
fn every_query_names_only_series_the_runtime_writes_or_its_rules_record() {
    let written = written_names();
    let exprs = exprs(&model());
    assert!(exprs.len() > 20, "{exprs:#?}");
    let mut read = BTreeSet::new();
    for expr in &exprs {
        let names = selected_names(expr);
        assert!(!names.is_empty(), "{expr} selects no series");
        for name in names {
            assert!(
                written.contains(&name),
                "{name} (in {expr}) is neither exposed nor recorded: {written:#?}"
            );
            read.insert(name);
        }
    }
    for name in [
        "handler_requests_total",
        "handler_request_errors_total",
        "handler_request_latency_seconds_bucket",
        "handler_requests_in_flight",
        "handler_requests_rejected_total",
        "handler:request_errors:ratio_rate5m",
        "handler:request_errors:ratio_rate3d",
        "handler:slow_requests:ratio_rate1h",
    ] {
        assert!(read.contains(name), "no panel reads {name}");
    }
    // The handler families are scoped by the variables; the recorded series, which add up all
    // instances, by their objective.
    for expr in &exprs {
        if expr.contains("handler_requests_total{") {
            assert!(
                expr.contains(r#"job=~"$job",instance=~"$instance""#),
                "{expr}"
            );
        }
        if expr.contains(":ratio_rate") {
            assert!(expr.contains(r#"{objective=""#), "{expr}");
        }
    }
}

#[test]
fn one_row_per_objective_with_its_handlers_and_the_alerts_factors() {
    let model = model();
    let rows: Vec<&str> = panels(&model)
        .into_iter()
        .filter(|panel| panel["type"] == "row")
        .map(|row| row["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            "Overview",
            "Objective catalogue: ListRsesHandler::get, list_scopes",
            "Objective uploads: upload.v1(files)",
            "Handler $handler",
        ]
    );
    assert!(
        !rows.iter().any(|row| row.contains("health")),
        "a handler under no objective is in no objective row"
    );
    let burn = panels(&model)
        .into_iter()
        .find(|panel| panel["title"] == "Availability burn rate")
        .unwrap();
    let steps = &burn["fieldConfig"]["defaults"]["thresholds"]["steps"];
    let factors: Vec<f64> = steps
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|step| step["value"].as_f64())
        .collect();
    assert_eq!(factors, [1.0, 3.0, 6.0, 14.4]);
    assert_eq!(steps[4]["color"], "red", "14.4× pages");
    assert_eq!(steps[2]["color"], "orange", "3× opens a ticket");
    let units: BTreeSet<&str> = panels(&model)
        .into_iter()
        .filter_map(|panel| panel["fieldConfig"]["defaults"]["unit"].as_str())
        .collect();
    for unit in ["s", "reqps", "percentunit"] {
        assert!(units.contains(unit), "{units:?}");
    }
    let exemplars = exprs_with_exemplars(&model);
    assert!(
        !exemplars.is_empty()
            && exemplars
                .iter()
                .all(|expr| expr.contains("histogram_quantile")),
        "{exemplars:?}"
    );
}

fn exprs_with_exemplars(model: &Value) -> Vec<String> {
    panels(model)
        .into_iter()
        .filter_map(|panel| panel["targets"].as_array())
        .flatten()
        .filter(|target| target["exemplar"] == true)
        .map(|target| target["expr"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_handler_variable_is_the_list_handlers_gives() {
    let model = model();
    let variable = model["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|variable| variable["name"] == "handler")
        .unwrap();
    let options: BTreeSet<&str> = variable["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|option| option["value"].as_str().unwrap())
        .collect();
    let listed: BTreeSet<String> = handlers()
        .into_iter()
        .filter_map(|handler| handler.label)
        .collect();
    assert_eq!(
        options,
        listed.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    assert!(options.contains("renamed_for_the_dashboard"));
    assert!(!options.contains("old_name"), "the label, not the fn name");
    assert!(options.contains("health"), "a handler under no objective");
    let repeated = panels(&model)
        .into_iter()
        .find(|panel| panel["repeat"] == "handler")
        .expect("a row repeated per handler");
    assert_eq!(repeated["type"], "row");
    assert!(
        exprs(&model)
            .iter()
            .any(|expr| expr.contains(r#"handler=~"$handler""#))
    );
}

#[test]
fn the_selector_scopes_the_queries_as_it_scopes_the_rules() {
    let json = Dashboard::new()
        .selector("env", "prod")
        .datasource("prom-1")
        .title("Rucio")
        .uid("rucio")
        .render()
        .unwrap();
    let rules = AlertRules::new().selector("env", "prod").render().unwrap();
    let recorded = r#"handler:request_errors:ratio_rate1h{objective="catalogue",env="prod"}"#;
    assert!(rules.contains(recorded), "{rules}");
    let model: Value = serde_json::from_str(&json).unwrap();
    assert!(exprs(&model).iter().any(|expr| expr.contains(recorded)));
    assert!(
        exprs(&model)
            .iter()
            .filter(|expr| expr.contains("handler_requests_total{"))
            .all(|expr| expr.contains(r#"handler_requests_total{env="prod","#))
    );
    assert_eq!(model["uid"], "rucio");
    assert_eq!(model["title"], "Rucio");
    for panel in panels(&model) {
        if let Some(targets) = panel["targets"].as_array() {
            assert_eq!(panel["datasource"]["uid"], "prom-1");
            assert!(
                targets
                    .iter()
                    .all(|target| target["datasource"]["uid"] == "prom-1")
            );
        }
    }
    let variables = model["templating"]["list"].as_array().unwrap();
    assert!(
        variables
            .iter()
            .all(|variable| variable["name"] != "datasource")
    );
}

#[test]
fn bad_settings_are_config_errors() {
    let cases = [
        (
            Dashboard::new().selector("job", "x"),
            "dashboard selector \"job\"",
        ),
        (Dashboard::new().selector("a-b", "x"), "label name"),
        (Dashboard::new().uid("has space"), "dashboard uid"),
        (Dashboard::new().uid("x".repeat(41)), "1 to 40"),
        (Dashboard::new().title(" "), "needs a title"),
        (Dashboard::new().datasource(""), "data source's uid"),
    ];
    for (dashboard, message) in cases {
        let error = dashboard.render().unwrap_err().to_string();
        assert!(error.contains(message), "{error}");
    }
}

#[test]
fn names_before_selectors_are_found() {
    assert_eq!(
        selected_names(r#"sum(rate(a_total{x="1"}[5m])) / ns:b:ratio_rate5m{o="y"}"#),
        ["a_total", "ns:b:ratio_rate5m"]
    );
}
