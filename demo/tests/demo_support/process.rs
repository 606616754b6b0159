//! Child processes of the end-to-end tests (the demo binary, Prometheus): killed and reaped
//! when dropped, whatever happens to the test.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a demo may take to print its address or to stop after a signal.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Process {
    child: Child,
    name: String,
}

impl Process {
    pub fn spawn(name: &str, command: &mut Command) -> Process {
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
        Process {
            child,
            name: name.to_owned(),
        }
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Sends `signal` (`"TERM"`, `"INT"`) and waits (bounded) for the process to exit by itself.
    pub fn stop(mut self, signal: &str) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status();
        assert!(
            sent.is_ok_and(|status| status.success()),
            "kill -{signal} {pid} ({}) failed",
            self.name
        );
        let deadline = Instant::now() + PROCESS_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {PROCESS_TIMEOUT:?} of SIG{signal}",
                self.name
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What the demo binary prints with `flags` (`--print-alert-rules`, `--print-dashboard`, …).
#[allow(dead_code)]
pub fn printed(flags: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_handler-metrics-demo"))
        .args(flags)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// A running demo binary, with the address it printed.
pub struct Demo {
    pub process: Process,
    pub addr: SocketAddr,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Demo {
    /// Starts `handler-metrics-demo --addr 127.0.0.1:0` plus `args`, and reads the address from
    /// its first line.
    pub fn spawn(args: &[&str]) -> Demo {
        let mut command = Command::new(env!("CARGO_BIN_EXE_handler-metrics-demo"));
        command
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env_remove("DEMO_ADDR")
            .env_remove("DEMO_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut process = Process::spawn("handler-metrics-demo", &mut command);
        let (sender, stdout) = mpsc::channel();
        let out = BufReader::new(process.child.stdout.take().unwrap());
        thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = process.child.stderr.take().unwrap();
        let collected = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            collected.lock().unwrap().push_str(&text);
        });
        let mut demo = Demo {
            process,
            addr: ([0, 0, 0, 0], 0).into(),
            stdout,
            stderr,
        };
        let first = demo.line();
        let addr = first
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("first line does not give the address: {first:?}"));
        demo.addr = addr.parse().unwrap();
        demo
    }

    /// The next line the demo printed (bounded wait).
    pub fn line(&mut self) -> String {
        match self.stdout.recv_timeout(PROCESS_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "no line from the demo within {PROCESS_TIMEOUT:?} (exit: {:?}); stderr:\n{}",
                    self.process.exited(),
                    self.stderr.lock().unwrap()
                )
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}
