//! Service-level objectives: what a group of handlers promises, and the burn-rate alerts that
//! watch the promise. Checked in `const fn`s, so that the macro's const assertion makes a bad
//! objective a compile error.

use std::time::Duration;

/// The window the alerts' burn factors are written for (the SRE workbook's).
const REFERENCE_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// The longest window an alert looks at: an objective's own window cannot be shorter.
const LONGEST_ALERT_WINDOW: Duration = Duration::from_secs(3 * 24 * 3600);

/// Who is told when an alert fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Severity {
    Page,
    Ticket,
}

impl Severity {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// One multi-window condition: the error ratio over both windows exceeds `factor` × the error
/// budget (for a 30-day window; see [`Objective::burn_factor`]).
pub(crate) struct Burn {
    pub(crate) severity: Severity,
    pub(crate) long: &'static str,
    pub(crate) short: &'static str,
    pub(crate) factor: f64,
    /// The share of a 30-day budget the long window uses up at `factor`, as the alert says it.
    pub(crate) spends: &'static str,
}

/// The workbook's two pages and its ticket, with Sloth's second ticket between them.
pub(crate) const BURNS: [Burn; 4] = [
    Burn {
        severity: Severity::Page,
        long: "1h",
        short: "5m",
        factor: 14.4,
        spends: "2%",
    },
    Burn {
        severity: Severity::Page,
        long: "6h",
        short: "30m",
        factor: 6.0,
        spends: "5%",
    },
    Burn {
        severity: Severity::Ticket,
        long: "1d",
        short: "2h",
        factor: 3.0,
        spends: "10%",
    },
    Burn {
        severity: Severity::Ticket,
        long: "3d",
        short: "6h",
        factor: 1.0,
        spends: "10%",
    },
];

/// The windows the error and slow-call ratios are recorded over: every window of [`BURNS`].
pub(crate) const RATIO_WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// The largest burn factor for a 30-day window: a target whose budget times it reaches 100%
/// could never page.
const FASTEST_BURN: f64 = BURNS[0].factor;

/// A service-level objective: the share of requests that must not fail, and the share that must
/// be done within a latency threshold, over a window (30 days unless given).
///
/// Put it on handlers with `#[prometheus_metrics(objective = PATH)]` or on every method of an
/// impl block with `#[prometheus_handlers(objective = PATH)]`; handlers that share an objective
/// share its budget, across all instances. The objective is checked when the program compiles;
/// [`Config::install`](crate::Config::install) makes its latency threshold a histogram bucket
/// boundary, and [`alert_rules`](crate::alert_rules) writes its Prometheus alerts.
///
/// ```
/// use std::time::Duration;
/// use metrics_runtime::{Objective, prometheus_metrics};
///
/// const CATALOGUE: Objective = Objective::new("catalogue")
///     .availability(99.9)                          // % of requests that are not errors
///     .latency(Duration::from_millis(250), 99.0);  // % of requests done in ≤ 250 ms
///
/// #[prometheus_metrics(objective = CATALOGUE)]
/// fn list_scopes() -> Result<Vec<&'static str>, String> {
///     Ok(vec!["user.jovyan"])
/// }
///
/// assert_eq!(CATALOGUE.window_length(), Duration::from_secs(30 * 24 * 3600));
/// let rules = metrics_runtime::alert_rules();
/// assert!(rules.contains("objective: 'catalogue'"));
/// ```
///
/// A name outside `[A-Za-z0-9_-]`, a target outside (0, 100), a zero threshold or a window
/// shorter than 3 days (the longest alert window) does not compile:
///
/// ```compile_fail
/// use metrics_runtime::{Objective, prometheus_metrics};
///
/// const SEARCH: Objective = Objective::new("did search").availability(99.9);
///
/// #[prometheus_metrics(objective = SEARCH)]
/// fn search() {}
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Objective {
    name: &'static str,
    availability: Option<f64>,
    latency: Option<(Duration, f64)>,
    window: Duration,
}

impl Objective {
    /// An objective named `name` (ASCII letters, digits, `_` and `-`: it names alert rules and
    /// is their `objective` label), with neither target yet, over 30 days.
    pub const fn new(name: &'static str) -> Self {
        Objective {
            name,
            availability: None,
            latency: None,
            window: REFERENCE_WINDOW,
        }
    }

