//! The posture engine: pure rules over an [`Inventory`], one family per file, each citing the
//! guide's section. No I/O, no clock, no errors: a missing field is a finding or nothing.

pub mod advisories;
pub mod auth;
pub mod catalog;
mod creds;
pub mod explain;
mod exposure;
pub mod grade;
mod guard;
pub mod images;
mod index;
mod jobs;
pub mod network;
mod quota;
mod rbac;
mod resources;
pub mod security;
mod services;
mod subject;
mod tls;

pub use crate::semantics::credentials::{is_credential, CREDENTIAL_ENV};
pub use catalog::FixId;
pub use catalog::{Rule, RULES};
pub use subject::{exemption, Subject, EXEMPT_ANNOTATION};

use crate::inventory::Inventory;
pub use crate::semantics::exposure::Reach;
pub use grade::Grade;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Self::Critical, Self::High, Self::Medium, Self::Low, Self::Info];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
    /// Short label with a symbol, so severity never relies on colour alone.
    pub fn label(self) -> &'static str {
        match self {
            Self::Critical => "✖ CRIT",
            Self::High => "▲ HIGH",
            Self::Medium => "● MED",
            Self::Low => "○ LOW",
            Self::Info => "· INFO",
        }
    }
}

/// Settings the rules take from the config file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostureConfig {
    /// Registry prefixes images may come from (`docker.io/rayproject`); empty turns RAY-IMG-003 off.
    pub trusted_registries: Vec<String>,
    /// hostPath prefixes that are acceptable when mounted read-only.
    pub allowed_host_paths: Vec<String>,
    /// An OSV file, or a folder of OSV JSON files, replacing the built-in Ray advisories
    /// (`--advisories` wins over it).
    pub advisories: Option<std::path::PathBuf>,
    /// The advisories and version facts the rules read (built-in unless loaded).
    #[serde(skip)]
    pub db: AdvisoryDb,
}

/// The loaded advisories, shared by every evaluation.
#[derive(Debug, Clone)]
pub struct AdvisoryDb(std::sync::Arc<advisories::Advisories>);

impl Default for AdvisoryDb {
    fn default() -> Self {
        Self(advisories::Advisories::builtin())
    }
}

impl AdvisoryDb {
    pub fn get(&self) -> &advisories::Advisories {
        &self.0
    }
    pub fn new(a: advisories::Advisories) -> Self {
        Self(std::sync::Arc::new(a))
    }
}

impl PostureConfig {
    /// Loads the advisories `path` names (else the config's `advisories`), replacing the
    /// built-in ones; a file that does not parse is a one-line error naming file and entry.
    pub fn load_advisories(&mut self, path: Option<&std::path::Path>) -> Result<(), String> {
        let path = path.map(std::path::Path::to_path_buf).or_else(|| self.advisories.clone());
        if let Some(p) = path {
            self.db = AdvisoryDb::new(advisories::Advisories::load(&p)?);
        }
        Ok(())
    }
}

impl PostureConfig {
    /// The settings `--demo` uses, so that every rule has something to say on the demo data.
    pub fn demo() -> Self {
        Self {
            trusted_registries: vec!["docker.io/rayproject".into(), "quay.io/kuberay".into()],
            allowed_host_paths: vec!["/mnt/datasets".into()],
            ..Self::default()
        }
    }
}

/// One finding: what, where (object and field path, never a secret value) and how to fix it.
/// The rule's texts are the catalog's; only the evidence is the finding's own.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: &'static Rule,
    pub severity: Severity,
    pub evidence: String,
    /// Why the object is exempt from the rule (its `raydar.io/exempt` annotation): listed, not
    /// graded.
    pub exempt: Option<String>,
}

impl Finding {
    pub fn new(rule: &'static Rule, severity: Severity, evidence: impl Into<String>) -> Self {
        Self { rule, severity, evidence: evidence.into(), exempt: None }
    }
}

/// README: `raydar scan`, JSON: `{rule, section, severity, title, evidence, remediation, fix}`.
impl Serialize for Finding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let r = self.rule;
        let mut st = s.serialize_struct("Finding", 7)?;
        st.serialize_field("rule", r.id)?;
        st.serialize_field("section", r.section)?;
        st.serialize_field("severity", &self.severity)?;
        st.serialize_field("title", r.title)?;
        st.serialize_field("evidence", &self.evidence)?;
        st.serialize_field("remediation", r.remediation)?;
        st.serialize_field("fix", &r.fix)?;
        match &self.exempt {
            Some(reason) => st.serialize_field("exempt", reason)?,
            None => st.skip_field("exempt")?,
        }
        st.end()
    }
}

/// The findings of one entry as its rules raise them: one per (rule, severity), further
/// evidence for the same pair appended after `; `. The exposure rules also say how far the
/// entry's Ray ports reach.
#[derive(Debug, Default)]
pub struct Findings {
    found: Vec<Finding>,
    reach: Reach,
}

