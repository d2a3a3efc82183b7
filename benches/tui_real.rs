//! The TUI at scale on a real kube-apiserver (issue #14), one run, ratios from that run:
//! 1,000 KubeRay-shaped clusters (4,000 pods, 1,000+ Services) loaded into the envtest control
//! plane of the test suite, then
//! - `raydar scan -A -o json` wall time (median of 3);
//! - the TUI in tmux: start → first Ray rows on screen (ungraded), start → every row graded
//!   (median of 3), both as ratios to that scan;
//! - the TUI's RSS 30 s after start and its CPU over 10 s idle, watchers live;
//! - churn: 50 pod changes a second for 30 s; how fast a visible one is on screen, and raydar's
//!   CPU meanwhile.
//!
//!   KUBEBUILDER_ASSETS="$(../shared/k8s/assets)" cargo bench --bench tui_real   (needs tmux)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

#[path = "common.rs"]
mod common;
#[path = "../tests/it/envtest.rs"]
mod envtest;

use common::{cpu_ticks, end_tmux, median, ms, tmux, TmuxGuard};
use envtest::RealUser;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Starts `cmd` in tmux; the times until `first` and then `then` are on screen.
fn times_to_screen(
    sock: &str,
    cmd: &str,
    first: &dyn Fn(&str) -> bool,
    then: &dyn Fn(&str) -> bool,
    limit: Duration,
) -> (Option<Duration>, Option<Duration>) {
    let t = Instant::now();
    tmux(sock, &["new-session", "-d", "-s", "b", "-x", "120", "-y", "30", cmd]);
    let mut a = None;
    while t.elapsed() < limit {
        let screen = tmux(sock, &["capture-pane", "-t", "b", "-p"]);
        if a.is_none() && first(&screen) {
            a = Some(t.elapsed());
        }
        if then(&screen) {
            return (a.or(Some(t.elapsed())), Some(t.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    (a, None)
}

/// The pid of the program in the pane: the pane's own process (`env` execs it), else its
/// child (a shell in between).
fn pane_program_pid(sock: &str) -> String {
    let pane = tmux(sock, &["display", "-p", "-t", "b", "#{pane_pid}"]).trim().to_string();
    let comm = std::fs::read_to_string(format!("/proc/{pane}/comm")).unwrap_or_default();
    if !matches!(comm.trim(), "sh" | "bash" | "dash" | "zsh") {
        return pane;
    }
    let kids = Command::new("pgrep").arg("-P").arg(&pane).output().unwrap();
    String::from_utf8_lossy(&kids.stdout).lines().next().unwrap_or("").to_string()
}

fn status_kb(pid: &str, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0)
}

fn main() {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("tmux not installed: the real-server TUI bench needs it");
        return;
    }
    let env = envtest::envtest();
    // TUI_REAL_CLUSTERS=N loads N clusters instead (with TUI_REAL_LOAD_ONLY: a real server of
    // any size to measure against, e.g. the fleet bench's calibration).
    let clusters: usize =
        std::env::var("TUI_REAL_CLUSTERS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let namespaces = clusters.div_ceil(3);
    let t = Instant::now();
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let admin = env.client(RealUser::Admin).await;
        // The population's own namespaces (the operator and cluster roles are loaded already).
        let objects: Vec<serde_json::Value> =
            raydar::demo::population_manifests(namespaces, clusters)
                .into_iter()
                .filter(|o| {
                    let ns = o["metadata"]["namespace"].as_str();
                    let name = o["metadata"]["name"].as_str().unwrap_or("");
                    ns.is_some_and(|n| n.starts_with("team-"))
                        || (o["kind"] == "Namespace" && name.starts_with("team-"))
                })
                .map(|mut o| {
                    // The server allocates node ports (the demo's numbers are taken already).
                    for p in o["spec"]["ports"].as_array_mut().into_iter().flatten() {
                        if let Some(p) = p.as_object_mut() {
                            p.remove("nodePort");
                        }
                    }
                    o
                })
                .collect();
        envtest::load(&admin, objects).await.unwrap();
    });
    println!(
        "TUI on a real kube-apiserver v1.36, {clusters} clusters in {namespaces} namespaces (loaded in {:.0} s)",
        t.elapsed().as_secs_f64()
    );
    let bin = env!("CARGO_BIN_EXE_raydar");
    let kc = env.write_kubeconfig(RealUser::Admin, "bench");
    let dir = env.dir.join("bench-home");
    std::fs::create_dir_all(&dir).unwrap();

    let sock = format!("raydar-real-{}", std::process::id());
    let _tmux = TmuxGuard(sock.clone());
    if std::env::var_os("TUI_REAL_LOAD_ONLY").is_some() {
        println!("loaded; holding the server: KUBECONFIG={} (Ctrl-C ends it)", kc.display());
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    if std::env::var_os("TUI_REAL_KDASH_ONLY").is_some() {
        kdash(&sock, &kc, &dir);
        return;
    }
    let mut scans = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let out = Command::new(bin)
            .args(["scan", "-A", "-o", "json", "--kubeconfig"])
            .arg(&kc)
            .output()
            .unwrap();
        scans.push(t.elapsed());
        assert!(out.status.code().is_some_and(|c| c <= 1), "scan failed");
    }
    let scan = median(scans);
    println!("{:<60} {}", "`raydar scan -A -o json` wall", ms(scan));

    let cmd = format!(
        "env HOME={0} XDG_STATE_HOME={0}/state XDG_CONFIG_HOME={0}/config {bin} --kubeconfig {1}",
        dir.display(),
        kc.display()
    );
    let title = format!("Ray clusters ({})", clusters + 12);
    // Any Ray row of the population (the first page arrives before the title's full count).
    let rows = |s: &str| s.contains(" rc-0");
    let graded = |s: &str| s.contains(&title) && s.contains(" synced ");
    let (mut firsts, mut all) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let (a, b) = times_to_screen(&sock, &cmd, &rows, &graded, Duration::from_secs(60));
        firsts.extend(a);
        all.extend(b);
        end_tmux(&sock);
    }
    let (first, graded_all) = (median(firsts), median(all));
    println!(
        "{:<60} {} ({:.2} × scan)",
        "start → first Ray rows on screen (ungraded)",
        ms(first),
        first.as_secs_f64() / scan.as_secs_f64()
    );
    println!(
        "{:<60} {} ({:.2} × scan)",
        "start → every row graded",
        ms(graded_all),
        graded_all.as_secs_f64() / scan.as_secs_f64()
    );

    let (_, shown) = times_to_screen(&sock, &cmd, &rows, &graded, Duration::from_secs(60));
    let screen = tmux(&sock, &["capture-pane", "-t", "b", "-p"]);
    assert!(shown.is_some(), "the TUI did not show the graded clusters:\n{screen}");
    let pid = pane_program_pid(&sock);
    assert!(!pid.is_empty(), "raydar's pid");
    std::thread::sleep(Duration::from_secs(20));
    let c0 = cpu_ticks(&pid);
    std::thread::sleep(Duration::from_secs(10));
    let c1 = cpu_ticks(&pid);
    println!(
        "{:<60} {:.0} MiB (peak {:.0} MiB)",
        "TUI RSS 30 s after start, watchers live",
        status_kb(&pid, "VmRSS:") / 1024.0,
        status_kb(&pid, "VmHWM:") / 1024.0
    );
    println!("{:<60} {:.2}% of a core", "TUI idle CPU over 10 s", (c1 - c0) as f64 / 10.0);
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "raydar exited while idle");
    churn(&rt, env, &sock, &pid);
    end_tmux(&sock);
    kdash(&sock, &kc, &dir);
    if std::env::var_os("TUI_REAL_HOLD").is_some() {
        println!("holding the server for you: KUBECONFIG={} (Ctrl-C ends it)", kc.display());
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

/// The peer, side by side on the same server (issue #14): kdash, when it is on the PATH
/// (`cargo install kdash`). Start → first namespace row and → first pod of the population on
/// screen (median of 3), RSS 30 s after start, CPU over 10 s idle.
fn kdash(sock: &str, kc: &std::path::Path, dir: &std::path::Path) {
    let Ok(v) = Command::new("kdash").arg("--version").output() else {
        println!("kdash: not installed, no side-by-side row (cargo install kdash)");
        return;
    };
    let version = String::from_utf8_lossy(&v.stdout).trim().to_string();
    let cmd = format!("env KUBECONFIG={} HOME={} kdash", kc.display(), dir.display());
    // kdash lists namespaces first (kube-system is one on every server), then the pods of all
    // namespaces.
    let namespace_row = |s: &str| s.contains(" kube-system ");
    let pod_row = |s: &str| s.contains(" Running ");
    let (mut firsts, mut pods) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let (a, b) = times_to_screen(sock, &cmd, &namespace_row, &pod_row, Duration::from_secs(60));
        firsts.extend(a);
        pods.extend(b);
        end_tmux(sock);
    }
    if firsts.is_empty() {
        let _ = times_to_screen(sock, &cmd, &namespace_row, &pod_row, Duration::from_secs(10));
        let screen = tmux(sock, &["capture-pane", "-t", "b", "-p"]);
        end_tmux(sock);
        println!("{version}: no namespace row within 60 s; its screen after 10 s:\n{screen}");
        return;
    }
    println!("{:<60} {}", format!("{version}: start → first namespace row"), ms(median(firsts)));
    if !pods.is_empty() {
        println!("{:<60} {}", format!("{version}: start → first pod row"), ms(median(pods)));
    }
    let _ = times_to_screen(sock, &cmd, &namespace_row, &pod_row, Duration::from_secs(60));
    let pid = pane_program_pid(sock);
    std::thread::sleep(Duration::from_secs(20));
    let c0 = cpu_ticks(&pid);
    std::thread::sleep(Duration::from_secs(10));
    let c1 = cpu_ticks(&pid);
    println!(
        "{:<60} {:.0} MiB (peak {:.0} MiB)",
        format!("{version}: RSS 30 s after start"),
        status_kb(&pid, "VmRSS:") / 1024.0,
        status_kb(&pid, "VmHWM:") / 1024.0
    );
    println!(
        "{:<60} {:.2}% of a core",
        format!("{version}: idle CPU over 10 s"),
        (c1 - c0) as f64 / 10.0
    );
    end_tmux(sock);
}

