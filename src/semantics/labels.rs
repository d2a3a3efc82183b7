//! Label selectors: equality selectors (Services) and LabelSelectors (NetworkPolicies).

use crate::model::LabelSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// Labels (or a selector's pairs), sorted by key.
pub trait Labels {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)>;
    fn label(&self, key: &str) -> Option<&str>;
}

impl Labels for BTreeMap<String, String> {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl Labels for LabelSet {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter()
    }
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key)
    }
}

/// Whether every pair of `want` is in `labels` (both sorted: one pass over each).
pub fn subset(want: &impl Labels, labels: &impl Labels) -> bool {
    let mut have = labels.pairs();
    'want: for (k, v) in want.pairs() {
        for (hk, hv) in have.by_ref() {
            match hk.cmp(k) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal if hv == v => continue 'want,
                _ => return false,
            }
        }
        return false;
    }
    true
}

/// Whether a Service's selector picks pods with `labels`: an empty selector picks none (the
/// Service's endpoints are then managed by hand).
pub fn service_selects(selector: &impl Labels, labels: &impl Labels) -> bool {
    selector.pairs().next().is_some() && subset(selector, labels)
}

/// Whether a LabelSelector matches `labels` (an empty selector matches everything).
pub fn matches(sel: &LabelSelector, labels: &impl Labels) -> bool {
    let ml = sel.match_labels.as_ref().is_none_or(|m| subset(m, labels));
    let me = sel.match_expressions.iter().flatten().all(|e| {
        let have = labels.label(&e.key);
        let values = e.values.as_deref().unwrap_or(&[]);
        match e.operator.as_str() {
            "In" => have.is_some_and(|h| values.iter().any(|v| v == h)),
            "NotIn" => have.is_none_or(|h| !values.iter().any(|v| v == h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        }
    });
    ml && me
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn subset_finds_every_pair_as_lookups_do(
            want in prop::collection::btree_map("[a-d]{1,2}", "[xy]", 0..4),
            labels in prop::collection::btree_map("[a-d]{1,2}", "[xy]", 0..8),
        ) {
            let looked_up = want.iter().all(|(k, v)| labels.get(k) == Some(v));
            prop_assert_eq!(subset(&want, &labels), looked_up);
            // The same on label sets.
            let (w, l) = (LabelSet::new(&want), LabelSet::new(&labels));
            prop_assert_eq!(subset(&w, &l), looked_up);
            prop_assert_eq!(subset(&want, &l), looked_up);
            prop_assert_eq!(service_selects(&want, &l), looked_up && !want.is_empty());
            // Labels that include every wanted pair always match.
            let with_want: BTreeMap<_, _> = labels.into_iter().chain(want.clone()).collect();
            prop_assert!(subset(&want, &with_want));
        }
    }

    #[test]
    fn expressions_follow_the_operators() {
        let sel: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"a": "1"},
            "matchExpressions": [
                {"key": "b", "operator": "In", "values": ["x", "y"]},
                {"key": "c", "operator": "NotIn", "values": ["z"]},
                {"key": "d", "operator": "Exists"},
                {"key": "e", "operator": "DoesNotExist"}]}))
        .unwrap_or_default();
        let l = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert!(matches(&sel, &l(&[("a", "1"), ("b", "y"), ("d", "")])));
        // A pod's label set answers as its label map does.
        let set = |kv: &[(&str, &str)]| LabelSet::new(&l(kv));
        assert!(matches(&sel, &set(&[("a", "1"), ("b", "y"), ("d", "")])));
        assert!(!matches(&sel, &set(&[("a", "1"), ("b", "y"), ("d", ""), ("e", "")])));
        assert!(!matches(&sel, &set(&[("a", "1"), ("b", "w"), ("d", "")])));
        assert!(!matches(&sel, &set(&[("a", "1"), ("b", "y"), ("c", "z"), ("d", "")])));
        assert_eq!(set(&[("k", "v")]).label("k"), Some("v"));
        assert_eq!(set(&[("k", "v")]).label("x"), None);
        assert!(!matches(&sel, &l(&[("a", "1"), ("b", "y"), ("d", ""), ("e", "")])));
        assert!(!matches(&sel, &l(&[("a", "1"), ("b", "y"), ("c", "z"), ("d", "")])));
        assert!(!matches(&sel, &l(&[("a", "1"), ("b", "w"), ("d", "")])));
        assert!(!matches(&sel, &l(&[("a", "2"), ("b", "y"), ("d", "")])));
        assert!(matches(&LabelSelector::default(), &l(&[])));
        let bad = LabelSelector {
            match_expressions: Some(vec![Default::default()]),
            ..Default::default()
        };
        assert!(!matches(&bad, &l(&[])), "an unknown operator matches nothing");
    }
}

/// A label selector as kubectl takes it (`-l`: `k=v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
/// `k`, `!k`), as a LabelSelector.
pub fn parse_selector(s: &str) -> Result<LabelSelector, String> {
    use crate::quantity::Requirement as R;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement as Req;
    let reqs =
        crate::quantity::parse_label_selector(s).map_err(|e| format!("selector {s:?}: {e}"))?;
    let (mut labels, mut exprs) = (BTreeMap::new(), Vec::new());
    let req = |key: String, op: &str, values: Option<Vec<String>>| Req {
        key,
        operator: op.into(),
        values,
    };
    for r in reqs {
        match r {
            R::Eq(k, v) => {
                labels.insert(k, v);
            }
            R::NotEq(k, v) => exprs.push(req(k, "NotIn", Some(vec![v]))),
            R::In(k, vs) => exprs.push(req(k, "In", Some(vs))),
            R::NotIn(k, vs) => exprs.push(req(k, "NotIn", Some(vs))),
            R::Exists(k) => exprs.push(req(k, "Exists", None)),
            R::NotExists(k) => exprs.push(req(k, "DoesNotExist", None)),
        }
    }
    Ok(LabelSelector {
        match_labels: (!labels.is_empty()).then_some(labels),
        match_expressions: (!exprs.is_empty()).then_some(exprs),
    })
}

#[cfg(test)]
mod selector_tests {
    use super::*;

    #[test]
    fn selectors_parse_as_kubectl_reads_them() {
        let sel = parse_selector("team=ml, env in (prod, staging),tier!=dev,gpu,!legacy").unwrap();
        let json = serde_json::to_value(&sel).unwrap();
        assert_eq!(json["matchLabels"], serde_json::json!({"team": "ml"}));
        let ops: Vec<(&str, &str)> = sel
            .match_expressions
            .iter()
            .flatten()
            .map(|e| (e.key.as_str(), e.operator.as_str()))
            .collect();
        assert_eq!(
            ops,
            [("env", "In"), ("tier", "NotIn"), ("gpu", "Exists"), ("legacy", "DoesNotExist")]
        );
        assert_eq!(json["matchExpressions"][0]["values"], serde_json::json!(["prod", "staging"]));
        let l: BTreeMap<String, String> = [("team", "ml"), ("env", "prod"), ("gpu", "a100")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        assert!(matches(&sel, &l));
        assert!(parse_selector("env notin (dev)").is_ok());
        assert!(parse_selector("env in prod").is_err_and(|e| e.contains("parenthesised")));
        assert!(parse_selector("bad key=x").is_err());
    }
}
