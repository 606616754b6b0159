use std::time::Duration;

use metrics_runtime::prometheus_metrics;

const CATALOGUE: Duration = Duration::from_millis(250);

#[prometheus_metrics(objective = CATALOGUE)]
fn list_scopes() {}

fn main() {}
