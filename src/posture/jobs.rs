//! Guide §9: multi-cluster isolation and RayJob hygiene (RAY-JOB-001, RAY-JOB-002,
//! RAY-JOB-003).

use super::{catalog::rule, Findings, Severity, Subject};

pub fn check(s: &Subject, out: &mut Findings) {
    if let Some(job) = s.job {
        if let Some(sel) = job.cluster_selector.as_ref().filter(|m| !m.is_empty()) {
            let sel: Vec<String> = sel.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.add(
                rule!("RAY-JOB-001"),
                Severity::Low,
                format!(
                    "{} spec.clusterSelector {} runs on a shared cluster",
                    s.object(),
                    sel.join(",")
                ),
            );
        } else if job.shutdown_after_job_finishes != Some(true) {
            let path = if s.kind == "RayCronJob" {
                "spec.jobTemplate.shutdownAfterJobFinishes"
            } else {
                "spec.shutdownAfterJobFinishes"
            };
            out.add(
                rule!("RAY-JOB-002"),
                Severity::Low,
                format!("{} {path} is not true: the cluster stays after the job ends", s.object()),
            );
        }
    }
    if s.kind == "RayCluster" {
        let n = s.idx.clusters_in(s.namespace);
        if n > 1 {
            out.add(
                rule!("RAY-JOB-003"),
                Severity::Info,
                format!("Namespace {} holds {n} Ray clusters", s.namespace),
            );
        }
    }
}
