//! Guide §1.2: Ray token authentication (RAY-AUTH-001).

use super::{catalog::rule, Findings, Subject};

pub fn check(s: &Subject, out: &mut Findings) {
    let Some(spec) = s.spec else { return };
    if spec.auth_options.as_ref().and_then(|a| a.mode.as_deref()) == Some("token") {
        return;
    }
    let head_env_token = spec
        .head_group_spec
        .template
        .spec
        .containers
        .first()
        .and_then(|c| c.env_value("RAY_AUTH_MODE"))
        == Some("token");
    if head_env_token {
        return;
    }
    let r = rule!("RAY-AUTH-001");
    out.add(
        r,
        r.severity,
        format!(
            "{}: {}.authOptions.mode is not \"token\" and RAY_AUTH_MODE=token is not set",
            s.object(),
            s.spec_path
        ),
    );
    let old =
        s.ray_version_parsed().is_some_and(|v| v < super::images::RayVersion::release(2, 52, 0));
    if let Some(v) = s.ray_version().filter(|_| old) {
        // Same rule and severity: appended to the evidence above (`; …`).
        out.add(r, r.severity, format!("Ray {v} must be upgraded to 2.52 or later first"));
    }
}
