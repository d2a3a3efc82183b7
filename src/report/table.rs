//! The human report: a summary table (worst first) and each entry's findings with evidence and
//! remediation. Colour only when asked (a terminal without NO_COLOR); severity always has a
//! symbol and a word, so it never depends on colour.

use super::Report;
use crate::inventory::ScanError;
use crate::posture::{Entry, FixId, Grade, Severity, GRADE_TABLE, RULES};
use std::fmt::Write;

struct Paint(bool);

impl Paint {
    fn sev(&self, s: Severity, text: &str) -> String {
        if !self.0 {
            return text.to_string();
        }
        let code = match s {
            Severity::Critical => "1;31",
            Severity::High => "31",
            Severity::Medium => "33",
            Severity::Low => "36",
            Severity::Info => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
    fn grade(&self, g: Option<Grade>) -> String {
        let Some(g) = g else { return "?".into() };
        if !self.0 {
            return g.to_string();
        }
        let code = match g {
            Grade::A => "1;32",
            Grade::B => "32",
            Grade::C => "33",
            Grade::D => "31",
            Grade::F => "1;31",
        };
        format!("\x1b[{code}m{g}\x1b[0m")
    }
    fn bold(&self, t: &str) -> String {
        if self.0 {
            format!("\x1b[1m{t}\x1b[0m")
        } else {
            t.to_string()
        }
    }
}

/// Worst first: grade, then criticals, highs, mediums, then name.
fn worst_first(a: &&Entry, b: &&Entry) -> std::cmp::Ordering {
    let key = |e: &Entry| {
        (e.grade, e.count(Severity::Critical), e.count(Severity::High), e.count(Severity::Medium))
    };
    key(b).cmp(&key(a)).then_with(|| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)))
}

/// Writes the table report to `w`, one entry at a time (a 5,000-cluster report is never one
/// String in memory). A fleet report has a line per context, then each context's table.
pub fn write_table(w: &mut dyn std::io::Write, r: &Report, color: bool) -> std::io::Result<()> {
    let p = Paint(color);
    let mut out = String::new();
    let contexts = if r.contexts.is_empty() {
        String::new()
    } else {
        format!("{} contexts · ", r.contexts.len())
    };
    let _ = writeln!(
        out,
        "{} · source: {} · {contexts}{} entries · {} critical, {} high, {} medium, {} low, {} info",
        p.bold("raydar scan"),
        r.source,
        r.clusters.len(),
        r.count(Severity::Critical),
        r.count(Severity::High),
        r.count(Severity::Medium),
        r.count(Severity::Low),
        r.count(Severity::Info)
    );
    if let Some(scope) = &r.scope {
        let _ = writeln!(out, "scope: {scope}");
    }
    if r.contexts.is_empty() {
        w.write_all(out.as_bytes())?;
        let entries: Vec<&Entry> = r.clusters.iter().collect();
        let errors: Vec<&ScanError> = r.errors.iter().collect();
        return write_body(w, &p, entries, &errors);
    }
    let w_ctx = r.contexts.iter().map(|c| c.name.len()).max().unwrap_or(7).max(7);
    let _ = writeln!(out, "\n{:<w_ctx$}  ENTRIES  WORST  CRIT  HIGH   TIME  STATUS", "CONTEXT");
    for c in &r.contexts {
        let status = match (&c.error, c.partial) {
            (Some(e), _) => p.sev(Severity::Critical, &format!("error: {e}")),
            (None, true) => "partial (see Errors)".into(),
            (None, false) => "ok".into(),
        };
        let worst = if c.worst_grade.is_some() { p.grade(c.worst_grade) } else { "-".into() };
        let pad = "    ";
        let _ = writeln!(
            out,
            "{:<w_ctx$}  {:>7}  {worst}{pad}  {:>4}  {:>4}  {:>4.1}s  {status}",
            c.name, c.clusters, c.critical, c.high, c.seconds
        );
    }
    w.write_all(out.as_bytes())?;
    for c in r.contexts.iter().filter(|c| c.error.is_none()) {
        out.clear();
        let server = c.server.as_deref().unwrap_or("?");
        let scope = c.scope.as_deref().map(|s| format!(" · scope: {s}")).unwrap_or_default();
        let _ = writeln!(out, "\n{} context {} · {server}{scope}", p.bold("══"), c.name);
        w.write_all(out.as_bytes())?;
        let mine = |x: &Option<String>| x.as_deref() == Some(c.name.as_str());
        let entries: Vec<&Entry> = r.clusters.iter().filter(|e| mine(&e.context)).collect();
        let errors: Vec<&ScanError> = r.errors.iter().filter(|e| mine(&e.context)).collect();
        write_body(w, &p, entries, &errors)?;
    }
    Ok(())
}

