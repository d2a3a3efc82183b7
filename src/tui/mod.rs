//! The interactive TUI: one event loop over terminal input and background messages, a pure
//! `update`, a pure view, redraws only when something changed (README: The TUI).

pub mod keymap;
pub mod live;
pub mod rows;
mod startup;
pub mod state;
mod store;
pub mod theme;
pub mod update;
pub mod view;

use crate::cluster::{self, Connection};
use crate::options::Options;
use crate::remediate::journal::Journal;
use crate::remediate::session;
use crate::report::Report;
use futures::StreamExt;
use state::Model;
use tokio::sync::mpsc;
use update::{update, Cmd, Msg};

/// Writes the report of the current rows as JSON and Markdown into the state directory.
pub fn export(m: &Model, dir: &std::path::Path) -> Result<(String, String), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("export: {}: {e}", dir.display()))?;
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let base = dir.join(format!("raydar-{}-{stamp}", m.context.replace(['/', ':'], "_")));
    let entries: Vec<_> =
        m.visible.iter().filter_map(|i| m.rows.get(*i)).map(|r| r.entry.clone()).collect();
    let report = Report::new(format!("context:{}", m.context), entries, m.errors.clone());
    let json = base.with_extension("json");
    std::fs::write(&json, report.json()).map_err(|e| format!("export: {}: {e}", json.display()))?;
    let mut md = format!("# raydar report — context {}\n\n| grade | namespace | name | kind | critical | high | medium | low |\n|---|---|---|---|---|---|---|---|\n", m.context);
    for e in &report.clusters {
        use crate::posture::Severity::*;
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            e.grade,
            e.namespace,
            e.name,
            e.kind,
            e.count(Critical),
            e.count(High),
            e.count(Medium),
            e.count(Low)
        ));
    }
    for e in report.clusters.iter().filter(|e| !e.findings.is_empty()) {
        md.push_str(&format!(
            "\n## {}/{} ({}, grade {})\n\n",
            e.namespace, e.name, e.kind, e.grade
        ));
        for f in &e.findings {
            md.push_str(&format!(
                "- **{}** `{}` §{} {} — {}\n  - fix: {}\n",
                f.severity.as_str(),
                f.rule.id,
                f.rule.section,
                f.rule.title,
                f.evidence,
                f.rule.remediation
            ));
        }
    }
    let mdp = base.with_extension("md");
    std::fs::write(&mdp, md).map_err(|e| format!("export: {}: {e}", mdp.display()))?;
    Ok((json.display().to_string(), mdp.display().to_string()))
}

fn init_logging(dir: &std::path::Path) {
    let _ = std::fs::create_dir_all(dir);
    if let Ok(file) =
        std::fs::OpenOptions::new().create(true).append(true).open(dir.join("raydar.log"))
    {
        let filter = tracing_subscriber::EnvFilter::try_from_env("RAYDAR_LOG")
            .unwrap_or_else(|_| "warn".into());
        let _ = tracing_subscriber::fmt()
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .with_env_filter(filter)
            .try_init();
    }
}

/// Runs the TUI until the user quits; returns the exit code. Connection problems are reported
/// before the terminal is touched.
pub async fn run(opts: &Options) -> i32 {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        eprintln!(
            "raydar: the TUI needs a terminal on stdin and stdout; for a report without one, run `raydar scan`"
        );
        return 2;
    }
    let conn = match cluster::connect(&opts.target).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("raydar: {e}");
            return 2;
        }
    };
    init_logging(&opts.state_dir);
    let overrides = crate::config::config_dir()
        .and_then(|d| std::fs::read_to_string(d.join("keymap.toml")).ok());
    let (keymap, warnings) = keymap::Keymap::load(overrides.as_deref());
    let theme = opts.theme.clone().unwrap_or_else(|| "dark".into());
    let mut model = Model::new(&conn.context, &conn.server, keymap, &theme, opts.read_only);
    model.contexts = opts.target.contexts();
    if let Some(w) = warnings.first() {
        tracing::warn!("{w}");
        model.notice = Some((w.clone(), true));
    }
    if opts.theme.as_deref().is_some_and(|t| t != model.theme.name) {
        model.notice = Some((
            format!("unknown theme {:?}; using dark (themes: dark, light, high-contrast)", theme),
            true,
        ));
    }
    let mut terminal = ratatui::init();
    model.height = terminal.size().map_or(0, |s| s.height);
    let code = event_loop(&mut terminal, model, conn, opts).await;
    ratatui::restore();
    code
}

