//! `cargo run`: the demo server on 127.0.0.1:8888. The first line it prints is the address it
//! really listens on (useful with `--addr 127.0.0.1:0`).

use std::error::Error;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use handler_metrics_demo::{self as demo, App, Token};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const USAGE: &str = "\
usage: handler-metrics-demo [--addr HOST:PORT] [--token TOKEN] [--metrics-public]
                            [--shutdown-timeout SECONDS] [--request-timeout SECONDS]
                            [--rucio-latency-ms MS] [--signed-out] [--native-histograms]
       handler-metrics-demo [--native-histograms] --print-alert-rules
       handler-metrics-demo [--native-histograms] --print-dashboard

  --addr HOST:PORT            where to listen (env DEMO_ADDR; default 127.0.0.1:8888; port 0:
                              any free one)
  --token TOKEN               the access token (env DEMO_TOKEN; default: a random one, printed)
  --metrics-public            serve /metrics without the token
  --shutdown-timeout SECONDS  after Ctrl-C or SIGTERM, how long requests in flight may take
                              before the server exits anyway, with status 1
                              (env DEMO_SHUTDOWN_TIMEOUT; default 10)
  --request-timeout SECONDS   past it, a request is answered 504 and counts as an error of
                              its handler (env DEMO_REQUEST_TIMEOUT; default 10; above 0)
  --rucio-latency-ms MS       how long a simulated Rucio call takes (env DEMO_RUCIO_LATENCY_MS;
                              default 5)
  --signed-out                start with no Rucio credentials stored: every route behind
                              upstream's gate answers 401 until `auth` stores some
                              (env DEMO_SIGNED_OUT=1; default: stored for both instances)
  --native-histograms         add native histograms to the latency histograms, served in the
                              protobuf format a Prometheus with
                              --enable-feature=native-histograms asks for; with
                              --print-alert-rules, rules that read either kind; with
                              --print-dashboard, latency panels that read either kind
                              (env DEMO_NATIVE_HISTOGRAMS=1)
  --print-alert-rules         print the Prometheus rules of the handlers' service-level
                              objectives (YAML) and exit
  --print-dashboard           print the Grafana dashboard of the handlers and objectives
                              (JSON, reading the series those rules record) and exit
";

const DEFAULT_ADDR: &str = "127.0.0.1:8888";

const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, PartialEq)]
struct Args {
    addr: String,
    token: Option<String>,
    metrics_public: bool,
    shutdown_timeout: Duration,
    request_timeout: Duration,
    rucio_latency: Duration,
    print_alert_rules: bool,
    /// `--print-dashboard`.
    print_dashboard: bool,
    /// `--signed-out`: no Rucio credentials stored at start.
    signed_out: bool,
    /// `--native-histograms`.
    native_histograms: bool,
}

/// `source` (a flag or a variable) names the culprit in the error.
fn seconds(source: &str, value: &str) -> Result<Duration, String> {
    value
        .parse()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| format!("{source} needs a number of seconds, got {value:?}"))
}

/// A request timeout: seconds, and more than none (0 would answer every request 504).
fn timeout(source: &str, value: &str) -> Result<Duration, String> {
    let timeout = seconds(source, value)?;
    if timeout.is_zero() {
        return Err(format!("{source} needs more than 0 seconds, got {value:?}"));
    }
    Ok(timeout)
}

fn milliseconds(source: &str, value: &str) -> Result<Duration, String> {
    value
        .parse()
        .map(Duration::from_millis)
        .map_err(|_| format!("{source} needs a whole number of milliseconds, got {value:?}"))
}

