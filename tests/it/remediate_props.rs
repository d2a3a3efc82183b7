//! Property: on random namespaces of Ray clusters, Services and NetworkPolicies, no fix makes
//! any Service more public, and no fix lets the NetworkPolicies admit a source to a pod that
//! they denied before.

use proptest::prelude::*;
use raydar::remediate::netpol::{admits, Labels, Source};
use raydar::remediate::{plan, FixId, Op, Snapshot};
use serde_json::{json, Value};
use std::net::Ipv4Addr;

const NS: &str = "ns";

fn labels(kv: &[(&str, &str)]) -> Labels {
    kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[derive(Debug, Clone)]
struct ClusterShape {
    service_type: Option<&'static str>,
    groups: usize,
    autoscaler: bool,
    team_label: bool,
    /// KubeRay 1.7's `spec.networkPolicy`, and whether the operator made its policies.
    network_policy: Option<Value>,
    gate_on: bool,
}

fn arb_network_policy() -> impl Strategy<Value = Option<Value>> {
    let mode = prop::sample::select(vec![
        None,
        Some("DenyAll"),
        Some("DenyAllIngress"),
        Some("DenyAllEgress"),
    ]);
    (
        mode,
        prop::collection::vec(arb_rule(), 0..2),
        prop::collection::vec(arb_rule(), 0..2),
        any::<bool>(),
    )
        .prop_map(|(mode, head, worker, present)| {
            present.then(|| {
                let mut np =
                    json!({"head": {"ingressRules": head}, "worker": {"ingressRules": worker}});
                if let Some(m) = mode {
                    np["mode"] = json!(m);
                }
                np
            })
        })
}

fn arb_cluster() -> impl Strategy<Value = ClusterShape> {
    (
        prop::sample::select(vec![None, Some("ClusterIP"), Some("NodePort"), Some("LoadBalancer")]),
        0..3usize,
        any::<bool>(),
        any::<bool>(),
        arb_network_policy(),
        any::<bool>(),
    )
        .prop_map(|(service_type, groups, autoscaler, team_label, network_policy, gate_on)| {
            ClusterShape { service_type, groups, autoscaler, team_label, network_policy, gate_on }
        })
}

/// The NetworkPolicies KubeRay's operator keeps for a cluster's `spec.networkPolicy`, as JSON.
fn kuberay_policies(c: &Value) -> Vec<Value> {
    let name = c["metadata"]["name"].as_str().unwrap();
    let spec: raydar::kuberay::RayClusterSpec = serde_json::from_value(c["spec"].clone()).unwrap();
    raydar::posture::network::kuberay_policies(NS, name, &spec)
        .into_iter()
        .map(|p| serde_json::to_value(p).unwrap())
        .collect()
}

/// What admits traffic: the namespace's policies, with the operator's own for each cluster
/// whose gate is on made anew from its current spec (as the operator reconciles them).
fn effective(snap: &Snapshot) -> Vec<Value> {
    let managed: Vec<&Value> =
        snap.ray_clusters.iter().filter(|c| c["metadata"]["labels"]["gate"] == "on").collect();
    let theirs = |np: &Value| {
        let n = np["metadata"]["name"].as_str().unwrap_or("");
        managed.iter().any(|c| {
            let c = c["metadata"]["name"].as_str().unwrap();
            n == format!("{c}-head") || n.starts_with(&format!("{c}-workers-"))
        })
    };
    let mut out: Vec<Value> =
        snap.network_policies.iter().filter(|np| !theirs(np)).cloned().collect();
    for c in managed {
        out.extend(kuberay_policies(c));
    }
    out
}

fn cluster_json(i: usize, c: &ClusterShape) -> Value {
    let tmpl = |extra: bool| {
        let mut t = json!({"spec": {"containers": [{"name": "ray", "image": "rayproject/ray:2.54.0",
            "ports": [{"name": "dashboard", "containerPort": 8265}, {"name": "serve", "containerPort": 8000}],
            "resources": {"requests": {"cpu": "1", "memory": "2Gi"}}}]}});
        if extra {
            t["metadata"] = json!({"labels": {"team": "a"}});
        }
        t
    };
    let mut head = json!({"rayStartParams": {}, "template": tmpl(c.team_label)});
    if let Some(t) = c.service_type {
        head["serviceType"] = json!(t);
    }
    let workers: Vec<Value> = (0..c.groups)
        .map(|g| json!({"groupName": format!("g{g}"), "replicas": 1, "maxReplicas": 2, "rayStartParams": {}, "template": tmpl(false)}))
        .collect();
    let mut rc = json!({"apiVersion": "ray.io/v1", "kind": "RayCluster",
        "metadata": {"name": format!("c{i}"), "namespace": NS, "resourceVersion": "1",
                     "labels": {"gate": if c.gate_on { "on" } else { "off" }}},
        "spec": {"headGroupSpec": head, "workerGroupSpecs": workers, "enableInTreeAutoscaling": c.autoscaler}});
    if let Some(np) = &c.network_policy {
        rc["spec"]["networkPolicy"] = np.clone();
    }
    rc
}

fn arb_selector() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!({}),
        json!({"matchLabels": {"ray.io/cluster": "c0"}}),
        json!({"matchLabels": {"ray.io/cluster": "c1"}}),
        json!({"matchLabels": {"ray.io/cluster": "c0", "ray.io/node-type": "head"}}),
        json!({"matchLabels": {"ray.io/group": "g0"}}),
        json!({"matchLabels": {"team": "a"}}),
        json!({"matchLabels": {"app": "other"}}),
        json!({"matchExpressions": [{"key": "ray.io/node-type", "operator": "In", "values": ["worker"]}]}),
    ])
}

