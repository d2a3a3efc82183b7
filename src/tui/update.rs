//! `update(&mut Model, Msg) -> Vec<Cmd>`: every state change of the TUI, synchronous and pure.
//! Background work is requested as a `Cmd` and answers with a `Msg`.

use super::keymap::{Action, Layer};
use super::state::{FixModal, FixStage, Focus, Link, Mode, Model, Refresh, Replan, Sort, Tab};
use crate::remediate::session::Prepared;
use crate::remediate::{FixId, Plan};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

const CONTROL: KeyModifiers = KeyModifiers::CONTROL;
use tui_input::backend::crossterm::EventHandler;

#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    Key(KeyEvent),
    /// The terminal's new height.
    Resize(u16),
    Refresh(Box<Refresh>),
    /// The API went away (watch failing); data is kept and marked stale.
    Disconnected(String),
    /// In a fleet: one context's API went away (stale, retrying), or it could not connect at
    /// all (`failed`).
    ContextDown {
        context: String,
        why: String,
        failed: bool,
    },
    /// Every context of the kubeconfig, at once (`:ctx all`).
    Fleet(Vec<String>),
    /// Who the user is and what KubeRay runs (best effort, once per context).
    Identity {
        user: String,
        kuberay: Option<String>,
        /// The guard's summary (None: raydar may not read the policies).
        guard: Option<String>,
    },
    Exported(Result<(String, String), String>),
    /// `:ctx` finished switching (or failed).
    Switched(Result<(String, String), String>),
    Warning(String),
    /// Something the user should read that is not a problem (a forward started, a browser
    /// opened).
    Notice(String),
    /// The running forwards (after a start, stop, or stats tick).
    Forwards(Vec<super::state::ForwardView>),
    /// A fix or undo is planned and checked (or could not be).
    FixPrepared(Result<Box<Prepared>, String>),
    /// The writes are done: the journal id and what was written, or the error (and whether
    /// it was a conflict, which plans again).
    FixApplied(Result<(String, String), (String, bool)>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    Quit,
    /// Write the current report as JSON and Markdown into the state directory.
    Export,
    SwitchContext(String),
    /// Watch every context of the kubeconfig at once.
    Fleet,
    /// Forward the dashboard of namespace/cluster.
    Forward(String, String),
    StopForward(String, String),
    /// Open a URL in the browser (or say it where none can be opened).
    /// Open the forward of (namespace, cluster) in the browser, with a fresh one-time link.
    Open(String, String),
    /// Plan a fix for namespace/entry and ask the server about it.
    PlanFix(String, String, FixId),
    /// Plan the undo of the newest change on this server.
    PlanUndo,
    /// The guard's plan, with the default options (warn, the rules on by default).
    PlanGuard,
    /// Write a confirmed plan and journal it.
    Apply(Box<Plan>),
}

/// Keys while the fix modal is open (the keymap's `fix` layer). While a fix asks for the
/// entry's name to be typed, letters are typing.
fn fix_key(m: &mut Model, k: KeyEvent) -> Vec<Cmd> {
    let Some(modal) = m.fix.as_mut() else {
        m.mode = Mode::Normal;
        return vec![];
    };
    let close = |m: &mut Model| {
        m.fix = None;
        m.mode = Mode::Normal;
    };
    let strong = matches!(&modal.stage, FixStage::Preview(p) if p.plan.strong && p.ready());
    let typing = strong && matches!(k.code, KeyCode::Char(_)) && !k.modifiers.contains(CONTROL);
    let action = if typing { None } else { m.keymap.action(Layer::Fix, &k) };
    let preview = matches!(modal.stage, FixStage::Preview(_));
    match (&modal.stage, action) {
        (FixStage::Applying, _) => {}
        (_, Some(Action::Back)) => close(m),
        (_, Some(a @ (Action::Up | Action::Down | Action::PageUp | Action::PageDown)))
            if preview =>
        {
            modal.scroll = scrolled(modal.scroll, a);
        }
        (FixStage::Preview(p), Some(Action::Enter)) if strong => {
            if modal.confirm.value() == p.plan.entry {
                let plan = Box::new(p.plan.clone());
                modal.stage = FixStage::Applying;
                return vec![Cmd::Apply(plan)];
            }
            m.notice = Some((format!("type {:?} exactly to confirm", p.plan.entry), true));
        }
        (FixStage::Preview(_), None) if strong => {
            modal.confirm.handle_event(&Event::Key(k));
        }
        (FixStage::Preview(p), Some(Action::Confirm)) if p.ready() && !strong => {
            let plan = Box::new(p.plan.clone());
            modal.stage = FixStage::Applying;
            return vec![Cmd::Apply(plan)];
        }
        (FixStage::Done(..), Some(Action::Enter)) => close(m),
        _ => {}
    }
    vec![]
}

