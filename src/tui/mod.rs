//! The interactive TUI: one event loop over terminal input and background messages, a pure
//! `update`, a pure view, redraws only when something changed (README: The TUI).

pub mod fleet;
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
    let mut md = format!("# raydar report — context {}\n\n| grade | namespace | name | kind | critical | high | medium | low | why |\n|---|---|---|---|---|---|---|---|---|\n", m.context);
    for e in &report.clusters {
        use crate::posture::Severity::*;
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            state::grade_text(e.grade),
            e.namespace,
            e.name,
            e.kind,
            e.count(Critical),
            e.count(High),
            e.count(Medium),
            e.count(Low),
            e.grade_reason.replace('|', "\\|")
        ));
    }
    for e in report.clusters.iter().filter(|e| !e.findings.is_empty()) {
        md.push_str(&format!(
            "\n## {}/{} ({}, grade {})\n\n{}\n\n",
            e.namespace,
            e.name,
            e.kind,
            state::grade_text(e.grade),
            e.grade_reason
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
    // A fleet connects context by context in the background; one context before the terminal
    // is touched, so that its problem is one plain line.
    let conn = if opts.contexts.is_empty() {
        match cluster::connect(&opts.target).await {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("raydar: {e}");
                return 2;
            }
        }
    } else {
        None
    };
    init_logging(&opts.state_dir);
    tracing::debug!("tui: connected");
    let overrides = crate::config::config_dir()
        .and_then(|d| std::fs::read_to_string(d.join("keymap.toml")).ok());
    let (keymap, warnings) = keymap::Keymap::load(overrides.as_deref());
    let theme = opts.theme.clone().unwrap_or_else(|| "dark".into());
    let (context, server) = conn.as_ref().map_or(("", ""), |c| (&c.context, &c.server));
    let mut model = Model::new(context, server, keymap, &theme, opts.read_only);
    model.contexts = opts.target.contexts();
    if conn.is_none() {
        model.start_fleet(opts.contexts.clone());
    }
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

/// Running forwards by (context — "" for the one context —, namespace, cluster).
type Forwards = std::collections::BTreeMap<(String, String, String), crate::forward::Forward>;

fn forward_views(forwards: &Forwards) -> Vec<state::ForwardView> {
    forwards
        .iter()
        .map(|((ctx, ns, c), f)| state::ForwardView {
            context: (!ctx.is_empty()).then(|| ctx.clone()),
            namespace: ns.clone(),
            cluster: c.clone(),
            url: f.url(),
            summary: f.stats.summary(),
        })
        .collect()
}

/// What the loop's background tasks hand back that is not for `update` alone: a new connection
/// (after `:ctx`), a context of a fleet connected, or a started forward. The loop never awaits
/// the network itself.
enum Done {
    Connected(Result<Connection, String>),
    Joined(String, Result<Connection, String>),
    Forwarded(String, String, String, Result<crate::forward::Forward, String>),
}

/// The clients of the contexts watched — the one context under "", a fleet's by name — with
/// their servers, and their watchers.
#[derive(Default)]
struct Watched {
    clients: std::collections::BTreeMap<String, (kube::Client, String)>,
    lives: Vec<tokio::task::JoinHandle<()>>,
}

impl Watched {
    fn stop(&mut self) {
        for l in self.lives.drain(..) {
            l.abort();
        }
        self.clients.clear();
    }

    /// The client and server of `ctx` (None: the one context).
    fn get(&self, ctx: Option<&str>) -> Option<(kube::Client, String)> {
        self.clients.get(ctx.unwrap_or_default()).cloned()
    }
}

/// Connects every context of a fleet in the background, each within the context timeout and
/// with its exec plugin run non-interactively (kept for refreshes).
fn join_fleet(names: &[String], opts: &Options, done: &mpsc::Sender<Done>) {
    // Read once for all of them (an unreadable kubeconfig: each context says why).
    let base = opts.target.loaded().unwrap_or_else(|_| opts.target.clone());
    for name in names {
        let (target, done) = (base.with_context(name), done.clone());
        let (name, within) = (name.clone(), opts.context_timeout);
        tokio::spawn(async move {
            let connect = async {
                let spec = cluster::settle_credentials(&target, within, true).await?;
                cluster::connect(&spec).await
            };
            let r = match tokio::time::timeout(within, connect).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => {
                    Err(format!("no answer within {} s (--context-timeout)", within.as_secs()))
                }
            };
            let _ = done.send(Done::Joined(name, r)).await;
        });
    }
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    mut model: Model,
    conn: Option<Connection>,
    opts: &Options,
) -> i32 {
    let (tx, mut rx) = mpsc::channel::<Msg>(64);
    let (done_tx, mut done_rx) = mpsc::channel::<Done>(64);
    let mut watched = Watched::default();
    let mut forwards: Forwards = Default::default();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    let scope = opts.scope.clone();
    let cfg = opts.posture.clone();
    match conn {
        Some(conn) => {
            watched.clients.insert(String::new(), (conn.client.clone(), conn.server.clone()));
            watched.lives.push(tokio::spawn(live::run(
                conn,
                scope.clone(),
                cfg.clone(),
                tx.clone(),
                None,
            )));
        }
        None => join_fleet(&opts.contexts, opts, &done_tx),
    }
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
                    watched.stop();
                    watched.clients.insert(String::new(), (c.client.clone(), c.server.clone()));
                    let msg = Msg::Switched(Ok((c.context.clone(), c.server.clone())));
                    watched.lives.push(tokio::spawn(live::run(c, scope.clone(), cfg.clone(), tx.clone(), None)));
                    msg
                }
                Some(Done::Connected(Err(e))) => Msg::Switched(Err(e)),
                // A context of a fleet the user has since left is dropped.
                Some(Done::Joined(name, _)) if !model.fleet.iter().any(|p| p.name == name) => continue,
                Some(Done::Joined(name, Ok(c))) => {
                    watched.clients.insert(name.clone(), (c.client.clone(), c.server.clone()));
                    watched.lives.push(tokio::spawn(live::run(c, scope.clone(), cfg.clone(), tx.clone(), Some(name))));
                    continue;
                }
                Some(Done::Joined(name, Err(why))) => Msg::ContextDown { context: name, why, failed: true },
                Some(Done::Forwarded(ctx, ns, name, Ok(f))) => {
                    let note = format!("{ns}/{name} → {} (o opens it, x stops it)", f.url());
                    forwards.insert((ctx, ns, name), f);
                    let _ = tx.send(Msg::Forwards(forward_views(&forwards))).await;
                    Msg::Notice(note)
                }
                Some(Done::Forwarded(_, _, _, Err(e))) => Msg::Warning(e),
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
            // Forwards act on the selected cluster's context; plans on the fix preview's.
            let selected = model.target_context();
            let planned = model.fix.as_ref().and_then(|f| f.context.clone());
            let client = |ctx: &Option<String>| watched.get(ctx.as_deref());
            match cmd {
                Cmd::Quit => {
                    watched.stop();
                    return 0;
                }
                Cmd::Export => {
                    let r = export(&model, &opts.state_dir.join("exports"));
                    cmds.extend(update(&mut model, Msg::Exported(r)));
                }
                Cmd::Forward(ns, name) => {
                    let Some((client, _)) = client(&selected) else { continue };
                    let (done, ctx) = (done_tx.clone(), selected.unwrap_or_default());
                    tokio::spawn(async move {
                        let spec = crate::forward::ForwardSpec::new(
                            &ns,
                            &name,
                            crate::forward::HeadPort::Dashboard,
                        );
                        let r =
                            crate::forward::start(client, spec).await.map_err(|e| e.to_string());
                        let _ = done.send(Done::Forwarded(ctx, ns, name, r)).await;
                    });
                }
                Cmd::StopForward(ns, name) => {
                    if let Some(key) = forward_key(&forwards, &selected, &ns, &name) {
                        if let Some(f) = forwards.remove(&key) {
                            let open = f.stats.open.load(std::sync::atomic::Ordering::Relaxed);
                            let total = f.stats.total.load(std::sync::atomic::Ordering::Relaxed);
                            // Dropping it closes every connection and voids its sessions.
                            drop(f);
                            let note = format!(
                                "stopped the forward of {ns}/{name}: {open} open connection(s) closed, sign-in links and sessions void ({total} served)"
                            );
                            cmds.extend(update(&mut model, Msg::Notice(note)));
                        }
                    }
                    cmds.extend(update(&mut model, Msg::Forwards(forward_views(&forwards))));
                }
                Cmd::Open(ns, cluster) => {
                    let key = forward_key(&forwards, &selected, &ns, &cluster);
                    let Some(f) = key.and_then(|k| forwards.get(&k)) else { continue };
                    // A fresh one-time link for each open: the last one may have been used. The
                    // opener is waited for off this thread; "opened" only when it exited 0.
                    let (url, clean, port) = (f.login_url(), f.url(), f.local.port());
                    let tx = tx.clone();
                    tokio::task::spawn_blocking(move || {
                        let note = match crate::forward::open_browser(&url) {
                            Ok(()) => format!("opened {clean} in the browser"),
                            Err(why) => crate::forward::link_instructions(&why, &url, port),
                        };
                        let _ = tx.blocking_send(Msg::Notice(note));
                    });
                }
                Cmd::PlanFix(ns, name, fix) => {
                    let Some((client, _)) = client(&planned) else { continue };
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let r = session::prepare_fix(&client, &ns, &name, fix).await;
                        let _ = tx
                            .send(Msg::FixPrepared(r.map(Box::new).map_err(|e| e.to_string())))
                            .await;
                    });
                }
                Cmd::PlanUndo => {
                    let Some((client, server)) = client(&planned) else { continue };
                    let (tx, path) = (tx.clone(), opts.journal_path());
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
                    let Some((client, _)) = client(&planned) else { continue };
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let opts = crate::guard::GuardOptions::default();
                        let r = crate::guard::prepare(&client, &opts).await;
                        let _ = tx.send(Msg::FixPrepared(r.map(Box::new))).await;
                    });
                }
                Cmd::Apply(plan) => {
                    let Some((client, server)) = client(&planned) else { continue };
                    let tx = tx.clone();
                    let context = planned.unwrap_or_else(|| model.context.clone());
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
                    watched.stop();
                    forwards.clear();
                    let (target, done) = (opts.target.with_context(&ctx), done_tx.clone());
                    tokio::spawn(async move {
                        let r = cluster::connect(&target).await.map_err(|e| e.to_string());
                        let _ = done.send(Done::Connected(r)).await;
                    });
                }
                Cmd::Fleet => {
                    let names = model.contexts.clone();
                    if names.is_empty() {
                        cmds.extend(update(
                            &mut model,
                            Msg::Warning("the kubeconfig has no contexts".into()),
                        ));
                        continue;
                    }
                    watched.stop();
                    forwards.clear();
                    cmds.extend(update(&mut model, Msg::Forwards(Vec::new())));
                    cmds.extend(update(&mut model, Msg::Fleet(names.clone())));
                    join_fleet(&names, opts, &done_tx);
                }
            }
        }
    }
}

/// The running forward of namespace/cluster: in the selected cluster's context, else in any.
fn forward_key(
    forwards: &Forwards,
    selected: &Option<String>,
    ns: &str,
    cluster: &str,
) -> Option<(String, String, String)> {
    let own = (selected.clone().unwrap_or_default(), ns.to_string(), cluster.to_string());
    if forwards.contains_key(&own) {
        return Some(own);
    }
    forwards.keys().find(|(_, n, c)| n == ns && c == cluster).cloned()
}
