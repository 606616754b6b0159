//! The README's quick start, as written, is this crate's `main.rs`: it compiles in a fresh crate
//! next to `prometheus = "0.14"`, and its assertions hold when it runs.

use std::process::Command;

#[test]
fn main_rs_is_the_readme_quick_start() {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme
        .find("## Quick start")
        .expect("a quick start section")..];
    let start = section.find("```rust\n").expect("a rust block") + "```rust\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    assert_eq!(block, include_str!("../src/main.rs"));
}

#[test]
fn the_quick_start_runs() {
    let status = Command::new(env!("CARGO_BIN_EXE_handler-metrics-downstream"))
        .status()
        .unwrap();
    assert!(status.success());
}
