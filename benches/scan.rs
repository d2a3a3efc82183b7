//! Scan benchmarks (BENCHMARKS.md, issue #3), medians and ratios from one run:
//! - posture evaluation of 5,000 clusters (target ≤ 60 ms, issue #18);
//! - `raydar scan -A -o json` against `kubectl get rayclusters,pods,services,networkpolicies,
//!   resourcequotas,serviceaccounts,rolebindings -A -o json` on `demo-server --namespaces 1000
//!   --clusters 5000` (target ratio ≤ 0.5) and raydar's peak RSS (target ≤ 150 MB);
//! - `scan -f` of 100 manifests (target ≤ 100 ms).
//!
//!   cargo bench --bench scan          (RAYDAR_BENCH_RUNS=N, default 5; kubectl runs 3 times)
//!   RAYDAR_BENCH_EVAL_ONLY=N cargo bench --bench scan   (evaluation only, N runs: for perf)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common.rs"]
mod common;
use common::{median, ms, spawn_demo_server};

use raydar::posture::{evaluate, PostureConfig};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs a command under /usr/bin/time; returns wall time and max RSS in MiB.
fn timed(cmd: &str, args: &[&str], env: &[(&str, &str)]) -> (Duration, f64) {
    let t = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg(cmd)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("/usr/bin/time runs");
    let wall = t.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    let kb: f64 = err.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or(0.0);
    assert!(out.status.success() || out.status.code() == Some(1), "{cmd} failed: {err}");
    (wall, kb / 1024.0)
}

#[tokio::main]
async fn main() {
    let runs: usize =
        std::env::var("RAYDAR_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    println!("scan benchmarks ({runs} runs each, medians)");

    // 1. Posture evaluation alone, on an inventory listed from the 5,000-cluster demo.
    let inv = common::listed_population().await;
    let cfg = PostureConfig::default();
    // The in-process demo server is gone by now; let its memory be released and warm up
    // once, so the runs measure evaluation and not the server's teardown.
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::hint::black_box(evaluate(&inv, &cfg));
    // Timed: building the entries; not: dropping them (as criterion's `iter_with_large_drop`).
    // CPU time (all threads) comes from /proc, over all runs.
    let mut times = Vec::new();
    let mut n = 0;
    let eval_runs = runs.max(31);
    let cpu = common::cpu_time();
    for _ in 0..eval_runs {
        let t = Instant::now();
        let entries = evaluate(&inv, &cfg);
        times.push(t.elapsed());
        n = entries.len();
        drop(entries);
    }
    let cpu = (common::cpu_time() - cpu) / eval_runs as u32;
    let fastest = times.iter().min().copied().unwrap_or_default();
    println!(
        "{:<64} {}",
        format!(
            "posture evaluation, {} clusters / {} pods ({n} entries)",
            inv.ray_clusters.len(),
            inv.pods.len()
        ),
        ms(median(times))
    );
    println!("{:<64} {}", "  CPU time per evaluation (all threads, mean)", ms(cpu));
    // Other guests on this host steal CPU time: the fastest run is the code's cost without it.
    println!("{:<64} {}", "  fastest run", ms(fastest));
    if let Ok(n) = std::env::var("RAYDAR_BENCH_EVAL_ONLY") {
        // For profiling (perf record): only the evaluation, n more times.
        for _ in 0..n.parse::<usize>().unwrap_or(20) {
            let t = Instant::now();
            std::hint::black_box(evaluate(&inv, &cfg));
            eprintln!("evaluate: {}", ms(t.elapsed()));
        }
        return;
    }
    drop(inv);

    // 2. The CLI against `raydar demo-server --namespaces 1000 --clusters 5000`.
    let dir = std::env::temp_dir().join(format!("raydar-scan-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kc = dir.join("kubeconfig");
    let bin = env!("CARGO_BIN_EXE_raydar");
    let (mut server, _) = spawn_demo_server(&["--namespaces", "1000", "--clusters", "5000"], &kc);
    let kcs = kc.to_str().unwrap();
    let home = dir.to_str().unwrap();
    let (mut rw, mut rr) = (Vec::new(), Vec::new());
    for _ in 0..runs.min(5) {
        let (w, m) = timed(
            bin,
            &["scan", "-A", "-o", "json", "--kubeconfig", kcs],
            &[("XDG_CONFIG_HOME", home)],
        );
        rw.push(w);
        rr.push(m);
    }
    let kubectl = Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success());
    let (mut kw, mut kr) = (Vec::new(), Vec::new());
    if kubectl {
        let cache = dir.join("kcache");
        for _ in 0..3 {
            let (w, m) = timed("kubectl", &["--kubeconfig", kcs, "--cache-dir", cache.to_str().unwrap(), "get",
                "rayclusters,pods,services,networkpolicies,resourcequotas,serviceaccounts,rolebindings", "-A", "-o", "json"], &[]);
            kw.push(w);
            kr.push(m);
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    rr.sort_by(f64::total_cmp);
    let raydar_wall = median(rw);
    println!("{:<64} {}", "`raydar scan -A -o json`, 5000 clusters", ms(raydar_wall));
    println!(
        "{:<64} {:.0} MiB",
        "`raydar scan -A -o json` peak RSS (max over runs)",
        rr.last().copied().unwrap_or(0.0)
    );
    if kubectl {
        kr.sort_by(f64::total_cmp);
        let kw = median(kw);
        println!("{:<64} {}", "`kubectl get <7 kinds> -A -o json`, same server", ms(kw));
        println!(
            "{:<64} {:.0} MiB",
            "kubectl peak RSS (max over runs)",
            kr.last().copied().unwrap_or(0.0)
        );
        println!(
            "{:<64} {:.2}",
            "ratio raydar / kubectl (wall-time medians)",
            raydar_wall.as_secs_f64() / kw.as_secs_f64()
        );
    } else {
        println!("kubectl not on PATH: ratio not measured");
    }

    // 3. `scan -f` of 100 manifests (each a RayCluster with a Service and a NetworkPolicy).
    let mdir = dir.join("manifests");
    std::fs::create_dir_all(&mdir).unwrap();
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/manifests/exposed.yaml"
    ))
    .unwrap();
    for i in 0..100 {
        let text = template
            .replace("name: web", &format!("name: web-{i:03}"))
            .replace("ray.io/cluster: web", &format!("ray.io/cluster: web-{i:03}"));
        std::fs::write(mdir.join(format!("cluster-{i:03}.yaml")), text).unwrap();
    }
    let mut times = Vec::new();
    for _ in 0..runs {
        let (w, _) = timed(
            bin,
            &["scan", "-f", mdir.to_str().unwrap(), "-o", "json"],
            &[("XDG_CONFIG_HOME", home)],
        );
        times.push(w);
    }
    println!(
        "{:<64} {}",
        "`raydar scan -f` of 100 manifest files (process, wall)",
        ms(median(times))
    );
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let set = raydar::manifest::ManifestSet::load(std::slice::from_ref(&mdir)).unwrap();
        let e = evaluate(&set.inventory, &cfg);
        assert_eq!(e.len(), 100);
        times.push(t.elapsed());
    }
    println!("{:<64} {}", "load + evaluate 100 manifest files (in-process)", ms(median(times)));
    let _ = std::fs::remove_dir_all(&dir);
}
