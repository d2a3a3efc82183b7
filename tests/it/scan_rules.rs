//! Every rule of README: `raydar rules` with a positive and a negative case: a clean baseline that raises
//! nothing above info, and for each rule the smallest change that must raise it.

use raydar::inventory::Inventory;
use raydar::posture::{evaluate, Entry, PostureConfig, Severity};
use serde_json::{json, Value};

pub(crate) fn container(name: &str) -> Value {
    json!({"name": name, "image": "rayproject/ray:2.56.0@sha256:0123456789abcdef",
        "env": [{"name": "RAY_USE_TLS", "value": "1"}, {"name": "RAY_TLS_SERVER_CERT", "value": "/t/c"},
                {"name": "RAY_TLS_SERVER_KEY", "value": "/t/k"}, {"name": "RAY_TLS_CA_CERT", "value": "/t/ca"}],
        "ports": [{"name": "gcs-server", "containerPort": 6379}, {"name": "dashboard", "containerPort": 8265}, {"name": "client", "containerPort": 10001}],
        "securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": true, "runAsUser": 1000, "capabilities": {"drop": ["ALL"]}},
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}})
}

pub(crate) fn template(name: &str) -> Value {
    json!({"spec": {"serviceAccountName": "rc-ray", "automountServiceAccountToken": false, "containers": [container(name)]}})
}

/// A cluster with every control in place, plus the objects around it.
pub(crate) fn clean() -> Vec<Value> {
    vec![
        json!({"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "rc", "namespace": "team-a"},
            "spec": {"rayVersion": "2.56.0", "authOptions": {"mode": "token"},
                "headGroupSpec": {"rayStartParams": {}, "template": template("ray-head")},
                "workerGroupSpecs": [{"groupName": "w", "replicas": 1, "minReplicas": 1, "maxReplicas": 2, "template": template("ray-worker")}]}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "rc", "namespace": "team-a"},
            "spec": {"podSelector": {"matchLabels": {"ray.io/cluster": "rc"}}, "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"ray.io/cluster": "rc"}}}]}]}}),
        json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "team-a"},
            "spec": {"hard": {"requests.cpu": "10", "requests.nvidia.com/gpu": "4"}}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "rc-ray", "namespace": "team-a"}, "automountServiceAccountToken": false}),
    ]
}

pub(crate) fn run(docs: Vec<Value>, cfg: &PostureConfig) -> Vec<Entry> {
    let mut inv = Inventory::default();
    for d in docs {
        inv.add_value(d, "default").unwrap();
    }
    evaluate(&inv, cfg)
}

pub(crate) fn rules_of(entries: &[Entry]) -> Vec<(String, Severity)> {
    entries
        .iter()
        .flat_map(|e| e.findings.iter().map(|f| (f.rule.id.to_string(), f.severity)))
        .collect()
}

pub(crate) fn head(d: &mut [Value]) -> &mut Value {
    &mut d[0]["spec"]["headGroupSpec"]["template"]["spec"]
}
pub(crate) fn worker(d: &mut [Value]) -> &mut Value {
    &mut d[0]["spec"]["workerGroupSpecs"][0]["template"]["spec"]
}
pub(crate) fn svc(ty: &str, port: Value, extra: Value) -> Value {
    let mut s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "exposed", "namespace": "team-a"},
        "spec": {"type": ty, "selector": {"ray.io/cluster": "rc", "ray.io/node-type": "head"}, "ports": [port]}});
    if let (Some(m), Some(e)) = (s.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            if k == "spec" {
                for (sk, sv) in v.as_object().into_iter().flatten() {
                    m["spec"][sk] = sv.clone();
                }
            } else {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    s
}

type Mutation = fn(&mut Vec<Value>, &mut PostureConfig);

#[test]
fn clean_baseline_raises_nothing() {
    let e = run(clean(), &PostureConfig::default());
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].findings, vec![], "{:#?}", e[0].findings);
    assert_eq!(e[0].grade, Some(raydar::posture::Grade::A), "{}", e[0].grade_reason);
}

