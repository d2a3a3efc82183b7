//! The TUI: `update` message sequences, rendered frames (insta snapshots at 120×30, 80×24 and
//! 60×20, on demo data), export, and an end-to-end run of the built binary in tmux.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use raydar::cluster::{self, Progress, Scope};
use raydar::demo::{DemoOptions, DemoServer, DemoUser};
use raydar::posture::{evaluate, PostureConfig};
use raydar::tui::keymap::Keymap;
use raydar::tui::state::{Focus, Link, Mode, Model, Refresh};
use raydar::tui::update::{update, Cmd, Msg};
use raydar::tui::{rows, view};
use std::sync::Arc;

async fn snapshot(user: DemoUser) -> Refresh {
    let s = DemoServer::start(DemoOptions::default()).await.unwrap();
    let conn = cluster::Connection::new(s.client(user).await.unwrap(), "t", &s.url());
    let (inv, errors) =
        cluster::list_inventory(&conn, &Scope::All, Arc::new(Progress::default())).await.unwrap();
    // The TUI also shows Warning events; the scan inventory does not list them, so add the demo's.
    let mut inv = inv;
    let evs: kube::api::Api<k8s_openapi::api::core::v1::Event> =
        kube::api::Api::all(conn.client.clone());
    inv.events =
        evs.list(&kube::api::ListParams::default()).await.map(|l| l.items).unwrap_or_default();
    let entries = evaluate(&inv, &PostureConfig::demo());
    Refresh { context: None, rows: rows::rows(&inv, entries), errors, synced: "12:00:00".into() }
}

pub fn model() -> Model {
    let mut m =
        Model::new("raydar-demo", "https://127.0.0.1:6443", Keymap::load(None).0, "dark", false);
    update(
        &mut m,
        Msg::Identity { user: "raydar-admin".into(), kuberay: Some("v1.7.0".into()), guard: None },
    );
    m.contexts = vec!["raydar-demo".into(), "prod-hz".into(), "prod-sh".into()];
    m
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}
fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}
fn typed(m: &mut Model, s: &str) -> Vec<Cmd> {
    s.chars().flat_map(|c| update(m, key(c))).collect()
}

pub fn render(m: &Model, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::render(m, f)).unwrap();
    t.backend().to_string()
}

fn names(m: &Model) -> Vec<String> {
    m.visible.iter().map(|i| m.rows[*i].entry.name.clone()).collect()
}

#[tokio::test]
async fn update_sequences() {
    let mut m = model();
    assert_eq!(m.link, Link::Loading);
    update(&mut m, Msg::Refresh(Box::new(snapshot(DemoUser::Admin).await)));
    assert_eq!(m.link, Link::Live);
    assert_eq!(m.visible.len(), 12);
    assert_eq!(m.rows[m.visible[0]].entry.grade, Some(raydar::posture::Grade::F), "worst first");
    assert_eq!(m.rows[*m.visible.last().unwrap()].entry.grade, Some(raydar::posture::Grade::A));
    // Moving and focus.
    update(&mut m, key('j'));
    assert_eq!(m.selected, 1);
    update(&mut m, key('G'));
    assert_eq!(m.selected, 11);
    update(&mut m, code(KeyCode::Home));
    assert_eq!(m.selected, 0);
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(m.focus, Focus::Detail);
    update(&mut m, key('j'));
    assert_eq!(m.finding, 1);
    update(&mut m, code(KeyCode::Esc));
    assert_eq!(m.focus, Focus::Clusters);
    // Filter by namespace, rule id, severity; esc clears.
    update(&mut m, key('/'));
    assert_eq!(m.mode, Mode::Filter);
    typed(&mut m, "prod");
    assert_eq!(names(&m), ["train-exposed", "serve-acl", "hardened"]);
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(m.mode, Mode::Normal);
    update(&mut m, code(KeyCode::Esc));
    assert_eq!(m.visible.len(), 12);
    update(&mut m, key('/'));
    typed(&mut m, "RAY-EXP-004");
    assert_eq!(names(&m), ["notebook"]);
    update(&mut m, code(KeyCode::Esc));
    // :ns with completion, :ns all, unknown namespace, :ctx unknown and known.
    update(&mut m, key(':'));
    typed(&mut m, "ns ray-d");
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(m.command.value(), "ns ray-dev");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(m.selected_ns(), Some("ray-dev"));
    assert!(m.visible.iter().all(|i| m.rows[*i].entry.namespace == "ray-dev"));
    update(&mut m, key(':'));
    typed(&mut m, "ns all");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(m.visible.len(), 12);
    update(&mut m, key(':'));
    typed(&mut m, "ns nope");
    update(&mut m, code(KeyCode::Enter));
    assert!(m.notice.as_ref().is_some_and(|(t, err)| *err && t.contains("nope")));
    update(&mut m, key(':'));
    typed(&mut m, "ctx prod-h");
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(m.command.value(), "ctx prod-hz");
    let cmds = update(&mut m, code(KeyCode::Enter));
    assert_eq!(cmds, [Cmd::SwitchContext("prod-hz".into())]);
    // Sort, theme, export, forward/fix placeholders, quit.
    update(&mut m, key('s'));
    assert_eq!(names(&m)[0], "adhoc-query", "sorted by name");
    update(&mut m, key('t'));
    assert_eq!(m.theme.name, "light");
    assert_eq!(update(&mut m, key('e')), [Cmd::Export]);
    assert_eq!(update(&mut m, key('q')), [Cmd::Quit]);
}

