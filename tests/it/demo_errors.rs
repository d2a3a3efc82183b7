//! Validation (422 with causes), authentication (401), authorization (403 worded like the real
//! server) and access reviews that agree with it.

use crate::common::{client, rc_resource, server, status};
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{
    Api, DynamicObject, ListParams, Patch, PatchParams, PostParams, ValidationDirective,
};
use raydar::demo::DemoUser;
use serde_json::{json, Value};

fn fields(s: &kube::core::Status) -> Vec<String> {
    s.details
        .as_ref()
        .map(|d| d.causes.iter().map(|c| c.field.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn invalid_objects_get_422_with_field_causes() {
    let s = server().await;
    let c = client(&s, DemoUser::Admin).await;
    let svcs: Api<Service> = Api::namespaced(c.clone(), "ray-dev");
    let bad_type: Service = serde_json::from_value(
        json!({"metadata": {"name": "bad"}, "spec": {"type": "Sideways", "ports": [{"port": 80}]}}),
    )
    .unwrap();
    let e = status(svcs.create(&PostParams::default(), &bad_type).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert_eq!(fields(&e), ["spec.type"]);
    assert!(
        e.message
            .starts_with("Service \"bad\" is invalid: spec.type: Unsupported value: \"Sideways\""),
        "{}",
        e.message
    );
    let bad_ports: Service = serde_json::from_value(json!({"metadata": {"name": "bad"}, "spec": {"ports": [{"port": 70000}, {"port": 80, "name": "x"}]}})).unwrap();
    let e = status(svcs.create(&PostParams::default(), &bad_ports).await.unwrap_err());
    // Like the real server: targetPort defaults to port before validation, so both are reported.
    assert_eq!(
        fields(&e),
        ["spec.ports[0].name", "spec.ports[0].port", "spec.ports[0].targetPort"]
    );
    // ClusterIP with a nodePort is refused; changing the type clears them instead.
    let e = status(
        svcs.patch(
            "notebook-head-svc",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"ports": [{"port": 8265, "nodePort": 30500}]}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(fields(&e), ["spec.ports[0].nodePort"]);

    let nps: Api<NetworkPolicy> = Api::namespaced(c.clone(), "ray-dev");
    let np: NetworkPolicy = serde_json::from_value(json!({"metadata": {"name": "np"}, "spec": {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]},
        "policyTypes": ["Sideways"], "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/99"}, "podSelector": {}}]}]}})).unwrap();
    let e = status(nps.create(&PostParams::default(), &np).await.unwrap_err());
    assert_eq!(
        fields(&e),
        [
            "spec.podSelector.matchExpressions[0].operator",
            "spec.policyTypes[0]",
            "spec.ingress[0].from[0]",
            "spec.ingress[0].from[0].ipBlock.cidr"
        ]
    );

    let rcs: Api<DynamicObject> = Api::namespaced_with(c.clone(), "ray-dev", &rc_resource());
    let rc: DynamicObject = serde_json::from_value(json!({"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "rc"},
        "spec": {"headGroupSpec": {"template": {"spec": {"containers": []}}}, "workerGroupSpecs": [{"replicas": -1, "template": {"spec": {"containers": [{"name": "w"}]}}}]}})).unwrap();
    let e = status(rcs.create(&PostParams::default(), &rc).await.unwrap_err());
    assert_eq!(
        fields(&e),
        [
            "spec.headGroupSpec.template.spec.containers",
            "spec.workerGroupSpecs[0].groupName",
            "spec.workerGroupSpecs[0].replicas"
        ]
    );
    // The same checks guard patches: a patch cannot break a stored object.
    let e = status(
        rcs.patch(
            "notebook",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"headGroupSpec": null}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(fields(&e), ["spec.headGroupSpec"]);
}

#[tokio::test]
async fn unknown_fields_on_core_kinds() {
    let s = server().await;
    let svcs: Api<Service> = Api::namespaced(client(&s, DemoUser::Admin).await, "ray-dev");
    let body = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "strict"},
        "spec": {"ports": [{"port": 80, "bogusField": 1}], "selectorr": {"a": "b"}}});
    let strict = PatchParams {
        field_validation: Some(ValidationDirective::Strict),
        ..PatchParams::apply("t")
    };
    let e = status(svcs.patch("strict", &strict, &Patch::Apply(&body)).await.unwrap_err());
    assert_eq!(e.code, 422);
    assert_eq!(fields(&e), ["spec.ports[0].bogusField", "spec.selectorr"]);
    // Without Strict (kube-rs's default), the real server drops unknown fields with a warning.
    let ok = svcs.patch("strict", &PatchParams::apply("t"), &Patch::Apply(&body)).await.unwrap();
    let v = serde_json::to_value(&ok).unwrap();
    assert!(v["spec"].get("selectorr").is_none());
    // A wrong type is a decode error (400), as from the real server.
    let typed = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "typed"}, "spec": {"ports": [{"port": "eighty"}]}});
    assert_eq!(
        status(
            svcs.patch("typed", &PatchParams::apply("t"), &Patch::Apply(&typed)).await.unwrap_err()
        )
        .code,
        400
    );
}