#[test]
fn every_rule_fires_on_its_smallest_change() {
    let cases: Vec<(&str, Severity, Mutation)> = vec![
        ("RAY-TLS-001", Severity::High, |d, _| {
            head(d)["containers"][0]["env"] = json!([]);
            worker(d)["containers"][0]["env"] = json!([]);
        }),
        ("RAY-TLS-002", Severity::Medium, |d, _| {
            worker(d)["containers"][0]["env"] = json!([]);
        }),
        ("RAY-TLS-002", Severity::Medium, |d, _| {
            worker(d)["containers"][0]["env"] = json!([{"name": "RAY_USE_TLS", "value": "1"}]);
        }),
        ("RAY-AUTH-001", Severity::High, |d, _| {
            d[0]["spec"].as_object_mut().unwrap().remove("authOptions");
        }),
        ("RAY-EXP-001", Severity::Critical, |d, _| {
            d.push(svc("LoadBalancer", json!({"name": "gcs", "port": 6379}), json!({})))
        }),
        ("RAY-EXP-001", Severity::Critical, |d, _| {
            head(d)["hostNetwork"] = json!(true);
        }),
        ("RAY-EXP-002", Severity::Critical, |d, _| {
            d.push(svc(
                "NodePort",
                json!({"name": "http", "port": 80, "targetPort": "dashboard"}),
                json!({}),
            ))
        }),
        ("RAY-EXP-002", Severity::Critical, |d, _| {
            d.push(svc("LoadBalancer", json!({"port": 80, "targetPort": 8265}), json!({})))
        }),
        // A ClusterIP Service with externalIPs is reachable from outside all the same.
        ("RAY-EXP-002", Severity::Critical, |d, _| {
            d.push(svc(
                "ClusterIP",
                json!({"port": 8265}),
                json!({"spec": {"externalIPs": ["203.0.113.7"]}}),
            ))
        }),
        ("RAY-EXP-003", Severity::High, |d, _| {
            d.push(svc(
                "LoadBalancer",
                json!({"port": 8265}),
                json!({"spec": {"loadBalancerSourceRanges": ["10.0.0.0/8"]}}),
            ))
        }),
        ("RAY-EXP-003", Severity::High, |d, _| {
            d.push(svc("LoadBalancer", json!({"port": 8265}), json!({"metadata": {"name": "exposed", "namespace": "team-a",
            "annotations": {"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "intranet"}}})))
        }),
        ("RAY-EXP-004", Severity::Critical, |d, _| {
            d.push(svc(
                "ClusterIP",
                json!({"name": "dashboard", "port": 8265}),
                json!({"metadata": {"name": "rc-head-svc", "namespace": "team-a"}}),
            ));
            d.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "team-a"},
                "spec": {"rules": [{"http": {"paths": [{"path": "/", "backend": {"service": {"name": "rc-head-svc", "port": {"number": 8265}}}}]}}]}}));
        }),
        ("RAY-EXP-004", Severity::High, |d, _| {
            d.push(svc(
                "ClusterIP",
                json!({"name": "dashboard", "port": 8265}),
                json!({"metadata": {"name": "rc-head-svc", "namespace": "team-a"}}),
            ));
            d.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "team-a",
                "annotations": {"nginx.ingress.kubernetes.io/auth-url": "https://auth/oauth2/auth"}},
                "spec": {"rules": [{"http": {"paths": [{"path": "/", "backend": {"service": {"name": "rc-head-svc", "port": {"name": "dashboard"}}}}]}}]}}));
        }),
        ("RAY-EXP-004", Severity::Critical, |d, _| {
            d[0]["spec"]["headGroupSpec"]["enableIngress"] = json!(true);
        }),
        ("RAY-SVC-001", Severity::High, |d, _| {
            d[0]["spec"]["headGroupSpec"]["serviceType"] = json!("NodePort");
        }),
        ("RAY-NET-001", Severity::High, |d, _| {
            d.remove(1);
        }),
        ("RAY-NET-002", Severity::Medium, |d, _| {
            d[1]["spec"]["podSelector"]["matchLabels"]["ray.io/node-type"] = json!("head");
        }),
        ("RAY-NET-003", Severity::High, |d, _| {
            d[1]["spec"]["ingress"] = json!([{}]);
        }),
        ("RAY-NET-003", Severity::High, |d, _| {
            d[1]["spec"]["ingress"] = json!([{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]);
        }),
        ("RAY-NS-001", Severity::Medium, |d, _| {
            for o in d.iter_mut() {
                o["metadata"]["namespace"] = json!("default");
            }
        }),
        ("RAY-QUOTA-001", Severity::Medium, |d, _| {
            d.remove(2);
        }),
        ("RAY-QUOTA-002", Severity::Low, |d, _| {
            worker(d)["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = json!("1");
            d[2]["spec"]["hard"] = json!({"requests.cpu": "10"});
        }),
        ("RAY-RBAC-001", Severity::Medium, |d, _| {
            worker(d).as_object_mut().unwrap().remove("serviceAccountName");
        }),
        ("RAY-RBAC-002", Severity::Medium, |d, _| {
            worker(d)["automountServiceAccountToken"] = json!(true);
        }),
        ("RAY-RBAC-002", Severity::Info, |d, _| {
            d[0]["spec"]["enableInTreeAutoscaling"] = json!(true);
            head(d)["automountServiceAccountToken"] = json!(true);
        }),
        ("RAY-RBAC-003", Severity::Critical, |d, _| {
            d.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "b"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "rc-ray", "namespace": "team-a"}]}))
        }),
        ("RAY-RBAC-003", Severity::Critical, |d, _| {
            d.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "all", "namespace": "team-a"},
                "rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}]}));
            d.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b", "namespace": "team-a"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "all"},
                "subjects": [{"kind": "ServiceAccount", "name": "rc-ray"}]}));
        }),
        ("RAY-SEC-001", Severity::Critical, |d, _| {
            worker(d)["containers"][0]["securityContext"]["privileged"] = json!(true);
        }),
        ("RAY-SEC-002", Severity::High, |d, _| {
            head(d)["containers"][0]["securityContext"]["runAsUser"] = json!(0);
        }),
        ("RAY-SEC-002", Severity::High, |d, _| {
            let sc = head(d)["containers"][0]["securityContext"].as_object_mut().unwrap();
            sc.remove("runAsUser");
            sc.remove("runAsNonRoot");
        }),
        ("RAY-SEC-003", Severity::Medium, |d, _| {
            head(d)["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true);
        }),
        ("RAY-SEC-004", Severity::High, |d, _| {
            worker(d)["volumes"] = json!([{"name": "h", "hostPath": {"path": "/mnt/datasets/a"}}]);
            worker(d)["containers"][0]["volumeMounts"] =
                json!([{"name": "h", "mountPath": "/data"}]);
        }),
        ("RAY-SEC-004", Severity::High, |d, _| {
            worker(d)["volumes"] = json!([{"name": "h", "hostPath": {"path": "/etc"}}]);
            worker(d)["containers"][0]["volumeMounts"] =
                json!([{"name": "h", "mountPath": "/data", "readOnly": true}]);
        }),
        ("RAY-SEC-005", Severity::High, |d, _| {
            worker(d)["hostPID"] = json!(true);
        }),
        ("RAY-SEC-006", Severity::Medium, |d, _| {
            head(d)["containers"][0]["securityContext"]["capabilities"] =
                json!({"drop": ["ALL"], "add": ["SYS_ADMIN"]});
        }),
        ("RAY-SEC-006", Severity::Medium, |d, _| {
            head(d)["containers"][0]["securityContext"]["capabilities"] = json!({});
        }),
        ("RAY-IMG-001", Severity::Medium, |d, _| {
            head(d)["containers"][0]["image"] = json!("rayproject/ray:latest");
        }),
        ("RAY-IMG-001", Severity::Medium, |d, _| {
            head(d)["containers"][0]["image"] = json!("rayproject/ray");
        }),
        ("RAY-IMG-002", Severity::Low, |d, _| {
            head(d)["containers"][0]["image"] = json!("rayproject/ray:2.56.0");
        }),
        ("RAY-IMG-003", Severity::Info, |_, c| {
            c.trusted_registries = vec!["registry.example.com/ray".into()];
        }),
        ("RAY-VER-001", Severity::High, |d, _| {
            d[0]["spec"]["rayVersion"] = json!("2.51.0");
        }),
        ("RAY-VER-001", Severity::High, |d, _| {
            d[0]["spec"]["rayVersion"] = json!("2.55.1");
        }),
        // The severity follows the advisory: a user's OSV file with a moderate one.
        ("RAY-VER-001", Severity::Medium, |d, c| {
            d[0]["spec"]["rayVersion"] = json!("2.60.0");
            let osv = r#"{"id": "GHSA-test-mod1", "summary": "s", "database_specific": {"severity": "MODERATE"},
                "affected": [{"package": {"ecosystem": "PyPI", "name": "ray"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.60.0"}, {"fixed": "2.60.1"}]}]}]}"#;
            let a =
                raydar::posture::advisories::Advisories::from_osv_text(osv, "test.json").unwrap();
            c.db = raydar::posture::AdvisoryDb::new(a);
        }),
        ("RAY-RES-001", Severity::Medium, |d, _| {
            worker(d)["containers"][0].as_object_mut().unwrap().remove("resources");
        }),
        ("RAY-RES-002", Severity::Medium, |d, _| {
            worker(d)["containers"][0]["resources"]["limits"] = json!({"cpu": "1"});
        }),
        ("RAY-CRED-001", Severity::Critical, |d, _| {
            worker(d)["containers"][0]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "AWS_SECRET_ACCESS_KEY", "value": "x"}));
        }),
        ("RAY-CRED-002", Severity::Medium, |d, _| {
            worker(d)["containers"][0]["env"].as_array_mut().unwrap().push(json!({"name": "OSS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}));
        }),
        ("RAY-JOB-001", Severity::Low, |d, _| {
            d.push(json!({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "j", "namespace": "team-a"},
            "spec": {"entrypoint": "x", "clusterSelector": {"ray.io/cluster": "rc"}}}))
        }),
        ("RAY-JOB-002", Severity::Low, |d, _| {
            let spec = d[0]["spec"].clone();
            d.push(json!({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "j", "namespace": "team-a"},
            "spec": {"entrypoint": "x", "rayClusterSpec": spec}}));
        }),
        ("RAY-JOB-003", Severity::Info, |d, _| {
            let mut c = d[0].clone();
            c["metadata"]["name"] = json!("rc2");
            d.push(c);
        }),
    ];
    let base = rules_of(&run(clean(), &PostureConfig::default()));
    let mut covered = std::collections::BTreeSet::new();
    for (rule, sev, mutate) in cases {
        assert!(!base.iter().any(|(r, _)| r == rule), "{rule} fires on the clean baseline");
        let mut docs = clean();
        let mut cfg = PostureConfig {
            allowed_host_paths: vec!["/mnt/datasets".into()],
            ..Default::default()
        };
        mutate(&mut docs, &mut cfg);
        let got = rules_of(&run(docs, &cfg));
        assert!(got.contains(&(rule.to_string(), sev)), "{rule} ({sev:?}) expected, got {got:?}");
        covered.insert(rule);
    }
    // RAY-GRD-001 and RAY-NET-004 need a live inventory: `scan_edges::the_guard_rule_*`,
    // `scan_edges::kuberay_network_policies_*`.
    for r in
        raydar::posture::RULES.iter().filter(|r| !["RAY-GRD-001", "RAY-NET-004"].contains(&r.id))
    {
        assert!(covered.contains(r.id), "no positive case for {}", r.id);
    }
}

