//! `scan -f`: manifests from files, directories (recursive; .yaml, .yml, .json) and stdin, as
//! multi-document YAML, JSON or `kind: List`. A malformed document becomes an error entry with
//! its file and document number; the rest is still scanned. Unknown kinds are skipped.

use crate::cluster::ScanError;
use crate::inventory::{AddError, Inventory};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where an object came from (for SARIF locations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub document: usize,
    pub line: usize,
}

#[derive(Debug, Default)]
pub struct ManifestSet {
    pub inventory: Inventory,
    /// (kind, namespace, name) → origin.
    pub origins: HashMap<(String, String, String), Origin>,
    pub errors: Vec<ScanError>,
    pub files: usize,
    pub documents: usize,
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            let is_manifest = e
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"));
            if e.is_dir() || is_manifest {
                collect(&e, out)?;
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Splits YAML on `---` document markers; each document with its first line number.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let marker = line == "---" || line.starts_with("--- ") || line == "...";
        if marker {
            docs.push((start, std::mem::take(&mut cur)));
            start = i + 2;
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    docs.push((start, cur));
    docs
}

impl ManifestSet {
    /// Loads every path; a path that cannot be read at all is an error (exit 2).
    pub fn load(paths: &[PathBuf]) -> Result<Self, String> {
        let mut set = Self::default();
        for p in paths {
            if p.as_os_str() == "-" {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                    .map_err(|e| format!("stdin: {e}"))?;
                set.add_text("-", &text);
                continue;
            }
            let mut files = Vec::new();
            collect(p, &mut files)?;
            for f in files {
                let text =
                    std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
                set.add_text(&f.display().to_string(), &text);
            }
        }
        Ok(set)
    }

    /// Adds the documents of one file's text.
    pub fn add_text(&mut self, file: &str, text: &str) {
        self.files += 1;
        let trimmed = text.trim_start();
        let docs: Vec<(usize, Result<Value, String>)> = if trimmed.starts_with('{')
            || trimmed.starts_with('[')
        {
            vec![(1, serde_json::from_str::<Value>(text).map_err(|e| format!("invalid JSON: {e}")))]
        } else {
            split_documents(text)
                .into_iter()
                .filter(|(_, d)| {
                    d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                })
                .map(|(line, d)| {
                    (
                        line,
                        serde_saphyr::from_str::<Value>(&d).map_err(|e| {
                            format!("invalid YAML: {}", e.to_string().lines().next().unwrap_or(""))
                        }),
                    )
                })
                .collect()
        };
        for (i, (line, doc)) in docs.into_iter().enumerate() {
            let document = i + 1;
            self.documents += 1;
            let err = |m: String| ScanError {
                namespace: None,
                file: Some(file.to_string()),
                document: Some(document),
                message: m,
            };
            match doc {
                Err(m) => self.errors.push(err(m)),
                Ok(Value::Array(items)) => {
                    for item in items {
                        self.add_object(file, document, line, item);
                    }
                }
                Ok(v)
                    if v["kind"].as_str().is_some_and(|k| k.ends_with("List"))
                        && v["items"].is_array() =>
                {
                    for item in v["items"].as_array().cloned().unwrap_or_default() {
                        self.add_object(file, document, line, item);
                    }
                }
                Ok(Value::Null) => {}
                Ok(v @ Value::Object(_)) => self.add_object(file, document, line, v),
                Ok(_) => self.errors.push(err(
                    "not a Kubernetes object (expected a mapping with apiVersion and kind)".into(),
                )),
            }
        }
    }

    fn add_object(&mut self, file: &str, document: usize, line: usize, v: Value) {
        let kind = v["kind"].as_str().unwrap_or("").to_string();
        let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let ns = v
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
            .to_string();
        match self.inventory.add_value(v, "default") {
            Ok(()) => {
                self.origins
                    .insert((kind, ns, name), Origin { file: file.to_string(), document, line });
            }
            Err(AddError::Unknown) => {}
            Err(AddError::Invalid(m)) => {
                let what = if name.is_empty() { kind } else { format!("{kind} {ns}/{name}") };
                self.errors.push(ScanError {
                    namespace: None,
                    file: Some(file.to_string()),
                    document: Some(document),
                    message: format!("{what}: {m}"),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_with_a_bad_document_and_a_list() {
        let mut set = ManifestSet::default();
        set.add_text("x.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\nkind: [unclosed\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ServiceAccount, metadata: {name: s, namespace: n}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n");
        assert_eq!(set.inventory.services.len(), 1);
        assert_eq!(set.inventory.service_accounts.len(), 1);
        assert_eq!(set.errors.len(), 1);
        assert_eq!(set.errors[0].document, Some(2));
        assert_eq!(set.origins[&("Service".into(), "default".into(), "a".into())].line, 1);
    }

    #[test]
    fn type_errors_name_the_object_and_field() {
        let mut set = ManifestSet::default();
        set.add_text("x.json", r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"a"},"spec":{"ports":[{"port":"eighty"}]}}"#);
        assert_eq!(set.errors.len(), 1);
        assert!(
            set.errors[0].message.starts_with("Service default/a: spec.ports[0].port"),
            "{}",
            set.errors[0].message
        );
    }
}
