//! What the runtime asks of the user's registry: the collector that serves the handler
//! families to whoever gathers it, and the probes that tell how it renders names and whether
//! a name is free.

use std::cell::Cell;
use std::sync::Arc;

use prometheus::Registry;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;

use crate::exposition::families;

use super::handlers::HandlerFamilies;

thread_local! {
    /// Set while `Runtime::gather` collects the other metrics of the registry: the handler
    /// families are written directly instead.
    static WRITING_DIRECTLY: Cell<bool> = const { Cell::new(false) };
}

/// The registry's families without the handler families, which `Runtime::gather` writes
/// itself, faster: gathered through the collector too, they would appear twice.
pub(super) fn gather_without_ours(registry: &Registry) -> Vec<MetricFamily> {
    /// Clears the flag however `gather` ends: a collector of the user's may panic.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            WRITING_DIRECTLY.set(false);
        }
    }
    WRITING_DIRECTLY.set(true);
    let _reset = Reset;
    registry.gather()
}

/// Whether `registry` gathers a family under its own name and labels: not a registry made with
/// `Registry::new_custom` and a prefix or common labels, which the text must carry too.
pub(super) fn renders_names_unchanged(registry: &Registry) -> bool {
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
pub(super) fn registration_error(registry: &Registry, desc: &Desc) -> Option<prometheus::Error> {
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
pub(super) struct HandlerCollector(pub(super) Arc<HandlerFamilies>);

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
