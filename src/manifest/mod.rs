//! `scan -f`: manifests from files, directories (recursive; .yaml, .yml, .json) and stdin, as
//! multi-document YAML, JSON or `kind: List`. A malformed document becomes an error entry with
//! its file and document number; the rest is still scanned. Unknown kinds are skipped.

mod check;

use crate::inventory::ScanError;
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

/// Splits YAML on `---` document markers; each document with its first line number. What
/// follows a marker on its line (`--- {a: 1}`, `--- !!map`) belongs to the new document.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        if line == "---" || line == "..." || line.starts_with("--- ") || line.starts_with("---\t") {
            if line != "..." || !cur.trim().is_empty() {
                docs.push((start, std::mem::take(&mut cur)));
            }
            start = i + 1;
            cur.push_str(line.get(4..).unwrap_or(""));
            cur.push('\n');
            if line == "..." {
                start = i + 2;
                cur.clear();
            }
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    docs.push((start, cur));
    docs
}

/// A document that holds anything but comments and blank lines.
fn has_content(doc: &str) -> bool {
    doc.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
}

type Documents = Vec<(usize, Result<Value, String>)>;

/// A JSON text: one value or a stream of them (as kubectl reads them). `Err` when the first
/// value does not parse, so the caller can read the text as YAML instead.
fn json_documents(text: &str) -> Result<Documents, String> {
    let line_at = |offset: usize| {
        let skipped = text[offset..].len() - text[offset..].trim_start().len();
        text[..offset + skipped].matches('\n').count() + 1
    };
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    loop {
        let at = stream.byte_offset();
        match stream.next() {
            None => return Ok(out),
            Some(Ok(v)) => out.push((line_at(at), Ok(v))),
            Some(Err(e)) if out.is_empty() => return Err(format!("invalid JSON: {e}")),
            Some(Err(e)) => {
                out.push((line_at(at), Err(format!("invalid JSON: {e}"))));
                return Ok(out);
            }
        }
    }
}

/// A YAML text, document by document, read as Kubernetes reads it: a duplicate key keeps its
/// last value (as kubectl does), anchors, merge keys and tags resolve.
fn yaml_documents(text: &str) -> Documents {
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
        with_snippet: false,
    };
    split_documents(text)
        .into_iter()
        .filter(|(_, d)| has_content(d))
        .map(|(line, d)| {
            let parsed = serde_saphyr::from_str_with_options::<Value>(&d, options.clone());
            let doc = parsed.map_err(|e| {
                let first = e.to_string();
                let first = first.lines().next().unwrap_or("").to_string();
                match e.location() {
                    Some(l) if l.line() > 0 && !first.contains(" at line ") => {
                        format!("invalid YAML at line {}: {first}", l.line() as usize + line - 1)
                    }
                    _ => format!("invalid YAML: {first}"),
                }
            });
            (line, doc)
        })
        .collect()
}

/// The documents of one file: JSON when it reads as JSON; otherwise YAML, of which JSON is a
/// subset (`{a: 1}` is YAML flow style). A `.json` file that is not JSON says so.
fn documents(file: &str, text: &str) -> Documents {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match json_documents(text) {
            Ok(docs) => return docs,
            Err(e) if file.ends_with(".json") => return vec![(1, Err(e))],
            Err(_) => {}
        }
    }
    yaml_documents(text)
}

/// What the API server makes of a decoded document before it reads it as a typed object:
/// `null` members are absent (Go leaves the field at its zero value; a CRD's schema prunes
/// them), except in the string maps of typed objects — labels and annotations of any object,
/// selectors of built-in kinds — where `null` is the empty string; and a whole-number float is
/// the integer a Kubernetes integer field wants (`8265.0` is 8265).
pub fn normalize(v: &mut Value) {
    let group = v["apiVersion"].as_str().and_then(|a| a.rsplit_once('/')).map_or("", |(g, _)| g);
    let custom = matches!(group, "ray.io" | "scheduling.sigs.k8s.io");
    if let Some(meta) = v.get_mut("metadata") {
        empty_strings(meta, &["labels", "annotations"]);
    }
    if !custom {
        empty_strings(v, &["labels", "annotations", "selector", "matchLabels", "nodeSelector"]);
    }
    drop_nulls(v);
}

