//! Reads the `prometheus` crate's data model the same way in both of its forms.
//!
//! The crate's `protobuf` feature (on by default, and turned on by `push`) swaps its plain
//! `proto` structs for protobuf-generated ones, and Cargo turns it on for every crate in a build
//! as soon as one asks: this runtime must compile against either. The two forms share most
//! accessors; a counter's and a gauge's value are the exception (`get_value()` on the plain
//! structs, `value()` on the generated ones), and a metric's counter or gauge is a plain
//! reference in one form and a `MessageField` (which dereferences to it) in the other.

use std::sync::Once;

use prometheus::proto::{Counter, Gauge, Metric, MetricFamily, MetricType};

/// Removes untyped families, saying so once on stderr. Neither form lets a reader take an
/// untyped sample's value (the generated struct has no accessor for it), and the crate's own
/// text encoder panics on one; only a hand-written collector can produce them.
pub(crate) fn without_untyped(families: &mut Vec<MetricFamily>) {
    static WARNED: Once = Once::new();
    let before = families.len();
    families.retain(|family| family.get_field_type() != MetricType::UNTYPED);
    if families.len() != before {
        WARNED.call_once(|| {
            eprintln!(
                "metrics_runtime: untyped metric families are left out of every scrape; \
                 give them a type (counter, gauge, histogram or summary)"
            );
        });
    }
}

/// The value of a counter sample.
pub(crate) fn counter_value(metric: &Metric) -> f64 {
    let counter: &Counter = metric.get_counter();
    counter.get_value()
}

/// The value of a gauge sample.
pub(crate) fn gauge_value(metric: &Metric) -> f64 {
    let gauge: &Gauge = metric.get_gauge();
    gauge.get_value()
}

// Each form has one of the two accessors as an inherent method, and inherent methods win over
// trait methods: the trait supplies the missing one by calling the other, which then resolves
// to the inherent method. So `get_value()` is the struct's own in the plain form, and calls
// `value()` in the protobuf form; neither form ever runs a trait method that calls itself. One
// of the two traits goes unused in each form.
#[allow(dead_code)]
trait GetValue {
    fn get_value(&self) -> f64;
}

#[allow(dead_code)]
trait Value {
    fn value(&self) -> f64;
}

macro_rules! either_accessor {
    ($($ty:ty),*) => {$(
        impl GetValue for $ty {
            fn get_value(&self) -> f64 {
                self.value()
            }
        }
        impl Value for $ty {
            fn value(&self) -> f64 {
                self.get_value()
            }
        }
    )*};
}

either_accessor!(Counter, Gauge);

#[cfg(test)]
mod tests {
    use prometheus::core::Collector;
    use prometheus::proto::{Metric, MetricFamily, MetricType};
    use prometheus::{Counter, Gauge};

    #[test]
    fn untyped_families_are_left_out() {
        let mut untyped = MetricFamily::default();
        untyped.set_name("legacy".to_owned());
        untyped.set_field_type(MetricType::UNTYPED);
        untyped.set_metric(vec![Metric::default()]);
        let mut typed = MetricFamily::default();
        typed.set_name("kept".to_owned());
        typed.set_field_type(MetricType::GAUGE);
        let mut families = vec![untyped, typed];
        super::without_untyped(&mut families);
        let names: Vec<&str> = families.iter().map(|family| family.name()).collect();
        assert_eq!(names, ["kept"]);
    }

    #[test]
    fn counter_and_gauge_values_read_back() {
        let counter = Counter::new("c_total", "c").unwrap();
        counter.inc_by(2.5);
        let gauge = Gauge::new("g", "g").unwrap();
        gauge.set(-4.25);
        let (counted, gauged) = (counter.collect(), gauge.collect());
        assert_eq!(super::counter_value(&counted[0].get_metric()[0]), 2.5);
        assert_eq!(super::gauge_value(&gauged[0].get_metric()[0]), -4.25);
    }
}
