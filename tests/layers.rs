//! Arrows point down (STYLE.md point 13, issue 13): every `crate::…` path in `src/**.rs` is an edge from the
//! module that holds the file to the module it names, and every edge must go from a higher layer to a lower
//! one. Same-layer edges are allowed only when listed in `SIDEWAYS`, and the whole graph must stay free of
//! cycles. `ALLOWED_TODAY` holds the edges the redesign has not removed yet; it only shrinks.
//!
//! The module graph is printed (`cargo test --test layers -- --nocapture`), one line per module with the
//! modules it uses, so anyone can compare before and after.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may use the modules of any lower layer. A name with `::` is a
/// sub-module that sits in a different layer than its parent (a leaf inside a protocol, say).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaves",
        &[
            "message",
            "envelope",
            "metrics",
            "smtp::reply",
            "util",
            "accept",
            "queue_id",
            "storage",
            // The console's `[web]` section: plain settings, embedded in the configuration like
            // `message::Limits`.
            "web::settings",
        ],
    ),
    ("pure core", &["rules", "scan", "policy"]),
    (
        "protocols and stores",
        &["smtp", "milter", "quarantine", "traffic", "bounce"],
    ),
    ("filter", &["filter"]),
    ("review", &["admin"]),
    ("config", &["config"]),
    // The web console is a front end the daemon starts, as it starts the SMTP and milter servers: below
    // the daemon, never reaching up into it.
    ("web console", &["web"]),
    // The wiring: listeners, stores, reload, background tasks (mini-redis `server::run`).
    ("daemon", &["daemon"]),
    ("command line", &["cli"]),
];

/// Edges between two modules of the same layer that are part of the design (not a leftover).
const SIDEWAYS: &[(&str, &str)] = &[
    // The envelope reads the sender headers of the parsed message (XFORWARD-less `check`).
    ("envelope", "message"),
    // The verdict is made of rule hits and scanner detections.
    ("policy", "rules"),
    ("policy", "scan"),
    // A notice goes out through the next-hop client, as relayed mail does.
    ("bounce", "smtp"),
];

