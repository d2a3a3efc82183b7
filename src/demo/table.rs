//! `meta.k8s.io/v1` Table responses, which `kubectl get` asks for to print its columns.

use super::catalog::{Cell, Kind};
use serde_json::{json, Value};

/// Kubernetes' short human duration (`45s`, `9m7s`, `3h`, `12d`).
pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        format!("{m}m{}s", s % 60)
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 && m % 60 != 0 {
        format!("{h}h{}m", m % 60)
    } else if h < 48 || (h < 8 && m % 60 == 0) {
        format!("{h}h")
    } else if d < 8 && h % 24 != 0 {
        format!("{d}d{}h", h % 24)
    } else if d < 365 * 2 {
        format!("{d}d")
    } else {
        format!("{}y", d / 365)
    }
}

fn at_path<'a>(o: &'a Value, path: &str) -> &'a Value {
    let mut cur = o;
    for seg in path.split('.') {
        cur = cur.get(seg).unwrap_or(&Value::Null);
    }
    cur
}

fn cell(o: &Value, c: &Cell, ty: &str, now: i64) -> Value {
    let v = match c {
        Cell::Path(p) => at_path(o, p).clone(),
        Cell::Fn(f) => f(o),
    };
    if ty == "date" {
        if let Some(ts) = v.as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()) {
            return json!(human_age(now - ts.timestamp()));
        }
        return json!("<unknown>");
    }
    v
}

/// A Table of `objs`; `with_defs` adds `columnDefinitions` (first page or first watch event).
pub fn table(k: &Kind, objs: &[&Value], with_defs: bool, metadata: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let defs: Vec<Value> =
        std::iter::once(json!({"name": "Name", "type": "string", "format": "name",
        "description": "Name must be unique within a namespace.", "priority": 0}))
        .chain(k.columns.iter().map(|c| {
            json!({"name": c.name, "type": if c.ty == "date" { "string" } else { c.ty },
            "format": "", "description": c.name, "priority": c.priority})
        }))
        .collect();
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| {
            let mut cells = vec![o.pointer("/metadata/name").cloned().unwrap_or(Value::Null)];
            cells.extend(k.columns.iter().map(|c| cell(o, &c.cell, c.ty, now)));
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
        "columnDefinitions": if with_defs { json!(defs) } else { Value::Null }, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::human_age;
    #[test]
    fn ages() {
        assert_eq!(human_age(45), "45s");
        assert_eq!(human_age(547), "9m7s");
        assert_eq!(human_age(3 * 86400 + 3600), "3d1h");
    }
}
