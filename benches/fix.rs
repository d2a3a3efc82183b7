//! Fix latency (issue #6), medians from one run, against the in-process demo server over TLS:
//! - preview: read the namespace, plan, RBAC pre-check and server-side dry run;
//! - apply: the writes with preconditions and the journal line; then the undo the same way.
//!
//! On the named demo data and on a namespace of the 5,000-cluster population.
//!
//!   cargo bench --bench fix          (RAYDAR_BENCH_RUNS=N, default 15)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common.rs"]
mod common;
use common::{median, ms};

use raydar::demo::{DemoOptions, DemoServer, DemoUser};
use raydar::remediate::journal::Journal;
use raydar::remediate::session;
use raydar::remediate::FixId;
use std::time::Instant;

async fn measure(label: &str, opts: DemoOptions, ns: &str, entry: &str, fix: FixId, runs: usize) {
    let s = DemoServer::start(opts).await.expect("demo server");
    let c = s.client(DemoUser::Admin).await.expect("client");
    let dir = std::env::temp_dir().join(format!("raydar-fix-bench-{}", std::process::id()));
    let journal = Journal::new(dir.join("journal.jsonl"));
    let (mut prep, mut apply, mut undo) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let p = session::prepare_fix(&c, ns, entry, fix).await.expect("plan");
        prep.push(t.elapsed());
        assert!(p.ready() && !p.plan.is_empty(), "{:?}", p.dry_run);
        let t = Instant::now();
        session::commit(&c, &p.plan, &journal, "bench", &s.url()).await.expect("apply");
        apply.push(t.elapsed());
        let t = Instant::now();
        let (_, u) = session::prepare_undo(&c, &journal, &s.url(), None).await.expect("undo plan");
        session::commit(&c, &u.plan, &journal, "bench", &s.url()).await.expect("undo");
        undo.push(t.elapsed());
    }
    println!(
        "{:<58} {}",
        format!("{label}: preview (read, plan, RBAC, dry run)"),
        ms(median(prep))
    );
    println!("{:<58} {}", format!("{label}: apply (writes + journal)"), ms(median(apply)));
    println!(
        "{:<58} {}",
        format!("{label}: undo (plan, checks, dry run, writes)"),
        ms(median(undo))
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::main]
async fn main() {
    let runs: usize =
        std::env::var("RAYDAR_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(15);
    println!("fix benchmarks ({runs} runs each, medians)");
    measure(
        "service-clusterip, demo ray-prod/train-exposed",
        DemoOptions::default(),
        "ray-prod",
        "train-exposed",
        FixId::ServiceClusterip,
        runs,
    )
    .await;
    measure(
        "network-policy, demo ray-prod/train-exposed",
        DemoOptions::default(),
        "ray-prod",
        "train-exposed",
        FixId::NetworkPolicy,
        runs,
    )
    .await;
    // In the generated population every namespace has five clusters.
    let pop = DemoOptions { population: Some((1000, 5000)), ..Default::default() };
    let probe = DemoServer::start(pop.clone()).await.expect("demo server");
    let c = probe.client(DemoUser::Admin).await.expect("client");
    let rcs: kube::Api<raydar::kuberay::RayCluster> = kube::Api::all(c);
    let first = rcs.list(&kube::api::ListParams::default().limit(1)).await.expect("list");
    let rc = first.items.first().expect("a cluster");
    let (ns, name) = (rc.metadata.namespace.clone().unwrap(), rc.metadata.name.clone().unwrap());
    drop(probe);
    measure(
        &format!("security-context, population {ns}/{name}"),
        pop,
        &ns,
        &name,
        FixId::SecurityContext,
        runs.min(5),
    )
    .await;
}
