//! Scanning namespace by namespace with bounded memory: every namespaced kind is listed
//! cluster-wide, page by page, concurrently; since the API server returns lists in key order
//! (namespace, then name), the pages are merged and each namespace is handed over — with the
//! cluster-scoped objects — as soon as every list has moved past it, then dropped. Memory is
//! one namespace plus a few pages per kind, however large the cluster.

use super::list::{self, Batch, Failure, Job};
use super::{ConnectError, Connection, Progress, ScanError, Scope};
use crate::inventory::{namespaced_kinds, store, Inventory, NAMESPACED_KINDS as NAMESPACED};
use kube::api::{Api, ListParams};
use kube::Resource;
use serde::de::DeserializeOwned;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A run of objects of one kind in one namespace (a list page may hold several).
type Chunk = Result<(String, Batch), kube::Error>;

/// Lists `api` page by page and sends the objects in runs per namespace.
async fn produce<K>(
    api: Api<K>,
    lp: ListParams,
    wrap: impl Fn(Vec<K>) -> Batch,
    tx: mpsc::Sender<Chunk>,
    progress: Arc<Progress>,
) where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + 'static,
{
    let mut lp = lp.limit(500);
    loop {
        let page = match api.list(&lp).await {
            Ok(p) => p,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                break;
            }
        };
        progress.objects.fetch_add(page.items.len(), Ordering::Relaxed);
        let mut run: Vec<K> = Vec::new();
        let mut run_ns = String::new();
        for mut o in page.items {
            crate::inventory::slim(&mut o);
            let ns = o.meta().namespace.clone().unwrap_or_default();
            if ns != run_ns && !run.is_empty() {
                let done = std::mem::take(&mut run);
                if tx.send(Ok((std::mem::take(&mut run_ns), wrap(done)))).await.is_err() {
                    return;
                }
            }
            run_ns = ns;
            run.push(o);
        }
        if !run.is_empty() && tx.send(Ok((run_ns, wrap(run)))).await.is_err() {
            return;
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = lp.continue_token(&c),
            None => break,
        }
    }
    progress.lists_done.fetch_add(1, Ordering::Relaxed);
}

fn spawn_kind(
    c: &kube::Client,
    kind: &'static str,
    progress: &Arc<Progress>,
) -> mpsc::Receiver<Chunk> {
    let (tx, rx) = mpsc::channel(8);
    let p = progress.clone();
    macro_rules! namespaced {
        ($(($f:ident, $t:ty, $g:literal, $k:literal, $plural:literal, $labels:literal, $how:ident)),* $(,)?) => {
            match kind {
                $($plural => {
                    let wrap = |v: Vec<$t>| -> Batch {
                        Box::new(move |inv: &mut Inventory| {
                            inv.$f.extend(v.into_iter().map(|o| store!($how, o)))
                        })
                    };
                    // Detached: it ends with its list (or when the merge stops receiving).
                    drop(tokio::spawn(produce(
                        Api::<$t>::all(c.clone()),
                        list::params($labels),
                        wrap,
                        tx,
                        p,
                    )));
                })*
                // Not a namespaced kind of the table: nothing comes.
                _ => {}
            }
        };
    }
    namespaced_kinds!(namespaced);
    rx
}

/// One kind's list as the merge sees it.
struct Source {
    kind: &'static str,
    rx: mpsc::Receiver<Chunk>,
    next: Option<(String, Batch)>,
    done: bool,
    /// The last namespace taken, to check the server's ordering.
    last: String,
}

impl Source {
    /// Makes `next` hold the following run (or marks the list done). A failed list is
    /// recorded like a failed job of the buffered scan.
    async fn fill(
        &mut self,
        conn: &Connection,
        base: &mut Inventory,
        failed: &mut Vec<(Job, Failure)>,
    ) -> Result<(), ConnectError> {
        if self.next.is_some() || self.done {
            return Ok(());
        }
        match self.rx.recv().await {
            None => self.done = true,
            Some(Ok((ns, b))) => {
                if ns < self.last {
                    return Err(ConnectError::BadContext {
                        context: conn.context.clone(),
                        reason: format!(
                            "the API server listed {} out of namespace order ({ns:?} after {:?}); scan with -n NAMESPACE",
                            self.kind, self.last
                        ),
                    });
                }
                self.last.clone_from(&ns);
                self.next = Some((ns, b));
            }
            Some(Err(e)) => {
                self.done = true;
                let f = list::classify(e, self.kind);
                if let Failure::Unreachable(reason) = f {
                    return Err(ConnectError::Unreachable {
                        server: conn.server.clone(),
                        context: conn.context.clone(),
                        reason,
                    });
                }
                if !matches!(f, Failure::Missing) {
                    base.unreadable.insert((String::new(), self.kind.to_string()));
                }
                failed.push((Job { kind: self.kind, ns: None }, f));
            }
        }
        Ok(())
    }
}

/// Lists everything the rules read within `scope` and calls `each` once per namespace, in
/// namespace order, with that namespace's objects and the cluster-scoped ones. Returns the
/// errors (forbidden kinds and namespaces) like [`super::list_inventory`].
pub async fn for_each_namespace(
    conn: &Connection,
    scope: &Scope,
    progress: Arc<Progress>,
    each: &mut dyn FnMut(&Inventory),
) -> Result<Vec<ScanError>, ConnectError> {
    let mut errors = Vec::new();
    let namespaces = list::namespaces_to_scan(conn, scope, &mut errors).await?;
    let mut base = Inventory { live: true, ..Default::default() };
    let mut cluster_jobs: Vec<Job> =
        list::CLUSTER_LISTS.into_iter().map(|kind| Job { kind, ns: None }).collect();
    if namespaces.is_none() {
        cluster_jobs.push(Job { kind: "namespaces", ns: None });
    }
    let mut failed = list::run_jobs(conn, cluster_jobs, &mut base, &progress).await?;
    match namespaces {
        Some(list) => {
            let mut list = list;
            list.sort();
            list.dedup();
            for ns in list {
                let jobs =
                    NAMESPACED.iter().map(|k| Job { kind: k, ns: Some(ns.clone()) }).collect();
                failed.extend(list::run_jobs(conn, jobs, &mut base, &progress).await?);
                each(&base);
                base.clear_namespaced();
            }
        }
        None => {
            progress.lists_total.fetch_add(NAMESPACED.len(), Ordering::Relaxed);
            let mut sources: Vec<Source> = NAMESPACED
                .iter()
                .map(|k| Source {
                    kind: k,
                    rx: spawn_kind(&conn.client, k, &progress),
                    next: None,
                    done: false,
                    last: String::new(),
                })
                .collect();
            loop {
                for s in &mut sources {
                    s.fill(conn, &mut base, &mut failed).await?;
                }
                let Some(ns) =
                    sources.iter().filter_map(|s| s.next.as_ref().map(|(n, _)| n)).min().cloned()
                else {
                    break;
                };
                for s in &mut sources {
                    while s.next.as_ref().is_some_and(|(n, _)| *n == ns) {
                        if let Some((_, b)) = s.next.take() {
                            b(&mut base);
                        }
                        s.fill(conn, &mut base, &mut failed).await?;
                    }
                }
                each(&base);
                base.clear_namespaced();
            }
        }
    }
    list::report_failures(failed, &mut errors);
    Ok(errors)
}
