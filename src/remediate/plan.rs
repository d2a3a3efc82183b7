//! The planners: pure functions from a [`Snapshot`] to a [`Plan`]. Nothing here talks to the
//! API server; `apply` does.

use super::netpol::{self, Labels};
use super::{name_of, Change, FixId, Kind, ObjRef, Op, Plan, PlanError, Snapshot, MANAGED_BY};
use crate::model::Container;
use crate::semantics::exposure::reaches_outside;
use crate::semantics::labels::service_selects;
use crate::semantics::ray;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Plans `fix` for the entry `entry` (a RayCluster, RayService or RayJob) of the snapshot's
/// namespace. An empty plan means there is nothing to change.
pub fn plan(fix: FixId, snap: &Snapshot, entry: &str) -> Result<Plan, PlanError> {
    let t = Target::resolve(snap, entry)?;
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
        FixId::ServiceClusterip => service_clusterip(&t, snap, &mut p)?,
        FixId::NetworkPolicy => network_policy(&t, snap, &mut p)?,
        FixId::DisableIngress => disable_ingress(&t, snap, &mut p),
        FixId::AutomountToken => automount_token(&t, &mut p)?,
        FixId::DedicatedSa => dedicated_sa(&t, snap, &mut p)?,
        FixId::ResourceQuota => resource_quota(snap, &mut p)?,
        FixId::SecurityContext => security_context(&t, &mut p)?,
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
struct Target<'a> {
    name: String,
    /// The `ray.io/cluster` values of the entry's pods (its cluster names; the entry's own name
    /// while a RayJob/RayService has no cluster yet).
    clusters: Vec<String>,
    holders: Vec<Holder<'a>>,
}

fn label<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.pointer("/metadata/labels").and_then(|l| l.get(key)).and_then(Value::as_str)
}

impl<'a> Target<'a> {
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

// -- service-clusterip -------------------------------------------------------------------------

/// The Service as type ClusterIP, without the fields only external types may carry.
pub fn to_cluster_ip(svc: &Value) -> Value {
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

fn service_clusterip(t: &Target, snap: &Snapshot, p: &mut Plan) -> Result<(), PlanError> {
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

// -- network-policy ----------------------------------------------------------------------------

/// Narrows a policy's open ingress: a rule without `from` and a peer admitting 0.0.0.0/0 are
/// replaced by `peers` (under the rule's own ports); an open peer with `except` ranges is
/// dropped instead, since the exceptions might have kept out some of `peers`.
fn narrow(np: &Value, peers: &[Value]) -> Value {
    let mut v = np.clone();
    if let Some(rules) = v.pointer_mut("/spec/ingress").and_then(Value::as_array_mut) {
        rules.retain_mut(|r| {
            let from = r.get("from").and_then(Value::as_array).cloned().unwrap_or_default();
            let mut out: Vec<Value> = Vec::new();
            let push_all = |out: &mut Vec<Value>| {
                for p in peers {
                    if !out.contains(p) {
                        out.push(p.clone());
                    }
                }
            };
            if from.is_empty() {
                push_all(&mut out);
            }
            for peer in from {
                if !netpol::open_peer(&peer) {
                    if !out.contains(&peer) {
                        out.push(peer);
                    }
                } else if peer
                    .pointer("/ipBlock/except")
                    .is_none_or(|e| e.as_array().is_none_or(Vec::is_empty))
                {
                    push_all(&mut out);
                }
            }
            r["from"] = Value::Array(out);
            r["from"].as_array().is_some_and(|f| !f.is_empty())
        });
    }
    v
}

/// The sources a Ray cluster needs: its own pods, the KubeRay operator, RayJob submitters.
fn allowed_peers(
    cluster: &str,
    snap: &Snapshot,
    warnings: &mut Vec<String>,
) -> (Value, Vec<Value>, Value) {
    let own = json!({"podSelector": {"matchLabels": {"ray.io/cluster": cluster}}});
    let operator: Vec<Value> = match &snap.operator_pods {
        Some(pods) if !pods.is_empty() => {
            let namespaces: BTreeSet<&str> = pods.iter().map(|(ns, _)| ns.as_str()).collect();
            namespaces
                .into_iter()
                .map(|ns| {
                    json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                           "podSelector": {"matchLabels": {"app.kubernetes.io/name": "kuberay-operator"}}})
                })
                .collect()
        }
        _ => {
            warnings.push("the KubeRay operator's pods could not be found (label app.kubernetes.io/name=kuberay-operator): admitting pods with that label from any namespace".into());
            vec![json!({"namespaceSelector": {},
                        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "kuberay-operator"}}})]
        }
    };
    let submitters =
        json!({"podSelector": {"matchLabels": {"ray.io/originated-from-crd": "RayJob"}}});
    (own, operator, submitters)
}

