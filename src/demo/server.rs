//! The HTTP side of the demo API server: authentication, routing of Kubernetes paths, and the
//! verbs (get, list, watch, create, update, patch, delete) over the store.

use super::auth::{self, Attrs, User};
use super::catalog::{self, kind, Kind, KindId};
use super::defaults;
use super::patch::{self, Lists};
use super::select::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{EventType, Obj, Store};
use super::table;
use super::validate::{self, FieldValidation};
use super::{portforward, App};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

const MAX_BODY: usize = 32 * 1024 * 1024;

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn json_response(code: u16, body: impl Into<Body>) -> Response {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn value_response(code: u16, v: &Value) -> Response {
    json_response(code, serde_json::to_vec(v).unwrap_or_default())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        value_response(self.code, &self.to_json())
    }
}

type Query = HashMap<String, String>;

fn parse_query(q: Option<&str>) -> Query {
    url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn flag(q: &Query, k: &str) -> bool {
    matches!(q.get(k).map(String::as_str), Some("true" | "1"))
}

fn dry_run(q: &Query, body: Option<&Value>) -> bool {
    q.get("dryRun").is_some_and(|v| v == "All")
        || body.and_then(|b| b["dryRun"].as_array()).is_some_and(|a| a.iter().any(|v| v == "All"))
}

/// Where a request goes.
#[derive(Debug)]
enum Route {
    Version,
    Health,
    Api,
    Apis,
    Group(String),
    GroupVersion(String, String),
    OpenApiIndex,
    OpenApiDoc(String),
    Resource { kind: KindId, ns: Option<String>, name: Option<String>, sub: Option<String> },
    NotFound,
}

fn route(path: &str) -> Route {
    let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "readyz" | "livez", ..] => Route::Health,
        ["api"] => Route::Api,
        ["api", v] => Route::GroupVersion(String::new(), v.to_string()),
        ["api", v, rest @ ..] => resource_route("", v, rest),
        ["apis"] => Route::Apis,
        ["apis", g] => Route::Group(g.to_string()),
        ["apis", g, v] => Route::GroupVersion(g.to_string(), v.to_string()),
        ["apis", g, v, rest @ ..] => resource_route(g, v, rest),
        ["openapi", "v3"] => Route::OpenApiIndex,
        ["openapi", "v3", rest @ ..] => Route::OpenApiDoc(rest.join("/")),
        _ => Route::NotFound,
    }
}

fn resource_route(g: &str, v: &str, rest: &[&str]) -> Route {
    let s = |x: &&str| x.to_string();
    if let ["namespaces", ns, plural, tail @ ..] = rest {
        if let Some(k) = catalog::find(g, v, plural).filter(|k| kind(*k).namespaced) {
            return Route::Resource {
                kind: k,
                ns: Some(ns.to_string()),
                name: tail.first().map(s),
                sub: tail.get(1).map(s),
            };
        }
    }
    match rest {
        [plural, tail @ ..] if tail.len() <= 2 => match catalog::find(g, v, plural) {
            Some(k) => Route::Resource {
                kind: k,
                ns: None,
                name: tail.first().map(s),
                sub: tail.get(1).map(s),
            },
            None => Route::NotFound,
        },
        _ => Route::NotFound,
    }
}

fn authenticate(app: &App, headers: &HeaderMap) -> Result<User, ApiError> {
    let unauthorized = || ApiError::new(401, "Unauthorized", "Unauthorized");
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    let user =
        app.users.iter().find(|u| u.token == token.trim()).cloned().ok_or_else(unauthorized)?;
    match headers.get("impersonate-user").and_then(|v| v.to_str().ok()) {
        None => Ok(user),
        Some(target) => {
            let may = user.allowed(&Attrs {
                verb: "impersonate".into(),
                resource: "users".into(),
                ..Default::default()
            });
            if !may {
                return Err(ApiError::new(403, "Forbidden", format!(
                    "users \"{target}\" is forbidden: User \"{}\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope", user.name)));
            }
            Ok(app
                .users
                .iter()
                .find(|u| u.name == target)
                .cloned()
                .unwrap_or_else(|| User::nobody(target)))
        }
    }
}

/// The entry point for every request.
pub async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let (latency, injected) = app.take_fault(req.method(), req.uri().path());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(code) = injected {
        return ApiError::new(code, reason_for(code), format!("injected fault: {code}"))
            .into_response();
    }
    match dispatch(app, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}

