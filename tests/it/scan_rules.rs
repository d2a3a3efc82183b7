//! Every rule of README: `raydar rules` with a positive and a negative case: a clean baseline that raises
//! nothing above info, and for each rule the smallest change that must raise it.

use raydar::inventory::Inventory;
use raydar::posture::{evaluate, Entry, PostureConfig, Severity};
use serde_json::{json, Value};

fn container(name: &str) -> Value {
    json!({"name": name, "image": "rayproject/ray:2.54.0@sha256:0123456789abcdef",
        "env": [{"name": "RAY_USE_TLS", "value": "1"}, {"name": "RAY_TLS_SERVER_CERT", "value": "/t/c"},
                {"name": "RAY_TLS_SERVER_KEY", "value": "/t/k"}, {"name": "RAY_TLS_CA_CERT", "value": "/t/ca"}],
        "ports": [{"name": "gcs-server", "containerPort": 6379}, {"name": "dashboard", "containerPort": 8265}, {"name": "client", "containerPort": 10001}],
        "securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": true, "runAsUser": 1000, "capabilities": {"drop": ["ALL"]}},
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}})
}

fn template(name: &str) -> Value {
    json!({"spec": {"serviceAccountName": "rc-ray", "automountServiceAccountToken": false, "containers": [container(name)]}})
}

/// A cluster with every control in place, plus the objects around it.
fn clean() -> Vec<Value> {
    vec![
        json!({"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "rc", "namespace": "team-a"},
            "spec": {"rayVersion": "2.54.0", "authOptions": {"mode": "token"},
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

fn run(docs: Vec<Value>, cfg: &PostureConfig) -> Vec<Entry> {
    let mut inv = Inventory::default();
    for d in docs {
        inv.add_value(d, "default").unwrap();
    }
    evaluate(&inv, cfg)
}

fn rules_of(entries: &[Entry]) -> Vec<(String, Severity)> {
    entries
        .iter()
        .flat_map(|e| e.findings.iter().map(|f| (f.rule.id.to_string(), f.severity)))
        .collect()
}

fn head(d: &mut [Value]) -> &mut Value {
    &mut d[0]["spec"]["headGroupSpec"]["template"]["spec"]
}
fn worker(d: &mut [Value]) -> &mut Value {
    &mut d[0]["spec"]["workerGroupSpecs"][0]["template"]["spec"]
}
fn svc(ty: &str, port: Value, extra: Value) -> Value {
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
    assert_eq!((e[0].grade, e[0].score), ("A", 100));
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
            head(d)["containers"][0]["image"] = json!("rayproject/ray:2.54.0");
        }),
        ("RAY-IMG-003", Severity::Info, |_, c| {
            c.trusted_registries = vec!["registry.example.com/ray".into()];
        }),
        ("RAY-VER-001", Severity::High, |d, _| {
            d[0]["spec"]["rayVersion"] = json!("2.51.0");
        }),
        ("RAY-VER-001", Severity::Medium, |d, _| {
            d[0]["spec"]["rayVersion"] = json!("2.53.1");
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
    for r in raydar::posture::RULES {
        assert!(covered.contains(r.id), "no positive case for {}", r.id);
    }
}

#[test]
fn grades_follow_the_formula() {
    use raydar::posture::{grade, Finding, RULES};
    let f = |sev| Finding::new(&RULES[0], sev, "e");
    assert_eq!(grade(&[]), ("A", 100));
    assert_eq!(grade(&[f(Severity::High)]), ("B", 85));
    assert_eq!(
        grade(&[f(Severity::High), f(Severity::High), f(Severity::Medium), f(Severity::Low)]),
        ("C", 64)
    );
    assert_eq!(grade(&vec![f(Severity::High); 4]), ("D", 40));
    assert_eq!(grade(&vec![f(Severity::High); 5]), ("F", 25));
    assert_eq!(grade(&[f(Severity::Critical)]), ("F", 0));
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
    assert_eq!(graded[0].grade, "F");
    docs[0]["metadata"]["annotations"] =
        json!({"raydar.io/exempt": "RAY-SEC-001: GPU driver debugging, OPS-12"});
    let e = run(docs, &PostureConfig::default());
    let f = e[0].findings.iter().find(|f| f.rule.id == "RAY-SEC-001").unwrap();
    assert_eq!(f.exempt.as_deref(), Some("GPU driver debugging, OPS-12"));
    assert_eq!(
        e[0].worst(),
        graded[0].findings.iter().filter(|f| f.rule.id != "RAY-SEC-001").map(|f| f.severity).max()
    );
    assert_ne!(e[0].grade, "F", "the exempt finding is not graded");
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
    assert!(evidence("2.51.1").contains("Ray 2.51.1 must be upgraded to 2.52 or later first"));
    assert!(!evidence("2.52.0").contains("must be upgraded"), "{}", evidence("2.52.0"));
    assert!(!evidence("2.60.0").contains("must be upgraded"));
}

/// The EXP-004 findings (severity, evidence) of `docs`.
fn ingress_findings(docs: Vec<Value>) -> Vec<(Severity, String)> {
    let e = run(docs, &PostureConfig::default());
    e.iter()
        .flat_map(|e| e.findings.iter())
        .filter(|f| f.rule.id == "RAY-EXP-004")
        .map(|f| (f.severity, f.evidence.clone()))
        .collect()
}

fn ingress(name: &str, service: &str, port: Value, annotations: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": "team-a", "annotations": annotations},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": service, "port": port}}}]}}]}})
}

