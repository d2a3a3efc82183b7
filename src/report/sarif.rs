//! SARIF 2.1.0: rules in `runs[0].tool.driver.rules`, findings as `results` located at the
//! manifest file (for `-f` scans) or at the object (logical location) for live scans.

use super::{Origins, Report, VERSION};
use crate::posture::{Severity, RULES};
use serde_json::{json, Value};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning reads this to rank security alerts.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

pub fn sarif(r: &Report, origins: &Origins) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|x| json!({"id": x.id, "name": x.id.replace('-', ""), "shortDescription": {"text": x.title},
            "fullDescription": {"text": format!("{} (guide section {})", x.title, x.section)},
            "help": {"text": x.remediation}, "defaultConfiguration": {"level": level(x.severity)},
            "properties": {"security-severity": security_severity(x.severity), "tags": ["security", "kubernetes", "ray"], "section": x.section}}))
        .collect();
    let mut results = Vec::new();
    for e in &r.clusters {
        let origin = origins.get(&(e.kind.to_string(), e.namespace.clone(), e.name.clone()));
        for f in &e.findings {
            let index = RULES.iter().position(|x| x.id == f.rule.id).unwrap_or(0);
            // In a fleet scan the object's name starts with its context.
            let ctx = e.context.as_deref().map(|c| format!("{c}/")).unwrap_or_default();
            let logical = json!([{"name": format!("{ctx}{}/{}", e.namespace, e.name), "kind": "resource",
                "fullyQualifiedName": format!("{ctx}{}/{}/{}", e.kind, e.namespace, e.name)}]);
            let location = match origin {
                Some(o) => {
                    json!({"physicalLocation": {"artifactLocation": {"uri": o.file.trim_start_matches("./")},
                    "region": {"startLine": o.line.max(1)}}, "logicalLocations": logical})
                }
                None => json!({"logicalLocations": logical}),
            };
            let mut result = json!({"ruleId": f.rule.id, "ruleIndex": index, "level": level(f.severity),
                "message": {"text": format!("{}: {}", f.rule.title, f.evidence)}, "locations": [location],
                "properties": {"severity": f.severity.as_str(), "fix": f.rule.fix,
                    "grade": e.grade, "grade_reason": e.grade_reason}});
            // An exemption is SARIF's in-source suppression, with its justification.
            if let Some(reason) = &f.exempt {
                result["suppressions"] = json!([{"kind": "inSource", "justification": reason}]);
            }
            if let Some(c) = &e.context {
                result["properties"]["context"] = json!(c);
            }
            results.push(result);
        }
    }
    let doc = json!({"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{"tool": {"driver": {"name": "raydar", "version": VERSION, "semanticVersion": VERSION,
            "rules": rules}},
            "results": results,
            "invocations": [{"executionSuccessful": r.errors.is_empty(),
                "toolExecutionNotifications": r.errors.iter().map(|e| json!({"level": "warning", "message": {"text": match &e.context {
                    Some(c) if !e.message.contains(c.as_str()) => format!("context {c}: {}", e.message),
                    _ => e.message.clone(),
                }}})).collect::<Vec<_>>()}]}]});
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
