//! The rule catalog (README: the rules, `raydar rules`): stable ids, the guide section each cites, default severity,
//! title, remediation and the one-key fix when there is one.

use super::Severity::{self, *};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The fixes raydar can apply, by the id findings carry in their `fix` field (README: Fixes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FixId {
    ServiceClusterip,
    NetworkPolicy,
    DisableIngress,
    AutomountToken,
    DedicatedSa,
    ResourceQuota,
    SecurityContext,
    /// Not a fix of a finding: the admission policies of `raydar guard apply`, journaled
    /// (and undone) as fixes are.
    Guard,
}

impl FixId {
    pub const ALL: [FixId; 7] = [
        Self::ServiceClusterip,
        Self::NetworkPolicy,
        Self::DisableIngress,
        Self::AutomountToken,
        Self::DedicatedSa,
        Self::ResourceQuota,
        Self::SecurityContext,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServiceClusterip => "service-clusterip",
            Self::NetworkPolicy => "network-policy",
            Self::DisableIngress => "disable-ingress",
            Self::AutomountToken => "automount-token",
            Self::DedicatedSa => "dedicated-sa",
            Self::ResourceQuota => "resource-quota",
            Self::SecurityContext => "security-context",
            Self::Guard => "guard",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The ids, comma-separated, for error messages.
    pub fn list() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for FixId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub section: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub remediation: &'static str,
    pub fix: Option<FixId>,
}

const fn r(
    id: &'static str,
    section: &'static str,
    severity: Severity,
    title: &'static str,
    remediation: &'static str,
    fix: Option<FixId>,
) -> Rule {
    Rule { id, section, severity, title, remediation, fix }
}

pub static RULES: &[Rule] = &[
    r("RAY-TLS-001", "1.1", High, "Ray gRPC TLS is off",
      "Set RAY_USE_TLS=1 with RAY_TLS_SERVER_CERT, RAY_TLS_SERVER_KEY and RAY_TLS_CA_CERT on every Ray container (or spec.tlsOptions.enabled with cert-manager on KubeRay 1.7).", None),
    r("RAY-TLS-002", "1.1", Medium, "Ray TLS is only partly configured",
      "Enable TLS on the head and every worker group, each with RAY_TLS_SERVER_CERT, RAY_TLS_SERVER_KEY and RAY_TLS_CA_CERT.", None),
    r("RAY-AUTH-001", "1.2", High, "Ray token authentication is off",
      "Set spec.authOptions.mode: token (KubeRay >= 1.5.1; the token is kept in the cluster's Secret, or authOptions.secretName), or add enableK8sTokenAuth: true so the dashboard checks each caller's own Kubernetes token (KubeRay >= 1.6). The Ray versions that honour each are in `raydar rules --advisories`.", None),
    r("RAY-EXP-001", "1.3", Critical, "GCS or Ray Client port reachable from outside the cluster",
      "Keep 6379 and 10001 on a ClusterIP Service; drop hostNetwork and hostPort; reach Ray through kubectl port-forward or raydar forward.", Some(FixId::ServiceClusterip)),
    r("RAY-EXP-002", "1.5", Critical, "Dashboard on a public LoadBalancer/NodePort without ACL",
      "Switch the Service to ClusterIP and use raydar forward (authenticated port-forward); the Jobs API runs arbitrary code.", Some(FixId::ServiceClusterip)),
    r("RAY-EXP-003", "1.5", High, "Dashboard on a LoadBalancer/NodePort narrowed by ACL or intranet address",
      "An ACL or intranet LB still exposes the Jobs API beyond the cluster: prefer ClusterIP and raydar forward.", Some(FixId::ServiceClusterip)),
    r("RAY-EXP-004", "1.5", Critical, "Ingress routes to the Ray dashboard",
      "Set enableIngress: false and delete the Ingress, or put real authentication (oauth2-proxy, auth-url) in front of it.", Some(FixId::DisableIngress)),
    r("RAY-SVC-001", "1.6", High, "The RayCluster asks for a non-ClusterIP head Service",
      "Set headGroupSpec.serviceType: ClusterIP in the CR: KubeRay recreates a deleted head Service from it.", Some(FixId::ServiceClusterip)),
    r("RAY-NET-001", "1.4", High, "No NetworkPolicy selects the head pod",
      "Add a NetworkPolicy for ray.io/cluster=<name> admitting only the cluster's pods, the KubeRay operator and job submitters.", Some(FixId::NetworkPolicy)),
    r("RAY-NET-002", "1.4", Medium, "No NetworkPolicy selects the worker pods",
      "Select the workers too (ray.io/cluster=<name>), admitting only the cluster's own pods.", Some(FixId::NetworkPolicy)),
    r("RAY-NET-003", "1.4", High, "A NetworkPolicy on Ray pods admits any source",
      "Replace empty `from` and 0.0.0.0/0 rules with pod and namespace selectors for the sources that need Ray.", Some(FixId::NetworkPolicy)),
    r("RAY-NET-004", "1.4", High, "spec.networkPolicy asks KubeRay for NetworkPolicies that are not there",
      "Turn on the KubeRay operator's RayClusterNetworkPolicy feature gate (alpha, off by default) so it creates the policies the spec asks for, or drop spec.networkPolicy and add a policy yourself (raydar fix network-policy).", None),
    r("RAY-NS-001", "2", Medium, "Ray cluster in the default or a system namespace",
      "Run each Ray cluster in a namespace of its own team, with its own quota and RBAC.", None),
    r("RAY-QUOTA-001", "3", Medium, "Namespace has no ResourceQuota",
      "Add a ResourceQuota (or an ElasticQuotaTree leaf) capping CPU, memory and GPUs.", Some(FixId::ResourceQuota)),
    r("RAY-QUOTA-002", "3", Low, "ResourceQuota does not cap GPUs the cluster requests",
      "Add requests.nvidia.com/gpu (or the GPU resource in use) to the namespace's quota.", None),
    r("RAY-RBAC-001", "4", Medium, "Ray pods run as the namespace's default ServiceAccount",
      "Give the cluster a dedicated ServiceAccount with no token automount and only the roles it needs.", Some(FixId::DedicatedSa)),
    r("RAY-RBAC-002", "4", Medium, "ServiceAccount token mounted into pods that do not need it",
      "Set automountServiceAccountToken: false on worker templates, and on the head unless the in-tree autoscaler runs.", Some(FixId::AutomountToken)),
    r("RAY-RBAC-003", "4", Critical, "The Ray ServiceAccount is bound to a powerful role",
      "Remove the binding to cluster-admin/admin/edit or wildcard roles; grant only what the workload needs.", None),
    r("RAY-SEC-001", "5", Critical, "Privileged container",
      "Remove securityContext.privileged: true.", None),
    r("RAY-SEC-002", "5", High, "Container may run as root",
      "Set runAsNonRoot: true and runAsUser: 1000 (the Ray images' ray user).", Some(FixId::SecurityContext)),
    r("RAY-SEC-003", "5", Medium, "Privilege escalation not disabled",
      "Set allowPrivilegeEscalation: false on every container.", Some(FixId::SecurityContext)),
    r("RAY-SEC-004", "5", High, "Writable or unapproved hostPath volume",
      "Use PVCs or object storage; if a hostPath is unavoidable, mount it readOnly under an approved prefix.", None),
    r("RAY-SEC-005", "5", High, "Host network, PID or IPC namespace shared",
      "Remove hostNetwork, hostPID and hostIPC.", None),
    r("RAY-SEC-006", "5", Medium, "Capabilities not dropped, or dangerous ones added",
      "Set capabilities.drop: [ALL] and add back nothing (or only what is proven necessary).", Some(FixId::SecurityContext)),
    r("RAY-IMG-001", "6", Medium, "Image tag is latest or missing",
      "Pin a released Ray version tag, ideally with its digest.", None),
    r("RAY-IMG-002", "6", Low, "Image not pinned by digest",
      "Reference images as name:tag@sha256:… so what runs is what was scanned.", None),
    r("RAY-IMG-003", "6", Info, "Image registry outside the trusted list",
      "Pull from the registries in the trusted list (config posture.trusted_registries).", None),
    r("RAY-VER-001", "6", High, "Ray version with published security advisories",
      "Upgrade Ray to the version the evidence names: it fixes every advisory listed (`raydar rules --advisories` shows the advisories loaded; `--advisories PATH` reads a newer OSV export).", None),
    r("RAY-RES-001", "7", Medium, "Ray container without CPU or memory requests",
      "Set resources.requests.cpu and .memory on every Ray container.", None),
    r("RAY-RES-002", "7", Medium, "Ray container without a memory limit",
      "Set resources.limits.memory (Ray sizes its object store from limits).", None),
    r("RAY-CRED-001", "8", Critical, "Static cloud credentials as literal env values",
      "Remove the literal keys, rotate them, and use RRSA (pod identity) instead.", None),
    r("RAY-CRED-002", "8", Medium, "Static cloud credentials from Secrets instead of RRSA",
      "Use RRSA (pod-identity.alibabacloud.com/injection) so pods get short-lived credentials.", None),
    r("RAY-JOB-001", "9", Low, "RayJob runs on a shared existing cluster",
      "Give jobs their own cluster (rayClusterSpec) so they cannot see each other's data and code.", None),
    r("RAY-JOB-002", "9", Low, "RayJob keeps its cluster after finishing",
      "Set shutdownAfterJobFinishes: true (with ttlSecondsAfterFinished) so idle clusters do not linger.", None),
    r("RAY-JOB-003", "9", Info, "Several Ray clusters share one namespace",
      "Isolate teams and workloads in namespaces of their own.", None),
    r("RAY-GRD-001", "10", Info, "No admission guard for the namespace's Ray objects",
      "Install raydar's admission policies (raydar guard apply, warn mode first, then --mode deny) so the next apply cannot undo a fix.", None),
];

/// Where `id` is in [`RULES`]; for [`rule!`], at compile time (an unknown id is a build error).
pub const fn index_of(id: &str) -> usize {
    const fn same(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
    let mut i = 0;
    while i < RULES.len() {
        if same(RULES[i].id.as_bytes(), id.as_bytes()) {
            return i;
        }
        i += 1;
    }
    // Evaluated while compiling (`rule!` is a const): an unknown id is a build error, never a
    // run-time panic.
    #[allow(clippy::panic)]
    {
        panic!("unknown rule id")
    }
}

/// The catalog entry of a rule id, looked up while compiling (rules run 75,000 times a scan).
macro_rules! rule {
    ($id:literal) => {{
        const RULE: &'static $crate::posture::catalog::Rule =
            &$crate::posture::catalog::RULES[$crate::posture::catalog::index_of($id)];
        RULE
    }};
}
pub(crate) use rule;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix_ids_parse_as_they_print_and_the_list_names_each() {
        for f in FixId::ALL {
            assert_eq!(FixId::parse(f.as_str()), Some(f));
            assert_eq!(f.to_string(), f.as_str());
        }
        assert_eq!(FixId::parse("nope"), None);
        assert_eq!(FixId::parse("guard"), None, "the guard is not a fix of a finding");
        assert_eq!(
            FixId::list(),
            "service-clusterip, network-policy, disable-ingress, automount-token, dedicated-sa, resource-quota, security-context"
        );
    }
}