fn head_service() -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "rc-head-svc", "namespace": "team-a"},
        "spec": {"type": "ClusterIP", "selector": {"ray.io/cluster": "rc", "ray.io/node-type": "head"},
            "ports": [{"name": "dashboard", "port": 8265, "targetPort": 8265},
                      {"name": "client", "port": 10001, "targetPort": 10001}]}})
}

#[test]
fn an_ingress_counts_when_it_routes_to_the_dashboard_by_service_and_port() {
    let with = |ing: Value| {
        let mut d = clean();
        d.push(head_service());
        d.push(ing);
        ingress_findings(d)
    };
    let none = json!({});
    let crit = |v: &[(Severity, String)]| v.len() == 1 && v[0].0 == Severity::Critical;
    let high = |v: &[(Severity, String)]| v.len() == 1 && v[0].0 == Severity::High;
    assert!(crit(&with(ingress("i", "rc-head-svc", json!({"number": 8265}), none.clone()))));
    assert!(crit(&with(ingress("i", "rc-head-svc", json!({"name": "dashboard"}), none.clone()))));
    assert!(with(ingress("i", "rc-head-svc", json!({"number": 10001}), none.clone())).is_empty());
    assert!(with(ingress("i", "rc-head-svc", json!({"name": "client"}), none.clone())).is_empty());
    assert!(with(ingress("i", "other", json!({"number": 8265}), none.clone())).is_empty());
    for auth in [
        json!({"nginx.ingress.kubernetes.io/auth-url": "https://auth/x"}),
        json!({"nginx.ingress.kubernetes.io/auth-type": "basic"}),
        json!({"x": "http://oauth2-proxy.auth.svc/oauth2/start"}),
        json!({"y": "https://sso/oauth2/auth"}),
    ] {
        let v = with(ingress("i", "rc-head-svc", json!({"number": 8265}), auth.clone()));
        assert!(high(&v), "{auth}: {v:?}");
    }
    assert!(crit(&with(ingress(
        "i",
        "rc-head-svc",
        json!({"number": 8265}),
        json!({"z": "oauth2"})
    ))));
}

