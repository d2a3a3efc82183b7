//! The posture engine: pure rules over an [`Inventory`], one family per file, each citing the
//! guide's section. No I/O, no clock, no errors: a missing field is a finding or nothing.

mod auth;
pub mod catalog;
mod creds;
mod exposure;
pub mod images;
mod jobs;
mod network;
mod quota;
mod rbac;
mod resources;
pub mod security;
mod subject;
mod tls;

pub use catalog::{Rule, RULES};
pub use creds::CREDENTIAL_ENV;
pub use subject::{synthesized_labels, Subject};

use crate::inventory::Inventory;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

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
}

impl PostureConfig {
    /// The settings `--demo` uses, so that every rule has something to say on the demo data.
    pub fn demo() -> Self {
        Self {
            trusted_registries: vec!["docker.io/rayproject".into(), "quay.io/kuberay".into()],
            allowed_host_paths: vec!["/mnt/datasets".into()],
        }
    }
}

/// One finding: what, where (object and field path, never a secret value) and how to fix it.
/// The catalog's texts are borrowed (no allocation per finding); only evidence is owned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: Cow<'static, str>,
    pub section: Cow<'static, str>,
    pub severity: Severity,
    pub title: Cow<'static, str>,
    pub evidence: String,
    pub remediation: Cow<'static, str>,
    pub fix: Option<Cow<'static, str>>,
}

impl Finding {
    pub fn new(rule: &'static Rule, severity: Severity, evidence: impl Into<String>) -> Self {
        Self {
            rule: Cow::Borrowed(rule.id),
            section: Cow::Borrowed(rule.section),
            severity,
            title: Cow::Borrowed(rule.title),
            evidence: evidence.into(),
            remediation: Cow::Borrowed(rule.remediation),
            fix: rule.fix.map(Cow::Borrowed),
        }
    }
}

/// Collects one entry's findings, one per (rule, severity): further evidence for the same rule
/// is appended (`; `), formatted straight into that finding's buffer.
#[derive(Debug, Default)]
pub struct Findings(Vec<Finding>);

impl Findings {
    pub fn add(&mut self, rule: &'static Rule, severity: Severity, evidence: std::fmt::Arguments) {
        use std::fmt::Write;
        // Rule ids are the catalog's statics: compare addresses, not text.
        let same = |f: &Finding| matches!(&f.rule, Cow::Borrowed(r) if std::ptr::eq(*r, rule.id));
        match self.0.iter_mut().find(|f| f.severity == severity && same(f)) {
            Some(f) => {
                f.evidence.push_str("; ");
                let _ = f.evidence.write_fmt(evidence);
            }
            None => {
                let mut ev = String::with_capacity(160);
                let _ = ev.write_fmt(evidence);
                self.0.push(Finding::new(rule, severity, ev));
            }
        }
    }

    pub fn into_vec(self) -> Vec<Finding> {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub kind: String,
    pub name: String,
}

/// One scanned object (RayCluster, RayJob, RayService, RayCronJob) with its grade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub namespace: String,
    pub name: String,
    pub kind: String,
    pub owner: Option<Owner>,
    pub ray_version: Option<String>,
    pub grade: String,
    pub score: u32,
    pub findings: Vec<Finding>,
}

impl Entry {
    pub fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// Grade per DESIGN.md §2: F if any critical; else 100 − 15·high − 5·medium − 1·low with
/// A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, else F.
pub fn grade(findings: &[Finding]) -> (String, u32) {
    let n = |s| findings.iter().filter(|f| f.severity == s).count() as i64;
    if n(Severity::Critical) > 0 {
        return ("F".into(), 0);
    }
    let score =
        (100 - 15 * n(Severity::High) - 5 * n(Severity::Medium) - n(Severity::Low)).max(0) as u32;
    let g = match score {
        90.. => "A",
        75.. => "B",
        60.. => "C",
        40.. => "D",
        _ => "F",
    };
    (g.into(), score)
}

pub const GRADE_FORMULA: &str = "F if any critical finding; otherwise score = 100 − 15·high − 5·medium − 1·low, and A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, else F.";

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
    let mut f = f.into_vec();
    f.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.rule.cmp(&b.rule))
            .then_with(|| a.evidence.cmp(&b.evidence))
    });
    let (grade, score) = grade(&f);
    Entry {
        namespace: s.namespace.to_string(),
        name: s.name.to_string(),
        kind: s.kind.to_string(),
        owner: s.owner.clone(),
        ray_version: s.ray_version(),
        grade,
        score,
        findings: f,
    }
}

/// Evaluates every rule for every entry of the inventory. Entries come sorted by namespace,
/// name and kind; findings by severity (worst first), then rule id.
pub fn evaluate(inv: &Inventory, cfg: &PostureConfig) -> Vec<Entry> {
    let index = subject::Index::new(inv);
    let idx = &index;
    let of_cluster = |rc| entry(&subject::cluster_subject(inv, idx, cfg, rc));
    // Entries are independent: large inventories are split across the cores.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let clusters = &inv.ray_clusters;
    let mut out: Vec<Entry> = if threads > 1 && clusters.len() >= 512 {
        let chunk = clusters.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = clusters
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().map(of_cluster).collect::<Vec<_>>()))
                .collect();
            // A panic in a rule is a bug: re-raise it rather than lose entries.
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    } else {
        clusters.iter().map(of_cluster).collect()
    };
    out.extend(subject::owner_subjects(inv, idx, cfg).iter().map(entry));
    out.sort_by(|a, b| (&a.namespace, &a.name, &a.kind).cmp(&(&b.namespace, &b.name, &b.kind)));
    out
}
