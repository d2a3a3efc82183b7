//! The demo cluster's data: the named clusters of README: The demo cluster, each with the head pod, worker
//! pods and head Service exactly as KubeRay creates them, and a deterministic large population
//! (`--namespaces N --clusters N`) of the same shapes for benchmarks.

use super::defaults::{self, Alloc};
use base64::Engine;
use serde_json::{json, Value};

/// One object to load: its kind (apiVersion, Kind) and body.
pub type Seed = Value;

const SUFFIX: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// KubeRay's 5-character random suffix, derived from `seed` so the data is deterministic.
pub fn suffix(seed: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    (0..5).map(|i| char::from(SUFFIX[((h >> (i * 8)) % SUFFIX.len() as u64) as usize])).collect()
}

pub(super) fn ts(base: i64, hours_ago: i64) -> String {
    chrono::DateTime::from_timestamp(base - hours_ago * 3600, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// How a generated Ray cluster looks.
#[derive(Debug, Clone)]
pub struct Shape {
    pub ns: String,
    pub name: String,
    pub ray_version: String,
    pub image: String,
    pub service_type: Option<&'static str>,
    pub service_annotations: Value,
    pub lb_source_ranges: Vec<&'static str>,
    /// TLS env on the head (`.0`) and on workers (`.1`).
    pub tls: (bool, bool),
    pub token_auth: bool,
    /// KubeRay 1.7's `spec.networkPolicy`, and whether the operator made its policies (its
    /// RayClusterNetworkPolicy feature gate on) or not (off: asked for, not made).
    pub network_policy: Option<Value>,
    pub operator_policies: bool,
    pub enable_ingress: bool,
    pub workers: Vec<(&'static str, i64)>,
    pub gpus_per_worker: i64,
    pub service_account: Option<String>,
    pub automount: Option<bool>,
    pub security: Security,
    pub resources: bool,
    pub extra_env: Vec<Value>,
    pub owner: Option<(&'static str, String, String)>,
    pub autoscaler: bool,
    pub head_restarts: i64,
    pub age_hours: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Nothing set (the common case).
    Default,
    /// runAsNonRoot, no escalation, drop ALL, RuntimeDefault seccomp.
    Hardened,
    /// Privileged root with host network and a writable hostPath.
    Cowboy,
}

impl Shape {
    pub fn new(ns: &str, name: &str) -> Self {
        Self {
            ns: ns.into(),
            name: name.into(),
            ray_version: "2.54.0".into(),
            image: "rayproject/ray:2.54.0".into(),
            service_type: None,
            service_annotations: json!({}),
            lb_source_ranges: Vec::new(),
            tls: (false, false),
            token_auth: false,
            network_policy: None,
            operator_policies: false,
            enable_ingress: false,
            workers: vec![("workers", 2)],
            gpus_per_worker: 0,
            service_account: None,
            automount: None,
            security: Security::Default,
            resources: true,
            extra_env: Vec::new(),
            owner: None,
            autoscaler: false,
            head_restarts: 0,
            age_hours: 72,
        }
    }
}

pub(super) fn tls_env() -> Vec<Value> {
    vec![
        json!({"name": "RAY_USE_TLS", "value": "1"}),
        json!({"name": "RAY_TLS_SERVER_CERT", "value": "/etc/ray/tls/tls.crt"}),
        json!({"name": "RAY_TLS_SERVER_KEY", "value": "/etc/ray/tls/tls.key"}),
        json!({"name": "RAY_TLS_CA_CERT", "value": "/etc/ca/tls/ca.crt"}),
    ]
}

pub(super) fn container(s: &Shape, head: bool) -> Value {
    let mut env = Vec::new();
    if (head && s.tls.0) || (!head && s.tls.1) {
        env.extend(tls_env());
    }
    env.extend(s.extra_env.iter().cloned());
    let mut c = json!({
        "name": if head { "ray-head" } else { "ray-worker" },
        "image": s.image,
        "imagePullPolicy": "IfNotPresent",
        "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", "ray stop"]}}},
    });
    if !env.is_empty() {
        c["env"] = json!(env);
    }
    if head {
        c["ports"] = json!([
            {"containerPort": 6379, "name": "gcs-server", "protocol": "TCP"},
            {"containerPort": 8265, "name": "dashboard", "protocol": "TCP"},
            {"containerPort": 10001, "name": "client", "protocol": "TCP"},
            {"containerPort": 8000, "name": "serve", "protocol": "TCP"},
        ]);
    }
    if s.resources {
        let (cpu, mem) = if head { ("2", "8Gi") } else { ("4", "16Gi") };
        let mut res =
            json!({"requests": {"cpu": cpu, "memory": mem}, "limits": {"cpu": cpu, "memory": mem}});
        if !head && s.gpus_per_worker > 0 {
            res["requests"]["nvidia.com/gpu"] = json!(s.gpus_per_worker.to_string());
            res["limits"]["nvidia.com/gpu"] = json!(s.gpus_per_worker.to_string());
        }
        c["resources"] = res;
    }
    match s.security {
        Security::Default => {}
        Security::Hardened => {
            c["securityContext"] = json!({"allowPrivilegeEscalation": false, "runAsNonRoot": true,
                "runAsUser": 1000, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}});
        }
        Security::Cowboy => {
            c["securityContext"] = json!({"privileged": true, "runAsUser": 0,
                "capabilities": {"add": ["SYS_ADMIN", "NET_ADMIN"]}});
            c["volumeMounts"] = json!([{"name": "host-data", "mountPath": "/data"}]);
        }
    }
    if s.tls.0 || s.tls.1 {
        let mounts = c["volumeMounts"].as_array().cloned().unwrap_or_default();
        let mut m = mounts;
        m.push(json!({"name": "ca-tls", "mountPath": "/etc/ca/tls", "readOnly": true}));
        m.push(json!({"name": "ray-tls", "mountPath": "/etc/ray/tls"}));
        c["volumeMounts"] = json!(m);
    }
    c
}

