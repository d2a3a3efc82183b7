//! Dashboard (and client/serve) access through the Kubernetes port-forward API with the user's
//! own credentials: never an exposed Service. Listens on loopback only; follows the head pod, so
//! new connections go to the replacement when it is Ready, and a connection that arrives while
//! no head is Ready waits (bounded) instead of failing. Counts everything per forward.
//!
//! HTTP targets go through the token gate (`gate.rs`) unless `gate` is off; the Ray Client
//! target is raw TCP (gRPC).

mod gate;
pub use gate::new_token;

use gate::{Gate, Verdict};

use crate::model::Pod;
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Which head port to forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadPort {
    Dashboard,
    Client,
    Serve,
}

impl HeadPort {
    /// The container port name KubeRay uses, and its default number.
    pub fn port(self) -> (&'static str, u16) {
        match self {
            Self::Dashboard => ("dashboard", 8265),
            Self::Client => ("client", 10001),
            Self::Serve => ("serve", 8000),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ForwardSpec {
    pub namespace: String,
    pub cluster: String,
    pub target: HeadPort,
    /// Local port; None picks a free one.
    pub local_port: Option<u16>,
    /// Must be a loopback address.
    pub bind: IpAddr,
    /// How long a connection waits for a Ready head before it is closed.
    pub wait: Duration,
    /// Put the token gate in front (HTTP targets).
    pub gate: bool,
}

impl ForwardSpec {
    pub fn new(namespace: &str, cluster: &str, target: HeadPort) -> Self {
        Self {
            namespace: namespace.into(),
            cluster: cluster.into(),
            target,
            local_port: None,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            wait: Duration::from_secs(30),
            gate: target != HeadPort::Client,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ForwardError {
    #[error("{0}")]
    Forbidden(String),
    #[error("refusing to listen on {0}: raydar forwards listen on loopback only (127.0.0.1)")]
    NotLoopback(IpAddr),
    #[error("local port {0} is busy ({1}); pick another with --port or leave it out")]
    PortBusy(u16, String),
    #[error("{0}")]
    NoHead(String),
    #[error("{0}")]
    Api(String),
}

/// Live numbers of one forward.
#[derive(Debug, Default)]
pub struct Stats {
    pub open: AtomicU64,
    pub total: AtomicU64,
    /// From the pod to the local client.
    pub bytes_down: AtomicU64,
    /// From the local client to the pod.
    pub bytes_up: AtomicU64,
    /// Times the head pod changed under the forward.
    pub reconnects: AtomicU64,
    pub last_error: Mutex<Option<String>>,
    pub pod: Mutex<Option<String>>,
}

impl Stats {
    fn error(&self, e: String) {
        tracing::warn!("forward: {e}");
        if let Ok(mut le) = self.last_error.lock() {
            *le = Some(e);
        }
    }
    pub fn summary(&self) -> String {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "pod {} · {} open / {} total connections · {} B down / {} B up · {} reconnects{}",
            self.pod.lock().ok().and_then(|p| p.clone()).unwrap_or_else(|| "-".into()),
            l(&self.open),
            l(&self.total),
            l(&self.bytes_down),
            l(&self.bytes_up),
            l(&self.reconnects),
            self.last_error
                .lock()
                .ok()
                .and_then(|e| e.clone())
                .map(|e| format!(" · last error: {e}"))
                .unwrap_or_default()
        )
    }
}

/// The head pod a forward currently targets.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    pod: String,
    port: u16,
}

/// A running forward; dropping it stops the listener, closes every open connection and
/// upstream stream at once, and voids every session and unused sign-in link of its gate.
pub struct Forward {
    pub local: SocketAddr,
    pub stats: Arc<Stats>,
    /// The gate's header token for scripts (None for raw forwards). Never logged.
    pub token: Option<String>,
    /// The gate, which mints the one-time sign-in links.
    gate: Option<Arc<Gate>>,
    /// Whether the cluster's Ray token is added upstream.
    pub ray_token: bool,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Cancels every task of the forward, the connections' too: they are owned by it, never
    /// detached.
    stop: CancellationToken,
}

impl Forward {
    /// The clean URL (what the browser shows after signing in).
    pub fn url(&self) -> String {
        format!("http://{}", self.local)
    }
    /// A URL to open in a browser: for gated forwards, a fresh one-time sign-in link (each call
    /// mints one; it is void once used).
    pub fn login_url(&self) -> String {
        match &self.gate {
            Some(g) => format!("http://{}/?raydar_token={}", self.local, g.new_link()),
            None => self.url(),
        }
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.stop.cancel();
        for t in &self.tasks {
            t.abort();
        }
        if let Some(g) = &self.gate {
            g.revoke();
        }
    }
}

/// Runs `work` on the runtime until it ends or `stop` is cancelled, whichever comes first:
/// a stopped forward drops its connections (closing their sockets and streams) at once.
fn spawn_owned<F>(stop: &CancellationToken, work: F)
where
    F: std::future::Future + Send + 'static,
{
    let stop = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = work => {}
        }
    });
}

/// Counts a connection open for as long as it lives, however it ends (cancelled included).
struct Open(Arc<Stats>);

impl Open {
    fn new(stats: &Arc<Stats>) -> Self {
        stats.open.fetch_add(1, Ordering::Relaxed);
        stats.total.fetch_add(1, Ordering::Relaxed);
        Open(stats.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// After an `accept` error (out of file descriptors, …): wait before trying again, longer each
/// time up to a second, so a failing listener never spins a core.
fn accept_backoff(failures: u32) -> Duration {
    Duration::from_millis(10u64.saturating_mul(1 << failures.min(7)).min(1000))
}

fn ready_head(pods: &[&Pod], target: HeadPort) -> Option<Head> {
    let p = pods
        .iter()
        .filter(|p| p.is_ready() && p.metadata.deletion_timestamp.is_none())
        .max_by_key(|p| p.metadata.creation_timestamp.clone())?;
    let (name, default) = target.port();
    let port = p
        .spec
        .containers
        .iter()
        .flat_map(|c| &c.ports)
        .find(|cp| cp.name.as_deref() == Some(name))
        .map_or(default, |cp| u16::try_from(cp.container_port).unwrap_or(default));
    Some(Head { pod: p.metadata.name.clone()?, port })
}

/// Asks the API server whether the user may open port-forwards in the namespace.
async fn may_forward(client: &kube::Client, ns: &str) -> Result<bool, ForwardError> {
    let review: SelfSubjectAccessReview = serde_json::from_value(serde_json::json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": ns, "verb": "create", "resource": "pods", "subresource": "portforward"}}}))
    .map_err(|e| ForwardError::Api(e.to_string()))?;
    let out = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .map_err(|e| {
            ForwardError::Api(format!("access review: {}", crate::cluster::root_cause(&e)))
        })?;
    Ok(out.status.is_some_and(|s| s.allowed))
}

/// Starts a forward: RBAC pre-check, head lookup, loopback listener, head watcher.
pub async fn start(client: kube::Client, spec: ForwardSpec) -> Result<Forward, ForwardError> {
    if !spec.bind.is_loopback() {
        return Err(ForwardError::NotLoopback(spec.bind));
    }
    let who = format!("{}/{}", spec.namespace, spec.cluster);
    if !may_forward(&client, &spec.namespace).await? {
        return Err(ForwardError::Forbidden(format!(
            "{who}: forbidden to create pods/portforward in namespace {} (RBAC); ask for 'create pods/portforward' there",
            spec.namespace
        )));
    }
    let selector = format!("ray.io/cluster={},ray.io/node-type=head", spec.cluster);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &spec.namespace);
    let listed = pods.list(&ListParams::default().labels(&selector)).await.map_err(|e| {
        ForwardError::Api(format!("{who}: listing head pods: {}", crate::cluster::root_cause(&e)))
    })?;
    if listed.items.is_empty() {
        return Err(ForwardError::NoHead(format!(
            "{who}: no head pod (labels {selector}); is the RayCluster there?"
        )));
    }
    let first = ready_head(&listed.items.iter().collect::<Vec<_>>(), spec.target);
    let port = match spec.local_port {
        Some(p) => p,
        None => portpicker::pick_unused_port()
            .ok_or_else(|| ForwardError::PortBusy(0, "no free local port".into()))?,
    };
    let listener = TcpListener::bind((spec.bind, port))
        .await
        .map_err(|e| ForwardError::PortBusy(port, e.to_string()))?;
    let local = listener.local_addr().map_err(|e| ForwardError::Api(e.to_string()))?;
    let stats = Arc::new(Stats::default());
    if let (Some(h), Ok(mut p)) = (&first, stats.pod.lock()) {
        *p = Some(h.pod.clone());
    }
    let (head_tx, head_rx) = watch::channel(first);

    // Follow the head: a replacement becomes the target once it is Ready.
    let watch_stats = stats.clone();
    let target = spec.target;
    let head_task = tokio::spawn(async move {
        let (store, writer) = kube::runtime::reflector::store();
        let stream = kube::runtime::reflector::reflector(
            writer,
            watcher(pods, watcher::Config::default().labels(&selector)).default_backoff(),
        );
        futures::pin_mut!(stream);
        use futures::StreamExt;
        // The last pod served, across gaps with no Ready head (a replacement counts once).
        let mut last_pod: Option<String> = head_tx.borrow().as_ref().map(|h| h.pod.clone());
        while let Some(ev) = stream.next().await {
            if let Err(e) = ev {
                watch_stats.error(format!("watching the head pod: {e}"));
                continue;
            }
            let state = store.state();
            let now = ready_head(&state.iter().map(|p| &**p).collect::<Vec<_>>(), target);
            if *head_tx.borrow() != now {
                if let Some(h) = &now {
                    if last_pod.as_ref().is_some_and(|p| *p != h.pod) {
                        watch_stats.reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    last_pod = Some(h.pod.clone());
                    if let Ok(mut p) = watch_stats.pod.lock() {
                        *p = Some(h.pod.clone());
                    }
                }
                let _ = head_tx.send(now);
            }
        }
    });

    let ray_token =
        if spec.gate { ray_token(&client, &spec.namespace, &spec.cluster).await } else { None };
    let gate = spec.gate.then(|| Arc::new(Gate::new(local.port(), ray_token.clone())));
    let token = gate.as_ref().map(|g| g.token.clone());
    let own_gate = gate.clone();
    let pf_api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client, &spec.namespace);
    let accept_stats = stats.clone();
    let wait = spec.wait;
    let stop = CancellationToken::new();
    let accept_stop = stop.clone();
    let accept_task = tokio::spawn(async move {
        let mut failures = 0u32;
        loop {
            let conn = match listener.accept().await {
                Ok((conn, _)) => {
                    failures = 0;
                    conn
                }
                Err(e) => {
                    // Reported once per run of failures, then retried with backoff.
                    if failures == 0 {
                        accept_stats.error(format!("accepting local connections: {e}"));
                    }
                    failures += 1;
                    tokio::time::sleep(accept_backoff(failures)).await;
                    continue;
                }
            };
            let _ = conn.set_nodelay(true);
            let (api, stats, rx) = (pf_api.clone(), accept_stats.clone(), head_rx.clone());
            let s = accept_stop.clone();
            match &gate {
                None => spawn_owned(&accept_stop, connection(conn, api, stats, rx, wait, s)),
                Some(g) => {
                    let g = g.clone();
                    spawn_owned(&accept_stop, gated_connection(conn, api, stats, rx, wait, g, s))
                }
            }
        }
    });
    Ok(Forward {
        local,
        stats,
        token,
        gate: own_gate,
        ray_token: ray_token.is_some(),
        tasks: vec![head_task, accept_task],
        stop,
    })
}

/// Waits until the head is Ready and is not `avoid` (a pod that just failed), or the deadline.
async fn wait_for_head(
    rx: &mut watch::Receiver<Option<Head>>,
    avoid: Option<&str>,
    deadline: tokio::time::Instant,
) -> Option<Head> {
    let got = tokio::time::timeout_at(
        deadline,
        rx.wait_for(|h| h.as_ref().is_some_and(|h| Some(h.pod.as_str()) != avoid)),
    )
    .await;
    match got {
        Ok(Ok(h)) => h.clone(),
        _ => None,
    }
}

/// Opens the upstream stream: the current Ready head, or — when the port-forward to it fails
/// (it was just deleted, the watch has not caught up) — the next one, until the deadline.
async fn upstream(
    api: &Api<k8s_openapi::api::core::v1::Pod>,
    stats: &Stats,
    rx: &mut watch::Receiver<Option<Head>>,
    wait: Duration,
    stop: &CancellationToken,
) -> Option<(String, tokio::io::DuplexStream)> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut failed: Option<String> = None;
    loop {
        let Some(head) = wait_for_head(rx, failed.as_deref(), deadline).await else {
            stats.error(format!("no Ready head pod within {}s; connection closed", wait.as_secs()));
            return None;
        };
        match api.portforward(&head.pod, &[head.port]).await {
            Ok(mut pf) => match pf.take_stream(head.port) {
                Some(s) => {
                    // Keep the forwarder's tasks running for as long as the stream is used,
                    // and no longer than the forward.
                    spawn_owned(stop, async move {
                        let _ = pf.join().await;
                    });
                    return Some((head.pod, s));
                }
                None => stats.error("port-forward stream missing".into()),
            },
            Err(e) => stats.error(format!(
                "port-forward to {}: {}",
                head.pod,
                crate::cluster::root_cause(&e)
            )),
        }
        failed = Some(head.pod);
    }
}

async fn connection(
    mut conn: TcpStream,
    api: Api<k8s_openapi::api::core::v1::Pod>,
    stats: Arc<Stats>,
    mut rx: watch::Receiver<Option<Head>>,
    wait: Duration,
    stop: CancellationToken,
) {
    let _open = Open::new(&stats);
    if let Some((pod, mut up)) = upstream(&api, &stats, &mut rx, wait, &stop).await {
        match tokio::io::copy_bidirectional(&mut conn, &mut up).await {
            Ok((u, d)) => {
                stats.bytes_up.fetch_add(u, Ordering::Relaxed);
                stats.bytes_down.fetch_add(d, Ordering::Relaxed);
            }
            Err(e) => stats.error(format!("connection to {pod}: {e}")),
        }
    }
}

/// Why no browser can be opened from here, if none can: over SSH the browser is on another
/// machine; on Linux without `DISPLAY` or `WAYLAND_DISPLAY` there is no desktop to open it on.
/// `env` reads an environment variable (the process's own, or a test's).
pub fn no_browser_here(env: impl Fn(&str) -> Option<String>, linux: bool) -> Option<&'static str> {
    let set = |k: &str| env(k).is_some_and(|v| !v.is_empty());
    if set("SSH_CONNECTION") || set("SSH_TTY") {
        return Some("this is an SSH session: the browser is on your own machine");
    }
    if linux && !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
        return Some("no display here (neither DISPLAY nor WAYLAND_DISPLAY is set)");
    }
    None
}

/// Over SSH, the command that brings the forward's port to the user's own machine:
/// `ssh -L PORT:127.0.0.1:PORT HOST`, with the host the SSH session came in on.
pub fn ssh_tunnel_line(env: impl Fn(&str) -> Option<String>, port: u16) -> Option<String> {
    let conn = env("SSH_CONNECTION")?;
    // "client-ip client-port server-ip server-port"
    let host = conn.split_whitespace().nth(2)?.to_string();
    let user = env("USER").filter(|u| !u.is_empty()).map(|u| format!("{u}@")).unwrap_or_default();
    let host = if host.contains(':') { format!("[{host}]") } else { host };
    Some(format!("ssh -N -L {port}:127.0.0.1:{port} {user}{host}"))
}

/// Opens `url` in the browser through the machine's opener (`xdg-open`, macOS `open`), and
/// says so only when the opener exited 0 within a few seconds; it is always waited for
/// (never left a zombie). Blocking: call it off the UI thread. Err says why not.
pub fn open_browser(url: &str) -> Result<(), String> {
    if let Some(why) = no_browser_here(|k| std::env::var(k).ok(), cfg!(target_os = "linux")) {
        return Err(why.into());
    }
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let mut child = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("{opener} could not be started: {e}"))?;
    // At most 5 s, in steps of 50 ms.
    for _ in 0..100 {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("{opener} failed ({status})")),
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("{opener}: {e}")),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("{opener} did not finish within 5 s"))
}

