use metrics_runtime::authenticated;

#[authenticated(self)]
fn get_instances(token: &str) {
    let _ = token;
}

fn main() {}