fn arb_rule() -> impl Strategy<Value = Value> {
    let from = prop::sample::select(vec![
        None,
        Some(json!([])),
        Some(json!([{"ipBlock": {"cidr": "0.0.0.0/0"}}])),
        Some(json!([{"ipBlock": {"cidr": "10.0.0.0/8"}}])),
        Some(json!([{"podSelector": {"matchLabels": {"ray.io/cluster": "c0"}}}])),
        Some(json!([{"namespaceSelector": {}}])),
        Some(
            json!([{"podSelector": {}}, {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["203.0.113.0/24"]}}]),
        ),
    ]);
    let ports = prop::sample::select(vec![
        None,
        Some(json!([{"port": 8265}])),
        Some(json!([{"port": 6379}, {"port": 10001}])),
        Some(json!([{"port": "dashboard"}])),
    ]);
    (from, ports).prop_map(|(from, ports)| {
        let mut r = json!({});
        if let Some(f) = from {
            r["from"] = f;
        }
        if let Some(p) = ports {
            r["ports"] = p;
        }
        r
    })
}

fn arb_policy() -> impl Strategy<Value = (Value, Option<Value>, Vec<Value>)> {
    (
        arb_selector(),
        prop::sample::select(vec![None, Some(json!(["Ingress"])), Some(json!(["Egress"]))]),
        prop::collection::vec(arb_rule(), 0..3),
    )
}

fn arb_service() -> impl Strategy<Value = (&'static str, Value, bool)> {
    (
        prop::sample::select(vec!["ClusterIP", "NodePort", "LoadBalancer"]),
        prop::sample::select(vec![
            json!({"ray.io/cluster": "c0"}),
            json!({"ray.io/cluster": "c1", "ray.io/node-type": "head"}),
            json!({"team": "a"}),
            json!({"app": "other"}),
            json!({}),
        ]),
        any::<bool>(),
    )
}

prop_compose! {
    fn arb_snapshot()(
        clusters in prop::collection::vec(arb_cluster(), 1..3),
        services in prop::collection::vec(arb_service(), 0..4),
        policies in prop::collection::vec(arb_policy(), 0..4),
        ours in prop::sample::select(vec![None, Some(true), Some(false)]),
        operator in prop::sample::select(vec![0usize, 1, 2]),
    ) -> Snapshot {
        let mut snap = Snapshot { namespace: NS.into(), ..Default::default() };
        snap.ray_clusters = clusters.iter().enumerate().map(|(i, c)| cluster_json(i, c)).collect();
        snap.services = services.iter().enumerate().map(|(i, (ty, sel, ips))| {
            let mut ports = json!([{"name": "dashboard", "port": 8265, "targetPort": 8265}]);
            if *ty != "ClusterIP" {
                ports[0]["nodePort"] = json!(30000 + i);
            }
            let mut svc = json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": format!("s{i}"), "namespace": NS, "resourceVersion": "1"},
                "spec": {"type": ty, "selector": sel, "ports": ports}});
            if *ips {
                svc["spec"]["externalIPs"] = json!(["203.0.113.10"]);
            }
            svc
        }).collect();
        snap.network_policies = policies.into_iter().enumerate().map(|(i, (sel, types, rules))| {
            let name = match (i, ours) {
                (0, Some(_)) => "raydar-c0".to_string(),
                _ => format!("np{i}"),
            };
            let mut np = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name, "namespace": NS, "resourceVersion": "1"},
                "spec": {"podSelector": sel, "ingress": rules}});
            if let Some(t) = types {
                np["spec"]["policyTypes"] = t;
            }
            if i == 0 && ours == Some(true) {
                np["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "raydar"});
            }
            np
        }).collect();
        snap.operator_pods = match operator {
            0 => None,
            1 => Some(vec![]),
            _ => Some(vec![("kuberay-system".into(), labels(&[("app.kubernetes.io/name", "kuberay-operator")]))]),
        };
        // The operator's own policies, where its gate is on.
        let made: Vec<Value> = snap.ray_clusters.iter()
            .filter(|c| c["metadata"]["labels"]["gate"] == "on")
            .flat_map(kuberay_policies)
            .map(|mut np| { np["metadata"]["resourceVersion"] = json!("1"); np })
            .collect();
        snap.network_policies.extend(made);
        snap
    }
}

