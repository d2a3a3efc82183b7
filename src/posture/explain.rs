//! `raydar rules ID`: what a rule checks and why, in words, with the guide section it cites
//! and what its one-key fix writes. The rules' own code is the truth; these are its summary.

use super::catalog::FixId;

/// The guide's sections (`../reference`: "Securing Ray Clusters on ACK"), by number.
pub fn section_title(section: &str) -> &'static str {
    match section {
        "1.1" => "RayCluster head and worker data communication (TLS)",
        "1.2" => "RayClient / Ray Dashboard internal access: Ray runs any code submitted to it",
        "1.3" => "RayClient public access: GCS (6379) must not face the internet",
        "1.4" => "RayCluster internal communication restrictions (NetworkPolicy)",
        "1.5" => "Ray Dashboard public access: port-forward, HistoryServer, ACL or authentication",
        "1.6" => "RayCluster / RayJob configuration: prefer ClusterIP Services",
        "2" => "Namespace isolation",
        "3" => "ResourceQuota / ElasticQuotaTree",
        "4" => "RBAC: a dedicated ServiceAccount, minimal rights, no token where none is needed",
        "5" => "Security context: no privileged, no root, restricted hostPath, no escalation",
        "6" => "Head / worker pod images",
        "7" => "Requests and limits",
        "8" => "RRSA instead of AK/SK in environment variables",
        "9" => "Multi-RayCluster isolation / one job, one cluster",
        "10" => "Other recommendations",
        _ => "",
    }
}

/// What the rule checks, and why it matters.
pub fn checks(id: &str) -> &'static str {
    match id {
        "RAY-TLS-001" => "No RAY_USE_TLS=1 on any Ray container and no spec.tlsOptions.enabled: Ray's gRPC between head and workers is plain text, readable and forgeable by anything on the pod network.",
        "RAY-TLS-002" => "TLS on some groups only, or RAY_USE_TLS without its certificate, key or CA: a half-configured cluster either fails to connect or talks in the clear.",
        "RAY-AUTH-001" => "No effective token authentication for the Ray version in use (authOptions.mode: token, enableK8sTokenAuth, RAY_AUTH_MODE=token on the head, or Ray's default-on version): whoever reaches the dashboard, the Jobs API or GCS can run code.",
        "RAY-EXP-001" => "GCS (6379) or the Ray Client port (10001) reachable from outside the cluster: a LoadBalancer/NodePort/externalIPs Service selecting the head, hostPort or hostNetwork. Both run arbitrary code for whoever connects.",
        "RAY-EXP-002" => "The dashboard on a LoadBalancer/NodePort with no ACL (loadBalancerSourceRanges, ACK ACL annotations, intranet address): its Jobs API runs code for anyone on the internet.",
        "RAY-EXP-003" => "The dashboard on a LoadBalancer/NodePort narrowed by an ACL or an intranet address: still beyond the cluster, one misconfigured ACL away from public.",
        "RAY-EXP-004" => "An Ingress routes to the head's dashboard port (enableIngress, or one made by hand): critical without authentication annotations, high with them.",
        "RAY-SVC-001" => "The CR asks for a LoadBalancer/NodePort head Service: KubeRay recreates a deleted head Service from the CR, so a fixed Service comes back exposed.",
        "RAY-NET-001" => "No NetworkPolicy (or none of KubeRay's spec.networkPolicy) selects the head pod: every pod of the cluster network reaches GCS, the dashboard and the client port.",
        "RAY-NET-002" => "No NetworkPolicy selects a worker group's pods: every pod reaches the workers' object store and raylet ports.",
        "RAY-NET-003" => "A NetworkPolicy selecting Ray pods has a rule that admits any source (no `from`, 0.0.0.0/0): it guards nothing.",
        "RAY-NET-004" => "spec.networkPolicy asks KubeRay for NetworkPolicies that are not there: the operator's RayClusterNetworkPolicy feature gate (alpha) is off, so the isolation the spec promises does not exist.",
        "RAY-NS-001" => "A Ray cluster in default or a system namespace: shares quota, RBAC and policies with everything else there.",
        "RAY-QUOTA-001" => "The namespace has no ResourceQuota and no ElasticQuotaTree leaf: one cluster's autoscaler can starve the node pool.",
        "RAY-QUOTA-002" => "The namespace's quota does not cap the GPUs the cluster requests.",
        "RAY-RBAC-001" => "Ray pods run as the namespace's default ServiceAccount: whatever is bound to it, every Ray job gets.",
        "RAY-RBAC-002" => "The ServiceAccount token is mounted into pods that do not need it (workers; the head unless the in-tree autoscaler runs): code on Ray reads it.",
        "RAY-RBAC-003" => "The Ray ServiceAccount is bound to cluster-admin, admin, edit or a wildcard role: code on Ray owns the namespace or the cluster.",
        "RAY-SEC-001" => "A privileged container: code on Ray owns the node.",
        "RAY-SEC-002" => "A container may run as root (runAsUser 0, or runAsNonRoot not true without a non-zero runAsUser).",
        "RAY-SEC-003" => "allowPrivilegeEscalation is not false.",
        "RAY-SEC-004" => "A writable hostPath, or one outside the allowed prefixes (config posture.allowed_host_paths).",
        "RAY-SEC-005" => "hostNetwork, hostPID or hostIPC: the pod shares the node's namespaces.",
        "RAY-SEC-006" => "Capabilities not dropped (drop: [ALL]) or dangerous ones added.",
        "RAY-IMG-001" => "The image tag is latest or missing: what runs changes under the same name.",
        "RAY-IMG-002" => "The image is not pinned by digest: what runs may not be what was scanned.",
        "RAY-IMG-003" => "The image comes from outside the trusted registries (config posture.trusted_registries; off when empty).",
        "RAY-VER-001" => "The Ray version (rayVersion, else the head image's tag) is affected by published advisories an upgrade fixes (the loaded OSV data, `raydar rules --advisories`).",
        "RAY-RES-001" => "A Ray container without CPU or memory requests.",
        "RAY-RES-002" => "A Ray container without a memory limit: Ray sizes its object store from limits.",
        "RAY-CRED-001" => "Static cloud credentials as literal env values (ALIBABA_CLOUD_ACCESS_KEY_*, OSS_*, AWS_*, …): anyone who reads the object takes them. The value is never printed.",
        "RAY-CRED-002" => "Static cloud credentials from Secrets instead of RRSA: long-lived keys inside every Ray job.",
        "RAY-JOB-001" => "A RayJob runs on a shared, existing cluster (clusterSelector): jobs see each other's code and data.",
        "RAY-JOB-002" => "A RayJob keeps its cluster after finishing (shutdownAfterJobFinishes not true).",
        "RAY-JOB-003" => "Several Ray clusters share one namespace.",
        "RAY-GRD-001" => "No raydar admission guard covers the namespace's Ray objects: the next kubectl apply can undo a fix.",
        _ => "",
    }
}

