//! What listens inside demo pods: the fake Ray dashboard on the head's dashboard port (HTML
//! page, `/api/version`, `/api/jobs/`, `/api/authentication_mode`, `/api/packages/`, with Ray
//! token auth when the cluster has it), and a byte echo on every other declared port.

use super::catalog;
use super::App;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::io::DuplexStream;

const PIPE: usize = 512 * 1024;

/// `--backend NS/CLUSTER=HOST:PORT`: port-forwards to that demo cluster's head dashboard port
/// reach `addr` (loopback only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub namespace: String,
    pub cluster: String,
    pub addr: std::net::SocketAddr,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("--backend {s:?}: expected NAMESPACE/CLUSTER=HOST:PORT");
        let (who, addr) = s.split_once('=').ok_or_else(bad)?;
        let (namespace, cluster) = who.split_once('/').ok_or_else(bad)?;
        if namespace.is_empty() || cluster.is_empty() {
            return Err(bad());
        }
        let addr: std::net::SocketAddr = match addr.strip_prefix("localhost:") {
            Some(port) => {
                let port: u16 = port.parse().map_err(|_| bad())?;
                (std::net::Ipv4Addr::LOCALHOST, port).into()
            }
            None => addr.parse().map_err(|_| bad())?,
        };
        if !addr.ip().is_loopback() {
            return Err(format!("--backend {s:?}: {} is not a loopback address", addr.ip()));
        }
        Ok(Backend { namespace: namespace.into(), cluster: cluster.into(), addr })
    }
}

/// Checks that a backed cluster exists and, when it uses Ray token auth and a token is given,
/// puts the token in the cluster's Secret (as KubeRay keeps it), so that raydar's injection
/// reaches the real Ray behind it.
pub(super) fn back(
    store: &mut super::store::Store,
    b: &Backend,
    token: Option<&str>,
) -> anyhow::Result<()> {
    use base64::Engine;
    let kind = |plural: &str, group: &str| catalog::find(group, "v1", plural).unwrap_or(0);
    let rc =
        store.get(kind("rayclusters", "ray.io"), &b.namespace, &b.cluster).ok_or_else(|| {
            anyhow::anyhow!("--backend: no demo RayCluster {}/{}", b.namespace, b.cluster)
        })?;
    let spec = &rc.value["spec"];
    let token_auth = spec.pointer("/authOptions/mode").and_then(Value::as_str) == Some("token");
    let (Some(token), true) = (token, token_auth) else { return Ok(()) };
    let secret = spec
        .pointer("/authOptions/secretName")
        .and_then(Value::as_str)
        .unwrap_or(&b.cluster)
        .to_string();
    let encoded = base64::engine::general_purpose::STANDARD.encode(token.trim());
    let value = match store.get(kind("secrets", ""), &b.namespace, &secret) {
        Some(s) => {
            let mut v = s.value.clone();
            v["data"]["auth_token"] = Value::String(encoded);
            v
        }
        None => serde_json::json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": secret, "namespace": b.namespace},
            "data": {"auth_token": encoded}}),
    };
    store.put_initial(kind("secrets", ""), value);
    Ok(())
}

/// What a connection to a pod port reaches.
#[derive(Debug, Clone)]
enum Endpoint {
    Dashboard(Dashboard),
    /// A real process on loopback (`--backend`).
    Real(std::net::SocketAddr),
    Echo,
}

/// The fake dashboard's view of its cluster.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub namespace: String,
    pub cluster: String,
    pub ray_version: String,
    /// The Ray auth token when the cluster uses token auth.
    pub token: Option<String>,
}

fn kind_id(plural: &str, group: &str, version: &str) -> usize {
    catalog::find(group, version, plural).unwrap_or(0)
}

/// The container port named `name` or numbered `port` on the pod, if declared.
fn declared(pod: &Value, port: u16) -> Option<String> {
    pod.pointer("/spec/containers")?.as_array()?.iter().find_map(|c| {
        c["ports"].as_array()?.iter().find_map(|p| {
            (p["containerPort"].as_u64() == Some(u64::from(port)))
                .then(|| p["name"].as_str().unwrap_or("").to_string())
        })
    })
}

