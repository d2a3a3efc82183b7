//! `raydar fix`, `raydar undo` and `raydar history`: the CLI faces of `remediate`.
//! Exit codes: 0 applied (or nothing to do, or a dry run), 1 declined at the prompt,
//! 2 usage, connection, permission or API error (one line on stderr).

use crate::cluster::Connection;
use crate::options::Options;
use crate::remediate::journal::{self, Journal};
use crate::remediate::session::{self, Prepared};
use crate::remediate::FixId;
use std::io::{IsTerminal, Write};

/// How often a conflict (the cluster changed under the preview) re-plans before giving up.
const MAX_REPLANS: usize = 3;

/// What `fix` and `undo` both need: not read-only, a connection, the journal.
async fn writer(opts: &Options, what: &str) -> Result<(Connection, Journal), i32> {
    if opts.read_only {
        eprintln!("raydar: --read-only is set and `raydar {what}` writes to the cluster; refusing");
        return Err(2);
    }
    let conn = crate::cluster::connect(&opts.target).await.map_err(|e| {
        eprintln!("raydar: {e}");
        2
    })?;
    Ok((conn, Journal::new(opts.journal_path())))
}

struct Colors {
    on: bool,
}

impl Colors {
    fn paint(&self, line: &str) -> String {
        if !self.on {
            return line.to_string();
        }
        let code = match line.chars().next() {
            Some('+') if !line.starts_with("+ create") => "32",
            Some('-') if !line.starts_with("- delete") => "31",
            Some('@') => "36",
            Some('~' | '+' | '-') => "1",
            _ => return line.to_string(),
        };
        format!("\x1b[{code}m{line}\x1b[0m")
    }
}

fn print_preview(p: &Prepared, context: &str) {
    let colors =
        Colors { on: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() };
    let mut out = std::io::stdout().lock();
    let _ =
        writeln!(out, "{} (context {context}): {} write(s)", p.plan.title(), p.plan.changes.len());
    let _ = writeln!(out);
    for line in p.plan.diff().lines() {
        let _ = writeln!(out, "{}", colors.paint(line));
    }
    if !p.plan.warnings.is_empty() {
        let _ = writeln!(out, "warnings:");
        for w in &p.plan.warnings {
            let _ = writeln!(out, "  ! {w}");
        }
    }
    for (l, _) in p.answer_lines() {
        let _ = writeln!(out, "{l}");
    }
}

/// Asks on the terminal; `strong` wants the cluster's name typed, not just y.
async fn confirm(question: String, strong: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let mut err = std::io::stderr();
        match &strong {
            Some(name) => {
                let _ = write!(err, "{question} Type the name {name:?} to confirm: ");
            }
            None => {
                let _ = write!(err, "{question} [y/N] ");
            }
        }
        let _ = err.flush();
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).is_err() {
            return false;
        }
        let line = line.trim();
        match &strong {
            Some(name) => line == name,
            None => matches!(line, "y" | "Y" | "yes" | "YES" | "Yes"),
        }
    })
    .await
    .unwrap_or(false)
}

/// Shows the preview, asks, writes. Shared by fix and undo.
async fn confirm_and_commit(
    conn: &Connection,
    p: &Prepared,
    dry_run_only: bool,
    yes: bool,
    journal: &Journal,
) -> Result<i32, bool> {
    print_preview(p, &conn.context);
    if let Err(e) = &p.access {
        eprintln!("raydar: {e}");
        return Ok(2);
    }
    if let Err(e) = &p.dry_run {
        if e.is_conflict() {
            eprintln!("raydar: {e}; planning again against the current state");
            return Err(true);
        }
        eprintln!("raydar: {e}");
        return Ok(2);
    }
    if dry_run_only {
        println!("dry run only: nothing was written");
        return Ok(0);
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            eprintln!("raydar: refusing to write without a confirmation: stdin is not a terminal (pass --yes to apply the preview above)");
            return Ok(2);
        }
        let strong = p.plan.strong.then(|| p.plan.entry.clone());
        let q =
            format!("Apply these {} write(s) to context {}?", p.plan.changes.len(), conn.context);
        if !confirm(q, strong).await {
            eprintln!("raydar: not confirmed; nothing was written");
            return Ok(1);
        }
    }
    match session::commit(&conn.client, &p.plan, journal, &conn.context, &conn.server).await {
        Ok(entry) => {
            match &p.plan.undoes {
                Some(id) => println!(
                    "reverted change {id} ({}); recorded as {}",
                    p.plan.summary().join(", "),
                    entry.id
                ),
                None => println!(
                    "applied change {} ({}); undo with `raydar undo {}`",
                    entry.id,
                    p.plan.summary().join(", "),
                    entry.id
                ),
            }
            Ok(0)
        }
        Err(e) if e.is_conflict() => {
            eprintln!("raydar: {e}; planning again against the current state");
            Err(true)
        }
        Err(e) => {
            eprintln!("raydar: {e}");
            Ok(2)
        }
    }
}

/// Plans, previews, asks and writes, through [`confirm_and_commit`]; plans again (up to
/// `MAX_REPLANS` times) when the objects changed under the preview. `nothing` is printed for
/// an empty plan; `what` names the objects when they never hold still.
async fn plan_and_commit<F, Fut>(
    conn: &Connection,
    journal: &Journal,
    (dry_run, yes): (bool, bool),
    (nothing, what): (&str, &str),
    mut prepare: F,
) -> i32
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Prepared, String>>,
{
    for _ in 0..MAX_REPLANS {
        let p = match prepare().await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("raydar: {e}");
                return 2;
            }
        };
        if p.plan.is_empty() {
            println!("{nothing}");
            return 0;
        }
        match confirm_and_commit(conn, &p, dry_run, yes, journal).await {
            Ok(code) => return code,
            Err(_) => continue,
        }
    }
    eprintln!("raydar: {what} kept changing under the preview ({MAX_REPLANS} tries); nothing was overwritten");
    2
}

