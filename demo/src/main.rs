//! `cargo run`: the demo server on 127.0.0.1:8888. The first line it prints is the address it
//! really listens on (useful with `--addr 127.0.0.1:0`).

use std::error::Error;
use std::net::SocketAddr;
use std::process::ExitCode;

use handler_metrics_demo::{self as demo, App, Token};
use tokio::net::TcpListener;

const USAGE: &str = "\
usage: handler-metrics-demo [--addr HOST:PORT] [--token TOKEN] [--metrics-public]

  --addr HOST:PORT   where to listen (env DEMO_ADDR; default 127.0.0.1:8888; port 0: any free one)
  --token TOKEN      the access token (env DEMO_TOKEN; default: a random one, printed)
  --metrics-public   serve /metrics without the token
";

const DEFAULT_ADDR: &str = "127.0.0.1:8888";

#[derive(Debug, PartialEq)]
struct Args {
    addr: String,
    token: Option<String>,
    metrics_public: bool,
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
            "-h" | "--help" => return Ok(None),
            _ => return Err(format!("unexpected argument {flag:?}")),
        }
    }
    Ok(Some(parsed))
}

#[tokio::main]
async fn main() -> ExitCode {
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
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn Error + Send + Sync>> {
    let token = match args.token {
        Some(token) => Token::new(token).map_err(|reason| format!("invalid token: {reason}"))?,
        None => Token::generate()?,
    };
    demo::install_metrics()?;
    let listener = TcpListener::bind(&args.addr)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", args.addr))?;
    print_banner(listener.local_addr()?, &token, args.metrics_public);
    let app = demo::router(App::new(token, args.metrics_public));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    eprintln!("stopped");
    Ok(())
}

fn print_banner(addr: SocketAddr, token: &Token, metrics_public: bool) {
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
    println!("Ctrl-C or SIGTERM stops the server after the requests in flight.");
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
    eprintln!("shutting down");
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
                metrics_public: false
            }
        );
        let env = [("DEMO_ADDR", "0.0.0.0:9000"), ("DEMO_TOKEN", "from-env")];
        let from_env = parse(&[], &env).unwrap().unwrap();
        assert_eq!(from_env.addr, "0.0.0.0:9000");
        assert_eq!(from_env.token.as_deref(), Some("from-env"));
        let flags = parse(
            &["--addr", "127.0.0.1:0", "--token=t", "--metrics-public"],
            &env,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            flags,
            Args {
                addr: "127.0.0.1:0".to_owned(),
                token: Some("t".to_owned()),
                metrics_public: true
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
    }
}
