//! `raydar guard` on the real kube-apiserver: every generated policy is accepted and
//! type-checks against the KubeRay CRDs, and in deny mode the server refuses exactly the
//! objects on which the posture engine raises a guarded rule (and the object is not exempt);
//! in warn mode kubectl shows the warning and admits.

use crate::envtest::{envtest, RealUser};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use raydar::guard::{self, GuardOptions, Mode, Target, GUARDED};
use raydar::inventory::Inventory;
use raydar::posture::{evaluate, PostureConfig};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const NS: &str = "guard-test";

fn vap_resource(kind: &str) -> ApiResource {
    let plural = match kind {
        "ValidatingAdmissionPolicy" => "validatingadmissionpolicies",
        _ => "validatingadmissionpolicybindings",
    };
    let gvk = GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind);
    ApiResource::from_gvk_with_plural(&gvk, plural)
}

fn ray_resource(kind: &str) -> ApiResource {
    let gvk = GroupVersionKind::gvk("ray.io", "v1", kind);
    ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", kind.to_lowercase()))
}

/// A clean cluster spec: nothing a guarded rule looks at.
fn spec() -> Value {
    let container = |name: &str| {
        json!({"name": name, "image": "rayproject/ray:2.56.0",
            "env": [{"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "aws", "key": "id"}}},
                    {"name": "AWS_SECRET_ACCESS_KEY", "value": ""}],
            "securityContext": {"privileged": false}})
    };
    json!({"rayVersion": "2.56.0",
        "headGroupSpec": {"rayStartParams": {}, "serviceType": "ClusterIP",
            "template": {"spec": {"containers": [container("ray-head")]}}},
        "workerGroupSpecs": [
            {"groupName": "a", "replicas": 1, "rayStartParams": {},
             "template": {"spec": {"containers": [container("ray-worker")]}}},
            {"groupName": "b", "replicas": 1, "rayStartParams": {},
             "template": {"spec": {"containers": [container("ray-worker")],
                                   "initContainers": [container("init")]}}}]})
}

/// A fixture: its name, its change to the clean spec, and its exemption annotation.
type Variant = (&'static str, fn(&mut Value), Option<&'static str>);

/// The changes each fixture makes to the clean spec (and the annotations it carries).
fn variants() -> Vec<Variant> {
    vec![
        ("clean", |_| {}, None),
        ("lb", |s| s["headGroupSpec"]["serviceType"] = json!("LoadBalancer"), None),
        (
            "nodeport-headservice",
            |s| s["headGroupSpec"]["headService"] = json!({"spec": {"type": "NodePort"}}),
            None,
        ),
        ("ingress", |s| s["headGroupSpec"]["enableIngress"] = json!(true), None),
        ("ingress-off", |s| s["headGroupSpec"]["enableIngress"] = json!(false), None),
        (
            "privileged-worker",
            |s| {
                s["workerGroupSpecs"][1]["template"]["spec"]["containers"][0]["securityContext"]
                    ["privileged"] = json!(true)
            },
            None,
        ),
        (
            "privileged-init",
            |s| {
                s["workerGroupSpecs"][1]["template"]["spec"]["initContainers"][0]
                    ["securityContext"] = json!({"privileged": true})
            },
            None,
        ),
        (
            "hostnetwork-head",
            |s| s["headGroupSpec"]["template"]["spec"]["hostNetwork"] = json!(true),
            None,
        ),
        (
            "hostpid-worker",
            |s| s["workerGroupSpecs"][0]["template"]["spec"]["hostPID"] = json!(true),
            None,
        ),
        (
            "hostipc-false",
            |s| s["workerGroupSpecs"][0]["template"]["spec"]["hostIPC"] = json!(false),
            None,
        ),
        (
            "literal-key",
            |s| {
                s["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["env"][1]["value"] =
                    json!("AKIA-not-real")
            },
            None,
        ),
        (
            "literal-other-env",
            |s| {
                s["headGroupSpec"]["template"]["spec"]["containers"][0]["env"] =
                    json!([{"name": "HOME", "value": "/x"}])
            },
            None,
        ),
        ("ver-2.9", |s| s["rayVersion"] = json!("2.9.0"), None),
        ("ver-2.9-short", |s| s["rayVersion"] = json!("2.9"), None),
        ("ver-2.53.1", |s| s["rayVersion"] = json!("2.53.1"), None),
        ("ver-2.55.1", |s| s["rayVersion"] = json!("2.55.1"), None),
        ("ver-2.56-rc", |s| s["rayVersion"] = json!("2.56.0rc1"), None),
        ("ver-2.56.1", |s| s["rayVersion"] = json!("2.56.1"), None),
        ("ver-2.54-rc", |s| s["rayVersion"] = json!("2.54.0rc1"), None),
        ("ver-2.54-dev", |s| s["rayVersion"] = json!("2.54.0.dev0"), None),
        ("ver-2.54-variant", |s| s["rayVersion"] = json!("2.54.0-py311-gpu"), None),
        ("ver-2.54.1-beta", |s| s["rayVersion"] = json!("v2.54.1-beta"), None),
        ("ver-3.0", |s| s["rayVersion"] = json!("3.0.0+build.5"), None),
        ("ver-no-patch-digit", |s| s["rayVersion"] = json!("2.9.x"), None),
        ("ver-junk-patch", |s| s["rayVersion"] = json!("2.9.1x"), None),
        (
            "ver-latest-old-image",
            |s| {
                s["rayVersion"] = json!("latest");
                s["headGroupSpec"]["template"]["spec"]["containers"][0]["image"] =
                    json!("registry.example.com:5000/ray/ray:2.47.1-py311@sha256:abc");
            },
            None,
        ),
        (
            "ver-absent-new-image",
            |s| {
                s.as_object_mut().map(|o| o.remove("rayVersion"));
                s["headGroupSpec"]["template"]["spec"]["containers"][0]["image"] =
                    json!("rayproject/ray:2.60.0");
            },
            None,
        ),
        (
            "ver-absent-untagged-image",
            |s| {
                s.as_object_mut().map(|o| o.remove("rayVersion"));
                s["headGroupSpec"]["template"]["spec"]["containers"][0]["image"] =
                    json!("localhost:5000/ray");
            },
            None,
        ),
        (
            "ver-old-exempt",
            |s| s["rayVersion"] = json!("2.40.0"),
            Some("RAY-VER-001: pinned until the migration, ticket OPS-2"),
        ),
        ("auth-token", |s| s["authOptions"] = json!({"mode": "token"}), None),
        ("auth-disabled", |s| s["authOptions"] = json!({"mode": "disabled"}), None),
        ("auth-no-mode", |s| s["authOptions"] = json!({"secretName": "mine"}), None),
        (
            "auth-token-old-ray",
            |s| {
                s["authOptions"] = json!({"mode": "token"});
                s["rayVersion"] = json!("2.51.0");
            },
            None,
        ),
        (
            "auth-k8s-token",
            |s| {
                s["authOptions"] = json!({"mode": "token", "enableK8sTokenAuth": true});
                s["rayVersion"] = json!("2.57.0");
            },
            None,
        ),
        (
            "auth-k8s-token-old-ray",
            |s| {
                s["authOptions"] = json!({"mode": "token", "enableK8sTokenAuth": true});
                s["rayVersion"] = json!("2.55.0rc1");
            },
            None,
        ),
        ("auth-k8s-no-mode", |s| s["authOptions"] = json!({"enableK8sTokenAuth": true}), None),
        ("auth-ray-default", |s| s["rayVersion"] = json!("2.61.0"), None),
        (
            "auth-ray-default-disabled",
            |s| {
                s["rayVersion"] = json!("2.61.0");
                s["headGroupSpec"]["template"]["spec"]["containers"][0]["env"] =
                    json!([{"name": "RAY_AUTH_MODE", "value": "disabled"}])
            },
            None,
        ),
        (
            "ingress-options",
            |s| {
                s["headGroupSpec"]["enableIngress"] = json!(true);
                s["headGroupSpec"]["ingressOptions"] = json!({"host": "ray.example.com", "tls": [{"hosts": ["ray.example.com"], "secretName": "t"}]});
            },
            None,
        ),
        (
            "network-policy-deny-all",
            |s| s["networkPolicy"] = json!({"mode": "DenyAll", "head": {"ingressRules": [{"from": [{"podSelector": {}}]}]}}),
            None,
        ),
        (
            "auth-head-env",
            |s| {
                s["headGroupSpec"]["template"]["spec"]["containers"][0]["env"] =
                    json!([{"name": "RAY_AUTH_MODE", "value": "token"}])
            },
            None,
        ),
        (
            "auth-worker-env-only",
            |s| {
                s["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["env"] =
                    json!([{"name": "RAY_AUTH_MODE", "value": "token"}])
            },
            None,
        ),
        ("tls-options", |s| s["tlsOptions"] = json!({"enabled": true}), None),
        (
            "tls-worker-env",
            |s| {
                s["workerGroupSpecs"][1]["template"]["spec"]["containers"][0]["env"] =
                    json!([{"name": "RAY_USE_TLS", "value": "true"}])
            },
            None,
        ),
        (
            "tls-env-off",
            |s| {
                s["headGroupSpec"]["template"]["spec"]["containers"][0]["env"] =
                    json!([{"name": "RAY_USE_TLS", "value": "0"}])
            },
            None,
        ),
        (
            "privileged-exempt",
            |s| {
                s["headGroupSpec"]["template"]["spec"]["containers"][0]["securityContext"]
                    ["privileged"] = json!(true)
            },
            Some("RAY-SEC-001: GPU driver debugging, ticket OPS-1"),
        ),
        (
            "privileged-exempt-other-rule",
            |s| {
                s["headGroupSpec"]["template"]["spec"]["containers"][0]["securityContext"]
                    ["privileged"] = json!(true)
            },
            Some("RAY-SEC-005: hostNetwork for RDMA"),
        ),
        (
            "lb-and-hostnetwork-exempt-both",
            |s| {
                s["headGroupSpec"]["serviceType"] = json!("NodePort");
                s["headGroupSpec"]["template"]["spec"]["hostNetwork"] = json!(true);
            },
            Some("RAY-SVC-001: on-prem; RAY-SEC-005: RDMA"),
        ),
    ]
}

/// The object of `kind` holding `spec` where that kind holds its cluster spec.
fn object(kind: &str, name: &str, spec: Value, exempt: Option<&str>) -> Value {
    let body = match kind {
        "RayCluster" => spec,
        "RayJob" => json!({"entrypoint": "python x.py", "rayClusterSpec": spec}),
        "RayService" => json!({"rayClusterConfig": spec}),
        _ => {
            json!({"schedule": "0 * * * *", "jobTemplate": {"entrypoint": "python x.py", "rayClusterSpec": spec}})
        }
    };
    let mut o = json!({"apiVersion": "ray.io/v1", "kind": kind,
        "metadata": {"name": name, "namespace": NS}, "spec": body});
    if let Some(e) = exempt {
        o["metadata"]["annotations"] = json!({guard::EXEMPT: e});
    }
    o
}

/// The rules of `rules` the posture engine raises on `o` and does not mark exempt.
fn raised(o: &Value, rules: &[&str]) -> BTreeSet<&'static str> {
    let mut inv = Inventory::default();
    inv.add_value(o.clone(), NS).unwrap();
    evaluate(&inv, &PostureConfig::default())
        .iter()
        .flat_map(|e| e.graded().map(|f| f.rule.id).collect::<Vec<_>>())
        .filter(|id| rules.contains(id))
        .collect()
}

/// The guarded rules on by default that check the Ray kinds.
fn default_rules() -> Vec<&'static str> {
    GUARDED.iter().filter(|g| g.default_on && g.target == Target::Ray).map(|g| g.id).collect()
}

/// What the server says to a dry-run create in warn mode: whether it admitted the object, and
/// the rule ids its warnings name (one warning per failed validation, unlike a denial, which
/// names the first).
async fn warned(client: &kube::Client, o: &Value) -> (bool, BTreeSet<&'static str>) {
    let kind = o["kind"].as_str().unwrap_or("");
    let url = format!("/apis/ray.io/v1/namespaces/{NS}/{}s?dryRun=All", kind.to_lowercase());
    let req = http::Request::post(url)
        .header("content-type", "application/json")
        .body(kube::client::Body::from(o.to_string().into_bytes()))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let warnings: Vec<String> = resp
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).to_string())
        .collect();
    let ids = GUARDED.iter().map(|g| g.id).filter(|id| warnings.iter().any(|w| w.contains(id)));
    (resp.status().is_success(), ids.collect())
}

