//! What a planner reads: whole objects of one namespace, fetched fresh before every plan.
//! The kinds are those of the inventory's table ([`crate::inventory::namespaced_kinds`]), so
//! a kind the rules read is a kind the fixes see, with no second list.

use super::PlanError;
use crate::inventory::namespaced_kinds;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

macro_rules! snapshot {
    ($(($f:ident, $t:ty, $g:literal, $k:literal, $plural:literal, $labels:literal, $how:ident)),* $(,)?) => {
        /// The objects of one namespace a fix may read or change, as the API server returned
        /// them (kind and apiVersion set), one list per kind of the inventory's table.
        #[derive(Debug, Clone, Default)]
        pub struct Snapshot {
            pub namespace: String,
            $(pub $f: Vec<Value>,)*
            /// Labels of the namespace's Ray pods (from `pods`, labelled ray.io/cluster).
            pub pod_labels: Vec<BTreeMap<String, String>>,
            /// KubeRay operator pods found by label: (namespace, labels). None: could not be
            /// listed.
            pub operator_pods: Option<Vec<(String, BTreeMap<String, String>)>>,
            /// Kinds (plural) no planner reads that could not be listed: left empty.
            pub unreadable: BTreeSet<&'static str>,
        }

        impl Snapshot {
            /// The listed objects of a kind, by its plural (empty for a kind not in the table).
            pub fn of_plural(&self, plural: &str) -> &[Value] {
                match plural {
                    $($plural => &self.$f,)*
                    _ => &[],
                }
            }

            fn set(&mut self, plural: &str, items: Vec<Value>) {
                match plural {
                    $($plural => self.$f = items,)*
                    _ => {}
                }
            }
        }

        /// (group, kind, plural, label selector) of each kind of the table.
        const KINDS: &[(&str, &str, &str, &str)] = &[$(($g, $k, $plural, $labels)),*];
    };
}
namespaced_kinds!(snapshot);

impl Snapshot {
    pub fn of_kind(&self, kind: super::Kind) -> &[Value] {
        self.of_plural(kind.parts().2)
    }

    pub fn get(&self, kind: super::Kind, name: &str) -> Option<&Value> {
        self.of_kind(kind).iter().find(|v| super::name_of(v) == name)
    }
}

/// Whether a planner reads or writes this kind: its list must succeed.
fn needed(plural: &str) -> bool {
    plural == "pods" || super::Kind::ALL.iter().any(|k| k.parts().2 == plural)
}

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
    let lists = KINDS.iter().map(|&(group, kind, plural, labels)| {
        let r =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &r);
        async move {
            let list = api.list(&ListParams::default().labels(labels)).await;
            let items = list.map(|l| {
                l.items
                    .into_iter()
                    .map(|mut o| {
                        // Lists leave out kind/apiVersion on items; writes need them.
                        o.types = Some(kube::api::TypeMeta {
                            api_version: r.api_version.clone(),
                            kind: r.kind.clone(),
                        });
                        serde_json::to_value(o).unwrap_or(Value::Null)
                    })
                    .collect::<Vec<Value>>()
            });
            (plural, items)
        }
    });
    let op_api: Api<crate::model::Pod> = Api::all(client.clone());
    let op_lp = ListParams::default().labels("app.kubernetes.io/name=kuberay-operator");
    let ops = async {
        match operator {
            true => Some(op_api.list(&op_lp).await),
            false => None,
        }
    };
    let (results, ops) = tokio::join!(futures::future::join_all(lists), ops);
    let mut snap = Snapshot { namespace: namespace.into(), ..Default::default() };
    for (plural, items) in results {
        match items {
            Ok(items) => snap.set(plural, items),
            Err(e) if needed(plural) => return Err(api_error(plural, namespace, &e)),
            Err(_) => {
                snap.unreadable.insert(plural);
            }
        }
    }
    snap.pod_labels = snap
        .pods
        .iter()
        .filter_map(|p| serde_json::from_value(p["metadata"]["labels"].clone()).ok())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_a_fix_writes_in_a_namespace_is_in_the_snapshot() {
        for k in super::super::Kind::ALL {
            let (api_version, kind, plural) = k.parts();
            let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
            let namespaced = !api_version.starts_with("admissionregistration.");
            assert_eq!(
                KINDS.iter().any(|&(g, kd, p, _)| (g, kd, p) == (group, kind, plural)),
                namespaced,
                "{kind}"
            );
        }
    }
}