#[test]
fn enable_ingress_counts_once_whether_kuberay_made_the_ingress_or_will() {
    // Manifests: KubeRay will create an open Ingress.
    let mut d = clean();
    d[0]["spec"]["headGroupSpec"]["enableIngress"] = json!(true);
    let v = ingress_findings(d.clone());
    assert!(v.len() == 1 && v[0].1.contains("KubeRay creates an Ingress"), "{v:?}");
    // Its Ingress is there (no Service yet): that Ingress is the finding, once.
    d.push(ingress("rc-head-ingress", "rc-head-svc", json!({"number": 8265}), json!({})));
    let v = ingress_findings(d.clone());
    assert!(v.len() == 1 && v[0].1.starts_with("Ingress team-a/rc-head-ingress"), "{v:?}");
    // An Ingress of another name does not stand for KubeRay's.
    let mut other = clean();
    other[0]["spec"]["headGroupSpec"]["enableIngress"] = json!(true);
    other.push(ingress("rcx-head-ingress", "elsewhere", json!({"number": 80}), json!({})));
    let v = ingress_findings(other);
    assert!(v.len() == 1 && v[0].1.contains("KubeRay creates an Ingress"), "{v:?}");
    // No Ingress asked for, one to something else: nothing.
    let mut plain = clean();
    plain.push(ingress("web", "frontend", json!({"number": 80}), json!({})));
    assert!(ingress_findings(plain).is_empty());
    // Ingresses that could not be read: silent rather than wrong.
    let mut inv = Inventory::default();
    for o in d {
        inv.add_value(o, "default").unwrap();
    }
    inv.unreadable.insert(("team-a".into(), "ingresses".into()));
    let e = evaluate(&inv, &PostureConfig::default());
    assert!(e.iter().flat_map(|e| &e.findings).all(|f| f.rule.id != "RAY-EXP-004"));
}

#[test]
fn host_port_zero_is_no_host_port_and_only_credential_names_count() {
    let mut d = clean();
    head(&mut d)["containers"][0]["ports"][1]["hostPort"] = json!(0);
    let e = run(d, &PostureConfig::default());
    assert!(e[0].findings.iter().all(|f| f.rule.id != "RAY-EXP-001"), "{:?}", e[0].findings);
    let mut d = clean();
    head(&mut d)["containers"][0]["env"] = json!([
        {"name": "ALLOW_UNSAFE", "value": "1"}, {"name": "OMP_NUM_THREADS", "value": "4"},
        {"name": "GRPC_VERBOSITY", "value": "debug"}]);
    let e = run(d, &PostureConfig::default());
    assert!(e[0].findings.iter().all(|f| f.rule.id != "RAY-CRED-001"), "{:?}", e[0].findings);
}

#[test]
fn a_live_pods_literal_credential_is_reported_even_when_the_template_is_clean() {
    let mut d = clean();
    d.push(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "rc-head-x", "namespace": "team-a",
            "labels": {"ray.io/cluster": "rc", "ray.io/node-type": "head", "ray.io/group": "headgroup"}},
        "spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.54.0",
            "env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "injected-by-a-webhook"}]}]}}));
    let e = run(d, &PostureConfig::default());
    let f = e[0].findings.iter().find(|f| f.rule.id == "RAY-CRED-001");
    assert!(f.is_some_and(|f| f.evidence.contains("Pod team-a/rc-head-x")), "{:?}", e[0].findings);
}

#[test]
fn reach_is_the_widest_exposure_of_the_cluster() {
    use raydar::semantics::exposure::Reach;
    let reach = |d: Vec<Value>| run(d, &PostureConfig::default())[0].reach;
    assert_eq!(reach(clean()), Reach::Internal);
    let mut d = clean();
    d.push(svc("NodePort", json!({"name": "dashboard", "port": 8265}), json!({})));
    assert_eq!(reach(d), Reach::Public);
    let mut d = clean();
    head(&mut d)["hostNetwork"] = json!(true);
    assert_eq!(reach(d.clone()), Reach::Node);
    // The widest one wins, whatever order the rules found them in.
    d.push(svc("LoadBalancer", json!({"name": "gcs", "port": 6379}), json!({})));
    assert_eq!(reach(d), Reach::Public);
    let mut d = clean();
    d.push(head_service());
    d.push(ingress("i", "rc-head-svc", json!({"number": 8265}), json!({})));
    assert_eq!(reach(d), Reach::Ingress);
}