/// A scroll offset moved by a scrolling action.
fn scrolled(at: u16, a: Action) -> u16 {
    match a {
        Action::Up => at.saturating_sub(1),
        Action::Down => at.saturating_add(1),
        Action::PageUp => at.saturating_sub(10),
        Action::PageDown => at.saturating_add(10),
        _ => at,
    }
}

/// `r`: the selected finding's fix (in the detail pane), else the worst finding with one.
fn start_fix(m: &mut Model) -> Vec<Cmd> {
    let Some(r) = m.current() else {
        m.notice = Some(("no cluster selected".into(), false));
        return vec![];
    };
    let e = &r.entry;
    let finding = if m.focus == Focus::Detail && m.tab == Tab::Findings {
        e.findings.get(m.finding)
    } else {
        e.findings.iter().find(|f| f.rule.fix.is_some())
    };
    let Some(f) = finding else {
        m.notice =
            Some((format!("no finding of {}/{} has a one-key fix", e.namespace, e.name), false));
        return vec![];
    };
    let Some(fix) = f.rule.fix else {
        m.notice = Some((format!("{} has no one-key fix", f.rule.id), false));
        return vec![];
    };
    let (ns, name) = (e.namespace.clone(), e.name.clone());
    let on = e.context.as_deref().map(|c| format!(" in context {c}")).unwrap_or_default();
    plan(m, format!("{fix} on {ns}/{name}{on}"), Replan::Fix(ns, name, fix))
}

/// Opens the fix preview while `what` is planned, and asks for the plan.
fn plan(m: &mut Model, title: String, what: Replan) -> Vec<Cmd> {
    let cmd = replan_cmd(&what);
    let context = m.target_context();
    if m.fleet_mode() && context.is_none() {
        m.notice = Some(("select a cluster first: it picks the context to act on".into(), true));
        return vec![];
    }
    m.fix = Some(FixModal {
        context,
        title,
        replan: what,
        stage: FixStage::Planning,
        scroll: 0,
        confirm: tui_input::Input::default(),
    });
    m.mode = Mode::Fix;
    vec![cmd]
}

/// The command that plans `what` (again, after a conflict).
fn replan_cmd(what: &Replan) -> Cmd {
    match what {
        Replan::Fix(ns, name, fix) => Cmd::PlanFix(ns.clone(), name.clone(), *fix),
        Replan::Undo => Cmd::PlanUndo,
        Replan::Guard => Cmd::PlanGuard,
    }
}

fn page(m: &Model) -> usize {
    10.min(m.visible.len().max(1))
}

fn move_sel(m: &mut Model, delta: isize) {
    match m.focus {
        Focus::Contexts => {
            let n = m.fleet.len() + 1;
            m.ctx_index = (m.ctx_index as isize + delta).clamp(0, n as isize - 1) as usize;
            m.ns_index = 0;
            m.selected = 0;
            m.finding = 0;
            m.refresh_keeping(None);
        }
        Focus::Namespaces => {
            let n = m.namespaces.len() + 1;
            m.ns_index = (m.ns_index as isize + delta).clamp(0, n as isize - 1) as usize;
            m.selected = 0;
            m.finding = 0;
            m.refresh();
        }
        Focus::Clusters => {
            let n = m.visible.len();
            if n > 0 {
                m.selected = (m.selected as isize + delta).clamp(0, n as isize - 1) as usize;
                m.finding = 0;
            }
        }
        Focus::Detail => {
            let n = m.current().map_or(0, |r| {
                if m.tab == Tab::Findings {
                    r.entry.findings.len()
                } else {
                    r.events.len()
                }
            });
            if n > 0 {
                m.finding = (m.finding as isize + delta).clamp(0, n as isize - 1) as usize;
            }
        }
    }
}