pub(super) fn pod_spec(s: &Shape, head: bool) -> Value {
    let mut spec = json!({"containers": [container(s, head)]});
    if let Some(sa) = &s.service_account {
        spec["serviceAccountName"] = json!(sa);
    }
    if let Some(a) = s.automount {
        spec["automountServiceAccountToken"] = json!(a);
    }
    let mut volumes = Vec::new();
    if s.security == Security::Cowboy {
        spec["hostNetwork"] = json!(true);
        spec["hostPID"] = json!(true);
        volumes.push(json!({"name": "host-data", "hostPath": {"path": "/var/lib/ray-data", "type": "DirectoryOrCreate"}}));
    }
    if s.security == Security::Hardened {
        spec["securityContext"] = json!({"runAsNonRoot": true, "runAsUser": 1000, "fsGroup": 100,
            "seccompProfile": {"type": "RuntimeDefault"}});
    }
    if s.tls.0 || s.tls.1 {
        volumes.push(json!({"name": "ca-tls", "secret": {"secretName": "ca-tls"}}));
        volumes.push(json!({"name": "ray-tls", "emptyDir": {}}));
    }
    if !volumes.is_empty() {
        spec["volumes"] = json!(volumes);
    }
    spec
}

pub(super) fn cr_spec(s: &Shape) -> Value {
    let mut head = json!({"rayStartParams": {"dashboard-host": "0.0.0.0"},
        "template": {"spec": pod_spec(s, true)}});
    if let Some(t) = s.service_type {
        head["serviceType"] = json!(t);
    }
    let annotations = s.service_annotations.as_object().filter(|m| !m.is_empty());
    if annotations.is_some() || !s.lb_source_ranges.is_empty() {
        let mut hs = json!({"metadata": {}, "spec": {}});
        if let Some(a) = annotations {
            hs["metadata"]["annotations"] = json!(a);
        }
        if !s.lb_source_ranges.is_empty() {
            hs["spec"]["loadBalancerSourceRanges"] = json!(s.lb_source_ranges);
        }
        head["headService"] = hs;
    }
    if s.enable_ingress {
        head["enableIngress"] = json!(true);
    }
    let workers: Vec<Value> = s
        .workers
        .iter()
        .map(|(g, n)| {
            json!({"groupName": g, "replicas": n, "minReplicas": n, "maxReplicas": n * 2,
            "rayStartParams": {}, "template": {"spec": pod_spec(s, false)}})
        })
        .collect();
    let mut spec =
        json!({"rayVersion": s.ray_version, "headGroupSpec": head, "workerGroupSpecs": workers});
    if s.token_auth {
        spec["authOptions"] = json!({"mode": "token"});
    }
    if let Some(np) = &s.network_policy {
        spec["networkPolicy"] = np.clone();
    }
    if s.autoscaler {
        spec["enableInTreeAutoscaling"] = json!(true);
    }
    spec
}

