//! A panicking exemplar source never changes a call's outcome and never aborts the process: its
//! unwind is caught, it is not asked while the thread panics, and the call is counted. Its own
//! binary: it installs a configuration with that source. The panicking body runs in a child
//! process, so that an abort shows as the child's exit status instead of killing the harness.

use std::panic::catch_unwind;
use std::process::Command;
use std::sync::Once;

use handler_metrics_tests::HandlerValues;
use metrics_runtime::{Config, prometheus_metrics};

/// Set in the child process the second test starts.
const CHILD: &str = "EXEMPLAR_SOURCE_PANICS_CHILD";

fn panicking_source() -> Option<String> {
    panic!("the exemplar source failed");
}

fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        Config::new()
            .exemplar_source(panicking_source)
            .install()
            .unwrap();
    });
}

#[prometheus_metrics]
fn returns_normally() -> Result<u32, String> {
    Ok(7)
}

#[prometheus_metrics]
fn fails_and_returns() -> Result<u32, String> {
    Err("quota".into())
}

#[prometheus_metrics]
fn panics_in_body(fail: bool) -> u32 {
    assert!(!fail, "the body failed");
    1
}

#[test]
fn a_panicking_source_leaves_a_returning_call_its_output_and_its_count() {
    install();
    assert_eq!(catch_unwind(returns_normally).ok(), Some(Ok(7)));
    assert_eq!(
        catch_unwind(fails_and_returns).ok(),
        Some(Err("quota".into()))
    );
    let ok = HandlerValues::of("returns_normally");
    assert_eq!((ok.requests, ok.errors, ok.latency_count), (1.0, 0.0, 1.0));
    let failed = HandlerValues::of("fails_and_returns");
    assert_eq!(
        (failed.requests, failed.errors, failed.latency_count),
        (1.0, 1.0, 1.0)
    );
}

#[test]
fn a_panicking_source_during_a_panicking_body_does_not_abort() {
    if std::env::var_os(CHILD).is_some() {
        install();
        let unwound = catch_unwind(|| panics_in_body(true)).expect_err("the body's own panic");
        assert_eq!(unwound.downcast_ref::<&str>(), Some(&"the body failed"));
        let values = HandlerValues::of("panics_in_body");
        assert_eq!(
            (values.requests, values.errors, values.latency_count),
            (1.0, 1.0, 1.0)
        );
        return;
    }
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_panicking_source_during_a_panicking_body_does_not_abort",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(
        child.status.success(),
        "the child ended with {}:\n{stdout}\n{stderr}",
        child.status
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}
