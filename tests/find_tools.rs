//! Build-script half of the tests' gating on Prometheus's tools, shared by this package's
//! `build.rs` and the demo's: looks `promtool` and `prometheus` up and tells the tests.
//!
//! Each tool is the path in its variable (`HANDLER_METRICS_PROMTOOL`,
//! `HANDLER_METRICS_PROMETHEUS`; a bare name is looked up on `PATH`), else the first on `PATH`.
//! Found, it sets the cfg `has_promtool` / `has_prometheus` and the compile-time variable
//! `HANDLER_METRICS_PROMTOOL_FOUND` / `HANDLER_METRICS_PROMETHEUS_FOUND` to its path, which the
//! tests run (`handler_metrics_tests::promtool!()`); missing, the variable is empty and the tests
//! that need the tool are ignored, each with its reason. With `CI` set, a missing tool fails the
//! build: CI never skips the end-to-end checks.

use std::env;
use std::path::{Path, PathBuf};

const TOOLS: [(&str, &str, &str); 2] = [
    ("promtool", "HANDLER_METRICS_PROMTOOL", "has_promtool"),
    ("prometheus", "HANDLER_METRICS_PROMETHEUS", "has_prometheus"),
];

#[cfg(unix)]
fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn executable(path: &Path) -> bool {
    path.is_file()
}

fn on_path(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_absolute() && executable(path))
}

/// `CI` set to anything but empty, `0` or `false`.
fn in_ci() -> bool {
    env::var("CI").is_ok_and(|value| !matches!(value.as_str(), "" | "0" | "false"))
}

pub fn find_tools() {
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=CI");
    let mut missing = Vec::new();
    for (tool, variable, cfg) in TOOLS {
        println!("cargo::rerun-if-env-changed={variable}");
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        let (found, looked) = match env::var(variable) {
            Ok(given) if given.contains('/') => {
                let path = PathBuf::from(&given);
                (
                    executable(&path).then_some(path),
                    format!("{variable}={given}"),
                )
            }
            Ok(given) => (on_path(&given), format!("{variable}={given} on PATH")),
            Err(_) => (on_path(tool), format!("{tool} on PATH")),
        };
        match found {
            Some(path) => {
                println!("cargo::rustc-cfg={cfg}");
                println!("cargo::rustc-env={variable}_FOUND={}", path.display());
                // Removed or replaced later: look again.
                println!("cargo::rerun-if-changed={}", path.display());
            }
            None => {
                println!("cargo::rustc-env={variable}_FOUND=");
                missing.push(looked);
                // Installed later: look again (only the folders on PATH that exist, since a
                // missing one would rerun this script on every build).
                if env::var_os(variable).is_none() {
                    for dir in env::split_paths(&env::var_os("PATH").unwrap_or_default()) {
                        if dir.is_absolute() && dir.is_dir() {
                            println!("cargo::rerun-if-changed={}", dir.display());
                        }
                    }
                }
            }
        }
    }
    if in_ci() && !missing.is_empty() {
        eprintln!(
            "not found: {} (Debian: apt-get install prometheus). CI is set, so the tests that \
             need them fail rather than skip.",
            missing.join(", ")
        );
        std::process::exit(1);
    }
}
