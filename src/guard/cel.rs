//! The CEL of the guarded rules. Each function returns an expression that holds when the
//! cluster spec `spec` (an optional: the field may be absent) does not break the rule, written
//! with optional chaining (`.?field`, `orValue`) so that absent fields are never an error. The
//! head's template and each worker group's are checked separately: their schema types differ.

use crate::posture::CREDENTIAL_ENV;
use crate::semantics::ray::SpecHolder;

/// The holder's cluster spec in `object` (or `oldObject`), as an optional.
pub(super) fn spec_of(object: &str, h: &SpecHolder) -> String {
    let mut out = object.to_string();
    for field in h.path.split('.') {
        out.push_str(".?");
        out.push_str(field);
    }
    out
}

/// Holds when `ok(pod_spec)` holds for the head's pod spec and every worker group's.
fn every_template(spec: &str, ok: impl Fn(&str) -> String) -> String {
    format!(
        "({}) && {spec}.?workerGroupSpecs.orValue([]).all(g, {})",
        ok(&format!("{spec}.?headGroupSpec.?template.?spec")),
        ok("g.?template.?spec"),
    )
}

/// Holds when `ok(container)` holds for every container and init container of `pod`.
fn every_container(pod: &str, ok: impl Fn(&str) -> String) -> String {
    format!(
        "{pod}.?containers.orValue([]).all(c, {}) && {pod}.?initContainers.orValue([]).all(c, {})",
        ok("c"),
        ok("c")
    )
}

/// RAY-SVC-001: the head Service is not asked to be a LoadBalancer or NodePort.
pub(super) fn service_type_ok(spec: &str) -> String {
    format!(
        "!({spec}.?headGroupSpec.?serviceType.orValue('') in ['LoadBalancer', 'NodePort']) && \
         !({spec}.?headGroupSpec.?headService.?spec.?type.orValue('') in ['LoadBalancer', 'NodePort'])"
    )
}

/// RAY-EXP-004: KubeRay is not asked to create an Ingress to the dashboard.
pub(super) fn no_ingress(spec: &str) -> String {
    format!("!{spec}.?headGroupSpec.?enableIngress.orValue(false)")
}

/// RAY-SEC-001: no privileged container.
pub(super) fn not_privileged(spec: &str) -> String {
    every_template(spec, |pod| {
        every_container(pod, |c| format!("!{c}.?securityContext.?privileged.orValue(false)"))
    })
}

/// RAY-SEC-005: no host network, PID or IPC namespace.
pub(super) fn no_host_namespaces(spec: &str) -> String {
    every_template(spec, |pod| {
        format!(
            "!{pod}.?hostNetwork.orValue(false) && !{pod}.?hostPID.orValue(false) && \
             !{pod}.?hostIPC.orValue(false)"
        )
    })
}

/// The env names of static cloud credentials, as a CEL list (the policy's
/// `variables.credentialNames`).
pub(super) fn credential_names() -> String {
    let names: Vec<String> = CREDENTIAL_ENV.iter().map(|n| format!("'{n}'")).collect();
    format!("[{}]", names.join(", "))
}

/// RAY-CRED-001: no cloud credential given as a literal env value.
pub(super) fn no_literal_credentials(spec: &str) -> String {
    every_template(spec, |pod| {
        every_container(pod, |c| {
            format!(
                "{c}.?env.orValue([]).all(e, !(e.name in variables.credentialNames) || \
                 e.?value.orValue('') == '')"
            )
        })
    })
}

/// Holds when the object is exempted from `id` by its annotation.
pub(super) fn exempt(id: &str) -> String {
    format!(
        "object.metadata.?annotations[?'{}'].orValue('').matches('(^|;)\\\\s*{id}\\\\s*:')",
        super::EXEMPT
    )
}
