//! The demo API server's writes: create, update, patch (JSON, merge, strategic and server-side
//! apply), delete and deletecollection, each with dry run, validation and admission.

use super::apply;
use super::catalog::{self};
use super::defaults;
use super::patch::{self, Lists};
use super::server::{
    content_type, dry_run, flag, json_response, list_kind, matches, now_rfc3339, parse_json,
    parse_json_or_yaml, selectors, value_response, Ctx,
};
use super::status::ApiError;
use super::store::{EventType, Obj, Store};
use super::validate::{self, FieldValidation};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::Arc;

impl Ctx {
    fn decode_body(&self, name: &str, body: &Value) -> Result<(Value, Vec<String>), ApiError> {
        let fv = FieldValidation::parse(self.q.get("fieldValidation").map(String::as_str))?;
        validate::decode(self.kd(), name, body, fv)
    }

    fn check_type(&self, body: &Value) -> Result<(), ApiError> {
        let kd = self.kd();
        let av = body["apiVersion"].as_str().unwrap_or("");
        let kn = body["kind"].as_str().unwrap_or("");
        if (!av.is_empty() && av != kd.api_version()) || (!kn.is_empty() && kn != kd.kind) {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                kd.api_version()
            )));
        }
        if let Some(bns) = body.pointer("/metadata/namespace").and_then(Value::as_str) {
            if kd.namespaced && !bns.is_empty() && bns != self.ns() {
                return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
            }
        }
        Ok(())
    }

    pub(super) fn create(&self, headers: &HeaderMap, raw: &[u8]) -> Result<Response, ApiError> {
        let body = if content_type(headers).starts_with("application/vnd.kubernetes.protobuf") {
            super::proto::decode_object(raw)?
        } else {
            parse_json(raw)?
        };
        self.check_type(&body)?;
        let mut name =
            body.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let (mut obj, warnings) = self.decode_body(&name, &body)?;
        if name.is_empty() {
            let prefix =
                body.pointer("/metadata/generateName").and_then(Value::as_str).unwrap_or("");
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    self.kd().kind,
                    "",
                    self.kd().group,
                    vec![super::status::Cause {
                        reason: "FieldValueRequired",
                        field: "metadata.name".into(),
                        message: "Required value: name or generateName is required".into(),
                    }],
                ));
            }
            name = format!("{prefix}{}", random_suffix());
        }
        obj["metadata"]["name"] = json!(name);
        let manager =
            self.q.get("fieldManager").cloned().unwrap_or_else(|| self.manager_default.clone());
        let mut store = self.app.store();
        if store.get(self.k, self.ns(), &name).is_some() {
            let kd = self.kd();
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", kd.qualified()),
            )
            .with_details(&name, kd.plural, kd.group));
        }
        let stored = self.commit(&mut store, obj, None, &manager, dry_run(&self.q, None), None)?;
        Ok(with_warnings(json_response(201, stored.json.clone()), &warnings))
    }

    pub(super) fn replace(
        &self,
        name: &str,
        sub: Option<&str>,
        _h: &HeaderMap,
        raw: &[u8],
    ) -> Result<Response, ApiError> {
        let body = parse_json(raw)?;
        self.check_type(&body)?;
        if body.pointer("/metadata/name").and_then(Value::as_str).is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
        let (mut obj, warnings) = self.decode_body(name, &body)?;
        obj["metadata"]["name"] = json!(name);
        let manager =
            self.q.get("fieldManager").cloned().unwrap_or_else(|| self.manager_default.clone());
        let mut store = self.app.store();
        let old = store.get(self.k, self.ns(), name).ok_or_else(|| self.not_found(name))?;
        if obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ApiError::invalid(
                self.kd().kind,
                name,
                self.kd().group,
                vec![super::status::Cause {
                    reason: "FieldValueInvalid",
                    field: "metadata.resourceVersion".into(),
                    message: "Invalid value: 0x0: must be specified for an update".into(),
                }],
            ));
        }
        let stored =
            self.commit(&mut store, obj, Some(&old), &manager, dry_run(&self.q, None), sub)?;
        Ok(with_warnings(json_response(200, stored.json.clone()), &warnings))
    }

    pub(super) fn patch(
        &self,
        name: &str,
        sub: Option<&str>,
        headers: &HeaderMap,
        raw: &[u8],
    ) -> Result<Response, ApiError> {
        let kd = self.kd();
        let ct = content_type(headers);
        let ct = ct.split(';').next().unwrap_or("").trim().to_string();
        let mut store = self.app.store();
        let old = store.get(self.k, self.ns(), name);
        let now = now_rfc3339();
        let lists = if kd.custom { Lists::Atomic } else { Lists::Keyed };
        let (result, manager, created) = match ct.as_str() {
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                let applied = parse_json_or_yaml(raw)?;
                self.check_type(&applied)?;
                let manager = self.q.get("fieldManager").cloned().unwrap_or_default();
                if manager.is_empty() {
                    return Err(ApiError::new(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"));
                }
                if applied
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n != name)
                {
                    return Err(ApiError::bad_request(
                        "the name of the object does not match the name on the URL",
                    ));
                }
                let (mut applied, _) = self.decode_body(name, &applied)?;
                if let Some(m) = applied.as_object_mut() {
                    if sub != Some("status") && kd.status_subresource {
                        m.remove("status");
                    }
                }
                let force = flag(&self.q, "force");
                let mut r = apply::apply(
                    old.as_ref().map(|o| &o.value),
                    &applied,
                    &manager,
                    force,
                    lists,
                    &now,
                )?;
                r["metadata"]["name"] = json!(name);
                (r, manager, old.is_none())
            }
            _ => {
                let old = old.clone().ok_or_else(|| self.not_found(name))?;
                let p = parse_json(raw)?;
                let mut v = old.value.clone();
                match ct.as_str() {
                    "application/merge-patch+json" => patch::merge_patch(&mut v, &p),
                    "application/json-patch+json" => patch::json_patch(&mut v, &p)?,
                    "application/strategic-merge-patch+json" if kd.custom => {
                        return Err(ApiError::new(415, "UnsupportedMediaType", format!(
                            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (strategic merge patch is not supported by {}, Kind={})", kd.api_version(), kd.kind)));
                    }
                    "application/strategic-merge-patch+json" => {
                        patch::strategic_merge(&mut v, &p, Lists::Keyed)
                    }
                    other => {
                        return Err(ApiError::new(415, "UnsupportedMediaType", format!(
                            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})")));
                    }
                }
                if v.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
                    return Err(ApiError::bad_request(
                        "metadata.name cannot be changed by a patch",
                    ));
                }
                let manager = self
                    .q
                    .get("fieldManager")
                    .cloned()
                    .unwrap_or_else(|| self.manager_default.clone());
                // A resourceVersion in the patch is a precondition; otherwise the stored one.
                let want_rv = p
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                v["metadata"]["resourceVersion"] =
                    json!(want_rv.unwrap_or_else(|| old.rv().to_string()));
                let (clean, _) = self.decode_body(name, &v)?;
                (clean, manager, false)
            }
        };
        let apply = ct.starts_with("application/apply-patch");
        let dry = dry_run(&self.q, None);
        let stored = if apply {
            self.commit_applied(&mut store, result, old.as_ref(), dry, sub, &manager)?
        } else {
            self.commit(&mut store, result, old.as_ref(), &manager, dry, sub)?
        };
        Ok(json_response(if created { 201 } else { 200 }, stored.json.clone()))
    }

    fn commit_applied(
        &self,
        store: &mut Store,
        obj: Value,
        old: Option<&Arc<Obj>>,
        dry: bool,
        sub: Option<&str>,
        _manager: &str,
    ) -> Result<Arc<Obj>, ApiError> {
        self.finish(store, obj, old, None, dry, sub)
    }

    /// Completes a write: server-set metadata, defaults, validation, preconditions, field
    /// ownership, and storage (or only the answer, for a dry run).
    fn commit(
        &self,
        store: &mut Store,
        obj: Value,
        old: Option<&Arc<Obj>>,
        manager: &str,
        dry: bool,
        sub: Option<&str>,
    ) -> Result<Arc<Obj>, ApiError> {
        self.finish(store, obj, old, Some(manager), dry, sub)
    }

    fn finish(
        &self,
        store: &mut Store,
        mut obj: Value,
        old: Option<&Arc<Obj>>,
        update_manager: Option<&str>,
        dry: bool,
        sub: Option<&str>,
    ) -> Result<Arc<Obj>, ApiError> {
        let kd = self.kd();
        let now = now_rfc3339();
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        obj["apiVersion"] = json!(kd.api_version());
        obj["kind"] = json!(kd.kind);
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        if kd.namespaced {
            if store
                .get(catalog::find("", "v1", "namespaces").unwrap_or(0), "", self.ns())
                .is_none()
            {
                return Err(ApiError::not_found("namespaces", self.ns(), "namespaces", ""));
            }
            obj["metadata"]["namespace"] = json!(self.ns());
        } else if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        match old {
            Some(old) => {
                let want =
                    obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("");
                if !want.is_empty() && want != old.rv().to_string() {
                    return Err(ApiError::new(409, "Conflict", format!(
                        "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", kd.qualified()))
                        .with_details(&name, kd.plural, kd.group));
                }
                let ov = &old.value;
                for f in ["uid", "creationTimestamp", "deletionTimestamp", "generation"] {
                    match ov["metadata"].get(f) {
                        Some(v) => obj["metadata"][f] = v.clone(),
                        None => {
                            if let Some(m) = obj["metadata"].as_object_mut() {
                                m.remove(f);
                            }
                        }
                    }
                }
                if sub == Some("status") {
                    let status = obj.get("status").cloned();
                    let mut merged = ov.clone();
                    match status {
                        Some(s) => merged["status"] = s,
                        None => {
                            if let Some(m) = merged.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                    merged["metadata"]["resourceVersion"] =
                        obj["metadata"]["resourceVersion"].clone();
                    obj = merged;
                } else if kd.status_subresource && kd.kind != "Service" {
                    match ov.get("status") {
                        Some(s) => obj["status"] = s.clone(),
                        None => {
                            if let Some(m) = obj.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                }
                if spec_of(&obj) != spec_of(ov) {
                    let g = ov.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
                    obj["metadata"]["generation"] = json!(g + 1);
                }
            }
            None => {
                obj["metadata"]["uid"] = json!(store.next_uid());
                obj["metadata"]["creationTimestamp"] = json!(now);
                if let Some(m) = obj["metadata"].as_object_mut() {
                    m.remove("resourceVersion");
                    m.remove("deletionTimestamp");
                }
                if obj.get("spec").is_some() || kd.custom {
                    obj["metadata"]["generation"] = json!(1);
                }
                if kd.custom && kd.status_subresource {
                    if let Some(m) = obj.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        {
            let mut alloc = self.app.alloc();
            let ov = old.map(|o| &o.value);
            match kd.kind {
                "Service" => defaults::service(&mut obj, ov, &mut alloc),
                "Pod" => defaults::pod(&mut obj, ov, &mut alloc, &now),
                "Namespace" => defaults::namespace(&mut obj),
                _ => {}
            }
        }
        let causes = validate::validate(kd, &obj);
        if !causes.is_empty() {
            return Err(ApiError::invalid(kd.kind, &name, kd.group, causes));
        }
        if let Some(old) = old {
            if kd.kind == "Service" {
                let (a, b) = (old.value.pointer("/spec/clusterIP"), obj.pointer("/spec/clusterIP"));
                if a.is_some() && a != b {
                    return Err(ApiError::invalid(
                        kd.kind,
                        &name,
                        kd.group,
                        vec![super::status::Cause {
                            reason: "FieldValueInvalid",
                            field: "spec.clusterIPs[0]".into(),
                            message: "Invalid value: field is immutable".into(),
                        }],
                    ));
                }
            }
        }
        if let Some(manager) = update_manager {
            let lists = if kd.custom { Lists::Atomic } else { Lists::Keyed };
            apply::record_update(old.map(|o| &o.value), &mut obj, manager, lists, &now);
        }
        if dry {
            if let Some(old) = old {
                obj["metadata"]["resourceVersion"] = json!(old.rv().to_string());
            }
            return Ok(Obj::new(obj));
        }
        let ty = if old.is_some() { EventType::Modified } else { EventType::Added };
        Ok(store.put(self.k, obj, ty))
    }

    pub(super) fn delete(&self, name: &str, raw: &[u8]) -> Result<Response, ApiError> {
        let body: Option<Value> =
            if raw.iter().all(u8::is_ascii_whitespace) { None } else { Some(parse_json(raw)?) };
        let kd = self.kd();
        let mut store = self.app.store();
        let old = store.get(self.k, self.ns(), name).ok_or_else(|| self.not_found(name))?;
        if let Some(pre) =
            body.as_ref().and_then(|b| b.get("preconditions")).filter(|p| p.is_object())
        {
            if let Some(uid) = pre["uid"].as_str() {
                let have = old.value.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
                if uid != have {
                    return Err(ApiError::new(409, "Conflict", format!(
                        "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {uid}, UID in object meta: {have}", kd.qualified())));
                }
            }
            if let Some(rv) = pre["resourceVersion"].as_str() {
                if rv != old.rv().to_string() {
                    return Err(ApiError::new(409, "Conflict", format!(
                        "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}", kd.qualified(), old.rv())));
                }
            }
        }
        let uid = old.value.pointer("/metadata/uid").cloned().unwrap_or(Value::Null);
        let success = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": name, "group": kd.group, "kind": kd.plural, "uid": uid}});
        if dry_run(&self.q, body.as_ref()) {
            return Ok(value_response(200, &success));
        }
        store.remove(self.k, self.ns(), name);
        if kd.kind == "Namespace" {
            for (k, other) in catalog::KINDS.iter().enumerate() {
                if other.namespaced {
                    for o in store.list(k, Some(name)) {
                        store.remove(k, name, o.name());
                    }
                }
            }
        }
        Ok(value_response(200, &success))
    }

    pub(super) fn delete_collection(&self) -> Result<Response, ApiError> {
        let (l, f) = selectors(&self.q)?;
        let kd = self.kd();
        let mut store = self.app.store();
        let ns = self.ns.as_deref().filter(|_| kd.namespaced);
        let victims: Vec<Arc<Obj>> =
            store.list(self.k, ns).into_iter().filter(|o| matches(o, &l, &f)).collect();
        let dry = dry_run(&self.q, None);
        let mut items = Vec::new();
        for o in victims {
            if !dry {
                store.remove(self.k, o.namespace(), o.name());
            }
            items.push(o.value.clone());
        }
        let list = json!({"kind": list_kind(kd), "apiVersion": kd.api_version(),
            "metadata": {"resourceVersion": store.rv().to_string()}, "items": items});
        Ok(value_response(200, &list))
    }
}

fn spec_of(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    c
}

fn with_warnings(mut r: Response, warnings: &[String]) -> Response {
    for w in warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{}\"", w.replace('"', "\\\""))) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    r
}

fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..5).map(|_| char::from(b"bcdfghjklmnpqrstvwxz2456789"[rng.random_range(0..27)])).collect()
}