fn forward_views(
    forwards: &std::collections::BTreeMap<(String, String), crate::forward::Forward>,
) -> Vec<state::ForwardView> {
    forwards
        .iter()
        .map(|((ns, c), f)| state::ForwardView {
            namespace: ns.clone(),
            cluster: c.clone(),
            url: f.url(),
            summary: f.stats.summary(),
        })
        .collect()
}

/// What the loop's background tasks hand back that is not for `update` alone: a new connection
/// (after `:ctx`) or a started forward. The loop never awaits the network itself.
enum Done {
    Connected(Result<Connection, String>),
    Forwarded(String, String, Result<crate::forward::Forward, String>),
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    mut model: Model,
    conn: Connection,
    opts: &Options,
) -> i32 {
    let (tx, mut rx) = mpsc::channel::<Msg>(64);
    let (done_tx, mut done_rx) = mpsc::channel::<Done>(8);
    let mut client = conn.client.clone();
    let mut forwards: std::collections::BTreeMap<(String, String), crate::forward::Forward> =
        Default::default();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    let scope = opts.scope.clone();
    let cfg = opts.posture.clone();
    let mut live = tokio::spawn(live::run(conn, scope.clone(), cfg.clone(), tx.clone()));
    let mut input = crossterm::event::EventStream::new();
    loop {
        if model.dirty {
            if let Err(e) = terminal.draw(|f| view::render(&model, f)) {
                tracing::error!("draw: {e}");
                return 2;
            }
            model.dirty = false;
            tracing::trace!(target: "raydar::frame", "frame drawn");
        }
        let msg = tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(crossterm::event::Event::Key(k))) => Msg::Key(k),
                Some(Ok(crossterm::event::Event::Resize(_, h))) => Msg::Resize(h),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return 0,
            },
            m = rx.recv() => match m { Some(m) => m, None => continue },
            d = done_rx.recv() => match d {
                Some(Done::Connected(Ok(c))) => {
                    client = c.client.clone();
                    let msg = Msg::Switched(Ok((c.context.clone(), c.server.clone())));
                    live = tokio::spawn(live::run(c, scope.clone(), cfg.clone(), tx.clone()));
                    msg
                }
                Some(Done::Connected(Err(e))) => Msg::Switched(Err(e)),
                Some(Done::Forwarded(ns, name, Ok(f))) => {
                    let note = format!("{ns}/{name} → {} (o opens it, x stops it)", f.url());
                    forwards.insert((ns, name), f);
                    let _ = tx.send(Msg::Forwards(forward_views(&forwards))).await;
                    Msg::Notice(note)
                }
                Some(Done::Forwarded(_, _, Err(e))) => Msg::Warning(e),
                None => continue,
            },
            // Forward stats change while forwards run; nothing ticks otherwise.
            _ = tick.tick(), if !forwards.is_empty() => Msg::Forwards(forward_views(&forwards)),
        };
        // Every Cmd that update returns is carried out, those its answers return too.
        let mut cmds: std::collections::VecDeque<Cmd> = update(&mut model, msg).into();
        // Drain what is already queued before drawing once.
        while let Ok(m) = rx.try_recv() {
            cmds.extend(update(&mut model, m));
        }
        while let Some(cmd) = cmds.pop_front() {
            match cmd {
                Cmd::Quit => {
                    live.abort();
                    return 0;
                }
                Cmd::Export => {
                    let r = export(&model, &opts.state_dir.join("exports"));
                    cmds.extend(update(&mut model, Msg::Exported(r)));
                }
                Cmd::Forward(ns, name) => {
                    let (client, done) = (client.clone(), done_tx.clone());
                    tokio::spawn(async move {
                        let spec = crate::forward::ForwardSpec::new(
                            &ns,
                            &name,
                            crate::forward::HeadPort::Dashboard,
                        );
                        let r =
                            crate::forward::start(client, spec).await.map_err(|e| e.to_string());
                        let _ = done.send(Done::Forwarded(ns, name, r)).await;
                    });
                }
                Cmd::StopForward(ns, name) => {
                    if let Some(f) = forwards.remove(&(ns.clone(), name.clone())) {
                        let note =
                            format!("stopped the forward of {ns}/{name} · {}", f.stats.summary());
                        cmds.extend(update(&mut model, Msg::Notice(note)));
                    }
                    cmds.extend(update(&mut model, Msg::Forwards(forward_views(&forwards))));
                }
                Cmd::Open(ns, cluster) => {
                    let Some(f) = forwards.get(&(ns, cluster)) else { continue };
                    // A fresh one-time link for each open: the last one may have been used.
                    let url = f.login_url();
                    let note = if crate::forward::open_browser(&url) {
                        format!("opened {} in the browser", f.url())
                    } else {
                        format!("no browser here: open {url} (good once)")
                    };
                    cmds.extend(update(&mut model, Msg::Notice(note)));
                }
                Cmd::PlanFix(ns, name, fix) => {
                    let (client, tx) = (client.clone(), tx.clone());
                    tokio::spawn(async move {
                        let r = session::prepare_fix(&client, &ns, &name, fix).await;
                        let _ = tx
                            .send(Msg::FixPrepared(r.map(Box::new).map_err(|e| e.to_string())))
                            .await;
                    });
                }
                Cmd::PlanUndo => {
                    let (client, tx) = (client.clone(), tx.clone());
                    let (server, path) = (model.server.clone(), opts.journal_path());
                    tokio::spawn(async move {
                        let journal = Journal::new(path);
                        let r = session::prepare_undo(&client, &journal, &server, None).await;
                        let _ = tx
                            .send(Msg::FixPrepared(
                                r.map(|(_, p)| Box::new(p)).map_err(|e| e.to_string()),
                            ))
                            .await;
                    });
                }
                Cmd::PlanGuard => {
                    let (client, tx) = (client.clone(), tx.clone());
                    tokio::spawn(async move {
                        let opts = crate::guard::GuardOptions::default();
                        let r = crate::guard::prepare(&client, &opts).await;
                        let _ = tx.send(Msg::FixPrepared(r.map(Box::new))).await;
                    });
                }
                Cmd::Apply(plan) => {
                    let (client, tx) = (client.clone(), tx.clone());
                    let (context, server) = (model.context.clone(), model.server.clone());
                    let path = opts.journal_path();
                    tokio::spawn(async move {
                        let journal = Journal::new(path);
                        let r = session::commit(&client, &plan, &journal, &context, &server).await;
                        let msg = match r {
                            Ok(e) => Ok((e.id, plan.title())),
                            Err(e) => Err((e.to_string(), e.is_conflict())),
                        };
                        let _ = tx.send(Msg::FixApplied(msg)).await;
                    });
                }
                Cmd::SwitchContext(ctx) => {
                    live.abort();
                    forwards.clear();
                    let (target, done) = (opts.target.with_context(&ctx), done_tx.clone());
                    tokio::spawn(async move {
                        let r = cluster::connect(&target).await.map_err(|e| e.to_string());
                        let _ = done.send(Done::Connected(r)).await;
                    });
                }
            }
        }
    }
}
