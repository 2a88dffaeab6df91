//! Architecture checks on the source tree: no import cycle between the top-level
//! modules of `src/` (ARCHITECTURE.md, "Layers"). An edge `a → b` is any `crate::b`
//! path (in a `use` or in an expression, including `use crate::{b, c::d}` groups) in
//! a file of module `a`; comments are ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level modules of `src/` and the text of every file in each.
fn modules(src: &Path) -> BTreeMap<String, Vec<String>> {
    fn files(p: &Path, out: &mut Vec<String>) {
        if p.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                files(&e.unwrap().path(), out);
            }
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(std::fs::read_to_string(p).unwrap());
        }
    }
    let mut mods: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        if name == "lib" || name == "main" {
            continue;
        }
        let mut texts = Vec::new();
        files(&p, &mut texts);
        mods.entry(name).or_default().extend(texts);
    }
    mods
}

/// Source without `//` comments (doc links are not imports).
fn strip_comments(text: &str) -> String {
    text.lines().map(|l| l.find("//").map_or(l, |i| &l[..i])).collect::<Vec<_>>().join("\n")
}

/// The top-level names a `crate::` path at the start of `rest` reaches.
fn targets(rest: &str) -> Vec<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let rest = rest.trim_start();
    let Some(group) = rest.strip_prefix('{') else {
        return vec![ident(rest)];
    };
    // `{a, b::{c, d}, e}`: the names at depth 0 of the group.
    let (mut depth, mut out, mut start) = (0usize, Vec::new(), true);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => start = true,
            c if start && (c.is_alphanumeric() || c == '_') => {
                out.push(ident(&group[i..]));
                start = false;
            }
            _ => {}
        }
    }
    out
}

/// Edges between top-level modules.
fn edges(mods: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, texts) in mods {
        let set = g.entry(m.clone()).or_default();
        for text in texts {
            let text = strip_comments(text);
            for (i, _) in text.match_indices("crate::") {
                for t in targets(&text[i + "crate::".len()..]) {
                    if &t != m && mods.contains_key(&t) {
                        set.insert(t);
                    }
                }
            }
        }
    }
    g
}

/// One cycle of the graph, as the list of modules around it, if there is one.
fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut cycle = path[i..].to_vec();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for next in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    g.keys().find_map(|n| visit(n, g, &mut Vec::new(), &mut done))
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let g = edges(&modules(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")));
    assert!(g.len() >= 10, "expected the top-level modules of src/, got {:?}", g.keys());
    // The leaf request type depends on nothing but the encounter model, the config, the
    // contract and the language vocabulary (itself a leaf: it imports nothing of the crate).
    let leaf: Vec<&String> = g["evaluation"].iter().collect();
    assert!(leaf.iter().all(|m| ["encounter", "config", "proto", "locale"].contains(&m.as_str())), "{leaf:?}");
    assert!(g.get("locale").is_none_or(|deps| deps.is_empty()), "locale is a leaf: {:?}", g.get("locale"));
    for component in ["rules", "risk", "llm"] {
        assert!(!g[component].contains("pipeline"), "{component} imports the pipeline: {:?}", g[component]);
        assert!(!g[component].contains("server"), "{component} imports the transport: {:?}", g[component]);
    }
    if let Some(cycle) = find_cycle(&g) {
        panic!("import cycle between top-level modules: {}", cycle.join(" → "));
    }
}

#[test]
fn the_cycle_check_finds_cycles_through_use_groups_and_paths() {
    let mods: BTreeMap<String, Vec<String>> = [
        ("a", "use crate::{b::X, config};\n// crate::c in a comment is no edge\n"),
        ("b", "fn f() { crate::c::g() }"),
        ("c", "use crate::{\n    d,\n    e::{self, F},\n};"),
        ("d", ""),
        ("e", "use crate::{x::{y, z}, a::T};"),
        ("config", ""),
    ]
    .into_iter()
    .map(|(m, t)| (m.to_string(), vec![t.to_string()]))
    .collect();
    let g = edges(&mods);
    assert_eq!(g["a"], BTreeSet::from(["b".to_string(), "config".to_string()]));
    assert_eq!(g["c"], BTreeSet::from(["d".to_string(), "e".to_string()]));
    let cycle = find_cycle(&g).expect("a → b → c → e → a is a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert!(cycle.len() == 5, "{cycle:?}");
    // Without the back edge there is none.
    let mut acyclic = mods.clone();
    acyclic.insert("e".into(), vec!["use crate::x;".into()]);
    assert_eq!(find_cycle(&edges(&acyclic)), None);
}
