//! The command line (README: every command): clap definitions, the options they make, and
//! dispatch to the library. `--demo` is wired here and nowhere else.

mod explain;
mod foreground;

use crate::cluster::{ConnectSpec, Scope};
use crate::config::Config;
use crate::demo::{DemoOptions, DemoServer, DemoUser};
use crate::options::Options;
use crate::posture::PostureConfig;
use crate::report::Format;
use clap::{Args, Parser, Subcommand, ValueEnum};
use kube::config::Kubeconfig;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "raydar",
    version,
    about = "Operate Ray clusters on Kubernetes (KubeRay) safely: posture, gated dashboard forwards, one-key fixes."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub write: WriteArgs,
    /// Colour theme: dark, light, high-contrast.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    /// Ray advisories: an OSV JSON file, or a folder of them (osv.dev's PyPI export), instead
    /// of the built-in ones (config: posture.advisories).
    #[arg(long, value_name = "PATH")]
    pub advisories: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags for where to look, which every command that talks to a cluster takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Kubeconfig file (else $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (else the current context). Repeatable for `scan` and the
    /// TUI: several contexts at once.
    #[arg(long = "context", global = true, value_name = "NAME")]
    pub contexts: Vec<String>,
    /// Namespace to look at (repeatable).
    #[arg(short = 'n', long = "namespace", global = true, value_name = "NS")]
    pub namespaces: Vec<String>,
    /// All namespaces (the default when no -n is given).
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
    /// Use the embedded demo cluster instead of a kubeconfig.
    #[arg(long, global = true)]
    pub demo: bool,
}

/// Several contexts at once: `scan` and the TUI.
#[derive(Debug, Clone, Default, Args)]
pub struct FleetArgs {
    /// Every context of the kubeconfig at once.
    #[arg(long)]
    pub all_contexts: bool,
    /// With several contexts: how long each may take (exec credential plugin, connect, list).
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub context_timeout: u64,
}

/// For the commands that can write: the TUI, fix, undo, guard apply and remove.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct WriteArgs {
    /// Never write to the cluster: fixes, undo and the guard's installs are refused.
    #[arg(long)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    Table,
    Json,
    Sarif,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RulesOutput {
    Table,
    Json,
}

/// `--fail-on`: one of the posture severities, by name.
fn parse_severity(s: &str) -> Result<crate::posture::Severity, String> {
    crate::posture::Severity::ALL
        .into_iter()
        .find(|x| x.as_str() == s)
        .ok_or_else(|| format!("unknown severity {s:?} (info, low, medium, high, critical)"))
}

/// `--name`: what a kubeconfig may call a cluster and a context without quoting.
fn parse_kube_name(s: &str) -> Result<String, String> {
    let ok = (1..=63).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?}: 1–63 letters, digits, '-', '.' or '_', starting with a letter or digit"
        ))
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ForwardTarget {
    Dashboard,
    Client,
    Serve,
}

#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// Print the policies and bindings raydar would install (plain manifests with -o yaml).
    Plan {
        #[command(flatten)]
        what: GuardArgs,
        #[arg(short = 'o', long, value_enum, default_value = "yaml")]
        output: ManifestOutput,
    },
    /// Install them: preview, access check, server dry run, a yes, the journal (`raydar undo`).
    Apply {
        #[command(flatten)]
        what: GuardArgs,
        /// Show the preview and the server's dry run; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Which rules are guarded, in which mode, where.
    Status,
    /// Delete raydar's policies and bindings (through the same preview; `raydar undo` restores).
    Remove {
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        write: WriteArgs,
    },
}

