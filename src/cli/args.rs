//! The command-line contract of `design.md`, as clap types.
//!
//! Scripts, tests and docs rely on these names, so they change only with the contract.
//! Cluster flags (`--kubeconfig`, `--context`, `-n`, `-A`) and the cockpit flags are global:
//! clap accepts them before or after any subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Examples:
  rolltop                         open the cockpit on the current context's namespace
  rolltop -A                      every rollout in every namespace
  rolltop demo                    the five field reports, live, with no cluster
  rolltop get rollout checkout -w watch one rollout's tree
  rolltop promote checkout        advance a paused canary by one step";

/// rolltop: a terminal cockpit for Argo Rollouts canary and blue-green releases.
#[derive(Debug, Parser)]
#[command(name = "rolltop", version, about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub cluster: ClusterArgs,

    #[command(flatten)]
    pub cockpit: CockpitArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Where to find the cluster; kubectl's meaning for each flag.
#[derive(Debug, Clone, Default, Args)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: the current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// Namespace scope (default: the context's namespace).
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,

    /// Every namespace.
    #[arg(short = 'A', long, global = true, conflicts_with = "namespace")]
    pub all_namespaces: bool,
}

/// Flags of the cockpit (also honoured by `demo`).
#[derive(Debug, Clone, Default, Args)]
pub struct CockpitArgs {
    /// Theme name (dark, light, colorblind, mono) or a path to a theme TOML file.
    #[arg(long, global = true, value_name = "NAME|FILE")]
    pub theme: Option<String>,

    /// Never write to the cluster; implies --controller off.
    #[arg(long, global = true)]
    pub readonly: bool,

    /// Drive rollouts in-process: auto takes the lease when no Argo operator runs.
    #[arg(long, global = true, value_enum, value_name = "MODE")]
    pub controller: Option<ControllerMode>,

    /// Prometheus base URL for sparklines (default: the template's address, then the API proxy).
    #[arg(long, global = true, value_name = "URL")]
    pub prometheus: Option<String>,

    /// Draw with ASCII only (borders, glyphs, gauges).
    #[arg(long, global = true)]
    pub ascii: bool,

    /// No bell or OSC 9 notification when a rollout waits for a human or fails.
    #[arg(long, global = true)]
    pub no_notify: bool,
}

/// `--controller` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ControllerMode {
    Auto,
    On,
    Off,
}

/// Output formats of `get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Json,
    Yaml,
}

