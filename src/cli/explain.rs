//! `raydar rules ID`: one rule explained — the guide section it cites, what it checks and why,
//! a real example of its evidence (the rule run on the demo data), its remediation, what its
//! fix writes, and the guard's CEL where the guard enforces it.

use crate::posture::{explain, PostureConfig, Rule, RULES};
use serde_json::{json, Value};

/// The first evidence the rule gives on the demo data, as a live cluster holds it.
fn example(id: &str) -> Option<String> {
    let mut inv = crate::inventory::Inventory { live: true, ..Default::default() };
    for o in crate::demo::manifests() {
        let ns = o["metadata"]["namespace"].as_str().unwrap_or("").to_string();
        let _ = inv.add_value(o, &ns);
    }
    crate::posture::evaluate(&inv, &PostureConfig::demo())
        .into_iter()
        .flat_map(|e| e.findings)
        .find(|f| f.rule.id == id)
        .map(|f| f.evidence)
}

fn find(id: &str) -> Result<&'static Rule, String> {
    RULES
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| format!("no rule {id}: `raydar rules` lists them (e.g. RAY-EXP-002)"))
}

/// The explanation as JSON.
pub fn json(id: &str) -> Result<Value, String> {
    let r = find(id)?;
    let guard = crate::guard::cel_of(r.id)
        .map(|(cel, default_on)| json!({"default_on": default_on, "cel": cel}));
    Ok(json!({
        "id": r.id, "section": r.section, "section_title": explain::section_title(r.section),
        "severity": r.severity.as_str(), "title": r.title, "checks": explain::checks(r.id),
        "example_evidence": example(r.id), "remediation": r.remediation,
        "fix": r.fix.map(|f| json!({"id": f.as_str(), "writes": explain::writes(f)})),
        "guard": guard,
    }))
}

/// The explanation as text.
pub fn text(id: &str) -> Result<String, String> {
    let r = find(id)?;
    let mut out = format!("{} · {} · §{} {}\n\n", r.id, r.severity.as_str(), r.section, r.title);
    out += &format!("guide §{}: {}\n", r.section, explain::section_title(r.section));
    out += &format!("checks:      {}\n", explain::checks(r.id));
    match example(r.id) {
        Some(e) => out += &format!("example:     {e}   (on `raydar --demo`)\n"),
        None => out += "example:     (not raised on the demo data)\n",
    }
    out += &format!("remediation: {}\n", r.remediation);
    match r.fix {
        Some(f) => {
            out += &format!(
                "fix:         raydar fix NAMESPACE/NAME --fix {f} (TUI: r) — {}\n",
                explain::writes(f)
            )
        }
        None => out += "fix:         none one-key; follow the remediation\n",
    }
    match crate::guard::cel_of(r.id) {
        Some((cel, on)) => {
            let when = if on { "on by default" } else { "opt-in: --rules" };
            out += &format!("guard:       raydar guard apply ({when}); the RayCluster policy's check, true when the object is fine:\n");
            // A version comparison is written out in full (no cel.bind on the API server):
            // long checks are named, not printed.
            if cel.len() <= 600 {
                out += &format!("  {cel}\n");
            } else {
                out += &format!("  ({} characters: `raydar rules {} -o json` or `raydar guard plan --rules {}` shows it)\n", cel.len(), r.id, r.id);
            }
        }
        None => {
            out += "guard:       not enforced at admission (it needs more than the one object)\n"
        }
    }
    Ok(out)
}
