//! The resource-quota fix: a ResourceQuota sized from what the namespace's pods request (RAY-
//! QUOTA-001).

use super::label;
use crate::remediate::{name_of, Change, Kind, ObjRef, Op, Plan, PlanError, Snapshot, MANAGED_BY};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

fn pod_requests(
    tmpl: &Value,
    totals: &mut BTreeMap<String, u128>,
    times: u128,
    missing: &mut usize,
) {
    for c in tmpl.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
        let req = c.pointer("/resources/requests").and_then(Value::as_object);
        let lim = c.pointer("/resources/limits").and_then(Value::as_object);
        let mut keys: BTreeSet<&String> = BTreeSet::new();
        keys.extend(req.into_iter().flat_map(|m| m.keys()));
        keys.extend(lim.into_iter().flat_map(|m| m.keys()));
        if !keys.iter().any(|k| *k == "cpu") || !keys.iter().any(|k| *k == "memory") {
            *missing += 1;
        }
        for k in keys {
            // Kubernetes defaults a missing request to the limit.
            let q = req.and_then(|m| m.get(k)).or_else(|| lim.and_then(|m| m.get(k)));
            let q = match q {
                Some(Value::String(s)) => crate::quantity::parse_milli(s),
                Some(Value::Number(n)) => crate::quantity::parse_milli(&n.to_string()),
                _ => None,
            };
            if let Some(q) = q {
                *totals.entry(k.clone()).or_default() += q * times;
            }
        }
    }
}

pub(super) fn resource_quota(snap: &Snapshot, p: &mut Plan) -> Result<(), PlanError> {
    if !snap.resource_quotas.is_empty() {
        return Ok(());
    }
    let mut specs: Vec<&Value> = snap.ray_clusters.iter().filter_map(|c| c.get("spec")).collect();
    // RayJobs/RayServices whose cluster does not exist yet will create one.
    for (kinds, crd, pointer) in [
        (&snap.ray_jobs, "RayJob", "/spec/rayClusterSpec"),
        (&snap.ray_services, "RayService", "/spec/rayClusterConfig"),
    ] {
        for o in kinds.iter() {
            let has_cluster = snap.ray_clusters.iter().any(|c| {
                label(c, "ray.io/originated-from-crd") == Some(crd)
                    && label(c, "ray.io/originated-from-cr-name") == Some(name_of(o))
            });
            if !has_cluster {
                specs.extend(o.pointer(pointer).filter(|s| s.is_object()));
            }
        }
    }
    let mut totals: BTreeMap<String, u128> = BTreeMap::new();
    let mut missing = 0;
    for spec in &specs {
        if let Some(t) = spec.pointer("/headGroupSpec/template") {
            pod_requests(t, &mut totals, 1, &mut missing);
        }
        for g in spec["workerGroupSpecs"].as_array().into_iter().flatten() {
            let n = ["maxReplicas", "replicas", "minReplicas"]
                .iter()
                .filter_map(|k| g[*k].as_u64())
                .max()
                .unwrap_or(1);
            let hosts = g["numOfHosts"].as_u64().unwrap_or(1).max(1);
            if let Some(t) = g.get("template") {
                pod_requests(t, &mut totals, u128::from(n * hosts), &mut missing);
            }
        }
    }
    let mut hard = serde_json::Map::new();
    for (k, v) in &totals {
        let v = (v * 12).div_ceil(10);
        let q = match k.as_str() {
            "cpu" => crate::quantity::format_cpu(v),
            "memory" => crate::quantity::format_bytes(v),
            k if k.contains("gpu") => crate::quantity::format_count(v),
            _ => continue,
        };
        hard.insert(format!("requests.{k}"), json!(q));
    }
    if hard.is_empty() {
        return Err(PlanError::NotApplicable(format!(
            "cannot size a quota for namespace {}: no Ray container declares cpu or memory requests or limits (RAY-RES-001)",
            p.namespace
        )));
    }
    p.changes.push(Change {
        target: ObjRef::new(Kind::ResourceQuota, &p.namespace, "raydar-quota"),
        op: Op::Create,
        before: None,
        after: Some(json!({"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": "raydar-quota", "namespace": p.namespace, "labels": {MANAGED_BY.0: MANAGED_BY.1}},
            "spec": {"hard": hard}})),
    });
    p.warnings.push(format!(
        "sized for the {} Ray cluster spec(s) of namespace {} at max replicas ×1.2; once it exists, pods without cpu and memory requests are rejected",
        specs.len(),
        p.namespace
    ));
    if missing > 0 {
        p.warnings.push(format!(
            "{missing} Ray container(s) declare no cpu or memory request: their pods would be rejected; add requests first (RAY-RES-001)"
        ));
    }
    Ok(())
}
