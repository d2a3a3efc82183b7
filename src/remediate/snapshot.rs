//! What a planner reads: whole objects of one namespace, fetched fresh before every plan.

use super::{Kind, ObjRef, PlanError};
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;
use std::collections::BTreeMap;

/// The objects of one namespace a fix may read or change, as the API server returned them.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub namespace: String,
    pub ray_clusters: Vec<Value>,
    pub ray_jobs: Vec<Value>,
    pub ray_services: Vec<Value>,
    pub ray_cron_jobs: Vec<Value>,
    pub services: Vec<Value>,
    pub ingresses: Vec<Value>,
    pub network_policies: Vec<Value>,
    pub service_accounts: Vec<Value>,
    pub resource_quotas: Vec<Value>,
    /// Labels of the namespace's Ray pods (labelled ray.io/cluster).
    pub pod_labels: Vec<BTreeMap<String, String>>,
    /// KubeRay operator pods found by label: (namespace, labels). None: could not be listed.
    pub operator_pods: Option<Vec<(String, BTreeMap<String, String>)>>,
}

impl Snapshot {
    pub fn of_kind(&self, kind: Kind) -> &[Value] {
        match kind {
            Kind::RayCluster => &self.ray_clusters,
            Kind::RayJob => &self.ray_jobs,
            Kind::RayService => &self.ray_services,
            Kind::RayCronJob => &self.ray_cron_jobs,
            Kind::Service => &self.services,
            Kind::Ingress => &self.ingresses,
            Kind::NetworkPolicy => &self.network_policies,
            Kind::ServiceAccount => &self.service_accounts,
            Kind::ResourceQuota => &self.resource_quotas,
            // Cluster-scoped: never in a namespace's snapshot.
            Kind::ValidatingAdmissionPolicy | Kind::ValidatingAdmissionPolicyBinding => &[],
        }
    }

    pub fn get(&self, kind: Kind, name: &str) -> Option<&Value> {
        self.of_kind(kind).iter().find(|v| super::name_of(v) == name)
    }
}

const NAMESPACED: [Kind; 9] = [
    Kind::RayCluster,
    Kind::RayJob,
    Kind::RayService,
    Kind::RayCronJob,
    Kind::Service,
    Kind::Ingress,
    Kind::NetworkPolicy,
    Kind::ServiceAccount,
    Kind::ResourceQuota,
];

fn api_error(what: &str, ns: &str, e: &kube::Error) -> PlanError {
    let msg = match e {
        kube::Error::Api(s) => s.message.clone(),
        e => crate::cluster::root_cause(e),
    };
    PlanError::Api(format!("cannot list {what} in namespace {ns}: {msg}"))
}

/// Lists everything a plan for `namespace` reads (concurrently); the KubeRay operator's pods
/// (a cluster-wide list) only when `operator` is set — the network-policy fix needs them.
pub async fn fetch(
    client: &kube::Client,
    namespace: &str,
    operator: bool,
) -> Result<Snapshot, PlanError> {
    let lists = NAMESPACED.map(|k| {
        let r = ObjRef::new(k, namespace, "").api_resource();
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &r);
        async move {
            let list = api.list(&ListParams::default()).await.map_err(|e| (r.plural.clone(), e))?;
            Ok::<_, (String, kube::Error)>(
                list.items
                    .into_iter()
                    .map(|mut o| {
                        // Lists leave out kind/apiVersion on items; writes need them.
                        o.types = Some(kube::api::TypeMeta {
                            api_version: r.api_version.clone(),
                            kind: r.kind.clone(),
                        });
                        serde_json::to_value(o).unwrap_or(Value::Null)
                    })
                    .collect::<Vec<Value>>(),
            )
        }
    });
    let pods_api: Api<crate::model::Pod> = Api::namespaced(client.clone(), namespace);
    let op_api: Api<crate::model::Pod> = Api::all(client.clone());
    let op_lp = ListParams::default().labels("app.kubernetes.io/name=kuberay-operator");
    let all = ListParams::default().labels("ray.io/cluster");
    let ops = async {
        match operator {
            true => Some(op_api.list(&op_lp).await),
            false => None,
        }
    };
    let (results, pods, ops) = tokio::join!(futures_join_all(lists), pods_api.list(&all), ops);
    let mut snap = Snapshot { namespace: namespace.into(), ..Default::default() };
    for (kind, r) in NAMESPACED.into_iter().zip(results) {
        let items = r.map_err(|(what, e)| api_error(&what, namespace, &e))?;
        match kind {
            Kind::RayCluster => snap.ray_clusters = items,
            Kind::RayJob => snap.ray_jobs = items,
            Kind::RayService => snap.ray_services = items,
            Kind::RayCronJob => snap.ray_cron_jobs = items,
            Kind::Service => snap.services = items,
            Kind::Ingress => snap.ingresses = items,
            Kind::NetworkPolicy => snap.network_policies = items,
            Kind::ServiceAccount => snap.service_accounts = items,
            Kind::ResourceQuota => snap.resource_quotas = items,
            Kind::ValidatingAdmissionPolicy | Kind::ValidatingAdmissionPolicyBinding => {}
        }
    }
    snap.pod_labels = pods
        .map_err(|e| api_error("pods", namespace, &e))?
        .items
        .into_iter()
        .filter_map(|p| p.metadata.labels)
        .collect();
    snap.operator_pods = ops.and_then(Result::ok).map(|l| {
        l.items
            .into_iter()
            .map(|p| {
                (p.metadata.namespace.unwrap_or_default(), p.metadata.labels.unwrap_or_default())
            })
            .collect()
    });
    Ok(snap)
}

async fn futures_join_all<F: std::future::Future>(fs: [F; 9]) -> Vec<F::Output> {
    let [a, b, c, d, e, f, g, h, i] = fs;
    let (a, b, c, d, e, f, g, h, i) = tokio::join!(a, b, c, d, e, f, g, h, i);
    vec![a, b, c, d, e, f, g, h, i]
}
