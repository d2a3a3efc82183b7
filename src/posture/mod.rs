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

pub use catalog::FixId;
pub use catalog::{Rule, RULES};
pub use creds::{is_credential, CREDENTIAL_ENV};
pub use subject::{synthesized_labels, Subject};

use crate::inventory::Inventory;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

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
/// The rule's texts are the catalog's (no allocation per finding); only evidence is owned.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: &'static Rule,
    pub severity: Severity,
    pub evidence: Evidence,
}

impl Finding {
    pub fn new(rule: &'static Rule, severity: Severity, evidence: impl Into<String>) -> Self {
        Self { rule, severity, evidence: Evidence::from(evidence.into()) }
    }
}

/// A finding's evidence: its part of a text that every finding of a batch of entries shares
/// (see [`Findings`]), so evidence costs no allocation of its own.
#[derive(Clone)]
pub struct Evidence {
    text: Arc<OnceLock<String>>,
    range: std::ops::Range<usize>,
}

impl Evidence {
    pub fn as_str(&self) -> &str {
        // The text is set when its batch is sealed, before any entry leaves the engine.
        self.text.get().and_then(|t| t.get(self.range.clone())).unwrap_or_default()
    }
}

impl From<String> for Evidence {
    fn from(s: String) -> Self {
        let range = 0..s.len();
        Self { text: Arc::new(OnceLock::from(s)), range }
    }
}

impl std::ops::Deref for Evidence {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for Evidence {
    fn eq(&self, o: &Self) -> bool {
        self.as_str() == o.as_str()
    }
}

impl PartialEq<str> for Evidence {
    fn eq(&self, o: &str) -> bool {
        self.as_str() == o
    }
}

impl PartialEq<&str> for Evidence {
    fn eq(&self, o: &&str) -> bool {
        self.as_str() == *o
    }
}

impl Serialize for Evidence {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
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
        st.end()
    }
}

/// Collects the findings of entry after entry, one per (rule, severity) each: further evidence
/// for the same rule is appended (`; `). An entry's evidence is formatted into a scratch buffer
/// that stays in cache; when the entry is done, its findings' evidence is copied, in order and
/// joined, onto the text of the batch. Each finding holds its range of that text, which
/// [`Findings::seal`] (or dropping the collector) hands to the findings: one allocation per
/// batch of entries.
#[derive(Debug, Default)]
pub struct Findings {
    found: Vec<Found>,
    /// The entry's evidence, piece after piece.
    scratch: String,
    /// Each piece of evidence in the order it came: whose (index in `found`) and where in
    /// `scratch`.
    pieces: Vec<(usize, std::ops::Range<usize>)>,
    /// `found` indices in order (scratch for [`Findings::take`]).
    order: Vec<usize>,
    /// The batch's evidence so far, and where the findings taken so far will read it.
    text: String,
    shared: Arc<OnceLock<String>>,
    /// A buffer rules may keep from entry to entry (a container's path, say).
    path: String,
}

/// One finding being collected.
#[derive(Debug)]
struct Found {
    rule: &'static Rule,
    severity: Severity,
    /// Its first piece of evidence (a range of `Findings::scratch`), and how many it has.
    first: std::ops::Range<usize>,
    pieces: usize,
}