/// The Service-level fixtures: a Service in front of the clean cluster `rc`, and its
/// annotations.
fn service_variants() -> Vec<(&'static str, Value)> {
    let head = json!({"ray.io/cluster": "rc", "ray.io/node-type": "head"});
    let svc = |ty: &str, ports: Value| json!({"type": ty, "selector": head, "ports": ports});
    let dash = json!([{"name": "dash", "port": 8265}]);
    let lb_ann = |k: &str, v: &str| json!({format!("service.beta.kubernetes.io/alibaba-cloud-loadbalancer-{k}"): v});
    let acl = |ty: &str| {
        json!({
            "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-acl-status": "on",
            "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-acl-id": "acl-123",
            "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-acl-type": ty,
        })
    };
    let with = |mut spec: Value, k: &str, v: Value| {
        spec[k] = v;
        spec
    };
    let meta = |spec: Value, ann: Value| json!({"spec": spec, "annotations": ann});
    vec![
        ("clusterip-dashboard", meta(svc("ClusterIP", dash.clone()), json!({}))),
        ("lb-dashboard", meta(svc("LoadBalancer", dash.clone()), json!({}))),
        (
            "lb-dashboard-by-name",
            meta(svc("LoadBalancer", json!([{"port": 80, "targetPort": "dashboard"}])), json!({})),
        ),
        (
            "lb-dashboard-source-ranges",
            meta(
                with(
                    svc("LoadBalancer", dash.clone()),
                    "loadBalancerSourceRanges",
                    json!(["10.0.0.0/8"]),
                ),
                json!({}),
            ),
        ),
        (
            "lb-dashboard-open-ranges",
            meta(
                with(
                    svc("LoadBalancer", dash.clone()),
                    "loadBalancerSourceRanges",
                    json!(["0.0.0.0/0"]),
                ),
                json!({}),
            ),
        ),
        (
            "lb-dashboard-intranet",
            meta(svc("LoadBalancer", dash.clone()), lb_ann("address-type", "intranet")),
        ),
        ("lb-dashboard-ack-whitelist", meta(svc("LoadBalancer", dash.clone()), acl("white"))),
        ("lb-dashboard-ack-blacklist", meta(svc("LoadBalancer", dash.clone()), acl("black"))),
        ("nodeport-dashboard-ack-whitelist", meta(svc("NodePort", dash.clone()), acl("white"))),
        ("nodeport-gcs", meta(svc("NodePort", json!([{"port": 6379}])), json!({}))),
        (
            "externalips-client-by-name",
            meta(
                with(
                    svc("ClusterIP", json!([{"port": 443, "targetPort": "client"}])),
                    "externalIPs",
                    json!(["203.0.113.7"]),
                ),
                json!({}),
            ),
        ),
        (
            "lb-whitelisted-gcs",
            meta(svc("LoadBalancer", json!([{"port": 6379, "targetPort": 6379}])), acl("white")),
        ),
        (
            "lb-serve",
            meta(svc("LoadBalancer", json!([{"port": 80, "targetPort": "serve"}])), json!({})),
        ),
        ("lb-metrics-number", meta(svc("LoadBalancer", json!([{"port": 8080}])), json!({}))),
        (
            "lb-dashboard-and-client",
            meta(
                svc(
                    "LoadBalancer",
                    json!([{"name": "d", "port": 8265}, {"name": "c", "port": 10001}]),
                ),
                json!({}),
            ),
        ),
        (
            "lb-dashboard-no-ray-selector",
            meta(
                json!({"type": "LoadBalancer", "selector": {"app": "web"}, "ports": dash}),
                json!({}),
            ),
        ),
    ]
}

