//! What the API server rejects in fields raydar reads, checked on a manifest document before it
//! is read: names, resource quantities, Service ports and `loadBalancerSourceRanges`. A
//! document the server would refuse is an error naming the field, never a finding on an
//! object that cannot exist.

use crate::quantity::{is_port_name, is_quantity};
use serde_json::Value;

/// The first problem with `v` (a normalized document of a kind raydar reads), as
/// `field: reason`.
pub fn check(kind: &str, v: &Value) -> Result<(), String> {
    let meta = &v["metadata"];
    let named = |k: &str| meta[k].as_str().is_some_and(|n| !n.is_empty());
    if !named("name") && !named("generateName") {
        return Err("metadata.name: Required value".into());
    }
    quantities(v, &mut String::new())?;
    if kind == "Service" {
        service(&v["spec"])?;
    }
    Ok(())
}

/// Every `resources.{limits,requests}` value: an integer or a quantity string.
fn quantities(v: &Value, path: &mut String) -> Result<(), String> {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                let is_quantities = matches!(k.as_str(), "limits" | "requests")
                    && path[..len].ends_with("resources");
                if let (true, Value::Object(q)) = (is_quantities, x) {
                    for (name, amount) in q {
                        let ok = match amount {
                            Value::Number(n) => n.is_i64() || n.is_u64(),
                            Value::String(s) => is_quantity(s),
                            _ => false,
                        };
                        if !ok {
                            return Err(format!(
                                "{path}.{name}: Invalid value: {amount}: not a quantity (e.g. 500m, 2, 4Gi)"
                            ));
                        }
                    }
                } else {
                    quantities(x, path)?;
                }
                path.truncate(len);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                quantities(x, path)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

fn service(spec: &Value) -> Result<(), String> {
    let in_range = |n: &Value| n.as_i64().is_some_and(|p| (1..=65535).contains(&p));
    for (i, p) in spec["ports"].as_array().into_iter().flatten().enumerate() {
        if !in_range(&p["port"]) {
            return Err(format!(
                "spec.ports[{i}].port: Invalid value: {}: must be between 1 and 65535, inclusive",
                p["port"]
            ));
        }
        let target = &p["targetPort"];
        let ok = match target {
            Value::Null => true,
            Value::String(s) => is_port_name(s),
            n => in_range(n),
        };
        if !ok {
            return Err(format!(
                "spec.ports[{i}].targetPort: Invalid value: {target}: must be a port between 1 and 65535 or a port name"
            ));
        }
    }
    let ty = spec["type"].as_str().unwrap_or("ClusterIP");
    if spec.get("loadBalancerSourceRanges").is_some() && ty != "LoadBalancer" {
        return Err(format!(
            "spec.loadBalancerSourceRanges: may only be used when type is LoadBalancer (type is {ty})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_the_server_rejects_is_named_by_its_field() {
        let svc = |spec: Value| json!({"metadata": {"name": "s"}, "spec": spec});
        let ok = svc(json!({"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/8"],
            "ports": [{"port": 80, "targetPort": "dashboard"}, {"port": 1, "targetPort": 65535}]}));
        assert_eq!(check("Service", &ok), Ok(()));
        let err = |kind: &str, v: Value| check(kind, &v).unwrap_err();
        assert!(
            err("Service", svc(json!({"ports": [{"port": 0}]}))).starts_with("spec.ports[0].port:")
        );
        let t = err("Service", svc(json!({"ports": [{"port": 80, "targetPort": "8265"}]})));
        assert!(t.starts_with("spec.ports[0].targetPort:"), "{t}");
        let r = err("Service", svc(json!({"loadBalancerSourceRanges": [], "ports": []})));
        assert!(r.starts_with("spec.loadBalancerSourceRanges:"), "{r}");
        assert!(err("Service", json!({"spec": {}})).starts_with("metadata.name:"));
        let rc = json!({"metadata": {"generateName": "rc-"}, "spec": {"headGroupSpec": {"template": {"spec":
            {"containers": [{"resources": {"limits": {"cpu": "2", "memory": 1}, "requests": {"cpu": "1x"}}}]}}}}});
        let q = err("RayCluster", rc);
        assert!(
            q.starts_with("spec.headGroupSpec.template.spec.containers[0].resources.requests.cpu:"),
            "{q}"
        );
    }
}
