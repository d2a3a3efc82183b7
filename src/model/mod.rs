//! Slim, typed views of the Kubernetes objects the posture rules read: only the fields they
//! need, so that 20,000 pods fit in a few tens of megabytes. Short names the rules compare
//! (containers, env vars, ports, volumes, resources) are kept inline ([`CompactString`]), so
//! reading them does not jump around the heap. Unknown fields are ignored; every
//! field has a default, so a sparse manifest still parses.

use compact_str::CompactString;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod compact;
mod ingress;
pub use compact::{exact, LabelSet, Quantities};
pub use ingress::*;

/// Implements `kube::Resource` for a slim type, so `Api<T>` lists straight into it.
macro_rules! resource {
    ($t:ty, $group:expr, $version:expr, $kind:expr, $plural:expr) => {
        impl kube::Resource for $t {
            type DynamicType = ();
            type Scope = kube::core::NamespaceResourceScope;
            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                $kind.into()
            }
            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                $group.into()
            }
            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                $version.into()
            }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                $plural.into()
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
pub(crate) use resource;

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyRef {
    pub name: Option<String>,
    pub key: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvVarSource {
    pub secret_key_ref: Option<KeyRef>,
    pub config_map_key_ref: Option<KeyRef>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvVar {
    pub name: CompactString,
    pub value: Option<String>,
    pub value_from: Option<EnvVarSource>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct NameRef {
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvFromSource {
    pub secret_ref: Option<NameRef>,
    pub config_map_ref: Option<NameRef>,
    pub prefix: Option<String>,
}

/// `containerPort` is required, as the API server requires it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    #[serde(default)]
    pub name: Option<CompactString>,
    pub container_port: i32,
    #[serde(default)]
    pub host_port: Option<i32>,
    #[serde(default)]
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Capabilities {
    pub add: Vec<CompactString>,
    pub drop: Vec<CompactString>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct SeccompProfile {
    #[serde(rename = "type")]
    pub type_: Option<String>,
}

/// Container- and pod-level security context (the pod level uses a subset).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct SecurityContext {
    pub privileged: Option<bool>,
    pub run_as_user: Option<i64>,
    pub run_as_non_root: Option<bool>,
    pub allow_privilege_escalation: Option<bool>,
    pub capabilities: Option<Capabilities>,
    pub read_only_root_filesystem: Option<bool>,
    pub seccomp_profile: Option<SeccompProfile>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Resources {
    pub requests: Quantities,
    pub limits: Quantities,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct VolumeMount {
    pub name: CompactString,
    pub mount_path: String,
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    pub name: CompactString,
    pub image: Option<String>,
    #[serde(deserialize_with = "exact")]
    pub env: Vec<EnvVar>,
    #[serde(deserialize_with = "exact")]
    pub env_from: Vec<EnvFromSource>,
    #[serde(deserialize_with = "exact")]
    pub ports: Vec<ContainerPort>,
    pub security_context: Option<Box<SecurityContext>>,
    pub resources: Option<Resources>,
    #[serde(deserialize_with = "exact")]
    pub volume_mounts: Vec<VolumeMount>,
}

impl Container {
    pub fn env_value(&self, name: &str) -> Option<&str> {
        self.env.iter().find(|e| e.name == name).and_then(|e| e.value.as_deref())
    }
    pub fn has_env(&self, name: &str) -> bool {
        self.env.iter().any(|e| e.name == name)
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct HostPath {
    pub path: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Volume {
    pub name: CompactString,
    pub host_path: Option<HostPath>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpec {
    #[serde(deserialize_with = "exact")]
    pub containers: Vec<Container>,
    #[serde(deserialize_with = "exact")]
    pub init_containers: Vec<Container>,
    #[serde(deserialize_with = "exact")]
    pub volumes: Vec<Volume>,
    pub service_account_name: Option<String>,
    pub automount_service_account_token: Option<bool>,
    pub host_network: Option<bool>,
    #[serde(rename = "hostPID")]
    pub host_pid: Option<bool>,
    #[serde(rename = "hostIPC")]
    pub host_ipc: Option<bool>,
    pub security_context: Option<Box<SecurityContext>>,
}

impl PodSpec {
    /// Every container, init containers included.
    pub fn all_containers(&self) -> impl Iterator<Item = (usize, bool, &Container)> {
        self.init_containers
            .iter()
            .enumerate()
            .map(|(i, c)| (i, true, c))
            .chain(self.containers.iter().enumerate().map(|(i, c)| (i, false, c)))
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TemplateMeta {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct PodTemplate {
    pub metadata: TemplateMeta,
    pub spec: PodSpec,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct PodCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerStatus {
    pub name: String,
    pub ready: bool,
    pub restart_count: i32,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct PodStatus {
    pub phase: Option<String>,
    #[serde(deserialize_with = "exact")]
    pub conditions: Vec<PodCondition>,
    #[serde(deserialize_with = "exact")]
    pub container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(from = "PodFields")]
pub struct Pod {
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
    pub status: PodStatus,
    /// Read from the labels once, when the pod is deserialized.
    #[serde(skip)]
    pub ray: RayKeys,
}
resource!(Pod, "", "v1", "Pod", "pods");

/// A pod as it comes off the wire; [`Pod`] adds the [`RayKeys`] of its labels.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct PodFields {
    metadata: PodMeta,
    spec: PodSpec,
    status: PodStatus,
}

/// A pod's metadata as it comes off the wire, all but `managedFields`: on a real server they
/// are as large as the rest of the pod, and skipped while parsing they are never allocated (a
/// list of 4,000 pods would otherwise build, then drop, a JSON tree per pod).
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct PodMeta {
    annotations: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
    generate_name: Option<String>,
    generation: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    resource_version: Option<String>,
    self_link: Option<String>,
    uid: Option<String>,
}

impl From<PodMeta> for ObjectMeta {
    fn from(m: PodMeta) -> Self {
        ObjectMeta {
            annotations: m.annotations,
            creation_timestamp: m.creation_timestamp,
            deletion_grace_period_seconds: m.deletion_grace_period_seconds,
            deletion_timestamp: m.deletion_timestamp,
            finalizers: m.finalizers,
            generate_name: m.generate_name,
            generation: m.generation,
            labels: m.labels,
            managed_fields: None,
            name: m.name,
            namespace: m.namespace,
            owner_references: m.owner_references,
            resource_version: m.resource_version,
            self_link: m.self_link,
            uid: m.uid,
        }
    }
}

impl From<PodFields> for Pod {
    fn from(p: PodFields) -> Self {
        let metadata = ObjectMeta::from(p.metadata);
        let ray = RayKeys::of(&metadata);
        Pod { metadata, spec: p.spec, status: p.status, ray }
    }
}

/// What a Ray pod is, from its KubeRay labels: read once per pod, while it is deserialized and
/// still in cache, so grouping 20,000 pods never searches their label maps again. Names are
/// kept inline (up to 24 bytes, as most are), so comparing them reads only the pod itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RayKeys {
    /// The pod's namespace.
    pub namespace: CompactString,
    /// `ray.io/cluster` (empty when absent).
    pub cluster: CompactString,
    /// `ray.io/group` (empty when absent).
    pub group: CompactString,
    pub node: NodeType,
    /// [`RayKeys::hash`] of the namespace and cluster.
    pub key: u64,
    /// All of the pod's labels, for selectors to match.
    pub labels: LabelSet,
}

/// `ray.io/node-type`, in the order a cluster's pods are listed (heads first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeType {
    Head,
    Worker,
    /// Another value, or none.
    #[default]
    Other,
    /// KubeRay's GCS fault-tolerance cleanup job: not a cluster member.
    RedisCleanup,
}

impl RayKeys {
    pub fn of(meta: &ObjectMeta) -> Self {
        let namespace = CompactString::new(meta.namespace.as_deref().unwrap_or(""));
        let Some(labels) = meta.labels.as_ref().filter(|l| !l.is_empty()) else {
            return Self { key: Self::hash(&namespace, ""), namespace, ..Self::default() };
        };
        let label = |k: &str| labels.get(k).map_or_else(CompactString::default, CompactString::new);
        let cluster = label("ray.io/cluster");
        let node = match labels.get("ray.io/node-type").map(String::as_str) {
            Some("head") => NodeType::Head,
            Some("worker") => NodeType::Worker,
            Some("redis-cleanup") => NodeType::RedisCleanup,
            _ => NodeType::Other,
        };
        let key = Self::hash(&namespace, &cluster);
        Self {
            group: label("ray.io/group"),
            namespace,
            cluster,
            node,
            key,
            labels: LabelSet::new(labels),
        }
    }

    /// A stable hash of (namespace, cluster) to group pods by.
    pub fn hash(namespace: &str, cluster: &str) -> u64 {
        use std::hash::BuildHasher;
        foldhash::fast::FixedState::with_seed(0x7261_7964_6172).hash_one((namespace, cluster))
    }
}

impl Pod {
    /// A label, read from [`RayKeys::labels`] (the inventory keeps no other copy).
    pub fn label(&self, k: &str) -> Option<&str> {
        self.ray.labels.get(k)
    }
    pub fn is_ready(&self) -> bool {
        self.status.phase.as_deref() == Some("Running")
            && self.status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
    }
}

/// A port number or name (`targetPort`, NetworkPolicy ports).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i32),
    String(String),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: i32,
    pub target_port: Option<IntOrString>,
    pub node_port: Option<i32>,
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceSpec {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub selector: Option<BTreeMap<String, String>>,
    #[serde(deserialize_with = "exact")]
    pub ports: Vec<ServicePort>,
    pub load_balancer_source_ranges: Vec<String>,
    pub load_balancer_class: Option<String>,
    #[serde(rename = "externalIPs")]
    pub external_ips: Vec<String>,
    #[serde(rename = "clusterIP")]
    pub cluster_ip: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadBalancerIngress {
    pub ip: Option<String>,
    pub hostname: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadBalancerStatus {
    pub ingress: Vec<LoadBalancerIngress>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceStatus {
    pub load_balancer: Option<LoadBalancerStatus>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(from = "ServiceFields")]
pub struct Service {
    pub metadata: ObjectMeta,
    pub spec: ServiceSpec,
    pub status: ServiceStatus,
    /// `spec.selector`, read once when the Service is deserialized, and the cluster it names
    /// (`ray.io/cluster`), kept inline.
    #[serde(skip)]
    pub selector: Option<LabelSet>,
    #[serde(skip)]
    pub selector_cluster: Option<CompactString>,
    /// Owned by a RayJob or RayService (`ownerReferences`): its exposure is that owner's.
    #[serde(skip)]
    pub ray_parent: bool,
}
resource!(Service, "", "v1", "Service", "services");

/// A Service as it comes off the wire; [`Service`] adds its selector as a [`LabelSet`].
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ServiceFields {
    metadata: ObjectMeta,
    spec: ServiceSpec,
    status: ServiceStatus,
}

impl From<ServiceFields> for Service {
    fn from(s: ServiceFields) -> Self {
        let sel = s.spec.selector.as_ref();
        let selector = sel.map(LabelSet::new);
        let selector_cluster = sel.and_then(|l| l.get("ray.io/cluster")).map(CompactString::new);
        let ray_parent = s
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.kind == "RayJob" || o.kind == "RayService");
        Service {
            metadata: s.metadata,
            spec: s.spec,
            status: s.status,
            selector,
            selector_cluster,
            ray_parent,
        }
    }
}

impl Service {
    pub fn type_(&self) -> &str {
        self.spec.type_.as_deref().unwrap_or("ClusterIP")
    }
    pub fn annotation(&self, k: &str) -> Option<&str> {
        self.metadata.annotations.as_ref().and_then(|a| a.get(k)).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_keeps_its_metadata_but_managed_fields() {
        let p: Pod = serde_json::from_value(serde_json::json!({"metadata": {
            "name": "h", "namespace": "ns", "uid": "u", "resourceVersion": "7",
            "creationTimestamp": "2026-12-01T00:00:00Z", "finalizers": ["f"],
            "labels": {"ray.io/cluster": "c", "ray.io/node-type": "head"},
            "ownerReferences": [{"apiVersion": "ray.io/v1", "kind": "RayCluster", "name": "c", "uid": "o"}],
            "managedFields": [{"manager": "m", "operation": "Update", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {}}}}]}}))
        .unwrap_or_default();
        let m = &p.metadata;
        assert_eq!((m.name.as_deref(), m.namespace.as_deref()), (Some("h"), Some("ns")));
        assert_eq!((m.uid.as_deref(), m.resource_version.as_deref()), (Some("u"), Some("7")));
        assert!(
            m.creation_timestamp.is_some() && m.finalizers.as_ref().is_some_and(|f| f.len() == 1)
        );
        assert_eq!(m.owner_references.as_ref().map(Vec::len), Some(1));
        assert!(m.managed_fields.is_none());
        assert_eq!((p.ray.cluster.as_str(), p.ray.node), ("c", NodeType::Head));
    }

    #[test]
    fn sparse_and_unknown_fields_parse() {
        let p: Pod = serde_json::from_value(serde_json::json!({"metadata": {"name": "x"},
            "spec": {"containers": [{"name": "c", "whatever": 1}], "hostPID": true}, "status": {"phase": "Running"}}))
        .unwrap();
        assert_eq!(p.spec.host_pid, Some(true));
        let s: Service = serde_json::from_value(
            serde_json::json!({"spec": {"ports": [{"port": 80, "targetPort": "dashboard"}]}}),
        )
        .unwrap();
        assert_eq!(s.spec.ports[0].target_port, Some(IntOrString::String("dashboard".into())));
        assert_eq!(s.selector, None);
        assert!(!s.ray_parent);
        let owned: Service = serde_json::from_value(serde_json::json!({"metadata": {
            "ownerReferences": [{"apiVersion": "ray.io/v1", "kind": "RayService", "name": "x", "uid": "u"}]}}))
        .unwrap();
        assert!(owned.ray_parent);
    }

    #[test]
    fn label_sets_keep_every_pair_in_order() {
        let p: Pod = serde_json::from_value(serde_json::json!({"metadata": {"namespace": "n",
            "labels": {"ray.io/node-type": "head", "app": "", "ray.io/cluster": "c"}}}))
        .unwrap();
        let pairs: Vec<_> = p.ray.labels.iter().collect();
        assert_eq!(pairs, [("app", ""), ("ray.io/cluster", "c"), ("ray.io/node-type", "head")]);
        assert_eq!(p.ray.labels.get("ray.io/cluster"), Some("c"));
        assert_eq!(p.ray.labels.get("ray.io/group"), None);
        let s: Service = serde_json::from_value(
            serde_json::json!({"spec": {"selector": {"ray.io/cluster": "c"}}}),
        )
        .unwrap();
        assert_eq!(s.selector_cluster.as_deref(), Some("c"));
        assert_eq!(
            s.selector.map(|l| l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>()),
            Some(vec!["ray.io/cluster=c".to_string()])
        );
    }
}
