use metrics_runtime::prometheus_metrics;

#[prometheus_metrics(handler = 5)]
fn get_instances() {}

fn main() {}
