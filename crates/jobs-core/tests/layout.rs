//! The shape of the code, checked: jobs-core's top-level modules depend on each other in
//! one direction only (no import cycle), and no source file of the workspace outside its
//! tests is over 600 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Longest non-test source file.
const MAX_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file that holds only tests or test support.
fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_str().unwrap();
    name == "tests.rs" || name == "testing.rs"
}

/// The source before its unit tests (by convention the last item, `#[cfg(test)] mod`).
fn without_tests(source: &str) -> &str {
    let mut end = source.len();
    for marker in ["\n#[cfg(test)]\nmod ", "\n#[cfg(test)]\npub(crate) mod "] {
        if let Some(at) = source.find(marker) {
            end = end.min(at);
        }
    }
    &source[..end]
}

/// The crate-level modules `source` names through `crate::`, comments left out.
fn crate_references(source: &str) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .map(|line| line.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let name = item.trim().split("::").next().unwrap().trim();
                if !name.is_empty() {
                    out.insert(name.to_owned());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn jobs_core_modules_depend_on_each_other_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files.iter().filter(|f| !is_test_file(f)) {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let module = top.trim_end_matches(".rs").to_owned();
        if module == "lib" {
            continue;
        }
        let source = fs::read_to_string(file).unwrap();
        let uses = graph.entry(module.clone()).or_default();
        uses.extend(
            crate_references(without_tests(&source))
                .into_iter()
                .filter(|m| *m != module),
        );
    }
    // Every module that reaches itself again is on a cycle.
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        while let Some((module, path)) = todo.pop() {
            for next in graph.get(&module).into_iter().flatten() {
                if next == start {
                    panic!("import cycle: {} -> {start}", path.join(" -> "));
                }
                if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    todo.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(graph.contains_key("worker") && graph["worker"].contains("context"));
}

#[test]
fn no_source_file_outside_the_tests_is_over_600_lines() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["crates", "components"] {
        rust_files(&workspace.join(dir), &mut files);
    }
    let mut long = Vec::new();
    for file in files {
        let path = file.to_string_lossy();
        if is_test_file(&file) || path.contains("/tests/") || path.contains("/target/") {
            continue;
        }
        let source = fs::read_to_string(&file).unwrap();
        let lines = without_tests(&source).lines().count();
        if lines > MAX_LINES {
            long.push(format!(
                "{} ({lines} lines)",
                file.strip_prefix(&workspace).unwrap().display()
            ));
        }
    }
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:#?}");
}
