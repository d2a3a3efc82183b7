//! What one entry's rules look at: the cluster spec (from the CR or embedded in a RayJob,
//! RayService or RayCronJob), the live pods of its cluster, and every Service port that reaches
//! those pods, resolved to the container port it lands on.

use super::index::{name, ns, Index};
use super::services::{exposures_of, synthesized_head_service, Exposure};
use super::{Owner, PostureConfig};
use crate::inventory::Inventory;
use crate::kuberay::{RayClusterSpec, RayJobSpec};
use crate::model::{LabelSet, Pod, PodSpec, Service};
use crate::semantics::labels::service_selects;
use crate::semantics::ray::{self, pod_labels};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use smallvec::SmallVec;
use std::borrow::Cow;

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
    /// The object's `raydar.io/exempt` annotation (`RULE: reason; …`), if any.
    pub exempt: Option<&'a str>,
    /// The RayCluster's status (its head Service's real name), when the entry is one.
    pub status: Option<&'a crate::kuberay::RayClusterStatus>,
    /// How callers authenticate, as KubeRay and the Ray version read the spec.
    pub auth: super::auth::Auth,
}

impl<'a> Subject<'a> {
    /// Fills the derived fields once the spec, cluster and pods are known.
    fn finish(&mut self) {
        self.templates = self.compute_templates();
        self.head_labels = self.compute_head_labels();
        self.worker_labels = self.compute_worker_labels();
        self.version = self.compute_ray_version();
        self.parsed_version = self.version.and_then(super::images::parse_version);
        self.auth = match self.spec {
            Some(spec) => {
                super::auth::effective(spec, self.parsed_version, &self.cfg.db.get().facts)
            }
            None => super::auth::Auth::Off("no cluster spec".into()),
        };
    }

    /// The head Service's real name (`semantics::ray::head_service_name`).
    pub fn head_service_name(&self) -> String {
        ray::head_service_name(
            self.cluster.unwrap_or(self.name),
            self.spec.and_then(RayClusterSpec::head_service_override),
            self.status.and_then(crate::kuberay::RayClusterStatus::head_service),
        )
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

/// The annotation that exempts an object from rules (`raydar guard` honours the same one).
pub const EXEMPT_ANNOTATION: &str = "raydar.io/exempt";

fn exempt_annotation(m: &ObjectMeta) -> Option<&str> {
    m.annotations.as_ref()?.get(EXEMPT_ANNOTATION).map(String::as_str)
}

/// The reason `annotation` (`RULE: reason; RULE: reason`) gives for exempting `rule`.
pub fn exemption<'s>(annotation: &'s str, rule: &str) -> Option<&'s str> {
    annotation.split(';').find_map(|part| {
        let (id, reason) = part.split_once(':')?;
        (id.trim() == rule).then(|| reason.trim())
    })
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
        let head_svc = s.head_service_name();
        let head_svc_present = self.idx.service_names.contains(&(s.namespace, head_svc.as_str()));
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
                        &head_svc,
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
            exempt: None,
            status: None,
            auth: super::auth::Auth::Off(String::new()),
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
    s.exempt = exempt_annotation(&rc.metadata);
    s.spec = Some(&rc.spec);
    s.status = rc.status.as_ref();
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
        s.exempt = exempt_annotation(&job.metadata);
        out.push(s);
    }
    for rs in &inv.ray_services {
        let (n, r) = (ns(&rs.metadata), name(&rs.metadata));
        let cluster = rs
            .status
            .as_ref()
            .and_then(|st| st.active_service_status.as_ref())
            .and_then(|a| a.ray_cluster_name.as_deref());
        let mut s = b.owner_subject(
            n,
            r,
            "RayService",
            rs.spec.ray_cluster_config.as_ref(),
            ray::RAY_SERVICE.path,
            cluster,
        );
        s.exempt = exempt_annotation(&rs.metadata);
        out.push(s);
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
        s.exempt = exempt_annotation(&cj.metadata);
        out.push(s);
    }
    out
}
