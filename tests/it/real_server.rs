//! raydar against a real kube-apiserver (the envtest fixture): the scan report equals the one
//! from the embedded demo server, and a user limited to one namespace scans the namespace their
//! context names, as kubectl would.

use crate::envtest::{envtest, RealUser, DEMO_DATA, LIMITED_NS};
use raydar::demo::{DemoServer, DemoUser};
use raydar::options::Options;
use raydar::posture::PostureConfig;
use serde_json::Value;

/// A scan through `kubeconfig` with the demo's posture settings.
pub fn opts(kubeconfig: std::path::PathBuf) -> Options {
    crate::scan_live::opts(Some(kubeconfig), PostureConfig::demo())
}

/// The namespaces of the named demo data (other tests add their own on the real server).
const DEMO_NS: [&str; 5] = ["default", "kube-system", "ray-prod", "ray-dev", "ml-team"];

/// A report's clusters as JSON, only those in the demo namespaces.
fn demo_entries(report: &raydar::report::Report) -> Vec<Value> {
    let v: Value = serde_json::to_value(report).unwrap();
    v["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| DEMO_NS.contains(&c["namespace"].as_str().unwrap()))
        .cloned()
        .collect()
}

#[cfg_attr(not(envtest), ignore = "needs kube-apiserver and etcd: KUBEBUILDER_ASSETS")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_on_the_real_server_equals_the_embedded_one() {
    let env = envtest();
    let _turn = DEMO_DATA.lock().await;
    let kc = env.write_kubeconfig(RealUser::Admin, "diff");
    let real = raydar::scan::gather(&opts(kc), &[]).await.unwrap().0;

    let demo = DemoServer::start(Default::default()).await.unwrap();
    let dkc = env.dir.join("diff-demo.kubeconfig");
    demo.write_kubeconfig(&dkc, DemoUser::Admin).unwrap();
    let embedded = raydar::scan::gather(&opts(dkc), &[]).await.unwrap().0;

    let (real, embedded) = (demo_entries(&real), demo_entries(&embedded));
    assert_eq!(real.len(), 12, "the twelve demo entries on the real server");
    for (r, e) in real.iter().zip(&embedded) {
        assert_eq!(
            r, e,
            "{}/{}: the real server's report differs from the embedded one",
            e["namespace"], e["name"]
        );
    }
    assert_eq!(real.len(), embedded.len());
}

#[cfg_attr(not(envtest), ignore = "needs kube-apiserver and etcd: KUBEBUILDER_ASSETS")]
#[tokio::test]
async fn a_limited_user_scans_the_namespace_their_context_names() {
    let env = envtest();
    let kc = env.write_kubeconfig(RealUser::Limited, "limited");
    let g = opts(kc);
    let report = raydar::scan::gather(&g, &[]).await.unwrap().0;
    assert!(!report.clusters.is_empty());
    assert!(report.clusters.iter().all(|c| c.namespace == LIMITED_NS), "only {LIMITED_NS}");
    let scope = report.scope.clone().unwrap_or_default();
    assert!(
        scope.contains(&format!("namespace {LIMITED_NS} from the kubeconfig context")),
        "the report says which namespace it used: {scope:?}"
    );
    // Only what a namespace user may never read (cluster-scoped kinds) is missing.
    assert!(
        report.errors.iter().all(|e| e.namespace.is_none() && e.message.contains("clusterroles")),
        "nothing in {LIMITED_NS} was forbidden: {:?}",
        report.errors
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_raydar"))
        .args(["scan", "--kubeconfig"])
        .arg(g.target.kubeconfig.as_ref().unwrap())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "partial: cluster-scoped kinds are forbidden");
    assert!(
        stdout.contains(&format!("namespace {LIMITED_NS} from the kubeconfig context")),
        "the table header says so: {stdout}"
    );
    // The viewer may list cluster-wide: no such note.
    let kc = env.write_kubeconfig(RealUser::Viewer, "limited");
    let report = raydar::scan::gather(&opts(kc), &[]).await.unwrap().0;
    assert!(report.clusters.iter().any(|c| c.namespace == "ray-prod"));
}

#[cfg_attr(not(envtest), ignore = "needs kube-apiserver and etcd: KUBEBUILDER_ASSETS")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fix_id_on_the_real_server() {
    let env = envtest();
    let _turn = DEMO_DATA.lock().await;
    let dir = env.dir.join("fix-matrix");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let b = crate::remediate::Backend {
        admin: env.client(RealUser::Admin).await,
        kubeconfig: env.write_kubeconfig(RealUser::Admin, "fix-matrix"),
        refused: vec![
            ("the viewer", env.client(RealUser::Viewer).await, vec![]),
            // alice may write in ray-dev only.
            (
                "the limited user",
                env.client(RealUser::Limited).await,
                vec!["ray-prod", "ml-team", "default"],
            ),
        ],
        url: env.url.clone(),
        context: RealUser::Admin.context(),
        faults: None,
    };
    crate::remediate::fix_matrix(&b, &dir).await;
}