/// What a fix writes.
pub fn writes(fix: FixId) -> &'static str {
    match fix {
        FixId::ServiceClusterip => "patches every exposing Service of the cluster to type ClusterIP (LB-only fields dropped) and sets serviceType: ClusterIP in the owning CR, since KubeRay never updates an existing head Service",
        FixId::NetworkPolicy => "creates NetworkPolicy raydar-<cluster> admitting the cluster's own pods, the KubeRay operator (dashboard, serve) and RayJob submitters (dashboard), and narrows open policies; where the CR uses spec.networkPolicy, edits that instead",
        FixId::DisableIngress => "sets enableIngress: false, drops ingressOptions, and deletes the Ingress KubeRay made (strong confirmation)",
        FixId::AutomountToken => "sets automountServiceAccountToken: false on worker templates (and the head without the autoscaler)",
        FixId::DedicatedSa => "creates ServiceAccount <cluster>-ray (automount off) and points the templates at it",
        FixId::ResourceQuota => "creates ResourceQuota raydar-quota sized from the namespace's clusters at max replicas × 1.2, GPUs included",
        FixId::SecurityContext => "sets allowPrivilegeEscalation: false, capabilities.drop: [ALL], runAsNonRoot: true (runAsUser 0 becomes 1000) and seccompProfile RuntimeDefault on the Ray containers",
        FixId::Guard => "installs raydar's ValidatingAdmissionPolicies",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_explained_and_cites_a_known_section() {
        for r in super::super::RULES {
            assert!(!checks(r.id).is_empty(), "{}", r.id);
            assert!(!section_title(r.section).is_empty(), "{}: §{}", r.id, r.section);
        }
        for f in FixId::ALL {
            assert!(!writes(f).is_empty());
        }
    }
}
