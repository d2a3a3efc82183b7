//! The write path of a plan: RBAC pre-check (SelfSubjectAccessReview per write), server-side
//! dry-run of every write, then the writes with resourceVersion preconditions. A later write
//! that fails rolls the earlier ones back, and the error says exactly what state remains.

use super::{comparable, creatable, rv_of, Change, ObjRef, Op, Plan};
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams, Preconditions};
use serde_json::Value;

const MANAGER: &str = "raydar";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    #[error("forbidden: you may not {}; nothing was written", .0.join(", "))]
    Forbidden(Vec<String>),
    #[error(
        "the API server rejected {verb} {object} in the dry run: {message}; nothing was written"
    )]
    Rejected { verb: &'static str, object: String, message: String },
    #[error("{object} changed since the preview (resourceVersion conflict); nothing was overwritten{}", remains(.rolled_back, .stuck))]
    Conflict { object: String, rolled_back: Vec<String>, stuck: Vec<String> },
    #[error("{verb} {object} failed: {message}{}", remains(.rolled_back, .stuck))]
    Failed {
        verb: &'static str,
        object: String,
        message: String,
        rolled_back: Vec<String>,
        stuck: Vec<String>,
    },
    #[error("{0}")]
    Api(String),
}

impl ApplyError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }
}

fn remains(rolled_back: &[String], stuck: &[String]) -> String {
    let mut s = String::new();
    if !rolled_back.is_empty() {
        s.push_str(&format!("; rolled back: {}", rolled_back.join(", ")));
    }
    if stuck.is_empty() {
        s.push_str("; the cluster is as it was before");
    } else {
        s.push_str(&format!(
            "; COULD NOT roll back {} (left as written by this fix)",
            stuck.join(", ")
        ));
    }
    s
}

fn api(client: &kube::Client, r: &ObjRef) -> Api<DynamicObject> {
    r.api(client)
}

fn message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        e => crate::cluster::root_cause(e),
    }
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

fn body(v: &Value) -> Result<DynamicObject, kube::Error> {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    serde_json::from_value(v).map_err(kube::Error::SerdeError)
}

fn to_value(o: DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

/// One write; the server's answer (None for a delete).
async fn write(
    client: &kube::Client,
    target: &ObjRef,
    op: Op,
    before: Option<&Value>,
    after: Option<&Value>,
    dry_run: bool,
) -> Result<Option<Value>, kube::Error> {
    let api = api(client, target);
    let pp = PostParams { dry_run, field_manager: Some(MANAGER.into()) };
    match (op, before, after) {
        (Op::Create, _, Some(a)) => Ok(Some(to_value(api.create(&pp, &body(a)?).await?))),
        (Op::Update, _, Some(a)) => {
            Ok(Some(to_value(api.replace(&target.name, &pp, &body(a)?).await?)))
        }
        (Op::Delete, Some(b), _) => {
            let uid = b.pointer("/metadata/uid").and_then(Value::as_str).map(str::to_string);
            let rv = Some(rv_of(b).to_string()).filter(|r| !r.is_empty());
            let dp = DeleteParams {
                dry_run,
                preconditions: Some(Preconditions { uid, resource_version: rv }),
                ..DeleteParams::default()
            };
            api.delete(&target.name, &dp).await?;
            Ok(None)
        }
        _ => Err(kube::Error::SerdeError(serde::de::Error::custom(format!(
            "malformed change for {target}"
        )))),
    }
}

/// Asks the API server (SelfSubjectAccessReview) whether every write of the plan is allowed.
pub async fn access_check(client: &kube::Client, plan: &Plan) -> Result<(), ApplyError> {
    let mut denied = Vec::new();
    for c in &plan.changes {
        let t = &c.target;
        let mut attrs = serde_json::json!({"namespace": t.namespace, "verb": c.op.verb(),
            "group": t.group(), "resource": t.plural});
        if c.op != Op::Create {
            attrs["name"] = Value::String(t.name.clone());
        }
        let review: SelfSubjectAccessReview = serde_json::from_value(serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs}}))
        .map_err(|e| ApplyError::Api(e.to_string()))?;
        let out = Api::<SelfSubjectAccessReview>::all(client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| ApplyError::Api(format!("access review: {}", message(&e))))?;
        if !out.status.is_some_and(|s| s.allowed) {
            denied.push(format!("{} {} {}/{}", c.op.verb(), t.resource(), t.namespace, t.name));
        }
    }
    if denied.is_empty() {
        Ok(())
    } else {
        Err(ApplyError::Forbidden(denied))
    }
}

