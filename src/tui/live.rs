//! Live data: one kube-runtime reflector per kind (per namespace when cluster-wide lists are
//! forbidden), no polling. Changes are debounced, the inventory rebuilt from the stores and
//! evaluated off the UI thread, and the rows sent as one `Msg::Refresh`. Watch errors mark the
//! data stale (`Msg::Disconnected`) and the watchers reconnect with backoff.

use super::state::Refresh;
use super::update::Msg;
use crate::cluster::{Connection, ScanError, Scope};
use crate::inventory::Inventory;
use crate::kuberay::{RayCluster, RayCronJob, RayJob, RayService};
use crate::model::{Ingress, Pod, Service};
use crate::posture::{self, PostureConfig};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event as KEvent, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Resource;
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

enum Signal {
    Ready(usize),
    Changed,
    Forbidden(usize),
    Failed(String),
}

/// A watched (kind, namespace) and its store.
struct Watch<K: Resource<DynamicType = ()> + Clone + 'static> {
    id: usize,
    store: Store<K>,
    /// What the first list has brought so far (the store fills only when it is complete):
    /// kept for the Ray kinds, whose rows are shown page by page.
    early: Option<Early<K>>,
}

type Early<K> = Arc<std::sync::Mutex<Vec<Arc<K>>>>;

fn lock<K>(b: &Early<K>) -> std::sync::MutexGuard<'_, Vec<Arc<K>>> {
    b.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The Ray kinds are listed in small pages so that their first rows arrive early.
const RAY_PAGE: u32 = 50;

fn forbidden(e: &watcher::Error) -> bool {
    let api = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s)) => Some(s.code),
        watcher::Error::WatchError(s) => Some(s.code),
        _ => None,
    };
    matches!(api, Some(403 | 404))
}

fn spawn_watch<K>(
    api: Api<K>,
    cfg: watcher::Config,
    id: usize,
    early: bool,
    sig: mpsc::UnboundedSender<Signal>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Watch<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let early: Option<Early<K>> = early.then(Default::default);
    let buffer = early.clone();
    tasks.push(tokio::spawn(async move {
        // managedFields are as large as the object and no rule reads them: not kept.
        let events = watcher(api, cfg)
            .default_backoff()
            .modify(|o: &mut K| o.meta_mut().managed_fields = None);
        let stream = reflector::reflector(writer, events);
        futures::pin_mut!(stream);
        let mut failing = false;
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::InitDone) => {
                    failing = false;
                    if let Some(b) = &buffer {
                        lock(b).clear();
                    }
                    let _ = sig.send(Signal::Ready(id));
                }
                Ok(watcher::Event::InitApply(o)) => {
                    if let Some(b) = &buffer {
                        lock(b).push(Arc::new(o));
                        let _ = sig.send(Signal::Changed);
                    }
                }
                Ok(watcher::Event::Init) => {
                    if let Some(b) = &buffer {
                        lock(b).clear();
                    }
                }
                Ok(_) => {
                    failing = false;
                    let _ = sig.send(Signal::Changed);
                }
                Err(e) if forbidden(&e) && !failing => {
                    let _ = sig.send(Signal::Forbidden(id));
                    return;
                }
                Err(e) => {
                    failing = true;
                    let _ = sig.send(Signal::Failed(crate::cluster::root_cause(&e)));
                }
            }
        }
    }));
    Watch { id, store, early }
}

/// The ElasticQuotaTree watcher (a CRD that may be absent: then it reports Forbidden/404 once).
fn spawn_dynamic(
    c: &kube::Client,
    id: usize,
    sig: mpsc::UnboundedSender<Signal>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Store<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("scheduling.sigs.k8s.io", "v1beta1", "ElasticQuotaTree"),
        "elasticquotatrees",
    );
    let api: Api<DynamicObject> = Api::all_with(c.clone(), &ar);
    let writer = reflector::store::Writer::new(ar);
    let store = writer.as_reader();
    tasks.push(tokio::spawn(async move {
        let stream = reflector::reflector(
            writer,
            watcher(api, watcher::Config::default())
                .default_backoff()
                .modify(|o| o.metadata.managed_fields = None),
        );
        futures::pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::InitDone) => {
                    let _ = sig.send(Signal::Ready(id));
                }
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
                Ok(_) => {
                    let _ = sig.send(Signal::Changed);
                }
                Err(e) if forbidden(&e) => {
                    let _ = sig.send(Signal::Forbidden(id));
                    return;
                }
                Err(e) => {
                    let _ = sig.send(Signal::Failed(crate::cluster::root_cause(&e)));
                }
            }
        }
    }));
    store
}

