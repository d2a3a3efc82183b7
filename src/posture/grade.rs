//! The grade: the worst attack path an entry's findings open, with a one-line reason that
//! names it (README: "Grades"). Rule severities say how bad one finding is; the grade says
//! who can run code on Ray:
//!
//! | grade | who can run code on Ray or take its credentials |
//! |---|---|
//! | F | someone outside the cluster: a Ray port or an unauthenticated Ingress reachable from outside without effective auth; an unauthenticated-RCE advisory of the version reachable from outside; literal cloud credentials; a privileged pod with a cluster-admin-like ServiceAccount |
//! | D | any pod in the cluster (no effective auth and no NetworkPolicy in front of the head), or outsiders who pass an ACL, an Ingress's auth or the token |
//! | C | one of the two walls (auth, network isolation) is missing, or a critical hardening gap |
//! | B | hardening gaps only (high or medium findings) |
//! | A | nothing above low |

use super::{catalog::rule, Finding, Severity};
use serde::{Serialize, Serializer};
use std::fmt;

/// A to F; ordered so that the worse grade is the greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grade {
    A,
    B,
    C,
    D,
    F,
}

impl Grade {
    pub const ALL: [Grade; 5] = [Grade::A, Grade::B, Grade::C, Grade::D, Grade::F];

