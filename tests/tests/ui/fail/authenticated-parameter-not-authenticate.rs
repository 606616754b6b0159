use metrics_runtime::authenticated;

#[authenticated]
fn get_instances(token: &str) -> Result<(), String> {
    let _ = token;
    Ok(())
}

fn main() {}
