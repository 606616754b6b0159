use metrics_runtime::{Objective, prometheus_metrics};

const SEARCH: Objective = Objective::new("did search").availability(99.9);

#[prometheus_metrics(objective = SEARCH)]
fn did_search() {}

fn main() {}
