//! Validation of written objects: what the real API server answers with 422 Invalid (or 400 for
//! undecodable bodies), for the kinds raydar writes and reads.

use super::catalog::Kind;
use super::ray_schema::ray_cluster_spec;
use super::status::{ApiError, Cause};
use crate::quantity::is_port_name;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

pub(super) fn cause(
    reason: &'static str,
    field: impl Into<String>,
    message: impl Into<String>,
) -> Cause {
    Cause { reason, field: field.into(), message: message.into() }
}
pub(super) fn required(field: impl Into<String>) -> Cause {
    cause("FieldValueRequired", field, "Required value")
}
pub(super) fn invalid(field: impl Into<String>, value: &Value, why: &str) -> Cause {
    cause("FieldValueInvalid", field, format!("Invalid value: {value}: {why}"))
}
pub(super) fn unsupported(field: impl Into<String>, value: &Value, supported: &[&str]) -> Cause {
    let s: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
    cause(
        "FieldValueNotSupported",
        field,
        format!("Unsupported value: {value}: supported values: {}", s.join(", ")),
    )
}
pub(super) fn forbidden(field: impl Into<String>, why: &str) -> Cause {
    cause("FieldValueForbidden", field, format!("Forbidden: {why}"))
}

/// RFC 1123 subdomain (most object names).
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !p.starts_with('-')
                && !p.ends_with('-')
        })
}

/// RFC 1123 label (namespaces, Service names, port names).
pub fn is_dns_label(s: &str) -> bool {
    is_dns_subdomain(s) && s.len() <= 63 && !s.contains('.')
}

pub(super) fn port_in_range(v: &Value) -> bool {
    v.as_i64().is_some_and(|p| (1..=65535).contains(&p))
}

