//! Edge cases of the rules, beyond each rule's smallest change (`scan_rules`): most were
//! written to kill a mutant `cargo mutants` left alive, and each pins what a rule reads —
//! Ingress routing, live pods against templates, RBAC subjects, hostPath segments, quota trees.

use crate::scan_rules::{clean, head, rules_of, run, svc};
use raydar::inventory::Inventory;
use raydar::posture::{evaluate, PostureConfig, Severity};
use serde_json::{json, Value};

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
    assert!(
        v.len() == 1
            && v[0]
                .1
                .contains("KubeRay creates Ingress rc-head-ingress (any host, no TLS, path /)"),
        "{v:?}"
    );
    // KubeRay 1.7's ingressOptions: the evidence names the host and says whether TLS is set.
    let mut o = clean();
    o[0]["spec"]["headGroupSpec"]["enableIngress"] = json!(true);
    o[0]["spec"]["headGroupSpec"]["ingressOptions"] = json!({"host": "ray.example.com", "path": "/ray", "tls": [{"hosts": ["ray.example.com"], "secretName": "t"}]});
    let v = ingress_findings(o);
    assert!(v.len() == 1 && v[0].1.contains("(host ray.example.com, TLS, path /ray)"), "{v:?}");
    // Its Ingress is there (no Service yet): that Ingress is the finding, once.
    d.push(ingress("rc-head-ingress", "rc-head-svc", json!({"number": 8265}), json!({})));
    let v = ingress_findings(d.clone());
    assert!(v.len() == 1 && v[0].1.starts_with("Ingress team-a/rc-head-ingress"), "{v:?}");
    // An Ingress of another name does not stand for KubeRay's.
    let mut other = clean();
    other[0]["spec"]["headGroupSpec"]["enableIngress"] = json!(true);
    other.push(ingress("rcx-head-ingress", "elsewhere", json!({"number": 80}), json!({})));
    let v = ingress_findings(other);
    assert!(
        v.len() == 1
            && v[0]
                .1
                .contains("KubeRay creates Ingress rc-head-ingress (any host, no TLS, path /)"),
        "{v:?}"
    );
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
    use raydar::model::{Pod, Service};
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
        let (mut pods, mut services) = (0, 0);
        for d in docs {
            if d["kind"] == "Pod" {
                let p: Pod = serde_json::from_value(d.clone()).unwrap();
                whole.pods.push(std::sync::Arc::new(p));
                pods += 1;
            } else if d["kind"] == "Service" {
                let mut s: Service = serde_json::from_value(d.clone()).unwrap();
                s.metadata.namespace.get_or_insert_with(|| "default".into());
                whole.services.push(std::sync::Arc::new(s));
                services += 1;
            } else {
                // Kinds the rules do not read (Secrets, Deployments) are skipped by both.
                let _ = whole.add_value(d.clone(), "default");
            }
            let _ = slim.add_value(d, "default");
        }
        assert!(pods > 0 && services > 0, "the population has pods and Services");
        assert!(whole.services.iter().any(|s| s.spec.selector.is_some()), "whole Services");
        assert!(slim.services.iter().all(|s| s.spec.selector.is_none()));
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
    // (EXP-002 from the head Service KubeRay would make: a running job's entry has no such
    // Service; SVC-001 is the job's own field either way.)
    let rules = job_rules(d);
    assert!(rules.contains(&"RAY-SVC-001") && rules.contains(&"RAY-EXP-002"), "{rules:?}");
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

/// RAY-GRD-001: a live scan raises it on every Ray object of a namespace that no raydar guard
/// binding for its kind covers (by name, by namespace labels, or everywhere); never from
/// manifests, nor when the bindings could not be read.
/// The network rules' findings of the first entry: (rule, severity, evidence).
fn net_findings(docs: Vec<Value>, live: bool) -> Vec<(String, Severity, String)> {
    let mut inv = Inventory { live, ..Default::default() };
    for d in docs {
        inv.add_value(d, "default").unwrap();
    }
    let e = evaluate(&inv, &PostureConfig::default());
    e[0].findings
        .iter()
        .filter(|f| f.rule.id.starts_with("RAY-NET"))
        .map(|f| (f.rule.id.to_string(), f.severity, f.evidence.clone()))
        .collect()
}

