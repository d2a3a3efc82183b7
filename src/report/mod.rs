//! Turning entries into output: a readable table, the JSON of DESIGN.md §3, SARIF 2.1.0, and
//! the rule catalog. Pure: strings in, strings out.

mod sarif;
mod table;

pub use sarif::sarif;
pub use table::{rules_table, table, write_table};

use crate::cluster::ScanError;
use crate::manifest::Origin;
use crate::posture::{Entry, Severity, GRADE_FORMULA, RULES};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The whole result of a scan (`scan -o json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub raydar_version: String,
    /// `context:NAME`, `files` or `demo`.
    pub source: String,
    pub clusters: Vec<Entry>,
    pub errors: Vec<ScanError>,
}

impl Report {
    pub fn new(source: String, clusters: Vec<Entry>, errors: Vec<ScanError>) -> Self {
        Self { raydar_version: VERSION.into(), source, clusters, errors }
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

    /// The exit code of DESIGN.md §1: 1 for findings at or above `fail_on`, else 3 when
    /// results are partial, else 0.
    pub fn exit_code(&self, fail_on: Option<Severity>) -> i32 {
        let tripped = fail_on.is_some_and(|f| {
            self.clusters.iter().flat_map(|c| &c.findings).any(|x| x.severity >= f)
        });
        if tripped {
            1
        } else if !self.errors.is_empty() {
            3
        } else {
            0
        }
    }
}

/// Object origins for SARIF locations (manifest scans).
pub type Origins = HashMap<(String, String, String), Origin>;

pub fn rules_json() -> String {
    serde_json::to_string_pretty(
        &serde_json::json!({"grade_formula": GRADE_FORMULA, "rules": RULES}),
    )
    .unwrap_or_default()
}