/// Edges the target layers forbid but the code still has; the redesign removes them step by step and this
/// list only shrinks. An entry that is no longer needed fails the test, so it cannot linger.
const ALLOWED_TODAY: &[(&str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// The graph node a path names: `smtp::reply` when that sub-module is its own node, else the top module.
fn node(segments: &[String]) -> String {
    if segments.len() >= 2 {
        let two = format!("{}::{}", segments[0], segments[1]);
        if layer_of(&two).is_some() {
            return two;
        }
    }
    segments[0].clone()
}

/// The node a source file belongs to, from its path under `src/`.
fn file_node(relative: &Path) -> Option<String> {
    let mut segments: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if segments.last().is_some_and(|last| last == "mod") {
        segments.pop();
    }
    match segments.first().map(String::as_str) {
        None | Some("lib") | Some("main") => None,
        Some(_) => Some(node(&segments)),
    }
}

/// The source with comments removed (line comments, doc comments, block comments) and string literals
/// blanked, so a `crate::` in prose or in a message does not count as an edge.
fn code_only(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < bytes.len() {
        if source[i..].starts_with("//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if source[i..].starts_with("/*") {
            let mut depth = 0;
            while i < bytes.len() {
                if source[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if source[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if bytes[i] == b'"' && !is_char_literal_quote(bytes, i) {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            let ch = source[i..].chars().next().expect("in bounds");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// `'"'` is a character literal, not the start of a string.
fn is_char_literal_quote(bytes: &[u8], i: usize) -> bool {
    i > 0 && bytes[i - 1] == b'\'' && bytes.get(i + 1) == Some(&b'\'')
}

/// Expands the use tree (or plain path) that starts at `text` into paths of at most two segments.
fn expand(text: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < bytes.len() && bytes[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if i < bytes.len() && bytes[i] == b'{' {
        i += 1;
        loop {
            skip_ws(&mut i);
            if i >= bytes.len() {
                return i;
            }
            if bytes[i] == b'}' {
                return i + 1;
            }
            i += expand(&text[i..], prefix.clone(), out);
            skip_ws(&mut i);
            if i < bytes.len() && bytes[i] == b',' {
                i += 1;
            }
        }
    }
    let start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
        i += 1;
    }
    let ident = &text[start..i];
    let mut path = prefix;
    if !ident.is_empty() && ident != "self" && ident != "*" {
        path.push(ident.to_string());
    }
    if text[i..].starts_with("::") && path.len() < 2 {
        return i + 2 + expand(&text[i + 2..], path, out);
    }
    if text[i..].starts_with("::") {
        // Deeper segments do not change the node; skip the rest of the tree.
        let mut depth = 0usize;
        while i < bytes.len() {
            match bytes[i] {
                b'{' => depth += 1,
                b'}' if depth == 0 => break,
                b'}' => depth -= 1,
                b',' | b';' if depth == 0 => break,
                b' ' | b'\n' | b'(' | b')' | b'<' | b'>' | b'&' if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
    i
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// module → (module it uses → the files that make the edge).
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let Some(from) = file_node(relative) else {
            continue;
        };
        graph.entry(from.clone()).or_default();
        let code = code_only(&fs::read_to_string(&file).expect("read source"));
        let mut paths = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            expand(&code[at + "crate::".len()..], Vec::new(), &mut paths);
        }
        for path in paths {
            let to = node(&path);
            if to == from || !is_module(&src, &path[0]) {
                // The module's own items, or an item at the crate root.
                continue;
            }
            graph
                .entry(from.clone())
                .or_default()
                .entry(to)
                .or_default()
                .insert(relative.display().to_string());
        }
    }
    graph
}

fn is_module(src: &Path, name: &str) -> bool {
    src.join(format!("{name}.rs")).exists() || src.join(name).join("mod.rs").exists()
}

fn allowed(from: &str, to: &str) -> bool {
    match (layer_of(from), layer_of(to)) {
        (Some(f), Some(t)) if t < f => true,
        (Some(f), Some(t)) if t == f => SIDEWAYS.contains(&(from, to)),
        _ => false,
    }
}

fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    // Tarjan's strongly connected components; every component of two or more is a cycle.
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(edges) = s.graph.get(v) {
            for w in edges.keys() {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let low = s.low[v].min(s.low[w]);
                    s.low.insert(v, low);
                } else if s.on_stack.contains(w) {
                    let low = s.low[v].min(s.index[w]);
                    s.low.insert(v, low);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

#[test]
fn arrows_point_down() {
    let graph = graph();
    println!("module graph (layer: module -> modules it uses):");
    for (from, edges) in &graph {
        let layer = layer_of(from).map_or("unplaced", |l| LAYERS[l].0);
        let targets: Vec<&str> = edges.keys().map(String::as_str).collect();
        println!("  [{layer}] {from} -> {}", targets.join(", "));
    }
    let mut problems = Vec::new();
    for from in graph.keys() {
        if layer_of(from).is_none() {
            problems.push(format!("module {from} has no layer in LAYERS"));
        }
    }
    let mut used_allowances = BTreeSet::new();
    for (from, edges) in &graph {
        for (to, files) in edges {
            if allowed(from, to) {
                continue;
            }
            if ALLOWED_TODAY.contains(&(from.as_str(), to.as_str())) {
                used_allowances.insert((from.as_str(), to.as_str()));
                continue;
            }
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            problems.push(format!(
                "{from} -> {to} points up or sideways (in {})",
                files.join(", ")
            ));
        }
    }
    for allowance in ALLOWED_TODAY {
        if !used_allowances.contains(allowance) {
            problems.push(format!(
                "ALLOWED_TODAY lists {} -> {}, which the code no longer has: remove it",
                allowance.0, allowance.1
            ));
        }
    }
    let loops = cycles(&graph);
    println!("cycles: {}", loops.len());
    for cycle in &loops {
        println!("  {}", cycle.join(" <-> "));
    }
    // Without the edges still allowed today the graph must already be a DAG (the layers make sure of it
    // unless SIDEWAYS closes a loop); once ALLOWED_TODAY is empty this is the whole graph.
    let mut designed = graph.clone();
    for (from, to) in ALLOWED_TODAY {
        if let Some(edges) = designed.get_mut(*from) {
            edges.remove(*to);
        }
    }
    for cycle in cycles(&designed) {
        problems.push(format!("cycle: {}", cycle.join(", ")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_parser_finds_grouped_and_inline_paths() {
    let code = code_only(
        "use crate::{config::{A, B}, smtp::reply::Reply, metrics};\n\
         // use crate::web::X;\n\
         let s = \"crate::admin::Y\";\n\
         fn f() -> crate::policy::Decision { crate::scan::run() }",
    );
    let mut paths = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        expand(&code[at + 7..], Vec::new(), &mut paths);
    }
    let nodes: BTreeSet<String> = paths.iter().map(|p| node(p)).collect();
    let expected: BTreeSet<String> = ["config", "smtp::reply", "metrics", "policy", "scan"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(nodes, expected);
}