async fn dispatch(app: Arc<App>, req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path().to_string();
    let q = parse_query(req.uri().query());
    let r = route(&path);
    // The gcloud kubectl dispatcher probes /version before every command: answer it openly,
    // like a server with anonymous discovery.
    if matches!(r, Route::Version) {
        return Ok(value_response(200, &catalog::version_doc()));
    }
    if matches!(r, Route::Health) {
        return Ok((StatusCode::OK, "ok").into_response());
    }
    let user = authenticate(&app, req.headers())?;
    let accept =
        req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    match r {
        Route::Api => {
            Ok(discovery(&accept, catalog::aggregated(true), catalog::legacy_api_versions()))
        }
        Route::Apis => {
            Ok(discovery(&accept, catalog::aggregated(false), catalog::legacy_group_list()))
        }
        Route::Group(g) => {
            catalog::legacy_group(&g).map(|d| value_response(200, &d)).ok_or_else(not_found_path)
        }
        Route::GroupVersion(g, v) => catalog::resource_list(&g, &v)
            .map(|d| value_response(200, &d))
            .ok_or_else(not_found_path),
        Route::OpenApiIndex => Ok(value_response(200, &catalog::openapi_index())),
        Route::OpenApiDoc(gv) => {
            let doc = catalog::openapi_doc(&gv).ok_or_else(not_found_path)?;
            let mut resp = value_response(200, &doc);
            if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", catalog::openapi_hash(&gv)))
            {
                resp.headers_mut().insert(header::ETAG, etag);
            }
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, immutable"));
            Ok(resp)
        }
        Route::Resource { kind: k, ns, name, sub } => {
            resource(app, req, user, q, accept, k, ns, name, sub).await
        }
        Route::Version | Route::Health | Route::NotFound => Err(not_found_path()),
    }
}

fn not_found_path() -> ApiError {
    ApiError::new(404, "NotFound", "the server could not find the requested resource")
}

fn discovery(accept: &str, aggregated: Value, legacy: Value) -> Response {
    if accept.contains("g=apidiscovery.k8s.io")
        && accept.contains("v=v2")
        && accept.contains("as=APIGroupDiscoveryList")
    {
        let mut r = value_response(200, &aggregated);
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
            ),
        );
        r
    } else {
        value_response(200, &legacy)
    }
}

fn verb_for(method: &Method, name: bool, watch: bool) -> &'static str {
    match (method, name) {
        (&Method::GET, _) if watch => "watch",
        (&Method::GET, true) => "get",
        (&Method::GET, false) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => "unknown",
    }
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    app: Arc<App>,
    req: Request,
    user: User,
    q: Query,
    accept: String,
    k: KindId,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
) -> Result<Response, ApiError> {
    let kd = kind(k);
    let method = req.method().clone();
    let watch = flag(&q, "watch");
    if let Some(s) = sub.as_deref() {
        let ok =
            s == "status" && kd.status_subresource || s == "portforward" && kd.plural == "pods";
        if !ok {
            return Err(not_found_path());
        }
    }
    let is_pf = sub.as_deref() == Some("portforward");
    let verb = if is_pf { "create" } else { verb_for(&method, name.is_some(), watch) };
    let attrs = Attrs {
        verb: verb.into(),
        group: kd.group.into(),
        resource: kd.plural.into(),
        subresource: sub.clone().unwrap_or_default(),
        namespace: ns.clone(),
        name: name.clone().unwrap_or_default(),
    };
    if kd.create_only {
        if method != Method::POST || name.is_some() {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                format!(
                    "the server does not allow this method on the requested resource ({})",
                    kd.plural
                ),
            ));
        }
        let (headers, body) = read_body(req).await?;
        let ct = content_type(&headers);
        if kd.kind == "SelfSubjectReview" {
            return Ok(value_response(201, &auth::self_review(&user)));
        }
        let review = if ct.starts_with("application/vnd.kubernetes.protobuf") {
            auth::decode_review_protobuf(&body)?
        } else {
            parse_json(&body)?
        };
        let answer = if kd.kind == "SelfSubjectAccessReview" {
            auth::access_review(&user, &review)
        } else {
            auth::rules_review(&user, &review)
        };
        return Ok(value_response(201, &answer));
    }
    user.check(&attrs)?;
    if is_pf {
        let (ns, name) = (ns.unwrap_or_default(), name.unwrap_or_default());
        return portforward::handle(app, req, ns, name, q).await;
    }
    let manager_default = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_string();
    let ctx = Ctx { app, k, ns, q, manager_default };
    match (method, name) {
        (Method::GET, None) if watch => ctx.watch(&accept),
        (Method::GET, None) => ctx.list(&accept),
        (Method::GET, Some(n)) => ctx.get(&n, &accept),
        (Method::POST, None) => {
            let (headers, body) = read_body(req).await?;
            ctx.create(&headers, &body)
        }
        (Method::PUT, Some(n)) => {
            let (headers, body) = read_body(req).await?;
            ctx.replace(&n, sub.as_deref(), &headers, &body)
        }
        (Method::PATCH, Some(n)) => {
            let (headers, body) = read_body(req).await?;
            ctx.patch(&n, sub.as_deref(), &headers, &body)
        }
        (Method::DELETE, Some(n)) => {
            let (_, body) = read_body(req).await?;
            ctx.delete(&n, &body)
        }
        (Method::DELETE, None) => ctx.delete_collection(),
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )),
    }
}

