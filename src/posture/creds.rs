//! Guide §8: static cloud credentials (RAY-CRED-001, RAY-CRED-002). Values are never read
//! into a finding: only the variable's name and where it is.

use super::{catalog::rule, Findings, Severity, Subject};
use crate::model::Container;
use crate::semantics::credentials::is_credential;
use compact_str::CompactString;
use std::collections::BTreeSet;

fn scan(
    obj: &str,
    path: &str,
    c: &Container,
    seen: &mut BTreeSet<(&'static str, CompactString)>,
    out: &mut Findings,
) {
    for e in c.env.iter().filter(|e| is_credential(&e.name)) {
        if e.value.as_deref().is_some_and(|v| !v.is_empty()) && seen.insert(("lit", e.name.clone()))
        {
            out.add(
                rule!("RAY-CRED-001"),
                Severity::Critical,
                format!("{obj} {path} ({}) env {} is a literal value (not shown)", c.name, e.name),
            );
        }
        if let Some(sk) = e.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()) {
            if seen.insert(("ref", e.name.clone())) {
                out.add(
                    rule!("RAY-CRED-002"),
                    Severity::Medium,
                    format!(
                        "{obj} {path} ({}) env {} comes from Secret {}",
                        c.name,
                        e.name,
                        sk.name.as_deref().unwrap_or("?")
                    ),
                );
            }
        }
    }
}

pub fn check(s: &Subject, out: &mut Findings) {
    let obj = s.object();
    let mut seen = BTreeSet::new();
    for t in s.templates() {
        for (i, init, c) in t.spec.all_containers() {
            if !c.env.iter().any(|e| is_credential(&e.name)) {
                continue;
            }
            let list = if init { "initContainers" } else { "containers" };
            scan(obj, &format!("{}.{list}[{i}]", t.path), c, &mut seen, out);
        }
    }
    // Live pods win where webhooks mutate them.
    for p in s.pods.iter() {
        for (i, c) in p.spec.containers.iter().enumerate() {
            if !c.env.iter().any(|e| is_credential(&e.name)) {
                continue;
            }
            let pod = format!("Pod {}/{}", s.namespace, p.metadata.name.as_deref().unwrap_or(""));
            scan(&pod, &format!("spec.containers[{i}]"), c, &mut seen, out);
        }
    }
}
