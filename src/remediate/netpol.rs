//! The snapshot's NetworkPolicies are JSON (kept whole, so updates lose no field); the
//! planner reads them through the one typed meaning in [`crate::semantics::netpol`].

use crate::semantics::netpol as typed;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer};
use serde_json::Value;
use std::collections::BTreeMap;

pub use typed::Source;
pub type Labels = BTreeMap<String, String>;

/// A policy as read from the API server (which only stores valid ones); one that does not
/// read is an empty policy, which selects every pod and admits nothing.
fn read(np: &Value) -> NetworkPolicy {
    serde_json::from_value(np.clone()).unwrap_or_default()
}

/// Whether the policy selects a pod with `labels` for ingress.
pub fn selects(np: &Value, labels: &Labels) -> bool {
    typed::selects(&read(np), labels)
}

/// Whether a peer admits every source (`ipBlock` 0.0.0.0/0 or ::/0).
pub fn open_peer(peer: &Value) -> bool {
    serde_json::from_value::<NetworkPolicyPeer>(peer.clone())
        .is_ok_and(|p| typed::open_peer(&p).is_some())
}

/// Whether the policy has an ingress rule open to every source.
pub fn is_open(np: &Value) -> bool {
    typed::is_open(&read(np))
}

/// Whether `policies` (of the pod's namespace) let `src` reach a pod with `labels`.
pub fn admits(policies: &[Value], pod_ns: &str, labels: &Labels, src: &Source) -> bool {
    let policies: Vec<NetworkPolicy> = policies.iter().map(read).collect();
    typed::admits(&policies, pod_ns, labels, src)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::net::Ipv4Addr;

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
        assert!(is_open(&json!({"spec": {"ingress": [{"ports": [{"port": 80}]}]}})));
        assert!(!is_open(&json!({"spec": {"ingress": [{"from": [{"podSelector": {}}]}]}})));
        assert!(open_peer(&json!({"ipBlock": {"cidr": "::/0"}})));
        assert!(!open_peer(&json!({"ipBlock": {"cidr": "10.0.0.0/8"}})));
        assert!(selects(&json!({"spec": {"podSelector": {}}}), &pod));
        assert!(!selects(&json!({"spec": {"podSelector": {"matchLabels": {"a": "b"}}}}), &pod));
    }
}
