//! Guide §1.4: NetworkPolicies around Ray pods (RAY-NET-001, RAY-NET-002, RAY-NET-003), and
//! KubeRay 1.7's `spec.networkPolicy` (RAY-NET-004: asked for, not made).
//!
//! In manifests (`scan -f`), the policies the operator will create from `spec.networkPolicy`
//! count as NetworkPolicies, judged by what they admit; live, the operator's policies are
//! ordinary NetworkPolicies, and a spec that asks for policies that are not there is its own
//! finding (the operator's `RayClusterNetworkPolicy` feature gate is alpha and off by default).

use super::{catalog::rule, Findings, Severity, Subject};
use crate::kuberay::{NetworkPolicyConfig, RayClusterSpec};
use crate::model::LabelSet;
use crate::semantics::netpol::{ingress_rules, open_rule, selects};
use crate::semantics::ray::operator_policy_names;
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use std::collections::BTreeMap;

/// A NetworkPolicy the rules judge: a live one, or one the operator will create from the CR
/// (with the CR field each of its ingress rules comes from; None: the operator's own rule).
struct Judged<'a> {
    policy: std::borrow::Cow<'a, NetworkPolicy>,
    origins: Option<Vec<Option<String>>>,
}

fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Whether the mode restricts ingress (`DenyAll`, the default, or `DenyAllIngress`).
fn denies_ingress(np: &NetworkPolicyConfig) -> bool {
    matches!(np.mode.as_deref().unwrap_or("DenyAll"), "DenyAll" | "DenyAllIngress")
}

