//! KubeRay's conventions: the Ray kinds and where each holds a cluster spec, the head's ports,
//! and the labels the operator puts on the pods it creates (FACTS in README: "KubeRay").

use crate::model::{Container, ContainerPort};
use std::collections::BTreeMap;

/// A Ray kind and where its objects hold a RayClusterSpec: as a field path for evidence and
/// as a JSON pointer for edits. The one table of the four kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecHolder {
    pub kind: &'static str,
    /// `spec.rayClusterSpec`.
    pub path: &'static str,
    /// `/spec/rayClusterSpec`.
    pub pointer: &'static str,
}

pub const RAY_CLUSTER: SpecHolder =
    SpecHolder { kind: "RayCluster", path: "spec", pointer: "/spec" };
pub const RAY_JOB: SpecHolder =
    SpecHolder { kind: "RayJob", path: "spec.rayClusterSpec", pointer: "/spec/rayClusterSpec" };
pub const RAY_SERVICE: SpecHolder = SpecHolder {
    kind: "RayService",
    path: "spec.rayClusterConfig",
    pointer: "/spec/rayClusterConfig",
};
pub const RAY_CRON_JOB: SpecHolder = SpecHolder {
    kind: "RayCronJob",
    path: "spec.jobTemplate.rayClusterSpec",
    pointer: "/spec/jobTemplate/rayClusterSpec",
};
pub const SPEC_HOLDERS: [SpecHolder; 4] = [RAY_CLUSTER, RAY_JOB, RAY_SERVICE, RAY_CRON_JOB];

/// What a port of the head is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortKind {
    Dashboard,
    Gcs,
    Client,
    Other,
}

/// KubeRay's head ports, by name: those it declares when the head container declares none.
pub const HEAD_PORTS: [(&str, i32); 5] = [
    ("gcs-server", 6379),
    ("dashboard", 8265),
    ("client", 10001),
    ("serve", 8000),
    ("metrics", 8080),
];

static DEFAULT_HEAD_PORTS: std::sync::LazyLock<Vec<ContainerPort>> =
    std::sync::LazyLock::new(|| {
        HEAD_PORTS
            .iter()
            .map(|&(n, p)| ContainerPort {
                name: Some(n.into()),
                container_port: p,
                ..Default::default()
            })
            .collect()
    });

/// The head container's ports: its own, else KubeRay's defaults.
pub fn head_ports(c: Option<&Container>) -> &[ContainerPort] {
    match c {
        Some(c) if !c.ports.is_empty() => &c.ports,
        _ => &DEFAULT_HEAD_PORTS,
    }
}

/// The head port called `name` (`dashboard`, `serve` …): declared, else KubeRay's default.
pub fn head_port(c: Option<&Container>, name: &str) -> Option<i32> {
    head_ports(c)
        .iter()
        .find(|p| p.name.as_deref() == Some(name))
        .map(|p| p.container_port)
        .or_else(|| head_port_default(name))
}

