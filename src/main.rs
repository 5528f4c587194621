//! The `rolltop` binary: parse the command line, set up logging and TLS, dispatch.
//!
//! Exit codes are part of the contract: 0 success, 1 the operation failed (message on stderr),
//! 2 bad usage (clap's own exit code for parse errors).

use std::process::ExitCode;
use std::time::Instant;

use clap::{CommandFactory, Parser};
use rolltop::app::settings;
use rolltop::cli::Cli;
use rolltop::cli::actions::{self, Request};
use rolltop::cli::args::ControllerMode;
use rolltop::cli::args::{ClusterArgs, OutputFormat};
use rolltop::cli::args::{
    Command, GetCommand, ListCommand, RetryCommand, SetCommand, Shell, TerminateCommand,
};
use rolltop::cli::output::{error_text, is_broken_pipe, write_stdout};
use rolltop::cli::{get, list, status};
use rolltop::cluster::client::{Connection, connect, context_user, load_kubeconfig};
use rolltop::controller::embedded::EmbeddedMode;

fn main() -> ExitCode {
    // The cockpit's first-frame timing counts from here.
    let started = Instant::now();
    let cli = Cli::parse();
    // The demo owns the terminal from start to end: its logs go to a file instead.
    if matches!(cli.command, Some(Command::Demo { .. })) {
        init_tracing_to_file(&rolltop::demo::log_path());
    } else {
        init_tracing();
    }
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
    match runtime.block_on(run(cli, started)) {
        Ok(code) => code,
        // `rolltop list rollouts | head -1`: the reader went away; nothing left to say.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error_text(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, started: Instant) -> anyhow::Result<ExitCode> {
    let Some(command) = cli.command else {
        return cockpit(&cli, started).await;
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
        Command::Demo { scenario } => {
            let theme = rolltop::ui::Theme::load(&rolltop::ui::ThemeChoice {
                theme: cli.cockpit.theme.clone(),
                no_color: rolltop::ui::theme::no_color_requested(
                    std::env::var_os("NO_COLOR").as_deref(),
                ),
                ascii: cli.cockpit.ascii,
            })?;
            // Refuse early, before anything starts, on a misspelt scenario.
            rolltop::sandbox::scenario::select(&scenario)?;
            Box::pin(rolltop::demo::run(rolltop::demo::DemoOptions::from_env(
                scenario, theme,
            )))
            .await?;
            ExitCode::SUCCESS
        }
        Command::Sandbox(args) => {
            rolltop::sandbox::run(&args).await?;
            ExitCode::SUCCESS
        }
        Command::Controller { force } => {
            // Handlers first: a SIGTERM after the Lease is taken must release it, never kill.
            let shutdown = rolltop::controller::runner::termination_signal()?;
            let connection = connect(&cli.cluster).await?;
            rolltop::controller::runner::drive(
                connection.client,
                connection.scope,
                force,
                shutdown,
            )
            .await?;
            ExitCode::SUCCESS
        }
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
        Command::Get(GetCommand::Rollout {
            name,
            watch,
            until_done,
            no_color,
            output,
        }) => {
            let connection = connect(&cli.cluster).await?;
            let namespace = one_namespace(&connection)?;
            let color = !no_color && std::env::var("TERM").map_or(true, |t| t != "dumb");
            if let Some(format) = output {
                let view = get::load_view(&connection.client, &namespace, &name).await?;
                let text = get::render_object(&view.rollout, format == OutputFormat::Yaml)?;
                write_stdout(&text)?;
                ExitCode::SUCCESS
            } else if watch {
                get::watch(&connection.client, &namespace, &name, color, until_done).await?
            } else {
                let view = get::load_view(&connection.client, &namespace, &name).await?;
                write_stdout(&get::render_get(&view, chrono::Utc::now(), color))?;
                ExitCode::SUCCESS
            }
        }
        Command::List(ListCommand::Rollouts {
            watch,
            name,
            timestamps,
        }) => {
            let connection = connect(&cli.cluster).await?;
            let options = list::ListOptions {
                watch,
                name,
                timestamps,
            };
            list::run(&connection.client, connection.scope.namespace(), &options).await?
        }
        Command::Promote {
            name,
            full,
            skip_current_step,
        } => {
            let request = Request::Promote {
                full,
                skip_current_step,
            };
            action(&cli.cluster, cli.cockpit.readonly, &name, request).await?
        }
        Command::Abort { name } => {
            action(&cli.cluster, cli.cockpit.readonly, &name, Request::Abort).await?
        }
        Command::Retry(RetryCommand::Rollout { name }) => {
            action(&cli.cluster, cli.cockpit.readonly, &name, Request::Retry).await?
        }
        Command::Restart { name, in_ } => {
            let request = Request::Restart { after: in_ };
            action(&cli.cluster, cli.cockpit.readonly, &name, request).await?
        }
        Command::Pause { name } => {
            action(&cli.cluster, cli.cockpit.readonly, &name, Request::Pause).await?
        }
        Command::Set(SetCommand::Image { name, assignment }) => {
            let request = Request::SetImage { assignment };
            action(&cli.cluster, cli.cockpit.readonly, &name, request).await?
        }
        Command::Undo { name, to_revision } => {
            let request = Request::Undo { to_revision };
            action(&cli.cluster, cli.cockpit.readonly, &name, request).await?
        }
        Command::Status {
            name,
            timeout,
            watch,
        } => {
            let timeout = match timeout {
                Some(text) => Some(
                    rolltop::crd::parse_go_duration(&text)
                        .map_err(|e| anyhow::anyhow!("invalid --timeout {text:?}: {e}"))?,
                ),
                None => None,
            };
            let connection = connect(&cli.cluster).await?;
            let namespace = one_namespace(&connection)?;
            status::run(&connection.client, &namespace, &name, watch, timeout).await?
        }
        Command::Lint { file } => rolltop::cli::lint::run(&file),
        Command::Terminate(TerminateCommand::Analysisrun { name }) => {
            let connection = connect(&cli.cluster).await?;
            let namespace = one_namespace(&connection)?;
            actions::terminate(&connection.client, &namespace, &name, cli.cockpit.readonly).await?
        }
    };
    Ok(code)
}

/// `rolltop` with no subcommand: everything that can fail before the UI (theme, kubeconfig,
/// cluster) fails here with a message and exit 1, without touching the terminal.
async fn cockpit(cli: &Cli, started: Instant) -> anyhow::Result<ExitCode> {
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
    // Per-context settings: a broken config file fails here, before the terminal is taken.
    let config_home = std::env::var_os("XDG_CONFIG_HOME").map(std::path::PathBuf::from);
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let config_path = settings::config_path(config_home.as_deref(), home.as_deref());
    let file = settings::load_config(config_path.as_deref())?;
    let mut settings = settings::Settings::new(file, cli.cockpit.readonly, cli.cockpit.no_notify);
    let readonly = settings.enter_context(&connection.context);
    let controller = match (readonly, cli.cockpit.controller) {
        (true, _) => {
            let why = if cli.cockpit.readonly {
                "--readonly"
            } else {
                "read-only context"
            };
            (EmbeddedMode::Off, format!("controller off, {why}"))
        }
        (false, Some(ControllerMode::Off)) => (EmbeddedMode::Off, "controller off".to_owned()),
        (false, Some(ControllerMode::On)) => (EmbeddedMode::On, String::new()),
        (false, Some(ControllerMode::Auto) | None) => (EmbeddedMode::Auto, String::new()),
    };
    let user = load_kubeconfig(&cli.cluster)
        .ok()
        .and_then(|kubeconfig| context_user(&kubeconfig, cli.cluster.context.as_deref()))
        .unwrap_or_default();
    rolltop::app::run::run(rolltop::app::run::CockpitOptions {
        connection,
        cluster_args: cli.cluster.clone(),
        theme,
        readonly,
        start_notice: None,
        controller,
        sender: rolltop::app::sending::Sender {
            user,
            audit_log: rolltop::cluster::audit::default_audit_path(),
        },
        settings,
        started,
        timings: std::env::var_os("ROLLTOP_TIMINGS").map(std::path::PathBuf::from),
        prometheus: cli.cockpit.prometheus.clone(),
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// The one namespace a command about a named object works in; `-A` names none.
fn one_namespace(connection: &Connection) -> anyhow::Result<String> {
    connection
        .scope
        .namespace()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("this command needs one namespace: use -n, not -A"))
}

/// Connects and runs one action command on rollout `name`.
async fn action(
    cluster: &ClusterArgs,
    readonly: bool,
    name: &str,
    request: Request,
) -> anyhow::Result<ExitCode> {
    let connection = connect(cluster).await?;
    let namespace = one_namespace(&connection)?;
    // The action future holds a whole Rollout; box it to keep `run`'s future small.
    Box::pin(actions::run(
        &connection.client,
        &namespace,
        name,
        request,
        readonly,
    ))
    .await
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

/// Tracing into `path` (truncated), filtered by `RUST_LOG` (default: info for rolltop).
fn init_tracing_to_file(path: &std::path::Path) {
    let Ok(file) = std::fs::File::create(path) else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,rolltop=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
}
