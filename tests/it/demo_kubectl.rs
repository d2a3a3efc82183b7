//! kubectl against the demo server: the shared conformance checks (33 that a real
//! kube-apiserver passes) plus get/describe/patch/apply/delete/auth can-i of our own.
//! Ignored, with the reason, where kubectl (or ../shared) is not to be had (see build.rs).

use raydar::demo::{DemoOptions, DemoServer, DemoUser};
use std::path::{Path, PathBuf};
use std::process::Command;

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Env {
    dir: PathBuf,
}

impl Env {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("raydar-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }
    fn kubeconfig(&self, s: &DemoServer, u: DemoUser) -> PathBuf {
        let p = self.dir.join(format!("{}.kubeconfig", u.context()));
        s.write_kubeconfig(&p, u).unwrap();
        p
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn kubectl(kc: &Path, cache: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(kc)
        .arg("--cache-dir")
        .arg(cache)
        .arg("--request-timeout=20s")
        .args(args);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[cfg_attr(not(kubectl), ignore = "needs kubectl on PATH")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_works_against_the_demo_server() {
    assert!(kubectl_available(), "kubectl runs");
    let s = DemoServer::start(DemoOptions::default()).await.unwrap();
    let env = Env::new("kubectl");
    let kc = env.kubeconfig(&s, DemoUser::Admin);
    let cache = env.dir.join("cache");
    let (kc2, cache2) = (kc.clone(), cache.clone());
    let out = tokio::task::spawn_blocking(move || {
        let run = |args: &[&str], stdin: Option<&str>| kubectl(&kc2, &cache2, args, stdin);
        let mut log = Vec::new();
        let mut check = |name: &str, (ok, text): (bool, String), want: &str| {
            log.push(format!("{} {name}", if ok && text.contains(want) { "ok  " } else { "FAIL" }));
            if !(ok && text.contains(want)) {
                log.push(format!("     {}", text.trim()));
            }
        };
        check("get rayclusters -A (table, CRD columns)", run(&["get", "rayclusters", "-A"], None), "DESIRED WORKERS");
        check("get pods -l", run(&["get", "pods", "-A", "-l", "ray.io/node-type=head"], None), "train-exposed-head-");
        check("get svc -o json", run(&["get", "svc", "-n", "ray-prod", "-o", "json"], None), "\"kind\": \"List\"");
        check("get raycluster -o yaml", run(&["get", "raycluster", "hardened", "-n", "ray-prod", "-o", "yaml"], None), "authOptions:");
        check("describe raycluster", run(&["describe", "raycluster", "cowboy", "-n", "ray-dev"], None), "Name:         cowboy");
        check("describe pod shows events", run(&["describe", "pods", "-n", "ray-dev", "-l", "ray.io/cluster=cowboy,ray.io/node-type=head"], None), "BackOff");
        check("patch merge", run(&["patch", "raycluster", "stray", "-n", "default", "--type", "merge", "-p", r#"{"metadata":{"labels":{"k":"m"}}}"#], None), "patched");
        check("patch json", run(&["patch", "raycluster", "stray", "-n", "default", "--type", "json", "-p", r#"[{"op":"add","path":"/metadata/annotations","value":{"k":"j"}}]"#], None), "patched");
        check("patch strategic (Service)", run(&["patch", "svc", "stray-head-svc", "-n", "default", "-p", r#"{"metadata":{"labels":{"k":"s"}}}"#], None), "patched");
        check("apply --server-side", run(&["apply", "--server-side", "-f", "-"], Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied, namespace: default}\ndata: {a: b}\n")), "serverside-applied");
        check("delete", run(&["delete", "configmap", "applied", "-n", "default"], None), "deleted");
        check("auth can-i yes", run(&["auth", "can-i", "patch", "services", "-n", "ray-prod"], None), "yes");
        check("get -A namespaces", run(&["get", "ns"], None), "kuberay-system");
        check("auth whoami", run(&["auth", "whoami"], None), "raydar-admin");
        log
    })
    .await
    .unwrap();
    let report = out.join("\n");
    eprintln!("{report}");
    assert!(!report.contains("FAIL"), "kubectl checks failed:\n{report}");
}

#[cfg_attr(not(all(kubectl, shared)), ignore = "needs kubectl and ../shared/tools")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_conformance_passes_on_the_demo_server() {
    let s = DemoServer::start(DemoOptions::default()).await.unwrap();
    let env = Env::new("conformance");
    let kc = env.kubeconfig(&s, DemoUser::Admin);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/kubectl-conformance");
    let lim = env.kubeconfig(&s, DemoUser::Limited);
    let home = env.dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash").arg(&script).arg(&kc).arg(&lim).env("HOME", &home).output().unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl-conformance failed:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(" passed, 0 failed"));
}

/// The binary as a kubectl plugin: `kubectl raydar …` runs `kubectl-raydar` from PATH (a
/// symlink to raydar, as krew installs it) with the rest of the command line.
#[cfg_attr(not(kubectl), ignore = "needs kubectl on PATH")]
#[test]
fn kubectl_raydar_runs_as_a_plugin() {
    let dir = std::env::temp_dir().join(format!("raydar-plugin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("kubectl-raydar");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_raydar"), &link).unwrap();
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
    let run = |args: &[&str]| {
        let o = Command::new("kubectl")
            .args(args)
            .env("PATH", &path)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .output()
            .unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let (code, out) = run(&["raydar", "scan", "--demo"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("raydar scan · source: demo"), "{out}");
    let (_, list) = run(&["plugin", "list"]);
    assert!(list.contains("kubectl-raydar"), "{list}");
    let _ = std::fs::remove_dir_all(&dir);
}
