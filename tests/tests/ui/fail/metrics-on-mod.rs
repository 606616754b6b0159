use metrics_runtime::prometheus_metrics;

#[prometheus_metrics]
mod handlers {
    pub fn get() {}
}

fn main() {}
