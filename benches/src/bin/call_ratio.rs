//! The cost of one call of a measured handler over that of the hand-written optimum, measured
//! side by side in one process: rounds of 200,000 calls of each, in turn (ABBA, so a drift of
//! the machine's speed weighs on both alike), and the ratio of each round's two times. It
//! prints the median ratio and its quartiles: on a shared machine whose speed wanders from one
//! second to the next, the ratio within a round is steadier than two medians taken apart.
//!
//! `cargo run -p handler-metrics-benches --release --bin call_ratio` (classic buckets), or with
//! `--features native-histograms` and `-- --native` (native histograms on).

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use handler_metrics_benches::{Handler, hand_written};
use metrics_runtime::Config;

handler_metrics_benches::measured_handlers!();

const CALLS_PER_ROUND: u64 = 200_000;
const ROUNDS: usize = 200;

fn ours(x: u64) -> u64 {
    ours_sync(x).unwrap_or(0)
}

/// Seconds for `CALLS_PER_ROUND` calls of `call`.
fn time(call: Handler) -> f64 {
    let start = Instant::now();
    let mut x = 0;
    for _ in 0..CALLS_PER_ROUND {
        x = call(x);
    }
    black_box(x);
    start.elapsed().as_secs_f64()
}

/// The value at `fraction` of the sorted `values`.
fn quantile(values: &[f64], fraction: f64) -> f64 {
    values[((values.len() - 1) as f64 * fraction).round() as usize]
}

fn main() -> ExitCode {
    let native = std::env::args()
        .skip(1)
        .any(|argument| argument == "--native");
    let config = Config::new();
    #[cfg(feature = "native-histograms")]
    let config = if native {
        config.native_histograms(metrics_runtime::NativeHistograms::new())
    } else {
        config
    };
    #[cfg(not(feature = "native-histograms"))]
    if native {
        eprintln!("--native needs the benches' `native-histograms` feature");
        return ExitCode::from(2);
    }
    if let Err(error) = config.install() {
        eprintln!("configuration: {error}");
        return ExitCode::FAILURE;
    }
    // Warm-up, and the series created before any round is timed.
    time(ours);
    time(hand_written);
    #[cfg(feature = "native-histograms")]
    if native != (metrics_runtime::__private::native_histogram_bytes() > 0) {
        eprintln!("the series' native buckets do not match --native");
        return ExitCode::FAILURE;
    }
    let (mut ratios, mut ours_ns, mut hand_ns) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (ours_seconds, hand_seconds) = if round % 2 == 0 {
            let ours_seconds = time(ours);
            (ours_seconds, time(hand_written))
        } else {
            let hand_seconds = time(hand_written);
            (time(ours), hand_seconds)
        };
        ratios.push(ours_seconds / hand_seconds);
        ours_ns.push(ours_seconds * 1e9 / CALLS_PER_ROUND as f64);
        hand_ns.push(hand_seconds * 1e9 / CALLS_PER_ROUND as f64);
    }
    for values in [&mut ratios, &mut ours_ns, &mut hand_ns] {
        values.sort_by(f64::total_cmp);
    }
    println!(
        "{} buckets, {ROUNDS} rounds of {CALLS_PER_ROUND} calls each: ours / hand-written = \
         {:.3} (quartiles {:.3}–{:.3}); ours {:.1} ns, hand-written {:.1} ns per call (medians)",
        if native { "native" } else { "classic" },
        quantile(&ratios, 0.5),
        quantile(&ratios, 0.25),
        quantile(&ratios, 0.75),
        quantile(&ours_ns, 0.5),
        quantile(&hand_ns, 0.5),
    );
    ExitCode::SUCCESS
}
