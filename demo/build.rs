//! Sets `DEMO_GIT_REVISION` for the build-info metric: the commit being built, or `unknown`
//! where there is no git or no repository (a source tarball, a clean copy without `.git`). And
//! finds `promtool` and `prometheus` for the end-to-end tests (`tests/find_tools.rs`).

#[path = "../tests/find_tools.rs"]
mod find_tools;

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| text.to_owned())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../tests/find_tools.rs");
    find_tools::find_tools();
    let revision = git(&["rev-parse", "--short=12", "HEAD"]);
    if revision.is_some() {
        // Rebuild when HEAD moves: a commit, a checkout, or a ref update (loose or packed).
        let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
        watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
        for name in watched {
            if let Some(path) = git(&["rev-parse", "--git-path", &name])
                && Path::new(&path).exists()
            {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    let revision = revision.unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=DEMO_GIT_REVISION={revision}");
}
