//! The handler families of one runtime and their series: created on a call site's first
//! resolution, listed for scrapes without making a first call wait, and registered in the
//! runtime's registry.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus::Registry;
use prometheus::core::Desc;
use prometheus::proto::MetricFamily;

use crate::error::ConfigError;
use crate::exemplar::ExemplarSource;
use crate::exposition::families::Families;
use crate::exposition::{openmetrics, text};
use crate::series::{Series, Snapshot};

use super::Settings;
use super::registry::{HandlerCollector, registration_error};

/// The handler families of one runtime and their series, rendered at scrape time.
pub(super) struct HandlerFamilies {
    pub(super) families: Families,
    pub(super) bounds_seconds: Vec<f64>,
    /// The bounds as the text format writes them in `le`.
    pub(super) bounds_le: Vec<String>,
    /// The names the handler families take in OpenMetrics: theirs and their samples'.
    pub(super) openmetrics_names: Vec<String>,
    pub(super) exemplar_source: Option<ExemplarSource>,
    /// Where the series count native buckets, if they do.
    #[cfg(feature = "native-histograms")]
    pub(super) native: Option<&'static crate::native::Layout>,
    /// The series by their labels, for call sites resolving theirs: scrapes never lock it.
    pub(super) series: Mutex<BTreeMap<(String, &'static str), &'static Series>>,
    /// The same series in label order, for scrapes: replaced whole when one is added, so a
    /// scrape holds this lock only to clone the `Arc`, and a call's first resolution never
    /// waits while a scrape reads or renders.
    pub(super) listed: Mutex<Arc<[&'static Series]>>,
}

impl HandlerFamilies {
    pub(super) fn new(settings: &Settings) -> Self {
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
    pub(super) fn series(&self, handler: String, module: &'static str) -> &'static Series {
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

    pub(super) fn register(self: &Arc<Self>, registry: &Registry) -> Result<(), ConfigError> {
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
    pub(super) fn refuse_openmetrics_collisions(
        &self,
        registry: &Registry,
    ) -> Result<(), ConfigError> {
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
    pub(super) fn gathered_as_ours(&self, family: &MetricFamily) -> bool {
        self.families
            .all()
            .iter()
            .any(|desc| family.help() == desc.help && family.name().ends_with(&desc.fq_name))
    }

    pub(super) fn unregister(self: &Arc<Self>, registry: &Registry) {
        let _ = registry.unregister(Box::new(HandlerCollector(Arc::clone(self))));
    }

    pub(super) fn snapshots(&self) -> Vec<(&'static Series, Snapshot)> {
        let listed = Arc::clone(&self.listed.lock().unwrap_or_else(PoisonError::into_inner));
        listed
            .iter()
            .map(|series| (*series, series.snapshot()))
            .collect()
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
