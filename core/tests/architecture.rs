//! The core reads bottom-up: its modules form no import cycle. Each `use` and each path through
//! `crate::` or `super::` is an edge from the module that writes it to the module it names
//! (a name the crate root re-exports counts as its own module); a facade (`mod.rs`) that
//! re-exports a child is an edge to that child, so a child that reaches a sibling through its
//! parent's facade makes a cycle too. Test modules are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, with its module path (`vector::hnsw`; the crate root is "").
fn modules(root: &Path, dir: &Path, out: &mut BTreeMap<String, PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("list")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            modules(root, &path, out);
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let relative = path.strip_prefix(root).expect("under root");
        let mut parts: Vec<String> = relative
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
            parts.pop();
        }
        out.insert(parts.join("::"), path);
    }
}

/// The file's code without comments and without its test module (which, by this codebase's
/// rule, comes last).
fn code(text: &str) -> String {
    let mut out = String::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .get(i + 1)
                .is_some_and(|next| next.trim_start().starts_with("mod tests"))
        {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Expands a `use` tree (`a::{b::C, d}`) into its full paths.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    match tree.find('{') {
        None => out.push(format!("{prefix}{tree}")),
        Some(open) => {
            let head = &tree[..open];
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&format!("{prefix}{head}"), &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            if !inner[start..].trim().is_empty() {
                expand(&format!("{prefix}{head}"), &inner[start..], out);
            }
        }
    }
}

/// Every path the code names through `crate::` or `super::` (in `use` statements and inline).
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        let stmt_end = rest[at..].find(';').map_or(rest.len(), |e| at + e);
        if before.is_none_or(|c| !c.is_alphanumeric() && c != '_') {
            let tree: String = rest[at + 4..stmt_end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join("");
            let tree = tree.trim_start_matches("crate::").to_string();
            let original = rest[at + 4..stmt_end].trim_start();
            if original.starts_with("crate::") {
                expand("crate::", &tree, &mut out);
            } else if original.starts_with("super::") {
                expand("", &tree, &mut out);
            }
        }
        rest = &rest[stmt_end.min(rest.len())..];
        if rest.is_empty() {
            break;
        }
        rest = &rest[1..];
    }
    // Inline paths: crate::a::b::f(…), super::x::Y.
    for marker in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(marker) {
            let start = from + i;
            let end = code[start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| start + e);
            out.push(code[start..end].trim_end_matches(':').to_string());
            from = end.max(start + marker.len());
        }
    }
    out
}

/// The module a path names, from the module `from` that writes it.
fn target(
    path: &str,
    from: &str,
    known: &BTreeSet<String>,
    reexports: &BTreeMap<String, String>,
) -> Option<String> {
    let mut segments: Vec<&str> = Vec::new();
    let mut base: Vec<String> = Vec::new();
    let mut rest = path;
    if let Some(r) = rest.strip_prefix("crate::") {
        rest = r;
    } else {
        base = from.split("::").map(str::to_string).collect();
        base.retain(|s| !s.is_empty());
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
    }
    segments.extend(rest.split("::").filter(|s| !s.is_empty()));
    let mut module = base.clone();
    let mut found = None;
    for s in &segments {
        module.push(s.to_string());
        let name = module.join("::");
        if known.contains(&name) {
            found = Some(name);
        } else {
            break;
        }
    }
    if found.is_none() && base.is_empty() {
        // A name the crate root re-exports.
        if let Some(first) = segments.first() {
            return reexports.get(*first).cloned();
        }
    }
    found.or_else(|| (!base.is_empty()).then(|| base.join("::")))
}

/// The names `lib.rs` re-exports, and the module each comes from.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut paths_found = Vec::new();
    for stmt in code(lib).split(';') {
        let stmt = stmt.trim();
        if let Some(tree) = stmt.strip_prefix("pub use ") {
            let tree: String = tree.split_whitespace().collect::<Vec<_>>().join("");
            expand("", &tree, &mut paths_found);
        }
    }
    for path in paths_found {
        let mut parts: Vec<&str> = path.split("::").collect();
        if let Some(name) = parts.pop() {
            out.insert(name.to_string(), parts.join("::"));
        }
    }
    out
}

/// The strongly connected components of more than one node (Tarjan): each is a cycle.
fn strongly_connected(
    edges: &BTreeMap<String, BTreeSet<String>>,
    nodes: &BTreeSet<String>,
) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on_stack: BTreeSet<String>,
        next: usize,
        cycles: Vec<Vec<String>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: &str) {
            self.index.insert(v.to_string(), self.next);
            self.low.insert(v.to_string(), self.next);
            self.next += 1;
            self.stack.push(v.to_string());
            self.on_stack.insert(v.to_string());
            let edges = self.edges;
            for w in edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v.to_string(), low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v.to_string(), low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(&w);
                    let done = w == v;
                    component.push(w);
                    if done {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.cycles.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        cycles: Vec::new(),
    };
    for module in nodes {
        if !tarjan.index.contains_key(module) {
            tarjan.visit(module);
        }
    }
    tarjan.cycles
}

