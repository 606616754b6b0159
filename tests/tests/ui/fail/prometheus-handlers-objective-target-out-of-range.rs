use metrics_runtime::{Objective, prometheus_handlers, prometheus_metrics};

const ALWAYS: Objective = Objective::new("always").availability(100.0);

struct InstancesHandler;

#[prometheus_handlers(objective = ALWAYS)]
impl InstancesHandler {
    #[prometheus_metrics]
    fn get(&self) {}
}

fn main() {}
