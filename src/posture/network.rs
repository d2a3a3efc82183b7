//! Guide §1.4: NetworkPolicies around Ray pods (RAY-NET-001, RAY-NET-002, RAY-NET-003).

use super::{catalog::rule, Findings, Severity, Subject};
use crate::model::LabelSet;
use crate::semantics::netpol::{ingress_rules, open_rule, selects};
use k8s_openapi::api::networking::v1::NetworkPolicy;

pub fn check(s: &Subject, out: &mut Findings) {
    if s.spec.is_none() || !s.inv.readable(s.namespace, "networkpolicies") {
        return;
    }
    let policies: &[&NetworkPolicy] = s.idx.policies.get(s.namespace).map_or(&[], Vec::as_slice);
    let head: &LabelSet = &s.head_labels;
    if !policies.iter().any(|p| selects(p, head)) {
        out.add(rule!("RAY-NET-001"), Severity::High, format!("{}: no NetworkPolicy in namespace {} selects the head pod (ray.io/cluster={}, ray.io/node-type=head)", s.object(), s.namespace, s.cluster.unwrap_or(s.name)));
    }
    let workers = &s.worker_labels;
    if let Some((group, _)) =
        workers.iter().find(|(_, w)| !policies.iter().any(|p| selects(p, &**w)))
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
    for p in policies
        .iter()
        .filter(|p| selects(p, head) || workers.iter().any(|(_, w)| selects(p, &**w)))
    {
        let name = p.metadata.name.as_deref().unwrap_or("");
        for (i, r) in ingress_rules(p).iter().enumerate() {
            if let Some(why) = open_rule(r) {
                out.add(
                    rule!("RAY-NET-003"),
                    Severity::High,
                    format!("NetworkPolicy {}/{name} spec.ingress[{i}] {why}", s.namespace),
                );
            }
        }
    }
}
