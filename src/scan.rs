//! `raydar scan`: gather (a live cluster, the demo, or manifests), evaluate, report, and the
//! exit code of DESIGN.md §1.

use crate::cli::{Global, Output};
use crate::cluster::{self, Progress, Scope};
use crate::config::Config;
use crate::manifest::ManifestSet;
use crate::posture::{self, PostureConfig, Severity};
use crate::report::{self, Origins, Report};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub fn scope(g: &Global) -> Scope {
    if g.namespaces.is_empty() || g.all_namespaces {
        Scope::All
    } else {
        Scope::Namespaces(g.namespaces.clone())
    }
}

/// Shows what the lists have done, on stderr, while stderr is a terminal.
fn progress_ticker(p: Arc<Progress>) -> Option<tokio::task::JoinHandle<()>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            eprint!(
                "\r\x1b[2Kraydar: listing… {}/{} lists done, {} objects seen",
                p.lists_done.load(Ordering::Relaxed),
                p.lists_total.load(Ordering::Relaxed),
                p.objects.load(Ordering::Relaxed)
            );
            let _ = std::io::stderr().flush();
        }
    }))
}

/// Gathers and evaluates: the report plus the origins of manifest objects.
pub async fn gather(
    g: &Global,
    files: &[PathBuf],
    cfg: &PostureConfig,
) -> Result<(Report, Origins), String> {
    if !files.is_empty() {
        let set = ManifestSet::load(files)?;
        let entries = posture::evaluate(&set.inventory, cfg);
        return Ok((Report::new("files".into(), entries, set.errors), set.origins));
    }
    let conn = if g.demo {
        cluster::connect_demo().await
    } else {
        cluster::connect(g.kubeconfig.as_ref(), g.context.as_deref()).await
    }
    .map_err(|e| e.to_string())?;
    let progress = Arc::new(Progress::default());
    let ticker = progress_ticker(progress.clone());
    let listed = cluster::list_inventory(&conn, &scope(g), progress).await;
    if let Some(t) = ticker {
        t.abort();
        eprint!("\r\x1b[2K");
    }
    let (inv, errors) = listed.map_err(|e| e.to_string())?;
    let entries = posture::evaluate(&inv, cfg);
    Ok((Report::new(conn.source(), entries, errors), Origins::new()))
}

pub fn posture_config(g: &Global) -> Result<PostureConfig, String> {
    let mut cfg = Config::load()?.posture;
    if g.demo && cfg.trusted_registries.is_empty() && cfg.allowed_host_paths.is_empty() {
        cfg = PostureConfig::demo();
    }
    Ok(cfg)
}

pub async fn run(g: &Global, files: &[PathBuf], output: Output, fail_on: Option<Severity>) -> i32 {
    let cfg = match posture_config(g) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("raydar: {e}");
            return 2;
        }
    };
    let (report, origins) = match gather(g, files, &cfg).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("raydar: {e}");
            return 2;
        }
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = match output {
        Output::Json => report.write_json(&mut out),
        Output::Sarif => writeln!(out, "{}", report::sarif(&report, &origins)),
        Output::Table => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            report::write_table(&mut out, &report, color)
        }
    };
    // A closed pipe (`| head`) is not an error worth a message.
    if let Err(e) = written.and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("raydar: writing the report: {e}");
            return 2;
        }
    }
    report.exit_code(fail_on)
}
