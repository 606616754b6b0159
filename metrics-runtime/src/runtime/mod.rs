//! The one runtime a process has: its settings and their defaults, its installation, and
//! `gather()`. Its handler families and their series are `handlers.rs`; what it asks of the
//! user's registry (the collector, the probes) is `registry.rs`; what a scrape looks like in
//! each format is `exposition`.

mod handlers;
mod registry;

use std::sync::{Arc, Mutex, PoisonError};

use once_cell::sync::OnceCell;
use prometheus::Registry;

use crate::error::ConfigError;
use crate::exemplar::ExemplarSource;
use crate::exposition;
use crate::exposition::format::Format;
use crate::series::Series;

use handlers::HandlerFamilies;

/// The default namespace: metric names start with `handler_`.
pub const DEFAULT_NAMESPACE: &str = "handler";

/// A configuration that passed validation (see `Config`). Its `Default` is the one home of the
/// defaults: the runtime a first call creates without `install()`, and `Config::new()`.
pub(crate) struct Settings {
    pub(crate) namespace: String,
    pub(crate) buckets: Vec<f64>,
    pub(crate) registry: Registry,
    pub(crate) process_metrics: bool,
    pub(crate) exemplar_source: Option<ExemplarSource>,
    #[cfg(feature = "native-histograms")]
    pub(crate) native_histograms: Option<crate::native::NativeHistograms>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            // The objectives' thresholds are bounds too.
            buckets: crate::catalog::with_thresholds(prometheus::DEFAULT_BUCKETS.to_vec()),
            registry: prometheus::default_registry().clone(),
            process_metrics: true,
            exemplar_source: None,
            #[cfg(feature = "native-histograms")]
            native_histograms: None,
        }
    }
}

static RUNTIME: OnceCell<Runtime> = OnceCell::new();
static INSTALL: Mutex<()> = Mutex::new(());

pub(crate) struct Runtime {
    namespace: String,
    registry: Registry,
    handlers: Arc<HandlerFamilies>,
    installed_by_config: bool,
    /// Whether the handler families are in the registry (a name clash can keep them out).
    registered: bool,
    /// Whether the registry leaves family names and labels as they are (no prefix, no common
    /// labels), so the handler families can be written without going through it. Found out at
    /// the first scrape, because finding out runs the registry's collectors, and a handler's
    /// first call, which creates the runtime, must never run them: a collector may call a
    /// handler or take a lock the caller holds.
    write_directly: OnceCell<bool>,
}

/// The runtime in use, created with the default configuration if none was installed.
pub(crate) fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        crate::clock::clock();
        let settings = Settings::default();
        let handlers = Arc::new(HandlerFamilies::new(&settings));
        // gather() cannot return an error; a clash here is reported once and the series stay
        // unexported rather than taking the server down.
        let registered = handlers
            .register(&settings.registry)
            .inspect_err(|clash| {
                eprintln!("metrics_runtime: handler metrics are not exported: {clash}");
            })
            .is_ok();
        Runtime::new(settings, handlers, false, registered)
    })
}

/// The namespace of the runtime in use, without creating one: the default's if there is none.
pub(crate) fn namespace() -> String {
    RUNTIME
        .get()
        .map_or(DEFAULT_NAMESPACE, |runtime| &runtime.namespace)
        .to_owned()
}

/// The schema the runtime's native histograms are configured with, if they are on.
pub(crate) fn native_schema() -> Option<i32> {
    #[cfg(feature = "native-histograms")]
    return RUNTIME
        .get()
        .and_then(|runtime| runtime.handlers.native)
        .map(|layout| layout.schema());
    #[cfg(not(feature = "native-histograms"))]
    None
}

/// Whether the runtime in use counts native buckets; false before there is one.
pub(crate) fn native_histograms() -> bool {
    #[cfg(feature = "native-histograms")]
    return RUNTIME
        .get()
        .is_some_and(|runtime| runtime.handlers.native.is_some());
    #[cfg(not(feature = "native-histograms"))]
    false
}