/// `raydar fix NAMESPACE/CLUSTER --fix ID [--dry-run] [--yes]`.
pub async fn fix(opts: &Options, target: &str, fix: &str, dry_run: bool, yes: bool) -> i32 {
    let Some((ns, name)) =
        target.split_once('/').filter(|(n, c)| !n.is_empty() && !c.is_empty() && !c.contains('/'))
    else {
        eprintln!("raydar: fix takes NAMESPACE/CLUSTER, got {target:?}");
        return 2;
    };
    let Some(fix) = FixId::parse(fix) else {
        eprintln!("raydar: unknown fix id {fix:?} (one of: {})", FixId::list());
        return 2;
    };
    let (conn, journal) = match writer(opts, "fix").await {
        Ok(w) => w,
        Err(code) => return code,
    };
    let client = &conn.client;
    let nothing = format!("nothing to change: {fix} has nothing left to do on {ns}/{name}");
    let prepare = move || async move {
        session::prepare_fix(client, ns, name, fix).await.map_err(|e| e.to_string())
    };
    plan_and_commit(&conn, &journal, (dry_run, yes), (&nothing, target), prepare).await
}

/// `raydar guard apply [--dry-run] [--yes]`: the admission policies through the fixes' flow.
pub async fn guard_apply(
    opts: &Options,
    guard: &crate::guard::GuardOptions,
    dry_run: bool,
    yes: bool,
) -> i32 {
    let (conn, journal) = match writer(opts, "guard apply").await {
        Ok(w) => w,
        Err(code) => return code,
    };
    let client = &conn.client;
    let prepare = move || async move {
        crate::guard::prepare(client, guard).await.map_err(|e| e.to_string())
    };
    let nothing = "nothing to change: the guard is installed as planned";
    plan_and_commit(&conn, &journal, (dry_run, yes), (nothing, "the policies"), prepare).await
}

/// `raydar guard remove [--yes]`: deletes raydar's policies through the fixes' flow.
pub async fn guard_remove(opts: &Options, dry_run: bool, yes: bool) -> i32 {
    let (conn, journal) = match writer(opts, "guard remove").await {
        Ok(w) => w,
        Err(code) => return code,
    };
    let client = &conn.client;
    let prepare = move || async move {
        crate::guard::prepare_remove(client).await.map_err(|e| e.to_string())
    };
    let nothing = "nothing to remove: no raydar guard is installed";
    plan_and_commit(&conn, &journal, (dry_run, yes), (nothing, "the policies"), prepare).await
}

/// `raydar guard status`: what raydar's guard checks, in which mode, where.
pub async fn guard_status(opts: &Options) -> i32 {
    let conn = match crate::cluster::connect(&opts.target).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("raydar: {e}");
            return 2;
        }
    };
    match crate::guard::installed(&conn.client).await {
        Ok(objects) if objects.is_empty() => {
            println!("guard: off (no raydar admission policy on {})", conn.context);
            0
        }
        Ok(objects) => {
            println!("{:<12} {:<5} {:<24} RULES", "KIND", "MODE", "NAMESPACES");
            for l in crate::guard::status_lines(&objects) {
                println!("{l}");
            }
            0
        }
        Err(e) => {
            eprintln!("raydar: {e}");
            2
        }
    }
}

/// `raydar undo [ID] [--yes]`.
pub async fn undo(opts: &Options, id: Option<&str>, yes: bool) -> i32 {
    let (conn, journal) = match writer(opts, "undo").await {
        Ok(w) => w,
        Err(code) => return code,
    };
    let (client, server, journal_ref) = (&conn.client, conn.server.as_str(), &journal);
    let prepare = move || async move {
        let (entry, p) = session::prepare_undo(client, journal_ref, server, id)
            .await
            .map_err(|e| e.to_string())?;
        println!("undo {} made {} ({})", entry.id, entry.time, entry.what());
        Ok(p)
    };
    plan_and_commit(&conn, &journal, (false, yes), ("nothing to undo", "the objects"), prepare)
        .await
}

/// `raydar history`: the journal at `path`, newest last.
pub fn history(path: &std::path::Path) -> i32 {
    let journal = Journal::new(path.to_path_buf());
    let (entries, bad) = match journal.load() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("raydar: {e}");
            return 2;
        }
    };
    if entries.is_empty() {
        println!("no changes recorded yet ({})", journal.path().display());
    } else {
        println!("{:<22} {:<20} {:<20} {:<48} STATE", "ID", "TIME", "CONTEXT", "CHANGE");
        for e in &entries {
            let state = match (&e.undoes, journal::undone_by(&entries, &e.id)) {
                (Some(_), _) => "undo".to_string(),
                (None, Some(by)) => format!("undone by {}", by.id),
                (None, None) => "applied".to_string(),
            };
            println!("{:<22} {:<20} {:<20} {:<48} {state}", e.id, e.time, e.context, e.what());
            for c in &e.changes {
                println!("{:<22}   {} {}", "", c.op.verb(), c.target);
            }
        }
    }
    if bad > 0 {
        eprintln!("raydar: {bad} unreadable line(s) in {} were skipped", journal.path().display());
    }
    0
}
