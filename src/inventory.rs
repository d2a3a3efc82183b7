//! A snapshot of everything the posture rules read, from a live cluster or from manifests.
//! Pure data: building it from the API lives in `cluster/`, from files in `manifest`.

use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicyBinding;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;
use std::collections::BTreeSet;

/// The one table of the kinds the rules read: each line is the Inventory field, the type it
/// holds, its API group and kind, its plural (as the API, errors and `unreadable` name it), the
/// label selector its lists and watches take ("" for all), and whether the inventory holds it
/// behind an `Arc` (`shared`: the big kinds, which the TUI's stores hand over without a copy)
/// or by value (`owned`). The inventory, manifests (`add_value`), the buffered and streamed
/// scans (`cluster/`) and the TUI's watchers (`tui/live.rs`) are all generated from it: adding
/// a namespaced kind is one line here. (`$then` is the macro that receives the lines.)
macro_rules! namespaced_kinds {
    ($then:ident) => {
        $then! {
            (ray_clusters, $crate::kuberay::RayCluster, "ray.io", "RayCluster", "rayclusters", "", shared),
            (ray_jobs, $crate::kuberay::RayJob, "ray.io", "RayJob", "rayjobs", "", owned),
            (ray_services, $crate::kuberay::RayService, "ray.io", "RayService", "rayservices", "", owned),
            (ray_cron_jobs, $crate::kuberay::RayCronJob, "ray.io", "RayCronJob", "raycronjobs", "", owned),
            // Only Ray pods: the rules never look at others, and this keeps memory small.
            (pods, $crate::model::Pod, "", "Pod", "pods", "ray.io/cluster", shared),
            (services, $crate::model::Service, "", "Service", "services", "", shared),
            (ingresses, $crate::model::Ingress, "networking.k8s.io", "Ingress", "ingresses", "", owned),
            (network_policies, k8s_openapi::api::networking::v1::NetworkPolicy, "networking.k8s.io", "NetworkPolicy", "networkpolicies", "", owned),
            (resource_quotas, k8s_openapi::api::core::v1::ResourceQuota, "", "ResourceQuota", "resourcequotas", "", owned),
            (service_accounts, k8s_openapi::api::core::v1::ServiceAccount, "", "ServiceAccount", "serviceaccounts", "", owned),
            (role_bindings, k8s_openapi::api::rbac::v1::RoleBinding, "rbac.authorization.k8s.io", "RoleBinding", "rolebindings", "", owned),
            (roles, k8s_openapi::api::rbac::v1::Role, "rbac.authorization.k8s.io", "Role", "roles", "", owned),
        }
    };
}

/// The cluster-scoped kinds, as [`namespaced_kinds`] (ElasticQuotaTrees, read as JSON, are
/// the one kind outside the tables).
macro_rules! cluster_kinds {
    ($then:ident) => {
        $then! {
            (cluster_role_bindings, k8s_openapi::api::rbac::v1::ClusterRoleBinding, "rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", "", owned),
            (cluster_roles, k8s_openapi::api::rbac::v1::ClusterRole, "rbac.authorization.k8s.io", "ClusterRole", "clusterroles", "", owned),
            (namespaces, k8s_openapi::api::core::v1::Namespace, "", "Namespace", "namespaces", "", owned),
            // raydar's own guard (RAY-GRD-001): only the bindings it installed.
            (guard_bindings, k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicyBinding, "admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings", "app.kubernetes.io/managed-by=raydar", owned),
        }
    };
}

/// How a table's kind is held: `stored!(shared, T)` is `Arc<T>`, `stored!(owned, T)` is `T`.
macro_rules! stored {
    (shared, $t:ty) => { ::std::sync::Arc<$t> };
    (owned, $t:ty) => { $t };
}

/// A listed object as the inventory holds it.
macro_rules! store {
    (shared, $v:expr) => {
        ::std::sync::Arc::new($v)
    };
    (owned, $v:expr) => {
        $v
    };
}

/// An object from a watcher's store (`Arc<T>`) as the inventory holds it: shared kinds cost a
/// pointer, owned ones a copy.
macro_rules! from_arc {
    (shared, $a:expr) => {
        ::std::sync::Arc::clone($a)
    };
    (owned, $a:expr) => {
        (**$a).clone()
    };
}

pub(crate) use {cluster_kinds, from_arc, namespaced_kinds, store};

