//! The module graph of `src/`: no cycles between the top-level modules or between the
//! modules inside `src/store`, and the pure layers (phone, sms, decision, standing,
//! timefmt) reach no store module, not even through another module.
//!
//! The graph is read from the source text: every `crate::…`, `super::…` and (in a
//! `mod.rs`) child-module path outside comments and test-only files is an edge from the
//! file's module to the module the path names. A name re-exported from `lib.rs` or
//! `store/mod.rs` counts as the module that defines it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Modules that must never depend on the consent store.
const PURE: [&str; 5] = ["phone", "sms", "decision", "standing", "timefmt"];

/// A source file with its module path (`["store", "journal"]` for `src/store/journal.rs`).
struct Source {
    module: Vec<String>,
    is_mod_file: bool,
    text: String,
    file: PathBuf,
}

fn module_of(src: &Path, file: &Path) -> (Vec<String>, bool) {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs").to_string();
    let is_mod_file = stem == "mod" || (parts.is_empty() && stem == "lib");
    if !is_mod_file {
        parts.push(stem);
    }
    (parts, is_mod_file)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Removes `//` comments (doc links are not dependencies) and string literals' contents
/// are left alone: a `crate::` inside a string is rare and harmless here.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match line.find("//") {
            Some(i) if !line[..i].contains('"') => out.push_str(&line[..i]),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Removes inline `#[cfg(test)] mod name { … }` blocks and returns the names of
/// `#[cfg(test)] mod name;` declarations (test-only files).
fn strip_test_modules(text: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut test_files = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let skip_attrs = skip_attributes(trimmed);
        let item = skip_attrs.trim_start();
        let item = item.strip_prefix("pub ").unwrap_or(item);
        if let Some(decl) = item.strip_prefix("mod ") {
            let name: String =
                decl.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            let tail = decl[name.len()..].trim_start();
            if let Some(after_decl) = tail.strip_prefix(';') {
                test_files.push(name);
                rest = after_decl;
                continue;
            }
            if tail.starts_with('{') {
                rest = &tail[matching_brace(tail)..];
                continue;
            }
        }
        rest = after;
    }
    out.push_str(rest);
    (out, test_files)
}

fn skip_attributes(mut s: &str) -> &str {
    while s.starts_with("#[") {
        let end = matching_bracket(s, '[', ']');
        s = s[end..].trim_start();
    }
    s
}

fn matching_brace(s: &str) -> usize {
    matching_bracket(s, '{', '}')
}

/// Byte index just past the bracket that closes the first `open` in `s`.
fn matching_bracket(s: &str, open: char, close: char) -> usize {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return i + 1;
            }
        }
    }
    s.len()
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Expands the use tree at the start of `s` (`a::b::{c, d::e}` or `a::b(…)`) into paths.
fn parse_tree(s: &str, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix.to_vec();
    let mut i = 0;
    loop {
        let rest = &s[i..];
        let trimmed = rest.trim_start();
        i += rest.len() - trimmed.len();
        if trimmed.starts_with('{') {
            i += 1;
            loop {
                let rest = &s[i..];
                let trimmed = rest.trim_start();
                i += rest.len() - trimmed.len();
                if trimmed.starts_with('}') || trimmed.is_empty() {
                    return i + 1;
                }
                i += parse_tree(&s[i..], &path, out);
                let rest = &s[i..];
                let trimmed = rest.trim_start();
                i += rest.len() - trimmed.len();
                if trimmed.starts_with(',') {
                    i += 1;
                }
            }
        }
        let ident: String = trimmed.chars().take_while(|c| is_ident(*c)).collect();
        if ident.is_empty() {
            break;
        }
        i += ident.len();
        if ident != "self" {
            path.push(ident);
        }
        if s[i..].starts_with("::") {
            i += 2;
            continue;
        }
        break;
    }
    out.push(path);
    i
}