pub(super) fn int_or_port_name(field: String, v: &Value, out: &mut Vec<Cause>) {
    match v {
        Value::Number(_) if port_in_range(v) => {}
        Value::Number(_) => out.push(invalid(field, v, "must be between 1 and 65535, inclusive")),
        Value::String(s) if is_port_name(s) => {}
        _ => out.push(invalid(
            field,
            v,
            "must contain at most 15 characters and be a valid IANA service name",
        )),
    }
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else { return false };
    let Ok(bits) = bits.parse::<u8>() else { return false };
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32,
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

fn label_selector(path: &str, sel: &Value, out: &mut Vec<Cause>) {
    if sel.is_null() {
        return;
    }
    let Some(m) = sel.as_object() else {
        out.push(invalid(path, sel, "must be a label selector object"));
        return;
    };
    for (i, e) in
        m.get("matchExpressions").and_then(Value::as_array).into_iter().flatten().enumerate()
    {
        let p = format!("{path}.matchExpressions[{i}]");
        let op = e["operator"].as_str().unwrap_or("");
        let n_values = e["values"].as_array().map_or(0, Vec::len);
        match op {
            "In" | "NotIn" if n_values == 0 => out.push(required(format!("{p}.values"))),
            "Exists" | "DoesNotExist" if n_values > 0 => out.push(forbidden(
                format!("{p}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            _ => out.push(unsupported(
                format!("{p}.operator"),
                &e["operator"],
                &["In", "NotIn", "Exists", "DoesNotExist"],
            )),
        }
        if e["key"].as_str().is_none_or(str::is_empty) {
            out.push(required(format!("{p}.key")));
        }
    }
}

fn service(o: &Value, out: &mut Vec<Cause>) {
    let spec = &o["spec"];
    let ty = spec["type"].as_str().unwrap_or("ClusterIP");
    const TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if !TYPES.contains(&ty) {
        out.push(unsupported("spec.type", &spec["type"], &TYPES));
        return;
    }
    let ports = spec["ports"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let headless = spec["clusterIP"].as_str() == Some("None");
    if ports.is_empty() && ty != "ExternalName" && !headless {
        out.push(required("spec.ports"));
    }
    let mut names = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let f = format!("spec.ports[{i}]");
        if ports.len() > 1 {
            match p["name"].as_str() {
                None | Some("") => out.push(required(format!("{f}.name"))),
                Some(n) if names.contains(&n) => out.push(cause(
                    "FieldValueDuplicate",
                    format!("{f}.name"),
                    format!("Duplicate value: \"{n}\""),
                )),
                Some(n) => names.push(n),
            }
        }
        if let Some(n) = p["name"].as_str().filter(|n| !n.is_empty() && !is_dns_label(n)) {
            out.push(invalid(format!("{f}.name"), &Value::String(n.into()), "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"));
        }
        if !port_in_range(&p["port"]) {
            if p["port"].is_null() {
                out.push(required(format!("{f}.port")));
            } else {
                out.push(invalid(
                    format!("{f}.port"),
                    &p["port"],
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
        if let Some(proto) = p.get("protocol").filter(|v| !v.is_null()) {
            if !matches!(proto.as_str(), Some("TCP" | "UDP" | "SCTP")) {
                out.push(unsupported(format!("{f}.protocol"), proto, &["SCTP", "TCP", "UDP"]));
            }
        }
        if let Some(tp) = p.get("targetPort").filter(|v| !v.is_null()) {
            int_or_port_name(format!("{f}.targetPort"), tp, out);
        }
        if let Some(np) = p.get("nodePort").filter(|v| !v.is_null()) {
            if !matches!(ty, "NodePort" | "LoadBalancer") {
                out.push(forbidden(
                    format!("{f}.nodePort"),
                    &format!("may not be used when `type` is '{ty}'"),
                ));
            } else if !np.as_i64().is_some_and(|n| (30000..=32767).contains(&n)) {
                out.push(invalid(format!("{f}.nodePort"), np, "provided port is not in the valid range. The range of valid ports is 30000-32767"));
            }
        }
    }
    if ty != "LoadBalancer" {
        if spec["loadBalancerSourceRanges"].as_array().is_some_and(|a| !a.is_empty()) {
            out.push(forbidden(
                "spec.loadBalancerSourceRanges",
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        if spec.get("loadBalancerClass").is_some_and(|v| !v.is_null()) {
            out.push(forbidden(
                "spec.loadBalancerClass",
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
    }
    for (i, r) in spec["loadBalancerSourceRanges"].as_array().into_iter().flatten().enumerate() {
        if !r.as_str().is_some_and(is_cidr) {
            out.push(invalid(
                format!("spec.loadBalancerSourceRanges[{i}]"),
                r,
                "must be a list of IP ranges. For example, 10.240.0.0/24,10.250.0.0/24 ",
            ));
        }
    }
    if let Some(sel) = spec.get("selector").filter(|v| !v.is_null()) {
        if !sel.as_object().is_some_and(|m| m.values().all(Value::is_string)) {
            out.push(invalid("spec.selector", sel, "must be a map of string keys and values"));
        }
    }
}

fn np_peers(path: &str, rule: &Value, peer_key: &str, out: &mut Vec<Cause>) {
    for (j, peer) in rule[peer_key].as_array().into_iter().flatten().enumerate() {
        let p = format!("{path}.{peer_key}[{j}]");
        let has = |k: &str| peer.get(k).is_some_and(|v| !v.is_null());
        let n = ["podSelector", "namespaceSelector", "ipBlock"].iter().filter(|k| has(k)).count();
        if n == 0 {
            out.push(required(p.clone()).with_message("must specify a peer"));
        } else if has("ipBlock") && n > 1 {
            out.push(forbidden(p.clone(), "may not specify both ipBlock and another peer"));
        }
        label_selector(&format!("{p}.podSelector"), &peer["podSelector"], out);
        label_selector(&format!("{p}.namespaceSelector"), &peer["namespaceSelector"], out);
        if has("ipBlock") {
            let cidr = &peer["ipBlock"]["cidr"];
            match cidr.as_str() {
                None | Some("") => out.push(required(format!("{p}.ipBlock.cidr"))),
                Some(c) if !is_cidr(c) => {
                    out.push(invalid(format!("{p}.ipBlock.cidr"), cidr, "must be a valid CIDR"))
                }
                _ => {}
            }
            for (k, ex) in peer["ipBlock"]["except"].as_array().into_iter().flatten().enumerate() {
                if !ex.as_str().is_some_and(is_cidr) {
                    out.push(invalid(
                        format!("{p}.ipBlock.except[{k}]"),
                        ex,
                        "must be a valid CIDR",
                    ));
                }
            }
        }
    }
    for (k, port) in rule["ports"].as_array().into_iter().flatten().enumerate() {
        let p = format!("{path}.ports[{k}]");
        if let Some(proto) = port.get("protocol").filter(|v| !v.is_null()) {
            if !matches!(proto.as_str(), Some("TCP" | "UDP" | "SCTP")) {
                out.push(unsupported(format!("{p}.protocol"), proto, &["SCTP", "TCP", "UDP"]));
            }
        }
        if let Some(pv) = port.get("port").filter(|v| !v.is_null()) {
            int_or_port_name(format!("{p}.port"), pv, out);
        }
        if let Some(end) = port.get("endPort").filter(|v| !v.is_null()) {
            if !port["port"].is_number() {
                out.push(
                    required(format!("{p}.port"))
                        .with_message("must specify a numeric port when endPort is set"),
                );
            } else if end.as_i64() < port["port"].as_i64() {
                out.push(invalid(
                    format!("{p}.endPort"),
                    end,
                    "must be greater than or equal to `port`",
                ));
            }
        }
    }
}

fn network_policy(o: &Value, out: &mut Vec<Cause>) {
    let spec = &o["spec"];
    if !spec.is_object() {
        out.push(required("spec"));
        return;
    }
    label_selector("spec.podSelector", &spec["podSelector"], out);
    let types = spec["policyTypes"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    for (i, t) in types.iter().enumerate() {
        if !matches!(t.as_str(), Some("Ingress" | "Egress")) {
            out.push(unsupported(format!("spec.policyTypes[{i}]"), t, &["Ingress", "Egress"]));
        }
    }
    if types.len() > 2 {
        out.push(cause(
            "FieldValueInvalid",
            "spec.policyTypes",
            "Invalid value: may not have more than 2 values",
        ));
    }
    for (dir, peers) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in spec[dir].as_array().into_iter().flatten().enumerate() {
            np_peers(&format!("spec.{dir}[{i}]"), rule, peers, out);
        }
    }
}

pub(super) fn pod_template(path: &str, t: &Value, out: &mut Vec<Cause>) {
    let containers = &t["spec"]["containers"];
    match containers.as_array() {
        None => out.push(required(format!("{path}.spec.containers"))),
        Some(cs) if cs.is_empty() => out.push(required(format!("{path}.spec.containers"))),
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                if c["name"].as_str().is_none_or(str::is_empty) {
                    out.push(required(format!("{path}.spec.containers[{i}].name")));
                }
            }
        }
    }
}
trait WithMessage {
    fn with_message(self, m: &str) -> Self;
}
impl WithMessage for Cause {
    fn with_message(mut self, m: &str) -> Self {
        self.message = format!("{}: {m}", self.message);
        self
    }
}

/// Decodes `v` as the typed struct and re-encodes it; an error carries the field path.
pub(super) fn roundtrip<T: DeserializeOwned + Serialize>(
    v: &Value,
) -> Result<Value, (String, String)> {
    let t: T = serde_path_to_error::deserialize(v)
        .map_err(|e| (e.path().to_string(), e.inner().to_string()))?;
    serde_json::to_value(&t).map_err(|e| (String::new(), e.to_string()))
}

fn typed_roundtrip(kind: &str, v: &Value) -> Option<Result<Value, (String, String)>> {
    use k8s_openapi::api::{
        apps::v1 as apps, core::v1 as core, networking::v1 as net, rbac::v1 as rbac,
    };
    Some(match kind {
        "Pod" => roundtrip::<core::Pod>(v),
        "Service" => roundtrip::<core::Service>(v),
        "ServiceAccount" => roundtrip::<core::ServiceAccount>(v),
        "ResourceQuota" => roundtrip::<core::ResourceQuota>(v),
        "Secret" => roundtrip::<core::Secret>(v),
        "ConfigMap" => roundtrip::<core::ConfigMap>(v),
        "Namespace" => roundtrip::<core::Namespace>(v),
        "Event" => roundtrip::<core::Event>(v),
        "Deployment" => roundtrip::<apps::Deployment>(v),
        "NetworkPolicy" => roundtrip::<net::NetworkPolicy>(v),
        "Ingress" => roundtrip::<net::Ingress>(v),
        "Role" => roundtrip::<rbac::Role>(v),
        "RoleBinding" => roundtrip::<rbac::RoleBinding>(v),
        "ClusterRole" => roundtrip::<rbac::ClusterRole>(v),
        "ClusterRoleBinding" => roundtrip::<rbac::ClusterRoleBinding>(v),
        _ => return None,
    })
}

fn unknown_fields(orig: &Value, rt: &Value, path: &str, out: &mut Vec<String>) {
    match (orig, rt) {
        (Value::Object(o), Value::Object(r)) => {
            for (k, v) in o {
                if v.is_null() {
                    continue;
                }
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match r.get(k) {
                    None => out.push(p),
                    Some(rv) => unknown_fields(v, rv, &p, out),
                }
            }
        }
        (Value::Array(o), Value::Array(r)) => {
            for (i, (a, b)) in o.iter().zip(r).enumerate() {
                unknown_fields(a, b, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// How unknown fields are treated (`fieldValidation`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(s: Option<&str>) -> Result<Self, ApiError> {
        match s.unwrap_or("") {
            "" | "Warn" => Ok(Self::Warn),
            "Ignore" => Ok(Self::Ignore),
            "Strict" => Ok(Self::Strict),
            other => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

/// Checks a decoded object of a built-in kind: type errors are 400, unknown fields are 422 with
/// `Strict` and otherwise dropped (returned as warnings). Returns the cleaned object.
pub fn decode(
    k: &Kind,
    name: &str,
    v: &Value,
    fv: FieldValidation,
) -> Result<(Value, Vec<String>), ApiError> {
    let mut owned = v.clone();
    null_label_values(&mut owned);
    let v = &owned;
    let Some(res) = typed_roundtrip(k.kind, v) else { return Ok((v.clone(), Vec::new())) };
    let rt = res.map_err(|(path, msg)| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {}{msg}",
            k.kind,
            k.version,
            k.kind,
            if path.is_empty() || path == "." { String::new() } else { format!("{path}: ") }
        ))
    })?;
    let mut unknown = Vec::new();
    unknown_fields(v, &rt, "", &mut unknown);
    unknown.retain(|p| !p.starts_with("metadata.managedFields"));
    if unknown.is_empty() || fv == FieldValidation::Ignore {
        return Ok((if unknown.is_empty() { v.clone() } else { rt }, Vec::new()));
    }
    if fv == FieldValidation::Strict {
        let causes = unknown
            .iter()
            .map(|p| cause("FieldValueInvalid", p.clone(), format!("unknown field \"{p}\"")))
            .collect();
        return Err(ApiError::invalid(k.kind, name, k.group, causes));
    }
    let warnings = unknown.iter().map(|p| format!("unknown field \"{p}\"")).collect();
    Ok((rt, warnings))
}

/// A label or annotation whose value is `null` has the value "" (Go decodes JSON null into a
/// string as its zero value), as on a real server.
fn null_label_values(v: &mut Value) {
    for key in ["labels", "annotations"] {
        if let Some(m) = v.pointer_mut(&format!("/metadata/{key}")).and_then(Value::as_object_mut) {
            for x in m.values_mut().filter(|x| x.is_null()) {
                *x = Value::String(String::new());
            }
        }
    }
}
/// Semantic validation: the 422 causes for `o` (empty when valid).
pub fn validate(k: &Kind, o: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let name_ok = match k.kind {
        "Namespace" | "Service" => is_dns_label(name),
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => {
            !name.is_empty() && !name.contains('/') && name != "." && name != ".."
        }
        _ => is_dns_subdomain(name),
    };
    if !name_ok {
        out.push(invalid("metadata.name", &Value::String(name.into()),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"));
    }
    for key in ["labels", "annotations"] {
        if let Some(m) = o.pointer(&format!("/metadata/{key}")).filter(|v| !v.is_null()) {
            if !m.as_object().is_some_and(|m| m.values().all(Value::is_string)) {
                out.push(invalid(
                    format!("metadata.{key}"),
                    m,
                    "must be a map of string keys and values",
                ));
            }
        }
    }
    match k.kind {
        "Service" => service(o, &mut out),
        "NetworkPolicy" => network_policy(o, &mut out),
        "Pod" => pod_template("", o, &mut out),
        "RayCluster" => ray_cluster_spec("spec", &o["spec"], &mut out),
        "RayService" => {
            ray_cluster_spec("spec.rayClusterConfig", &o["spec"]["rayClusterConfig"], &mut out)
        }
        "RayJob" if o.pointer("/spec/rayClusterSpec").is_some_and(|v| !v.is_null()) => {
            ray_cluster_spec("spec.rayClusterSpec", &o["spec"]["rayClusterSpec"], &mut out)
        }
        _ => {}
    }
    // Pod-level paths come out as ".spec..." from pod_template(""): trim the leading dot.
    for c in &mut out {
        if let Some(s) = c.field.strip_prefix('.') {
            c.field = s.to_string();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::catalog::{by_kind_name, kind};
    use serde_json::json;

    fn causes(kind_name: &str, o: Value) -> Vec<String> {
        validate(kind(by_kind_name(kind_name).unwrap()), &o).into_iter().map(|c| c.field).collect()
    }

    #[test]
    fn service_type_and_ports() {
        let base = json!({"metadata": {"name": "s"}, "spec": {"type": "Sideways", "ports": [{"port": 1}]}});
        assert_eq!(causes("Service", base), ["spec.type"]);
        let two = json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 0}, {"port": 2, "nodePort": 30001}]}});
        assert_eq!(
            causes("Service", two),
            [
                "spec.ports[0].name",
                "spec.ports[0].port",
                "spec.ports[1].name",
                "spec.ports[1].nodePort"
            ]
        );
    }

    #[test]
    fn network_policy_structure() {
        let np = json!({"metadata": {"name": "n"}, "spec": {"podSelector": {}, "policyTypes": ["Sideways"],
            "ingress": [{"from": [{}, {"ipBlock": {"cidr": "nope"}}]}]}});
        assert_eq!(
            causes("NetworkPolicy", np),
            [
                "spec.policyTypes[0]",
                "spec.ingress[0].from[0]",
                "spec.ingress[0].from[1].ipBlock.cidr"
            ]
        );
    }

    #[test]
    fn raycluster_basics() {
        let rc = json!({"metadata": {"name": "r"}, "spec": {"workerGroupSpecs": [{"minReplicas": 3, "maxReplicas": 1}]}});
        assert_eq!(
            causes("RayCluster", rc),
            [
                "spec.headGroupSpec",
                "spec.workerGroupSpecs[0].groupName",
                "spec.workerGroupSpecs[0].minReplicas",
                "spec.workerGroupSpecs[0].template"
            ]
        );
    }

    #[test]
    fn unknown_fields_strict_and_warn() {
        let k = kind(by_kind_name("Service").unwrap());
        let o = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"bogus": 1, "ports": [{"port": 1, "nope": true}]}});
        let e = decode(k, "s", &o, FieldValidation::Strict).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(e.causes.len(), 2);
        let (clean, warnings) = decode(k, "s", &o, FieldValidation::Warn).unwrap();
        assert_eq!(warnings.len(), 2);
        assert!(clean["spec"].get("bogus").is_none());
        let bad = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": "x"}]}});
        assert_eq!(decode(k, "s", &bad, FieldValidation::Strict).unwrap_err().code, 400);
    }
}
