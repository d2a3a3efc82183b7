//! The KubeRay custom resources (`ray.io/v1`), typed only as far as raydar reads them.
//! Pod templates use k8s-openapi's types; unknown fields are ignored.

use crate::model::{resource, PodTemplate as PodTemplateSpec, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HeadService {
    #[serde(default)]
    pub metadata: Option<ObjectMeta>,
    #[serde(default)]
    pub spec: Option<ServiceSpec>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HeadGroupSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_service: Option<HeadService>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ingress: Option<bool>,
    /// KubeRay 1.7: host, path and TLS of the Ingress `enableIngress` creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_options: Option<IngressOptions>,
    #[serde(default)]
    pub ray_start_params: BTreeMap<String, String>,
    #[serde(default)]
    pub template: PodTemplateSpec,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkerGroupSpec {
    #[serde(default)]
    pub group_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_of_hosts: Option<i32>,
    #[serde(default)]
    pub template: PodTemplateSpec,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuthOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// KubeRay 1.6: the dashboard checks the caller's own Kubernetes token (from the Ray
    /// version `assets/ray-versions.toml` names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_k8s_token_auth: Option<bool>,
}

/// KubeRay 1.7 `headGroupSpec.ingressOptions`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IngressOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<k8s_openapi::api::networking::v1::IngressTLS>,
}

/// KubeRay 1.7 `spec.networkPolicy`: the operator creates `<cluster>-head` and
/// `<cluster>-workers-<group>` from it (feature gate `RayClusterNetworkPolicy`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyConfig {
    /// `DenyAll` (the default), `DenyAllIngress` or `DenyAllEgress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<NetworkPolicyRules>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<NetworkPolicyRules>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub worker_groups: Vec<WorkerGroupNetworkPolicyRules>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyRules {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress_rules: Vec<k8s_openapi::api::networking::v1::NetworkPolicyIngressRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress_rules: Vec<k8s_openapi::api::networking::v1::NetworkPolicyEgressRule>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkerGroupNetworkPolicyRules {
    #[serde(default)]
    pub group_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress_rules: Vec<k8s_openapi::api::networking::v1::NetworkPolicyIngressRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress_rules: Vec<k8s_openapi::api::networking::v1::NetworkPolicyEgressRule>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TlsOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RayClusterSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ray_version: Option<String>,
    #[serde(default)]
    pub head_group_spec: HeadGroupSpec,
    #[serde(default, deserialize_with = "crate::model::exact")]
    pub worker_group_specs: Vec<WorkerGroupSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_in_tree_autoscaling: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_options: Option<AuthOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_options: Option<TlsOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_strategy: Option<UpgradeStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_service_annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_policy: Option<NetworkPolicyConfig>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RayClusterStatus {
    pub state: Option<String>,
    pub desired_worker_replicas: Option<i32>,
    pub ready_worker_replicas: Option<i32>,
    /// `status.head.serviceName`: the head Service's real name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<HeadStatus>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct HeadStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
}

impl RayClusterSpec {
    /// `headGroupSpec.headService.metadata.name`: the head Service's name the CR asks for.
    pub fn head_service_override(&self) -> Option<&str> {
        self.head_group_spec.head_service.as_ref()?.metadata.as_ref()?.name.as_deref()
    }
}

impl RayClusterStatus {
    /// `status.head.serviceName`: the head Service's name the operator made.
    pub fn head_service(&self) -> Option<&str> {
        self.head.as_ref()?.service_name.as_deref()
    }
}

/// A RayCluster as listed: metadata plus the parts raydar reads.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RayCluster {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: RayClusterSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RayClusterStatus>,
}
resource!(RayCluster, "ray.io", "v1", "RayCluster", "rayclusters");

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RayJobSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ray_cluster_spec: Option<RayClusterSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_after_job_finishes: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RayJobStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ray_cluster_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_deployment_status: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RayJob {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: RayJobSpec,
    #[serde(default)]
    pub status: Option<RayJobStatus>,
}
resource!(RayJob, "ray.io", "v1", "RayJob", "rayjobs");

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RayServiceSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ray_cluster_config: Option<RayClusterSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_strategy: Option<UpgradeStrategy>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RayServiceClusterStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ray_cluster_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RayServiceStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_service_status: Option<RayServiceClusterStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_service_status: Option<RayServiceClusterStatus>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RayService {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: RayServiceSpec,
    #[serde(default)]
    pub status: Option<RayServiceStatus>,
}
resource!(RayService, "ray.io", "v1", "RayService", "rayservices");

/// A RayCronJob: scanned through the RayJob template it creates.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RayCronJobSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_template: Option<RayJobSpec>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RayCronJob {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: RayCronJobSpec,
}
resource!(RayCronJob, "ray.io", "v1", "RayCronJob", "raycronjobs");
