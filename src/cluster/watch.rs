//! A kind's objects, listed then watched, as kube-runtime's `watcher` hands them on — with the
//! list read from the API server's watch cache and taken apart as it streams in.
//!
//! Why not kube-runtime's `watcher`: it lists either in consistent pages (read from etcd: on a
//! real server the slowest of all requests, every custom resource decoded from JSON) or, from
//! the watch cache (`resourceVersion=0`, as client-go's informers list), in one response that it
//! holds whole — 43 MB of text and every object at once for 20,000 pods — before the first
//! object is handed on. Here that response is read piece by piece: each item is parsed as soon
//! as its last byte is in, handed on, and its text dropped, so memory holds one piece of the
//! response, and rows can show while the list is still arriving. (Streaming lists,
//! `sendInitialEvents`, would do the same, but they need etcd's watch progress requests, which
//! etcd 3.4 — the envtest fixture — lacks, and are off on Kubernetes 1.33.)
//!
//! The watch that follows is kube's: from the list's resourceVersion, with bookmarks, again
//! from the last one seen when the server ends it, and a fresh list when the server answers
//! 410 Gone. Errors are handed on as kube-runtime's [`watcher::Error`]s, so its backoff and
//! its `Event`-based stores work unchanged.

use futures::io::AsyncBufReadExt;
use futures::stream::{BoxStream, Stream, StreamExt};
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::runtime::watcher::{Error, Event};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

/// What to watch: the kind's label and field selectors ("" for none).
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    pub labels: String,
    pub fields: String,
}

/// The objects of `api` matching `sel`: `Init`, an `InitApply` per listed object, `InitDone`,
/// then an `Apply` or `Delete` per change, for as long as the stream is polled.
pub fn watch<K>(api: Api<K>, sel: Selectors) -> impl Stream<Item = Result<Event<K>, Error>> + Send
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    futures::stream::unfold((api, sel, State::Empty), |(api, sel, state)| async move {
        let (ev, state) = step(&api, &sel, state).await;
        Some((ev, (api, sel, state)))
    })
}

type Body = Pin<Box<dyn futures::io::AsyncBufRead + Send>>;