/// Under any of `keys`, a map's `null` values become "".
fn empty_strings(v: &mut Value, keys: &[&str]) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match x {
                    Value::Object(inner) if keys.contains(&k.as_str()) => {
                        for y in inner.values_mut().filter(|y| y.is_null()) {
                            *y = Value::String(String::new());
                        }
                    }
                    _ => empty_strings(x, keys),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| empty_strings(x, keys)),
        _ => {}
    }
}

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15) {
                *v = Value::from(f as i64);
            }
        }
        _ => {}
    }
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
        let docs = documents(file, text);
        for (i, (line, doc)) in docs.into_iter().enumerate() {
            let document = i + 1;
            self.documents += 1;
            let err = |m: String| ScanError {
                context: None,
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

    fn add_object(&mut self, file: &str, document: usize, line: usize, mut v: Value) {
        normalize(&mut v);
        let kind = v["kind"].as_str().unwrap_or("").to_string();
        let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let ns = v
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
            .to_string();
        let reads = Inventory::reads(v["apiVersion"].as_str().unwrap_or(""), &kind);
        let checked = if reads { check::check(&kind, &v) } else { Ok(()) };
        let added = match checked {
            Ok(()) => self.inventory.add_value(v, "default"),
            Err(m) => Err(AddError::Invalid(m)),
        };
        match added {
            Ok(()) => {
                self.origins
                    .insert((kind, ns, name), Origin { file: file.to_string(), document, line });
            }
            Err(AddError::Unknown) => {}
            Err(AddError::Invalid(m)) => {
                let what = if name.is_empty() { kind } else { format!("{kind} {ns}/{name}") };
                self.errors.push(ScanError {
                    context: None,
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

    fn load(file: &str, text: &str) -> ManifestSet {
        let mut set = ManifestSet::default();
        set.add_text(file, text);
        set
    }

    #[test]
    fn null_optional_fields_are_absent_as_the_api_server_reads_them() {
        // KubeRay's own sample: a worker template whose `metadata:` is empty (YAML null).
        let set = load(
            "s.yaml",
            "apiVersion: ray.io/v1\nkind: RayService\nmetadata:\n  name: rs\nspec:\n  rayClusterConfig:\n    rayStartParams:\n    headGroupSpec:\n      rayStartParams:\n      template:\n        metadata:\n        spec:\n          initContainers:\n          containers:\n          - name: ray-head\n            image: rayproject/ray:2.41.0\n            resources:\n              requests:\n            securityContext:\n              capabilities:\n                add:\n    workerGroupSpecs:\n    - groupName: g\n      rayStartParams:\n      template:\n        metadata:\n        spec:\n          containers:\n          - name: w\n            image: rayproject/ray:2.41.0\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  labels:\nspec:\n  type: LoadBalancer\n  loadBalancerSourceRanges:\n  selector:\n    ray.io/cluster: rs\n  ports:\n  - port: 8265.0\n    targetPort: 8265\n---\napiVersion: ray.io/v1\nkind: RayCluster\nmetadata: {name: c}\nspec:\n",
        );
        assert!(set.errors.is_empty(), "{:?}", set.errors);
        assert_eq!(set.inventory.ray_services.len(), 1);
        assert_eq!(set.inventory.services.len(), 1);
        assert_eq!(set.inventory.ray_clusters.len(), 1);
    }

    #[test]
    fn json_streams_tags_duplicate_keys_anchors_and_merge_keys() {
        let svc = |n: &str| {
            format!(r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"{n}"}}}}"#)
        };
        let set = load("-", &format!("{}\n{} {}", svc("a"), svc("b"), svc("c")));
        assert!(set.errors.is_empty(), "{:?}", set.errors);
        assert_eq!(set.inventory.services.len(), 3);
        assert_eq!(set.origins[&("Service".into(), "default".into(), "b".into())].line, 2);

        let set = load(
            "t.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: first\n  name: last\n  annotations:\n    a: !!str 1\nspec: &spec\n  type: !!str NodePort\n  ports:\n  - {port: !!int \"80\", name: http}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: merged}\nspec:\n  <<: {type: LoadBalancer, ports: [{port: 81}]}\n  type: ClusterIP\n",
        );
        assert!(set.errors.is_empty(), "{:?}", set.errors);
        let names: Vec<_> =
            set.inventory.services.iter().map(|s| s.metadata.name.clone().unwrap()).collect();
        assert_eq!(names, ["last", "merged"]);
    }

    #[test]
    fn broken_input_is_named_as_what_the_user_gave() {
        let set = load("-", "{{{\n");
        assert_eq!(set.errors.len(), 1);
        assert!(set.errors[0].message.starts_with("invalid YAML"), "{}", set.errors[0].message);
        let set = load("x.json", "{\"kind\": ");
        assert!(set.errors[0].message.starts_with("invalid JSON"), "{}", set.errors[0].message);
        // A later broken document does not take the good ones with it.
        let set = load("y.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\na: [\n");
        assert_eq!((set.inventory.services.len(), set.errors.len()), (1, 1));
        assert!(set.errors[0].message.contains("line"), "{}", set.errors[0].message);
        // Empty documents and a document of comments are nothing, not errors.
        let set = load("z.yaml", "---\n---\n# only a comment\n...\n");
        assert!(set.errors.is_empty() && set.documents == 0, "{:?}", set.errors);
    }
}
