//! The TUI's state: everything the view draws, nothing it fetches. Rows are computed in the
//! background from the inventory (see `rows`); the model only selects, filters and sorts them.

use super::keymap::Keymap;
use super::theme::{Theme, BUILTIN};
use crate::inventory::ScanError;
use crate::posture::Grade;
use crate::posture::{Entry, Severity};
use std::sync::Arc;
use tui_input::Input;

/// One line of the clusters table: the posture entry plus what the columns show.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub entry: Entry,
    pub state: String,
    pub workers_ready: usize,
    pub workers_desired: usize,
    pub head_restarts: i32,
    pub head_svc: String,
    /// `PUBLIC`, `ACL`, `INGRESS`, `NODE` (hostNetwork) or `internal`.
    pub exposure: &'static str,
    pub tls: bool,
    pub auth: bool,
    /// None: the namespace's NetworkPolicies could not be read (shown `?`, never ✓).
    pub netpol: Option<bool>,
    /// Recent Warning events of the cluster's pods and CR: (age, object, reason, message).
    pub events: Vec<EventLine>,
}

/// The grade shown while a row is not graded yet.
pub const GRADING: &str = "…";

impl Row {
    /// Graded: every kind the rules read has been listed. Until then the grade is [`GRADING`]
    /// and the row shows what the Ray custom resource says, with `…` for the marks.
    pub fn graded(&self) -> bool {
        self.entry.grade.is_some()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventLine {
    pub object: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
}

/// A running forward as the view shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardView {
    /// The cluster's context, in a fleet (None: the one context).
    pub context: Option<String>,
    pub namespace: String,
    pub cluster: String,
    pub url: String,
    pub summary: String,
}

/// What the background sends after each (debounced) change.
#[derive(Debug, Clone, PartialEq)]
pub struct Refresh {
    /// The context the rows are of, in a fleet (None: the one context).
    pub context: Option<String>,
    /// Shared with the live loop's per-namespace cache: a refresh that re-evaluated one
    /// namespace copies pointers for the others.
    pub rows: Vec<Arc<Row>>,
    pub errors: Vec<ScanError>,
    /// Wall-clock time of the sync, `HH:MM:SS`.
    pub synced: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The contexts pane (a fleet only).
    Contexts,
    Namespaces,
    Clusters,
    Detail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Filter,
    Command,
    Help,
    /// The fix (or undo) modal is open.
    Fix,
}

/// Where the fix modal is.
#[derive(Debug, Clone, PartialEq)]
pub enum FixStage {
    /// Reading the namespace, planning, RBAC check and dry run.
    Planning,
    /// The diff, warnings and the server's answers; waiting for y/n.
    Preview(Box<crate::remediate::session::Prepared>),
    Applying,
    /// The outcome (message, is an error).
    Done(String, bool),
}

/// The fix modal: what it is about and where it is.
#[derive(Debug, Clone)]
pub struct FixModal {
    /// `service-clusterip on ray-prod/train-exposed`, or `undo`.
    pub title: String,
    /// The context it acts on, in a fleet (the selected cluster's).
    pub context: Option<String>,
    /// What to plan again after a conflict.
    pub replan: Replan,
    pub stage: FixStage,
    /// First line shown of the preview.
    pub scroll: u16,
    /// The typed confirmation for plans that delete something.
    pub confirm: Input,
}

/// What a fix preview plans: a fix, an undo, or the guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replan {
    Fix(String, String, crate::remediate::FixId),
    Undo,
    Guard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Grade,
    Name,
    Namespace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Findings,
    Events,
}

/// Connection state shown in the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Still listing for the first time.
    Loading,
    Live,
    /// The API went away: data kept, marked stale.
    Reconnecting(String),
}

/// Per-namespace summary for the namespaces pane.
#[derive(Debug, Clone, PartialEq)]
pub struct NsStat {
    /// Its context, in a fleet.
    pub context: Option<String>,
    pub name: String,
    pub worst: String,
    pub count: usize,
    pub critical: usize,
}

