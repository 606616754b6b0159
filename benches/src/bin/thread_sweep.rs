//! Many threads calling one trivial handler at once: 1, 2, 4, … 256 threads, each making the same
//! number of calls. For each variant it prints the ns per call each thread sees on its own clock
//! and the calls per second of all threads together, then checks that the runtime counted every
//! call exactly, and exits non-zero if not.
//!
//! ```sh
//! cargo run -p handler-metrics-benches --release --bin thread_sweep -- [--calls N] [--threads 1,2]
//! HANDLER_METRICS_SHARDS=2 target/release/thread_sweep   # two initial leases: the growth path
//! ```
//!
//! A release binary needs no toolchain where it runs: copy `target/release/thread_sweep`.

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use handler_metrics_benches::{
    HAND_COUNTER, HAND_HISTOGRAM, Handler, bare, hand_written, poll_ready,
};

handler_metrics_benches::measured_handlers!();

const USAGE: &str = "usage: thread_sweep [--calls N] [--threads 1,2,4,...]";
/// Calls per thread: the default sweep takes about a minute on 2 cores.
const DEFAULT_CALLS: u64 = 1_000_000;
const DEFAULT_THREADS: [usize; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/// Reads back the calls a variant counted: its request counter and its histogram's count.
type Counted = fn() -> Result<[u64; 2], String>;

/// A variant: its name, the call, and how to read back the number of calls it counted.
struct Variant {
    name: &'static str,
    call: Handler,
    counted: Option<Counted>,
}

const VARIANTS: [Variant; 4] = [
    Variant {
        name: "bare",
        call: bare,
        counted: None,
    },
    Variant {
        name: "ours sync",
        call: |x| ours_sync(x).unwrap_or(0),
        counted: Some(|| ours_counted("ours_sync")),
    },
    Variant {
        name: "ours async",
        call: |x| poll_ready(ours_async(x)).unwrap_or(0),
        counted: Some(|| ours_counted("ours_async")),
    },
    Variant {
        name: "hand-written",
        call: hand_written,
        counted: Some(|| Ok([HAND_COUNTER.get(), HAND_HISTOGRAM.get_sample_count()])),
    },
];

/// `handler_requests_total` and the latency histogram's `_count` of `handler`, from a scrape.
fn ours_counted(handler: &str) -> Result<[u64; 2], String> {
    let text = metrics_runtime::gather();
    let label = format!("handler=\"{handler}\"");
    let value = |family: &str| {
        let line = text
            .lines()
            .find(|line| {
                line.strip_prefix(family)
                    .is_some_and(|rest| rest.starts_with('{') && rest.contains(&label))
            })
            .ok_or_else(|| format!("no {family}{{{label}}} in the scrape"))?;
        let value = line.rsplit(' ').next().unwrap_or_default();
        value
            .parse::<u64>()
            .map_err(|error| format!("{line:?}: {error}"))
    };
    Ok([
        value("handler_requests_total")?,
        value("handler_request_latency_seconds_count")?,
    ])
}

struct Measured {
    /// Mean over the threads of each thread's own time per call.
    thread_ns: f64,
    /// All threads' calls over the time from the first thread's start to the last one's end.
    total_mcalls: f64,
}

/// `threads` threads each make one warm-up call (which leases a shard), wait for each other,
/// then make `calls` calls of `call`, timing themselves.
fn run(call: Handler, threads: usize, calls: u64) -> Measured {
    let arrived = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let arrived = Arc::clone(&arrived);
            std::thread::spawn(move || {
                black_box(call(0));
                // Yielding rather than blocking: a thread woken from a barrier can start
                // milliseconds late on an idle virtual CPU, longer than a short row runs.
                arrived.fetch_add(1, Ordering::AcqRel);
                while arrived.load(Ordering::Acquire) < threads {
                    std::thread::yield_now();
                }
                let start = Instant::now();
                let mut x = 0;
                for _ in 0..calls {
                    x = call(x);
                }
                black_box(x);
                (start, Instant::now())
            })
        })
        .collect();
    let spans: Vec<(Instant, Instant)> = workers
        .into_iter()
        .map(|worker| worker.join().expect("benchmark thread"))
        .collect();
    let first = spans.iter().map(|&(start, _)| start).min();
    let last = spans.iter().map(|&(_, end)| end).max();
    let wall = match (first, last) {
        (Some(first), Some(last)) => (last - first).as_secs_f64(),
        _ => 0.0,
    };
    let thread_ns = spans
        .iter()
        .map(|&(start, end)| (end - start).as_secs_f64() * 1e9 / calls as f64)
        .sum::<f64>()
        / threads as f64;
    Measured {
        thread_ns,
        total_mcalls: (threads as u64 * calls) as f64 / wall / 1e6,
    }
}

