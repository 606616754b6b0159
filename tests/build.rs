//! Finds `promtool` and `prometheus` for the tests that run them (`find_tools.rs`).

mod find_tools;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=find_tools.rs");
    find_tools::find_tools();
}