/// A shell for `completions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The subcommands; none means the cockpit.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sandbox, controller and cockpit in one process, replaying the five field reports.
    #[command(
        after_help = "Examples:\n  rolltop demo\n  rolltop demo --scenario r5\n\n\
        Logs go to $TMPDIR/rolltop-demo.log. ROLLTOP_DEMO_FAST=1 shortens the story's waits;\n\
        ROLLTOP_DEMO_PROMETHEUS=off runs without Prometheus even when it is on PATH.\n\
        See docs/demo.md."
    )]
    Demo {
        /// Which scenario to run.
        #[arg(long, default_value = "all", value_name = "all|r1|r2|r3|r4|r5")]
        scenario: String,
    },

    /// A Kubernetes-API-compatible server on loopback, for kubectl, tests and the demo.
    #[command(
        after_help = "Examples:\n  rolltop sandbox --kubeconfig-out /tmp/sandbox.kubeconfig\n  \
        rolltop sandbox --kubeconfig-out kc --listen 127.0.0.1:18080 --data-dir ./state\n  \
        rolltop sandbox --kubeconfig-out kc --deny patch:rollouts:prod"
    )]
    Sandbox(SandboxArgs),

    /// Run the rollout controller headless against the current cluster; logs to stderr.
    #[command(after_help = "Examples:\n  rolltop controller -A\n  rolltop controller -n shop")]
    Controller {
        /// Drive even when an Argo Rollouts operator is detected.
        #[arg(long)]
        force: bool,
    },

    /// Apply rolltop's Argo-compatible CRDs to the current cluster.
    #[command(
        after_help = "Examples:\n  rolltop install-crds\n  rolltop install-crds --print > crds.yaml"
    )]
    InstallCrds {
        /// Write the CRD YAML to stdout instead of applying it.
        #[arg(long)]
        print: bool,
    },

    /// Show one rollout as a tree, as `kubectl argo rollouts get rollout` does.
    #[command(subcommand)]
    Get(GetCommand),

    /// List rollouts, as `kubectl argo rollouts list rollouts` does.
    #[command(subcommand)]
    List(ListCommand),

    /// Promote a paused rollout by one step, or fully.
    #[command(
        after_help = "Examples:\n  rolltop promote checkout\n  rolltop promote checkout --full"
    )]
    Promote {
        /// Rollout name.
        name: String,
        /// Skip every remaining step and analysis.
        #[arg(long, conflicts_with = "skip_current_step")]
        full: bool,
        /// Skip the current step even if it is not a pause.
        #[arg(long)]
        skip_current_step: bool,
    },

    /// Abort a rollout: traffic and replicas return to stable.
    #[command(after_help = "Examples:\n  rolltop abort checkout")]
    Abort {
        /// Rollout name.
        name: String,
    },

    /// Retry an aborted rollout.
    #[command(subcommand)]
    Retry(RetryCommand),

    /// Restart a rollout's pods (evicts them, oldest first).
    #[command(
        after_help = "Examples:\n  rolltop restart checkout\n  rolltop restart checkout --in 10m"
    )]
    Restart {
        /// Rollout name.
        name: String,
        /// Restart after this long (e.g. 30s, 10m).
        #[arg(long = "in", value_name = "DURATION")]
        in_: Option<String>,
    },

    /// Pause a rollout (sets spec.paused).
    #[command(after_help = "Examples:\n  rolltop pause checkout")]
    Pause {
        /// Rollout name.
        name: String,
    },

    /// Change a rollout's container image.
    #[command(subcommand)]
    Set(SetCommand),

    /// Roll back to the previous revision, or to --to-revision.
    #[command(
        after_help = "Examples:\n  rolltop undo checkout\n  rolltop undo checkout --to-revision 3"
    )]
    Undo {
        /// Rollout name.
        name: String,
        /// The revision to go back to.
        #[arg(long, value_name = "N")]
        to_revision: Option<u64>,
    },

    /// Print a rollout's status; exit 0 when Healthy, 1 when Degraded or on timeout.
    #[command(
        after_help = "Examples:\n  rolltop status checkout\n  rolltop status checkout --timeout 5m"
    )]
    Status {
        /// Rollout name.
        name: String,
        /// Give up after this long (e.g. 90s, 5m); 0 waits forever.
        #[arg(long, value_name = "DURATION")]
        timeout: Option<String>,
        /// Keep watching until the rollout is Healthy or Degraded.
        #[arg(short = 'w', long, default_value_t = true, action = clap::ArgAction::Set,
              num_args = 0..=1, default_missing_value = "true")]
        watch: bool,
    },

    /// Check Rollout and AnalysisTemplate manifests offline.
    #[command(after_help = "Examples:\n  rolltop lint rollout.yaml")]
    Lint {
        /// A YAML file with one or more documents.
        file: PathBuf,
    },

    /// Terminate a running AnalysisRun.
    #[command(subcommand)]
    Terminate(TerminateCommand),

    /// Print rolltop's version.
    Version,

    /// Write a shell completion script to stdout.
    #[command(
        after_help = "Examples:\n  rolltop completions bash > /etc/bash_completion.d/rolltop"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// `rolltop sandbox` flags.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Where to write a kubeconfig that points at the sandbox.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig_out: PathBuf,

    /// Address to serve on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub listen: String,

    /// Keep objects in an embedded database in this directory across restarts.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Objects and traffic to load at start.
    #[arg(long, default_value = "none", value_name = "none|all|r1|r2|r3|r4|r5")]
    pub scenario: String,

    /// Address for the traffic simulator's Prometheus metrics.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,

    /// Forbid requests: VERB:RESOURCE[:NAMESPACE], e.g. patch:rollouts:prod (repeatable).
    #[arg(long, value_name = "RULE")]
    pub deny: Vec<String>,

    /// How long a new pod takes to become ready (e.g. 500ms, 2s).
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub ready_delay: String,
}

