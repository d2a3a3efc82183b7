//! Forwards against the demo server: byte-exact bulk transfer both ways, many concurrent
//! connections, a head pod replaced mid-session, RBAC refusal, loopback only, and the token gate
//! (401 without token, 403 for a foreign Host or Origin, token URL → cookie, header for scripts,
//! the cluster's Ray token added upstream and never echoed).

use http_body_util::{BodyExt, Empty};
use raydar::demo::{DemoOptions, DemoServer, DemoUser};
use raydar::forward::{self, ForwardError, ForwardSpec, HeadPort};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn demo() -> (DemoServer, kube::Client) {
    let s = DemoServer::start(DemoOptions::default()).await.unwrap();
    let c = s.client(DemoUser::Admin).await.unwrap();
    (s, c)
}

/// `n` requests on one keep-alive connection; returns how many answered 200.
async fn requests(
    addr: std::net::SocketAddr,
    path: &str,
    n: usize,
    token: Option<String>,
) -> usize {
    let Ok(tcp) = TcpStream::connect(addr).await else { return 0 };
    let Ok((mut send, conn)) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await
    else {
        return 0;
    };
    tokio::spawn(conn);
    let mut ok = 0;
    for _ in 0..n {
        let mut req =
            hyper::Request::get(path).header("host", format!("127.0.0.1:{}", addr.port()));
        if let Some(t) = &token {
            req = req.header("x-raydar-token", t.as_str());
        }
        let req = req.body(Empty::<bytes::Bytes>::new()).unwrap();
        match send.send_request(req).await {
            Ok(r) if r.status() == 200 => {
                ok += usize::from(r.into_body().collect().await.is_ok());
            }
            _ => {}
        }
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_concurrent_connections() {
    let (_s, c) = demo().await;
    // Through the gate (the default for the dashboard), and raw.
    for gate in [true, false] {
        let mut spec = ForwardSpec::new("ray-prod", "train-exposed", HeadPort::Dashboard);
        spec.gate = gate;
        let f = forward::start(c.clone(), spec).await.unwrap();
        assert!(f.local.ip().is_loopback());
        assert_eq!(f.token.is_some(), gate);
        let tasks: Vec<_> = (0..64)
            .map(|_| tokio::spawn(requests(f.local, "/api/version", 100, f.token.clone())))
            .collect();
        let mut ok = 0;
        for t in tasks {
            ok += t.await.unwrap();
        }
        assert_eq!(ok, 6400, "64 connections × 100 requests, 0 errors (gate {gate})");
        assert_eq!(f.stats.total.load(Ordering::Relaxed), 64);
        assert!(f.stats.last_error.lock().unwrap().is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_exact_64_mib_each_way() {
    let (_s, c) = demo().await;
    // The client port of a head is an echo backend in the demo: what goes up comes back down.
    let f = forward::start(c, ForwardSpec::new("ray-prod", "serve-acl", HeadPort::Client))
        .await
        .unwrap();
    let tcp = TcpStream::connect(f.local).await.unwrap();
    let (mut r, mut w) = tcp.into_split();
    const N: usize = 64 << 20;
    let writer = tokio::spawn(async move {
        let mut chunk = vec![0u8; 1 << 20];
        let mut h: u64 = 0xcbf29ce484222325;
        for i in 0..(N >> 20) {
            for (j, b) in chunk.iter_mut().enumerate() {
                *b = ((i * 31 + j * 7) % 251) as u8;
                h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
            }
            w.write_all(&chunk).await.unwrap();
        }
        // No shutdown: the v4 port-forward protocol has no half-close (kube-rs closes the
        // WebSocket when the local writer shuts down), so read everything first.
        (h, w)
    });
    let mut buf = vec![0u8; 1 << 16];
    let (mut got, mut h): (usize, u64) = (0, 0xcbf29ce484222325);
    while got < N {
        let n = tokio::time::timeout(Duration::from_secs(60), r.read(&mut buf))
            .await
            .expect("transfer stalled")
            .unwrap();
        if n == 0 {
            break;
        }
        for b in &buf[..n] {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
        }
        got += n;
    }
    let (sent, _w) = writer.await.unwrap();
    assert_eq!(got, N);
    assert_eq!(h, sent, "bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_pod_replaced_mid_session() {
    let (s, c) = demo().await;
    let mut spec = ForwardSpec::new("ray-prod", "hardened", HeadPort::Client);
    spec.wait = Duration::from_secs(10);
    let f = forward::start(c, spec).await.unwrap();
    let echo = |addr| async move {
        let mut t = TcpStream::connect(addr).await.ok()?;
        t.write_all(b"ping").await.ok()?;
        let mut b = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(15), t.read_exact(&mut b)).await.ok()?.ok()?;
        Some(b)
    };
    assert_eq!(echo(f.local).await, Some(*b"ping"));
    let old = f.stats.pod.lock().unwrap().clone().unwrap();
    let new = s.replace_pod("ray-prod", &old, Duration::from_millis(500)).unwrap();
    // A connection made while the replacement is not Ready waits for it, then works.
    assert_eq!(echo(f.local).await, Some(*b"ping"));
    for _ in 0..20 {
        assert_eq!(echo(f.local).await, Some(*b"ping"));
    }
    assert_eq!(f.stats.pod.lock().unwrap().as_deref(), Some(new.as_str()));
    assert!(f.stats.reconnects.load(Ordering::Relaxed) >= 1);
}

#[tokio::test]
async fn no_ready_head_closes_the_connection_after_the_wait() {
    let (s, c) = demo().await;
    let mut spec = ForwardSpec::new("ray-dev", "notebook", HeadPort::Client);
    spec.wait = Duration::from_millis(300);
    let f = forward::start(c, spec).await.unwrap();
    let old = f.stats.pod.lock().unwrap().clone().unwrap();
    s.replace_pod("ray-dev", &old, Duration::from_secs(3600)).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut t = TcpStream::connect(f.local).await.unwrap();
    let mut b = [0u8; 1];
    let n =
        tokio::time::timeout(Duration::from_secs(5), t.read(&mut b)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "closed without data");
    assert!(f
        .stats
        .last_error
        .lock()
        .unwrap()
        .as_deref()
        .is_some_and(|e| e.contains("no Ready head")));
}

#[tokio::test]
async fn refused_when_forbidden_non_loopback_or_busy() {
    let (s, _) = demo().await;
    let lim = s.client(DemoUser::Limited).await.unwrap();
    let e = forward::start(
        lim.clone(),
        ForwardSpec::new("ray-prod", "train-exposed", HeadPort::Dashboard),
    )
    .await
    .err()
    .unwrap();
    assert!(
        matches!(&e, ForwardError::Forbidden(m) if m.contains("pods/portforward") && m.contains("ray-prod")),
        "{e}"
    );
    // The limited user may forward where it may work.
    assert!(forward::start(lim, ForwardSpec::new("ray-dev", "cowboy", HeadPort::Client))
        .await
        .is_ok());
    let admin = s.client(DemoUser::Admin).await.unwrap();
    let mut spec = ForwardSpec::new("ray-prod", "train-exposed", HeadPort::Dashboard);
    spec.bind = "0.0.0.0".parse().unwrap();
    assert!(matches!(forward::start(admin.clone(), spec).await, Err(ForwardError::NotLoopback(_))));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut spec = ForwardSpec::new("ray-prod", "train-exposed", HeadPort::Dashboard);
    spec.local_port = Some(taken.local_addr().unwrap().port());
    assert!(matches!(forward::start(admin.clone(), spec).await, Err(ForwardError::PortBusy(..))));
    let e = forward::start(admin, ForwardSpec::new("ray-prod", "nope", HeadPort::Dashboard))
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("no head pod"), "{e}");
}

/// One request with the given headers; (status, set-cookie, body).
async fn get(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
) -> (u16, Option<String>, String) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let resp = send.send_request(req.body(Empty::<bytes::Bytes>::new()).unwrap()).await.unwrap();
    let code = resp.status().as_u16();
    let cookie = resp.headers().get("set-cookie").map(|c| c.to_str().unwrap().to_string());
    let body =
        String::from_utf8_lossy(&resp.into_body().collect().await.unwrap().to_bytes()).into_owned();
    (code, cookie, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate() {
    let (s, c) = demo().await;
    let f =
        forward::start(c.clone(), ForwardSpec::new("ray-prod", "hardened", HeadPort::Dashboard))
            .await
            .unwrap();
    let token = f.token.clone().unwrap();
    assert!(f.ray_token, "hardened uses Ray token auth and the admin may read its Secret");
    let host = format!("127.0.0.1:{}", f.local.port());
    let h = |k: &'static str, v: &str| (k, v.to_string());
    // No token: 401 page. Foreign Host (DNS rebinding): 403 even with the token.
    assert_eq!(get(f.local, "GET", "/api/version", &[h("host", &host)]).await.0, 401);
    assert_eq!(
        get(
            f.local,
            "GET",
            "/api/version",
            &[h("host", "evil.example:80"), h("x-raydar-token", &token)]
        )
        .await
        .0,
        403
    );
    assert_eq!(
        get(f.local, "GET", "/api/version", &[h("host", &host), h("x-raydar-token", "wrong")])
            .await
            .0,
        401
    );
    // The sign-in link sets an HttpOnly, SameSite=Strict cookie and redirects to the clean URL.
    let link = f.login_url();
    let path = link.split_once(&f.local.to_string()).unwrap().1.to_string();
    let local_host = [h("host", &format!("localhost:{}", f.local.port()))];
    // The header token is no sign-in link.
    assert_eq!(get(f.local, "GET", &format!("/?raydar_token={token}"), &local_host).await.0, 401);
    let (code, cookie, _) = get(f.local, "GET", &path, &local_host).await;
    assert_eq!(code, 303);
    let cookie = cookie.unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();
    let session = pair.split_once('=').unwrap().1;
    assert!(!link.contains(session) && session != token, "the session is a value of its own");
    let (code, _, body) =
        get(f.local, "GET", "/", &[h("host", &host), h("cookie", &format!("other=1; {pair}"))])
            .await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("hardened"));
    // The link is good once: a second use gets the sign-in page, never the dashboard.
    let (code, cookie, body) = get(f.local, "GET", &path, &local_host).await;
    assert_eq!((code, cookie), (401, None));
    assert!(body.contains("sign in through raydar") && !body.contains("hardened"), "{body}");
    // Neither the link nor a made-up value is a session.
    let name = pair.split_once('=').unwrap().0;
    for bad in [link.rsplit('=').next().unwrap(), "made-up"] {
        let c = [h("host", &host), h("cookie", &format!("{name}={bad}"))];
        assert_eq!(get(f.local, "GET", "/", &c).await.0, 401, "{bad}");
    }
    // Each link is its own: a second one signs in a second browser.
    let second = f.login_url();
    assert_ne!(second, link);
    let path2 = second.split_once(&f.local.to_string()).unwrap().1.to_string();
    assert_eq!(get(f.local, "GET", &path2, &local_host).await.0, 303);
    // The header works for scripts, and the Ray token is added upstream (the demo dashboard
    // answers 401 without it) but never shows up in what comes back.
    let (code, _, body) =
        get(f.local, "GET", "/api/jobs/", &[h("host", &host), h("x-raydar-token", &token)]).await;
    assert_eq!(code, 200, "{body}");
    let secret: k8s_openapi::api::core::v1::Secret =
        kube::api::Api::namespaced(c.clone(), "ray-prod").get("hardened").await.unwrap();
    let ray_token = String::from_utf8(secret.data.unwrap()["auth_token"].0.clone()).unwrap();
    assert!(!body.contains(&ray_token));
    assert!(!f.stats.summary().contains(&ray_token) && !f.stats.summary().contains(&token));
    // A non-GET from a foreign origin is refused; from the forward's own origin it passes.
    let evil = [h("host", &host), h("x-raydar-token", &token), h("origin", "http://evil.example")];
    assert_eq!(get(f.local, "POST", "/api/jobs/", &evil).await.0, 403);
    // Ray's own sign-in (`POST /api/authenticate`, as its UI does) works through the gate, but
    // the cookie in which Ray hands out its token stays behind: the browser never holds it.
    let own = [
        h("host", &host),
        h("x-raydar-token", &token),
        h("origin", &format!("http://127.0.0.1:{}", f.local.port())),
    ];
    let (code, cookie, _) = get(f.local, "POST", "/api/authenticate", &own).await;
    assert_eq!((code, cookie), (200, None));
    // Without the gate the dashboard itself refuses (it wants the Ray token).
    let mut raw = ForwardSpec::new("ray-prod", "hardened", HeadPort::Dashboard);
    raw.gate = false;
    let r = forward::start(c, raw).await.unwrap();
    assert_eq!(get(r.local, "GET", "/api/version", &[h("host", "x")]).await.0, 401);
    // Raw, Ray's sign-in does hand out its cookie (what the gate keeps back above).
    let bearer = [h("host", "x"), h("authorization", &format!("Bearer {ray_token}"))];
    let (code, cookie, _) = get(r.local, "POST", "/api/authenticate", &bearer).await;
    assert_eq!(code, 200);
    assert!(cookie.is_some_and(|c| c.starts_with("ray-authentication-token=")));
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gated_forward_survives_a_head_replacement_with_503_when_none_is_ready() {
    let (s, c) = demo().await;
    let mut spec = ForwardSpec::new("ray-prod", "train-exposed", HeadPort::Dashboard);
    spec.wait = Duration::from_millis(400);
    let f = forward::start(c, spec).await.unwrap();
    let token = f.token.clone().unwrap();
    let hs = [("host", format!("127.0.0.1:{}", f.local.port())), ("x-raydar-token", token)];
    assert_eq!(get(f.local, "GET", "/api/version", &hs).await.0, 200);
    let old = f.stats.pod.lock().unwrap().clone().unwrap();
    s.replace_pod("ray-prod", &old, Duration::from_secs(2)).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Nothing Ready within the wait: a clear 503 page.
    let (code, _, body) = get(f.local, "GET", "/api/version", &hs).await;
    assert_eq!(code, 503, "{body}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    for _ in 0..10 {
        assert_eq!(get(f.local, "GET", "/api/version", &hs).await.0, 200);
    }
    assert!(f.stats.reconnects.load(Ordering::Relaxed) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_upgrades_pass_through_the_gate() {
    let (_s, c) = demo().await;
    let f = forward::start(c, ForwardSpec::new("ray-prod", "train-exposed", HeadPort::Dashboard))
        .await
        .unwrap();
    let token = f.token.clone().unwrap();
    let mut tcp = TcpStream::connect(f.local).await.unwrap();
    let req = format!("GET /api/echo HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Raydar-Token: {token}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n", f.local.port());
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tokio::time::timeout(Duration::from_secs(10), tcp.read_exact(&mut b))
            .await
            .unwrap()
            .unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp.write_all(b"hello through the upgrade").await.unwrap();
    let mut back = [0u8; 25];
    tokio::time::timeout(Duration::from_secs(10), tcp.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"hello through the upgrade");
}

/// Stopping a forward ends access at once: a keep-alive connection that was signed in gets no
/// further answer, raw connections are closed, and the stats count no open connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_forward_closes_its_open_connections() {
    let (_s, c) = demo().await;
    // Gated: one keep-alive connection, answered before the stop, refused after it.
    let f =
        forward::start(c.clone(), ForwardSpec::new("ray-prod", "hardened", HeadPort::Dashboard))
            .await
            .unwrap();
    let (addr, token, stats) = (f.local, f.token.clone().unwrap(), f.stats.clone());
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.unwrap();
    let conn = tokio::spawn(conn);
    let get = || {
        hyper::Request::get("/api/version")
            .header("host", format!("127.0.0.1:{}", addr.port()))
            .header("x-raydar-token", token.as_str())
            .body(Empty::<bytes::Bytes>::new())
            .unwrap()
    };
    let r = send.send_request(get()).await.unwrap();
    assert_eq!(r.status(), 200);
    r.into_body().collect().await.unwrap();
    assert_eq!(stats.open.load(Ordering::Relaxed), 1);
    drop(f);
    // The connection is closed by raydar: the client's connection task ends, and a request on
    // it fails rather than reaching the dashboard.
    let ended = tokio::time::timeout(Duration::from_secs(5), conn).await;
    assert!(ended.is_ok(), "the keep-alive connection stayed open after the stop");
    let again = tokio::time::timeout(Duration::from_secs(5), send.send_request(get())).await;
    assert!(matches!(again, Ok(Err(_))), "answered after the stop: {again:?}");
    for _ in 0..50 {
        if stats.open.load(Ordering::Relaxed) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats.open.load(Ordering::Relaxed), 0);
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is gone");

    // Raw: a connection in the middle of a stream is closed too.
    let mut spec = ForwardSpec::new("ray-prod", "train-exposed", HeadPort::Dashboard);
    spec.gate = false;
    let f = forward::start(c, spec).await.unwrap();
    let mut s = TcpStream::connect(f.local).await.unwrap();
    let req = format!("GET /api/version HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", f.local.port());
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    drop(f);
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true), "the raw connection stayed open after the stop");
}
