use metrics_runtime::prometheus_handlers;

#[prometheus_handlers]
fn get_instances() {}

fn main() {}
