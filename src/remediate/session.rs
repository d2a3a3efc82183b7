//! The steps the CLI and the TUI share: fetch → plan → RBAC check → dry-run (a `Prepared`
//! preview), then commit (writes + journal).

use super::journal::{self, Journal, Record, UndoError};
use super::{
    access_check, apply, dry_run, fetch, plan, ApplyError, DryRunAnswer, FixId, Plan, PlanError,
};

/// A plan with the server's answers, ready to show and confirm.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub plan: Plan,
    /// The RBAC pre-check (SelfSubjectAccessReview for every write).
    pub access: Result<(), ApplyError>,
    /// The server-side dry run (not tried when access was refused).
    pub dry_run: Result<DryRunAnswer, ApplyError>,
}

impl Prepared {
    /// Whether the writes may go ahead after a yes.
    pub fn ready(&self) -> bool {
        !self.plan.is_empty() && self.access.is_ok() && self.dry_run.is_ok()
    }

    /// The checks as lines for a preview, each with whether it reports a problem.
    pub fn answer_lines(&self) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        match &self.access {
            Ok(()) => out.push(("RBAC pre-check: every write is allowed".to_string(), false)),
            Err(e) => out.push((format!("RBAC pre-check: {e}"), true)),
        }
        match &self.dry_run {
            Ok(a) => {
                out.push(("server-side dry run (dryRun=All):".to_string(), false));
                out.extend(a.lines.iter().map(|l| (format!("  {l}"), false)));
            }
            Err(e) if self.access.is_ok() => out.push((format!("server-side dry run: {e}"), true)),
            Err(_) => {}
        }
        out
    }
}

pub async fn checks(client: &kube::Client, plan: Plan) -> Prepared {
    if plan.is_empty() {
        return Prepared { plan, access: Ok(()), dry_run: Ok(DryRunAnswer { lines: vec![] }) };
    }
    let access = access_check(client, &plan).await;
    let dry_run = match &access {
        Ok(()) => dry_run(client, &plan).await,
        Err(e) => Err(e.clone()),
    };
    Prepared { plan, access, dry_run }
}

/// Reads the namespace, plans `fix` for `entry`, and asks the server about every write.
pub async fn prepare_fix(
    client: &kube::Client,
    namespace: &str,
    entry: &str,
    fix: FixId,
) -> Result<Prepared, PlanError> {
    let snap = fetch(client, namespace, fix == FixId::NetworkPolicy).await?;
    let plan = plan(fix, &snap, entry)?;
    Ok(checks(client, plan).await)
}

/// Plans the undo of `id` (default: the newest change on this server not yet undone).
pub async fn prepare_undo(
    client: &kube::Client,
    journal: &Journal,
    server: &str,
    id: Option<&str>,
) -> Result<(Record, Prepared), UndoError> {
    let (entries, _) = journal.load().map_err(|e| UndoError::Api(e.to_string()))?;
    let entry = match id {
        Some(id) => {
            entries.iter().find(|e| e.id == id).ok_or_else(|| UndoError::Unknown(id.into()))?
        }
        None => journal::last_undoable(&entries, server)
            .ok_or_else(|| UndoError::Nothing(server.to_string()))?,
    };
    if entry.server != server {
        return Err(UndoError::OtherServer {
            id: entry.id.clone(),
            context: entry.context.clone(),
            server: entry.server.clone(),
        });
    }
    if let Some(by) = journal::undone_by(&entries, &entry.id) {
        return Err(UndoError::AlreadyUndone(entry.id.clone(), by.id.clone()));
    }
    let current = journal::current(client, entry).await?;
    let plan = journal::plan_undo(entry, &current)?;
    Ok((entry.clone(), checks(client, plan).await))
}

/// Writes a prepared plan and records it in the journal.
pub async fn commit(
    client: &kube::Client,
    plan: &Plan,
    journal: &Journal,
    context: &str,
    server: &str,
) -> Result<Record, ApplyError> {
    let written = apply(client, plan).await?;
    let entry = Record::new(plan, &written, context, server);
    if let Err(e) = journal.append(&entry) {
        // The change is made; losing the record must not hide that.
        tracing::error!("{e}");
        return Err(ApplyError::Api(format!(
            "applied change {} but could not record it: {e}; undo by hand: {}",
            entry.id,
            plan.summary().join(", ")
        )));
    }
    Ok(entry)
}
