//! Forward benchmarks (BENCHMARKS.md, issue #5), medians and ratios from one run, against the
//! in-process demo server: bulk download through `forward --no-gate` and through the gate,
//! relative to direct loopback to the same backend (targets ≥ 30 % and ≥ 25 %); upload through
//! the echo port; new connection → first byte (target ≤ 5 ms median).
//!
//!   cargo bench --bench forward
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common.rs"]
mod common;
use common::{median, ms};

use http_body_util::{BodyExt, Empty};
use raydar::demo::{DemoOptions, DemoServer, DemoUser};
use raydar::forward::{self, ForwardSpec, HeadPort};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// GETs `path` on a new connection; returns (bytes, total time, time to first byte).
async fn fetch(addr: SocketAddr, path: &str, token: Option<&str>) -> (usize, Duration, Duration) {
    let t = Instant::now();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let _ = tcp.set_nodelay(true);
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::get(path).header("host", format!("127.0.0.1:{}", addr.port()));
    if let Some(tk) = token {
        req = req.header("x-raydar-token", tk);
    }
    let resp = send.send_request(req.body(Empty::<bytes::Bytes>::new()).unwrap()).await.unwrap();
    let first = t.elapsed();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut n = 0;
    while let Some(frame) = body.frame().await {
        n += frame.unwrap().data_ref().map_or(0, |d| d.len());
    }
    (n, t.elapsed(), first)
}

/// Echoes `bytes` through `addr` (write and read concurrently); returns the time.
async fn echo(addr: SocketAddr, bytes: usize) -> Duration {
    let t = Instant::now();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = tcp.into_split();
    let writer = tokio::spawn(async move {
        let chunk = vec![7u8; 256 << 10];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            w.write_all(&chunk[..n]).await.unwrap();
            left -= n;
        }
        w
    });
    let mut buf = vec![0u8; 256 << 10];
    let mut got = 0;
    while got < bytes {
        let n = r.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got += n;
    }
    drop(writer.await.unwrap());
    t.elapsed()
}

fn mib_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

#[tokio::main]
async fn main() {
    println!("forward benchmarks (medians of 5)");
    let s = DemoServer::start(DemoOptions::default()).await.unwrap();
    let c = s.client(DemoUser::Admin).await.unwrap();
    let pods: kube::api::Api<k8s_openapi::api::core::v1::Pod> =
        kube::api::Api::namespaced(c.clone(), "ray-prod");
    let head = pods
        .list(
            &kube::api::ListParams::default()
                .labels("ray.io/cluster=train-exposed,ray.io/node-type=head"),
        )
        .await
        .unwrap()
        .items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let (direct_dash, _t1) = s.serve_backend_directly("ray-prod", &head, 8265).await.unwrap();
    let (direct_echo, _t2) = s.serve_backend_directly("ray-prod", &head, 10001).await.unwrap();
    let mut raw_spec = ForwardSpec::new("ray-prod", "train-exposed", HeadPort::Dashboard);
    raw_spec.gate = false;
    let raw = forward::start(c.clone(), raw_spec).await.unwrap();
    let gated = forward::start(
        c.clone(),
        ForwardSpec::new("ray-prod", "train-exposed", HeadPort::Dashboard),
    )
    .await
    .unwrap();
    let token = gated.token.clone().unwrap();
    let echo_fwd =
        forward::start(c.clone(), ForwardSpec::new("ray-prod", "train-exposed", HeadPort::Client))
            .await
            .unwrap();

    // Bulk download: ~64 MiB of log lines.
    let path = "/api/v0/logs/file?node_id=head&filename=raylet.out&lines=600000";
    let mut rates = Vec::new();
    for (label, addr, tk) in [
        ("direct loopback", direct_dash, None),
        ("forward --no-gate", raw.local, None),
        ("forward, gated", gated.local, Some(token.as_str())),
    ] {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..5 {
            let (n, total, _) = fetch(addr, path, tk).await;
            size = n;
            times.push(total);
        }
        let m = median(times);
        let rate = mib_s(size, m);
        rates.push(rate);
        println!(
            "{:<58} {:>8.1} MiB/s ({} MiB in {})",
            format!("download, {label}"),
            rate,
            size >> 20,
            ms(m)
        );
    }
    println!(
        "{:<58} {:>8.2}  (target ≥ 0.30)",
        "ratio forward --no-gate / direct",
        rates[1] / rates[0]
    );
    println!("{:<58} {:>8.2}  (target ≥ 0.25)", "ratio gated / direct", rates[2] / rates[0]);

    // Upload (and echo back) 32 MiB through the client port.
    let n = 32 << 20;
    let mut direct = Vec::new();
    let mut fwd = Vec::new();
    for _ in 0..5 {
        direct.push(echo(direct_echo, n).await);
        fwd.push(echo(echo_fwd.local, n).await);
    }
    let (dm, fm) = (median(direct), median(fwd));
    println!("{:<58} {:>8.1} MiB/s", "echo 32 MiB up and back, direct loopback", mib_s(n, dm));
    println!("{:<58} {:>8.1} MiB/s", "echo 32 MiB up and back, forward (raw)", mib_s(n, fm));
    println!(
        "{:<58} {:>8.2}",
        "ratio forward / direct (upload-bound)",
        mib_s(n, fm) / mib_s(n, dm)
    );

    // New connection → first byte of /api/version.
    for (label, addr, tk) in [
        ("direct loopback", direct_dash, None),
        ("forward --no-gate", raw.local, None),
        ("forward, gated", gated.local, Some(token.as_str())),
    ] {
        let mut firsts = Vec::new();
        for _ in 0..50 {
            firsts.push(fetch(addr, "/api/version", tk).await.2);
        }
        println!("{:<58} {}", format!("new connection → first byte, {label}"), ms(median(firsts)));
    }
}