fn resolve(app: &App, ns: &str, pod: &str, port: u16) -> Result<Endpoint, String> {
    let store = app.store();
    let p = store
        .get(kind_id("pods", "", "v1"), ns, pod)
        .ok_or_else(|| format!("pod {pod} not found"))?;
    let refused = || {
        format!("failed to connect to localhost:{port} inside namespace \"{ns}\", IPv4: dial tcp4 127.0.0.1:{port}: connect: connection refused")
    };
    let port_name = declared(&p.value, port).ok_or_else(refused)?;
    let labels = p.labels();
    let label =
        |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str).unwrap_or("").to_string();
    let is_head = label("ray.io/node-type") == "head";
    if !(is_head && (port_name == "dashboard" || port == 8265)) {
        return Ok(Endpoint::Echo);
    }
    let cluster = label("ray.io/cluster");
    if let Some(b) = app.backends.iter().find(|b| b.namespace == ns && b.cluster == cluster) {
        return Ok(Endpoint::Real(b.addr));
    }
    let rc = store.get(kind_id("rayclusters", "ray.io", "v1"), ns, &cluster);
    let spec = rc.as_ref().map(|o| o.value["spec"].clone()).unwrap_or(Value::Null);
    let head_env = p
        .value
        .pointer("/spec/containers/0/env")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let env = |k: &str| {
        head_env
            .iter()
            .find(|e| e["name"] == k)
            .and_then(|e| e["value"].as_str())
            .map(str::to_string)
    };
    let token_mode = spec.pointer("/authOptions/mode").and_then(Value::as_str) == Some("token")
        || env("RAY_AUTH_MODE").as_deref() == Some("token");
    let token = if token_mode {
        let secret_name = spec
            .pointer("/authOptions/secretName")
            .and_then(Value::as_str)
            .unwrap_or(&cluster)
            .to_string();
        let from_secret = store
            .get(kind_id("secrets", "", "v1"), ns, &secret_name)
            .and_then(|s| {
                s.value.pointer("/data/auth_token").and_then(Value::as_str).map(str::to_string)
            })
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .and_then(|raw| String::from_utf8(raw).ok());
        // Token mode without a readable token: nothing can authenticate, like a real head.
        Some(from_secret.or_else(|| env("RAY_AUTH_TOKEN")).unwrap_or_else(|| "\u{0}unset".into()))
    } else {
        None
    };
    let ray_version = spec["rayVersion"].as_str().unwrap_or("2.54.0").to_string();
    Ok(Endpoint::Dashboard(Dashboard { namespace: ns.into(), cluster, ray_version, token }))
}

