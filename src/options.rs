//! What a command runs with, as plain data: the command line builds it from the flags, the
//! config file and the environment; nothing below the command line sees a clap type.

use crate::cluster::{ConnectSpec, Scope};
use crate::posture::PostureConfig;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Options {
    /// Where to connect.
    pub target: ConnectSpec,
    /// Which namespaces.
    pub scope: Scope,
    /// Never write to the cluster.
    pub read_only: bool,
    /// The colour theme asked for (else dark).
    pub theme: Option<String>,
    /// The posture rules' settings (the config file's, or the demo's defaults).
    pub posture: PostureConfig,
    /// Where the journal, exports and the log live.
    pub state_dir: PathBuf,
    /// The contexts of a fleet scan or TUI (`--all-contexts`, several `--context`); empty:
    /// the one `target` names.
    pub contexts: Vec<String>,
    /// How long one context of a fleet may take (exec plugin, connect, list, evaluate).
    pub context_timeout: std::time::Duration,
}

/// `--context-timeout`'s default.
pub const DEFAULT_CONTEXT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Options {
    /// `target`, every namespace, the default settings and state directory.
    pub fn new(target: ConnectSpec) -> Self {
        Self {
            target,
            scope: Scope::All,
            read_only: false,
            theme: None,
            posture: PostureConfig::default(),
            state_dir: state_dir(),
            contexts: Vec::new(),
            context_timeout: DEFAULT_CONTEXT_TIMEOUT,
        }
    }

    pub fn journal_path(&self) -> PathBuf {
        self.state_dir.join("journal.jsonl")
    }
}

/// The state directory (`$XDG_STATE_HOME/raydar`, else `~/.local/state/raydar`).
pub fn state_dir() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("raydar")
}
