//! A real control plane for the tests: etcd and kube-apiserver from `KUBEBUILDER_ASSETS`
//! (envtest's convention; `.ci/run` points it at `../shared/k8s`), started once per test run on
//! free loopback ports, with TLS from rcgen and three token users:
//!
//! - `raydar-admin` (`system:masters`);
//! - `raydar-viewer`: get/list/watch on everything raydar reads, no Secrets, no writes;
//! - `alice`: whose context names the namespace `ray-dev`, with full rights there and none
//!   anywhere else (not even to list namespaces).
//!
//! The KubeRay CRDs of `../shared/kuberay/crds` are applied and the demo data loaded (objects,
//! then their status through the status subresource) before the first test gets the fixture.
//!
//! Both processes are started from one thread that lives as long as the test process and are
//! killed by the kernel (`PR_SET_PDEATHSIG`) when it ends, however it ends: a finished run, a
//! panic that aborts, or a kill. Nothing is left behind.

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The three users of the real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealUser {
    Admin,
    Viewer,
    Limited,
}

impl RealUser {
    pub const ALL: [RealUser; 3] = [RealUser::Admin, RealUser::Viewer, RealUser::Limited];

    pub fn context(self) -> &'static str {
        match self {
            Self::Admin => "envtest",
            Self::Viewer => "envtest-viewer",
            Self::Limited => "envtest-limited",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Admin => "raydar-admin",
            Self::Viewer => "raydar-viewer",
            Self::Limited => "alice",
        }
    }

    /// The namespace the kubeconfig context names (only the limited user's does).
    fn namespace(self) -> Option<&'static str> {
        (self == Self::Limited).then_some(LIMITED_NS)
    }
}

/// The one namespace the limited user may use; its context names it.
pub const LIMITED_NS: &str = "ray-dev";

/// A running real control plane (lives until the test process ends).
pub struct Envtest {
    pub url: String,
    pub ca_pem: String,
    tokens: [String; 3],
    pub dir: PathBuf,
    /// kube-apiserver's binary and its arguments less `--secure-port`, for a second instance.
    apiserver: (PathBuf, Vec<String>),
}

impl Envtest {
    fn token(&self, u: RealUser) -> &str {
        &self.tokens[RealUser::ALL.iter().position(|x| *x == u).unwrap_or(0)]
    }

    /// A kubeconfig with one context per user; `current` is the current context.
    pub fn kubeconfig(&self, current: RealUser) -> String {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        let mut s = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {}\nclusters:\n- name: envtest\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\ncontexts:\n",
            current.context(),
            self.url
        );
        for u in RealUser::ALL {
            s.push_str(&format!(
                "- name: {}\n  context:\n    cluster: envtest\n    user: {}\n",
                u.context(),
                u.name()
            ));
            if let Some(ns) = u.namespace() {
                s.push_str(&format!("    namespace: {ns}\n"));
            }
        }
        s.push_str("users:\n");
        for u in RealUser::ALL {
            s.push_str(&format!("- name: {}\n  user:\n    token: {}\n", u.name(), self.token(u)));
        }
        s
    }

    /// Writes the kubeconfig to a fresh file of this run and returns its path.
    pub fn write_kubeconfig(&self, current: RealUser, tag: &str) -> PathBuf {
        let p = self.dir.join(format!("{tag}-{}.kubeconfig", current.context()));
        std::fs::write(&p, self.kubeconfig(current)).unwrap();
        p
    }

    pub async fn client(&self, u: RealUser) -> kube::Client {
        client_from(&self.kubeconfig(u), u).await
    }

    /// A second kube-apiserver on the same etcd, on a port of its own: a test may stop and
    /// start it without disturbing the others. It dies with the test's thread.
    pub async fn second_apiserver(&self) -> SecondApiserver<'_> {
        let mut s = SecondApiserver { env: self, port: free_port(), child: None };
        s.start().await;
        s
    }
}