pub(crate) fn install(settings: Settings) -> Result<(), ConfigError> {
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(current) = RUNTIME.get() {
        return Err(current.already_there());
    }
    crate::clock::clock();
    let handlers = Arc::new(HandlerFamilies::new(&settings));
    handlers.register(&settings.registry)?;
    handlers
        .refuse_openmetrics_collisions(&settings.registry)
        .inspect_err(|_| handlers.unregister(&settings.registry))?;
    if settings.process_metrics {
        register_process_metrics(&settings.registry).inspect_err(|_| {
            handlers.unregister(&settings.registry);
        })?;
    }
    let runtime = Runtime::new(settings, handlers, true, true);
    RUNTIME.set(runtime).map_err(|lost_race| {
        lost_race.handlers.unregister(&lost_race.registry);
        RUNTIME
            .get()
            .map_or(ConfigError::AlreadyInUse, Runtime::already_there)
    })
}

#[cfg(target_os = "linux")]
fn register_process_metrics(registry: &Registry) -> Result<(), ConfigError> {
    let collector = prometheus::process_collector::ProcessCollector::for_self();
    match registry.register(Box::new(collector)) {
        // The same process collector is there already (the default registry has one).
        Ok(()) | Err(prometheus::Error::AlreadyReg) => Ok(()),
        Err(source) => Err(ConfigError::NameClash {
            name: "process_cpu_seconds_total".to_owned(),
            hint: "the registry has other metrics with process metric names; call .process_metrics(false)",
            source,
        }),
    }
}

#[cfg(not(target_os = "linux"))]
fn register_process_metrics(_: &Registry) -> Result<(), ConfigError> {
    Ok(())
}

impl Runtime {
    fn new(
        settings: Settings,
        handlers: Arc<HandlerFamilies>,
        installed_by_config: bool,
        registered: bool,
    ) -> Runtime {
        Runtime {
            namespace: settings.namespace,
            registry: settings.registry,
            handlers,
            installed_by_config,
            registered,
            write_directly: OnceCell::new(),
        }
    }

    /// The exposition of the whole registry in `format`.
    pub(crate) fn gather(&self, format: Format) -> Vec<u8> {
        let write_directly = *self
            .write_directly
            .get_or_init(|| self.registered && registry::renders_names_unchanged(&self.registry));
        let mut others = if write_directly {
            registry::gather_without_ours(&self.registry)
        } else {
            self.registry.gather()
        };
        crate::model::without_untyped(&mut others);
        let handlers = &self.handlers;
        let ours = write_directly.then(|| exposition::Handlers {
            families: &handlers.families,
            #[cfg(feature = "native-histograms")]
            bounds_seconds: &handlers.bounds_seconds,
            bounds_le: &handlers.bounds_le,
            openmetrics_names: &handlers.openmetrics_names,
            snapshots: handlers.snapshots(),
        });
        exposition::render(format, &others, ours, |family| {
            handlers.gathered_as_ours(family)
        })
    }

    /// Bytes the native buckets of every series hold now.
    #[cfg(feature = "native-histograms")]
    pub(crate) fn native_bytes(&self) -> usize {
        let listed = Arc::clone(
            &self
                .handlers
                .listed
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        listed.iter().map(|series| series.native_bytes()).sum()
    }

    fn already_there(&self) -> ConfigError {
        if self.installed_by_config {
            ConfigError::AlreadyInstalled
        } else {
            ConfigError::AlreadyInUse
        }
    }

    /// The registry the handler families are in, for the edge's families (feature `tower`).
    #[cfg(any(feature = "tower", feature = "actix-web"))]
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    #[cfg(any(feature = "tower", feature = "actix-web"))]
    pub(crate) fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The series of `(handler, module)`; fns with the same labels share one series.
    pub(crate) fn series(&self, handler: String, module: &'static str) -> &'static Series {
        self.handlers.series(handler, module)
    }
}
