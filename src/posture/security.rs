//! Guide §5: security contexts and host access (RAY-SEC-001 … RAY-SEC-006).

use super::{catalog::rule, Findings, Severity, Subject};
use compact_str::CompactString;

/// Capabilities that break out of the container (RAY-SEC-006); the security-context fix removes
/// the same ones.
pub const DANGEROUS_CAPS: [&str; 9] = [
    "ALL",
    "SYS_ADMIN",
    "NET_ADMIN",
    "SYS_PTRACE",
    "SYS_MODULE",
    "DAC_READ_SEARCH",
    "SYS_RAWIO",
    "BPF",
    "SYS_BOOT",
];

pub fn check(s: &Subject, out: &mut Findings) {
    let obj = s.object();
    let none = crate::model::SecurityContext::default();
    let no_caps = crate::model::Capabilities::default();
    for t in s.templates() {
        let pod_sc = t.spec.security_context.as_deref().unwrap_or(&none);
        for (i, init, c) in t.spec.all_containers() {
            let path = format!(
                "{obj} {}",
                super::subject::ContainerPath { template: t.path, init, index: i, name: &c.name }
            );
            let sc = c.security_context.as_deref().unwrap_or(&none);
            if sc.privileged == Some(true) {
                out.add(
                    rule!("RAY-SEC-001"),
                    Severity::Critical,
                    format!("{path} securityContext.privileged=true"),
                );
            }
            let user = sc.run_as_user.or(pod_sc.run_as_user);
            let non_root = sc.run_as_non_root.or(pod_sc.run_as_non_root);
            if user == Some(0) {
                out.add(rule!("RAY-SEC-002"), Severity::High, format!("{path} runAsUser=0"));
            } else if non_root != Some(true) && user.is_none() {
                out.add(
                    rule!("RAY-SEC-002"),
                    Severity::High,
                    format!("{path}: runAsNonRoot is not true and no non-zero runAsUser is set"),
                );
            }
            if sc.allow_privilege_escalation != Some(false) {
                out.add(
                    rule!("RAY-SEC-003"),
                    Severity::Medium,
                    format!("{path}: allowPrivilegeEscalation is not false"),
                );
            }
            let caps = sc.capabilities.as_ref().unwrap_or(&no_caps);
            let added: Vec<&str> = caps
                .add
                .iter()
                .map(CompactString::as_str)
                .filter(|c| DANGEROUS_CAPS.contains(&c.trim_start_matches("CAP_")))
                .collect();
            if !added.is_empty() {
                out.add(
                    rule!("RAY-SEC-006"),
                    Severity::Medium,
                    format!("{path} adds capabilities {}", added.join(",")),
                );
            } else if !caps.drop.iter().any(|d| d == "ALL") {
                out.add(
                    rule!("RAY-SEC-006"),
                    Severity::Medium,
                    format!("{path}: capabilities.drop does not include ALL"),
                );
            }
        }
        for (k, on) in [
            ("hostNetwork", t.spec.host_network),
            ("hostPID", t.spec.host_pid),
            ("hostIPC", t.spec.host_ipc),
        ] {
            if on == Some(true) {
                out.add(rule!("RAY-SEC-005"), Severity::High, format!("{obj} {}.{k}=true", t.path));
            }
        }
        for v in &t.spec.volumes {
            let Some(hp) = &v.host_path else { continue };
            let writable = t.spec.all_containers().any(|(_, _, c)| {
                c.volume_mounts.iter().any(|m| m.name == v.name && m.read_only != Some(true))
            });
            // Whole path segments: `/mnt/datasets` (or `/mnt/datasets/`) allows itself and
            // what is under it, not `/mnt/datasets-private`.
            let allowed =
                s.cfg.allowed_host_paths.iter().map(|p| p.trim_end_matches('/')).any(|p| {
                    hp.path.trim_end_matches('/') == p || hp.path.starts_with(&format!("{p}/"))
                });
            let why = match (writable, allowed) {
                (true, _) => "is mounted writable",
                (false, false) => "is outside the allowed hostPath prefixes",
                (false, true) => continue,
            };
            out.add(
                rule!("RAY-SEC-004"),
                Severity::High,
                format!("{obj} {}.volumes {} hostPath {} {why}", t.path, v.name, hp.path),
            );
        }
    }
}
