//! How a Service exposes a Ray port: whether it reaches outside the Kubernetes cluster, how
//! its reach is narrowed, and the one scale the TUI shows (PUBLIC, INGRESS, NODE, ACL).

use std::collections::BTreeMap;

/// Whether a Service of this type (with or without externalIPs) is reachable from outside
/// the Kubernetes cluster.
pub fn reaches_outside(service_type: &str, external_ips: bool) -> bool {
    matches!(service_type, "LoadBalancer" | "NodePort") || external_ips
}

const ACK: &str = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-";

/// How a LoadBalancer's reach is narrowed, if it is: an intranet (VPC-internal) load balancer,
/// `loadBalancerSourceRanges` that are not the whole internet, or an ACK whitelist ACL.
pub fn acl(
    service_type: &str,
    annotations: &BTreeMap<String, String>,
    ranges: &[String],
) -> Option<String> {
    if service_type != "LoadBalancer" {
        return None;
    }
    let a = |k: &str| {
        annotations
            .iter()
            .find_map(|(key, v)| (key.strip_prefix(ACK) == Some(k)).then_some(v.as_str()))
    };
    if a("address-type") == Some("intranet") {
        return Some("intranet (VPC-internal) load balancer".into());
    }
    if !ranges.is_empty() && !ranges.iter().any(|r| r == "0.0.0.0/0" || r == "::/0") {
        return Some(format!("loadBalancerSourceRanges {}", ranges.join(",")));
    }
    if a("acl-status") == Some("on")
        && a("acl-id").is_some_and(|s| !s.is_empty())
        && a("acl-type") == Some("white")
    {
        return Some(format!("ACK ACL {} (whitelist)", a("acl-id").unwrap_or("")));
    }
    None
}

/// How far a cluster's Ray ports reach, worst last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// Only inside the Kubernetes cluster.
    #[default]
    Internal,
    /// The dashboard on a load balancer whose reach is narrowed (ACL, source ranges, intranet).
    Acl,
    /// Ray's ports on the node's own address (hostNetwork, hostPort).
    Node,
    /// The dashboard behind an Ingress.
    Ingress,
    /// A Service reachable from outside (LoadBalancer, NodePort, externalIPs) with no
    /// narrowing on the dashboard, or with GCS or the Ray client port on it.
    Public,
}

impl Reach {
    /// The TUI's column.
    pub fn label(self) -> &'static str {
        match self {
            Self::Internal => "internal",
            Self::Acl => "ACL",
            Self::Node => "NODE",
            Self::Ingress => "INGRESS",
            Self::Public => "PUBLIC",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (format!("{ACK}{k}"), v.to_string())).collect()
    }

    #[test]
    fn narrowing_is_recognised_only_on_load_balancers() {
        let none = BTreeMap::new();
        assert_eq!(acl("NodePort", &ann(&[("address-type", "intranet")]), &[]), None);
        assert!(acl("LoadBalancer", &ann(&[("address-type", "intranet")]), &[])
            .is_some_and(|a| a.starts_with("intranet")));
        assert_eq!(
            acl("LoadBalancer", &none, &["10.0.0.0/8".into()]).as_deref(),
            Some("loadBalancerSourceRanges 10.0.0.0/8")
        );
        assert_eq!(acl("LoadBalancer", &none, &["10.0.0.0/8".into(), "0.0.0.0/0".into()]), None);
        let white = ann(&[("acl-status", "on"), ("acl-id", "acl-1"), ("acl-type", "white")]);
        assert_eq!(acl("LoadBalancer", &white, &[]).as_deref(), Some("ACK ACL acl-1 (whitelist)"));
        let black = ann(&[("acl-status", "on"), ("acl-id", "acl-1"), ("acl-type", "black")]);
        assert_eq!(acl("LoadBalancer", &black, &[]), None);
        let off = ann(&[("acl-status", "off"), ("acl-id", "acl-1"), ("acl-type", "white")]);
        assert_eq!(acl("LoadBalancer", &off, &[]), None);
        let no_id = ann(&[("acl-status", "on"), ("acl-id", ""), ("acl-type", "white")]);
        assert_eq!(acl("LoadBalancer", &no_id, &[]), None);
    }

    #[test]
    fn outside_means_load_balancer_node_port_or_external_ips() {
        assert!(reaches_outside("LoadBalancer", false));
        assert!(reaches_outside("NodePort", false));
        assert!(reaches_outside("ClusterIP", true));
        assert!(!reaches_outside("ClusterIP", false));
        assert!(!reaches_outside("ExternalName", false));
        assert!(Reach::Public > Reach::Ingress && Reach::Ingress > Reach::Node);
        assert!(Reach::Node > Reach::Acl && Reach::Acl > Reach::Internal);
        let labels = [Reach::Internal, Reach::Acl, Reach::Node, Reach::Ingress, Reach::Public]
            .map(Reach::label);
        assert_eq!(labels, ["internal", "ACL", "NODE", "INGRESS", "PUBLIC"]);
    }
}
