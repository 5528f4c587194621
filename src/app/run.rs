//! The cockpit's event loop: the one owner of `State`. It selects over terminal input, watcher
//! events, effect results, a 1 s tick and SIGINT/SIGTERM; feeds each as a `Msg` to `update`,
//! drains whatever else is already queued, and draws once, only when `state.dirty`.
//!
//! The terminal is put back (raw mode off, main screen) on every way out: normal quit, error
//! (a drop guard), panic (ratatui's panic hook) and signals (they end the loop normally).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use crossterm::event::EventStream;
use futures::{FutureExt, StreamExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::cli::args::ClusterArgs;
use crate::cluster::client::{self, Connection};
use crate::cluster::watch::WatchEvent;
use crate::controller::embedded::{EmbeddedMode, run_embedded};
use crate::model::Driver;
use crate::ui::{self, Theme};

use super::effects::{After, EffectRunner};
use super::msg::{Msg, RolloutEvent};
use super::sending::Sender;
use super::settings::Settings;
use super::state::{Notice, NoticeLevel, Scope, StartOptions, State};
use super::update::update;

/// Everything the cockpit needs to start; built by `main` before the terminal is touched.
pub struct CockpitOptions {
    pub connection: Connection,
    /// The global flags, to reconnect when `:ctx NAME` switches context.
    pub cluster_args: ClusterArgs,
    pub theme: Theme,
    pub readonly: bool,
    /// Shown on the status line at start (e.g. the controller's mode).
    pub start_notice: Option<String>,
    /// The embedded controller's mode, and the reason shown when it is off.
    pub controller: (EmbeddedMode, String),
    /// Who sends actions, and the audit log.
    pub sender: Sender,
    /// The config file and flags, resolved per context.
    pub settings: Settings,
    /// When the process started, for the first-frame timing.
    pub started: Instant,
    /// `ROLLTOP_TIMINGS`: a file that gets `first_frame_ms` and `list_synced_ms` lines.
    pub timings: Option<PathBuf>,
    /// `--prometheus URL` for the triage charts and re-checks.
    pub prometheus: Option<String>,
}

/// How long the cockpit waits on quit for the embedded controller to release its Lease.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Appends one timing line (milliseconds since start) to the `ROLLTOP_TIMINGS` file.
fn record_timing(path: Option<&PathBuf>, what: &str, started: Instant, extra: &str) {
    use std::io::Write;
    let Some(path) = path else {
        return;
    };
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "{what} {millis:.1}{extra}");
    }
}