/// The inventory keeps only what the rules read of a pod (`inventory::slim`): evaluating the
/// demo's named clusters and a generated population with whole pods gives the same report.
#[test]
fn slim_pods_are_evaluated_exactly_as_whole_pods() {
    use raydar::model::Pod;
    // A live head pod that differs from its template: a credential a webhook injected, and
    // the only port named `live-dash`, which a NodePort Service targets by name.
    let mut own = clean();
    own.push(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "rc-head-x", "namespace": "team-a",
            "labels": {"ray.io/cluster": "rc", "ray.io/node-type": "head", "ray.io/group": "headgroup"}},
        "spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.54.0",
            "ports": [{"name": "live-dash", "containerPort": 8265}],
            "env": [{"name": "OMP_NUM_THREADS", "value": "1"},
                    {"name": "AWS_SECRET_ACCESS_KEY", "value": "injected-by-a-webhook"}]}]}}));
    own.push(svc(
        "NodePort",
        json!({"name": "d", "port": 80, "targetPort": "live-dash"}),
        json!({}),
    ));
    let e = run(own.clone(), &PostureConfig::default());
    let ids: Vec<&str> = e[0].findings.iter().map(|f| f.rule.id).collect();
    assert!(ids.contains(&"RAY-CRED-001") && ids.contains(&"RAY-EXP-002"), "{ids:?}");
    for docs in [own, raydar::demo::manifests(), raydar::demo::population_manifests(20, 60)] {
        let mut slim = Inventory::default();
        let mut whole = Inventory::default();
        let mut pods = 0;
        for d in docs {
            if d["kind"] == "Pod" {
                let p: Pod = serde_json::from_value(d.clone()).unwrap();
                whole.pods.push(std::sync::Arc::new(p));
                pods += 1;
            } else {
                // Kinds the rules do not read (Secrets, Deployments) are skipped by both.
                let _ = whole.add_value(d.clone(), "default");
            }
            let _ = slim.add_value(d, "default");
        }
        assert!(pods > 0, "the population has pods");
        assert!(whole.pods[0].spec.containers[0].image.is_some(), "whole pods are whole");
        assert!(slim.pods.iter().all(|p| p.spec.containers.iter().all(|c| c.image.is_none())));
        let cfg = PostureConfig::default();
        let (a, b) = (evaluate(&slim, &cfg), evaluate(&whole, &cfg));
        assert_eq!(serde_json::to_value(&a).unwrap(), serde_json::to_value(&b).unwrap());
        assert_eq!(
            a.iter().map(|e| e.reach).collect::<Vec<_>>(),
            b.iter().map(|e| e.reach).collect::<Vec<_>>()
        );
    }
}

