//! Helpers shared by the benchmarks: medians, formatting, the demo server as a process, and
//! /proc readings. Included with `#[path]` by each bench target.
#![allow(dead_code, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// CPU time (user + system, all threads) this process has used so far, from /proc (10 ms
/// ticks: read it over many runs).
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after the name.
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10)
}

/// Starts `raydar demo-server ARGS --kubeconfig-out KC`; returns it once ready and how long
/// that took (process start to the kubeconfig line).
pub fn spawn_demo_server(args: &[&str], kc: &Path) -> (Child, Duration) {
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_raydar"))
        .arg("demo-server")
        .args(args)
        .arg("--kubeconfig-out")
        .arg(kc)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("raydar demo-server starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    for line in lines.by_ref() {
        if line.map(|l| l.starts_with("kubeconfig:")).unwrap_or(true) {
            break;
        }
    }
    let ready = t.elapsed();
    std::thread::spawn(move || for _ in lines {});
    (child, ready)
}

/// Peak resident set size (VmHWM) of a live process, in MiB.
pub fn peak_rss_mib(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The 1,000-namespace / 5,000-cluster demo population, listed through kube-rs as a scan does.
pub async fn listed_population() -> raydar::inventory::Inventory {
    use raydar::cluster::{self, Progress, Scope};
    use raydar::demo::{DemoOptions, DemoServer, DemoUser};
    let s = DemoServer::start(DemoOptions { population: Some((1000, 5000)), ..Default::default() })
        .await
        .expect("demo server");
    let conn = cluster::Connection::new(
        s.client(DemoUser::Admin).await.expect("client"),
        "bench",
        &s.url(),
    );
    let (inv, errors) =
        cluster::list_inventory(&conn, &Scope::All, std::sync::Arc::new(Progress::default()))
            .await
            .expect("listing");
    assert!(errors.is_empty(), "{errors:?}");
    inv
}

/// User plus system CPU ticks of a process, from /proc.
pub fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

/// Runs tmux on its own server `sock`; its standard output.
pub fn tmux(sock: &str, args: &[&str]) -> String {
    let o = Command::new("tmux").arg("-L").arg(sock).args(args).output().expect("tmux runs");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Ends tmux server `sock` and waits (up to 2 s) until it is gone: `kill-server` returns while
/// the server is still exiting, and a `new-session` on the same socket then may never start
/// its command (7 of 60 tries here).
pub fn end_tmux(sock: &str) {
    tmux(sock, &["kill-server"]);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(2) {
        let alive = Command::new("tmux")
            .args(["-L", sock, "list-sessions"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !alive {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Ends tmux server `sock` when dropped: a failed assertion leaves no TUI running.
pub struct TmuxGuard(pub String);

impl Drop for TmuxGuard {
    fn drop(&mut self) {
        end_tmux(&self.0);
    }
}