#[test]
fn entries_for_jobs_and_services_follow_their_clusters() {
    // While a RayJob has no cluster, its entry carries the cluster rules from its embedded spec.
    let mut docs = clean();
    let mut spec = docs[0]["spec"].clone();
    spec["headGroupSpec"]["serviceType"] = json!("LoadBalancer");
    docs.push(json!({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "j", "namespace": "team-a"},
        "spec": {"entrypoint": "x", "shutdownAfterJobFinishes": true, "rayClusterSpec": spec}}));
    let e = run(docs.clone(), &PostureConfig::default());
    let job = e.iter().find(|x| x.kind == "RayJob").unwrap();
    let rules: Vec<&str> = job.findings.iter().map(|f| f.rule.id).collect();
    assert!(rules.contains(&"RAY-SVC-001") && rules.contains(&"RAY-EXP-002"), "{rules:?}");
    assert!(job
        .findings
        .iter()
        .any(|f| f.evidence.contains("spec.rayClusterSpec.headGroupSpec.serviceType")));
    // Once its cluster exists, the cluster's entry carries the rest and points at its owner.
    docs[4]["status"] = json!({"rayClusterName": "rc"});
    docs[0]["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "ray.io/v1", "kind": "RayJob", "name": "j", "uid": "u"}]);
    let e = run(docs, &PostureConfig::default());
    let job = e.iter().find(|x| x.kind == "RayJob").unwrap();
    assert!(job.findings.iter().all(|f| f.rule.id == "RAY-SVC-001"), "{:?}", job.findings);
    assert!(!job.findings.is_empty(), "its own CR field still counts on the job's entry");
    let rc = e.iter().find(|x| x.kind == "RayCluster").unwrap();
    assert_eq!(rc.owner.as_ref().map(|o| o.kind.as_str()), Some("RayJob"));
}

