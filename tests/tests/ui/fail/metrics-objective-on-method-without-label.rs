use metrics_runtime::{Objective, prometheus_metrics};

const CATALOGUE: Objective = Objective::new("catalogue").availability(99.9);

struct InstancesHandler;

impl InstancesHandler {
    #[prometheus_metrics(objective = CATALOGUE)]
    fn get(&self) {}
}

fn main() {}
