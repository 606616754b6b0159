// Under `#[prometheus_handlers]`, the impl's type parameters are known: an output naming one
// cannot be classified where the attribute expands.
use metrics_runtime::{prometheus_handlers, prometheus_metrics};

struct Store<T>(T);

#[prometheus_handlers]
impl<T: Clone> Store<T> {
    #[prometheus_metrics]
    fn get(&self) -> Option<T> {
        Some(self.0.clone())
    }
}

fn main() {
    let _ = Store(1).get();
}
