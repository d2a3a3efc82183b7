//! Protobuf request bodies from kubectl's typed clients (`kubectl create namespace`, `create
//! configmap`, `create secret`, `create serviceaccount`): the `k8s\0` envelope around a
//! `runtime.Unknown`, decoded into the JSON object the rest of the server works with.

use super::status::ApiError;
use base64::Engine;
use prost::Message;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

#[derive(Clone, PartialEq, Message)]
pub struct TypeMeta {
    #[prost(string, optional, tag = "1")]
    pub api_version: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub kind: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Unknown {
    #[prost(message, optional, tag = "1")]
    pub type_meta: Option<TypeMeta>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub raw: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
struct ObjectMeta {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(string, optional, tag = "2")]
    generate_name: Option<String>,
    #[prost(string, optional, tag = "3")]
    namespace: Option<String>,
    #[prost(map = "string, string", tag = "11")]
    labels: HashMap<String, String>,
    #[prost(map = "string, string", tag = "12")]
    annotations: HashMap<String, String>,
    #[prost(string, repeated, tag = "14")]
    finalizers: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct NamespaceSpec {
    #[prost(string, repeated, tag = "1")]
    finalizers: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct Namespace {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    spec: Option<NamespaceSpec>,
}

#[derive(Clone, PartialEq, Message)]
struct ConfigMap {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(map = "string, string", tag = "2")]
    data: HashMap<String, String>,
    #[prost(bool, optional, tag = "4")]
    immutable: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct Secret {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(map = "string, bytes", tag = "2")]
    data: HashMap<String, Vec<u8>>,
    #[prost(string, optional, tag = "3")]
    r#type: Option<String>,
    #[prost(bool, optional, tag = "5")]
    immutable: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct ServiceAccount {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(bool, optional, tag = "4")]
    automount_service_account_token: Option<bool>,
}

fn meta_json(m: Option<ObjectMeta>) -> Value {
    let m = m.unwrap_or_default();
    let mut out = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|s| !s.is_empty()) {
            out.insert(k.into(), json!(v));
        }
    };
    put("name", m.name);
    put("generateName", m.generate_name);
    put("namespace", m.namespace);
    if !m.labels.is_empty() {
        out.insert("labels".into(), json!(m.labels));
    }
    if !m.annotations.is_empty() {
        out.insert("annotations".into(), json!(m.annotations));
    }
    if !m.finalizers.is_empty() {
        out.insert("finalizers".into(), json!(m.finalizers));
    }
    Value::Object(out)
}

fn bad(m: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("cannot decode protobuf body: {m}"))
}

/// Splits the envelope: (apiVersion, kind, raw object bytes).
pub fn unwrap(body: &[u8]) -> Result<(String, String, Vec<u8>), ApiError> {
    let rest = body.strip_prefix(b"k8s\0").ok_or_else(|| bad("missing k8s envelope"))?;
    let u = Unknown::decode(rest).map_err(bad)?;
    let tm = u.type_meta.unwrap_or_default();
    Ok((tm.api_version.unwrap_or_default(), tm.kind.unwrap_or_default(), u.raw.unwrap_or_default()))
}

/// Decodes a protobuf object body into JSON, for the kinds kubectl creates with typed clients.
pub fn decode_object(body: &[u8]) -> Result<Value, ApiError> {
    let (api_version, kind, raw) = unwrap(body)?;
    let raw = raw.as_slice();
    let mut v = match kind.as_str() {
        "Namespace" => {
            let n = Namespace::decode(raw).map_err(bad)?;
            let mut v = json!({"metadata": meta_json(n.metadata)});
            if let Some(s) = n.spec.filter(|s| !s.finalizers.is_empty()) {
                v["spec"] = json!({"finalizers": s.finalizers});
            }
            v
        }
        "ConfigMap" => {
            let c = ConfigMap::decode(raw).map_err(bad)?;
            let mut v = json!({"metadata": meta_json(c.metadata), "data": c.data});
            if let Some(i) = c.immutable {
                v["immutable"] = json!(i);
            }
            v
        }
        "Secret" => {
            let s = Secret::decode(raw).map_err(bad)?;
            let data: Map<String, Value> = s
                .data
                .into_iter()
                .map(|(k, b)| (k, json!(base64::engine::general_purpose::STANDARD.encode(b))))
                .collect();
            let mut v = json!({"metadata": meta_json(s.metadata), "data": data});
            if let Some(t) = s.r#type {
                v["type"] = json!(t);
            }
            if let Some(i) = s.immutable {
                v["immutable"] = json!(i);
            }
            v
        }
        "ServiceAccount" => {
            let s = ServiceAccount::decode(raw).map_err(bad)?;
            let mut v = json!({"metadata": meta_json(s.metadata)});
            if let Some(a) = s.automount_service_account_token {
                v["automountServiceAccountToken"] = json!(a);
            }
            v
        }
        other => {
            return Err(ApiError::new(415, "UnsupportedMediaType", format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (protobuf is supported only for Namespace, ConfigMap, Secret and ServiceAccount, not {other})")));
        }
    };
    v["apiVersion"] = json!(api_version);
    v["kind"] = json!(kind);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_round_trip() {
        let ns = Namespace {
            metadata: Some(ObjectMeta { name: Some("x".into()), ..Default::default() }),
            spec: Some(NamespaceSpec::default()),
        };
        let u = Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some("v1".into()),
                kind: Some("Namespace".into()),
            }),
            raw: Some(ns.encode_to_vec()),
        };
        let mut body = b"k8s\0".to_vec();
        body.extend(u.encode_to_vec());
        let v = decode_object(&body).unwrap();
        assert_eq!(v, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}));
    }
}
