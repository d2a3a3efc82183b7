//! The planners: pure functions from a [`Snapshot`] to a [`Plan`]. Nothing here talks to the
//! API server; `apply` does.

use super::netpol::Labels;
use super::{name_of, Change, FixId, Kind, ObjRef, Op, Plan, PlanError, Snapshot};
use crate::model::Container;
use crate::semantics::ray;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

mod account;
mod ingress;
mod network;
mod quota;
mod security;
mod service;

/// Plans `fix` for the entry `entry` (a RayCluster, RayService or RayJob) of the snapshot's
/// namespace. An empty plan means there is nothing to change.
pub fn plan(fix: FixId, snap: &Snapshot, entry: &str) -> Result<Plan, PlanError> {
    let t = Affected::resolve(snap, entry)?;
    let mut p = Plan {
        fix,
        namespace: snap.namespace.clone(),
        entry: entry.to_string(),
        changes: Vec::new(),
        warnings: Vec::new(),
        strong: false,
        undoes: None,
    };
    match fix {
        FixId::ServiceClusterip => service::service_clusterip(&t, snap, &mut p)?,
        FixId::NetworkPolicy => network::network_policy(&t, snap, &mut p)?,
        FixId::DisableIngress => ingress::disable_ingress(&t, snap, &mut p),
        FixId::AutomountToken => account::automount_token(&t, &mut p)?,
        FixId::DedicatedSa => account::dedicated_sa(&t, snap, &mut p)?,
        FixId::ResourceQuota => quota::resource_quota(snap, &mut p)?,
        FixId::SecurityContext => security::security_context(&t, &mut p)?,
        FixId::Guard => {
            return Err(PlanError::NotApplicable(
                "admission policies are planned by `raydar guard apply`".into(),
            ))
        }
    }
    order(&mut p.changes);
    let mut seen = BTreeSet::new();
    p.warnings.retain(|w| seen.insert(w.clone()));
    Ok(p)
}

/// Creates first (a template may point at a created ServiceAccount), then updates of plain
/// objects, then the custom resources, deletes last (after the CR stops asking for them).
fn order(changes: &mut [Change]) {
    changes.sort_by_key(|c| match (c.op, c.target.group()) {
        (Op::Create, _) => 0,
        (Op::Update, "ray.io") => 2,
        (Op::Update, _) => 1,
        (Op::Delete, _) => 3,
    });
}

/// An object holding a RayClusterSpec, and where.
struct Holder<'a> {
    kind: Kind,
    obj: &'a Value,
    pointer: &'static str,
}

impl Holder<'_> {
    fn spec(&self) -> Option<&Value> {
        self.obj.pointer(self.pointer).filter(|v| v.is_object())
    }
}

/// What an entry name stands for: its RayClusters and every object holding their spec.
struct Affected<'a> {
    name: String,
    /// The `ray.io/cluster` values of the entry's pods (its cluster names; the entry's own name
    /// while a RayJob/RayService has no cluster yet).
    clusters: Vec<String>,
    holders: Vec<Holder<'a>>,
}

fn label<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.pointer("/metadata/labels").and_then(|l| l.get(key)).and_then(Value::as_str)
}