pub(super) fn owner_ref(kind: &str, name: &str, uid: &str) -> Value {
    json!([{"apiVersion": "ray.io/v1", "kind": kind, "name": name, "uid": uid, "controller": true,
        "blockOwnerDeletion": true}])
}

pub(super) fn uid_for(seed: &str) -> String {
    let a = suffix(seed);
    let b = suffix(&format!("{seed}/b"));
    let h: String =
        format!("{a}{b}").bytes().map(|c| format!("{:02x}", c % 16 * 16 + c / 16 % 16)).collect();
    format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[12..15], &h[15..18], &h[..12])
}

pub(super) fn pod_labels(s: &Shape, node_type: &str, group: &str) -> Value {
    let ident =
        if node_type == "head" { format!("{}-head", s.name) } else { format!("{}-worker", s.name) };
    let mut l = json!({"ray.io/cluster": s.name, "ray.io/node-type": node_type, "ray.io/group": group,
        "ray.io/is-ray-node": "yes", "ray.io/identifier": ident, "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator"});
    if let Some((kind, owner, _)) = &s.owner {
        l["ray.io/originated-from-crd"] = json!(kind);
        l["ray.io/originated-from-cr-name"] = json!(owner);
    }
    l
}

/// The RayCluster, its pods, head Service and (with `enableIngress`) Ingress and auth Secret.
pub fn cluster(s: &Shape, now: i64, alloc: &mut Alloc) -> Vec<Seed> {
    let mut out = Vec::new();
    let created = ts(now, s.age_hours);
    let rc_uid = uid_for(&format!("rc/{}/{}", s.ns, s.name));
    let mut rc_meta = json!({"name": s.name, "namespace": s.ns, "uid": rc_uid, "creationTimestamp": created, "generation": 1});
    if let Some((kind, owner, owner_uid)) = &s.owner {
        rc_meta["labels"] =
            json!({"ray.io/originated-from-crd": kind, "ray.io/originated-from-cr-name": owner});
        rc_meta["ownerReferences"] = owner_ref(kind, owner, owner_uid);
    }
    let head_name = format!("{}-head-{}", s.name, suffix(&format!("{}/{}/head", s.ns, s.name)));
    let svc_name = format!("{}-head-svc", s.name);
    let svc_type = s.service_type.unwrap_or("ClusterIP");

    // Head Service: ports copied from the head container, plus metrics.
    let mut ports: Vec<Value> = container(s, true)["ports"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|p| json!({"name": p["name"], "port": p["containerPort"], "protocol": "TCP"}))
        .collect();
    ports.push(json!({"name": "metrics", "port": 8080, "protocol": "TCP"}));
    let ident = format!("{}-head", s.name);
    let selector = json!({"ray.io/cluster": s.name, "ray.io/node-type": "head", "ray.io/identifier": ident,
        "app.kubernetes.io/name": "kuberay", "app.kubernetes.io/created-by": "kuberay-operator"});
    let mut svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": svc_name, "namespace": s.ns, "creationTimestamp": created,
            "labels": selector.clone(), "ownerReferences": owner_ref("RayCluster", &s.name, &rc_uid),
            "uid": uid_for(&format!("svc/{}/{}", s.ns, svc_name))},
        "spec": {"type": svc_type, "selector": selector, "ports": ports}});
    if let Some(a) = s.service_annotations.as_object().filter(|m| !m.is_empty()) {
        svc["metadata"]["annotations"] = json!(a);
    }
    if !s.lb_source_ranges.is_empty() {
        svc["spec"]["loadBalancerSourceRanges"] = json!(s.lb_source_ranges);
    }
    if svc_type == "ClusterIP" {
        svc["spec"]["clusterIP"] = json!("None");
    }
    defaults::service(&mut svc, None, alloc);

    // Pods.
    let head_ip = alloc.pod_ip();
    let head_spec = {
        let mut sp = pod_spec(s, true);
        if sp["serviceAccountName"].is_null() {
            sp["serviceAccountName"] =
                json!(if s.autoscaler { s.name.clone() } else { "default".into() });
        }
        sp["nodeName"] = json!("demo-node-1");
        sp
    };
    let head_status = defaults::running_status(
        head_ip.clone(),
        &created,
        vec![json!({"name": "ray-head",
        "image": s.image, "imageID": "", "ready": true, "restartCount": s.head_restarts, "started": true,
        "state": {"running": {"startedAt": created}}})],
    );
    out.push(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": head_name, "namespace": s.ns, "creationTimestamp": created,
            "labels": pod_labels(s, "head", "headgroup"), "ownerReferences": owner_ref("RayCluster", &s.name, &rc_uid),
            "uid": uid_for(&format!("pod/{}/{}", s.ns, head_name))},
        "spec": head_spec, "status": head_status}));
    let mut desired = 0;
    for (g, n) in &s.workers {
        for i in 0..*n {
            let wname = format!(
                "{}-{g}-worker-{}",
                s.name,
                suffix(&format!("{}/{}/{g}/{i}", s.ns, s.name))
            );
            let mut sp = pod_spec(s, false);
            if sp["serviceAccountName"].is_null() {
                sp["serviceAccountName"] = json!("default");
            }
            sp["nodeName"] = json!(format!("demo-node-{}", 2 + i % 3));
            let st = defaults::running_status(
                alloc.pod_ip(),
                &created,
                vec![json!({"name": "ray-worker",
                "image": s.image, "imageID": "", "ready": true, "restartCount": 0, "started": true,
                "state": {"running": {"startedAt": created}}})],
            );
            out.push(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": wname, "namespace": s.ns, "creationTimestamp": created,
                    "labels": pod_labels(s, "worker", g), "ownerReferences": owner_ref("RayCluster", &s.name, &rc_uid),
                    "uid": uid_for(&format!("pod/{}/{}", s.ns, wname))},
                "spec": sp, "status": st}));
            desired += 1;
        }
    }

    // The RayCluster with the status the operator reports.
    let mut endpoints = serde_json::Map::new();
    for p in svc["spec"]["ports"].as_array().into_iter().flatten() {
        let v = p["nodePort"].as_i64().or(p["port"].as_i64()).unwrap_or(0);
        endpoints.insert(p["name"].as_str().unwrap_or("").to_string(), json!(v.to_string()));
    }
    let gpus = s.gpus_per_worker * desired;
    out.push(json!({"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": rc_meta, "spec": cr_spec(s),
        "status": {"state": "ready", "readyWorkerReplicas": desired, "availableWorkerReplicas": desired,
            "desiredWorkerReplicas": desired, "minWorkerReplicas": desired, "maxWorkerReplicas": desired * 2,
            "desiredCPU": (2 + 4 * desired).to_string(), "desiredMemory": format!("{}Gi", 8 + 16 * desired),
            "desiredGPU": gpus.to_string(), "desiredTPU": "0", "observedGeneration": 1,
            "lastUpdateTime": created, "endpoints": endpoints,
            "head": {"podIP": head_ip, "podName": head_name, "serviceIP": svc["spec"]["clusterIP"], "serviceName": svc_name},
            "conditions": [
                {"type": "HeadPodReady", "status": "True", "reason": "HeadPodRunningAndReady", "message": "", "lastTransitionTime": created},
                {"type": "RayClusterProvisioned", "status": "True", "reason": "AllPodRunningAndReadyFirstTime", "message": "", "lastTransitionTime": created}]}}));
    out.push(svc);

    if s.enable_ingress {
        let iname = format!("{}-head-ingress", s.name);
        out.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": iname, "namespace": s.ns, "creationTimestamp": created,
                "labels": {"ray.io/cluster": s.name}, "ownerReferences": owner_ref("RayCluster", &s.name, &rc_uid)},
            "spec": {"ingressClassName": "nginx", "rules": [{"http": {"paths": [{"path": "/", "pathType": "Exact",
                "backend": {"service": {"name": svc_name, "port": {"number": 8265}}}}]}}]},
            "status": {"loadBalancer": {"ingress": [{"ip": alloc.lb_ip(false)}]}}}));
    }
    if let (Some(np), true) = (&s.network_policy, s.operator_policies) {
        out.extend(operator_policies(s, np, &rc_uid, &created));
    }
    if s.token_auth {
        let token = super::auth_token();
        out.push(json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": s.name, "namespace": s.ns, "creationTimestamp": created,
                "labels": {"ray.io/cluster": s.name}, "ownerReferences": owner_ref("RayCluster", &s.name, &rc_uid)},
            "data": {"auth_token": base64::engine::general_purpose::STANDARD.encode(token)}}));
    }
    out
}