    /// `percent` of the requests must not be errors (as `request_errors_total` counts them).
    /// Calls that `#[authenticated]` rejects are not requests: they spend no budget.
    pub const fn availability(mut self, percent: f64) -> Self {
        self.availability = Some(percent);
        self
    }

    /// `percent` of the requests must be done within `threshold`, errors included.
    pub const fn latency(mut self, threshold: Duration, percent: f64) -> Self {
        self.latency = Some((threshold, percent));
        self
    }

    /// The window the targets hold over (default 30 days; at least 3). The alerts' burn factors
    /// scale with it, so that each alert still fires when the same share of the budget is
    /// spent: with 7 days, the fastest page fires at 3.36× instead of 14.4×.
    pub const fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The name given to [`Objective::new`].
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The availability target in percent, if any.
    pub const fn availability_target(&self) -> Option<f64> {
        self.availability
    }

    /// The latency threshold and the percentage of requests that must meet it, if any.
    pub const fn latency_target(&self) -> Option<(Duration, f64)> {
        self.latency
    }

    /// The window the targets hold over.
    pub const fn window_length(&self) -> Duration {
        self.window
    }

    /// `factor` scaled from 30 days to this objective's window.
    pub(crate) const fn burn_factor(&self, factor: f64) -> f64 {
        factor * self.window.as_secs_f64() / REFERENCE_WINDOW.as_secs_f64()
    }

    /// The first thing wrong with the objective, if any.
    pub(crate) const fn problem(&self) -> Option<Problem> {
        if self.name.is_empty() {
            return Some(Problem::EmptyName);
        }
        let name = self.name.as_bytes();
        let mut i = 0;
        while i < name.len() {
            let c = name[i];
            if !(c.is_ascii_alphanumeric() || c == b'_' || c == b'-') {
                return Some(Problem::NameCharacter);
            }
            i += 1;
        }
        if self.availability.is_none() && self.latency.is_none() {
            return Some(Problem::NoTarget);
        }
        if self.window.as_secs() < LONGEST_ALERT_WINDOW.as_secs() {
            return Some(Problem::ShortWindow);
        }
        if let Some(percent) = self.availability {
            if !is_percentage(percent) {
                return Some(Problem::AvailabilityRange);
            }
            if !self.can_page(percent) {
                return Some(Problem::AvailabilityNeverPages);
            }
        }
        if let Some((threshold, percent)) = self.latency {
            if threshold.is_zero() {
                return Some(Problem::ZeroThreshold);
            }
            if !is_percentage(percent) {
                return Some(Problem::LatencyRange);
            }
            if !self.can_page(percent) {
                return Some(Problem::LatencyNeverPages);
            }
        }
        None
    }

    /// Whether the fastest page fires below 100% bad requests: else it never could.
    const fn can_page(&self, percent: f64) -> bool {
        self.burn_factor(FASTEST_BURN) * (100.0 - percent) < 100.0
    }

    /// The latency threshold in seconds, as the histogram's bucket bound: computed from whole
    /// nanoseconds, so that 1.1 s is the same `f64` as the literal `1.1` in a bucket list.
    pub(crate) fn threshold_seconds(&self) -> Option<f64> {
        self.latency
            .map(|(threshold, _)| threshold.as_nanos() as f64 / 1e9)
    }
}

/// Compared field by field, floats by their bits: validated objectives hold no NaN, and two
/// uses of one `const` compare equal wherever it was copied to.
impl PartialEq for Objective {
    fn eq(&self, other: &Self) -> bool {
        let bits = |percent: Option<f64>| percent.map(f64::to_bits);
        self.name == other.name
            && bits(self.availability) == bits(other.availability)
            && self.latency.map(|(threshold, _)| threshold)
                == other.latency.map(|(threshold, _)| threshold)
            && bits(self.latency.map(|(_, percent)| percent))
                == bits(other.latency.map(|(_, percent)| percent))
            && self.window == other.window
    }
}

impl Eq for Objective {}

const fn is_percentage(percent: f64) -> bool {
    percent > 0.0 && percent < 100.0
}

/// Declares the problems once, with a `message` for `ConfigError` and a `fail` for const
/// evaluation, whose panics take only literal messages.
macro_rules! problems {
    ($($problem:ident => $message:literal,)*) => {
        /// What is wrong with an objective.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Problem {
            $($problem,)*
        }

        impl Problem {
            pub(crate) const fn message(self) -> &'static str {
                match self {
                    $(Problem::$problem => $message,)*
                }
            }

            pub(crate) const fn fail(self) -> ! {
                match self {
                    $(Problem::$problem => panic!($message),)*
                }
            }
        }
    };
}

