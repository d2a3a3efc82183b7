//! raydar against a real kube-apiserver (the envtest fixture): the scan report equals the one
//! from the embedded demo server, and a user limited to one namespace scans the namespace their
//! context names, as kubectl would.

use crate::envtest::{envtest, RealUser, DEMO_DATA, LIMITED_NS};
use raydar::cli::Global;
use raydar::demo::{DemoServer, DemoUser};
use raydar::posture::PostureConfig;
use serde_json::Value;

pub fn global(kubeconfig: std::path::PathBuf) -> Global {
    Global {
        kubeconfig: Some(kubeconfig),
        context: None,
        namespaces: vec![],
        all_namespaces: false,
        demo: false,
        read_only: false,
        theme: None,
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_on_the_real_server_equals_the_embedded_one() {
    let Some(env) = envtest() else { return };
    let _turn = DEMO_DATA.lock().await;
    let cfg = PostureConfig::demo();
    let kc = env.write_kubeconfig(RealUser::Admin, "diff");
    let real = raydar::scan::gather(&global(kc), &[], &cfg).await.unwrap().0;

    let demo = DemoServer::start(Default::default()).await.unwrap();
    let dkc = env.dir.join("diff-demo.kubeconfig");
    demo.write_kubeconfig(&dkc, DemoUser::Admin).unwrap();
    let embedded = raydar::scan::gather(&global(dkc), &[], &cfg).await.unwrap().0;

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

#[tokio::test]
async fn a_limited_user_scans_the_namespace_their_context_names() {
    let Some(env) = envtest() else { return };
    let kc = env.write_kubeconfig(RealUser::Limited, "limited");
    let g = global(kc);
    let report = raydar::scan::gather(&g, &[], &PostureConfig::demo()).await.unwrap().0;
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
        .arg(g.kubeconfig.as_ref().unwrap())
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
    let report = raydar::scan::gather(&global(kc), &[], &PostureConfig::demo()).await.unwrap().0;
    assert!(report.clusters.iter().any(|c| c.namespace == "ray-prod"));
}