/// The NetworkPolicies KubeRay's operator makes from `spec.networkPolicy` with its
/// RayClusterNetworkPolicy gate on (`networkpolicy_controller.go`, v1.7.0): `<c>-head` and
/// `<c>-workers-<group>`, each admitting the cluster's own pods, then the spec's rules.
fn operator_policies(s: &Shape, np: &Value, rc_uid: &str, created: &str) -> Vec<Seed> {
    let mode = np["mode"].as_str().unwrap_or("DenyAll");
    let own = json!({"podSelector": {"matchLabels": {"ray.io/cluster": s.name}}});
    let policy = |name: String, group: &str, select: Value, extra: &Value| {
        let mut types = Vec::new();
        let mut spec = json!({"podSelector": {"matchLabels": select}});
        if mode != "DenyAllEgress" {
            types.push("Ingress");
            let mut ingress = vec![json!({"from": [own]})];
            ingress.extend(extra["ingressRules"].as_array().cloned().unwrap_or_default());
            spec["ingress"] = json!(ingress);
        }
        if mode != "DenyAllIngress" {
            types.push("Egress");
            let mut egress = vec![json!({"to": [own]})];
            egress.extend(extra["egressRules"].as_array().cloned().unwrap_or_default());
            spec["egress"] = json!(egress);
        }
        spec["policyTypes"] = json!(types);
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": s.ns, "creationTimestamp": created,
                "labels": {"ray.io/cluster": s.name, "ray.io/group": group,
                    "app.kubernetes.io/name": "kuberay", "app.kubernetes.io/created-by": "kuberay-operator"},
                "ownerReferences": owner_ref("RayCluster", &s.name, rc_uid)},
            "spec": spec})
    };
    let mut out = vec![policy(
        format!("{}-head", s.name),
        "headgroup",
        json!({"ray.io/cluster": s.name, "ray.io/node-type": "head"}),
        &np["head"],
    )];
    for (g, _) in &s.workers {
        out.push(policy(
            format!("{}-workers-{g}", s.name),
            g,
            json!({"ray.io/cluster": s.name, "ray.io/node-type": "worker", "ray.io/group": g}),
            &np["worker"],
        ));
    }
    out
}