pub struct Model {
    pub context: String,
    pub server: String,
    pub user: String,
    pub kuberay: Option<String>,
    /// The context's guard (`guard: warn, 8 rules`), once known.
    pub guard: Option<String>,
    pub read_only: bool,
    pub rows: Vec<Arc<Row>>,
    pub errors: Vec<ScanError>,
    pub synced: Option<String>,
    pub link: Link,
    /// Indices into `rows`, after namespace selection, filter and sort.
    pub visible: Vec<usize>,
    /// All row indices in sort order (recomputed when rows or the sort change).
    order: Vec<usize>,
    pub namespaces: Vec<NsStat>,
    /// 0 = all namespaces; i = namespaces[i-1].
    pub ns_index: usize,
    pub selected: usize,
    pub finding: usize,
    pub focus: Focus,
    pub mode: Mode,
    /// The help overlay's first line shown.
    pub help_scroll: u16,
    /// The terminal's height in rows (0 until known).
    pub height: u16,
    pub filter: Input,
    pub command: Input,
    pub sort: Sort,
    pub tab: Tab,
    pub theme: Theme,
    pub keymap: Keymap,
    /// A one-off message for the status line (export path, warnings, command errors).
    pub notice: Option<(String, bool)>,
    pub contexts: Vec<String>,
    pub forwards: Vec<ForwardView>,
    /// Show the forwards view instead of the detail pane.
    pub show_forwards: bool,
    /// The fix/undo modal (Mode::Fix).
    pub fix: Option<FixModal>,
    /// Every context at once (`--all-contexts`, `:ctx all`); empty: the one context.
    pub fleet: Vec<super::fleet::CtxPane>,
    /// 0 = all contexts; i = fleet[i-1].
    pub ctx_index: usize,
    pub quit: bool,
    /// Something changed since the last frame.
    pub dirty: bool,
}

/// Orders grades worst last; not graded yet (`…`) is worse than any, so a namespace with an
/// ungraded cluster never looks clean.
pub fn grade_rank(g: &str) -> u8 {
    match Grade::parse(g) {
        Some(g) => g as u8,
        None if g == GRADING => 5,
        None => 0,
    }
}

/// The grade as the TUI shows it: the letter, or [`GRADING`] while not graded.
pub fn grade_text(g: Option<Grade>) -> &'static str {
    g.map_or(GRADING, Grade::as_str)
}

impl Model {
    pub fn new(context: &str, server: &str, keymap: Keymap, theme: &str, read_only: bool) -> Self {
        Self {
            context: context.into(),
            server: server.into(),
            user: String::new(),
            kuberay: None,
            guard: None,
            read_only,
            rows: Vec::new(),
            errors: Vec::new(),
            synced: None,
            link: Link::Loading,
            visible: Vec::new(),
            order: Vec::new(),
            namespaces: Vec::new(),
            ns_index: 0,
            selected: 0,
            finding: 0,
            focus: Focus::Clusters,
            mode: Mode::Normal,
            help_scroll: 0,
            height: 0,
            filter: Input::default(),
            command: Input::default(),
            sort: Sort::Grade,
            tab: Tab::Findings,
            theme: Theme::builtin(theme),
            keymap,
            notice: None,
            contexts: Vec::new(),
            forwards: Vec::new(),
            show_forwards: false,
            fix: None,
            fleet: Vec::new(),
            ctx_index: 0,
            quit: false,
            dirty: true,
        }
    }

    /// The forward of the selected cluster, if any.
    pub fn current_forward(&self) -> Option<&ForwardView> {
        let r = self.current()?;
        self.forwards.iter().find(|f| {
            f.context == r.entry.context
                && f.namespace == r.entry.namespace
                && f.cluster == r.entry.name
        })
    }

    pub fn selected_ns(&self) -> Option<&str> {
        self.selected_ns_stat().map(|n| n.name.as_str())
    }

    fn selected_ns_stat(&self) -> Option<&NsStat> {
        self.ns_index.checked_sub(1).and_then(|i| self.namespaces.get(i))
    }

    pub fn current(&self) -> Option<&Row> {
        self.visible.get(self.selected).and_then(|i| self.rows.get(*i)).map(|r| &**r)
    }

    pub fn next_theme(&mut self) {
        let i = BUILTIN.iter().position(|(n, _)| *n == self.theme.name).unwrap_or(0);
        self.theme = Theme::builtin(BUILTIN[(i + 1) % BUILTIN.len()].0);
    }

    /// (namespace, name, kind) of the selected row (in a fleet, the namespace is
    /// `context/namespace`), to keep it selected across updates.
    pub fn selected_key(&self) -> Option<(String, String, String)> {
        self.current().map(|r| (row_ns(r), r.entry.name.clone(), r.entry.kind.to_string()))
    }

    /// Recomputes the visible rows (after a filter, sort or namespace change).
    pub fn refresh(&mut self) {
        let keep = self.selected_key();
        self.refresh_visible(keep);
    }

