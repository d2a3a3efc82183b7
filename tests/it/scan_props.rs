//! Property: the rules never panic, whatever RayCluster-shaped input they get.

use proptest::prelude::*;
use raydar::inventory::Inventory;
use raydar::posture::{evaluate, PostureConfig};
use serde_json::{json, Value};

const KEYS: &[&str] = &[
    "headGroupSpec",
    "workerGroupSpecs",
    "template",
    "spec",
    "containers",
    "initContainers",
    "env",
    "name",
    "value",
    "valueFrom",
    "secretKeyRef",
    "ports",
    "containerPort",
    "hostPort",
    "securityContext",
    "privileged",
    "runAsUser",
    "runAsNonRoot",
    "capabilities",
    "add",
    "drop",
    "hostNetwork",
    "hostPID",
    "volumes",
    "hostPath",
    "path",
    "volumeMounts",
    "readOnly",
    "image",
    "resources",
    "requests",
    "limits",
    "serviceType",
    "rayVersion",
    "authOptions",
    "mode",
    "enableIngress",
    "serviceAccountName",
    "automountServiceAccountToken",
    "groupName",
    "replicas",
    "headService",
    "metadata",
    "annotations",
    "labels",
    "tlsOptions",
    "enabled",
    "enableInTreeAutoscaling",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-2i64..70000).prop_map(|n| json!(n)),
        prop::sample::select(vec![
            "",
            "0",
            "1",
            "token",
            "LoadBalancer",
            "NodePort",
            "ALL",
            "SYS_ADMIN",
            "rayproject/ray:latest",
            "a/b:c@sha256:x",
            "2.9.0",
            "dashboard",
            "RAY_USE_TLS",
            "AWS_SECRET_ACCESS_KEY",
            "/var",
            "x:y:z/"
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(KEYS.to_vec()).prop_map(str::to_string),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn rules_never_panic(spec in arb_json(), svc in arb_json(), extra in arb_json()) {
        let mut inv = Inventory::default();
        let _ = inv.add_value(json!({"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "p", "namespace": "n"}, "spec": spec.clone()}), "n");
        let _ = inv.add_value(json!({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "j", "namespace": "n"}, "spec": {"rayClusterSpec": spec}}), "n");
        let _ = inv.add_value(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"}, "spec": svc}), "n");
        let _ = inv.add_value(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np", "namespace": "n"}, "spec": extra}), "n");
        let entries = evaluate(&inv, &PostureConfig::demo());
        for e in entries {
            prop_assert!(e.score <= 100);
        }
    }
}
