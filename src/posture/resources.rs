//! Guide §7: requests and limits on Ray containers (RAY-RES-001, RAY-RES-002).

use super::{catalog::rule, evidence, Findings, Severity, Subject};

pub fn check(s: &Subject, out: &mut Findings) {
    let obj = s.object();
    for t in s.templates() {
        let Some(c) = t.spec.containers.first() else { continue };
        let none = crate::model::Resources::default();
        let r = c.resources.as_ref().unwrap_or(&none);
        // Kubernetes defaults missing requests to the limits.
        let has_req = |k: &str| r.requests.contains_key(k) || r.limits.contains_key(k);
        let missing = match (has_req("cpu"), has_req("memory")) {
            (true, true) => "",
            (false, true) => "cpu",
            (true, false) => "memory",
            (false, false) => "cpu or memory",
        };
        if !missing.is_empty() {
            evidence!(
                out,
                rule!("RAY-RES-001"),
                Severity::Medium,
                obj,
                " ",
                t.path,
                ".containers[0] (",
                c.name,
                ") has no ",
                missing,
                " request"
            );
        }
        if !r.limits.contains_key("memory") {
            evidence!(
                out,
                rule!("RAY-RES-002"),
                Severity::Medium,
                obj,
                " ",
                t.path,
                ".containers[0] (",
                c.name,
                ") has no memory limit"
            );
        }
    }
}
