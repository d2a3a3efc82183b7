//! `raydar scan` end to end: through kube-rs against the demo server (admin and the limited
//! user), on manifest fixtures, in every output format, with snapshots, schema checks and the
//! guarantee that secret values never reach any output.

use raydar::cluster::ConnectSpec;
use raydar::demo::{DemoOptions, DemoServer, DemoUser};
use raydar::options::Options;
use raydar::posture::PostureConfig;
use raydar::report::{self, Report};
use serde_json::Value;
use std::path::PathBuf;

/// Options for a scan through the kubeconfig at `kc` (its current context), with `cfg`.
pub fn opts(kc: Option<PathBuf>, cfg: PostureConfig) -> Options {
    let spec = ConnectSpec { kubeconfig: kc, ..ConnectSpec::default() };
    Options { posture: cfg, ..Options::new(spec) }
}

async fn live_report(s: &DemoServer, user: DemoUser, dir: &std::path::Path) -> Report {
    let kc = dir.join(format!("{}.kubeconfig", user.context()));
    s.write_kubeconfig(&kc, user).unwrap();
    let mut o = opts(Some(kc), PostureConfig::demo());
    o.target.context = Some(user.context().into());
    raydar::scan::gather(&o, &[]).await.unwrap().0
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("raydar-scan-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests")
}

/// The JSON shape of README: `raydar scan`, JSON, checked key by key.
fn check_report_schema(v: &Value) {
    let keys = |o: &Value| -> Vec<String> {
        let mut k: Vec<String> = o.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(v), ["clusters", "errors", "raydar_version", "source"]);
    assert!(v["raydar_version"].is_string() && v["source"].is_string());
    for c in v["clusters"].as_array().unwrap() {
        assert_eq!(
            keys(c),
            [
                "findings",
                "grade",
                "grade_reason",
                "kind",
                "name",
                "namespace",
                "owner",
                "ray_version"
            ]
        );
        assert!(["A", "B", "C", "D", "F"].contains(&c["grade"].as_str().unwrap()));
        let reason = c["grade_reason"].as_str().unwrap();
        assert!(!reason.is_empty() && !reason.contains('\n'), "{reason}");
        assert!(["RayCluster", "RayJob", "RayService", "RayCronJob"]
            .contains(&c["kind"].as_str().unwrap()));
        assert!(c["owner"].is_null() || keys(&c["owner"]) == ["kind", "name"]);
        assert!(c["ray_version"].is_null() || c["ray_version"].is_string());
        for f in c["findings"].as_array().unwrap() {
            assert_eq!(
                keys(f),
                ["evidence", "fix", "remediation", "rule", "section", "severity", "title"]
            );
            assert!(["info", "low", "medium", "high", "critical"]
                .contains(&f["severity"].as_str().unwrap()));
            assert!(f["rule"].as_str().unwrap().starts_with("RAY-"));
            assert!(f["fix"].is_null() || f["fix"].is_string());
        }
    }
    for e in v["errors"].as_array().unwrap() {
        assert!(e["message"].is_string());
        for k in keys(e) {
            assert!(
                ["namespace", "file", "document", "message"].contains(&k.as_str()),
                "unexpected error key {k}"
            );
        }
    }
}

fn check_sarif_schema(v: &Value) {
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), raydar::posture::RULES.len());
    for r in run["results"].as_array().unwrap() {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(ids[i], r["ruleId"].as_str().unwrap());
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
        assert!(r["message"]["text"].is_string());
        assert!(!r["locations"].as_array().unwrap().is_empty());
    }
}