fn network_policy(t: &Target, snap: &Snapshot, p: &mut Plan) -> Result<(), PlanError> {
    t.require_spec(&p.namespace)?;
    let groups = t.group_labels(snap);
    let spec = t.holders.iter().find_map(Holder::spec);
    let (dashboard, serve) = (head_port(spec, "dashboard"), head_port(spec, "serve"));
    let cluster = t.clusters.first().cloned().unwrap_or_else(|| t.name.clone());
    let name = format!("raydar-{cluster}");
    let (own, operator, submitters) = allowed_peers(&cluster, snap, &mut p.warnings);
    let mut peers = vec![own.clone()];
    peers.extend(operator.iter().cloned());
    peers.push(submitters.clone());

    // Open policies selecting the entry's pods: their open rules admit only the sources
    // the cluster needs from now on.
    let selects_any = |np: &Value| groups.values().flatten().any(|l| netpol::selects(np, l));
    for np in &snap.network_policies {
        let n = name_of(np);
        if n == name || !selects_any(np) || !netpol::is_open(np) {
            continue;
        }
        p.changes.push(Change {
            target: ObjRef::new(Kind::NetworkPolicy, &p.namespace, n),
            op: Op::Update,
            before: Some(np.clone()),
            after: Some(narrow(np, &peers)),
        });
        p.warnings.push(format!(
            "NetworkPolicy {n}: its rules that admitted every source now admit only this cluster's pods, the KubeRay operator and RayJob submitters, on the ports they listed; other pods it selects are affected too"
        ));
        if t.clusters
            .iter()
            .any(|c| n == format!("{c}-head") || n.starts_with(&format!("{c}-workers-")))
        {
            p.warnings
                .push(format!("NetworkPolicy {n} is KubeRay's own: the operator may restore it"));
        }
    }

    // Groups no policy guards yet get raydar's policy. Groups already behind a policy are
    // left to it, so a pod never admits a source it denied before.
    let needs: Vec<&String> = groups
        .iter()
        .filter(|(_, sets)| {
            sets.iter().all(|l| !snap.network_policies.iter().any(|np| netpol::selects(np, l)))
        })
        .map(|(g, _)| g)
        .collect();
    if needs.is_empty() {
        return Ok(());
    }
    let tcp = |port: i32| json!({"protocol": "TCP", "port": port});
    let ingress = json!([
        {"from": [own]},
        {"from": operator, "ports": [tcp(dashboard), tcp(serve)]},
        {"from": [submitters], "ports": [tcp(dashboard)]},
    ]);
    let target = ObjRef::new(Kind::NetworkPolicy, &p.namespace, &name);
    match snap.get(Kind::NetworkPolicy, &name) {
        Some(e) => {
            // raydar's own policy from an earlier fix: extend its groups, if it is still as
            // raydar wrote it.
            let values =
                e.pointer("/spec/podSelector/matchExpressions/0/values").and_then(Value::as_array);
            let ours = label(e, MANAGED_BY.0) == Some(MANAGED_BY.1)
                && e.pointer("/spec/ingress") == Some(&ingress)
                && e.pointer("/spec/podSelector/matchLabels")
                    == Some(&json!({"ray.io/cluster": cluster}))
                && e.pointer("/spec/podSelector/matchExpressions/0/key")
                    == Some(&json!("ray.io/group"))
                && values.is_some();
            if !ours {
                return Err(PlanError::NotApplicable(format!(
                    "NetworkPolicy {}/{name} exists but is not the policy raydar writes (changed by someone, or not raydar's); review or delete it first",
                    p.namespace
                )));
            }
            let mut all: Vec<Value> = values.cloned().unwrap_or_default();
            all.extend(needs.iter().map(|g| json!(g)));
            let mut after = e.clone();
            after["spec"]["podSelector"]["matchExpressions"][0]["values"] = Value::Array(all);
            p.changes.push(Change {
                target,
                op: Op::Update,
                before: Some(e.clone()),
                after: Some(after),
            });
        }
        None => {
            // Always name the groups: a stray pod labelled ray.io/cluster (already behind
            // another policy) must not be selected and so admitted more.
            let selector = json!({"matchLabels": {"ray.io/cluster": cluster},
                "matchExpressions": [{"key": "ray.io/group", "operator": "In", "values": needs}]});
            p.changes.push(Change {
                target,
                op: Op::Create,
                before: None,
                after: Some(json!({
                    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                    "metadata": {"name": name, "namespace": p.namespace,
                                 "labels": {MANAGED_BY.0: MANAGED_BY.1, "ray.io/cluster": cluster}},
                    "spec": {"podSelector": selector, "policyTypes": ["Ingress"], "ingress": ingress}})),
            });
        }
    }
    p.warnings.push(format!(
        "only the cluster's own pods, the KubeRay operator (ports {dashboard}, {serve}) and RayJob submitters (port {dashboard}) can reach its pods afterwards; other in-cluster clients (ingress controllers, Prometheus on 8080, apps calling Serve) need their own rule. Egress is not restricted; port-forward keeps working"
    ));
    Ok(())
}

