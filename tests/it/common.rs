use raydar::demo::{DemoOptions, DemoServer, DemoUser};

pub async fn server() -> DemoServer {
    DemoServer::start(DemoOptions::default()).await.expect("demo server starts")
}

pub async fn client(s: &DemoServer, user: DemoUser) -> kube::Client {
    s.client(user).await.expect("client from the generated kubeconfig")
}

/// The Kubernetes `Status` of an API error (panics on any other error: tests expect one).
pub fn status(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API Status error, got {other:?}"),
    }
}

pub fn rc_resource() -> kube::api::ApiResource {
    kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("ray.io", "v1", "RayCluster"),
        "rayclusters",
    )
}
