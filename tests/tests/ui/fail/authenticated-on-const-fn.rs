use metrics_runtime::authenticated;

#[authenticated]
const fn get_instances(token: &str) -> usize {
    token.len()
}

fn main() {}