#[tokio::test]
async fn forward_keys() {
    use raydar::tui::state::ForwardView;
    let mut m = model();
    update(&mut m, Msg::Refresh(Box::new(snapshot(DemoUser::Admin).await)));
    // o and x without a forward explain themselves.
    assert!(update(&mut m, key('o')).is_empty());
    assert!(m.notice.as_ref().is_some_and(|(t, _)| t.contains("no forward")));
    let first = m.current().unwrap().entry.clone();
    assert_eq!(
        update(&mut m, key('f')),
        [Cmd::Forward(first.namespace.clone(), first.name.clone())]
    );
    let fv = ForwardView {
        context: None,
        namespace: first.namespace.clone(),
        cluster: first.name.clone(),
        url: "http://127.0.0.1:1".into(),
        summary: "pod x".into(),
    };
    update(&mut m, Msg::Forwards(vec![fv.clone()]));
    assert!(m.show_forwards);
    let frame = render(&m, 120, 30);
    assert!(
        frame.contains("Forwards (1)")
            && frame.contains("forwards: 1")
            && frame.contains(&format!("{} ⇄", first.name)),
        "{frame}"
    );
    assert_eq!(update(&mut m, key('o')), [Cmd::Open(fv.namespace.clone(), fv.cluster.clone())]);
    assert_eq!(
        update(&mut m, key('x')),
        [Cmd::StopForward(fv.namespace.clone(), fv.cluster.clone())]
    );
    // f on an already forwarded cluster shows the forwards view instead of a second forward.
    m.show_forwards = false;
    assert!(update(&mut m, key('f')).is_empty());
    assert!(m.show_forwards);
    update(&mut m, code(KeyCode::Esc));
    assert!(!m.show_forwards);
    update(&mut m, Msg::Forwards(vec![]));
    assert!(m.forwards.is_empty());
    // A RayJob entry is not forwarded itself.
    update(&mut m, key('/'));
    typed(&mut m, "adhoc");
    update(&mut m, code(KeyCode::Enter));
    assert!(update(&mut m, key('f')).is_empty());
    assert!(m.notice.as_ref().is_some_and(|(t, err)| *err && t.contains("RayJob")));
}

#[tokio::test]
async fn live_updates_keep_selection_and_mark_stale() {
    let snap = snapshot(DemoUser::Admin).await;
    let mut m = model();
    update(&mut m, Msg::Refresh(Box::new(snap.clone())));
    update(&mut m, key('j'));
    update(&mut m, key('j'));
    let picked = m.current().unwrap().entry.name.clone();
    // The same data again changes nothing but the sync time (no visible change).
    let mut again = snap.clone();
    again.synced = "12:00:05".into();
    update(&mut m, Msg::Refresh(Box::new(again)));
    assert_eq!(m.synced.as_deref(), Some("12:00:05"));
    // A change that reorders rows keeps the same cluster selected.
    let mut fewer = snap.clone();
    fewer.rows.retain(|r| r.entry.name != "cowboy");
    update(&mut m, Msg::Refresh(Box::new(fewer)));
    assert_eq!(m.current().unwrap().entry.name, picked);
    // The API goes away: rows kept, marked stale.
    update(&mut m, Msg::Disconnected("connection refused".into()));
    assert!(matches!(m.link, Link::Reconnecting(_)));
    assert_eq!(m.rows.len(), 11);
    let frame = render(&m, 120, 30);
    assert!(frame.contains("reconnecting") && frame.contains("stale"), "{frame}");
}

