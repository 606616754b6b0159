//! A throw-away Prometheus on a free loopback port, for the end-to-end tests, and its HTTP API.
//! Prometheus and promtool are run from where the build script found them
//! (`tests/find_tools.rs`); a test that needs one is ignored without it, saying so:
//! `#[cfg_attr(not(has_prometheus), ignore = "needs prometheus (Debian: apt-get install
//! prometheus)")]`, `has_promtool` likewise.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::{Client, Url};
use serde_json::Value;

use crate::process::Process;

pub struct Prometheus {
    process: Process,
    api: String,
    log: PathBuf,
    /// The folder `scraping` made, removed after the process is gone.
    _dir: Option<tempfile::TempDir>,
}

impl Prometheus {
    /// Starts Prometheus with `config` and the extra `flags` (retrying if another process takes
    /// the port first) and waits until it is ready.
    pub async fn start(
        client: &Client,
        dir: &Path,
        config: &Path,
        flags: &[&str],
        deadline: Instant,
    ) -> Prometheus {
        let log = dir.join("prometheus.log");
        for attempt in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .unwrap()
                .port();
            let mut command = handler_metrics_tests::prometheus!();
            command
                .arg(format!("--config.file={}", config.display()))
                .args(flags)
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join(format!("data-{attempt}")).display()
                ))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(&log).unwrap());
            let mut prometheus = Prometheus {
                process: Process::spawn("prometheus", &mut command),
                api: format!("http://127.0.0.1:{port}"),
                log: log.clone(),
                _dir: None,
            };
            loop {
                let ready = client
                    .get(format!("{}/-/ready", prometheus.api))
                    .send()
                    .await;
                if ready.is_ok_and(|response| response.status().is_success()) {
                    return prometheus;
                }
                if prometheus.process.exited().is_some() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "Prometheus not ready:\n{}",
                    prometheus.log_tail()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let log = prometheus.log_tail();
            assert!(
                log.contains("address already in use"),
                "Prometheus failed to start:\n{log}"
            );
        }
        panic!("no free port for Prometheus after 3 attempts");
    }

    /// Starts Prometheus in a folder of its own, scraping the demo at `target` with `token` and
    /// evaluating `rules` (`config_with_rules`), with the extra `flags`.
    #[allow(dead_code)]
    pub async fn scraping(
        client: &Client,
        target: &str,
        token: &str,
        rules: &str,
        flags: &[&str],
        deadline: Instant,
    ) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = config_with_rules(dir.path(), target, token, rules);
        let mut prometheus = Prometheus::start(client, dir.path(), &config, flags, deadline).await;
        prometheus._dir = Some(dir);
        prometheus
    }

    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The `data` of a successful API answer.
    pub async fn get(&self, client: &Client, path: &str, params: &[(&str, &str)]) -> Value {
        let url = Url::parse_with_params(&format!("{}{path}", self.api), params).unwrap();
        let response = client.get(url).send().await.unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "success", "{path}: {body}");
        body["data"].clone()
    }

    /// The series an instant query returns.
    pub async fn query(&self, client: &Client, promql: &str) -> Vec<Value> {
        let data = self
            .get(client, "/api/v1/query", &[("query", promql)])
            .await;
        data["result"].as_array().cloned().unwrap_or_default()
    }

    /// The value of an instant query that returns one sample, if it does.
    #[allow(dead_code)]
    pub async fn query_value(&self, client: &Client, promql: &str) -> Option<f64> {
        let result = self.query(client, promql).await;
        let [sample] = result.as_slice() else {
            return None;
        };
        sample["value"][1].as_str()?.parse().ok()
    }

    /// Polls until `condition` holds for what `probe` returns; panics at the deadline.
    #[allow(dead_code)]
    pub async fn wait_for<T: std::fmt::Debug>(
        &self,
        what: &str,
        deadline: Instant,
        mut probe: impl AsyncFnMut() -> T,
        condition: impl Fn(&T) -> bool,
    ) -> T {
        loop {
            let value = probe().await;
            if condition(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last: {value:?}\nPrometheus log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// `promtool check metrics` on `exposition`: panics unless it passes without a lint warning.
#[allow(dead_code)]
pub fn promtool_check_metrics(exposition: &[u8]) {
    let mut promtool = handler_metrics_tests::promtool!()
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(exposition)
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{report}"
    );
    assert_eq!(
        report.trim(),
        "",
        "promtool check metrics warned:\n{report}"
    );
}

/// A Prometheus config in `dir` (JSON is YAML): scrape `target` every second with the bearer
/// token `token` (kept in a file), evaluate `rules` (written to a file) every second.
#[allow(dead_code)]
pub fn config_with_rules(dir: &Path, target: &str, token: &str, rules: &str) -> PathBuf {
    let rules_file = dir.join("slo.rules.yml");
    fs::write(&rules_file, rules).unwrap();
    let token_file = dir.join("token");
    fs::write(&token_file, token).unwrap();
    let config = serde_json::json!({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [rules_file],
        "scrape_configs": [{
            "job_name": "rucio-jupyterlab",
            "authorization": {"type": "Bearer", "credentials_file": token_file},
            "static_configs": [{"targets": [target]}],
        }],
    });
    let config_file = dir.join("prometheus.yml");
    fs::write(&config_file, config.to_string()).unwrap();
    config_file
}
