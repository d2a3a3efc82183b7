//! The network-policy fix: narrow open policies that select the cluster, and a policy of raydar's
//! own for the groups none guards (RAY-NET-001/002/003).

use super::{head_port, label, Affected, Holder};
use crate::remediate::{
    name_of, netpol, Change, Kind, ObjRef, Op, Plan, PlanError, Snapshot, MANAGED_BY,
};
use serde_json::{json, Value};
use std::collections::BTreeSet;

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

/// `rules` (a CR's `ingressRules`) with their open rules narrowed to `peers`.
fn narrow_rules(rules: &Value, peers: &[Value]) -> Value {
    let np = json!({"spec": {"ingress": rules}});
    narrow(&np, peers).pointer("/spec/ingress").cloned().unwrap_or_else(|| json!([]))
}

/// The cluster asks KubeRay for its policies (`spec.networkPolicy`): the fix edits that, never
/// a policy beside the operator's. The mode comes to restrict ingress (`DenyAllEgress` becomes
/// `DenyAll`: egress stays as restricted as it was), open rules are narrowed to the sources
/// the cluster needs, and where ingress was open before, the head admits the KubeRay operator
/// and RayJob submitters on the dashboard (and the operator on serve), which the operator's own
/// rules leave out. Fields are written only where they change.
fn edit_network_policy_spec(
    t: &Affected,
    p: &mut Plan,
    peers: &[Value],
    head_rules: &[Value],
    may_restrict: bool,
) {
    let narrowed = |rules: &mut Value| {
        if rules.is_array() {
            let n = narrow_rules(rules, peers);
            if n != *rules {
                *rules = n;
            }
        }
    };
    t.edit_specs(p, |spec, what, warnings| {
        let Some(np) = spec.get_mut("networkPolicy").and_then(Value::as_object_mut) else {
            return;
        };
        // Only where ingress was open before does the fix add the sources the cluster needs:
        // where it was denied already, admitting more would widen access.
        let egress_only = np.get("mode").and_then(Value::as_str) == Some("DenyAllEgress");
        if egress_only && !may_restrict {
            warnings.push(format!("{what}: spec.networkPolicy.mode DenyAllEgress kept: another NetworkPolicy guards the cluster's pods already, and restricting ingress here would admit the cluster's own pods past it"));
        }
        let opened = egress_only && may_restrict;
        if opened {
            np.insert("mode".into(), json!("DenyAll"));
            warnings.push(format!("{what}: spec.networkPolicy.mode DenyAllEgress → DenyAll: ingress is restricted too; egress stays as it was"));
            let head = np.entry("head").or_insert_with(|| json!({}));
            if !head.is_object() {
                *head = json!({});
            }
            let mut rules = head.get("ingressRules").cloned().unwrap_or_else(|| json!([]));
            narrowed(&mut rules);
            if let Some(list) = rules.as_array_mut() {
                for r in head_rules {
                    if !list.contains(r) {
                        list.push(r.clone());
                    }
                }
            }
            head["ingressRules"] = rules;
        } else if let Some(r) = np.get_mut("head").and_then(|h| h.get_mut("ingressRules")) {
            narrowed(r);
        }
        if let Some(r) = np.get_mut("worker").and_then(|w| w.get_mut("ingressRules")) {
            narrowed(r);
        }
        for g in np.get_mut("workerGroups").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(r) = g.get_mut("ingressRules") {
                narrowed(r);
            }
        }
    });
    if !p.changes.is_empty() {
        p.warnings.push(
            "the cluster's NetworkPolicies are KubeRay's (spec.networkPolicy): the fix edits the spec, and the operator updates its policies while its RayClusterNetworkPolicy feature gate is on".into(),
        );
    }
}

/// A running cluster whose spec asks for KubeRay's policies that the operator has not made
/// (its alpha feature gate off): the spec cannot be fixed into guarding anything.
fn operator_policies_missing(t: &Affected, snap: &Snapshot) -> Option<String> {
    let mut missing = Vec::new();
    for c in &t.clusters {
        let Some(rc) = snap.get(Kind::RayCluster, c) else { continue };
        let Some(np) = rc.pointer("/spec/networkPolicy") else { continue };
        if np.get("mode").and_then(Value::as_str) == Some("DenyAllEgress") {
            continue;
        }
        let head = crate::semantics::ray::operator_policy_names(c, &[]).remove(0);
        if !snap.network_policies.iter().any(|x| name_of(x) == head) {
            missing.push(head);
        }
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

pub(super) fn network_policy(t: &Affected, snap: &Snapshot, p: &mut Plan) -> Result<(), PlanError> {
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
    let tcp = |port: i32| json!({"protocol": "TCP", "port": port});

    let uses_spec =
        t.holders.iter().filter_map(Holder::spec).any(|s| s.get("networkPolicy").is_some());
    if uses_spec {
        if let Some(names) = operator_policies_missing(t, snap) {
            return Err(PlanError::NotApplicable(format!(
                "{}/{}: spec.networkPolicy asks KubeRay for NetworkPolicy {names}, which the operator has not made (its RayClusterNetworkPolicy feature gate is alpha and off by default): turn the gate on, or remove spec.networkPolicy and run this fix again; raydar never adds a policy beside KubeRay's",
                p.namespace, t.name
            )));
        }
    }
    let kuberays = |n: &str| {
        t.clusters
            .iter()
            .any(|c| n == format!("{c}-head") || n.starts_with(&format!("{c}-workers-")))
    };

    // Open policies selecting the entry's pods: their open rules admit only the sources
    // the cluster needs from now on. (KubeRay's own, where the spec makes them, are fixed in
    // the spec below.)
    let selects_any = |np: &Value| groups.values().flatten().any(|l| netpol::selects(np, l));
    for np in &snap.network_policies {
        let n = name_of(np);
        if n == name || !selects_any(np) || !netpol::is_open(np) || (uses_spec && kuberays(n)) {
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
        if kuberays(n) {
            p.warnings
                .push(format!("NetworkPolicy {n} is KubeRay's own: the operator may restore it"));
        }
    }

    if uses_spec {
        // Turning ingress restriction on admits the cluster's own pods: only where no other
        // policy guards its pods already (a pod never admits a source it denied before).
        let guarded =
            snap.network_policies.iter().any(|np| !kuberays(name_of(np)) && selects_any(np));
        let head_rules = [
            json!({"from": operator, "ports": [tcp(dashboard), tcp(serve)]}),
            json!({"from": [submitters], "ports": [tcp(dashboard)]}),
        ];
        edit_network_policy_spec(t, p, &peers, &head_rules, !guarded);
        return Ok(());
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