fn owned<K>(s: &Store<K>) -> Vec<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    s.state().iter().map(|a| (**a).clone()).collect()
}

/// All the stores, per kind (several per kind when watching namespace by namespace).
#[derive(Default)]
struct Stores {
    rc: Vec<Watch<RayCluster>>,
    jobs: Vec<Watch<RayJob>>,
    svcs: Vec<Watch<RayService>>,
    crons: Vec<Watch<RayCronJob>>,
    pods: Vec<Watch<Pod>>,
    services: Vec<Watch<Service>>,
    ingresses: Vec<Watch<Ingress>>,
    policies: Vec<Watch<NetworkPolicy>>,
    quotas: Vec<Watch<ResourceQuota>>,
    accounts: Vec<Watch<ServiceAccount>>,
    bindings: Vec<Watch<RoleBinding>>,
    roles: Vec<Watch<Role>>,
    crbs: Vec<Watch<ClusterRoleBinding>>,
    croles: Vec<Watch<ClusterRole>>,
    events: Vec<Watch<KEvent>>,
    trees: Vec<(usize, Store<DynamicObject>)>,
    /// id → (namespace or "", kind plural)
    names: Vec<(String, &'static str)>,
}

/// The Ray custom resources' kinds: once they are listed, rows can be shown ungraded.
const RAY_KINDS: [&str; 4] = ["rayclusters", "rayjobs", "rayservices", "raycronjobs"];

impl Stores {
    /// Whether a first page of RayClusters has arrived while their list is under way.
    fn early_rows(&self) -> bool {
        self.rc.iter().any(|w| w.early.as_ref().is_some_and(|b| !lock(b).is_empty()))
    }

    /// The Ray custom resources alone (for ungraded rows).
    fn ray_inventory(&self, forbidden: &BTreeSet<usize>) -> Inventory {
        let mut inv = Inventory { live: true, ..Default::default() };
        // A list still under way: what its pages have brought so far.
        macro_rules! take {
            ($f:ident, $to:ident, $conv:expr) => {
                for w in self.$f.iter().filter(|w| !forbidden.contains(&w.id)) {
                    let early = w.early.as_ref().map(|b| lock(b).clone());
                    let objects =
                        early.filter(|e| !e.is_empty()).unwrap_or_else(|| w.store.state());
                    inv.$to.extend(objects.iter().map($conv));
                }
            };
        }
        take!(rc, ray_clusters, Arc::clone);
        take!(jobs, ray_jobs, |a: &Arc<RayJob>| (**a).clone());
        take!(svcs, ray_services, |a: &Arc<RayService>| (**a).clone());
        take!(crons, ray_cron_jobs, |a: &Arc<RayCronJob>| (**a).clone());
        inv.sort_by_namespace();
        inv
    }

    fn inventory(&self, forbidden: &BTreeSet<usize>) -> Inventory {
        macro_rules! collect {
            ($f:ident) => {
                self.$f
                    .iter()
                    .filter(|w| !forbidden.contains(&w.id))
                    .flat_map(|w| owned(&w.store))
                    .collect()
            };
        }
        // The big kinds are shared with the stores, not copied: an evaluation costs pointers.
        macro_rules! share {
            ($f:ident) => {
                self.$f
                    .iter()
                    .filter(|w| !forbidden.contains(&w.id))
                    .flat_map(|w| w.store.state())
                    .collect()
            };
        }
        let mut inv = Inventory {
            ray_clusters: share!(rc),
            ray_jobs: collect!(jobs),
            ray_services: collect!(svcs),
            ray_cron_jobs: collect!(crons),
            pods: share!(pods),
            services: share!(services),
            ingresses: collect!(ingresses),
            network_policies: collect!(policies),
            resource_quotas: collect!(quotas),
            service_accounts: collect!(accounts),
            role_bindings: collect!(bindings),
            roles: collect!(roles),
            cluster_role_bindings: collect!(crbs),
            cluster_roles: collect!(croles),
            events: collect!(events),
            elastic_quota_trees: self
                .trees
                .iter()
                .filter(|(id, _)| !forbidden.contains(id))
                .flat_map(|(_, st)| {
                    st.state()
                        .iter()
                        .filter_map(|o| serde_json::to_value(&**o).ok())
                        .collect::<Vec<_>>()
                })
                .collect(),
            live: true,
            ..Default::default()
        };
        for id in forbidden {
            if let Some((ns, kind)) = self.names.get(*id) {
                inv.unreadable.insert((ns.clone(), kind.to_string()));
            }
        }
        // Stores hold objects in no order; sorted, large inventories evaluate on every core.
        inv.sort_by_namespace();
        inv
    }

