//! Server-side apply: field sets, `metadata.managedFields` (FieldsV1), ownership per manager,
//! conflicts and `force`.

use super::patch::{key_value, keys_for, merge_into, Lists};
use super::status::{ApiError, Cause};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One step of a field path: a map field or a list item identified by its key fields.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Elem {
    Field(String),
    /// Key fields as compact JSON of a sorted map (`{"name":"x"}`).
    Key(String),
}

pub type Path = Vec<Elem>;

fn key_json(item: &Value, keys: &[&str]) -> String {
    let m: BTreeMap<&str, Value> =
        keys.iter().map(|k| (*k, key_value(item, k))).filter(|(_, v)| !v.is_null()).collect();
    serde_json::to_string(&m).unwrap_or_default()
}

/// Top-level fields whose ownership is tracked (metadata only for labels and annotations).
fn tracked_top(k: &str) -> bool {
    !matches!(k, "apiVersion" | "kind" | "metadata" | "status")
}

/// The leaf paths set in `v`: scalars, atomic lists, empty maps, and keyed list items.
pub fn field_set(v: &Value, lists: Lists) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    let Some(m) = v.as_object() else { return out };
    for (k, val) in m {
        if k == "metadata" {
            for sub in ["labels", "annotations"] {
                if let Some(Value::Object(lm)) = val.get(sub) {
                    for lk in lm.keys() {
                        out.insert(vec![
                            Elem::Field("metadata".into()),
                            Elem::Field(sub.into()),
                            Elem::Field(lk.clone()),
                        ]);
                    }
                }
            }
        } else if tracked_top(k) {
            let mut path = vec![Elem::Field(k.clone())];
            let mut parents = Vec::new();
            walk(val, k, &mut parents, &mut path, lists, &mut out);
        }
    }
    out
}

fn walk(
    v: &Value,
    field: &str,
    parents: &mut Vec<String>,
    path: &mut Path,
    lists: Lists,
    out: &mut BTreeSet<Path>,
) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            parents.push(field.to_string());
            for (k, val) in m {
                path.push(Elem::Field(k.clone()));
                walk(val, k, parents, path, lists, out);
                path.pop();
            }
            parents.pop();
        }
        Value::Array(items) if !items.is_empty() => match keys_for(lists, parents, field) {
            Some(keys) => {
                for item in items {
                    path.push(Elem::Key(key_json(item, keys)));
                    out.insert(path.clone());
                    if let Some(im) = item.as_object() {
                        parents.push(field.to_string());
                        for (k, val) in im {
                            path.push(Elem::Field(k.clone()));
                            walk(val, k, parents, path, lists, out);
                            path.pop();
                        }
                        parents.pop();
                    }
                    path.pop();
                }
            }
            None => {
                out.insert(path.clone());
            }
        },
        _ => {
            out.insert(path.clone());
        }
    }
}

/// The value at `path` in `v` (`None` when absent).
pub fn get_path<'a>(v: &'a Value, path: &[Elem]) -> Option<&'a Value> {
    let mut cur = v;
    for e in path {
        cur = match e {
            Elem::Field(f) => cur.get(f)?,
            Elem::Key(k) => {
                let want: Map<String, Value> = serde_json::from_str(k).ok()?;
                cur.as_array()?
                    .iter()
                    .find(|item| want.iter().all(|(wk, wv)| key_value(item, wk) == *wv))?
            }
        };
    }
    Some(cur)
}