/// kubectl against the real server as the admin.
fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl is on PATH");
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The next message from the TUI's live side that `want` takes, within `secs`.
async fn next_msg(
    rx: &mut tokio::sync::mpsc::Receiver<raydar::tui::update::Msg>,
    m: &mut raydar::tui::state::Model,
    secs: u64,
    what: &str,
    want: impl Fn(&raydar::tui::update::Msg) -> bool,
) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {secs} s"))
            .expect("the live side runs");
        let done = want(&msg);
        raydar::tui::update::update(m, msg);
        if done {
            return;
        }
    }
}

fn head_svc(msg: &raydar::tui::update::Msg, ty: &str) -> bool {
    matches!(msg, raydar::tui::update::Msg::Refresh(s)
        if s.rows.iter().any(|r| r.entry.name == "train-exposed" && r.head_svc == ty))
}

#[cfg_attr(not(all(envtest, kubectl)), ignore = "needs KUBEBUILDER_ASSETS and kubectl")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tui_follows_the_real_server_live_and_through_an_outage() {
    use raydar::tui::state::Link;
    use raydar::tui::update::Msg;
    let env = envtest();
    let ns = "tui-live";
    // ray-prod/train-exposed, copied into a namespace of this test's own.
    let mut objects = vec![serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ns}})];
    for mut o in raydar::demo::manifests() {
        let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
        let copied = o["kind"] != "Event" && name.starts_with("train-exposed");
        if o["metadata"]["namespace"] == "ray-prod" && copied {
            o["metadata"]["namespace"] = ns.into();
            for p in o["spec"]["ports"].as_array_mut().into_iter().flatten() {
                p.as_object_mut().unwrap().remove("nodePort");
            }
            objects.push(o);
        }
    }
    let admin = env.client(RealUser::Admin).await;
    crate::envtest::load(&admin, objects).await.unwrap();
    let admin_kc = env.write_kubeconfig(RealUser::Admin, "tui-live");

    // The TUI's live side watches through a second API server that this test stops and starts.
    let mut second = env.second_apiserver().await;
    let kc = env.dir.join("tui-live-second.kubeconfig");
    std::fs::write(&kc, second.kubeconfig(RealUser::Admin)).unwrap();
    let conn = raydar::cluster::connect(&raydar::cluster::ConnectSpec::file(&kc)).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let scope = raydar::cluster::Scope::Namespaces(vec![ns.into()]);
    let live = tokio::spawn(raydar::tui::live::run(conn, scope, PostureConfig::demo(), tx, None));
    let mut m = crate::tui::model();
    next_msg(&mut rx, &mut m, 30, "first snapshot", |msg| head_svc(msg, "LoadBalancer")).await;
    assert!(matches!(m.link, Link::Live));

    // A change made with kubectl is on screen within a second.
    let svc = "train-exposed-head-svc";
    kubectl(&admin_kc, &["-n", ns, "patch", "svc", svc, "-p", r#"{"spec":{"type":"NodePort"}}"#]);
    let t = std::time::Instant::now();
    next_msg(&mut rx, &mut m, 10, "the kubectl change", |msg| head_svc(msg, "NodePort")).await;
    let latency = t.elapsed();
    eprintln!("real server: kubectl change on screen after {latency:?}");
    assert!(crate::tui::render(&m, 120, 30).contains("NodePort"));

    // The API server goes away: the data stays, marked stale.
    second.stop();
    next_msg(&mut rx, &mut m, 60, "the stale marker", |msg| matches!(msg, Msg::Disconnected(_)))
        .await;
    let frame = crate::tui::render(&m, 120, 30);
    assert!(frame.contains("stale") && frame.contains("train-exposed"), "{frame}");

    // A change while it is away, then it comes back: recovered, with the change.
    kubectl(&admin_kc, &["-n", ns, "patch", "svc", svc, "-p", r#"{"spec":{"type":"ClusterIP"}}"#]);
    second.start().await;
    next_msg(&mut rx, &mut m, 60, "recovery", |msg| head_svc(msg, "ClusterIP")).await;
    assert!(matches!(m.link, Link::Live));
    assert!(!crate::tui::render(&m, 120, 30).contains("stale"));
    live.abort();
}

#[cfg_attr(
    not(all(envtest, kubectl, shared)),
    ignore = "needs KUBEBUILDER_ASSETS, kubectl and ../shared"
)]
#[tokio::test]
async fn kubectl_conformance_passes_on_the_real_server() {
    let env = envtest();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tools/kubectl-conformance");
    assert!(script.exists(), "{} is beside the envtest binaries", script.display());
    let kc = env.write_kubeconfig(RealUser::Admin, "conformance");
    // alice may use ray-dev only: refused in the script's namespace.
    let lim = env.write_kubeconfig(RealUser::Limited, "conformance");
    let home = env.dir.join("conformance-home");
    std::fs::create_dir_all(&home).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg(&script)
            .arg(&kc)
            .arg(&lim)
            .env("HOME", &home)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(" passed, 0 failed"),
        "kubectl-conformance on the real server:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg_attr(not(envtest), ignore = "needs kube-apiserver and etcd: KUBEBUILDER_ASSETS")]
#[tokio::test]
async fn the_tui_watches_the_context_namespace_of_a_limited_user_and_says_so() {
    use raydar::tui::update::Msg;
    let env = envtest();
    let kc = env.write_kubeconfig(RealUser::Limited, "tui-limited");
    let conn = raydar::cluster::connect(&raydar::cluster::ConnectSpec::file(&kc)).await.unwrap();
    assert_eq!(conn.namespace.as_deref(), Some(LIMITED_NS));
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let live = tokio::spawn(raydar::tui::live::run(
        conn,
        raydar::cluster::Scope::All,
        PostureConfig::demo(),
        tx,
        None,
    ));
    let mut m = crate::tui::model();
    let said =
        |msg: &Msg| matches!(msg, Msg::Warning(w) if w.contains("from the kubeconfig context"));
    next_msg(&mut rx, &mut m, 30, "the status line note", said).await;
    let frame = crate::tui::render(&m, 120, 30);
    assert!(frame.contains(&format!("namespace {LIMITED_NS} from the kubeconfig")), "{frame}");
    let snap = |msg: &Msg| matches!(msg, Msg::Refresh(s) if !s.rows.is_empty());
    next_msg(&mut rx, &mut m, 30, "rows", snap).await;
    assert!(m.rows.iter().all(|r| r.entry.namespace == LIMITED_NS));
    live.abort();
}

#[test]
fn without_a_terminal_the_tui_says_so_in_one_line_and_exits_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_raydar"))
        .arg("--demo")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("needs a terminal") && err.contains("raydar scan"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn broken_yaml_on_stdin_is_called_yaml() {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_raydar"))
        .args(["scan", "-f", "-", "-o", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"{{{\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let msg = v["errors"][0]["message"].as_str().unwrap();
    assert!(msg.starts_with("invalid YAML"), "{msg}");
    assert_eq!(out.status.code(), Some(3));
}

#[cfg_attr(not(all(envtest, kubectl)), ignore = "needs KUBEBUILDER_ASSETS and kubectl")]
#[tokio::test]
async fn printed_demo_manifests_are_what_kubectl_applies_on_a_real_server() {
    let env = envtest();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_raydar"))
        .args(["demo-server", "--print-manifests"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let file = env.dir.join("demo-manifests.yaml");
    std::fs::write(&file, &out.stdout).unwrap();
    // raydar reads them as it reads any manifests...
    let set = raydar::manifest::ManifestSet::load(std::slice::from_ref(&file)).unwrap();
    assert!(set.errors.is_empty(), "{:?}", set.errors);
    assert_eq!(set.inventory.ray_clusters.len(), 9, "the demo's nine RayClusters");
    // ...and kubectl applies them to the real server (dry run: the data is loaded already).
    let kc = env.write_kubeconfig(RealUser::Admin, "print");
    let applied = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["apply", "--dry-run=server", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
}

/// A list at `resourceVersion=0` (the TUI reads the Ray kinds so, from the watch cache) comes
/// whole from the real server, its limit ignored; the embedded server answers the same.
#[cfg_attr(not(envtest), ignore = "needs kube-apiserver and etcd: KUBEBUILDER_ASSETS")]
#[tokio::test]
async fn a_list_at_any_resource_version_is_whole_on_both_servers() {
    let env = envtest();
    let _turn = DEMO_DATA.lock().await;
    let demo = DemoServer::start(Default::default()).await.unwrap();
    let clients = [
        ("real", env.client(RealUser::Admin).await),
        ("embedded", demo.client(DemoUser::Admin).await.unwrap()),
    ];
    for (server, c) in clients {
        let list = |q: &str| {
            let uri = format!("/apis/ray.io/v1/namespaces/ray-prod/rayclusters?{q}");
            let c = c.clone();
            async move {
                let req = http::Request::get(uri).body(Vec::new()).unwrap();
                c.request::<Value>(req).await.unwrap()
            }
        };
        let paged = list("limit=1").await;
        assert_eq!(paged["items"].as_array().map(Vec::len), Some(1), "{server}");
        assert!(paged["metadata"]["continue"].is_string(), "{server}: {paged}");
        let any = list("limit=1&resourceVersion=0&resourceVersionMatch=NotOlderThan").await;
        let n = any["items"].as_array().map_or(0, Vec::len);
        assert!(n > 1, "{server}: {n} items");
        let more = any["metadata"]["continue"].as_str().unwrap_or("");
        assert!(more.is_empty(), "{server}: {}", any["metadata"]);
    }
}
