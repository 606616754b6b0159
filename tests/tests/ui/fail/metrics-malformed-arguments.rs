use metrics_runtime::prometheus_metrics;

#[prometheus_metrics(handler "instances")]
fn get_instances() {}

fn main() {}
