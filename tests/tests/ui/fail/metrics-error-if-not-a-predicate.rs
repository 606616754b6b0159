use metrics_runtime::prometheus_metrics;

const IS_SERVER_ERROR: bool = true;

fn wrong_output(status: &u16) -> bool {
    *status >= 500
}

#[prometheus_metrics(error_if = IS_SERVER_ERROR)]
fn not_a_fn() -> Result<(), String> {
    Ok(())
}

#[prometheus_metrics(error_if = wrong_output)]
fn another_output_type() -> Result<(), String> {
    Ok(())
}

#[prometheus_metrics(error_if = "wrong_output")]
fn a_string() -> Result<(), String> {
    Ok(())
}

fn main() {}
