//! What one entry's rules look at: the cluster spec (from the CR or embedded in a RayJob,
//! RayService or RayCronJob), the live pods of its cluster, and every Service port that reaches
//! those pods, resolved to the container port it lands on.

use super::{Owner, PostureConfig};
use crate::inventory::Inventory;
use crate::kuberay::{RayClusterSpec, RayJobSpec};
use crate::model::{Container, Ingress, IntOrString, LabelSet, NodeType, Pod, PodSpec, Service};
use crate::semantics::exposure::{acl, reaches_outside};
use crate::semantics::labels::service_selects;
use crate::semantics::ray::PortKind;
use crate::semantics::ray::{self, classify, head_ports, pod_labels};
use foldhash::HashMap;
use k8s_openapi::api::core::v1::{ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::rc::Rc;

/// A Service that selects pods, with its place in the list (exposures keep that order).
#[derive(Clone, Copy)]
struct ServiceView<'a> {
    svc: &'a Service,
    selector: &'a LabelSet,
    at: usize,
}

/// Indexes the inventory by namespace once, so evaluating 5,000 clusters stays linear.
pub struct Index<'a> {
    /// A cluster's pods by namespace and cluster, heads first, then workers, then any other:
    /// and how many heads and workers.
    pods: HashMap<(&'a str, &'a str), (Vec<&'a Pod>, usize, usize)>,
    /// Services whose selector names a cluster (`ray.io/cluster`), by namespace and cluster:
    /// a cluster looks only at its own, not at every Service of its namespace.
    cluster_services: HashMap<(&'a str, &'a str), Vec<ServiceView<'a>>>,
    /// Services whose selector names no cluster, by namespace.
    other_services: HashMap<&'a str, Vec<ServiceView<'a>>>,
    /// Every Service by namespace and name, and KubeRay's head Services (`x-head-svc`) by
    /// namespace and cluster `x`.
    service_names: foldhash::HashSet<(&'a str, &'a str)>,
    head_services: foldhash::HashSet<(&'a str, &'a str)>,
    clusters: foldhash::HashSet<(&'a str, &'a str)>,
    clusters_per_ns: HashMap<&'a str, usize>,
    pub policies: HashMap<&'a str, Vec<&'a NetworkPolicy>>,
    pub quotas: HashMap<&'a str, Vec<&'a ResourceQuota>>,
    pub ingresses: HashMap<&'a str, Vec<&'a Ingress>>,
    pub role_bindings: HashMap<&'a str, Vec<&'a RoleBinding>>,
    pub accounts: HashMap<(&'a str, &'a str), &'a ServiceAccount>,
}

fn by_ns<T>(items: &[T], meta: impl Fn(&T) -> &ObjectMeta) -> HashMap<&str, Vec<&T>> {
    let mut m: HashMap<&str, Vec<&T>> = HashMap::default();
    for i in items {
        m.entry(meta(i).namespace.as_deref().unwrap_or("")).or_default().push(i);
    }
    m
}

fn ns(m: &ObjectMeta) -> &str {
    m.namespace.as_deref().unwrap_or("")
}
fn name(m: &ObjectMeta) -> &str {
    m.name.as_deref().unwrap_or("")
}

