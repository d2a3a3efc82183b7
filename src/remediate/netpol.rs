//! NetworkPolicy semantics on JSON objects: which policies select a pod, whether a rule is
//! open to every source, and whether a set of policies admits a given source to a pod. The
//! planner uses the first two; the "never widens" property test uses the evaluator.

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

pub type Labels = BTreeMap<String, String>;

/// Whether a LabelSelector (JSON) matches `labels`; an empty or absent selector matches all.
pub fn selector_matches(sel: Option<&Value>, labels: &Labels) -> bool {
    let Some(sel) = sel.filter(|s| !s.is_null()) else { return true };
    let ml = sel["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let me = sel["matchExpressions"].as_array().into_iter().flatten().all(|e| {
        let have = e["key"].as_str().and_then(|k| labels.get(k));
        let values: Vec<&str> =
            e["values"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        match e["operator"].as_str().unwrap_or("") {
            "In" => have.is_some_and(|h| values.contains(&h.as_str())),
            "NotIn" => have.is_none_or(|h| !values.contains(&h.as_str())),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        }
    });
    ml && me
}

/// Whether the policy restricts ingress (policyTypes absent or containing Ingress).
pub fn guards_ingress(np: &Value) -> bool {
    match np.pointer("/spec/policyTypes").and_then(Value::as_array) {
        None => true,
        Some(t) if t.is_empty() => true,
        Some(t) => t.iter().any(|t| t == "Ingress"),
    }
}

/// Whether the policy selects a pod with `labels` for ingress.
pub fn selects(np: &Value, labels: &Labels) -> bool {
    guards_ingress(np) && selector_matches(np.pointer("/spec/podSelector"), labels)
}

/// Whether a peer admits every source (`ipBlock` 0.0.0.0/0 or ::/0 without exceptions).
pub fn open_peer(peer: &Value) -> bool {
    matches!(peer.pointer("/ipBlock/cidr").and_then(Value::as_str), Some("0.0.0.0/0" | "::/0"))
}

/// Whether an ingress rule admits every source (no `from`, or an open peer).
pub fn open_rule(rule: &Value) -> bool {
    match rule.get("from").and_then(Value::as_array) {
        None => true,
        Some(peers) if peers.is_empty() => true,
        Some(peers) => peers.iter().any(open_peer),
    }
}

/// Whether the policy has an open ingress rule.
pub fn is_open(np: &Value) -> bool {
    np.pointer("/spec/ingress").and_then(Value::as_array).into_iter().flatten().any(open_rule)
}

/// A connection attempt to a pod.
#[derive(Debug, Clone)]
pub struct Source {
    /// Namespace and labels of the source pod; None for traffic from outside the cluster.
    pub pod: Option<(String, Labels, Labels)>,
    pub ip: Ipv4Addr,
    pub port: u16,
}

/// Port names as KubeRay declares them, for rules that name ports.
fn port_by_name(name: &str) -> Option<u16> {
    Some(match name {
        "gcs-server" => 6379,
        "dashboard" => 8265,
        "client" => 10001,
        "serve" => 8000,
        "metrics" => 8080,
        _ => return None,
    })
}

