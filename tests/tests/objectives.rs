//! Service-level objectives: each handler's objective is in the inventory, its latency threshold
//! is a bucket bound of the default runtime, and the generated rules pass `promtool check rules`
//! and page, open a ticket or stay quiet as `promtool test rules` scenarios expect.
//!
//! The promtool tests need `promtool` (Debian: `apt-get install prometheus`; CI installs it):
//! without it they are ignored, each saying so (`tests/find_tools.rs`); under `CI`, the build
//! fails instead.

use std::path::Path;
use std::time::Duration;

use handler_metrics_tests::Scrape;
use metrics_runtime::{
    AlertRules, Objective, alert_rules, handlers, prometheus_handlers, prometheus_metrics,
};

const CATALOGUE: Objective = Objective::new("catalogue")
    .availability(99.9)
    .latency(Duration::from_millis(300), 99.0);

const UPLOADS: Objective = Objective::new("uploads").availability(99.5);

#[prometheus_metrics(objective = CATALOGUE)]
fn list_scopes() -> Result<(), ()> {
    Ok(())
}

struct ListRsesHandler;

#[prometheus_handlers(objective = CATALOGUE)]
impl ListRsesHandler {
    #[prometheus_metrics]
    fn get(&self) {}

    // Its own objective wins over the block's.
    #[prometheus_metrics(objective = UPLOADS)]
    fn post(&self) {}

    #[prometheus_metrics(skip)]
    fn delete(&self) {}
}

/// A whole-second threshold: this crate writes its bound `le="1"`, Prometheus 3 stores `1.0`.
const EXPORTS: Objective = Objective::new("exports").latency(Duration::from_secs(1), 95.0);

#[prometheus_metrics(objective = EXPORTS)]
fn export_dids() {}

/// Regex characters in a label must be matched literally by the rules.
#[prometheus_metrics(handler = "upload.v1(files)", objective = UPLOADS)]
fn upload() {}

#[prometheus_metrics]
fn health() {}

#[test]
fn each_handler_lists_the_objective_it_serves() {
    let objective_of = |label: &str| {
        handlers()
            .into_iter()
            .find(|handler| handler.label.as_deref() == Some(label))
            .unwrap_or_else(|| panic!("{label} is listed"))
            .objective
            .map(Objective::name)
    };
    assert_eq!(objective_of("list_scopes"), Some("catalogue"));
    assert_eq!(objective_of("ListRsesHandler::get"), Some("catalogue"));
    assert_eq!(objective_of("ListRsesHandler::post"), Some("uploads"));
    assert_eq!(objective_of("upload.v1(files)"), Some("uploads"));
    assert_eq!(objective_of("health"), None);
    let delete = handlers()
        .into_iter()
        .find(|handler| handler.name == "delete")
        .unwrap();
    assert_eq!(delete.objective, None, "a skipped method serves none");
    let served = handlers()
        .into_iter()
        .find_map(|handler| handler.objective.filter(|o| o.name() == "catalogue"))
        .unwrap();
    assert_eq!(*served, CATALOGUE);
    assert_eq!(
        served.latency_target(),
        Some((Duration::from_millis(300), 99.0))
    );
}

#[test]
fn the_latency_threshold_is_a_bucket_bound_of_the_default_runtime() {
    list_scopes().unwrap();
    ListRsesHandler.get();
    ListRsesHandler.post();
    ListRsesHandler.delete();
    upload();
    export_dids();
    health();
    let scrape = Scrape::take();
    let bounds: Vec<&str> = scrape
        .samples
        .iter()
        .filter(|sample| {
            sample.name == "handler_request_latency_seconds_bucket"
                && sample.labels["handler"] == "health"
        })
        .map(|sample| sample.labels["le"].as_str())
        .collect();
    // The prometheus crate's defaults, 0.3 s between 0.25 and 0.5, and +Inf: on every series.
    assert_eq!(
        bounds,
        [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.3", "0.5", "1", "2.5", "5", "10",
            "+Inf"
        ]
    );
    assert_eq!(
        scrape.bucket(
            "handler_request_latency_seconds_bucket",
            "list_scopes",
            "0.3"
        ),
        1.0
    );
}

