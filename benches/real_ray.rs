//! A real Ray behind the gate (issue #16), one run, through the gate vs direct to the same
//! Ray head (token auth, loopback):
//! - `ray job submit --working-dir` of a 50 MB directory (fresh random bytes each time, so
//!   Ray's package cache never answers), median of 3;
//! - how late a streamed log line arrives: a job prints its own clock every 100 ms, and
//!   `ray job logs --follow` reads it; the median and worst delay over the lines.
//!
//!   PATH=…/venv/bin:$PATH cargo bench --bench real_ray      (needs `ray` on the PATH)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

#[path = "common.rs"]
mod common;
#[path = "../tests/it/ray_head.rs"]
mod ray_head;

use common::{median, ms};
use ray_head::{have, RayHead};
use raydar::demo::DemoUser;
use raydar::forward::{ForwardSpec, HeadPort};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `ray job …` against `address` with `headers` (RAY_JOB_HEADERS).
fn ray_job(address: &str, headers: &str) -> Command {
    let mut c = Command::new("ray");
    c.arg("job").env("RAY_JOB_HEADERS", headers).env("RAY_ADDRESS", address);
    c
}

fn submit_50mb(address: &str, headers: &str, dir: &std::path::Path) -> Duration {
    use rand::RngCore;
    std::fs::create_dir_all(dir).unwrap();
    let mut blob = vec![0u8; 50 << 20];
    rand::rng().fill_bytes(&mut blob);
    std::fs::write(dir.join("data.bin"), &blob).unwrap();
    std::fs::write(dir.join("main.py"), "print('ok')\n").unwrap();
    let t = Instant::now();
    let out = ray_job(address, headers)
        .args(["submit", "--no-wait", "--working-dir"])
        .arg(dir)
        .args(["--", "python", "main.py"])
        .output()
        .unwrap();
    let took = t.elapsed();
    assert!(out.status.success(), "submit: {}", String::from_utf8_lossy(&out.stderr));
    took
}

fn now_s() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Submits a job printing its clock 40 times and follows its logs: each line's delay.
fn log_delays(address: &str, headers: &str) -> Vec<Duration> {
    let script = "import time\nfor i in range(40):\n    print('tick %.6f' % time.time(), flush=True)\n    time.sleep(0.1)\n";
    let out = ray_job(address, headers)
        .args(["submit", "--no-wait", "--", "python", "-c", script])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let id = text
        .split_whitespace()
        .map(|w| w.trim_matches('\''))
        .find(|w| w.starts_with("raysubmit_"))
        .expect("job id")
        .to_string();
    let mut follow = ray_job(address, headers)
        .args(["logs", "--follow", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut delays = Vec::new();
    for line in BufReader::new(follow.stdout.take().unwrap()).lines() {
        let Ok(line) = line else { break };
        if let Some(ts) = line.strip_prefix("tick ").and_then(|t| t.trim().parse::<f64>().ok()) {
            delays.push(Duration::from_secs_f64((now_s() - ts).max(0.0)));
        }
    }
    let _ = follow.wait();
    // The first lines were written before the follow started: only the live ones count.
    delays.into_iter().skip(10).collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !have("ray", "--version") {
        println!("real_ray: SKIPPED, no `ray` on the PATH (pip install \"ray[default]\")");
        return;
    }
    let dir = std::env::temp_dir().join(format!("raydar-real-ray-bench-{}", std::process::id()));
    let head = RayHead::start().await;
    let (token, direct) = (head.token.clone(), head.dashboard.clone());
    let s = head.backing_hardened().await;
    let c = s.client(DemoUser::Admin).await.unwrap();
    let f =
        raydar::forward::start(c, ForwardSpec::new("ray-prod", "hardened", HeadPort::Dashboard))
            .await
            .unwrap();
    let gated = f.url();
    let gate_headers = format!("{{\"X-Raydar-Token\": \"{}\"}}", f.token.clone().unwrap());
    let direct_headers = format!("{{\"Authorization\": \"Bearer {token}\"}}");
    println!("a real Ray {} behind the gate (token auth, loopback)", ray_version());

    let (mut via_gate, mut via_direct) = (Vec::new(), Vec::new());
    for i in 0..3 {
        via_direct.push(submit_50mb(&direct, &direct_headers, &dir.join(format!("d{i}"))));
        via_gate.push(submit_50mb(&gated, &gate_headers, &dir.join(format!("g{i}"))));
    }
    let (g, d) = (median(via_gate), median(via_direct));
    println!(
        "{:<58} {} gated, {} direct ({:.2}×)",
        "ray job submit --working-dir (50 MB), median of 3",
        ms(g),
        ms(d),
        g.as_secs_f64() / d.as_secs_f64()
    );
    let (lg, ld) = (log_delays(&gated, &gate_headers), log_delays(&direct, &direct_headers));
    let worst = |v: &[Duration]| v.iter().max().copied().unwrap_or_default();
    println!(
        "{:<58} median {} / worst {} gated ({} lines), median {} / worst {} direct ({} lines)",
        "streamed log line: printed → read by `ray job logs --follow`",
        ms(median(lg.clone())),
        ms(worst(&lg)),
        lg.len(),
        ms(median(ld.clone())),
        ms(worst(&ld)),
        ld.len()
    );
    drop(f);
    drop(head);
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
}

fn ray_version() -> String {
    Command::new("ray")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
