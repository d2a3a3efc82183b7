//! Ray's version facts as data (README: "Ray versions and advisories"): the advisories of PyPI
//! `ray` in OSV format (`assets/advisories/ray.osv.json`, or a user's file or folder through
//! `--advisories` / `posture.advisories`), and the defaults that change with the Ray version
//! (`assets/ray-versions.toml`, each with its source). The rules and the guard's CEL read both
//! from here: no version threshold or advisory id is written in the rules.

use super::images::{parse_version, RayVersion};
use super::Severity;
use serde::Deserialize;
use std::path::Path;
use std::sync::{Arc, OnceLock};

const BUILTIN_OSV: &str = include_str!("../../assets/advisories/ray.osv.json");
const BUILTIN_FACTS: &str = include_str!("../../assets/ray-versions.toml");

/// One end of an affected interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Affected below this version (OSV `fixed`).
    Fixed(RayVersion),
    /// Affected up to and including this version (OSV `last_affected`): the next release is
    /// taken as the fix.
    LastAffected(RayVersion),
    /// No fix known.
    Open,
}

/// Versions `from..until` are affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub from: RayVersion,
    pub until: Until,
}

impl Interval {
    pub fn contains(&self, v: RayVersion) -> bool {
        v >= self.from
            && match self.until {
                Until::Fixed(f) => v < f,
                Until::LastAffected(l) => v <= l,
                Until::Open => true,
            }
    }

    /// The first version past the interval, when an upgrade leaves it.
    pub fn fix(&self) -> Option<RayVersion> {
        match self.until {
            Until::Fixed(f) => Some(f),
            Until::LastAffected(RayVersion(a, b, c, _)) => Some(RayVersion::release(a, b, c + 1)),
            Until::Open => None,
        }
    }
}

/// One advisory of PyPI `ray`.
#[derive(Debug, Clone, PartialEq)]
pub struct Advisory {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: String,
    /// GHSA's severity (`database_specific.severity`), else from the CVSS vector.
    pub severity: Severity,
    /// Remote, no privileges needed, code or data integrity lost (CVSS `AV:N`, `PR:N`, `I:H`).
    pub remote_code: bool,
    pub intervals: Vec<Interval>,
    /// Versions listed one by one (OSV `versions`).
    pub versions: Vec<RayVersion>,
    pub modified: Option<String>,
    pub references: Vec<String>,
}

impl Advisory {
    pub fn affects(&self, v: RayVersion) -> bool {
        self.intervals.iter().any(|i| i.contains(v)) || self.versions.contains(&v)
    }

    /// Whether an upgrade fixes it (some interval ends): advisories without a fix (ShadowRay,
    /// auth off by default) are about configuration, which the auth and exposure rules judge.
    pub fn fixable(&self) -> bool {
        self.intervals.iter().any(|i| i.fix().is_some())
    }

    /// The lowest version above `v` that this advisory does not affect, if there is one.
    fn fix_above(&self, v: RayVersion) -> Option<RayVersion> {
        let mut at = v;
        // Each step leaves one interval; bounded by their number.
        for _ in 0..=self.intervals.len() {
            match self.intervals.iter().find(|i| i.contains(at)) {
                Some(i) => at = i.fix()?,
                None if self.versions.contains(&at) => {
                    let RayVersion(a, b, c, _) = at;
                    at = RayVersion::release(a, b, c + 1);
                }
                None => return Some(at),
            }
        }
        None
    }

    /// The CVE id among the aliases, if there is one.
    pub fn cve(&self) -> Option<&str> {
        self.aliases.iter().find(|a| a.starts_with("CVE-")).map(String::as_str)
    }

    /// `GHSA-… (CVE-…)`.
    pub fn label(&self) -> String {
        match self.cve() {
            Some(cve) => format!("{} ({cve})", self.id),
            None => self.id.clone(),
        }
    }
}

