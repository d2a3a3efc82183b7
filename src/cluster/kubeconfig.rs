//! The kubeconfig as kubectl reads it: `--kubeconfig FILE`, else every file of `$KUBECONFIG`
//! merged (the first file to name a cluster, user, context or current-context wins; kube-rs's
//! `Kubeconfig::merge`), else `~/.kube/config`. And exec credential plugins run the way a
//! fleet scan needs them: never interactively, killed after a deadline.

use super::{root_cause, ConnectError, ConnectSpec};
use kube::config::Kubeconfig;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Reads the kubeconfig `spec` names (or the one given whole).
pub fn load(spec: &ConnectSpec) -> Result<Kubeconfig, ConnectError> {
    match (&spec.inline, &spec.kubeconfig) {
        (Some(k), _) => Ok(k.clone()),
        (None, Some(p)) => Kubeconfig::read_from(p).map_err(|e| ConnectError::BadKubeconfig {
            path: p.display().to_string(),
            reason: root_cause(&e),
        }),
        (None, None) => {
            let env = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty());
            let default = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config"));
            match (&env, &default) {
                (None, Some(d)) if !d.exists() => {
                    return Err(ConnectError::NoKubeconfig(format!(
                        "KUBECONFIG is unset and {} does not exist",
                        d.display()
                    )))
                }
                (None, None) => {
                    return Err(ConnectError::NoKubeconfig("KUBECONFIG and HOME are unset".into()))
                }
                _ => {}
            }
            Kubeconfig::read().map_err(|e| ConnectError::BadKubeconfig {
                path: env
                    .map(|e| e.to_string_lossy().into_owned())
                    .or(default.map(|d| d.display().to_string()))
                    .unwrap_or_default(),
                reason: root_cause(&e),
            })
        }
    }
}

/// The user entry a context names, if the kubeconfig has both.
fn user_of<'k>(kc: &'k mut Kubeconfig, context: &str) -> Option<&'k mut kube::config::AuthInfo> {
    let user = kc.contexts.iter().find(|c| c.name == context)?.context.as_ref()?.user.clone()?;
    kc.auth_infos.iter_mut().find(|a| a.name == user)?.auth_info.as_mut()
}

/// Runs the exec credential plugin of `context`'s user, if it has one, non-interactively (no
/// terminal, `interactive: false`), and kills it if it has not answered `within`. With
/// `refresh`, the plugin stays in the kubeconfig for kube-rs to run again when the credential
/// expires (a TUI left open); without, the credential it printed takes its place (a scan).
/// Plugins that want a terminal or a browser fail here instead of waiting for a person.
pub async fn settle_exec(
    kc: &mut Kubeconfig,
    context: &str,
    within: Duration,
    refresh: bool,
) -> Result<(), String> {
    let Some(user) = user_of(kc, context) else { return Ok(()) };
    let Some(exec) = user.exec.as_mut() else { return Ok(()) };
    let Some(command) = exec.command.clone() else {
        return Err("the exec credential plugin names no command".into());
    };
    let mut cmd = tokio::process::Command::new(&command);
    cmd.args(exec.args.iter().flatten());
    for e in exec.env.iter().flatten() {
        if let (Some(n), Some(v)) = (e.get("name"), e.get("value")) {
            cmd.env(n, v);
        }
    }
    let api = exec.api_version.clone().unwrap_or("client.authentication.k8s.io/v1".into());
    let info = serde_json::json!({"apiVersion": api, "kind": "ExecCredential",
        "spec": {"interactive": false}});
    cmd.env("KUBERNETES_EXEC_INFO", info.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(|e| {
        let hint =
            exec.install_hint.as_deref().map(|h| format!(" ({})", h.trim())).unwrap_or_default();
        format!("exec credential plugin {command:?} could not start: {e}{hint}")
    })?;
    let out = match tokio::time::timeout(within, child.wait_with_output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(format!("exec credential plugin {command:?}: {e}")),
        Err(_) => {
            return Err(format!(
                "exec credential plugin {command:?} did not answer within {} s (it may want a terminal or a browser; log in with kubectl first)",
                within.as_secs()
            ))
        }
    };
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        return Err(format!(
            "exec credential plugin {command:?} failed ({}): {}",
            out.status,
            why.trim()
        ));
    }
    let status = serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v.get("status").cloned())
        .filter(Value::is_object)
        .ok_or_else(|| {
            format!("exec credential plugin {command:?} printed no ExecCredential status")
        })?;
    if refresh {
        // The plugin answers without a person: kube-rs may run it again, never interactively.
        exec.interactive_mode = Some(kube::config::ExecInteractiveMode::Never);
        return Ok(());
    }
    use base64::Engine;
    let b64 = |k: &str| {
        status
            .get(k)
            .and_then(Value::as_str)
            .map(|s| base64::engine::general_purpose::STANDARD.encode(s))
    };
    let mut auth = serde_json::Map::new();
    if let Some(t) = status.get("token").and_then(Value::as_str) {
        auth.insert("token".into(), t.into());
    }
    if let (Some(cert), Some(key)) = (b64("clientCertificateData"), b64("clientKeyData")) {
        auth.insert("client-certificate-data".into(), cert.into());
        auth.insert("client-key-data".into(), key.into());
    }
    if auth.is_empty() {
        return Err(format!(
            "exec credential plugin {command:?} returned neither a token nor a client certificate"
        ));
    }
    let got: kube::config::AuthInfo = serde_json::from_value(Value::Object(auth))
        .map_err(|e| format!("exec credential plugin {command:?}: {e}"))?;
    user.exec = None;
    user.token = got.token;
    user.client_certificate_data = got.client_certificate_data;
    user.client_key_data = got.client_key_data;
    Ok(())
}
