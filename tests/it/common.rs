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

/// Ends a tmux server when dropped, so that a failing assertion does not leave its session
/// (and the raydar inside) running.
pub struct TmuxServer(pub String);

impl Drop for TmuxServer {
    fn drop(&mut self) {
        let _ =
            std::process::Command::new("tmux").arg("-L").arg(&self.0).arg("kill-server").output();
    }
}
