//! Guide §4: ServiceAccounts and RBAC (RAY-RBAC-001, RAY-RBAC-002, RAY-RBAC-003).

use super::{catalog::rule, Findings, Severity, Subject};

const POWERFUL: [&str; 3] = ["cluster-admin", "admin", "edit"];

fn sa_name<'a>(s: &Subject<'a>, t: &super::subject::Template<'a>) -> &'a str {
    match t.spec.service_account_name.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => n,
        // KubeRay gives the autoscaling head a ServiceAccount named after the cluster.
        None if t.head && s.autoscaler() => s.cluster.unwrap_or(s.name),
        None => "default",
    }
}

fn wildcard(rules: Option<&Vec<k8s_openapi::api::rbac::v1::PolicyRule>>) -> bool {
    rules
        .into_iter()
        .flatten()
        .any(|r| r.verbs.iter().any(|v| v == "*") || r.resources.iter().flatten().any(|x| x == "*"))
}

fn powerful_role(s: &Subject, kind: &str, name: &str, ns: &str) -> Option<String> {
    if POWERFUL.contains(&name) && kind == "ClusterRole" {
        return Some(format!("ClusterRole {name}"));
    }
    let wild = match kind {
        "ClusterRole" => s
            .inv
            .cluster_roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .is_some_and(|r| wildcard(r.rules.as_ref())),
        _ => s
            .inv
            .roles
            .iter()
            .find(|r| {
                r.metadata.name.as_deref() == Some(name)
                    && r.metadata.namespace.as_deref() == Some(ns)
            })
            .is_some_and(|r| wildcard(r.rules.as_ref())),
    };
    wild.then(|| format!("{kind} {name} (wildcard verbs or resources)"))
}

fn binds(
    subjects: Option<&Vec<k8s_openapi::api::rbac::v1::Subject>>,
    sa: &str,
    ns: &str,
    default_ns: &str,
) -> bool {
    subjects.into_iter().flatten().any(|sub| match sub.kind.as_str() {
        "ServiceAccount" => sub.name == sa && sub.namespace.as_deref().unwrap_or(default_ns) == ns,
        "Group" => {
            sub.name == "system:serviceaccounts"
                || sub.name == format!("system:serviceaccounts:{ns}")
        }
        _ => false,
    })
}

pub fn check(s: &Subject, out: &mut Findings) {
    if s.spec.is_none() {
        return;
    }
    let templates = s.templates();
    let mut sas: smallvec::SmallVec<[&str; 4]> = smallvec::SmallVec::new();
    let mut default_users: smallvec::SmallVec<[&str; 4]> = smallvec::SmallVec::new();
    for t in templates {
        let sa = sa_name(s, t);
        if sa == "default" {
            default_users.push(t.group);
        }
        // Token automount: the pod's setting, else the ServiceAccount's, else on.
        let sa_obj = s.idx.accounts.get(&(s.namespace, sa));
        let automount = t
            .spec
            .automount_service_account_token
            .or(sa_obj.and_then(|x| x.automount_service_account_token))
            .unwrap_or(true);
        if automount {
            let (sev, why) = if t.head && s.autoscaler() {
                (Severity::Info, "the in-tree autoscaler on the head needs it")
            } else if t.head {
                (Severity::Medium, "the head runs no autoscaler")
            } else {
                (Severity::Medium, "workers never need it")
            };
            out.add(
                rule!("RAY-RBAC-002"),
                sev,
                format!("{} {}: ServiceAccount {sa} token is mounted ({why})", s.object(), t.path),
            );
        }
        if !sas.contains(&sa) {
            sas.push(sa);
        }
    }
    sas.sort_unstable();
    if !default_users.is_empty() {
        out.add(
            rule!("RAY-RBAC-001"),
            Severity::Medium,
            format!(
                "{}: pods of {} run as ServiceAccount {}/default",
                s.object(),
                default_users.join(", "),
                s.namespace
            ),
        );
    }
    for sa in &sas {
        if s.inv.readable(s.namespace, "rolebindings") {
            for b in s.idx.role_bindings.get(s.namespace).into_iter().flatten() {
                if binds(b.subjects.as_ref(), sa, s.namespace, s.namespace) {
                    if let Some(role) =
                        powerful_role(s, &b.role_ref.kind, &b.role_ref.name, s.namespace)
                    {
                        out.add(
                            rule!("RAY-RBAC-003"),
                            Severity::Critical,
                            format!(
                                "RoleBinding {}/{} binds ServiceAccount {}/{sa} to {role}",
                                s.namespace,
                                b.metadata.name.as_deref().unwrap_or(""),
                                s.namespace
                            ),
                        );
                    }
                }
            }
        }
        if s.inv.readable("", "clusterrolebindings") {
            for b in &s.inv.cluster_role_bindings {
                if binds(b.subjects.as_ref(), sa, s.namespace, "") {
                    if let Some(role) = powerful_role(s, &b.role_ref.kind, &b.role_ref.name, "") {
                        out.add(
                            rule!("RAY-RBAC-003"),
                            Severity::Critical,
                            format!(
                                "ClusterRoleBinding {} binds ServiceAccount {}/{sa} to {role}",
                                b.metadata.name.as_deref().unwrap_or(""),
                                s.namespace
                            ),
                        );
                    }
                }
            }
        }
    }
}
