//! Turning entries into output: a readable table, the JSON of README: `raydar scan`, JSON, SARIF 2.1.0, and
//! the rule catalog. Pure: strings in, strings out.

mod advisories;
mod sarif;
mod table;

pub use advisories::{advisories_json, advisories_table};
pub use sarif::sarif;
pub use table::{rules_table, table, write_table};

use crate::inventory::ScanError;
use crate::manifest::Origin;
use crate::posture::{Entry, Grade, Severity, GRADE_TABLE, RULES};
use serde::Serialize;
use std::collections::HashMap;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The output formats of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The human report, with colour or without.
    Table {
        color: bool,
    },
    Json,
    Sarif,
}

/// `--color`: when the table report is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set (no-color.org: set and not empty) or
    /// `TERM=dumb`.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour, given whether stdout is a terminal and the environment (`env`).
    pub fn resolve(self, terminal: bool, env: impl Fn(&str) -> Option<String>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                terminal
                    && env("NO_COLOR").is_none_or(|v| v.is_empty())
                    && env("TERM").as_deref() != Some("dumb")
            }
        }
    }
}

/// The whole result of a scan (`scan -o json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub raydar_version: String,
    /// `context:NAME`, `files` or `demo`.
    pub source: String,
    pub clusters: Vec<Entry>,
    pub errors: Vec<ScanError>,
    /// How the scope was narrowed, when it was (e.g. to the kubeconfig context's namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// A scan of several contexts (`source: fleet`): one line per context, in the order asked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contexts: Vec<ContextSummary>,
}

/// How one context of a fleet scan went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContextSummary {
    pub name: String,
    /// The API server's URL (None: the context could not be read).
    pub server: Option<String>,
    /// Ray objects scanned.
    pub clusters: usize,
    /// The worst grade among them (None: none scanned).
    pub worst_grade: Option<Grade>,
    pub critical: usize,
    pub high: usize,
    /// Why the context could not be scanned at all (unreachable, unauthorized, timed out).
    pub error: Option<String>,
    /// Some namespaces or kinds could not be read (see `errors`).
    pub partial: bool,
    /// How the scope was narrowed (e.g. to the context's namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub seconds: f64,
    /// This context's own exit code (README: exit codes); the scan's is the worst of them.
    pub exit_code: i32,
}

impl Report {
    pub fn new(source: String, clusters: Vec<Entry>, errors: Vec<ScanError>) -> Self {
        Self {
            raydar_version: VERSION.into(),
            source,
            clusters,
            errors,
            scope: None,
            contexts: Vec::new(),
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Streams the JSON report (no intermediate String).
    pub fn write_json(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *w, self)?;
        writeln!(w)
    }

    pub fn count(&self, s: Severity) -> usize {
        self.clusters.iter().map(|c| c.count(s)).sum()
    }

    /// The exit code of README: exit codes: 1 for findings at or above `fail_on`, else 3 when
    /// results are partial, else 0.
    pub fn exit_code(&self, fail_on: Option<Severity>) -> i32 {
        let worst = self.clusters.iter().filter_map(Entry::worst).max();
        exit_code(worst, !self.errors.is_empty(), fail_on)
    }
}

/// README: exit codes: 1 when the worst finding is at or above `fail_on`, else 3 for partial
/// results, else 0.
pub fn exit_code(worst: Option<Severity>, partial: bool, fail_on: Option<Severity>) -> i32 {
    if fail_on.is_some_and(|f| worst.is_some_and(|w| w >= f)) {
        1
    } else if partial {
        3
    } else {
        0
    }
}

/// The worse of two exit codes: an error (2) over findings (1) over partial results (3) over
/// a clean scan (0).
pub fn worse_code(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        0 => 0,
        3 => 1,
        1 => 2,
        _ => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// Writes the JSON report entry by entry, byte for byte what [`Report::write_json`] writes,
/// so a scan never holds every entry in memory.
pub struct JsonStream<'w> {
    w: &'w mut dyn std::io::Write,
    entries: usize,
}

fn indented(w: &mut dyn std::io::Write, text: &str, pad: &str, first: bool) -> std::io::Result<()> {
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            w.write_all(b"\n")?;
        }
        if i > 0 || first {
            w.write_all(pad.as_bytes())?;
        }
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// One entry of the JSON report's `clusters`, as [`Report::write_json`] indents it.
pub fn entry_text(w: &mut dyn std::io::Write, e: &Entry) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(e).map_err(std::io::Error::other)?;
    indented(w, &text, "    ", true)
}

impl<'w> JsonStream<'w> {
    pub fn begin(w: &'w mut dyn std::io::Write, source: &str) -> std::io::Result<Self> {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        write!(
            w,
            "{{\n  \"raydar_version\": {},\n  \"source\": {},\n  \"clusters\": [",
            q(VERSION),
            q(source)
        )?;
        Ok(Self { w, entries: 0 })
    }

    pub fn entry(&mut self, e: &Entry) -> std::io::Result<()> {
        self.w.write_all(if self.entries == 0 { b"\n" } else { b",\n" })?;
        self.entries += 1;
        entry_text(self.w, e)
    }

    /// `n` entries rendered ahead by [`entry_text`], separated by `,\n`.
    pub fn rendered(&mut self, text: &[u8], n: usize) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.w.write_all(if self.entries == 0 { b"\n" } else { b",\n" })?;
        self.entries += n;
        self.w.write_all(text)
    }

    /// The errors, the scope note and a fleet's contexts, and the end of the document.
    pub fn finish(
        self,
        errors: &[ScanError],
        scope: Option<&str>,
        contexts: &[ContextSummary],
    ) -> std::io::Result<()> {
        self.w.write_all(if self.entries == 0 { b"],\n" } else { b"\n  ],\n" })?;
        self.w.write_all(b"  \"errors\": ")?;
        let text = serde_json::to_string_pretty(errors).map_err(std::io::Error::other)?;
        indented(self.w, &text, "  ", false)?;
        if let Some(s) = scope {
            let q = serde_json::to_string(s).map_err(std::io::Error::other)?;
            write!(self.w, ",\n  \"scope\": {q}")?;
        }
        if !contexts.is_empty() {
            self.w.write_all(b",\n  \"contexts\": ")?;
            let text = serde_json::to_string_pretty(contexts).map_err(std::io::Error::other)?;
            indented(self.w, &text, "  ", false)?;
        }
        self.w.write_all(b"\n}\n")
    }
}

/// Object origins for SARIF locations (manifest scans).
pub type Origins = HashMap<(String, String, String), Origin>;

pub fn rules_json() -> String {
    serde_json::to_string_pretty(&serde_json::json!({"grades": GRADE_TABLE, "rules": RULES}))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::ColorChoice;

    #[test]
    fn colour_follows_no_color_and_dumb_terminals() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert!(ColorChoice::Auto.resolve(true, env(&[("TERM", "xterm")])));
        assert!(!ColorChoice::Auto.resolve(false, env(&[])), "not a terminal");
        assert!(!ColorChoice::Auto.resolve(true, env(&[("NO_COLOR", "1")])));
        assert!(
            ColorChoice::Auto.resolve(true, env(&[("NO_COLOR", "")])),
            "empty NO_COLOR is unset"
        );
        assert!(!ColorChoice::Auto.resolve(true, env(&[("TERM", "dumb")])));
        assert!(ColorChoice::Always.resolve(false, env(&[("NO_COLOR", "1")])));
        assert!(!ColorChoice::Never.resolve(true, env(&[])));
    }
}
