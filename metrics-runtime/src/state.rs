//! The one runtime a process has: its settings, its registry and every call site's series.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use once_cell::sync::OnceCell;
use prometheus::Registry;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};

use crate::config::{ConfigError, Settings};
use crate::exposition;
use crate::site::{CallSite, SiteState, Snapshot};

static RUNTIME: OnceCell<Runtime> = OnceCell::new();
static INSTALL: Mutex<()> = Mutex::new(());

pub(crate) struct Runtime {
    registry: Registry,
    families: Arc<Families>,
    installed_by_config: bool,
    /// Whether the registry leaves family names and labels as they are (no prefix, no common
    /// labels), so the handler families can be written without going through it.
    write_directly: bool,
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
        let registry = settings.registry.clone();
        let families = Arc::new(Families::new(&settings));
        // gather() cannot return an error; a clash here is reported once and the series stay
        // unexported rather than taking the server down.
        let registered = families
            .register(&registry)
            .inspect_err(|clash| {
                eprintln!("metrics_runtime: handler metrics are not exported: {clash}");
            })
            .is_ok();
        Runtime {
            write_directly: registered && renders_names_unchanged(&registry),
            registry,
            families,
            installed_by_config: false,
        }
    })
}

pub(crate) fn install(settings: Settings) -> Result<(), ConfigError> {
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(current) = RUNTIME.get() {
        return Err(current.already_there());
    }
    crate::clock::clock();
    let families = Arc::new(Families::new(&settings));
    families.register(&settings.registry)?;
    if settings.process_metrics {
        register_process_metrics(&settings.registry).inspect_err(|_| {
            families.unregister(&settings.registry);
        })?;
    }
    let runtime = Runtime {
        write_directly: renders_names_unchanged(&settings.registry),
        registry: settings.registry,
        families,
        installed_by_config: true,
    };
    RUNTIME.set(runtime).map_err(|lost_race| {
        lost_race.families.unregister(&lost_race.registry);
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
    /// The text exposition of the whole registry.
    pub(crate) fn gather(&self) -> String {
        let others = if self.write_directly {
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
        let mut exposition = String::new();
        if let Err(error) = prometheus::TextEncoder::new().encode_utf8(&others, &mut exposition) {
            // A comment keeps the scrape parseable and makes the failure visible in it.
            exposition.push_str(&format!("# metrics_runtime: encoding failed: {error}\n"));
        }
        if self.write_directly {
            self.families.write_text(&mut exposition);
        }
        exposition
    }

    fn already_there(&self) -> ConfigError {
        if self.installed_by_config {
            ConfigError::AlreadyInstalled
        } else {
            ConfigError::AlreadyInUse
        }
    }

    /// The series of `(handler, module)`; call sites with the same labels share one series.
    pub(crate) fn site(&self, handler: String, site: &'static CallSite) -> &'static SiteState {
        let families = &self.families;
        let mut sites = families
            .sites
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (handler, site.module);
        if let Some(existing) = sites.get(&key) {
            return existing;
        }
        let state: &'static SiteState = Box::leak(Box::new(SiteState::new(
            key.0.clone(),
            site,
            &families.bounds_seconds,
        )));
        sites.insert(key, state);
        state
    }
}

/// The four handler metric families, rendered from the call sites at scrape time.
struct Families {
    descs: [Desc; 4],
    bounds_seconds: Vec<f64>,
    /// The bounds as the text format writes them in `le`.
    bounds_le: Vec<String>,
    sites: Mutex<BTreeMap<(String, &'static str), &'static SiteState>>,
}

const LABELS: [&str; 2] = ["handler", "module"];
const REQUESTS: usize = 0;
const LATENCY: usize = 1;
const IN_FLIGHT: usize = 2;
const ERRORS: usize = 3;

impl Families {
    fn new(settings: &Settings) -> Self {
        let desc = |suffix: &str, help: &str| {
            let name = format!("{}_{suffix}", settings.namespace);
            let labels = LABELS.iter().map(|label| label.to_string()).collect();
            Desc::new(name, help.to_owned(), labels, Default::default())
                .expect("validated namespace gives valid metric names")
        };
        Families {
            descs: [
                desc("requests_total", "Requests that reached the handler body."),
                desc(
                    "request_latency_seconds",
                    "Time spent in the handler body, however it ended.",
                ),
                desc("requests_in_flight", "Handler bodies running now."),
                desc(
                    "request_errors_total",
                    "Handler bodies that returned Err or panicked.",
                ),
            ],
            bounds_le: settings.buckets.iter().map(f64::to_string).collect(),
            bounds_seconds: settings.buckets.clone(),
            sites: Mutex::new(BTreeMap::new()),
        }
    }

    fn register(self: &Arc<Self>, registry: &Registry) -> Result<(), ConfigError> {
        registry
            .register(Box::new(HandlerCollector(Arc::clone(self))))
            .map_err(|source| {
                let name = self
                    .descs
                    .iter()
                    .find(|desc| name_taken(registry, desc))
                    .map_or_else(
                        || self.descs[REQUESTS].fq_name.clone(),
                        |desc| desc.fq_name.clone(),
                    );
                ConfigError::NameClash {
                    name,
                    hint: "choose another namespace with Config::namespace",
                    source,
                }
            })
    }

    fn unregister(self: &Arc<Self>, registry: &Registry) {
        let _ = registry.unregister(Box::new(HandlerCollector(Arc::clone(self))));
    }

    fn snapshots(&self) -> Vec<(&'static SiteState, Snapshot)> {
        let sites = self.sites.lock().unwrap_or_else(PoisonError::into_inner);
        sites
            .values()
            .map(|site| (*site, site.snapshot()))
            .collect()
    }

    fn write_text(&self, out: &mut String) {
        let family = |index: usize| {
            let desc = &self.descs[index];
            (desc.fq_name.as_str(), desc.help.as_str())
        };
        let names = exposition::Names {
            requests: family(REQUESTS),
            latency: family(LATENCY),
            in_flight: family(IN_FLIGHT),
            errors: family(ERRORS),
        };
        exposition::write_families(out, &names, &self.bounds_le, &self.snapshots());
    }

    fn render(&self) -> Vec<MetricFamily> {
        let mut metrics: [Vec<Metric>; 4] = Default::default();
        for (site, snapshot) in self.snapshots() {
            let in_flight = snapshot.in_flight();
            let Snapshot {
                started,
                errors,
                finished,
                sum_seconds,
                cumulative,
            } = snapshot;
            let labelled = |fill: &dyn Fn(&mut Metric)| {
                let mut metric = Metric::from_label(vec![
                    label_pair("handler", &site.handler),
                    label_pair("module", site.module),
                ]);
                fill(&mut metric);
                metric
            };
            metrics[REQUESTS].push(labelled(&|m| m.set_counter(counter(started))));
            metrics[ERRORS].push(labelled(&|m| m.set_counter(counter(errors))));
            metrics[IN_FLIGHT].push(labelled(&|m| {
                let mut gauge = Gauge::default();
                gauge.set_value(in_flight as f64);
                m.set_gauge(gauge);
            }));
            metrics[LATENCY].push(labelled(&|m| {
                let mut histogram = Histogram::default();
                histogram.set_sample_count(finished);
                histogram.set_sample_sum(sum_seconds);
                histogram.set_bucket(
                    self.bounds_seconds
                        .iter()
                        .zip(&cumulative)
                        .map(|(&bound, &count)| {
                            let mut bucket = Bucket::default();
                            bucket.set_upper_bound(bound);
                            bucket.set_cumulative_count(count);
                            bucket
                        })
                        .collect(),
                );
                m.set_histogram(histogram);
            }));
        }
        let types = [
            MetricType::COUNTER,
            MetricType::HISTOGRAM,
            MetricType::GAUGE,
            MetricType::COUNTER,
        ];
        self.descs
            .iter()
            .zip(types)
            .zip(metrics)
            .map(|((desc, kind), metrics)| {
                let mut family = MetricFamily::default();
                family.set_name(desc.fq_name.clone());
                family.set_help(desc.help.clone());
                family.set_field_type(kind);
                family.set_metric(metrics);
                family
            })
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

/// Whether `desc` alone can be registered. The probe carries our exact descriptor because a
/// failed registration leaves its names behind in the registry with our labels and help.
fn name_taken(registry: &Registry, desc: &Desc) -> bool {
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
    let taken = registry.register(probe()).is_err();
    if !taken {
        let _ = registry.unregister(probe());
    }
    taken
}

fn counter(value: u64) -> Counter {
    let mut counter = Counter::default();
    counter.set_value(value as f64);
    counter
}

fn label_pair(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.to_owned());
    pair.set_value(value.to_owned());
    pair
}

struct HandlerCollector(Arc<Families>);

impl Collector for HandlerCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.0.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        if WRITING_DIRECTLY.get() {
            return Vec::new();
        }
        self.0.render()
    }
}
