//! Guide §8: static cloud credentials (RAY-CRED-001, RAY-CRED-002). Values are never read
//! into a finding: only the variable's name and where it is.

use super::{catalog::rule, Findings, Severity, Subject};
use crate::model::Container;
use compact_str::CompactString;
use std::collections::BTreeSet;

pub const CREDENTIAL_ENV: [&str; 15] = [
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
    "OSS_ACCESS_KEY_ID",
    "OSS_ACCESS_KEY_SECRET",
    "OSS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "ALICLOUD_ACCESS_KEY",
    "ALICLOUD_SECRET_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AZURE_CLIENT_SECRET",
];

/// Whether an env var name is a static cloud credential (cheap first-letter test first: most
/// containers have none).
pub fn is_credential(name: &str) -> bool {
    matches!(name.as_bytes().first(), Some(b'A' | b'O' | b'G')) && CREDENTIAL_ENV.contains(&name)
}

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
