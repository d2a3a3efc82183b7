//! The CEL of the guarded rules. Each function returns an expression that holds when the
//! cluster spec `spec` (an optional: the field may be absent) does not break the rule, written
//! with optional chaining (`.?field`, `orValue`) so that absent fields are never an error. The
//! head's template and each worker group's are checked separately: their schema types differ.

use crate::posture::images::RayVersion;
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

/// The numbers of a Ray version at the start of a string, as `parse_version` reads them (the
/// patch only when a digit follows its dot). Up to 9 digits each: CEL's ints are 64-bit,
/// the posture engine's `u32`.
const VERSION_HEAD: &str = r"^v*[0-9]{1,9}\.[0-9]{1,9}(\.[0-9]{1,9})?";

/// What follows the numbers when it marks a pre-release (`rc1`, `.dev0`, `-beta`), as
/// `is_pre_release` reads it: one of these words, then nothing, a digit, `.` or `-`.
const PRE_RELEASE: &str = r"(?s)^[-.+]*(rc|a|b|dev|alpha|beta|pre|preview)($|[0-9.\-].*$)";

/// CEL string literal of a regular expression.
fn re(r: &str) -> String {
    format!("'{}'", r.replace('\\', "\\\\"))
}

/// Holds when the Ray version in the string `v` is below `x` (a pre-release of `x` is, as
/// `RayVersion` orders them); false when `v` names no version (`parse_version` reads none).
/// (No `cel.bind` on kube-apiserver 1.36's admission CEL: the parts are written out.)
fn version_below(v: &str, x: RayVersion) -> String {
    let RayVersion(a, b, c, release) = x;
    let head = format!("{v}.find({})", re(VERSION_HEAD));
    let rest = format!("{v}.substring({head}.size())");
    let pre = format!("{rest}.lowerAscii().matches({})", re(PRE_RELEASE));
    let n = |i: usize| format!("int({head}.replace('v', '').split('.')[{i}])");
    let patch = format!("({head}.split('.').size() < 3 ? 0 : {})", n(2));
    // Equal numbers: below `x` when `v` is a pre-release and `x` a release.
    let same = if release { pre.clone() } else { "false".into() };
    format!(
        "({head} != '' && ({rest} == '' || {rest}.matches('^[-+.]') || {pre}) && \
         ({major} < {a} || ({major} == {a} && ({minor} < {b} || \
         ({minor} == {b} && ({patch} < {c} || ({patch} == {c} && {same})))))))",
        major = n(0),
        minor = n(1),
    )
}

/// Holds when the string `v` is a Ray version (`parse_version` reads it).
fn version_parses(v: &str) -> String {
    let head = format!("{v}.find({})", re(VERSION_HEAD));
    let rest = format!("{v}.substring({head}.size())");
    format!(
        "({head} != '' && ({rest} == '' || {rest}.matches('^[-+.]') || \
         {rest}.lowerAscii().matches({})))",
        re(PRE_RELEASE)
    )
}

/// The tag of the head's first container's image, as `split_image` reads it ('' if none).
fn head_image_tag(spec: &str) -> String {
    let name = format!(
        "{spec}.?headGroupSpec.?template.?spec.?containers[?0].?image.orValue('').split('@')[0]"
    );
    let after = format!("{name}.substring({name}.lastIndexOf(':') + 1)");
    format!("({name}.lastIndexOf(':') >= 0 && !{after}.contains('/') ? {after} : '')")
}

/// The Ray version the posture engine reads is below `x`: `rayVersion` when it names one,
/// else the head image's tag (`Subject::ray_version`); false when neither names a version.
fn spec_version_below(spec: &str, x: RayVersion) -> String {
    let field = format!("{spec}.?rayVersion.orValue('')");
    let tag = head_image_tag(spec);
    format!(
        "({} ? {} : {})",
        version_parses(&field),
        version_below(&field, x),
        version_below(&tag, x)
    )
}

/// The spec names a Ray version and it is `x` or later.
fn spec_version_at_least(spec: &str, x: RayVersion) -> String {
    let field = format!("{spec}.?rayVersion.orValue('')");
    let tag = head_image_tag(spec);
    format!(
        "(({} || {}) && !{})",
        version_parses(&field),
        version_parses(&tag),
        spec_version_below(spec, x)
    )
}

/// RAY-VER-001: the Ray version is in no affected range of an advisory an upgrade fixes
/// (`posture::advisories`, merged ranges: one comparison for the built-in data).
pub(super) fn supported_version(spec: &str) -> String {
    let ranges = crate::posture::advisories::Advisories::builtin().fixable_intervals();
    let bad: Vec<String> = ranges
        .iter()
        .map(|(from, to)| {
            let below = spec_version_below(spec, *to);
            if *from <= RayVersion(0, 0, 0, false) {
                below
            } else {
                format!("({} && {below})", spec_version_at_least(spec, *from))
            }
        })
        .collect();
    if bad.is_empty() {
        return "true".into();
    }
    format!("!({})", bad.join(" || "))
}

/// Holds when the first env var named `name` of the pod spec `pod`'s first container (the Ray
/// container) has one of `values` (`Container::env_value`).
fn ray_env_in(pod: &str, name: &str, values: &[&str]) -> String {
    let values: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    format!(
        "{pod}.?containers[?0].?env.orValue([]).filter(e, e.name == '{name}')\
         .map(e, e.?value.orValue(''))[?0].orValue('') in [{}]",
        values.join(", ")
    )
}