/// See [`Envtest::second_apiserver`].
pub struct SecondApiserver<'a> {
    env: &'a Envtest,
    pub port: u16,
    child: Option<Child>,
}

impl SecondApiserver<'_> {
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The fixture's kubeconfig pointed at this instance.
    pub fn kubeconfig(&self, u: RealUser) -> String {
        self.env.kubeconfig(u).replace(&self.env.url, &self.url())
    }

    /// Starts it and waits until it is ready (60 s at most).
    pub async fn start(&mut self) {
        let (bin, common) = &self.env.apiserver;
        let mut args = common.clone();
        args.extend(["--secure-port".to_string(), self.port.to_string()]);
        let log = self.env.dir.join(format!("kube-apiserver-{}.log", self.port));
        self.child = Some(spawn(bin, &args, &log).unwrap());
        let admin = client_from(&self.kubeconfig(RealUser::Admin), RealUser::Admin).await;
        for _ in 0..300 {
            let req = http::Request::get("/readyz").body(Vec::new()).unwrap();
            if admin.request_text(req).await.is_ok_and(|t| t.trim() == "ok") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the second kube-apiserver was not ready within 60 s:\n{}", tail(&log));
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for SecondApiserver<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn client_from(kubeconfig: &str, u: RealUser) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig).unwrap();
    let opts =
        kube::config::KubeConfigOptions { context: Some(u.context().into()), ..Default::default() };
    let config = kube::Config::from_custom_kubeconfig(kc, &opts).await.unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Why there is no control plane: the binaries are not to be had (the tests skip), or it
/// failed to start (the tests fail).
enum Missing {
    Skip(String),
    Failed(String),
}

static ENVTEST: OnceLock<Result<Envtest, Missing>> = OnceLock::new();

/// The real control plane, started on first use. Tests that use it carry
/// `#[cfg_attr(not(envtest), ignore = …)]` (build.rs sets `envtest` where the binaries are),
/// so the runner reports them as ignored where they cannot run; here a missing binary or a
/// control plane that does not come up fails the test.
pub fn envtest() -> &'static Envtest {
    match ENVTEST.get_or_init(start) {
        Ok(e) => e,
        Err(Missing::Skip(why)) => panic!("envtest: the real kube-apiserver tests need {why}"),
        Err(Missing::Failed(why)) => panic!("envtest: {why}"),
    }
}