impl Findings {
    pub fn add(&mut self, rule: &'static Rule, severity: Severity, evidence: String) {
        // `rule!` copies catalog entries at compile time: compare ids, not addresses.
        match self.found.iter_mut().find(|f| f.severity == severity && f.rule.id == rule.id) {
            Some(f) => {
                f.evidence.push_str("; ");
                f.evidence.push_str(&evidence);
            }
            None => self.found.push(Finding { rule, severity, evidence, exempt: None }),
        }
    }

    /// How far the entry's Ray ports reach, as the exposure rules have found so far.
    pub fn reach_so_far(&self) -> Reach {
        self.reach
    }

    /// Records that the entry's Ray ports reach at least `r`.
    pub fn reach(&mut self, r: Reach) {
        self.reach = self.reach.max(r);
    }

    /// The findings, worst first, then by rule id (each (rule, severity) is one finding).
    /// Kept without spare capacity: the TUI holds every entry's findings.
    pub fn into_sorted(mut self) -> (Vec<Finding>, Reach) {
        self.found
            .sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.rule.id.cmp(b.rule.id)));
        self.found.shrink_to_fit();
        for f in &mut self.found {
            f.evidence.shrink_to_fit();
        }
        (self.found, self.reach)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub kind: String,
    pub name: String,
}

/// One scanned object (RayCluster, RayJob, RayService, RayCronJob) with its grade.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The kube context it was read from, in a scan of several (`--all-contexts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub namespace: String,
    pub name: String,
    pub kind: &'static str,
    pub owner: Option<Owner>,
    pub ray_version: Option<String>,
    /// The worst attack path's grade (None: not graded yet, the TUI's rows while listing).
    pub grade: Option<Grade>,
    /// The path that sets the grade, in one line.
    pub grade_reason: String,
    pub findings: Vec<Finding>,
    /// How far its Ray ports reach (the TUI's column; JSON says it through the findings).
    #[serde(skip)]
    pub reach: Reach,
}

impl Entry {
    /// The findings that count: all but the exempt ones.
    pub fn graded(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.exempt.is_none())
    }
    pub fn count(&self, s: Severity) -> usize {
        self.graded().filter(|f| f.severity == s).count()
    }
    pub fn worst(&self) -> Option<Severity> {
        self.graded().map(|f| f.severity).max()
    }
}

/// The grade table, for `raydar rules` and the README.
pub const GRADE_TABLE: &str = "F: someone outside the cluster can run code or take credentials (a Ray port or an unauthenticated Ingress reachable from outside without effective auth; an unauthenticated-RCE advisory reachable from outside; literal cloud credentials; a privileged pod with a cluster-admin-like ServiceAccount). D: any pod in the cluster can (no effective auth and no NetworkPolicy in front of the head), or outsiders past an ACL, an Ingress's auth or the token. C: one of the two walls (auth, network isolation) is missing, or a critical hardening gap. B: hardening gaps only. A: nothing above low. Exempt findings do not count.";

/// Every rule on one subject: its entry with grade and sorted findings.
fn entry(s: &Subject) -> Entry {
    let mut f = Findings::default();
    if s.cluster_rules {
        tls::check(s, &mut f);
        auth::check(s, &mut f);
        exposure::check(s, &mut f);
        network::check(s, &mut f);
        quota::check(s, &mut f);
        rbac::check(s, &mut f);
        security::check(s, &mut f);
        images::check(s, &mut f);
        resources::check(s, &mut f);
        creds::check(s, &mut f);
    } else {
        exposure::check_own_services(s, &mut f);
    }
    jobs::check(s, &mut f);
    guard::check(s, &mut f);
    let (mut f, reach) = f.into_sorted();
    if let Some(annotation) = s.exempt {
        for finding in &mut f {
            finding.exempt = subject::exemption(annotation, finding.rule.id).map(str::to_string);
        }
    }
    let (grade, grade_reason) = grade::judge(&f, walls(s, &f));
    Entry { grade: Some(grade), grade_reason, findings: f, reach, ..unjudged(s) }
}

/// The two walls as this entry's rules judged them: auth by RAY-AUTH-001 where the cluster
/// rules ran (else from the spec), isolation by RAY-NET-001/003 where NetworkPolicies were
/// readable. An exempt finding counts as a wall the user vouches for.
fn walls(s: &Subject, f: &[Finding]) -> grade::Walls {
    let graded = |id: &str| f.iter().any(|x| x.rule.id == id && x.exempt.is_none());
    let auth = match (s.cluster_rules, s.spec) {
        (true, Some(_)) => Some(!graded(catalog::rule!("RAY-AUTH-001").id)),
        (false, Some(_)) => Some(s.auth.on()),
        (_, None) => None,
    };
    let cluster = s.cluster_rules && s.spec.is_some();
    let readable = s.inv.readable(s.namespace, "networkpolicies");
    let isolated = (cluster && readable).then(|| {
        !graded(catalog::rule!("RAY-NET-001").id) && !graded(catalog::rule!("RAY-NET-003").id)
    });
    grade::Walls { auth, isolated, network_unreadable: cluster && !readable }
}

