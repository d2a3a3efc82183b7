//! The security-context fix: non-root, no privilege escalation, capabilities dropped (RAY-
//! SEC-001/002/003/006).

use super::{for_templates, obj_mut, Affected, NEW_PODS};
use crate::remediate::{Plan, PlanError};
use serde_json::{json, Value};

use crate::posture::security::DANGEROUS_CAPS;

fn harden_container(c: &mut Value, pod_user: Option<i64>, at: &str, warnings: &mut Vec<String>) {
    let name = c["name"].as_str().unwrap_or("").to_string();
    let sc = obj_mut(c, "securityContext");
    if sc.get("privileged") == Some(&json!(true)) {
        sc.remove("privileged");
        warnings.push(format!(
            "{at} container {name}: privileged: true is removed; anything it needed from the host (devices, kernel settings) stops working"
        ));
    }
    sc.insert("allowPrivilegeEscalation".into(), json!(false));
    let user = sc.get("runAsUser").and_then(Value::as_i64).or(pod_user);
    if user == Some(0) {
        sc.insert("runAsUser".into(), json!(1000));
    }
    sc.insert("runAsNonRoot".into(), json!(true));
    let seccomp = sc.get("seccompProfile").and_then(|s| s["type"].as_str()).unwrap_or("");
    if seccomp.is_empty() || seccomp == "Unconfined" {
        sc.insert("seccompProfile".into(), json!({"type": "RuntimeDefault"}));
    }
    let caps = sc.entry("capabilities").or_insert_with(|| json!({}));
    if !caps.is_object() {
        *caps = json!({});
    }
    let mut removed = Vec::new();
    if let Some(add) = caps.get_mut("add").and_then(Value::as_array_mut) {
        add.retain(|a| {
            let bad =
                a.as_str().is_some_and(|s| DANGEROUS_CAPS.contains(&s.trim_start_matches("CAP_")));
            if bad {
                removed.push(a.as_str().unwrap_or("").to_string());
            }
            !bad
        });
        if add.is_empty() {
            if let Some(o) = caps.as_object_mut() {
                o.remove("add");
            }
        }
    }
    if !removed.is_empty() {
        warnings.push(format!(
            "{at} container {name}: capabilities {} are no longer added",
            removed.join(", ")
        ));
    }
    let drop = caps.get("drop").and_then(Value::as_array);
    if !drop.is_some_and(|d| d.iter().any(|x| x == "ALL")) {
        caps["drop"] = json!(["ALL"]);
    }
}

pub(super) fn security_context(t: &Affected, p: &mut Plan) -> Result<(), PlanError> {
    t.require_spec(&p.namespace)?;
    let changed = t.edit_specs(p, |spec, what, warnings| {
        for_templates(spec, |_, group, tmpl| {
            let at = format!("{what} group {group}");
            let Some(pod) = tmpl.get_mut("spec") else { return };
            let mut pod_user = pod.pointer("/securityContext/runAsUser").and_then(Value::as_i64);
            if pod_user == Some(0) {
                pod["securityContext"]["runAsUser"] = json!(1000);
                pod_user = Some(1000);
            }
            if pod.pointer("/securityContext/runAsNonRoot") == Some(&json!(false)) {
                pod["securityContext"]["runAsNonRoot"] = json!(true);
            }
            for key in ["initContainers", "containers"] {
                for c in pod.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten() {
                    harden_container(c, pod_user, &at, warnings);
                }
            }
        });
    });
    if changed {
        p.warnings.push(
            "containers run as UID 1000 (the Ray images' `ray` user) with no privilege escalation and no capabilities: images that need root fail to start".into(),
        );
        p.warnings.push(NEW_PODS.into());
    }
    Ok(())
}