pub(super) fn namespace(name: &str, now: i64, labels: Value) -> Seed {
    let mut l = labels;
    l["kubernetes.io/metadata.name"] = json!(name);
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": l,
        "creationTimestamp": ts(now, 24 * 30)}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
}

pub(super) fn network_policy(
    ns: &str,
    name: &str,
    selector: Value,
    ingress: Value,
    now: i64,
) -> Seed {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": ts(now, 48)},
        "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress"], "ingress": ingress}})
}

pub(super) fn default_sa(ns: &str, now: i64) -> Seed {
    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns,
        "creationTimestamp": ts(now, 24 * 30)}})
}

pub(super) fn operator(now: i64, alloc: &mut Alloc) -> Vec<Seed> {
    let ns = "kuberay-system";
    let labels = json!({"app.kubernetes.io/name": "kuberay-operator", "app.kubernetes.io/component": "kuberay-operator",
        "app.kubernetes.io/instance": "kuberay-operator"});
    let created = ts(now, 24 * 20);
    let pod_name = format!("kuberay-operator-7d9f6c8b4-{}", suffix("operator"));
    let container = json!({"name": "kuberay-operator", "image": "quay.io/kuberay/operator:v1.7.0",
        "args": ["--feature-gates=RayClusterStatusConditions=true"],
        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "100m", "memory": "512Mi"}}});
    vec![
        namespace(ns, now, json!({})),
        default_sa(ns, now),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "kuberay-operator", "namespace": ns, "creationTimestamp": created}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "kuberay-operator", "namespace": ns,
            "labels": labels, "creationTimestamp": created, "generation": 1},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "kuberay-operator"}},
                "template": {"metadata": {"labels": labels}, "spec": {"serviceAccountName": "kuberay-operator", "containers": [container.clone()]}}},
            "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1, "observedGeneration": 1}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod_name, "namespace": ns, "labels": labels,
            "creationTimestamp": created, "uid": uid_for("operator-pod")},
            "spec": {"serviceAccountName": "kuberay-operator", "nodeName": "demo-node-1", "containers": [container]},
            "status": defaults::running_status(alloc.pod_ip(), &created, vec![json!({"name": "kuberay-operator",
                "image": "quay.io/kuberay/operator:v1.7.0", "imageID": "", "ready": true, "restartCount": 0, "started": true,
                "state": {"running": {"startedAt": created}}})])}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "kuberay-operator", "creationTimestamp": created},
            "rules": [{"apiGroups": ["ray.io"], "resources": ["rayclusters", "rayjobs", "rayservices"], "verbs": ["*"]},
                {"apiGroups": [""], "resources": ["pods", "services", "serviceaccounts", "events"], "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "kuberay-operator", "creationTimestamp": created},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kuberay-operator"},
            "subjects": [{"kind": "ServiceAccount", "name": "kuberay-operator", "namespace": ns}]}),
    ]
}

