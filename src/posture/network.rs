//! Guide §1.4: NetworkPolicies around Ray pods (RAY-NET-001, RAY-NET-002, RAY-NET-003).

use super::{catalog::rule, evidence, Findings, Severity, Subject};
use crate::model::LabelSet;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// Labels (or a selector's pairs), sorted by key.
pub trait Labels {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)>;
    fn label(&self, key: &str) -> Option<&str>;
}

impl Labels for BTreeMap<String, String> {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl Labels for LabelSet {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter()
    }
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key)
    }
}

/// Whether every pair of `want` is in `labels`: one pass over both (they are sorted), rather
/// than a search of `labels` per pair.
pub fn subset(want: &impl Labels, labels: &impl Labels) -> bool {
    let mut have = labels.pairs();
    'want: for (k, v) in want.pairs() {
        for (hk, hv) in have.by_ref() {
            match hk.cmp(k) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal if hv == v => continue 'want,
                _ => return false,
            }
        }
        return false;
    }
    true
}

/// Whether a label selector matches `labels` (an empty selector matches everything).
pub fn matches(sel: &LabelSelector, labels: &impl Labels) -> bool {
    let ml = sel.match_labels.as_ref().is_none_or(|m| subset(m, labels));
    let me = sel.match_expressions.iter().flatten().all(|e| {
        let have = labels.label(&e.key);
        let values = e.values.as_deref().unwrap_or(&[]);
        match e.operator.as_str() {
            "In" => have.is_some_and(|h| values.iter().any(|v| v == h)),
            "NotIn" => have.is_none_or(|h| !values.iter().any(|v| v == h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        }
    });
    ml && me
}

fn guards_ingress(np: &NetworkPolicy) -> bool {
    let Some(spec) = &np.spec else { return false };
    match &spec.policy_types {
        None => true,
        Some(t) if t.is_empty() => true,
        Some(t) => t.iter().any(|t| t == "Ingress"),
    }
}

fn selects(np: &NetworkPolicy, labels: &LabelSet) -> bool {
    np.spec.as_ref().is_some_and(|s| s.pod_selector.as_ref().is_none_or(|sel| matches(sel, labels)))
        && guards_ingress(np)
}

pub fn check(s: &Subject, out: &mut Findings) {
    if s.spec.is_none() || !s.inv.readable(s.namespace, "networkpolicies") {
        return;
    }
    let policies: &[&NetworkPolicy] = s.idx.policies.get(s.namespace).map_or(&[], Vec::as_slice);
    let head: &LabelSet = &s.head_labels;
    if !policies.iter().any(|p| selects(p, head)) {
        evidence!(
            out,
            rule!("RAY-NET-001"),
            Severity::High,
            s.object(),
            ": no NetworkPolicy in namespace ",
            s.namespace,
            " selects the head pod (ray.io/cluster=",
            s.cluster.unwrap_or(s.name),
            ", ray.io/node-type=head)"
        );
    }
    let workers = &s.worker_labels;
    if let Some((group, _)) = workers.iter().find(|(_, w)| !policies.iter().any(|p| selects(p, w)))
    {
        evidence!(
            out,
            rule!("RAY-NET-002"),
            Severity::Medium,
            s.object(),
            ": no NetworkPolicy in namespace ",
            s.namespace,
            " selects the worker pods (group ",
            *group,
            ")"
        );
    }
    for p in
        policies.iter().filter(|p| selects(p, head) || workers.iter().any(|(_, w)| selects(p, w)))
    {
        let name = p.metadata.name.as_deref().unwrap_or("");
        for (i, r) in
            p.spec.as_ref().and_then(|s| s.ingress.as_ref()).into_iter().flatten().enumerate()
        {
            let why = match r.from.as_deref() {
                None | Some([]) => Some("has no `from`, so every source is admitted".to_string()),
                Some(peers) => peers.iter().find_map(|peer| {
                    let cidr = peer.ip_block.as_ref()?.cidr.as_str();
                    matches!(cidr, "0.0.0.0/0" | "::/0").then(|| format!("admits ipBlock {cidr}"))
                }),
            };
            if let Some(why) = why {
                evidence!(
                    out,
                    rule!("RAY-NET-003"),
                    Severity::High,
                    "NetworkPolicy ",
                    s.namespace,
                    "/",
                    name,
                    " spec.ingress[",
                    i,
                    "] ",
                    why
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn subset_finds_every_pair_as_lookups_do(
            want in prop::collection::btree_map("[a-d]{1,2}", "[xy]", 0..4),
            labels in prop::collection::btree_map("[a-d]{1,2}", "[xy]", 0..8),
        ) {
            let looked_up = want.iter().all(|(k, v)| labels.get(k) == Some(v));
            prop_assert_eq!(subset(&want, &labels), looked_up);
            // The same on label sets.
            let (w, l) = (LabelSet::new(&want), LabelSet::new(&labels));
            prop_assert_eq!(subset(&w, &l), looked_up);
            prop_assert_eq!(subset(&want, &l), looked_up);
            // Labels that include every wanted pair always match.
            let with_want: BTreeMap<_, _> = labels.into_iter().chain(want.clone()).collect();
            prop_assert!(subset(&want, &with_want));
        }
    }
}