fn cidr_contains(cidr: &str, ip: Ipv4Addr) -> bool {
    let Some((net, len)) = cidr.split_once('/') else { return false };
    let (Ok(net), Ok(len)) = (net.parse::<Ipv4Addr>(), len.parse::<u32>()) else { return false };
    if len > 32 {
        return false;
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(net) & mask == u32::from(ip) & mask
}

fn peer_admits(peer: &Value, policy_ns: &str, src: &Source) -> bool {
    if let Some(b) = peer.get("ipBlock").filter(|b| !b.is_null()) {
        let inside = b["cidr"].as_str().is_some_and(|c| c == "::/0" || cidr_contains(c, src.ip));
        let except = b["except"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|c| cidr_contains(c, src.ip));
        return inside && !except;
    }
    let Some((ns, ns_labels, pod_labels)) = &src.pod else { return false };
    let ns_sel = peer.get("namespaceSelector").filter(|s| !s.is_null());
    let pod_sel = peer.get("podSelector").filter(|s| !s.is_null());
    let ns_ok = match ns_sel {
        Some(s) => selector_matches(Some(s), ns_labels),
        None => ns == policy_ns,
    };
    let pod_ok = pod_sel.is_none_or(|s| selector_matches(Some(s), pod_labels));
    (ns_sel.is_some() || pod_sel.is_some()) && ns_ok && pod_ok
}

fn port_admits(rule: &Value, port: u16) -> bool {
    let Some(ports) = rule.get("ports").and_then(Value::as_array).filter(|p| !p.is_empty()) else {
        return true;
    };
    ports.iter().any(|p| match &p["port"] {
        Value::Null => true,
        Value::Number(n) => {
            let lo = n.as_u64().unwrap_or(0);
            let hi = p["endPort"].as_u64().unwrap_or(lo);
            (lo..=hi).contains(&u64::from(port))
        }
        Value::String(s) => port_by_name(s) == Some(port),
        _ => false,
    })
}

/// Whether `policies` (of the pod's namespace) let `src` reach a pod with `labels`: allowed
/// when no policy selects the pod, else when some selecting policy has a rule admitting it.
pub fn admits(policies: &[Value], pod_ns: &str, labels: &Labels, src: &Source) -> bool {
    let selecting: Vec<&Value> = policies.iter().filter(|p| selects(p, labels)).collect();
    if selecting.is_empty() {
        return true;
    }
    selecting.iter().any(|p| {
        p.pointer("/spec/ingress").and_then(Value::as_array).into_iter().flatten().any(|r| {
            let from_ok = match r.get("from").and_then(Value::as_array) {
                None => true,
                Some(peers) if peers.is_empty() => true,
                Some(peers) => peers.iter().any(|peer| peer_admits(peer, pod_ns, src)),
            };
            from_ok && port_admits(r, src.port)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn evaluates_selectors_peers_and_ports() {
        let pod = labels(&[("ray.io/cluster", "c"), ("ray.io/node-type", "head")]);
        let np = json!({"spec": {"podSelector": {"matchLabels": {"ray.io/cluster": "c"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"ray.io/cluster": "c"}}}]},
                        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}}],
                         "ports": [{"port": 8265}]}]}});
        let same = Source {
            pod: Some(("ns".into(), Labels::new(), labels(&[("ray.io/cluster", "c")]))),
            ip: Ipv4Addr::new(10, 0, 0, 1),
            port: 6379,
        };
        assert!(admits(std::slice::from_ref(&np), "ns", &pod, &same));
        let other = Source {
            pod: Some(("ns".into(), Labels::new(), labels(&[("app", "x")]))),
            ..same.clone()
        };
        assert!(!admits(std::slice::from_ref(&np), "ns", &pod, &other));
        let ops = Source {
            pod: Some((
                "ops".into(),
                labels(&[("kubernetes.io/metadata.name", "ops")]),
                Labels::new(),
            )),
            ip: Ipv4Addr::new(10, 0, 0, 2),
            port: 8265,
        };
        assert!(admits(std::slice::from_ref(&np), "ns", &pod, &ops));
        assert!(!admits(std::slice::from_ref(&np), "ns", &pod, &Source { port: 6379, ..ops }));
        let outside = Source { pod: None, ip: Ipv4Addr::new(8, 8, 8, 8), port: 8265 };
        assert!(admits(&[], "ns", &pod, &outside), "no policy: everything is admitted");
        assert!(!admits(std::slice::from_ref(&np), "ns", &pod, &outside));
        let open = json!({"spec": {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["8.8.0.0/16"]}}]}]}});
        assert!(!admits(std::slice::from_ref(&open), "ns", &pod, &outside));
        assert!(admits(&[open], "ns", &pod, &Source { ip: Ipv4Addr::new(1, 1, 1, 1), ..outside }));
        assert!(open_rule(&json!({"ports": [{"port": 80}]})));
        assert!(!open_rule(&json!({"from": [{"podSelector": {}}]})));
    }
}
