//! The clock of the hot path: raw TSC ticks where the TSC is invariant, scaled to seconds only
//! when a scrape reads the sums.
//!
//! `quanta` decides whether the TSC can be trusted (invariant, with `rdtscp`) and calibrates it
//! against the OS monotonic clock; elsewhere its raw reading *is* the monotonic clock in
//! nanoseconds. Reading the TSC inline saves the call into `quanta` on every clock read.

use once_cell::sync::Lazy;

pub(crate) struct Clock {
    source: quanta::Clock,
    /// Whether `source` counts TSC ticks, which `now` then reads inline.
    tsc: bool,
    ticks_per_second: f64,
}

/// Calibration takes a few milliseconds: it happens once, when the runtime starts.
pub(crate) fn clock() -> &'static Clock {
    static CLOCK: Lazy<Clock> = Lazy::new(|| {
        let source = quanta::Clock::new();
        let probe = 1 << 40;
        let nanos = source.delta_as_nanos(0, probe);
        Clock {
            // Unscaled means quanta reads the OS clock; a scale means it calibrated the TSC.
            tsc: cfg!(target_arch = "x86_64") && nanos != probe,
            ticks_per_second: probe as f64 * 1e9 / nanos as f64,
            source,
        }
    });
    &CLOCK
}

impl Clock {
    #[inline(always)]
    pub(crate) fn now(&self) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if self.tsc {
            // SAFETY: `rdtsc` exists on every x86_64 CPU and only reads the time-stamp counter.
            return unsafe { core::arch::x86_64::_rdtsc() };
        }
        self.source.raw()
    }

    /// The whole ticks in `seconds`: an observation of `t` ticks is within a bound of `b`
    /// seconds exactly when `t <= ticks(b)`.
    pub(crate) fn ticks(&self, seconds: f64) -> u64 {
        (seconds * self.ticks_per_second).floor() as u64
    }

    pub(crate) fn seconds(&self, ticks: u64) -> f64 {
        ticks as f64 / self.ticks_per_second
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    #[test]
    fn the_fast_clock_agrees_with_instant() {
        let clock = super::clock();
        for wait in [Duration::from_millis(5), Duration::from_millis(30)] {
            let before = Instant::now();
            let start = clock.now();
            std::thread::sleep(wait);
            let end = clock.now();
            let reference = before.elapsed().as_secs_f64();
            let measured = clock.seconds(end - start);
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
    fn bounds_convert_to_ticks_and_back() {
        let clock = super::clock();
        for seconds in [0.005, 0.1, 2.5] {
            let ticks = clock.ticks(seconds);
            assert!(clock.seconds(ticks) <= seconds);
            assert!(clock.seconds(ticks + 1) > seconds * 0.999_999);
        }
    }
}
