//! The start-up configuration the server writes, validated into the registry's settings.

use prometheus::Registry;

use crate::catalog;
use crate::error::ConfigError;
use crate::runtime::{self, Settings};

/// Start-up configuration: metric namespace, histogram buckets and registry.
///
/// Install it once, before any handler runs and before the first [`gather`](crate::gather);
/// without it the runtime uses [`Config::new`]'s defaults.
///
/// ```
/// use metrics_runtime::Config;
///
/// Config::new()
///     .namespace("rucio_jupyterlab")
///     .buckets(vec![0.001, 0.01, 0.1, 1.0])
///     .install()
///     .expect("first and only installation");
///
/// // A second installation is an error value, never a panic or a silent no-op.
/// assert!(Config::new().install().is_err());
/// ```
#[derive(Clone, Debug)]
#[must_use = "a Config does nothing until .install() is called"]
pub struct Config {
    namespace: String,
    buckets: Vec<f64>,
    registry: Option<Registry>,
    process_metrics: bool,
    exemplar_source: Option<fn() -> Option<String>>,
    #[cfg(feature = "native-histograms")]
    native_histograms: Option<crate::NativeHistograms>,
}

impl Default for Config {
    fn default() -> Self {
        let Settings {
            namespace,
            buckets,
            registry: _,
            process_metrics,
            exemplar_source,
            #[cfg(feature = "native-histograms")]
            native_histograms,
        } = Settings::default();
        Config {
            namespace,
            buckets,
            // The default registry, unless one is given.
            registry: None,
            process_metrics,
            exemplar_source,
            #[cfg(feature = "native-histograms")]
            native_histograms,
        }
    }
}

impl Config {
    /// Namespace `handler`, the prometheus crate's default buckets (5 ms to 10 s), the default
    /// registry and process metrics.
    pub fn new() -> Self {
        Config::default()
    }

    /// Prefix of every metric name: `rucio_jupyterlab` gives `rucio_jupyterlab_requests_total`.
    /// Must match `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Upper bounds of the latency histogram in seconds: finite, positive and strictly
    /// increasing. The `+Inf` bucket is always added, and so is the latency threshold of every
    /// [`Objective`](crate::Objective) that is not a bound already, so that its alerts can count
    /// the requests under it exactly.
    pub fn buckets(mut self, buckets: impl Into<Vec<f64>>) -> Self {
        self.buckets = buckets.into();
        self
    }

    /// The registry the handler metrics join and [`gather`](crate::gather) renders
    /// (default: `prometheus::default_registry()`).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Whether to add the `process_*` metrics (CPU, memory, file descriptors; Linux only) to a
    /// registry given with [`Config::registry`]. On by default, as in the Python client; the
    /// default registry always has them.
    pub fn process_metrics(mut self, enabled: bool) -> Self {
        self.process_metrics = enabled;
        self
    }

    /// Where exemplars get their trace id: `source` returns the current request's trace id,
    /// if it has one (from a task-local or a tracing span the server keeps). With it, the
    /// OpenMetrics exposition ([`gather_as`](crate::gather_as)) shows on each latency bucket,
    /// and on each error counter, a recent observation with its `trace_id`, value and time.
    ///
    /// `source` is called at most once per bucket per handler per second, from the handler's
    /// thread as its call ends, never on every call. Trace ids longer than 120 characters are
    /// not shown (OpenMetrics' limit). A panic in `source` is caught and costs only that
    /// exemplar: the call keeps its output and is counted; while the thread is already
    /// panicking, `source` is not called at all.
    pub fn exemplar_source(mut self, source: fn() -> Option<String>) -> Self {
        self.exemplar_source = Some(source);
        self
    }

    /// Adds native histograms to the latency histogram (cargo feature `native-histograms`):
    /// the [protobuf exposition](crate::Format::Protobuf), which a Prometheus started with
    /// `--enable-feature=native-histograms` asks for, then carries each series' exponential
    /// buckets next to its classic ones. The text and OpenMetrics expositions keep the classic
    /// buckets only. Off by default.
    #[cfg(feature = "native-histograms")]
    pub fn native_histograms(mut self, native: crate::NativeHistograms) -> Self {
        self.native_histograms = Some(native);
        self
    }

    /// Validates the configuration, and the program's [objectives](crate::Objective), and makes
    /// it the one the process uses.
    pub fn install(self) -> Result<(), ConfigError> {
        runtime::install(self.validate()?)
    }

    fn validate(self) -> Result<Settings, ConfigError> {
        validate_namespace(&self.namespace)?;
        validate_buckets(&self.buckets)?;
        catalog::objectives()?;
        #[cfg(feature = "native-histograms")]
        if let Some(native) = &self.native_histograms {
            native.validate()?;
        }
        Ok(Settings {
            namespace: self.namespace,
            buckets: catalog::with_thresholds(self.buckets),
            registry: self
                .registry
                .unwrap_or_else(|| prometheus::default_registry().clone()),
            process_metrics: self.process_metrics,
            exemplar_source: self.exemplar_source,
            #[cfg(feature = "native-histograms")]
            native_histograms: self.native_histograms,
        })
    }
}

fn validate_namespace(namespace: &str) -> Result<(), ConfigError> {
    let invalid = |reason| ConfigError::InvalidNamespace {
        namespace: namespace.to_owned(),
        reason,
    };
    let mut chars = namespace.chars();
    match chars.next() {
        None => return Err(invalid("it is empty")),
        Some(first) if first.is_ascii_digit() => return Err(invalid("it starts with a digit")),
        Some(_) => {}
    }
    if namespace
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(invalid(
            "it may contain only ASCII letters, digits and underscores",
        ));
    }
    if namespace.starts_with("__") {
        return Err(invalid(
            "names starting with `__` are reserved by Prometheus",
        ));
    }
    Ok(())
}

fn validate_buckets(buckets: &[f64]) -> Result<(), ConfigError> {
    if buckets.is_empty() {
        return Err(ConfigError::EmptyBuckets);
    }
    for (index, &bound) in buckets.iter().enumerate() {
        if !bound.is_finite() || bound <= 0.0 {
            return Err(ConfigError::InvalidBucket { index, bound });
        }
        if index > 0 && bound <= buckets[index - 1] {
            return Err(ConfigError::BucketsNotIncreasing {
                index,
                previous: buckets[index - 1],
                bound,
            });
        }
    }
    Ok(())
}
