//! The embedded demo cluster: a Kubernetes-compatible API server on 127.0.0.1 with TLS and
//! bearer tokens, serving the demo data (README: The demo cluster). Used by `--demo`, by `raydar
//! demo-server`, and by every test that touches Kubernetes.
//!
//! It owns no knowledge of raydar's features: it is a small kube-apiserver, nothing more.

mod apply;
mod auth;
mod backends;
pub mod catalog;
pub mod data;
pub(crate) mod defaults;
mod discovery;
mod named;
pub mod patch;
mod portforward;
mod proto;
mod ray_schema;
mod read;
pub mod select;
mod server;
pub mod status;
mod store;
mod table;
mod tls;
pub mod validate;
mod write;

pub use auth::{LIMITED_FULL_NS, LIMITED_READ_NS, LIMITED_USER};
pub use backends::Backend;

use anyhow::Context as _;
use defaults::Alloc;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use store::{EventType, Store};

/// Which of the three demo users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoUser {
    /// Allowed everything.
    Admin,
    /// get/list/watch everywhere except Secrets; no writes.
    Viewer,
    /// Full access in `ray-dev`, read-only in `ml-team` (no NetworkPolicies, no Secrets),
    /// may list namespaces, nothing else.
    Limited,
}

impl DemoUser {
    pub const ALL: [DemoUser; 3] = [DemoUser::Admin, DemoUser::Viewer, DemoUser::Limited];

    fn index(self) -> usize {
        match self {
            Self::Admin => 0,
            Self::Viewer => 1,
            Self::Limited => 2,
        }
    }

    /// The kubeconfig context name of this user.
    pub fn context(self) -> &'static str {
        match self {
            Self::Admin => "raydar-demo",
            Self::Viewer => "raydar-demo-viewer",
            Self::Limited => "raydar-demo-limited",
        }
    }
}

/// What the demo kubeconfig calls its cluster and admin context (`--name` changes it).
pub const DEFAULT_NAME: &str = "raydar-demo";

/// What to load and where to listen.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Generate `clusters` clusters over `namespaces` namespaces instead of the named demo.
    pub population: Option<(usize, usize)>,
    /// 0 picks a free port.
    pub port: u16,
    /// Clusters whose head dashboard port reaches a real local process (a Ray you started)
    /// instead of the fake dashboard.
    pub backends: Vec<Backend>,
    /// The Ray token the backed clusters that use token auth keep in their Secret.
    pub ray_token: Option<String>,
    /// Every response waits this long first (a remote API server, for benchmarks).
    pub latency: Duration,
}

/// An injected failure: the next `times` requests whose method matches and whose path contains
/// `path_contains` get `code` with a Status body.
#[derive(Debug, Clone)]
struct ErrorFault {
    method: Option<String>,
    path_contains: String,
    code: u16,
    times: u32,
}

#[derive(Debug, Default)]
struct Faults {
    latency: Duration,
    /// Extra latency for requests whose path contains the text.
    slow_paths: Vec<(String, Duration)>,
    errors: Vec<ErrorFault>,
}

/// Counters tests and benchmarks read.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub forwards_opened: AtomicU64,
}

/// The shared state of a running server.
pub struct App {
    store: Mutex<Store>,
    alloc: Mutex<Alloc>,
    users: Vec<auth::User>,
    faults: Mutex<Faults>,
    cut_watches: tokio::sync::watch::Sender<u64>,
    jobs: Mutex<HashMap<String, Vec<Value>>>,
    packages: Mutex<HashMap<String, u64>>,
    pub stats: Stats,
    backends: Vec<Backend>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl App {
    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
    fn alloc(&self) -> MutexGuard<'_, Alloc> {
        lock(&self.alloc)
    }

    fn take_fault(&self, method: &axum::http::Method, path: &str) -> (Duration, Option<u16>) {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut f = lock(&self.faults);
        let mut hit = None;
        if let Some(e) = f.errors.iter_mut().find(|e| {
            e.times > 0
                && path.contains(&e.path_contains)
                && e.method.as_deref().is_none_or(|m| m == method.as_str())
        }) {
            e.times -= 1;
            hit = Some(e.code);
        }
        f.errors.retain(|e| e.times > 0);
        let slow = f.slow_paths.iter().filter(|(p, _)| path.contains(p.as_str())).map(|(_, d)| *d);
        (f.latency + slow.sum::<Duration>(), hit)
    }
}

