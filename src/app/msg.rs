//! The cockpit's inputs (`Msg`) and outputs (`Effect`). Every producer (terminal, watchers,
//! action runner, the 1 s tick) speaks `Msg`; `update` answers with `Effect`s the shell runs.
//! Time arrives only as `Msg::Tick(now)`, so `update` never reads a clock.

use chrono::{DateTime, Utc};
use crossterm::event::{Event, KeyEvent, KeyEventKind};

use crate::cluster::objects::{LogEvent, ObjectKind};
use crate::model::{ActionPlan, Driver, EventView, ResourceKey, RevisionView, RolloutSummary};

use super::state::Scope;

/// Rollout list data from the watcher of the current scope.
#[derive(Debug, Clone)]
pub enum RolloutEvent {
    Upsert(Box<RolloutSummary>),
    Remove(ResourceKey),
    /// A complete list (watch start or restart): replaces everything atomically.
    Resynced(Vec<RolloutSummary>),
}

#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Resize {
        width: u16,
        height: u16,
    },
    Tick(DateTime<Utc>),
    Rollouts(RolloutEvent),
    /// Revisions, ReplicaSets, pods, runs and events of the rollout that is open.
    Detail {
        key: ResourceKey,
        revisions: Vec<RevisionView>,
        events: Vec<EventView>,
    },
    /// A watch broke; the data on screen is getting stale until the next resync.
    WatchFailed {
        error: String,
    },
    ActionFinished {
        key: ResourceKey,
        verb: String,
        outcome: Result<(), String>,
    },
    /// The embedded controller's view of who drives.
    Driver(Driver),
    /// Lines (or the end) of one pane of the log view `stream`.
    Log {
        stream: u64,
        pane: usize,
        event: LogEvent,
    },
    /// An object's YAML for the YAML view, or why it could not be fetched.
    Yaml {
        kind: ObjectKind,
        key: ResourceKey,
        result: Result<String, String>,
    },
    /// Runs, charts and re-check results for the triage layer.
    Triage(super::triage::TriageEvent),
}

impl Msg {
    /// A terminal event as a message: key presses and repeats, and resizes. Key releases
    /// (sent by terminals with the kitty protocol), focus, mouse and paste are dropped.
    pub fn from_terminal(event: &Event) -> Option<Self> {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => Some(Self::Key(*key)),
            Event::Resize(width, height) => Some(Self::Resize {
                width: *width,
                height: *height,
            }),
            _ => None,
        }
    }
}

/// Work for the shell; `update` never does I/O itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send a confirmed action's requests to the rollout in `context`.
    Send {
        context: String,
        key: ResourceKey,
        plan: ActionPlan,
    },
    /// Start watching the ReplicaSets, pods, runs and events of one rollout.
    WatchDetail(ResourceKey),
    StopDetail,
    SetScope(Scope),
    SwitchContext(String),
    /// Follow these pods' logs, one pane each, tagged `stream`; replaces any log stream.
    FollowLogs {
        stream: u64,
        sources: Vec<LogSource>,
    },
    StopLogs,
    FetchYaml {
        kind: ObjectKind,
        key: ResourceKey,
    },
    /// Ring the bell and post an OSC 9 desktop notification with this text.
    Notify(String),
    OpenTriage(ResourceKey),
    ListAnalysisRuns,
    /// Follow one AnalysisRun (Enter on a run in the tree or in `:ar`).
    OpenTriageRun(ResourceKey),
    StopTriage,
    StopAnalysisRuns,
    /// Evaluate one metric against Prometheus now; a dry run, nothing is written.
    Recheck(Box<super::triage::RecheckRequest>),
    /// Chart the Prometheus metrics of this rollout's analysis templates (detail view).
    WatchDetailCharts(ResourceKey),
    StopDetailCharts,
    Quit,
}

/// One pod log to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSource {
    pub namespace: String,
    pub pod: String,
    pub container: Option<String>,
}
