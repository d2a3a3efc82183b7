//! Pod port-forward over WebSocket (`v4.channel.k8s.io`), as the kubelet serves it through the
//! API server: port i uses channel 2i for data and 2i+1 for errors, every binary message is
//! `[channel][payload]`, and each channel first carries its port as u16 little-endian.
//! Connections go to in-process backends (see `backends`).

use super::backends;
use super::catalog;
use super::status::ApiError;
use super::store::EventType;
use super::App;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Frames read from a backend at most this large (big frames make bulk transfers cheap).
const FRAME: usize = 256 * 1024;

fn pods() -> usize {
    catalog::find("", "v1", "pods").unwrap_or(0)
}

pub async fn handle(
    app: Arc<App>,
    req: Request,
    ns: String,
    name: String,
    q: HashMap<String, String>,
) -> Result<Response, ApiError> {
    let pod = app
        .store()
        .get(pods(), &ns, &name)
        .ok_or_else(|| ApiError::not_found("pods", &name, "pods", ""))?;
    if pod.value.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
        return Err(ApiError::bad_request(format!("pod {name} does not have a host assigned")));
    }
    let ports: Vec<u16> = q
        .get("ports")
        .map(|s| s.split(',').filter_map(|p| p.trim().parse().ok()).collect())
        .unwrap_or_default();
    if ports.is_empty() {
        return Err(ApiError::bad_request("query parameter \"ports\" is required"));
    }
    let uid = pod.value.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_string();
    let (mut parts, _) = req.into_parts();
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|e| ApiError::bad_request(format!("unable to upgrade connection: {e}")))?;
    if !ws_offers_v4(&parts.headers) {
        return Err(ApiError::bad_request(
            "unable to upgrade connection: the client must offer v4.channel.k8s.io",
        ));
    }
    Ok(ws
        .protocols(["v4.channel.k8s.io"])
        .max_message_size(64 << 20)
        .on_upgrade(move |socket| session(app, socket, ns, name, uid, ports)))
}

fn ws_offers_v4(h: &axum::http::HeaderMap) -> bool {
    h.get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == "v4.channel.k8s.io")
}

fn frame(ch: u8, payload: &[u8]) -> Message {
    let mut b = BytesMut::with_capacity(payload.len() + 1);
    b.put_u8(ch);
    b.put_slice(payload);
    Message::Binary(b.freeze())
}

async fn session(
    app: Arc<App>,
    socket: WebSocket,
    ns: String,
    pod: String,
    uid: String,
    ports: Vec<u16>,
) {
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<Message>(16);
    let mut deleted = app.store().subscribe();
    app.stats.forwards_opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);

    // Writer: everything to the client goes through one task.
    let writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || close {
                break;
            }
        }
        let _ = sink.close().await;
    });

    let mut writers = Vec::with_capacity(ports.len());
    let mut readers = Vec::new();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(ports.len().max(1));
    for (i, port) in ports.iter().enumerate() {
        let ch = (2 * i) as u8;
        let le = port.to_le_bytes();
        let _ = out_tx.send(frame(ch, &le)).await;
        let _ = out_tx.send(frame(ch + 1, &le)).await;
        match backends::connect(&app, &ns, &pod, *port).await {
            Ok(conn) => {
                let (mut rd, wr) = tokio::io::split(conn);
                writers.push(Some(wr));
                let tx = out_tx.clone();
                let done = done_tx.clone();
                readers.push(tokio::spawn(async move {
                    let mut buf = vec![0u8; FRAME];
                    loop {
                        match rd.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if tx.send(frame(ch, &buf[..n])).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = done.send(()).await;
                }));
            }
            Err(msg) => {
                let text = format!("error forwarding port {port} to pod {pod}, uid {uid}: {msg}");
                let _ = out_tx.send(frame(ch + 1, text.as_bytes())).await;
                writers.push(None);
                let _ = done_tx.send(()).await;
            }
        }
    }
    drop(done_tx);
    let mut open = ports.len();
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(data))) if data.len() > 1 => {
                    let ch = data[0] as usize;
                    if ch.is_multiple_of(2) {
                        if let Some(Some(w)) = writers.get_mut(ch / 2) {
                            if w.write_all(&data[1..]).await.is_err() {
                                writers[ch / 2] = None;
                            }
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            d = done_rx.recv() => {
                if d.is_some() { open -= 1; }
                if open == 0 || d.is_none() {
                    break;
                }
            }
            ev = deleted.recv() => {
                // The pod went away (deleted or replaced): the kubelet drops its streams.
                if let Ok(ev) = ev {
                    if ev.ty == EventType::Deleted && ev.kind == pods() && ev.obj.namespace() == ns && ev.obj.name() == pod {
                        break;
                    }
                }
            }
        }
    }
    for mut w in writers.into_iter().flatten() {
        let _ = w.shutdown().await;
    }
    for r in &readers {
        r.abort();
    }
    let _ = out_tx.send(Message::Close(None)).await;
    drop(out_tx);
    let _ = writer.await;
    let _: Option<Bytes> = None;
}
