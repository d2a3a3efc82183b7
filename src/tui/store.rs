//! What a watcher has seen of one kind, keyed by namespace and name. kube-runtime's reflector
//! keeps a clone of every object its stream hands on; this store takes the watcher's own
//! objects instead, so a 20,000-pod list is held once and never copied. While a (re)list is
//! under way its pages are kept apart — readable, for rows shown page by page — and the
//! previous objects stay readable until the list is complete, as the reflector does.

use kube::runtime::watcher::Event;
use kube::Resource;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// An object, equal to another of the same namespace and name: the set of them is keyed by
/// what the objects already hold, not by copies of their names.
struct Keyed<K>(Arc<K>);

impl<K: Resource> Keyed<K> {
    fn key(&self) -> (Option<&str>, Option<&str>) {
        let m = self.0.meta();
        (m.namespace.as_deref(), m.name.as_deref())
    }
}

impl<K: Resource> PartialEq for Keyed<K> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl<K: Resource> Eq for Keyed<K> {}

impl<K: Resource> Hash for Keyed<K> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.key().hash(h);
    }
}

struct Inner<K> {
    objects: HashSet<Keyed<K>>,
    /// The pages of a list under way.
    listing: Option<Vec<Arc<K>>>,
}

/// A watched kind's objects; clones share them.
pub struct Store<K> {
    inner: Arc<RwLock<Inner<K>>>,
}

impl<K> Clone for Store<K> {
    fn clone(&self) -> Self {
        Store { inner: self.inner.clone() }
    }
}

impl<K> Default for Store<K> {
    fn default() -> Self {
        Store { inner: Arc::new(RwLock::new(Inner { objects: HashSet::new(), listing: None })) }
    }
}

impl<K: Resource> Store<K> {
    fn read(&self) -> RwLockReadGuard<'_, Inner<K>> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner<K>> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a watcher event's object into the store.
    pub fn apply(&self, ev: Event<K>) {
        let mut s = self.write();
        match ev {
            Event::Apply(o) => {
                s.objects.replace(Keyed(Arc::new(o)));
            }
            Event::Delete(o) => {
                s.objects.remove(&Keyed(Arc::new(o)));
            }
            Event::Init => s.listing = Some(Vec::new()),
            Event::InitApply(o) => s.listing.get_or_insert_with(Vec::new).push(Arc::new(o)),
            Event::InitDone => {
                let listed = s.listing.take().unwrap_or_default();
                s.objects = listed.into_iter().map(Keyed).collect();
            }
        }
    }

    /// Every object, as of the last complete list and the changes since.
    pub fn state(&self) -> Vec<Arc<K>> {
        self.read().objects.iter().map(|k| k.0.clone()).collect()
    }

    /// What the list under way has brought so far (empty when none is).
    pub fn listing(&self) -> Vec<Arc<K>> {
        self.read().listing.clone().unwrap_or_default()
    }

    /// Whether a list under way has brought anything yet.
    pub fn listing_started(&self) -> bool {
        self.read().listing.as_ref().is_some_and(|l| !l.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn cm(ns: &str, name: &str, v: &str) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.namespace = Some(ns.into());
        c.metadata.name = Some(name.into());
        c.data = Some([("v".to_string(), v.to_string())].into());
        c
    }

    fn names(v: Vec<Arc<ConfigMap>>) -> Vec<String> {
        let mut n: Vec<String> = v
            .iter()
            .map(|c| {
                let d = c.data.as_ref().and_then(|d| d.get("v")).cloned().unwrap_or_default();
                format!(
                    "{}/{}={d}",
                    c.metadata.namespace.as_deref().unwrap_or(""),
                    c.metadata.name.as_deref().unwrap_or("")
                )
            })
            .collect();
        n.sort();
        n
    }

    /// A list fills the store only when complete; until then its pages are readable apart
    /// and the previous objects stay. Changes replace and delete by namespace and name.
    #[test]
    fn lists_replace_the_objects_when_complete_and_changes_apply_by_key() {
        let s: Store<ConfigMap> = Store::default();
        s.apply(Event::Init);
        s.apply(Event::InitApply(cm("a", "x", "1")));
        assert!(s.listing_started());
        assert_eq!(names(s.listing()), ["a/x=1"]);
        assert!(s.state().is_empty(), "nothing before the list is complete");
        s.apply(Event::InitApply(cm("b", "x", "1")));
        s.apply(Event::InitDone);
        assert!(!s.listing_started());
        assert_eq!(names(s.state()), ["a/x=1", "b/x=1"]);
        s.apply(Event::Apply(cm("a", "x", "2")));
        s.apply(Event::Delete(cm("b", "x", "1")));
        s.apply(Event::Apply(cm("c", "y", "1")));
        assert_eq!(names(s.state()), ["a/x=2", "c/y=1"]);
        // A relist: the old objects stay until it is done, then only the listed ones remain.
        s.apply(Event::Init);
        s.apply(Event::InitApply(cm("c", "y", "3")));
        assert_eq!(names(s.state()), ["a/x=2", "c/y=1"]);
        s.apply(Event::InitDone);
        assert_eq!(names(s.state()), ["c/y=3"]);
        assert!(s.listing().is_empty());
    }
}
