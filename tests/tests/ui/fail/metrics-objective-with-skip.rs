use metrics_runtime::{Objective, prometheus_metrics};

const CATALOGUE: Objective = Objective::new("catalogue").availability(99.9);

#[prometheus_metrics(skip, objective = CATALOGUE)]
fn oidc_auth_check() {}

fn main() {}