/// Completion for `:ctx` and `:ns`: the single match, or the longest common prefix.
pub fn complete(m: &Model, line: &str) -> Option<String> {
    let (cmd, arg) = line.split_once(' ').unwrap_or((line, ""));
    let pool: Vec<String> = match cmd {
        "ctx" => std::iter::once("all".to_string()).chain(m.contexts.iter().cloned()).collect(),
        "ns" => std::iter::once("all".to_string())
            .chain(m.namespaces.iter().map(|n| n.name.clone()))
            .collect(),
        _ => return ["ctx ", "ns "].iter().find(|c| c.starts_with(line)).map(|c| c.to_string()),
    };
    let hits: Vec<&String> = pool.iter().filter(|p| p.starts_with(arg)).collect();
    let first = hits.first()?;
    let common = hits.iter().fold(first.to_string(), |acc, h| {
        acc.chars().zip(h.chars()).take_while(|(a, b)| a == b).map(|(a, _)| a).collect()
    });
    Some(format!("{cmd} {common}"))
}

fn run_command(m: &mut Model, line: &str) -> Vec<Cmd> {
    let (cmd, arg) =
        line.trim().split_once(' ').map(|(c, a)| (c, a.trim())).unwrap_or((line.trim(), ""));
    match cmd {
        "ctx" if arg == "all" => {
            m.notice = Some(("watching every context…".into(), false));
            return vec![Cmd::Fleet];
        }
        "ctx" if !arg.is_empty() => {
            if m.contexts.iter().any(|c| c == arg) {
                m.notice = Some((format!("switching to context {arg}…"), false));
                return vec![Cmd::SwitchContext(arg.into())];
            }
            m.notice = Some((format!("no context {arg:?} in the kubeconfig"), true));
        }
        "ns" if arg == "all" || arg.is_empty() => {
            m.ns_index = 0;
            m.refresh();
        }
        "ns" => match m.namespaces.iter().position(|n| n.name == arg) {
            Some(i) => {
                m.ns_index = i + 1;
                m.selected = 0;
                m.refresh();
            }
            None => m.notice = Some((format!("no Ray clusters in namespace {arg:?}"), true)),
        },
        "q" | "quit" => return vec![Cmd::Quit],
        "" => {}
        other => {
            m.notice = Some((
                format!("unknown command :{other} (try :ctx NAME, :ctx all, :ns NAME, :ns all)"),
                true,
            ))
        }
    }
    vec![]
}