/// A fresh Ray auth token (the value KubeRay would put in the cluster's Secret).
pub(crate) fn auth_token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..40)
        .map(|_| {
            char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                    [rng.random_range(0..62)],
            )
        })
        .collect()
}

fn load(store: &mut Store, seeds: Vec<Value>) -> anyhow::Result<()> {
    for mut obj in seeds {
        let av = obj["apiVersion"].as_str().unwrap_or("").to_string();
        let kn = obj["kind"].as_str().unwrap_or("").to_string();
        let k = catalog::find_gvk(&av, &kn)
            .with_context(|| format!("demo data: unknown kind {av} {kn}"))?;
        if obj.pointer("/metadata/uid").is_none() {
            obj["metadata"]["uid"] = Value::String(store.next_uid());
        }
        if obj.pointer("/metadata/creationTimestamp").is_none() {
            obj["metadata"]["creationTimestamp"] = Value::String(server::now_rfc3339());
        }
        if obj.get("spec").is_some() && obj.pointer("/metadata/generation").is_none() {
            obj["metadata"]["generation"] = Value::from(1);
        }
        store.put_initial(k, obj);
    }
    Ok(())
}

/// The named demo data as manifests a real API server takes: what the demo server holds,
/// less what a server generates (uid, resourceVersion, creationTimestamp, generation, cluster
/// IPs). `status` is kept: it is what the operator and kubelet would report, and a loader writes
/// it through the status subresource. Namespaces come first.
pub fn manifests() -> Vec<Value> {
    let mut alloc = Alloc::default();
    as_manifests(named::named(chrono::Utc::now().timestamp(), &mut alloc))
}

/// The generated population (`--namespaces N --clusters N`) as manifests, like [`manifests`].
pub fn population_manifests(namespaces: usize, clusters: usize) -> Vec<Value> {
    let mut alloc = Alloc::default();
    as_manifests(data::population(namespaces, clusters, chrono::Utc::now().timestamp(), &mut alloc))
}

fn as_manifests(seeds: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = seeds
        .into_iter()
        .map(|mut o| {
            if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                for k in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
                    m.remove(k);
                }
            }
            if o["kind"] == "Service" {
                if let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut) {
                    if spec.get("clusterIP").is_some_and(|ip| ip != "None") {
                        spec.remove("clusterIP");
                        spec.remove("clusterIPs");
                    }
                }
            }
            o
        })
        .collect();
    out.sort_by_key(|o| o["kind"] != "Namespace");
    out
}