/// What the server answered to the dry run: one line per write.
#[derive(Debug, Clone, PartialEq)]
pub struct DryRunAnswer {
    pub lines: Vec<String>,
}

/// Sends every write with `dryRun=All`; nothing is stored.
pub async fn dry_run(client: &kube::Client, plan: &Plan) -> Result<DryRunAnswer, ApplyError> {
    let mut lines = Vec::new();
    for c in &plan.changes {
        match write(client, &c.target, c.op, c.before.as_ref(), c.after.as_ref(), true).await {
            Ok(answer) => {
                let note = match (&answer, &c.after) {
                    (Some(ans), Some(after)) if comparable(ans) != comparable(after) => {
                        " (the server fills in defaults)"
                    }
                    _ => "",
                };
                lines.push(format!("{} {}: accepted{note}", c.op.verb(), c.target));
            }
            Err(e) if is_conflict(&e) => {
                return Err(ApplyError::Conflict {
                    object: c.target.to_string(),
                    rolled_back: vec![],
                    stuck: vec![],
                })
            }
            Err(e) => {
                return Err(ApplyError::Rejected {
                    verb: c.op.verb(),
                    object: c.target.to_string(),
                    message: message(&e),
                })
            }
        }
    }
    Ok(DryRunAnswer { lines })
}

/// Writes the plan. On success, returns the changes with `after` set to what the server
/// stored. On failure, earlier writes are rolled back (newest first).
pub async fn apply(client: &kube::Client, plan: &Plan) -> Result<Vec<Change>, ApplyError> {
    let mut done: Vec<Change> = Vec::new();
    for c in &plan.changes {
        match write(client, &c.target, c.op, c.before.as_ref(), c.after.as_ref(), false).await {
            Ok(answer) => done.push(Change {
                target: c.target.clone(),
                op: c.op,
                before: c.before.clone(),
                after: answer,
            }),
            Err(e) => {
                let (rolled_back, stuck) = rollback(client, &done).await;
                let object = c.target.to_string();
                tracing::warn!(
                    "fix {}: {} {object} failed: {}",
                    plan.title(),
                    c.op.verb(),
                    message(&e)
                );
                return Err(if is_conflict(&e) {
                    ApplyError::Conflict { object, rolled_back, stuck }
                } else {
                    ApplyError::Failed {
                        verb: c.op.verb(),
                        object,
                        message: message(&e),
                        rolled_back,
                        stuck,
                    }
                });
            }
        }
    }
    tracing::info!("applied {}: {}", plan.title(), plan.summary().join(", "));
    Ok(done)
}

/// Reverts written changes, newest first: (reverted, could not be reverted).
async fn rollback(client: &kube::Client, done: &[Change]) -> (Vec<String>, Vec<String>) {
    let (mut ok, mut stuck) = (Vec::new(), Vec::new());
    for c in done.iter().rev() {
        let r = match (c.op, &c.before, &c.after) {
            (Op::Create, _, Some(created)) => {
                write(client, &c.target, Op::Delete, Some(created), None, false).await
            }
            (Op::Update, Some(before), Some(written)) => {
                let mut b = before.clone();
                b["metadata"]["resourceVersion"] = Value::String(rv_of(written).to_string());
                write(client, &c.target, Op::Update, None, Some(&b), false).await
            }
            (Op::Delete, Some(before), _) => {
                write(client, &c.target, Op::Create, None, Some(&creatable(before)), false).await
            }
            _ => Ok(None),
        };
        match r {
            Ok(_) => ok.push(c.target.to_string()),
            Err(e) => {
                tracing::error!("rollback of {} failed: {}", c.target, message(&e));
                stuck.push(format!("{} ({})", c.target, message(&e)));
            }
        }
    }
    (ok, stuck)
}
