//! The demo API server's reads: get, list (with limit/continue and Table output) and watch
//! (with bookmarks, resourceVersion semantics and 410 Gone).

use super::catalog::Kind;
use super::server::{
    flag, json_response, list_kind, matches, selectors, value_response, wants_table, Ctx,
};
use super::status::ApiError;
use super::store::{EventType, Obj};
use super::table;
use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

impl Ctx {
    pub(super) fn get(&self, name: &str, accept: &str) -> Result<Response, ApiError> {
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

    pub(super) fn list(&self, accept: &str) -> Result<Response, ApiError> {
        let (l, f) = selectors(&self.q)?;
        // `resourceVersion=0` (any version) is served whole, as the real server serves it from
        // its watch cache: the limit is ignored.
        let any_version = self.q.get("resourceVersion").is_some_and(|v| v == "0");
        let limit: usize = self
            .q
            .get("limit")
            .and_then(|s| s.parse().ok())
            .filter(|n| *n > 0 && !any_version)
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

    pub(super) fn watch(&self, accept: &str) -> Result<Response, ApiError> {
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
    fn continue_tokens_round_trip() {
        let t = encode_continue(7, "ns", "a");
        assert_eq!(decode_continue(&t).unwrap(), (7, ("ns".into(), "a".into())));
        assert!(decode_continue("!!").is_err());
    }
}
