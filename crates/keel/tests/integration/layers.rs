//! The layers point one way (ARCHITECTURE.md, ADR 0017). Every `crate::…` path in the source of
//! `keel` and `keel-core` (outside comments, string literals and test modules) is an edge from its
//! file's top-level module to another; an edge to a higher layer fails the test, and so does a
//! cycle between the top-level modules of one layer. The lower layers of `keel` (platform,
//! directory, kernel) must not use `keel-core`'s processes either: they know processes only
//! through what the processes register.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `keel`'s layers, lowest first.
const KEEL: &[(&str, u8)] = &[
    ("platform", 0),
    ("directory", 1),
    ("kernel", 2),
    ("operation", 3),
    ("management", 3),
    ("integration", 4),
    ("app", 5),
    ("cli", 5),
    ("demo", 5),
    ("backup", 5),
    ("lib", 6),
    ("main", 6),
];

/// `keel-core`'s layers, lowest first.
const CORE: &[(&str, u8)] = &[
    ("access", 0),
    ("audit", 0),
    ("page", 0),
    ("period", 0),
    ("text", 0),
    ("directory", 1),
    ("kernel", 2),
    ("register", 2),
    ("operation", 3),
    ("management", 3),
    ("integration", 4),
    ("lib", 5),
];

/// `keel` modules that must not use these parts of `keel-core` (they name processes).
const KEEL_BELOW_PROCESSES: &[&str] = &["platform", "directory", "kernel"];
const CORE_PROCESSES: &[&str] = &["operation", "management", "integration"];

