//! The runtime's modules import one way: read from the code's own paths (`use crate::…` and
//! `crate::…` in code, comments and unit tests left out), the graph of its top-level modules
//! has no circle; and ARCHITECTURE.md's map of its files matches the tree.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../metrics-runtime/src");

/// Each top-level module (a file, or a folder with `mod.rs`) and the files it is made of.
fn modules() -> BTreeMap<String, Vec<String>> {
    let mut modules: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in fs::read_dir(SOURCE).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            for file in fs::read_dir(&path).unwrap() {
                let file = file.unwrap().path();
                modules
                    .entry(name.clone())
                    .or_default()
                    .push(fs::read_to_string(file).unwrap());
            }
        } else if name != "lib" && path.extension().is_some_and(|ext| ext == "rs") {
            modules
                .entry(name)
                .or_default()
                .push(fs::read_to_string(&path).unwrap());
        }
    }
    modules
}

/// The modules `code` names through `crate::`, outside comments and its unit tests (a test
/// may look at the layers above).
fn imports(code: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let code = code.split("#[cfg(test)]\nmod tests").next().unwrap_or(code);
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        // `use crate::{a, b::C}` names several.
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let listed: Vec<&str> = match rest.strip_prefix('{') {
                Some(list) => list.split('}').next().unwrap_or("").split(',').collect(),
                None => vec![rest],
            };
            for item in listed {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if known.contains(&name) {
                    names.insert(name);
                }
            }
        }
    }
    names
}

/// A circle of `graph`, if it has one.
fn circle(graph: &BTreeMap<&str, BTreeSet<String>>) -> Option<Vec<String>> {
    // Depth-first, keeping the path: a module met again on it closes a circle.
    fn visit<'a>(
        module: &'a str,
        graph: &'a BTreeMap<&str, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        seen: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|&m| m == module) {
            let mut circle: Vec<String> = path[start..].iter().map(|m| m.to_string()).collect();
            circle.push(module.to_owned());
            return Some(circle);
        }
        if !seen.insert(module) {
            return None;
        }
        path.push(module);
        for next in graph.get(module).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, seen) {
                return Some(circle);
            }
        }
        path.pop();
        None
    }
    let mut seen = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| visit(module, graph, &mut Vec::new(), &mut seen))
}

#[test]
fn the_runtime_has_no_import_circle() {
    let modules = modules();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    assert!(
        known.contains("series") && known.contains("native"),
        "{known:?}"
    );
    let graph: BTreeMap<&str, BTreeSet<String>> = modules
        .iter()
        .map(|(name, files)| {
            let mut names: BTreeSet<String> = files
                .iter()
                .flat_map(|code| imports(code, &known))
                .collect();
            names.remove(name);
            (name.as_str(), names)
        })
        .collect();
    // The check reads real edges: a call resolves its series through the runtime.
    assert!(graph["call"].contains("runtime"), "{:?}", graph["call"]);
    if let Some(circle) = circle(&graph) {
        panic!("an import circle: {}", circle.join(" → "));
    }
}

#[test]
fn imports_are_read_from_code_and_a_circle_is_found() {
    let known: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
    assert_eq!(
        imports("use crate::{a, b::X}; // crate::c", &known),
        ["a", "b"].map(String::from).into()
    );
    assert!(imports("// use crate::a;", &known).is_empty());
    let edges = |pairs: &[(&'static str, &'static str)]| {
        let mut graph: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for &(from, to) in pairs {
            graph.entry(from).or_default().insert(to.to_owned());
            graph.entry(to).or_default();
        }
        graph
    };
    assert_eq!(circle(&edges(&[("a", "b"), ("b", "c")])), None);
    assert_eq!(
        circle(&edges(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(["a", "b", "c", "a"].map(String::from).to_vec())
    );
    assert!(Path::new(SOURCE).join("lib.rs").exists());
}

/// ARCHITECTURE.md's map of `metrics-runtime/src/` names every file there, each folder's
/// files in the folder's row, and nothing that is not there.
#[test]
fn the_architecture_map_matches_the_tree() {
    let map =
        fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../ARCHITECTURE.md")).unwrap();
    let rows: Vec<(&str, &str)> = map
        .lines()
        .filter_map(|line| {
            let mut cells = line.strip_prefix("| `")?.splitn(2, " | ");
            Some((cells.next()?, cells.next()?))
        })
        .collect();
    let row_of = |name: &str| {
        rows.iter().find(|(first, _)| {
            first
                .split(", ")
                .any(|cell| cell.contains(&format!("{name}`")))
        })
    };
    let mut on_disk = BTreeSet::new();
    for entry in fs::read_dir(SOURCE).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let (_, holds) = row_of(&format!("{name}/"))
                .unwrap_or_else(|| panic!("ARCHITECTURE.md has no row for `{name}/`"));
            for file in fs::read_dir(&path).unwrap() {
                let file = file.unwrap().file_name().to_string_lossy().into_owned();
                on_disk.insert(format!("{name}/{file}"));
                assert!(
                    file == "mod.rs" || holds.contains(&format!("`{file}`")),
                    "the row of `{name}/` does not name `{file}`"
                );
            }
            on_disk.insert(format!("{name}/"));
        } else if name != "lib.rs" {
            assert!(
                row_of(&name).is_some(),
                "ARCHITECTURE.md has no row for `{name}`"
            );
            on_disk.insert(name);
        }
    }
    for (first, _) in &rows {
        for cell in first.split(", ") {
            let name = cell.trim_matches('`').split('`').next().unwrap();
            if name.ends_with(".rs") || name.ends_with('/') {
                assert!(
                    on_disk.contains(name),
                    "ARCHITECTURE.md names `{name}`, which metrics-runtime/src/ does not have"
                );
            }
        }
    }
}
