//! Compact containers for what thousands of objects hold for as long as the TUI runs: a label
//! map in one allocation, a resource list in one allocation, and lists without spare capacity.
//! Each reads like the map or list it replaces.

use compact_str::CompactString;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Deserializes a list without the spare capacity a growing `Vec` keeps (room for four
/// containers when there is one): `#[serde(deserialize_with = "exact")]`.
pub fn exact<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let mut v = Vec::<T>::deserialize(d)?;
    v.shrink_to_fit();
    Ok(v)
}

/// A container's `requests` or `limits`: resource names and quantities, sorted by name, in one
/// allocation (a `BTreeMap` spends a 600-byte node on the usual two entries).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quantities(Box<[(CompactString, serde_json::Value)]>);

impl Quantities {
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for Quantities {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Quantities;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of resource quantities")
            }
            fn visit_unit<E>(self) -> Result<Quantities, E> {
                Ok(Quantities::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Quantities, A::Error> {
                let mut v: Vec<(CompactString, serde_json::Value)> = Vec::new();
                while let Some((k, q)) = m.next_entry::<CompactString, serde_json::Value>()? {
                    // A later duplicate wins, as in a map.
                    v.retain(|(x, _)| *x != k);
                    v.push((k, q));
                }
                v.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(Quantities(v.into_boxed_slice()))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Quantities {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A label map (or a selector) in one allocation, sorted by key as Kubernetes keeps labels:
/// built once, while its object is deserialized and in cache, so that matching a selector
/// reads a few adjacent bytes rather than a heap string per key and value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSet {
    /// Keys and values, back to back.
    text: Box<str>,
    /// Per pair: where its key starts, where its value starts (the key ends), where it ends.
    bounds: Box<[[u32; 3]]>,
}

impl LabelSet {
    pub fn new(labels: &BTreeMap<String, String>) -> Self {
        let mut text = String::with_capacity(labels.iter().map(|(k, v)| k.len() + v.len()).sum());
        let mut bounds = Vec::with_capacity(labels.len());
        for (k, v) in labels {
            // Offsets fit: a label map of 4 GiB is not a Kubernetes object.
            let at = text.len() as u32;
            text.push_str(k);
            let mid = text.len() as u32;
            text.push_str(v);
            bounds.push([at, mid, text.len() as u32]);
        }
        Self { text: text.into(), bounds: bounds.into() }
    }

    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// The pairs, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.bounds.iter().map(|&[a, m, e]| {
            let (a, m, e) = (a as usize, m as usize, e as usize);
            (self.text.get(a..m).unwrap_or_default(), self.text.get(m..e).unwrap_or_default())
        })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_read_like_the_map_they_replace() {
        let q: Quantities =
            serde_json::from_value(json!({"memory": "2Gi", "cpu": 1, "nvidia.com/gpu": "1"}))
                .unwrap();
        assert_eq!(q.keys().collect::<Vec<_>>(), ["cpu", "memory", "nvidia.com/gpu"]);
        assert_eq!(q.get("cpu"), Some(&json!(1)));
        assert!(q.contains_key("memory") && !q.contains_key("mem"));
        assert_eq!(
            serde_json::to_value(&q).unwrap(),
            json!({"cpu": 1, "memory": "2Gi", "nvidia.com/gpu": "1"})
        );
        let dup: Quantities = serde_json::from_str(r#"{"cpu": "1", "cpu": "2"}"#).unwrap();
        assert_eq!((dup.keys().count(), dup.get("cpu")), (1, Some(&json!("2"))));
        let none: Quantities = serde_json::from_value(json!(null)).unwrap();
        assert!(none.is_empty());
        assert!(serde_json::from_value::<Quantities>(json!(["cpu"])).is_err());
        let v: Vec<u8> = exact(&mut serde_json::Deserializer::from_str("[1, 2, 3]")).unwrap();
        assert_eq!((v.len(), v.capacity()), (3, 3));
    }
}