/// The Service of a fixture, and what scan raises of `rules` with the clean cluster `rc`.
fn service_fixture(name: &str, v: &Value, rules: &[&str]) -> (Value, BTreeSet<&'static str>) {
    let svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": NS, "annotations": v["annotations"]},
        "spec": v["spec"]});
    let mut inv = Inventory::default();
    inv.add_value(object("RayCluster", "rc", spec(), None), NS).unwrap();
    inv.add_value(svc.clone(), NS).unwrap();
    let raised = evaluate(&inv, &PostureConfig::default())
        .iter()
        .flat_map(|e| e.graded().map(|f| f.rule.id).collect::<Vec<_>>())
        .filter(|id| rules.contains(id))
        .collect();
    (svc, raised)
}

/// What the server says to a dry-run create of a Service: None if admitted, else its message.
async fn admit_service(client: &kube::Client, o: &Value) -> Option<String> {
    let api: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(client.clone(), NS);
    let obj = serde_json::from_value(o.clone()).unwrap();
    let pp = PostParams { dry_run: true, ..Default::default() };
    match api.create(&pp, &obj).await {
        Ok(_) => None,
        Err(kube::Error::Api(s)) => Some(s.message),
        Err(e) => panic!("dry-run create of Service {}: {e}", o["metadata"]["name"]),
    }
}