impl<'a> Index<'a> {
    pub fn new(inv: &'a Inventory) -> Self {
        let mut pods: HashMap<(&str, &str), (Vec<&Pod>, usize, usize)> = HashMap::default();
        for p in &inv.pods {
            let k = &p.ray;
            if k.cluster.is_empty() || k.node == NodeType::RedisCleanup {
                continue;
            }
            pods.entry((&k.namespace, &k.cluster)).or_default().0.push(p);
        }
        for (v, heads, workers) in pods.values_mut() {
            v.sort_by_key(|p| p.ray.node);
            *heads = v.iter().filter(|p| p.ray.node == NodeType::Head).count();
            *workers = v.iter().filter(|p| p.ray.node == NodeType::Worker).count();
        }
        let mut clusters =
            foldhash::HashSet::with_capacity_and_hasher(inv.ray_clusters.len(), Default::default());
        let mut clusters_per_ns: HashMap<&str, usize> = HashMap::default();
        for c in &inv.ray_clusters {
            clusters.insert((ns(&c.metadata), name(&c.metadata)));
            *clusters_per_ns.entry(ns(&c.metadata)).or_default() += 1;
        }
        let n = inv.services.len();
        let mut cluster_services: HashMap<(&str, &str), Vec<ServiceView>> =
            HashMap::with_capacity_and_hasher(n, Default::default());
        let mut other_services: HashMap<&str, Vec<ServiceView>> = HashMap::default();
        let mut service_names = foldhash::HashSet::with_capacity_and_hasher(n, Default::default());
        let mut head_services = foldhash::HashSet::with_capacity_and_hasher(n, Default::default());
        for (at, svc) in inv.services.iter().enumerate() {
            let (namespace, svc_name) = (ns(&svc.metadata), name(&svc.metadata));
            service_names.insert((namespace, svc_name));
            if let Some(cluster) = svc_name.strip_suffix("-head-svc") {
                head_services.insert((namespace, cluster));
            }
            let Some(selector) = svc.selector.as_ref() else { continue };
            let view = ServiceView { svc, selector, at };
            match svc.selector_cluster.as_deref() {
                Some(c) => cluster_services.entry((namespace, c)).or_default().push(view),
                None => other_services.entry(namespace).or_default().push(view),
            }
        }
        let accounts = inv
            .service_accounts
            .iter()
            .map(|a| ((ns(&a.metadata), name(&a.metadata)), a))
            .collect();
        Self {
            pods,
            cluster_services,
            other_services,
            service_names,
            head_services,
            clusters,
            clusters_per_ns,
            policies: by_ns(&inv.network_policies, |p| &p.metadata),
            quotas: by_ns(&inv.resource_quotas, |q| &q.metadata),
            ingresses: by_ns(&inv.ingresses, |i| &i.metadata),
            role_bindings: by_ns(&inv.role_bindings, |b| &b.metadata),
            accounts,
        }
    }
    pub fn clusters_in(&self, namespace: &str) -> usize {
        self.clusters_per_ns.get(namespace).copied().unwrap_or(0)
    }
}

/// One Service port that reaches the cluster's head.
#[derive(Debug, Clone)]
pub struct Exposure<'a> {
    pub kind: PortKind,
    /// Reachable from outside the cluster (LoadBalancer, NodePort, externalIPs).
    pub outside: bool,
    /// How access is narrowed (`loadBalancerSourceRanges …`, ACK ACL, intranet), if it is.
    pub acl: Option<Rc<str>>,
    /// The Service's name (in the entry's namespace).
    pub service: Cow<'a, str>,
    pub port: i32,
    pub port_name: Option<&'a str>,
    /// What [`Exposure`] puts into evidence (only into findings).
    how: How<'a>,
}

/// How a Service port is reachable, for evidence.
#[derive(Debug, Clone)]
enum How<'a> {
    /// Only inside the cluster (no evidence: no rule reports it as such).
    Inside,
    /// A live Service: `Service ns/x type=NodePort port 8265 → dashboard 8265 (nodePort 30200)`.
    Service { namespace: &'a str, ty: &'a str, label: &'a str, cport: i32, node_port: Option<i32> },
    /// The head Service KubeRay would create from the CR, already written out.
    Text(String),
}

/// The exposure's evidence, narrowing included.
impl std::fmt::Display for Exposure<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.how {
            How::Inside => Ok(()),
            How::Text(t) => f.write_str(t),
            How::Service { namespace, ty, label, cport, node_port } => {
                let (svc, port) = (&self.service, self.port);
                write!(f, "Service {namespace}/{svc} type={ty} port {port} → {label} {cport}")?;
                if let Some(np) = node_port {
                    write!(f, " (nodePort {np})")?;
                }
                match &self.acl {
                    Some(a) => write!(f, ", narrowed by {a}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Where a template lives (`spec.headGroupSpec.template.spec`, `spec.workerGroupSpecs[0]…`),
/// printed only when evidence needs it.
#[derive(Debug, Clone, Copy)]
pub struct TemplatePath {
    spec_path: &'static str,
    worker: Option<usize>,
}

impl std::fmt::Display for TemplatePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.worker {
            None => write!(f, "{}.headGroupSpec.template.spec", self.spec_path),
            Some(i) => write!(f, "{}.workerGroupSpecs[{i}].template.spec", self.spec_path),
        }
    }
}

/// `<template>.containers[i] (name)` or `<template>.initContainers[i] (name)`, for evidence.
pub struct ContainerPath<'a> {
    pub template: TemplatePath,
    pub init: bool,
    pub index: usize,
    pub name: &'a str,
}

impl std::fmt::Display for ContainerPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = if self.init { "initContainers" } else { "containers" };
        write!(f, "{}.{list}[{}] ({})", self.template, self.index, self.name)
    }
}

