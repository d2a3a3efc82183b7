//! The Service ports that reach a cluster's head, resolved to the container port they land on
//! and classified (dashboard, GCS, client); the head Service KubeRay would create when none
//! runs yet.

use super::index::{name, ns};
use crate::kuberay::RayClusterSpec;
use crate::model::{Container, IntOrString, Service};
use crate::semantics::exposure::{acl, reaches_outside};
use crate::semantics::ray::PortKind;
use crate::semantics::ray::{classify, head_ports};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::rc::Rc;

/// One Service port that reaches the cluster's head.
#[derive(Debug, Clone)]
pub struct Exposure<'a> {
    pub kind: PortKind,
    /// Reachable from outside the cluster (LoadBalancer, NodePort, externalIPs).
    pub outside: bool,
    /// How access is narrowed (`loadBalancerSourceRanges …`, ACK ACL, intranet), if it is.
    pub acl: Option<Rc<str>>,
    /// The Service's name (in the entry's namespace).
    pub service: Cow<'a, str>,
    pub port: i32,
    pub port_name: Option<&'a str>,
    /// What [`Exposure`] puts into evidence (only into findings).
    how: How<'a>,
}

/// How a Service port is reachable, for evidence.
#[derive(Debug, Clone)]
enum How<'a> {
    /// Only inside the cluster (no evidence: no rule reports it as such).
    Inside,
    /// A live Service: `Service ns/x type=NodePort port 8265 → dashboard 8265 (nodePort 30200)`.
    Service { namespace: &'a str, ty: &'a str, label: &'a str, cport: i32, node_port: Option<i32> },
    /// The head Service KubeRay would create from the CR, already written out.
    Text(String),
}

/// The exposure's evidence, narrowing included.
impl std::fmt::Display for Exposure<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.how {
            How::Inside => Ok(()),
            How::Text(t) => f.write_str(t),
            How::Service { namespace, ty, label, cport, node_port } => {
                let (svc, port) = (&self.service, self.port);
                write!(f, "Service {namespace}/{svc} type={ty} port {port} → {label} {cport}")?;
                if let Some(np) = node_port {
                    write!(f, " (nodePort {np})")?;
                }
                match &self.acl {
                    Some(a) => write!(f, ", narrowed by {a}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// `internal`: also report the dashboard on Services only reachable inside the cluster (what an
/// Ingress may route to; pointless when the namespace has no Ingress).
pub(super) fn exposures_of<'a>(
    svc: &'a Service,
    head: Option<&'a Container>,
    internal: bool,
    out: &mut Vec<Exposure<'a>>,
) {
    let ty = svc.type_();
    let outside = reaches_outside(ty, !svc.spec.external_ips.is_empty());
    if !outside && !internal {
        return;
    }
    static NO_ANNOTATIONS: BTreeMap<String, String> = BTreeMap::new();
    let ann = svc.metadata.annotations.as_ref().unwrap_or(&NO_ANNOTATIONS);
    let acl: Option<Rc<str>> = acl(ty, ann, &svc.spec.load_balancer_source_ranges).map(Rc::from);
    let ports = head_ports(head);
    let svc_ns = ns(&svc.metadata);
    let svc_name = name(&svc.metadata);
    out.extend(svc.spec.ports.iter().filter_map(|p| {
        let (cport, cname) = match &p.target_port {
            None => (
                p.port,
                ports.iter().find(|c| c.container_port == p.port).and_then(|c| c.name.as_deref()),
            ),
            Some(IntOrString::Int(n)) => {
                (*n, ports.iter().find(|c| c.container_port == *n).and_then(|c| c.name.as_deref()))
            }
            Some(IntOrString::String(n)) => {
                let c = ports.iter().find(|c| c.name.as_deref() == Some(n.as_str()))?;
                (c.container_port, c.name.as_deref())
            }
        };
        let kind = classify(cport, cname);
        // Only what a rule can report on: Ray ports reachable from outside, and the
        // dashboard (which an Ingress may route to).
        if kind == PortKind::Other || (!outside && kind != PortKind::Dashboard) {
            return None;
        }
        let how = match outside {
            true => How::Service {
                namespace: svc_ns,
                ty,
                label: cname.unwrap_or("port"),
                cport,
                node_port: p.node_port,
            },
            false => How::Inside,
        };
        Some(Exposure {
            kind,
            outside,
            acl: acl.clone(),
            service: Cow::Borrowed(svc_name),
            port: p.port,
            port_name: cname,
            how,
        })
    }));
}

/// The head Service KubeRay would create from the CR (used when none runs).
pub(super) fn synthesized_head_service<'a>(
    kind: &str,
    namespace: &str,
    entry: &str,
    svc_name: &str,
    spec_path: &str,
    spec: &'a RayClusterSpec,
) -> Option<Vec<Exposure<'a>>> {
    let hs = spec.head_group_spec.head_service.as_ref();
    let ty = hs
        .and_then(|h| h.spec.as_ref())
        .and_then(|s| s.type_.clone())
        .or_else(|| spec.head_group_spec.service_type.clone())
        .filter(|t| !t.is_empty())?;
    if !matches!(ty.as_str(), "LoadBalancer" | "NodePort") {
        return None;
    }
    let mut ann: BTreeMap<String, String> =
        spec.head_service_annotations.clone().unwrap_or_default();
    if let Some(a) = hs.and_then(|h| h.metadata.as_ref()).and_then(|m| m.annotations.clone()) {
        ann.extend(a);
    }
    let ranges = hs
        .and_then(|h| h.spec.as_ref())
        .map(|s| s.load_balancer_source_ranges.clone())
        .unwrap_or_default();
    let acl: Option<Rc<str>> = acl(&ty, &ann, &ranges).map(Rc::from);
    let field = if hs.and_then(|h| h.spec.as_ref()).and_then(|s| s.type_.as_ref()).is_some() {
        "headGroupSpec.headService.spec.type"
    } else {
        "headGroupSpec.serviceType"
    };
    Some(
        head_ports(spec.head_group_spec.template.spec.containers.first())
            .iter()
            .map(|p| {
                let label = p.name.clone().unwrap_or_else(|| "port".into());
                let mut ev = format!("{kind} {namespace}/{entry} {spec_path}.{field}={ty}: the head Service KubeRay creates exposes {label} {}", p.container_port);
                if let Some(a) = &acl {
                    ev.push_str(&format!(", narrowed by {a}"));
                }
                Exposure {
                    kind: classify(p.container_port, p.name.as_deref()),
                    outside: true,
                    acl: acl.clone(),
                    service: Cow::Owned(svc_name.to_string()),
                    port: p.container_port,
                    port_name: p.name.as_deref(),
                    how: How::Text(ev),
                }
            })
            .collect(),
    )
}
