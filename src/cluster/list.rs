//! Lists the inventory: every kind concurrently, in pages of 500 with managedFields dropped, per
//! namespace when cluster-wide lists are forbidden. A 403 (or other failure) on one namespace or
//! kind becomes a `ScanError` and an `unreadable` mark; the rest is still scanned.

use super::{root_cause, ConnectError, Connection, ScanError};
use crate::inventory::Inventory;
use crate::kuberay::RayCluster;
use futures::stream::{self, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::Resource;
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Which namespaces to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Namespaces(Vec<String>),
}

/// Counters a progress line reads while the lists run.
#[derive(Debug, Default)]
pub struct Progress {
    pub lists_done: AtomicUsize,
    pub lists_total: AtomicUsize,
    pub objects: AtomicUsize,
}

pub(super) enum Failure {
    /// The kind does not exist on this server (CRD not installed): silently empty.
    Missing,
    Forbidden(String),
    Other(String),
    Unreachable(String),
}

pub(super) fn classify(e: kube::Error, what: &str) -> Failure {
    match e {
        kube::Error::Api(s) if s.code == 404 => Failure::Missing,
        kube::Error::Api(s) if s.code == 403 => {
            Failure::Forbidden(format!("forbidden: list {what}"))
        }
        kube::Error::Api(s) => Failure::Other(format!("list {what}: {} ({})", s.message, s.code)),
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            Failure::Unreachable(root_cause(&e))
        }
        other => Failure::Other(format!("list {what}: {}", root_cause(&other))),
    }
}

/// Lists every object of `api`, page by page, dropping managedFields to save memory.
async fn list_pages<K>(
    api: &Api<K>,
    lp: &ListParams,
    progress: &Progress,
) -> Result<Vec<K>, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + 'static,
{
    let mut out = Vec::new();
    let mut lp = lp.clone().limit(500);
    loop {
        let page = api.list(&lp).await?;
        let n = page.items.len();
        out.extend(page.items.into_iter().map(|mut o| {
            crate::inventory::slim(&mut o);
            o
        }));
        progress.objects.fetch_add(n, Ordering::Relaxed);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = lp.continue_token(&c),
            None => return Ok(out),
        }
    }
}

fn api<K>(c: &kube::Client, ns: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>,
{
    match ns {
        Some(ns) => Api::namespaced(c.clone(), ns),
        None => Api::all(c.clone()),
    }
}

/// One list to run: a kind in a namespace (or cluster-wide).
#[derive(Clone)]
pub(super) struct Job {
    pub kind: &'static str,
    pub ns: Option<String>,
}

/// List parameters with a label selector, none when it is empty.
pub(super) fn params(labels: &str) -> ListParams {
    match labels {
        "" => ListParams::default(),
        l => ListParams::default().labels(l),
    }
}

/// A list's objects, ready to be put into an inventory.
pub(super) type Batch = Box<dyn FnOnce(&mut Inventory) + Send>;

use crate::inventory::{cluster_kinds, namespaced_kinds, store, NAMESPACED_KINDS as NAMESPACED};

async fn run(c: &kube::Client, job: &Job, p: &Progress) -> Result<Batch, kube::Error> {
    let ns = job.ns.as_deref();
    macro_rules! namespaced {
        ($(($f:ident, $t:ty, $g:literal, $k:literal, $plural:literal, $labels:literal, $how:ident)),* $(,)?) => {
            match job.kind {
                $($plural => {
                    let v: Vec<$t> = list_pages(&api(c, ns), &params($labels), p).await?;
                    return Ok(Box::new(move |inv: &mut Inventory| {
                        inv.$f.extend(v.into_iter().map(|o| store!($how, o)))
                    }));
                })*
                _ => {}
            }
        };
    }
    macro_rules! cluster_scoped {
        ($(($f:ident, $t:ty, $g:literal, $k:literal, $plural:literal, $labels:literal, $how:ident)),* $(,)?) => {
            match job.kind {
                $($plural => {
                    let v: Vec<$t> = list_pages(&Api::all(c.clone()), &params($labels), p).await?;
                    return Ok(Box::new(move |inv: &mut Inventory| inv.$f.extend(v)));
                })*
                _ => {}
            }
        };
    }
    namespaced_kinds!(namespaced);
    cluster_kinds!(cluster_scoped);
    // ElasticQuotaTrees (ACK), read as JSON.
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("scheduling.sigs.k8s.io", "v1beta1", "ElasticQuotaTree"),
        "elasticquotatrees",
    );
    let api: Api<DynamicObject> = Api::all_with(c.clone(), &ar);
    let items = list_pages(&api, &ListParams::default(), p).await?;
    let trees: Vec<serde_json::Value> =
        items.into_iter().filter_map(|o| serde_json::to_value(o).ok()).collect();
    Ok(Box::new(move |inv: &mut Inventory| inv.elastic_quota_trees.extend(trees)))
}