#[tokio::test]
async fn frames() {
    let snap = snapshot(DemoUser::Admin).await;
    let mut m = model();
    insta::assert_snapshot!("loading_80x24", render(&m, 80, 24));
    update(&mut m, Msg::Refresh(Box::new(snap)));
    insta::assert_snapshot!("main_120x30", render(&m, 120, 30));
    insta::assert_snapshot!("main_80x24", render(&m, 80, 24));
    insta::assert_snapshot!("main_60x20", render(&m, 60, 20));
    update(&mut m, key('j'));
    update(&mut m, code(KeyCode::Tab));
    update(&mut m, key('j'));
    insta::assert_snapshot!("detail_120x30", render(&m, 120, 30));
    update(&mut m, key('v'));
    insta::assert_snapshot!("events_120x30", render(&m, 120, 30));
    update(&mut m, code(KeyCode::Esc));
    update(&mut m, key('?'));
    insta::assert_snapshot!("help_80x24", render(&m, 80, 24));
    // The help shows every layer's keys: scrolled down, the fix preview's, the filter's, the
    // command line's; scrolling stops at the last line; q closes it and does not quit.
    update(&mut m, Msg::Resize(24));
    let mut seen = String::new();
    for _ in 0..10 {
        update(&mut m, code(KeyCode::PageDown));
        seen.push_str(&render(&m, 80, 24));
    }
    let end = render(&m, 80, 24);
    for heading in
        ["Fix preview", "Filter (/)", "Command line (:)", "write the fix", "complete the context"]
    {
        assert!(seen.contains(heading), "{heading}:\n{seen}");
    }
    assert!(!end.contains("move down"), "{end}");
    update(&mut m, code(KeyCode::Up));
    assert_ne!(render(&m, 80, 24), end, "one line up from the end");
    update(&mut m, key('q'));
    assert!(!m.quit && m.mode == Mode::Normal);
    update(&mut m, key('/'));
    typed(&mut m, "ray-dev");
    insta::assert_snapshot!("filter_80x24", render(&m, 80, 24));
    update(&mut m, code(KeyCode::Esc));
    update(&mut m, Msg::Disconnected("connection refused".into()));
    insta::assert_snapshot!("stale_80x24", render(&m, 80, 24));
}