/// What to tell the user when no browser opened: the whole one-time link, and over SSH the
/// tunnel line that brings it to their own machine.
pub fn link_instructions(why: &str, login_url: &str, port: u16) -> String {
    let mut out = format!("no browser opened ({why}): open {login_url} (good once)");
    if let Some(ssh) = ssh_tunnel_line(|k| std::env::var(k).ok(), port) {
        out.push_str(&format!(" after running on your machine: {ssh}"));
    }
    out
}

/// The cluster's Ray token (`authOptions.mode: token`), when the user may read its Secret.
async fn ray_token(client: &kube::Client, ns: &str, cluster: &str) -> Option<String> {
    let rcs: Api<crate::kuberay::RayCluster> = Api::namespaced(client.clone(), ns);
    let rc = rcs.get(cluster).await.ok()?;
    let auth = rc.spec.auth_options.as_ref()?;
    if auth.mode.as_deref() != Some("token") {
        return None;
    }
    let secret_name = auth.secret_name.clone().unwrap_or_else(|| cluster.to_string());
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
    let s = secrets.get(&secret_name).await.ok()?;
    let raw = s.data?.remove("auth_token")?.0;
    String::from_utf8(raw).ok().filter(|t| !t.is_empty())
}

/// Counts bytes both ways on the local connection.
struct Counted<T> {
    inner: T,
    stats: Arc<Stats>,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Counted<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        self.stats.bytes_up.fetch_add((buf.filled().len() - before) as u64, Ordering::Relaxed);
        r
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &r {
            self.stats.bytes_down.fetch_add(*n as u64, Ordering::Relaxed);
        }
        r
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

type Sender = hyper::client::conn::http1::SendRequest<hyper::body::Incoming>;

/// One local HTTP connection through the gate; one upstream connection behind it, reopened
/// (on the current head) when it closes.
async fn gated_connection(
    conn: TcpStream,
    api: Api<k8s_openapi::api::core::v1::Pod>,
    stats: Arc<Stats>,
    rx: watch::Receiver<Option<Head>>,
    wait: Duration,
    gate: Arc<Gate>,
    stop: CancellationToken,
) {
    let _open = Open::new(&stats);
    let up: Arc<tokio::sync::Mutex<Option<Sender>>> = Arc::new(tokio::sync::Mutex::new(None));
    let svc_stats = stats.clone();
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let (gate, up, api, stats, mut rx, stop) =
            (gate.clone(), up.clone(), api.clone(), svc_stats.clone(), rx.clone(), stop.clone());
        async move {
            let req = match gate.check(req) {
                Verdict::Answer(r) => return Ok::<_, std::convert::Infallible>(r),
                Verdict::Pass(r) => r,
            };
            Ok(proxy(req, &up, &api, &stats, &mut rx, wait, &stop).await)
        }
    });
    let io = hyper_util::rt::TokioIo::new(Counted { inner: conn, stats: stats.clone() });
    if let Err(e) =
        hyper::server::conn::http1::Builder::new().serve_connection(io, svc).with_upgrades().await
    {
        tracing::debug!("gated connection ended: {e}");
    }
}