#[test]
fn the_core_has_no_import_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    modules(&root, &root, &mut files);
    let known: BTreeSet<String> = files.keys().filter(|m| !m.is_empty()).cloned().collect();
    let lib = std::fs::read_to_string(root.join("lib.rs")).expect("lib.rs");
    let reexports = reexports(&lib);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, path) in &files {
        if module.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(path).expect("read");
        for p in paths(&code(&text)) {
            if let Some(to) = target(&p, module, &known, &reexports) {
                if &to != module && !to.is_empty() {
                    edges.entry(module.clone()).or_default().insert(to);
                }
            }
        }
    }
    let cycles = strongly_connected(&edges, &known);
    let described: Vec<String> = cycles
        .iter()
        .map(|c| {
            let inner: Vec<String> = c
                .iter()
                .map(|m| {
                    let to: Vec<&String> = edges
                        .get(m)
                        .into_iter()
                        .flatten()
                        .filter(|t| c.contains(t))
                        .collect();
                    format!("{m} -> {to:?}")
                })
                .collect();
            inner.join("; ")
        })
        .collect();
    assert!(
        described.is_empty(),
        "import cycles among the core's modules:\n{}",
        described.join("\n")
    );
    // The checker sees what it should: the graph has the edges it must have.
    assert!(
        edges["vector::growing"].contains("vector::hnsw"),
        "{edges:?}"
    );
    assert!(edges["state"].contains("graph::adjacency"), "{edges:?}");
    assert!(
        edges["engine::recovery"].contains("format::wal"),
        "{edges:?}"
    );

    // The folders are layers: with each module counted as its top-level folder, the edges still
    // form no cycle (model below format below state below engine, and so on).
    let mut layers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in &edges {
        let top = |m: &str| m.split("::").next().unwrap_or(m).to_string();
        for to in tos {
            if top(from) != top(to) {
                layers.entry(top(from)).or_default().insert(top(to));
            }
        }
    }
    let folders: BTreeSet<String> = layers
        .keys()
        .chain(layers.values().flatten())
        .cloned()
        .collect();
    let cycles = strongly_connected(&layers, &folders);
    assert!(
        cycles.is_empty(),
        "the core's folders depend on each other in a cycle: {cycles:?}\n{layers:?}"
    );
    for (upper, lower) in [
        ("format", "model"),
        ("graph", "model"),
        ("vector", "model"),
        ("state", "format"),
        ("state", "graph"),
        ("state", "vector"),
        ("engine", "state"),
        ("engine", "storage"),
    ] {
        assert!(
            layers[upper].contains(lower),
            "{upper} -> {lower}: {layers:?}"
        );
    }
}

/// The checker finds a cycle where there is one (so that its silence means something).
#[test]
fn the_checker_finds_a_cycle_through_a_facade_and_through_root_reexports() {
    let known: BTreeSet<String> = ["a", "a::b", "c"].iter().map(|s| s.to_string()).collect();
    let reexports: BTreeMap<String, String> = [("Thing".to_string(), "c".to_string())]
        .into_iter()
        .collect();
    let child = paths(&code(
        "use super::Thing;\nfn f() { crate::Thing::new(); }\n",
    ));
    let targets: BTreeSet<Option<String>> = child
        .iter()
        .map(|p| target(p, "a::b", &known, &reexports))
        .collect();
    assert!(
        targets.contains(&Some("a".to_string())),
        "{child:?} {targets:?}"
    );
    assert!(
        targets.contains(&Some("c".to_string())),
        "{child:?} {targets:?}"
    );
    let grouped = paths(&code(
        "use crate::{a::b::X, c::{Y, Z}};\n#[cfg(test)]\nmod tests {\n use crate::a;\n}\n",
    ));
    for want in ["crate::a::b::X", "crate::c::Y", "crate::c::Z"] {
        assert!(grouped.iter().any(|p| p == want), "{want} in {grouped:?}");
    }
    assert!(
        !grouped.iter().any(|p| p == "crate::a"),
        "test modules are left out: {grouped:?}"
    );
    let edges: BTreeMap<String, BTreeSet<String>> = [("a", "c"), ("c", "a::b"), ("a::b", "a")]
        .iter()
        .fold(BTreeMap::new(), |mut m, (f, t)| {
            m.entry(f.to_string()).or_default().insert(t.to_string());
            m
        });
    assert_eq!(
        strongly_connected(&edges, &known),
        vec![vec!["a".to_string(), "a::b".to_string(), "c".to_string()]]
    );
}