impl Findings {
    /// A collector whose batch has room for `bytes` of evidence.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut f = Self::default();
        f.text.reserve(bytes);
        f
    }

    /// Files the evidence written to the scratch since `start` under (rule, severity).
    fn close(&mut self, start: usize, rule: &'static Rule, severity: Severity) {
        // `rule!` copies catalog entries at compile time: compare ids (as numbers), not addresses.
        let key = rule.key();
        let range = start..self.scratch.len();
        match self.found.iter().position(|f| f.severity == severity && f.rule.key() == key) {
            Some(i) => {
                self.found[i].pieces += 1;
                self.pieces.push((i, range));
            }
            None => {
                self.pieces.push((self.found.len(), range.clone()));
                self.found.push(Found { rule, severity, first: range, pieces: 1 });
            }
        }
    }

    /// The entry's findings, worst first, then by rule id (a total order: each (rule, severity)
    /// is one finding); their evidence reads once the batch is sealed. Leaves the collector
    /// ready for the next entry.
    pub fn take(&mut self) -> Vec<Finding> {
        let found = &self.found;
        self.order.clear();
        self.order.extend(0..found.len());
        self.order.sort_unstable_by(|&a, &b| {
            let (a, b) = (&found[a], &found[b]);
            b.severity.cmp(&a.severity).then_with(|| a.rule.key().cmp(&b.rule.key()))
        });
        let (scratch, text) = (&self.scratch, &mut self.text);
        let out = self
            .order
            .iter()
            .map(|&i| {
                let f = &found[i];
                let start = text.len();
                if f.pieces == 1 {
                    text.push_str(&scratch[f.first.clone()]);
                } else {
                    let mut pieces = self.pieces.iter().filter(|(p, _)| *p == i);
                    for (k, (_, r)) in pieces.by_ref().enumerate() {
                        if k > 0 {
                            text.push_str("; ");
                        }
                        text.push_str(&scratch[r.clone()]);
                    }
                }
                Finding {
                    rule: f.rule,
                    severity: f.severity,
                    evidence: Evidence { text: self.shared.clone(), range: start..text.len() },
                }
            })
            .collect();
        self.found.clear();
        self.pieces.clear();
        self.scratch.clear();
        out
    }

    /// Hands the batch's text to the findings taken so far, and starts a new batch.
    pub fn seal(&mut self) {
        let text = std::mem::take(&mut self.text);
        let shared = std::mem::take(&mut self.shared);
        // Only `seal` fills the lock, once per batch: it is empty.
        let _ = shared.set(text);
    }
}

/// A piece of evidence, appended as it is, without the formatting machinery: most evidence is
/// names, literals and indices one after the other.
pub trait Piece {
    fn put(&self, out: &mut String);
}

