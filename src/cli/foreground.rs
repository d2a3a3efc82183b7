//! The commands that run in the foreground until Ctrl-C: `raydar forward` and
//! `raydar demo-server` (and `demo-server --print-manifests`).

use super::ForwardTarget;
use crate::demo::{DemoOptions, DemoServer, DemoUser};
use crate::options::{state_dir, Options};
use std::path::PathBuf;

pub(crate) async fn forward(
    opts: &Options,
    cluster: &str,
    target: ForwardTarget,
    port: Option<u16>,
    no_gate: bool,
    open: bool,
    wait: u64,
) -> anyhow::Result<i32> {
    use crate::forward::{self, ForwardSpec};
    let Some((ns, name)) =
        cluster.split_once('/').filter(|(n, c)| !n.is_empty() && !c.is_empty() && !c.contains('/'))
    else {
        eprintln!("raydar: forward takes NAMESPACE/CLUSTER, got {cluster:?}");
        return Ok(2);
    };
    let target = match target {
        ForwardTarget::Dashboard => forward::HeadPort::Dashboard,
        ForwardTarget::Client => forward::HeadPort::Client,
        ForwardTarget::Serve => forward::HeadPort::Serve,
    };
    let conn = match crate::cluster::connect(&opts.target).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("raydar: {e}");
            return Ok(2);
        }
    };
    let mut spec = ForwardSpec::new(ns, name, target);
    spec.local_port = port;
    spec.gate = !no_gate && target != forward::HeadPort::Client;
    spec.wait = std::time::Duration::from_secs(wait);
    let fwd = match forward::start(conn.client.clone(), spec).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("raydar: {e}");
            return Ok(2);
        }
    };
    let addr = fwd.local;
    let mode = if fwd.token.is_some() { "token-gated" } else { "raw TCP" };
    println!("forwarding {ns}/{name} {target:?} → {} ({mode}, loopback only)", fwd.url());
    if fwd.ray_token {
        println!("the cluster uses Ray token auth: raydar adds its token upstream");
    }
    match (&fwd.token, target) {
        (Some(t), _) => {
            println!("open:      {}   (sign-in link, good once)", fwd.login_url());
            println!("scripts:   curl -H 'X-Raydar-Token: {t}' {}/api/version", fwd.url());
            if target == forward::HeadPort::Dashboard {
                println!(
                    "jobs:      RAY_JOB_HEADERS='{{\"X-Raydar-Token\": \"{t}\"}}' ray job submit --address {} --working-dir . -- python my_script.py",
                    fwd.url()
                );
            }
        }
        (None, forward::HeadPort::Client) => println!("client:    ray.init(\"ray://{addr}\")"),
        (None, _) => println!("url:       {} (no gate: any local process can reach it)", fwd.url()),
    }
    if open {
        let url = fwd.login_url();
        let port = fwd.local.port();
        match tokio::task::spawn_blocking(move || forward::open_browser(&url).map_err(|e| (e, url)))
            .await
        {
            Ok(Ok(())) => println!("opened:    {} in the browser", fwd.url()),
            Ok(Err((why, url))) => println!("{}", forward::link_instructions(&why, &url, port)),
            Err(e) => println!("no browser opened ({e})"),
        }
    } else if let Some(ssh) = forward::ssh_tunnel_line(|k| std::env::var(k).ok(), fwd.local.port())
    {
        println!("over SSH:  run on your own machine: {ssh}");
    }
    let gated = fwd.token.is_some();
    let interactive = gated && std::io::IsTerminal::is_terminal(&std::io::stdin());
    if interactive {
        println!("Enter prints a new sign-in link; Ctrl-C stops it.");
    } else {
        println!("Ctrl-C stops it.");
    }
    // Each Enter mints a new one-time link (another browser, or after a restart).
    let links = async {
        if !interactive {
            return std::future::pending::<()>().await;
        }
        let mut lines =
            tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(tokio::io::stdin()));
        while let Ok(Some(_)) = lines.next_line().await {
            println!("open:      {}   (sign-in link, good once)", fwd.login_url());
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = wait_for_signal() => {}
        _ = links => {}
    }
    eprintln!("raydar: forward stopped · {}", fwd.stats.summary());
    drop(conn);
    Ok(0)
}

/// The demo data as multi-document YAML: `kubectl apply -f -` takes it (status, which a
/// real server ignores on create, is left in as the controllers would report it).
pub(crate) fn print_manifests() -> anyhow::Result<i32> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for m in crate::demo::manifests() {
        let yaml = serde_saphyr::to_string(&m)?;
        let written = writeln!(out, "---\n{}", yaml.trim_end());
        if let Err(e) = written {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(0);
            }
            return Err(e.into());
        }
    }
    Ok(0)
}

pub(crate) async fn demo_server(
    out: Option<PathBuf>,
    opts: DemoOptions,
    name: &str,
) -> anyhow::Result<i32> {
    let started = std::time::Instant::now();
    let backends = opts.backends.clone();
    let server = DemoServer::start(opts).await?;
    let path = out.unwrap_or_else(|| state_dir().join(format!("{name}.kubeconfig")));
    server.write_kubeconfig_named(&path, DemoUser::Admin, name)?;
    println!("raydar demo API server ready in {} ms", started.elapsed().as_millis());
    println!("server:     {}", server.url());
    println!("kubeconfig: {}", path.display());
    println!(
        "contexts:   {name} (admin, current), {name}-viewer (read-only), {name}-limited (limited to {} and {})",
        crate::demo::LIMITED_FULL_NS,
        crate::demo::LIMITED_READ_NS
    );
    for b in &backends {
        println!(
            "backend:    {}/{} dashboard → {} (a real process)",
            b.namespace, b.cluster, b.addr
        );
    }
    println!("try:        KUBECONFIG={} kubectl get rayclusters -A", path.display());
    println!("Ctrl-C stops it.");
    wait_for_signal().await;
    eprintln!("raydar demo API server stopped");
    Ok(0)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
