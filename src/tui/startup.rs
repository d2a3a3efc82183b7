//! What the live side asks before and beside its watchers: who the user is and which KubeRay
//! runs (for the header), and which namespaces can be watched (cluster-wide, or one by one
//! when cluster-wide lists are forbidden).

use super::update::Msg;
use crate::cluster::{Connection, Scope};
use crate::kuberay::RayCluster;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};

/// Who the user is (SelfSubjectReview) and which KubeRay runs (operator image tag).
pub(super) async fn identity(client: kube::Client) -> Msg {
    let client = &client;
    let review: serde_json::Value =
        serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    let req = http::Request::builder()
        .method("POST")
        .uri("/apis/authentication.k8s.io/v1/selfsubjectreviews")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&review).unwrap_or_default());
    let user = match req {
        Ok(r) => client.request::<serde_json::Value>(r).await.ok().and_then(|v| {
            v.pointer("/status/userInfo/username").and_then(|u| u.as_str()).map(str::to_string)
        }),
        Err(_) => None,
    };
    let deploys: Api<k8s_openapi::api::apps::v1::Deployment> = Api::all(client.clone());
    let kuberay = deploys
        .list(&ListParams::default().labels("app.kubernetes.io/name=kuberay-operator"))
        .await
        .ok()
        .and_then(|l| l.items.into_iter().next())
        .and_then(|d| d.spec?.template.spec?.containers.first()?.image.clone())
        .and_then(|img| img.rsplit_once(':').map(|(_, t)| t.to_string()));
    let guard = crate::guard::installed(client).await.ok().map(|o| crate::guard::summary(&o));
    Msg::Identity { user: user.unwrap_or_else(|| "?".into()), kuberay, guard }
}

/// What to watch: the namespaces one by one, or cluster-wide (None) — then with the first
/// `preview` RayClusters, which the probe of cluster-wide access lists anyway: their rows show
/// before the watchers' lists are in.
pub(super) struct Plan {
    pub namespaces: Option<Vec<String>>,
    pub preview: Vec<RayCluster>,
}

/// Which namespaces to watch, probing cluster-wide access with a first page of `preview`
/// RayClusters.
pub(super) async fn plan(conn: &Connection, scope: &Scope, preview: u32) -> Result<Plan, String> {
    let namespaces = |n: Vec<String>| Plan { namespaces: Some(n), preview: Vec::new() };
    match scope {
        Scope::Namespaces(n) => Ok(namespaces(n.clone())),
        Scope::All => {
            let probe: Api<RayCluster> = Api::all(conn.client.clone());
            match probe.list(&ListParams::default().limit(preview)).await {
                Ok(l) => Ok(Plan { namespaces: None, preview: l.items }),
                Err(kube::Error::Api(s)) if s.code == 404 => Err(format!(
                    "the KubeRay CRDs (ray.io/v1) are not installed on {}",
                    conn.server
                )),
                Err(kube::Error::Api(s)) if s.code == 403 => {
                    let ns: Api<Namespace> = Api::all(conn.client.clone());
                    match (ns.list(&ListParams::default()).await, &conn.namespace) {
                        (Ok(l), _) => Ok(namespaces(
                            l.items.into_iter().filter_map(|n| n.metadata.name).collect(),
                        )),
                        // As kubectl does: the namespace the context names.
                        (Err(_), Some(ns)) => {
                            let _ = conn.scope_note.set(crate::cluster::context_namespace_note(ns));
                            Ok(namespaces(vec![ns.clone()]))
                        }
                        (Err(e), None) => Err(format!(
                            "cannot list rayclusters cluster-wide nor namespaces: {}; start with -n NAMESPACE",
                            crate::cluster::root_cause(&e)
                        )),
                    }
                }
                Err(e) => {
                    Err(format!("cannot reach {}: {}", conn.server, crate::cluster::root_cause(&e)))
                }
            }
        }
    }
}
