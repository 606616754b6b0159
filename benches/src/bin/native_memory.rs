//! Memory of native histograms per series at 1, 16 and 256 threads: each thread makes 100 calls
//! of its row's handler, with latencies spread log-uniformly from 10 µs to 100 ms (14 octaves,
//! ~110 buckets at schema 3), and the row prints the bytes that series' native buckets hold.
//! Each row checks that the series counted every call.
//!
//! `cargo run -p handler-metrics-benches --features native-histograms --release --bin native_memory`

use std::process::ExitCode;
use std::time::Duration;

use metrics_runtime::{Config, NativeHistograms, prometheus_metrics};

const CALLS: u64 = 100;

/// Threads, the handler's name, the handler.
type Row = (usize, &'static str, fn(Duration));

/// A pseudo-random latency from 10 µs to 100 ms, log-uniform (xorshift: no dependency).
fn latency(state: &mut u64) -> Duration {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let unit = (*state >> 11) as f64 / (1u64 << 53) as f64;
    Duration::from_secs_f64(1e-5 * 1e4f64.powf(unit))
}

#[prometheus_metrics]
fn one_thread(wait: Duration) {
    std::thread::sleep(wait);
}

#[prometheus_metrics]
fn sixteen_threads(wait: Duration) {
    std::thread::sleep(wait);
}

#[prometheus_metrics]
fn many_threads(wait: Duration) {
    std::thread::sleep(wait);
}

fn main() -> ExitCode {
    Config::new()
        .native_histograms(NativeHistograms::new())
        .install()
        .expect("the first configuration of this program");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("{cores} CPUs; schema 3; {CALLS} calls per thread, 10 µs to 100 ms\n");
    println!("| threads | native bytes of the series | bytes per thread | calls counted |");
    println!("|---:|---:|---:|---|");
    let rows: [Row; 3] = [
        (1, "one_thread", one_thread),
        (16, "sixteen_threads", sixteen_threads),
        (256, "many_threads", many_threads),
    ];
    let mut exact = true;
    for (threads, name, handler) in rows {
        let before = metrics_runtime::__private::native_histogram_bytes();
        std::thread::scope(|scope| {
            for thread in 0..threads {
                scope.spawn(move || {
                    let mut state = 0x9E37_79B9_7F4A_7C15 ^ (thread as u64 + 1);
                    for _ in 0..CALLS {
                        handler(latency(&mut state));
                    }
                });
            }
        });
        let bytes = metrics_runtime::__private::native_histogram_bytes() - before;
        let expected = threads as u64 * CALLS;
        let scrape = metrics_runtime::gather();
        let prefix = format!("handler_request_latency_seconds_count{{handler=\"{name}\"");
        let counted: u64 = scrape
            .lines()
            .find(|line| line.starts_with(&prefix))
            .and_then(|line| line.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0);
        let verdict = if counted == expected {
            format!("{counted} exact")
        } else {
            exact = false;
            format!("{counted} of {expected}: WRONG")
        };
        println!("| {threads} | {bytes} | {} | {verdict} |", bytes / threads);
    }
    if exact {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