/// Opens a connection to `port` of pod `ns/pod`.
pub async fn connect(
    app: &Arc<App>,
    ns: &str,
    pod: &str,
    port: u16,
) -> Result<DuplexStream, String> {
    let target = resolve(app, ns, pod, port)?;
    let (client, server) = tokio::io::duplex(PIPE);
    match target {
        Endpoint::Real(addr) => {
            // Refused like a real pod's port: the port-forward reports it on its error stream.
            let mut tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| {
                format!("failed to connect to {addr} (the --backend of {ns}/{pod}): {e}")
            })?;
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let mut server = server;
                let _ = tokio::io::copy_bidirectional(&mut server, &mut tcp).await;
            });
        }
        Endpoint::Echo => {
            tokio::spawn(async move {
                let (mut r, mut w) = tokio::io::split(server);
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
        Endpoint::Dashboard(d) => {
            let app = app.clone();
            let d = Arc::new(d);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let (app, d) = (app.clone(), d.clone());
                    async move { Ok::<_, std::convert::Infallible>(dashboard(&app, &d, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(server), svc)
                    .with_upgrades()
                    .await;
            });
        }
    }
    Ok(client)
}

type Resp = Response<Full<Bytes>>;

fn reply(code: u16, ct: &str, body: impl Into<Bytes>) -> Resp {
    Response::builder()
        .status(code)
        .header("content-type", ct)
        .body(Full::new(body.into()))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn json_reply(code: u16, v: &Value) -> Resp {
    reply(code, "application/json", serde_json::to_vec(v).unwrap_or_default())
}

/// Ray's token check: `Authorization`, then `X-Ray-Authorization`, then the cookie.
fn presented_token(req: &Request<Incoming>) -> Option<String> {
    let h = |k: &str| req.headers().get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    h("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
        .or_else(|| {
            h("x-ray-authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
        })
        .or_else(|| {
            h("cookie").and_then(|c| {
                c.split(';').find_map(|kv| {
                    kv.trim().strip_prefix("ray-authentication-token=").map(str::to_string)
                })
            })
        })
}

async fn dashboard(app: &App, d: &Dashboard, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if path == "/api/authentication_mode" {
        let mode = if d.token.is_some() { "token" } else { "disabled" };
        return json_reply(200, &json!({"authentication_mode": mode}));
    }
    if let Some(want) = &d.token {
        match presented_token(&req) {
            None => {
                return json_reply(
                    401,
                    &json!({"error": "Unauthorized: missing authentication token"}),
                )
            }
            Some(t) if !constant_time_eq(t.as_bytes(), want.as_bytes()) => {
                return json_reply(
                    403,
                    &json!({"error": "Forbidden: invalid authentication token"}),
                )
            }
            Some(_) => {}
        }
    }
    let key = format!("{}/{}", d.namespace, d.cluster);
    // A protocol upgrade that echoes bytes (how tests see that upgrades, WebSockets' included,
    // pass through a forward): `Upgrade: echo` → 101, then every byte comes back.
    if req.headers().get("upgrade").and_then(|v| v.to_str().ok()) == Some("echo") {
        let mut req = req;
        let on = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(up) = on.await {
                let io = hyper_util::rt::TokioIo::new(up);
                let (mut r, mut w) = tokio::io::split(io);
                let _ = tokio::io::copy(&mut r, &mut w).await;
            }
        });
        return Response::builder()
            .status(101)
            .header("connection", "upgrade")
            .header("upgrade", "echo")
            .body(Full::new(Bytes::new()))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
    }
    match (method.as_str(), path.as_str()) {
        // As Ray ≥ 2.52: a valid token is exchanged for an HttpOnly cookie holding it.
        ("POST", "/api/authenticate") => match (&d.token, presented_token(&req)) {
            (Some(t), Some(_)) => {
                let mut r = json_reply(200, &json!({"message": "Successfully authenticated"}));
                let cookie = format!("ray-authentication-token={t}; HttpOnly; SameSite=Strict; Path=/");
                if let Ok(v) = hyper::header::HeaderValue::from_str(&cookie) {
                    r.headers_mut().insert(hyper::header::SET_COOKIE, v);
                }
                r
            }
            _ => json_reply(200, &json!({"message": "authentication is disabled"})),
        },
        ("GET", "/") | ("GET", "/index.html") => reply(200, "text/html; charset=utf-8", format!(
            "<!doctype html><html><head><title>Ray Dashboard</title></head><body><h1>Ray Dashboard</h1>\
             <p>cluster <b>{}</b> in namespace <b>{}</b>, Ray {}</p></body></html>",
            d.cluster, d.namespace, d.ray_version)),
        ("GET", "/api/version") => json_reply(200, &json!({"version": "4", "ray_version": d.ray_version,
            "ray_commit": "0000000000000000000000000000000000000000", "session_name": format!("session_{}", d.cluster)})),
        ("GET", "/api/jobs/") | ("GET", "/api/jobs") => {
            let jobs = app.jobs.lock().map(|j| j.get(&key).cloned().unwrap_or_default()).unwrap_or_default();
            json_reply(200, &Value::Array(jobs))
        }
        ("POST", "/api/jobs/") | ("POST", "/api/jobs") => {
            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let Ok(spec) = serde_json::from_slice::<Value>(&body) else {
                return json_reply(400, &json!({"error": "request body is not JSON"}));
            };
            let Some(entrypoint) = spec["entrypoint"].as_str() else {
                return json_reply(400, &json!({"error": "entrypoint is required"}));
            };
            let Ok(mut jobs) = app.jobs.lock() else { return json_reply(500, &json!({})) };
            let list = jobs.entry(key).or_default();
            let id = format!("raysubmit_{:016}", list.len() + 1);
            let sid = spec["submission_id"].as_str().map(str::to_string).unwrap_or_else(|| id.clone());
            list.push(json!({"type": "SUBMISSION", "job_id": id, "submission_id": sid, "entrypoint": entrypoint,
                "status": "PENDING", "message": "Job has not started yet.", "metadata": spec["metadata"]}));
            json_reply(200, &json!({"job_id": id, "submission_id": sid}))
        }
        ("GET", "/api/v0/logs/file") => {
            // Ray's log API: `lines` lines of the file, streamed (bulk downloads in tests).
            let q = req.uri().query().unwrap_or("");
            let lines: usize = url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "lines")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(1000)
                .min(10_000_000);
            let line = format!("{} INFO worker.py:1 -- {} log line padding padding padding padding padding padding\n", d.cluster, d.namespace);
            let mut body = String::with_capacity(line.len() * lines);
            for _ in 0..lines {
                body.push_str(&line);
            }
            reply(200, "text/plain; charset=utf-8", body)
        }
        ("PUT", p) if p.starts_with("/api/packages/") => {
            let mut body = req.into_body();
            let mut n: u64 = 0;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => n += f.data_ref().map_or(0, |d| d.len() as u64),
                    Err(_) => return json_reply(400, &json!({"error": "upload interrupted"})),
                }
            }
            if let Ok(mut p2) = app.packages.lock() {
                p2.insert(format!("{key}{p}"), n);
            }
            json_reply(200, &json!({"result": true, "msg": format!("Successfully uploaded {n} bytes"), "data": {"bytes": n}}))
        }
        ("GET", p) if p.starts_with("/api/packages/") => {
            let size = app.packages.lock().ok().and_then(|m| m.get(&format!("{key}{p}")).copied());
            match size {
                Some(n) => json_reply(200, &json!({"result": true, "data": {"bytes": n}})),
                None => json_reply(404, &json!({"result": false, "msg": "package not found"})),
            }
        }
        _ => json_reply(404, &json!({"error": format!("{path} not found")})),
    }
}

/// Compares without an early exit, so timing does not reveal how much of a token matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