/// `rolltop get ...`
#[derive(Debug, Subcommand)]
pub enum GetCommand {
    /// One rollout's header and revision tree.
    #[command(
        visible_alias = "ro",
        alias = "rollouts",
        after_help = "Examples:\n  rolltop get rollout checkout\n  rolltop get rollout checkout --watch --until-done"
    )]
    Rollout {
        /// Rollout name.
        name: String,
        /// Redraw in place as the rollout changes.
        #[arg(short = 'w', long)]
        watch: bool,
        /// With --watch: exit once the rollout is Healthy or Degraded.
        #[arg(long, requires = "watch")]
        until_done: bool,
        /// Plain text, no colours.
        #[arg(long)]
        no_color: bool,
        /// Print the object instead of the tree.
        #[arg(short = 'o', long, value_enum)]
        output: Option<OutputFormat>,
    },
}

/// `rolltop list ...`
#[derive(Debug, Subcommand)]
pub enum ListCommand {
    /// Rollouts in scope, one line each.
    #[command(
        visible_alias = "ro",
        alias = "rollout",
        after_help = "Examples:\n  rolltop list rollouts\n  rolltop list rollouts -A\n  rolltop list rollouts -w --timestamps --name checkout"
    )]
    Rollouts {
        /// Keep watching and print changes.
        #[arg(short = 'w', long)]
        watch: bool,
        /// Only the rollout with this name.
        #[arg(long)]
        name: Option<String>,
        /// Print a UTC timestamp on each row.
        #[arg(long)]
        timestamps: bool,
    },
}

/// `rolltop retry ...`
#[derive(Debug, Subcommand)]
pub enum RetryCommand {
    /// Retry an aborted rollout from its first step.
    #[command(
        visible_alias = "ro",
        alias = "rollouts",
        after_help = "Examples:\n  rolltop retry rollout checkout"
    )]
    Rollout {
        /// Rollout name.
        name: String,
    },
}

/// `rolltop set ...`
#[derive(Debug, Subcommand)]
pub enum SetCommand {
    /// Set a container's image, starting a new revision.
    #[command(
        after_help = "Examples:\n  rolltop set image checkout app=registry.example/checkout:v2"
    )]
    Image {
        /// Rollout name.
        name: String,
        /// CONTAINER=IMAGE (`*` for every container).
        #[arg(value_name = "CONTAINER=IMAGE")]
        assignment: String,
    },
}

/// `rolltop terminate ...`
#[derive(Debug, Subcommand)]
pub enum TerminateCommand {
    /// Stop a running AnalysisRun; its metrics end as they are.
    #[command(
        visible_alias = "ar",
        alias = "analysisruns",
        after_help = "Examples:\n  rolltop terminate analysisrun checkout-7d9f-2"
    )]
    Analysisrun {
        /// AnalysisRun name.
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_are_accepted_after_a_subcommand() {
        let cli = Cli::try_parse_from(["rolltop", "list", "rollouts", "-A", "--context", "c"])
            .expect("parses");
        assert!(cli.cluster.all_namespaces);
        assert_eq!(cli.cluster.context.as_deref(), Some("c"));
        let cli = Cli::try_parse_from(["rolltop", "-n", "shop", "promote", "x", "--full"])
            .expect("parses");
        assert_eq!(cli.cluster.namespace.as_deref(), Some("shop"));
    }

    #[test]
    fn ro_is_an_alias_of_rollout() {
        for word in ["rollout", "ro", "rollouts"] {
            let cli = Cli::try_parse_from(["rolltop", "get", word, "x"]).expect("parses");
            assert!(matches!(
                cli.command,
                Some(Command::Get(GetCommand::Rollout { .. }))
            ));
        }
    }

    #[test]
    fn namespace_and_all_namespaces_conflict() {
        assert!(Cli::try_parse_from(["rolltop", "-n", "a", "-A"]).is_err());
    }
}