#[tokio::test]
async fn demo_scan_through_kube_rs_snapshots_and_schema() {
    let s = DemoServer::start(DemoOptions::default()).await.unwrap();
    let dir = tmpdir("admin");
    let r = live_report(&s, DemoUser::Admin, &dir).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    // Every rule of the catalog is raised somewhere on the demo.
    for rule in raydar::posture::RULES {
        assert!(
            r.clusters.iter().flat_map(|c| &c.findings).any(|f| f.rule.id == rule.id),
            "{} not raised on the demo",
            rule.id
        );
    }
    let hardened = r.clusters.iter().find(|c| c.name == "hardened").unwrap();
    assert_eq!(hardened.grade, Some(raydar::posture::Grade::A), "{}", hardened.grade_reason);
    assert!(
        hardened.findings.iter().all(|f| f.severity == raydar::posture::Severity::Info),
        "{:?}",
        hardened.findings
    );
    let json = r.json();
    check_report_schema(&serde_json::from_str(&json).unwrap());
    let sarif = report::sarif(&r, &Default::default());
    check_sarif_schema(&serde_json::from_str(&sarif).unwrap());
    let mut stable = r.clone();
    stable.source = "demo".into();
    insta::assert_snapshot!("demo_table", report::table(&stable, false));
    insta::assert_snapshot!("demo_json", stable.json());
    insta::assert_snapshot!("rules_table", report::rules_table());
    let rules: Value = serde_json::from_str(&report::rules_json()).unwrap();
    assert!(rules["grades"].as_str().unwrap().contains("F: someone outside the cluster"));
    for r in rules["rules"].as_array().unwrap() {
        let mut k: Vec<&String> = r.as_object().unwrap().keys().collect();
        k.sort();
        assert_eq!(k, ["fix", "id", "remediation", "section", "severity", "title"]);
    }
    assert_eq!(rules["rules"].as_array().unwrap().len(), raydar::posture::RULES.len());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn limited_user_gets_partial_results_and_exit_3() {
    let s = DemoServer::start(DemoOptions::default()).await.unwrap();
    let dir = tmpdir("limited");
    let r = live_report(&s, DemoUser::Limited, &dir).await;
    let namespaces: std::collections::BTreeSet<&str> =
        r.clusters.iter().map(|c| c.namespace.as_str()).collect();
    assert_eq!(namespaces.into_iter().collect::<Vec<_>>(), ["ml-team", "ray-dev"]);
    let ml = r.errors.iter().find(|e| e.namespace.as_deref() == Some("ml-team")).unwrap();
    assert_eq!(ml.message, "forbidden: list networkpolicies");
    assert!(r.errors.iter().any(|e| e.namespace.as_deref() == Some("ray-prod")));
    // Unreadable kinds do not become false findings.
    let etl = r.clusters.iter().find(|c| c.name == "etl").unwrap();
    assert!(!etl.findings.iter().any(|f| f.rule.id.starts_with("RAY-NET-")), "{:?}", etl.findings);
    assert_eq!(r.exit_code(None), 3);
    assert_eq!(r.exit_code(Some(raydar::posture::Severity::Critical)), 1);
    check_report_schema(&serde_json::from_str(&r.json()).unwrap());
    let _ = std::fs::remove_dir_all(dir);
}

/// The streamed `scan -o json` writes exactly the report the collected scan builds, also when
/// results are partial; and the same for a population large enough to span many list pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_json_is_the_collected_report() {
    let dir = tmpdir("stream");
    for (demo, user) in [
        (DemoOptions::default(), DemoUser::Admin),
        (DemoOptions::default(), DemoUser::Limited),
        (DemoOptions { population: Some((40, 300)), ..Default::default() }, DemoUser::Admin),
    ] {
        let s = DemoServer::start(demo).await.unwrap();
        let kc = dir.join(format!("{}.kubeconfig", user.context()));
        s.write_kubeconfig(&kc, user).unwrap();
        let mut g = opts(Some(kc), PostureConfig::demo());
        g.target.context = Some(user.context().into());
        let (report, _) = raydar::scan::gather(&g, &[]).await.unwrap();
        let mut collected = Vec::new();
        report.write_json(&mut collected).unwrap();
        let mut streamed = Vec::new();
        let code = raydar::scan::stream_json(&g, &mut streamed, None).await.unwrap();
        assert_eq!(String::from_utf8(streamed).unwrap(), String::from_utf8(collected).unwrap());
        assert_eq!(code, report.exit_code(None));
        if user == DemoUser::Limited {
            assert_eq!(code, 3);
        }
        assert!(report.clusters.len() >= 8, "{}", report.clusters.len());
        // The namespace-by-namespace merge sees what listing everything at once sees.
        let conn = raydar::cluster::Connection::new(
            s.client(user).await.unwrap(),
            user.context(),
            &s.url(),
        );
        let (inv, errors) = raydar::cluster::list_inventory(
            &conn,
            &raydar::cluster::Scope::All,
            std::sync::Arc::new(raydar::cluster::Progress::default()),
        )
        .await
        .unwrap();
        let all_at_once = raydar::posture::evaluate(&inv, &g.posture);
        assert_eq!(report.clusters, all_at_once);
        assert_eq!(report.errors, errors);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn manifests_files_directories_lists_and_broken_documents() {
    let (r, origins) =
        raydar::scan::gather(&opts(None, PostureConfig::default()), &[fixtures()]).await.unwrap();
    assert_eq!(r.source, "files");
    let web = r.clusters.iter().find(|c| c.name == "web").unwrap();
    let rules: Vec<&str> = web.findings.iter().map(|f| f.rule.id).collect();
    for want in [
        "RAY-SVC-001",
        "RAY-EXP-002",
        "RAY-CRED-001",
        "RAY-NET-003",
        "RAY-VER-001",
        "RAY-QUOTA-001",
    ] {
        assert!(rules.contains(&want), "{want} in {rules:?}");
    }
    assert!(web.findings.iter().any(|f| f.rule.id == "RAY-EXP-002"
        && f.evidence
            .contains("Service analytics/web-dash type=NodePort port 80 → dashboard 8265")));
    // Only the dashboard is declared, so KubeRay's head Service carries no GCS/client port.
    assert!(!rules.contains(&"RAY-EXP-001"));
    assert!(web.findings.iter().any(|f| f.rule.id == "RAY-EXP-002"
        && f.evidence.contains("headGroupSpec.serviceType=LoadBalancer")));
    let job = r.clusters.iter().find(|c| c.name == "batch").unwrap();
    assert_eq!(job.findings[0].rule.id, "RAY-JOB-001");
    // The malformed RayCluster and the broken YAML are reported with file and document.
    assert_eq!(r.errors.len(), 2, "{:?}", r.errors);
    assert!(r.errors.iter().all(|e| e.file.as_deref().is_some_and(|f| f.ends_with("broken.yaml"))));
    let typo = r.errors.iter().find(|e| e.document == Some(2)).unwrap();
    assert!(
        typo.message.contains("RayCluster analytics/typo") && typo.message.contains("replicas"),
        "{}",
        typo.message
    );
    assert_eq!(r.exit_code(None), 3);
    let sarif: Value = serde_json::from_str(&report::sarif(&r, &origins)).unwrap();
    check_sarif_schema(&sarif);
    let uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
        ["artifactLocation"]["uri"]
        .as_str()
        .unwrap();
    assert!(uri.ends_with(".yaml") || uri.ends_with(".json"), "{uri}");
    check_report_schema(&serde_json::from_str(&r.json()).unwrap());
}

#[tokio::test]
async fn secret_values_never_appear_in_any_output() {
    let s = DemoServer::start(DemoOptions::default()).await.unwrap();
    let dir = tmpdir("secrets");
    let live = live_report(&s, DemoUser::Admin, &dir).await;
    let (files, origins) =
        raydar::scan::gather(&opts(None, PostureConfig::default()), &[fixtures()]).await.unwrap();
    let planted = [
        "PLANTED-ACCESS-KEY-VALUE",
        "PLANTED-SECRET-KEY-VALUE",
        "LTAI5tDemoKeyId0000000000",
        "DemoSecretValue0000000000000000",
        "LTAI5tDemoOssKey",
    ];
    for r in [&live, &files] {
        for out in
            [r.json(), report::table(r, false), report::table(r, true), report::sarif(r, &origins)]
        {
            for p in planted {
                assert!(!out.contains(p), "secret value {p} leaked into output");
            }
        }
    }
    assert!(
        live.clusters
            .iter()
            .flat_map(|c| &c.findings)
            .any(|f| f.rule.id == "RAY-CRED-001"
                && f.evidence.contains("ALIBABA_CLOUD_ACCESS_KEY_ID"))
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn raydar(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_raydar"))
        .args(args)
        .env("KUBECONFIG", "/nonexistent/raydar-test-kubeconfig")
        .env("XDG_CONFIG_HOME", std::env::temp_dir().join("raydar-no-config"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn cli_exit_codes_and_one_line_errors() {
    let (code, out, _) = raydar(&["scan", "--demo", "-o", "json", "--fail-on", "critical"], None);
    assert_eq!(code, 1);
    check_report_schema(&serde_json::from_str(&out).unwrap());
    let clean = "apiVersion: ray.io/v1\nkind: RayJob\nmetadata: {name: j, namespace: x}\nspec: {entrypoint: e, clusterSelector: {ray.io/cluster: c}}\n";
    assert_eq!(raydar(&["scan", "-f", "-", "--fail-on", "medium"], Some(clean)).0, 0);
    assert_eq!(raydar(&["scan", "-f", "-", "--fail-on", "low"], Some(clean)).0, 1);
    let (code, out, _) = raydar(&["scan", "-f", "-", "-o", "sarif"], Some(clean));
    assert_eq!(code, 0);
    check_sarif_schema(&serde_json::from_str(&out).unwrap());
    let (code, _, err) = raydar(&["scan"], None);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/raydar-test-kubeconfig"), "{err}");
    // Flags only where they act: each command's help lists its own.
    let help = |args: &[&str]| raydar(args, None).1;
    let rules = help(&["rules", "--help"]);
    for f in ["--theme", "--read-only", "--all-contexts", "--context-timeout"] {
        assert!(!rules.contains(f), "rules --help offers {f}");
    }
    let scan = help(&["scan", "--help"]);
    assert!(!scan.contains("--theme") && !scan.contains("--read-only"), "{scan}");
    assert!(scan.contains("--all-contexts") && scan.contains("--color"), "{scan}");
    assert!(help(&["fix", "--help"]).contains("--read-only"));
    assert!(!help(&["fix", "--help"]).contains("--all-contexts"));
    let (code, _, err) = raydar(&["--theme", "light", "scan"], None);
    assert_eq!(code, 2, "a TUI flag before a subcommand: {err}");
    // Shell completions that bash accepts, for every shell clap_complete knows; a man page.
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (code, out, _) = raydar(&["completion", shell], None);
        assert!(code == 0 && out.contains("raydar") && out.len() > 1000, "{shell}: {out}");
    }
    let (_, bash, _) = raydar(&["completion", "bash"], None);
    let script =
        std::env::temp_dir().join(format!("raydar-completion-{}.bash", std::process::id()));
    std::fs::write(&script, bash).unwrap();
    let o = std::process::Command::new("bash")
        .args(["--norc", "-c", &format!("source {} && complete -p raydar", script.display())])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("_raydar"), "{o:?}");
    let _ = std::fs::remove_file(&script);
    let (code, man, _) = raydar(&["man"], None);
    assert!(code == 0 && man.contains(".TH raydar 1") && man.contains("scan"), "{man}");
    // One rule explained: section, checks, a real example from the demo, fix, guard.
    let (code, out, _) = raydar(&["rules", "RAY-EXP-002"], None);
    assert_eq!(code, 0);
    for part in [
        "§1.5",
        "checks:",
        "example:     Service ",
        "--fix service-clusterip",
        "guard:       raydar guard apply (on by default)",
    ] {
        assert!(out.contains(part), "{part}: {out}");
    }
    let (code, out, _) = raydar(&["rules", "ray-net-004", "-o", "json"], None);
    assert_eq!(code, 0);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["id"], "RAY-NET-004");
    assert!(r["example_evidence"].as_str().unwrap().contains("stray-head"), "{r}");
    assert!(r["fix"].is_null() && r["guard"].is_null());
    let (code, out, _) = raydar(&["rules", "RAY-AUTH-001", "-o", "json"], None);
    assert_eq!(code, 0);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["guard"]["default_on"], false);
    assert!(r["guard"]["cel"].as_str().unwrap().contains("enableK8sTokenAuth"));
    let (code, _, err) = raydar(&["rules", "RAY-NOPE"], None);
    assert_eq!((code, err.lines().count()), (2, 1), "{err}");
    // Colour: never through a pipe by default, on with --color always, off with never.
    let ray = "apiVersion: ray.io/v1\nkind: RayCluster\nmetadata: {name: r, namespace: x}\nspec: {headGroupSpec: {template: {spec: {containers: [{name: h, image: i}]}}}}\n";
    assert!(!raydar(&["scan", "-f", "-"], Some(ray)).1.contains('\x1b'));
    assert!(raydar(&["scan", "-f", "-", "--color", "always"], Some(ray)).1.contains("\x1b["));
    assert!(!raydar(&["scan", "-f", "-", "--color", "never"], Some(ray)).1.contains('\x1b'));
    // Several paths after one -f, as a shell glob expands `-f samples/*.yaml`.
    let samples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kuberay-samples");
    let (a, b) =
        (samples.join("ray-cluster.auth.yaml"), samples.join("ray-cluster.kubernetes.auth.yaml"));
    let (code, out, err) =
        raydar(&["scan", "-f", a.to_str().unwrap(), b.to_str().unwrap(), "-o", "json"], None);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["clusters"].as_array().unwrap().len(), 2, "{out}");
    let (code, _, err) = raydar(&["scan", "-f", "/nonexistent/manifests"], None);
    assert_eq!((code, err.lines().count()), (2, 1));
    let (code, out, _) = raydar(&["rules", "-o", "json"], None);
    assert_eq!(code, 0);
    assert!(serde_json::from_str::<Value>(&out).unwrap()["grades"].is_string());
    // The advisories loaded, how old, and the version facts with their sources.
    let (code, out, _) = raydar(&["rules", "--advisories", "-o", "json"], None);
    assert_eq!(code, 0);
    let a: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(a["source"], "built-in");
    assert!(a["count"].as_u64().unwrap() >= 10 && a["age_days"].is_i64(), "{a}");
    assert!(a["facts"]["k8s_token_auth"]["source"].as_str().unwrap().contains("validation.go"));
    let (code, out, _) = raydar(&["rules", "--advisories"], None);
    assert!(
        code == 0 && out.contains("GHSA-q279-jhrf-cc6v") && out.contains("Version facts"),
        "{out}"
    );
    // A user's OSV file replaces the built-in one; a broken one is a one-line error naming
    // file and entry, for scan and rules alike.
    let dir = std::env::temp_dir().join(format!("raydar-osv-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.json");
    std::fs::write(&good, r#"{"id": "GHSA-user-0001", "modified": "2027-01-01T00:00:00Z", "summary": "user's",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "ray"},
          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9.0.0"}]}]}]}"#).unwrap();
    let (code, out, _) = raydar(&["rules", "--advisories", good.to_str().unwrap()], None);
    assert!(code == 0 && out.contains("GHSA-user-0001") && !out.contains("GHSA-q279"), "{out}");
    let ray = "apiVersion: ray.io/v1\nkind: RayCluster\nmetadata: {name: r, namespace: x}\nspec: {rayVersion: '2.60.0', headGroupSpec: {template: {spec: {containers: [{name: h, image: i}]}}}}\n";
    let (_, out, _) = raydar(
        &["scan", "-f", "-", "-o", "json", "--advisories", good.to_str().unwrap()],
        Some(ray),
    );
    assert!(out.contains("GHSA-user-0001") && out.contains("9.0.0 fixes all of them"), "{out}");
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"[{"id": "GHSA-bad-0001", "affected": [{"package": {"ecosystem": "PyPI", "name": "ray"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "soon"}]}]}]}]"#,
    )
    .unwrap();
    for args in [vec!["scan", "-f", "-", "--advisories"], vec!["rules", "--advisories"]] {
        let mut args = args.clone();
        args.push(bad.to_str().unwrap());
        let (code, _, err) = raydar(&args, Some(ray));
        assert_eq!(code, 2, "{args:?}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("bad.json") && err.contains("GHSA-bad-0001") && err.contains("\"soon\""),
            "{err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (code, _, err) = raydar(&["fix", "a/b", "--fix", "network-policy"], None);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/raydar-test-kubeconfig"), "{err}");
}

#[tokio::test]
async fn kuberay_missing_and_unreachable_servers_are_one_clear_line() {
    // A server without the ray.io kinds: the demo answers 404 for an injected path.
    let s = DemoServer::start(DemoOptions::default()).await.unwrap();
    s.inject_error(Some("GET"), "/apis/ray.io/v1/rayclusters", 404, 1);
    let dir = tmpdir("nokuberay");
    let kc = dir.join("kc");
    s.write_kubeconfig(&kc, DemoUser::Admin).unwrap();
    let g = opts(Some(kc.clone()), PostureConfig::default());
    let e = raydar::scan::gather(&g, &[]).await.unwrap_err();
    assert!(e.contains("KubeRay CRDs") && e.contains("context raydar-demo"), "{e}");
    let url = s.url();
    drop(s);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let e = raydar::scan::gather(&g, &[]).await.unwrap_err();
    assert!(e.contains("cannot reach") && e.contains(&url), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A fleet scan's JSON, written entry by entry as each context is evaluated, is what the
/// whole report would serialize to (but the contexts' timings), and its entries are each
/// context's own scan, tagged with the context.
#[tokio::test]
async fn a_fleet_json_written_as_it_goes_is_the_whole_reports_json() {
    let dir = tmpdir("fleet-stream");
    let s = DemoServer::start(DemoOptions::default()).await.unwrap();
    let kc = dir.join("demo.kubeconfig");
    s.write_kubeconfig(&kc, DemoUser::Admin).unwrap();
    let mut g = opts(Some(kc), PostureConfig::demo());
    let contexts: Vec<String> =
        [DemoUser::Limited, DemoUser::Admin].iter().map(|u| u.context().to_string()).collect();
    g.contexts = contexts.clone();
    let streamed = raydar::scan::fleet::scan(&g, &contexts, true, None).await;
    let kept = raydar::scan::fleet::scan(&g, &contexts, false, None).await;
    assert!(streamed.report.clusters.is_empty());
    assert_eq!(streamed.code, 3, "the limited user's scan is partial");
    assert_eq!(streamed.code, kept.code);
    let text = |f: &raydar::scan::fleet::Fleet, whole: bool| {
        let mut out = Vec::new();
        if whole {
            f.report.write_json(&mut out).unwrap();
        } else {
            f.write_json(&mut out).unwrap();
        }
        let s = String::from_utf8(out).unwrap();
        s.lines().filter(|l| !l.contains("\"seconds\":")).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(text(&streamed, false), text(&kept, true));
    assert_eq!(text(&kept, false), text(&kept, true));
    // Each context's entries are its own scan's.
    for ctx in &contexts {
        g.target.context = Some(ctx.clone());
        let (alone, _) = raydar::scan::gather(&g, &[]).await.unwrap();
        let mine: Vec<_> = kept
            .report
            .clusters
            .iter()
            .filter(|e| e.context.as_deref() == Some(ctx.as_str()))
            .map(|e| raydar::posture::Entry { context: None, ..e.clone() })
            .collect();
        assert_eq!(mine, alone.clusters, "{ctx}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
