//! Guide §1.2: Ray token authentication (RAY-AUTH-001), and what counts as authentication for
//! the Ray version in use: KubeRay's `authOptions` (`mode`, `secretName`,
//! `enableK8sTokenAuth`), `RAY_AUTH_MODE` on the head, and Ray's own default by version
//! (`assets/ray-versions.toml`).

use super::advisories::VersionFacts;
use super::images::RayVersion;
use super::{catalog::rule, Findings, Subject};
use crate::kuberay::RayClusterSpec;

/// How the dashboard, Jobs API and GCS authenticate callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Nothing authenticates; the reason says why (for evidence).
    Off(String),
    /// Ray's shared token (`authOptions.mode: token` with the cluster's Secret, or
    /// `secretName`, or `RAY_AUTH_MODE=token`).
    Token,
    /// KubeRay's `enableK8sTokenAuth`: the caller's own Kubernetes token, checked by RBAC.
    KubernetesToken,
    /// Ray's default from the version on (`RAY_AUTH_MODE` unset).
    ByDefault,
}

impl Auth {
    pub fn on(&self) -> bool {
        !matches!(self, Auth::Off(_))
    }
}

/// The authentication a cluster spec gets, read as KubeRay and Ray read it:
/// - KubeRay configures pods only for `authOptions.mode: token` (`utils.IsAuthEnabled`); an
///   `authOptions` without `mode` is not enabled, whatever the type's comment says;
/// - `mode: token` needs Ray >= the token-auth minimum, and `enableK8sTokenAuth` needs
///   `mode: token` and Ray >= its own minimum (KubeRay's `validation.go` refuses the cluster
///   otherwise, so nothing runs with it);
/// - `RAY_AUTH_MODE` on the head's Ray container wins where it is set;
/// - from the default-on version, Ray authenticates unless `RAY_AUTH_MODE=disabled`.
pub fn effective(spec: &RayClusterSpec, version: Option<RayVersion>, facts: &VersionFacts) -> Auth {
    let env = spec
        .head_group_spec
        .template
        .spec
        .containers
        .first()
        .and_then(|c| c.env_value("RAY_AUTH_MODE"));
    let opts = spec.auth_options.as_ref();
    let mode = opts.and_then(|a| a.mode.as_deref());
    let k8s = opts.and_then(|a| a.enable_k8s_token_auth) == Some(true);
    let below = |min: &super::advisories::Fact| version.is_some_and(|v| v < min.min);
    if env == Some("disabled") {
        return Auth::Off("RAY_AUTH_MODE=disabled on the head".into());
    }
    if k8s && mode != Some("token") {
        return Auth::Off(
            "authOptions.enableK8sTokenAuth needs authOptions.mode: token (KubeRay refuses the cluster)".into(),
        );
    }
    if mode == Some("token") || env == Some("token") {
        if below(&facts.token_auth) {
            return Auth::Off(format!(
                "token auth needs Ray {} or later (KubeRay refuses mode: token below it)",
                facts.token_auth.min_text
            ));
        }
        if k8s {
            if below(&facts.k8s_token_auth) {
                return Auth::Off(format!(
                    "authOptions.enableK8sTokenAuth needs Ray {} or later (KubeRay refuses the cluster)",
                    facts.k8s_token_auth.min_text
                ));
            }
            return Auth::KubernetesToken;
        }
        return Auth::Token;
    }
    if version.is_some_and(|v| v >= facts.token_auth_default.min) {
        return Auth::ByDefault;
    }
    let why = match (opts, mode) {
        (Some(_), None) => "authOptions has no mode (KubeRay enables auth only for mode: token)",
        (Some(_), Some(_)) => "authOptions.mode is not \"token\"",
        (None, _) => "no authOptions",
    };
    Auth::Off(why.into())
}

pub fn check(s: &Subject, out: &mut Findings) {
    let Some(spec) = s.spec else { return };
    let Auth::Off(why) = &s.auth else { return };
    let r = rule!("RAY-AUTH-001");
    let base = format!(
        "{}: {}.authOptions.mode is not \"token\" and RAY_AUTH_MODE=token is not set",
        s.object(),
        s.spec_path
    );
    let evidence = match why.as_str() {
        "no authOptions" | "authOptions.mode is not \"token\"" => base,
        _ if spec.auth_options.is_none() && why.starts_with("RAY_AUTH_MODE") => {
            format!("{}: {why}", s.object())
        }
        _ => format!("{}: {}: {why}", s.object(), s.spec_path),
    };
    out.add(r, r.severity, evidence);
    let facts = &s.cfg.db.get().facts;
    let old = s.ray_version_parsed().is_some_and(|v| v < facts.token_auth.min);
    if let Some(v) = s.ray_version().filter(|_| old) {
        // Same rule and severity: appended to the evidence above (`; …`).
        out.add(
            r,
            r.severity,
            format!("Ray {v} must be upgraded to {} or later first", facts.token_auth.min_text),
        );
    }
}
