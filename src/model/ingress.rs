//! Ingresses, typed only as far as raydar reads them: where they route, for which hosts, and
//! whether they terminate TLS.

use super::resource;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceBackendPort {
    pub name: Option<String>,
    pub number: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct IngressServiceBackend {
    pub name: String,
    pub port: Option<ServiceBackendPort>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct IngressBackend {
    pub service: Option<IngressServiceBackend>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct IngressPath {
    pub path: Option<String>,
    pub backend: IngressBackend,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct IngressHttp {
    pub paths: Vec<IngressPath>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct IngressRule {
    pub host: Option<String>,
    pub http: Option<IngressHttp>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct IngressSpec {
    pub ingress_class_name: Option<String>,
    pub default_backend: Option<IngressBackend>,
    pub rules: Vec<IngressRule>,
    pub tls: Vec<IngressTls>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct IngressTls {
    pub hosts: Vec<String>,
    pub secret_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Ingress {
    pub metadata: ObjectMeta,
    pub spec: IngressSpec,
}
resource!(Ingress, "networking.k8s.io", "v1", "Ingress", "ingresses");

impl Ingress {
    /// Every (service name, port) the Ingress routes to, with the path (for evidence).
    pub fn backends(&self) -> Vec<(&IngressServiceBackend, String)> {
        let mut out = Vec::new();
        if let Some(s) = self.spec.default_backend.as_ref().and_then(|b| b.service.as_ref()) {
            out.push((s, "spec.defaultBackend".to_string()));
        }
        for (i, r) in self.spec.rules.iter().enumerate() {
            for (j, p) in r.http.iter().flat_map(|h| h.paths.iter()).enumerate() {
                if let Some(s) = &p.backend.service {
                    out.push((s, format!("spec.rules[{i}].http.paths[{j}]")));
                }
            }
        }
        out
    }

    /// `host ray.example.com, TLS` / `any host, no TLS`: what evidence says of its reach.
    pub fn reach_text(&self) -> String {
        let hosts: Vec<&str> = self.spec.rules.iter().filter_map(|r| r.host.as_deref()).collect();
        host_tls_text(&hosts, !self.spec.tls.is_empty())
    }
}

/// `host a.example.com, TLS`, `any host, no TLS`: an Ingress's hosts and whether TLS is set.
pub fn host_tls_text(hosts: &[&str], tls: bool) -> String {
    let h = match hosts {
        [] => "any host".to_string(),
        [one] => format!("host {one}"),
        many => format!("hosts {}", many.join(", ")),
    };
    format!("{h}, {}", if tls { "TLS" } else { "no TLS" })
}
