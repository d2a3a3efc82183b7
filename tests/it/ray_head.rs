//! A real Ray head with token auth on loopback, for `real_ray.rs` and `benches/real_ray.rs`
//! (which includes this file): started with `ray start`, stopped when dropped.
#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

/// Whether `cmd arg` runs and succeeds (is the tool there?).
pub fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd).arg(arg).output().is_ok_and(|o| o.status.success())
}

/// A free port outside the ranges Ray takes for itself (workers 10002–19999, the client
/// server 10001, the dashboard agent 52365).
pub fn free_port() -> u16 {
    (0..1000)
        .filter_map(|_| portpicker::pick_unused_port())
        .find(|p| *p >= 20000 && *p != 52365)
        .unwrap()
}

/// A running Ray head; `ray stop` when dropped, whatever happens to the caller.
pub struct RayHead {
    pub token: String,
    /// `http://127.0.0.1:PORT`, the dashboard.
    pub dashboard: String,
    pub port: u16,
    env: Vec<(&'static str, String)>,
}

impl Drop for RayHead {
    fn drop(&mut self) {
        let _ = Command::new("ray").args(["stop", "--force"]).envs(self.env.clone()).output();
    }
}

/// `curl -s URL`'s status code.
pub fn status(url: &str, headers: &[&str]) -> u16 {
    let mut c = Command::new("curl");
    c.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", url]);
    for h in headers {
        c.args(["-H", h]);
    }
    c.output().ok().and_then(|o| String::from_utf8_lossy(&o.stdout).parse().ok()).unwrap_or(0)
}

impl RayHead {
    /// The demo server with its `ray-prod/hardened` cluster (Ray token auth) backed by this
    /// Ray: the token in the cluster's Secret, forwards to its dashboard reaching this head.
    pub async fn backing_hardened(&self) -> raydar::demo::DemoServer {
        let backend: raydar::demo::Backend =
            format!("ray-prod/hardened=127.0.0.1:{}", self.port).parse().unwrap();
        let opts = raydar::demo::DemoOptions {
            backends: vec![backend],
            ray_token: Some(self.token.clone()),
            ..Default::default()
        };
        raydar::demo::DemoServer::start(opts).await.unwrap()
    }

    /// Starts one (token auth, one CPU, loopback) and waits for its dashboard (90 s at most).
    pub async fn start() -> RayHead {
        let token = raydar::forward::new_token();
        let (gcs, port) = (free_port(), free_port());
        let env = vec![
            ("RAY_AUTH_MODE", "token".to_string()),
            ("RAY_AUTH_TOKEN", token.clone()),
            ("RAY_USAGE_STATS_ENABLED", "0".to_string()),
        ];
        let head = RayHead {
            token,
            dashboard: format!("http://127.0.0.1:{port}"),
            port,
            env: env.clone(),
        };
        let start = || {
            Command::new("ray")
                .args(["start", "--head", "--num-cpus", "1", "--dashboard-host", "127.0.0.1"])
                .args(["--port", &gcs.to_string(), "--dashboard-port", &port.to_string()])
                .args(["--node-ip-address", "127.0.0.1", "--disable-usage-stats"])
                .envs(env.clone())
                .output()
                .unwrap()
        };
        // `ray start` now and then fails on a busy machine: once more after a stop.
        let mut started = start();
        if !started.status.success() {
            let _ = Command::new("ray").args(["stop", "--force"]).envs(env.clone()).output();
            started = start();
        }
        let err = String::from_utf8_lossy(&started.stderr);
        let tail: Vec<&str> = err.lines().rev().take(8).collect();
        assert!(started.status.success(), "ray start: {}", tail.join("\n"));
        let t = Instant::now();
        while status(&format!("{}/api/version", head.dashboard), &[]) != 401 {
            assert!(t.elapsed() < Duration::from_secs(90), "the Ray dashboard never came up");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        head
    }
}