/// Every module path the file names, resolved to absolute segments.
fn references(src: &Source, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let text = &src.text;
    let mut out = Vec::new();
    // The module `super` of this file names.
    let here = &src.module;
    let mut idx = 0;
    while idx < text.len() {
        let rest = &text[idx..];
        let prev_ok =
            idx == 0 || !text[..idx].chars().next_back().is_some_and(|c| is_ident(c) || c == ':');
        if !prev_ok {
            idx += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        }
        if let Some(tail) = rest.strip_prefix("crate::") {
            let used = parse_tree(tail, &[], &mut out);
            idx += "crate::".len() + used;
            continue;
        }
        if rest.starts_with("super::") {
            let mut base = here.clone();
            let mut tail = rest;
            while let Some(t) = tail.strip_prefix("super::") {
                base.pop();
                tail = t;
            }
            let used = parse_tree(tail, &base, &mut out);
            idx += rest.len() - tail.len() + used;
            continue;
        }
        if src.is_mod_file {
            let ident: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !ident.is_empty()
                && children.contains(&ident)
                && rest[ident.len()..].starts_with("::")
            {
                let used = parse_tree(rest, here, &mut out);
                idx += used;
                continue;
            }
            if let Some(tail) = rest.strip_prefix("self::") {
                let used = parse_tree(tail, here, &mut out);
                idx += "self::".len() + used;
                continue;
            }
            if !ident.is_empty() {
                idx += ident.len();
                continue;
            }
        }
        idx += rest.chars().next().map_or(1, char::len_utf8);
    }
    out
}

/// `pub use` re-exports of a mod file: exported name → full path.
fn reexports(src: &Source, children: &BTreeSet<String>) -> BTreeMap<String, Vec<String>> {
    let mut map = BTreeMap::new();
    for stmt in src.text.split(';') {
        let Some(i) = stmt.find("pub use ") else {
            continue;
        };
        let tree = stmt[i + "pub use ".len()..].trim();
        let tree = tree.strip_prefix("self::").unwrap_or(tree);
        let tree = tree.strip_prefix("crate::").unwrap_or(tree);
        let first: String = tree.chars().take_while(|c| is_ident(*c)).collect();
        let prefix = if children.contains(&first) { src.module.clone() } else { Vec::new() };
        let mut paths = Vec::new();
        parse_tree(tree, &prefix, &mut paths);
        for p in paths {
            if let Some(name) = p.last() {
                map.insert(name.clone(), p.clone());
            }
        }
    }
    map
}

