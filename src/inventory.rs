//! A snapshot of everything the posture rules read, from a live cluster or from manifests.
//! Pure data: building it from the API lives in `cluster/`, from files in `manifest`.

use crate::kuberay::{RayCluster, RayCronJob, RayJob, RayService};
use crate::model::{Ingress, Pod, Service};
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The namespaced kinds an inventory holds, by their plural (as errors and `unreadable` name
/// them); the cluster-scoped ones are clusterrolebindings, clusterroles, namespaces and
/// elasticquotatrees.
pub const NAMESPACED_KINDS: [&str; 12] = [
    "rayclusters",
    "rayjobs",
    "rayservices",
    "raycronjobs",
    "pods",
    "services",
    "ingresses",
    "networkpolicies",
    "resourcequotas",
    "serviceaccounts",
    "rolebindings",
    "roles",
];

#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub ray_clusters: Vec<Arc<RayCluster>>,
    pub ray_jobs: Vec<RayJob>,
    pub ray_services: Vec<RayService>,
    pub ray_cron_jobs: Vec<RayCronJob>,
    pub pods: Vec<Arc<Pod>>,
    pub services: Vec<Arc<Service>>,
    pub ingresses: Vec<Ingress>,
    pub network_policies: Vec<NetworkPolicy>,
    pub resource_quotas: Vec<ResourceQuota>,
    pub service_accounts: Vec<ServiceAccount>,
    pub role_bindings: Vec<RoleBinding>,
    pub roles: Vec<Role>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    pub cluster_roles: Vec<ClusterRole>,
    pub namespaces: Vec<Namespace>,
    pub elastic_quota_trees: Vec<Value>,
    /// Recent Warning events (the TUI lists them; rules do not read them).
    pub events: Vec<k8s_openapi::api::core::v1::Event>,
    /// (namespace or "" for cluster scope, kind plural) that could not be read. Rules that
    /// need such a kind stay silent there instead of reporting a false finding.
    pub unreadable: BTreeSet<(String, String)>,
    /// Built from a live cluster (pods and Services reflect what runs) rather than manifests.
    pub live: bool,
}

/// One error line of a scan: a namespace or kind that could not be read, or a manifest
/// document that could not be parsed. Never carries object contents.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScanError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<usize>,
    pub message: String,
}

/// Why a manifest document was not taken.
#[derive(Debug, Clone, PartialEq)]
pub enum AddError {
    /// Not a kind raydar reads: skipped silently.
    Unknown,
    /// A kind raydar reads, but malformed (field path and reason).
    Invalid(String),
}

fn ns_of(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("")
}

