//! NetworkPolicy admission: which policies select a pod for ingress, which rules admit every
//! source, and whether a namespace's policies let a given source reach a pod.

use super::labels::{matches, Labels};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Whether the policy restricts ingress (policyTypes absent, empty or naming Ingress). A
/// policy without `spec` is an empty spec, as the API server stores it.
pub fn guards_ingress(np: &NetworkPolicy) -> bool {
    match np.spec.as_ref().and_then(|s| s.policy_types.as_deref()) {
        None | Some([]) => true,
        Some(t) => t.iter().any(|t| t == "Ingress"),
    }
}

/// Whether the policy selects a pod with `labels` for ingress (no podSelector: every pod).
pub fn selects(np: &NetworkPolicy, labels: &impl Labels) -> bool {
    guards_ingress(np)
        && np.spec.as_ref().and_then(|s| s.pod_selector.as_ref()).is_none_or(|p| matches(p, labels))
}

/// The CIDR of a peer that admits every address (`0.0.0.0/0` or `::/0`), if it is one.
pub fn open_peer(peer: &NetworkPolicyPeer) -> Option<&str> {
    let cidr = peer.ip_block.as_ref()?.cidr.as_str();
    matches!(cidr, "0.0.0.0/0" | "::/0").then_some(cidr)
}

/// Why an ingress rule admits every source, if it does: no `from`, or an open peer.
pub fn open_rule(rule: &NetworkPolicyIngressRule) -> Option<String> {
    match rule.from.as_deref() {
        None | Some([]) => Some("has no `from`, so every source is admitted".into()),
        Some(peers) => peers.iter().find_map(open_peer).map(|c| format!("admits ipBlock {c}")),
    }
}

/// The policy's ingress rules.
pub fn ingress_rules(np: &NetworkPolicy) -> &[NetworkPolicyIngressRule] {
    np.spec.as_ref().and_then(|s| s.ingress.as_deref()).unwrap_or(&[])
}

/// Whether the policy has an ingress rule open to every source.
pub fn is_open(np: &NetworkPolicy) -> bool {
    ingress_rules(np).iter().any(|r| open_rule(r).is_some())
}

type LabelMap = BTreeMap<String, String>;