// -- disable-ingress ---------------------------------------------------------------------------

fn disable_ingress(t: &Target, snap: &Snapshot, p: &mut Plan) {
    p.strong = true;
    t.edit_specs(p, |spec, _, _| {
        if spec.pointer("/headGroupSpec/enableIngress") == Some(&json!(true)) {
            obj_mut(spec, "headGroupSpec").insert("enableIngress".into(), json!(false));
        }
    });
    for c in &t.clusters {
        let generated = format!("{c}-head-ingress");
        let head_svc = snap
            .get(Kind::RayCluster, c)
            .and_then(|rc| rc.pointer("/status/head/serviceName").and_then(Value::as_str))
            .map_or_else(|| format!("{c}-head-svc"), str::to_string);
        for ing in &snap.ingresses {
            let n = name_of(ing);
            if n == generated {
                p.changes.push(Change {
                    target: ObjRef::new(Kind::Ingress, &p.namespace, n),
                    op: Op::Delete,
                    before: Some(ing.clone()),
                    after: None,
                });
            } else if ingress_backends(ing).contains(&head_svc.as_str()) {
                p.warnings.push(format!(
                    "Ingress {n} also routes to {head_svc} but was not generated by KubeRay: delete it or put authentication in front of it yourself"
                ));
            }
        }
    }
    if !p.changes.is_empty() {
        p.warnings.push(format!(
            "the dashboard is no longer reachable through the Ingress; use `raydar forward {}/{}`",
            p.namespace, t.name
        ));
    }
}

fn ingress_backends(ing: &Value) -> Vec<&str> {
    let mut out: Vec<&str> = ing
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|r| r.pointer("/http/paths").and_then(Value::as_array).into_iter().flatten())
        .filter_map(|path| path.pointer("/backend/service/name").and_then(Value::as_str))
        .collect();
    out.extend(ing.pointer("/spec/defaultBackend/service/name").and_then(Value::as_str));
    out
}

// -- automount-token ---------------------------------------------------------------------------

fn automount_token(t: &Target, p: &mut Plan) -> Result<(), PlanError> {
    t.require_spec(&p.namespace)?;
    let changed = t.edit_specs(p, |spec, what, warnings| {
        let scaler = autoscaler(spec);
        for_templates(spec, |head, _, tmpl| {
            if head && scaler {
                warnings.push(format!(
                    "{what}: the head keeps its token: the in-tree autoscaler reads it"
                ));
                return;
            }
            if tmpl.pointer("/spec/automountServiceAccountToken") != Some(&json!(false)) {
                obj_mut(tmpl, "spec").insert("automountServiceAccountToken".into(), json!(false));
            }
        });
    });
    if changed {
        p.warnings.push("processes in these pods that call the Kubernetes API with the mounted token stop working".into());
        p.warnings.push(NEW_PODS.into());
    }
    Ok(())
}

// -- dedicated-sa ------------------------------------------------------------------------------

fn dedicated_sa(t: &Target, snap: &Snapshot, p: &mut Plan) -> Result<(), PlanError> {
    t.require_spec(&p.namespace)?;
    // Named after the owner for RayJob/RayService clusters: their cluster names change.
    let base = t
        .holders
        .iter()
        .find(|h| h.kind != Kind::RayCluster)
        .map_or(t.name.as_str(), |h| name_of(h.obj));
    let sa = format!("{base}-ray");
    let existing = snap.get(Kind::ServiceAccount, &sa);
    let changed = t.edit_specs(p, |spec, _, _| {
        let scaler = autoscaler(spec);
        for_templates(spec, |head, _, tmpl| {
            // With the autoscaler, KubeRay gives the head its own ServiceAccount (and a Role).
            let cur =
                tmpl.pointer("/spec/serviceAccountName").and_then(Value::as_str).unwrap_or("");
            let legacy = tmpl.pointer("/spec/serviceAccount").and_then(Value::as_str).unwrap_or("");
            let uses_default = matches!(cur, "" | "default") && matches!(legacy, "" | "default");
            if uses_default && !(head && scaler) {
                let s = obj_mut(tmpl, "spec");
                s.insert("serviceAccountName".into(), json!(sa));
                s.remove("serviceAccount");
            }
        });
    });
    if !changed {
        return Ok(());
    }
    if let Some(e) = existing {
        if label(e, MANAGED_BY.0) != Some(MANAGED_BY.1) {
            return Err(PlanError::NotApplicable(format!(
                "ServiceAccount {}/{sa} exists and is not managed by raydar; its roles and token settings are unknown, so raydar will not point the cluster at it",
                p.namespace
            )));
        }
    }
    if existing.is_none() {
        p.changes.push(Change {
            target: ObjRef::new(Kind::ServiceAccount, &p.namespace, &sa),
            op: Op::Create,
            before: None,
            after: Some(json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": sa, "namespace": p.namespace, "labels": {MANAGED_BY.0: MANAGED_BY.1}},
                "automountServiceAccountToken": false})),
        });
    }
    p.warnings.push(format!(
        "ServiceAccount {sa} has no roles and no token automount: pods that need the Kubernetes API need a Role bound to it"
    ));
    p.warnings.push(NEW_PODS.into());
    Ok(())
}

