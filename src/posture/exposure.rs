//! Guide §1.3, §1.5, §1.6: what reaches the cluster from outside — GCS and Ray Client ports
//! (RAY-EXP-001), the dashboard on load balancers and node ports (RAY-EXP-002/003) or an
//! Ingress (RAY-EXP-004), and a CR that asks for an exposed head Service (RAY-SVC-001).

use super::{catalog::rule, Findings, Reach, Severity, Subject};
use crate::semantics::ray::{self as ray, classify, PortKind};

const INGRESS_AUTH: [&str; 4] = [
    "nginx.ingress.kubernetes.io/auth-type",
    "nginx.ingress.kubernetes.io/auth-url",
    "nginx.ingress.kubernetes.io/auth-signin",
    "nginx.ingress.kubernetes.io/auth-tls-verify-client",
];

/// Exposure through Services (all entries that own Services).
fn services(s: &Subject, out: &mut Findings) {
    for e in s.exposures.iter().filter(|e| e.outside) {
        match e.kind {
            PortKind::Gcs | PortKind::Client => {
                out.add(rule!("RAY-EXP-001"), Severity::Critical, e.to_string());
                out.reach(Reach::Public);
            }
            PortKind::Dashboard if e.acl.is_none() => {
                out.add(rule!("RAY-EXP-002"), Severity::Critical, e.to_string());
                out.reach(Reach::Public);
            }
            PortKind::Dashboard => {
                out.add(rule!("RAY-EXP-003"), Severity::High, e.to_string());
                out.reach(Reach::Acl);
            }
            PortKind::Other => {}
        }
    }
}

fn ingresses(s: &Subject, out: &mut Findings) {
    let asked = s.spec.is_some_and(|sp| sp.head_group_spec.enable_ingress == Some(true));
    let ingresses = s.idx.ingresses.get(s.namespace).map_or(&[][..], Vec::as_slice);
    if !s.inv.readable(s.namespace, "ingresses") || (ingresses.is_empty() && !asked) {
        return;
    }
    let dashboards: Vec<_> = s.exposures.iter().filter(|e| e.kind == PortKind::Dashboard).collect();
    let cluster = s.cluster.unwrap_or(s.name);
    // KubeRay's names for the cluster's head Service and Ingress.
    let head_svc = s.head_service_name();
    let generated = ray::head_ingress_name(cluster);
    for ing in ingresses {
        static NONE: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
        let ann = ing.metadata.annotations.as_ref().unwrap_or(&NONE);
        let authed = INGRESS_AUTH.iter().any(|k| ann.contains_key(*k))
            || ann.values().any(|v| v.contains("oauth2-proxy") || v.contains("oauth2/auth"));
        for (b, path) in ing.backends() {
            let hit = dashboards.iter().find(|e| {
                e.service == b.name
                    && b.port.as_ref().is_some_and(|p| {
                        p.number == Some(e.port)
                            || (p.name.is_some() && p.name.as_deref() == e.port_name)
                    })
            });
            let synthesized = asked && b.name == head_svc;
            if hit.is_some() || synthesized {
                let iname = ing.metadata.name.as_deref().unwrap_or("");
                let (sev, how) = if authed {
                    (Severity::High, "with auth annotations")
                } else {
                    (Severity::Critical, "with no authentication")
                };
                out.add(
                    rule!("RAY-EXP-004"),
                    sev,
                    format!(
                        "Ingress {}/{iname} {path} ({}) routes to Service {} (dashboard) {how}",
                        s.namespace,
                        ing.reach_text(),
                        b.name
                    ),
                );
                out.reach(Reach::Ingress);
            }
        }
    }
    // enableIngress without a live Ingress (manifests): KubeRay will create an open one, for
    // `ingressOptions.host` (else any host), with `ingressOptions.tls` if set.
    let live_ingress =
        ingresses.iter().any(|i| i.metadata.name.as_deref() == Some(generated.as_str()));
    if asked && !live_ingress && !s.inv.live {
        let opts = s.spec.and_then(|sp| sp.head_group_spec.ingress_options.as_ref());
        let host: Vec<&str> = opts.and_then(|o| o.host.as_deref()).into_iter().collect();
        let tls = opts.is_some_and(|o| !o.tls.is_empty());
        let path = opts.and_then(|o| o.path.as_deref()).unwrap_or("/");
        out.add(
            rule!("RAY-EXP-004"),
            Severity::Critical,
            format!(
                "{} {}.headGroupSpec.enableIngress=true: KubeRay creates Ingress {generated} ({}, path {path}) to the dashboard with no authentication",
                s.object(),
                s.spec_path,
                crate::model::host_tls_text(&host, tls)
            ),
        );
        out.reach(Reach::Ingress);
    }
}

fn host_exposure(s: &Subject, out: &mut Findings) {
    for t in s.templates().iter().filter(|t| t.head) {
        if t.spec.host_network == Some(true) {
            out.add(rule!("RAY-EXP-001"), Severity::Critical, format!("{} {}.hostNetwork=true: GCS 6379, dashboard 8265 and client 10001 listen on the node's address", s.object(), t.path));
            out.reach(Reach::Node);
        }
        for (i, c) in t.spec.containers.iter().enumerate() {
            for p in &c.ports {
                if p.host_port.is_some_and(|h| h > 0)
                    && matches!(
                        classify(p.container_port, p.name.as_deref()),
                        PortKind::Gcs | PortKind::Client | PortKind::Dashboard
                    )
                {
                    out.add(
                        rule!("RAY-EXP-001"),
                        Severity::Critical,
                        format!(
                            "{} {}.containers[{i}] ({}) port {} has hostPort {}",
                            s.object(),
                            t.path,
                            c.name,
                            p.container_port,
                            p.host_port.unwrap_or(0)
                        ),
                    );
                    out.reach(Reach::Node);
                }
            }
        }
    }
}

fn service_type(s: &Subject, out: &mut Findings) {
    let Some(spec) = s.spec else { return };
    let hg = &spec.head_group_spec;
    let asked = [
        ("headGroupSpec.serviceType", hg.service_type.as_deref()),
        (
            "headGroupSpec.headService.spec.type",
            hg.head_service.as_ref().and_then(|h| h.spec.as_ref()).and_then(|s| s.type_.as_deref()),
        ),
    ];
    for (field, ty) in asked {
        if let Some(ty @ ("LoadBalancer" | "NodePort")) = ty {
            out.add(
                rule!("RAY-SVC-001"),
                Severity::High,
                format!(
                    "{} {}.{field}={ty}: a recreated head Service would be exposed again",
                    s.object(),
                    s.spec_path
                ),
            );
        }
    }
}

pub fn check(s: &Subject, out: &mut Findings) {
    services(s, out);
    ingresses(s, out);
    host_exposure(s, out);
    service_type(s, out);
}

/// For a RayJob/RayService whose cluster has its own entry: only its own Services and CR field.
pub fn check_own_services(s: &Subject, out: &mut Findings) {
    services(s, out);
    service_type(s, out);
}