#[test]
fn an_elastic_quota_tree_leaf_stands_for_a_resource_quota() {
    let tree = |root: Value| {
        json!({"apiVersion": "scheduling.sigs.k8s.io/v1beta1", "kind": "ElasticQuotaTree",
            "metadata": {"name": "elasticquotatree", "namespace": "kube-system"}, "spec": {"root": root}})
    };
    let quota_001 = |extra: Option<Value>| {
        let mut d = clean();
        d.retain(|o| o["kind"] != "ResourceQuota");
        d.extend(extra);
        rules_of(&run(d, &PostureConfig::default())).iter().any(|(r, _)| r == "RAY-QUOTA-001")
    };
    assert!(quota_001(None));
    // A leaf two levels down that lists the namespace covers it.
    let covered = tree(json!({"name": "root", "children": [
        {"name": "a", "namespaces": ["other"]},
        {"name": "b", "children": [{"name": "b1", "namespaces": ["x", "team-a"]}]}]}));
    assert!(!quota_001(Some(covered)));
    // An inner node's namespaces are not a leaf's; a leaf of other namespaces does not cover.
    let inner = tree(json!({"name": "root", "namespaces": ["team-a"], "children": [
        {"name": "a", "namespaces": ["other"]}]}));
    assert!(quota_001(Some(inner)));
    // A root without children is itself the leaf.
    assert!(!quota_001(Some(tree(json!({"name": "root", "namespaces": ["team-a"]})))));
    assert!(quota_001(Some(tree(json!({"name": "root", "children": []})))));
    // System namespaces: default, kube-*, kuberay-system; others are not.
    for (ns, system) in [
        ("default", true),
        ("kube-public", true),
        ("kuberay-system", true),
        ("kuberay", false),
        ("team-a", false),
    ] {
        let mut d = clean();
        for o in &mut d {
            o["metadata"]["namespace"] = json!(ns);
        }
        let raised =
            rules_of(&run(d, &PostureConfig::default())).iter().any(|(r, _)| r == "RAY-NS-001");
        assert_eq!(raised, system, "{ns}");
    }
}

#[test]
fn rbac_003_follows_bindings_roles_and_subjects_exactly() {
    let rb = |kind: &str, ns: Option<&str>, role_kind: &str, role: &str, subject: Value| {
        let mut b = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": "b"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": [subject]});
        if let Some(ns) = ns {
            b["metadata"]["namespace"] = json!(ns);
        }
        b
    };
    let role = |kind: &str, ns: Option<&str>, name: &str, rules: Value| {
        let mut r = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name}, "rules": rules});
        if let Some(ns) = ns {
            r["metadata"]["namespace"] = json!(ns);
        }
        r
    };
    let sa = json!({"kind": "ServiceAccount", "name": "rc-ray", "namespace": "team-a"});
    let raised = |extra: Vec<Value>| {
        let mut d = clean();
        d.extend(extra);
        rules_of(&run(d, &PostureConfig::default())).iter().any(|(r, _)| r == "RAY-RBAC-003")
    };
    let star_verbs = json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}]);
    let star_res = json!([{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}]);
    let tame = json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]);
    let crb = |role_kind: &str, name: &str, subject: Value| {
        rb("ClusterRoleBinding", None, role_kind, name, subject)
    };
    // Built-in powerful ClusterRoles, by name; the same names as Roles are not them.
    for name in ["cluster-admin", "admin", "edit"] {
        assert!(raised(vec![crb("ClusterRole", name, sa.clone())]), "{name}");
    }
    assert!(!raised(vec![crb("ClusterRole", "view", sa.clone())]));
    assert!(!raised(vec![rb("RoleBinding", Some("team-a"), "Role", "admin", sa.clone())]));
    // Custom roles: wildcard verbs or resources; a tame rule is not.
    for (rules, wild) in
        [(star_verbs.clone(), true), (star_res.clone(), true), (tame.clone(), false)]
    {
        let cr = role("ClusterRole", None, "custom", rules.clone());
        assert_eq!(raised(vec![cr, crb("ClusterRole", "custom", sa.clone())]), wild, "{rules}");
        let r = role("Role", Some("team-a"), "custom", rules.clone());
        let b = rb("RoleBinding", Some("team-a"), "Role", "custom", sa.clone());
        assert_eq!(raised(vec![r, b]), wild, "{rules}");
    }
    // A Role of the same name in another namespace is not the one bound.
    let elsewhere = role("Role", Some("team-b"), "custom", star_verbs.clone());
    let b = rb("RoleBinding", Some("team-a"), "Role", "custom", sa.clone());
    assert!(!raised(vec![elsewhere, b]));
    // A RoleBinding to a wildcard ClusterRole.
    let cr = role("ClusterRole", None, "custom", star_res.clone());
    assert!(raised(vec![
        cr,
        rb("RoleBinding", Some("team-a"), "ClusterRole", "custom", sa.clone())
    ]));
    // Subjects: the ServiceAccount by name and namespace, or every ServiceAccount (of the
    // namespace); not another account, another namespace's, a user or another group.
    let ca = |subject: Value| raised(vec![crb("ClusterRole", "cluster-admin", subject)]);
    assert!(ca(json!({"kind": "Group", "name": "system:serviceaccounts"})));
    assert!(ca(json!({"kind": "Group", "name": "system:serviceaccounts:team-a"})));
    assert!(!ca(json!({"kind": "Group", "name": "system:serviceaccounts:team-b"})));
    assert!(!ca(json!({"kind": "Group", "name": "system:authenticated"})));
    assert!(!ca(json!({"kind": "User", "name": "rc-ray"})));
    assert!(!ca(json!({"kind": "ServiceAccount", "name": "other", "namespace": "team-a"})));
    assert!(!ca(json!({"kind": "ServiceAccount", "name": "rc-ray", "namespace": "team-b"})));
    // In a RoleBinding, a subject without a namespace is in the binding's namespace.
    let ns_less = json!({"kind": "ServiceAccount", "name": "rc-ray"});
    assert!(raised(vec![rb(
        "RoleBinding",
        Some("team-a"),
        "ClusterRole",
        "edit",
        ns_less.clone()
    )]));
    assert!(!raised(vec![crb("ClusterRole", "edit", ns_less)]));
}

