use metrics_runtime::prometheus_metrics;

#[prometheus_metrics]
const fn answer() -> u32 {
    42
}

fn main() {}