/// A pod template (or live pod spec) with where it lives, for evidence.
pub struct Template<'a> {
    /// `spec.headGroupSpec.template.spec` or `spec.workerGroupSpecs[0].template.spec`.
    pub path: TemplatePath,
    pub head: bool,
    pub group: &'a str,
    pub spec: &'a PodSpec,
}

/// One entry and everything its rules need.
pub struct Subject<'a> {
    pub inv: &'a Inventory,
    pub idx: &'a Index<'a>,
    pub cfg: &'a PostureConfig,
    pub namespace: &'a str,
    pub name: &'a str,
    pub kind: &'static str,
    pub owner: Option<Owner>,
    pub spec: Option<&'a RayClusterSpec>,
    pub spec_path: &'static str,
    /// The running cluster's name when one exists.
    pub cluster: Option<&'a str>,
    /// The cluster's live pods: `heads` head pods first, then `workers` worker pods.
    pub pods: &'a [&'a Pod],
    pub heads: usize,
    pub workers: usize,
    pub exposures: Vec<Exposure<'a>>,
    /// Evaluate the cluster rules (false for an owner whose cluster has its own entry).
    pub cluster_rules: bool,
    pub job: Option<&'a RayJobSpec>,
    /// Computed once by `finish`: the pod templates, and the head's and workers' labels.
    pub templates: SmallVec<[Template<'a>; 4]>,
    pub head_labels: Cow<'a, LabelSet>,
    /// Per worker group: its name (`ray.io/group`) and its pods' labels.
    pub worker_labels: SmallVec<[(&'a str, Cow<'a, LabelSet>); 4]>,
    /// `rayVersion`, else the head image's tag; and as numbers, when it parses.
    version: Option<&'a str>,
    parsed_version: Option<super::images::RayVersion>,
    /// `RayCluster ray-prod/train`, the prefix of most evidence.
    object: String,
}

impl<'a> Subject<'a> {
    /// Fills the derived fields once the spec, cluster and pods are known.
    fn finish(&mut self) {
        self.templates = self.compute_templates();
        self.head_labels = self.compute_head_labels();
        self.worker_labels = self.compute_worker_labels();
        self.version = self.compute_ray_version();
        self.parsed_version = self.version.and_then(super::images::parse_version);
    }

    /// `RayCluster ray-prod/train`.
    pub fn object(&self) -> &str {
        &self.object
    }

    pub fn templates(&self) -> &[Template<'a>] {
        &self.templates
    }

    fn compute_templates(&self) -> SmallVec<[Template<'a>; 4]> {
        let Some(spec) = self.spec else { return SmallVec::new() };
        let mut out = smallvec::smallvec![Template {
            path: TemplatePath { spec_path: self.spec_path, worker: None },
            head: true,
            group: "headgroup",
            spec: &spec.head_group_spec.template.spec,
        }];
        for (i, g) in spec.worker_group_specs.iter().enumerate() {
            out.push(Template {
                path: TemplatePath { spec_path: self.spec_path, worker: Some(i) },
                head: false,
                group: &g.group_name,
                spec: &g.template.spec,
            });
        }
        out
    }