#[test]
fn an_exemption_is_shown_on_its_finding_and_not_graded() {
    let mut docs = clean();
    head(&mut docs)["containers"][0]["securityContext"]["privileged"] = json!(true);
    let graded = run(docs.clone(), &PostureConfig::default());
    assert_eq!(
        graded[0].grade,
        Some(raydar::posture::Grade::C),
        "a privileged pod alone is a critical hardening gap"
    );
    docs[0]["metadata"]["annotations"] =
        json!({"raydar.io/exempt": "RAY-SEC-001: GPU driver debugging, OPS-12"});
    let e = run(docs, &PostureConfig::default());
    let f = e[0].findings.iter().find(|f| f.rule.id == "RAY-SEC-001").unwrap();
    assert_eq!(f.exempt.as_deref(), Some("GPU driver debugging, OPS-12"));
    assert_eq!(
        e[0].worst(),
        graded[0].findings.iter().filter(|f| f.rule.id != "RAY-SEC-001").map(|f| f.severity).max()
    );
    assert_ne!(e[0].grade, Some(raydar::posture::Grade::F), "the exempt finding is not graded");
    let v = serde_json::to_value(f).unwrap();
    assert_eq!(v["exempt"], "GPU driver debugging, OPS-12");
    let other = e[0].findings.iter().find(|f| f.rule.id != "RAY-SEC-001");
    assert!(other.is_none_or(|o| serde_json::to_value(o).unwrap().get("exempt").is_none()));
}

