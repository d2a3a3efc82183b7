//! Guide §10 (hardening beyond the object): whether raydar's admission guard checks the Ray
//! objects of a namespace (RAY-GRD-001). Only a live scan that could read the bindings can say.

use super::{catalog::rule, Findings, Subject};
use crate::semantics::labels::matches;
use std::collections::BTreeMap;

const BINDINGS: &str = "validatingadmissionpolicybindings";

pub fn check(s: &Subject, out: &mut Findings) {
    let inv = s.inv;
    if !inv.live || !inv.readable("", BINDINGS) {
        return;
    }
    let policy = format!("raydar-guard-{}", s.kind.to_lowercase());
    // The namespace's labels, as a binding's namespaceSelector sees them.
    let own: BTreeMap<String, String> =
        [("kubernetes.io/metadata.name".to_string(), s.namespace.to_string())].into();
    let labels = s.idx.namespace_labels.get(s.namespace).copied().unwrap_or(&own);
    let covered = inv.guard_bindings.iter().any(|b| {
        let Some(spec) = b.spec.as_ref() else { return false };
        spec.policy_name.as_deref() == Some(policy.as_str())
            && spec
                .match_resources
                .as_ref()
                .and_then(|m| m.namespace_selector.as_ref())
                .is_none_or(|sel| matches(sel, labels))
    });
    if !covered {
        let r = rule!("RAY-GRD-001");
        out.add(
            r,
            r.severity,
            format!(
                "namespace {}: no raydar guard checks {}s here (raydar guard status)",
                s.namespace, s.kind
            ),
        );
    }
}