/// What the server says to a dry-run create: None if admitted, else its message.
async fn admit(client: &kube::Client, o: &Value) -> Option<String> {
    let kind = o["kind"].as_str().unwrap_or("");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &ray_resource(kind));
    let obj: DynamicObject = serde_json::from_value(o.clone()).unwrap();
    let pp = PostParams { dry_run: true, ..Default::default() };
    match api.create(&pp, &obj).await {
        Ok(_) => None,
        Err(kube::Error::Api(s)) => Some(s.message),
        Err(e) => panic!("dry-run create of {}: {e}", o["metadata"]["name"]),
    }
}

async fn install(client: &kube::Client, objects: &[Value]) {
    for o in objects {
        let kind = o["kind"].as_str().unwrap_or("");
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &vap_resource(kind));
        let obj: DynamicObject = serde_json::from_value(o.clone()).unwrap();
        let name = o["metadata"]["name"].as_str().unwrap_or("");
        match api.get_opt(name).await.unwrap() {
            None => drop(api.create(&PostParams::default(), &obj).await.unwrap()),
            Some(cur) => {
                let mut obj = obj;
                obj.metadata.resource_version = cur.metadata.resource_version;
                drop(api.replace(name, &PostParams::default(), &obj).await.unwrap());
            }
        }
    }
}

