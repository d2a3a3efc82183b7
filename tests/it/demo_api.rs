//! CRUD, selectors, pagination, patches and dry-runs through kube-rs.

use crate::common::{client, rc_resource, server, status};
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, Preconditions,
};
use raydar::demo::DemoUser;
use serde_json::json;

#[tokio::test]
async fn discovery_serves_every_kind_raydar_reads() {
    let s = server().await;
    let c = client(&s, DemoUser::Admin).await;
    let v = c.apiserver_version().await.unwrap();
    assert_eq!(v.major, "1");
    let d = kube::Discovery::new(c).run().await.unwrap();
    for (group, kind) in [
        ("", "Pod"),
        ("", "Service"),
        ("", "Namespace"),
        ("", "ServiceAccount"),
        ("", "ResourceQuota"),
        ("", "Secret"),
        ("", "Event"),
        ("apps", "Deployment"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("networking.k8s.io", "Ingress"),
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "RoleBinding"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("ray.io", "RayCluster"),
        ("ray.io", "RayJob"),
        ("ray.io", "RayService"),
    ] {
        let g = d.get(group).unwrap_or_else(|| panic!("group {group:?} discovered"));
        assert!(
            g.recommended_resources().iter().any(|(ar, _)| ar.kind == kind),
            "{kind} in {group:?}"
        );
    }
}

#[tokio::test]
async fn demo_data_is_there_with_server_metadata() {
    let s = server().await;
    let c = client(&s, DemoUser::Admin).await;
    let rcs: Api<DynamicObject> = Api::all_with(c.clone(), &rc_resource());
    let list = rcs.list(&ListParams::default()).await.unwrap();
    let names: Vec<String> = list
        .items
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o.metadata.namespace.as_deref().unwrap_or(""),
                o.metadata.name.as_deref().unwrap_or("")
            )
        })
        .collect();
    for want in [
        "ray-prod/train-exposed",
        "ray-prod/serve-acl",
        "ray-prod/hardened",
        "ray-dev/notebook",
        "ray-dev/cowboy",
        "ml-team/etl",
        "default/stray",
    ] {
        assert!(names.contains(&want.to_string()), "{want} in {names:?}");
    }
    let rv: u64 = list.metadata.resource_version.as_deref().unwrap().parse().unwrap();
    for o in &list.items {
        assert!(o.metadata.uid.as_deref().is_some_and(|u| u.len() == 36));
        assert!(o.metadata.creation_timestamp.is_some());
        assert_eq!(o.metadata.generation, Some(1));
        assert!(o.metadata.resource_version.as_deref().unwrap().parse::<u64>().unwrap() <= rv);
    }
    // Every cluster has its head pod (Running, Ready), workers and head Service like KubeRay's.
    let pods: Api<Pod> = Api::namespaced(c.clone(), "ray-prod");
    let heads = pods
        .list(&ListParams::default().labels("ray.io/cluster=train-exposed,ray.io/node-type=head"))
        .await
        .unwrap();
    assert_eq!(heads.items.len(), 1);
    let head = &heads.items[0];
    assert!(head.metadata.name.as_deref().unwrap().starts_with("train-exposed-head-"));
    let ready = head
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    assert!(ready);
    let svc: Service =
        Api::namespaced(c.clone(), "ray-prod").get("train-exposed-head-svc").await.unwrap();
    let spec = svc.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("LoadBalancer"));
    let ports: Vec<i32> = spec.ports.unwrap().iter().map(|p| p.port).collect();
    for p in [6379, 8265, 10001] {
        assert!(ports.contains(&p));
    }
    assert_eq!(spec.selector.unwrap().len(), 5);
    let ops: Api<Pod> = Api::namespaced(c, "kuberay-system");
    assert_eq!(
        ops.list(&ListParams::default().labels("app.kubernetes.io/name=kuberay-operator"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

#[tokio::test]
async fn label_and_field_selectors() {
    let s = server().await;
    let pods: Api<Pod> = Api::all(client(&s, DemoUser::Admin).await);
    let count = |sel: &'static str| {
        let pods = pods.clone();
        async move { pods.list(&ListParams::default().labels(sel)).await.unwrap().items.len() }
    };
    let heads = count("ray.io/node-type=head").await;
    let all_ray = count("ray.io/cluster").await;
    let not_head = count("ray.io/cluster,ray.io/node-type!=head").await;
    assert_eq!(heads + not_head, all_ray);
    assert_eq!(count("ray.io/cluster in (train-exposed,hardened),ray.io/node-type=head").await, 2);
    assert_eq!(
        count("ray.io/cluster notin (train-exposed),ray.io/node-type=head").await,
        heads - 1
    );
    assert_eq!(count("!ray.io/cluster").await, 1, "only the operator pod lacks the label");
    let by_field =
        pods.list(&ListParams::default().fields("metadata.namespace=ray-prod")).await.unwrap();
    assert!(by_field.items.iter().all(|p| p.metadata.namespace.as_deref() == Some("ray-prod")));
    let name = by_field.items[0].metadata.name.clone().unwrap();
    let one =
        pods.list(&ListParams::default().fields(&format!("metadata.name={name}"))).await.unwrap();
    assert_eq!(one.items.len(), 1);
    let err = pods.list(&ListParams::default().labels("a in b")).await.unwrap_err();
    assert_eq!(status(err).code, 400);
}

#[tokio::test]
async fn pagination_with_limit_and_continue() {
    let s = server().await;
    let pods: Api<Pod> = Api::all(client(&s, DemoUser::Admin).await);
    let all = pods.list(&ListParams::default()).await.unwrap();
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut rvs = std::collections::HashSet::new();
    for _ in 0..100 {
        let mut lp = ListParams::default().limit(4);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = pods.list(&lp).await.unwrap();
        assert!(page.items.len() <= 4);
        rvs.insert(page.metadata.resource_version.clone());
        seen.extend(page.items.iter().map(|p| p.metadata.name.clone().unwrap()));
        token = page.metadata.continue_.clone().filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
        assert!(page.metadata.remaining_item_count.is_some());
    }
    let want: Vec<String> = all.items.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
    assert_eq!(seen, want);
    assert_eq!(rvs.len(), 1, "every page carries the list's resourceVersion");
}

fn test_pod(name: &str) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"t": "x"}},
        "spec": {"containers": [{"name": "a", "image": "busybox", "env": [{"name": "E1", "value": "1"}],
            "ports": [{"containerPort": 80, "name": "http"}]}],
            "volumes": [{"name": "v1", "emptyDir": {}}]}})).unwrap()
}

