//! `raydar guard`: Ray-aware ValidatingAdmissionPolicies (admissionregistration.k8s.io/v1)
//! that the API server enforces itself, with CEL. One policy per Ray kind (its cluster spec
//! lives at a different path in each, see [`crate::semantics::ray::SPEC_HOLDERS`]), one
//! validation per guarded rule, each saying the same as the posture rule it guards
//! (README: "raydar guard"). Pure: generating the objects, no I/O.

mod cel;
mod install;

pub use install::{installed, prepare, prepare_remove, status_lines, summary};

use crate::semantics::ray::{SpecHolder, SPEC_HOLDERS};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{json, Value};

/// What a binding does with a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// `validationActions: [Warn, Audit]`: kubectl shows the warning, nothing is refused.
    #[default]
    Warn,
    /// `validationActions: [Deny]`: the object is refused.
    Deny,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "warn" => Some(Self::Warn),
            "deny" => Some(Self::Deny),
            _ => None,
        }
    }
    fn actions(self) -> Value {
        match self {
            Self::Warn => json!(["Warn", "Audit"]),
            Self::Deny => json!(["Deny"]),
        }
    }
}

/// What a guarded rule checks: the Ray kinds' cluster specs, or Services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Ray,
    Service,
}

/// A rule the guard can enforce: decided from the object being admitted alone.
#[derive(Debug, Clone, Copy)]
pub struct Guarded {
    pub id: &'static str,
    /// Guarded unless `--rules` says otherwise.
    pub default_on: bool,
    pub target: Target,
    /// The CEL that holds when the object is fine: given the cluster spec (an optional) for
    /// the Ray kinds, the Service itself (`object` or `oldObject`) for Services.
    ok: fn(&str) -> String,
}

/// The rules the guard enforces.
pub const GUARDED: [Guarded; 10] = [
    ray("RAY-SVC-001", true, cel::service_type_ok),
    ray("RAY-EXP-004", true, cel::no_ingress),
    ray("RAY-SEC-001", true, cel::not_privileged),
    ray("RAY-SEC-005", true, cel::no_host_namespaces),
    ray("RAY-CRED-001", true, cel::no_literal_credentials),
    ray("RAY-VER-001", true, cel::supported_version),
    // Opt-in: many teams do not run Ray with token auth or TLS yet.
    ray("RAY-AUTH-001", false, cel::token_auth),
    ray("RAY-TLS-001", false, cel::tls_on),
    // Services that select a Ray cluster's pods and reach outside it.
    Guarded {
        id: "RAY-EXP-001",
        default_on: true,
        target: Target::Service,
        ok: cel::service_no_gcs_or_client,
    },
    Guarded {
        id: "RAY-EXP-002",
        default_on: true,
        target: Target::Service,
        ok: cel::service_dashboard_narrowed,
    },
];

const fn ray(id: &'static str, default_on: bool, ok: fn(&str) -> String) -> Guarded {
    Guarded { id, default_on, target: Target::Ray, ok }
}

/// What to guard, and where.
#[derive(Debug, Clone, Default)]
pub struct GuardOptions {
    pub mode: Mode,
    /// Rule ids; empty: the rules on by default.
    pub rules: Vec<String>,
    /// Namespaces to guard; empty: every namespace (or those `namespace_selector` picks).
    pub namespaces: Vec<String>,
    /// The namespaces to guard by their labels (`--namespace-selector`).
    pub namespace_selector: Option<LabelSelector>,
}

/// The label raydar puts on what it installs.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "raydar");

/// The annotation that exempts an object from rules: `"RAY-SEC-001: <reason>"`, several
/// separated by `;`.
pub const EXEMPT: &str = crate::posture::EXEMPT_ANNOTATION;

/// The rules `opts` selects, or the first unknown or unguardable id.
pub fn selected(opts: &GuardOptions) -> Result<Vec<Guarded>, String> {
    if opts.rules.is_empty() {
        return Ok(GUARDED.iter().copied().filter(|g| g.default_on).collect());
    }
    opts.rules
        .iter()
        .map(|id| {
            GUARDED.iter().copied().find(|g| g.id == id.as_str()).ok_or_else(|| {
                let known: Vec<&str> = GUARDED.iter().map(|g| g.id).collect();
                format!("--rules: {id} cannot be guarded (guardable: {})", known.join(", "))
            })
        })
        .collect()
}

