//! `raydar scan`: gather (a live cluster or manifests), evaluate, report, and the exit code
//! (README: `raydar scan`); several contexts at once in [`fleet`].

pub mod fleet;

use crate::cluster::{self, Progress};
use crate::manifest::ManifestSet;
use crate::options::Options;
use crate::posture::{self, Severity};
use crate::report::{self, Format, Origins, Report};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

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
pub async fn gather(opts: &Options, files: &[PathBuf]) -> Result<(Report, Origins), String> {
    let cfg = &opts.posture;
    if !files.is_empty() {
        let set = ManifestSet::load(files)?;
        let entries = posture::evaluate(&set.inventory, cfg);
        return Ok((Report::new("files".into(), entries, set.errors), set.origins));
    }
    let conn = cluster::connect(&opts.target).await.map_err(|e| e.to_string())?;
    let mut entries = Vec::new();
    let errors =
        list_live(opts, &conn, &mut |inv| entries.extend(posture::evaluate(inv, cfg))).await?;
    let mut report = Report::new(conn.source(), entries, errors);
    report.scope = conn.scope_note.get().cloned();
    Ok((report, Origins::new()))
}

/// Lists the live cluster namespace by namespace (with a progress line on a terminal) and
/// hands each namespace's inventory to `each`.
async fn list_live(
    opts: &Options,
    conn: &cluster::Connection,
    each: &mut dyn FnMut(&crate::inventory::Inventory),
) -> Result<Vec<cluster::ScanError>, String> {
    let progress = Arc::new(Progress::default());
    let ticker = progress_ticker(progress.clone());
    let listed = cluster::for_each_namespace(conn, &opts.scope, progress, each).await;
    if let Some(t) = ticker {
        t.abort();
        eprint!("\r\x1b[2K");
    }
    listed.map_err(|e| e.to_string())
}

/// `scan -o json` of a live cluster: entries are written as each namespace is evaluated, so
/// memory stays at one namespace however large the cluster. Returns the exit code.
pub async fn stream_json(
    opts: &Options,
    out: &mut dyn Write,
    fail_on: Option<Severity>,
) -> Result<i32, String> {
    let cfg = &opts.posture;
    let conn = cluster::connect(&opts.target).await.map_err(|e| e.to_string())?;
    let mut json = report::JsonStream::begin(out, &conn.source()).map_err(|e| e.to_string())?;
    let mut worst: Option<Severity> = None;
    let mut failed: Option<std::io::Error> = None;
    let errors = list_live(opts, &conn, &mut |inv| {
        for e in posture::evaluate(inv, cfg) {
            worst = worst.max(e.worst());
            if failed.is_none() {
                if let Err(err) = json.entry(&e) {
                    failed = Some(err);
                }
            }
        }
    })
    .await?;
    let written = match failed {
        Some(e) => Err(e),
        None => json.finish(&errors, conn.scope_note.get().map(String::as_str), &[]),
    };
    let code = report::exit_code(worst, !errors.is_empty(), fail_on);
    match written {
        // A closed pipe (`| head`) is not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(code),
        Err(e) => Err(format!("writing the report: {e}")),
        Ok(()) => Ok(code),
    }
}

pub async fn run(
    opts: &Options,
    files: &[PathBuf],
    format: Format,
    fail_on: Option<Severity>,
) -> i32 {
    if files.is_empty() && !opts.contexts.is_empty() {
        let fleet = fleet::scan(opts, &opts.contexts, format == Format::Json, fail_on).await;
        let written = match format {
            Format::Json => {
                let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
                match fleet.write_json(&mut out).and_then(|()| out.flush()) {
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                    r => r,
                }
            }
            _ => write(&fleet.report, &Origins::new(), format),
        };
        return match written {
            Ok(()) => fleet.code,
            Err(e) => {
                eprintln!("raydar: writing the report: {e}");
                2
            }
        };
    }
    if files.is_empty() && format == Format::Json {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        let r = stream_json(opts, &mut out, fail_on).await;
        let flushed = out.flush();
        return match (r, flushed) {
            (Ok(code), Ok(())) => code,
            (Err(e), _) => {
                eprintln!("raydar: {e}");
                2
            }
            (Ok(_), Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
            (Ok(_), Err(e)) => {
                eprintln!("raydar: writing the report: {e}");
                2
            }
        };
    }
    let (report, origins) = match gather(opts, files).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("raydar: {e}");
            return 2;
        }
    };
    if let Err(e) = write(&report, &origins, format) {
        eprintln!("raydar: writing the report: {e}");
        return 2;
    }
    report.exit_code(fail_on)
}

/// Writes the report to stdout in `format`; a closed pipe (`| head`) is not an error.
fn write(report: &Report, origins: &Origins, format: Format) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = match format {
        Format::Json => report.write_json(&mut out),
        Format::Sarif => writeln!(out, "{}", report::sarif(report, origins)),
        Format::Table { color } => report::write_table(&mut out, report, color),
    };
    match written.and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}