/// The summary table of `entries` (worst first), their findings, and `errors`.
fn write_body(
    w: &mut dyn std::io::Write,
    p: &Paint,
    mut entries: Vec<&Entry>,
    errors: &[&ScanError],
) -> std::io::Result<()> {
    let mut out = String::new();
    entries.sort_by(worst_first);
    let _ = writeln!(out);
    let w_ns = entries.iter().map(|e| e.namespace.len()).max().unwrap_or(9).max(9);
    let w_name = entries.iter().map(|e| e.name.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(
        out,
        "GRADE  {:<w_ns$}  {:<w_name$}  {:<10}  {:<8}  CRIT  HIGH   MED   LOW  INFO  WHY",
        "NAMESPACE", "NAME", "KIND", "RAY"
    );
    for e in &entries {
        let _ = writeln!(
            out,
            "{}      {:<w_ns$}  {:<w_name$}  {:<10}  {:<8}  {:>4}  {:>4}  {:>4}  {:>4}  {:>4}  {}",
            p.grade(e.grade),
            e.namespace,
            e.name,
            e.kind,
            e.ray_version.as_deref().unwrap_or("?"),
            e.count(Severity::Critical),
            e.count(Severity::High),
            e.count(Severity::Medium),
            e.count(Severity::Low),
            e.count(Severity::Info),
            e.grade_reason
        );
    }
    w.write_all(out.as_bytes())?;
    for e in entries.iter().filter(|e| !e.findings.is_empty()) {
        out.clear();
        let owner = e
            .owner
            .as_ref()
            .map(|o| format!(" (created by {} {})", o.kind, o.name))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "\n{} {}/{} · {}{} · grade {}: {}",
            p.bold("▸"),
            e.namespace,
            e.name,
            e.kind,
            owner,
            p.grade(e.grade),
            e.grade_reason
        );
        for f in &e.findings {
            let fix = f.rule.fix.map(|x| format!("  [fix: {x}]")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {} {} §{} {}{fix}",
                p.sev(f.severity, f.severity.label()),
                f.rule.id,
                f.rule.section,
                f.rule.title
            );
            let _ = writeln!(out, "         {}", f.evidence);
            if let Some(reason) = &f.exempt {
                let _ = writeln!(out, "         exempt (raydar.io/exempt, not graded): {reason}");
            }
            let _ = writeln!(out, "         → {}", f.rule.remediation);
        }
        w.write_all(out.as_bytes())?;
    }
    out.clear();
    if !errors.is_empty() {
        let _ = writeln!(out, "\n{} (results are partial)", p.bold("Errors"));
        for e in errors {
            let place = match (&e.namespace, &e.file, e.document) {
                (Some(ns), _, _) => format!("{ns}: "),
                (_, Some(f), Some(d)) => format!("{f} (document {d}): "),
                (_, Some(f), None) => format!("{f}: "),
                _ => String::new(),
            };
            let _ = writeln!(out, "  {place}{}", e.message);
        }
    }
    w.write_all(out.as_bytes())
}

/// The table report as a String (tests and small reports).
pub fn table(r: &Report, color: bool) -> String {
    let mut buf = Vec::new();
    let _ = write_table(&mut buf, r, color);
    String::from_utf8(buf).unwrap_or_default()
}

pub fn rules_table() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<14} {:<7} {:<9} {:<18} TITLE", "RULE", "SECTION", "SEVERITY", "FIX");
    for r in RULES {
        let _ = writeln!(
            out,
            "{:<14} {:<7} {:<9} {:<18} {}",
            r.id,
            r.section,
            r.severity.as_str(),
            r.fix.map_or("-", FixId::as_str),
            r.title
        );
    }
    let _ = writeln!(out, "\nGrade (the worst attack path): {GRADE_TABLE}");
    out
}
