use metrics_runtime::{authenticated, prometheus_metrics};

#[authenticated]
#[prometheus_metrics]
fn purge_cache() {}

fn main() {}