#[cfg_attr(
    not(all(envtest, kubectl)),
    ignore = "needs kube-apiserver and etcd (KUBEBUILDER_ASSETS) and kubectl"
)]
#[tokio::test]
async fn the_real_server_denies_exactly_what_scan_raises_and_warns_in_warn_mode() {
    let env = envtest();
    let admin = env.client(RealUser::Admin).await;
    crate::envtest::load(
        &admin,
        vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})],
    )
    .await
    .unwrap();
    let deny = GuardOptions {
        mode: Mode::Deny,
        rules: vec![],
        namespaces: vec![NS.into()],
        namespace_selector: None,
    };
    let objects = guard::plan(&deny).unwrap();
    install(&admin, &objects).await;

    // Every policy was accepted (its CEL compiled). Type checking against the CRD schemas is
    // reported in the policy's status by kube-controller-manager, which envtest does not run:
    // checked when a status is there, else the differential below runs every expression on
    // every kind.
    let vaps: Api<DynamicObject> =
        Api::all_with(admin.clone(), &vap_resource("ValidatingAdmissionPolicy"));
    for o in objects.iter().filter(|o| o["kind"] == "ValidatingAdmissionPolicy") {
        let name = o["metadata"]["name"].as_str().unwrap();
        let got = vaps.get(name).await.unwrap();
        match got.data.pointer("/status/typeChecking/expressionWarnings") {
            Some(w) => assert!(w.as_array().is_none_or(Vec::is_empty), "{name}: {w:#}"),
            None => eprintln!("{name}: no type-checking status (no kube-controller-manager)"),
        }
    }

    // The policies take effect once the server has seen them.
    // Each kind's policy takes effect on its own: wait until every one refuses.
    let mut lb = spec();
    lb["headGroupSpec"]["serviceType"] = json!("LoadBalancer");
    for kind in ["RayCluster", "RayJob", "RayService", "RayCronJob"] {
        let probe = object(kind, "probe", lb.clone(), None);
        let mut live = false;
        for _ in 0..100 {
            if admit(&admin, &probe).await.is_some() {
                live = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(live, "the guard never denied a {kind} asking for a LoadBalancer");
    }

    // The differential: every kind × every variant.
    let mut checked = 0;
    for kind in ["RayCluster", "RayJob", "RayService", "RayCronJob"] {
        for (name, change, exempt) in variants() {
            let mut s = spec();
            change(&mut s);
            let o = object(kind, name, s, exempt);
            let want = raised(&o, &default_rules());
            let got = admit(&admin, &o).await;
            match (&got, want.is_empty()) {
                (None, true) => {}
                (Some(m), false) => {
                    // The server names the first validation that failed.
                    assert!(
                        want.iter().any(|id| m.contains(id)),
                        "{kind} {name}: denied without naming any of {want:?}: {m}"
                    );
                    assert!(m.contains("raydar fix") || m.contains("guide §"), "{m}");
                }
                _ => panic!("{kind} {name}: scan raises {want:?}, the server says {got:?}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 4 * variants().len());

    // Services in front of a Ray cluster: denied exactly when scan raises RAY-EXP-001/002.
    let service_rules = ["RAY-EXP-001", "RAY-EXP-002"];
    let mut differ = Vec::new();
    for (name, v) in service_variants() {
        let (svc, want) = service_fixture(name, &v, &service_rules);
        let got = admit_service(&admin, &svc).await;
        match (&got, want.is_empty()) {
            (None, true) => {}
            (Some(m), false) if want.iter().any(|id| m.contains(id)) => {}
            _ => differ
                .push(format!("Service {name}: scan raises {want:?}, the server says {got:?}")),
        }
    }
    assert!(differ.is_empty(), "{differ:#?}");
    let raised_somewhere = service_variants()
        .iter()
        .filter(|(n, v)| !service_fixture(n, v, &service_rules).1.is_empty())
        .count();
    assert!(raised_somewhere >= 6, "the fixtures exercise both rules: {raised_somewhere}");

    // Every guardable rule, the opt-in ones too, in warn mode: the server warns about exactly
    // the rules scan raises, object by object.
    let every: Vec<&str> =
        GUARDED.iter().filter(|g| g.target == Target::Ray).map(|g| g.id).collect();
    let all_warn = GuardOptions {
        mode: Mode::Warn,
        rules: every.iter().map(|id| id.to_string()).collect(),
        namespaces: vec![NS.into()],
        namespace_selector: None,
    };
    install(&admin, &guard::plan(&all_warn).unwrap()).await;
    for kind in ["RayCluster", "RayJob", "RayService", "RayCronJob"] {
        // The clean spec has neither token auth nor TLS: warned about both once in effect.
        let probe = object(kind, "probe", spec(), None);
        let mut live = false;
        for _ in 0..100 {
            let (ok, ids) = warned(&admin, &probe).await;
            if ok && ids.contains("RAY-AUTH-001") && !ids.contains("RAY-SVC-001") {
                live = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(live, "the {kind} guard never switched to warning about every rule");
    }
    let mut differ = Vec::new();
    for kind in ["RayCluster", "RayJob", "RayService", "RayCronJob"] {
        for (name, change, exempt) in variants() {
            let mut s = spec();
            change(&mut s);
            let o = object(kind, name, s, exempt);
            let (ok, got) = warned(&admin, &o).await;
            assert!(ok, "{kind} {name}: refused in warn mode");
            let want = raised(&o, &every);
            if got != want {
                differ
                    .push(format!("{kind} {name}: scan raises {want:?}, the server warns {got:?}"));
            }
        }
    }
    assert!(differ.is_empty(), "{differ:#?}");
    install(&admin, &objects).await;

    // Warn mode: admitted, with the rule in kubectl's warning; for the demo's own clusters.
    let warn = GuardOptions { mode: Mode::Warn, ..deny };
    install(&admin, &guard::plan(&warn).unwrap()).await;
    let mut demo: Vec<Value> = raydar::demo::manifests()
        .into_iter()
        .filter(|m| m["kind"] == "RayCluster")
        .filter(|m| matches!(m["metadata"]["name"].as_str(), Some("cowboy" | "train-exposed")))
        .collect();
    demo.sort_by_key(|m| m["metadata"]["name"].as_str().map(str::to_string));
    assert_eq!(demo.len(), 2, "cowboy, then train-exposed");
    for m in &mut demo {
        m["metadata"]["namespace"] = json!(NS);
        if let Some(meta) = m["metadata"].as_object_mut() {
            meta.retain(|k, _| matches!(k.as_str(), "name" | "namespace" | "labels"));
        }
        m.as_object_mut().map(|o| o.remove("status"));
    }
    let kubeconfig = env.write_kubeconfig(RealUser::Admin, "guard");
    let mut saw = Vec::new();
    for _ in 0..50 {
        saw.clear();
        for m in &demo {
            saw.push(kubectl_create(&kubeconfig, m));
        }
        if saw.iter().all(|(ok, err)| *ok && err.contains("Warning")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (cowboy, exposed) = (&saw[0].1, &saw[1].1);
    assert!(saw.iter().all(|(ok, _)| *ok), "warn mode refused: {saw:?}");
    assert!(cowboy.contains("RAY-SEC-001") && cowboy.contains("RAY-SEC-005"), "{cowboy}");
    assert!(exposed.contains("RAY-SVC-001") && exposed.contains("service-clusterip"), "{exposed}");

    // Deny mode again: kubectl is refused with the rule and the fix.
    install(&admin, &objects).await;
    let mut refused = String::new();
    for _ in 0..50 {
        let (ok, err) = kubectl_create(&kubeconfig, &demo[1]);
        refused = err;
        if !ok {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused.contains("RAY-SVC-001") && refused.contains("denied"), "{refused}");

    // Installed through raydar instead: preview, access check, dry run, --yes, journal; a
    // second apply has nothing to do; `raydar undo` removes exactly what it installed.
    for o in &objects {
        let api: Api<DynamicObject> =
            Api::all_with(admin.clone(), &vap_resource(o["kind"].as_str().unwrap()));
        let name = o["metadata"]["name"].as_str().unwrap();
        api.delete(name, &Default::default()).await.unwrap();
        let left = api.get_opt(name).await.unwrap();
        assert!(left.is_none(), "{name} is still there: {left:?}");
    }
    let state = env.dir.join("guard-state");
    let raydar = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_raydar"))
            .args(["--kubeconfig", kubeconfig.to_str().unwrap()])
            .args(args)
            .env("XDG_STATE_HOME", &state)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        (o.status.code(), out + &String::from_utf8_lossy(&o.stderr))
    };
    let names = || async {
        let mut out = BTreeSet::new();
        for kind in ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"] {
            let api: Api<DynamicObject> = Api::all_with(admin.clone(), &vap_resource(kind));
            for o in api.list(&Default::default()).await.unwrap() {
                out.insert(format!("{kind}/{}", o.metadata.name.unwrap_or_default()));
            }
        }
        out
    };
    let before = names().await;
    let (code, out) = raydar(&["guard", "apply", "--mode", "deny", "-n", NS, "--dry-run"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("+ create ValidatingAdmissionPolicy raydar-guard-rayjob"), "{out}");
    assert_eq!(names().await, before, "a dry run writes nothing");
    let (code, out) = raydar(&["guard", "apply", "--mode", "deny", "-n", NS, "--yes"]);
    assert_eq!(code, Some(0), "{out}");
    let installed = names().await;
    assert_eq!(installed.difference(&before).count(), 10, "{installed:?}");
    let (code, out) = raydar(&["guard", "apply", "--mode", "deny", "-n", NS, "--yes"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("nothing to change"), "{out}");
    let (code, out) = raydar(&["guard", "apply", "--read-only", "--mode", "warn", "--yes"]);
    assert_ne!(code, Some(0), "{out}");
    let (code, out) = raydar(&["guard", "status"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.lines().filter(|l| l.contains(" deny ") && l.contains(NS)).count(), 5, "{out}");
    assert!(out.contains("RAY-SEC-001") && out.contains("rayjob"), "{out}");
    // Removed through the same flow; undo puts it back, and undo again takes it away.
    let (code, out) = raydar(&["guard", "remove", "--yes"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(names().await, before, "remove deletes what raydar installed");
    let (code, out) = raydar(&["guard", "status"]);
    assert!(code == Some(0) && out.contains("guard: off"), "{out}");
    let (code, out) = raydar(&["undo", "--yes"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(names().await, installed, "undo of the remove restores the guard");
    let (code, out) = raydar(&["undo", "--yes"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(names().await, before, "undo removes exactly what guard apply installed");
}

/// `kubectl create --dry-run=server -f -` of `o`: whether it was admitted, and what kubectl
/// printed on stderr (warnings, or the refusal).
fn kubectl_create(kubeconfig: &std::path::Path, o: &Value) -> (bool, String) {
    use std::io::Write;
    let out = std::process::Command::new("kubectl")
        .args(["--kubeconfig", kubeconfig.to_str().unwrap()])
        .args(["create", "--dry-run=server", "-f", "-", "-o", "name"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(o.to_string().as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
}