    pub fn head_pods(&self) -> impl Iterator<Item = &&'a Pod> {
        self.pods[..self.heads].iter()
    }

    pub fn worker_pods(&self) -> impl Iterator<Item = &&'a Pod> {
        self.pods[self.heads..self.heads + self.workers].iter()
    }

    pub fn autoscaler(&self) -> bool {
        self.spec.and_then(|s| s.enable_in_tree_autoscaling).unwrap_or(false)
    }

    /// `rayVersion`, else the head image's tag.
    pub fn ray_version(&self) -> Option<&'a str> {
        self.version
    }

    /// [`Subject::ray_version`] as (major, minor, patch), when it parses.
    pub fn ray_version_parsed(&self) -> Option<super::images::RayVersion> {
        self.parsed_version
    }

    fn compute_ray_version(&self) -> Option<&'a str> {
        let spec = self.spec?;
        let field = spec.ray_version.as_deref().filter(|v| !v.is_empty());
        let parses = |v: &&str| super::images::parse_version(v).is_some();
        // A field that names no version (`latest`) yields to the head image, which says what
        // actually runs; the field is still shown when neither parses.
        field
            .filter(parses)
            .or_else(|| {
                let img =
                    spec.head_group_spec.template.spec.containers.first()?.image.as_deref()?;
                super::images::split_image(img).tag.filter(parses)
            })
            .or(field)
    }

    /// The labels a head pod of this cluster has (live, else as KubeRay would set them).
    fn compute_head_labels(&self) -> Cow<'a, LabelSet> {
        let head: Option<&'a Pod> = self.pods[..self.heads].first().copied();
        if let Some(p) = head.filter(|p| !p.ray.labels.is_empty()) {
            return Cow::Borrowed(&p.ray.labels);
        }
        Cow::Owned(LabelSet::new(&pod_labels(
            self.cluster.unwrap_or(self.name),
            true,
            "headgroup",
            self.spec.map(|s| &s.head_group_spec.template.metadata.labels),
        )))
    }

    /// Labels of each worker group's pods (live, else synthesized).
    fn compute_worker_labels(&self) -> SmallVec<[(&'a str, Cow<'a, LabelSet>); 4]> {
        // One label set per worker group is enough: all pods of a group carry the same labels.
        let mut groups: SmallVec<[&str; 4]> = SmallVec::new();
        let live: SmallVec<[(&'a str, Cow<'a, LabelSet>); 4]> = self.pods
            [self.heads..self.heads + self.workers]
            .iter()
            .copied()
            .filter(|p| {
                let g = p.ray.group.as_str();
                !groups.contains(&g) && {
                    groups.push(g);
                    true
                }
            })
            .filter(|p| !p.ray.labels.is_empty())
            .map(|p| (p.ray.group.as_str(), Cow::Borrowed(&p.ray.labels)))
            .collect();
        if !live.is_empty() {
            return live;
        }
        self.spec
            .map(|s| {
                s.worker_group_specs
                    .iter()
                    .map(|g| {
                        let labels = LabelSet::new(&pod_labels(
                            self.cluster.unwrap_or(self.name),
                            false,
                            &g.group_name,
                            Some(&g.template.metadata.labels),
                        ));
                        (g.group_name.as_str(), Cow::Owned(labels))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `internal`: also report the dashboard on Services only reachable inside the cluster (what an
/// Ingress may route to; pointless when the namespace has no Ingress).
fn exposures_of<'a>(
    svc: &'a Service,
    head: Option<&'a Container>,
    internal: bool,
    out: &mut Vec<Exposure<'a>>,
) {
    let ty = svc.type_();
    let outside = reaches_outside(ty, !svc.spec.external_ips.is_empty());
    if !outside && !internal {
        return;
    }
    static NO_ANNOTATIONS: BTreeMap<String, String> = BTreeMap::new();
    let ann = svc.metadata.annotations.as_ref().unwrap_or(&NO_ANNOTATIONS);
    let acl: Option<Rc<str>> = acl(ty, ann, &svc.spec.load_balancer_source_ranges).map(Rc::from);
    let ports = head_ports(head);
    let svc_ns = ns(&svc.metadata);
    let svc_name = name(&svc.metadata);
    out.extend(svc.spec.ports.iter().filter_map(|p| {
        let (cport, cname) = match &p.target_port {
            None => (
                p.port,
                ports.iter().find(|c| c.container_port == p.port).and_then(|c| c.name.as_deref()),
            ),
            Some(IntOrString::Int(n)) => {
                (*n, ports.iter().find(|c| c.container_port == *n).and_then(|c| c.name.as_deref()))
            }
            Some(IntOrString::String(n)) => {
                let c = ports.iter().find(|c| c.name.as_deref() == Some(n.as_str()))?;
                (c.container_port, c.name.as_deref())
            }
        };
        let kind = classify(cport, cname);
        // Only what a rule can report on: Ray ports reachable from outside, and the
        // dashboard (which an Ingress may route to).
        if kind == PortKind::Other || (!outside && kind != PortKind::Dashboard) {
            return None;
        }
        let how = match outside {
            true => How::Service {
                namespace: svc_ns,
                ty,
                label: cname.unwrap_or("port"),
                cport,
                node_port: p.node_port,
            },
            false => How::Inside,
        };
        Some(Exposure {
            kind,
            outside,
            acl: acl.clone(),
            service: Cow::Borrowed(svc_name),
            port: p.port,
            port_name: cname,
            how,
        })
    }));
}

/// The head Service KubeRay would create from the CR (used when none runs).
fn synthesized_head_service<'a>(
    kind: &str,
    namespace: &str,
    entry: &str,
    cluster: &str,
    spec_path: &str,
    spec: &'a RayClusterSpec,
) -> Option<Vec<Exposure<'a>>> {
    let hs = spec.head_group_spec.head_service.as_ref();
    let ty = hs
        .and_then(|h| h.spec.as_ref())
        .and_then(|s| s.type_.clone())
        .or_else(|| spec.head_group_spec.service_type.clone())
        .filter(|t| !t.is_empty())?;
    if !matches!(ty.as_str(), "LoadBalancer" | "NodePort") {
        return None;
    }
    let mut ann: BTreeMap<String, String> =
        spec.head_service_annotations.clone().unwrap_or_default();
    if let Some(a) = hs.and_then(|h| h.metadata.as_ref()).and_then(|m| m.annotations.clone()) {
        ann.extend(a);
    }
    let ranges = hs
        .and_then(|h| h.spec.as_ref())
        .map(|s| s.load_balancer_source_ranges.clone())
        .unwrap_or_default();
    let acl: Option<Rc<str>> = acl(&ty, &ann, &ranges).map(Rc::from);
    let field = if hs.and_then(|h| h.spec.as_ref()).and_then(|s| s.type_.as_ref()).is_some() {
        "headGroupSpec.headService.spec.type"
    } else {
        "headGroupSpec.serviceType"
    };
    let svc_name = format!("{cluster}-head-svc");
    Some(
        head_ports(spec.head_group_spec.template.spec.containers.first())
            .iter()
            .map(|p| {
                let label = p.name.clone().unwrap_or_else(|| "port".into());
                let mut ev = format!("{kind} {namespace}/{entry} {spec_path}.{field}={ty}: the head Service KubeRay creates exposes {label} {}", p.container_port);
                if let Some(a) = &acl {
                    ev.push_str(&format!(", narrowed by {a}"));
                }
                Exposure {
                    kind: classify(p.container_port, p.name.as_deref()),
                    outside: true,
                    acl: acl.clone(),
                    service: Cow::Owned(svc_name.clone()),
                    port: p.container_port,
                    port_name: p.name.as_deref(),
                    how: How::Text(ev),
                }
            })
            .collect(),
    )
}

fn owned_by(m: &ObjectMeta, kind: &str, owner: &str) -> bool {
    m.owner_references.iter().flatten().any(|o| o.kind == kind && o.name == owner)
}

fn owner_of(m: &ObjectMeta) -> Option<Owner> {
    let refs = m.owner_references.as_deref().unwrap_or(&[]);
    if let Some(o) =
        refs.iter().find(|o| matches!(o.kind.as_str(), "RayJob" | "RayService" | "RayCronJob"))
    {
        return Some(Owner { kind: o.kind.clone(), name: o.name.clone() });
    }
    let l = m.labels.as_ref()?;
    Some(Owner {
        kind: l.get("ray.io/originated-from-crd")?.clone(),
        name: l.get("ray.io/originated-from-cr-name")?.clone(),
    })
}

struct Builder<'a> {
    inv: &'a Inventory,
    idx: &'a Index<'a>,
    cfg: &'a PostureConfig,
}

impl<'a> Builder<'a> {
    /// Sets the subject's live pods.
    fn pods(&self, s: &mut Subject<'a>, namespace: &'a str, cluster: &'a str) {
        if let Some((pods, heads, workers)) = self.idx.pods.get(&(namespace, cluster)) {
            (s.pods, s.heads, s.workers) = (pods.as_slice(), *heads, *workers);
        }
    }

    /// Exposures of Services selecting the cluster's head; `keep` filters which Services count.
    fn exposures(
        &self,
        s: &Subject<'a>,
        keep: impl Fn(&Service) -> bool,
        synthesize: bool,
    ) -> Vec<Exposure<'a>> {
        let head_labels = &s.head_labels;
        let head_container =
            s.head_pods().next().and_then(|p| p.spec.containers.first()).or_else(|| {
                s.spec.and_then(|sp| sp.head_group_spec.template.spec.containers.first())
            });
        let mut out = Vec::new();
        // The head's `ray.io/cluster` label: a live head pod was found by it, and KubeRay's
        // labels (synthesized) carry the cluster's name.
        let cluster = s.cluster.unwrap_or(s.name);
        let custom_head_svc = s
            .spec
            .and_then(|sp| sp.head_group_spec.head_service.as_ref())
            .and_then(|h| h.metadata.as_ref())
            .and_then(|m| m.name.as_deref());
        let head_svc_present = match custom_head_svc {
            Some(c) => self.idx.service_names.contains(&(s.namespace, c)),
            None => self.idx.head_services.contains(&(s.namespace, cluster)),
        };
        let internal = self.idx.ingresses.contains_key(s.namespace);
        // Services naming this cluster in their selector, and those naming none, in list order.
        let own =
            self.idx.cluster_services.get(&(s.namespace, cluster)).map_or(&[][..], Vec::as_slice);
        let other = self.idx.other_services.get(s.namespace).map_or(&[][..], Vec::as_slice);
        let mut merged = Vec::new();
        let candidates = match (own.is_empty(), other.is_empty()) {
            (_, true) => own,
            (true, false) => other,
            (false, false) => {
                merged.extend_from_slice(own);
                merged.extend_from_slice(other);
                merged.sort_unstable_by_key(|v| v.at);
                &merged[..]
            }
        };
        for v in candidates {
            if service_selects(v.selector, &**head_labels) && keep(v.svc) {
                exposures_of(v.svc, head_container, internal, &mut out);
            }
        }
        // The operator's head Service is not there (manifests, or deleted): KubeRay creates it
        // from the CR, so the CR's serviceType is what will be exposed.
        if !head_svc_present && synthesize {
            if let Some(spec) = s.spec {
                out.extend(
                    synthesized_head_service(
                        s.kind,
                        s.namespace,
                        s.name,
                        cluster,
                        s.spec_path,
                        spec,
                    )
                    .unwrap_or_default(),
                );
            }
        }
        out
    }

    fn subject(&self, namespace: &'a str, name: &'a str, kind: &'static str) -> Subject<'a> {
        Subject {
            inv: self.inv,
            idx: self.idx,
            cfg: self.cfg,
            namespace,
            name,
            kind,
            owner: None,
            spec: None,
            spec_path: ray::RAY_CLUSTER.path,
            cluster: None,
            pods: &[],
            heads: 0,
            workers: 0,
            exposures: Vec::new(),
            cluster_rules: true,
            job: None,
            templates: SmallVec::new(),
            head_labels: Cow::Owned(LabelSet::default()),
            worker_labels: SmallVec::new(),
            version: None,
            parsed_version: None,
            object: [kind, " ", namespace, "/", name].concat(),
        }
    }

    fn cluster_exists(&self, namespace: &str, cluster: &str) -> bool {
        self.idx.clusters.contains(&(namespace, cluster))
    }

    /// A RayJob/RayService/RayCronJob: its own entry, evaluated from its embedded spec while
    /// its cluster does not exist, else only for itself.
    fn owner_subject(
        &self,
        namespace: &'a str,
        entry: &'a str,
        kind: &'static str,
        spec: Option<&'a RayClusterSpec>,
        spec_path: &'static str,
        cluster: Option<&'a str>,
    ) -> Subject<'a> {
        let mut s = self.subject(namespace, entry, kind);
        s.spec = spec;
        s.spec_path = spec_path;
        let running = cluster.filter(|c| self.cluster_exists(namespace, c));
        if let Some(c) = running {
            s.cluster = Some(c);
            self.pods(&mut s, namespace, c);
        }
        s.finish();
        match running {
            Some(_) => {
                s.cluster_rules = false;
                s.exposures = self.exposures(&s, |svc| owned_by(&svc.metadata, kind, entry), false);
            }
            None => {
                s.exposures = self.exposures(&s, |_| true, true);
            }
        }
        s
    }
}

/// Every entry of the inventory as a subject.
/// The subject of one RayCluster.
pub fn cluster_subject<'a>(
    inv: &'a Inventory,
    idx: &'a Index<'a>,
    cfg: &'a PostureConfig,
    rc: &'a crate::kuberay::RayCluster,
) -> Subject<'a> {
    let b = Builder { inv, idx, cfg };
    let (n, c) = (ns(&rc.metadata), name(&rc.metadata));
    let mut s = b.subject(n, c, "RayCluster");
    s.owner = owner_of(&rc.metadata);
    s.spec = Some(&rc.spec);
    s.cluster = Some(c);
    b.pods(&mut s, n, c);
    s.finish();
    // Services a RayJob/RayService created belong to that owner's entry.
    s.exposures = b.exposures(&s, |svc| !svc.ray_parent, true);
    s
}