#[test]
fn kuberay_network_policies_count_in_manifests_and_are_checked_live() {
    // The clean baseline has a policy of its own: without it, only spec.networkPolicy guards.
    let base = || {
        let mut d = clean();
        d.retain(|o| o["kind"] != "NetworkPolicy");
        d
    };
    let ids = |v: &[(String, Severity, String)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&net_findings(base(), false)), ["RAY-NET-001", "RAY-NET-002"]);
    // DenyAll (and the default mode, and DenyAllIngress): the operator's policies select the
    // head and every worker group.
    for np in [json!({"mode": "DenyAll"}), json!({}), json!({"mode": "DenyAllIngress"})] {
        let mut d = base();
        d[0]["spec"]["networkPolicy"] = np.clone();
        assert!(net_findings(d, false).is_empty(), "{np}");
    }
    // DenyAllEgress restricts no ingress.
    let mut d = base();
    d[0]["spec"]["networkPolicy"] = json!({"mode": "DenyAllEgress"});
    assert_eq!(ids(&net_findings(d, false)), ["RAY-NET-001", "RAY-NET-002"]);
    // The user's rules are judged as the operator copies them: RAY-NET-003 names the CR field.
    let mut d = base();
    d[0]["spec"]["networkPolicy"] = json!({"head": {"ingressRules": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]},
        "worker": {"ingressRules": [{"ports": [{"port": 8080}]}]}});
    let v = net_findings(d, false);
    assert_eq!(ids(&v), ["RAY-NET-003"], "{v:?}");
    assert!(v[0].2.contains("spec.networkPolicy.head.ingressRules[0] (→ NetworkPolicy team-a/rc-head) admits ipBlock 0.0.0.0/0"), "{v:?}");
    assert!(
        v[0].2.contains(
            "spec.networkPolicy.worker.ingressRules[0] (→ NetworkPolicy team-a/rc-workers-"
        ),
        "{v:?}"
    );
    // A worker group's own entry replaces the worker rules for that group.
    let mut d = base();
    let group = d[0]["spec"]["workerGroupSpecs"][0]["groupName"].clone();
    d[0]["spec"]["networkPolicy"] = json!({"worker": {"ingressRules": [{"ports": [{"port": 8080}]}]},
        "workerGroups": [{"groupName": group, "ingressRules": []}]});
    assert!(net_findings(d, false).is_empty());
    // Live: the spec asks, the operator (gate off) made nothing: RAY-NET-004, and the head is
    // unguarded all the same.
    let mut d = base();
    d[0]["spec"]["networkPolicy"] = json!({"mode": "DenyAll"});
    let v = net_findings(d.clone(), true);
    assert_eq!(ids(&v), ["RAY-NET-001", "RAY-NET-004", "RAY-NET-002"], "{v:?}");
    assert!(v[1].2.contains("asks KubeRay for NetworkPolicy rc-head, rc-workers-"), "{v:?}");
    // Live, with the operator's policies there: ordinary NetworkPolicies, nothing asked in vain.
    let own = json!({"from": [{"podSelector": {"matchLabels": {"ray.io/cluster": "rc"}}}]});
    d.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "rc-head", "namespace": "team-a"},
        "spec": {"podSelector": {"matchLabels": {"ray.io/cluster": "rc", "ray.io/node-type": "head"}},
                 "policyTypes": ["Ingress"], "ingress": [own.clone()]}}));
    for g in d[0]["spec"]["workerGroupSpecs"].as_array().unwrap().clone() {
        let g = g["groupName"].as_str().unwrap();
        d.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": format!("rc-workers-{g}"), "namespace": "team-a"},
            "spec": {"podSelector": {"matchLabels": {"ray.io/cluster": "rc", "ray.io/node-type": "worker", "ray.io/group": g}},
                     "policyTypes": ["Ingress"], "ingress": [own.clone()]}}));
    }
    assert!(net_findings(d, true).is_empty());
}

#[test]
fn the_guard_rule_fires_where_no_binding_covers_the_namespace() {
    let grd = |docs: Vec<Value>, live: bool, unreadable: bool| -> Vec<(String, Severity)> {
        let mut inv = Inventory { live, ..Default::default() };
        for d in docs {
            inv.add_value(d, "default").unwrap();
        }
        if unreadable {
            inv.unreadable.insert((String::new(), "validatingadmissionpolicybindings".into()));
        }
        rules_of(&evaluate(&inv, &PostureConfig::default()))
            .into_iter()
            .filter(|(r, _)| r == "RAY-GRD-001")
            .collect()
    };
    let binding = |policy: &str, selector: Value| {
        let mut b = json!({"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": policy, "labels": {"app.kubernetes.io/managed-by": "raydar"}},
            "spec": {"policyName": policy, "validationActions": ["Warn", "Audit"]}});
        if !selector.is_null() {
            b["spec"]["matchResources"] = json!({"namespaceSelector": selector});
        }
        b
    };
    let namespace = |labels: Value| {
        json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "team-a", "labels": labels}})
    };
    let by_name = |ns: &str| json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": [ns]}]});
    let with = |extra: Vec<Value>| {
        let mut d = clean();
        d.extend(extra);
        d
    };
    let once = vec![("RAY-GRD-001".to_string(), Severity::Info)];
    assert_eq!(grd(clean(), true, false), once, "live, no guard");
    assert!(grd(clean(), false, false).is_empty(), "manifests cannot tell");
    assert!(grd(clean(), true, true).is_empty(), "bindings unreadable");
    let everywhere = binding("raydar-guard-raycluster", Value::Null);
    assert!(grd(with(vec![everywhere]), true, false).is_empty());
    let other_kind = binding("raydar-guard-rayjob", Value::Null);
    assert_eq!(grd(with(vec![other_kind]), true, false), once, "a RayJob guard");
    let elsewhere = binding("raydar-guard-raycluster", by_name("team-b"));
    assert_eq!(grd(with(vec![elsewhere]), true, false), once);
    let here = binding("raydar-guard-raycluster", by_name("team-a"));
    assert!(grd(with(vec![here]), true, false).is_empty(), "the namespace's own name label");
    let prod = binding("raydar-guard-raycluster", json!({"matchLabels": {"env": "prod"}}));
    let labelled = namespace(json!({"env": "prod", "kubernetes.io/metadata.name": "team-a"}));
    assert!(grd(with(vec![prod.clone(), labelled]), true, false).is_empty());
    let unlabelled = namespace(json!({"kubernetes.io/metadata.name": "team-a"}));
    assert_eq!(grd(with(vec![prod, unlabelled]), true, false), once);
}
