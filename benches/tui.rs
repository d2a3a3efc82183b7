//! TUI benchmarks (BENCHMARKS.md, issue #4), medians from one run:
//! - frame render with 5,000 clusters (target ≤ 2 ms) and filter keystroke → frame (≤ 16 ms);
//! - process start → first frame (≤ 50 ms), and → first frame with data on
//!   `demo-server --namespaces 1000 --clusters 5000`, seen through tmux;
//! - CPU and redraws over 10 s idle (≈ 0), peak RSS.
//!
//!   cargo bench --bench tui           (needs tmux for the process measurements)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common.rs"]
mod common;
use common::{cpu_ticks, end_tmux, median, ms, peak_rss_mib, spawn_demo_server, tmux, TmuxGuard};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use raydar::posture::{evaluate, PostureConfig};
use raydar::tui::keymap::Keymap;
use raydar::tui::state::{Model, Refresh};
use raydar::tui::update::{update, Msg};
use raydar::tui::{rows, view};
use std::process::Command;
use std::time::{Duration, Instant};

/// Every one of the 5,000 clusters on screen and graded (rows show ungraded first).
const GRADED_5000: &[&str] = &["Ray clusters (5000)", " synced "];

/// Starts `cmd` in a fresh tmux session and returns the time until all of `what` is on screen.
fn time_to_screen(sock: &str, cmd: &str, what: &[&str], limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    tmux(sock, &["new-session", "-d", "-s", "b", "-x", "120", "-y", "30", cmd]);
    while t.elapsed() < limit {
        let screen = tmux(sock, &["capture-pane", "-t", "b", "-p"]);
        if what.iter().all(|w| screen.contains(w)) {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

#[tokio::main]
async fn main() {
    println!("TUI benchmarks (medians)");
    // Rows for 5,000 clusters, as the live layer computes them.
    let inv = common::listed_population().await;
    // Let the in-process demo server's teardown finish first (as the scan bench does).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let snapshot = || Refresh {
        context: None,
        rows: rows::rows(&inv, evaluate(&inv, &PostureConfig::default())),
        errors: Vec::new(),
        synced: "12:00:00".into(),
    };
    let mut snap = snapshot();
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        snap = snapshot();
        times.push(t.elapsed());
    }
    println!(
        "{:<60} {}",
        "evaluate + rows for 5000 clusters (background, per change)",
        ms(median(times))
    );
    drop(inv);
    let mut m = Model::new("bench", "https://127.0.0.1:6443", Keymap::load(None).0, "dark", false);
    update(&mut m, Msg::Refresh(Box::new(snap)));
    let mut term = Terminal::new(TestBackend::new(120, 30)).unwrap();
    let mut times = Vec::new();
    for i in 0..200 {
        update(
            &mut m,
            Msg::Key(KeyEvent::new(
                KeyCode::Char(if i % 2 == 0 { 'j' } else { 'k' }),
                KeyModifiers::NONE,
            )),
        );
        let t = Instant::now();
        term.draw(|f| view::render(&m, f)).unwrap();
        times.push(t.elapsed());
    }
    println!(
        "{:<60} {}",
        format!("frame render, {} clusters, 120×30", m.rows.len()),
        ms(median(times))
    );
    let mut times = Vec::new();
    update(&mut m, Msg::Key(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE)));
    for (i, c) in "team-0042 rc".chars().cycle().take(60).enumerate() {
        let t = Instant::now();
        let key = if i % 12 == 11 { KeyCode::Backspace } else { KeyCode::Char(c) };
        update(&mut m, Msg::Key(KeyEvent::new(key, KeyModifiers::NONE)));
        term.draw(|f| view::render(&m, f)).unwrap();
        times.push(t.elapsed());
    }
    println!("{:<60} {}", "filter keystroke → frame, 5000 clusters", ms(median(times)));

    if Command::new("tmux").arg("-V").output().is_err() {
        println!("tmux not installed: process measurements skipped");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_raydar");
    let dir = std::env::temp_dir().join(format!("raydar-tui-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = format!("raydar-bench-{}", std::process::id());
    let _tmux = TmuxGuard(sock.clone());
    let env = format!("env HOME={0} XDG_STATE_HOME={0}/state XDG_CONFIG_HOME={0}/config RAYDAR_LOG=raydar::frame=trace", dir.display());
    let mut firsts = Vec::new();
    let mut with_demo = Vec::new();
    for _ in 0..5 {
        if let Some(d) = time_to_screen(
            &sock,
            &format!("{env} {bin} --demo"),
            &[" raydar "],
            Duration::from_secs(10),
        ) {
            firsts.push(d);
        }
        end_tmux(&sock);
        if let Some(d) = time_to_screen(
            &sock,
            &format!("{env} {bin} --demo"),
            // " synced ": every row graded (while grading, the status line says so).
            &["train-exposed", " synced "],
            Duration::from_secs(10),
        ) {
            with_demo.push(d);
        }
        end_tmux(&sock);
    }
    println!("{:<60} {}", "process start → first frame (`raydar --demo`)", ms(median(firsts)));
    println!(
        "{:<60} {}",
        "process start → graded clusters on screen (`--demo`)",
        ms(median(with_demo))
    );

    // Against the 5,000-cluster server, through a kubeconfig.
    let kc = dir.join("kubeconfig");
    let (mut server, _) = spawn_demo_server(&["--namespaces", "1000", "--clusters", "5000"], &kc);
    let cmd = format!("{env} {bin} --kubeconfig {}", kc.display());
    let mut with_data = Vec::new();
    for _ in 0..3 {
        if let Some(d) = time_to_screen(&sock, &cmd, GRADED_5000, Duration::from_secs(60)) {
            with_data.push(d);
        }
        end_tmux(&sock);
    }
    println!("{:<60} {}", "process start → 5000 graded clusters on screen", ms(median(with_data)));
    // Idle: 10 s without input or cluster changes, in a session of its own.
    let started = Instant::now();
    let shown = time_to_screen(&sock, &cmd, GRADED_5000, Duration::from_secs(60));
    assert!(shown.is_some(), "the TUI did not show the 5000 clusters");
    let mut pid = tmux(&sock, &["display", "-p", "-t", "b", "#{pane_pid}"]).trim().to_string();
    if std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim() != "raydar" {
        let kids = Command::new("pgrep")
            .arg("-P")
            .arg(&pid)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        pid = kids.lines().next().unwrap_or("").to_string();
    }
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim(),
        "raydar",
        "raydar's pid"
    );
    let frames = || {
        std::fs::read_to_string(dir.join("state/raydar/raydar.log"))
            .unwrap_or_default()
            .matches("frame drawn")
            .count()
    };
    std::thread::sleep(Duration::from_secs(1));
    let (c0, f0) = (cpu_ticks(&pid), frames());
    std::thread::sleep(Duration::from_secs(10));
    let (c1, f1) = (cpu_ticks(&pid), frames());
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "raydar exited while idle");
    let ticks_per_s = 100.0;
    println!(
        "{:<60} {:.2}% of a core, {} redraws",
        "idle 10 s with 5000 clusters",
        (c1 - c0) as f64 / ticks_per_s / 10.0 * 100.0,
        f1 - f0
    );
    println!("{:<60} {:.0} MiB", "TUI peak RSS (VmHWM), 5000 clusters", peak_rss_mib(&pid));
    // Issue #14: RSS 30 s after start, watchers live (target ≤ 150 MB).
    std::thread::sleep(Duration::from_secs(30).saturating_sub(started.elapsed()));
    let kb = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0);
    println!(
        "{:<60} {:.1} MB ({:.0} MiB)",
        "TUI RSS 30 s after start, 5000 clusters, watchers live",
        kb * 1024.0 / 1e6,
        kb / 1024.0
    );
    end_tmux(&sock);
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
