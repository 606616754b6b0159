use metrics_runtime::prometheus_metrics;

#[prometheus_metrics]
struct InstancesHandler {
    active: String,
}

fn main() {}