/// A guarded rule's CEL as the RayCluster policy holds it (it holds when the object is fine),
/// and whether the rule is guarded by default; None for a rule the guard cannot enforce.
pub fn cel_of(id: &str) -> Option<(String, bool)> {
    let g = GUARDED.iter().find(|g| g.id == id)?;
    let subject = match g.target {
        Target::Ray => Admits::Ray(&crate::semantics::ray::RAY_CLUSTER),
        Target::Service => Admits::Service,
    };
    Some(((g.ok)(&subject.subject("object")), g.default_on))
}

/// What a policy admits: a Ray kind (with where it holds its cluster spec), or Services.
#[derive(Clone, Copy)]
enum Admits<'a> {
    Ray(&'a SpecHolder),
    Service,
}

impl Admits<'_> {
    fn name(self) -> String {
        match self {
            Admits::Ray(h) => format!("raydar-guard-{}", h.kind.to_lowercase()),
            Admits::Service => "raydar-guard-service".into(),
        }
    }

    /// What a rule's check is given, on the new object or the old one.
    fn subject(self, object: &str) -> String {
        match self {
            Admits::Ray(h) => cel::spec_of(object, h),
            Admits::Service => object.to_string(),
        }
    }

    fn resource_rule(self) -> Value {
        let (group, resource) = match self {
            Admits::Ray(h) => ("ray.io", format!("{}s", h.kind.to_lowercase())),
            Admits::Service => ("", "services".to_string()),
        };
        json!({"apiGroups": [group], "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"], "resources": [resource]})
    }
}

/// The message of a rule's validation: the rule, the guide's section, the title and the fix.
fn message(id: &str) -> String {
    let rule = crate::posture::RULES.iter().find(|r| r.id == id);
    let (section, title) = rule.map_or(("", ""), |r| (r.section, r.title));
    let fix = match rule.and_then(|r| r.fix) {
        Some(f) => format!("; fix: raydar fix NAMESPACE/NAME --fix {f}"),
        None => {
            rule.map(|r| format!("; {}", r.remediation.trim_end_matches('.'))).unwrap_or_default()
        }
    };
    format!("{id} (guide §{section}): {title}{fix}; exempt with annotation {EXEMPT}: \"{id}: <reason>\"")
}

/// A CEL identifier for a rule (`RAY-SEC-001` → `RAY_SEC_001`).
fn ident(id: &str) -> String {
    id.replace('-', "_")
}

/// The policy of one Ray kind: a validation per rule, passing exempted objects and, on
/// updates, objects that already broke the rule (the guard stops new exposure; it does not
/// wedge the operator on clusters that existed before it). Each rule's check is a variable,
/// on the new object (`ok_…`) and the old one (`was_ok_…`). (The cluster spec is written out
/// in each: optional chaining through a variable that holds an optional finds nothing on
/// kube-apiserver 1.36, checked on the real server.)
fn policy(on: Admits, rules: &[Guarded]) -> Value {
    let mut variables = match on {
        Admits::Ray(_) => {
            vec![json!({"name": "credentialNames", "expression": cel::credential_names()})]
        }
        Admits::Service => vec![],
    };
    let (spec, old_spec) = (on.subject("object"), on.subject("oldObject"));
    let mut validations = Vec::new();
    for g in rules {
        let id = ident(g.id);
        variables.push(json!({"name": format!("ok_{id}"), "expression": (g.ok)(&spec)}));
        variables.push(json!({"name": format!("was_ok_{id}"), "expression": (g.ok)(&old_spec)}));
        validations.push(json!({
            "expression": format!(
                "{} || variables.ok_{id} || (request.operation == 'UPDATE' && !variables.was_ok_{id})",
                cel::exempt(g.id)
            ),
            "message": message(g.id),
            "reason": "Forbidden",
        }));
    }
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": on.name(), "labels": {MANAGED_BY.0: MANAGED_BY.1}},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [on.resource_rule()]},
            "variables": variables,
            "validations": validations,
        },
    })
}