#[test]
fn host_paths_are_judged_by_their_own_mount_and_whole_path_segments() {
    let sec_004 = |path: &str, read_only: bool, other_mount_writable: bool| {
        let mut d = clean();
        let h = head(&mut d);
        h["volumes"] = json!([{"name": "data", "hostPath": {"path": path}}, {"name": "scratch", "emptyDir": {}}]);
        let mut mounts = vec![json!({"name": "data", "mountPath": "/data", "readOnly": read_only})];
        if other_mount_writable {
            mounts.push(json!({"name": "scratch", "mountPath": "/scratch"}));
        }
        h["containers"][0]["volumeMounts"] = json!(mounts);
        let cfg = PostureConfig {
            allowed_host_paths: vec!["/mnt/datasets/".into()],
            ..Default::default()
        };
        rules_of(&run(d, &cfg)).iter().any(|(r, _)| r == "RAY-SEC-004")
    };
    // The allowed prefix itself (given with a trailing slash) and paths under it, read-only.
    assert!(!sec_004("/mnt/datasets", true, false));
    assert!(!sec_004("/mnt/datasets/imagenet", true, false));
    // Another volume's writable mount does not make this one writable.
    assert!(!sec_004("/mnt/datasets", true, true));
    // A prefix of a segment is not the allowed path; writable is always a finding.
    assert!(sec_004("/mnt/datasets-private", true, false));
    assert!(sec_004("/mnt/datasets", false, false));
    assert!(sec_004("/etc", true, false));
}

#[test]
fn network_policies_are_matched_against_the_live_pods_labels() {
    // A policy selecting a label only the running pods carry (a webhook added it).
    let mut d = clean();
    d[1]["spec"]["podSelector"] = json!({"matchLabels": {"mesh": "on"}});
    let net = |d: Vec<Value>| -> Vec<String> {
        rules_of(&run(d, &PostureConfig::default()))
            .into_iter()
            .map(|(r, _)| r)
            .filter(|r| r == "RAY-NET-001" || r == "RAY-NET-002")
            .collect()
    };
    assert_eq!(net(d.clone()), ["RAY-NET-001", "RAY-NET-002"]);
    for (name, node, group) in
        [("rc-head", "head", "headgroup"), ("rc-w-1", "worker", "w"), ("rc-w-2", "worker", "w")]
    {
        d.push(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "team-a", "labels": {"ray.io/cluster": "rc",
                "ray.io/node-type": node, "ray.io/group": group, "mesh": "on"}},
            "spec": {"containers": [{"name": "ray", "image": "rayproject/ray:2.54.0"}]}}));
    }
    assert!(net(d).is_empty());
}

