//! What the KubeRay CRDs' OpenAPI schemas make the API server check in a RayCluster spec (and
//! the specs RayJobs, RayServices and RayCronJobs embed): required fields, types, quantities.

use super::status::Cause;
use super::validate::{cause, invalid, pod_template, required, roundtrip, unsupported};
use serde_json::Value;

pub(super) fn ray_cluster_spec(path: &str, spec: &Value, out: &mut Vec<Cause>) {
    if !spec.is_object() {
        out.push(required(path.to_string()));
        return;
    }
    let head = &spec["headGroupSpec"];
    if !head.is_object() {
        out.push(required(format!("{path}.headGroupSpec")));
    } else if !head["template"].is_object() {
        out.push(required(format!("{path}.headGroupSpec.template")));
    } else {
        pod_template(&format!("{path}.headGroupSpec.template"), &head["template"], out);
        template_types(&format!("{path}.headGroupSpec.template"), &head["template"], out);
        start_params(&format!("{path}.headGroupSpec"), head, out);
    }
    if let Some(v) = spec.get("enableInTreeAutoscaling").filter(|v| !v.is_null() && !v.is_boolean())
    {
        out.push(invalid(format!("{path}.enableInTreeAutoscaling"), v, "must be of type boolean"));
    }
    if let Some(st) = head.get("serviceType").filter(|v| !v.is_null()) {
        if !matches!(
            st.as_str(),
            Some("ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName" | "")
        ) {
            out.push(unsupported(
                format!("{path}.headGroupSpec.serviceType"),
                st,
                &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
            ));
        }
    }
    if let Some(v) = spec.get("rayVersion").filter(|v| !v.is_null() && !v.is_string()) {
        out.push(invalid(format!("{path}.rayVersion"), v, "must be a string"));
    }
    if let Some(mode) = spec.pointer("/authOptions/mode").filter(|v| !v.is_null()) {
        if !matches!(mode.as_str(), Some("disabled" | "token")) {
            out.push(unsupported(format!("{path}.authOptions.mode"), mode, &["disabled", "token"]));
        }
    }
    let mut names: Vec<&str> = Vec::new();
    for (i, g) in spec["workerGroupSpecs"].as_array().into_iter().flatten().enumerate() {
        let p = format!("{path}.workerGroupSpecs[{i}]");
        match g["groupName"].as_str() {
            None | Some("") => out.push(required(format!("{p}.groupName"))),
            Some(n) if names.contains(&n) => out.push(cause(
                "FieldValueDuplicate",
                format!("{p}.groupName"),
                format!("Duplicate value: \"{n}\""),
            )),
            Some(n) => names.push(n),
        }
        for f in ["replicas", "minReplicas", "maxReplicas"] {
            if let Some(v) = g.get(f).filter(|v| !v.is_null()) {
                if !v.as_i64().is_some_and(|n| (0..=i64::from(i32::MAX)).contains(&n)) {
                    out.push(invalid(
                        format!("{p}.{f}"),
                        v,
                        "must be a non-negative 32-bit integer",
                    ));
                }
            }
        }
        if let (Some(min), Some(max)) = (g["minReplicas"].as_i64(), g["maxReplicas"].as_i64()) {
            if min > max {
                out.push(invalid(
                    format!("{p}.minReplicas"),
                    &g["minReplicas"],
                    "minReplicas must not exceed maxReplicas",
                ));
            }
        }
        if !g["template"].is_object() {
            out.push(required(format!("{p}.template")));
        } else {
            pod_template(&format!("{p}.template"), &g["template"], out);
            template_types(&format!("{p}.template"), &g["template"], out);
            start_params(&p, g, out);
        }
    }
}

/// A pod template inside a Ray custom resource, checked as the CRD's schema (generated from the
/// core types) checks it: every field of the type the core PodTemplateSpec has, quantities
/// integers or strings of the quantity grammar.
fn template_types(path: &str, t: &Value, out: &mut Vec<Cause>) {
    let mut t = t.clone();
    for list in ["containers", "initContainers"] {
        let Some(cs) = t["spec"].get_mut(list).and_then(Value::as_array_mut) else { continue };
        for (i, c) in cs.iter_mut().enumerate() {
            for (j, p) in c["ports"].as_array().into_iter().flatten().enumerate() {
                if p.get("containerPort").is_none_or(Value::is_null) {
                    out.push(required(format!("{path}.spec.{list}[{i}].ports[{j}].containerPort")));
                }
            }
            for rl in ["limits", "requests"] {
                let Some(m) =
                    c.pointer_mut(&format!("/resources/{rl}")).and_then(Value::as_object_mut)
                else {
                    continue;
                };
                for (name, q) in m.iter_mut() {
                    let field = format!("{path}.spec.{list}[{i}].resources.{rl}.{name}");
                    match q {
                        Value::Number(n) if n.is_i64() || n.is_u64() => {
                            *q = Value::String(n.to_string())
                        }
                        Value::String(text) if crate::quantity::is_quantity(text) => {}
                        Value::String(_) => {
                            out.push(invalid(field, q, "should match the quantity pattern"));
                            *q = Value::String("0".into());
                        }
                        _ => {
                            out.push(invalid(field, q, "must be of type integer,string"));
                            *q = Value::String("0".into());
                        }
                    }
                }
            }
        }
    }
    if let Err((p, msg)) = roundtrip::<k8s_openapi::api::core::v1::PodTemplateSpec>(&t) {
        out.push(cause(
            "FieldValueTypeInvalid",
            format!("{path}.{p}"),
            format!("Invalid value: {msg}"),
        ));
    }
}

/// `rayStartParams`: a map of strings (null or absent is fine).
fn start_params(path: &str, group: &Value, out: &mut Vec<Cause>) {
    match group.get("rayStartParams") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m.iter().filter(|(_, v)| !v.is_string() && !v.is_null()) {
                out.push(invalid(
                    format!("{path}.rayStartParams.{k}"),
                    v,
                    "must be of type string",
                ));
            }
        }
        Some(other) => {
            out.push(invalid(format!("{path}.rayStartParams"), other, "must be of type object"))
        }
    }
}
