//! `raydar scan --all-contexts` (or `--context A --context B`): every context scanned at the
//! same time into one report (README: Fleet scans).
//!
//! A worker thread per core, each with its own runtime, runs its share of the contexts
//! concurrently, so that evaluation uses every core; at most [`CONCURRENT`] contexts at once.
//! Each context gets `--context-timeout` for everything:
//! its exec plugin (run non-interactively and killed at the deadline), connecting, listing and
//! evaluating. A context that fails is one error line and exit code 2 for it; the others go on.

use crate::cluster::{self, Progress, ScanError};
use crate::options::Options;
use crate::posture::{self, Entry, Severity};
use crate::report::{exit_code, worse_code, ContextSummary, Report};
use futures::StreamExt;
use std::cell::Cell;
use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;

/// Contexts scanned at once.
pub const CONCURRENT: usize = 16;

/// One context's result.
struct Scanned {
    index: usize,
    summary: ContextSummary,
    entries: Vec<Entry>,
    errors: Vec<ScanError>,
}

/// What a context's scan found: its server, entries, partial-result errors and scope note.
struct Found {
    server: String,
    entries: Vec<Entry>,
    errors: Vec<ScanError>,
    scope: Option<String>,
}

/// Connects, lists and evaluates one context; `phase` says what it is doing.
async fn scan_context(
    opts: &Options,
    name: &str,
    phase: &Cell<&'static str>,
) -> Result<Found, String> {
    let spec = opts.target.with_context(name);
    phase.set("while its exec credential plugin ran");
    let spec = cluster::settle_credentials(&spec, opts.context_timeout, false)
        .await
        .map_err(|e| e.to_string())?;
    phase.set("while listing");
    let conn = cluster::connect(&spec).await.map_err(|e| e.to_string())?;
    let mut entries = Vec::new();
    let cfg = &opts.posture;
    let progress = Arc::new(Progress::default());
    let errors = cluster::for_each_namespace(&conn, &opts.scope, progress, &mut |inv| {
        entries.extend(posture::evaluate(inv, cfg))
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(Found {
        server: conn.server.clone(),
        entries,
        errors,
        scope: conn.scope_note.get().cloned(),
    })
}

/// One context, start to end, on the calling thread's runtime.
async fn one(opts: &Options, index: usize, name: &str, fail_on: Option<Severity>) -> Scanned {
    let started = Instant::now();
    let within = opts.context_timeout;
    let phase = Cell::new("");
    let r = match tokio::time::timeout(within, scan_context(opts, name, &phase)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "context {name}: no answer within {} s (--context-timeout) {}",
            within.as_secs(),
            phase.get()
        )),
    };
    scanned(index, name, r, started, fail_on)
}

/// A context's result as the report has it.
fn scanned(
    index: usize,
    name: &str,
    r: Result<Found, String>,
    started: Instant,
    fail_on: Option<Severity>,
) -> Scanned {
    let mut summary = ContextSummary {
        name: name.to_string(),
        server: None,
        clusters: 0,
        worst_grade: None,
        critical: 0,
        high: 0,
        error: None,
        partial: false,
        scope: None,
        seconds: 0.0,
        exit_code: 2,
    };
    let (mut entries, mut errors) = (Vec::new(), Vec::new());
    match r {
        Ok(found) => {
            summary.server = Some(found.server);
            summary.scope = found.scope;
            (entries, errors) = (found.entries, found.errors);
        }
        Err(why) => {
            // The connect errors name the context already; say it once.
            let why = if why.contains(name) { why } else { format!("context {name}: {why}") };
            summary.error = Some(why.clone());
            errors.push(ScanError { message: why, ..Default::default() });
        }
    }
    for e in &mut entries {
        e.context = Some(name.to_string());
    }
    for e in &mut errors {
        e.context = Some(name.to_string());
    }
    summary.clusters = entries.len();
    summary.worst_grade = entries.iter().map(|e| e.grade).max_by_key(|g| grade_rank(g));
    summary.critical = entries.iter().map(|e| e.count(Severity::Critical)).sum();
    summary.high = entries.iter().map(|e| e.count(Severity::High)).sum();
    summary.partial = summary.error.is_none() && !errors.is_empty();
    if summary.error.is_none() {
        let worst = entries.iter().filter_map(Entry::worst).max();
        summary.exit_code = exit_code(worst, summary.partial, fail_on);
    }
    summary.seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    Scanned { index, summary, entries, errors }
}

/// A–F, worst last.
fn grade_rank(g: &str) -> u8 {
    match g {
        "A" => 0,
        "B" => 1,
        "C" => 2,
        "D" => 3,
        _ => 4,
    }
}

/// Scans `contexts` concurrently into one report (entries and errors carry their context,
/// `contexts` says how each went) and the worst exit code over them.
pub async fn scan(opts: &Options, contexts: &[String], fail_on: Option<Severity>) -> (Report, i32) {
    let queue: Arc<Mutex<VecDeque<(usize, String)>>> =
        Arc::new(Mutex::new(contexts.iter().cloned().enumerate().collect()));
    let (tx, mut rx) = mpsc::unbounded_channel::<Scanned>();
    let mut opts = opts.clone();
    // The kubeconfig files are read once, not once per context; when they cannot be read,
    // each context says why.
    if let Ok(loaded) = opts.target.loaded() {
        opts.target = loaded;
    }
    let opts = Arc::new(opts);
    // One thread per core, each running its share of the contexts concurrently.
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let threads = cores.min(contexts.len()).max(1);
    let per_thread = CONCURRENT.div_ceil(threads);
    for _ in 0..threads {
        let (queue, tx, opts) = (queue.clone(), tx.clone(), opts.clone());
        std::thread::spawn(move || {
            let next = || queue.lock().ok().and_then(|mut q| q.pop_front());
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    while let Some((index, name)) = next() {
                        let why = Err(e.to_string());
                        let _ = tx.send(scanned(index, &name, why, Instant::now(), fail_on));
                    }
                    return;
                }
            };
            rt.block_on(async {
                let mut running = futures::stream::FuturesUnordered::new();
                loop {
                    while running.len() < per_thread {
                        let Some((index, name)) = next() else { break };
                        let opts = &opts;
                        running.push(async move { one(opts, index, &name, fail_on).await });
                    }
                    let Some(done) = running.next().await else { break };
                    if tx.send(done).is_err() {
                        break;
                    }
                }
            });
        });
    }
    drop(tx);
    let tty = std::io::stderr().is_terminal();
    let mut done: Vec<Scanned> = Vec::with_capacity(contexts.len());
    while let Some(s) = rx.recv().await {
        done.push(s);
        if tty {
            eprint!("\r\x1b[2Kraydar: {}/{} contexts scanned", done.len(), contexts.len());
        }
    }
    if tty {
        eprint!("\r\x1b[2K");
    }
    done.sort_by_key(|s| s.index);
    let mut code = 0;
    let mut report = Report::new("fleet".into(), Vec::new(), Vec::new());
    for s in done {
        code = worse_code(code, s.summary.exit_code);
        report.clusters.extend(s.entries);
        report.errors.extend(s.errors);
        report.contexts.push(s.summary);
    }
    (report, code)
}
