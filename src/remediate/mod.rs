//! One-key fixes (README: Fixes): pure planners that turn a snapshot of a namespace into exact
//! object changes with a readable diff and warnings (`plan`), and the write path around them:
//! RBAC pre-check, server-side dry-run, writes with resourceVersion preconditions, rollback on
//! a failed later write (`apply`), the change journal and undo (`journal`).
//!
//! Plans hold whole objects as JSON (`serde_json::Value`) as the API server returned them, so
//! a write never drops a field raydar does not model.

pub mod apply;
pub mod journal;
pub mod netpol;
mod plan;
pub mod session;
mod snapshot;

pub use apply::{access_check, apply, dry_run, ApplyError, DryRunAnswer};
pub use plan::plan;
pub use snapshot::{fetch, Snapshot};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// The label raydar puts on every object it creates.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "raydar");

pub use crate::posture::FixId;

/// Which object a change is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjRef {
    pub api_version: String,
    pub kind: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
}

impl ObjRef {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        let (api_version, kind, plural) = kind.parts();
        Self {
            api_version: api_version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map_or("", |(g, _)| g)
    }

    pub fn api_resource(&self) -> kube::discovery::ApiResource {
        let (group, version) = self.api_version.rsplit_once('/').unwrap_or(("", &self.api_version));
        kube::discovery::ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            plural: self.plural.clone(),
        }
    }

    /// The object's API: in its namespace, or cluster-wide for a cluster-scoped object
    /// (namespace "").
    pub fn api(&self, client: &kube::Client) -> kube::Api<kube::api::DynamicObject> {
        match self.namespace.as_str() {
            "" => kube::Api::all_with(client.clone(), &self.api_resource()),
            ns => kube::Api::namespaced_with(client.clone(), ns, &self.api_resource()),
        }
    }

    /// `rayclusters.ray.io` / `services`, as RBAC names resources.
    pub fn resource(&self) -> String {
        match self.group() {
            "" => self.plural.clone(),
            g => format!("{}.{g}", self.plural),
        }
    }
}

impl fmt::Display for ObjRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.namespace.as_str() {
            "" => write!(f, "{} {}", self.kind, self.name),
            ns => write!(f, "{} {ns}/{}", self.kind, self.name),
        }
    }
}