macro_rules! inventory {
    ($(($f:ident, $t:ty, $g:literal, $k:literal, $plural:literal, $labels:literal, $how:ident)),* $(,)?) => {
        /// The namespaced kinds an inventory holds, by their plural.
        pub const NAMESPACED_KINDS: &[&str] = &[$($plural),*];

        /// What the posture rules read, from a live cluster or from manifests (the kinds of
        /// [`namespaced_kinds`] and [`cluster_kinds`]).
        #[derive(Debug, Clone, Default)]
        pub struct Inventory {
            $(pub $f: Vec<stored!($how, $t)>,)*
            pub cluster_role_bindings: Vec<ClusterRoleBinding>,
            pub cluster_roles: Vec<ClusterRole>,
            pub namespaces: Vec<Namespace>,
            /// The bindings of raydar's guard (`raydar guard apply`).
            pub guard_bindings: Vec<ValidatingAdmissionPolicyBinding>,
            pub elastic_quota_trees: Vec<Value>,
            /// Recent Warning events (the TUI lists them; rules do not read them).
            pub events: Vec<k8s_openapi::api::core::v1::Event>,
            /// (namespace or "" for cluster scope, kind plural) that could not be read. Rules
            /// that need such a kind stay silent there instead of reporting a false finding.
            pub unreadable: BTreeSet<(String, String)>,
            /// Built from a live cluster (pods and Services reflect what runs) rather than
            /// manifests.
            pub live: bool,
        }

        impl Inventory {
            /// Empties the namespaced lists, keeping the cluster-scoped ones.
            pub fn clear_namespaced(&mut self) {
                $(self.$f.clear();)*
            }

            /// Sorts every namespaced list by namespace, then name: the order the API server
            /// lists them in.
            pub fn sort_by_namespace(&mut self) {
                fn key(m: &ObjectMeta) -> (&str, &str) {
                    (ns_of(m), m.name.as_deref().unwrap_or(""))
                }
                $(
                    if !self.$f.is_sorted_by(|a, b| key(&a.metadata) <= key(&b.metadata)) {
                        self.$f.sort_unstable_by(|a, b| key(&a.metadata).cmp(&key(&b.metadata)));
                    }
                )*
            }

            /// Total number of objects, for progress lines.
            pub fn len(&self) -> usize {
                0 $(+ self.$f.len())*
                    + self.cluster_role_bindings.len()
                    + self.cluster_roles.len()
                    + self.namespaces.len()
                    + self.guard_bindings.len()
                    + self.elastic_quota_trees.len()
            }

            /// Whether (group, kind) is a namespaced kind of the table.
            fn namespaced_kind(group: &str, kind: &str) -> bool {
                matches!((group, kind), $(($g, $k))|*)
            }

            /// Adds a manifest document of a namespaced kind of the table.
            fn add_namespaced(&mut self, group: &str, kind: &str, v: Value) -> Option<Result<(), AddError>> {
                match (group, kind) {
                    $(($g, $k) => Some(parse(v).map(|mut o: $t| {
                        slim(&mut o);
                        self.$f.push(store!($how, o))
                    })),)*
                    _ => None,
                }
            }
        }
    };
}
namespaced_kinds!(inventory);

macro_rules! cluster_scoped {
    ($(($f:ident, $t:ty, $g:literal, $k:literal, $plural:literal, $labels:literal, $how:ident)),* $(,)?) => {
        impl Inventory {
            /// Whether (group, kind) is a cluster-scoped kind of the table.
            fn cluster_kind(group: &str, kind: &str) -> bool {
                matches!((group, kind), $(($g, $k))|*)
            }

            /// Adds a manifest document of a cluster-scoped kind of the table.
            fn add_cluster_scoped(&mut self, group: &str, kind: &str, v: Value) -> Option<Result<(), AddError>> {
                match (group, kind) {
                    $(($g, $k) => Some(parse(v).map(|o| self.$f.push(o))),)*
                    _ => None,
                }
            }
        }
    };
}
cluster_kinds!(cluster_scoped);

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

/// What the inventory keeps of a listed or watched object: what the rules and the TUI's rows
/// read, nothing else. Every object loses its managedFields (on a real server as large as the
/// object). A pod keeps its name, namespace, resourceVersion, labels (as [`Pod::ray`]),
/// status (its Ready condition alone), and of its containers the names, ports and credential-named env vars: the rules
/// read everything else from the templates of the Ray kinds, and 20,000 whole pods would be
/// most of the TUI's memory. A Service loses its labels and keeps its selector only as a
/// `LabelSet`. Scans, the TUI's watchers and manifests all go through here.
///
/// [`Pod::ray`]: crate::model::Pod::ray
pub fn slim<K: kube::Resource + 'static>(o: &mut K) {
    o.meta_mut().managed_fields = None;
    if let Some(p) = (o as &mut dyn std::any::Any).downcast_mut::<crate::model::Pod>() {
        let m = &mut p.metadata;
        (m.labels, m.annotations, m.owner_references, m.generate_name) = (None, None, None, None);
        let spec = &mut p.spec;
        // Readiness is all the rows and the forward read of the conditions.
        p.status.conditions.retain(|c| c.type_ == "Ready");
        p.status.conditions.shrink_to_fit();
        spec.init_containers = Vec::new();
        spec.volumes = Vec::new();
        for c in &mut spec.containers {
            c.env.retain(|e| crate::semantics::credentials::is_credential(&e.name));
            c.env.shrink_to_fit();
            (c.image, c.security_context, c.resources) = (None, None, None);
            (c.env_from, c.volume_mounts) = (Vec::new(), Vec::new());
        }
    } else if let Some(s) = (o as &mut dyn std::any::Any).downcast_mut::<crate::model::Service>() {
        // The rules match the selector as [`Service::selector`], and read no Service labels.
        //
        // [`Service::selector`]: crate::model::Service::selector
        (s.metadata.labels, s.spec.selector) = (None, None);
    }
}

