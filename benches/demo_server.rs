//! Demo API server benchmarks (BENCHMARKS.md, issue #2): start-up with the default data and with
//! 1,000 namespaces / 5,000 clusters, listing 5,000 RayClusters and 20,000 pods through kube-rs,
//! and the server's peak RSS. Prints medians of several runs measured in this one run.
//!
//!   cargo bench --bench demo_server            (RAYDAR_BENCH_RUNS=N to change the run count)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common.rs"]
mod common;
use common::{median, ms, peak_rss_mib, spawn_demo_server};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use raydar::demo::{DemoOptions, DemoServer, DemoUser};
use std::time::Instant;

#[tokio::main]
async fn main() {
    let runs: usize =
        std::env::var("RAYDAR_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    println!("demo API server benchmarks ({runs} runs each, medians)");

    // In-process start-up.
    for (label, opts) in [
        ("start-up, default data (in-process)", DemoOptions::default()),
        (
            "start-up, 1000 ns / 5000 clusters (in-process)",
            DemoOptions { population: Some((1000, 5000)), ..Default::default() },
        ),
    ] {
        let mut times = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let s = DemoServer::start(opts.clone()).await.unwrap();
            times.push(t.elapsed());
            drop(s);
        }
        println!("{label:<58} {}", ms(median(times)));
    }

    // The CLI, as users run it: process start to "ready".
    let dir = std::env::temp_dir().join(format!("raydar-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kc = dir.join("kubeconfig");
    for (label, args) in [
        ("`raydar demo-server` to ready, default data", vec![]),
        (
            "`raydar demo-server` to ready, 1000 ns / 5000 clusters",
            vec!["--namespaces", "1000", "--clusters", "5000"],
        ),
    ] {
        let mut times = Vec::new();
        for _ in 0..runs {
            let (mut child, ready) = spawn_demo_server(&args, &kc);
            times.push(ready);
            let _ = child.kill();
            let _ = child.wait();
        }
        println!("{label:<58} {}", ms(median(times)));
    }

    // Lists through kube-rs against the large population, served by the CLI process.
    let (mut child, _) = spawn_demo_server(&["--namespaces", "1000", "--clusters", "5000"], &kc);
    let kcfg = kube::config::Kubeconfig::read_from(&kc).unwrap();
    let opts = kube::config::KubeConfigOptions {
        context: Some(DemoUser::Admin.context().into()),
        ..Default::default()
    };
    let client =
        kube::Client::try_from(kube::Config::from_custom_kubeconfig(kcfg, &opts).await.unwrap())
            .unwrap();
    let rc = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("ray.io", "v1", "RayCluster"),
        "rayclusters",
    );
    let rcs: Api<DynamicObject> = Api::all_with(client.clone(), &rc);
    let pods: Api<Pod> = Api::all(client);
    let (mut t_rc, mut t_pods, mut t_paged) = (Vec::new(), Vec::new(), Vec::new());
    let (mut n_rc, mut n_pods) = (0, 0);
    for _ in 0..runs {
        let t = Instant::now();
        n_rc = rcs.list(&ListParams::default()).await.unwrap().items.len();
        t_rc.push(t.elapsed());
        let t = Instant::now();
        n_pods = pods.list(&ListParams::default()).await.unwrap().items.len();
        t_pods.push(t.elapsed());
        let t = Instant::now();
        let mut token: Option<String> = None;
        let mut total = 0;
        loop {
            let mut lp = ListParams::default().limit(500);
            if let Some(c) = &token {
                lp = lp.continue_token(c);
            }
            let page = pods.list(&lp).await.unwrap();
            total += page.items.len();
            token = page.metadata.continue_.filter(|c| !c.is_empty());
            if token.is_none() {
                break;
            }
        }
        assert_eq!(total, n_pods);
        t_paged.push(t.elapsed());
    }
    println!("{:<58} {}", format!("list {n_rc} RayClusters (one request)"), ms(median(t_rc)));
    println!("{:<58} {}", format!("list {n_pods} pods (one request)"), ms(median(t_pods)));
    println!("{:<58} {}", format!("list {n_pods} pods (pages of 500)"), ms(median(t_paged)));
    println!(
        "{:<58} {:.0} MiB",
        "server peak RSS (VmHWM) after the lists",
        peak_rss_mib(&child.id().to_string())
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