enum State<K> {
    /// Nothing listed yet, or the list must start over.
    Empty,
    /// A list under way: its response, what of it has been taken apart, and the objects
    /// parsed but not yet handed on.
    Listing {
        body: Body,
        items: Items,
        parsed: VecDeque<K>,
    },
    /// Listed (or a watch ended) at this resourceVersion: the next watch starts here.
    Listed(String),
    Watching(String, BoxStream<'static, kube::Result<WatchEvent<K>>>),
}

fn list_params(sel: &Selectors) -> ListParams {
    let mut lp = ListParams::default().match_any();
    if !sel.labels.is_empty() {
        lp = lp.labels(&sel.labels);
    }
    if !sel.fields.is_empty() {
        lp = lp.fields(&sel.fields);
    }
    lp
}

/// How long the server keeps a watch open (seconds), and how long one may stay silent before
/// it is taken for dead (a laptop's sleep leaves a connection that never ends): the server's
/// timeout and a margin, as kube-runtime's watcher does.
const WATCH_SECS: u32 = 290;
const SILENT: Duration = Duration::from_secs(WATCH_SECS as u64 + 5);
/// A list's response that stops arriving for this long is taken for dead.
const LIST_SILENT: Duration = Duration::from_secs(60);

fn watch_params(sel: &Selectors) -> WatchParams {
    let mut wp = WatchParams::default().timeout(WATCH_SECS);
    if !sel.labels.is_empty() {
        wp = wp.labels(&sel.labels);
    }
    if !sel.fields.is_empty() {
        wp = wp.fields(&sel.fields);
    }
    wp
}

/// Starts the list: `resourceVersion=0`, unpaged, as client-go's informers list.
async fn start_list<K>(api: &Api<K>, sel: &Selectors) -> kube::Result<Body>
where
    K: Resource + Clone,
{
    let req = kube::core::Request::new(api.resource_url())
        .list(&list_params(sel))
        .map_err(kube::Error::BuildRequest)?;
    let client: kube::Client = api.clone().into_client();
    tracing::debug!(url = %req.uri(), "list: start");
    let body = client.request_stream(req).await?;
    tracing::debug!(url = api.resource_url(), "list: response");
    Ok(Box::pin(body))
}

/// Reads the next piece of a list's response into `items` and parses the objects it
/// completes; false at the end of the response.
async fn read_more<K: DeserializeOwned>(
    body: &mut Body,
    items: &mut Items,
    parsed: &mut VecDeque<K>,
) -> kube::Result<bool> {
    let silent = || std::io::Error::new(std::io::ErrorKind::TimedOut, "the list stopped arriving");
    let piece = tokio::time::timeout(LIST_SILENT, body.fill_buf())
        .await
        .map_err(|_| {
            tracing::debug!(read = items.read, "list: silent, taken for dead");
            kube::Error::ReadEvents(silent())
        })?
        .map_err(kube::Error::ReadEvents)?;
    if piece.is_empty() {
        items.finish().map_err(bad_list)?;
        return Ok(false);
    }
    let n = piece.len();
    items.read += n;
    let mut failed = None;
    items
        .feed(piece, |item| match serde_json::from_slice::<K>(item) {
            Ok(o) => parsed.push_back(o),
            Err(e) => {
                failed.get_or_insert(e);
            }
        })
        .map_err(bad_list)?;
    body.consume_unpin(n);
    match failed {
        Some(e) => Err(kube::Error::SerdeError(e)),
        None => Ok(true),
    }
}

fn bad_list(why: String) -> kube::Error {
    kube::Error::SerdeError(<serde_json::Error as serde::de::Error>::custom(why))
}

/// One step: the next event to hand on (if any) and the state after it.
async fn step<K>(
    api: &Api<K>,
    sel: &Selectors,
    mut state: State<K>,
) -> (Result<Event<K>, Error>, State<K>)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    loop {
        state = match state {
            State::Empty => match start_list(api, sel).await {
                Ok(body) => {
                    let listing =
                        State::Listing { body, items: Items::default(), parsed: VecDeque::new() };
                    return (Ok(Event::Init), listing);
                }
                Err(e) => return (Err(Error::InitialListFailed(e)), State::Empty),
            },
            State::Listing { mut body, mut items, mut parsed } => {
                if let Some(o) = parsed.pop_front() {
                    return (Ok(Event::InitApply(o)), State::Listing { body, items, parsed });
                }
                match read_more(&mut body, &mut items, &mut parsed).await {
                    Ok(true) => State::Listing { body, items, parsed },
                    Ok(false) => match items.resource_version() {
                        Some(rv) => {
                            tracing::debug!(
                                url = api.resource_url(),
                                read = items.read,
                                "list: done"
                            );
                            return (Ok(Event::InitDone), State::Listed(rv));
                        }
                        None => return (Err(Error::NoResourceVersion), State::Empty),
                    },
                    Err(e) => return (Err(Error::InitialListFailed(e)), State::Empty),
                }
            }
            State::Listed(rv) => match api.watch(&watch_params(sel), &rv).await {
                Ok(s) => State::Watching(rv, s.boxed()),
                Err(kube::Error::Api(s)) if s.code == 410 => {
                    return (Err(Error::WatchStartFailed(kube::Error::Api(s))), State::Empty)
                }
                Err(e) => return (Err(Error::WatchStartFailed(e)), State::Listed(rv)),
            },
            // Silent too long: dead; watch again from the last resourceVersion.
            State::Watching(rv, mut s) => {
                match tokio::time::timeout(SILENT, s.next()).await.ok().flatten() {
                    Some(Ok(WatchEvent::Added(o) | WatchEvent::Modified(o))) => {
                        let rv = o.resource_version().unwrap_or(rv);
                        return (Ok(Event::Apply(o)), State::Watching(rv, s));
                    }
                    Some(Ok(WatchEvent::Deleted(o))) => {
                        let rv = o.resource_version().unwrap_or(rv);
                        return (Ok(Event::Delete(o)), State::Watching(rv, s));
                    }
                    Some(Ok(WatchEvent::Bookmark(b))) => {
                        State::Watching(b.metadata.resource_version, s)
                    }
                    // 410 Gone: too far behind; list again.
                    Some(Ok(WatchEvent::Error(e))) if e.code == 410 => {
                        return (Err(Error::WatchError(e)), State::Empty)
                    }
                    Some(Ok(WatchEvent::Error(e))) => {
                        return (Err(Error::WatchError(e)), State::Watching(rv, s))
                    }
                    Some(Err(e)) => return (Err(Error::WatchFailed(e)), State::Watching(rv, s)),
                    None => State::Listed(rv),
                }
            }
        };
    }
}