/// The (API group, kind) pairs an inventory reads from manifests.
const READ_KINDS: [(&str, &str); 16] = [
    ("ray.io", "RayCluster"),
    ("ray.io", "RayJob"),
    ("ray.io", "RayService"),
    ("ray.io", "RayCronJob"),
    ("", "Pod"),
    ("", "Service"),
    ("networking.k8s.io", "Ingress"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("", "ResourceQuota"),
    ("", "ServiceAccount"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("", "Namespace"),
    ("scheduling.sigs.k8s.io", "ElasticQuotaTree"),
];

impl Inventory {
    /// Whether a document of this apiVersion and kind is one the rules read.
    pub fn reads(api_version: &str, kind: &str) -> bool {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        READ_KINDS.contains(&(group, kind))
    }

    /// Adds one object given as JSON (a manifest document), dispatching on apiVersion/kind.
    pub fn add_value(&mut self, v: Value, default_ns: &str) -> Result<(), AddError> {
        fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, AddError> {
            serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                AddError::Invalid(if path == "." {
                    e.inner().to_string()
                } else {
                    format!("{path}: {}", e.inner())
                })
            })
        }
        let mut v = v;
        let api = v["apiVersion"].as_str().unwrap_or("").to_string();
        let kind = v["kind"].as_str().unwrap_or("").to_string();
        let group = api.rsplit_once('/').map_or("", |(g, _)| g);
        let cluster_scoped =
            matches!(kind.as_str(), "Namespace" | "ClusterRole" | "ClusterRoleBinding");
        if !cluster_scoped
            && v.pointer("/metadata/namespace").and_then(Value::as_str).is_none_or(str::is_empty)
        {
            if v["metadata"].is_object() {
                v["metadata"]["namespace"] = Value::String(default_ns.to_string());
            } else if v.is_object() {
                v["metadata"] = serde_json::json!({"namespace": default_ns});
            }
        }
        match (group, kind.as_str()) {
            ("ray.io", "RayCluster") => self.ray_clusters.push(Arc::new(parse(v)?)),
            ("ray.io", "RayJob") => self.ray_jobs.push(parse(v)?),
            ("ray.io", "RayService") => self.ray_services.push(parse(v)?),
            ("ray.io", "RayCronJob") => self.ray_cron_jobs.push(parse(v)?),
            ("", "Pod") => self.pods.push(Arc::new(parse(v)?)),
            ("", "Service") => self.services.push(Arc::new(parse(v)?)),
            ("networking.k8s.io", "Ingress") => self.ingresses.push(parse(v)?),
            ("networking.k8s.io", "NetworkPolicy") => self.network_policies.push(parse(v)?),
            ("", "ResourceQuota") => self.resource_quotas.push(parse(v)?),
            ("", "ServiceAccount") => self.service_accounts.push(parse(v)?),
            ("rbac.authorization.k8s.io", "RoleBinding") => self.role_bindings.push(parse(v)?),
            ("rbac.authorization.k8s.io", "Role") => self.roles.push(parse(v)?),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
                self.cluster_role_bindings.push(parse(v)?)
            }
            ("rbac.authorization.k8s.io", "ClusterRole") => self.cluster_roles.push(parse(v)?),
            ("", "Namespace") => self.namespaces.push(parse(v)?),
            ("scheduling.sigs.k8s.io", "ElasticQuotaTree") => self.elastic_quota_trees.push(v),
            _ => return Err(AddError::Unknown),
        }
        Ok(())
    }

    /// Whether `kind` could be read in `ns` (and cluster-wide, for cluster-scoped kinds).
    pub fn readable(&self, ns: &str, kind: &str) -> bool {
        self.unreadable.is_empty()
            || !self.unreadable.iter().any(|(n, k)| k == kind && (n == ns || n.is_empty()))
    }

    /// Sorts every namespaced list by namespace, then name: the order the API server lists
    /// them in, which lets the posture engine evaluate ranges of namespaces in parallel.
    pub fn sort_by_namespace(&mut self) {
        fn key(m: &ObjectMeta) -> (&str, &str) {
            (ns_of(m), m.name.as_deref().unwrap_or(""))
        }
        macro_rules! sort {
            ($($k:ident),*) => {$(
                if !self.$k.is_sorted_by(|a, b| key(&a.metadata) <= key(&b.metadata)) {
                    self.$k.sort_unstable_by(|a, b| key(&a.metadata).cmp(&key(&b.metadata)));
                }
            )*};
        }
        sort!(ray_clusters, ray_jobs, ray_services, ray_cron_jobs, pods, services, ingresses);
        sort!(network_policies, resource_quotas, service_accounts, role_bindings, roles);
    }

    /// Total number of objects, for progress lines.
    pub fn len(&self) -> usize {
        self.ray_clusters.len()
            + self.ray_jobs.len()
            + self.ray_services.len()
            + self.ray_cron_jobs.len()
            + self.pods.len()
            + self.services.len()
            + self.ingresses.len()
            + self.network_policies.len()
            + self.resource_quotas.len()
            + self.service_accounts.len()
            + self.role_bindings.len()
            + self.roles.len()
            + self.cluster_role_bindings.len()
            + self.cluster_roles.len()
            + self.namespaces.len()
            + self.elastic_quota_trees.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
