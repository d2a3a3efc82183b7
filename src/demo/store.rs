//! The object store: every object as JSON plus its serialised bytes, one global
//! resourceVersion counter, and a bounded event history that watches resume from.
//!
//! Callers hold the store's mutex only for in-memory work, never across an await.

use super::catalog::{KindId, KINDS};
use bytes::Bytes;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast;

/// A stored object: the JSON value and its serialised form (lists are byte concatenations).
#[derive(Debug)]
pub struct Obj {
    pub value: Value,
    pub json: Bytes,
}

impl Obj {
    pub fn new(value: Value) -> Arc<Self> {
        let json = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        Arc::new(Self { value, json })
    }
    pub fn name(&self) -> &str {
        self.value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
    }
    pub fn namespace(&self) -> &str {
        self.value.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("")
    }
    pub fn rv(&self) -> u64 {
        self.value
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
    pub fn labels(&self) -> Option<&serde_json::Map<String, Value>> {
        self.value.pointer("/metadata/labels").and_then(Value::as_object)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change, as a watch delivers it.
#[derive(Debug)]
pub struct Event {
    pub kind: KindId,
    pub rv: u64,
    pub ty: EventType,
    pub obj: Arc<Obj>,
}

type Key = (String, String);

/// The recorded events after a resourceVersion, and the live ones from then on.
pub type Resume = (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>);

pub struct Store {
    rv: u64,
    objects: Vec<BTreeMap<Key, Arc<Obj>>>,
    history: VecDeque<Arc<Event>>,
    /// Events at or below this resourceVersion are no longer in the history.
    compacted: u64,
    history_cap: usize,
    tx: broadcast::Sender<Arc<Event>>,
    uid_counter: u64,
}

impl Store {
    pub fn new(history_cap: usize) -> Self {
        let (tx, _) = broadcast::channel(16_384);
        Self {
            rv: 1,
            objects: KINDS.iter().map(|_| BTreeMap::new()).collect(),
            history: VecDeque::new(),
            compacted: 1,
            history_cap,
            tx,
            uid_counter: 0,
        }
    }

    pub fn rv(&self) -> u64 {
        self.rv
    }

    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    /// A deterministic, unique uid in the Kubernetes format.
    pub fn next_uid(&mut self) -> String {
        self.uid_counter += 1;
        let n = self.uid_counter;
        let h = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (h >> 32) as u32,
            (h >> 16) as u16,
            (h & 0xfff) as u16,
            ((h >> 20) & 0xfff) as u16,
            n
        )
    }

    pub fn get(&self, kind: KindId, ns: &str, name: &str) -> Option<Arc<Obj>> {
        self.objects[kind].get(&(ns.to_string(), name.to_string())).cloned()
    }

    /// Objects of a kind, in one namespace or all, ordered by (namespace, name).
    pub fn list(&self, kind: KindId, ns: Option<&str>) -> Vec<Arc<Obj>> {
        match ns {
            None => self.objects[kind].values().cloned().collect(),
            Some(ns) => self.objects[kind]
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, o)| o.clone())
                .collect(),
        }
    }

    /// Objects after `after` (exclusive), for paginated lists.
    pub fn list_after(&self, kind: KindId, ns: Option<&str>, after: &Key) -> Vec<Arc<Obj>> {
        use std::ops::Bound::{Excluded, Unbounded};
        self.objects[kind]
            .range((Excluded(after.clone()), Unbounded))
            .take_while(|((n, _), _)| ns.is_none_or(|ns| n == ns))
            .map(|(_, o)| o.clone())
            .collect()
    }

    pub fn count(&self, kind: KindId) -> usize {
        self.objects[kind].len()
    }

    /// Stores `value` with a new resourceVersion and records the event.
    pub fn put(&mut self, kind: KindId, mut value: Value, ty: EventType) -> Arc<Obj> {
        self.rv += 1;
        let rv = self.rv;
        value["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let obj = Obj::new(value);
        let key = (obj.namespace().to_string(), obj.name().to_string());
        self.objects[kind].insert(key, obj.clone());
        self.record(Event { kind, rv, ty, obj: obj.clone() });
        obj
    }

    /// Stores an object of the initial data set: no event, history starts after it.
    pub fn put_initial(&mut self, kind: KindId, mut value: Value) {
        self.rv += 1;
        value["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let obj = Obj::new(value);
        let key = (obj.namespace().to_string(), obj.name().to_string());
        self.objects[kind].insert(key, obj);
        self.compacted = self.rv;
    }

    /// Removes an object; the DELETED event carries a new resourceVersion.
    pub fn remove(&mut self, kind: KindId, ns: &str, name: &str) -> Option<Arc<Obj>> {
        let old = self.objects[kind].remove(&(ns.to_string(), name.to_string()))?;
        self.rv += 1;
        let mut value = old.value.clone();
        value["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let obj = Obj::new(value);
        self.record(Event { kind, rv: self.rv, ty: EventType::Deleted, obj: obj.clone() });
        Some(obj)
    }

    fn record(&mut self, ev: Event) {
        let ev = Arc::new(ev);
        self.history.push_back(ev.clone());
        while self.history.len() > self.history_cap {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        let _ = self.tx.send(ev);
    }

    /// Drops the whole event history, so that any watch from an older resourceVersion gets
    /// 410 Gone (a fault hook; the real server does this on compaction or restart).
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    /// Subscribes to live events and returns the recorded ones after `rv`, atomically.
    /// `Err(())` when `rv` is older than the retained history (410 Gone).
    #[allow(clippy::result_unit_err)]
    pub fn subscribe_from(&self, rv: u64) -> Result<Resume, ()> {
        if rv < self.compacted {
            return Err(());
        }
        let rx = self.tx.subscribe();
        let past = self.history.iter().filter(|e| e.rv > rv).cloned().collect();
        Ok((past, rx))
    }

    /// Subscribes to live events only.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}
