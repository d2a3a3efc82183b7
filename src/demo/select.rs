//! Label and field selectors as the API server parses them (`labelSelector=`, `fieldSelector=`).

use serde_json::Value;
use std::collections::BTreeMap;

use crate::quantity::{parse_label_selector, Requirement as Req};

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Req>);

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        parse_label_selector(s).map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::NotEq(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }

    /// The equality requirements, for `matchLabels`-style checks in validation.
    pub fn from_match_labels(m: &BTreeMap<String, String>) -> Self {
        Self(m.iter().map(|(k, v)| Req::Eq(k.clone(), v.clone())).collect())
    }
}

/// A parsed field selector: `a.b=v`, `a.b==v`, `a.b!=v`, comma-separated.
#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, eq, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!("invalid selector: '{part}'; can't understand '{part}'"));
            };
            out.push((k.trim().to_string(), eq, v.trim().to_string()));
        }
        Ok(Self(out))
    }

    /// The exact name the selector asks for, if any (lets get-style watches short-cut).
    pub fn name(&self) -> Option<&str> {
        self.0.iter().find(|(k, eq, _)| k == "metadata.name" && *eq).map(|(_, _, v)| v.as_str())
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(path, eq, want)| {
            let mut cur = obj;
            for seg in path.split('.') {
                cur = cur.get(seg).unwrap_or(&Value::Null);
            }
            let got = match cur {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (got == *want) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn every_operator() {
        let l = labels(json!({"ray.io/cluster": "a", "ray.io/node-type": "head"}));
        let yes = |s: &str| LabelSelector::parse(s).map(|x| x.matches(Some(&l))).unwrap();
        assert!(yes("ray.io/cluster=a"));
        assert!(yes("ray.io/cluster==a"));
        assert!(!yes("ray.io/cluster!=a"));
        assert!(yes("ray.io/node-type in (head, worker)"));
        assert!(!yes("ray.io/node-type notin (head,worker)"));
        assert!(yes("ray.io/group notin (x)"));
        assert!(yes("ray.io/cluster"));
        assert!(!yes("!ray.io/cluster"));
        assert!(yes("!ray.io/group,ray.io/cluster=a"));
        assert!(!yes("ray.io/cluster=a,ray.io/node-type=worker"));
        assert!(LabelSelector::parse("a in b").is_err());
    }

    #[test]
    fn fields() {
        let o =
            json!({"metadata": {"name": "x", "namespace": "n"}, "status": {"phase": "Running"}});
        assert!(FieldSelector::parse("metadata.name=x,metadata.namespace==n").unwrap().matches(&o));
        assert!(!FieldSelector::parse("status.phase!=Running").unwrap().matches(&o));
        assert_eq!(FieldSelector::parse("metadata.name=x").unwrap().name(), Some("x"));
    }
}
