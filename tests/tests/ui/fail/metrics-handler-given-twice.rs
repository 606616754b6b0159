use metrics_runtime::prometheus_metrics;

#[prometheus_metrics(handler = "a", handler = "b")]
fn get_instances() {}

fn main() {}