/// The ingress side of the policies KubeRay's operator builds from `spec.networkPolicy`
/// (`networkpolicy_controller.go`, v1.7.0): `<cluster>-head` selecting the head and
/// `<cluster>-workers-<group>` per worker group, each admitting every port from the cluster's
/// own pods, then the user's rules (`head`, else a group's `workerGroups` entry, else
/// `worker`). `DenyAllEgress` restricts no ingress: those policies do not count here.
fn operator_policies(
    namespace: &str,
    cluster: &str,
    spec: &RayClusterSpec,
    spec_path: &str,
) -> Vec<Judged<'static>> {
    let Some(np) = spec.network_policy.as_ref().filter(|np| denies_ingress(np)) else {
        return Vec::new();
    };
    let base = NetworkPolicyIngressRule {
        from: Some(vec![NetworkPolicyPeer {
            pod_selector: Some(LabelSelector {
                match_labels: Some(labels(&[("ray.io/cluster", cluster)])),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let build = |name: String,
                 select: BTreeMap<String, String>,
                 user: &[NetworkPolicyIngressRule],
                 field: String| {
        let mut ingress = vec![base.clone()];
        ingress.extend(user.iter().cloned());
        let mut origins = vec![None];
        origins.extend(
            (0..user.len())
                .map(|i| Some(format!("{spec_path}.networkPolicy.{field}.ingressRules[{i}]"))),
        );
        Judged {
            policy: std::borrow::Cow::Owned(NetworkPolicy {
                metadata: ObjectMeta {
                    name: Some(name),
                    namespace: Some(namespace.to_string()),
                    ..Default::default()
                },
                spec: Some(NetworkPolicySpec {
                    pod_selector: Some(LabelSelector {
                        match_labels: Some(select),
                        ..Default::default()
                    }),
                    policy_types: Some(vec!["Ingress".into()]),
                    ingress: Some(ingress),
                    ..Default::default()
                }),
            }),
            origins: Some(origins),
        }
    };
    let groups: Vec<&str> = spec.worker_group_specs.iter().map(|g| g.group_name.as_str()).collect();
    let names = operator_policy_names(cluster, &groups);
    let head_rules = np.head.as_ref().map_or(&[][..], |h| h.ingress_rules.as_slice());
    let mut out = vec![build(
        names[0].clone(),
        labels(&[("ray.io/cluster", cluster), ("ray.io/node-type", "head")]),
        head_rules,
        "head".into(),
    )];
    for (i, g) in groups.iter().enumerate() {
        let (rules, field) = match np.worker_groups.iter().position(|w| w.group_name == *g) {
            Some(j) => (np.worker_groups[j].ingress_rules.as_slice(), format!("workerGroups[{j}]")),
            None => (
                np.worker.as_ref().map_or(&[][..], |w| w.ingress_rules.as_slice()),
                "worker".into(),
            ),
        };
        out.push(build(
            names[i + 1].clone(),
            labels(&[
                ("ray.io/cluster", cluster),
                ("ray.io/node-type", "worker"),
                ("ray.io/group", g),
            ]),
            rules,
            field,
        ));
    }
    out
}

/// The ingress side of the NetworkPolicies KubeRay's operator creates from the cluster's
/// `spec.networkPolicy` (none for `DenyAllEgress` or without it): what they admit.
pub fn kuberay_policies(
    namespace: &str,
    cluster: &str,
    spec: &RayClusterSpec,
) -> Vec<NetworkPolicy> {
    operator_policies(namespace, cluster, spec, "spec")
        .into_iter()
        .map(|j| j.policy.into_owned())
        .collect()
}

pub fn check(s: &Subject, out: &mut Findings) {
    let Some(spec) = s.spec else { return };
    if !s.inv.readable(s.namespace, "networkpolicies") {
        return;
    }
    let live: &[&NetworkPolicy] = s.idx.policies.get(s.namespace).map_or(&[], Vec::as_slice);
    let cluster = s.cluster.unwrap_or(s.name);
    let mut policies: Vec<Judged> = live
        .iter()
        .map(|p| Judged { policy: std::borrow::Cow::Borrowed(*p), origins: None })
        .collect();
    if !s.inv.live {
        policies.extend(operator_policies(s.namespace, cluster, spec, s.spec_path));
    } else if let (Some(np), Some(c)) = (spec.network_policy.as_ref(), s.cluster) {
        // Live: the operator's policies are there, or the spec asks in vain.
        let groups: Vec<&str> =
            spec.worker_group_specs.iter().map(|g| g.group_name.as_str()).collect();
        let missing: Vec<String> = operator_policy_names(c, &groups)
            .into_iter()
            .filter(|n| !live.iter().any(|p| p.metadata.name.as_deref() == Some(n.as_str())))
            .collect();
        if !missing.is_empty() {
            out.add(
                rule!("RAY-NET-004"),
                Severity::High,
                format!(
                    "{} {}.networkPolicy (mode {}) asks KubeRay for NetworkPolicy {} in namespace {}, which is not there: is the operator's RayClusterNetworkPolicy feature gate on?",
                    s.object(),
                    s.spec_path,
                    np.mode.as_deref().unwrap_or("DenyAll"),
                    missing.join(", "),
                    s.namespace
                ),
            );
        }
    }
    let head: &LabelSet = &s.head_labels;
    if !policies.iter().any(|p| selects(&p.policy, head)) {
        out.add(rule!("RAY-NET-001"), Severity::High, format!("{}: no NetworkPolicy in namespace {} selects the head pod (ray.io/cluster={}, ray.io/node-type=head)", s.object(), s.namespace, cluster));
    }
    let workers = &s.worker_labels;
    if let Some((group, _)) =
        workers.iter().find(|(_, w)| !policies.iter().any(|p| selects(&p.policy, &**w)))
    {
        out.add(
            rule!("RAY-NET-002"),
            Severity::Medium,
            format!(
                "{}: no NetworkPolicy in namespace {} selects the worker pods (group {})",
                s.object(),
                s.namespace,
                *group
            ),
        );
    }
    for p in policies.iter().filter(|p| {
        selects(&p.policy, head) || workers.iter().any(|(_, w)| selects(&p.policy, &**w))
    }) {
        let name = p.policy.metadata.name.as_deref().unwrap_or("");
        for (i, r) in ingress_rules(&p.policy).iter().enumerate() {
            let Some(why) = open_rule(r) else { continue };
            let ev = match p.origins.as_ref().and_then(|o| o.get(i).cloned().flatten()) {
                // A rule of the CR that KubeRay copies into its policy.
                Some(field) => {
                    format!("{} {field} (→ NetworkPolicy {}/{name}) {why}", s.object(), s.namespace)
                }
                None => format!("NetworkPolicy {}/{name} spec.ingress[{i}] {why}", s.namespace),
            };
            out.add(rule!("RAY-NET-003"), Severity::High, ev);
        }
    }
}