/// The subjects of every RayJob, RayService and RayCronJob (RayClusters: [`cluster_subject`]).
pub fn owner_subjects<'a>(
    inv: &'a Inventory,
    idx: &'a Index<'a>,
    cfg: &'a PostureConfig,
) -> Vec<Subject<'a>> {
    let b = Builder { inv, idx, cfg };
    let mut out = Vec::new();
    for job in &inv.ray_jobs {
        let (n, j) = (ns(&job.metadata), name(&job.metadata));
        let mut s = if job.spec.cluster_selector.as_ref().is_some_and(|m| !m.is_empty()) {
            let mut s = b.subject(n, j, "RayJob");
            s.cluster_rules = false;
            s
        } else {
            let cluster = job.status.as_ref().and_then(|st| st.ray_cluster_name.as_deref());
            b.owner_subject(
                n,
                j,
                "RayJob",
                job.spec.ray_cluster_spec.as_ref(),
                ray::RAY_JOB.path,
                cluster,
            )
        };
        s.job = Some(&job.spec);
        out.push(s);
    }
    for rs in &inv.ray_services {
        let (n, r) = (ns(&rs.metadata), name(&rs.metadata));
        let cluster = rs
            .status
            .as_ref()
            .and_then(|st| st.active_service_status.as_ref())
            .and_then(|a| a.ray_cluster_name.as_deref());
        out.push(b.owner_subject(
            n,
            r,
            "RayService",
            rs.spec.ray_cluster_config.as_ref(),
            ray::RAY_SERVICE.path,
            cluster,
        ));
    }
    for cj in &inv.ray_cron_jobs {
        let (n, c) = (ns(&cj.metadata), name(&cj.metadata));
        let tmpl = cj.spec.job_template.as_ref();
        let mut s = if tmpl.and_then(|t| t.cluster_selector.as_ref()).is_some_and(|m| !m.is_empty())
        {
            let mut s = b.subject(n, c, "RayCronJob");
            s.cluster_rules = false;
            s
        } else {
            b.owner_subject(
                n,
                c,
                "RayCronJob",
                tmpl.and_then(|t| t.ray_cluster_spec.as_ref()),
                ray::RAY_CRON_JOB.path,
                None,
            )
        };
        s.job = tmpl;
        out.push(s);
    }
    out
}
