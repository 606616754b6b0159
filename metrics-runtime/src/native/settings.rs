//! The settings of native histograms, and their checks.

use crate::error::ConfigError;

/// Native histograms for the handler latencies, in the protobuf exposition: exponential
/// buckets at a resolution chosen once, instead of bounds chosen up front.
///
/// ```
/// use metrics_runtime::{Config, NativeHistograms};
///
/// // Schema 3: each bucket is 2^(1/8) ≈ 1.09 times as wide as the one before, so a
/// // percentile is known within about 4.5 %; at most 160 buckets per series.
/// let native = NativeHistograms::new().schema(3).max_buckets(160);
///
/// // A bad setting is an error value that says why, and installs nothing.
/// let error = Config::new()
///     .native_histograms(native.clone().schema(9))
///     .install()
///     .unwrap_err();
/// assert!(error.to_string().contains("schema"));
///
/// Config::new().native_histograms(native).install().expect("first installation");
/// let scrape = metrics_runtime::gather_bytes(metrics_runtime::Format::Protobuf);
/// assert!(!scrape.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NativeHistograms {
    pub(super) schema: i32,
    pub(super) zero_threshold: f64,
    pub(super) max_buckets: u32,
}

/// client_golang's default zero threshold: only a zero duration falls in the zero bucket.
const DEFAULT_ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39; // 2^-128

impl Default for NativeHistograms {
    fn default() -> Self {
        NativeHistograms {
            schema: 3,
            zero_threshold: DEFAULT_ZERO_THRESHOLD,
            max_buckets: 160,
        }
    }
}

impl NativeHistograms {
    /// Schema 3 (8 buckets per doubling, ≈ 9 % wide), zero threshold 2^-128 s, at most 160
    /// buckets per series.
    pub fn new() -> Self {
        NativeHistograms::default()
    }

    /// The resolution: `2^schema` buckets per doubling of the latency, from -4 (one bucket per
    /// 65,536×) to 8 (256 per doubling, ≈ 0.27 % wide). Higher costs more buckets, hence more
    /// memory and bigger scrapes, for a finer percentile.
    pub fn schema(mut self, schema: i32) -> Self {
        self.schema = schema;
        self
    }

    /// Latencies at or below this many seconds are counted in the zero bucket rather than an
    /// exponential one: finite, 0 or more.
    pub fn zero_threshold(mut self, seconds: f64) -> Self {
        self.zero_threshold = seconds;
        self
    }

    /// The most buckets one series reports, at least 1: when its latencies spread over more,
    /// the scrape halves the resolution (schema - 1, each bucket two merged) until they fit,
    /// down to schema -4. Prometheus' own cap for client_golang is called the max bucket
    /// number; OpenTelemetry's exponential histograms default to 160.
    pub fn max_buckets(mut self, count: u32) -> Self {
        self.max_buckets = count;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, value: f64, reason| {
            Err(ConfigError::InvalidNativeHistograms {
                setting,
                value,
                reason,
            })
        };
        if !(MIN_SCHEMA..=MAX_SCHEMA).contains(&self.schema) {
            return invalid(
                "schema",
                self.schema.into(),
                "must be from -4 to 8, as Prometheus defines native histograms",
            );
        }
        if !self.zero_threshold.is_finite() || self.zero_threshold < 0.0 {
            return invalid(
                "zero_threshold",
                self.zero_threshold,
                "must be a finite number of seconds, 0 or more",
            );
        }
        if self.max_buckets == 0 {
            return invalid(
                "max_buckets",
                0.0,
                "must be at least 1; a series reports its buckets at lower resolution instead",
            );
        }
        Ok(())
    }
}

pub(super) const MIN_SCHEMA: i32 = -4;
pub(super) const MAX_SCHEMA: i32 = 8;

#[cfg(test)]
mod tests {
    use super::NativeHistograms;

    #[test]
    fn bad_settings_are_errors() {
        assert!(NativeHistograms::new().validate().is_ok());
        for bad in [
            NativeHistograms::new().schema(9),
            NativeHistograms::new().schema(-5),
            NativeHistograms::new().zero_threshold(-1.0),
            NativeHistograms::new().zero_threshold(f64::NAN),
            NativeHistograms::new().zero_threshold(f64::INFINITY),
            NativeHistograms::new().max_buckets(0),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        for good in [-4, 0, 8] {
            assert!(NativeHistograms::new().schema(good).validate().is_ok());
        }
    }
}