/// A version from the facts table, with where it is written down.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub min: RayVersion,
    pub min_text: String,
    pub source: String,
}

/// The defaults and minimums that change with the Ray version.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionFacts {
    /// Token authentication exists (RAY_AUTH_MODE=token, KubeRay `authOptions.mode: token`).
    pub token_auth: Fact,
    /// Token authentication is on unless RAY_AUTH_MODE=disabled.
    pub token_auth_default: Fact,
    /// `authOptions.enableK8sTokenAuth` is honoured.
    pub k8s_token_auth: Fact,
}

/// What is loaded: the advisories, where they came from, and the version facts.
#[derive(Debug, Clone, PartialEq)]
pub struct Advisories {
    pub list: Vec<Advisory>,
    /// `built-in` or the path read.
    pub source: String,
    pub facts: VersionFacts,
}

#[derive(Deserialize)]
struct Osv {
    id: String,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    severity: Vec<OsvSeverity>,
    #[serde(default)]
    affected: Vec<OsvAffected>,
    #[serde(default)]
    references: Vec<OsvReference>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct OsvSeverity {
    #[serde(default)]
    score: String,
}

#[derive(Deserialize)]
struct OsvAffected {
    #[serde(default)]
    package: Option<OsvPackage>,
    #[serde(default)]
    ranges: Vec<OsvRange>,
    #[serde(default)]
    versions: Vec<String>,
}

#[derive(Deserialize)]
struct OsvPackage {
    #[serde(default)]
    ecosystem: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct OsvRange {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    events: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct OsvReference {
    #[serde(default)]
    url: String,
}

fn version(v: &str, what: &str) -> Result<RayVersion, String> {
    if v == "0" {
        return Ok(RayVersion(0, 0, 0, false));
    }
    parse_version(v).ok_or_else(|| format!("{what} {v:?} is not a version"))
}

fn severity_of(o: &Osv) -> Severity {
    let ghsa = o.database_specific.as_ref().and_then(|d| d.get("severity")?.as_str());
    match ghsa.map(str::to_ascii_uppercase).as_deref() {
        Some("CRITICAL") => Severity::Critical,
        Some("HIGH") => Severity::High,
        Some("MODERATE" | "MEDIUM") => Severity::Medium,
        Some("LOW") => Severity::Low,
        // No GHSA severity (PYSEC records): remote without privileges is high, else medium.
        _ if o.severity.iter().any(|s| s.score.contains("AV:N") && s.score.contains("PR:N")) => {
            Severity::High
        }
        _ => Severity::Medium,
    }
}

fn remote_code(o: &Osv) -> bool {
    o.severity.iter().any(|s| {
        let v = &s.score;
        v.contains("AV:N") && v.contains("PR:N") && (v.contains("/I:H") || v.contains("/VI:H"))
    })
}

/// One OSV record as an advisory of PyPI `ray`; None when it is about another package.
fn advisory(o: Osv) -> Result<Option<Advisory>, String> {
    let mut intervals = Vec::new();
    let mut versions = Vec::new();
    let mut about_ray = false;
    for a in &o.affected {
        let ray = a.package.as_ref().is_some_and(|p| {
            p.ecosystem.eq_ignore_ascii_case("PyPI") && p.name.eq_ignore_ascii_case("ray")
        });
        if !ray {
            continue;
        }
        about_ray = true;
        for r in a.ranges.iter().filter(|r| r.kind == "ECOSYSTEM" || r.kind.is_empty()) {
            let mut open: Option<RayVersion> = None;
            for (i, e) in r.events.iter().enumerate() {
                let at = |k: &str| e.get(k).and_then(|v| v.as_str());
                let what = |k: &str| format!("affected range event {i} {k}");
                if let Some(v) = at("introduced") {
                    if let Some(from) = open.replace(version(v, &what("introduced"))?) {
                        intervals.push(Interval { from, until: Until::Open });
                    }
                } else if let Some(v) = at("fixed") {
                    let from = open.take().unwrap_or(RayVersion(0, 0, 0, false));
                    intervals
                        .push(Interval { from, until: Until::Fixed(version(v, &what("fixed"))?) });
                } else if let Some(v) = at("last_affected") {
                    let from = open.take().unwrap_or(RayVersion(0, 0, 0, false));
                    let last = version(v, &what("last_affected"))?;
                    intervals.push(Interval { from, until: Until::LastAffected(last) });
                }
            }
            if let Some(from) = open {
                intervals.push(Interval { from, until: Until::Open });
            }
        }
        for v in &a.versions {
            // Explicit lists name every release and pre-release; those raydar cannot read
            // (`2.0.0.post1`) are skipped, not fatal.
            if let Some(p) = parse_version(v) {
                versions.push(p);
            }
        }
    }
    if !about_ray {
        return Ok(None);
    }
    let summary = o
        .summary
        .clone()
        .or_else(|| o.details.as_deref().and_then(|d| d.lines().next()).map(str::to_string))
        .unwrap_or_default();
    Ok(Some(Advisory {
        severity: severity_of(&o),
        remote_code: remote_code(&o),
        id: o.id,
        aliases: o.aliases,
        summary,
        intervals,
        versions,
        modified: o.modified,
        references: o.references.into_iter().map(|r| r.url).collect(),
    }))
}

/// The advisories in one OSV JSON text: one record, or an array of records.
fn parse_osv(text: &str, file: &str) -> Result<Vec<Advisory>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("advisories {file}: {e}"))?;
    let records = match value {
        serde_json::Value::Array(a) => a,
        v => vec![v],
    };
    let mut out = Vec::new();
    for (i, r) in records.into_iter().enumerate() {
        let id = r.get("id").and_then(|v| v.as_str()).map(str::to_string);
        let name = id.clone().unwrap_or_else(|| format!("entry {i}"));
        let o: Osv =
            serde_json::from_value(r).map_err(|e| format!("advisories {file}: {name}: {e}"))?;
        if let Some(a) = advisory(o).map_err(|e| format!("advisories {file}: {name}: {e}"))? {
            out.push(a);
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FactText {
    min: String,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FactsText {
    token_auth: FactText,
    token_auth_default: FactText,
    k8s_token_auth: FactText,
}

fn parse_facts(text: &str) -> Result<VersionFacts, String> {
    let t: FactsText = toml::from_str(text).map_err(|e| format!("ray-versions.toml: {e}"))?;
    let fact = |f: FactText, name: &str| -> Result<Fact, String> {
        Ok(Fact {
            min: version(&f.min, &format!("ray-versions.toml {name}.min"))?,
            min_text: f.min,
            source: f.source,
        })
    };
    Ok(VersionFacts {
        token_auth: fact(t.token_auth, "token_auth")?,
        token_auth_default: fact(t.token_auth_default, "token_auth_default")?,
        k8s_token_auth: fact(t.k8s_token_auth, "k8s_token_auth")?,
    })
}

impl Advisories {
    /// The advisories and facts shipped with raydar (checked by a unit test, so they parse).
    pub fn builtin() -> Arc<Advisories> {
        static BUILTIN: OnceLock<Arc<Advisories>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                let facts = parse_facts(BUILTIN_FACTS).unwrap_or_else(|_| VersionFacts::none());
                let list = parse_osv(BUILTIN_OSV, "built-in").unwrap_or_default();
                Arc::new(Advisories { list, source: "built-in".into(), facts })
            })
            .clone()
    }

    /// A user's OSV file, or a folder of OSV JSON files (osv.dev's per-ecosystem export),
    /// replacing the built-in advisories; the version facts stay raydar's.
    pub fn load(path: &Path) -> Result<Advisories, String> {
        let show = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| format!("advisories {show}: {e}"))?;
        let mut list = Vec::new();
        if meta.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| format!("advisories {show}: {e}"))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            files.sort();
            for f in files {
                let text = std::fs::read_to_string(&f)
                    .map_err(|e| format!("advisories {}: {e}", f.display()))?;
                list.extend(parse_osv(&text, &f.display().to_string())?);
            }
        } else {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("advisories {show}: {e}"))?;
            list = parse_osv(&text, &show)?;
        }
        Ok(Advisories { list, source: show, facts: Self::builtin().facts.clone() })
    }

    /// Advisories from OSV JSON text (one record or an array), with raydar's version facts.
    pub fn from_osv_text(text: &str, name: &str) -> Result<Advisories, String> {
        let list = parse_osv(text, name)?;
        Ok(Advisories { list, source: name.into(), facts: Self::builtin().facts.clone() })
    }

    /// The advisories an upgrade fixes that affect `v`, and the lowest version that fixes
    /// them all (None when some has no fix above `v`).
    pub fn fixable_for(&self, v: RayVersion) -> (Vec<&Advisory>, Option<RayVersion>) {
        let hits: Vec<&Advisory> =
            self.list.iter().filter(|a| a.fixable() && a.affects(v)).collect();
        if hits.is_empty() {
            return (hits, None);
        }
        let fixable: Vec<&Advisory> = self.list.iter().filter(|a| a.fixable()).collect();
        // Step up past every fixable advisory until none affects the candidate; each step
        // leaves at least one interval behind, so the steps are bounded by their number.
        let mut at = v;
        let steps: usize = fixable.iter().map(|a| a.intervals.len() + a.versions.len() + 1).sum();
        for _ in 0..=steps {
            match fixable.iter().find(|a| a.affects(at)) {
                Some(a) => match a.fix_above(at) {
                    Some(next) => at = next,
                    None => return (hits, None),
                },
                None => return (hits, Some(at)),
            }
        }
        (hits, None)
    }

    /// The affected version ranges of every fixable advisory, merged: what the guard denies.
    pub fn fixable_intervals(&self) -> Vec<(RayVersion, RayVersion)> {
        let mut iv: Vec<(RayVersion, RayVersion)> = self
            .list
            .iter()
            .flat_map(|a| a.intervals.iter())
            .filter_map(|i| Some((i.from, i.fix()?)))
            .collect();
        iv.sort();
        let mut out: Vec<(RayVersion, RayVersion)> = Vec::new();
        for (from, to) in iv {
            match out.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(to),
                _ => out.push((from, to)),
            }
        }
        out
    }

    /// The newest `modified` date among the advisories (how old the data is).
    pub fn newest(&self) -> Option<&str> {
        self.list.iter().filter_map(|a| a.modified.as_deref()).max()
    }
}