/// `Ok(None)` means `--help`. Flags win over the environment.
fn parse_args(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        addr: env("DEMO_ADDR").unwrap_or_else(|| DEFAULT_ADDR.to_owned()),
        token: env("DEMO_TOKEN"),
        metrics_public: false,
        shutdown_timeout: env("DEMO_SHUTDOWN_TIMEOUT")
            .map(|value| seconds("DEMO_SHUTDOWN_TIMEOUT", &value))
            .transpose()?
            .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT),
        request_timeout: env("DEMO_REQUEST_TIMEOUT")
            .map(|value| timeout("DEMO_REQUEST_TIMEOUT", &value))
            .transpose()?
            .unwrap_or(demo::REQUEST_TIMEOUT),
        rucio_latency: env("DEMO_RUCIO_LATENCY_MS")
            .map(|value| milliseconds("DEMO_RUCIO_LATENCY_MS", &value))
            .transpose()?
            .unwrap_or(demo::RUCIO_LATENCY),
        print_alert_rules: false,
        print_dashboard: false,
        signed_out: env("DEMO_SIGNED_OUT").is_some_and(|value| value == "1"),
        native_histograms: env("DEMO_NATIVE_HISTOGRAMS").is_some_and(|value| value == "1"),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value = || {
            inline_value
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--addr" => parsed.addr = value()?,
            "--token" => parsed.token = Some(value()?),
            "--metrics-public" if inline_value.is_none() => parsed.metrics_public = true,
            "--print-alert-rules" if inline_value.is_none() => parsed.print_alert_rules = true,
            "--print-dashboard" if inline_value.is_none() => parsed.print_dashboard = true,
            "--signed-out" if inline_value.is_none() => parsed.signed_out = true,
            "--native-histograms" if inline_value.is_none() => parsed.native_histograms = true,
            "--shutdown-timeout" => parsed.shutdown_timeout = seconds(&flag, &value()?)?,
            "--request-timeout" => parsed.request_timeout = timeout(&flag, &value()?)?,
            "--rucio-latency-ms" => parsed.rucio_latency = milliseconds(&flag, &value()?)?,
            "-h" | "--help" => return Ok(None),
            _ => return Err(format!("unexpected argument {flag:?}")),
        }
    }
    Ok(Some(parsed))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.print_alert_rules {
        return print_alert_rules(args.native_histograms);
    }
    if args.print_dashboard {
        return print_dashboard(args.native_histograms);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args));
    // Requests still running past the shutdown deadline are abandoned, not waited for.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The rules name the demo's namespace, which installing its metrics configuration sets.
