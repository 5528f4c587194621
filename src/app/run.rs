//! The cockpit's event loop: the one owner of `State`. It selects over terminal input, watcher
//! events, effect results, a 1 s tick and SIGINT/SIGTERM; feeds each as a `Msg` to `update`,
//! drains whatever else is already queued, and draws once, only when `state.dirty`.
//!
//! The terminal is put back (raw mode off, main screen) on every way out: normal quit, error
//! (a drop guard), panic (ratatui's panic hook) and signals (they end the loop normally).

use std::time::Duration;

use chrono::Utc;
use crossterm::event::EventStream;
use futures::{FutureExt, StreamExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::cli::args::ClusterArgs;
use crate::cluster::client::{self, Connection};
use crate::cluster::watch::WatchEvent;
use crate::ui::{self, Theme};

use super::effects::{After, EffectRunner};
use super::msg::{Msg, RolloutEvent};
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
    /// `--prometheus URL` for the triage charts and re-checks.
    pub prometheus: Option<String>,
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
    if let Some(text) = start_notice {
        notify(&mut state, NoticeLevel::Info, text);
    }

    // Signals first: failing here must not leave the terminal in raw mode.
    let mut sigterm = signal(SignalKind::terminate()).map_err(CockpitError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(CockpitError::Signals)?;

    let (watch_tx, mut watch_rx) = mpsc::unbounded_channel::<WatchEvent>();
    let (msg_tx, mut msg_rx) = mpsc::unbounded_channel::<Msg>();
    let mut runner = EffectRunner::new(connection.client, cluster_args, scope, watch_tx, msg_tx);
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

    loop {
        if state.dirty {
            terminal
                .draw(|frame| ui::render(frame, &state, &theme))
                .map_err(CockpitError::Draw)?;
            state.dirty = false;
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
        if let Flow::Quit = handle(&mut state, &mut runner, queue).await {
            break;
        }
    }
    drop(runner);
    drop(terminal);
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
