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

/// Every policy and binding raydar installed (labelled managed-by raydar), as JSON.
pub async fn installed(client: &kube::Client) -> Result<Vec<(Kind, Value)>, String> {
    let mut out = Vec::new();
    for kind in [Kind::ValidatingAdmissionPolicy, Kind::ValidatingAdmissionPolicyBinding] {
        let api = ObjRef::new(kind, "", "").api(client);
        let lp = kube::api::ListParams::default().labels(&format!(
            "{}={}",
            super::MANAGED_BY.0,
            super::MANAGED_BY.1
        ));
        let list = api.list(&lp).await.map_err(|e| {
            format!("cannot list {}: {}", kind.parts().2, crate::cluster::root_cause(&e))
        })?;
        for o in list {
            let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
            let (api_version, kind_name, _) = kind.parts();
            v["apiVersion"] = Value::String(api_version.into());
            v["kind"] = Value::String(kind_name.into());
            out.push((kind, v));
        }
    }
    Ok(out)
}

/// `raydar guard remove`: deletes what raydar installed, through the same flow (and `undo`
/// puts it back).
pub async fn prepare_remove(client: &kube::Client) -> Result<Prepared, String> {
    let changes = installed(client)
        .await?
        .into_iter()
        .rev()
        .map(|(kind, v)| {
            let name = v["metadata"]["name"].as_str().unwrap_or_default().to_string();
            Change {
                target: ObjRef::new(kind, "", &name),
                op: Op::Delete,
                before: Some(v),
                after: None,
            }
        })
        .collect();
    let plan = Plan {
        fix: FixId::Guard,
        namespace: String::new(),
        entry: "remove".into(),
        changes,
        warnings: vec!["the API server stops checking Ray objects against raydar's rules".into()],
        strong: false,
        undoes: None,
    };
    Ok(checks(client, plan).await)
}

/// Where a binding applies, from its namespace selector: the namespaces it names, or the
/// selector as kubectl writes one (`env in (prod),team=ml`), or all namespaces.
fn scope(selector: Option<&Value>) -> String {
    let Some(sel) = selector.filter(|s| s.as_object().is_some_and(|o| !o.is_empty())) else {
        return "all namespaces".into();
    };
    let values = |e: &Value| -> Vec<String> {
        e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let exprs = sel["matchExpressions"].as_array().cloned().unwrap_or_default();
    if sel.get("matchLabels").is_none()
        && exprs.len() == 1
        && exprs[0]["key"] == "kubernetes.io/metadata.name"
        && exprs[0]["operator"] == "In"
    {
        return values(&exprs[0]).join(",");
    }
    let mut parts: Vec<String> = sel["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    for e in &exprs {
        let key = e["key"].as_str().unwrap_or_default();
        parts.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values(e).join(",")),
            "NotIn" => format!("{key} notin ({})", values(e).join(",")),
            "DoesNotExist" => format!("!{key}"),
            _ => key.to_string(),
        });
    }
    format!("namespaces with {}", parts.join(","))
}

/// The guard in a few words, for the TUI's header: `guard: off`, `guard: warn, 8 rules`,
/// `guard: deny, 6 rules (2 namespaces)`.
pub fn summary(objects: &[(Kind, Value)]) -> String {
    let bindings: Vec<&Value> = objects
        .iter()
        .filter(|(k, _)| *k == Kind::ValidatingAdmissionPolicyBinding)
        .map(|(_, v)| v)
        .collect();
    if bindings.is_empty() {
        return "guard: off".into();
    }
    let deny = |b: &&&Value| {
        b["spec"]["validationActions"].as_array().is_some_and(|a| a.iter().any(|x| x == "Deny"))
    };
    let mode = match bindings.iter().filter(deny).count() {
        0 => "warn",
        n if n == bindings.len() => "deny",
        _ => "warn/deny",
    };
    let mut rules: Vec<&str> = objects
        .iter()
        .filter(|(k, _)| *k == Kind::ValidatingAdmissionPolicy)
        .flat_map(|(_, v)| v["spec"]["validations"].as_array().into_iter().flatten())
        .filter_map(|val| val["message"].as_str()?.split_whitespace().next())
        .collect();
    rules.sort_unstable();
    rules.dedup();
    let scopes: std::collections::BTreeSet<String> = bindings
        .iter()
        .map(|b| scope(b.pointer("/spec/matchResources/namespaceSelector")))
        .collect();
    let scope = match scopes.iter().next() {
        Some(s) if scopes.len() == 1 && s == "all namespaces" => String::new(),
        Some(s) if scopes.len() == 1 && !s.starts_with("namespaces with") => {
            format!(" ({} namespaces)", s.split(',').count())
        }
        _ => " (some namespaces)".into(),
    };
    format!("guard: {mode}, {} rules{scope}", rules.len())
}

/// One line per binding: its mode, where it applies and the rules its policy checks.
pub fn status_lines(objects: &[(Kind, Value)]) -> Vec<String> {
    let rules_of = |policy: &str| -> Vec<String> {
        objects
            .iter()
            .filter(|(k, v)| {
                *k == Kind::ValidatingAdmissionPolicy && v["metadata"]["name"] == policy
            })
            .flat_map(|(_, v)| v["spec"]["validations"].as_array().cloned().unwrap_or_default())
            .filter_map(|val| {
                val["message"]
                    .as_str()
                    .and_then(|m| m.split_whitespace().next())
                    .map(str::to_string)
            })
            .collect()
    };
    let mut lines = Vec::new();
    for (_, b) in objects.iter().filter(|(k, _)| *k == Kind::ValidatingAdmissionPolicyBinding) {
        let policy = b["spec"]["policyName"].as_str().unwrap_or_default();
        let actions: Vec<&str> = b["spec"]["validationActions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mode = if actions.contains(&"Deny") { "deny" } else { "warn" };
        let scope = scope(b.pointer("/spec/matchResources/namespaceSelector"));
        let kind = policy.trim_start_matches("raydar-guard-");
        lines.push(format!("{kind:<12} {mode:<5} {scope:<24} {}", rules_of(policy).join(", ")));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::{contains, scope};
    use serde_json::json;

    #[test]
    fn a_binding_scope_reads_as_its_namespaces_or_selector() {
        assert_eq!(scope(None), "all namespaces");
        let names = json!({"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["a", "b"]}]});
        assert_eq!(scope(Some(&names)), "a,b");
        let sel = json!({"matchLabels": {"team": "ml"}, "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod"]},
            {"key": "legacy", "operator": "DoesNotExist"}]});
        assert_eq!(scope(Some(&sel)), "namespaces with team=ml,env in (prod),!legacy");
    }

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