/// The kinds fixes read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    RayCluster,
    RayJob,
    RayService,
    RayCronJob,
    Service,
    Ingress,
    NetworkPolicy,
    ServiceAccount,
    ResourceQuota,
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Self::RayCluster,
        Self::RayJob,
        Self::RayService,
        Self::RayCronJob,
        Self::Service,
        Self::Ingress,
        Self::NetworkPolicy,
        Self::ServiceAccount,
        Self::ResourceQuota,
        Self::ValidatingAdmissionPolicy,
        Self::ValidatingAdmissionPolicyBinding,
    ];

    /// (apiVersion, kind, plural)
    pub fn parts(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::RayCluster => ("ray.io/v1", "RayCluster", "rayclusters"),
            Self::RayJob => ("ray.io/v1", "RayJob", "rayjobs"),
            Self::RayService => ("ray.io/v1", "RayService", "rayservices"),
            Self::RayCronJob => ("ray.io/v1", "RayCronJob", "raycronjobs"),
            Self::Service => ("v1", "Service", "services"),
            Self::Ingress => ("networking.k8s.io/v1", "Ingress", "ingresses"),
            Self::NetworkPolicy => ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
            Self::ServiceAccount => ("v1", "ServiceAccount", "serviceaccounts"),
            Self::ResourceQuota => ("v1", "ResourceQuota", "resourcequotas"),
            Self::ValidatingAdmissionPolicy => (
                "admissionregistration.k8s.io/v1",
                "ValidatingAdmissionPolicy",
                "validatingadmissionpolicies",
            ),
            Self::ValidatingAdmissionPolicyBinding => (
                "admissionregistration.k8s.io/v1",
                "ValidatingAdmissionPolicyBinding",
                "validatingadmissionpolicybindings",
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Create,
    Update,
    Delete,
}

impl Op {
    /// The RBAC verb of the write.
    pub fn verb(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// One object write: `before` is the live object (None for a create), `after` what raydar
/// writes (None for a delete). For updates, `after` carries `before`'s resourceVersion, so the
/// write fails with 409 if anything changed the object in between.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub target: ObjRef,
    pub op: Op,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// What a fix (or an undo) will do.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub fix: FixId,
    pub namespace: String,
    /// The entry the fix was asked for (a RayCluster, RayService or RayJob name).
    pub entry: String,
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
    /// Deletes something users may rely on: ask for the cluster's name, not just y.
    pub strong: bool,
    /// Set for undo plans: the journal id being reverted.
    pub undoes: Option<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// `service-clusterip on ray-prod/train-exposed` (or `undo of ID`).
    pub fn title(&self) -> String {
        match &self.undoes {
            Some(id) => format!("undo of change {id}"),
            None if self.fix == FixId::Guard => format!("guard ({})", self.entry),
            None => format!("{} on {}/{}", self.fix, self.namespace, self.entry),
        }
    }

    /// One line per change: `update RayCluster ray-prod/x`.
    pub fn summary(&self) -> Vec<String> {
        self.changes.iter().map(|c| format!("{} {}", c.op.verb(), c.target)).collect()
    }

    /// The readable diff of every object (secret-looking env values redacted).
    pub fn diff(&self) -> String {
        let mut out = String::new();
        for c in &self.changes {
            let (sign, verb) = match c.op {
                Op::Create => ('+', "create"),
                Op::Update => ('~', "update"),
                Op::Delete => ('-', "delete"),
            };
            out.push_str(&format!("{sign} {verb} {}\n", c.target));
            let a = c.before.as_ref().map(|v| yaml(&display_form(v))).unwrap_or_default();
            let b = c.after.as_ref().map(|v| yaml(&display_form(v))).unwrap_or_default();
            let diff = similar::TextDiff::from_lines(&a, &b);
            for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
                out.push_str(&format!("{}", hunk.header()));
                out.push('\n');
                for ch in hunk.iter_changes() {
                    let s = match ch.tag() {
                        similar::ChangeTag::Delete => '-',
                        similar::ChangeTag::Insert => '+',
                        similar::ChangeTag::Equal => ' ',
                    };
                    out.push(s);
                    out.push_str(ch.value().trim_end_matches('\n'));
                    out.push('\n');
                }
            }
            out.push('\n');
        }
        out
    }
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "no RayCluster, RayService, RayJob or RayCronJob named {name:?} in namespace {namespace}"
    )]
    NotFound { namespace: String, name: String },
    #[error("{0}")]
    NotApplicable(String),
    #[error("{0}")]
    Api(String),
}

fn yaml(v: &Value) -> String {
    serde_saphyr::to_string(v)
        .unwrap_or_else(|_| serde_json::to_string_pretty(v).unwrap_or_default())
}

/// The object without what the server manages (status, managedFields, uid, …), with
/// credential env values redacted: what previews and the journal show.
pub fn display_form(v: &Value) -> Value {
    let mut v = comparable(v);
    redact(&mut v);
    v
}

/// The object without server-managed metadata and status: two objects with the same
/// comparable form have the same desired state.
pub fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "resourceVersion",
            "managedFields",
            "uid",
            "creationTimestamp",
            "generation",
            "selfLink",
            "finalizers",
        ] {
            m.remove(k);
        }
        for k in ["labels", "annotations"] {
            if m.get(k).is_some_and(|x| x.as_object().is_some_and(|o| o.is_empty())) {
                m.remove(k);
            }
        }
    }
    v
}

/// The body for a create (of an object that existed before, e.g. on undo): no server fields.
pub fn creatable(v: &Value) -> Value {
    let mut v = comparable(v);
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("deletionTimestamp");
    }
    v
}

/// Replaces literal values of credential-looking env vars (anywhere in the object) with
/// `<redacted>`, so a preview, log or journal never carries them.
pub fn redact(v: &mut Value) {
    match v {
        Value::Object(o) => {
            let is_cred = o.get("name").and_then(Value::as_str).is_some_and(|n| {
                crate::posture::CREDENTIAL_ENV.contains(&n)
                    || ["SECRET", "TOKEN", "PASSWORD", "ACCESS_KEY"].iter().any(|w| n.contains(w))
            });
            if is_cred && o.get("value").is_some_and(Value::is_string) {
                o.insert("value".into(), Value::String("<redacted>".into()));
            }
            for x in o.values_mut() {
                redact(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

pub(crate) fn name_of(v: &Value) -> &str {
    v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn rv_of(v: &Value) -> &str {
    v.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("")
}