/// A subject's entry before any rule ran: names, kind, owner and Ray version, no grade.
fn unjudged(s: &Subject) -> Entry {
    Entry {
        context: None,
        namespace: s.namespace.to_string(),
        name: s.name.to_string(),
        kind: s.kind,
        owner: s.owner.clone(),
        ray_version: s.ray_version().map(str::to_string),
        grade: None,
        grade_reason: String::new(),
        findings: Vec::new(),
        reach: Reach::default(),
    }
}

/// Evaluates every rule for every entry of the inventory. Entries come sorted by namespace,
/// name and kind; findings by severity (worst first), then rule id. A large inventory is
/// evaluated in chunks on all cores.
pub fn evaluate(inv: &Inventory, cfg: &PostureConfig) -> Vec<Entry> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    evaluate_on(inv, cfg, threads, entry)
}

/// As [`evaluate`], on the calling thread alone: a long-lived process (the TUI) keeps one
/// allocator arena, rather than one more per thread that holds its peak resident.
pub fn evaluate_here(inv: &Inventory, cfg: &PostureConfig) -> Vec<Entry> {
    evaluate_on(inv, cfg, 1, entry)
}

/// The entries [`evaluate`] would give, in its order, without running any rule: no grade
/// (`""`), no finding. The TUI's rows before every kind is listed.
pub fn entries_ungraded(inv: &Inventory, cfg: &PostureConfig) -> Vec<Entry> {
    evaluate_on(inv, cfg, 1, unjudged)
}

fn evaluate_on(
    inv: &Inventory,
    cfg: &PostureConfig,
    threads: usize,
    entry: fn(&Subject) -> Entry,
) -> Vec<Entry> {
    let idx = index::Index::new(inv);
    // Clusters are independent: they are evaluated in chunks, one thread each.
    let chunk = inv.ray_clusters.len().div_ceil(threads).max(500);
    let idx_ref = &idx;
    let one = |rcs: &[std::sync::Arc<crate::kuberay::RayCluster>]| -> Vec<Entry> {
        rcs.iter().map(|rc| entry(&subject::cluster_subject(inv, idx_ref, cfg, rc))).collect()
    };
    // One chunk: on this thread (a thread per evaluation would cost an allocator arena).
    let mut out: Vec<Entry> = if inv.ray_clusters.len() <= chunk {
        one(&inv.ray_clusters)
    } else {
        std::thread::scope(|scope| {
            let chunks: Vec<_> =
                inv.ray_clusters.chunks(chunk).map(|rcs| scope.spawn(move || one(rcs))).collect();
            // A panic in a rule is a bug: re-raise it rather than lose entries.
            chunks
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    out.extend(subject::owner_subjects(inv, &idx, cfg).iter().map(entry));
    out.sort_by(|a, b| (&a.namespace, &a.name, a.kind).cmp(&(&b.namespace, &b.name, b.kind)));
    out
}

#[cfg(test)]
mod tests {
    use super::catalog::rule;
    use super::*;

    #[test]
    fn findings_merge_per_rule_and_severity_and_sort_worst_first() {
        let (tls, sec) = (rule!("RAY-TLS-001"), rule!("RAY-SEC-001"));
        let mut f = Findings::default();
        f.add(tls, Severity::Medium, "a".into());
        f.add(sec, Severity::Critical, "b".into());
        f.add(tls, Severity::Medium, "c".into());
        f.add(tls, Severity::High, "d".into());
        let got: Vec<(&str, Severity, String)> =
            f.into_sorted().0.into_iter().map(|x| (x.rule.id, x.severity, x.evidence)).collect();
        assert_eq!(
            got,
            [
                ("RAY-SEC-001", Severity::Critical, "b".to_string()),
                ("RAY-TLS-001", Severity::High, "d".into()),
                ("RAY-TLS-001", Severity::Medium, "a; c".into()),
            ]
        );
    }

    #[test]
    fn exemptions_name_a_rule_and_a_reason() {
        let a = "RAY-SEC-001: GPU driver debugging ; RAY-SVC-001:on-prem LB";
        assert_eq!(exemption(a, "RAY-SEC-001"), Some("GPU driver debugging"));
        assert_eq!(exemption(a, "RAY-SVC-001"), Some("on-prem LB"));
        assert_eq!(exemption(a, "RAY-SEC-005"), None);
        assert_eq!(exemption("RAY-SEC-001", "RAY-SEC-001"), None, "a reason is required");
        let mut f = vec![Finding::new(rule!("RAY-SEC-001"), Severity::Critical, "x")];
        let walls =
            grade::Walls { auth: Some(true), isolated: Some(true), network_unreadable: false };
        assert_eq!(grade::judge(&f, walls).0, Grade::C);
        f[0].exempt = Some("why".into());
        assert_eq!(grade::judge(&f, walls).0, Grade::A, "exempt findings are not graded");
    }
}
