//! Kubernetes `Status` error bodies, as every failing request of the demo server answers.

use serde_json::{json, Value};

/// One `details.causes[]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub reason: &'static str,
    pub field: String,
    pub message: String,
}

/// `details.name`, `details.kind`, `details.group` of a Status.
#[derive(Debug, Clone, Default)]
pub struct Details {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub group: Option<String>,
}

/// An API error: HTTP code, `reason`, message and optional details.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Box<Details>>,
    pub causes: Vec<Cause>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self { code, reason, message: message.into(), details: None, causes: Vec::new() }
    }

    pub fn with_details(mut self, name: &str, kind: &str, group: &str) -> Self {
        self.details = Some(Box::new(Details {
            name: Some(name.to_string()),
            kind: Some(kind.to_string()),
            group: (!group.is_empty()).then(|| group.to_string()),
        }));
        self
    }

    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", msg)
    }

    pub fn not_found(qualified: &str, name: &str, plural: &str, group: &str) -> Self {
        Self::new(404, "NotFound", format!("{qualified} \"{name}\" not found"))
            .with_details(name, plural, group)
    }

    /// 422 Invalid, worded like the real server: `Service "x" is invalid: spec.type: ...`.
    pub fn invalid(kind: &str, name: &str, group: &str, causes: Vec<Cause>) -> Self {
        let list: Vec<String> =
            causes.iter().map(|c| format!("{}: {}", c.field, c.message)).collect();
        let joined =
            if list.len() == 1 { list[0].clone() } else { format!("[{}]", list.join(", ")) };
        let mut e = Self::new(422, "Invalid", format!("{kind} \"{name}\" is invalid: {joined}"))
            .with_details(name, kind, group);
        e.causes = causes;
        e
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code});
        if self.details.is_some() || !self.causes.is_empty() {
            let mut d = serde_json::Map::new();
            let det = self.details.as_deref().cloned().unwrap_or_default();
            if let Some(n) = &det.name {
                d.insert("name".into(), json!(n));
            }
            if let Some(g) = &det.group {
                d.insert("group".into(), json!(g));
            }
            if let Some(k) = &det.kind {
                d.insert("kind".into(), json!(k));
            }
            if !self.causes.is_empty() {
                let causes: Vec<Value> = self
                    .causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
                d.insert("causes".into(), json!(causes));
            }
            v["details"] = Value::Object(d);
        }
        v
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}
