use metrics_runtime::prometheus_metrics;

#[prometheus_metrics(name = "instances")]
fn get_instances() {}

fn main() {}
