//! The kinds the demo API server serves, and the discovery and OpenAPI documents built from them.
//!
//! Everything here is static data: adding a kind is one entry in [`KINDS`].

use serde_json::{json, Value};

/// How a printed column of `kubectl get` gets its value.
#[derive(Clone, Copy)]
pub enum Cell {
    /// A dotted JSON path into the object (`status.phase`).
    Path(&'static str),
    /// Computed from the whole object.
    Fn(fn(&Value) -> Value),
}

/// One printer column (a Table column for kubectl).
#[derive(Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: &'static str,
    pub cell: Cell,
    pub priority: u8,
}

const fn col(name: &'static str, ty: &'static str, path: &'static str) -> Column {
    Column { name, ty, cell: Cell::Path(path), priority: 0 }
}
const fn colf(name: &'static str, ty: &'static str, f: fn(&Value) -> Value) -> Column {
    Column { name, ty, cell: Cell::Fn(f), priority: 0 }
}
const fn wide(mut c: Column) -> Column {
    c.priority = 1;
    c
}

/// A served resource type.
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// Has a `/status` subresource (status is not written through the main resource).
    pub status_subresource: bool,
    /// Only `create` (review kinds); nothing is stored.
    pub create_only: bool,
    /// Custom resource: strategic merge patch is refused with 415, list items carry kind.
    pub custom: bool,
    pub columns: &'static [Column],
}

