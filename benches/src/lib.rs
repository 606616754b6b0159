//! Shared pieces of the benchmarks: a way to poll a ready future without a runtime, the
//! hand-written baselines, and generators of many instrumented handlers.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Barrier, LazyLock};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::Criterion;
use metrics_runtime::prometheus::{
    self, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// Polls a future that completes without waiting, as an executor would, minus the executor.
pub fn poll_ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benchmarked future must not wait"),
    }
}

/// The trivial handler without metrics. Its measured twins come from `measured_handlers!`, in
/// the binary that uses them: an instrumented fn here would be in every binary's scrape, the
/// gather benchmarks' too.
#[inline(never)]
pub fn bare(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// A benchmarked handler, adapted to one signature.
pub type Handler = fn(u64) -> u64;

pub static HAND_COUNTER: LazyLock<IntCounter> =
    LazyLock::new(|| IntCounter::new("hand_total", "requests").expect("valid"));
pub static HAND_HISTOGRAM: LazyLock<Histogram> = LazyLock::new(|| {
    Histogram::with_opts(HistogramOpts::new("hand_seconds", "latency")).expect("valid")
});

/// The hand-written optimum with the prometheus crate: a static counter and
/// `Histogram::start_timer`.
#[inline(never)]
pub fn hand_written(x: u64) -> u64 {
    HAND_COUNTER.inc();
    let _timer = HAND_HISTOGRAM.start_timer();
    black_box(x).wrapping_add(1)
}

/// Benchmarks each `(name, call)` in `variants` on the calling thread, after one warm-up call.
pub fn bench_one_thread(c: &mut Criterion, group: &str, variants: &[(&str, Handler)]) {
    let mut group = c.benchmark_group(group);
    for &(name, call) in variants {
        call(0);
        group.bench_function(name, |b| {
            let mut x = 0;
            b.iter(|| {
                x = call(x);
            })
        });
    }
    group.finish();
}

/// Benchmarks each `(name, first, second)` in `pairs` on two threads at once, the first calling
/// `first` and the second `second`: the cost per call per thread.
pub fn bench_two_threads(c: &mut Criterion, group: &str, pairs: &[(&str, Handler, Handler)]) {
    let threads = ThreadPair::new();
    let mut group = c.benchmark_group(group);
    for &(name, first, second) in pairs {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| threads.run(first, second, iters))
        });
    }
    group.finish();
}

/// Encodes everything `registry` holds in the text format, as a `/metrics` route does.
pub fn render(registry: &Registry) -> String {
    let mut buffer = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut buffer)
        .expect("valid families");
    String::from_utf8(buffer).expect("UTF-8 exposition")
}

/// Two long-lived threads that run benchmarked calls at the same time.
///
/// Threads outlive the samples, so a sample's time holds no thread start-up or join, and each
/// thread keeps the shard it leased on its first call, as a server's worker threads do. Each is
/// pinned to a CPU of its own where there are two: woken for a sample, the scheduler would
/// otherwise at times put both on one CPU until it rebalances, which adds milliseconds to a
/// sample at random.
pub struct ThreadPair {
    jobs: Vec<Sender<(Handler, u64)>>,
    times: Receiver<Duration>,
    workers: Vec<JoinHandle<()>>,
}

impl ThreadPair {
    pub fn new() -> Self {
        let start_line = Arc::new(Barrier::new(2));
        let (time_sender, times) = mpsc::channel();
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let (jobs, workers) = (0..2)
            .map(|index| {
                let core = (cores.len() >= 2).then(|| cores[index]);
                let (job_sender, job_receiver) = mpsc::channel::<(Handler, u64)>();
                let start_line = Arc::clone(&start_line);
                let time_sender = time_sender.clone();
                let worker = std::thread::spawn(move || {
                    if let Some(core) = core {
                        // Unpinned, the numbers are only noisier: nothing to stop for.
                        core_affinity::set_for_current(core);
                    }
                    for (call, iters) in job_receiver {
                        start_line.wait();
                        let start = Instant::now();
                        let mut x = 0;
                        for _ in 0..iters {
                            x = call(x);
                        }
                        black_box(x);
                        let elapsed = start.elapsed();
                        if time_sender.send(elapsed).is_err() {
                            break;
                        }
                    }
                });
                (job_sender, worker)
            })
            .unzip();
        ThreadPair {
            jobs,
            times,
            workers,
        }
    }

    /// Both threads make `iters` calls, the first of `first`, the second of `second`, starting
    /// together; the slower thread's time is the sample, so the cost per call per thread.
    pub fn run(&self, first: Handler, second: Handler, iters: u64) -> Duration {
        for (jobs, call) in self.jobs.iter().zip([first, second]) {
            jobs.send((call, iters)).expect("benchmark thread alive");
        }
        (0..2)
            .map(|_| self.times.recv().expect("benchmark thread alive"))
            .max()
            .unwrap_or_default()
    }
}