/// Drops the cookie in which Ray (with token auth) hands a browser its token: behind the gate raydar
/// adds the token to each request itself, and the cluster's token never reaches the browser.
fn keep_ray_token_out(headers: &mut hyper::HeaderMap) {
    let cookies: Vec<hyper::header::HeaderValue> = headers
        .get_all(hyper::header::SET_COOKIE)
        .iter()
        .filter(|v| !v.as_bytes().starts_with(b"ray-authentication-token="))
        .cloned()
        .collect();
    headers.remove(hyper::header::SET_COOKIE);
    for c in cookies {
        headers.append(hyper::header::SET_COOKIE, c);
    }
}

async fn proxy(
    mut req: hyper::Request<hyper::body::Incoming>,
    up: &tokio::sync::Mutex<Option<Sender>>,
    api: &Api<k8s_openapi::api::core::v1::Pod>,
    stats: &Stats,
    rx: &mut watch::Receiver<Option<Head>>,
    wait: Duration,
    stop: &CancellationToken,
) -> hyper::Response<gate::Body> {
    use http_body_util::BodyExt;
    let mut guard = up.lock().await;
    if guard.as_ref().is_none_or(|s| s.is_closed()) {
        let Some((pod, stream)) = upstream(api, stats, rx, wait, stop).await else {
            return gate::page(hyper::StatusCode::SERVICE_UNAVAILABLE, "no Ray head is ready", &format!("no Ready head pod within {}s; raydar keeps watching and the next request may succeed.", wait.as_secs()));
        };
        match hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await {
            Ok((sender, conn)) => {
                spawn_owned(stop, async move {
                    let _ = conn.with_upgrades().await;
                });
                *guard = Some(sender);
            }
            Err(e) => {
                stats.error(format!("HTTP to {pod}: {e}"));
                return gate::page(
                    hyper::StatusCode::BAD_GATEWAY,
                    "upstream error",
                    "the Ray dashboard did not answer.",
                );
            }
        }
    }
    let Some(sender) = guard.as_mut() else {
        return gate::page(
            hyper::StatusCode::BAD_GATEWAY,
            "upstream error",
            "no upstream connection.",
        );
    };
    let wants_upgrade = req.headers().contains_key(hyper::header::UPGRADE);
    let client_upgrade = wants_upgrade.then(|| hyper::upgrade::on(&mut req));
    match sender.send_request(req).await {
        Ok(mut resp) => {
            if resp.status() == hyper::StatusCode::SWITCHING_PROTOCOLS {
                if let Some(cu) = client_upgrade {
                    let su = hyper::upgrade::on(&mut resp);
                    *guard = None;
                    spawn_owned(stop, async move {
                        if let (Ok(c), Ok(s)) = (cu.await, su.await) {
                            let (mut c, mut s) =
                                (hyper_util::rt::TokioIo::new(c), hyper_util::rt::TokioIo::new(s));
                            let _ = tokio::io::copy_bidirectional(&mut c, &mut s).await;
                        }
                    });
                }
            }
            keep_ray_token_out(resp.headers_mut());
            resp.map(|b| b.boxed())
        }
        Err(e) => {
            *guard = None;
            stats.error(format!("upstream request: {e}"));
            gate::page(
                hyper::StatusCode::BAD_GATEWAY,
                "upstream error",
                "the connection to the Ray head broke; retry.",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browser_is_tried_only_where_one_can_open() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert!(no_browser_here(env(&[("DISPLAY", ":0")]), true).is_none());
        assert!(no_browser_here(env(&[("WAYLAND_DISPLAY", "wayland-0")]), true).is_none());
        assert!(no_browser_here(env(&[]), true).unwrap().contains("no display"));
        assert!(no_browser_here(env(&[("DISPLAY", "")]), true).is_some());
        assert!(no_browser_here(env(&[]), false).is_none(), "macOS needs no DISPLAY");
        const SSH: &[(&str, &str)] =
            &[("DISPLAY", ":0"), ("SSH_CONNECTION", "10.1.2.3 50000 10.9.8.7 22"), ("USER", "ana")];
        assert!(no_browser_here(env(SSH), false).unwrap().contains("SSH"));
        assert_eq!(
            ssh_tunnel_line(env(SSH), 8265).as_deref(),
            Some("ssh -N -L 8265:127.0.0.1:8265 ana@10.9.8.7")
        );
        assert_eq!(ssh_tunnel_line(env(&[]), 8265), None);
        const V6: &[(&str, &str)] = &[("SSH_CONNECTION", "::1 50000 fe80::1 22")];
        assert_eq!(
            ssh_tunnel_line(env(V6), 1).as_deref(),
            Some("ssh -N -L 1:127.0.0.1:1 [fe80::1]")
        );
    }

    #[test]
    fn accept_errors_back_off_up_to_a_second() {
        assert_eq!(accept_backoff(1), Duration::from_millis(20));
        assert!(accept_backoff(3) > accept_backoff(2));
        assert_eq!(accept_backoff(50), Duration::from_secs(1));
    }
}