#[test]
#[cfg_attr(
    not(has_promtool),
    ignore = "needs promtool (Debian: apt-get install prometheus)"
)]
fn the_rules_pass_promtool_check_rules() {
    let dir = tempfile::tempdir().unwrap();
    for (name, rules) in [
        ("default", alert_rules()),
        (
            "scoped",
            AlertRules::new()
                .selector("job", "rucio")
                .selector("env", "it's \"prod\"")
                .render()
                .unwrap(),
        ),
        (
            "no-floor",
            AlertRules::new().min_requests(0).render().unwrap(),
        ),
    ] {
        let file = dir.path().join(format!("{name}.yml"));
        std::fs::write(&file, &rules).unwrap();
        let (ok, report) = promtool(&["check", "rules"], &file);
        // catalogue: 2 × 7 ratios, 4 traffic floors, 2 × 2 burn alerts, 1 for a missing
        // bucket and 1 for no data; exports (latency): 7, 4, 2, 1 and 1; uploads
        // (availability): 7, 4, 2 and 1.
        let count = if name == "no-floor" { 41 } else { 53 };
        assert!(ok, "{name}: {report}");
        assert!(
            report.contains(&format!("SUCCESS: {count} rules found")),
            "{name}: {report}"
        );
    }
    let rules = alert_rules();
    assert!(rules.contains(r#"handler=~"ListRsesHandler::get|list_scopes""#));
    assert!(rules.contains(r#"handler=~"ListRsesHandler::post|upload\\.v1\\(files\\)""#));
    assert!(!rules.contains("health"), "a handler without objective");
    assert!(rules.contains(r#"le="0.3""#));
    assert!(rules.contains(r#"le=~"1|1\\.0""#));
}

#[test]
fn bad_selector_labels_are_config_errors() {
    for label in ["job-name", "__name__", "objective", "le"] {
        let error = AlertRules::new().selector(label, "x").render().unwrap_err();
        assert!(error.to_string().contains(&format!("{label:?}")), "{error}");
    }
}

/// Runs promtool on `file`: whether it succeeded, and what it said.
fn promtool(args: &[&str], file: &Path) -> (bool, String) {
    let output = handler_metrics_tests::promtool!()
        .args(args)
        .arg(file)
        .output()
        .expect("promtool runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), report)
}

/// An `input_series` entry.
fn series(selector: &str, values: &str) -> String {
    format!("      - series: '{selector}'\n        values: '{values}'\n")
}

/// An `alert_rule_test` entry: at `at`, `alert` has exactly `expected` (YAML list items).
fn expect(at: &str, alert: &str, expected: &[String]) -> String {
    let mut out = format!("      - eval_time: {at}\n        alertname: {alert}\n");
    if expected.is_empty() {
        out.push_str("        exp_alerts: []\n");
    } else {
        out.push_str("        exp_alerts:\n");
        for alert in expected {
            out.push_str(alert);
        }
    }
    out
}

/// One `tests` entry.
fn scenario(name: &str, input: &[String], checks: &[String]) -> String {
    format!(
        "  - name: '{name}'\n    interval: 1m\n    input_series:\n{}    alert_rule_test:\n{}",
        input.concat(),
        checks.concat()
    )
}

/// A fired alert as the generated annotations describe it.
struct Fired<'a> {
    objective: &'a str,
    severity: &'a str,
    /// `99.9% of requests without error`, or `99% of requests within 300ms`.
    promise: &'a str,
    /// `errors` or `requests slower than 300ms`.
    bad: &'a str,
    budget: &'a str,
    burn: &'a str,
    handlers: &'a str,
    floor: bool,
    extra_labels: &'a str,
}

impl Fired<'_> {
    fn yaml(&self) -> String {
        let conditions = match self.severity {
            "page" => {
                "Pages when {bad} burn the budget ({budget}% of requests) faster than 14.4× \
                 over 1h and 5m (2% of the budget in 1h), or faster than 6× over 6h and 30m \
                 (5% of the budget in 6h)"
            }
            _ => {
                "Opens a ticket when {bad} burn the budget ({budget}% of requests) faster than \
                 3× over 1d and 2h (10% of the budget in 1d), or faster than 1× over 3d and 6h \
                 (10% of the budget in 3d)"
            }
        }
        .replace("{bad}", self.bad)
        .replace("{budget}", self.budget);
        let floor = match (self.floor, self.severity) {
            (true, "page") => format!(
                ", with at least 100 requests in the long window; or when {} are at least 90% \
                 of the requests in the last 1h, 5 or more, and the last 5m show no recovery",
                self.bad
            ),
            (true, _) => ", with at least 100 requests in the long window".to_owned(),
            _ => String::new(),
        };
        format!(
            "          - exp_labels: {{objective: '{}', severity: '{}'{}}}\n            \
             exp_annotations:\n              \
             summary: 'Objective {} ({} over 30 days): {} burn its budget {}× as fast as it \
             allows'\n              \
             description: '{conditions}{floor}. Calls rejected by authentication are not \
             requests. The value is the burn rate over the long window.'\n              \
             handlers: '{}'\n",
            self.objective,
            self.severity,
            self.extra_labels,
            self.objective,
            self.promise,
            self.bad,
            self.burn,
            self.handlers,
        )
    }
}

const AVAILABILITY: &str = "HandlerAvailabilityBudgetBurn";
const LATENCY: &str = "HandlerLatencyBudgetBurn";
const MISSING_BUCKET: &str = "HandlerLatencyThresholdNotABucket";

fn catalogue_errors(severity: &str, burn: &str, floor: bool) -> String {
    Fired {
        burn,
        floor,
        ..catalogue_fired(severity)
    }
    .yaml()
}

/// `promtool test rules` on `scenarios` against `rules`: whether it passed, and its report.
fn promtool_test(dir: &Path, rules: &str, scenarios: &[String]) -> (bool, String) {
    let rules_file = dir.join(format!("rules-{}.yml", scenarios.len()));
    std::fs::write(&rules_file, rules).unwrap();
    let tests = format!(
        "rule_files: ['{}']\nevaluation_interval: 1m\ntests:\n{}",
        rules_file.display(),
        scenarios.concat()
    );
    let tests_file = dir.join("tests.yml");
    std::fs::write(&tests_file, tests).unwrap();
    promtool(&["test", "rules"], &tests_file)
}

#[test]
#[cfg_attr(
    not(has_promtool),
    ignore = "needs promtool (Debian: apt-get install prometheus)"
)]
fn promtool_pages_for_fast_burns_and_stays_quiet_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let ok = "0+0x400";
    let scenarios = [
        // 20 errors in 1000 requests a minute, over two handlers on two instances: 2% against
        // a 0.1% budget is a 20× burn. Prometheus has 10 minutes of data and still pages.
        scenario(
            "2% errors against 99.9% page",
            &[
                series(
                    r#"handler_requests_total{handler="list_scopes",instance="a"}"#,
                    "0+600x20",
                ),
                series(
                    r#"handler_request_errors_total{handler="list_scopes",instance="a"}"#,
                    "0+20x20",
                ),
                series(
                    r#"handler_requests_total{handler="ListRsesHandler::get",instance="b"}"#,
                    "0+400x20",
                ),
                series(
                    r#"handler_request_errors_total{handler="ListRsesHandler::get",instance="b"}"#,
                    "0+0x20",
                ),
            ],
            &[
                expect(
                    "10m",
                    AVAILABILITY,
                    &[
                        catalogue_errors("page", "20.0", true),
                        catalogue_errors("ticket", "20.0", true),
                    ],
                ),
                expect("10m", LATENCY, &[]),
            ],
        ),
        // 1 error in 2000 requests: a 0.5× burn, inside the budget.
        scenario(
            "0.05% errors page nothing",
            &[
                series(
                    r#"handler_requests_total{handler="list_scopes"}"#,
                    "0+2000x400",
                ),
                series(
                    r#"handler_request_errors_total{handler="list_scopes"}"#,
                    "0+1x400",
                ),
            ],
            &[
                expect("10m", AVAILABILITY, &[]),
                expect("2h", AVAILABILITY, &[]),
                expect("6h", AVAILABILITY, &[]),
            ],
        ),
        // 5 in 100 requests over 300 ms against 99%: a 5× burn, a ticket but no page.
        scenario(
            "5% slow requests against 99% open a latency ticket",
            &[
                series(
                    r#"handler_requests_total{handler="list_scopes"}"#,
                    "0+100x240",
                ),
                series(r#"handler_request_errors_total{handler="list_scopes"}"#, ok),
                series(
                    r#"handler_request_latency_seconds_count{handler="list_scopes"}"#,
                    "0+100x240",
                ),
                series(
                    r#"handler_request_latency_seconds_bucket{handler="list_scopes",le="0.3"}"#,
                    "0+95x240",
                ),
            ],
            &[
                expect(
                    "3h",
                    LATENCY,
                    &[Fired {
                        objective: "catalogue",
                        severity: "ticket",
                        promise: "99% of requests within 300ms",
                        bad: "requests slower than 300ms",
                        budget: "1",
                        burn: "5.0",
                        handlers: "ListRsesHandler::get, list_scopes",
                        floor: true,
                        extra_labels: "",
                    }
                    .yaml()],
                ),
                expect("3h", AVAILABILITY, &[]),
            ],
        ),
        // Every call rejected by authentication: no request reached a handler.
        scenario(
            "100% rejected calls alert nothing",
            &[
                series(
                    r#"handler_requests_rejected_total{handler="list_scopes"}"#,
                    "0+1000x120",
                ),
                series(r#"handler_requests_total{handler="list_scopes"}"#, ok),
                series(r#"handler_request_errors_total{handler="list_scopes"}"#, ok),
                series(
                    r#"handler_request_latency_seconds_count{handler="list_scopes"}"#,
                    ok,
                ),
                series(
                    r#"handler_request_latency_seconds_bucket{handler="list_scopes",le="0.3"}"#,
                    ok,
                ),
            ],
            &[
                expect("10m", AVAILABILITY, &[]),
                expect("2h", AVAILABILITY, &[]),
                expect("2h", LATENCY, &[]),
            ],
        ),
        // One call a minute, every other one an error: under 100 requests in every long
        // window, and no total outage.
        scenario(
            "traffic under the floor alerts nothing",
            &[
                series(
                    r#"handler_requests_total{handler="list_scopes"}"#,
                    "0+1x100",
                ),
                series(
                    r#"handler_request_errors_total{handler="list_scopes"}"#,
                    "0+0.5x100",
                ),
            ],
            &[
                expect("30m", AVAILABILITY, &[]),
                expect("60m", AVAILABILITY, &[]),
                expect("90m", AVAILABILITY, &[]),
            ],
        ),
        // 10% errors on the label with regex characters; a namesake the unescaped regex
        // `upload.v1(files)` would match dilutes them to 0.9% if it is counted.
        scenario(
            "a label with regex characters is matched literally",
            &[
                series(
                    r#"handler_requests_total{handler="upload.v1(files)"}"#,
                    "0+100x20",
                ),
                series(
                    r#"handler_request_errors_total{handler="upload.v1(files)"}"#,
                    "0+10x20",
                ),
                series(
                    r#"handler_requests_total{handler="uploadXv1files"}"#,
                    "0+1000x20",
                ),
                series(
                    r#"handler_request_errors_total{handler="uploadXv1files"}"#,
                    "0+0x20",
                ),
            ],
            &[expect(
                "10m",
                AVAILABILITY,
                &["page", "ticket"].map(|severity| {
                    Fired {
                        objective: "uploads",
                        severity,
                        promise: "99.5% of requests without error",
                        bad: "errors",
                        budget: "0.5",
                        burn: "20.0",
                        handlers: "ListRsesHandler::post, upload.v1(files)",
                        floor: true,
                        extra_labels: "",
                    }
                    .yaml()
                }),
            )],
        ),
        // The same burn, once with the `le` this crate writes and once as Prometheus 3 does.
        scenario(
            "a whole-second threshold matches le=\"1\"",
            &slow_exports("1"),
            &[expect("10m", LATENCY, &exports_slow())],
        ),
        scenario(
            "a whole-second threshold matches le=\"1.0\"",
            &slow_exports("1.0"),
            &[expect("10m", LATENCY, &exports_slow())],
        ),
        // An old binary whose histogram has no 0.3 s bound, next to a current one.
        scenario(
            "a missing threshold bucket opens a ticket",
            &[
                series(
                    r#"handler_request_latency_seconds_count{handler="list_scopes",instance="old"}"#,
                    "0+10x30",
                ),
                series(
                    r#"handler_request_latency_seconds_bucket{handler="list_scopes",instance="old",le="0.25"}"#,
                    "0+10x30",
                ),
                series(
                    r#"handler_request_latency_seconds_count{handler="list_scopes",instance="new"}"#,
                    "0+10x30",
                ),
                series(
                    r#"handler_request_latency_seconds_bucket{handler="list_scopes",instance="new",le="0.3"}"#,
                    "0+10x30",
                ),
            ],
            &[
                expect("5m", MISSING_BUCKET, &[]),
                expect(
                    "15m",
                    MISSING_BUCKET,
                    &[
                        "          - exp_labels: {objective: 'catalogue', severity: 'ticket', \
                       handler: 'list_scopes', instance: 'old'}\n            \
                       exp_annotations:\n              \
                       summary: 'Objective catalogue: list_scopes on old has no latency bucket \
                       at 300ms, so the latency objective does not count its requests'\n              \
                       description: 'The latency histogram has no bucket bound at the \
                       objective''s threshold (0.3 s): the binary that serves it was built with \
                       other objectives or buckets than these rules, and its requests count on \
                       neither side of the slow-request ratio. Regenerate the rules from the \
                       binary that runs.'\n"
                            .to_owned(),
                    ],
                ),
            ],
        ),
    ];
    let (passed, report) = promtool_test(dir.path(), &alert_rules(), &scenarios);
    assert!(passed, "{report}");
    assert!(report.contains("SUCCESS"), "{report}");

    // Negative control: promtool does fail a wrong expectation (the 2% scenario, quiet).
    let wrong = scenario(
        "2% errors expected quiet",
        &[
            series(
                r#"handler_requests_total{handler="list_scopes"}"#,
                "0+1000x20",
            ),
            series(
                r#"handler_request_errors_total{handler="list_scopes"}"#,
                "0+20x20",
            ),
        ],
        &[expect("10m", AVAILABILITY, &[])],
    );
    let (passed, report) = promtool_test(dir.path(), &alert_rules(), &[wrong]);
    assert!(!passed, "{report}");
    assert!(report.contains(AVAILABILITY), "{report}");
}

#[test]
#[cfg_attr(
    not(has_promtool),
    ignore = "needs promtool (Debian: apt-get install prometheus)"
)]
fn promtool_the_floor_is_what_keeps_low_traffic_quiet_and_the_selector_scopes_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let low_traffic = [
        series(
            r#"handler_requests_total{handler="list_scopes"}"#,
            "0+1x100",
        ),
        series(
            r#"handler_request_errors_total{handler="list_scopes"}"#,
            "0+1x100",
        ),
    ];
    let without_floor = scenario(
        "the same low traffic pages without the floor",
        &low_traffic,
        &[expect(
            "30m",
            AVAILABILITY,
            &[
                catalogue_errors("page", "1000.0", false),
                catalogue_errors("ticket", "1000.0", false),
            ],
        )],
    );
    let rules = AlertRules::new().min_requests(0).render().unwrap();
    let (passed, report) = promtool_test(dir.path(), &rules, &[without_floor]);
    assert!(passed, "{report}");

    // Another service's errors, in the same Prometheus, are not this one's.
    let scoped = scenario(
        "only the series of the selected job count",
        &[
            series(
                r#"handler_requests_total{handler="list_scopes",job="other"}"#,
                "0+1000x20",
            ),
            series(
                r#"handler_request_errors_total{handler="list_scopes",job="other"}"#,
                "0+500x20",
            ),
            series(
                r#"handler_requests_total{handler="list_scopes",job="rucio"}"#,
                "0+1000x20",
            ),
            series(
                r#"handler_request_errors_total{handler="list_scopes",job="rucio"}"#,
                "0+20x20",
            ),
        ],
        &[expect(
            "10m",
            AVAILABILITY,
            &["page", "ticket"].map(|severity| {
                Fired {
                    extra_labels: ", job: 'rucio'",
                    ..catalogue_fired(severity)
                }
                .yaml()
            }),
        )],
    );
    let rules = AlertRules::new().selector("job", "rucio").render().unwrap();
    let (passed, report) = promtool_test(dir.path(), &rules, &[scoped]);
    assert!(passed, "{report}");
}

fn catalogue_fired(severity: &str) -> Fired<'_> {
    Fired {
        objective: "catalogue",
        severity,
        promise: "99.9% of requests without error",
        bad: "errors",
        budget: "0.1",
        burn: "20.0",
        handlers: "ListRsesHandler::get, list_scopes",
        floor: true,
        extra_labels: "",
    }
}

/// 50 in 100 requests a minute slower than 1 s: a 10× burn of a 5% budget.
fn slow_exports(le: &str) -> [String; 3] {
    [
        series(
            r#"handler_requests_total{handler="export_dids"}"#,
            "0+100x20",
        ),
        series(
            r#"handler_request_latency_seconds_count{handler="export_dids"}"#,
            "0+100x20",
        ),
        series(
            &format!(
                r#"handler_request_latency_seconds_bucket{{handler="export_dids",le="{le}"}}"#
            ),
            "0+50x20",
        ),
    ]
}

fn exports_slow() -> [String; 2] {
    ["page", "ticket"].map(|severity| {
        Fired {
            objective: "exports",
            severity,
            promise: "95% of requests within 1s",
            bad: "requests slower than 1s",
            budget: "5",
            burn: "10.0",
            handlers: "export_dids",
            floor: true,
            extra_labels: "",
        }
        .yaml()
    })
}

const NO_DATA: &str = "HandlerObjectiveNoData";

/// `count` (a counter) stepping up by one every `every` minutes for `minutes` minutes: few
/// requests, as they come, not a smooth rate.
fn stepped(every: u32, minutes: u32) -> String {
    (0..=minutes)
        .map(|minute| (minute / every).to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A rolling deploy: an old replica whose histogram has no 0.3 s bucket next to a new one,
/// every request under 0.1 s; the old one is gone at 2h. Its requests count on neither side of
/// the slow-request ratio, so nothing burns (unpaired, all of them looked slow: a page and a
/// ticket at 1h10m, the ticket still up at 7h).
#[test]
#[cfg_attr(
    not(has_promtool),
    ignore = "needs promtool (Debian: apt-get install prometheus)"
)]
fn promtool_a_replica_without_the_threshold_bucket_burns_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let old = r#"handler="list_scopes",instance="old""#;
    let new = r#"handler="list_scopes",instance="new""#;
    let rolling = scenario(
        "a rolling deploy pages nothing",
        &[
            series(&format!("handler_requests_total{{{old}}}"), "0+60x120"),
            series(
                &format!("handler_request_latency_seconds_count{{{old}}}"),
                "0+60x120",
            ),
            series(
                &format!(r#"handler_request_latency_seconds_bucket{{{old},le="0.1"}}"#),
                "0+60x120",
            ),
            series(&format!("handler_requests_total{{{new}}}"), "0+60x480"),
            series(
                &format!("handler_request_latency_seconds_count{{{new}}}"),
                "0+60x480",
            ),
            series(
                &format!(r#"handler_request_latency_seconds_bucket{{{new},le="0.3"}}"#),
                "0+60x480",
            ),
        ],
        &[
            expect("1h10m", LATENCY, &[]),
            expect("3h", LATENCY, &[]),
            expect("7h", LATENCY, &[]),
        ],
    );
    let (passed, report) = promtool_test(dir.path(), &alert_rules(), &[rolling]);
    assert!(passed, "{report}");
}

/// A dead service: the scrapes of every catalogue handler fail at 30m (Prometheus marks their
/// series stale); the other objectives' handlers go on. The catalogue pages 5 minutes later.
#[test]
#[cfg_attr(
    not(has_promtool),
    ignore = "needs promtool (Debian: apt-get install prometheus)"
)]
fn promtool_an_objective_without_data_pages() {
    let dir = tempfile::tempdir().unwrap();
    let dead = "0+10x30 stale";
    let alive = "0+10x60";
    let scenarios = [scenario(
        "a dead service pages",
        &[
            series(r#"handler_requests_total{handler="list_scopes"}"#, dead),
            series(
                r#"handler_requests_total{handler="ListRsesHandler::get"}"#,
                dead,
            ),
            series(
                r#"handler_requests_total{handler="upload.v1(files)"}"#,
                alive,
            ),
            series(r#"handler_requests_total{handler="export_dids"}"#, alive),
        ],
        &[
            expect("29m", NO_DATA, &[]),
            expect("33m", NO_DATA, &[]),
            expect(
                "36m",
                NO_DATA,
                &[no_data("catalogue", "ListRsesHandler::get, list_scopes")],
            ),
            expect(
                "50m",
                NO_DATA,
                &[no_data("catalogue", "ListRsesHandler::get, list_scopes")],
            ),
        ],
    )];
    let (passed, report) = promtool_test(dir.path(), &alert_rules(), &scenarios);
    assert!(passed, "{report}");
}

fn no_data(objective: &str, handlers: &str) -> String {
    format!(
        "          - exp_labels: {{objective: '{objective}', severity: 'page'}}\n            \
         exp_annotations:\n              \
         summary: 'Objective {objective}: none of its handlers has reported requests for 5 \
         minutes, so its burn-rate alerts cannot fire'\n              \
         description: 'Pages when no series of handler_requests_total exists for any of the \
         objective''s handlers for 5 minutes: the service is down, its scrapes fail, or the \
         binary that runs no longer has these handlers. A dead service fails every request \
         and its burn-rate alerts see no data.'\n              \
         handlers: '{handlers}'\n"
    )
}

/// 10 requests an hour, every one failing from the start: under the floor of 100 in every
/// window, yet a total outage, so it pages within the hour; once requests succeed again the
/// page stops. Errors at the same traffic that are not a total outage stay under the floor.
#[test]
#[cfg_attr(
    not(has_promtool),
    ignore = "needs promtool (Debian: apt-get install prometheus)"
)]
fn promtool_a_total_outage_at_low_traffic_pages_within_the_hour() {
    let dir = tempfile::tempdir().unwrap();
    // 6 minutes apart; errors stop at 1h30m (the 15th request), requests go on.
    let requests = stepped(6, 180);
    let errors = (0..=180u32)
        .map(|minute| (minute.min(90) / 6).to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let outage = scenario(
        "every request failing at 10 an hour pages",
        &[
            series(
                r#"handler_requests_total{handler="list_scopes"}"#,
                &requests,
            ),
            series(
                r#"handler_request_errors_total{handler="list_scopes"}"#,
                &errors,
            ),
        ],
        &[
            expect("20m", AVAILABILITY, &[]),
            expect("50m", AVAILABILITY, &[outage_page("1000.0")]),
            expect("80m", AVAILABILITY, &[outage_page("1000.0")]),
            expect("100m", AVAILABILITY, &[]),
            expect("150m", AVAILABILITY, &[]),
        ],
    );
    // Every other request fails: a 500× burn, but not an outage, and too few to page on.
    let half = scenario(
        "half the requests failing at 10 an hour stays under the floor",
        &[
            series(
                r#"handler_requests_total{handler="list_scopes"}"#,
                &stepped(6, 420),
            ),
            series(
                r#"handler_request_errors_total{handler="list_scopes"}"#,
                &stepped(12, 420),
            ),
        ],
        &[
            expect("1h", AVAILABILITY, &[]),
            expect("3h", AVAILABILITY, &[]),
            expect("7h", AVAILABILITY, &[]),
        ],
    );
    // One failed request alone is no outage.
    let one = scenario(
        "a single failed request pages nothing",
        &[
            series(
                r#"handler_requests_total{handler="list_scopes"}"#,
                "0x10 1x50",
            ),
            series(
                r#"handler_request_errors_total{handler="list_scopes"}"#,
                "0x10 1x50",
            ),
        ],
        &[
            expect("15m", AVAILABILITY, &[]),
            expect("40m", AVAILABILITY, &[]),
        ],
    );
    let (passed, report) = promtool_test(dir.path(), &alert_rules(), &[outage, half, one]);
    assert!(passed, "{report}");
}

fn outage_page(burn: &str) -> String {
    catalogue_errors("page", burn, true)
}
