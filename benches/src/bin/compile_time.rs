//! What the attributes cost at compile time: a crate of 200 async handlers under
//! `#[authenticated] #[prometheus_metrics]`, against the same 200 handlers under
//! `#[tracing::instrument(skip(req))]` with the auth check written by hand. Both crates are
//! written into a scratch workspace, built once (dependencies included), then each is rebuilt
//! after touching its first line, alternately, and the median rebuild times are printed with
//! their ratio. Debug profile, as in an edit-compile loop: once with incremental compilation
//! (cargo's default there), once without (`CARGO_INCREMENTAL=0`, the whole crate again, as CI
//! and release-like builds do).
//!
//! ```sh
//! cargo run -p handler-metrics-benches --bin compile_time -- [--runs N] [--handlers N]
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};
use std::{env, fs};

const USAGE: &str = "usage: compile_time [--runs N] [--handlers N] [--keep DIR]";

struct Options {
    runs: usize,
    handlers: usize,
    keep: Option<PathBuf>,
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("compile_time: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        runs: 7,
        handlers: 200,
        keep: None,
    };
    let mut args = env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--runs" => options.runs = value.parse().map_err(|_| format!("bad --runs {value}"))?,
            "--handlers" => {
                options.handlers = value
                    .parse()
                    .map_err(|_| format!("bad --handlers {value}"))?;
            }
            "--keep" => options.keep = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if options.runs == 0 || options.handlers == 0 {
        return Err("--runs and --handlers must be at least 1".to_owned());
    }
    Ok(options)
}

fn run(options: &Options) -> Result<(), String> {
    let runtime = Path::new(env!("CARGO_MANIFEST_DIR")).join("../metrics-runtime");
    let runtime = runtime.canonicalize().map_err(|e| e.to_string())?;
    let dir = match &options.keep {
        Some(dir) => dir.clone(),
        None => env::temp_dir().join(format!("compile_time_{}", std::process::id())),
    };
    write_workspace(&dir, &runtime, options.handlers).map_err(|e| e.to_string())?;
    println!(
        "{} async handlers, debug rebuild after touching the crate, median of {} runs:",
        options.handlers, options.runs
    );
    for incremental in [true, false] {
        // Dependencies and both crates once, untimed.
        cargo_build(&dir, "ours", incremental)?;
        cargo_build(&dir, "traced", incremental)?;
        let (mut ours, mut traced) = (Vec::new(), Vec::new());
        for _ in 0..options.runs {
            ours.push(touch_and_rebuild(&dir, "ours", incremental)?);
            traced.push(touch_and_rebuild(&dir, "traced", incremental)?);
        }
        let (ours, traced) = (median(&mut ours), median(&mut traced));
        let mode = if incremental {
            "incremental"
        } else {
            "CARGO_INCREMENTAL=0"
        };
        println!(
            "  {mode:<20} ours {:>6.2} s   tracing {:>6.2} s   ratio {:.2}",
            ours.as_secs_f64(),
            traced.as_secs_f64(),
            ours.as_secs_f64() / traced.as_secs_f64()
        );
    }
    if options.keep.is_none() {
        let _ = fs::remove_dir_all(&dir);
    }
    Ok(())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn touch_and_rebuild(dir: &Path, package: &str, incremental: bool) -> Result<Duration, String> {
    let lib = dir.join(package).join("src/lib.rs");
    let source = fs::read_to_string(&lib).map_err(|e| e.to_string())?;
    // A changed comment: the crate is compiled again, its dependencies are not.
    let stamp = format!("// touched {:?}\n", Instant::now());
    let body = source.split_once('\n').map_or("", |(_, rest)| rest);
    fs::write(&lib, format!("{stamp}{body}")).map_err(|e| e.to_string())?;
    let start = Instant::now();
    cargo_build(dir, package, incremental)?;
    Ok(start.elapsed())
}

fn cargo_build(dir: &Path, package: &str, incremental: bool) -> Result<(), String> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["build", "--quiet", "-p", package])
        .current_dir(dir)
        .env_remove("RUSTFLAGS")
        .env("CARGO_INCREMENTAL", if incremental { "1" } else { "0" })
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "building {package} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

fn write_workspace(dir: &Path, runtime: &Path, handlers: usize) -> std::io::Result<()> {
    fs::create_dir_all(dir.join("ours/src"))?;
    fs::create_dir_all(dir.join("traced/src"))?;
    fs::write(
        dir.join("Cargo.toml"),
        "[workspace]\nmembers = [\"ours\", \"traced\"]\nresolver = \"3\"\n",
    )?;
    fs::write(
        dir.join("ours/Cargo.toml"),
        format!(
            "[package]\nname = \"ours\"\nedition = \"2024\"\n\n[dependencies]\n\
             handler-metrics-runtime = {{ path = {:?} }}\n",
            runtime.display().to_string()
        ),
    )?;
    fs::write(
        dir.join("traced/Cargo.toml"),
        "[package]\nname = \"traced\"\nedition = \"2024\"\n\n[dependencies]\ntracing = \"0.1\"\n",
    )?;
    fs::write(dir.join("ours/src/lib.rs"), crate_source(handlers, true))?;
    fs::write(dir.join("traced/src/lib.rs"), crate_source(handlers, false))?;
    Ok(())
}

/// The same handlers, request type and caller in both crates; only the attributes and the auth
/// check differ.
fn crate_source(handlers: usize, ours: bool) -> String {
    let mut source = String::from("// touched never\n");
    source.push_str(
        "#[derive(Debug)]\npub enum ApiError { Forbidden, NotFound }\n\n\
         pub struct Request { pub token: Option<String> }\n\n",
    );
    if ours {
        source.push_str(
            "impl metrics_runtime::Authenticate for Request {\n    type Rejection = ApiError;\n    \
             fn authenticate(&self) -> Result<(), ApiError> {\n        \
             if self.token.as_deref() == Some(\"secret\") { Ok(()) } else { Err(ApiError::Forbidden) }\n    }\n}\n\n",
        );
    } else {
        source.push_str(
            "impl Request {\n    fn authenticate(&self) -> Result<(), ApiError> {\n        \
             if self.token.as_deref() == Some(\"secret\") { Ok(()) } else { Err(ApiError::Forbidden) }\n    }\n}\n\n",
        );
    }
    for index in 0..handlers {
        let (attributes, check) = if ours {
            (
                "#[metrics_runtime::authenticated]\n#[metrics_runtime::prometheus_metrics]\n",
                "",
            )
        } else {
            (
                "#[tracing::instrument(skip(req))]\n",
                "    req.authenticate()?;\n",
            )
        };
        let _ = write!(
            source,
            "{attributes}async fn handler_{index}(req: &Request, id: u32) -> Result<String, ApiError> {{\n\
             {check}    if id == {index} {{\n        return Err(ApiError::NotFound);\n    }}\n    \
             Ok(format!(\"{{id}} from {index}\"))\n}}\n\n"
        );
    }
    // What a server's router does: every handler's future is polled, so each is compiled down
    // to machine code, not only checked.
    source.push_str(
        "pub fn poll_all(req: &Request, id: u32) -> usize {\n    \
         let mut cx = std::task::Context::from_waker(std::task::Waker::noop());\n    let mut ready = 0;\n",
    );
    for index in 0..handlers {
        let _ = writeln!(
            source,
            "    ready += usize::from(std::pin::pin!(handler_{index}(req, id)).poll(&mut cx).is_ready());"
        );
    }
    source.push_str("    ready\n}\n");
    source
}
