//! Patch semantics: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch
//! with the list merge keys of the built-in kinds, and server-side apply with field ownership
//! recorded in `metadata.managedFields`.

use super::status::{ApiError, Cause};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The merge key(s) of a list field of a built-in kind, given the names of the enclosing
/// fields (`["spec", "template", "spec"]` for a pod template's `containers`).
pub fn merge_keys(parents: &[String], field: &str) -> Option<&'static [&'static str]> {
    let parent = parents.last().map(String::as_str).unwrap_or("");
    match field {
        "containers" | "initContainers" | "ephemeralContainers" => Some(&["name"]),
        "env" | "volumes" | "imagePullSecrets" => Some(&["name"]),
        "volumeMounts" => Some(&["mountPath"]),
        "volumeDevices" => Some(&["devicePath"]),
        "conditions" => Some(&["type"]),
        "ownerReferences" => Some(&["uid"]),
        "ports" if matches!(parent, "containers" | "initContainers" | "ephemeralContainers") => {
            Some(&["containerPort", "protocol"])
        }
        "ports" if parents.len() == 1 && parent == "spec" => Some(&["port", "protocol"]),
        _ => None,
    }
}

/// Defaults a list-map key field takes when absent (so `{port: 80}` matches `{port: 80, protocol: TCP}`).
fn key_value(item: &Value, key: &str) -> Value {
    match item.get(key) {
        Some(v) => v.clone(),
        None if key == "protocol" => json!("TCP"),
        None => Value::Null,
    }
}

fn key_of(item: &Value, keys: &[&str]) -> Vec<Value> {
    keys.iter().map(|k| key_value(item, k)).collect()
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// How lists merge: by the built-in merge keys (strategic, apply on built-in kinds) or never
/// (custom resources, whose lists are atomic unless their schema says otherwise).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lists {
    Keyed,
    Atomic,
}

fn keys_for(lists: Lists, parents: &[String], field: &str) -> Option<&'static [&'static str]> {
    match lists {
        Lists::Keyed => merge_keys(parents, field),
        Lists::Atomic => None,
    }
}

/// Applies a strategic merge patch (or, with `Lists::Atomic`, a deep merge) to `orig`.
pub fn strategic_merge(orig: &mut Value, patch: &Value, lists: Lists) {
    merge_into(orig, patch, &mut Vec::new(), lists, true);
}

fn merge_into(
    orig: &mut Value,
    patch: &Value,
    parents: &mut Vec<String>,
    lists: Lists,
    nulls_delete: bool,
) {
    let Some(pm) = patch.as_object() else {
        *orig = strip_directives(patch);
        return;
    };
    if pm.get("$patch").and_then(Value::as_str) == Some("replace") {
        *orig = strip_directives(patch);
        return;
    }
    if !orig.is_object() {
        *orig = Value::Object(Map::new());
    }
    let retain: Option<BTreeSet<String>> = pm
        .get("$retainKeys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect());
    for (k, pv) in pm {
        if k.starts_with('$') {
            if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
                if let (Some(Value::Array(cur)), Some(del)) = (orig.get_mut(field), pv.as_array()) {
                    cur.retain(|x| !del.contains(x));
                }
            }
            continue;
        }
        let Some(om) = orig.as_object_mut() else { return };
        if pv.is_null() && nulls_delete {
            om.remove(k);
            continue;
        }
        match pv {
            Value::Object(_) if om.get(k).is_some_and(Value::is_object) => {
                if let Some(child) = om.get_mut(k) {
                    parents.push(k.clone());
                    merge_into(child, pv, parents, lists, nulls_delete);
                    parents.pop();
                }
            }
            Value::Array(items) => match keys_for(lists, parents, k) {
                Some(keys) => {
                    let cur = om.entry(k.clone()).or_insert_with(|| json!([]));
                    if !cur.is_array() {
                        *cur = json!([]);
                    }
                    parents.push(k.clone());
                    merge_list(cur, items, keys, parents, lists, nulls_delete);
                    parents.pop();
                }
                None => {
                    om.insert(k.clone(), strip_directives(pv));
                }
            },
            _ => {
                om.insert(k.clone(), strip_directives(pv));
            }
        }
    }
    if let (Some(retain), Some(om)) = (retain, orig.as_object_mut()) {
        om.retain(|k, _| retain.contains(k));
    }
}

fn merge_list(
    cur: &mut Value,
    items: &[Value],
    keys: &[&str],
    parents: &mut Vec<String>,
    lists: Lists,
    nulls_delete: bool,
) {
    let Some(arr) = cur.as_array_mut() else { return };
    if items.iter().any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace")) {
        *arr = items.iter().filter(|i| i.get("$patch").is_none()).map(strip_directives).collect();
        return;
    }
    for item in items {
        let key = key_of(item, keys);
        let pos = arr.iter().position(|o| key_of(o, keys) == key);
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            arr.retain(|o| key_of(o, keys) != key);
            continue;
        }
        match pos {
            Some(i) => merge_into(&mut arr[i], item, parents, lists, nulls_delete),
            None => arr.push(strip_directives(item)),
        }
    }
}

/// RFC 7386 merge patch.
pub fn merge_patch(orig: &mut Value, patch: &Value) {
    json_patch::merge(orig, patch);
}

/// RFC 6902 JSON patch.
pub fn json_patch(orig: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let p: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
    json_patch::patch(orig, &p).map_err(|e| {
        ApiError::new(
            422,
            "Invalid",
            format!("the server rejected our request due to an error in our request: {e}"),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Server-side apply

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

    #[test]
    fn strategic_merges_containers_env_and_service_ports_by_key() {
        let mut pod = json!({"spec": {"containers": [
            {"name": "a", "image": "x", "env": [{"name": "E", "value": "1"}],
             "ports": [{"containerPort": 80, "name": "http"}]},
            {"name": "b", "image": "y"}]}});
        strategic_merge(
            &mut pod,
            &json!({"spec": {"containers": [{"name": "a", "env": [{"name": "F", "value": "2"}],
                "ports": [{"containerPort": 81}]}, {"name": "b", "$patch": "delete"}]}}),
            Lists::Keyed,
        );
        let c = &pod["spec"]["containers"];
        assert_eq!(c.as_array().map(Vec::len), Some(1));
        assert_eq!(c[0]["image"], "x");
        assert_eq!(c[0]["env"].as_array().map(Vec::len), Some(2));
        assert_eq!(c[0]["ports"].as_array().map(Vec::len), Some(2));

        let mut svc = json!({"spec": {"ports": [{"name": "d", "port": 8265, "protocol": "TCP"}]}});
        strategic_merge(
            &mut svc,
            &json!({"spec": {"ports": [{"port": 8265, "nodePort": null}, {"name": "c", "port": 10001}]}}),
            Lists::Keyed,
        );
        assert_eq!(svc["spec"]["ports"].as_array().map(Vec::len), Some(2));
        assert_eq!(svc["spec"]["ports"][0]["name"], "d");
    }

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