fn head_port_default(name: &str) -> Option<i32> {
    HEAD_PORTS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// The number of a port KubeRay names (for NetworkPolicy ports given by name).
pub fn head_port_by_name(name: &str) -> Option<u16> {
    head_port_default(name).and_then(|p| u16::try_from(p).ok())
}

/// What a container port is for, by its name first, else by Ray's default numbers.
pub fn classify(port: i32, name: Option<&str>) -> PortKind {
    match (name, port) {
        (Some("dashboard"), _) | (None, 8265) => PortKind::Dashboard,
        (Some("gcs-server" | "gcs"), _) | (None, 6379) => PortKind::Gcs,
        (Some("client"), _) | (None, 10001) => PortKind::Client,
        (Some(_), 8265) => PortKind::Dashboard,
        (Some(_), 6379) => PortKind::Gcs,
        (Some(_), 10001) => PortKind::Client,
        _ => PortKind::Other,
    }
}

/// The labels KubeRay puts on a head or worker pod of `cluster` (plus the template's own).
pub fn pod_labels(
    cluster: &str,
    head: bool,
    group: &str,
    extra: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = extra.cloned().unwrap_or_default();
    let node = if head { "head" } else { "worker" };
    for (k, v) in [
        ("ray.io/cluster", cluster.to_string()),
        ("ray.io/node-type", node.to_string()),
        ("ray.io/group", group.to_string()),
        ("ray.io/identifier", format!("{cluster}-{node}")),
    ] {
        l.insert(k.to_string(), v);
    }
    for (k, v) in [
        ("ray.io/is-ray-node", "yes"),
        ("app.kubernetes.io/name", "kuberay"),
        ("app.kubernetes.io/created-by", "kuberay-operator"),
    ] {
        l.entry(k.to_string()).or_insert_with(|| v.to_string());
    }
    l
}

/// The head Service's real name: `status.head.serviceName` (what the operator made), else
/// `headGroupSpec.headService.metadata.name` (what it will make), else `<cluster>-head-svc`.
pub fn head_service_name(
    cluster: &str,
    from_spec: Option<&str>,
    from_status: Option<&str>,
) -> String {
    from_status
        .filter(|n| !n.is_empty())
        .or_else(|| from_spec.filter(|n| !n.is_empty()))
        .map_or_else(|| format!("{cluster}-head-svc"), str::to_string)
}

/// The Ingress `enableIngress` makes KubeRay create: `<cluster>-head-ingress`.
pub fn head_ingress_name(cluster: &str) -> String {
    format!("{cluster}-head-ingress")
}

/// The NetworkPolicies `spec.networkPolicy` makes KubeRay create: `<cluster>-head` and
/// `<cluster>-workers-<group>` (ray-operator/controllers/ray/networkpolicy_controller.go).
pub fn operator_policy_names(cluster: &str, groups: &[&str]) -> Vec<String> {
    let mut out = vec![format!("{cluster}-head")];
    out.extend(groups.iter().map(|g| format!("{cluster}-workers-{g}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_service_name_comes_from_status_then_spec_then_the_convention() {
        assert_eq!(head_service_name("c", None, None), "c-head-svc");
        assert_eq!(head_service_name("c", Some("custom"), None), "custom");
        assert_eq!(head_service_name("c", Some("custom"), Some("real")), "real");
        assert_eq!(head_service_name("c", Some(""), Some("")), "c-head-svc");
        assert_eq!(head_ingress_name("c"), "c-head-ingress");
        assert_eq!(operator_policy_names("c", &["g"]), ["c-head", "c-workers-g"]);
    }

    #[test]
    fn ports_by_name_win_over_numbers() {
        assert_eq!(classify(8265, None), PortKind::Dashboard);
        assert_eq!(classify(9999, Some("dashboard")), PortKind::Dashboard);
        assert_eq!(classify(6379, Some("redis")), PortKind::Gcs);
        assert_eq!(classify(8265, Some("gcs")), PortKind::Gcs);
        assert_eq!(classify(10001, Some("x")), PortKind::Client);
        assert_eq!(classify(8000, Some("serve")), PortKind::Other);
        assert_eq!(classify(9999, Some("client")), PortKind::Client);
        assert_eq!(classify(10001, None), PortKind::Client);
        assert_eq!(classify(8265, Some("http")), PortKind::Dashboard);
        assert_eq!(classify(7777, Some("gcs-server")), PortKind::Gcs);
        assert_eq!(classify(6379, None), PortKind::Gcs);
        assert_eq!(classify(8080, None), PortKind::Other);
        let c = Container {
            ports: vec![ContainerPort {
                name: Some("dashboard".into()),
                container_port: 9265,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(head_port(Some(&c), "dashboard"), Some(9265));
        assert_eq!(head_port(Some(&c), "serve"), Some(8000));
        assert_eq!(head_port(None, "dashboard"), Some(8265));
        assert_eq!(head_port(None, "nope"), None);
        assert_eq!(head_ports(None).len(), 5);
        assert_eq!(head_ports(Some(&Container::default())).len(), 5, "no ports: KubeRay's");
        let names: Vec<_> = head_ports(None).iter().filter_map(|p| p.name.as_deref()).collect();
        assert_eq!(names, ["gcs-server", "dashboard", "client", "serve", "metrics"]);
        assert_eq!(head_port_by_name("client"), Some(10001));
    }

    #[test]
    fn pod_labels_keep_the_templates_but_not_over_kuberays_own() {
        let extra: BTreeMap<String, String> =
            [("ray.io/cluster", "evil"), ("team", "a"), ("app.kubernetes.io/name", "mine")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let l = pod_labels("c", false, "g", Some(&extra));
        assert_eq!(l["ray.io/cluster"], "c");
        assert_eq!(l["ray.io/node-type"], "worker");
        assert_eq!(l["ray.io/identifier"], "c-worker");
        assert_eq!(l["team"], "a");
        assert_eq!(l["app.kubernetes.io/name"], "mine");
    }
}
