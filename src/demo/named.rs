//! The named demo clusters of README: "The demo cluster": one per posture story (exposed,
//! hardened, half-TLS, RayJobs and RayServices, a stray cluster in `default`), with the
//! namespaces, the KubeRay operator, RBAC, NetworkPolicies and events around them.

use super::data::{
    cluster, cluster_roles, cr_spec, default_sa, namespace, network_policy, operator, owner_ref,
    suffix, ts, uid_for, Security, Seed, Shape,
};
use super::defaults::{self, Alloc};
use base64::Engine;
use serde_json::{json, Value};

/// DNS egress, which `DenyAll` needs (KubeRay's sample `ray-cluster.network-policy-deny-all`).
fn dns_egress() -> Value {
    json!({"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                   "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
           "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]})
}

fn event(
    ns: &str,
    kind: &str,
    name: &str,
    reason: &str,
    message: &str,
    now: i64,
    i: usize,
) -> Seed {
    let t = ts(now, 1);
    let uid = if kind == "Pod" {
        uid_for(&format!("pod/{ns}/{name}"))
    } else {
        uid_for(&format!("rc/{ns}/{name}"))
    };
    json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{:x}", 0x17a0000 + i), "namespace": ns, "creationTimestamp": t},
        "involvedObject": {"kind": kind, "namespace": ns, "name": name, "uid": uid, "apiVersion": if kind == "Pod" { "v1" } else { "ray.io/v1" }},
        "reason": reason, "message": message, "type": "Warning", "count": 3,
        "firstTimestamp": t, "lastTimestamp": t, "source": {"component": if kind == "Pod" { "kubelet" } else { "raycluster-controller" }}})
}

fn ray_job(ns: &str, name: &str, spec: Value, status: Value, now: i64) -> Seed {
    json!({"apiVersion": "ray.io/v1", "kind": "RayJob",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": ts(now, 30), "generation": 1,
            "uid": uid_for(&format!("rayjob/{ns}/{name}"))},
        "spec": spec, "status": status})
}

