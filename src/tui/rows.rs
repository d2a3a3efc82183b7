//! From inventory and posture entries to table rows: state, workers, head Service, exposure,
//! TLS/auth/NetworkPolicy marks and recent Warning events. Pure, runs off the UI thread.

use super::state::{EventLine, Row, GRADING};
use crate::inventory::Inventory;
use crate::model::Pod;
use crate::posture::Entry;
use std::collections::HashMap;
use std::sync::Arc;

fn has(e: &Entry, rule: &str) -> bool {
    e.findings.iter().any(|f| f.rule.id == rule)
}

pub fn rows(inv: &Inventory, entries: Vec<Entry>) -> Vec<Arc<Row>> {
    let mut pods: HashMap<(&str, &str), Vec<&Pod>> = HashMap::new();
    for p in &inv.pods {
        if let Some(c) = p.label("ray.io/cluster") {
            pods.entry((p.metadata.namespace.as_deref().unwrap_or(""), c)).or_default().push(p);
        }
    }
    let services: HashMap<(&str, &str), &crate::model::Service> = inv
        .services
        .iter()
        .map(|s| {
            (
                (
                    s.metadata.namespace.as_deref().unwrap_or(""),
                    s.metadata.name.as_deref().unwrap_or(""),
                ),
                &**s,
            )
        })
        .collect();
    let clusters: HashMap<(&str, &str), &crate::kuberay::RayCluster> = inv
        .ray_clusters
        .iter()
        .map(|c| {
            (
                (
                    c.metadata.namespace.as_deref().unwrap_or(""),
                    c.metadata.name.as_deref().unwrap_or(""),
                ),
                &**c,
            )
        })
        .collect();
    let mut events: HashMap<&str, Vec<&k8s_openapi::api::core::v1::Event>> = HashMap::new();
    for ev in &inv.events {
        events.entry(ev.metadata.namespace.as_deref().unwrap_or("")).or_default().push(ev);
    }
    entries
        .into_iter()
        .map(|e| {
            let key = (e.namespace.as_str(), e.name.as_str());
            let rc = (e.kind == "RayCluster").then(|| clusters.get(&key)).flatten();
            let ps = if e.kind == "RayCluster" {
                pods.get(&key).cloned().unwrap_or_default()
            } else {
                Vec::new()
            };
            let workers_ready = ps
                .iter()
                .filter(|p| p.label("ray.io/node-type") == Some("worker") && p.is_ready())
                .count();
            let workers_desired = rc.map_or(0, |c| {
                c.spec
                    .worker_group_specs
                    .iter()
                    .map(|g| {
                        g.replicas.unwrap_or(0).max(0) as usize
                            * g.num_of_hosts.unwrap_or(1).max(1) as usize
                    })
                    .sum()
            });
            let head_restarts = ps
                .iter()
                .filter(|p| p.label("ray.io/node-type") == Some("head"))
                .flat_map(|p| p.status.container_statuses.iter().map(|c| c.restart_count))
                .sum();
            let state = match rc {
                Some(c) => {
                    c.status.as_ref().and_then(|s| s.state.clone()).unwrap_or_else(|| "-".into())
                }
                None => "-".into(),
            };
            let svc_name = crate::semantics::ray::head_service_name(
                &e.name,
                rc.and_then(|c| c.spec.head_service_override()),
                rc.and_then(|c| c.status.as_ref()?.head_service()),
            );
            let head_svc = services
                .get(&(e.namespace.as_str(), svc_name.as_str()))
                .map_or_else(|| "-".to_string(), |s| s.type_().to_string());
            let prefix = format!("{}-", e.name);
            let evs: Vec<EventLine> = events
                .get(e.namespace.as_str())
                .into_iter()
                .flatten()
                .filter(|ev| {
                    let io = &ev.involved_object;
                    let n = io.name.as_deref().unwrap_or("");
                    match io.kind.as_deref() {
                        Some("Pod") => n.starts_with(&prefix),
                        Some(_) => n == e.name,
                        None => false,
                    }
                })
                .map(|ev| EventLine {
                    object: format!(
                        "{}/{}",
                        ev.involved_object.kind.as_deref().unwrap_or(""),
                        ev.involved_object.name.as_deref().unwrap_or("")
                    ),
                    reason: ev.reason.clone().unwrap_or_default(),
                    message: ev.message.clone().unwrap_or_default(),
                    count: ev.count.unwrap_or(1),
                })
                .collect();
            Arc::new(Row {
                state,
                workers_ready,
                workers_desired,
                head_restarts,
                head_svc,
                exposure: e.reach.label(),
                tls: !has(&e, "RAY-TLS-001") && !has(&e, "RAY-TLS-002"),
                auth: !has(&e, "RAY-AUTH-001"),
                netpol: inv
                    .readable(&e.namespace, "networkpolicies")
                    .then(|| !has(&e, "RAY-NET-001")),
                events: evs,
                entry: e,
            })
        })
        .collect()
}

/// Rows for the Ray custom resources alone, before the other kinds are listed: name, kind,
/// Ray version, state and workers as the resource reports them — and no grade, no finding and
/// no mark, since the Services, policies and pods that decide them are not known yet.
pub fn ungraded(inv: &Inventory, entries: Vec<Entry>) -> Vec<Arc<Row>> {
    let ready: HashMap<(&str, &str), usize> = inv
        .ray_clusters
        .iter()
        .map(|c| {
            let key = (
                c.metadata.namespace.as_deref().unwrap_or(""),
                c.metadata.name.as_deref().unwrap_or(""),
            );
            let n = c.status.as_ref().and_then(|s| s.ready_worker_replicas).unwrap_or(0);
            (key, n.max(0) as usize)
        })
        .collect();
    let mut out = rows(inv, entries);
    for r in &mut out {
        let r = Arc::make_mut(r);
        let key = (r.entry.namespace.as_str(), r.entry.name.as_str());
        r.workers_ready = ready.get(&key).copied().unwrap_or(0);
        r.entry.grade = None;
        r.entry.grade_reason.clear();
        r.entry.findings.clear();
        r.head_svc = GRADING.into();
        r.exposure = GRADING;
    }
    out
}