/// Runs `jobs` with bounded concurrency into `inv`; marks what could not be read as
/// unreadable and returns those failures (an unreachable server ends the scan).
pub(super) async fn run_jobs(
    conn: &Connection,
    jobs: Vec<Job>,
    inv: &mut Inventory,
    p: &Arc<Progress>,
) -> Result<Vec<(Job, Failure)>, ConnectError> {
    p.lists_total.fetch_add(jobs.len(), Ordering::Relaxed);
    let client = conn.client.clone();
    let mut results: Vec<(Job, Result<Batch, kube::Error>)> = stream::iter(jobs)
        .map(|job| {
            let (c, p) = (client.clone(), p.clone());
            async move {
                let r = run(&c, &job, &p).await;
                p.lists_done.fetch_add(1, Ordering::Relaxed);
                (job, r)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    // Deterministic order regardless of which list finished first.
    results.sort_by(|a, b| (a.0.ns.as_deref(), a.0.kind).cmp(&(b.0.ns.as_deref(), b.0.kind)));
    let mut failed = Vec::new();
    for (job, r) in results {
        match r {
            Ok(b) => b(inv),
            Err(e) => match classify(e, job.kind) {
                Failure::Unreachable(reason) => {
                    return Err(ConnectError::Unreachable {
                        server: conn.server.clone(),
                        context: conn.context.clone(),
                        reason,
                    })
                }
                Failure::Missing => {}
                f => {
                    inv.unreadable
                        .insert((job.ns.clone().unwrap_or_default(), job.kind.to_string()));
                    failed.push((job, f));
                }
            },
        }
    }
    Ok(failed)
}

/// Turns failed lists into error lines: one per namespace for what was forbidden there, one
/// per other failure.
pub(super) fn report_failures(failed: Vec<(Job, Failure)>, errors: &mut Vec<ScanError>) {
    let mut forbidden: Vec<(Option<String>, Vec<&'static str>)> = Vec::new();
    for (job, f) in failed {
        match f {
            Failure::Forbidden(_) => match forbidden.iter_mut().find(|(ns, _)| *ns == job.ns) {
                Some((_, kinds)) => kinds.push(job.kind),
                None => forbidden.push((job.ns.clone(), vec![job.kind])),
            },
            Failure::Other(m) => errors.push(ScanError {
                context: None,
                namespace: job.ns.clone(),
                file: None,
                document: None,
                message: m,
            }),
            Failure::Missing | Failure::Unreachable(_) => {}
        }
    }
    // One line per namespace: the kinds it could not read, or that it could read nothing.
    for (ns, kinds) in forbidden {
        let message = if kinds.len() >= NAMESPACED.len() {
            "forbidden: no access to this namespace".to_string()
        } else {
            format!("forbidden: list {}", kinds.join(", "))
        };
        errors.push(ScanError { namespace: ns, message, ..Default::default() });
    }
    errors.sort_by(|a, b| a.namespace.cmp(&b.namespace));
}

/// What the report header and the TUI status line say when the scope fell back to the
/// context's namespace.
pub fn context_namespace_note(ns: &str) -> String {
    format!("namespace {ns} from the kubeconfig context (cluster-wide lists are forbidden)")
}

/// Which namespaces to list one by one (None: cluster-wide lists work). Probes RayClusters
/// first: a 404 means KubeRay is not installed, a connection error ends here.
pub(super) async fn namespaces_to_scan(
    conn: &Connection,
    scope: &Scope,
    errors: &mut Vec<ScanError>,
) -> Result<Option<Vec<String>>, ConnectError> {
    let c = &conn.client;
    let probe_ns = match scope {
        Scope::All => None,
        Scope::Namespaces(n) => n.first().map(String::as_str),
    };
    let probe: Api<RayCluster> = api(c, probe_ns);
    Ok(match probe.list(&ListParams::default().limit(1)).await {
        // Expired or revoked credentials: nothing else will be answered either.
        Err(kube::Error::Api(s)) if s.code == 401 => {
            return Err(ConnectError::Unauthorized {
                server: conn.server.clone(),
                context: conn.context.clone(),
            })
        }
        Ok(_) => match scope {
            Scope::All => None,
            Scope::Namespaces(n) => Some(n.clone()),
        },
        Err(e) => match classify(e, "rayclusters") {
            Failure::Missing => {
                return Err(ConnectError::NoKubeRay {
                    server: conn.server.clone(),
                    context: conn.context.clone(),
                })
            }
            Failure::Unreachable(reason) => {
                return Err(ConnectError::Unreachable {
                    server: conn.server.clone(),
                    context: conn.context.clone(),
                    reason,
                })
            }
            // Cluster-wide lists are forbidden: go namespace by namespace.
            Failure::Forbidden(_) | Failure::Other(_) => match scope {
                Scope::Namespaces(n) => Some(n.clone()),
                Scope::All => {
                    match Api::<Namespace>::all(c.clone()).list(&ListParams::default()).await {
                        Ok(l) => {
                            errors.push(ScanError {
                                context: None,
                                namespace: None,
                                file: None,
                                document: None,
                                message:
                                    "forbidden: cluster-wide lists; scanned namespace by namespace"
                                        .into(),
                            });
                            Some(l.items.iter().filter_map(|n| n.metadata.name.clone()).collect())
                        }
                        Err(e) => {
                            let m = match classify(e, "namespaces") {
                                Failure::Forbidden(m) | Failure::Other(m) => m,
                                _ => "cannot list namespaces".into(),
                            };
                            // As kubectl does: the namespace the context names.
                            let Some(ns) = conn.namespace.clone() else {
                                return Err(ConnectError::BadContext {
                                    context: conn.context.clone(),
                                    reason: format!(
                                        "cannot list rayclusters cluster-wide and {m}; pass -n NAMESPACE"
                                    ),
                                });
                            };
                            let _ = conn.scope_note.set(context_namespace_note(&ns));
                            Some(vec![ns])
                        }
                    }
                }
            },
        },
    })
}

/// The cluster-scoped lists of a scan (the namespaces aside: listed only when cluster-wide
/// lists work).
pub(super) const CLUSTER_LISTS: [&str; 4] = [
    "clusterrolebindings",
    "clusterroles",
    "validatingadmissionpolicybindings",
    "elasticquotatrees",
];

/// Lists everything the rules read within `scope`, all at once (the TUI's first load, tests
/// and benches; `raydar scan` streams namespace by namespace instead).
pub async fn list_inventory(
    conn: &Connection,
    scope: &Scope,
    progress: Arc<Progress>,
) -> Result<(Inventory, Vec<ScanError>), ConnectError> {
    let mut inv = Inventory { live: true, ..Default::default() };
    let mut errors = Vec::new();
    let namespaces = namespaces_to_scan(conn, scope, &mut errors).await?;
    let mut jobs: Vec<Job> = Vec::new();
    match &namespaces {
        None => {
            jobs.extend(NAMESPACED.iter().map(|k| Job { kind: k, ns: None }));
            jobs.push(Job { kind: "namespaces", ns: None });
        }
        Some(list) => {
            for ns in list {
                jobs.extend(NAMESPACED.iter().map(|k| Job { kind: k, ns: Some(ns.clone()) }));
            }
        }
    }
    for k in CLUSTER_LISTS {
        jobs.push(Job { kind: k, ns: None });
    }
    let failed = run_jobs(conn, jobs, &mut inv, &progress).await?;
    report_failures(failed, &mut errors);
    Ok((inv, errors))
}