/// The graph node a path names: the top-level module, or `store::<child>` inside the store.
fn node_of(
    path: &[String],
    top: &BTreeSet<String>,
    store_children: &BTreeSet<String>,
    exports: &BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>,
) -> Option<String> {
    let mut path = path.to_vec();
    for _ in 0..4 {
        let first = path.first()?;
        if !top.contains(first) {
            let root = exports.get(&Vec::new())?;
            let target = root.get(first)?;
            let mut resolved = target.clone();
            resolved.extend(path[1..].iter().cloned());
            path = resolved;
            continue;
        }
        if first != "store" {
            return Some(first.clone());
        }
        let Some(second) = path.get(1) else {
            return Some("store".to_string());
        };
        if store_children.contains(second) {
            return Some(format!("store::{second}"));
        }
        let store_exports = exports.get(&vec!["store".to_string()])?;
        match store_exports.get(second) {
            Some(target) => {
                let mut resolved = target.clone();
                resolved.extend(path[2..].iter().cloned());
                path = resolved;
            }
            None => return Some("store".to_string()),
        }
    }
    None
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    let mut sources = Vec::new();
    let mut test_only: BTreeSet<PathBuf> = BTreeSet::new();
    for file in &files {
        let raw = fs::read_to_string(file).expect("read source");
        let (text, tests) = strip_test_modules(&strip_comments(&raw));
        let (module, is_mod_file) = module_of(&src, file);
        let dir = if is_mod_file {
            file.parent().expect("parent").to_path_buf()
        } else {
            file.with_extension("")
        };
        for name in tests {
            test_only.insert(dir.join(format!("{name}.rs")));
            test_only.insert(dir.join(&name).join("mod.rs"));
        }
        sources.push(Source { module, is_mod_file, text, file: file.clone() });
    }
    // A file under a test-only directory is test-only too.
    sources.retain(|s| {
        !test_only.iter().any(|t| {
            s.file == *t
                || t.file_name().is_some_and(|n| n == "mod.rs")
                    && s.file.starts_with(t.parent().expect("dir"))
        })
    });
    let children_of = |module: &[String]| -> BTreeSet<String> {
        sources
            .iter()
            .filter(|s| s.module.len() == module.len() + 1 && s.module.starts_with(module))
            .map(|s| s.module[module.len()].clone())
            .collect()
    };
    let top = children_of(&[]);
    let store_children = children_of(&["store".to_string()]);
    let mut exports = BTreeMap::new();
    for s in sources.iter().filter(|s| s.is_mod_file) {
        if s.module.is_empty() || s.module == ["store"] {
            exports.insert(s.module.clone(), reexports(s, &children_of(&s.module)));
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in &sources {
        if s.module.is_empty() || s.module == ["main"] {
            continue; // lib.rs re-exports, main.rs is the binary shell
        }
        let from = node_of(&s.module, &top, &store_children, &exports).expect("own node");
        let children = children_of(&s.module);
        for path in references(s, &children) {
            if let Some(to) = node_of(&path, &top, &store_children, &exports)
                && to != from
            {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
        graph.entry(from).or_default();
    }
    graph
}

/// Nodes of `graph` in one strongly connected component with more than one member.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(n) = stack.pop() {
            for m in graph.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    stack.push(m.clone());
                }
            }
        }
        seen
    };
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for n in graph.keys() {
        if done.contains(n) {
            continue;
        }
        let from_n = reach(n);
        if !from_n.contains(n) {
            continue;
        }
        let comp: Vec<String> = from_n.iter().filter(|m| reach(m).contains(n)).cloned().collect();
        done.extend(comp.iter().cloned());
        out.push(comp);
    }
    out
}

/// One shortest path `from → … → to`, for the failure message.
fn path(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> Vec<String> {
    let mut prev: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([from.to_string()]);
    while let Some(n) = queue.pop_front() {
        for m in graph.get(&n).into_iter().flatten() {
            if m == to {
                let mut p = vec![to.to_string(), n.clone()];
                let mut cur = n.clone();
                while let Some(b) = prev.get(&cur) {
                    p.push(b.clone());
                    cur = b.clone();
                }
                p.reverse();
                return p;
            }
            if !prev.contains_key(m) && m != from {
                prev.insert(m.clone(), n.clone());
                queue.push_back(m.clone());
            }
        }
    }
    Vec::new()
}

#[test]
fn module_graph_has_no_cycle() {
    let graph = graph();
    assert!(graph.contains_key("phone") && graph.contains_key("store::journal"));
    if std::env::var_os("SHOW_MODULE_GRAPH").is_some() {
        for (from, to) in &graph {
            eprintln!("{from} -> {}", to.iter().cloned().collect::<Vec<_>>().join(" "));
        }
    }
    let found = cycles(&graph);
    let shown: Vec<String> = found
        .iter()
        .map(|comp| {
            let first = &comp[0];
            let mut p = path(&graph, first, first);
            p.dedup();
            format!("{{{}}}: {}", comp.join(", "), p.join(" → "))
        })
        .collect();
    assert!(found.is_empty(), "module cycles:\n{}", shown.join("\n"));
}

#[test]
fn pure_layers_reach_no_store_module() {
    let graph = graph();
    let mut bad = Vec::new();
    for pure in PURE {
        assert!(graph.contains_key(pure), "{pure} is a module");
        for node in graph.keys().filter(|n| *n == "store" || n.starts_with("store::")) {
            let p = path(&graph, pure, node);
            if !p.is_empty() {
                bad.push(p.join(" → "));
                break;
            }
        }
    }
    assert!(bad.is_empty(), "pure layers reach the store:\n{}", bad.join("\n"));
}
