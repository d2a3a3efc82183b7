//! Fleet scans (issue #17): 10 contexts × 500 Ray clusters, each an embedded demo API server of
//! its own (a process, as a cluster is its own machine), one kubeconfig. Prints the wall time of
//! `raydar scan --context …×10 -o json` against the slowest of the ten single-context scans,
//! measured in the same run (medians of 5), and the ratio (target ≤ 1.3).
//!
//! It runs twice: with servers that answer at once (all eleven processes share the same two
//! cores, so the ten scans' CPU bounds the fleet), and with every response 100 ms late
//! (`FLEET_LATENCY_MS`), which is what the real kube-apiserver takes for the same population:
//! servers that are not on the scanning laptop's own cores, as a fleet's are.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common.rs"]
mod common;

use common::{median, spawn_demo_server};
use std::process::Command;
use std::time::{Duration, Instant};

const CONTEXTS: usize = 10;
const CLUSTERS: usize = 500;
const RUNS: usize = 5;

fn scan(kubeconfig: &str, contexts: &[String]) -> Duration {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_raydar"));
    cmd.args(["scan", "-o", "json"]).env("KUBECONFIG", kubeconfig);
    for c in contexts {
        cmd.args(["--context", c]);
    }
    let t = Instant::now();
    let out = cmd.output().unwrap();
    let took = t.elapsed();
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = report["clusters"].as_array().map_or(0, Vec::len);
    assert_eq!(n, CLUSTERS * contexts.len(), "every cluster of every context is in the report");
    took
}

/// Ten demo servers answering after `latency` ms; the medians of the slowest single scan,
/// the ten singles one after another, and the fleet scan.
fn measure(dir: &std::path::Path, latency: u64) -> (Duration, Duration, Duration) {
    let ns = (CLUSTERS / 10).to_string();
    let clusters = CLUSTERS.to_string();
    let latency = latency.to_string();
    let mut servers = Vec::new();
    let mut files = Vec::new();
    let mut contexts = Vec::new();
    for i in 0..CONTEXTS {
        let name = format!("region{i}");
        let args =
            ["--namespaces", &ns, "--clusters", &clusters, "--latency", &latency, "--name", &name];
        let kc = dir.join(format!("{name}.yaml"));
        let (child, _) = spawn_demo_server(&args, &kc);
        servers.push(child);
        files.push(kc);
        contexts.push(name);
    }
    let kubeconfig = std::env::join_paths(&files).unwrap().to_string_lossy().into_owned();
    // Warm up: page cache, TLS session setup paths.
    scan(&kubeconfig, &contexts);
    let (mut slowest, mut fleets, mut sums) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let singles: Vec<Duration> =
            contexts.iter().map(|c| scan(&kubeconfig, std::slice::from_ref(c))).collect();
        slowest.push(*singles.iter().max().unwrap());
        sums.push(singles.iter().sum());
        fleets.push(scan(&kubeconfig, &contexts));
    }
    for mut c in servers {
        let _ = c.kill();
        let _ = c.wait();
    }
    (median(slowest), median(sums), median(fleets))
}

fn main() {
    let dir = std::env::temp_dir().join(format!("raydar-fleet-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 100 ms per response makes a demo server's 500-cluster scan take what the real
    // kube-apiserver of the envtest fixture takes for 500 clusters (0.6–0.8 s, BENCHMARKS.md).
    let remote: u64 =
        std::env::var("FLEET_LATENCY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let s = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    for (latency, what) in [
        (0, "servers answering at once, on the scanner's own 2 cores (CPU-bound)"),
        (remote, "servers answering as slowly as a real kube-apiserver (the target)"),
    ] {
        let (slow, sum, fleet) = measure(&dir, latency);
        println!("fleet: {CONTEXTS} demo API servers × {CLUSTERS} Ray clusters, {latency} ms per response: {what}");
        println!("  {:<56} {}", "slowest single-context scan (median of 5)", s(slow));
        println!("  {:<56} {}", "the ten single-context scans one after another", s(sum));
        println!("  {:<56} {}", "fleet scan of the ten contexts (median of 5)", s(fleet));
        println!(
            "  {:<56} {:.2} ×{}",
            "fleet / slowest single",
            fleet.as_secs_f64() / slow.as_secs_f64(),
            if latency == 0 { "" } else { " (target ≤ 1.3)" }
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