// -- resource-quota ----------------------------------------------------------------------------

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

fn resource_quota(snap: &Snapshot, p: &mut Plan) -> Result<(), PlanError> {
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

// -- security-context --------------------------------------------------------------------------

use crate::posture::security::DANGEROUS_CAPS;

fn harden_container(c: &mut Value, pod_user: Option<i64>, at: &str, warnings: &mut Vec<String>) {
    let name = c["name"].as_str().unwrap_or("").to_string();
    let sc = obj_mut(c, "securityContext");
    if sc.get("privileged") == Some(&json!(true)) {
        sc.remove("privileged");
        warnings.push(format!(
            "{at} container {name}: privileged: true is removed; anything it needed from the host (devices, kernel settings) stops working"
        ));
    }
    sc.insert("allowPrivilegeEscalation".into(), json!(false));
    let user = sc.get("runAsUser").and_then(Value::as_i64).or(pod_user);
    if user == Some(0) {
        sc.insert("runAsUser".into(), json!(1000));
    }
    sc.insert("runAsNonRoot".into(), json!(true));
    let seccomp = sc.get("seccompProfile").and_then(|s| s["type"].as_str()).unwrap_or("");
    if seccomp.is_empty() || seccomp == "Unconfined" {
        sc.insert("seccompProfile".into(), json!({"type": "RuntimeDefault"}));
    }
    let caps = sc.entry("capabilities").or_insert_with(|| json!({}));
    if !caps.is_object() {
        *caps = json!({});
    }
    let mut removed = Vec::new();
    if let Some(add) = caps.get_mut("add").and_then(Value::as_array_mut) {
        add.retain(|a| {
            let bad =
                a.as_str().is_some_and(|s| DANGEROUS_CAPS.contains(&s.trim_start_matches("CAP_")));
            if bad {
                removed.push(a.as_str().unwrap_or("").to_string());
            }
            !bad
        });
        if add.is_empty() {
            if let Some(o) = caps.as_object_mut() {
                o.remove("add");
            }
        }
    }
    if !removed.is_empty() {
        warnings.push(format!(
            "{at} container {name}: capabilities {} are no longer added",
            removed.join(", ")
        ));
    }
    let drop = caps.get("drop").and_then(Value::as_array);
    if !drop.is_some_and(|d| d.iter().any(|x| x == "ALL")) {
        caps["drop"] = json!(["ALL"]);
    }
}

fn security_context(t: &Target, p: &mut Plan) -> Result<(), PlanError> {
    t.require_spec(&p.namespace)?;
    let changed = t.edit_specs(p, |spec, what, warnings| {
        for_templates(spec, |_, group, tmpl| {
            let at = format!("{what} group {group}");
            let Some(pod) = tmpl.get_mut("spec") else { return };
            let mut pod_user = pod.pointer("/securityContext/runAsUser").and_then(Value::as_i64);
            if pod_user == Some(0) {
                pod["securityContext"]["runAsUser"] = json!(1000);
                pod_user = Some(1000);
            }
            if pod.pointer("/securityContext/runAsNonRoot") == Some(&json!(false)) {
                pod["securityContext"]["runAsNonRoot"] = json!(true);
            }
            for key in ["initContainers", "containers"] {
                for c in pod.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten() {
                    harden_container(c, pod_user, &at, warnings);
                }
            }
        });
    });
    if changed {
        p.warnings.push(
            "containers run as UID 1000 (the Ray images' `ray` user) with no privilege escalation and no capabilities: images that need root fail to start".into(),
        );
        p.warnings.push(NEW_PODS.into());
    }
    Ok(())
}