const ELASTIC_QUOTA_TREE: (&str, &str) = ("scheduling.sigs.k8s.io", "ElasticQuotaTree");

/// One error line of a scan: a namespace or kind that could not be read, or a manifest
/// document that could not be parsed. Never carries object contents.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScanError {
    /// The kube context, in a scan of several (`--all-contexts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
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

impl Inventory {
    /// Whether a document of this apiVersion and kind is one the rules read.
    pub fn reads(api_version: &str, kind: &str) -> bool {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        Self::namespaced_kind(group, kind)
            || Self::cluster_kind(group, kind)
            || (group, kind) == ELASTIC_QUOTA_TREE
    }

    /// Adds one object given as JSON (a manifest document), dispatching on apiVersion/kind.
    pub fn add_value(&mut self, v: Value, default_ns: &str) -> Result<(), AddError> {
        let mut v = v;
        let api = v["apiVersion"].as_str().unwrap_or("").to_string();
        let kind = v["kind"].as_str().unwrap_or("").to_string();
        let group = api.rsplit_once('/').map_or("", |(g, _)| g);
        if !Self::cluster_kind(group, &kind)
            && v.pointer("/metadata/namespace").and_then(Value::as_str).is_none_or(str::is_empty)
        {
            if v["metadata"].is_object() {
                v["metadata"]["namespace"] = Value::String(default_ns.to_string());
            } else if v.is_object() {
                v["metadata"] = serde_json::json!({"namespace": default_ns});
            }
        }
        if (group, kind.as_str()) == ELASTIC_QUOTA_TREE {
            self.elastic_quota_trees.push(v);
            return Ok(());
        }
        let added = if Self::namespaced_kind(group, &kind) {
            self.add_namespaced(group, &kind, v)
        } else {
            self.add_cluster_scoped(group, &kind, v)
        };
        added.unwrap_or(Err(AddError::Unknown))
    }

    /// Whether `kind` could be read in `ns` (and cluster-wide, for cluster-scoped kinds).
    pub fn readable(&self, ns: &str, kind: &str) -> bool {
        self.unreadable.is_empty()
            || !self.unreadable.iter().any(|(n, k)| k == kind && (n == ns || n.is_empty()))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! manifests {
        ($(($f:ident, $t:ty, $g:literal, $k:literal, $plural:literal, $labels:literal, $how:ident)),* $(,)?) => {
            vec![$((
                $plural,
                serde_json::json!({
                    "apiVersion": if $g.is_empty() { "v1".to_string() } else { format!("{}/v1", $g) },
                    "kind": $k,
                    "metadata": {"name": "x"},
                }),
            )),*]
        };
    }

    /// Every kind of the tables is read from manifests, counted, and (if namespaced) given the
    /// default namespace and cleared with the namespace.
    #[test]
    fn every_kind_of_the_tables_is_read_counted_and_cleared() {
        let namespaced: Vec<(&str, Value)> = namespaced_kinds!(manifests);
        let cluster: Vec<(&str, Value)> = cluster_kinds!(manifests);
        assert_eq!(namespaced.len(), NAMESPACED_KINDS.len());
        let mut inv = Inventory::default();
        for (plural, v) in namespaced.iter().chain(&cluster) {
            let (api, kind) = (v["apiVersion"].as_str().unwrap_or(""), v["kind"].as_str());
            assert!(Inventory::reads(api, kind.unwrap_or("")), "{plural}");
            assert_eq!(inv.add_value(v.clone(), "team-a"), Ok(()), "{plural}");
        }
        assert!(!Inventory::reads("v1", "Secret"));
        assert_eq!(
            inv.add_value(serde_json::json!({"apiVersion": "v1", "kind": "Secret"}), "n"),
            Err(AddError::Unknown)
        );
        assert_eq!(inv.len(), namespaced.len() + cluster.len());
        assert_eq!(inv.ray_clusters[0].metadata.namespace.as_deref(), Some("team-a"));
        assert_eq!(inv.namespaces[0].metadata.namespace, None, "cluster-scoped: no namespace");
        inv.clear_namespaced();
        assert_eq!(inv.len(), cluster.len());
    }
}