#[tokio::test]
async fn fix_modal_flow_and_read_only() {
    use raydar::remediate::session;
    use raydar::remediate::FixId;
    use raydar::tui::state::FixStage;
    let s = DemoServer::start(DemoOptions::default()).await.unwrap();
    let admin = s.client(DemoUser::Admin).await.unwrap();
    let mut m = model();
    update(&mut m, Msg::Refresh(Box::new(snapshot(DemoUser::Admin).await)));
    update(&mut m, key('/'));
    typed(&mut m, "train");
    update(&mut m, code(KeyCode::Enter));
    // From the clusters table, r takes the worst finding that has a fix.
    assert_eq!(
        update(&mut m, key('r')),
        [Cmd::PlanFix("ray-prod".into(), "train-exposed".into(), FixId::ServiceClusterip)]
    );
    assert_eq!(m.mode, Mode::Fix);
    assert!(render(&m, 120, 30).contains("planning"));
    let p = session::prepare_fix(&admin, "ray-prod", "train-exposed", FixId::ServiceClusterip)
        .await
        .unwrap();
    update(&mut m, Msg::FixPrepared(Ok(Box::new(p.clone()))));
    let frame = render(&m, 120, 30);
    assert!(frame.contains("update Service ray-prod/train-exposed-head-svc"), "{frame}");
    assert!(frame.contains("y apply 2 write(s)"), "{frame}");
    // A tiny terminal still draws (the modal shrinks to fit).
    assert!(!render(&m, 15, 5).is_empty());
    update(&mut m, code(KeyCode::Down));
    assert_eq!(m.fix.as_ref().unwrap().scroll, 1);
    assert_eq!(update(&mut m, key('y')), [Cmd::Apply(Box::new(p.plan.clone()))]);
    assert!(matches!(m.fix.as_ref().unwrap().stage, FixStage::Applying));
    assert!(update(&mut m, code(KeyCode::Esc)).is_empty(), "no cancel while writing");
    // A conflict plans again instead of overwriting.
    assert_eq!(
        update(&mut m, Msg::FixApplied(Err(("changed since the preview".into(), true)))),
        [Cmd::PlanFix("ray-prod".into(), "train-exposed".into(), FixId::ServiceClusterip)]
    );
    update(&mut m, Msg::FixPrepared(Ok(Box::new(p.clone()))));
    update(&mut m, key('y'));
    update(&mut m, Msg::FixApplied(Ok(("20261127-000000-abcd".into(), "done".into()))));
    assert_eq!(m.mode, Mode::Normal);
    assert!(render(&m, 120, 30).contains("20261127-000000-abcd"));
    // n cancels; u opens the undo modal.
    assert_eq!(update(&mut m, key('u')), [Cmd::PlanUndo]);
    update(&mut m, key('n'));
    assert_eq!(m.mode, Mode::Normal);
    // Deleting fixes want the cluster's name typed.
    let p =
        session::prepare_fix(&admin, "ray-dev", "notebook", FixId::DisableIngress).await.unwrap();
    m.mode = Mode::Fix;
    m.fix = Some(raydar::tui::state::FixModal {
        context: None,
        title: "t".into(),
        replan: raydar::tui::state::Replan::Undo,
        stage: FixStage::Preview(Box::new(p.clone())),
        scroll: 0,
        confirm: Default::default(),
    });
    assert!(render(&m, 120, 30).contains("type \"notebook\""));
    assert!(update(&mut m, key('y')).is_empty(), "y is not enough");
    update(&mut m, code(KeyCode::Backspace));
    assert!(typed(&mut m, "noteboo").is_empty());
    assert!(update(&mut m, code(KeyCode::Enter)).is_empty());
    update(&mut m, key('k'));
    assert_eq!(update(&mut m, code(KeyCode::Enter)), [Cmd::Apply(Box::new(p.plan.clone()))]);
    // A refused plan cannot be applied.
    let viewer = s.client(DemoUser::Viewer).await.unwrap();
    let p = session::prepare_fix(&viewer, "ray-prod", "train-exposed", FixId::NetworkPolicy)
        .await
        .unwrap();
    m.fix.as_mut().unwrap().stage = FixStage::Preview(Box::new(p));
    let frame = render(&m, 120, 30);
    assert!(frame.contains("forbidden") && frame.contains("cannot apply"), "{frame}");
    assert!(update(&mut m, key('y')).is_empty());
    update(&mut m, code(KeyCode::Esc));

    // --read-only: the keys do nothing and are gone from the help.
    let mut ro = Model::new("c", "s", Keymap::load(None).0, "dark", true);
    update(&mut ro, Msg::Refresh(Box::new(snapshot(DemoUser::Admin).await)));
    assert!(update(&mut ro, key('r')).is_empty());
    assert!(update(&mut ro, key('u')).is_empty());
    assert!(render(&ro, 120, 30).contains("read-only"));
    update(&mut ro, key('?'));
    let help = render(&ro, 120, 40);
    assert!(
        !help.contains("fix the selected finding") && !help.contains("undo the last fix"),
        "{help}"
    );
    update(&mut m, key('?'));
    assert!(render(&m, 120, 40).contains("fix the selected finding"));
}

#[tokio::test]
async fn limited_user_sees_forbidden_namespaces_in_the_status_line() {
    let mut m = model();
    update(&mut m, Msg::Refresh(Box::new(snapshot(DemoUser::Limited).await)));
    let names: std::collections::BTreeSet<&str> =
        m.rows.iter().map(|r| r.entry.namespace.as_str()).collect();
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["ml-team", "ray-dev"]);
    insta::assert_snapshot!("limited_120x30", render(&m, 120, 30));
}

