use metrics_runtime::prometheus_metrics;

#[prometheus_metrics(handler = "instances\nget")]
fn get_instances() {}

fn main() {}
