//! `raydar guard apply`: the policies and bindings as a plan of the fixes' write path, so that
//! installing a guard gets its preview, SelfSubjectAccessReview, server dry run, explicit yes,
//! journal entry and `raydar undo`.

use super::{plan, GuardOptions, Mode};
use crate::remediate::session::{checks, Prepared};
use crate::remediate::{Change, FixId, Kind, ObjRef, Op, Plan};
use serde_json::Value;

/// What the guard writes: a Create per missing object, an Update per one that differs, nothing
/// for those already as planned.
pub async fn prepare(client: &kube::Client, opts: &GuardOptions) -> Result<Prepared, String> {
    let objects = plan(opts)?;
    let mut changes = Vec::new();
    for o in objects {
        let kind = match o["kind"].as_str() {
            Some("ValidatingAdmissionPolicy") => Kind::ValidatingAdmissionPolicy,
            _ => Kind::ValidatingAdmissionPolicyBinding,
        };
        let name = o["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let target = ObjRef::new(kind, "", &name);
        let current = target
            .api(client)
            .get_opt(&name)
            .await
            .map_err(|e| format!("cannot read {target}: {}", crate::cluster::root_cause(&e)))?;
        match current.map(|c| serde_json::to_value(c).unwrap_or(Value::Null)) {
            None => changes.push(Change { target, op: Op::Create, before: None, after: Some(o) }),
            // The server adds defaults (matchPolicy, selectors): as planned when every field
            // raydar sets is there with its value.
            Some(cur)
                if contains(&cur["spec"], &o["spec"])
                    && contains(&cur["metadata"], &o["metadata"]) => {}
            Some(cur) => {
                let mut after = o;
                after["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"].clone();
                changes.push(Change {
                    target,
                    op: Op::Update,
                    before: Some(cur),
                    after: Some(after),
                });
            }
        }
    }
    let rules: Vec<&str> = super::selected(opts)?.iter().map(|g| g.id).collect();
    let mode = match opts.mode {
        Mode::Warn => "warn",
        Mode::Deny => "deny",
    };
    let scope = match opts.namespaces.as_slice() {
        [] => "every namespace".to_string(),
        ns => format!("namespaces {}", ns.join(", ")),
    };
    let mut warnings = vec![format!(
        "the API server checks every RayCluster, RayJob, RayService and RayCronJob written in {scope} against {} from now on",
        rules.join(", ")
    )];
    if opts.mode == Mode::Deny {
        warnings.push("deny mode: kubectl apply of an object that breaks a rule is refused (existing objects keep running, and their updates pass while they break the rule already)".into());
    }
    let plan = Plan {
        fix: FixId::Guard,
        namespace: String::new(),
        entry: format!("{mode} mode, {}", rules.join(", ")),
        changes,
        warnings,
        strong: false,
        undoes: None,
    };
    Ok(checks(client, plan).await)
}

/// Whether `have` holds every field of `want` with the same value (lists item by item).
fn contains(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => {
            w.iter().all(|(k, v)| h.get(k).is_some_and(|hv| contains(hv, v)))
        }
        (Value::Array(h), Value::Array(w)) => {
            h.len() == w.len() && h.iter().zip(w).all(|(a, b)| contains(a, b))
        }
        (h, w) => h == w,
    }
}

#[cfg(test)]
mod tests {
    use super::contains;
    use serde_json::json;

    #[test]
    fn server_defaults_do_not_count_as_changes() {
        let want = json!({"a": 1, "b": [{"c": "x"}], "d": {}});
        assert!(contains(
            &json!({"a": 1, "b": [{"c": "x", "z": 0}], "d": {"e": 2}, "f": 3}),
            &want
        ));
        assert!(!contains(&json!({"a": 2, "b": [{"c": "x"}], "d": {}}), &want));
        assert!(!contains(&json!({"a": 1, "b": [{"c": "x"}, {"c": "y"}], "d": {}}), &want));
        assert!(!contains(&json!({"a": 1, "b": [{"c": "x"}]}), &want));
    }
}
