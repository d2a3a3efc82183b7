//! The change journal: one JSON line per applied fix or undo in the XDG state directory
//! (`journal.jsonl`, mode 0600), with every object before and after (credential env values
//! redacted). Undo is planned from it and refuses when an object changed since.

use super::{comparable, creatable, display_form, Change, FixId, Op, Plan};
use kube::api::{Api, DynamicObject};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// RFC 3339.
    pub time: String,
    pub context: String,
    pub server: String,
    pub fix: FixId,
    pub namespace: String,
    /// The RayCluster/RayService/RayJob the fix was asked for.
    pub entry: String,
    /// For undo entries: the id they reverted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undoes: Option<String>,
    pub changes: Vec<Change>,
}

impl Record {
    /// A journal entry for applied changes (objects in their display form: no server fields,
    /// credential env values redacted; the resourceVersion written is kept for reference).
    pub fn new(plan: &Plan, written: &[Change], context: &str, server: &str) -> Self {
        let now = chrono::Utc::now();
        let id = format!("{}-{:04x}", now.format("%Y%m%d-%H%M%S"), rand::random::<u16>());
        Self {
            id,
            time: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            context: context.into(),
            server: server.into(),
            fix: plan.fix,
            namespace: plan.namespace.clone(),
            entry: plan.entry.clone(),
            undoes: plan.undoes.clone(),
            changes: written
                .iter()
                .map(|c| Change {
                    target: c.target.clone(),
                    op: c.op,
                    before: c.before.as_ref().map(display_form),
                    after: c.after.as_ref().map(display_form),
                })
                .collect(),
        }
    }

    /// `service-clusterip ray-prod/train-exposed` or `undo of ID`.
    pub fn what(&self) -> String {
        match &self.undoes {
            Some(id) => format!("undo of {id}"),
            None => format!("{} {}/{}", self.fix, self.namespace, self.entry),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

pub struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> JournalError {
        JournalError::Io { path: self.path.display().to_string(), source }
    }

    pub fn append(&self, e: &Record) -> Result<(), JournalError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&self.path).map_err(|e| self.io(e))?;
        let mut line = serde_json::to_string(e).map_err(|e| self.io(e.into()))?;
        line.push('\n');
        f.write_all(line.as_bytes()).map_err(|e| self.io(e))
    }

    /// Every entry, oldest first, and how many lines could not be read.
    pub fn load(&self) -> Result<(Vec<Record>, usize), JournalError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(self.io(e)),
        };
        let mut bad = 0;
        let entries = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str(l).map_err(|_| bad += 1).ok())
            .collect();
        Ok((entries, bad))
    }
}

/// Whether an entry has been reverted by a later one.
pub fn undone_by<'a>(entries: &'a [Record], id: &str) -> Option<&'a Record> {
    entries.iter().find(|e| e.undoes.as_deref() == Some(id))
}

/// The entry `undo` reverts when no id is given: the newest fix on this server not yet undone.
pub fn last_undoable<'a>(entries: &'a [Record], server: &str) -> Option<&'a Record> {
    entries
        .iter()
        .rev()
        .find(|e| e.undoes.is_none() && e.server == server && undone_by(entries, &e.id).is_none())
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UndoError {
    #[error("no change {0} in the journal (see `raydar history`)")]
    Unknown(String),
    #[error("nothing to undo on {0}")]
    Nothing(String),
    #[error("change {id} was made on context {context} ({server}); connect to it (--context) to undo it")]
    OtherServer { id: String, context: String, server: String },
    #[error("change {0} was already undone by {1}")]
    AlreadyUndone(String, String),
    #[error("refusing to undo {id}: {object} changed since ({why}); nothing was written")]
    Changed { id: String, object: String, why: String },
    #[error("{0}")]
    Api(String),
}