    pub fn as_str(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
            Grade::D => "D",
            Grade::F => "F",
        }
    }

    pub fn parse(s: &str) -> Option<Grade> {
        Self::ALL.into_iter().find(|g| g.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Grade {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What the grade table reads besides the findings: the two walls, where the rules judged
/// them (None: not judged for this entry, e.g. a RayJob on a shared cluster).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Walls {
    /// Effective Ray authentication (token, Kubernetes token, or Ray's default).
    pub auth: Option<bool>,
    /// A NetworkPolicy selects the head and none of its rules admits every source.
    pub isolated: Option<bool>,
    /// The cluster rules ran, but the namespace's NetworkPolicies could not be read: isolation
    /// is unknown, never assumed.
    pub network_unreadable: bool,
}

/// One way in from outside the cluster, read from a finding.
struct Door {
    /// `dashboard public on a LoadBalancer`.
    what: String,
    /// On the node's own address (hostNetwork, hostPort) rather than the internet.
    node: bool,
    /// An ACL, an intranet address or an Ingress's auth stands in front of it.
    narrowed: bool,
}

fn has(f: &[&Finding], id: &str, sev: Option<Severity>) -> bool {
    f.iter().any(|x| x.rule.id == id && sev.is_none_or(|s| x.severity == s))
}

/// `a LoadBalancer`, `a NodePort`, `hostNetwork`… from the evidence of an exposure.
fn carrier(evidence: &str) -> &'static str {
    if evidence.contains("LoadBalancer") {
        "a LoadBalancer"
    } else if evidence.contains("NodePort") {
        "a NodePort"
    } else if evidence.contains("hostNetwork") {
        "the node's network (hostNetwork)"
    } else if evidence.contains("hostPort") {
        "a hostPort"
    } else if evidence.contains("externalIPs") {
        "externalIPs"
    } else {
        "a Service beyond the cluster"
    }
}

fn doors(f: &[&Finding]) -> Vec<Door> {
    let mut out = Vec::new();
    for x in f {
        let (what, narrowed) = match x.rule.id {
            // An ACL or intranet address narrows a load balancer's every port: the GCS and
            // client ports too, when each exposure's evidence says so.
            id if id == rule!("RAY-EXP-001").id => {
                let narrowed = x.evidence.split("; ").all(|e| e.contains("narrowed by"));
                let how = if narrowed { " narrowed by an ACL" } else { "" };
                (format!("GCS/client port reachable on {}{how}", carrier(&x.evidence)), narrowed)
            }
            id if id == rule!("RAY-EXP-002").id => {
                (format!("dashboard public on {}", carrier(&x.evidence)), false)
            }
            id if id == rule!("RAY-EXP-003").id => {
                (format!("dashboard on {} narrowed by an ACL", carrier(&x.evidence)), true)
            }
            id if id == rule!("RAY-EXP-004").id => match x.severity {
                Severity::Critical => ("dashboard behind an Ingress with no auth".into(), false),
                _ => ("dashboard behind an Ingress with auth annotations".into(), true),
            },
            _ => continue,
        };
        let node = x.evidence.contains("hostNetwork") || x.evidence.contains("hostPort");
        out.push(Door { what, narrowed, node });
    }
    out
}

/// The grade of an entry and its reason, from its graded (not exempt) findings and walls.
pub fn judge(findings: &[Finding], walls: Walls) -> (Grade, String) {
    let f: Vec<&Finding> = findings.iter().filter(|x| x.exempt.is_none()).collect();
    let doors = doors(&f);
    let open = doors.iter().find(|d| !d.narrowed);
    let narrowed = doors.iter().find(|d| d.narrowed);
    let auth = walls.auth;
    let no_auth = auth == Some(false);
    // An advisory raised at critical: an unauthenticated RCE of this version, reachable from
    // outside without auth (RAY-VER-001 is critical only then).
    let rce =
        f.iter().find(|x| x.rule.id == rule!("RAY-VER-001").id && x.severity == Severity::Critical);

    // F: someone outside the cluster can run code or take credentials.
    if let (Some(d), true) = (open, no_auth) {
        let who = match (d.node, d.what.starts_with("dashboard")) {
            (true, _) => "anyone who reaches the node can run code on Ray",
            (false, true) => "anyone on the internet can submit jobs",
            (false, false) => "anyone on the internet can run code on Ray",
        };
        return (Grade::F, format!("{} + no token auth → {who}", d.what));
    }
    if let (Some(d), Some(_)) = (open.or(narrowed), rce) {
        return (
            Grade::F,
            format!(
                "{} + a Ray version with an unauthenticated RCE advisory → remote code execution",
                d.what
            ),
        );
    }
    if has(&f, rule!("RAY-CRED-001").id, None) {
        return (
            Grade::F,
            "literal cloud credentials in the spec → anyone who can read the object or the pod takes them".into(),
        );
    }
    if has(&f, rule!("RAY-SEC-001").id, None) && has(&f, rule!("RAY-RBAC-003").id, None) {
        return (
            Grade::F,
            "privileged pod + a cluster-admin-like ServiceAccount → code on Ray owns the node and the cluster".into(),
        );
    }
    // D: any pod in the cluster, or outsiders past one narrow wall.
    if let (Some(d), true) = (narrowed, no_auth) {
        let can = if d.what.starts_with("dashboard") { "submit jobs" } else { "run code on Ray" };
        return (Grade::D, format!("{} + no token auth → whoever passes it can {can}", d.what));
    }
    if let Some(d) = open.or(narrowed) {
        return (
            Grade::D,
            format!(
                "{} (token auth on) → the token is all that stands between the internet and Ray",
                d.what
            ),
        );
    }
    let isolated = walls.isolated;
    if no_auth && isolated == Some(false) {
        return (
            Grade::D,
            "no token auth + no NetworkPolicy in front of the head → any pod in the cluster can submit jobs".into(),
        );
    }
    // C: one wall missing, or a critical hardening gap. (An entry whose network the rules
    // did not judge, a RayJob or RayService whose cluster has its own entry, is graded by its
    // own doors only.)
    if no_auth && walls.network_unreadable {
        return (
            Grade::C,
            "no token auth, and the namespace's NetworkPolicies could not be read → nothing shows who can reach the head".into(),
        );
    }
    if no_auth && isolated == Some(true) {
        return (
            Grade::C,
            "no token auth (a NetworkPolicy limits who reaches the head) → the pods it admits can submit jobs".into(),
        );
    }
    if isolated == Some(false) {
        return (
            Grade::C,
            "no NetworkPolicy in front of the head (token auth on) → the token is the only wall inside the cluster".into(),
        );
    }
    if let Some(x) = f.iter().find(|x| x.severity == Severity::Critical) {
        return (Grade::C, format!("critical hardening gap: {} ({})", x.rule.title, x.rule.id));
    }
    // B: hardening gaps only.
    if let Some(x) = f.iter().find(|x| x.severity >= Severity::Medium) {
        let more = f.iter().filter(|y| y.severity >= Severity::Medium).count() - 1;
        let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
        return (
            Grade::B,
            format!("both walls stand; hardening gaps: {} ({}){tail}", x.rule.title, x.rule.id),
        );
    }
    let reason = match (auth, isolated) {
        (Some(true), Some(true)) => {
            "token auth and a NetworkPolicy in front of the head; nothing above low"
        }
        // A RayJob or RayService whose cluster has its own entry, or one on a shared cluster.
        (_, None) => {
            "nothing above low on this object (its cluster's entry carries the cluster's posture)"
        }
        _ => "nothing above low",
    };
    (Grade::A, reason.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &'static str, sev: Severity, ev: &str) -> Finding {
        let r = super::super::RULES.iter().find(|r| r.id == id).unwrap();
        Finding::new(r, sev, ev)
    }

    const ON: Option<bool> = Some(true);
    const OFF: Option<bool> = Some(false);

    /// Attack path → grade, one row per path of the README's table.
    #[test]
    fn attack_paths_grade_as_the_table_says() {
        use Severity::*;
        let lb = |id, sev| f(id, sev, "Service ns/x type=LoadBalancer port 8265 → dashboard 8265");
        let walls = |auth, isolated| Walls { auth, isolated, network_unreadable: false };
        let cases: Vec<(&str, Vec<Finding>, Walls, Grade)> = vec![
            (
                "public dashboard, no auth",
                vec![lb("RAY-EXP-002", Critical)],
                walls(OFF, OFF),
                Grade::F,
            ),
            (
                "public GCS, no auth, isolated",
                vec![lb("RAY-EXP-001", Critical)],
                walls(OFF, ON),
                Grade::F,
            ),
            (
                "open Ingress, no auth",
                vec![f("RAY-EXP-004", Critical, "Ingress")],
                walls(OFF, ON),
                Grade::F,
            ),
            (
                "RCE advisory reachable",
                vec![lb("RAY-EXP-003", High), f("RAY-VER-001", Critical, "v")],
                walls(ON, ON),
                Grade::F,
            ),
            (
                "literal credentials",
                vec![f("RAY-CRED-001", Critical, "env")],
                walls(ON, ON),
                Grade::F,
            ),
            (
                "privileged + admin SA",
                vec![f("RAY-SEC-001", Critical, "p"), f("RAY-RBAC-003", Critical, "b")],
                walls(ON, ON),
                Grade::F,
            ),
            (
                "ACL-narrowed dashboard, no auth",
                vec![lb("RAY-EXP-003", High)],
                walls(OFF, ON),
                Grade::D,
            ),
            (
                "Ingress with auth, no Ray auth",
                vec![f("RAY-EXP-004", High, "Ingress")],
                walls(OFF, ON),
                Grade::D,
            ),
            (
                "public dashboard, token auth",
                vec![lb("RAY-EXP-002", Critical)],
                walls(ON, ON),
                Grade::D,
            ),
            (
                "no auth, no policy",
                vec![f("RAY-AUTH-001", High, "a"), f("RAY-NET-001", High, "n")],
                walls(OFF, OFF),
                Grade::D,
            ),
            ("no auth, isolated", vec![f("RAY-AUTH-001", High, "a")], walls(OFF, ON), Grade::C),
            ("auth, no policy", vec![f("RAY-NET-001", High, "n")], walls(ON, OFF), Grade::C),
            ("privileged alone", vec![f("RAY-SEC-001", Critical, "p")], walls(ON, ON), Grade::C),
            (
                "hardening only",
                vec![f("RAY-TLS-001", High, "t"), f("RAY-RES-001", Medium, "r")],
                walls(ON, ON),
                Grade::B,
            ),
            ("low only", vec![f("RAY-IMG-002", Low, "i")], walls(ON, ON), Grade::A),
            ("nothing, walls not judged", vec![], walls(None, None), Grade::A),
            (
                "no auth, policies unreadable",
                vec![f("RAY-AUTH-001", High, "a")],
                Walls { auth: OFF, isolated: None, network_unreadable: true },
                Grade::C,
            ),
        ];
        for (name, findings, w, want) in cases {
            let (got, reason) = judge(&findings, w);
            assert_eq!(got, want, "{name}: {reason}");
            assert!(!reason.is_empty() && !reason.contains('\n'), "{name}");
        }
        let (_, r) = judge(&[lb("RAY-EXP-002", Critical)], walls(OFF, OFF));
        assert_eq!(r, "dashboard public on a LoadBalancer + no token auth → anyone on the internet can submit jobs");
    }

    #[test]
    fn exempt_findings_open_no_path() {
        let mut x = f("RAY-EXP-002", Severity::Critical, "type=LoadBalancer");
        x.exempt = Some("lab".into());
        let walls = Walls { auth: OFF, isolated: Some(true), network_unreadable: false };
        assert_eq!(judge(&[x], walls).0, Grade::C);
        assert!(Grade::F > Grade::D && Grade::B > Grade::A);
        assert_eq!(Grade::parse("d"), Some(Grade::D));
        assert_eq!(Grade::parse("E"), None);
    }
}
