//! The service-clusterip fix: exposed Services back to ClusterIP, and the CR fields that would
//! expose them again (RAY-EXP-001/002/003, RAY-SVC-001).

use super::{obj_mut, templates, Affected, Holder};
use crate::remediate::netpol::Labels;
use crate::remediate::{name_of, Change, Kind, ObjRef, Op, Plan, PlanError, Snapshot};
use crate::semantics::exposure::reaches_outside;
use crate::semantics::labels::service_selects;
use serde_json::{json, Value};

/// The Service as type ClusterIP, without the fields only external types may carry.
fn to_cluster_ip(svc: &Value) -> Value {
    let mut v = svc.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("type".into(), json!("ClusterIP"));
        for k in [
            "loadBalancerIP",
            "loadBalancerSourceRanges",
            "loadBalancerClass",
            "externalTrafficPolicy",
            "healthCheckNodePort",
            "allocateLoadBalancerNodePorts",
            "externalIPs",
            "externalName",
        ] {
            spec.remove(k);
        }
        for port in spec.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(p) = port.as_object_mut() {
                p.remove("nodePort");
            }
        }
    }
    v
}

pub(super) fn service_clusterip(
    t: &Affected,
    snap: &Snapshot,
    p: &mut Plan,
) -> Result<(), PlanError> {
    let groups = t.group_labels(snap);
    let all: Vec<&Labels> = groups.values().flatten().collect();
    for svc in &snap.services {
        let ty = svc.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
        let external_ips = svc
            .pointer("/spec/externalIPs")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if !reaches_outside(ty, external_ips) {
            continue;
        }
        let sel: Labels =
            serde_json::from_value(svc.pointer("/spec/selector").cloned().unwrap_or(Value::Null))
                .unwrap_or_default();
        let selects = !sel.is_empty()
            && (sel.get("ray.io/cluster").is_some_and(|c| t.clusters.contains(c))
                || all.iter().any(|l| service_selects(&sel, *l)));
        if !selects {
            continue;
        }
        p.changes.push(Change {
            target: ObjRef::new(Kind::Service, &p.namespace, name_of(svc)),
            op: Op::Update,
            before: Some(svc.clone()),
            after: Some(to_cluster_ip(svc)),
        });
    }
    if !p.changes.is_empty() {
        p.warnings.push(format!(
            "clients outside the Kubernetes cluster lose access through these Services; reach the dashboard with `raydar forward {}/{}`",
            p.namespace, t.name
        ));
    }
    t.edit_specs(p, |spec, _, _| {
        let head = obj_mut(spec, "headGroupSpec");
        if head.get("serviceType").and_then(Value::as_str).is_some_and(|s| s != "ClusterIP") {
            head.insert("serviceType".into(), json!("ClusterIP"));
        }
        if let Some(svc) = head.get_mut("headService").filter(|s| {
            s.pointer("/spec/type").and_then(Value::as_str).is_some_and(|t| t != "ClusterIP")
        }) {
            *svc = to_cluster_ip(svc);
        }
    });
    let host = t.holders.iter().filter_map(Holder::spec).any(|s| {
        s.pointer("/headGroupSpec/template/spec/hostNetwork") == Some(&json!(true))
            || templates(s).iter().any(|(_, _, tm)| {
                tm.pointer("/spec/containers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .flat_map(|c| c["ports"].as_array().into_iter().flatten())
                    .any(|port| port.get("hostPort").is_some_and(|h| !h.is_null()))
            })
    });
    if host && p.changes.is_empty() {
        return Err(PlanError::NotApplicable(format!(
            "{}/{} is reachable from outside through hostNetwork/hostPort, which no Service change closes: remove them from the templates (RAY-SEC-005)",
            p.namespace, t.name
        )));
    }
    if host {
        p.warnings.push(
            "hostNetwork/hostPort exposure is not changed by this fix: remove it from the templates (RAY-SEC-005)".into(),
        );
    }
    Ok(())
}
