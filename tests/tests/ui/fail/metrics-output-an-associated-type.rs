// A trait's default method returning an associated type: each implementor decides the type.
use metrics_runtime::prometheus_metrics;

trait Handler {
    type Out: Default;

    #[prometheus_metrics]
    fn handle(&self) -> Self::Out {
        Self::Out::default()
    }
}

fn main() {}