/// What to guard, where, and how (`guard plan` and `guard apply`).
#[derive(Debug, Args)]
pub struct GuardArgs {
    /// warn: kubectl shows a warning and nothing is refused; deny: the object is refused.
    #[arg(long, value_enum, default_value = "warn")]
    mode: GuardMode,
    /// Rule ids to guard, comma-separated (default: the rules on by default).
    #[arg(long, value_delimiter = ',', value_name = "ID,…")]
    rules: Vec<String>,
    /// Guard the namespaces with these labels (`env=prod,team in (ml)`), instead of -n.
    #[arg(long, value_name = "SELECTOR")]
    namespace_selector: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GuardMode {
    Warn,
    Deny,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ManifestOutput {
    Yaml,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate the posture of Ray clusters (live, or manifests with -f) and report it.
    Scan {
        /// Manifest files or directories to scan instead of a cluster (`-` for stdin); several
        /// after one -f, as a shell glob gives them (`-f k8s/*.yaml`), or -f repeated.
        #[arg(short = 'f', long = "file", value_name = "PATH", num_args = 1..)]
        files: Vec<PathBuf>,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Output,
        /// Exit 1 when a finding at or above this severity exists.
        #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
        fail_on: Option<crate::posture::Severity>,
        /// Ray advisories: an OSV JSON file, or a folder of them (osv.dev's PyPI export),
        /// instead of the built-in ones (config: posture.advisories).
        #[arg(long, value_name = "PATH")]
        advisories: Option<PathBuf>,
        /// Colour in the table report: auto (a terminal, unless NO_COLOR is set or
        /// TERM=dumb), always, never.
        #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
        color: crate::report::ColorChoice,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Forward a Ray cluster's dashboard (or client/serve port) to 127.0.0.1, gated by a token.
    Forward {
        /// NAMESPACE/CLUSTER
        cluster: String,
        #[arg(long, value_enum, default_value = "dashboard")]
        target: ForwardTarget,
        #[arg(long)]
        port: Option<u16>,
        /// Forward raw TCP without the token gate.
        #[arg(long)]
        no_gate: bool,
        /// Open the URL in the browser.
        #[arg(long)]
        open: bool,
        /// How long a connection waits for a Ready head pod (after a restart) before it gets a
        /// 503 page (gated) or is closed (raw).
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        wait: u64,
    },
    /// Apply a one-key fix to a Ray cluster, with preview and server-side dry-run.
    Fix {
        /// NAMESPACE/CLUSTER
        cluster: String,
        #[arg(long = "fix", value_name = "FIX_ID")]
        fix: String,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Revert a change raydar made (default: the last one).
    Undo {
        change_id: Option<String>,
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// The change journal.
    History,
    /// Ray-aware admission policies the API server enforces itself (ValidatingAdmissionPolicy).
    #[command(subcommand)]
    Guard(GuardCommand),
    /// The rule catalog, and the grade table; with --advisories, the Ray advisories loaded.
    Rules {
        /// One rule, explained: its guide section, what it checks and why, an example of its
        /// evidence, its fix and what the fix writes, and the guard's CEL.
        #[arg(value_name = "RULE_ID", conflicts_with = "advisories")]
        id: Option<String>,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: RulesOutput,
        /// List the Ray advisories and version facts the rules read: the built-in ones, the
        /// config's (posture.advisories), or those of PATH.
        #[arg(long, value_name = "PATH", num_args = 0..=1)]
        advisories: Option<Option<PathBuf>>,
    },
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print raydar's man page (roff), e.g. `raydar man > ~/.local/share/man/man1/raydar.1`.
    Man,
    /// Run the embedded demo API server in the foreground and write a kubeconfig for it.
    DemoServer {
        /// Where to write the kubeconfig (default: raydar-demo.kubeconfig in the state dir).
        #[arg(long, value_name = "PATH")]
        kubeconfig_out: Option<PathBuf>,
        /// Generate this many namespaces (with --clusters) instead of the named demo data.
        #[arg(long = "namespaces", id = "ns_count", value_name = "N", requires = "cluster_count")]
        ns_count: Option<usize>,
        /// Generate this many Ray clusters (with --namespaces).
        #[arg(long = "clusters", id = "cluster_count", value_name = "N", requires = "ns_count")]
        cluster_count: Option<usize>,
        /// Print the named demo data as YAML manifests (for a real cluster) and exit.
        #[arg(long, conflicts_with_all = ["ns_count", "kubeconfig_out"])]
        print_manifests: bool,
        /// Port on 127.0.0.1 (default: a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Forwards to this demo cluster's head dashboard port reach a real local process
        /// (a Ray you started) instead of the fake dashboard; loopback only. Repeatable.
        #[arg(long = "backend", value_name = "NS/CLUSTER=HOST:PORT")]
        backends: Vec<crate::demo::Backend>,
        /// The Ray token of that Ray (token auth): put in the backed clusters' Secrets, so
        /// raydar's injection reaches it.
        #[arg(long, value_name = "PATH", requires = "backends")]
        ray_token_file: Option<PathBuf>,
        /// Every API response waits this many milliseconds first: a remote API server, for
        /// benchmarks (`cargo bench --bench fleet`).
        #[arg(long, value_name = "MS", default_value_t = 0)]
        latency: u64,
        /// What the kubeconfig calls the cluster and its contexts (NAME, NAME-viewer,
        /// NAME-limited): several demo servers in one KUBECONFIG, as a fleet.
        #[arg(long, value_name = "NAME", default_value = crate::demo::DEFAULT_NAME,
              value_parser = parse_kube_name)]
        name: String,
    },
}

use crate::options::state_dir;

/// The options of a command that talks to a cluster, and the embedded demo server behind
/// `--demo` (kept alive while the command runs).
pub async fn options(
    g: &Global,
    fleet: &FleetArgs,
    write: WriteArgs,
    theme: Option<String>,
) -> Result<(Options, Option<DemoServer>), String> {
    let mut posture = Config::load()?.posture;
    let (target, demo) = if g.demo {
        let server = DemoServer::start(DemoOptions::default())
            .await
            .map_err(|e| format!("demo cluster: {e}"))?;
        let kc = Kubeconfig::from_yaml(&server.kubeconfig(DemoUser::Admin))
            .map_err(|e| format!("demo cluster: {e}"))?;
        let target = ConnectSpec {
            inline: Some(kc),
            context: g.contexts.first().cloned(),
            label: Some("demo".into()),
            ..ConnectSpec::default()
        };
        if posture.trusted_registries.is_empty() && posture.allowed_host_paths.is_empty() {
            posture = PostureConfig::demo();
        }
        (target, Some(server))
    } else {
        let target = ConnectSpec {
            kubeconfig: g.kubeconfig.clone(),
            context: g.contexts.first().cloned(),
            ..ConnectSpec::default()
        };
        (target, None)
    };
    let scope = if g.namespaces.is_empty() || g.all_namespaces {
        Scope::All
    } else {
        Scope::Namespaces(g.namespaces.clone())
    };
    if fleet.all_contexts && !g.contexts.is_empty() {
        return Err("--all-contexts and --context: give one or the other".into());
    }
    let contexts = if fleet.all_contexts {
        let all = target.all_contexts().map_err(|e| e.to_string())?;
        if all.is_empty() {
            return Err("--all-contexts: the kubeconfig has no contexts".into());
        }
        all
    } else if g.contexts.len() > 1 {
        let mut seen = std::collections::BTreeSet::new();
        g.contexts.iter().filter(|c| seen.insert(c.as_str())).cloned().collect()
    } else {
        Vec::new()
    };
    let opts = Options {
        target,
        scope,
        read_only: write.read_only,
        theme,
        posture,
        state_dir: state_dir(),
        contexts,
        context_timeout: std::time::Duration::from_secs(fleet.context_timeout),
    };
    Ok((opts, demo))
}

/// The guard's options from the command line; an unreadable selector, or a selector with
/// -n, is an error.
fn guard_options(
    what: GuardArgs,
    namespaces: &[String],
) -> Result<crate::guard::GuardOptions, String> {
    let GuardArgs { mode, rules, namespace_selector: selector } = what;
    let namespace_selector = match selector.as_deref() {
        Some(_) if !namespaces.is_empty() => {
            return Err("--namespace-selector and -n both pick namespaces: give one".into())
        }
        Some(s) => Some(crate::semantics::labels::parse_selector(s)?),
        None => None,
    };
    Ok(crate::guard::GuardOptions {
        mode: match mode {
            GuardMode::Warn => crate::guard::Mode::Warn,
            GuardMode::Deny => crate::guard::Mode::Deny,
        },
        rules,
        namespaces: namespaces.to_vec(),
        namespace_selector,
    })
}

/// `raydar guard plan`: the manifests, as a YAML stream or a JSON List.
fn guard_plan(opts: &crate::guard::GuardOptions, output: ManifestOutput) -> anyhow::Result<i32> {
    let objects = match crate::guard::plan(opts) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("raydar: {e}");
            return Ok(2);
        }
    };
    let text = match output {
        ManifestOutput::Json => {
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
            serde_json::to_string_pretty(&list)? + "\n"
        }
        ManifestOutput::Yaml => {
            let mut out = String::new();
            for o in &objects {
                out.push_str("---\n");
                out.push_str(serde_saphyr::to_string(o)?.trim_end());
                out.push('\n');
            }
            out
        }
    };
    print_out(&text)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn print_out(text: &str) -> anyhow::Result<i32> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(0),
    }
}

