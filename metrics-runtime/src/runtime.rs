//! The one runtime a process has: its settings and their defaults, its installation, its
//! registry and every handler series, and the collector that serves a registry gathered
//! directly. What a scrape looks like in each format is `exposition`.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use once_cell::sync::OnceCell;
use prometheus::Registry;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;

use crate::error::ConfigError;
use crate::exemplar::ExemplarSource;
use crate::exposition::families::{self, Families};
use crate::exposition::format::Format;
use crate::exposition::{self, openmetrics, text};
use crate::series::{Series, Snapshot};

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

thread_local! {
    /// Set while `Runtime::gather` collects the other metrics of the registry: the handler
    /// families are written directly instead.
    static WRITING_DIRECTLY: Cell<bool> = const { Cell::new(false) };
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

/// Whether the runtime in use counts native buckets; false before there is one.
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
            .get_or_init(|| self.registered && renders_names_unchanged(&self.registry));
        let mut others = if write_directly {
            /// Clears the flag however `gather` ends: a collector of the user's may panic.
            struct Reset;
            impl Drop for Reset {
                fn drop(&mut self) {
                    WRITING_DIRECTLY.set(false);
                }
            }
            WRITING_DIRECTLY.set(true);
            let _reset = Reset;
            self.registry.gather()
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

    /// The series of `(handler, module)`; fns with the same labels share one series.
    /// The registry the handler families are in, for the edge's families (feature `tower`).
    #[cfg(any(feature = "tower", feature = "actix-web"))]
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    #[cfg(any(feature = "tower", feature = "actix-web"))]
    pub(crate) fn namespace(&self) -> &str {
        &self.namespace
    }

    pub(crate) fn series(&self, handler: String, module: &'static str) -> &'static Series {
        self.handlers.series(handler, module)
    }
}

/// The handler families of one runtime and their series, rendered at scrape time.
struct HandlerFamilies {
    families: Families,
    bounds_seconds: Vec<f64>,
    /// The bounds as the text format writes them in `le`.
    bounds_le: Vec<String>,
    /// The names the handler families take in OpenMetrics: theirs and their samples'.
    openmetrics_names: Vec<String>,
    exemplar_source: Option<ExemplarSource>,
    /// Where the series count native buckets, if they do.
    #[cfg(feature = "native-histograms")]
    native: Option<&'static crate::native::Layout>,
    /// The series by their labels, for call sites resolving theirs: scrapes never lock it.
    series: Mutex<BTreeMap<(String, &'static str), &'static Series>>,
    /// The same series in label order, for scrapes: replaced whole when one is added, so a
    /// scrape holds this lock only to clone the `Arc`, and a call's first resolution never
    /// waits while a scrape reads or renders.
    listed: Mutex<Arc<[&'static Series]>>,
}

impl HandlerFamilies {
    fn new(settings: &Settings) -> Self {
        let families = Families::new(&settings.namespace);
        let openmetrics_names = families
            .typed()
            .into_iter()
            .flat_map(|(desc, kind)| {
                let (family, kind) = openmetrics::family_and_kind(&desc.fq_name, kind);
                openmetrics::names(family, kind).collect::<Vec<_>>()
            })
            .collect();
        HandlerFamilies {
            families,
            openmetrics_names,
            bounds_le: settings.buckets.iter().map(f64::to_string).collect(),
            bounds_seconds: settings.buckets.clone(),
            #[cfg(feature = "native-histograms")]
            native: settings.native_histograms.as_ref().map(|native| {
                let ticks_per_second = crate::clock::clock().ticks_per_second();
                &*Box::leak(Box::new(crate::native::Layout::new(
                    native,
                    ticks_per_second,
                )))
            }),
            exemplar_source: settings.exemplar_source,
            series: Mutex::new(BTreeMap::new()),
            listed: Mutex::new(Arc::new([])),
        }
    }

    /// The series of `(handler, module)`, created at 0 the first time.
    fn series(&self, handler: String, module: &'static str) -> &'static Series {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (handler, module);
        if let Some(existing) = series.get(&key) {
            return existing;
        }
        let label_pairs = text::label_pairs(&key.0, module);
        let created = Series::new(
            key.0.clone(),
            module,
            label_pairs,
            &self.bounds_seconds,
            self.exemplar_source,
        );
        #[cfg(feature = "native-histograms")]
        let created = created.with_native(self.native);
        let created: &'static Series = Box::leak(Box::new(created));
        series.insert(key, created);
        let listed: Arc<[&'static Series]> = series.values().copied().collect();
        // The list it replaces is freed once its last scrape ends, outside the lock.
        let _replaced = std::mem::replace(
            &mut *self.listed.lock().unwrap_or_else(PoisonError::into_inner),
            listed,
        );
        created
    }

    fn register(self: &Arc<Self>, registry: &Registry) -> Result<(), ConfigError> {
        registry
            .register(Box::new(HandlerCollector(Arc::clone(self))))
            .map_err(|source| {
                let all = self.families.all();
                let name = all
                    .iter()
                    .find(|desc| registration_error(registry, desc).is_some())
                    .unwrap_or(&all[0])
                    .fq_name
                    .clone();
                ConfigError::NameClash {
                    name,
                    hint: "choose another namespace with Config::namespace",
                    source,
                }
            })
    }

    /// Refuses a family of `registry` whose OpenMetrics names collide with the handler
    /// families' (`openmetrics::names`): one named like an OpenMetrics family or sample of
    /// theirs, or a counter whose family name is one of those (`<name>_total`). A family
    /// registered later is left out of the OpenMetrics scrape instead.
    fn refuse_openmetrics_collisions(&self, registry: &Registry) -> Result<(), ConfigError> {
        let ours = self.families.all().map(|desc| desc.fq_name.as_str());
        let candidates = self
            .openmetrics_names
            .iter()
            .flat_map(|name| [name.clone(), format!("{name}_total")])
            .filter(|name| !ours.contains(&name.as_str()));
        // A probe that registers leaves its name, with this help, in the registry for good
        // (`Registry::unregister` keeps the names it saw): a family registered later under
        // that name, with other labels or help, is refused by the registry itself.
        const RESERVED: &str = "Reserved by metrics_runtime: in OpenMetrics, a handler family \
                                or one of its samples has this name.";
        for name in candidates {
            let probe = Desc::new(
                name.clone(),
                RESERVED.to_owned(),
                Vec::new(),
                Default::default(),
            )
            .expect("names built from a validated namespace are valid");
            if let Some(source) = registration_error(registry, &probe) {
                return Err(ConfigError::NameClash {
                    name,
                    hint: "in OpenMetrics, where a counter's family is named without `_total` \
                           and `_created`, `_bucket`, `_count` and `_sum` name samples, it \
                           collides with a handler family; rename it or choose another \
                           namespace with Config::namespace",
                    source,
                });
            }
        }
        Ok(())
    }

    /// Whether the registry gathered `family` from `HandlerCollector` (its name may carry the
    /// registry's prefix).
    fn gathered_as_ours(&self, family: &MetricFamily) -> bool {
        self.families
            .all()
            .iter()
            .any(|desc| family.help() == desc.help && family.name().ends_with(&desc.fq_name))
    }

    fn unregister(self: &Arc<Self>, registry: &Registry) {
        let _ = registry.unregister(Box::new(HandlerCollector(Arc::clone(self))));
    }

    fn snapshots(&self) -> Vec<(&'static Series, Snapshot)> {
        let listed = Arc::clone(&self.listed.lock().unwrap_or_else(PoisonError::into_inner));
        listed
            .iter()
            .map(|series| (*series, series.snapshot()))
            .collect()
    }
}

/// Whether `registry` gathers a family under its own name and labels: not a registry made with
/// `Registry::new_custom` and a prefix or common labels, which the text must carry too.
fn renders_names_unchanged(registry: &Registry) -> bool {
    const PROBE: &str = "metrics_runtime_unprefixed_probe";
    let probe = prometheus::IntGauge::new(PROBE, "probe").expect("a valid metric name");
    if registry.register(Box::new(probe.clone())).is_err() {
        return false;
    }
    let unchanged = registry.gather().iter().any(|family| {
        family.name() == PROBE
            && family
                .get_metric()
                .iter()
                .all(|metric| metric.get_label().is_empty())
    });
    let _ = registry.unregister(Box::new(probe));
    unchanged
}

/// Why `desc` alone cannot be registered, if it cannot. The probe carries our exact descriptor
/// because a failed registration leaves its names behind in the registry with our labels and
/// help.
fn registration_error(registry: &Registry, desc: &Desc) -> Option<prometheus::Error> {
    struct DescProbe(Desc);
    impl Collector for DescProbe {
        fn desc(&self) -> Vec<&Desc> {
            vec![&self.0]
        }
        fn collect(&self) -> Vec<MetricFamily> {
            Vec::new()
        }
    }
    let probe = || Box::new(DescProbe(desc.clone()));
    let refused = registry.register(probe()).err();
    if refused.is_none() {
        let _ = registry.unregister(probe());
    }
    refused
}

/// The handler families inside the registry: what it gathers when `gather()` does not write
/// them directly (a registry with a prefix or common labels), or when the server calls the
/// registry's own `gather()`.
struct HandlerCollector(Arc<HandlerFamilies>);

impl Collector for HandlerCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.0.families.all().to_vec()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        // `Runtime::gather` is writing them itself, faster: they would appear twice.
        if WRITING_DIRECTLY.get() {
            return Vec::new();
        }
        let handlers = &self.0;
        families::metric_families(
            &handlers.families,
            &handlers.bounds_seconds,
            handlers.snapshots(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::{HandlerFamilies, Settings};

    /// A scrape stuck in the middle of its snapshots (here, held at one series) does not hold
    /// up a handler's first call, which creates that handler's series.
    #[test]
    fn a_first_resolution_does_not_wait_for_a_scrape() {
        let families = &HandlerFamilies::new(&Settings::default());
        let slow = families.series("slow".to_owned(), "tests");
        let held = slow.hold_snapshots();
        std::thread::scope(|scope| {
            let scrape = scope.spawn(|| families.snapshots().len());
            // Time for the scrape to reach the held series.
            std::thread::sleep(Duration::from_millis(100));
            let (resolved, first_call) = mpsc::channel();
            scope.spawn(move || {
                let series = families.series("first_call".to_owned(), "tests");
                let _ = resolved.send(series.handler.clone());
            });
            let waited = first_call.recv_timeout(Duration::from_secs(2));
            drop(held);
            assert_eq!(waited.as_deref(), Ok("first_call"));
            assert_eq!(scrape.join().unwrap(), 1, "the series listed when it began");
        });
        assert_eq!(families.snapshots().len(), 2);
    }
}
