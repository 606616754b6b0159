//! The environment knobs `HANDLER_METRICS_SHARDS` and `HANDLER_METRICS_CLOCK` are read once per
//! process; a value they cannot take is never taken or ignored silently: one line on standard
//! error names it and says what is used instead. Each case runs in a child process of this
//! binary, with the variable set before the runtime starts.

use std::process::Command;

use handler_metrics_tests::HandlerValues;
use metrics_runtime::prometheus_metrics;

/// Set in the child processes: run the runtime, print the clock it uses.
const CHILD: &str = "KNOB_WARNINGS_CHILD";

#[prometheus_metrics]
fn counted() {}

/// What a child printed: its standard error's lines that name `variable`, and the clock in use.
fn run_child(variable: &str, value: &str) -> (Vec<String>, String) {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "unusable_knob_values_are_reported_once_with_what_is_used",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env_remove("HANDLER_METRICS_SHARDS")
        .env_remove("HANDLER_METRICS_CLOCK")
        .env(variable, value)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(
        child.status.success(),
        "{variable}={value}: {stdout}\n{stderr}"
    );
    // The harness prints `test … ` on the same line, before it.
    let clock = stdout
        .split_once("clock in use: ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no clock printed: {stdout}"))
        .to_owned();
    let lines = stderr
        .lines()
        .filter(|line| line.contains(variable))
        .map(str::to_owned)
        .collect();
    (lines, clock)
}

#[test]
fn unusable_knob_values_are_reported_once_with_what_is_used() {
    if std::env::var_os(CHILD).is_some() {
        counted();
        assert_eq!(HandlerValues::of("counted").requests, 1.0);
        println!(
            "clock in use: {}",
            metrics_runtime::__private::clock_source()
        );
        return;
    }
    let cores = std::thread::available_parallelism().map_or(4, usize::from);
    let default_shards = (cores * 2).clamp(4, 64);
    for (value, used) in [
        ("abc", default_shards),
        ("0", 1),
        ("99999", 4096),
        ("-3", default_shards),
    ] {
        let (lines, _) = run_child("HANDLER_METRICS_SHARDS", value);
        assert_eq!(lines.len(), 1, "{value}: {lines:?}");
        assert!(
            lines[0].starts_with(&format!(
                "metrics_runtime: HANDLER_METRICS_SHARDS={value:?} "
            )) && lines[0].ends_with(&format!("using {used}")),
            "{value}: {}",
            lines[0]
        );
    }
    let (lines, _) = run_child("HANDLER_METRICS_SHARDS", "3");
    assert!(lines.is_empty(), "a valid value: {lines:?}");

    for value in ["Monotonic", "tsc", ""] {
        let (lines, clock) = run_child("HANDLER_METRICS_CLOCK", value);
        assert_eq!(lines.len(), 1, "{value:?}: {lines:?}");
        assert!(
            lines[0].starts_with(&format!(
                "metrics_runtime: HANDLER_METRICS_CLOCK={value:?} "
            )) && lines[0].ends_with(&format!("timing with {clock}")),
            "{value:?}: {}",
            lines[0]
        );
    }
    let (lines, clock) = run_child("HANDLER_METRICS_CLOCK", "monotonic");
    assert!(lines.is_empty(), "the one value it takes: {lines:?}");
    assert_eq!(clock, "monotonic");
}
