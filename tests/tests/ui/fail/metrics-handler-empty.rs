use metrics_runtime::prometheus_metrics;

#[prometheus_metrics(handler = "")]
fn get_instances() {}

fn main() {}