/// Tests that change the demo namespaces on the real server, or read them whole, take turns.
pub static DEMO_DATA: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Where the binaries are: `KUBEBUILDER_ASSETS`, else the repository's `../shared/k8s/assets`.
fn assets() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("KUBEBUILDER_ASSETS").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/k8s/assets");
    if !script.exists() {
        return Err(
            "KUBEBUILDER_ASSETS (a folder with kube-apiserver and etcd) and it is unset".into()
        );
    }
    let out = Command::new(&script).output().map_err(|e| format!("{}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "KUBEBUILDER_ASSETS; {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Starts everything on a thread that then stays parked for the life of the process: the
/// children's parent-death signal fires when the thread that spawned them ends.
fn start() -> Result<Envtest, Missing> {
    let dir = assets().map_err(Missing::Skip)?;
    for b in ["etcd", "kube-apiserver"] {
        if !dir.join(b).is_file() {
            let p = dir.join(b);
            return Err(Missing::Skip(format!("{} (not in KUBEBUILDER_ASSETS)", p.display())));
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("envtest".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let mut children = Vec::new();
            let r = rt.block_on(boot(&dir, &mut children));
            let failed = r.is_err();
            let _ = tx.send(r);
            if failed {
                for c in &mut children {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return;
            }
            loop {
                std::thread::park();
            }
        })
        .map_err(|e| Missing::Failed(format!("a thread: {e}")))?;
    match rx.recv() {
        Ok(r) => r.map_err(Missing::Failed),
        Err(_) => Err(Missing::Failed("the envtest thread ended early".into())),
    }
}

fn spawn(bin: &Path, args: &[String], log: &Path) -> Result<Child, String> {
    use std::os::unix::process::CommandExt;
    let log = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() == 1 {
                return Err(std::io::Error::other("parent gone"));
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| format!("starting {}: {e}", bin.display()))
}

fn free_port() -> u16 {
    portpicker::pick_unused_port().unwrap_or(0)
}

/// Removes work folders of earlier runs whose process is gone.
fn sweep_old_dirs() {
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("raydar-envtest-") else { continue };
        if pid.parse::<u32>().is_ok_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn tail(p: &Path) -> String {
    let t = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = t.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

async fn boot(assets: &Path, children: &mut Vec<Child>) -> Result<Envtest, String> {
    let t0 = Instant::now();
    sweep_old_dirs();
    let dir = std::env::temp_dir().join(format!("raydar-envtest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;

    // TLS, the service-account key pair, the token users.
    let pki = pki().map_err(|e| format!("generating certificates: {e}"))?;
    let w = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).map(|()| p.display().to_string()).map_err(|e| e.to_string())
    };
    let cert = w("apiserver.crt", &pki.cert)?;
    let key = w("apiserver.key", &pki.key)?;
    let sa_pub = w("sa.pub", &pki.sa_pub)?;
    let sa_key = w("sa.key", &pki.sa_key)?;
    let tokens: [String; 3] = std::array::from_fn(|_| random_token());
    let mut csv = String::new();
    for (u, t) in RealUser::ALL.iter().zip(&tokens) {
        let groups = if *u == RealUser::Admin { "system:masters" } else { "raydar-tests" };
        csv.push_str(&format!("{t},{},{},\"{groups}\"\n", u.name(), u.name()));
    }
    let token_file = w("tokens.csv", &csv)?;

    let (client_port, peer_port, api_port) = (free_port(), free_port(), free_port());
    let etcd_url = format!("http://127.0.0.1:{client_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let etcd_args: Vec<String> = [
        "--data-dir",
        &dir.join("etcd").display().to_string(),
        "--listen-client-urls",
        &etcd_url,
        "--advertise-client-urls",
        &etcd_url,
        "--listen-peer-urls",
        &peer_url,
        "--initial-advertise-peer-urls",
        &peer_url,
        "--initial-cluster",
        &format!("envtest={peer_url}"),
        "--name",
        "envtest",
        "--unsafe-no-fsync",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let etcd_log = dir.join("etcd.log");
    children.push(spawn(&assets.join("etcd"), &etcd_args, &etcd_log)?);

    let common: Vec<String> = [
        "--etcd-servers",
        &etcd_url,
        "--bind-address",
        "127.0.0.1",
        "--advertise-address",
        "127.0.0.1",
        "--tls-cert-file",
        &cert,
        "--tls-private-key-file",
        &key,
        "--service-account-issuer",
        "https://kubernetes.default.svc",
        "--service-account-key-file",
        &sa_pub,
        "--service-account-signing-key-file",
        &sa_key,
        "--service-cluster-ip-range",
        "10.96.0.0/16",
        "--authorization-mode",
        "RBAC",
        "--token-auth-file",
        &token_file,
        "--disable-admission-plugins",
        "ServiceAccount",
        "--allow-privileged=true",
        "--endpoint-reconciler-type",
        "none",
        "--cert-dir",
        &dir.join("certs").display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut api_args = common.clone();
    api_args.extend(["--secure-port".to_string(), api_port.to_string()]);
    let api_log = dir.join("kube-apiserver.log");
    children.push(spawn(&assets.join("kube-apiserver"), &api_args, &api_log)?);

    let env = Envtest {
        url: format!("https://127.0.0.1:{api_port}"),
        ca_pem: pki.ca,
        tokens,
        dir,
        apiserver: (assets.join("kube-apiserver"), common),
    };
    let admin = env.client(RealUser::Admin).await;

    // Ready within 60 s, or the server's own last words.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let req = http::Request::get("/readyz").body(Vec::new()).map_err(|e| e.to_string())?;
        if admin.request_text(req).await.is_ok_and(|t| t.trim() == "ok") {
            break;
        }
        for (c, log) in children.iter_mut().zip([&etcd_log, &api_log]) {
            if let Ok(Some(st)) = c.try_wait() {
                return Err(format!("a running control plane; it exited ({st}):\n{}", tail(log)));
            }
        }
        if Instant::now() > deadline {
            return Err(format!("kube-apiserver ready within 60 s:\n{}", tail(&api_log)));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("envtest: kube-apiserver ready at {} in {:?}", env.url, t0.elapsed());

    install_crds(&admin).await?;
    eprintln!("envtest: KubeRay CRDs established after {:?}", t0.elapsed());
    rbac(&admin).await?;
    let mut objects = raydar::demo::manifests();
    objects.push(limited_binding());
    load(&admin, objects).await?;
    eprintln!("envtest: demo data loaded after {:?}", t0.elapsed());
    Ok(env)
}

struct Pki {
    ca: String,
    cert: String,
    key: String,
    sa_pub: String,
    sa_key: String,
}

fn pki() -> Result<Pki, rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "raydar-envtest-ca");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "kubernetes.default.svc".to_string(),
    ])?;
    params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;
    let sa = KeyPair::generate()?;
    Ok(Pki {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
        sa_pub: sa.public_key_pem(),
        sa_key: sa.serialize_pem(),
    })
}

fn random_token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..32)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
        .collect()
}

fn ar(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let plural = match kind {
        "Ingress" => "ingresses".to_string(),
        "NetworkPolicy" => "networkpolicies".to_string(),
        "ElasticQuotaTree" => "elasticquotatrees".to_string(),
        k => format!("{}s", k.to_lowercase()),
    };
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural)
}

fn api_for(c: &kube::Client, obj: &Value) -> Api<DynamicObject> {
    let r = ar(obj["apiVersion"].as_str().unwrap_or(""), obj["kind"].as_str().unwrap_or(""));
    match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) if !cluster_scoped(&r.kind) => Api::namespaced_with(c.clone(), ns, &r),
        _ => Api::all_with(c.clone(), &r),
    }
}

fn cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "CustomResourceDefinition"
            | "ElasticQuotaTree"
    )
}