impl Default for ThreadPair {
    fn default() -> Self {
        ThreadPair::new()
    }
}

impl Drop for ThreadPair {
    fn drop(&mut self) {
        // Closing the job channels ends the workers' loops.
        self.jobs.clear();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// The same five families as the runtime's, built the usual way with the prometheus crate.
pub struct HandWrittenRegistry {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub errors: IntCounterVec,
    pub rejected: IntCounterVec,
    pub in_flight: IntGaugeVec,
    pub latency: HistogramVec,
}

impl HandWrittenRegistry {
    pub fn new() -> prometheus::Result<Self> {
        let labels = &["handler", "module"];
        let registry = Registry::new();
        let requests = IntCounterVec::new(Opts::new("hand_requests_total", "requests"), labels)?;
        let errors = IntCounterVec::new(Opts::new("hand_request_errors_total", "errors"), labels)?;
        let rejected = IntCounterVec::new(
            Opts::new("hand_requests_rejected_total", "rejected"),
            labels,
        )?;
        let in_flight = IntGaugeVec::new(Opts::new("hand_requests_in_flight", "running"), labels)?;
        let latency = HistogramVec::new(
            HistogramOpts::new("hand_request_latency_seconds", "latency"),
            labels,
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(HandWrittenRegistry {
            registry,
            requests,
            errors,
            rejected,
            in_flight,
            latency,
        })
    }

    /// Creates the series of `handlers` handlers, one observation each.
    pub fn with_handlers(handlers: usize) -> prometheus::Result<Self> {
        let hand = HandWrittenRegistry::new()?;
        for index in 0..handlers {
            let handler = format!("h{}", index % 50);
            let module = format!("gather::group{}", index / 50);
            let labels = [handler.as_str(), module.as_str()];
            hand.requests.with_label_values(&labels).inc();
            hand.errors.with_label_values(&labels).inc_by(0);
            hand.rejected.with_label_values(&labels).inc_by(0);
            hand.in_flight.with_label_values(&labels).set(0);
            hand.latency.with_label_values(&labels).observe(0.0001);
        }
        Ok(hand)
    }

    /// What a `/metrics` route does with it.
    pub fn render(&self) -> String {
        render(&self.registry)
    }
}

/// Benchmarks `gather()` against a hand-written registry with the same `handlers` series, after
/// `call_all` ran every instrumented handler of the benchmark binary once.
pub fn compare_gather(c: &mut criterion::Criterion, handlers: usize, call_all: fn()) {
    metrics_runtime::Config::new()
        .registry(Registry::new())
        .process_metrics(false)
        .install()
        .expect("fresh process");
    call_all();
    let hand = HandWrittenRegistry::with_handlers(handlers).expect("valid metrics");
    assert_eq!(
        hand.render().lines().count(),
        metrics_runtime::gather().lines().count(),
        "both render the same number of samples"
    );
    let mut group = c.benchmark_group(format!("gather_{handlers}_handlers"));
    group.bench_function("ours", |b| b.iter(metrics_runtime::gather));
    group.bench_function("hand_written", |b| b.iter(|| hand.render()));
    group.finish();
}

/// `ours_sync` and `ours_async`: the trivial handler, measured, defined in the calling module.
#[macro_export]
macro_rules! measured_handlers {
    () => {
        #[::metrics_runtime::prometheus_metrics]
        #[inline(never)]
        fn ours_sync(x: u64) -> Result<u64, ()> {
            Ok(::std::hint::black_box(x).wrapping_add(1))
        }

        #[::metrics_runtime::prometheus_metrics]
        #[inline(never)]
        async fn ours_async(x: u64) -> Result<u64, ()> {
            Ok(::std::hint::black_box(x).wrapping_add(1))
        }
    };
}

/// Fifty instrumented handlers `h0` … `h49` in the calling module, and `call_all()`.
#[macro_export]
macro_rules! fifty_handlers {
    () => {
        $crate::fifty_handlers!(@ h0 h1 h2 h3 h4 h5 h6 h7 h8 h9 h10 h11 h12 h13 h14 h15 h16 h17
            h18 h19 h20 h21 h22 h23 h24 h25 h26 h27 h28 h29 h30 h31 h32 h33 h34 h35 h36 h37 h38
            h39 h40 h41 h42 h43 h44 h45 h46 h47 h48 h49);
    };
    (@ $($name:ident)*) => {
        $(
            #[::metrics_runtime::prometheus_metrics]
            pub fn $name() {}
        )*
        pub fn call_all() {
            $($name();)*
        }
    };
}
