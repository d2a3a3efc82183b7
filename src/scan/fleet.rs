//! `raydar scan --all-contexts` (or `--context A --context B`): every context scanned at the
//! same time into one report (README: Fleet scans).
//!
//! Each context is scanned on a worker thread of its own, with its own runtime (at most
//! [`CONCURRENT`] at once), so that evaluation uses every core and one context's allocations
//! never fragment another's heap.
//! Each context gets `--context-timeout` for everything:
//! its exec plugin (run non-interactively and killed at the deadline), connecting, listing and
//! evaluating. A context that fails is one error line and exit code 2 for it; the others go on.

use crate::cluster::{self, Progress, ScanError};
use crate::options::Options;
use crate::posture::{self, Entry, Grade, Severity};
use crate::report::{exit_code, worse_code, ContextSummary, Report};
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
    tally: Tally,
    errors: Vec<ScanError>,
}

/// What a context's scan found: its server, entries, partial-result errors and scope note.
struct Found {
    server: String,
    tally: Tally,
    errors: Vec<ScanError>,
    scope: Option<String>,
}

/// A context's entries as they are evaluated: counted for its summary, and kept (table, SARIF)
/// or written straight away as JSON text (`-o json`), so that a fleet never holds every entry
/// and the writing is spread over the workers, as a single-context scan streams its own.
#[derive(Default)]
struct Tally {
    count: usize,
    worst_grade: Option<Grade>,
    worst: Option<Severity>,
    critical: usize,
    high: usize,
    entries: Vec<Entry>,
    /// With `-o json`: the entries' text, separated by `,\n` (see `JsonStream::rendered`).
    json: Option<Vec<u8>>,
}

impl Tally {
    fn new(json: bool) -> Self {
        Tally { json: json.then(Vec::new), ..Tally::default() }
    }

    fn add(&mut self, mut e: Entry, context: &str) -> std::io::Result<()> {
        e.context = Some(context.to_string());
        self.worst_grade = self.worst_grade.max(e.grade);
        self.worst = self.worst.max(e.worst());
        self.critical += e.count(Severity::Critical);
        self.high += e.count(Severity::High);
        match &mut self.json {
            Some(buf) => {
                if self.count > 0 {
                    buf.extend_from_slice(b",\n");
                }
                crate::report::entry_text(buf, &e)?;
            }
            None => self.entries.push(e),
        }
        self.count += 1;
        Ok(())
    }
}

/// Connects, lists and evaluates one context; `phase` says what it is doing.
async fn scan_context(
    opts: &Options,
    name: &str,
    json: bool,
    phase: &Cell<&'static str>,
) -> Result<Found, String> {
    let spec = opts.target.with_context(name);
    phase.set("while its exec credential plugin ran");
    let spec = cluster::settle_credentials(&spec, opts.context_timeout, false)
        .await
        .map_err(|e| e.to_string())?;
    phase.set("while listing");
    let conn = cluster::connect(&spec).await.map_err(|e| e.to_string())?;
    let mut tally = Tally::new(json);
    let mut failed: Option<std::io::Error> = None;
    let cfg = &opts.posture;
    let progress = Arc::new(Progress::default());
    let errors = cluster::for_each_namespace(&conn, &opts.scope, progress, &mut |inv| {
        for e in posture::evaluate(inv, cfg) {
            if let Err(err) = tally.add(e, name) {
                failed.get_or_insert(err);
            }
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    if let Some(e) = failed {
        return Err(format!("writing the report: {e}"));
    }
    Ok(Found { server: conn.server.clone(), tally, errors, scope: conn.scope_note.get().cloned() })
}

/// One context, start to end, on the calling thread's runtime.
async fn one(
    opts: &Options,
    index: usize,
    name: &str,
    json: bool,
    fail_on: Option<Severity>,
) -> Scanned {
    let started = Instant::now();
    let within = opts.context_timeout;
    let phase = Cell::new("");
    let r = match tokio::time::timeout(within, scan_context(opts, name, json, &phase)).await {
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
    let (mut tally, mut errors) = (Tally::default(), Vec::new());
    match r {
        Ok(found) => {
            summary.server = Some(found.server);
            summary.scope = found.scope;
            (tally, errors) = (found.tally, found.errors);
        }
        Err(why) => {
            // The connect errors name the context already; say it once.
            let why = if why.contains(name) { why } else { format!("context {name}: {why}") };
            summary.error = Some(why.clone());
            errors.push(ScanError { message: why, ..Default::default() });
        }
    }
    for e in &mut errors {
        e.context = Some(name.to_string());
    }
    summary.clusters = tally.count;
    summary.worst_grade = tally.worst_grade;
    summary.critical = tally.critical;
    summary.high = tally.high;
    summary.partial = summary.error.is_none() && !errors.is_empty();
    if summary.error.is_none() {
        summary.exit_code = exit_code(tally.worst, summary.partial, fail_on);
    }
    summary.seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    Scanned { index, summary, tally, errors }
}

/// A fleet scan's result: the report (entries and errors carry their context, `contexts` says
/// how each went), with the entries already written as JSON text when asked for JSON, and the
/// worst exit code over the contexts.
pub struct Fleet {
    pub report: Report,
    /// `-o json`: each context's entries as text, and how many (the report has none).
    rendered: Option<Vec<(Vec<u8>, usize)>>,
    pub code: i32,
}

impl Fleet {
    /// The JSON report, byte for byte what `Report::write_json` writes of the same report.
    pub fn write_json(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let r = &self.report;
        let mut json = crate::report::JsonStream::begin(w, &r.source)?;
        match &self.rendered {
            Some(parts) => {
                for (text, n) in parts {
                    json.rendered(text, *n)?;
                }
            }
            None => {
                for e in &r.clusters {
                    json.entry(e)?;
                }
            }
        }
        json.finish(&r.errors, r.scope.as_deref(), &r.contexts)
    }
}

/// Scans `contexts` concurrently into one report; with `json`, entries are written as text
/// as they are evaluated instead of kept.
pub async fn scan(
    opts: &Options,
    contexts: &[String],
    json: bool,
    fail_on: Option<Severity>,
) -> Fleet {
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
    // A thread per context (at most CONCURRENT at once): each context's many small
    // allocations stay in a malloc arena of their own, as in a process of its own; sharing
    // one arena between contexts cost a third more CPU (BENCHMARKS.md: Fleet).
    let threads = CONCURRENT.min(contexts.len()).max(1);
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
            while let Some((index, name)) = next() {
                let done = rt.block_on(one(&opts, index, &name, json, fail_on));
                if tx.send(done).is_err() {
                    break;
                }
            }
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
    let mut rendered = json.then(Vec::new);
    for s in done {
        code = worse_code(code, s.summary.exit_code);
        if let (Some(parts), Some(text)) = (rendered.as_mut(), s.tally.json) {
            parts.push((text, s.tally.count));
        }
        report.clusters.extend(s.tally.entries);
        report.errors.extend(s.errors);
        report.contexts.push(s.summary);
    }
    Fleet { report, rendered, code }
}