impl<'a> Affected<'a> {
    fn resolve(snap: &'a Snapshot, entry: &str) -> Result<Self, PlanError> {
        let owned_by = |kind: &str, name: &str| -> Vec<&'a Value> {
            snap.ray_clusters
                .iter()
                .filter(|c| {
                    label(c, "ray.io/originated-from-crd") == Some(kind)
                        && label(c, "ray.io/originated-from-cr-name") == Some(name)
                })
                .collect()
        };
        let cluster_holder = |c: &'a Value| Holder {
            kind: Kind::RayCluster,
            obj: c,
            pointer: ray::RAY_CLUSTER.pointer,
        };
        if let Some(rc) = snap.get(Kind::RayCluster, entry) {
            let mut holders = vec![cluster_holder(rc)];
            let owner = label(rc, "ray.io/originated-from-cr-name").unwrap_or("");
            match label(rc, "ray.io/originated-from-crd") {
                Some("RayService") => {
                    if let Some(rs) = snap.get(Kind::RayService, owner) {
                        holders.push(Holder {
                            kind: Kind::RayService,
                            obj: rs,
                            pointer: ray::RAY_SERVICE.pointer,
                        });
                    }
                }
                Some("RayJob") => {
                    if let Some(rj) = snap.get(Kind::RayJob, owner) {
                        holders.push(Holder {
                            kind: Kind::RayJob,
                            obj: rj,
                            pointer: ray::RAY_JOB.pointer,
                        });
                    }
                }
                _ => {}
            }
            return Ok(Self { name: entry.into(), clusters: vec![entry.into()], holders });
        }
        for (kind, holder) in [
            (Kind::RayService, ray::RAY_SERVICE),
            (Kind::RayJob, ray::RAY_JOB),
            (Kind::RayCronJob, ray::RAY_CRON_JOB),
        ] {
            let (pointer, crd) = (holder.pointer, holder.kind);
            let Some(obj) = snap.get(kind, entry) else { continue };
            let mut clusters: Vec<&Value> = owned_by(crd, entry);
            // A RayJob on a shared cluster (clusterSelector) does not own it.
            let shared = obj.pointer("/spec/clusterSelector").is_some_and(|s| !s.is_null());
            if let Some(n) =
                obj.pointer("/status/rayClusterName").and_then(Value::as_str).filter(|_| !shared)
            {
                if let Some(c) = snap.get(Kind::RayCluster, n) {
                    if !clusters.iter().any(|x| name_of(x) == n) {
                        clusters.push(c);
                    }
                }
            }
            let mut holders = vec![Holder { kind, obj, pointer }];
            holders.retain(|h| h.spec().is_some());
            holders.extend(clusters.iter().map(|c| cluster_holder(c)));
            let mut names: Vec<String> = clusters.iter().map(|c| name_of(c).to_string()).collect();
            if names.is_empty() {
                names.push(entry.to_string());
            }
            return Ok(Self { name: entry.into(), clusters: names, holders });
        }
        Err(PlanError::NotFound { namespace: snap.namespace.clone(), name: entry.into() })
    }

    fn require_spec(&self, ns: &str) -> Result<(), PlanError> {
        if self.holders.iter().any(|h| h.spec().is_some()) {
            return Ok(());
        }
        Err(PlanError::NotApplicable(format!(
            "{}/{} runs on a shared cluster (clusterSelector) and has no cluster spec of its own: fix that RayCluster instead",
            ns, self.name
        )))
    }

    /// The label sets of the entry's pods per group (`headgroup` or the worker group name):
    /// live pods where they exist, else what KubeRay would set from the templates.
    fn group_labels(&self, snap: &Snapshot) -> BTreeMap<String, Vec<Labels>> {
        let mut out: BTreeMap<String, Vec<Labels>> = BTreeMap::new();
        for l in &snap.pod_labels {
            let in_cluster = l.get("ray.io/cluster").is_some_and(|c| self.clusters.contains(c));
            let node = l.get("ray.io/node-type").map(String::as_str);
            if in_cluster && matches!(node, Some("head" | "worker")) {
                let g = l.get("ray.io/group").cloned().unwrap_or_default();
                out.entry(g).or_default().push(l.clone());
            }
        }
        for h in &self.holders {
            let Some(spec) = h.spec() else { continue };
            for c in &self.clusters {
                for (head, group, tmpl) in templates(spec) {
                    let extra: BTreeMap<String, String> = serde_json::from_value(
                        tmpl.pointer("/metadata/labels").cloned().unwrap_or(Value::Null),
                    )
                    .unwrap_or_default();
                    let l = crate::semantics::ray::pod_labels(c, head, &group, Some(&extra));
                    let v = out.entry(group).or_default();
                    if !v.contains(&l) {
                        v.push(l);
                    }
                }
            }
        }
        out
    }

    /// Edits every holder's RayClusterSpec with `f`; an Update per holder that changed.
    fn edit_specs(
        &self,
        p: &mut Plan,
        mut f: impl FnMut(&mut Value, &str, &mut Vec<String>),
    ) -> bool {
        let mut any = false;
        for h in &self.holders {
            if h.spec().is_none() {
                continue;
            }
            let mut after = h.obj.clone();
            let what = format!("{} {}", h.kind.parts().1, name_of(h.obj));
            if let Some(spec) = after.pointer_mut(h.pointer) {
                f(spec, &what, &mut p.warnings);
            }
            if super::comparable(&after) == super::comparable(h.obj) {
                continue;
            }
            any = true;
            p.warnings.extend(holder_warning(h));
            p.changes.push(Change {
                target: ObjRef::new(h.kind, &p.namespace, name_of(h.obj)),
                op: Op::Update,
                before: Some(h.obj.clone()),
                after: Some(after),
            });
        }
        any
    }
}

