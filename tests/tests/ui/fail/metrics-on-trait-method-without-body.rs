use metrics_runtime::prometheus_metrics;

trait Handler {
    #[prometheus_metrics]
    fn get(&self) -> String;
}

fn main() {}
