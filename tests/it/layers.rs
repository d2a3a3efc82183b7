//! The layers point one way (issue #18): cli → (tui, scan, fixcmd) → guard → (remediate,
//! forward, report) → (posture, cluster) → model. Read from the source: every `crate::x` a module
//! names must be of a lower layer, so there is no import cycle, and no product module but
//! `cli` names the demo server.

use std::collections::BTreeMap;
use std::path::Path;

/// Each top-level module's layer; a module may only name modules of lower layers.
const LAYERS: &[(&str, u8)] = &[
    ("model", 0),
    ("quantity", 0),
    ("kuberay", 1),
    ("semantics", 1),
    ("demo", 1),
    ("inventory", 2),
    ("manifest", 3),
    ("posture", 3),
    ("cluster", 3),
    ("config", 4),
    ("options", 4),
    ("remediate", 5),
    ("forward", 5),
    ("report", 5),
    ("guard", 6),
    ("tui", 7),
    ("scan", 7),
    ("fixcmd", 7),
    ("cli", 8),
];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The modules a source file names: `crate::x` and `crate::{x, y}`.
fn named(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let word = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        match rest.strip_prefix('{') {
            Some(group) => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                out.extend(group.split(',').map(|s| word(s.trim())));
            }
            None => out.push(word(rest)),
        }
    }
    out
}

#[test]
fn modules_name_only_lower_layers_and_only_cli_names_the_demo_server() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layer: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut bad = Vec::new();
    let mut edges = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel.iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let Some(&own) = layer.get(top.as_str()) else {
            bad.push(format!("{}: module {top} has no layer in tests/it/layers.rs", rel.display()));
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for m in named(&text) {
            if m == top || m.is_empty() {
                continue;
            }
            edges += 1;
            match layer.get(m.as_str()) {
                Some(&l) if l < own && (m != "demo" || top == "cli") => {}
                _ => bad.push(format!("{}: {top} names crate::{m}", rel.display())),
            }
        }
    }
    assert!(files.len() > 50 && edges > 50, "read {} files, {edges} names", files.len());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn names_are_read_from_paths_and_groups() {
    let text = "use crate::posture::X;\nuse crate::{model, cluster::Y};\nlet a = crate::demo::f();";
    assert_eq!(named(text), ["posture", "model", "cluster", "demo"]);
}