async fn read_body(req: Request) -> Result<(HeaderMap, Bytes), ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| ApiError::new(413, "RequestEntityTooLarge", format!("request body: {e}")))?;
    Ok((parts.headers, bytes))
}

fn content_type(h: &HeaderMap) -> String {
    h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase()
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request was in an unknown format: {e}"))
    })
}

/// JSON, or YAML for apply patches (`application/apply-patch+yaml` may carry either).
fn parse_json_or_yaml(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).or_else(|_| {
        let s = std::str::from_utf8(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
        serde_saphyr::from_str::<Value>(s)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
    })
}

/// The per-request context of a resource verb.
struct Ctx {
    app: Arc<App>,
    k: KindId,
    ns: Option<String>,
    q: Query,
    manager_default: String,
}

fn list_kind(kd: &Kind) -> String {
    format!("{}List", kd.kind)
}

fn wants_table(accept: &str) -> bool {
    accept.contains("as=Table")
}

fn selectors(q: &Query) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let l = LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))
        .map_err(ApiError::bad_request)?;
    let f = FieldSelector::parse(q.get("fieldSelector").map_or("", String::as_str))
        .map_err(ApiError::bad_request)?;
    Ok((l, f))
}

fn matches(o: &Obj, l: &LabelSelector, f: &FieldSelector) -> bool {
    (l.is_empty() || l.matches(o.labels())) && f.matches(&o.value)
}