/// The named demo cluster of README: The demo cluster.
pub fn named(now: i64, alloc: &mut Alloc) -> Vec<Seed> {
    let mut out = operator(now, alloc);
    out.extend(cluster_roles(now));
    for ns in ["default", "kube-system", "ray-prod", "ray-dev", "ml-team"] {
        out.push(namespace(ns, now, json!({})));
        out.push(default_sa(ns, now));
    }

    // ray-prod ----------------------------------------------------------------------------
    let mut train = Shape::new("ray-prod", "train-exposed");
    train.service_type = Some("LoadBalancer");
    train.workers = vec![("gpu-workers", 4)];
    train.gpus_per_worker = 1;
    train.age_hours = 24 * 9;
    out.extend(cluster(&train, now, alloc));

    let mut acl = Shape::new("ray-prod", "serve-acl");
    acl.ray_version = "2.53.0".into();
    acl.image = "rayproject/ray:2.53.0".into();
    acl.service_type = Some("LoadBalancer");
    acl.service_annotations = json!({
        "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-acl-status": "on",
        "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-acl-id": "acl-bp1demo0000000000000",
        "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-acl-type": "white"});
    acl.age_hours = 24 * 5;
    out.extend(cluster(&acl, now, alloc));
    out.push(network_policy(
        "ray-prod",
        "serve-acl-allow-all",
        json!({"ray.io/cluster": "serve-acl"}),
        json!([{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]),
        now,
    ));

    let mut hard = Shape::new("ray-prod", "hardened");
    hard.ray_version = "2.56.0".into();
    hard.image = "rayproject/ray:2.56.0@sha256:4f5c1e9a0b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e".into();
    hard.tls = (true, true);
    hard.token_auth = true;
    hard.service_account = Some("hardened-ray".into());
    hard.automount = Some(false);
    hard.security = Security::Hardened;
    hard.age_hours = 24 * 3;
    out.extend(cluster(&hard, now, alloc));
    out.push(json!({"apiVersion": "v1", "kind": "ServiceAccount", "automountServiceAccountToken": false,
        "metadata": {"name": "hardened-ray", "namespace": "ray-prod", "creationTimestamp": ts(now, 24 * 3),
            "labels": {"app.kubernetes.io/managed-by": "platform-team"}}}));
    out.push(network_policy("ray-prod", "hardened-ray", json!({"ray.io/cluster": "hardened"}), json!([
        {"from": [{"podSelector": {"matchLabels": {"ray.io/cluster": "hardened"}}}]},
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kuberay-system"}},
                   "podSelector": {"matchLabels": {"app.kubernetes.io/name": "kuberay-operator"}}}],
         "ports": [{"port": 8265, "protocol": "TCP"}, {"port": 8000, "protocol": "TCP"}]}]), now));
    out.push(json!({"apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "ray-prod-quota", "namespace": "ray-prod", "creationTimestamp": ts(now, 24 * 30)},
        "spec": {"hard": {"requests.cpu": "200", "requests.memory": "800Gi", "limits.cpu": "200", "limits.memory": "800Gi", "pods": "100"}},
        "status": {"hard": {"requests.cpu": "200", "requests.memory": "800Gi", "limits.cpu": "200", "limits.memory": "800Gi", "pods": "100"},
            "used": {"requests.cpu": "40", "requests.memory": "168Gi", "limits.cpu": "40", "limits.memory": "168Gi", "pods": "14"}}}));
    out.push(event(
        "ray-prod",
        "RayCluster",
        "train-exposed",
        "ServiceExposed",
        "head Service train-exposed-head-svc is of type LoadBalancer",
        now,
        1,
    ));

    // ray-dev -----------------------------------------------------------------------------
    let mut nb = Shape::new("ray-dev", "notebook");
    nb.ray_version = "2.47.1".into();
    nb.image = "rayproject/ray:2.47.1-py311".into();
    nb.enable_ingress = true;
    nb.tls = (true, false);
    nb.resources = false;
    nb.workers = vec![("cpu", 1)];
    nb.autoscaler = true;
    nb.age_hours = 24 * 14;
    out.extend(cluster(&nb, now, alloc));
    out.push(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "notebook", "namespace": "ray-dev", "creationTimestamp": ts(now, 24 * 14)}}));

    let mut cowboy = Shape::new("ray-dev", "cowboy");
    cowboy.ray_version = "2.9.0".into();
    cowboy.image = "rayproject/ray:latest".into();
    cowboy.security = Security::Cowboy;
    cowboy.service_account = Some("cowboy-sa".into());
    cowboy.resources = false;
    cowboy.workers = vec![("workers", 1)];
    cowboy.head_restarts = 7;
    cowboy.age_hours = 24 * 40;
    out.extend(cluster(&cowboy, now, alloc));
    out.push(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "cowboy-sa", "namespace": "ray-dev", "creationTimestamp": ts(now, 24 * 40)}}));
    out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "cowboy-sa-admin", "creationTimestamp": ts(now, 24 * 40)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "cowboy-sa", "namespace": "ray-dev"}]}));
    let cowboy_head = format!("cowboy-head-{}", suffix("ray-dev/cowboy/head"));
    out.push(event(
        "ray-dev",
        "Pod",
        &cowboy_head,
        "BackOff",
        "Back-off restarting failed container ray-head in pod",
        now,
        2,
    ));
    out.push(event(
        "ray-dev",
        "Pod",
        &cowboy_head,
        "Unhealthy",
        "Readiness probe failed: dashboard agent not ready",
        now,
        3,
    ));

    // A RayJob that keeps its cluster after finishing.
    let job_cluster = format!("nightly-eval-{}", suffix("ray-dev/nightly-eval"));
    let job_uid = uid_for("rayjob/ray-dev/nightly-eval");
    let mut jc = Shape::new("ray-dev", &job_cluster);
    jc.owner = Some(("RayJob", "nightly-eval".into(), job_uid));
    jc.workers = vec![("small", 1)];
    jc.age_hours = 30;
    // Both walls: token auth, and KubeRay's own policies (its RayClusterNetworkPolicy gate on).
    jc.token_auth = true;
    jc.network_policy = Some(json!({"mode": "DenyAll", "head": {"egressRules": [dns_egress()]},
        "worker": {"egressRules": [dns_egress()]}}));
    jc.operator_policies = true;
    out.push(ray_job("ray-dev", "nightly-eval", json!({"entrypoint": "python /home/ray/eval.py",
        "shutdownAfterJobFinishes": false, "rayClusterSpec": cr_spec(&jc)}),
        json!({"jobStatus": "SUCCEEDED", "jobDeploymentStatus": "Complete", "rayClusterName": job_cluster,
            "jobId": "nightly-eval-7x2kq", "startTime": ts(now, 29), "endTime": ts(now, 28)}), now));
    out.extend(cluster(&jc, now, alloc));
    // A RayJob on a shared, existing cluster.
    out.push(ray_job("ray-dev", "adhoc-query", json!({"entrypoint": "python -c 'import ray; ray.init()'",
        "clusterSelector": {"ray.io/cluster": "notebook"}}),
        json!({"jobStatus": "RUNNING", "jobDeploymentStatus": "Running", "rayClusterName": "notebook",
            "startTime": ts(now, 1)}), now));

    // ml-team -----------------------------------------------------------------------------
    let mut etl = Shape::new("ml-team", "etl");
    etl.ray_version = "2.52.1".into();
    etl.image = "registry.cn-hangzhou.aliyuncs.com/ml-team/ray:2.52.1".into();
    etl.extra_env = vec![
        json!({"name": "ALIBABA_CLOUD_ACCESS_KEY_ID", "value": "LTAI5tDemoKeyId0000000000"}),
        json!({"name": "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "value": "DemoSecretValue0000000000000000"}),
        json!({"name": "OSS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "etl-oss", "key": "access-key-id"}}}),
    ];
    etl.age_hours = 24 * 6;
    out.extend(cluster(&etl, now, alloc));
    out.push(json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "etl-oss", "namespace": "ml-team", "creationTimestamp": ts(now, 24 * 6)},
        "data": {"access-key-id": base64::engine::general_purpose::STANDARD.encode("LTAI5tDemoOssKey000000000")}}));
    out.push(network_policy(
        "ml-team",
        "etl-head-only",
        json!({"ray.io/cluster": "etl", "ray.io/node-type": "head"}),
        json!([{"from": [{"podSelector": {"matchLabels": {"ray.io/cluster": "etl"}}}]}]),
        now,
    ));
    // A hand-made NodePort Service: port 80 → the head's named dashboard port.
    let etl_sel = json!({"ray.io/cluster": "etl", "ray.io/node-type": "head"});
    let mut by_hand = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "etl-dashboard", "namespace": "ml-team", "creationTimestamp": ts(now, 24 * 2),
            "labels": {"owner": "data-eng"}},
        "spec": {"type": "NodePort", "selector": etl_sel, "ports": [{"name": "http", "port": 80, "targetPort": "dashboard"}]}});
    defaults::service(&mut by_hand, None, alloc);
    out.push(by_hand);

    // A RayService and its cluster.
    let svc_cluster = format!("llm-serve-{}", suffix("ml-team/llm-serve"));
    let rs_uid = uid_for("rayservice/ml-team/llm-serve");
    let mut rs = Shape::new("ml-team", &svc_cluster);
    rs.owner = Some(("RayService", "llm-serve".into(), rs_uid.clone()));
    rs.workers = vec![("gpu", 2)];
    rs.gpus_per_worker = 1;
    rs.age_hours = 24 * 2;
    // One wall: KubeRay's policies isolate it, but nothing authenticates.
    rs.network_policy = Some(json!({"mode": "DenyAllIngress"}));
    rs.operator_policies = true;
    out.push(json!({"apiVersion": "ray.io/v1", "kind": "RayService",
        "metadata": {"name": "llm-serve", "namespace": "ml-team", "creationTimestamp": ts(now, 24 * 2), "generation": 1, "uid": rs_uid},
        "spec": {"serveConfigV2": "applications:\n- name: llm\n  import_path: serve_app:app\n", "rayClusterConfig": cr_spec(&rs)},
        "status": {"serviceStatus": "Running", "numServeEndpoints": 3,
            "activeServiceStatus": {"rayClusterName": svc_cluster}}}));
    out.extend(cluster(&rs, now, alloc));
    let rs_sel = json!({"ray.io/cluster": svc_cluster, "ray.io/node-type": "head"});
    for (name, ports) in [
        (
            "llm-serve-head-svc",
            json!([{"name": "dashboard", "port": 8265}, {"name": "gcs-server", "port": 6379}, {"name": "client", "port": 10001}]),
        ),
        ("llm-serve-serve-svc", json!([{"name": "serve", "port": 8000}])),
    ] {
        let mut s = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "ml-team", "creationTimestamp": ts(now, 24 * 2),
                "ownerReferences": owner_ref("RayService", "llm-serve", &uid_for("rayservice/ml-team/llm-serve"))},
            "spec": {"type": "ClusterIP", "selector": rs_sel, "ports": ports}});
        defaults::service(&mut s, None, alloc);
        out.push(s);
    }

    // default/stray -----------------------------------------------------------------------
    let mut stray = Shape::new("default", "stray");
    stray.ray_version = "2.51.2".into();
    stray.image = "rayproject/ray:2.51.2".into();
    stray.workers = vec![("workers", 1)];
    stray.age_hours = 24 * 90;
    // Asks KubeRay for policies the operator (gate off) never made: RAY-NET-004.
    stray.network_policy = Some(json!({"mode": "DenyAllIngress"}));
    out.extend(cluster(&stray, now, alloc));
    out
}
