//! Why a configuration was refused.

use std::fmt;

/// Why [`Config::install`](crate::Config::install) refused a configuration, or
/// [`AlertRules::render`](crate::AlertRules::render) its rules.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The namespace is not a valid metric name prefix.
    InvalidNamespace {
        /// The namespace as given.
        namespace: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No bucket bounds were given.
    EmptyBuckets,
    /// A bucket bound is NaN, infinite, zero or negative.
    InvalidBucket {
        /// Position in the list.
        index: usize,
        /// The bound as given.
        bound: f64,
    },
    /// A bucket bound is not greater than the one before it.
    BucketsNotIncreasing {
        /// Position in the list.
        index: usize,
        /// The bound before it.
        previous: f64,
        /// The bound as given.
        bound: f64,
    },
    /// `install` was already called successfully.
    AlreadyInstalled,
    /// Metrics were already created with the default configuration: a handler ran or
    /// `gather()` was called before `install`.
    AlreadyInUse,
    /// The registry already has a metric with one of the names this configuration creates.
    NameClash {
        /// The metric name that is taken.
        name: String,
        /// How to resolve it.
        hint: &'static str,
        /// The registry's error.
        source: prometheus::Error,
    },
    /// An objective a handler uses is not valid (the macro's compile-time check was bypassed).
    InvalidObjective {
        /// Its name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A setting of [`NativeHistograms`](crate::NativeHistograms) is out of range.
    #[cfg(feature = "native-histograms")]
    InvalidNativeHistograms {
        /// The setting: `schema`, `zero_threshold` or `max_buckets`.
        setting: &'static str,
        /// Its value as given.
        value: f64,
        /// What it must be.
        reason: &'static str,
    },
    /// Two different objectives have the same name: their alerts would be one.
    ObjectiveNameClash {
        /// The name they share.
        name: String,
    },
    /// A label of [`AlertRules::selector`](crate::AlertRules::selector) cannot scope the rules.
    InvalidSelector {
        /// The label name as given.
        label: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A setting of [`Dashboard`](crate::Dashboard) is refused.
    #[cfg(feature = "dashboard")]
    InvalidDashboard {
        /// The setting: `selector`, `uid`, `title` or `datasource`.
        setting: &'static str,
        /// Its value as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InvalidNamespace { namespace, reason } => {
                write!(f, "invalid metric namespace {namespace:?}: {reason}")
            }
            ConfigError::EmptyBuckets => {
                write!(
                    f,
                    "histogram buckets are empty: give at least one upper bound"
                )
            }
            ConfigError::InvalidBucket { index, bound } => write!(
                f,
                "histogram bucket {index} is {bound}: bounds must be finite and greater than 0 \
                 (the +Inf bucket is always added)"
            ),
            ConfigError::BucketsNotIncreasing {
                index,
                previous,
                bound,
            } => write!(
                f,
                "histogram buckets must be strictly increasing, but bucket {index} ({bound}) \
                 follows {previous}"
            ),
            ConfigError::AlreadyInstalled => {
                write!(
                    f,
                    "metrics_runtime::Config was already installed; install it once"
                )
            }
            ConfigError::AlreadyInUse => write!(
                f,
                "handler metrics are already in use with the default configuration (a handler \
                 ran or gather() was called); install the Config at start-up, before either"
            ),
            ConfigError::NameClash { name, hint, .. } => write!(
                f,
                "the registry already has a metric named `{name}`: {hint}"
            ),
            ConfigError::InvalidObjective { name, reason } => {
                write!(f, "objective {name:?}: {reason}")
            }
            #[cfg(feature = "native-histograms")]
            ConfigError::InvalidNativeHistograms {
                setting,
                value,
                reason,
            } => write!(
                f,
                "native histograms: {setting} {value} is refused: it {reason}"
            ),
            ConfigError::ObjectiveNameClash { name } => write!(
                f,
                "two different objectives are named {name:?}, so their rules and alerts would \
                 be one; rename one, or put the same const on all their handlers"
            ),
            ConfigError::InvalidSelector { label, reason } => {
                write!(f, "alert rule selector label {label:?}: {reason}")
            }
            #[cfg(feature = "dashboard")]
            ConfigError::InvalidDashboard {
                setting,
                value,
                reason,
            } => write!(f, "dashboard {setting} {value:?}: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::NameClash { source, .. } => Some(source),
            _ => None,
        }
    }
}