impl Kind {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods`, `rayclusters.ray.io`: how Kubernetes names the resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn verbs(&self) -> Vec<&'static str> {
        if self.create_only {
            vec!["create"]
        } else {
            vec!["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        }
    }

    /// The base path of the collection, with `{ns}` for namespaced kinds.
    pub fn collection_path(&self, ns: Option<&str>) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match ns {
            Some(ns) if self.namespaced => format!("{base}/namespaces/{ns}/{}", self.plural),
            _ => format!("{base}/{}", self.plural),
        }
    }
}

fn pod_ready(o: &Value) -> Value {
    let spec_n = o.pointer("/spec/containers").and_then(Value::as_array).map_or(0, Vec::len);
    let ready = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map_or(0, |cs| cs.iter().filter(|c| c["ready"] == true).count());
    json!(format!("{ready}/{spec_n}"))
}

fn pod_restarts(o: &Value) -> Value {
    let n: i64 = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map_or(0, |cs| cs.iter().filter_map(|c| c["restartCount"].as_i64()).sum());
    json!(n)
}

fn pod_status(o: &Value) -> Value {
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        return json!("Terminating");
    }
    o.pointer("/status/phase").cloned().unwrap_or(json!("Pending"))
}

fn svc_external_ip(o: &Value) -> Value {
    let ty = o.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
    let ips: Vec<&str> = o
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(|i| i["ip"].as_str().or(i["hostname"].as_str())).collect())
        .unwrap_or_default();
    match ty {
        "LoadBalancer" if ips.is_empty() => json!("<pending>"),
        "LoadBalancer" => json!(ips.join(",")),
        _ => json!("<none>"),
    }
}

fn svc_ports(o: &Value) -> Value {
    let ports: Vec<String> = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let proto = p["protocol"].as_str().unwrap_or("TCP");
                    match p["nodePort"].as_i64() {
                        Some(np) => format!("{}:{np}/{proto}", p["port"]),
                        None => format!("{}/{proto}", p["port"]),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    json!(if ports.is_empty() { "<none>".to_string() } else { ports.join(",") })
}

fn deploy_ready(o: &Value) -> Value {
    let want = o.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let ready = o.pointer("/status/readyReplicas").and_then(Value::as_i64).unwrap_or(0);
    json!(format!("{ready}/{want}"))
}

fn secret_data_count(o: &Value) -> Value {
    json!(o.get("data").and_then(Value::as_object).map_or(0, |m| m.len()))
}

const AGE: Column = col("Age", "date", "metadata.creationTimestamp");

/// Every served kind. Order matters only for discovery output.
pub static KINDS: &[Kind] = &[
    Kind {
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        status_subresource: true,
        create_only: false,
        custom: false,
        columns: &[col("Status", "string", "status.phase"), AGE],
    },
    Kind {
        group: "",
        version: "v1",
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        status_subresource: true,
        create_only: false,
        custom: false,
        columns: &[
            colf("Ready", "string", pod_ready),
            colf("Status", "string", pod_status),
            colf("Restarts", "integer", pod_restarts),
            AGE,
            wide(col("IP", "string", "status.podIP")),
            wide(col("Node", "string", "spec.nodeName")),
        ],
    },
    Kind {
        group: "",
        version: "v1",
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        status_subresource: true,
        create_only: false,
        custom: false,
        columns: &[
            col("Type", "string", "spec.type"),
            col("Cluster-IP", "string", "spec.clusterIP"),
            colf("External-IP", "string", svc_external_ip),
            colf("Port(s)", "string", svc_ports),
            AGE,
        ],
    },
    Kind {
        group: "",
        version: "v1",
        plural: "serviceaccounts",
        singular: "serviceaccount",
        kind: "ServiceAccount",
        namespaced: true,
        short_names: &["sa"],
        categories: &[],
        status_subresource: false,
        create_only: false,
        custom: false,
        columns: &[AGE],
    },
    Kind {
        group: "",
        version: "v1",
        plural: "resourcequotas",
        singular: "resourcequota",
        kind: "ResourceQuota",
        namespaced: true,
        short_names: &["quota"],
        categories: &[],
        status_subresource: true,
        create_only: false,
        custom: false,
        columns: &[AGE],
    },
    Kind {
        group: "",
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        create_only: false,
        custom: false,
        columns: &[col("Type", "string", "type"), colf("Data", "integer", secret_data_count), AGE],
    },
    Kind {
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        status_subresource: false,
        create_only: false,
        custom: false,
        columns: &[AGE],
    },
    Kind {
        group: "",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        status_subresource: false,
        create_only: false,
        custom: false,
        columns: &[
            col("Type", "string", "type"),
            col("Reason", "string", "reason"),
            col("Object", "string", "involvedObject.name"),
            col("Message", "string", "message"),
        ],
    },
    Kind {
        group: "apps",
        version: "v1",
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        status_subresource: true,
        create_only: false,
        custom: false,
        columns: &[colf("Ready", "string", deploy_ready), AGE],
    },
    Kind {
        group: "networking.k8s.io",
        version: "v1",
        plural: "networkpolicies",
        singular: "networkpolicy",
        kind: "NetworkPolicy",
        namespaced: true,
        short_names: &["netpol"],
        categories: &[],
        status_subresource: false,
        create_only: false,
        custom: false,
        columns: &[AGE],
    },
    Kind {
        group: "networking.k8s.io",
        version: "v1",
        plural: "ingresses",
        singular: "ingress",
        kind: "Ingress",
        namespaced: true,
        short_names: &["ing"],
        categories: &[],
        status_subresource: true,
        create_only: false,
        custom: false,
        columns: &[col("Class", "string", "spec.ingressClassName"), AGE],
    },
    Kind {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "roles",
        singular: "role",
        kind: "Role",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        create_only: false,
        custom: false,
        columns: &[AGE],
    },
    Kind {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "rolebindings",
        singular: "rolebinding",
        kind: "RoleBinding",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        create_only: false,
        custom: false,
        columns: &[col("Role", "string", "roleRef.name"), AGE],
    },
    Kind {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterroles",
        singular: "clusterrole",
        kind: "ClusterRole",
        namespaced: false,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        create_only: false,
        custom: false,
        columns: &[AGE],
    },
    Kind {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterrolebindings",
        singular: "clusterrolebinding",
        kind: "ClusterRoleBinding",
        namespaced: false,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        create_only: false,
        custom: false,
        columns: &[col("Role", "string", "roleRef.name"), AGE],
    },
    Kind {
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        singular: "customresourcedefinition",
        kind: "CustomResourceDefinition",
        namespaced: false,
        short_names: &["crd", "crds"],
        categories: &[],
        status_subresource: true,
        create_only: false,
        custom: false,
        columns: &[AGE],
    },
    // Stored and served, not evaluated: the demo server runs no admission (README: guard).
    Kind {
        group: "admissionregistration.k8s.io",
        version: "v1",
        plural: "validatingadmissionpolicies",
        singular: "validatingadmissionpolicy",
        kind: "ValidatingAdmissionPolicy",
        namespaced: false,
        short_names: &[],
        categories: &["api-extensions"],
        status_subresource: true,
        create_only: false,
        custom: false,
        columns: &[AGE],
    },
    Kind {
        group: "admissionregistration.k8s.io",
        version: "v1",
        plural: "validatingadmissionpolicybindings",
        singular: "validatingadmissionpolicybinding",
        kind: "ValidatingAdmissionPolicyBinding",
        namespaced: false,
        short_names: &[],
        categories: &["api-extensions"],
        status_subresource: false,
        create_only: false,
        custom: false,
        columns: &[col("Policy", "string", "spec.policyName"), AGE],
    },
    Kind {
        group: "authorization.k8s.io",
        version: "v1",
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        kind: "SelfSubjectAccessReview",
        namespaced: false,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        create_only: true,
        custom: false,
        columns: &[],
    },
    Kind {
        group: "authorization.k8s.io",
        version: "v1",
        plural: "selfsubjectrulesreviews",
        singular: "selfsubjectrulesreview",
        kind: "SelfSubjectRulesReview",
        namespaced: false,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        create_only: true,
        custom: false,
        columns: &[],
    },
    Kind {
        group: "authentication.k8s.io",
        version: "v1",
        plural: "selfsubjectreviews",
        singular: "selfsubjectreview",
        kind: "SelfSubjectReview",
        namespaced: false,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        create_only: true,
        custom: false,
        columns: &[],
    },
    Kind {
        group: "ray.io",
        version: "v1",
        plural: "rayclusters",
        singular: "raycluster",
        kind: "RayCluster",
        namespaced: true,
        short_names: &[],
        categories: &["all"],
        status_subresource: true,
        create_only: false,
        custom: true,
        columns: &[
            col("Desired Workers", "integer", "status.desiredWorkerReplicas"),
            col("Available Workers", "integer", "status.availableWorkerReplicas"),
            col("CPUs", "string", "status.desiredCPU"),
            col("Memory", "string", "status.desiredMemory"),
            col("GPUs", "string", "status.desiredGPU"),
            col("Status", "string", "status.state"),
            AGE,
            wide(col("Head Pod IP", "string", "status.head.podIP")),
            wide(col("Head Service IP", "string", "status.head.serviceIP")),
        ],
    },
    Kind {
        group: "ray.io",
        version: "v1",
        plural: "rayjobs",
        singular: "rayjob",
        kind: "RayJob",
        namespaced: true,
        short_names: &[],
        categories: &["all"],
        status_subresource: true,
        create_only: false,
        custom: true,
        columns: &[
            col("Job Status", "string", "status.jobStatus"),
            col("Deployment Status", "string", "status.jobDeploymentStatus"),
            col("Ray Cluster Name", "string", "status.rayClusterName"),
            col("Start Time", "string", "status.startTime"),
            col("End Time", "string", "status.endTime"),
            AGE,
        ],
    },
    Kind {
        group: "ray.io",
        version: "v1",
        plural: "rayservices",
        singular: "rayservice",
        kind: "RayService",
        namespaced: true,
        short_names: &[],
        categories: &["all"],
        status_subresource: true,
        create_only: false,
        custom: true,
        columns: &[
            col("Service Status", "string", "status.serviceStatus"),
            col("Num Serve Endpoints", "string", "status.numServeEndpoints"),
            AGE,
        ],
    },
    Kind {
        group: "ray.io",
        version: "v1",
        plural: "raycronjobs",
        singular: "raycronjob",
        kind: "RayCronJob",
        namespaced: true,
        short_names: &[],
        categories: &["all"],
        status_subresource: true,
        create_only: false,
        custom: true,
        columns: &[
            col("Schedule", "string", "spec.schedule"),
            col("Suspend", "boolean", "spec.suspend"),
            AGE,
        ],
    },
    Kind {
        group: "scheduling.sigs.k8s.io",
        version: "v1beta1",
        plural: "elasticquotatrees",
        singular: "elasticquotatree",
        kind: "ElasticQuotaTree",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        create_only: false,
        custom: true,
        columns: &[AGE],
    },
];

/// Index of a kind in [`KINDS`].
pub type KindId = usize;

pub fn kind(id: KindId) -> &'static Kind {
    &KINDS[id]
}

/// Finds a kind by group, version and plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<KindId> {
    KINDS.iter().position(|k| k.group == group && k.version == version && k.plural == plural)
}

/// Finds a kind by apiVersion and Kind (as written in an object).
pub fn find_gvk(api_version: &str, kind_name: &str) -> Option<KindId> {
    KINDS.iter().position(|k| k.api_version() == api_version && k.kind == kind_name)
}

pub fn by_kind_name(kind_name: &str) -> Option<KindId> {
    KINDS.iter().position(|k| k.kind == kind_name)
}