/// Why the cockpit stopped with an error (the terminal is already restored).
#[derive(Debug, thiserror::Error)]
pub enum CockpitError {
    #[error("setting up the terminal: {0}")]
    Terminal(#[source] std::io::Error),
    #[error("drawing: {0}")]
    Draw(#[source] std::io::Error),
    #[error("reading terminal input: {0}")]
    Input(#[source] std::io::Error),
    #[error("installing signal handlers: {0}")]
    Signals(#[source] std::io::Error),
}

/// Puts the terminal back when dropped, so `?` and unwinding restore it too.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// What the loop does after one message.
enum Flow {
    Continue,
    Quit,
}

/// Runs the cockpit until the user quits or a signal arrives.
pub async fn run(options: CockpitOptions) -> Result<(), CockpitError> {
    let CockpitOptions {
        connection,
        cluster_args,
        theme,
        readonly,
        start_notice,
        controller,
        sender,
        settings,
        started,
        timings,
        prometheus,
    } = options;
    let scope = match &connection.scope {
        client::Scope::AllNamespaces => Scope::AllNamespaces,
        client::Scope::Namespace(ns) => Scope::Namespace(ns.clone()),
    };
    let mut state = State::new(StartOptions {
        context: connection.context.clone(),
        cluster: connection.cluster_url.clone(),
        scope: scope.clone(),
        readonly,
        now: Utc::now(),
    });
    state.settings = settings;
    state.readonly = state.settings.enter_context(&state.context) || readonly;
    if let Some(text) = start_notice {
        notify(&mut state, NoticeLevel::Info, text);
    }

    // Signals first: failing here must not leave the terminal in raw mode.
    let mut sigterm = signal(SignalKind::terminate()).map_err(CockpitError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(CockpitError::Signals)?;

    let (watch_tx, mut watch_rx) = mpsc::unbounded_channel::<WatchEvent>();
    let (msg_tx, mut msg_rx) = mpsc::unbounded_channel::<Msg>();
    // The embedded controller: its own task, reporting who drives; stopped (and its Lease
    // released) on the way out.
    let (stop_controller, stop_rx) = tokio::sync::watch::channel(false);
    let (driver_tx, mut driver_rx) = mpsc::unbounded_channel::<Driver>();
    let (mode, off_reason) = controller;
    let controller_task = tokio::spawn(run_embedded(
        connection.client.clone(),
        connection.scope.clone(),
        mode,
        off_reason,
        driver_tx,
        stop_rx,
    ));
    state.driver = Some(Driver::Checking);
    let mut runner = EffectRunner::new(connection.client, cluster_args, scope, watch_tx, msg_tx)
        .with_sender(sender);
    runner.set_prometheus(prometheus);
    runner.start_list();

    let mut terminal = ratatui::try_init().map_err(CockpitError::Terminal)?;
    let _guard = TerminalGuard;
    let size = terminal.size().map_err(CockpitError::Terminal)?;
    update(
        &mut state,
        Msg::Resize {
            width: size.width,
            height: size.height,
        },
    );

    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    let mut first_frame = true;
    let mut first_sync = true;
    loop {
        if state.dirty {
            terminal
                .draw(|frame| ui::render(frame, &state, &theme))
                .map_err(CockpitError::Draw)?;
            state.dirty = false;
            if first_frame {
                first_frame = false;
                record_timing(timings.as_ref(), "first_frame_ms", started, "");
            }
            if first_sync && state.synced {
                first_sync = false;
                let rows = format!(" rollouts {}", state.rollouts.len());
                record_timing(timings.as_ref(), "list_synced_ms", started, &rows);
            }
        }
        let first = tokio::select! {
            event = input.next() => match event {
                Some(Ok(event)) => Msg::from_terminal(&event),
                Some(Err(error)) => return Err(CockpitError::Input(error)),
                // The terminal is gone (hang-up): nothing left to drive the cockpit.
                None => break,
            },
            Some(event) = watch_rx.recv() => watch_msg(&mut state, event),
            Some(msg) = msg_rx.recv() => Some(msg),
            Some(driver) = driver_rx.recv() => Some(Msg::Driver(driver)),
            _ = tick.tick() => Some(Msg::Tick(Utc::now())),
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        };
        let mut queue: Vec<Msg> = first.into_iter().collect();
        // Drain what is already waiting so a burst of events costs one draw.
        while let Some(Some(Ok(event))) = input.next().now_or_never() {
            queue.extend(Msg::from_terminal(&event));
        }
        while let Ok(event) = watch_rx.try_recv() {
            queue.extend(watch_msg(&mut state, event));
        }
        while let Ok(msg) = msg_rx.try_recv() {
            queue.push(msg);
        }
        while let Ok(driver) = driver_rx.try_recv() {
            queue.push(Msg::Driver(driver));
        }
        if let Flow::Quit = handle(&mut state, &mut runner, queue).await {
            break;
        }
    }
    drop(runner);
    drop(terminal);
    // After the terminal is back: releasing the Lease takes a round trip or two.
    let _ = stop_controller.send(true);
    let _ = tokio::time::timeout(RELEASE_TIMEOUT, controller_task).await;
    Ok(())
}

/// Feeds messages to `update` and runs the effects, in order.
async fn handle(state: &mut State, runner: &mut EffectRunner, queue: Vec<Msg>) -> Flow {
    for msg in queue {
        for effect in update(state, msg) {
            match runner.run(effect).await {
                After::Continue => {}
                After::Quit => return Flow::Quit,
                After::Notice(text) => notify(state, NoticeLevel::Warn, text),
            }
        }
        if state.quitting {
            return Flow::Quit;
        }
    }
    Flow::Continue
}

/// A watcher event as a message; a skipped object only leaves a notice.
fn watch_msg(state: &mut State, event: WatchEvent) -> Option<Msg> {
    Some(match event {
        WatchEvent::Upsert(summary) => Msg::Rollouts(RolloutEvent::Upsert(summary)),
        WatchEvent::Remove(key) => Msg::Rollouts(RolloutEvent::Remove(key)),
        WatchEvent::Resynced(items) => Msg::Rollouts(RolloutEvent::Resynced(items)),
        WatchEvent::Detail {
            key,
            revisions,
            events,
        } => Msg::Detail {
            key,
            revisions,
            events,
        },
        WatchEvent::Failed(error) => Msg::WatchFailed { error },
        WatchEvent::Skipped(note) => {
            notify(state, NoticeLevel::Warn, note);
            return None;
        }
    })
}

/// A status-line message from the shell itself (effects not built yet, skipped objects).
fn notify(state: &mut State, level: NoticeLevel, text: String) {
    state.notice = Some(Notice {
        level,
        text,
        at: state.now,
    });
    state.dirty = true;
}