problems! {
    EmptyName => "the objective's name is empty; name it for alert rules, like \
        Objective::new(\"catalogue\")",
    NameCharacter => "the objective's name may contain only ASCII letters, digits, `_` and \
        `-`: it names alert rules and is their `objective` label",
    NoTarget => "the objective has no target; give .availability(percent), \
        .latency(threshold, percent) or both",
    ShortWindow => "the objective's window is shorter than 3 days, the longest alert window; \
        give .window(Duration::from_secs(3 * 24 * 3600)) or more",
    AvailabilityRange => "the availability target is a percentage strictly between 0 and 100, \
        like .availability(99.9)",
    AvailabilityNeverPages => "the availability target is too low for its window: the fastest \
        page (14.4x the error budget over 30 days) would need more than 100% errors and could \
        never fire; aim at 93.1% or more over 30 days, or shorten the window",
    ZeroThreshold => "the latency threshold is zero; give the time a request must be done in, \
        like .latency(Duration::from_millis(250), 99.0)",
    LatencyRange => "the latency target is a percentage strictly between 0 and 100, like \
        .latency(Duration::from_millis(250), 99.0)",
    LatencyNeverPages => "the latency target is too low for its window: the fastest page \
        (14.4x the budget of slow requests over 30 days) would need more than 100% slow \
        requests and could never fire; aim at 93.1% or more over 30 days, or shorten the window",
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn days(days: u64) -> Duration {
        Duration::from_secs(days * 24 * 3600)
    }

    #[test]
    fn every_rule_is_checked() {
        let good = Objective::new("catalogue-v2_eu").availability(99.9);
        assert_eq!(good.problem(), None);
        let ms = Duration::from_millis;
        let cases = [
            (Objective::new("").availability(99.9), Problem::EmptyName),
            (
                Objective::new("did search").availability(99.9),
                Problem::NameCharacter,
            ),
            (
                Objective::new("rucio.calls").availability(99.9),
                Problem::NameCharacter,
            ),
            (Objective::new("rucio"), Problem::NoTarget),
            (good.window(days(2)), Problem::ShortWindow),
            (good.availability(100.0), Problem::AvailabilityRange),
            (good.availability(0.0), Problem::AvailabilityRange),
            (good.availability(f64::NAN), Problem::AvailabilityRange),
            (good.availability(90.0), Problem::AvailabilityNeverPages),
            (good.latency(Duration::ZERO, 99.0), Problem::ZeroThreshold),
            (good.latency(ms(250), 100.5), Problem::LatencyRange),
            (good.latency(ms(250), 50.0), Problem::LatencyNeverPages),
        ];
        for (objective, problem) in cases {
            assert_eq!(objective.problem(), Some(problem), "{objective:?}");
        }
        // 90% pages at 14.4 × 7/30 = 3.36× over a 7-day window: 33.6% errors.
        assert_eq!(good.availability(90.0).window(days(7)).problem(), None);
        assert_eq!(good.availability(93.1).problem(), None);
    }

    #[test]
    fn burn_factors_scale_with_the_window() {
        let objective = Objective::new("x").availability(99.0);
        assert_eq!(objective.burn_factor(14.4), 14.4);
        let weekly = objective.window(days(7));
        assert!((weekly.burn_factor(14.4) - 3.36).abs() < 1e-12);
    }

    #[test]
    fn thresholds_are_the_decimal_a_bucket_list_would_write() {
        let seconds = |millis| {
            Objective::new("x")
                .latency(Duration::from_millis(millis), 99.0)
                .threshold_seconds()
        };
        assert_eq!(seconds(1100), Some(1.1));
        assert_eq!(seconds(250), Some(0.25));
        assert_eq!(seconds(100), Some(0.1));
        assert_eq!(Objective::new("x").threshold_seconds(), None);
    }
}
