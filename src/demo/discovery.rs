//! The discovery and OpenAPI documents kubectl and kube-rs read, built from the catalog of
//! kinds.

use super::catalog::{Kind, KINDS};
use serde_json::{json, Value};

/// The distinct API groups, core excluded, in [`KINDS`] order.
fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for k in KINDS.iter().filter(|k| !k.group.is_empty()) {
        if !out.contains(&(k.group, k.version)) {
            out.push((k.group, k.version));
        }
    }
    out
}

pub fn version_doc() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-raydar-demo", "gitCommit": "raydar",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"
    })
}

fn aggregated_resource(k: &Kind) -> Value {
    let mut r = json!({
        "resource": k.plural,
        "responseKind": {"group": k.group, "version": k.version, "kind": k.kind},
        "scope": if k.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": k.singular,
        "verbs": k.verbs(),
    });
    if !k.short_names.is_empty() {
        r["shortNames"] = json!(k.short_names);
    }
    if !k.categories.is_empty() {
        r["categories"] = json!(k.categories);
    }
    let mut subs = Vec::new();
    if k.status_subresource {
        subs.push(json!({"subresource": "status",
            "responseKind": {"group": k.group, "version": k.version, "kind": k.kind},
            "verbs": ["get", "patch", "update"]}));
    }
    if k.plural == "pods" {
        subs.push(json!({"subresource": "portforward",
            "responseKind": {"group": "", "version": "", "kind": "PodPortForwardOptions"},
            "verbs": ["create", "get"]}));
    }
    if !subs.is_empty() {
        r["subresources"] = json!(subs);
    }
    r
}

/// `GET /api` or `/apis` in the aggregated (v2) format.
pub fn aggregated(core: bool) -> Value {
    let items: Vec<Value> = if core {
        let res: Vec<Value> =
            KINDS.iter().filter(|k| k.group.is_empty()).map(aggregated_resource).collect();
        vec![json!({"metadata": {}, "versions": [
            {"version": "v1", "resources": res, "freshness": "Current"}]})]
    } else {
        groups()
            .into_iter()
            .map(|(g, v)| {
                let res: Vec<Value> = KINDS
                    .iter()
                    .filter(|k| k.group == g && k.version == v)
                    .map(aggregated_resource)
                    .collect();
                json!({"metadata": {"name": g}, "versions": [
                    {"version": v, "resources": res, "freshness": "Current"}]})
            })
            .collect()
    };
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {}, "items": items})
}

pub fn legacy_api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
}

fn group_doc(g: &str, v: &str) -> Value {
    let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
    json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
}

pub fn legacy_group_list() -> Value {
    let groups: Vec<Value> = groups().into_iter().map(|(g, v)| group_doc(g, v)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn legacy_group(group: &str) -> Option<Value> {
    groups().into_iter().find(|(g, _)| *g == group).map(|(g, v)| {
        let mut d = group_doc(g, v);
        d["kind"] = json!("APIGroup");
        d["apiVersion"] = json!("v1");
        d
    })
}

/// `GET /api/v1` or `/apis/G/V`: the legacy `APIResourceList`.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<&Kind> =
        KINDS.iter().filter(|k| k.group == group && k.version == version).collect();
    if kinds.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for k in kinds {
        let mut r = json!({"name": k.plural, "singularName": k.singular, "namespaced": k.namespaced,
            "kind": k.kind, "verbs": k.verbs()});
        if !k.short_names.is_empty() {
            r["shortNames"] = json!(k.short_names);
        }
        if !k.categories.is_empty() {
            r["categories"] = json!(k.categories);
        }
        resources.push(r);
        if k.status_subresource {
            resources.push(json!({"name": format!("{}/status", k.plural), "singularName": "",
                "namespaced": k.namespaced, "kind": k.kind, "verbs": ["get", "patch", "update"]}));
        }
        if k.plural == "pods" {
            resources.push(json!({"name": "pods/portforward", "singularName": "",
                "namespaced": true, "kind": "PodPortForwardOptions", "verbs": ["create", "get"]}));
        }
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
        "resources": resources}))
}

/// A stable hash of a group-version's OpenAPI document, for `?hash=`.
fn gv_hash(gv_path: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in gv_path.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}")
}

/// `GET /openapi/v3`: one entry per group-version.
pub fn openapi_index() -> Value {
    let mut paths = serde_json::Map::new();
    let mut gvs = vec!["api/v1".to_string()];
    gvs.extend(groups().into_iter().map(|(g, v)| format!("apis/{g}/{v}")));
    for gv in gvs {
        let url = format!("/openapi/v3/{gv}?hash={}", gv_hash(&gv));
        paths.insert(gv, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// `GET /openapi/v3/<gv>`: a minimal document with a PATCH operation per kind carrying
/// `x-kubernetes-group-version-kind` and a `fieldValidation` parameter, which is what
/// `kubectl apply --server-side` checks before it trusts server-side validation.
pub fn openapi_doc(gv_path: &str) -> Option<Value> {
    let (group, version) = match gv_path.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return None,
    };
    let kinds: Vec<&Kind> =
        KINDS.iter().filter(|k| k.group == group && k.version == version).collect();
    if kinds.is_empty() {
        return None;
    }
    let mut paths = serde_json::Map::new();
    for k in kinds {
        let item = format!("{}/{{name}}", k.collection_path(Some("{namespace}")));
        let gvk = json!({"group": k.group, "version": k.version, "kind": k.kind});
        let params = json!([
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
            {"name": "force", "in": "query", "schema": {"type": "boolean"}}
        ]);
        paths.insert(
            item,
            json!({"patch": {"x-kubernetes-group-version-kind": gvk, "parameters": params,
                "responses": {"200": {"description": "OK"}}}}),
        );
    }
    Some(json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths}))
}

pub fn openapi_hash(gv_path: &str) -> String {
    gv_hash(gv_path)
}
