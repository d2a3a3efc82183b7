//! The inventory indexed once per evaluation: a cluster's pods, the Services that may select
//! it, and each namespace's policies, quotas, Ingresses and bindings.

use crate::inventory::Inventory;
use crate::model::{Ingress, LabelSet, NodeType, Pod, Service};
use foldhash::HashMap;
use k8s_openapi::api::core::v1::{ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// A Service that selects pods, with its place in the list (exposures keep that order).
#[derive(Clone, Copy)]
pub(super) struct ServiceView<'a> {
    pub(super) svc: &'a Service,
    pub(super) selector: &'a LabelSet,
    pub(super) at: usize,
}

/// Indexes the inventory by namespace once, so evaluating 5,000 clusters stays linear.
pub struct Index<'a> {
    /// A cluster's pods by namespace and cluster, heads first, then workers, then any other:
    /// and how many heads and workers.
    pub(super) pods: HashMap<(&'a str, &'a str), (Vec<&'a Pod>, usize, usize)>,
    /// Services whose selector names a cluster (`ray.io/cluster`), by namespace and cluster:
    /// a cluster looks only at its own, not at every Service of its namespace.
    pub(super) cluster_services: HashMap<(&'a str, &'a str), Vec<ServiceView<'a>>>,
    /// Services whose selector names no cluster, by namespace.
    pub(super) other_services: HashMap<&'a str, Vec<ServiceView<'a>>>,
    /// Every Service by namespace and name.
    pub(super) service_names: foldhash::HashSet<(&'a str, &'a str)>,
    pub(super) clusters: foldhash::HashSet<(&'a str, &'a str)>,
    pub(super) clusters_per_ns: HashMap<&'a str, usize>,
    pub policies: HashMap<&'a str, Vec<&'a NetworkPolicy>>,
    pub quotas: HashMap<&'a str, Vec<&'a ResourceQuota>>,
    pub ingresses: HashMap<&'a str, Vec<&'a Ingress>>,
    pub role_bindings: HashMap<&'a str, Vec<&'a RoleBinding>>,
    pub accounts: HashMap<(&'a str, &'a str), &'a ServiceAccount>,
    /// The namespaces' labels (when the namespaces could be listed), by name.
    pub namespace_labels: HashMap<&'a str, &'a std::collections::BTreeMap<String, String>>,
}

fn by_ns<T>(items: &[T], meta: impl Fn(&T) -> &ObjectMeta) -> HashMap<&str, Vec<&T>> {
    let mut m: HashMap<&str, Vec<&T>> = HashMap::default();
    for i in items {
        m.entry(meta(i).namespace.as_deref().unwrap_or("")).or_default().push(i);
    }
    m
}

pub(super) fn ns(m: &ObjectMeta) -> &str {
    m.namespace.as_deref().unwrap_or("")
}
pub(super) fn name(m: &ObjectMeta) -> &str {
    m.name.as_deref().unwrap_or("")
}

impl<'a> Index<'a> {
    pub fn new(inv: &'a Inventory) -> Self {
        let mut pods: HashMap<(&str, &str), (Vec<&Pod>, usize, usize)> = HashMap::default();
        for p in &inv.pods {
            let k = &p.ray;
            if k.cluster.is_empty() || k.node == NodeType::RedisCleanup {
                continue;
            }
            pods.entry((&k.namespace, &k.cluster)).or_default().0.push(p);
        }
        for (v, heads, workers) in pods.values_mut() {
            v.sort_by_key(|p| p.ray.node);
            *heads = v.iter().filter(|p| p.ray.node == NodeType::Head).count();
            *workers = v.iter().filter(|p| p.ray.node == NodeType::Worker).count();
        }
        let mut clusters =
            foldhash::HashSet::with_capacity_and_hasher(inv.ray_clusters.len(), Default::default());
        let mut clusters_per_ns: HashMap<&str, usize> = HashMap::default();
        for c in &inv.ray_clusters {
            clusters.insert((ns(&c.metadata), name(&c.metadata)));
            *clusters_per_ns.entry(ns(&c.metadata)).or_default() += 1;
        }
        let n = inv.services.len();
        let mut cluster_services: HashMap<(&str, &str), Vec<ServiceView>> =
            HashMap::with_capacity_and_hasher(n, Default::default());
        let mut other_services: HashMap<&str, Vec<ServiceView>> = HashMap::default();
        let mut service_names = foldhash::HashSet::with_capacity_and_hasher(n, Default::default());
        for (at, svc) in inv.services.iter().enumerate() {
            let (namespace, svc_name) = (ns(&svc.metadata), name(&svc.metadata));
            service_names.insert((namespace, svc_name));
            let Some(selector) = svc.selector.as_ref() else { continue };
            let view = ServiceView { svc, selector, at };
            match svc.selector_cluster.as_deref() {
                Some(c) => cluster_services.entry((namespace, c)).or_default().push(view),
                None => other_services.entry(namespace).or_default().push(view),
            }
        }
        let accounts = inv
            .service_accounts
            .iter()
            .map(|a| ((ns(&a.metadata), name(&a.metadata)), a))
            .collect();
        Self {
            pods,
            cluster_services,
            other_services,
            service_names,
            clusters,
            clusters_per_ns,
            policies: by_ns(&inv.network_policies, |p| &p.metadata),
            quotas: by_ns(&inv.resource_quotas, |q| &q.metadata),
            ingresses: by_ns(&inv.ingresses, |i| &i.metadata),
            role_bindings: by_ns(&inv.role_bindings, |b| &b.metadata),
            accounts,
            namespace_labels: inv
                .namespaces
                .iter()
                .filter_map(|n| Some((n.metadata.name.as_deref()?, n.metadata.labels.as_ref()?)))
                .collect(),
        }
    }
    pub fn clusters_in(&self, namespace: &str) -> usize {
        self.clusters_per_ns.get(namespace).copied().unwrap_or(0)
    }
}