#[test]
fn a_running_jobs_entry_counts_the_services_it_owns_and_no_others() {
    let job_docs = |owner: Value| {
        let mut d = clean();
        d.push(json!({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "j", "namespace": "team-a"},
            "spec": {"entrypoint": "x", "rayClusterSpec": d[0]["spec"].clone()}, "status": {"rayClusterName": "rc"}}));
        d.push(svc("NodePort", json!({"name": "dashboard", "port": 8265}),
            json!({"metadata": {"name": "exposed", "namespace": "team-a", "ownerReferences": [owner]}})));
        d
    };
    let job_rules = |d: Vec<Value>| -> Vec<&'static str> {
        let e = run(d, &PostureConfig::default());
        e.iter().find(|x| x.kind == "RayJob").unwrap().findings.iter().map(|f| f.rule.id).collect()
    };
    let owner = |kind: &str, name: &str| json!({"apiVersion": "ray.io/v1", "kind": kind, "name": name, "uid": "u"});
    assert!(job_rules(job_docs(owner("RayJob", "j"))).contains(&"RAY-EXP-002"));
    for other in [owner("RayJob", "other"), owner("RayService", "j")] {
        assert!(!job_rules(job_docs(other.clone())).contains(&"RAY-EXP-002"), "{other}");
    }
    // A job whose cluster is gone is judged from its own spec again.
    let mut d = clean();
    let mut spec = d[0]["spec"].clone();
    spec["headGroupSpec"]["serviceType"] = json!("NodePort");
    d.push(json!({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "j", "namespace": "team-a"},
        "spec": {"entrypoint": "x", "rayClusterSpec": spec}, "status": {"rayClusterName": "gone"}}));
    assert!(job_rules(d).contains(&"RAY-SVC-001"));
}

#[test]
fn a_service_counts_for_a_cluster_only_when_it_selects_its_head() {
    let mut d = clean();
    let mut web = svc("NodePort", json!({"name": "dashboard", "port": 8265}), json!({}));
    web["spec"]["selector"] = json!({"app": "web"});
    d.push(web);
    let e = run(d, &PostureConfig::default());
    assert!(e[0].findings.iter().all(|f| !f.rule.id.starts_with("RAY-EXP")), "{:?}", e[0].findings);
}

#[test]
fn a_job_on_a_selected_cluster_is_not_judged_by_a_spec_it_does_not_use() {
    let mut spec = clean()[0]["spec"].clone();
    spec["headGroupSpec"]["serviceType"] = json!("LoadBalancer");
    for selector in [json!({"ray.io/cluster": "shared"}), json!({})] {
        let job = json!({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "j", "namespace": "team-a"},
            "spec": {"entrypoint": "x", "clusterSelector": selector, "rayClusterSpec": spec}});
        let cron = json!({"apiVersion": "ray.io/v1", "kind": "RayCronJob", "metadata": {"name": "c", "namespace": "team-a"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"entrypoint": "x", "clusterSelector": selector, "rayClusterSpec": spec}}});
        let mut d = clean();
        d.extend([job, cron]);
        let e = run(d, &PostureConfig::default());
        for kind in ["RayJob", "RayCronJob"] {
            let entry = e.iter().find(|x| x.kind == kind).unwrap();
            let svc_001 = entry.findings.iter().any(|f| f.rule.id == "RAY-SVC-001");
            // An empty selector selects no cluster: the job makes its own from its spec.
            let empty = selector.as_object().is_some_and(|m| m.is_empty());
            assert_eq!(svc_001, empty, "{kind} with clusterSelector {selector}");
        }
    }
}
