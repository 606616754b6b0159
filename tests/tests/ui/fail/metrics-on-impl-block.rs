use metrics_runtime::prometheus_metrics;

struct InstancesHandler;

#[prometheus_metrics]
impl InstancesHandler {
    fn get(&self) {}
}

fn main() {}
