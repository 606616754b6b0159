use metrics_runtime::prometheus_metrics;

#[prometheus_metrics(objective = "catalogue")]
fn list_scopes() {}

fn main() {}