fn binding(on: Admits, opts: &GuardOptions) -> Value {
    let mut spec = json!({"policyName": on.name(), "validationActions": opts.mode.actions()});
    if !opts.namespaces.is_empty() {
        spec["matchResources"] = json!({"namespaceSelector": {"matchExpressions": [{
            "key": "kubernetes.io/metadata.name", "operator": "In", "values": opts.namespaces}]}});
    } else if let Some(sel) = &opts.namespace_selector {
        spec["matchResources"] = json!({"namespaceSelector": sel});
    }
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": on.name(), "labels": {MANAGED_BY.0: MANAGED_BY.1}},
        "spec": spec,
    })
}

/// The policies and bindings raydar would install: a policy and a binding per Ray kind, and
/// one for Services, each when it has a rule to check.
pub fn plan(opts: &GuardOptions) -> Result<Vec<Value>, String> {
    let rules = selected(opts)?;
    let of =
        |t: Target| -> Vec<Guarded> { rules.iter().copied().filter(|g| g.target == t).collect() };
    let (ray_rules, service_rules) = (of(Target::Ray), of(Target::Service));
    let mut out = Vec::new();
    if !ray_rules.is_empty() {
        for h in &SPEC_HOLDERS {
            out.push(policy(Admits::Ray(h), &ray_rules));
            out.push(binding(Admits::Ray(h), opts));
        }
    }
    if !service_rules.is_empty() {
        out.push(policy(Admits::Service, &service_rules));
        out.push(binding(Admits::Service, opts));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_and_a_binding_per_ray_kind_with_a_validation_per_rule() {
        let objs = plan(&GuardOptions::default()).unwrap_or_default();
        assert_eq!(objs.len(), 10);
        assert_eq!(objs[8]["metadata"]["name"], "raydar-guard-service");
        assert_eq!(
            objs[8]["spec"]["matchConstraints"]["resourceRules"][0]["apiGroups"],
            json!([""])
        );
        assert_eq!(objs[8]["spec"]["validations"].as_array().map(Vec::len), Some(2));
        let job = &objs[2];
        assert_eq!(job["metadata"]["name"], "raydar-guard-rayjob");
        assert_eq!(job["spec"]["matchConstraints"]["resourceRules"][0]["resources"][0], "rayjobs");
        assert_eq!(job["spec"]["validations"].as_array().map(Vec::len), Some(6));
        let svc = job["spec"]["variables"][1]["expression"].as_str().unwrap_or("");
        assert!(svc.starts_with("!(object.?spec.?rayClusterSpec.?headGroupSpec"), "{svc}");
        let msg = job["spec"]["validations"][0]["message"].as_str().unwrap_or("");
        assert!(msg.starts_with("RAY-SVC-001 (guide §"), "{msg}");
        assert!(msg.contains("--fix service-clusterip"), "{msg}");
        assert_eq!(objs[3]["spec"]["validationActions"], json!(["Warn", "Audit"]));
        assert!(objs[3]["spec"].get("matchResources").is_none());
        let deny = GuardOptions {
            mode: Mode::Deny,
            rules: vec!["RAY-SEC-001".into()],
            namespaces: vec!["ray-prod".into()],
            namespace_selector: None,
        };
        let objs = plan(&deny).unwrap_or_default();
        assert_eq!(objs[0]["spec"]["validations"].as_array().map(Vec::len), Some(1));
        assert_eq!(objs[1]["spec"]["validationActions"], json!(["Deny"]));
        let sel = &objs[1]["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"][0];
        assert_eq!(sel["values"], json!(["ray-prod"]));
        let by_label = GuardOptions {
            namespace_selector: crate::semantics::labels::parse_selector("env in (prod)").ok(),
            ..Default::default()
        };
        let objs = plan(&by_label).unwrap_or_default();
        let sel = &objs[1]["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"][0];
        assert_eq!((&sel["key"], &sel["operator"]), (&json!("env"), &json!("In")));
        let bad = GuardOptions { rules: vec!["RAY-NET-001".into()], ..Default::default() };
        assert!(plan(&bad).is_err_and(|e| e.contains("RAY-NET-001 cannot be guarded")));
    }
}
