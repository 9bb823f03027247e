//! The server's floors point down (`shared/DESIGN.md`, "Layers"): this test
//! reads every `crate::…` path in `server/src` and fails when a module
//! names one on a higher floor, so the layering stays true by itself.
//!
//! A module is a top-level name under `server/src` (`store`, `http`, …);
//! modules on one floor may use each other.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Lowest first. A module missing here fails the test, so a new one has
/// to be given its floor.
const FLOORS: &[&[&str]] = &[
    &["clock", "shutdown"],
    &["store", "catalog"],
    &["metrics", "query", "audit"],
    &["ingest", "drains", "grafana", "cluster"],
    &["http", "console"],
    &["lib", "main", "cli", "bench", "demo", "bootstrap"],
];

fn floor_of(module: &str) -> Option<usize> {
    FLOORS.iter().position(|floor| floor.contains(&module))
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// The top-level modules a source text names through `crate::`, with
/// grouped imports (`use crate::{a::x, b}`) read too.
fn named_modules(source: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = source;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: what follows `{` or a `,` at depth 0.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        rest = &group[i..];
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_ascii_alphabetic() || c == '_') => {
                        let name: String =
                            group[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                        names.insert(name);
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

#[test]
fn no_module_names_one_on_a_higher_floor() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "found the sources: {}", files.len());
    let mut breaches = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_str().unwrap();
        let module = first.trim_end_matches(".rs");
        let Some(floor) = floor_of(module) else {
            breaches.push(format!("{}: module `{module}` has no floor in FLOORS", relative.display()));
            continue;
        };
        // Code only: comments may name any module.
        let source: String = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .map(|line| line.split("//").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        for named in named_modules(&source) {
            // Items of lib.rs itself (`crate::start`) are the top floor's.
            let named_floor = floor_of(&named).unwrap_or(FLOORS.len() - 1);
            if named_floor > floor {
                breaches.push(format!(
                    "{}: `{module}` (floor {floor}) names `crate::{named}` (floor {named_floor})",
                    relative.display()
                ));
            }
        }
    }
    assert!(breaches.is_empty(), "lower modules import higher ones:\n{}", breaches.join("\n"));
}

#[test]
fn grouped_and_plain_imports_are_both_read() {
    let source = "use crate::store::Store;\nuse crate::{http::auth::Caller, demo};\nlet x = crate::clock::now_ns();";
    let names: Vec<String> = named_modules(source).into_iter().collect();
    assert_eq!(names, ["clock", "demo", "http", "store"]);
}