async fn install_crds(admin: &kube::Client) -> Result<(), String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kuberay/crds");
    let mut names = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("the KubeRay CRDs in {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let crds: Api<DynamicObject> =
        Api::all_with(admin.clone(), &ar("apiextensions.k8s.io/v1", "CustomResourceDefinition"));
    let pp = PatchParams::apply("raydar-envtest").force();
    let applies = files.iter().map(|f| {
        let crds = crds.clone();
        let pp = pp.clone();
        async move {
            let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
            let v: Value =
                serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
            let name = v["metadata"]["name"].as_str().unwrap_or("").to_string();
            crds.patch(&name, &pp, &Patch::Apply(&v))
                .await
                .map_err(|e| format!("applying CRD {name}: {e}"))?;
            Ok::<_, String>(name)
        }
    });
    for r in futures::future::join_all(applies).await {
        names.push(r?);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    for name in names {
        loop {
            let o = crds.get(&name).await.map_err(|e| format!("CRD {name}: {e}"))?;
            let established = o.data["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter().any(|c| c["type"] == "Established" && c["status"] == "True")
            });
            if established {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("CRD {name} Established within 120 s"));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    // Discovery of the new group can lag behind Established for a moment.
    let rc = ar("ray.io/v1", "RayCluster");
    for _ in 0..100 {
        let api: Api<DynamicObject> = Api::all_with(admin.clone(), &rc);
        if api.list(&Default::default()).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err("rayclusters to be served after the CRD was established".into())
}

/// The viewer and the limited user's rights, as RBAC objects.
async fn rbac(admin: &kube::Client) -> Result<(), String> {
    let read = json!(["get", "list", "watch"]);
    let objs = vec![
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "raydar-test-viewer"},
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "services", "serviceaccounts", "resourcequotas",
                "namespaces", "events", "configmaps", "endpoints"], "verbs": read},
            {"apiGroups": ["ray.io"], "resources": ["*"], "verbs": read},
            {"apiGroups": ["networking.k8s.io", "rbac.authorization.k8s.io", "apps", "events.k8s.io",
                "scheduling.sigs.k8s.io"], "resources": ["*"], "verbs": read},
        ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "raydar-test-viewer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "raydar-test-viewer"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": RealUser::Viewer.name()}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "raydar-test-namespace-admin"},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
    ];
    for o in objs {
        api_for(admin, &o)
            .create(
                &PostParams::default(),
                &serde_json::from_value(o.clone()).map_err(|e| e.to_string())?,
            )
            .await
            .map_err(|e| format!("creating {}: {e}", o["metadata"]["name"]))?;
    }
    Ok(())
}

