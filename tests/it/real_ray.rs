//! `raydar forward` in front of a real Ray (issue #16): a Ray head with token auth on loopback
//! backs the demo cluster `ray-prod/hardened` (`--backend`, its token in the cluster's Secret),
//! and through the gate `ray job submit --working-dir` (the line `raydar forward` prints, run
//! as printed), `ray job logs --follow` and a headless Chromium on the sign-in link all work;
//! without the link the page is raydar's sign-in page. Runs when the `ray` CLI is on the PATH
//! (`pip install "ray[default]"`), Chromium when `chromium` is; otherwise it says it skipped.

use crate::ray_head::{have, RayHead};
use raydar::demo::{Backend, DemoOptions, DemoServer, DemoUser};
use raydar::forward::{ForwardSpec, HeadPort};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Text of the Ray dashboard's rendered overview (not in raydar's sign-in page).
const DASHBOARD_TEXT: [&str; 2] = ["Cluster status", "Recent jobs"];

/// GET `url` with curl: (status, body).
fn curl(url: &str, headers: &[&str]) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10", url]);
    for h in headers {
        c.args(["-H", h]);
    }
    let out = String::from_utf8_lossy(&c.output().unwrap().stdout).into_owned();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_ray_behind_the_gate_takes_jobs_streams_logs_and_renders() {
    if !have("ray", "--version") {
        eprintln!("SKIPPED: the `ray` CLI is not on the PATH (pip install \"ray[default]\")");
        return;
    }
    let dir = tempfile_dir();
    let head = RayHead::start().await;
    let (token, direct) = (head.token.clone(), head.dashboard.clone());
    let bearer = format!("Authorization: Bearer {token}");
    assert_eq!(curl(&format!("{direct}/api/version"), &[&bearer]).0, 200, "Ray's own token");

    // The demo server, its `hardened` cluster backed by this Ray.
    let s = head.backing_hardened().await;
    let kc = dir.join("kubeconfig");
    s.write_kubeconfig(&kc, DemoUser::Admin).unwrap();
    let mut fwd = Command::new(env!("CARGO_BIN_EXE_raydar"))
        .args(["--kubeconfig", kc.to_str().unwrap(), "forward", "ray-prod/hardened"])
        .env("XDG_STATE_HOME", dir.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(fwd.stdout.take().unwrap()).lines();
    let (mut link, mut jobs, mut url) = (String::new(), String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(l) = line.strip_prefix("open:") {
            link = l.split_whitespace().next().unwrap().to_string();
        }
        if let Some(j) = line.strip_prefix("jobs:") {
            jobs = j.trim().to_string();
        }
        if line.starts_with("forwarding ") {
            url = line.split(" → ").nth(1).unwrap().split_whitespace().next().unwrap().into();
        }
        if line.contains("Ctrl-C stops it") {
            break;
        }
    }
    assert!(!link.is_empty() && !jobs.is_empty() && !url.is_empty(), "raydar forward printed");
    assert!(jobs.contains("--working-dir"), "{jobs}");

    // The job line, as printed, from a directory holding my_script.py.
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(
        work.join("my_script.py"),
        "import ray, time\nray.init()\nprint('raydar-e2e: hello from', ray.__version__)\nfor i in range(3):\n    print('raydar-e2e tick', i, flush=True)\n    time.sleep(0.5)\n",
    )
    .unwrap();
    let submit = Command::new("sh").arg("-c").arg(&jobs).current_dir(&work).output().unwrap();
    let out = String::from_utf8_lossy(&submit.stdout).to_string()
        + &String::from_utf8_lossy(&submit.stderr);
    assert!(submit.status.success(), "{jobs}\n{out}");
    assert!(out.contains("raydar-e2e: hello from"), "{out}");
    let job_id = out
        .split_whitespace()
        .find(|w| w.trim_matches('\'').starts_with("raysubmit_"))
        .map(|w| w.trim_matches('\'').to_string())
        .expect("a job id");

    // Streamed logs, through the gate with the printed headers.
    let headers = jobs.split('\'').nth(1).unwrap().to_string();
    let logs = Command::new("ray")
        .args(["job", "logs", "--follow", "--address", &url, &job_id])
        .env("RAY_JOB_HEADERS", &headers)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&logs.stdout);
    assert!(text.contains("raydar-e2e tick 2"), "{text}");

    // A browser: a sign-in link renders Ray's dashboard, with no token prompt. (A second
    // forward, in-process, mints as many links as the browser runs need.)
    if have("chromium", "--version") {
        let c = s.client(DemoUser::Admin).await.unwrap();
        let spec = ForwardSpec::new("ray-prod", "hardened", HeadPort::Dashboard);
        let f = raydar::forward::start(c, spec).await.unwrap();
        let page = chromium_dom(&f.login_url(), &dir.join("browser-1"));
        eprintln!("dashboard DOM: {} bytes", page.len());
        assert!(!page.contains("sign in through raydar"), "{page}");
        assert!(DASHBOARD_TEXT.iter().any(|t| page.contains(t)), "{page}");
        let shot =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ray-dashboard.png");
        chromium_screenshot(&f.login_url(), &dir.join("browser-2"), &shot);
        assert!(shot.exists(), "no screenshot");
        // The printed link was used above? No: it is still good once. Open it twice: the
        // second time, and the dashboard without any link, give the sign-in page.
        assert!(!chromium_dom(&link, &dir.join("browser-3")).contains("sign in through raydar"));
        for (i, u) in [link.as_str(), url.as_str()].into_iter().enumerate() {
            let page = chromium_dom(u, &dir.join(format!("browser-fresh-{i}")));
            assert!(page.contains("sign in through raydar"), "{u}: {page}");
            assert!(!DASHBOARD_TEXT.iter().any(|t| page.contains(t)), "{page}");
        }
    } else {
        eprintln!("SKIPPED the browser part: no `chromium` on the PATH");
    }
    let _ = fwd.kill();
    let _ = fwd.wait();
    drop(head);
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("raydar-ray-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn chromium(profile: &std::path::Path) -> Command {
    let mut c = Command::new("chromium");
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=15000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// The page's DOM after its scripts ran, in a browser profile of its own.
fn chromium_dom(url: &str, profile: &std::path::Path) -> String {
    let out = chromium(profile).arg("--dump-dom").arg(url).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn chromium_screenshot(url: &str, profile: &std::path::Path, to: &std::path::Path) {
    let _ = chromium(profile)
        .args(["--window-size=1280,900", &format!("--screenshot={}", to.display())])
        .arg(url)
        .output();
}

/// `--backend NS/CLUSTER=HOST:PORT` takes loopback addresses only, and names a demo cluster.
#[tokio::test]
async fn backends_are_loopback_only_and_name_a_demo_cluster() {
    let ok: Backend = "ray-prod/hardened=127.0.0.1:8265".parse().unwrap();
    assert_eq!(
        (ok.namespace.as_str(), ok.cluster.as_str(), ok.addr.port()),
        ("ray-prod", "hardened", 8265)
    );
    assert!("a/b=localhost:1".parse::<Backend>().unwrap().addr.ip().is_loopback());
    assert!("a/b=[::1]:1".parse::<Backend>().is_ok());
    let err = |s: &str| s.parse::<Backend>().unwrap_err();
    assert!(err("a/b=10.0.0.1:80").contains("not a loopback address"));
    assert!(err("a/b=example.com:80").contains("NAMESPACE/CLUSTER=HOST:PORT"));
    assert!(err("b=127.0.0.1:1").contains("NAMESPACE/CLUSTER=HOST:PORT"));
    let nope: Backend = "ray-prod/nope=127.0.0.1:1".parse().unwrap();
    let opts = DemoOptions { backends: vec![nope], ..Default::default() };
    let e = DemoServer::start(opts).await.err().unwrap().to_string();
    assert!(e.contains("no demo RayCluster ray-prod/nope"), "{e}");
}