/// A running demo API server. Dropping it stops it.
pub struct DemoServer {
    app: Arc<App>,
    addr: SocketAddr,
    ca_pem: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl DemoServer {
    /// Starts the server on 127.0.0.1 and loads the data. Needs a Tokio runtime.
    pub async fn start(opts: DemoOptions) -> anyhow::Result<Self> {
        let users = auth::demo_users();
        let mut store = Store::new(20_000);
        let mut alloc = Alloc::default();
        let now = chrono::Utc::now().timestamp();
        let seeds = match opts.population {
            None => named::named(now, &mut alloc),
            Some((ns, clusters)) => data::population(ns, clusters, now, &mut alloc),
        };
        load(&mut store, seeds)?;
        for b in &opts.backends {
            backends::back(&mut store, b, opts.ray_token.as_deref())?;
        }
        let (cut_watches, _) = tokio::sync::watch::channel(0);
        let app = Arc::new(App {
            store: Mutex::new(store),
            alloc: Mutex::new(alloc),
            users,
            faults: Mutex::new(Faults { latency: opts.latency, ..Faults::default() }),
            cut_watches,
            jobs: Mutex::new(HashMap::new()),
            packages: Mutex::new(HashMap::new()),
            stats: Stats::default(),
            backends: opts.backends.clone(),
        });
        let tls = tls::generate().context("generating the demo server's TLS certificate")?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
            .await
            .with_context(|| format!("binding 127.0.0.1:{}", opts.port))?;
        let addr = listener.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.server.clone());
        let router = axum::Router::new().fallback(server::handle).with_state(app.clone());
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    acc = listener.accept() => {
                        let Ok((tcp, _)) = acc else { continue };
                        let _ = tcp.set_nodelay(true);
                        let acceptor = acceptor.clone();
                        let router = router.clone();
                        conns.spawn(async move {
                            let Ok(tls) = acceptor.accept(tcp).await else { return };
                            let svc = hyper_util::service::TowerToHyperService::new(router);
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                                .with_upgrades()
                                .await;
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
            conns.abort_all();
        });
        Ok(Self { app, addr, ca_pem: tls.ca_pem, shutdown: Some(tx) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn token(&self, user: DemoUser) -> &str {
        &self.app.users[user.index()].token
    }

    pub fn user_name(&self, user: DemoUser) -> &str {
        &self.app.users[user.index()].name
    }

    /// A kubeconfig with one context per user; `current` is the current context.
    pub fn kubeconfig(&self, current: DemoUser) -> String {
        self.kubeconfig_named(current, DEFAULT_NAME)
    }

    /// The kubeconfig with its cluster called `name` and its contexts and users named after it
    /// (`name`, `name-viewer`, `name-limited`; users `name/raydar-admin`…), so that several
    /// demo servers share one `KUBECONFIG` as a fleet's clusters do.
    pub fn kubeconfig_named(&self, current: DemoUser, name: &str) -> String {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        let context = |u: DemoUser| u.context().replacen(DEFAULT_NAME, name, 1);
        let user = |u: DemoUser| match name {
            DEFAULT_NAME => self.user_name(u).to_string(),
            _ => format!("{name}/{}", self.user_name(u)),
        };
        let mut s = format!(
            "apiVersion: v1\nkind: Config\npreferences: {{}}\ncurrent-context: {}\nclusters:\n- name: {name}\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\ncontexts:\n",
            context(current),
            self.url()
        );
        for u in DemoUser::ALL {
            s.push_str(&format!("- name: {}\n  context:\n    cluster: {name}\n    user: {}\n    namespace: default\n", context(u), user(u)));
        }
        s.push_str("users:\n");
        for u in DemoUser::ALL {
            s.push_str(&format!("- name: {}\n  user:\n    token: {}\n", user(u), self.token(u)));
        }
        s
    }

    /// Writes the kubeconfig (mode 0600: it holds tokens).
    pub fn write_kubeconfig(
        &self,
        path: &std::path::Path,
        current: DemoUser,
    ) -> anyhow::Result<()> {
        self.write_kubeconfig_named(path, current, DEFAULT_NAME)
    }

    /// [`Self::kubeconfig_named`], written to `path`.
    pub fn write_kubeconfig_named(
        &self,
        path: &std::path::Path,
        current: DemoUser,
        name: &str,
    ) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, self.kubeconfig_named(current, name))
            .with_context(|| format!("writing {}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }

    /// A kube `Client` for `user`, built from the kubeconfig like any real cluster's.
    pub async fn client(&self, user: DemoUser) -> anyhow::Result<kube::Client> {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig(user))?;
        let opts = kube::config::KubeConfigOptions {
            context: Some(user.context().into()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kc, &opts).await?;
        Ok(kube::Client::try_from(config)?)
    }

    pub fn stats(&self) -> &Stats {
        &self.app.stats
    }

    /// Number of stored objects of a kind (by plural and group), for tests and benchmarks.
    pub fn count(&self, group: &str, plural: &str) -> usize {
        catalog::KINDS
            .iter()
            .position(|k| k.group == group && k.plural == plural)
            .map_or(0, |k| self.app.store().count(k))
    }

    // -- fault hooks ---------------------------------------------------------------------------

    /// Every request waits this long first.
    pub fn set_latency(&self, d: Duration) {
        lock(&self.app.faults).latency = d;
    }

    /// Requests whose path contains `path_contains` take `d` longer (until `clear_faults`).
    pub fn slow_down(&self, path_contains: &str, d: Duration) {
        lock(&self.app.faults).slow_paths.push((path_contains.to_string(), d));
    }

    /// The next `times` requests (`method` or any) whose path contains `path_contains` fail.
    pub fn inject_error(&self, method: Option<&str>, path_contains: &str, code: u16, times: u32) {
        lock(&self.app.faults).errors.push(ErrorFault {
            method: method.map(str::to_string),
            path_contains: path_contains.to_string(),
            code,
            times,
        });
    }

    pub fn clear_faults(&self) {
        *lock(&self.app.faults) = Faults::default();
    }

    /// Ends every open watch stream (clients reconnect from their last resourceVersion).
    pub fn cut_watches(&self) {
        self.app.cut_watches.send_modify(|n| *n += 1);
    }

    /// Forgets the event history: watches from older resourceVersions get 410 Gone.
    pub fn compact(&self) {
        self.app.store().compact();
    }

    /// Deletes a pod (as if it crashed and was removed). Returns whether it existed.
    pub fn delete_pod(&self, ns: &str, name: &str) -> bool {
        let k = catalog::find("", "v1", "pods").unwrap_or(0);
        self.app.store().remove(k, ns, name).is_some()
    }

    /// Replaces a pod the way a controller does: the old pod is deleted and a new one with a
    /// fresh name and uid is created, not Ready at first; it becomes Ready after `ready_after`.
    /// Returns the new pod's name.
    pub fn replace_pod(
        &self,
        ns: &str,
        name: &str,
        ready_after: Duration,
    ) -> anyhow::Result<String> {
        let k = catalog::find("", "v1", "pods").unwrap_or(0);
        let new_name;
        {
            let mut store = self.app.store();
            let old =
                store.remove(k, ns, name).with_context(|| format!("pod {ns}/{name} not found"))?;
            let mut v = old.value.clone();
            let base = name.rsplit_once('-').map_or(name, |(b, _)| b);
            new_name = format!("{base}-{}", data::suffix(&format!("{name}/{}", store.rv())));
            v["metadata"]["name"] = Value::String(new_name.clone());
            v["metadata"]["uid"] = Value::String(store.next_uid());
            v["metadata"]["creationTimestamp"] = Value::String(server::now_rfc3339());
            if let Some(m) = v["metadata"].as_object_mut() {
                m.remove("deletionTimestamp");
                m.remove("managedFields");
            }
            set_ready(&mut v, false);
            store.put(k, v, EventType::Added);
        }
        let app = self.app.clone();
        let (ns, n) = (ns.to_string(), new_name.clone());
        tokio::spawn(async move {
            tokio::time::sleep(ready_after).await;
            let mut store = app.store();
            if let Some(p) = store.get(k, &ns, &n) {
                let mut v = p.value.clone();
                set_ready(&mut v, true);
                store.put(k, v, EventType::Modified);
            }
        });
        Ok(new_name)
    }

    /// Stores an object directly (bypassing the API), as a controller or webhook would.
    pub fn put(&self, obj: Value) -> anyhow::Result<()> {
        let av = obj["apiVersion"].as_str().unwrap_or("");
        let kn = obj["kind"].as_str().unwrap_or("");
        let k = catalog::find_gvk(av, kn).with_context(|| format!("unknown kind {av} {kn}"))?;
        let mut store = self.app.store();
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let ty =
            if store.get(k, ns, name).is_some() { EventType::Modified } else { EventType::Added };
        let mut obj = obj.clone();
        if obj.pointer("/metadata/uid").is_none() {
            obj["metadata"]["uid"] = Value::String(store.next_uid());
        }
        store.put(k, obj, ty);
        Ok(())
    }

    /// Serves a pod's backend (what a port-forward to `port` reaches) directly on a loopback
    /// TCP port: the "direct loopback" baseline for forward benchmarks. The listener stops with
    /// the returned task.
    pub async fn serve_backend_directly(
        &self,
        ns: &str,
        pod: &str,
        port: u16,
    ) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (app, ns, pod) = (self.app.clone(), ns.to_string(), pod.to_string());
        let task = tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
                let (app, ns, pod) = (app.clone(), ns.clone(), pod.clone());
                tokio::spawn(async move {
                    if let Ok(mut backend) = backends::connect(&app, &ns, &pod, port).await {
                        let _ = tokio::io::copy_bidirectional(&mut tcp, &mut backend).await;
                    }
                });
            }
        });
        Ok((addr, task))
    }

    /// Stops accepting connections and ends the server task.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.cut_watches();
    }
}

fn set_ready(pod: &mut Value, ready: bool) {
    let s = if ready { "True" } else { "False" };
    for c in
        pod.pointer_mut("/status/conditions").and_then(Value::as_array_mut).into_iter().flatten()
    {
        if c["type"] == "Ready" || c["type"] == "ContainersReady" {
            c["status"] = Value::String(s.into());
        }
    }
    for c in pod
        .pointer_mut("/status/containerStatuses")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        c["ready"] = Value::Bool(ready);
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.stop();
    }
}
