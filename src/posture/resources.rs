//! Guide §7: requests and limits on Ray containers (RAY-RES-001, RAY-RES-002).

use super::{catalog::rule, Findings, Severity, Subject};

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
            out.add(
                rule!("RAY-RES-001"),
                Severity::Medium,
                format!("{obj} {}.containers[0] ({}) has no {missing} request", t.path, c.name),
            );
        }
        if !r.limits.contains_key("memory") {
            out.add(
                rule!("RAY-RES-002"),
                Severity::Medium,
                format!("{obj} {}.containers[0] ({}) has no memory limit", t.path, c.name),
            );
        }
    }
}
