use metrics_runtime::prometheus_metrics;

#[prometheus_metrics]
#[prometheus_metrics]
fn get_instances() {}

fn main() {}