fn applied(snap: &Snapshot, p: &raydar::remediate::Plan) -> Snapshot {
    let mut out = snap.clone();
    for c in &p.changes {
        let list = match c.target.kind.as_str() {
            "Service" => &mut out.services,
            "NetworkPolicy" => &mut out.network_policies,
            "RayCluster" => &mut out.ray_clusters,
            "ServiceAccount" => &mut out.service_accounts,
            "ResourceQuota" => &mut out.resource_quotas,
            "Ingress" => &mut out.ingresses,
            _ => continue,
        };
        list.retain(|o| o["metadata"]["name"] != c.target.name.as_str());
        if c.op != Op::Delete {
            list.push(c.after.clone().unwrap());
        }
    }
    out
}

fn exposure(svc: &Value) -> u8 {
    let ips =
        svc.pointer("/spec/externalIPs").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    match svc.pointer("/spec/type").and_then(Value::as_str) {
        Some("LoadBalancer") => 3,
        Some("NodePort") => 2,
        _ if ips => 1,
        _ => 0,
    }
}

/// Every pod that may exist in the namespace: each cluster's head and worker groups (as
/// KubeRay labels them), a stray pod carrying a cluster label, and an unrelated app.
fn pods(snap: &Snapshot) -> Vec<Labels> {
    let mut out = vec![labels(&[("app", "other")]), labels(&[("ray.io/cluster", "c0")])];
    for c in &snap.ray_clusters {
        let name = c["metadata"]["name"].as_str().unwrap();
        let spec = &c["spec"];
        let extra: Labels = serde_json::from_value(
            spec.pointer("/headGroupSpec/template/metadata/labels").cloned().unwrap_or(json!({})),
        )
        .unwrap();
        out.push(raydar::semantics::ray::pod_labels(name, true, "headgroup", Some(&extra)));
        for g in spec["workerGroupSpecs"].as_array().unwrap() {
            let gn = g["groupName"].as_str().unwrap();
            out.push(raydar::semantics::ray::pod_labels(name, false, gn, None));
        }
    }
    out
}