/// The limited user's RoleBinding, once its namespace exists.
fn limited_binding() -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "alice-admin", "namespace": LIMITED_NS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "raydar-test-namespace-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": RealUser::Limited.name()}]})
}

/// Creates each object, then writes its `status` through the status subresource (a real
/// server ignores status on create): what controllers would have written.
pub async fn load(admin: &kube::Client, objects: Vec<Value>) -> Result<(), String> {
    let mut objects = objects;
    // Namespaces first (the demo lists them first; a test's own list may not).
    objects.sort_by_key(|o| o["kind"] != "Namespace");
    let pp = PostParams::default();
    for chunk in objects.chunk_by(|a, b| (a["kind"] == "Namespace") == (b["kind"] == "Namespace")) {
        let writes = chunk.iter().map(|o| {
            let pp = pp.clone();
            async move {
                let api = api_for(admin, o);
                let what = format!(
                    "{} {}/{}",
                    o["kind"].as_str().unwrap_or(""),
                    o["metadata"]["namespace"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap_or("")
                );
                let obj: DynamicObject =
                    serde_json::from_value(o.clone()).map_err(|e| format!("{what}: {e}"))?;
                let created = match api.create(&pp, &obj).await {
                    Ok(c) => c,
                    // Namespaces like default and the bootstrap ClusterRoles (view,
                    // cluster-admin) exist on every real server: the server's own stay.
                    Err(kube::Error::Api(s))
                        if s.code == 409 && cluster_scoped(o["kind"].as_str().unwrap_or("")) =>
                    {
                        return Ok(())
                    }
                    Err(e) => return Err(format!("creating {what}: {e}")),
                };
                if let Some(status) = o.get("status").filter(|s| !s.is_null()) {
                    let kind = o["kind"].as_str().unwrap_or("");
                    if matches!(kind, "Namespace" | "Event") {
                        return Ok(());
                    }
                    let mut body = serde_json::to_value(&created).map_err(|e| e.to_string())?;
                    body["status"] = status.clone();
                    let name = created.metadata.name.clone().unwrap_or_default();
                    api.replace_status(
                        &name,
                        &pp,
                        &serde_json::from_value(body).map_err(|e| e.to_string())?,
                    )
                    .await
                    .map_err(|e| format!("status of {what}: {e}"))?;
                }
                Ok::<_, String>(())
            }
        });
        // A few at a time: the server is on the same two cores as the tests.
        let results: Vec<Result<(), String>> = futures::StreamExt::collect(
            futures::StreamExt::buffer_unordered(futures::stream::iter(writes), 8),
        )
        .await;
        for r in results {
            r?;
        }
    }
    Ok(())
}