    /// Recomputes namespaces and visible rows after new rows arrived, keeping `keep` selected.
    pub fn refresh_keeping(&mut self, keep_row: Option<(String, String, String)>) {
        let mut stats: Vec<NsStat> = Vec::new();
        let ctx = self.selected_ctx().map(str::to_string);
        for r in self.rows.iter().filter(|r| ctx.is_none() || r.entry.context == ctx) {
            let e = &r.entry;
            match stats.iter_mut().find(|s| s.name == e.namespace && s.context == e.context) {
                Some(s) => {
                    s.count += 1;
                    s.critical += e.count(Severity::Critical);
                    if grade_rank(grade_text(e.grade)) > grade_rank(&s.worst) {
                        s.worst = grade_text(e.grade).to_string();
                    }
                }
                None => stats.push(NsStat {
                    context: e.context.clone(),
                    name: e.namespace.clone(),
                    worst: grade_text(e.grade).to_string(),
                    count: 1,
                    critical: e.count(Severity::Critical),
                }),
            }
        }
        stats.sort_by(|a, b| {
            grade_rank(&b.worst)
                .cmp(&grade_rank(&a.worst))
                .then(b.critical.cmp(&a.critical))
                .then(a.name.cmp(&b.name))
                .then(a.context.cmp(&b.context))
        });
        let keep = self.selected_ns_stat().map(|n| (n.context.clone(), n.name.clone()));
        self.namespaces = stats;
        self.ns_index = keep
            .and_then(|(c, k)| {
                self.namespaces.iter().position(|n| n.name == k && n.context == c).map(|i| i + 1)
            })
            .unwrap_or(0);
        self.resort_rows();
        self.refresh_visible(keep_row);
    }

    /// Changes the sort and recomputes the order.
    pub fn set_sort(&mut self, sort: Sort) {
        let keep = self.selected_key();
        self.sort = sort;
        self.resort_rows();
        self.refresh_visible(keep);
    }

    fn resort_rows(&mut self) {
        let rows = &self.rows;
        // Counting criticals once per row, not once per comparison.
        let crit: Vec<usize> = rows.iter().map(|r| r.entry.count(Severity::Critical)).collect();
        let mut order: Vec<usize> = (0..rows.len()).collect();
        match self.sort {
            Sort::Grade => order.sort_by(|a, b| {
                let (x, y) = (&rows[*a].entry, &rows[*b].entry);
                grade_rank(grade_text(y.grade))
                    .cmp(&grade_rank(grade_text(x.grade)))
                    .then(crit[*b].cmp(&crit[*a]))
                    .then((&x.namespace, &x.name).cmp(&(&y.namespace, &y.name)))
            }),
            Sort::Name => order.sort_by(|a, b| {
                (&rows[*a].entry.name, &rows[*a].entry.namespace)
                    .cmp(&(&rows[*b].entry.name, &rows[*b].entry.namespace))
            }),
            Sort::Namespace => order.sort_by(|a, b| {
                (&rows[*a].entry.namespace, &rows[*a].entry.name)
                    .cmp(&(&rows[*b].entry.namespace, &rows[*b].entry.name))
            }),
        }
        self.order = order;
    }

    fn refresh_visible(&mut self, keep_row: Option<(String, String, String)>) {
        let ns = self.selected_ns_stat().map(|n| (n.context.clone(), n.name.clone()));
        let ctx = self.selected_ctx().map(str::to_string);
        let filter = self.filter.value().to_lowercase();
        let vis: Vec<usize> = self
            .order
            .iter()
            .copied()
            .filter(|i| {
                let r = &self.rows[*i];
                ctx.is_none() || r.entry.context == ctx
            })
            .filter(|i| {
                let r = &self.rows[*i];
                ns.as_ref().is_none_or(|(c, n)| r.entry.namespace == *n && r.entry.context == *c)
                    && (filter.is_empty() || matches_filter(r, &filter))
            })
            .collect();
        self.visible = vis;
        // Keep the same cluster selected across live updates.
        self.selected = keep_row
            .and_then(|k| {
                self.visible.iter().position(|i| {
                    let r = &self.rows[*i];
                    (row_ns(r).as_str(), r.entry.name.as_str(), r.entry.kind)
                        == (k.0.as_str(), k.1.as_str(), k.2.as_str())
                })
            })
            .unwrap_or(self.selected)
            .min(self.visible.len().saturating_sub(1));
        let n = self.current().map_or(0, |r| r.entry.findings.len());
        self.finding = self.finding.min(n.saturating_sub(1));
    }
}

/// A row's namespace, with its context in front in a fleet (`context/namespace`).
fn row_ns(r: &Row) -> String {
    match &r.entry.context {
        Some(c) => format!("{c}/{}", r.entry.namespace),
        None => r.entry.namespace.clone(),
    }
}

/// `/` filter: every word must match the namespace, name, kind, a rule id or a severity.
fn matches_filter(r: &Row, filter: &str) -> bool {
    filter.split_whitespace().all(|w| {
        let e = &r.entry;
        e.namespace.to_lowercase().contains(w)
            || e.context.as_deref().is_some_and(|c| c.to_lowercase().contains(w))
            || e.name.to_lowercase().contains(w)
            || e.kind.to_lowercase().contains(w)
            || grade_text(e.grade).eq_ignore_ascii_case(w)
            || e.findings
                .iter()
                .any(|f| f.rule.id.to_lowercase().contains(w) || f.severity.as_str() == w)
    })
}
