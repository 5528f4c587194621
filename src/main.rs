//! The `rolltop` binary: parse the command line, set up logging and TLS, dispatch.
//!
//! Exit codes are part of the contract: 0 success, 1 the operation failed (message on stderr),
//! 2 bad usage (clap's own exit code for parse errors).

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use rolltop::cli::Cli;
use rolltop::cli::args::{
    Command, GetCommand, ListCommand, RetryCommand, SetCommand, Shell, TerminateCommand,
};
use rolltop::cluster::client::connect;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    // kube's rustls uses ring while reqwest is built without a provider: one process-wide
    // provider must be installed before the first client is built, or client creation panics.
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        // Already installed (cannot happen in a fresh process); nothing to do.
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let Some(command) = cli.command else {
        return cockpit(&cli).await;
    };
    let code = match command {
        Command::Version => {
            println!("rolltop {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Completions { shell } => {
            let shell = match shell {
                Shell::Bash => clap_complete::Shell::Bash,
                Shell::Zsh => clap_complete::Shell::Zsh,
                Shell::Fish => clap_complete::Shell::Fish,
            };
            let mut stdout = std::io::stdout();
            clap_complete::generate(shell, &mut Cli::command(), "rolltop", &mut stdout);
            ExitCode::SUCCESS
        }
        Command::Demo { .. } => not_implemented("demo"),
        Command::Sandbox(args) => {
            rolltop::sandbox::run(&args).await?;
            ExitCode::SUCCESS
        }
        Command::Controller { .. } => not_implemented("controller"),
        Command::InstallCrds { print: true } => {
            print!("{}", rolltop::crd::crds_yaml());
            ExitCode::SUCCESS
        }
        Command::InstallCrds { print: false } => {
            let connection = connect(&cli.cluster).await?;
            for line in rolltop::crd::install(&connection.client).await? {
                println!("{line}");
            }
            rolltop::crd::wait_established(&connection.client, CRD_ESTABLISH_TIMEOUT).await?;
            ExitCode::SUCCESS
        }
        Command::Get(GetCommand::Rollout { .. }) => not_implemented("get rollout"),
        Command::List(ListCommand::Rollouts { .. }) => not_implemented("list rollouts"),
        Command::Promote { .. } => not_implemented("promote"),
        Command::Abort { .. } => not_implemented("abort"),
        Command::Retry(RetryCommand::Rollout { .. }) => not_implemented("retry rollout"),
        Command::Restart { .. } => not_implemented("restart"),
        Command::Pause { .. } => not_implemented("pause"),
        Command::Set(SetCommand::Image { .. }) => not_implemented("set image"),
        Command::Undo { .. } => not_implemented("undo"),
        Command::Status { .. } => not_implemented("status"),
        Command::Lint { .. } => not_implemented("lint"),
        Command::Terminate(TerminateCommand::Analysisrun { .. }) => {
            not_implemented("terminate analysisrun")
        }
    };
    Ok(code)
}

/// `rolltop` with no subcommand: everything that can fail before the UI (theme, kubeconfig,
/// cluster) fails here with a message and exit 1, without touching the terminal.
async fn cockpit(cli: &Cli) -> anyhow::Result<ExitCode> {
    let theme = rolltop::ui::Theme::load(&rolltop::ui::ThemeChoice {
        theme: cli.cockpit.theme.clone(),
        no_color: rolltop::ui::theme::no_color_requested(std::env::var_os("NO_COLOR").as_deref()),
        ascii: cli.cockpit.ascii,
    })?;
    let connection = connect(&cli.cluster).await?;
    // Fail before the terminal is taken: a cockpit that cannot reach its cluster is useless.
    connection
        .client
        .apiserver_version()
        .await
        .map_err(|error| anyhow::anyhow!("reaching {}: {error}", connection.cluster_url))?;
    // The embedded controller does not exist yet; `--readonly` implies off anyway.
    let start_notice = if cli.cockpit.readonly {
        "controller: off (--readonly)".to_owned()
    } else {
        "controller: off (not implemented yet)".to_owned()
    };
    rolltop::app::run::run(rolltop::app::run::CockpitOptions {
        connection,
        cluster_args: cli.cluster.clone(),
        theme,
        readonly: cli.cockpit.readonly,
        start_notice: Some(start_notice),
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// How long `install-crds` waits for the API server to serve the new kinds.
const CRD_ESTABLISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings), so stdout stays parseable.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The honest answer of a path that does not exist yet: no silent success.
fn not_implemented(what: &str) -> ExitCode {
    eprintln!("not implemented yet: {what}");
    ExitCode::FAILURE
}
