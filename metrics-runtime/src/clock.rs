//! The clock of the hot path: raw TSC ticks where the TSC can be trusted, the OS monotonic clock
//! elsewhere; ticks are scaled to seconds only when a scrape reads the sums.
//!
//! The TSC is used when three things agree: the CPU says it is invariant (`quanta` checks CPUID
//! and calibrates it against the OS clock), the kernel uses it as its own clocksource (Linux
//! switches away from it when its watchdog finds it unstable, or on hosts whose sockets' TSCs
//! drift apart), and `HANDLER_METRICS_CLOCK` is not `monotonic`. Reading it inline saves the call
//! into `quanta` on every clock read.

use std::time::Instant;

use once_cell::sync::Lazy;

/// The environment variable that forces the OS monotonic clock.
const CLOCK_VARIABLE: &str = "HANDLER_METRICS_CLOCK";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Tsc,
    Monotonic,
}

impl Source {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Source::Tsc => "tsc",
            Source::Monotonic => "monotonic",
        }
    }
}

pub(crate) struct Clock {
    source: Source,
    /// The zero of the monotonic clock's ticks (nanoseconds since then).
    epoch: Instant,
    ticks_per_second: f64,
}

/// Calibration takes a few milliseconds: it happens once, when the runtime starts.
pub(crate) fn clock() -> &'static Clock {
    static CLOCK: Lazy<Clock> = Lazy::new(|| {
        let forced = std::env::var_os(CLOCK_VARIABLE);
        let forced = forced.as_ref().map(|value| value.to_string_lossy());
        let kernel = kernel_clocksource();
        let clock = match choose(forced.as_deref(), kernel.as_deref()) {
            Source::Tsc => Clock::tsc().unwrap_or_else(Clock::monotonic),
            Source::Monotonic => Clock::monotonic(),
        };
        // A knob, not a `Config` setting that could return an error: a value it does not take
        // is said once rather than ignored silently.
        if let Some(value) = forced.filter(|value| value != Source::Monotonic.name()) {
            eprintln!(
                "metrics_runtime: {CLOCK_VARIABLE}={value:?} is ignored: the one value it takes \
                 is \"monotonic\"; timing with {}",
                clock.source.name()
            );
        }
        clock
    });
    &CLOCK
}

/// Which clock to use, given the forcing variable and the kernel's clocksource (`None` where it
/// cannot be read, or on systems other than Linux).
fn choose(forced: Option<&str>, kernel: Option<&str>) -> Source {
    if forced == Some(Source::Monotonic.name()) {
        return Source::Monotonic;
    }
    match kernel {
        Some(clocksource) if clocksource.trim() != "tsc" => Source::Monotonic,
        None if cfg!(target_os = "linux") => Source::Monotonic,
        _ => Source::Tsc,
    }
}

fn kernel_clocksource() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource").ok()
}

impl Clock {
    /// The TSC, where `quanta` found it invariant and calibrated it.
    fn tsc() -> Option<Clock> {
        if !cfg!(target_arch = "x86_64") {
            return None;
        }
        let calibrated = quanta::Clock::new();
        let probe = 1 << 40;
        let nanos = calibrated.delta_as_nanos(0, probe);
        // Unscaled means quanta itself fell back to the OS clock.
        (nanos != probe).then(|| Clock {
            source: Source::Tsc,
            epoch: Instant::now(),
            ticks_per_second: probe as f64 * 1e9 / nanos as f64,
        })
    }

    fn monotonic() -> Clock {
        Clock {
            source: Source::Monotonic,
            epoch: Instant::now(),
            ticks_per_second: 1e9,
        }
    }

    pub(crate) fn source(&self) -> Source {
        self.source
    }

    #[inline(always)]
    pub(crate) fn now(&self) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if self.source == Source::Tsc {
            // SAFETY: `rdtsc` exists on every x86_64 CPU and only reads the time-stamp counter.
            return unsafe { core::arch::x86_64::_rdtsc() };
        }
        // u64 nanoseconds last 584 years of uptime.
        self.epoch.elapsed().as_nanos() as u64
    }

    /// The whole ticks in `seconds`: an observation of `t` ticks is within a bound of `b`
    /// seconds exactly when `t <= ticks(b)`.
    pub(crate) fn ticks(&self, seconds: f64) -> u64 {
        (seconds * self.ticks_per_second).floor() as u64
    }

    #[cfg(feature = "native-histograms")]
    pub(crate) fn ticks_per_second(&self) -> f64 {
        self.ticks_per_second
    }

    pub(crate) fn seconds(&self, ticks: u128) -> f64 {
        ticks as f64 / self.ticks_per_second
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Clock, Source, choose};

    fn agrees_with_instant(clock: &Clock) {
        for wait in [Duration::from_millis(5), Duration::from_millis(30)] {
            let before = Instant::now();
            let start = clock.now();
            std::thread::sleep(wait);
            let end = clock.now();
            let reference = before.elapsed().as_secs_f64();
            let measured = clock.seconds(u128::from(end - start));
            assert!(measured >= wait.as_secs_f64(), "{measured} s < {wait:?}");
            // The reference interval encloses the measured one; calibration error is < 1%.
            assert!(
                measured <= reference * 1.01,
                "{measured} s vs Instant's {reference} s"
            );
            assert!(
                measured >= (reference - 0.002) * 0.99,
                "{measured} s vs Instant's {reference} s"
            );
        }
    }

    #[test]
    fn the_clock_in_use_agrees_with_instant() {
        agrees_with_instant(super::clock());
    }

    #[test]
    fn the_monotonic_fallback_agrees_with_instant() {
        agrees_with_instant(&Clock::monotonic());
    }

    /// Where the kernel itself times with the TSC (this project's machines), the TSC path is
    /// the one in use, and it is exact too.
    #[test]
    fn the_tsc_is_used_where_the_kernel_uses_it() {
        let kernel = super::kernel_clocksource();
        if cfg!(target_arch = "x86_64") && kernel.as_deref().map(str::trim) == Some("tsc") {
            let tsc = Clock::tsc().expect("an invariant TSC where the kernel times with it");
            agrees_with_instant(&tsc);
            if std::env::var(super::CLOCK_VARIABLE).is_err() {
                assert_eq!(super::clock().source(), Source::Tsc);
            }
        } else if cfg!(target_os = "linux") {
            assert_eq!(super::clock().source(), Source::Monotonic);
        }
    }

    #[test]
    fn the_tsc_is_trusted_only_where_the_kernel_trusts_it() {
        assert_eq!(choose(None, Some("tsc\n")), Source::Tsc);
        assert_eq!(choose(None, Some("hpet\n")), Source::Monotonic);
        assert_eq!(choose(None, Some("kvm-clock\n")), Source::Monotonic);
        assert_eq!(choose(Some("monotonic"), Some("tsc\n")), Source::Monotonic);
        assert_eq!(choose(Some("tsc"), Some("tsc\n")), Source::Tsc);
        let unreadable = if cfg!(target_os = "linux") {
            Source::Monotonic
        } else {
            Source::Tsc
        };
        assert_eq!(choose(None, None), unreadable);
    }

    #[test]
    fn bounds_convert_to_ticks_and_back() {
        let clock = super::clock();
        for seconds in [0.005, 0.1, 2.5] {
            let ticks = u128::from(clock.ticks(seconds));
            assert!(clock.seconds(ticks) <= seconds);
            assert!(clock.seconds(ticks + 1) > seconds * 0.999_999);
        }
    }
}