/// Takes a list's JSON text apart as it arrives, piece by piece: hands on each object of its
/// top-level `items` array as soon as the object's text is complete, and keeps its top-level
/// `metadata` for the resourceVersion. Only the bytes of an object still incomplete are kept.
///
/// It reads structure alone — strings (with their escapes), nesting, the top-level keys — and
/// leaves the objects' text to serde. JSON's structural characters are ASCII, never part of a
/// UTF-8 sequence, so bytes are read one by one.
#[derive(Debug, Default)]
pub(crate) struct Items {
    /// The text of an unfinished capture (an item or the metadata), from its first byte.
    held: Vec<u8>,
    capturing: Option<Capture>,
    /// Nesting: 1 inside the list object, 2 inside its `items` array or `metadata`...
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// At depth 1: the text of the last string, and whether it is the key now being read.
    string: Vec<u8>,
    key: Vec<u8>,
    in_items: bool,
    metadata: Option<Vec<u8>>,
    /// The list object has closed.
    closed: bool,
    /// Bytes read so far.
    read: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Capture {
    Item,
    Metadata,
}

impl Items {
    /// Reads `piece`, calling `item` with the text of every object it completes.
    fn feed(&mut self, piece: &[u8], mut item: impl FnMut(&[u8])) -> Result<(), String> {
        let mut start = 0; // where the capture begins in `piece`, when it began there
        for (i, &b) in piece.iter().enumerate() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    continue;
                }
                if self.depth == 1 {
                    self.string.push(b);
                }
                continue;
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    if self.depth == 1 {
                        self.string.clear();
                    }
                }
                b':' if self.depth == 1 => self.key = std::mem::take(&mut self.string),
                b'{' | b'[' => {
                    if self.closed {
                        return Err("text after the list".into());
                    }
                    self.depth += 1;
                    match (self.depth, b) {
                        (1, b'{') => {}
                        (1, _) => return Err("a list is a JSON object".into()),
                        (2, b'[') if self.key == b"items" => self.in_items = true,
                        (2, b'{') if self.key == b"metadata" => {
                            (self.capturing, start) = (Some(Capture::Metadata), i);
                        }
                        (3, b'{') if self.in_items => {
                            (self.capturing, start) = (Some(Capture::Item), i)
                        }
                        (3, _) if self.in_items => {
                            return Err("an item of the list is not an object".into())
                        }
                        _ => {}
                    }
                }
                b'}' | b']' => {
                    if self.depth == 0 {
                        return Err("unbalanced brackets".into());
                    }
                    let ends = match self.capturing {
                        Some(Capture::Item) => self.depth == 3,
                        Some(Capture::Metadata) => self.depth == 2,
                        None => false,
                    };
                    if ends {
                        let text: &[u8] = if self.held.is_empty() {
                            &piece[start..=i]
                        } else {
                            self.held.extend_from_slice(&piece[start..=i]);
                            &self.held
                        };
                        match self.capturing.take() {
                            Some(Capture::Item) => item(text),
                            _ => self.metadata = Some(text.to_vec()),
                        }
                        self.held.clear();
                    }
                    if self.depth == 2 && self.in_items {
                        self.in_items = b != b']';
                    }
                    self.depth -= 1;
                    self.closed |= self.depth == 0;
                }
                b' ' | b'\t' | b'\r' | b'\n' => {}
                _ if self.depth == 0 => return Err("a list is a JSON object".into()),
                b',' => {}
                _ if self.depth == 2 && self.in_items => {
                    return Err("an item of the list is not an object".into())
                }
                _ => {}
            }
        }
        if self.capturing.is_some() {
            self.held.extend_from_slice(&piece[start..]);
        }
        Ok(())
    }

    /// At the end of the response: whether the list was whole.
    fn finish(&self) -> Result<(), String> {
        match self.closed && !self.in_string {
            true => Ok(()),
            false => Err("the list ended before its end".into()),
        }
    }

    /// The list's resourceVersion, from its `metadata`.
    fn resource_version(&self) -> Option<String> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Meta {
            resource_version: Option<String>,
        }
        let m: Meta = serde_json::from_slice(self.metadata.as_deref()?).ok()?;
        m.resource_version.filter(|rv| !rv.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::Items;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// Feeds `text` in pieces of `size` bytes: the items' texts, parsed, and the resourceVersion.
    fn split(text: &[u8], size: usize) -> Result<(Vec<Value>, Option<String>), String> {
        let mut items = Items::default();
        let mut out = Vec::new();
        for piece in text.chunks(size.max(1)) {
            items.feed(piece, |t| out.push(serde_json::from_slice(t).expect("an item's text")))?;
        }
        items.finish()?;
        Ok((out, items.resource_version()))
    }

    fn tricky() -> Value {
        json!({
            "kind": "PodList", "apiVersion": "v1",
            "items": [
                {"metadata": {"name": "a}", "labels": {"x": "[{\"\\"}},
                 "items": [{"nested": "not a list item"}], "metadata2": {}},
                {"spec": {"containers": [{"name": "ray-head", "ports": [{"containerPort": 8265}]}]},
                 "s": "\\\\", "u": "ünïcödé ✓ \u{1F600}"},
                {}
            ],
            "metadata": {"resourceVersion": "4711", "continue": "{\"items\":[1]}"}
        })
    }

    #[test]
    fn a_list_in_pieces_of_any_size_gives_serdes_items_and_its_resource_version() {
        let v = tricky();
        for text in [serde_json::to_vec(&v).unwrap(), serde_json::to_vec_pretty(&v).unwrap()] {
            for size in 1..=text.len() {
                let (items, rv) = split(&text, size).unwrap();
                assert_eq!(Value::Array(items), v["items"], "pieces of {size}");
                assert_eq!(rv.as_deref(), Some("4711"));
            }
        }
    }

    #[test]
    fn an_empty_list_has_no_items_and_a_list_without_resource_version_says_so() {
        let (items, rv) = split(br#"{"metadata":{"resourceVersion":"9"},"items":[]}"#, 3).unwrap();
        assert!(items.is_empty());
        assert_eq!(rv.as_deref(), Some("9"));
        let (_, rv) = split(br#"{"metadata":{},"items":null}"#, 4).unwrap();
        assert_eq!(rv, None);
    }

    #[test]
    fn a_cut_or_malformed_list_is_an_error_never_a_shorter_list() {
        let text = serde_json::to_vec(&tricky()).unwrap();
        for cut in 0..text.len() {
            assert!(split(&text[..cut], 7).is_err(), "cut at {cut} was taken as a whole list");
        }
        for bad in [&br#"[{"a":1}]"#[..], br#"{"items":[1,2]}"#, br#"{"items":[]}}"#, br#"{}{}"#] {
            assert!(split(bad, 2).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[\\[\\]{}\",:\\\\a-z é✓]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[\\[{\"\\\\a-z]{0,5}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_list_of_objects_splits_into_its_items(
            items in prop::collection::vec(prop::collection::btree_map("[a-z\"{]{1,4}", value(), 0..4), 0..6),
            size in 1usize..64,
        ) {
            let items: Vec<Value> =
                items.into_iter().map(|m| Value::Object(m.into_iter().collect())).collect();
            let list = json!({"kind": "L", "metadata": {"resourceVersion": "1"}, "items": items});
            let (got, rv) = split(&serde_json::to_vec(&list).unwrap(), size).unwrap();
            prop_assert_eq!(Value::Array(got), list["items"].clone());
            prop_assert_eq!(rv.as_deref(), Some("1"));
        }
    }
}