/// RAY-AUTH-001 (opt-in): effective Ray authentication, as `posture::auth::effective`
/// reads the spec: `RAY_AUTH_MODE=disabled` on the head never; `authOptions.mode: token` or
/// `RAY_AUTH_MODE=token` from the token-auth version on (and `enableK8sTokenAuth` only with
/// `mode: token`, from its own version on); otherwise Ray's default-on version.
pub(super) fn token_auth(spec: &str) -> String {
    let facts = &crate::posture::advisories::Advisories::builtin().facts;
    let head = format!("{spec}.?headGroupSpec.?template.?spec");
    let mode_token = format!("{spec}.?authOptions.?mode.orValue('') == 'token'");
    let k8s = format!("{spec}.?authOptions.?enableK8sTokenAuth.orValue(false)");
    format!(
        "!({disabled}) && !({k8s} && !({mode_token})) && \
         ((({mode_token}) || {env_token}) && !{below_token} && !({k8s} && {below_k8s}) || \
         !(({mode_token}) || {env_token}) && {default_on})",
        disabled = ray_env_in(&head, "RAY_AUTH_MODE", &["disabled"]),
        env_token = ray_env_in(&head, "RAY_AUTH_MODE", &["token"]),
        below_token = spec_version_below(spec, facts.token_auth.min),
        below_k8s = spec_version_below(spec, facts.k8s_token_auth.min),
        default_on = spec_version_at_least(spec, facts.token_auth_default.min),
    )
}

/// RAY-TLS-001 (opt-in): TLS by `tlsOptions.enabled`, or `RAY_USE_TLS` on the Ray container
/// of the head or of some worker group. (A partial setup is RAY-TLS-002, which needs the
/// whole cluster to judge and is not guarded.)
pub(super) fn tls_on(spec: &str) -> String {
    let on = ["1", "true", "True"];
    format!(
        "{spec}.?tlsOptions.?enabled.orValue(false) || {} || \
         {spec}.?workerGroupSpecs.orValue([]).exists(g, {})",
        ray_env_in(&format!("{spec}.?headGroupSpec.?template.?spec"), "RAY_USE_TLS", &on),
        ray_env_in("g.?template.?spec", "RAY_USE_TLS", &on),
    )
}

/// Holds when the Service `svc` reaches outside the cluster (`reaches_outside`) and selects a
/// Ray cluster's pods (its selector names `ray.io/cluster`).
pub(super) fn ray_service_outside(svc: &str) -> String {
    format!(
        "{svc}.?spec.?selector[?'ray.io/cluster'].hasValue() && \
         ({svc}.?spec.?type.orValue('ClusterIP') in ['LoadBalancer', 'NodePort'] || \
         {svc}.?spec.?externalIPs.orValue([]).size() > 0)"
    )
}

/// Holds when a port `p` of a Service targets one of Ray's ports: by the container port's
/// name (`names`, as KubeRay names the head's ports), or by number (`numbers`: `targetPort`,
/// else `port`). The Service alone is judged: a head that names its ports otherwise is the
/// posture engine's to find.
fn targets(p: &str, names: &[&str], numbers: &[i32]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    let numbers: Vec<String> = numbers.iter().map(i32::to_string).collect();
    format!(
        "(type({p}.?targetPort.orValue(0)) == string ? \
         string({p}.targetPort) in [{}] : \
         int({p}.?targetPort.orValue({p}.port)) in [{}])",
        names.join(", "),
        numbers.join(", ")
    )
}

/// RAY-EXP-001 at the Service level: no Ray GCS or client port reachable from outside.
pub(super) fn service_no_gcs_or_client(svc: &str) -> String {
    format!(
        "!({}) || !{svc}.?spec.?ports.orValue([]).exists(p, {})",
        ray_service_outside(svc),
        targets("p", &["gcs-server", "client"], &[6379, 10001])
    )
}

/// How a LoadBalancer's reach is narrowed (`semantics::exposure::acl`): an intranet load
/// balancer, source ranges that are not the whole internet, or an ACK whitelist ACL.
fn narrowed(svc: &str) -> String {
    let ack = |k: &str| {
        format!(
            "{svc}.metadata.?annotations[?'service.beta.kubernetes.io/alibaba-cloud-loadbalancer-{k}']"
        )
    };
    format!(
        "{svc}.?spec.?type.orValue('') == 'LoadBalancer' && ( \
         {intranet}.orValue('') == 'intranet' || \
         ({svc}.?spec.?loadBalancerSourceRanges.orValue([]).size() > 0 && \
          !{svc}.?spec.?loadBalancerSourceRanges.orValue([]).exists(r, r in ['0.0.0.0/0', '::/0'])) || \
         ({status}.orValue('') == 'on' && {id}.orValue('') != '' && {ty}.orValue('') == 'white'))",
        intranet = ack("address-type"),
        status = ack("acl-status"),
        id = ack("acl-id"),
        ty = ack("acl-type"),
    )
}

/// RAY-EXP-002 at the Service level: no dashboard port reachable from outside without an ACL.
pub(super) fn service_dashboard_narrowed(svc: &str) -> String {
    format!(
        "!({}) || {} || !{svc}.?spec.?ports.orValue([]).exists(p, {})",
        ray_service_outside(svc),
        narrowed(svc),
        targets("p", &["dashboard"], &[8265])
    )
}