pub(super) fn cluster_roles(now: i64) -> Vec<Seed> {
    let created = ts(now, 24 * 60);
    let role = |name: &str, rules: Value| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name, "creationTimestamp": created, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}, "rules": rules})
    };
    vec![
        role(
            "cluster-admin",
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        ),
        role(
            "admin",
            json!([{"apiGroups": ["", "apps", "ray.io", "networking.k8s.io"], "resources": ["*"], "verbs": ["*"]}]),
        ),
        role(
            "edit",
            json!([{"apiGroups": ["", "apps", "ray.io"], "resources": ["pods", "services", "rayclusters", "deployments"], "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}]),
        ),
        role(
            "view",
            json!([{"apiGroups": ["", "apps", "ray.io"], "resources": ["pods", "services", "rayclusters", "deployments"], "verbs": ["get", "list", "watch"]}]),
        ),
    ]
}

/// `--namespaces N --clusters C`: C clusters spread over N namespaces (`team-0000`, …), each
/// with a head and three workers, cycling through the shapes of the named demo.
pub fn population(namespaces: usize, clusters: usize, now: i64, alloc: &mut Alloc) -> Vec<Seed> {
    let mut out = operator(now, alloc);
    out.extend(cluster_roles(now));
    let n = namespaces.max(1);
    for i in 0..n {
        let ns = format!("team-{i:04}");
        out.push(namespace(&ns, now, json!({"team": format!("t{}", i % 17)})));
        out.push(default_sa(&ns, now));
        if i % 3 == 0 {
            out.push(json!({"apiVersion": "v1", "kind": "ResourceQuota",
                "metadata": {"name": "quota", "namespace": ns, "creationTimestamp": ts(now, 100)},
                "spec": {"hard": {"requests.cpu": "500", "requests.memory": "2000Gi"}}}));
        }
    }
    for c in 0..clusters {
        let ns = format!("team-{:04}", c % n);
        let mut s = Shape::new(&ns, &format!("rc-{c:05}"));
        s.workers = vec![("workers", 3)];
        s.age_hours = (c % 500) as i64 + 1;
        match c % 5 {
            0 => s.service_type = Some("LoadBalancer"),
            1 => {
                s.service_type = Some("LoadBalancer");
                s.lb_source_ranges = vec!["10.0.0.0/8"];
            }
            2 => {
                s.tls = (true, true);
                s.security = Security::Hardened;
                s.automount = Some(false);
            }
            3 => s.enable_ingress = true,
            _ => {
                s.security = Security::Cowboy;
                s.image = "rayproject/ray:latest".into();
                s.ray_version = "2.9.0".into();
            }
        }
        out.extend(cluster(&s, now, alloc));
        if c % 5 == 2 {
            out.push(network_policy(
                &ns,
                &format!("rc-{c:05}-ray"),
                json!({"ray.io/cluster": s.name}),
                json!([{"from": [{"podSelector": {"matchLabels": {"ray.io/cluster": s.name}}}]}]),
                now,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_kuberay_shaped_and_stable() {
        let s = suffix("x");
        assert_eq!(s.len(), 5);
        assert_eq!(s, suffix("x"));
        assert_ne!(s, suffix("y"));
    }

    #[test]
    fn a_cluster_has_head_workers_and_service() {
        let mut alloc = Alloc::default();
        let objs = cluster(&Shape::new("ns", "c"), 0, &mut alloc);
        let kinds: Vec<&str> = objs.iter().filter_map(|o| o["kind"].as_str()).collect();
        assert_eq!(kinds, ["Pod", "Pod", "Pod", "RayCluster", "Service"]);
        let svc = &objs[4];
        assert_eq!(svc["metadata"]["name"], "c-head-svc");
        assert_eq!(svc["spec"]["clusterIP"], "None");
        assert_eq!(svc["spec"]["selector"].as_object().map(|m| m.len()), Some(5));
        assert!(objs[0]["metadata"]["name"].as_str().unwrap().starts_with("c-head-"));
    }
}
