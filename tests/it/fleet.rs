//! Fleet scans (issue #17): several API servers in one kubeconfig merged from three files —
//! two embedded demo servers with different data, the real kube-apiserver, an unreachable
//! server, a revoked ServiceAccount token, and exec credential plugins that answer or hang —
//! scanned at once by the binary, as a user runs it.

use crate::envtest::{envtest, DEMO_DATA};
use raydar::demo::{DemoOptions, DemoServer, DemoUser};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn field<'a>(kubeconfig: &'a str, key: &str) -> &'a str {
    kubeconfig.lines().find_map(|l| l.trim().strip_prefix(key)).unwrap().trim()
}

/// Runs the binary with `KUBECONFIG` set to `files`; (exit code, stdout, stderr, wall time).
fn raydar(files: &[PathBuf], args: &[&str]) -> (i32, String, String, Duration) {
    let joined = std::env::join_paths(files).unwrap();
    let t = Instant::now();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_raydar"))
        .args(args)
        .env("KUBECONFIG", joined)
        .env("XDG_CONFIG_HOME", std::env::temp_dir().join("raydar-no-config"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
        t.elapsed(),
    )
}

/// (namespace, name, kind, grade, rule ids) of a JSON report's entries of `context` (all when
/// None), in `namespaces` only when given.
fn entries(
    report: &Value,
    context: Option<&str>,
    namespaces: Option<&BTreeSet<String>>,
) -> BTreeSet<String> {
    report["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| context.is_none_or(|c| e["context"] == c))
        .filter(|e| namespaces.is_none_or(|n| n.contains(e["namespace"].as_str().unwrap())))
        .map(|e| {
            let rules: Vec<&str> = e["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["rule"].as_str().unwrap())
                .collect();
            format!(
                "{}/{} {} {} {}",
                e["namespace"],
                e["name"],
                e["kind"],
                e["grade"],
                rules.join(",")
            )
        })
        .collect()
}

fn summary<'a>(report: &'a Value, context: &str) -> &'a Value {
    report["contexts"].as_array().unwrap().iter().find(|c| c["name"] == context).unwrap()
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// A ServiceAccount token of the real server that worked and was then revoked (its account
/// deleted), as a departed colleague's or a rotated CI credential is.
async fn revoked_token(admin: &kube::Client) -> String {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    use kube::api::{Api, DeleteParams, PostParams};
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), "default");
    let name = "raydar-fleet-departed";
    let sa: ServiceAccount = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name}}))
    .unwrap();
    let _ = sas.create(&PostParams::default(), &sa).await;
    let req = TokenRequest {
        spec: TokenRequestSpec { expiration_seconds: Some(600), ..Default::default() },
        ..Default::default()
    };
    let token = sas
        .create_token_request(name, &PostParams::default(), &req)
        .await
        .unwrap()
        .status
        .unwrap()
        .token;
    sas.delete(name, &DeleteParams::default()).await.unwrap();
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(envtest), ignore = "needs kube-apiserver and etcd (KUBEBUILDER_ASSETS)")]
async fn a_fleet_scan_reads_every_context_of_a_merged_kubeconfig_and_each_failure_is_one_line() {
    let env = envtest();
    let _turn = DEMO_DATA.lock().await;
    let a = DemoServer::start(DemoOptions::default()).await.unwrap();
    let b = DemoServer::start(DemoOptions { population: Some((3, 7)), ..Default::default() })
        .await
        .unwrap();
    let dir = env.dir.join(format!("fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ka = a.kubeconfig(DemoUser::Admin);
    let token_a = field(&ka, "token:");
    let ca_a = field(&ka, "certificate-authority-data:");
    let ca_real = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&env.ca_pem)
    };
    let admin = env.client(crate::envtest::RealUser::Admin).await;
    let revoked = revoked_token(&admin).await;
    let pidfile = dir.join("hang.pid");
    let ok = script(
        &dir,
        "plugin-ok.sh",
        &format!(
            r#"printf '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"%s"}}}}' '{token_a}'"#
        ),
    );
    let hang =
        script(&dir, "plugin-hang.sh", &format!("echo $$ > {}\nexec sleep 120", pidfile.display()));
    // The third file: the real server, what fails, and a context named as one of the first
    // file's, which kubectl's merge ignores (the first file to name it wins).
    let third = format!(
        r#"apiVersion: v1
kind: Config
current-context: down
clusters:
- name: real
  cluster: {{server: "{real}", certificate-authority-data: "{ca_real}"}}
- name: down
  cluster: {{server: "https://127.0.0.1:1"}}
- name: a-again
  cluster: {{server: "{url_a}", certificate-authority-data: "{ca_a}"}}
contexts:
- name: real
  context: {{cluster: real, user: real-admin}}
- name: down
  context: {{cluster: down, user: real-admin}}
- name: revoked
  context: {{cluster: real, user: departed}}
- name: exec-ok
  context: {{cluster: a-again, user: exec-ok}}
- name: exec-hang
  context: {{cluster: a-again, user: exec-hang}}
- name: demo-a
  context: {{cluster: down, user: real-admin}}
users:
- name: real-admin
  user: {{token: "{real_token}"}}
- name: departed
  user: {{token: "{revoked}"}}
- name: exec-ok
  user:
    exec: {{apiVersion: client.authentication.k8s.io/v1, command: "{ok}", interactiveMode: IfAvailable}}
- name: exec-hang
  user:
    exec: {{apiVersion: client.authentication.k8s.io/v1, command: "{hang}", interactiveMode: Always}}
"#,
        real = env.url,
        url_a = a.url(),
        real_token = field(&env.kubeconfig(crate::envtest::RealUser::Admin), "token:"),
        ok = ok.display(),
        hang = hang.display(),
    );
    let files = [dir.join("a.yaml"), dir.join("b.yaml"), dir.join("c.yaml")];
    std::fs::write(&files[0], a.kubeconfig_named(DemoUser::Admin, "demo-a")).unwrap();
    std::fs::write(&files[1], b.kubeconfig_named(DemoUser::Admin, "demo-b")).unwrap();
    std::fs::write(&files[2], third).unwrap();

    let (code, out, err, took) =
        raydar(&files, &["scan", "--all-contexts", "-o", "json", "--context-timeout", "5"]);
    let fleet: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(code, 2, "an unreachable context makes the scan's code 2:\n{err}");
    assert_eq!(fleet["source"], "fleet");
    // The contexts in kubectl's merge order, the duplicate once.
    let names: Vec<&str> =
        fleet["contexts"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    let mut want: Vec<String> = Vec::new();
    for server in ["demo-a", "demo-b"] {
        for c in ["", "-viewer", "-limited"] {
            want.push(format!("{server}{c}"));
        }
    }
    want.extend(["real", "down", "revoked", "exec-ok", "exec-hang"].map(String::from));
    assert_eq!(names, want);
    assert_eq!(summary(&fleet, "demo-a")["server"], a.url().trim_end_matches('/'));

    // Each working context reports what a scan of it alone reports.
    let alone = |ctx: &str| {
        let (code, out, err, _) = raydar(&files, &["scan", "--context", ctx, "-o", "json"]);
        assert!(code == 0 || code == 3, "{ctx}: {code} {err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let only_a = alone("demo-a");
    let demo_namespaces: BTreeSet<String> = only_a["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["namespace"].as_str().unwrap().to_string())
        .collect();
    for ctx in ["demo-a", "demo-b", "exec-ok"] {
        let single = if ctx == "exec-ok" { only_a.clone() } else { alone(ctx) };
        let got = entries(&fleet, Some(ctx), None);
        assert!(!got.is_empty(), "{ctx}");
        assert_eq!(got, entries(&single, None, None), "{ctx}");
    }
    assert_ne!(entries(&fleet, Some("demo-a"), None), entries(&fleet, Some("demo-b"), None));
    // The real server holds the demo data too (other tests add namespaces of their own).
    let real = entries(&fleet, Some("real"), Some(&demo_namespaces));
    assert!(!real.is_empty());
    assert_eq!(real, entries(&alone("real"), None, Some(&demo_namespaces)));

    // Each failure: its own context, one error line, exit code 2 for it; the rest went on.
    for (ctx, says) in [
        ("down", "cannot reach the Kubernetes API at https://127.0.0.1:1"),
        ("revoked", "401 Unauthorized: expired or revoked"),
        ("exec-hang", "within 5 s"),
    ] {
        let s = summary(&fleet, ctx);
        assert!(s["error"].as_str().unwrap().contains(says), "{ctx}: {s}");
        if ctx == "exec-hang" {
            assert!(s["error"].as_str().unwrap().contains("exec credential plugin"), "{s}");
        }
        assert_eq!(s["exit_code"], 2, "{ctx}");
        assert_eq!(s["clusters"], 0, "{ctx}");
        let lines: Vec<&Value> =
            fleet["errors"].as_array().unwrap().iter().filter(|e| e["context"] == ctx).collect();
        assert_eq!(lines.len(), 1, "{ctx}: {lines:?}");
    }
    assert!(fleet["errors"].as_array().unwrap().iter().all(|e| e["context"].is_string()));
    assert!(summary(&fleet, "real")["error"].is_null());
    // The hanging plugin had 5 s; it was killed, not waited for.
    assert!(took < Duration::from_secs(20), "{took:?}");
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let gone = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        !Path::new(&format!("/proc/{}", pid.trim())).exists()
    });
    assert!(gone, "the hanging exec plugin (pid {pid}) outlived the scan");

    // The table groups by context; SARIF names the context of each result.
    let (_, table, _, _) = raydar(&files, &["scan", "--all-contexts", "--context-timeout", "5"]);
    for ctx in ["demo-a", "demo-b", "real", "exec-ok"] {
        assert!(table.contains(&format!("══ context {ctx} ·")), "{ctx}:\n{table}");
    }
    let down = table.lines().find(|l| l.starts_with("down ")).unwrap();
    assert!(down.contains("error: cannot reach"), "{down}");
    let (_, sarif, _, _) =
        raydar(&files, &["scan", "--context", "demo-a", "--context", "real", "-o", "sarif"]);
    let sarif: Value = serde_json::from_str(&sarif).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let ctxs: BTreeSet<&str> =
        results.iter().map(|r| r["properties"]["context"].as_str().unwrap()).collect();
    assert_eq!(ctxs, BTreeSet::from(["demo-a", "real"]));
    assert!(results.iter().all(|r| {
        let fq = r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].as_str().unwrap();
        fq.starts_with(&format!("{}/", r["properties"]["context"].as_str().unwrap()))
    }));

    // Exit codes: the worst over the contexts.
    let two = ["scan", "--context", "demo-a", "--context", "demo-b", "-o", "json"];
    assert_eq!(raydar(&files, &two).0, 0);
    let failing = [&two[..], &["--fail-on", "critical"]].concat();
    assert_eq!(raydar(&files, &failing).0, 1);
    let with_down = [&failing[..], &["--context", "down"]].concat();
    assert_eq!(raydar(&files, &with_down).0, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn commands_of_one_context_refuse_several() {
    // --all-contexts is scan's and the TUI's own flag: other commands do not take it.
    let (code, _, err, _) =
        raydar(&[], &["fix", "ns/c", "--fix", "service-clusterip", "--all-contexts"]);
    assert_eq!(code, 2);
    assert!(err.contains("unexpected argument '--all-contexts'"), "{err}");
    for args in [
        &["forward", "ns/c", "--context", "a", "--context", "b"][..],
        &["fix", "ns/c", "--fix", "service-clusterip", "--context", "a", "--context", "b"],
        &["guard", "status", "--context", "a", "--context", "b"],
    ] {
        let dir = std::env::temp_dir().join(format!("raydar-fleet-one-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kc = dir.join("kc.yaml");
        std::fs::write(
            &kc,
            "apiVersion: v1\nkind: Config\ncurrent-context: a\nclusters:\n- name: c\n  cluster: {server: \"https://127.0.0.1:1\"}\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n- name: b\n  context: {cluster: c, user: u}\nusers:\n- name: u\n  user: {token: t}\n",
        )
        .unwrap();
        let (code, _, err, _) = raydar(&[kc], args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains("acts on one context"), "{args:?}: {err}");
    }
}

/// tmux: the TUI on two demo servers with different data and an unreachable one. The contexts
/// pane shows each with its grade and state; picking a context narrows the rows; forward, fix
/// and undo of a cluster that exists on one server only act on that server; `:ctx all` and
/// `:ctx NAME` enter and leave the fleet.
#[cfg_attr(not(tmux), ignore = "needs tmux on PATH")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tui_watches_every_context_and_acts_on_the_selected_clusters_own() {
    use k8s_openapi::api::core::v1::Service;
    use std::process::Command;
    let a = DemoServer::start(DemoOptions::default()).await.unwrap();
    let b = DemoServer::start(DemoOptions { population: Some((2, 4)), ..Default::default() })
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("raydar-fleet-tui-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = [dir.join("a.yaml"), dir.join("b.yaml"), dir.join("down.yaml")];
    std::fs::write(&files[0], a.kubeconfig_named(DemoUser::Admin, "demo-a")).unwrap();
    std::fs::write(&files[1], b.kubeconfig_named(DemoUser::Admin, "demo-b")).unwrap();
    std::fs::write(
        &files[2],
        "apiVersion: v1\nkind: Config\nclusters:\n- name: down\n  cluster: {server: \"https://127.0.0.1:1\"}\ncontexts:\n- name: down\n  context: {cluster: down, user: u}\nusers:\n- name: u\n  user: {token: t}\n",
    )
    .unwrap();
    let sock = format!("raydar-fleet-{}", std::process::id());
    let _server = crate::common::TmuxServer(sock.clone());
    let tmux = |args: &[&str]| -> String {
        let o = Command::new("tmux").arg("-L").arg(&sock).args(args).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let kubeconfig = std::env::join_paths(&files).unwrap();
    let shell = format!(
        "env -i HOME={0} XDG_STATE_HOME={0}/state KUBECONFIG={1} TERM=xterm-256color PATH=/usr/bin:/bin bash --norc --noprofile",
        dir.display(),
        kubeconfig.to_string_lossy()
    );
    tmux(&["new-session", "-d", "-s", "f", "-x", "150", "-y", "40", &shell]);
    let screen = || tmux(&["capture-pane", "-t", "f", "-p"]);
    let wait_for = |what: &str| {
        (0..150).any(|_| {
            if screen().contains(what) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
            false
        })
    };
    let keys = |k: &[&str]| {
        tmux(&[&["send-keys", "-t", "f"][..], k].concat());
    };
    let bin = env!("CARGO_BIN_EXE_raydar");
    keys(&[
        &format!("{bin} --context demo-a --context demo-b --context down; echo RAYDAR-EXIT=$?"),
        "Enter",
    ]);
    assert!(wait_for("2 of 3 contexts live"), "{}", screen());
    assert!(wait_for("Ray clusters (16)"), "{}", screen());
    let s = screen();
    assert!(s.contains(" Contexts "), "{s}");
    assert!(s.contains("✗down"), "the unreachable context is marked down:\n{s}");
    assert!(s.contains("down down: cannot reach https://127.0.0.1:1"), "{s}");
    assert!(
        s.contains(" CONTEXT ") && s.contains("demo-a/ray-dev"),
        "rows name their context:\n{s}"
    );
    assert!(s.lines().any(|l| l.contains("train-exposed") && l.contains("demo-a")), "{s}");
    // Pick a context: its rows only.
    keys(&["Tab", "Tab", "Down"]);
    assert!(wait_for("Ray clusters (12)"), "{}", screen());
    keys(&["Down"]);
    assert!(wait_for("Ray clusters (4)"), "{}", screen());
    assert!(screen().contains("ctx: demo-b"), "{}", screen());
    keys(&["Up", "Up", "Tab", "Tab"]);
    assert!(wait_for("Ray clusters (16)"), "{}", screen());
    // train-exposed lives on server a only: forward and fix reach it there.
    keys(&["/", "train-exposed", "Enter"]);
    assert!(wait_for("(1) /train-exposed"), "{}", screen());
    keys(&["f"]);
    assert!(wait_for("ray-prod/train-exposed → http://127.0.0.1:"), "{}", screen());
    keys(&["Escape"]);
    keys(&["r"]);
    assert!(wait_for("in context demo-a"), "{}", screen());
    assert!(wait_for("y apply 2 write(s)"), "{}", screen());
    keys(&["y"]);
    assert!(wait_for("applied"), "{}", screen());
    let svc: kube::Api<Service> =
        kube::Api::namespaced(a.client(DemoUser::Admin).await.unwrap(), "ray-prod");
    let svc_type = || async {
        let s = svc.get("train-exposed-head-svc").await.unwrap();
        s.spec.unwrap().type_.unwrap()
    };
    assert_eq!(svc_type().await, "ClusterIP");
    keys(&["u"]);
    assert!(wait_for("undo of change"), "{}", screen());
    keys(&["y"]);
    assert!(wait_for(" PUBLIC "), "{}", screen());
    assert_eq!(svc_type().await, "LoadBalancer");
    // :ctx NAME leaves the fleet, :ctx all comes back.
    keys(&[":", "ctx demo-b", "Enter"]);
    // The switch's notice and the pane's going are one frame; "context demo-b" alone may be
    // on screen before it (a fix preview names the context).
    let left = (0..150).any(|_| {
        let s = screen();
        if s.contains("context demo-b") && !s.contains(" Contexts ") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
        false
    });
    assert!(left, "{}", screen());
    keys(&[":", "ctx all", "Enter"]);
    assert!(wait_for(" Contexts "), "{}", screen());
    assert!(wait_for("contexts live"), "{}", screen());
    keys(&["q"]);
    assert!(wait_for("RAYDAR-EXIT=0"), "{}", screen());
    tmux(&["kill-server"]);
    let _ = std::fs::remove_dir_all(&dir);
}
