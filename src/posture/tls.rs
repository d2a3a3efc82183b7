//! Guide §1.1: TLS between the Ray head and workers (RAY-TLS-001, RAY-TLS-002).

use super::{catalog::rule, Findings, Subject};

const CERT_ENV: [&str; 3] = ["RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT"];

pub fn check(s: &Subject, out: &mut Findings) {
    let Some(spec) = s.spec else { return };
    if spec.tls_options.as_ref().and_then(|t| t.enabled) == Some(true) {
        return;
    }
    // The Ray container is the first container of each group's template.
    let groups = s.templates().iter().map(|t| (&t.path, t.spec.containers.first()));
    let on = |c: &crate::model::Container| {
        matches!(c.env_value("RAY_USE_TLS"), Some("1" | "true" | "True"))
    };
    if !groups.clone().any(|(_, c)| c.is_some_and(on)) {
        out.add(
            rule!("RAY-TLS-001"),
            rule!("RAY-TLS-001").severity,
            format!(
                "{}: no RAY_USE_TLS=1 on any Ray container and no {}.tlsOptions.enabled",
                s.object(),
                s.spec_path
            ),
        );
        return;
    }
    for (path, c) in groups {
        let Some(c) = c else { continue };
        if !on(c) {
            out.add(rule!("RAY-TLS-002"), rule!("RAY-TLS-002").severity, format!("{} {path}.containers[0] ({}): RAY_USE_TLS is not set while other groups use TLS", s.object(), c.name));
        } else {
            let missing: Vec<&str> = CERT_ENV.iter().copied().filter(|k| !c.has_env(k)).collect();
            if !missing.is_empty() {
                out.add(
                    rule!("RAY-TLS-002"),
                    rule!("RAY-TLS-002").severity,
                    format!(
                        "{} {path}.containers[0] ({}): RAY_USE_TLS=1 without {}",
                        s.object(),
                        c.name,
                        missing.join(", ")
                    ),
                );
            }
        }
    }
}