#[tokio::test]
async fn create_get_conflicts_and_generate_name() {
    let s = server().await;
    let pods: Api<Pod> = Api::namespaced(client(&s, DemoUser::Admin).await, "ray-dev");
    let created = pods.create(&PostParams::default(), &test_pod("p1")).await.unwrap();
    assert!(created.metadata.uid.is_some());
    let dup = status(pods.create(&PostParams::default(), &test_pod("p1")).await.unwrap_err());
    assert_eq!((dup.code, dup.reason.as_str()), (409, "AlreadyExists"));
    let mut gen = test_pod("");
    gen.metadata.name = None;
    gen.metadata.generate_name = Some("gen-".into());
    let g = pods.create(&PostParams::default(), &gen).await.unwrap();
    assert!(g.metadata.name.unwrap().starts_with("gen-"));
    assert!(pods.get_opt("nope").await.unwrap().is_none());
    let nf = status(pods.get("nope").await.unwrap_err());
    assert_eq!((nf.code, nf.reason.as_str()), (404, "NotFound"));
    // A write in a namespace that does not exist.
    let other: Api<Pod> = Api::namespaced(client(&s, DemoUser::Admin).await, "no-such-ns");
    assert_eq!(
        status(other.create(&PostParams::default(), &test_pod("x")).await.unwrap_err()).code,
        404
    );
    // Replace with a stale resourceVersion.
    let mut stale = created.clone();
    pods.patch(
        "p1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"u": "1"}}})),
    )
    .await
    .unwrap();
    stale.metadata.labels.get_or_insert_default().insert("v".into(), "2".into());
    let c = status(pods.replace("p1", &PostParams::default(), &stale).await.unwrap_err());
    assert_eq!((c.code, c.reason.as_str()), (409, "Conflict"));
    // Delete with preconditions.
    let wrong = DeleteParams {
        preconditions: Some(Preconditions { uid: Some("nope".into()), resource_version: None }),
        ..Default::default()
    };
    assert_eq!(status(pods.delete("p1", &wrong).await.unwrap_err()).code, 409);
    let right = DeleteParams {
        preconditions: Some(Preconditions {
            uid: created.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    pods.delete("p1", &right).await.unwrap();
    assert!(pods.get_opt("p1").await.unwrap().is_none());
}

#[tokio::test]
async fn patches_merge_json_strategic_and_stale_precondition() {
    let s = server().await;
    let pods: Api<Pod> = Api::namespaced(client(&s, DemoUser::Admin).await, "ray-dev");
    let p0 = pods.create(&PostParams::default(), &test_pod("pp")).await.unwrap();
    let pp = PatchParams::default();
    let p = pods
        .patch("pp", &pp, &Patch::Merge(json!({"metadata": {"labels": {"m": "1"}}})))
        .await
        .unwrap();
    assert_eq!(p.metadata.labels.as_ref().unwrap()["m"], "1");
    let p = pods
        .patch(
            "pp",
            &pp,
            &Patch::Json::<()>(
                serde_json::from_value(
                    json!([{"op": "add", "path": "/metadata/annotations", "value": {"j": "1"}}]),
                )
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(p.metadata.annotations.as_ref().unwrap()["j"], "1");
    // Strategic: containers by name, env by name, ports by containerPort, volumes by name.
    let p = pods.patch("pp", &pp, &Patch::Strategic(json!({"spec": {
        "containers": [{"name": "a", "env": [{"name": "E2", "value": "2"}], "ports": [{"containerPort": 81, "name": "alt"}]}],
        "volumes": [{"name": "v2", "emptyDir": {}}]}}))).await.unwrap();
    let spec = p.spec.unwrap();
    let c = &spec.containers[0];
    assert_eq!(c.image.as_deref(), Some("busybox"));
    assert_eq!(c.env.as_ref().unwrap().len(), 2);
    assert_eq!(c.ports.as_ref().unwrap().len(), 2);
    assert_eq!(spec.volumes.unwrap().len(), 2);
    // Strategic merge on a custom resource is refused like the real server does.
    let rcs: Api<DynamicObject> =
        Api::namespaced_with(client(&s, DemoUser::Admin).await, "ray-prod", &rc_resource());
    let e = status(
        rcs.patch("hardened", &pp, &Patch::Strategic(json!({"metadata": {"labels": {"a": "b"}}})))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 415);
    // A stale resourceVersion in a patch is a precondition failure.
    let stale = json!({"metadata": {"resourceVersion": p0.metadata.resource_version, "labels": {"x": "y"}}});
    assert_eq!(status(pods.patch("pp", &pp, &Patch::Merge(stale)).await.unwrap_err()).code, 409);
}

#[tokio::test]
async fn service_ports_merge_by_port_and_clusterip_clears_node_ports() {
    let s = server().await;
    let svcs: Api<Service> = Api::namespaced(client(&s, DemoUser::Admin).await, "ray-prod");
    let pp = PatchParams::default();
    let before = svcs.get("train-exposed-head-svc").await.unwrap();
    assert!(before
        .spec
        .as_ref()
        .unwrap()
        .ports
        .as_ref()
        .unwrap()
        .iter()
        .all(|p| p.node_port.is_some()));
    let p = svcs
        .patch(
            "train-exposed-head-svc",
            &pp,
            &Patch::Strategic(
                json!({"spec": {"ports": [{"port": 8265, "name": "dashboard-renamed"}]}}),
            ),
        )
        .await
        .unwrap();
    let ports = p.spec.unwrap().ports.unwrap();
    assert_eq!(ports.len(), 5, "merged by port, not replaced");
    assert!(ports.iter().any(|p| p.name.as_deref() == Some("dashboard-renamed")));
    let after = svcs
        .patch("train-exposed-head-svc", &pp, &Patch::Merge(json!({"spec": {"type": "ClusterIP"}})))
        .await
        .unwrap();
    let spec = after.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert!(spec.ports.unwrap().iter().all(|p| p.node_port.is_none()));
    assert!(spec.external_traffic_policy.is_none());
    assert!(spec.allocate_load_balancer_node_ports.is_none());
    assert_eq!(spec.cluster_ip, before.spec.unwrap().cluster_ip);
    assert!(after.status.unwrap().load_balancer.unwrap().ingress.is_none());
}

#[tokio::test]
async fn server_side_apply_with_field_manager_force_and_conflicts() {
    let s = server().await;
    let rcs: Api<DynamicObject> =
        Api::namespaced_with(client(&s, DemoUser::Admin).await, "ray-dev", &rc_resource());
    let body = |workers: i64| {
        json!({"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "ssa"},
        "spec": {"rayVersion": "2.54.0", "headGroupSpec": {"template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.54.0"}]}}},
            "workerGroupSpecs": [{"groupName": "w", "replicas": workers, "minReplicas": 0, "maxReplicas": 9,
                "template": {"spec": {"containers": [{"name": "ray-worker", "image": "rayproject/ray:2.54.0"}]}}}]}})
    };
    let x = PatchParams::apply("x").force();
    let created = rcs.patch("ssa", &x, &Patch::Apply(body(1))).await.unwrap();
    assert_eq!(created.metadata.managed_fields.as_ref().unwrap()[0].manager.as_deref(), Some("x"));
    let rv = created.metadata.resource_version.clone();
    let dry = rcs.patch("ssa", &x.clone().dry_run(), &Patch::Apply(body(3))).await.unwrap();
    assert_eq!(dry.data["spec"]["workerGroupSpecs"][0]["replicas"], 3);
    assert_eq!(
        rcs.get("ssa").await.unwrap().metadata.resource_version,
        rv,
        "dry-run stored nothing"
    );
    let conflict = status(
        rcs.patch("ssa", &PatchParams::apply("y"), &Patch::Apply(body(2))).await.unwrap_err(),
    );
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    let causes = conflict.details.unwrap().causes;
    assert!(
        causes
            .iter()
            .any(|c| c.field == ".spec.workerGroupSpecs" && c.reason == "FieldManagerConflict"),
        "{causes:?}"
    );
    let forced =
        rcs.patch("ssa", &PatchParams::apply("y").force(), &Patch::Apply(body(2))).await.unwrap();
    assert_eq!(forced.data["spec"]["workerGroupSpecs"][0]["replicas"], 2);
    assert_eq!(forced.metadata.generation, Some(2));
    let no_manager = status(
        rcs.patch("ssa", &PatchParams::default(), &Patch::Apply(body(2))).await.unwrap_err(),
    );
    assert_eq!(no_manager.code, 422);
}

#[tokio::test]
async fn dry_run_on_every_write_stores_nothing() {
    let s = server().await;
    let c = client(&s, DemoUser::Admin).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "ray-dev");
    let dry_post = PostParams { dry_run: true, ..Default::default() };
    let answer = pods.create(&dry_post, &test_pod("dry")).await.unwrap();
    assert_eq!(answer.metadata.name.as_deref(), Some("dry"));
    assert!(pods.get_opt("dry").await.unwrap().is_none());
    let svcs: Api<Service> = Api::namespaced(c.clone(), "ray-prod");
    let rv = svcs.get("train-exposed-head-svc").await.unwrap().metadata.resource_version;
    let dp = PatchParams::default().dry_run();
    let out = svcs
        .patch("train-exposed-head-svc", &dp, &Patch::Merge(json!({"spec": {"type": "ClusterIP"}})))
        .await
        .unwrap();
    assert!(
        out.spec.unwrap().ports.unwrap().iter().all(|p| p.node_port.is_none()),
        "dry-run answers with the result"
    );
    svcs.patch(
        "train-exposed-head-svc",
        &dp,
        &Patch::Strategic(json!({"spec": {"ports": [{"port": 1, "name": "x"}]}})),
    )
    .await
    .unwrap();
    svcs.patch(
        "train-exposed-head-svc",
        &dp,
        &Patch::Json::<()>(
            serde_json::from_value(
                json!([{"op": "replace", "path": "/spec/type", "value": "NodePort"}]),
            )
            .unwrap(),
        ),
    )
    .await
    .unwrap();
    let mut svc = svcs.get("train-exposed-head-svc").await.unwrap();
    svc.metadata.labels.get_or_insert_default().insert("dry".into(), "run".into());
    svcs.replace("train-exposed-head-svc", &dry_post, &svc).await.unwrap();
    svcs.delete("train-exposed-head-svc", &DeleteParams { dry_run: true, ..Default::default() })
        .await
        .unwrap();
    let after = svcs.get("train-exposed-head-svc").await.unwrap();
    assert_eq!(after.metadata.resource_version, rv);
    assert_eq!(after.spec.unwrap().type_.as_deref(), Some("LoadBalancer"));
    // Deleting a namespace removes what is in it.
    let nss: Api<Namespace> = Api::all(c.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "scratch"}})).unwrap(),
    )
    .await
    .unwrap();
    Api::<Pod>::namespaced(c.clone(), "scratch")
        .create(&PostParams::default(), &test_pod("s1"))
        .await
        .unwrap();
    nss.delete("scratch", &DeleteParams::default()).await.unwrap();
    assert!(Api::<Pod>::namespaced(c, "scratch").get_opt("s1").await.unwrap().is_none());
}
