use metrics_runtime::prometheus_handlers;

struct InstancesHandler;

#[prometheus_handlers(prefix = "rucio")]
impl InstancesHandler {}

fn main() {}