fn key(m: &mut Model, k: KeyEvent) -> Vec<Cmd> {
    match m.mode {
        Mode::Filter => {
            match m.keymap.action(Layer::Filter, &k) {
                Some(Action::Enter) => m.mode = Mode::Normal,
                Some(Action::Back) => {
                    m.filter.reset();
                    m.mode = Mode::Normal;
                    m.refresh();
                }
                _ => {
                    m.filter.handle_event(&Event::Key(k));
                    m.selected = 0;
                    m.refresh();
                }
            }
            return vec![];
        }
        Mode::Command => {
            match m.keymap.action(Layer::Command, &k) {
                Some(Action::Enter) => {
                    let line = m.command.value().to_string();
                    m.command.reset();
                    m.mode = Mode::Normal;
                    return run_command(m, &line);
                }
                Some(Action::Back) => {
                    m.command.reset();
                    m.mode = Mode::Normal;
                }
                Some(Action::Complete) => {
                    if let Some(c) = complete(m, m.command.value()) {
                        m.command = tui_input::Input::new(c);
                    }
                }
                _ => {
                    m.command.handle_event(&Event::Key(k));
                }
            }
            return vec![];
        }
        Mode::Fix => return fix_key(m, k),
        Mode::Help => {
            match m.keymap.action(Layer::Help, &k) {
                Some(Action::Back) => m.mode = Mode::Normal,
                Some(a) => {
                    let last = super::view::help_scroll_max(m);
                    m.help_scroll = scrolled(m.help_scroll, a).min(last);
                }
                None => {}
            }
            return vec![];
        }
        Mode::Normal => {}
    }
    let Some(action) = m.keymap.action(Layer::Normal, &k) else { return vec![] };
    if !action.available(m.read_only) {
        let what = match action {
            Action::Fix | Action::Undo => "read-only mode: fixes and undo are off".to_string(),
            _ => String::new(),
        };
        m.notice = Some((what, false));
        return vec![];
    }
    m.notice = None;
    match action {
        Action::Quit => {
            m.quit = true;
            return vec![Cmd::Quit];
        }
        Action::Up => move_sel(m, -1),
        Action::Down => move_sel(m, 1),
        Action::PageUp => move_sel(m, -(page(m) as isize)),
        Action::PageDown => move_sel(m, page(m) as isize),
        Action::Top => move_sel(m, -1_000_000),
        Action::Bottom => move_sel(m, 1_000_000),
        Action::NextPane => {
            let first = if m.fleet_mode() { Focus::Contexts } else { Focus::Namespaces };
            m.focus = match m.focus {
                Focus::Contexts => Focus::Namespaces,
                Focus::Namespaces => Focus::Clusters,
                Focus::Clusters => Focus::Detail,
                Focus::Detail => first,
            }
        }
        Action::PrevPane => {
            m.focus = match m.focus {
                Focus::Contexts => Focus::Detail,
                Focus::Namespaces if m.fleet_mode() => Focus::Contexts,
                Focus::Namespaces => Focus::Detail,
                Focus::Clusters => Focus::Namespaces,
                Focus::Detail => Focus::Clusters,
            }
        }
        Action::Enter => {
            m.focus = match m.focus {
                Focus::Contexts => Focus::Namespaces,
                Focus::Namespaces => Focus::Clusters,
                _ => Focus::Detail,
            }
        }
        Action::Back => {
            if m.show_forwards {
                m.show_forwards = false;
            } else if m.focus == Focus::Detail {
                m.focus = Focus::Clusters;
            } else if !m.filter.value().is_empty() {
                m.filter.reset();
                m.refresh();
            } else if m.ns_index != 0 {
                m.ns_index = 0;
                m.refresh();
            } else if m.ctx_index != 0 {
                m.ctx_index = 0;
                m.refresh_keeping(None);
            }
        }
        Action::Filter => m.mode = Mode::Filter,
        Action::Command => m.mode = Mode::Command,
        Action::Help => {
            m.mode = Mode::Help;
            m.help_scroll = 0;
        }
        Action::Theme => {
            m.next_theme();
            m.notice = Some((format!("theme: {}", m.theme.name), false));
        }
        Action::Export => return vec![Cmd::Export],
        Action::Sort => {
            let next = match m.sort {
                Sort::Grade => Sort::Name,
                Sort::Name => Sort::Namespace,
                Sort::Namespace => Sort::Grade,
            };
            m.set_sort(next);
            m.notice = Some((format!("sorted by {:?}", m.sort).to_lowercase(), false));
        }
        Action::DetailTab => {
            m.tab = if m.tab == Tab::Findings { Tab::Events } else { Tab::Findings };
            m.finding = 0;
        }
        Action::Forward => {
            let Some(r) = m.current() else { return vec![] };
            let (ns, name) = (r.entry.namespace.clone(), r.entry.name.clone());
            if r.entry.kind != "RayCluster" {
                m.notice = Some((
                    format!("{ns}/{name} is a {}: forward its RayCluster", r.entry.kind),
                    true,
                ));
                return vec![];
            }
            if m.current_forward().is_some() {
                m.show_forwards = true;
                return vec![];
            }
            m.notice = Some((format!("forwarding {ns}/{name}…"), false));
            return vec![Cmd::Forward(ns, name)];
        }
        Action::OpenBrowser => match m.current_forward().or(m.forwards.first()) {
            Some(f) => return vec![Cmd::Open(f.namespace.clone(), f.cluster.clone())],
            None => {
                m.notice = Some(("no forward yet: f forwards the selected cluster".into(), false))
            }
        },
        Action::StopForward => match m.current_forward().or(m.forwards.first()) {
            Some(f) => return vec![Cmd::StopForward(f.namespace.clone(), f.cluster.clone())],
            None => m.notice = Some(("no forward to stop".into(), false)),
        },
        Action::Fix => return start_fix(m),
        // Bound only in the fix preview and on the command line.
        Action::Confirm | Action::Complete => {}
        Action::Undo => return plan(m, "undo the last change".into(), Replan::Undo),
        Action::Guard => {
            return plan(m, "guard: raydar's admission policies".into(), Replan::Guard)
        }
    }
    vec![]
}

