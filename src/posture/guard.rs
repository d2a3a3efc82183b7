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
    // The binding of this kind's policy (`raydar-guard-raycluster` …).
    let ours = |name: Option<&str>| {
        name.and_then(|n| n.strip_prefix("raydar-guard-"))
            .is_some_and(|k| k.eq_ignore_ascii_case(s.kind))
    };
    let covered = inv.guard_bindings.iter().filter_map(|b| b.spec.as_ref()).any(|spec| {
        if !ours(spec.policy_name.as_deref()) {
            return false;
        }
        let Some(sel) = spec.match_resources.as_ref().and_then(|m| m.namespace_selector.as_ref())
        else {
            return true;
        };
        // The namespace's labels (when listed), else the one every namespace has.
        match s.idx.namespace_labels.get(s.namespace) {
            Some(labels) => matches(sel, *labels),
            None => {
                let own: BTreeMap<String, String> =
                    [("kubernetes.io/metadata.name".into(), s.namespace.into())].into();
                matches(sel, &own)
            }
        }
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
