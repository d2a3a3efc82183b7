//! Everything that talks to a live cluster: connecting through a kubeconfig (or the embedded
//! demo), and listing the inventory the rules read. Rules never see a `Client`.

mod kubeconfig;
mod list;
mod stream;
pub mod watch;

pub use list::{context_namespace_note, list_inventory, Progress, Scope};
pub use stream::for_each_namespace;

pub use crate::inventory::ScanError;

use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::PathBuf;

/// Where to connect: a kubeconfig — a file (else `$KUBECONFIG`, else `~/.kube/config`) or one
/// given whole — and a context in it (else its current one).
#[derive(Debug, Clone, Default)]
pub struct ConnectSpec {
    pub kubeconfig: Option<PathBuf>,
    /// A kubeconfig given whole (the embedded demo server's); wins over `kubeconfig`.
    pub inline: Option<Kubeconfig>,
    pub context: Option<String>,
    /// How reports name this source instead of `context:NAME` (`demo`).
    pub label: Option<String>,
}

impl ConnectSpec {
    /// The kubeconfig file at `path`, its current context.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self { kubeconfig: Some(path.into()), ..Self::default() }
    }

    /// The same kubeconfig, another context.
    pub fn with_context(&self, context: &str) -> Self {
        Self { context: Some(context.to_string()), ..self.clone() }
    }

    /// The names of the kubeconfig's contexts (empty when it cannot be read).
    pub fn contexts(&self) -> Vec<String> {
        self.all_contexts().unwrap_or_default()
    }

    /// The same target with its kubeconfig read once (files merged), for connecting to many
    /// of its contexts without reading the files again each time.
    pub fn loaded(&self) -> Result<Self, ConnectError> {
        Ok(Self { inline: Some(kubeconfig::load(self)?), ..self.clone() })
    }

    /// The names of the kubeconfig's contexts, in its order (merged as kubectl merges).
    pub fn all_contexts(&self) -> Result<Vec<String>, ConnectError> {
        Ok(kubeconfig::load(self)?.contexts.into_iter().map(|c| c.name).collect())
    }
}

/// Errors that end a command with exit code 2 and one line.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no kubeconfig found ({0}); pass --kubeconfig PATH, set KUBECONFIG, or try --demo")]
    NoKubeconfig(String),
    #[error("cannot read kubeconfig {path}: {reason}")]
    BadKubeconfig { path: String, reason: String },
    #[error("context {0:?} is not in the kubeconfig (contexts: {1})")]
    UnknownContext(String, String),
    #[error("kubeconfig context {context}: {reason}")]
    BadContext { context: String, reason: String },
    #[error("cannot reach the Kubernetes API at {server} (context {context}): {reason}")]
    Unreachable { server: String, context: String, reason: String },
    #[error("the API server at {server} refused the credentials of context {context} (401 Unauthorized: expired or revoked); log in again, e.g. with kubectl")]
    Unauthorized { server: String, context: String },
    #[error("the KubeRay CRDs (ray.io/v1 rayclusters) are not installed on {server} (context {context}); install the KubeRay operator first")]
    NoKubeRay { server: String, context: String },
}

/// A client and what to call it in messages.
pub struct Connection {
    pub client: kube::Client,
    pub context: String,
    pub server: String,
    /// The namespace the kubeconfig context names, if it names one: where a user who may not
    /// list cluster-wide is scanned when no `-n` is given, as kubectl would.
    pub namespace: Option<String>,
    /// How the scope was narrowed while listing (e.g. to the context's namespace), for the
    /// report header; set at most once.
    pub scope_note: std::sync::OnceLock<String>,
    /// How reports name this source instead of `context:NAME`.
    pub label: Option<String>,
}

impl Connection {
    /// A connection to `server` through `client`, called `context` in messages.
    pub fn new(client: kube::Client, context: &str, server: &str) -> Self {
        Self {
            client,
            context: context.into(),
            server: server.into(),
            namespace: None,
            scope_note: Default::default(),
            label: None,
        }
    }

    /// `context:NAME` (or the target's label, `demo`), as reports name their source.
    pub fn source(&self) -> String {
        self.label.clone().unwrap_or_else(|| format!("context:{}", self.context))
    }
}

/// `target` with its kubeconfig read, and its context's exec credential plugin (if any) run
/// non-interactively and killed after `within` (see [`kubeconfig::settle_exec`]): how a fleet
/// connects, where a plugin that wants a person must not hold up every other context.
pub async fn settle_credentials(
    target: &ConnectSpec,
    within: std::time::Duration,
    refresh: bool,
) -> Result<ConnectSpec, ConnectError> {
    let mut kc = kubeconfig::load(target)?;
    let context = target.context.clone().or_else(|| kc.current_context.clone()).unwrap_or_default();
    kubeconfig::settle_exec(&mut kc, &context, within, refresh)
        .await
        .map_err(|reason| ConnectError::BadContext { context, reason })?;
    Ok(ConnectSpec { inline: Some(kc), ..target.clone() })
}

/// Connects to `target`. Nothing is sent yet.
pub async fn connect(target: &ConnectSpec) -> Result<Connection, ConnectError> {
    let context = target.context.as_deref();
    let kc = kubeconfig::load(target)?;
    let ctx_name =
        context.map(str::to_string).or_else(|| kc.current_context.clone()).unwrap_or_default();
    if !kc.contexts.iter().any(|c| c.name == ctx_name) {
        let names: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        if ctx_name.is_empty() {
            return Err(ConnectError::BadContext {
                context: "(none)".into(),
                reason: format!(
                    "the kubeconfig has no current-context; pass --context (contexts: {})",
                    names.join(", ")
                ),
            });
        }
        return Err(ConnectError::UnknownContext(ctx_name, names.join(", ")));
    }
    let namespace = kc
        .contexts
        .iter()
        .find(|c| c.name == ctx_name)
        .and_then(|c| c.context.as_ref()?.namespace.clone())
        .filter(|n| !n.is_empty());
    let opts = KubeConfigOptions { context: Some(ctx_name.clone()), ..Default::default() };
    let config = kube::Config::from_custom_kubeconfig(kc, &opts).await.map_err(|e| {
        ConnectError::BadContext { context: ctx_name.clone(), reason: root_cause(&e) }
    })?;
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let client = kube::Client::try_from(config).map_err(|e| ConnectError::BadContext {
        context: ctx_name.clone(),
        reason: root_cause(&e),
    })?;
    Ok(Connection {
        client,
        context: ctx_name,
        server,
        namespace,
        scope_note: Default::default(),
        label: target.label.clone(),
    })
}

/// The innermost message of an error chain (the useful part of kube's nested errors).
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    let mut msg = e.to_string();
    while let Some(next) = cur.source() {
        cur = next;
        msg = next.to_string();
    }
    msg
}
