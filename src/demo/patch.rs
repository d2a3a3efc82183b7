//! Patch semantics: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch
//! with the list merge keys of the built-in kinds, and server-side apply with field ownership
//! recorded in `metadata.managedFields`.

use super::status::ApiError;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

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
pub(super) fn key_value(item: &Value, key: &str) -> Value {
    match item.get(key) {
        Some(v) => v.clone(),
        None if key == "protocol" => json!("TCP"),
        None => Value::Null,
    }
}

pub(super) fn key_of(item: &Value, keys: &[&str]) -> Vec<Value> {
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

pub(super) fn keys_for(
    lists: Lists,
    parents: &[String],
    field: &str,
) -> Option<&'static [&'static str]> {
    match lists {
        Lists::Keyed => merge_keys(parents, field),
        Lists::Atomic => None,
    }
}

/// Applies a strategic merge patch (or, with `Lists::Atomic`, a deep merge) to `orig`.
pub fn strategic_merge(orig: &mut Value, patch: &Value, lists: Lists) {
    merge_into(orig, patch, &mut Vec::new(), lists, true);
}

pub(super) fn merge_into(
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
}
