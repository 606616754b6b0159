use metrics_runtime::{Objective, prometheus_metrics};

const CATALOGUE: Objective = Objective::new("catalogue").availability(99.9);

#[prometheus_metrics(objective = CATALOGUE, objective = CATALOGUE)]
fn list_scopes() {}

fn main() {}