pub fn update(m: &mut Model, msg: Msg) -> Vec<Cmd> {
    m.dirty = true;
    match msg {
        Msg::Key(k) if k.kind == KeyEventKind::Press => key(m, k),
        Msg::Key(_) => {
            m.dirty = false;
            vec![]
        }
        Msg::Resize(h) => {
            m.height = h;
            vec![]
        }
        Msg::Refresh(s) if m.fleet_mode() => {
            if let Some(ctx) = &s.context {
                m.fleet_refresh(ctx, s.rows, s.errors, s.synced);
            }
            vec![]
        }
        Msg::ContextDown { context, why, failed } => {
            m.fleet_down(&context, why, failed);
            vec![]
        }
        Msg::Fleet(names) => {
            m.start_fleet(names);
            m.notice = Some((format!("watching {} contexts", m.fleet.len()), false));
            vec![]
        }
        Msg::Refresh(s) => {
            if s.rows == m.rows && s.errors == m.errors && m.link == Link::Live {
                // Nothing visible changed: just the sync time.
                m.synced = Some(s.synced);
                return vec![];
            }
            let keep = m.selected_key();
            m.rows = s.rows;
            m.errors = s.errors;
            m.synced = Some(s.synced);
            m.link = Link::Live;
            m.refresh_keeping(keep);
            vec![]
        }
        Msg::Disconnected(why) => {
            if m.link != Link::Loading || !m.rows.is_empty() {
                m.link = Link::Reconnecting(why);
            } else {
                m.notice = Some((why, true));
            }
            vec![]
        }
        Msg::Identity { user, kuberay, guard } => {
            m.user = user;
            m.kuberay = kuberay;
            m.guard = guard;
            vec![]
        }
        Msg::Exported(Ok((json, md))) => {
            m.notice = Some((format!("exported {json} and {md}"), false));
            vec![]
        }
        Msg::Exported(Err(e)) | Msg::Warning(e) => {
            m.notice = Some((e, true));
            vec![]
        }
        Msg::Notice(n) => {
            m.notice = Some((n, false));
            m.dirty = true;
            vec![]
        }
        Msg::Switched(Ok((ctx, server))) => {
            m.fleet.clear();
            m.ctx_index = 0;
            if m.focus == Focus::Contexts {
                m.focus = Focus::Clusters;
            }
            m.context = ctx;
            m.server = server;
            m.rows.clear();
            m.errors.clear();
            m.link = Link::Loading;
            m.user.clear();
            m.kuberay = None;
            m.ns_index = 0;
            m.selected = 0;
            // The rows are gone: the order and the namespaces go with them.
            m.refresh_keeping(None);
            m.notice = Some((format!("context {}", m.context), false));
            vec![]
        }
        Msg::Forwards(list) => {
            if list.is_empty() {
                m.show_forwards = false;
            } else if list.len() > m.forwards.len() {
                m.show_forwards = true;
            }
            m.forwards = list;
            vec![]
        }
        Msg::Switched(Err(e)) => {
            m.notice = Some((e, true));
            vec![]
        }
        Msg::FixPrepared(r) => {
            let Some(modal) = m.fix.as_mut() else { return vec![] };
            modal.scroll = 0;
            modal.stage = match r {
                Ok(p) if p.plan.is_empty() => FixStage::Done(
                    format!("nothing to change: {} has nothing left to do", modal.title),
                    false,
                ),
                Ok(p) => {
                    let on = modal.context.as_deref().map(|c| format!(" in context {c}"));
                    modal.title = p.plan.title() + &on.unwrap_or_default();
                    FixStage::Preview(p)
                }
                Err(e) => FixStage::Done(e, true),
            };
            vec![]
        }
        Msg::FixApplied(Ok((id, what))) => {
            m.fix = None;
            m.mode = Mode::Normal;
            m.notice = Some((format!("applied {what} as change {id} (u undoes it)"), false));
            vec![]
        }
        Msg::FixApplied(Err((e, conflict))) => {
            let Some(modal) = m.fix.as_mut() else { return vec![] };
            if !conflict {
                modal.stage = FixStage::Done(e, true);
                return vec![];
            }
            m.notice = Some((format!("{e}; here is the new plan"), true));
            modal.stage = FixStage::Planning;
            vec![replan_cmd(&modal.replan)]
        }
    }
}