#[test]
fn token_auth_evidence_asks_for_an_upgrade_only_below_ray_2_52() {
    let evidence = |version: &str| {
        let mut docs = clean();
        docs[0]["spec"].as_object_mut().unwrap().remove("authOptions");
        docs[0]["spec"]["rayVersion"] = json!(version);
        let e = run(docs, &PostureConfig::default());
        let f = e[0].findings.iter().find(|f| f.rule.id == "RAY-AUTH-001").unwrap();
        f.evidence.clone()
    };
    assert!(evidence("2.51.1").contains("Ray 2.51.1 must be upgraded to 2.52.0 or later first"));
    assert!(!evidence("2.52.0").contains("must be upgraded"), "{}", evidence("2.52.0"));
    assert!(!evidence("2.60.0").contains("must be upgraded"));
}

#[test]
fn what_counts_as_auth_follows_kuberay_and_the_ray_version() {
    use raydar::posture::auth::{effective, Auth};
    use raydar::posture::images::parse_version;
    let facts = raydar::posture::advisories::Advisories::builtin().facts.clone();
    let auth = |spec: Value, v: &str| {
        let spec: raydar::kuberay::RayClusterSpec = serde_json::from_value(spec).unwrap();
        effective(&spec, parse_version(v), &facts)
    };
    let head_env = |v: &str| {
        json!({"headGroupSpec": {"template": {"spec": {"containers": [
        {"name": "ray-head", "env": [{"name": "RAY_AUTH_MODE", "value": v}]}]}}}})
    };
    assert_eq!(auth(json!({"authOptions": {"mode": "token"}}), "2.52.0"), Auth::Token);
    assert_eq!(
        auth(json!({"authOptions": {"mode": "token", "secretName": "s"}}), "2.60.0"),
        Auth::Token
    );
    assert!(
        !auth(json!({"authOptions": {"mode": "token"}}), "2.51.2").on(),
        "below the token-auth version"
    );
    assert_eq!(
        auth(json!({"authOptions": {"mode": "token", "enableK8sTokenAuth": true}}), "2.57.0"),
        Auth::KubernetesToken
    );
    assert!(
        !auth(json!({"authOptions": {"mode": "token", "enableK8sTokenAuth": true}}), "2.54.0").on()
    );
    assert!(
        !auth(json!({"authOptions": {"enableK8sTokenAuth": true}}), "2.57.0").on(),
        "needs mode: token"
    );
    assert!(
        !auth(json!({"authOptions": {}}), "2.57.0").on(),
        "KubeRay enables auth only for mode: token"
    );
    assert!(!auth(json!({"authOptions": {"mode": "disabled"}}), "2.60.0").on());
    assert_eq!(auth(json!({}), "2.61.0"), Auth::ByDefault, "Ray's default from 2.61");
    assert!(!auth(head_env("disabled"), "2.61.0").on());
    assert_eq!(auth(head_env("token"), "2.53.0"), Auth::Token);
    assert!(!auth(json!({}), "2.60.0").on());
}
