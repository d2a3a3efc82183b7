//! Every context at once (`raydar --all-contexts`, `:ctx all`): a pane per context above the
//! namespaces, with its worst grade, its count and its own link (listing, live, stale, down).
//! Each context has watchers of its own (`live::run` tagged with its name); its rows carry the
//! context, so forward, fix and undo act on the selected cluster's own context.

use super::state::{grade_rank, Link, Model, Row};
use crate::inventory::ScanError;
use std::sync::Arc;

/// One context of a fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct CtxPane {
    pub name: String,
    pub link: Link,
    /// Could not connect at all (bad credentials, exec plugin): no watchers run.
    pub failed: Option<String>,
    pub rows: Vec<Arc<Row>>,
    pub errors: Vec<ScanError>,
    pub synced: Option<String>,
}

impl CtxPane {
    /// The worst grade of its rows (`…` while any is being graded), `-` with none.
    pub fn worst(&self) -> String {
        self.rows
            .iter()
            .map(|r| super::state::grade_text(r.entry.grade))
            .max_by_key(|g| grade_rank(g))
            .unwrap_or("-")
            .to_string()
    }

    /// What its line says of its link.
    pub fn state(&self) -> String {
        match (&self.failed, &self.link) {
            (Some(_), _) => "down".into(),
            (None, Link::Loading) => "listing".into(),
            (None, Link::Live) => "live".into(),
            // Never reached: nothing of it is on screen to be stale.
            (None, Link::Reconnecting(_)) if self.synced.is_none() => "down".into(),
            (None, Link::Reconnecting(_)) => "stale".into(),
        }
    }
}

impl Model {
    pub fn fleet_mode(&self) -> bool {
        !self.fleet.is_empty()
    }

    /// The context picked in the contexts pane (None: all, or not a fleet).
    pub fn selected_ctx(&self) -> Option<&str> {
        self.ctx_index.checked_sub(1).and_then(|i| self.fleet.get(i)).map(|c| c.name.as_str())
    }

    /// The context a command acts on: the selected cluster's (None: the one context).
    pub fn target_context(&self) -> Option<String> {
        self.current().and_then(|r| r.entry.context.clone())
    }

    /// Switches to every context of `names`, each listing.
    pub fn start_fleet(&mut self, names: Vec<String>) {
        self.fleet = names
            .into_iter()
            .map(|name| CtxPane {
                name,
                link: Link::Loading,
                failed: None,
                rows: Vec::new(),
                errors: Vec::new(),
                synced: None,
            })
            .collect();
        self.context = format!("all ({} contexts)", self.fleet.len());
        self.server.clear();
        self.user.clear();
        self.kuberay = None;
        self.guard = None;
        self.ctx_index = 0;
        self.ns_index = 0;
        self.selected = 0;
        self.rebuild_fleet();
    }

    /// New rows of one context.
    pub fn fleet_refresh(
        &mut self,
        ctx: &str,
        rows: Vec<Arc<Row>>,
        errors: Vec<ScanError>,
        synced: String,
    ) {
        let Some(p) = self.fleet.iter_mut().find(|p| p.name == ctx) else { return };
        p.rows = rows;
        p.errors = errors;
        p.synced = Some(synced);
        p.link = Link::Live;
        p.failed = None;
        self.rebuild_fleet();
    }

    /// One context lost its API (stale, still retrying) or could not connect (`failed`).
    pub fn fleet_down(&mut self, ctx: &str, why: String, failed: bool) {
        let Some(p) = self.fleet.iter_mut().find(|p| p.name == ctx) else { return };
        if failed {
            p.failed = Some(why);
        } else {
            p.link = Link::Reconnecting(why);
        }
        self.rebuild_fleet();
    }

    /// The model's rows, errors and link from the contexts'.
    fn rebuild_fleet(&mut self) {
        let keep = self.selected_key();
        self.rows = self.fleet.iter().flat_map(|p| p.rows.iter().cloned()).collect();
        self.errors = self
            .fleet
            .iter()
            .flat_map(|p| {
                let down = p.failed.iter().map(|why| ScanError {
                    context: Some(p.name.clone()),
                    message: why.clone(),
                    ..Default::default()
                });
                let listed = p.errors.iter().map(|e| {
                    let mut e = e.clone();
                    e.context = Some(p.name.clone());
                    e
                });
                down.chain(listed).collect::<Vec<_>>()
            })
            .collect();
        self.synced = self.fleet.iter().filter_map(|p| p.synced.clone()).max();
        self.link = if self.fleet.iter().all(|p| p.link == Link::Loading && p.failed.is_none()) {
            Link::Loading
        } else {
            Link::Live
        };
        self.ctx_index = self.ctx_index.min(self.fleet.len());
        self.refresh_keeping(keep);
    }

    /// The status line's words for the fleet: how many contexts are live, and the first one
    /// that is not.
    pub fn fleet_status(&self) -> String {
        let live = self.fleet.iter().filter(|p| p.state() == "live").count();
        let mut s = format!("{live} of {} contexts live", self.fleet.len());
        let trouble = self.fleet.iter().find_map(|p| match (&p.failed, &p.link) {
            (Some(why), _) => Some(format!("{} down: {why}", p.name)),
            (None, Link::Reconnecting(why)) => Some(format!("{} {}: {why}", p.name, p.state())),
            _ => None,
        });
        if let Some(t) = trouble {
            s.push_str(" · ");
            s.push_str(&t);
        }
        s
    }
}
