//! The `Type::method` label has two makers that must agree: `#[prometheus_handlers]` names the
//! type from the `impl` block's tokens at compile time, and a method's own attribute names it
//! from `std::any::type_name::<Self>()` at its first call. For each shape of `Self` in the table,
//! one impl is labelled each way and the type parts of the two labels must be equal.

use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use handler_metrics_tests::Scrape;
use metrics_runtime::{prometheus_handlers, prometheus_metrics};

struct Plain;

mod nested {
    pub struct Wrapper<T>(pub T);
}

trait Shape {}
impl Shape for Plain {}

/// Labelled at compile time.
trait Compiled {
    fn compiled(&self) -> u8;
}

/// Labelled at run time.
trait AtRunTime {
    fn at_run_time(&self) -> u8;
}

macro_rules! both_ways {
    ($($ty:ty),* $(,)?) => {$(
        #[prometheus_handlers]
        impl Compiled for $ty {
            #[prometheus_metrics]
            fn compiled(&self) -> u8 {
                1
            }
        }

        impl AtRunTime for $ty {
            #[prometheus_metrics]
            fn at_run_time(&self) -> u8 {
                1
            }
        }
    )*};
}

both_ways!(
    Plain,
    &'static Plain,
    Arc<Plain>,
    Box<Plain>,
    Rc<Plain>,
    Pin<Box<Plain>>,
    Weak<Plain>,
    Box<dyn Shape + Send>,
    nested::Wrapper<Plain>,
    Arc<nested::Wrapper<u8>>,
);

fn call_both<T: Compiled + AtRunTime>(value: T) {
    assert_eq!(value.compiled() + value.at_run_time(), 2);
}

#[test]
fn the_compile_time_and_run_time_labels_name_the_same_type() {
    call_both(Plain);
    call_both(&Plain);
    call_both(Arc::new(Plain));
    call_both(Box::new(Plain));
    call_both(Rc::new(Plain));
    call_both(Box::pin(Plain));
    call_both(Weak::<Plain>::new());
    call_both(Box::new(Plain) as Box<dyn Shape + Send>);
    call_both(nested::Wrapper(Plain));
    call_both(Arc::new(nested::Wrapper(1u8)));

    let scrape = Scrape::take();
    let labels = |method: &str| -> Vec<String> {
        let mut types: Vec<String> = scrape
            .samples
            .iter()
            .filter(|sample| sample.name == "handler_requests_total" && sample.value > 0.0)
            .filter_map(|sample| sample.labels.get("handler"))
            .filter_map(|label| label.strip_suffix(method).map(str::to_owned))
            .collect();
        types.sort();
        types
    };
    let compiled = labels("::compiled");
    assert_eq!(compiled, ["Plain", "Shape", "Wrapper"]);
    assert_eq!(labels("::at_run_time"), compiled);
}