impl Piece for str {
    fn put(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl Piece for String {
    fn put(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl Piece for compact_str::CompactString {
    fn put(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl<T: Piece + ?Sized> Piece for &T {
    fn put(&self, out: &mut String) {
        (**self).put(out);
    }
}

/// Pieces with a separator between them (`a, b, c`).
pub struct Joined<'a, T>(pub &'a [T], pub &'static str);

impl<T: Piece> Piece for Joined<'_, T> {
    fn put(&self, out: &mut String) {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                out.push_str(self.1);
            }
            p.put(out);
        }
    }
}

macro_rules! integer_piece {
    ($($t:ty),*) => {$(
        impl Piece for $t {
            fn put(&self, out: &mut String) {
                out.push_str(itoa::Buffer::new().format(*self));
            }
        }
    )*};
}
integer_piece!(i32, i64, u32, usize);

/// `evidence!(out, rule, severity, piece, piece, …)`: a finding whose evidence is the pieces
/// ([`Piece`]) one after the other.
macro_rules! evidence {
    ($out:expr, $rule:expr, $severity:expr, $($piece:expr),+ $(,)?) => {{
        let out: &mut $crate::posture::Findings = $out;
        let start = out.scratch.len();
        $( $crate::posture::Piece::put(&$piece, &mut out.scratch); )+
        out.close(start, $rule, $severity);
    }};
}
pub(crate) use evidence;

/// No finding is left without its evidence.
impl Drop for Findings {
    fn drop(&mut self) {
        self.seal();
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
    pub namespace: String,
    pub name: String,
    pub kind: &'static str,
    pub owner: Option<Owner>,
    pub ray_version: Option<String>,
    pub grade: &'static str,
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

/// Grade per README: `raydar rules`: F if any critical; else 100 − 15·high − 5·medium − 1·low with
/// A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, else F.
pub fn grade(findings: &[Finding]) -> (&'static str, u32) {
    let n = |s| findings.iter().filter(|f| f.severity == s).count() as i64;
    if n(Severity::Critical) > 0 {
        return ("F", 0);
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
    (g, score)
}

pub const GRADE_FORMULA: &str = "F if any critical finding; otherwise score = 100 − 15·high − 5·medium − 1·low, and A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, else F.";

/// Every rule on one subject: its entry with grade and sorted findings.
fn entry(s: &Subject, f: &mut Findings) -> Entry {
    if s.cluster_rules {
        tls::check(s, f);
        auth::check(s, f);
        exposure::check(s, f);
        network::check(s, f);
        quota::check(s, f);
        rbac::check(s, f);
        security::check(s, f);
        images::check(s, f);
        resources::check(s, f);
        creds::check(s, f);
    } else {
        exposure::check_own_services(s, f);
    }
    jobs::check(s, f);
    let f = f.take();
    let (grade, score) = grade(&f);
    Entry {
        namespace: s.namespace.to_string(),
        name: s.name.to_string(),
        kind: s.kind,
        owner: s.owner.clone(),
        ray_version: s.ray_version().map(str::to_string),
        grade,
        score,
        findings: f,
    }
}

/// Evaluates every rule for every entry of the inventory. Entries come sorted by namespace,
/// name and kind; findings by severity (worst first), then rule id.
pub fn evaluate(inv: &Inventory, cfg: &PostureConfig) -> Vec<Entry> {
    // Namespaces are independent: a large inventory listed from the API (sorted by namespace)
    // is cut into ranges of namespaces, each indexed and evaluated on its own.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads > 1 && inv.ray_clusters.len() >= 512 {
        if let Some(done) = evaluate_ranges(inv, cfg, threads) {
            return done;
        }
    }
    evaluate_lists(inv, subject::Slices::all(inv), cfg)
}

/// Ranges of namespaces per thread on `threads` threads (the caller's among them), or `None`
/// when a list is not sorted by namespace (manifests, say), which cuts wrong.
fn evaluate_ranges(inv: &Inventory, cfg: &PostureConfig, threads: usize) -> Option<Vec<Entry>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
    // Several ranges per thread, taken in turn: a core slowed by other work takes fewer.
    let parts = subject::Slices::split(inv, threads * RANGES_PER_THREAD);
    let (next, unsorted) = (AtomicUsize::new(0), AtomicBool::new(false));
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Relaxed);
            let Some((lists, bounds)) = parts.get(i) else { break };
            if unsorted.load(Relaxed) {
                break;
            }
            if !lists.sorted_within(*bounds) {
                unsorted.store(true, Relaxed);
                break;
            }
            done.push((i, evaluate_lists(inv, *lists, cfg)));
        }
        done
    };
    let mut done: Vec<(usize, Vec<Entry>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut done = work();
        // A panic in a rule is a bug: re-raise it rather than lose entries.
        for h in handles {
            done.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        done
    });
    if unsorted.into_inner() {
        return None;
    }
    done.sort_unstable_by_key(|(i, _)| *i);
    let mut out = Vec::with_capacity(done.iter().map(|(_, e)| e.len()).sum());
    for (_, e) in done {
        out.extend(e);
    }
    Some(out)
}

/// How many ranges of namespaces each thread evaluates, on average.
const RANGES_PER_THREAD: usize = 8;

/// Bytes of evidence to make room for per cluster (the demo population averages 2 KiB): the
/// batch's text then rarely grows, which would copy it.
const EVIDENCE_PER_ENTRY: usize = 3 << 10;

/// Every entry of some namespaces, sorted.
fn evaluate_lists(inv: &Inventory, lists: subject::Slices, cfg: &PostureConfig) -> Vec<Entry> {
    let idx = subject::Index::of(lists);
    let mut f = Findings::with_capacity(lists.ray_clusters.len() * EVIDENCE_PER_ENTRY);
    let mut out: Vec<Entry> = lists
        .ray_clusters
        .iter()
        .map(|rc| entry(&subject::cluster_subject(inv, &idx, cfg, rc), &mut f))
        .collect();
    out.extend(subject::owner_subjects(inv, &idx, cfg).iter().map(|s| entry(s, &mut f)));
    f.seal();
    fn key(e: &Entry) -> (&str, &str, &str) {
        (&e.namespace, &e.name, e.kind)
    }
    if !out.is_sorted_by(|a, b| key(a) <= key(b)) {
        out.sort_by(|a, b| key(a).cmp(&key(b)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::catalog::rule;
    use super::subject::Slices;
    use super::*;
    use serde_json::json;

    /// 700 clusters (more than one core's share) with RayJobs among them.
    fn population() -> Inventory {
        let mut alloc = crate::demo::defaults::Alloc::default();
        let mut inv = Inventory::default();
        for d in crate::demo::data::population(70, 700, 1_700_000_000, &mut alloc) {
            let _ = inv.add_value(d, "default");
        }
        let spec = serde_json::to_value(&inv.ray_clusters[3].spec).unwrap();
        for (i, ns) in ["team-0003", "team-0041", "team-0069"].into_iter().enumerate() {
            let job = json!({"apiVersion": "ray.io/v1", "kind": "RayJob",
                "metadata": {"name": format!("job-{i}"), "namespace": ns},
                "spec": {"entrypoint": "python x.py", "rayClusterSpec": spec}});
            inv.add_value(job, "default").unwrap();
        }
        inv
    }

    #[test]
    fn ranges_of_namespaces_evaluate_as_the_whole_inventory() {
        let cfg = PostureConfig::default();
        let mut inv = population();
        // Seeds come cluster by cluster across namespaces: lists are not sorted, so the cut
        // is refused and the inventory is evaluated as one.
        assert!(Slices::split(&inv, 2).iter().any(|(l, b)| !l.sorted_within(*b)));
        assert_eq!(evaluate(&inv, &cfg), evaluate_lists(&inv, Slices::all(&inv), &cfg));

        inv.sort_by_namespace();
        let parts = Slices::split(&inv, 3);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|(l, b)| l.sorted_within(*b)));
        let clusters: usize = parts.iter().map(|(l, _)| l.ray_clusters.len()).sum();
        assert_eq!(clusters, 700);
        let whole = evaluate_lists(&inv, Slices::all(&inv), &cfg);
        assert_eq!(whole.len(), 703);
        assert!(whole.iter().filter(|e| e.kind == "RayJob").all(|e| !e.findings.is_empty()));
        assert_eq!(evaluate(&inv, &cfg), whole);
    }

    #[test]
    fn findings_merge_per_rule_and_severity_and_sort_worst_first() {
        let (tls, sec) = (rule!("RAY-TLS-001"), rule!("RAY-SEC-001"));
        let mut f = Findings::default();
        // Two batches of two entries each.
        for _ in 0..2 {
            let mut batch = Vec::new();
            for round in 0..2 {
                evidence!(&mut f, tls, Severity::Medium, "a", round);
                evidence!(&mut f, sec, Severity::Critical, "b", round);
                evidence!(&mut f, tls, Severity::Medium, "c");
                evidence!(&mut f, tls, Severity::High, "d");
                batch.push(f.take());
            }
            f.seal();
            for (round, out) in batch.iter().enumerate() {
                let got: Vec<(&str, Severity, &str)> =
                    out.iter().map(|x| (x.rule.id, x.severity, x.evidence.as_str())).collect();
                let b = format!("b{round}");
                let a = format!("a{round}; c");
                assert_eq!(
                    got,
                    [
                        ("RAY-SEC-001", Severity::Critical, b.as_str()),
                        ("RAY-TLS-001", Severity::High, "d"),
                        ("RAY-TLS-001", Severity::Medium, a.as_str()),
                    ]
                );
            }
            // One string for the whole batch.
            let all: Vec<&Finding> = batch.iter().flatten().collect();
            assert!(all.windows(2).all(|w| Arc::ptr_eq(&w[0].evidence.text, &w[1].evidence.text)));
        }
        // The collector is empty for the next entry; one dropped unsealed still seals.
        assert!(f.take().is_empty());
        evidence!(&mut f, tls, Severity::Low, "e");
        let out = f.take();
        drop(f);
        assert_eq!(out[0].evidence, "e");
    }

    #[test]
    fn few_namespaces_cut_into_fewer_ranges() {
        let mut inv = population();
        inv.sort_by_namespace();
        inv.ray_clusters.truncate(10);
        let parts = Slices::split(&inv, 8);
        assert!(parts.len() <= 2, "{}", parts.len());
        assert!(parts.iter().all(|(l, b)| l.sorted_within(*b)));
        let pods: usize = parts.iter().map(|(l, _)| l.pods.len()).sum();
        assert_eq!(pods, inv.pods.len());
    }
}