/// Runs the parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    // The TUI's own flags act only without a subcommand: `raydar --theme light scan` would
    // silently ignore it, so it is refused.
    if cli.command.is_some() {
        let tui_only = [
            (cli.theme.is_some(), "--theme"),
            (cli.write.read_only, "--read-only"),
            (cli.fleet.all_contexts, "--all-contexts"),
            (cli.fleet.context_timeout != 30, "--context-timeout"),
        ];
        if let Some((_, flag)) = tui_only.iter().find(|(given, _)| *given) {
            eprintln!("raydar: {flag} before a subcommand is the TUI's; give it after the subcommand that takes it (see its --help)");
            return Ok(2);
        }
    }
    let needs_options = !matches!(
        cli.command,
        Some(
            Command::Rules { .. }
                | Command::Completion { .. }
                | Command::Man
                | Command::History
                | Command::DemoServer { .. }
                | Command::Guard(GuardCommand::Plan { .. })
        )
    );
    // The demo server (if any) lives until the command is done.
    let (mut opts, _demo) = if needs_options {
        // Each command's own flags: the fleet's for scan and the TUI, --read-only for the
        // commands that write, --theme for the TUI.
        let no_fleet = FleetArgs { context_timeout: 30, ..FleetArgs::default() };
        let (fleet, write, theme) = match &cli.command {
            None => (&cli.fleet, cli.write, cli.theme.clone()),
            Some(Command::Scan { fleet, .. }) => (fleet, WriteArgs::default(), None),
            Some(
                Command::Fix { write, .. }
                | Command::Undo { write, .. }
                | Command::Guard(
                    GuardCommand::Apply { write, .. } | GuardCommand::Remove { write, .. },
                ),
            ) => (&no_fleet, *write, None),
            _ => (&no_fleet, WriteArgs::default(), None),
        };
        match options(&cli.global, fleet, write, theme).await {
            Ok((o, d)) => (o, d),
            Err(e) => {
                eprintln!("raydar: {e}");
                return Ok(2);
            }
        }
    } else {
        (Options::new(ConnectSpec::default()), None)
    };
    let advisories = match &cli.command {
        Some(Command::Scan { advisories, .. }) => advisories.as_deref(),
        Some(Command::Rules { advisories: Some(path), .. }) => path.as_deref(),
        _ => cli.advisories.as_deref(),
    };
    if needs_options || matches!(cli.command, Some(Command::Rules { advisories: Some(_), .. })) {
        let config = if needs_options { None } else { Some(Config::load()) };
        if let Some(c) = config {
            match c {
                Ok(c) => opts.posture.advisories = c.posture.advisories,
                Err(e) => {
                    eprintln!("raydar: {e}");
                    return Ok(2);
                }
            }
        }
        if let Err(e) = opts.posture.load_advisories(advisories) {
            eprintln!("raydar: {e}");
            return Ok(2);
        }
    }
    let fleet_ok = matches!(cli.command, None | Some(Command::Scan { .. }));
    if !opts.contexts.is_empty() && !fleet_ok {
        eprintln!(
            "raydar: this command acts on one context: give one --context (--all-contexts and several --context are for `scan` and the TUI)"
        );
        return Ok(2);
    }
    match cli.command {
        None => Ok(crate::tui::run(&opts).await),
        Some(Command::Scan { files, output, fail_on, color, .. }) => {
            let format = match output {
                Output::Table => Format::Table {
                    color: color
                        .resolve(std::io::IsTerminal::is_terminal(&std::io::stdout()), |k| {
                            std::env::var(k).ok()
                        }),
                },
                Output::Json => Format::Json,
                Output::Sarif => Format::Sarif,
            };
            Ok(crate::scan::run(&opts, &files, format, fail_on).await)
        }
        Some(Command::Guard(GuardCommand::Plan { what, output })) => {
            match guard_options(what, &cli.global.namespaces) {
                Ok(guard) => guard_plan(&guard, output),
                Err(e) => {
                    eprintln!("raydar: {e}");
                    Ok(2)
                }
            }
        }
        Some(Command::Guard(GuardCommand::Apply { what, dry_run, yes, .. })) => {
            match guard_options(what, &cli.global.namespaces) {
                Ok(guard) => Ok(crate::fixcmd::guard_apply(&opts, &guard, dry_run, yes).await),
                Err(e) => {
                    eprintln!("raydar: {e}");
                    Ok(2)
                }
            }
        }
        Some(Command::Guard(GuardCommand::Status)) => Ok(crate::fixcmd::guard_status(&opts).await),
        Some(Command::Guard(GuardCommand::Remove { dry_run, yes, .. })) => {
            Ok(crate::fixcmd::guard_remove(&opts, dry_run, yes).await)
        }
        Some(Command::Completion { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "raydar",
                &mut out,
            );
            print_out(&String::from_utf8_lossy(&out))
        }
        Some(Command::Man) => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut out)?;
            print_out(&String::from_utf8_lossy(&out))
        }
        Some(Command::Rules { id: Some(id), output, .. }) => {
            let text = match output {
                RulesOutput::Json => explain::json(&id)
                    .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"),
                RulesOutput::Table => explain::text(&id),
            };
            match text {
                Ok(t) => print_out(&t),
                Err(e) => {
                    eprintln!("raydar: {e}");
                    Ok(2)
                }
            }
        }
        Some(Command::Rules { output, advisories, .. }) => {
            let db = opts.posture.db.get();
            let text = match (output, advisories.is_some()) {
                (RulesOutput::Json, false) => crate::report::rules_json() + "\n",
                (RulesOutput::Table, false) => crate::report::rules_table(),
                (RulesOutput::Json, true) => crate::report::advisories_json(db) + "\n",
                (RulesOutput::Table, true) => crate::report::advisories_table(db),
            };
            print_out(&text)
        }
        Some(Command::Forward { cluster, target, port, no_gate, open, wait }) => {
            foreground::forward(&opts, &cluster, target, port, no_gate, open, wait).await
        }
        Some(Command::Fix { cluster, fix, dry_run, yes, .. }) => {
            Ok(crate::fixcmd::fix(&opts, &cluster, &fix, dry_run, yes).await)
        }
        Some(Command::Undo { change_id, yes, .. }) => {
            Ok(crate::fixcmd::undo(&opts, change_id.as_deref(), yes).await)
        }
        Some(Command::History) => Ok(crate::fixcmd::history(&opts.journal_path())),
        Some(Command::DemoServer { print_manifests: true, .. }) => foreground::print_manifests(),
        Some(Command::DemoServer {
            kubeconfig_out,
            ns_count,
            cluster_count,
            port,
            backends,
            ray_token_file,
            latency,
            name,
            ..
        }) => {
            let ray_token = match ray_token_file.map(|p| (std::fs::read_to_string(&p), p)) {
                None => None,
                Some((Ok(t), _)) if !t.trim().is_empty() => Some(t.trim().to_string()),
                Some((Ok(_), p)) => {
                    eprintln!("raydar: --ray-token-file {}: empty", p.display());
                    return Ok(2);
                }
                Some((Err(e), p)) => {
                    eprintln!("raydar: --ray-token-file {}: {e}", p.display());
                    return Ok(2);
                }
            };
            let opts = DemoOptions {
                population: ns_count.zip(cluster_count),
                port,
                backends,
                ray_token,
                latency: std::time::Duration::from_millis(latency),
            };
            foreground::demo_server(kubeconfig_out, opts, &name).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_parses() {
        for args in [
            &["raydar"][..],
            &["raydar", "--demo", "-n", "a", "-n", "b", "--read-only", "--theme", "light"],
            &["raydar", "scan", "-A", "-o", "json", "--fail-on", "high", "-f", "x.yaml", "-f", "-"],
            &[
                "raydar",
                "forward",
                "ns/c",
                "--target",
                "client",
                "--port",
                "8265",
                "--no-gate",
                "--wait",
                "5",
            ],
            &["raydar", "fix", "ns/c", "--fix", "service-clusterip", "--dry-run", "--yes"],
            &["raydar", "undo", "abc", "--yes"],
            &["raydar", "history"],
            &["raydar", "rules", "-o", "json"],
            &["raydar", "demo-server", "--namespaces", "2", "--clusters", "3", "--port", "0"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            if let Some(Command::DemoServer { ns_count, cluster_count, .. }) = cli.command {
                assert_eq!((ns_count, cluster_count), (Some(2), Some(3)));
            }
        }
        assert!(Cli::try_parse_from(["raydar", "demo-server", "--namespaces", "2"]).is_err());
    }
}
