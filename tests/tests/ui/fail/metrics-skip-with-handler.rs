use metrics_runtime::prometheus_metrics;

#[prometheus_metrics(skip, handler = "oidc")]
fn oidc_auth_check() {}

fn main() {}