fn holder_warning(h: &Holder) -> Option<String> {
    let name = name_of(h.obj);
    match h.kind {
        Kind::RayCluster => (h.obj.pointer("/spec/upgradeStrategy/type").and_then(Value::as_str)
            == Some("Recreate"))
        .then(|| format!("RayCluster {name} has upgradeStrategy Recreate: this edit recreates all of its pods")),
        Kind::RayService => Some(format!(
            "RayService {name}: editing rayClusterConfig rolls out a new RayCluster (the old one is replaced once the new one is ready)"
        )),
        Kind::RayJob => Some(format!(
            "RayJob {name}: rayClusterSpec applies to the clusters it creates from now on; a running cluster is patched directly"
        )),
        Kind::RayCronJob => Some(format!(
            "RayCronJob {name}: the RayJobs it schedules from now on get the new cluster spec; running ones keep theirs"
        )),
        _ => None,
    }
}

const NEW_PODS: &str =
    "template changes take effect on new pods only: running pods keep their old settings until they are recreated";

/// (is head, group name, template) of a RayClusterSpec.
fn templates(spec: &Value) -> Vec<(bool, String, &Value)> {
    let mut out = Vec::new();
    if let Some(t) = spec.pointer("/headGroupSpec/template") {
        out.push((true, "headgroup".to_string(), t));
    }
    for g in spec["workerGroupSpecs"].as_array().into_iter().flatten() {
        if let Some(t) = g.get("template") {
            out.push((false, g["groupName"].as_str().unwrap_or("").to_string(), t));
        }
    }
    out
}

/// Calls `f(is_head, group, template)` on every template of a RayClusterSpec.
fn for_templates(spec: &mut Value, mut f: impl FnMut(bool, &str, &mut Value)) {
    if let Some(t) = spec.pointer_mut("/headGroupSpec/template") {
        f(true, "headgroup", t);
    }
    if let Some(groups) = spec.get_mut("workerGroupSpecs").and_then(Value::as_array_mut) {
        for g in groups {
            let name = g["groupName"].as_str().unwrap_or("").to_string();
            if let Some(t) = g.get_mut("template") {
                f(false, &name, t);
            }
        }
    }
}

/// `v[key]` as an object, made one (and `v` too) when it is not.
fn obj_mut<'v>(v: &'v mut Value, key: &str) -> &'v mut serde_json::Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    if !v.get(key).is_some_and(Value::is_object) {
        v[key] = json!({});
    }
    match v.get_mut(key) {
        Some(Value::Object(m)) => m,
        // Set to an object on the lines above; the borrow checker cannot carry that over.
        #[allow(clippy::unreachable)]
        _ => unreachable!("just set to an object"),
    }
}

fn autoscaler(spec: &Value) -> bool {
    spec["enableInTreeAutoscaling"].as_bool() == Some(true)
}

/// The head port called `name` of a RayClusterSpec (declared, else KubeRay's default).
fn head_port(spec: Option<&Value>, name: &str) -> i32 {
    let head: Option<Container> = spec
        .and_then(|s| s.pointer("/headGroupSpec/template/spec/containers/0"))
        .and_then(|c| serde_json::from_value(c.clone()).ok());
    ray::head_port(head.as_ref(), name).unwrap_or_default()
}