#[tokio::test]
async fn export_writes_json_and_markdown() {
    let mut m = model();
    update(&mut m, Msg::Refresh(Box::new(snapshot(DemoUser::Admin).await)));
    let dir = std::env::temp_dir().join(format!("raydar-export-{}", std::process::id()));
    let (json, md) = raydar::tui::export(&m, &dir).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["clusters"].as_array().unwrap().len(), 12);
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(
        text.contains("| F | ray-prod | train-exposed | RayCluster |")
            && text.contains("RAY-EXP-002"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// tmux: start the built binary on the demo cluster, see it, filter, open help, quit, and check
/// that the terminal is back to normal (no alternate screen, cursor visible, shell prompt).
#[cfg_attr(not(tmux), ignore = "needs tmux on PATH")]
#[test]
fn tmux_end_to_end() {
    use std::process::Command;
    let sock = format!("raydar-it-{}", std::process::id());
    let _server = crate::common::TmuxServer(sock.clone());
    let tmux = |args: &[&str]| -> String {
        let o = Command::new("tmux").arg("-L").arg(&sock).args(args).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let home = std::env::temp_dir().join(format!("raydar-tmux-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let bin = env!("CARGO_BIN_EXE_raydar");
    let shell = format!(
        "env -i HOME={} TERM=xterm-256color PATH=/usr/bin:/bin bash --norc --noprofile",
        home.display()
    );
    tmux(&["new-session", "-d", "-s", "e2e", "-x", "110", "-y", "30", &shell]);
    let screen = || tmux(&["capture-pane", "-t", "e2e", "-p"]);
    let wait_for = |what: &str| {
        for _ in 0..100 {
            if screen().contains(what) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    };
    tmux(&["send-keys", "-t", "e2e", &format!("{bin} --demo; echo RAYDAR-EXIT=$?"), "Enter"]);
    let ok = wait_for("train-exposed");
    let first = screen();
    assert!(ok, "no train-exposed on screen:\n{first}");
    assert!(first.contains("ray-prod"));
    assert_eq!(tmux(&["display", "-p", "-t", "e2e", "#{alternate_on}"]).trim(), "1");
    tmux(&["send-keys", "-t", "e2e", "/", "cowboy", "Enter"]);
    assert!(wait_for("(1) /cowboy"), "{}", screen());
    assert!(!screen().contains("train-exposed  "));
    tmux(&["send-keys", "-t", "e2e", "?"]);
    assert!(wait_for("Keys ("), "{}", screen());
    tmux(&["send-keys", "-t", "e2e", "Escape"]);
    // r fixes the worst finding with a fix: preview, y, and the watcher shows the result.
    tmux(&["send-keys", "-t", "e2e", "Escape"]);
    assert!(wait_for("Ray clusters (12)"), "{}", screen());
    tmux(&["send-keys", "-t", "e2e", "/", "train", "Enter"]);
    assert!(wait_for("(1) /train"), "{}", screen());
    assert!(screen().contains(" PUBLIC "), "{}", screen());
    tmux(&["send-keys", "-t", "e2e", "r"]);
    assert!(wait_for("y apply 2 write(s)"), "{}", screen());
    assert!(screen().contains("server-side dry run"), "{}", screen());
    tmux(&["send-keys", "-t", "e2e", "y"]);
    assert!(wait_for(" internal "), "{}", screen());
    assert!(screen().contains("applied"), "{}", screen());
    // u undoes it, with the same preview and checks.
    tmux(&["send-keys", "-t", "e2e", "u"]);
    assert!(wait_for("undo of change"), "{}", screen());
    tmux(&["send-keys", "-t", "e2e", "y"]);
    assert!(wait_for(" PUBLIC "), "{}", screen());
    // f forwards, o cannot open a browser (no display in this shell): it says so, never
    // "opened"; x stops the forward and says its connections are closed.
    tmux(&["send-keys", "-t", "e2e", "f"]);
    assert!(wait_for("Forwards (1)"), "{}", screen());
    tmux(&["send-keys", "-t", "e2e", "Escape"]);
    tmux(&["send-keys", "-t", "e2e", "o"]);
    assert!(wait_for("no browser opened (no display here"), "{}", screen());
    assert!(!screen().contains("in the browser"), "{}", screen());
    tmux(&["send-keys", "-t", "e2e", "x"]);
    assert!(wait_for("stopped the forward"), "{}", screen());
    tmux(&["send-keys", "-t", "e2e", "q"]);
    assert!(wait_for("RAYDAR-EXIT=0"), "{}", screen());
    assert_eq!(
        tmux(&["display", "-p", "-t", "e2e", "#{alternate_on}"]).trim(),
        "0",
        "alternate screen left on"
    );
    assert_eq!(
        tmux(&["display", "-p", "-t", "e2e", "#{cursor_flag}"]).trim(),
        "1",
        "cursor left hidden"
    );
    // The terminal still echoes what is typed (raw mode is off).
    tmux(&["send-keys", "-t", "e2e", "echo still-cooked", "Enter"]);
    assert!(
        wait_for("still-cooked\n") || screen().matches("still-cooked").count() >= 2,
        "{}",
        screen()
    );
    tmux(&["kill-server"]);
    let _ = std::fs::remove_dir_all(home);
}

/// The next snapshot the live side sends (20 s at most).
async fn next_snapshot(rx: &mut tokio::sync::mpsc::Receiver<Msg>) -> Refresh {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let msg = tokio::time::timeout_at(deadline, rx.recv()).await.unwrap().unwrap();
        if let Msg::Refresh(snap) = msg {
            return *snap;
        }
    }
}

/// Progressive display: with the pods slow to list, the Ray clusters are on screen first —
/// ungraded, no grade letter, no mark — and graded once every kind is in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_come_first_ungraded_then_graded_never_a_before_the_data() {
    use raydar::tui::state::GRADING;
    let s = DemoServer::start(DemoOptions::default()).await.unwrap();
    s.slow_down("/pods", std::time::Duration::from_millis(1500));
    let conn = cluster::Connection::new(s.client(DemoUser::Admin).await.unwrap(), "t", &s.url());
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let live =
        tokio::spawn(raydar::tui::live::run(conn, Scope::All, PostureConfig::demo(), tx, None));
    let mut m = model();
    // Ungraded snapshots (page by page while the RayClusters are listed), then graded ones.
    let mut first = next_snapshot(&mut rx).await;
    while first.rows.len() < 12 {
        assert!(first.rows.iter().all(|r| !r.graded()), "no grade before the data is in");
        first = next_snapshot(&mut rx).await;
    }
    first.synced = "12:00:00".into();
    assert_eq!(first.rows.len(), 12, "every Ray object is a row before its grade");
    assert!(first.rows.iter().all(|r| !r.graded() && r.entry.grade.is_none()));
    assert!(first.rows.iter().all(|r| r.entry.findings.is_empty()));
    let cowboy = first.rows.iter().find(|r| r.entry.name == "cowboy").unwrap();
    assert_eq!((cowboy.state.as_str(), cowboy.workers_desired), ("ready", 1), "from the CR");
    update(&mut m, Msg::Refresh(Box::new(first)));
    let frame = render(&m, 120, 30);
    insta::assert_snapshot!("grading_120x30", frame);
    assert!(frame.contains("grading…") && frame.contains("hardened"), "{frame}");
    let hardened = frame.lines().find(|l| l.contains("hardened")).unwrap();
    assert!(!hardened.contains(" A ") && !hardened.contains('✓'), "never clean early: {hardened}");
    assert!(m.namespaces.iter().all(|n| n.worst == GRADING), "namespaces wait too");
    // Then graded, with the same rows.
    let mut second = next_snapshot(&mut rx).await;
    while !second.rows.iter().all(|r| r.graded()) {
        assert!(
            second.rows.iter().all(|r| !r.graded()),
            "a snapshot is graded whole or not at all"
        );
        second = next_snapshot(&mut rx).await;
    }
    update(&mut m, Msg::Refresh(Box::new(second)));
    let frame = render(&m, 120, 30);
    assert!(!frame.contains("grading…"), "{frame}");
    let hardened = frame.lines().find(|l| l.contains("hardened")).unwrap();
    assert!(hardened.contains(" A "), "{hardened}");
    live.abort();
}

/// One line per row, sorted: what the table and the detail pane show.
fn summary(rows: &[Arc<raydar::tui::state::Row>]) -> Vec<String> {
    let mut v: Vec<String> = rows
        .iter()
        .map(|r| {
            let e = &r.entry;
            let f: Vec<String> = e
                .findings
                .iter()
                .map(|f| format!("{} {:?} {}", f.rule.id, f.severity, f.evidence))
                .collect();
            format!(
                "{}/{} {} {} {} {} {}/{} {} {} {}{}{} {} events {}",
                e.namespace,
                e.name,
                e.kind,
                raydar::tui::state::grade_text(e.grade),
                r.state,
                r.head_svc,
                r.workers_ready,
                r.workers_desired,
                r.head_restarts,
                r.exposure,
                r.tls,
                r.auth,
                r.netpol.map_or("?".to_string(), |b| b.to_string()),
                f.join(" | "),
                r.events.len()
            )
        })
        .collect();
    v.sort();
    v
}

/// Live changes re-evaluate only the namespaces they touch: after changes in two namespaces
/// (a Service made public, a NetworkPolicy deleted) and a cluster-scoped one (a namespace's
/// labels), each snapshot is exactly what a full evaluation of the server gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_changes_reevaluate_their_namespace_and_match_a_full_evaluation() {
    use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
    let s = DemoServer::start(DemoOptions::default()).await.unwrap();
    let client = s.client(DemoUser::Admin).await.unwrap();
    let conn = cluster::Connection::new(client.clone(), "t", &s.url());
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let live =
        tokio::spawn(raydar::tui::live::run(conn, Scope::All, PostureConfig::demo(), tx, None));
    let mut snap = next_snapshot(&mut rx).await;
    while !(snap.rows.len() == 12 && snap.rows.iter().all(|r| r.graded())) {
        snap = next_snapshot(&mut rx).await;
    }
    let full = || async {
        let conn = cluster::Connection::new(client.clone(), "t", &s.url());
        let (mut inv, _) =
            cluster::list_inventory(&conn, &Scope::All, Arc::new(Progress::default()))
                .await
                .unwrap();
        let evs: Api<k8s_openapi::api::core::v1::Event> = Api::all(client.clone());
        let warnings = kube::api::ListParams::default().fields("type=Warning");
        inv.events = evs.list(&warnings).await.unwrap().items;
        let rows = rows::rows(&inv, evaluate(&inv, &PostureConfig::demo()));
        summary(&rows)
    };
    let of = |snap: &Refresh| summary(&snap.rows);
    assert_eq!(of(&snap), full().await, "the first graded snapshot");
    let before = of(&snap);
    // A ClusterIP head Service made a NodePort.
    let all: Api<k8s_openapi::api::core::v1::Service> = Api::all(client.clone());
    let head = all.list(&Default::default()).await.unwrap().items.into_iter().find(|x| {
        x.metadata.name.as_deref() == Some("hardened-head-svc")
            && x.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ClusterIP")
    });
    let head = head.unwrap();
    let svc_ns = head.metadata.namespace.clone().unwrap();
    let svcs: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(client.clone(), &svc_ns);
    let pp = PatchParams::default();
    let patch = Patch::Merge(serde_json::json!({"spec": {"type": "NodePort"}}));
    svcs.patch(head.metadata.name.as_deref().unwrap(), &pp, &patch).await.unwrap();
    let nps: Api<k8s_openapi::api::networking::v1::NetworkPolicy> = Api::all(client.clone());
    let np = nps.list(&Default::default()).await.unwrap().items.into_iter().next().unwrap();
    let np_ns = np.metadata.namespace.clone().unwrap();
    let np_api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &np_ns,
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::networking::v1::NetworkPolicy>(&()),
    );
    np_api.delete(np.metadata.name.as_deref().unwrap(), &DeleteParams::default()).await.unwrap();
    // Wait (bounded) for a snapshot that differs, then for the changes to settle.
    let mut snap = next_snapshot(&mut rx).await;
    for _ in 0..20 {
        if of(&snap) == full().await {
            break;
        }
        snap = next_snapshot(&mut rx).await;
    }
    assert_eq!(of(&snap), full().await, "after changes in {np_ns} and {svc_ns}");
    assert_ne!(of(&snap), before, "the changes show");
    let hardened = snap.rows.iter().find(|r| r.entry.name == "hardened").unwrap();
    assert_eq!(
        hardened.entry.grade,
        Some(raydar::posture::Grade::D),
        "a public dashboard behind token auth: the token is the only wall ({})",
        hardened.entry.grade_reason
    );
    live.abort();
}

/// `g` plans the guard in the fix preview; applied through the fixes' flow on the demo server,
/// which stores the policies, the header then says what is guarded; read-only refuses `g`.
#[tokio::test]
async fn guard_key_plans_the_guard_and_the_header_shows_it() {
    use raydar::guard::{self, GuardOptions};
    use raydar::remediate::{journal::Journal, session};
    use raydar::tui::state::FixStage;
    let s = DemoServer::start(DemoOptions::default()).await.unwrap();
    let admin = s.client(DemoUser::Admin).await.unwrap();
    let mut m = model();
    update(&mut m, Msg::Refresh(Box::new(snapshot(DemoUser::Admin).await)));
    assert_eq!(update(&mut m, key('g')), [Cmd::PlanGuard]);
    assert_eq!(m.mode, Mode::Fix);
    let p = guard::prepare(&admin, &GuardOptions::default()).await.unwrap();
    update(&mut m, Msg::FixPrepared(Ok(Box::new(p.clone()))));
    let frame = render(&m, 120, 30);
    assert!(frame.contains("create ValidatingAdmissionPolicy raydar-guard-raycluster"), "{frame}");
    assert!(matches!(m.fix.as_ref().unwrap().stage, FixStage::Preview(_)));
    // A conflict plans the guard again.
    update(&mut m, key('y'));
    assert_eq!(
        update(&mut m, Msg::FixApplied(Err(("changed since the preview".into(), true)))),
        [Cmd::PlanGuard]
    );
    let dir = std::env::temp_dir().join(format!("raydar-guard-tui-{}", std::process::id()));
    let journal = Journal::new(dir.join("journal.jsonl"));
    assert_eq!(guard::summary(&guard::installed(&admin).await.unwrap()), "guard: off");
    session::commit(&admin, &p.plan, &journal, "raydar-demo", &s.url()).await.unwrap();
    let installed = guard::installed(&admin).await.unwrap();
    assert_eq!(installed.len(), 10, "a policy and a binding per Ray kind, and for Services");
    let summary = guard::summary(&installed);
    assert_eq!(summary, "guard: warn, 8 rules");
    update(
        &mut m,
        Msg::Identity { user: "raydar-admin".into(), kuberay: None, guard: Some(summary) },
    );
    update(&mut m, code(KeyCode::Esc));
    assert!(render(&m, 120, 30).lines().next().unwrap().contains("guard: warn, 8 rules"));
    let mut ro = Model::new("raydar-demo", &s.url(), Keymap::load(None).0, "dark", true);
    assert!(update(&mut ro, key('g')).is_empty(), "read-only: no guard");
    assert_eq!(ro.mode, Mode::Normal);
    let _ = std::fs::remove_dir_all(dir);
}

/// A fleet in the model (issue #17): each context's rows, state and errors are its own, the
/// contexts pane shows them, a picked context narrows the rows, and forward and fix act on the
/// selected cluster's context. Leaving the fleet (`:ctx NAME`) empties it without a panic.
#[tokio::test]
async fn a_fleet_keeps_each_contexts_rows_and_state_and_acts_on_the_selected_clusters_context() {
    let base = snapshot(DemoUser::Admin).await;
    let of = |ctx: &str| {
        let rows = base
            .rows
            .iter()
            .map(|r| {
                let mut r = (**r).clone();
                r.entry.context = Some(ctx.to_string());
                Arc::new(r)
            })
            .collect();
        Msg::Refresh(Box::new(Refresh { context: Some(ctx.into()), rows, ..base.clone() }))
    };
    let mut m = model();
    update(&mut m, key(':'));
    typed(&mut m, "ctx all");
    assert_eq!(update(&mut m, code(KeyCode::Enter)), [Cmd::Fleet]);
    update(&mut m, Msg::Fleet(vec!["prod-hz".into(), "prod-sh".into(), "raydar-demo".into()]));
    assert_eq!(m.link, Link::Loading);
    let frame = render(&m, 150, 40);
    assert!(frame.contains(" Contexts "), "{frame}");
    assert!(frame.contains("…prod-hz"), "listing contexts are marked:\n{frame}");
    update(&mut m, of("prod-hz"));
    update(&mut m, of("prod-sh"));
    assert_eq!(m.visible.len(), 2 * base.rows.len());
    let down = |ctx: &str| Msg::ContextDown {
        context: ctx.into(),
        why: "connection refused".into(),
        failed: false,
    };
    update(&mut m, down("raydar-demo"));
    update(&mut m, down("prod-sh"));
    let states: Vec<String> = m.fleet.iter().map(|p| p.state()).collect();
    assert_eq!(states, ["live", "stale", "down"]);
    let frame = render(&m, 150, 40);
    for want in ["✗raydar-demo", "!prod-sh", "prod-hz/ray-prod", "1 of 3 contexts live"] {
        assert!(frame.contains(want), "{want}:\n{frame}");
    }
    // The stale context's rows stay, marked; the never-reached one has none.
    assert_eq!(m.fleet[1].rows.len(), base.rows.len());
    // Pick prod-sh in the contexts pane: its rows only.
    update(&mut m, code(KeyCode::Tab));
    update(&mut m, code(KeyCode::Tab));
    assert_eq!(m.focus, Focus::Contexts);
    update(&mut m, code(KeyCode::Down));
    update(&mut m, code(KeyCode::Down));
    assert_eq!(m.selected_ctx(), Some("prod-sh"));
    assert_eq!(m.visible.len(), base.rows.len());
    assert!(m.visible.iter().all(|i| m.rows[*i].entry.context.as_deref() == Some("prod-sh")));
    // Forward and fix act on the selected cluster's own context.
    update(&mut m, code(KeyCode::Tab));
    update(&mut m, code(KeyCode::Tab));
    update(&mut m, key('/'));
    typed(&mut m, "train-exposed");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(names(&m), ["train-exposed"]);
    assert_eq!(m.target_context().as_deref(), Some("prod-sh"));
    assert_eq!(update(&mut m, key('f')), [Cmd::Forward("ray-prod".into(), "train-exposed".into())]);
    let cmds = update(&mut m, key('r'));
    assert!(
        matches!(cmds.as_slice(), [Cmd::PlanFix(ns, n, _)] if ns == "ray-prod" && n == "train-exposed")
    );
    let modal = m.fix.as_ref().unwrap();
    assert_eq!(modal.context.as_deref(), Some("prod-sh"));
    assert!(modal.title.ends_with("in context prod-sh"), "{}", modal.title);
    update(&mut m, code(KeyCode::Esc));
    // :ctx NAME leaves the fleet.
    update(&mut m, Msg::Switched(Ok(("prod-hz".into(), "https://127.0.0.1:1".into()))));
    assert!(!m.fleet_mode());
    assert!(m.rows.is_empty() && m.visible.is_empty());
    assert!(!render(&m, 150, 40).contains(" Contexts "));
}