impl VersionFacts {
    fn none() -> Self {
        let f = || Fact {
            min: RayVersion(0, 0, 0, false),
            min_text: "0".into(),
            source: String::new(),
        };
        VersionFacts { token_auth: f(), token_auth_default: f(), k8s_token_auth: f() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> RayVersion {
        parse_version(s).unwrap()
    }

    #[test]
    fn the_builtin_data_parses_and_cites_every_fact() {
        parse_osv(BUILTIN_OSV, "built-in").unwrap();
        let facts = parse_facts(BUILTIN_FACTS).unwrap();
        for f in [&facts.token_auth, &facts.token_auth_default, &facts.k8s_token_auth] {
            assert!(f.source.contains("http") || f.source.contains(".go"), "{f:?} cites a source");
        }
        let b = Advisories::builtin();
        assert!(b.list.len() >= 10);
        for a in &b.list {
            assert!(a.id.starts_with("GHSA-"), "{}", a.id);
            assert!(!a.summary.is_empty() && !a.references.is_empty(), "{}", a.id);
        }
    }

    #[test]
    fn each_version_boundary_of_the_builtin_advisories() {
        let b = Advisories::builtin();
        for a in b.list.iter().filter(|a| a.fixable()) {
            for i in &a.intervals {
                let Some(fix) = i.fix() else { continue };
                let RayVersion(x, y, z, _) = fix;
                assert!(!a.affects(fix), "{}: the fix {fix:?} itself is not affected", a.id);
                // A pre-release of the fix comes before it, so it lacks the fix.
                assert!(a.affects(RayVersion(x, y, z, false)), "{}: {fix:?} rc", a.id);
                if z > 0 {
                    assert!(a.affects(RayVersion::release(x, y, z - 1)), "{}", a.id);
                } else if y > 0 && i.from < RayVersion::release(x, y - 1, 0) {
                    assert!(a.affects(RayVersion::release(x, y - 1, 9)), "{}", a.id);
                }
            }
        }
        let (hits, fix) = b.fixable_for(v("2.47.1"));
        assert!(hits.iter().any(|a| a.aliases.iter().any(|x| x == "CVE-2025-62593")));
        assert_eq!(fix, Some(v("2.56.0")), "the lowest version that fixes all of them");
        // 2.49–2.54 also have the Parquet RCE (introduced 2.49.0).
        let ids = |s| b.fixable_for(v(s)).0.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
        assert!(ids("2.49.0").contains(&"GHSA-mw35-8rx3-xf9r".to_string()));
        assert!(!ids("2.48.0").contains(&"GHSA-mw35-8rx3-xf9r".to_string()));
        assert!(ids("2.56.0").is_empty(), "2.56.0 fixes every fixable advisory");
        assert!(!ids("2.56.0-rc1").is_empty(), "pre-releases come before their release");
        assert_eq!(b.fixable_intervals(), vec![(RayVersion(0, 0, 0, false), v("2.56.0"))]);
    }

    #[test]
    fn osv_files_folders_and_errors() {
        let dir = std::env::temp_dir().join(format!("raydar-osv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let one = r#"{"id":"GHSA-test-0001","modified":"2027-01-02T00:00:00Z","summary":"x",
            "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            "affected":[{"package":{"ecosystem":"PyPI","name":"ray"},
              "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"2.60.0"},{"last_affected":"2.60.1"}]}]}]}"#;
        let other = r#"{"id":"GHSA-test-0002","affected":[{"package":{"ecosystem":"PyPI","name":"numpy"},
              "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}"#;
        std::fs::write(dir.join("a.json"), one).unwrap();
        std::fs::write(dir.join("b.json"), other).unwrap();
        std::fs::write(dir.join("notes.txt"), "not json").unwrap();
        let a = Advisories::load(&dir).unwrap();
        assert_eq!(a.list.len(), 1, "another package's record is skipped");
        assert_eq!(a.list[0].severity, Severity::High, "no GHSA severity: remote, no privileges");
        assert!(a.list[0].remote_code);
        assert_eq!(a.newest(), Some("2027-01-02T00:00:00Z"));
        assert_eq!(a.fixable_for(v("2.60.1")).1, Some(v("2.60.2")), "last_affected: next patch");
        assert!(a.fixable_for(v("2.47.1")).0.is_empty(), "the user's file replaces the built-in");
        let bad = dir.join("bad.json");
        std::fs::write(&bad, r#"[{"id":"GHSA-ok"},{"id":"GHSA-bad-1","affected":[{"package":{"ecosystem":"PyPI","name":"ray"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"zero"}]}]}]}]"#).unwrap();
        let e = Advisories::load(&bad).unwrap_err();
        assert!(
            e.contains("bad.json") && e.contains("GHSA-bad-1") && e.contains("\"zero\""),
            "{e}"
        );
        assert!(!e.contains('\n'));
        std::fs::write(&bad, "{").unwrap();
        assert!(Advisories::load(&bad).unwrap_err().contains("bad.json"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