/// A connection attempt to a pod.
#[derive(Debug, Clone)]
pub struct Source {
    /// Namespace, namespace labels and pod labels of the source pod; None for traffic from
    /// outside the cluster.
    pub pod: Option<(String, LabelMap, LabelMap)>,
    pub ip: Ipv4Addr,
    pub port: u16,
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

fn peer_admits(peer: &NetworkPolicyPeer, policy_ns: &str, src: &Source) -> bool {
    if let Some(b) = &peer.ip_block {
        let inside = b.cidr == "::/0" || cidr_contains(&b.cidr, src.ip);
        let except = b.except.iter().flatten().any(|c| cidr_contains(c, src.ip));
        return inside && !except;
    }
    let Some((ns, ns_labels, pod_labels)) = &src.pod else { return false };
    let ns_ok = match &peer.namespace_selector {
        Some(s) => matches(s, ns_labels),
        None => ns == policy_ns,
    };
    let pod_ok = peer.pod_selector.as_ref().is_none_or(|s| matches(s, pod_labels));
    (peer.namespace_selector.is_some() || peer.pod_selector.is_some()) && ns_ok && pod_ok
}

fn port_admits(rule: &NetworkPolicyIngressRule, port: u16) -> bool {
    let Some(ports) = rule.ports.as_deref().filter(|p| !p.is_empty()) else { return true };
    ports.iter().any(|p| match &p.port {
        None => true,
        Some(IntOrString::Int(n)) => {
            let hi = p.end_port.unwrap_or(*n);
            (*n..=hi).contains(&i32::from(port))
        }
        Some(IntOrString::String(s)) => super::ray::head_port_by_name(s) == Some(port),
    })
}

/// Whether `policies` (of the pod's namespace) let `src` reach a pod with `labels`: allowed
/// when no policy selects the pod, else when some selecting policy has a rule admitting it.
pub fn admits(
    policies: &[NetworkPolicy],
    pod_ns: &str,
    labels: &impl Labels,
    src: &Source,
) -> bool {
    let mut selecting = policies.iter().filter(|p| selects(p, labels)).peekable();
    if selecting.peek().is_none() {
        return true;
    }
    selecting.any(|p| {
        ingress_rules(p).iter().any(|r| {
            let from_ok = match r.from.as_deref() {
                None | Some([]) => true,
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

    type L = BTreeMap<String, String>;

    fn labels(kv: &[(&str, &str)]) -> L {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn np(v: serde_json::Value) -> NetworkPolicy {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn evaluates_selectors_peers_and_ports() {
        let pod = labels(&[("ray.io/cluster", "c"), ("ray.io/node-type", "head")]);
        let np1 = np(json!({"spec": {"podSelector": {"matchLabels": {"ray.io/cluster": "c"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"ray.io/cluster": "c"}}}]},
                        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}}],
                         "ports": [{"port": 8265}]}]}}));
        let same = Source {
            pod: Some(("ns".into(), L::new(), labels(&[("ray.io/cluster", "c")]))),
            ip: Ipv4Addr::new(10, 0, 0, 1),
            port: 6379,
        };
        let one = std::slice::from_ref(&np1);
        assert!(admits(one, "ns", &pod, &same));
        let other =
            Source { pod: Some(("ns".into(), L::new(), labels(&[("app", "x")]))), ..same.clone() };
        assert!(!admits(one, "ns", &pod, &other));
        let ops = Source {
            pod: Some(("ops".into(), labels(&[("kubernetes.io/metadata.name", "ops")]), L::new())),
            ip: Ipv4Addr::new(10, 0, 0, 2),
            port: 8265,
        };
        assert!(admits(one, "ns", &pod, &ops));
        assert!(!admits(one, "ns", &pod, &Source { port: 6379, ..ops }));
        let outside = Source { pod: None, ip: Ipv4Addr::new(8, 8, 8, 8), port: 8265 };
        assert!(admits(&[], "ns", &pod, &outside), "no policy: everything is admitted");
        assert!(!admits(one, "ns", &pod, &outside));
        let open = np(
            json!({"spec": {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["8.8.0.0/16"]}}]}]}}),
        );
        assert!(is_open(&open));
        assert!(!is_open(&np1), "every rule names its sources");
        assert!(!is_open(&NetworkPolicy::default()), "no rules admit nothing");
        assert!(!admits(std::slice::from_ref(&open), "ns", &pod, &outside));
        assert!(admits(&[open], "ns", &pod, &Source { ip: Ipv4Addr::new(1, 1, 1, 1), ..outside }));
        let rule = |v| serde_json::from_value::<NetworkPolicyIngressRule>(v).unwrap_or_default();
        assert!(open_rule(&rule(json!({"ports": [{"port": 80}]}))).is_some());
        assert!(open_rule(&rule(json!({"from": [{"podSelector": {}}]}))).is_none());
        let egress = np(json!({"spec": {"podSelector": {}, "policyTypes": ["Egress"]}}));
        assert!(!selects(&egress, &pod));
        assert!(selects(&np(json!({"spec": {"podSelector": {}}})), &pod));
        assert!(selects(&NetworkPolicy::default(), &pod), "no spec is an empty spec");
    }

    #[test]
    fn named_and_ranged_ports() {
        let p = np(json!({"spec": {"podSelector": {}, "ingress": [
            {"ports": [{"port": "dashboard"}, {"port": 10000, "endPort": 10002}]}]}}));
        let pod = labels(&[]);
        let at = |port| Source { pod: None, ip: Ipv4Addr::new(1, 2, 3, 4), port };
        let one = std::slice::from_ref(&p);
        assert!(admits(one, "ns", &pod, &at(8265)));
        assert!(admits(one, "ns", &pod, &at(10001)));
        assert!(!admits(one, "ns", &pod, &at(6379)));
        assert!(cidr_contains("10.0.0.0/8", Ipv4Addr::new(10, 9, 9, 9)));
        assert!(!cidr_contains("10.0.0.0/8", Ipv4Addr::new(11, 0, 0, 0)));
        assert!(!cidr_contains("10.0.0.0/40", Ipv4Addr::new(10, 0, 0, 0)));
        assert!(cidr_contains("10.0.0.7/32", Ipv4Addr::new(10, 0, 0, 7)), "a /32 is one address");
        assert!(!cidr_contains("10.0.0.7/32", Ipv4Addr::new(10, 0, 0, 8)));
        assert!(cidr_contains("0.0.0.0/0", Ipv4Addr::new(8, 8, 8, 8)));
        // ipBlock peers: a range admits only its addresses; ::/0 admits every source.
        let block = |cidr: &str| {
            np(
                json!({"spec": {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": cidr}}]}]}}),
            )
        };
        let outside = at(8265);
        assert!(!admits(&[block("10.0.0.0/8")], "ns", &pod, &outside));
        assert!(admits(&[block("1.2.3.0/24")], "ns", &pod, &outside));
        assert!(admits(&[block("::/0")], "ns", &pod, &outside));
    }
}