fn sources(pods: &[Labels]) -> Vec<Source> {
    let ns_labels = labels(&[("kubernetes.io/metadata.name", NS)]);
    let mut out: Vec<Source> = pods
        .iter()
        .enumerate()
        .map(|(i, l)| Source {
            pod: Some((NS.into(), ns_labels.clone(), l.clone())),
            ip: Ipv4Addr::new(10, 244, 0, u8::try_from(i + 1).unwrap_or(1)),
            port: 0,
        })
        .collect();
    out.push(Source {
        pod: Some((
            "kuberay-system".into(),
            labels(&[("kubernetes.io/metadata.name", "kuberay-system")]),
            labels(&[("app.kubernetes.io/name", "kuberay-operator")]),
        )),
        ip: Ipv4Addr::new(10, 244, 1, 1),
        port: 0,
    });
    out.push(Source {
        pod: Some((
            NS.into(),
            ns_labels.clone(),
            labels(&[("ray.io/originated-from-crd", "RayJob")]),
        )),
        ip: Ipv4Addr::new(10, 244, 1, 2),
        port: 0,
    });
    out.push(Source {
        pod: Some((
            "other".into(),
            labels(&[("kubernetes.io/metadata.name", "other")]),
            labels(&[("app.kubernetes.io/name", "kuberay-operator")]),
        )),
        ip: Ipv4Addr::new(10, 244, 2, 1),
        port: 0,
    });
    out.push(Source { pod: None, ip: Ipv4Addr::new(203, 0, 113, 7), port: 0 });
    out.push(Source { pod: None, ip: Ipv4Addr::new(198, 51, 100, 7), port: 0 });
    out.push(Source { pod: None, ip: Ipv4Addr::new(10, 1, 2, 3), port: 0 });
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn no_fix_widens_access(snap in arb_snapshot()) {
        let all_pods = pods(&snap);
        let srcs = sources(&all_pods);
        let before_np = effective(&snap);
        for fix in FixId::ALL {
            for c in &snap.ray_clusters {
                let entry = c["metadata"]["name"].as_str().unwrap();
                let Ok(p) = plan(fix, &snap, entry) else { continue };
                let after = applied(&snap, &p);
                let after_np = effective(&after);
                for svc in &after.services {
                    let before = snap.services.iter().find(|s| s["metadata"]["name"] == svc["metadata"]["name"]);
                    prop_assert!(before.is_some(), "{fix} created Service {}", svc["metadata"]["name"]);
                    prop_assert!(exposure(svc) <= exposure(before.unwrap()), "{fix} made {} more public", svc["metadata"]["name"]);
                }
                for pod in &all_pods {
                    for src in &srcs {
                        for port in [6379u16, 8265, 10001, 8000, 8080, 52365] {
                            let src = Source { port, ..src.clone() };
                            let was = admits(&before_np, NS, pod, &src);
                            let now = admits(&after_np, NS, pod, &src);
                            prop_assert!(was || !now,
                                "{fix} on {entry}: pod {pod:?} now admits {src:?} (plan: {:?})", p.summary());
                        }
                    }
                }
            }
        }
    }
}

/// The network-policy fix on a cluster whose policies are KubeRay's (`spec.networkPolicy`):
/// it edits the spec and never adds a policy beside the operator's.
#[test]
fn the_network_policy_fix_edits_kuberays_spec_never_a_policy_beside() {
    let shape = |np: Value, gate_on| ClusterShape {
        service_type: None,
        groups: 1,
        autoscaler: false,
        team_label: false,
        network_policy: Some(np),
        gate_on,
    };
    let snap_of = |c: ClusterShape| {
        let rc = cluster_json(0, &c);
        let mut snap = Snapshot { namespace: NS.into(), ..Default::default() };
        if c.gate_on {
            snap.network_policies = kuberay_policies(&rc);
        }
        snap.ray_clusters = vec![rc];
        snap.operator_pods = Some(vec![(
            "kuberay-system".into(),
            labels(&[("app.kubernetes.io/name", "kuberay-operator")]),
        )]);
        snap
    };
    // Ingress open (DenyAllEgress) with an open head rule: the spec is edited, nothing else.
    let open = json!({"mode": "DenyAllEgress", "head": {"ingressRules": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 8265}]}]}});
    let p = plan(FixId::NetworkPolicy, &snap_of(shape(open, true)), "c0").unwrap();
    assert_eq!(p.summary(), ["update RayCluster ns/c0"], "{:?}", p.summary());
    let after = p.changes[0].after.as_ref().unwrap();
    let np = &after["spec"]["networkPolicy"];
    assert_eq!(np["mode"], "DenyAll");
    let rules = np["head"]["ingressRules"].to_string();
    assert!(!rules.contains("0.0.0.0/0") && rules.contains("kuberay-operator"), "{rules}");
    // Already closed: nothing to do.
    let closed =
        json!({"mode": "DenyAll", "head": {"ingressRules": [{"from": [{"podSelector": {}}]}]}});
    assert!(plan(FixId::NetworkPolicy, &snap_of(shape(closed.clone(), true)), "c0")
        .unwrap()
        .is_empty());
    // The operator never made its policies (gate off): a clear refusal, nothing planned.
    match plan(FixId::NetworkPolicy, &snap_of(shape(closed, false)), "c0") {
        Err(e) => {
            let m = e.to_string();
            assert!(
                m.contains("c0-head") && m.contains("RayClusterNetworkPolicy") && !m.contains('\n'),
                "{m}"
            );
        }
        Ok(p) => panic!("planned {:?}", p.summary()),
    }
}