fn print_alert_rules(native_histograms: bool) -> ExitCode {
    if let Err(error) = demo::install_metrics(native_histograms) {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    print!("{}", metrics_runtime::alert_rules());
    ExitCode::SUCCESS
}

/// The dashboard names the namespace too, and its latency panels follow the histogram kind.
fn print_dashboard(native_histograms: bool) -> ExitCode {
    if let Err(error) = demo::install_metrics(native_histograms) {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    // The server runs behind the edge layer: its panels belong on the dashboard.
    metrics_runtime::EdgeLayer::new();
    print!("{}", metrics_runtime::dashboard());
    ExitCode::SUCCESS
}

async fn run(args: Args) -> Result<(), Box<dyn Error + Send + Sync>> {
    let token = match args.token {
        Some(token) => Token::new(token).map_err(|reason| format!("invalid token: {reason}"))?,
        None => Token::generate()?,
    };
    demo::install_metrics(args.native_histograms)?;
    let listener = TcpListener::bind(&args.addr)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", args.addr))?;
    let addr = listener.local_addr()?;
    print_banner(addr, &token, args.metrics_public, args.shutdown_timeout);
    let app = App::with_options(
        token,
        args.metrics_public,
        args.rucio_latency,
        !args.signed_out,
    );
    let (signalled, on_signal) = oneshot::channel();
    let server = axum::serve(
        listener,
        demo::router_with_timeout(app, args.request_timeout),
    )
    .with_graceful_shutdown(async {
        shutdown_signal().await;
        let _ = signalled.send(());
    })
    .into_future();
    let mut server = std::pin::pin!(server);
    tokio::select! {
        result = &mut server => result?,
        Ok(()) = on_signal => {
            let deadline = args.shutdown_timeout;
            eprintln!("shutting down: waiting up to {deadline:?} for the requests in flight");
            tokio::time::timeout(deadline, server).await.map_err(|_| {
                format!("requests still in flight after the {deadline:?} deadline; stopped anyway")
            })??;
        }
    }
    eprintln!("stopped");
    Ok(())
}

fn print_banner(addr: SocketAddr, token: &Token, metrics_public: bool, shutdown_timeout: Duration) {
    let base = format!("http://{addr}");
    let api = demo::API_PREFIX;
    let metrics_access = if metrics_public {
        "public"
    } else {
        "token required"
    };
    // Single quotes for the shell; a token may contain any visible character, `'` included.
    let header = format!("Authorization: token {}", token.as_str()).replace('\'', r"'\''");
    println!("listening on {base}");
    println!("  API:     {base}{api}/instances, {base}{api}/list-scopes?namespace=atlas, …");
    println!("  metrics: {base}/metrics ({metrics_access})");
    println!("  token:   {}", token.as_str());
    println!("  try:     curl -H '{header}' {base}{api}/instances");
    println!(
        "Ctrl-C or SIGTERM stops the server after the requests in flight, or after \
         {shutdown_timeout:?}."
    );
}

/// Resolves on Ctrl-C or SIGTERM; `axum::serve` then stops accepting and drains.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            eprintln!("warning: cannot listen for Ctrl-C: {error}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(error) => {
                eprintln!("warning: cannot listen for SIGTERM: {error}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Option<Args>, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_args(args.iter().map(|a| a.to_string()), |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_environment_and_flags() {
        let defaults = parse(&[], &[]).unwrap().unwrap();
        assert_eq!(
            defaults,
            Args {
                addr: DEFAULT_ADDR.to_owned(),
                token: None,
                metrics_public: false,
                shutdown_timeout: Duration::from_secs(10),
                request_timeout: Duration::from_secs(10),
                rucio_latency: Duration::from_millis(5),
                print_alert_rules: false,
                print_dashboard: false,
                signed_out: false,
                native_histograms: false,
            }
        );
        let env = [
            ("DEMO_ADDR", "0.0.0.0:9000"),
            ("DEMO_TOKEN", "from-env"),
            ("DEMO_SHUTDOWN_TIMEOUT", "2.5"),
            ("DEMO_RUCIO_LATENCY_MS", "40"),
            ("DEMO_NATIVE_HISTOGRAMS", "1"),
            ("DEMO_REQUEST_TIMEOUT", "0.5"),
        ];
        let from_env = parse(&[], &env).unwrap().unwrap();
        assert_eq!(from_env.addr, "0.0.0.0:9000");
        assert_eq!(from_env.token.as_deref(), Some("from-env"));
        assert_eq!(from_env.shutdown_timeout, Duration::from_millis(2500));
        assert_eq!(from_env.rucio_latency, Duration::from_millis(40));
        assert!(from_env.native_histograms);
        assert_eq!(from_env.request_timeout, Duration::from_millis(500));
        let flags = parse(
            &[
                "--addr",
                "127.0.0.1:0",
                "--token=t",
                "--metrics-public",
                "--shutdown-timeout",
                "0",
                "--rucio-latency-ms=60000",
                "--request-timeout",
                "2",
            ],
            &env[..4],
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            flags,
            Args {
                addr: "127.0.0.1:0".to_owned(),
                token: Some("t".to_owned()),
                metrics_public: true,
                shutdown_timeout: Duration::ZERO,
                request_timeout: Duration::from_secs(2),
                rucio_latency: Duration::from_secs(60),
                print_alert_rules: false,
                print_dashboard: false,
                signed_out: false,
                native_histograms: false,
            }
        );
    }

    #[test]
    fn help_and_mistakes() {
        assert_eq!(parse(&["--help"], &[]), Ok(None));
        assert!(
            parse(&["--addr"], &[])
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(parse(&["--port", "1"], &[]).is_err());
        assert!(parse(&["--metrics-public=yes"], &[]).is_err());
        let print = parse(&["--print-alert-rules"], &[]).unwrap().unwrap();
        assert!(print.print_alert_rules);
        assert!(parse(&["--print-alert-rules=yes"], &[]).is_err());
        let print = parse(&["--print-dashboard"], &[]).unwrap().unwrap();
        assert!(print.print_dashboard && !print.print_alert_rules);
        assert!(parse(&["--print-dashboard=yes"], &[]).is_err());
        assert!(
            parse(&["--native-histograms"], &[])
                .unwrap()
                .unwrap()
                .native_histograms
        );
        assert!(parse(&["--native-histograms=1"], &[]).is_err());
    }

    #[test]
    fn bad_durations_are_errors_naming_their_source() {
        for value in ["", "ten", "-1", "NaN", "inf", "1e30"] {
            let error = parse(&["--shutdown-timeout", value], &[]).unwrap_err();
            assert!(error.starts_with("--shutdown-timeout needs"), "{error}");
            let env = [("DEMO_SHUTDOWN_TIMEOUT", value)];
            let error = parse(&[], &env).unwrap_err();
            assert!(error.starts_with("DEMO_SHUTDOWN_TIMEOUT needs"), "{error}");
        }
        for value in ["", "1.5", "-5", "5ms", "99999999999999999999"] {
            let error = parse(&[&format!("--rucio-latency-ms={value}")], &[]).unwrap_err();
            assert!(error.starts_with("--rucio-latency-ms needs"), "{error}");
            let env = [("DEMO_RUCIO_LATENCY_MS", value)];
            let error = parse(&[], &env).unwrap_err();
            assert!(error.starts_with("DEMO_RUCIO_LATENCY_MS needs"), "{error}");
        }
        for value in ["0", "0.0", "ten", "-1"] {
            let error = parse(&["--request-timeout", value], &[]).unwrap_err();
            assert!(error.starts_with("--request-timeout needs"), "{error}");
            let env = [("DEMO_REQUEST_TIMEOUT", value)];
            let error = parse(&[], &env).unwrap_err();
            assert!(error.starts_with("DEMO_REQUEST_TIMEOUT needs"), "{error}");
        }
        assert!(
            parse(&["--shutdown-timeout"], &[])
                .unwrap_err()
                .contains("needs a value")
        );
    }
}