/// Churn: 50 pod changes a second for 30 s (annotations on pods all over the population), and
/// once a second one that shows — a worker of `rc-00001` turns ready or not ready, with the
/// table filtered to that cluster. Reports how long each visible change took to reach the
/// screen and the CPU raydar used meanwhile.
fn churn(rt: &tokio::runtime::Runtime, env: &envtest::Envtest, sock: &str, pid: &str) {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, ListParams, Patch, PatchParams};
    let (client, pods, worker, ns) = rt.block_on(async {
        let client = env.client(RealUser::Admin).await;
        let all: Api<Pod> = Api::all(client.clone());
        let pods: Vec<(String, String)> = all
            .list(&ListParams::default().labels("ray.io/cluster"))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|p| {
                (p.metadata.namespace.unwrap_or_default(), p.metadata.name.unwrap_or_default())
            })
            .collect();
        let w = all
            .list(&ListParams::default().labels("ray.io/cluster=rc-00001,ray.io/node-type=worker"))
            .await
            .unwrap()
            .items;
        let w = w.into_iter().next().expect("a worker of rc-00001");
        (client, pods, w.metadata.name.unwrap(), w.metadata.namespace.unwrap())
    });
    tmux(sock, &["send-keys", "-t", "b", "/", "r", "c", "-", "0", "0", "0", "0", "1", "Enter"]);
    std::thread::sleep(Duration::from_millis(500));
    let row = |screen: &str| -> Option<String> {
        screen.lines().find(|l| l.contains(" rc-00001 ")).map(str::to_string)
    };
    let before = row(&tmux(sock, &["capture-pane", "-t", "b", "-p"]));
    assert!(before.is_some(), "rc-00001 is on screen after the filter");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let background = {
        let (client, stop) = (client.clone(), stop.clone());
        rt.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut i = 0usize;
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                let (ns, name) = &pods[i % pods.len()];
                i += 7919;
                let api: Api<Pod> = Api::namespaced(client.clone(), ns);
                let patch =
                    serde_json::json!({"metadata": {"annotations": {"churn": n.to_string()}}});
                if api.patch(name, &PatchParams::default(), &Patch::Merge(patch)).await.is_ok() {
                    n += 1;
                }
            }
            n
        })
    };
    let c0 = cpu_ticks(pid);
    let t0 = Instant::now();
    let mut latencies = Vec::new();
    let mut missed = 0;
    let mut ready = false;
    let status = |ready: bool| {
        let s = if ready { "True" } else { "False" };
        serde_json::json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": s}]}})
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    while t0.elapsed() < Duration::from_secs(30) {
        let shown = row(&tmux(sock, &["capture-pane", "-t", "b", "-p"]));
        let t = Instant::now();
        rt.block_on(api.patch_status(
            &worker,
            &PatchParams::default(),
            &Patch::Merge(status(ready)),
        ))
        .unwrap();
        ready = !ready;
        let mut seen = None;
        while t.elapsed() < Duration::from_secs(2) {
            if row(&tmux(sock, &["capture-pane", "-t", "b", "-p"])) != shown {
                seen = Some(t.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        match seen {
            Some(d) => latencies.push(d),
            None => missed += 1,
        }
        std::thread::sleep(Duration::from_secs(1).saturating_sub(t.elapsed()));
    }
    let secs = t0.elapsed().as_secs_f64();
    let c1 = cpu_ticks(pid);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let changes = rt.block_on(background).unwrap_or(0) + latencies.len() + missed;
    let worst = latencies.iter().max().copied().unwrap_or_default();
    println!(
        "{:<60} {:.0} changes/s for {secs:.0} s",
        "churn: pod changes (annotations, and a worker's readiness)",
        changes as f64 / secs
    );
    println!(
        "{:<60} median {}, worst {} ({} of {} on screen within 2 s)",
        "churn: a visible change → on screen",
        ms(median(latencies.clone())),
        ms(worst),
        latencies.len(),
        latencies.len() + missed
    );
    println!("{:<60} {:.1}% of a core", "churn: raydar CPU", (c1 - c0) as f64 / secs);
}