fn parse_args() -> Result<(u64, Vec<usize>), String> {
    let mut calls = DEFAULT_CALLS;
    let mut threads = DEFAULT_THREADS.to_vec();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--calls" => {
                calls = value()?
                    .parse()
                    .map_err(|error| format!("--calls: {error}"))?;
            }
            "--threads" => {
                threads = value()?
                    .split(',')
                    .map(|count| count.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|error| format!("--threads: {error}"))?;
            }
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if calls == 0 || threads.contains(&0) {
        return Err(format!("calls and thread counts must be positive\n{USAGE}"));
    }
    Ok((calls, threads))
}

fn main() -> ExitCode {
    let (calls, sweep) = match parse_args() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let knob = std::env::var("HANDLER_METRICS_SHARDS").unwrap_or_else(|_| "unset".into());
    println!("{cores} CPUs, {calls} calls per thread, HANDLER_METRICS_SHARDS={knob}");
    println!(
        "cost = min(threads, CPUs) / total calls per second: ns per call from the total rate\n"
    );

    let mut header = String::from("| threads |");
    let mut rule = String::from("|---:|");
    for variant in &VARIANTS {
        header += &format!(" {0} ns/call/thread | {0} Mcalls/s |", variant.name);
        rule += "---:|---:|";
    }
    println!("{header} ours sync cost | ours async cost | hand-written cost | counts |");
    println!("{rule}---:|---:|---:|---|");

    let mut expected = [0u64; VARIANTS.len()];
    let mut one_thread_cost: [Option<f64>; VARIANTS.len()] = [None; VARIANTS.len()];
    let mut all_exact = true;
    for &threads in &sweep {
        let mut row = format!("| {threads} |");
        let mut costs = String::new();
        let mut verdicts = Vec::new();
        for (index, variant) in VARIANTS.iter().enumerate() {
            let measured = run(variant.call, threads, calls);
            row += &format!(
                " {:.1} | {:.1} |",
                measured.thread_ns, measured.total_mcalls
            );
            let cost = threads.min(cores) as f64 * 1e3 / measured.total_mcalls;
            if index > 0 {
                let base = *one_thread_cost[index].get_or_insert(cost);
                costs += &format!(" {cost:.1} ns ({:.2} ×) |", cost / base);
            }
            let Some(counted) = variant.counted else {
                continue;
            };
            // The warm-up call, then the timed ones.
            expected[index] += threads as u64 * (calls + 1);
            match counted() {
                Ok(counts) if counts == [expected[index]; 2] => {}
                Ok(counts) => {
                    all_exact = false;
                    verdicts.push(format!(
                        "{}: {counts:?}, expected {}",
                        variant.name, expected[index]
                    ));
                }
                Err(error) => {
                    all_exact = false;
                    verdicts.push(format!("{}: {error}", variant.name));
                }
            }
        }
        let verdict = if verdicts.is_empty() {
            "exact".to_owned()
        } else {
            format!("OFF: {}", verdicts.join("; "))
        };
        println!("{row}{costs} {verdict} |");
    }
    println!("\n(the first row's cost is the one-thread reference for the ratios)");
    if all_exact {
        ExitCode::SUCCESS
    } else {
        eprintln!("some counts were not exact");
        ExitCode::FAILURE
    }
}