/// The first JSON path at which two objects differ.
fn first_difference(a: &Value, b: &Value) -> String {
    json_patch::diff(a, b)
        .0
        .first()
        .map(|op| match op {
            json_patch::PatchOperation::Add(o) => format!("{} added", o.path),
            json_patch::PatchOperation::Remove(o) => format!("{} removed", o.path),
            json_patch::PatchOperation::Replace(o) => format!("{} modified", o.path),
            op => format!("{op:?}"),
        })
        .unwrap_or_default()
}

/// Plans the reversal of `entry` against the objects as they are now (`current[i]` for
/// `entry.changes[i]`, None when absent). Refuses when any of them changed since.
pub fn plan_undo(entry: &Record, current: &[Option<Value>]) -> Result<Plan, UndoError> {
    let changed = |object: &str, why: String| UndoError::Changed {
        id: entry.id.clone(),
        object: object.to_string(),
        why,
    };
    let mut changes = Vec::new();
    for (c, now) in entry.changes.iter().zip(current).rev() {
        let object = c.target.to_string();
        match (c.op, now, &c.after, &c.before) {
            (Op::Create | Op::Update, None, _, _) => {
                return Err(changed(&object, "it no longer exists".into()))
            }
            (Op::Create | Op::Update, Some(now), Some(after), before) => {
                let now_form = display_form(now);
                if now_form != comparable(after) {
                    return Err(changed(&object, first_difference(after, &now_form)));
                }
                match (c.op, before) {
                    (Op::Create, _) => changes.push(Change {
                        target: c.target.clone(),
                        op: Op::Delete,
                        before: Some(now.clone()),
                        after: None,
                    }),
                    (_, Some(before)) => {
                        // Only the fields the fix changed go back: the journal's forms are
                        // redacted alike, so redacted values are never written.
                        let back = json_patch::diff(after, &comparable(before));
                        let mut reverted = now.clone();
                        json_patch::patch(&mut reverted, &back)
                            .map_err(|e| UndoError::Api(format!("{object}: {e}")))?;
                        reverted["metadata"]["resourceVersion"] =
                            now["metadata"]["resourceVersion"].clone();
                        changes.push(Change {
                            target: c.target.clone(),
                            op: Op::Update,
                            before: Some(now.clone()),
                            after: Some(reverted),
                        });
                    }
                    _ => {
                        return Err(UndoError::Api(format!("{object}: the journal has no before")))
                    }
                }
            }
            (Op::Delete, Some(_), _, _) => return Err(changed(&object, "it exists again".into())),
            (Op::Delete, None, _, Some(before)) => changes.push(Change {
                target: c.target.clone(),
                op: Op::Create,
                before: None,
                after: Some(creatable(before)),
            }),
            _ => return Err(UndoError::Api(format!("{object}: malformed journal entry"))),
        }
    }
    Ok(Plan {
        fix: entry.fix,
        namespace: entry.namespace.clone(),
        entry: entry.entry.clone(),
        changes,
        warnings: vec![format!(
            "restores what {} changed: whatever it closed (an exposed Service, an open NetworkPolicy, …) is open again",
            entry.what()
        )],
        strong: false,
        undoes: Some(entry.id.clone()),
    })
}

/// Reads the live objects of an entry (None where absent).
pub async fn current(
    client: &kube::Client,
    entry: &Record,
) -> Result<Vec<Option<Value>>, UndoError> {
    let mut out = Vec::new();
    for c in &entry.changes {
        let api: Api<DynamicObject> = c.target.api(client);
        let mut obj = api.get_opt(&c.target.name).await.map_err(|e| {
            UndoError::Api(format!("cannot read {}: {}", c.target, crate::cluster::root_cause(&e)))
        })?;
        if let Some(o) = obj.as_mut() {
            o.types = Some(kube::api::TypeMeta {
                api_version: c.target.api_version.clone(),
                kind: c.target.kind.clone(),
            });
        }
        out.push(obj.map(|o| serde_json::to_value(o).unwrap_or(Value::Null)));
    }
    Ok(out)
}