fn remove_path(v: &mut Value, path: &[Elem]) {
    let Some((last, parent)) = path.split_last() else { return };
    let mut cur = v;
    for e in parent {
        let next = match e {
            Elem::Field(f) => cur.get_mut(f),
            Elem::Key(k) => {
                let Ok(want) = serde_json::from_str::<Map<String, Value>>(k) else { return };
                cur.as_array_mut().and_then(|a| {
                    a.iter_mut().find(|item| want.iter().all(|(wk, wv)| key_value(item, wk) == *wv))
                })
            }
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match last {
        Elem::Field(f) => {
            if let Some(m) = cur.as_object_mut() {
                m.remove(f);
            }
        }
        Elem::Key(k) => {
            if let (Ok(want), Some(a)) =
                (serde_json::from_str::<Map<String, Value>>(k), cur.as_array_mut())
            {
                a.retain(|item| !want.iter().all(|(wk, wv)| key_value(item, wk) == *wv));
            }
        }
    }
}

/// `.spec.ports[port=80,protocol="TCP"].nodePort`, as kubectl prints conflicts.
pub fn render_path(path: &[Elem]) -> String {
    let mut s = String::new();
    for e in path {
        match e {
            Elem::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Elem::Key(k) => {
                let m: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                s.push_str(&format!("[{}]", parts.join(",")));
            }
        }
    }
    s
}

/// Converts a set of paths into a `fieldsV1` tree.
pub fn to_fields_v1(set: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for (i, e) in path.iter().enumerate() {
            let key = match e {
                Elem::Field(f) => format!("f:{f}"),
                Elem::Key(k) => format!("k:{k}"),
            };
            let node = cur.entry(key).or_insert_with(|| json!({}));
            if !node.is_object() {
                *node = json!({});
            }
            let Some(nm) = node.as_object_mut() else { break };
            if i + 1 == path.len() && matches!(e, Elem::Key(_)) {
                nm.insert(".".into(), json!({}));
            }
            cur = nm;
        }
    }
    Value::Object(root)
}

/// Parses a `fieldsV1` tree back into paths.
pub fn from_fields_v1(v: &Value) -> BTreeSet<Path> {
    fn go(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
        let Some(m) = v.as_object() else { return };
        if m.is_empty() && !path.is_empty() {
            out.insert(path.clone());
            return;
        }
        for (k, sub) in m {
            if k == "." {
                out.insert(path.clone());
                continue;
            }
            let e = if let Some(f) = k.strip_prefix("f:") {
                Elem::Field(f.to_string())
            } else if let Some(key) = k.strip_prefix("k:") {
                Elem::Key(key.to_string())
            } else {
                Elem::Field(k.clone())
            };
            path.push(e);
            go(sub, path, out);
            path.pop();
        }
    }
    let mut out = BTreeSet::new();
    go(v, &mut Vec::new(), &mut out);
    out
}

/// One `managedFields` entry, parsed.
#[derive(Debug, Clone)]
pub struct Managed {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub fields: BTreeSet<Path>,
}

pub fn read_managed(obj: &Value) -> Vec<Managed> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| Managed {
                    manager: e["manager"].as_str().unwrap_or("").to_string(),
                    operation: e["operation"].as_str().unwrap_or("Update").to_string(),
                    api_version: e["apiVersion"].as_str().unwrap_or("").to_string(),
                    time: e["time"].as_str().unwrap_or("").to_string(),
                    fields: from_fields_v1(&e["fieldsV1"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn write_managed(obj: &mut Value, managed: &[Managed]) {
    let arr: Vec<Value> = managed
        .iter()
        .filter(|m| !m.fields.is_empty())
        .map(|m| {
            json!({"manager": m.manager, "operation": m.operation, "apiVersion": m.api_version,
                "time": m.time, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(&m.fields)})
        })
        .collect();
    if arr.is_empty() {
        if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            md.remove("managedFields");
        }
    } else {
        obj["metadata"]["managedFields"] = Value::Array(arr);
    }
}

/// Records an update (create, replace, patch) by `manager`: it takes the fields it changed.
pub fn record_update(old: Option<&Value>, new: &mut Value, manager: &str, lists: Lists, now: &str) {
    let mut managed = old.map(read_managed).unwrap_or_default();
    let new_set = field_set(new, lists);
    let changed: BTreeSet<Path> = new_set
        .iter()
        .filter(|p| old.is_none_or(|o| get_path(o, p) != get_path(new, p)))
        .cloned()
        .collect();
    for m in &mut managed {
        m.fields.retain(|p| new_set.contains(p) && !changed.contains(p));
    }
    if !changed.is_empty() {
        let api_version = new["apiVersion"].as_str().unwrap_or("").to_string();
        match managed.iter_mut().find(|m| m.manager == manager && m.operation == "Update") {
            Some(m) => {
                m.fields.extend(changed);
                m.time = now.to_string();
            }
            None => managed.push(Managed {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version,
                time: now.to_string(),
                fields: changed,
            }),
        }
    }
    write_managed(new, &managed);
}

/// Server-side apply of `applied` onto `current` (`None` when the object does not exist yet).
pub fn apply(
    current: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    lists: Lists,
    now: &str,
) -> Result<Value, ApiError> {
    let applied_set = field_set(applied, lists);
    let mut managed = current.map(read_managed).unwrap_or_default();
    let mut result = current.cloned().unwrap_or_else(|| json!({}));

    // Conflicts: fields another manager owns that this apply would set to another value.
    let mut conflicts: Vec<(String, Path)> = Vec::new();
    for m in managed.iter().filter(|m| m.manager != manager) {
        for p in m.fields.intersection(&applied_set) {
            if current.and_then(|c| get_path(c, p)) != get_path(applied, p) {
                conflicts.push((m.manager.clone(), p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let api_version = applied["apiVersion"].as_str().unwrap_or("");
        let causes: Vec<Cause> = conflicts
            .iter()
            .map(|(mgr, p)| Cause {
                reason: "FieldManagerConflict",
                field: render_path(p),
                message: format!("conflict with \"{mgr}\" using {api_version}"),
            })
            .collect();
        let n = causes.len();
        let list: Vec<String> =
            causes.iter().map(|c| format!("- {}: {}", c.message, c.field)).collect();
        let mut e = ApiError::new(
            409,
            "Conflict",
            format!(
                "Apply failed with {n} conflict{}: {}",
                if n == 1 { "" } else { "s" },
                list.join("\n")
            ),
        );
        e.causes = causes;
        return Err(e);
    }
    for m in managed.iter_mut().filter(|m| m.manager != manager) {
        m.fields.retain(|p| !applied_set.contains(p) || !conflicts.iter().any(|(_, c)| c == p));
    }

    // Fields this manager applied before and no longer does, owned by nobody else: removed.
    let previous: BTreeSet<Path> = managed
        .iter()
        .filter(|m| m.manager == manager && m.operation == "Apply")
        .flat_map(|m| m.fields.iter().cloned())
        .collect();
    let others: BTreeSet<Path> = managed
        .iter()
        .filter(|m| !(m.manager == manager && m.operation == "Apply"))
        .flat_map(|m| m.fields.iter().cloned())
        .collect();
    let mut dropped: Vec<&Path> =
        previous.iter().filter(|p| !applied_set.contains(*p) && !others.contains(*p)).collect();
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in dropped {
        remove_path(&mut result, p);
    }

    let mut body = applied.clone();
    if let Some(md) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("managedFields");
        md.remove("resourceVersion");
    }
    merge_into(&mut result, &body, &mut Vec::new(), lists, false);

    let api_version = applied["apiVersion"].as_str().unwrap_or("").to_string();
    managed.retain(|m| !(m.manager == manager && m.operation == "Apply"));
    managed.push(Managed {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version,
        time: now.to_string(),
        fields: applied_set,
    });
    write_managed(&mut result, &managed);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn apply_conflicts_then_force_takes_ownership() {
        let first = apply(
            None,
            &json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c"}, "data": {"k": "1"}}),
            "x",
            false,
            Lists::Keyed,
            "t",
        )
        .unwrap();
        let err = apply(
            Some(&first),
            &json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c"}, "data": {"k": "2"}}),
            "y",
            false,
            Lists::Keyed,
            "t",
        )
        .unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(err.causes[0].field, ".data.k");
        let forced = apply(
            Some(&first),
            &json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c"}, "data": {"k": "2"}}),
            "y",
            true,
            Lists::Keyed,
            "t",
        )
        .unwrap();
        assert_eq!(forced["data"]["k"], "2");
        let m = read_managed(&forced);
        assert_eq!(m.len(), 1, "x lost its only field: {m:?}");
        // the same value from another manager is shared, not a conflict
        assert!(apply(
            Some(&forced),
            &json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c"}, "data": {"k": "2"}}),
            "z",
            false,
            Lists::Keyed,
            "t"
        )
        .is_ok());
    }

    #[test]
    fn apply_removes_fields_the_manager_stopped_applying() {
        let a = apply(None, &json!({"data": {"k": "1", "j": "2"}}), "x", false, Lists::Keyed, "t")
            .unwrap();
        let b =
            apply(Some(&a), &json!({"data": {"k": "1"}}), "x", false, Lists::Keyed, "t").unwrap();
        assert_eq!(b["data"], json!({"k": "1"}));
    }

    #[test]
    fn fields_v1_round_trips() {
        let v = json!({"spec": {"ports": [{"port": 80, "name": "h"}], "type": "ClusterIP"},
            "metadata": {"labels": {"a": "b"}}});
        let s = field_set(&v, Lists::Keyed);
        assert_eq!(from_fields_v1(&to_fields_v1(&s)), s);
    }
}
