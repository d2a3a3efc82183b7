//! The HTTP side of the demo API server: authentication, routing of Kubernetes paths, and the
//! verbs (get, list, watch, create, update, patch, delete) over the store.

use super::auth::{self, Attrs, User};
use super::catalog::{self, kind, Kind, KindId};
use super::discovery as docs;
use super::select::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::Obj;
use super::{portforward, App};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

const MAX_BODY: usize = 32 * 1024 * 1024;

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(super) fn json_response(code: u16, body: impl Into<Body>) -> Response {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

pub(super) fn value_response(code: u16, v: &Value) -> Response {
    json_response(code, serde_json::to_vec(v).unwrap_or_default())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        value_response(self.code, &self.to_json())
    }
}

pub(super) type Query = HashMap<String, String>;

fn parse_query(q: Option<&str>) -> Query {
    url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(super) fn flag(q: &Query, k: &str) -> bool {
    matches!(q.get(k).map(String::as_str), Some("true" | "1"))
}

pub(super) fn dry_run(q: &Query, body: Option<&Value>) -> bool {
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
        return Ok(value_response(200, &docs::version_doc()));
    }
    if matches!(r, Route::Health) {
        return Ok((StatusCode::OK, "ok").into_response());
    }
    let user = authenticate(&app, req.headers())?;
    let accept =
        req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    match r {
        Route::Api => Ok(discovery(&accept, docs::aggregated(true), docs::legacy_api_versions())),
        Route::Apis => Ok(discovery(&accept, docs::aggregated(false), docs::legacy_group_list())),
        Route::Group(g) => {
            docs::legacy_group(&g).map(|d| value_response(200, &d)).ok_or_else(not_found_path)
        }
        Route::GroupVersion(g, v) => {
            docs::resource_list(&g, &v).map(|d| value_response(200, &d)).ok_or_else(not_found_path)
        }
        Route::OpenApiIndex => Ok(value_response(200, &docs::openapi_index())),
        Route::OpenApiDoc(gv) => {
            let doc = docs::openapi_doc(&gv).ok_or_else(not_found_path)?;
            let mut resp = value_response(200, &doc);
            if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", docs::openapi_hash(&gv))) {
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

pub(super) fn content_type(h: &HeaderMap) -> String {
    h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase()
}

pub(super) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request was in an unknown format: {e}"))
    })
}

/// JSON, or YAML for apply patches (`application/apply-patch+yaml` may carry either).
pub(super) fn parse_json_or_yaml(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).or_else(|_| {
        let s = std::str::from_utf8(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
        serde_saphyr::from_str::<Value>(s)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
    })
}

/// The per-request context of a resource verb.
pub(super) struct Ctx {
    pub(super) app: Arc<App>,
    pub(super) k: KindId,
    pub(super) ns: Option<String>,
    pub(super) q: Query,
    pub(super) manager_default: String,
}

pub(super) fn list_kind(kd: &Kind) -> String {
    format!("{}List", kd.kind)
}

pub(super) fn wants_table(accept: &str) -> bool {
    accept.contains("as=Table")
}

pub(super) fn selectors(q: &Query) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let l = LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))
        .map_err(ApiError::bad_request)?;
    let f = FieldSelector::parse(q.get("fieldSelector").map_or("", String::as_str))
        .map_err(ApiError::bad_request)?;
    Ok((l, f))
}

pub(super) fn matches(o: &Obj, l: &LabelSelector, f: &FieldSelector) -> bool {
    (l.is_empty() || l.matches(o.labels())) && f.matches(&o.value)
}

impl Ctx {
    pub(super) fn kd(&self) -> &'static Kind {
        kind(self.k)
    }

    pub(super) fn ns(&self) -> &str {
        self.ns.as_deref().unwrap_or("")
    }

    pub(super) fn not_found(&self, name: &str) -> ApiError {
        let kd = self.kd();
        ApiError::not_found(&kd.qualified(), name, kd.plural, kd.group)
    }
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
}