#[tokio::test]
async fn bad_token_is_401_with_a_status_body() {
    let s = server().await;
    let kc = s.kubeconfig(DemoUser::Admin).replace(s.token(DemoUser::Admin), "admin.not-the-token");
    let kc = kube::config::Kubeconfig::from_yaml(&kc).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.unwrap();
    let c = kube::Client::try_from(cfg).unwrap();
    let e = status(Api::<Pod>::all(c).list(&ListParams::default()).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (401, "Unauthorized"));
}

#[tokio::test]
async fn limited_and_viewer_users_are_refused_like_a_real_server() {
    let s = server().await;
    let lim = client(&s, DemoUser::Limited).await;
    let e = status(
        Api::<Pod>::namespaced(lim.clone(), "ray-prod")
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert_eq!(e.message, "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"ray-prod\"");
    let e = status(Api::<Pod>::all(lim.clone()).list(&ListParams::default()).await.unwrap_err());
    assert!(e.message.ends_with("at the cluster scope"), "{}", e.message);
    assert!(!Api::<Pod>::namespaced(lim.clone(), "ray-dev")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .is_empty());
    let e = status(
        Api::<NetworkPolicy>::namespaced(lim.clone(), "ml-team")
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(e.message, "networkpolicies.networking.k8s.io is forbidden: User \"alice\" cannot list resource \"networkpolicies\" in API group \"networking.k8s.io\" in the namespace \"ml-team\"");
    let viewer = client(&s, DemoUser::Viewer).await;
    let e = status(
        Api::<Service>::namespaced(viewer.clone(), "ray-prod")
            .patch(
                "train-exposed-head-svc",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"type": "ClusterIP"}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 403);
    assert!(e.message.contains("cannot patch resource \"services\""), "{}", e.message);
}

async fn can(
    c: &kube::Client,
    verb: &str,
    group: &str,
    resource: &str,
    sub: &str,
    ns: &str,
) -> bool {
    let review: SelfSubjectAccessReview = serde_json::from_value(json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource, "subresource": sub, "namespace": ns}}})).unwrap();
    let out = Api::<SelfSubjectAccessReview>::all(c.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    out.status.unwrap().allowed
}

#[tokio::test]
async fn access_reviews_agree_with_what_the_server_enforces() {
    let s = server().await;
    for user in DemoUser::ALL {
        let c = client(&s, user).await;
        for (verb, group, res, sub, ns) in [
            ("list", "", "pods", "", "ray-prod"),
            ("list", "", "pods", "", "ray-dev"),
            ("list", "networking.k8s.io", "networkpolicies", "", "ml-team"),
            ("get", "", "secrets", "", "ray-prod"),
            ("patch", "", "services", "", "ray-prod"),
            ("create", "", "pods", "portforward", "ray-dev"),
        ] {
            let said = can(&c, verb, group, res, sub, ns).await;
            let path = match (group, sub) {
                ("", "") => format!("/api/v1/namespaces/{ns}/{res}"),
                ("", _) => continue,
                _ => format!("/apis/{group}/v1/namespaces/{ns}/{res}"),
            };
            let method = if verb == "patch" { "PATCH" } else { "GET" };
            let uri = if verb == "list" { path } else { format!("{path}/nope") };
            let mut req = http::Request::builder().method(method).uri(uri);
            if method == "PATCH" {
                req = req.header("content-type", "application/merge-patch+json");
            }
            let req = req.body(b"{}".to_vec()).unwrap();
            let got = match c.request::<Value>(req).await {
                Err(kube::Error::Api(st)) => st.code != 403,
                _ => true,
            };
            assert_eq!(
                said, got,
                "{user:?} {verb} {res} in {ns}: review says {said}, server enforces {got}"
            );
        }
    }
    // The limited user may port-forward only where it may work.
    let lim = client(&s, DemoUser::Limited).await;
    assert!(can(&lim, "create", "", "pods", "portforward", "ray-dev").await);
    assert!(!can(&lim, "create", "", "pods", "portforward", "ray-prod").await);
}