    fn errors(&self, forbidden: &BTreeSet<usize>) -> Vec<ScanError> {
        let mut by_ns: Vec<(String, Vec<&str>)> = Vec::new();
        for id in forbidden {
            let Some((ns, kind)) = self.names.get(*id) else { continue };
            match by_ns.iter_mut().find(|(n, _)| n == ns) {
                Some((_, k)) => k.push(kind),
                None => by_ns.push((ns.clone(), vec![kind])),
            }
        }
        by_ns
            .into_iter()
            .map(|(ns, kinds)| ScanError {
                namespace: (!ns.is_empty()).then_some(ns),
                file: None,
                document: None,
                message: if kinds.len() >= 12 {
                    "forbidden: no access to this namespace".into()
                } else {
                    format!("forbidden (list {})", kinds.join(", "))
                },
            })
            .collect()
    }
}

/// Who the user is (SelfSubjectReview) and which KubeRay runs (operator image tag).
async fn identity(client: kube::Client) -> Msg {
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
    Msg::Identity { user: user.unwrap_or_else(|| "?".into()), kuberay }
}

/// Which namespaces to watch: None = cluster-wide.
async fn plan(conn: &Connection, scope: &Scope) -> Result<Option<Vec<String>>, String> {
    match scope {
        Scope::Namespaces(n) => Ok(Some(n.clone())),
        Scope::All => {
            let probe: Api<RayCluster> = Api::all(conn.client.clone());
            match probe.list(&ListParams::default().limit(1)).await {
                Ok(_) => Ok(None),
                Err(kube::Error::Api(s)) if s.code == 404 => Err(format!(
                    "the KubeRay CRDs (ray.io/v1) are not installed on {}",
                    conn.server
                )),
                Err(kube::Error::Api(s)) if s.code == 403 => {
                    let ns: Api<Namespace> = Api::all(conn.client.clone());
                    match (ns.list(&ListParams::default()).await, &conn.namespace) {
                        (Ok(l), _) => {
                            Ok(Some(l.items.into_iter().filter_map(|n| n.metadata.name).collect()))
                        }
                        // As kubectl does: the namespace the context names.
                        (Err(_), Some(ns)) => {
                            let _ = conn.scope_note.set(crate::cluster::context_namespace_note(ns));
                            Ok(Some(vec![ns.clone()]))
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

/// Runs until aborted: watchers, debounced snapshots, stale marking.
pub async fn run(conn: Connection, scope: Scope, cfg: PostureConfig, tx: mpsc::Sender<Msg>) {
    // Who the user is and what KubeRay runs: asked alongside the lists, not before them.
    let mut tasks = Vec::new();
    let (client, id_tx) = (conn.client.clone(), tx.clone());
    tasks.push(tokio::spawn(async move {
        let _ = id_tx.send(identity(client).await).await;
    }));
    let namespaces = match plan(&conn, &scope).await {
        Ok(n) => {
            if let Some(note) = conn.scope_note.get() {
                let _ = tx.send(Msg::Warning(format!("watching {note}"))).await;
            }
            n
        }
        Err(e) => {
            let _ = tx.send(Msg::Disconnected(e)).await;
            return;
        }
    };
    let (sig_tx, mut sig) = mpsc::unbounded_channel::<Signal>();
    let mut st = Stores::default();
    let c = &conn.client;
    let nss: Vec<Option<String>> = match &namespaces {
        None => vec![None],
        Some(l) => l.iter().cloned().map(Some).collect(),
    };
    macro_rules! watch {
        ($field:ident, $t:ty, $kind:expr, $ns:expr, $cfg:expr) => {{
            let id = st.names.len();
            st.names.push(($ns.clone().unwrap_or_default(), $kind));
            let api: Api<$t> = match &$ns {
                Some(n) => Api::namespaced(c.clone(), n),
                None => Api::all(c.clone()),
            };
            let early = RAY_KINDS.contains(&$kind);
            let cfg = if early { $cfg.page_size(RAY_PAGE) } else { $cfg };
            st.$field.push(spawn_watch(api, cfg, id, early, sig_tx.clone(), &mut tasks));
        }};
    }
    let plain = watcher::Config::default;
    for ns in &nss {
        watch!(rc, RayCluster, "rayclusters", ns, plain());
        watch!(jobs, RayJob, "rayjobs", ns, plain());
        watch!(svcs, RayService, "rayservices", ns, plain());
        watch!(crons, RayCronJob, "raycronjobs", ns, plain());
        watch!(pods, Pod, "pods", ns, plain().labels("ray.io/cluster"));
        watch!(services, Service, "services", ns, plain());
        watch!(ingresses, Ingress, "ingresses", ns, plain());
        watch!(policies, NetworkPolicy, "networkpolicies", ns, plain());
        watch!(quotas, ResourceQuota, "resourcequotas", ns, plain());
        watch!(accounts, ServiceAccount, "serviceaccounts", ns, plain());
        watch!(bindings, RoleBinding, "rolebindings", ns, plain());
        watch!(roles, Role, "roles", ns, plain());
        watch!(events, KEvent, "events", ns, plain().fields("type=Warning"));
    }
    {
        macro_rules! watch_cluster_wide {
            ($field:ident, $kind:expr) => {{
                let id = st.names.len();
                st.names.push((String::new(), $kind));
                let api = Api::all(c.clone());
                st.$field.push(spawn_watch(api, plain(), id, false, sig_tx.clone(), &mut tasks));
            }};
        }
        watch_cluster_wide!(crbs, "clusterrolebindings");
        watch_cluster_wide!(croles, "clusterroles");
        // ElasticQuotaTrees (ACK): a namespace listed in a leaf counts as quota-covered.
        let id = st.names.len();
        st.names.push((String::new(), "elasticquotatrees"));
        st.trees.push((id, spawn_dynamic(c, id, sig_tx.clone(), &mut tasks)));
    }
    drop(sig_tx);
    let mut pending: BTreeSet<usize> = (0..st.names.len()).collect();
    let mut forbidden: BTreeSet<usize> = BTreeSet::new();
    let mut failing = false;
    let st = Arc::new(st);
    let cfg = Arc::new(cfg);
    loop {
        let Some(first) = sig.recv().await else { break };
        let mut changed = false;
        let mut handle = |s: Signal, changed: &mut bool, failing: &mut bool| match s {
            Signal::Ready(id) => {
                tracing::debug!(list = ?st.names.get(id), pending = pending.len(), "listed");
                pending.remove(&id);
                *changed = true;
                *failing = false;
            }
            Signal::Changed => {
                *changed = true;
                *failing = false;
            }
            Signal::Forbidden(id) => {
                pending.remove(&id);
                forbidden.insert(id);
                *changed = true;
            }
            Signal::Failed(why) => {
                if !*failing {
                    *failing = true;
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(Msg::Disconnected(why)).await;
                    });
                }
            }
        };
        handle(first, &mut changed, &mut failing);
        // Debounce: take everything that arrives within 100 ms as one change.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
        while let Ok(Some(s)) = tokio::time::timeout_at(deadline, sig.recv()).await {
            handle(s, &mut changed, &mut failing);
        }
        if !changed || failing {
            continue;
        }
        // Graded once every kind is listed; before that, as soon as the Ray custom resources
        // are, their rows without grades.
        let graded = pending.is_empty();
        // Ungraded rows need the Ray kinds: listed, or at least a first page of RayClusters.
        let ray_pending =
            pending.iter().any(|id| st.names.get(*id).is_some_and(|(_, k)| RAY_KINDS.contains(k)));
        if !graded && ray_pending && !st.early_rows() {
            continue;
        }
        let (st2, cfg2, forb) = (st.clone(), cfg.clone(), forbidden.clone());
        let snap = tokio::task::spawn_blocking(move || {
            let rows = if graded {
                let inv = st2.inventory(&forb);
                let entries = posture::evaluate(&inv, &cfg2);
                super::rows::rows(&inv, entries)
            } else {
                let inv = st2.ray_inventory(&forb);
                let entries = posture::evaluate(&inv, &cfg2);
                super::rows::ungraded(&inv, entries)
            };
            Refresh {
                rows,
                errors: st2.errors(&forb),
                synced: chrono::Local::now().format("%H:%M:%S").to_string(),
            }
        })
        .await;
        if let Ok(s) = snap {
            if tx.send(Msg::Refresh(Box::new(s))).await.is_err() {
                break;
            }
        }
    }
    for t in tasks {
        t.abort();
    }
}
