//! `raydar rules --advisories`: the Ray advisories and version facts the rules read, where
//! they come from and how old they are.

use crate::posture::advisories::{Advisories, Advisory, Interval, Until};
use crate::posture::images::RayVersion;
use serde_json::json;
use std::fmt::Write;

fn version(v: RayVersion) -> String {
    let RayVersion(a, b, c, release) = v;
    match (a, b, c, release) {
        (0, 0, 0, false) => "0".into(),
        (_, _, _, true) => format!("{a}.{b}.{c}"),
        _ => format!("{a}.{b}.{c} (pre-release)"),
    }
}

fn interval(i: &Interval) -> String {
    let from = i.from;
    let lower = if from == RayVersion(0, 0, 0, false) {
        String::new()
    } else {
        format!(">={} ", version(from))
    };
    match i.until {
        Until::Fixed(f) => format!("{lower}<{}", version(f)),
        Until::LastAffected(l) => format!("{lower}<={}", version(l)),
        Until::Open if lower.is_empty() => "all versions, no fix".into(),
        Until::Open => format!("{lower}and later, no fix"),
    }
}

fn ranges(a: &Advisory) -> String {
    let mut parts: Vec<String> = a.intervals.iter().map(interval).collect();
    if !a.versions.is_empty() {
        parts.push(format!("{} listed versions", a.versions.len()));
    }
    parts.join(", ")
}

/// Days between the newest `modified` date and `now` (None without dates).
fn age_days(db: &Advisories, now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
    let newest = chrono::DateTime::parse_from_rfc3339(db.newest()?).ok()?;
    Some((now - newest.with_timezone(&chrono::Utc)).num_days())
}

pub fn advisories_table(db: &Advisories) -> String {
    let mut out = String::new();
    let age = age_days(db, chrono::Utc::now())
        .map(|d| format!(", newest modified {} ({d} days ago)", db.newest().unwrap_or("?")))
        .unwrap_or_default();
    let _ = writeln!(out, "Ray advisories: {} from {}{age}", db.list.len(), db.source);
    let _ =
        writeln!(out, "\n{:<20} {:<16} {:<9} {:<30} SUMMARY", "ID", "CVE", "SEVERITY", "AFFECTED");
    for a in &db.list {
        let cve = a.cve().unwrap_or("-");
        let raised = if a.fixable() {
            ""
        } else {
            " [not raised: no fix; the auth and exposure rules judge it]"
        };
        let _ = writeln!(
            out,
            "{:<20} {:<16} {:<9} {:<30} {}{raised}",
            a.id,
            cve,
            a.severity.as_str(),
            ranges(a),
            a.summary
        );
    }
    let f = &db.facts;
    let _ = writeln!(out, "\nVersion facts (assets/ray-versions.toml):");
    for (what, fact) in [
        ("token auth (RAY_AUTH_MODE=token, authOptions.mode: token) from", &f.token_auth),
        ("authOptions.enableK8sTokenAuth honoured from", &f.k8s_token_auth),
        ("token auth on by default (unless RAY_AUTH_MODE=disabled) from", &f.token_auth_default),
    ] {
        let _ = writeln!(out, "  {what} Ray {}\n    source: {}", fact.min_text, fact.source);
    }
    out
}

pub fn advisories_json(db: &Advisories) -> String {
    let list: Vec<_> = db
        .list
        .iter()
        .map(|a| {
            json!({"id": a.id, "aliases": a.aliases, "summary": a.summary,
                "severity": a.severity.as_str(), "affected": ranges(a), "raised": a.fixable(),
                "remote_code": a.remote_code, "modified": a.modified, "references": a.references})
        })
        .collect();
    let fact =
        |f: &crate::posture::advisories::Fact| json!({"min": f.min_text, "source": f.source});
    let doc = json!({"source": db.source, "count": db.list.len(), "newest_modified": db.newest(),
        "age_days": age_days(db, chrono::Utc::now()),
        "facts": {"token_auth": fact(&db.facts.token_auth),
                  "k8s_token_auth": fact(&db.facts.k8s_token_auth),
                  "token_auth_default": fact(&db.facts.token_auth_default)},
        "advisories": list});
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
