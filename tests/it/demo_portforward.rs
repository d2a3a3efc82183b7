//! Pod port-forward over WebSocket to the in-process backends, through kube-rs.

use crate::common::{client, server, status};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ListParams};
use raydar::demo::DemoUser;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn head(pods: &Api<Pod>, cluster: &str) -> String {
    let l = pods
        .list(
            &ListParams::default()
                .labels(&format!("ray.io/cluster={cluster},ray.io/node-type=head")),
        )
        .await
        .unwrap();
    l.items[0].metadata.name.clone().unwrap()
}

/// One HTTP/1.1 exchange over a forwarded stream.
async fn http(
    stream: tokio::io::DuplexStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder().method(method).uri(path).header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = send
        .send_request(req.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let text =
        String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (code, text)
}

async fn forward(pods: &Api<Pod>, pod: &str, port: u16) -> tokio::io::DuplexStream {
    let mut pf = pods.portforward(pod, &[port]).await.unwrap();
    pf.take_stream(port).unwrap()
}

#[tokio::test]
async fn dashboard_through_portforward() {
    let s = server().await;
    let pods: Api<Pod> = Api::namespaced(client(&s, DemoUser::Admin).await, "ray-prod");
    let pod = head(&pods, "train-exposed").await;
    let (code, html) = http(forward(&pods, &pod, 8265).await, "GET", "/", &[], "").await;
    assert_eq!(code, 200);
    assert!(html.contains("train-exposed") && html.contains("ray-prod"), "{html}");
    let (code, v) = http(forward(&pods, &pod, 8265).await, "GET", "/api/version", &[], "").await;
    assert_eq!(code, 200);
    assert_eq!(serde_json::from_str::<Value>(&v).unwrap()["ray_version"], "2.54.0");
    let (_, mode) =
        http(forward(&pods, &pod, 8265).await, "GET", "/api/authentication_mode", &[], "").await;
    assert_eq!(serde_json::from_str::<Value>(&mode).unwrap()["authentication_mode"], "disabled");
    let (code, sub) = http(
        forward(&pods, &pod, 8265).await,
        "POST",
        "/api/jobs/",
        &[("content-type", "application/json")],
        r#"{"entrypoint":"echo hi"}"#,
    )
    .await;
    assert_eq!(code, 200, "{sub}");
    let (_, jobs) = http(forward(&pods, &pod, 8265).await, "GET", "/api/jobs/", &[], "").await;
    assert_eq!(serde_json::from_str::<Value>(&jobs).unwrap()[0]["entrypoint"], "echo hi");
}

#[tokio::test]
async fn token_auth_cluster_wants_the_token_from_its_secret() {
    let s = server().await;
    let c = client(&s, DemoUser::Admin).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "ray-prod");
    let pod = head(&pods, "hardened").await;
    let (_, mode) =
        http(forward(&pods, &pod, 8265).await, "GET", "/api/authentication_mode", &[], "").await;
    assert_eq!(serde_json::from_str::<Value>(&mode).unwrap()["authentication_mode"], "token");
    assert_eq!(http(forward(&pods, &pod, 8265).await, "GET", "/api/version", &[], "").await.0, 401);
    assert_eq!(
        http(
            forward(&pods, &pod, 8265).await,
            "GET",
            "/api/version",
            &[("authorization", "Bearer wrong")],
            ""
        )
        .await
        .0,
        403
    );
    let secret: Secret = Api::namespaced(c, "ray-prod").get("hardened").await.unwrap();
    let token = String::from_utf8(secret.data.unwrap()["auth_token"].0.clone()).unwrap();
    let bearer = format!("Bearer {token}");
    assert_eq!(
        http(
            forward(&pods, &pod, 8265).await,
            "GET",
            "/api/version",
            &[("authorization", &bearer)],
            ""
        )
        .await
        .0,
        200
    );
    assert_eq!(
        http(
            forward(&pods, &pod, 8265).await,
            "GET",
            "/api/jobs/",
            &[("x-ray-authorization", &bearer)],
            ""
        )
        .await
        .0,
        200
    );
    let cookie = format!("ray-authentication-token={token}");
    assert_eq!(
        http(forward(&pods, &pod, 8265).await, "GET", "/", &[("cookie", &cookie)], "").await.0,
        200
    );
}

#[tokio::test]
async fn other_ports_echo_bytes_exactly_and_undeclared_ports_are_refused() {
    let s = server().await;
    let pods: Api<Pod> = Api::namespaced(client(&s, DemoUser::Admin).await, "ray-prod");
    let pod = head(&pods, "serve-acl").await;
    let mut st = forward(&pods, &pod, 10001).await;
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (mut r, mut w) = tokio::io::split(&mut st);
    let d2 = data.clone();
    let (_, got) = tokio::join!(
        async move {
            w.write_all(&d2).await.unwrap();
        },
        async move {
            let mut buf = vec![0u8; 1_000_000];
            r.read_exact(&mut buf).await.unwrap();
            buf
        }
    );
    assert_eq!(got, data);
    let mut pf = pods.portforward(&pod, &[9999]).await.unwrap();
    let err = pf.take_error(9999).unwrap().await;
    assert!(err.unwrap_or_default().contains("connection refused"));
}

#[tokio::test]
async fn portforward_is_authorized_and_ends_when_the_pod_goes_away() {
    let s = server().await;
    let lim: Api<Pod> = Api::namespaced(client(&s, DemoUser::Limited).await, "ray-prod");
    let admin: Api<Pod> = Api::namespaced(client(&s, DemoUser::Admin).await, "ray-prod");
    let pod = head(&admin, "train-exposed").await;
    let e = match lim.portforward(&pod, &[8265]).await {
        Err(e) => status(e),
        Ok(_) => panic!("the limited user may not port-forward in ray-prod"),
    };
    assert_eq!(e.code, 403);
    assert!(e.message.contains("cannot create resource \"pods/portforward\""), "{}", e.message);
    let mut st = forward(&admin, &pod, 10001).await;
    st.write_all(b"ping").await.unwrap();
    let mut b = [0u8; 4];
    st.read_exact(&mut b).await.unwrap();
    assert!(s.delete_pod("ray-prod", &pod));
    let mut rest = Vec::new();
    let n =
        tokio::time::timeout(std::time::Duration::from_secs(10), st.read_to_end(&mut rest)).await;
    assert!(n.is_ok(), "the forwarded stream ends when its pod is deleted");
    let gone = status(admin.portforward(&pod, &[8265]).await.err().expect("no pod, no forward"));
    assert_eq!(gone.code, 404);
}