fn rank(layers: &[(&str, u8)], module: &str) -> Option<u8> {
    layers.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("source folder").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments, string and char literals, and without its test module
/// (`#[cfg(test)]` to the end: tests may use fixtures from anywhere).
fn code(src: &str) -> String {
    let src = match src.find("#[cfg(test)]") {
        Some(i) => &src[..i],
        None => src,
    };
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &src[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            // Block comments nest in Rust.
            let mut depth = 0;
            let mut j = 0;
            while j < rest.len() {
                if rest[j..].starts_with("/*") {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with("*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += rest[j..].chars().next().map_or(1, char::len_utf8);
                }
            }
            i += j;
        } else if let Some(n) = raw_string_len(rest) {
            out.push_str("\"\"");
            i += n;
        } else if b[i] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest.as_bytes()[j] != b'"' {
                j += if rest.as_bytes()[j] == b'\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            i += j + 1;
        } else if b[i] == b'\'' && is_char_literal(rest) {
            let end = rest[1..].find('\'').map_or(rest.len(), |e| e + 2);
            out.push_str("' '");
            i += end;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `r"…"`, `r#"…"#`, `br"…"`: the literal's length, if `s` starts with one.
fn raw_string_len(s: &str) -> Option<usize> {
    let after_b = s.strip_prefix('b').unwrap_or(s);
    let body = after_b.strip_prefix('r')?;
    let hashes = body.len() - body.trim_start_matches('#').len();
    let open = body[hashes..].strip_prefix('"')?;
    let close = format!("\"{}", "#".repeat(hashes));
    let end = open.find(&close)?;
    Some(s.len() - open.len() + end + close.len())
}

/// A char literal (`'a'`, `'\n'`, `'\''`) rather than a lifetime (`'a`).
fn is_char_literal(s: &str) -> bool {
    let b = s.as_bytes();
    match b.get(1) {
        Some(b'\\') => true,
        Some(_) => {
            let c = s[1..].chars().next().map_or(1, char::len_utf8);
            b.get(1 + c) == Some(&b'\'')
        }
        None => false,
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules a piece of code names after `prefix` (`crate::`, `keel_core::`),
/// including each of a `prefix{a, b::c}` group.
fn named_after(code: &str, prefix: &str) -> Vec<String> {
    let mut out = vec![];
    let mut from = 0;
    while let Some(pos) = code[from..].find(prefix) {
        let start = from + pos;
        from = start + prefix.len();
        if start > 0 && code[..start].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let rest = &code[from..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut first = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => {
                        if first && !item.is_empty() {
                            out.push(std::mem::take(&mut item));
                        }
                        first = true;
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && first {
                    if is_ident(c) {
                        item.push(c);
                    } else if !item.is_empty() {
                        out.push(std::mem::take(&mut item));
                        first = false;
                    }
                }
            }
            if first && !item.is_empty() {
                out.push(item);
            }
        } else {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// Every (from module, to module, file) edge of a crate's source.
fn edges(src: &Path) -> Vec<(String, String, String)> {
    let mut files = vec![];
    rust_files(src, &mut files);
    files.sort();
    let mut out = vec![];
    for f in files {
        let rel = f.strip_prefix(src).expect("under src");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs").to_string())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&f).expect("read source");
        let code = code(&text);
        for to in named_after(&code, "crate::") {
            out.push((top.clone(), to, rel.display().to_string()));
        }
        for to in named_after(&code, "keel_core::") {
            out.push((
                top.clone(),
                format!("keel_core::{to}"),
                rel.display().to_string(),
            ));
        }
    }
    out
}

/// Upward edges and cycles between top-level modules, as messages.
fn violations(layers: &[(&str, u8)], edges: &[(String, String, String)]) -> Vec<String> {
    let mut bad = BTreeSet::new();
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, to, file) in edges {
        let (Some(rf), Some(rt)) = (rank(layers, from), rank(layers, to)) else {
            continue;
        };
        if from == to {
            continue;
        }
        if rt > rf {
            bad.insert(format!("{file}: `{from}` uses `{to}`, a layer above it"));
        }
        graph.entry(from).or_default().insert(to);
    }
    for (a, outs) in &graph {
        for b in outs {
            if graph.get(b).is_some_and(|o| o.contains(a)) && a < b {
                let files = |x: &str, y: &str| {
                    edges
                        .iter()
                        .filter(|(f, t, _)| f == x && t == y)
                        .map(|(_, _, file)| file.as_str())
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                bad.insert(format!(
                    "`{a}` and `{b}` use each other ({a} → {b}: {}; {b} → {a}: {})",
                    files(a, b),
                    files(b, a)
                ));
            }
        }
    }
    bad.into_iter().collect()
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

#[test]
fn keel_layers_point_one_way() {
    let e = edges(&crate_src("keel"));
    assert!(
        e.len() > 500,
        "the scan found the source: {} edges",
        e.len()
    );
    let mut bad = violations(KEEL, &e);
    for (from, to, file) in &e {
        if KEEL_BELOW_PROCESSES.contains(&from.as_str())
            && let Some(p) = to.strip_prefix("keel_core::")
            && CORE_PROCESSES.contains(&p)
        {
            bad.push(format!(
                "{file}: `{from}` uses `{to}`: below the processes, only what they register"
            ));
        }
    }
    let unknown: BTreeSet<&str> = e
        .iter()
        .filter(|(f, _, _)| rank(KEEL, f).is_none())
        .map(|(f, _, _)| f.as_str())
        .collect();
    assert!(
        unknown.is_empty(),
        "top-level modules without a layer: {unknown:?}"
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn keel_core_layers_point_one_way() {
    let e = edges(&crate_src("keel-core"));
    assert!(e.len() > 50, "the scan found the source: {} edges", e.len());
    let unknown: BTreeSet<&str> = e
        .iter()
        .filter(|(f, _, _)| rank(CORE, f).is_none())
        .map(|(f, _, _)| f.as_str())
        .collect();
    assert!(
        unknown.is_empty(),
        "top-level modules without a layer: {unknown:?}"
    );
    let bad = violations(CORE, &e);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_scan_sees_through_comments_strings_and_groups() {
    let src = r##"
        use crate::{kernel, operation::x};
        // crate::management in a comment
        /* crate::integration /* nested */ crate::app */
        let s = "crate::cli in a string";
        let r = r#"crate::demo"#;
        let c = '"'; let l: &'static str = "";
        crate::platform::db::now();
        #[cfg(test)]
        mod tests { use crate::backup; }
    "##;
    let c = code(src);
    let mut found = named_after(&c, "crate::");
    found.sort();
    assert_eq!(found, ["kernel", "operation", "platform"]);
    let edges = vec![
        (
            "kernel".to_string(),
            "operation".to_string(),
            "k.rs".to_string(),
        ),
        (
            "operation".to_string(),
            "management".to_string(),
            "o.rs".to_string(),
        ),
        (
            "management".to_string(),
            "operation".to_string(),
            "m.rs".to_string(),
        ),
    ];
    let v = violations(KEEL, &edges);
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v[0].contains("use each other") || v[1].contains("use each other"));
    assert!(
        v.iter()
            .any(|m| m.contains("k.rs: `kernel` uses `operation`"))
    );
}
