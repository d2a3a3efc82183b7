//! Guide §2 and §3: namespace isolation and resource quotas (RAY-NS-001, RAY-QUOTA-001,
//! RAY-QUOTA-002).

use super::{catalog::rule, Findings, Severity, Subject};
use serde_json::Value;

fn system_namespace(ns: &str) -> bool {
    ns == "default" || ns.starts_with("kube-") || ns == "kuberay-system"
}

/// Whether an ElasticQuotaTree leaf lists the namespace.
fn eqt_covers(tree: &Value, ns: &str) -> bool {
    fn walk(node: &Value, ns: &str) -> bool {
        let children = node["children"].as_array().filter(|c| !c.is_empty());
        match children {
            Some(c) => c.iter().any(|n| walk(n, ns)),
            None => node["namespaces"].as_array().is_some_and(|a| a.iter().any(|n| n == ns)),
        }
    }
    walk(&tree["spec"]["root"], ns)
}

fn requests_gpus(s: &Subject) -> bool {
    s.templates().iter().any(|t| {
        t.spec.containers.iter().any(|c| {
            c.resources.as_ref().is_some_and(|r| {
                r.requests.keys().chain(r.limits.keys()).any(|k| k.contains("gpu"))
            })
        })
    })
}

pub fn check(s: &Subject, out: &mut Findings) {
    if s.spec.is_none() {
        return;
    }
    if system_namespace(s.namespace) {
        out.add(
            rule!("RAY-NS-001"),
            Severity::Medium,
            format!("{} runs in namespace {}", s.object(), s.namespace),
        );
    }
    if !s.inv.readable(s.namespace, "resourcequotas") {
        return;
    }
    let quotas: &[&k8s_openapi::api::core::v1::ResourceQuota] =
        s.idx.quotas.get(s.namespace).map_or(&[], Vec::as_slice);
    if quotas.is_empty() {
        if !s.inv.elastic_quota_trees.iter().any(|t| eqt_covers(t, s.namespace)) {
            out.add(
                rule!("RAY-QUOTA-001"),
                Severity::Medium,
                format!(
                    "Namespace {} has no ResourceQuota and no ElasticQuotaTree leaf covers it",
                    s.namespace
                ),
            );
        }
        return;
    }
    let caps_gpu = quotas.iter().any(|q| {
        q.spec
            .as_ref()
            .and_then(|sp| sp.hard.as_ref())
            .is_some_and(|h| h.keys().any(|k| k.contains("gpu")))
    });
    if !caps_gpu && requests_gpus(s) {
        let names: Vec<&str> = quotas.iter().filter_map(|q| q.metadata.name.as_deref()).collect();
        out.add(
            rule!("RAY-QUOTA-002"),
            Severity::Low,
            format!(
                "{} requests GPUs but ResourceQuota {}/{} caps no GPU resource",
                s.object(),
                s.namespace,
                names.join(",")
            ),
        );
    }
}
