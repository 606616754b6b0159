// The output names a type parameter: whether it is an error is known only where the fn is used.
use metrics_runtime::prometheus_metrics;

#[prometheus_metrics]
fn pass_through<R>(response: R) -> R {
    response
}

#[prometheus_metrics]
fn generic_error<E>(error: E) -> Result<(), E> {
    Err(error)
}

fn main() {
    let _ = pass_through(1);
    let _ = generic_error(2);
}