impl Ctx {
    fn kd(&self) -> &'static Kind {
        kind(self.k)
    }

    fn ns(&self) -> &str {
        self.ns.as_deref().unwrap_or("")
    }

    fn not_found(&self, name: &str) -> ApiError {
        let kd = self.kd();
        ApiError::not_found(&kd.qualified(), name, kd.plural, kd.group)
    }

    fn get(&self, name: &str, accept: &str) -> Result<Response, ApiError> {
        let obj =
            self.app.store().get(self.k, self.ns(), name).ok_or_else(|| self.not_found(name))?;
        if wants_table(accept) {
            let t = table::table(
                self.kd(),
                &[&obj.value],
                true,
                json!({"resourceVersion": obj.rv().to_string()}),
            );
            return Ok(value_response(200, &t));
        }
        Ok(json_response(200, obj.json.clone()))
    }

    fn list(&self, accept: &str) -> Result<Response, ApiError> {
        let (l, f) = selectors(&self.q)?;
        let limit: usize = self
            .q
            .get("limit")
            .and_then(|s| s.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(usize::MAX);
        let cont = self.q.get("continue").filter(|s| !s.is_empty());
        let ns = self.ns.as_deref().filter(|_| self.kd().namespaced);
        let (rv, candidates) = {
            let store = self.app.store();
            match cont {
                None => (store.rv(), store.list(self.k, ns)),
                Some(token) => {
                    let (rv, key) = decode_continue(token)?;
                    if rv < store.compacted() && store.rv() != rv {
                        // Like etcd after compaction: the snapshot of this list is gone.
                        return Err(ApiError::new(410, "Expired", "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."));
                    }
                    (rv, store.list_after(self.k, ns, &key))
                }
            }
        };
        let mut items: Vec<Arc<Obj>> = Vec::new();
        let mut more = false;
        let mut remaining = 0usize;
        for o in candidates.iter().filter(|o| matches(o, &l, &f)) {
            if items.len() < limit {
                items.push(o.clone());
            } else {
                more = true;
                remaining += 1;
            }
        }
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if more {
            if let Some(last) = items.last() {
                meta["continue"] = json!(encode_continue(rv, last.namespace(), last.name()));
                if l.is_empty() && self.q.get("fieldSelector").is_none_or(String::is_empty) {
                    meta["remainingItemCount"] = json!(remaining);
                }
            }
        }
        if wants_table(accept) {
            let vals: Vec<&Value> = items.iter().map(|o| &o.value).collect();
            return Ok(value_response(200, &table::table(self.kd(), &vals, true, meta)));
        }
        let kd = self.kd();
        let size: usize = items.iter().map(|o| o.json.len() + 1).sum();
        let mut buf = BytesMut::with_capacity(size + 256);
        buf.put_slice(
            format!(
                "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
                list_kind(kd),
                kd.api_version(),
                meta
            )
            .as_bytes(),
        );
        for (i, o) in items.iter().enumerate() {
            if i > 0 {
                buf.put_u8(b',');
            }
            buf.put_slice(&o.json);
        }
        buf.put_slice(b"]}");
        Ok(json_response(200, buf.freeze()))
    }

    fn watch(&self, accept: &str) -> Result<Response, ApiError> {
        let (l, f) = selectors(&self.q)?;
        let timeout = self
            .q
            .get("timeoutSeconds")
            .and_then(|s| s.parse::<u64>().ok())
            .map(Duration::from_secs);
        let bookmarks = flag(&self.q, "allowWatchBookmarks");
        let initial_events = flag(&self.q, "sendInitialEvents");
        let rv_param = self.q.get("resourceVersion").cloned().unwrap_or_default();
        let ns = self.ns.clone().filter(|_| self.kd().namespaced);
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(256);
        let table_mode = wants_table(accept);
        let k = self.k;
        let kd = self.kd();
        let mut enc = Encoder { kd, table: table_mode, first: true };

        let store = self.app.store();
        let mut initial: Vec<Bytes> = Vec::new();
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let from_rv;
        let mut live;
        let mut past = Vec::new();
        let expired;
        if rv_param.is_empty() || rv_param == "0" || initial_events {
            for o in store.list(k, ns.as_deref()).iter().filter(|o| matches(o, &l, &f)) {
                seen.insert((o.namespace().into(), o.name().into()));
                initial.push(enc.event("ADDED", o));
            }
            from_rv = store.rv();
            live = store.subscribe();
            expired = false;
            if initial_events && bookmarks {
                initial.push(bookmark_line(kd, from_rv, true));
            }
        } else {
            let rv: u64 = rv_param.parse().unwrap_or(0);
            from_rv = rv;
            match store.subscribe_from(rv) {
                Ok((p, rx)) => {
                    past = p;
                    live = rx;
                    expired = false;
                    for o in store
                        .list(k, ns.as_deref())
                        .iter()
                        .filter(|o| o.rv() <= rv && matches(o, &l, &f))
                    {
                        seen.insert((o.namespace().into(), o.name().into()));
                    }
                }
                Err(()) => {
                    live = store.subscribe();
                    expired = true;
                }
            }
        }
        let compacted = store.compacted();
        drop(store);
        let mut cut = self.app.cut_watches.subscribe();

        tokio::spawn(async move {
            let send = |b: Bytes| {
                let tx = tx.clone();
                async move { tx.send(Ok(b)).await.is_ok() }
            };
            if expired {
                let _ = send(gone_line(from_rv, compacted)).await;
                return;
            }
            for b in initial {
                if !send(b).await {
                    return;
                }
            }
            let mut last_rv = from_rv;
            let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
            let mut filter = |ev: &super::store::Event, enc: &mut Encoder| -> Option<Bytes> {
                last_rv = last_rv.max(ev.rv);
                if ev.kind != k || ns.as_deref().is_some_and(|n| n != ev.obj.namespace()) {
                    return None;
                }
                let key = (ev.obj.namespace().to_string(), ev.obj.name().to_string());
                let now_matches = matches(&ev.obj, &l, &f);
                let was = seen.contains(&key);
                let ty = match ev.ty {
                    EventType::Deleted if was || now_matches => "DELETED",
                    EventType::Deleted => return None,
                    _ if now_matches && was => "MODIFIED",
                    _ if now_matches => "ADDED",
                    _ if was => "DELETED",
                    _ => return None,
                };
                if ty == "DELETED" {
                    seen.remove(&key);
                } else {
                    seen.insert(key);
                }
                Some(enc.event(ty, &ev.obj))
            };
            for ev in past {
                if let Some(b) = filter(&ev, &mut enc) {
                    if !send(b).await {
                        return;
                    }
                }
            }
            loop {
                let sleep = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    ev = live.recv() => match ev {
                        Ok(ev) => {
                            if ev.rv <= from_rv { continue; }
                            if let Some(b) = filter(&ev, &mut enc) {
                                if !send(b).await { return; }
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            let _ = send(gone_line(last_rv, last_rv + 1)).await;
                            return;
                        }
                        Err(_) => return,
                    },
                    _ = sleep => {
                        if bookmarks {
                            let _ = send(bookmark_line(kd, last_rv, false)).await;
                        }
                        return;
                    }
                    _ = cut.changed() => return,
                    _ = tx.closed() => return,
                }
            }
        });
        let stream = tokio_stream_from(rx);
        Ok(Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CACHE_CONTROL, "no-cache, private")
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
    }

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

    fn create(&self, headers: &HeaderMap, raw: &[u8]) -> Result<Response, ApiError> {
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

    fn replace(
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

    fn patch(
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
                let mut r = patch::apply(
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
            patch::record_update(old.map(|o| &o.value), &mut obj, manager, lists, &now);
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

    fn delete(&self, name: &str, raw: &[u8]) -> Result<Response, ApiError> {
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

    fn delete_collection(&self) -> Result<Response, ApiError> {
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

fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    let raw = json!({"v": "meta.k8s.io/v1", "rv": rv, "ns": ns, "name": name}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> Result<(u64, (String, String)), ApiError> {
    let bad = || ApiError::bad_request("continue key is not valid: invalid token");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v["rv"].as_u64().ok_or_else(bad)?;
    Ok((rv, (v["ns"].as_str().unwrap_or("").into(), v["name"].as_str().unwrap_or("").into())))
}

/// Serialises watch events, as JSON objects or (for kubectl's Table Accept) as Tables.
struct Encoder {
    kd: &'static Kind,
    table: bool,
    first: bool,
}

impl Encoder {
    fn event(&mut self, ty: &str, o: &Obj) -> Bytes {
        let mut buf = BytesMut::with_capacity(o.json.len() + 32);
        buf.put_slice(b"{\"type\":\"");
        buf.put_slice(ty.as_bytes());
        buf.put_slice(b"\",\"object\":");
        if self.table {
            let t = table::table(
                self.kd,
                &[&o.value],
                self.first,
                json!({"resourceVersion": o.rv().to_string()}),
            );
            self.first = false;
            buf.put_slice(&serde_json::to_vec(&t).unwrap_or_default());
        } else {
            buf.put_slice(&o.json);
        }
        buf.put_slice(b"}\n");
        buf.freeze()
    }
}

fn bookmark_line(kd: &Kind, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let line = json!({"type": "BOOKMARK", "object": {"kind": kd.kind, "apiVersion": kd.api_version(), "metadata": meta}});
    let mut v = serde_json::to_vec(&line).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn gone_line(rv: u64, current: u64) -> Bytes {
    let status =
        ApiError::new(410, "Expired", format!("too old resource version: {rv} ({current})"));
    let mut v = serde_json::to_vec(&json!({"type": "ERROR", "object": status.to_json()}))
        .unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(matches!(
            route("/api/v1/namespaces/x/pods"),
            Route::Resource { ns: Some(_), name: None, .. }
        ));
        assert!(matches!(
            route("/api/v1/namespaces/x"),
            Route::Resource { ns: None, name: Some(_), .. }
        ));
        assert!(matches!(
            route("/api/v1/namespaces/x/pods/p/portforward"),
            Route::Resource { sub: Some(_), .. }
        ));
        assert!(matches!(
            route("/apis/ray.io/v1/rayclusters"),
            Route::Resource { ns: None, name: None, .. }
        ));
        assert!(matches!(route("/apis/ray.io/v1"), Route::GroupVersion(..)));
        assert!(matches!(route("/apis/nope.io/v1/things"), Route::NotFound));
    }

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue(7, "ns", "a");
        assert_eq!(decode_continue(&t).unwrap(), (7, ("ns".into(), "a".into())));
        assert!(decode_continue("!!").is_err());
    }
}
