//! The triage layer of the cockpit, pure: the AnalysisRun view (`t` on a rollout, Enter on an
//! AnalysisRun in the detail tree, Enter on a row of `:ar`), the run list (`:ar`), and `e`, the
//! dry-run re-check of the selected metric. The layer sits over the list or detail view, so Esc
//! goes back to exactly where the operator was. Data arrives as `TriageEvent`s from the tasks
//! in `triage_tasks`; this module only decides, `update` calls it. Nothing here writes to the
//! cluster: the re-check queries Prometheus and evaluates the conditions, it never records.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::controller::analysis::MetricDefinition;
use crate::model::ResourceKey;
use crate::model::tree::TreeKind;
use crate::model::triage::{ChartView, RecheckView, RunRow, TriageRun};

use super::keymap::{Intent, KeyContext};
use super::msg::Effect;
use super::state::{Notice, NoticeLevel, Overlay, State, View};

/// Which run the triage view follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriageTarget {
    /// The newest AnalysisRun owned by this rollout (it changes when a new run starts).
    NewestOf(ResourceKey),
    /// This AnalysisRun.
    Run(ResourceKey),
}

impl TriageTarget {
    pub fn describe(&self) -> String {
        match self {
            Self::NewestOf(key) => format!("newest AnalysisRun of rollout {key}"),
            Self::Run(key) => format!("AnalysisRun {key}"),
        }
    }
}

/// The open triage view.
#[derive(Debug, Clone, PartialEq)]
pub struct TriageState {
    pub target: TriageTarget,
    /// `None` until the watch answered.
    pub run: Option<TriageRun>,
    /// Why there is no run to show (no run yet, deleted, watch failed).
    pub problem: Option<String>,
    /// The selected metric (index into `run.metrics`).
    pub selected: usize,
    /// Live charts by metric name.
    pub charts: BTreeMap<String, ChartView>,
    /// The last re-check result by metric name.
    pub rechecks: BTreeMap<String, RecheckView>,
    /// Metric whose re-check is in flight.
    pub rechecking: Option<String>,
}

impl TriageState {
    pub fn new(target: TriageTarget) -> Self {
        Self {
            target,
            run: None,
            problem: None,
            selected: 0,
            charts: BTreeMap::new(),
            rechecks: BTreeMap::new(),
            rechecking: None,
        }
    }

    pub fn selected_metric(&self) -> Option<&crate::model::triage::TriageMetric> {
        self.run.as_ref().and_then(|r| r.metrics.get(self.selected))
    }
}

/// The open `:ar` list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunsState {
    pub rows: Vec<RunRow>,
    pub selected: usize,
    pub loaded: bool,
    pub problem: Option<String>,
}

/// What the triage tasks report.
#[derive(Debug, Clone, PartialEq)]
pub enum TriageEvent {
    Run(Box<TriageRun>),
    /// No run matches the target (yet); the reason in words.
    NoRun(String),
    Chart(ChartView),
    Recheck(RecheckView),
    /// The runs of the scope, failing first.
    Runs(Vec<RunRow>),
    RunsFailed(String),
}

/// `e`'s request: evaluate `definition` once against Prometheus now.
#[derive(Debug, Clone, PartialEq)]
pub struct RecheckRequest {
    pub run: ResourceKey,
    pub definition: MetricDefinition,
}

// MetricDefinition holds no floats; equality is total.
impl Eq for RecheckRequest {}

/// The key context when a triage layer is on top (no input line or dialog open).
pub fn key_context(state: &State) -> Option<KeyContext> {
    if state.input.is_some() || state.overlay != Overlay::None {
        return None;
    }
    if state.triage.is_some() {
        Some(KeyContext::Triage)
    } else if state.runs.is_some() {
        Some(KeyContext::Runs)
    } else {
        None
    }
}

fn notify(state: &mut State, level: NoticeLevel, text: String) {
    state.notice = Some(Notice {
        level,
        text,
        at: state.now,
    });
    state.dirty = true;
}

/// Handles `intent` when it concerns triage; `None` leaves it to the rest of `update`.
pub fn apply_intent(state: &mut State, intent: Intent) -> Option<Vec<Effect>> {
    match key_context(state) {
        // The command line and the rollout's actions work from the triage layer too.
        Some(KeyContext::Triage | KeyContext::Runs)
            if matches!(
                intent,
                Intent::Command | Intent::Act(_) | Intent::Logs | Intent::Yaml
            ) =>
        {
            None
        }
        Some(KeyContext::Triage) => Some(triage_intent(state, intent)),
        Some(KeyContext::Runs) => Some(runs_intent(state, intent)),
        _ => match intent {
            Intent::Triage if state.overlay == Overlay::None && state.input.is_none() => {
                let key = state.target_key().cloned()?;
                Some(open(state, TriageTarget::NewestOf(key)))
            }
            Intent::Open => open_from_tree(state),
            _ => None,
        },
    }
}

fn open(state: &mut State, target: TriageTarget) -> Vec<Effect> {
    let effect = match &target {
        TriageTarget::NewestOf(key) => Effect::OpenTriage(key.clone()),
        TriageTarget::Run(key) => Effect::OpenTriageRun(key.clone()),
    };
    state.triage = Some(TriageState::new(target));
    state.dirty = true;
    vec![effect]
}

/// Enter on an AnalysisRun line of the detail tree opens that run.
fn open_from_tree(state: &mut State) -> Option<Vec<Effect>> {
    let View::Detail(detail) = &state.view else {
        return None;
    };
    let line = detail.tree.get(detail.scroll)?;
    if line.kind != TreeKind::AnalysisRun {
        return None;
    }
    let key = ResourceKey::new(detail.key.namespace.clone(), line.name.clone());
    Some(open(state, TriageTarget::Run(key)))
}

/// Closes the triage view and the run list (`:ro`); the effects stop their tasks.
pub fn close_layers(state: &mut State) -> Vec<Effect> {
    let mut effects = Vec::new();
    if state.triage.take().is_some() {
        effects.push(Effect::StopTriage);
    }
    if state.runs.take().is_some() {
        effects.push(Effect::StopAnalysisRuns);
    }
    state.dirty = true;
    effects
}

/// `:ar`: the run list of the scope.
pub fn open_runs(state: &mut State) -> Vec<Effect> {
    let mut effects: Vec<Effect> = close_layers(state)
        .into_iter()
        .filter(|e| *e != Effect::StopAnalysisRuns)
        .collect();
    state.runs = Some(RunsState::default());
    effects.push(Effect::ListAnalysisRuns);
    effects
}

fn triage_intent(state: &mut State, intent: Intent) -> Vec<Effect> {
    let Some(triage) = state.triage.as_mut() else {
        return Vec::new();
    };
    let last = triage
        .run
        .as_ref()
        .map_or(0, |r| r.metrics.len().saturating_sub(1));
    match intent {
        Intent::Back => {
            state.triage = None;
            state.dirty = true;
            vec![Effect::StopTriage]
        }
        Intent::Up => {
            triage.selected = triage.selected.saturating_sub(1);
            state.dirty = true;
            Vec::new()
        }
        Intent::Down => {
            triage.selected = (triage.selected + 1).min(last);
            state.dirty = true;
            Vec::new()
        }
        Intent::Top => {
            triage.selected = 0;
            state.dirty = true;
            Vec::new()
        }
        Intent::Bottom => {
            triage.selected = last;
            state.dirty = true;
            Vec::new()
        }
        Intent::Recheck => recheck(state),
        Intent::Quit => {
            state.quitting = true;
            vec![Effect::Quit]
        }
        Intent::Help => {
            state.overlay = Overlay::Help;
            state.dirty = true;
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn recheck(state: &mut State) -> Vec<Effect> {
    let Some(triage) = state.triage.as_mut() else {
        return Vec::new();
    };
    let Some((run, metric)) = triage
        .run
        .as_ref()
        .and_then(|run| Some((run.key.clone(), run.metrics.get(triage.selected)?.clone())))
    else {
        notify(
            state,
            NoticeLevel::Warn,
            "re-check: no metric selected".to_owned(),
        );
        return Vec::new();
    };
    match metric.recheck {
        Ok(definition) => {
            triage.rechecking = Some(metric.name.clone());
            let text = format!("re-checking {} against Prometheus (dry run)…", metric.name);
            notify(state, NoticeLevel::Info, text);
            vec![Effect::Recheck(RecheckRequest { run, definition })]
        }
        Err(reason) => {
            let text = format!("re-check {}: {reason}", metric.name);
            notify(state, NoticeLevel::Warn, text);
            Vec::new()
        }
    }
}

fn runs_intent(state: &mut State, intent: Intent) -> Vec<Effect> {
    let Some(runs) = state.runs.as_mut() else {
        return Vec::new();
    };
    let last = runs.rows.len().saturating_sub(1);
    match intent {
        Intent::Back => {
            state.runs = None;
            state.dirty = true;
            vec![Effect::StopAnalysisRuns]
        }
        Intent::Up => {
            runs.selected = runs.selected.saturating_sub(1);
            state.dirty = true;
            Vec::new()
        }
        Intent::Down => {
            runs.selected = (runs.selected + 1).min(last);
            state.dirty = true;
            Vec::new()
        }
        Intent::Top => {
            runs.selected = 0;
            state.dirty = true;
            Vec::new()
        }
        Intent::Bottom => {
            runs.selected = last;
            state.dirty = true;
            Vec::new()
        }
        Intent::Open | Intent::Triage => {
            let Some(key) = runs.rows.get(runs.selected).map(|r| r.key.clone()) else {
                return Vec::new();
            };
            open(state, TriageTarget::Run(key))
        }
        Intent::Quit => {
            state.quitting = true;
            vec![Effect::Quit]
        }
        Intent::Help => {
            state.overlay = Overlay::Help;
            state.dirty = true;
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// Applies what a triage task reported.
pub fn apply_event(state: &mut State, event: TriageEvent) {
    match event {
        TriageEvent::Run(run) => {
            if let Some(triage) = state.triage.as_mut() {
                let selected_name = triage.selected_metric().map(|m| m.name.clone());
                let new_run = triage.run.as_ref().is_none_or(|old| old.key != run.key);
                if new_run {
                    triage.charts.clear();
                    triage.rechecks.clear();
                }
                // Keep the selection on the same metric when the order changes.
                triage.selected = selected_name
                    .filter(|_| !new_run)
                    .and_then(|name| run.metrics.iter().position(|m| m.name == name))
                    .unwrap_or(0);
                triage.run = Some(*run);
                triage.problem = None;
                state.dirty = true;
            }
        }
        TriageEvent::NoRun(reason) => {
            if let Some(triage) = state.triage.as_mut() {
                triage.run = None;
                triage.problem = Some(reason);
                state.dirty = true;
            }
        }
        TriageEvent::Chart(chart) => {
            if let Some(triage) = state.triage.as_mut() {
                triage.charts.insert(chart.metric.clone(), chart);
                state.dirty = true;
            }
        }
        TriageEvent::Recheck(view) => {
            if let Some(triage) = state.triage.as_mut() {
                if triage.rechecking.as_deref() == Some(view.metric.as_str()) {
                    triage.rechecking = None;
                }
                let text = format!("re-check {}: {}", view.metric, view.describe());
                triage.rechecks.insert(view.metric.clone(), view);
                notify(state, NoticeLevel::Info, text);
            }
        }
        TriageEvent::Runs(rows) => {
            if let Some(runs) = state.runs.as_mut() {
                let keep = runs.rows.get(runs.selected).map(|r| r.key.clone());
                runs.rows = rows;
                runs.loaded = true;
                runs.problem = None;
                runs.selected = keep
                    .and_then(|key| runs.rows.iter().position(|r| r.key == key))
                    .unwrap_or(0)
                    .min(runs.rows.len().saturating_sub(1));
                state.dirty = true;
            }
        }
        TriageEvent::RunsFailed(reason) => {
            if let Some(runs) = state.runs.as_mut() {
                runs.problem = Some(reason);
                state.dirty = true;
            }
        }
    }
}

/// Whether moving the clock changes an age the triage layer shows.
pub fn clock_text_changed(state: &State, before: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let reads_differently =
        |at: DateTime<Utc>| crate::model::age(at, before) != crate::model::age(at, now);
    if let Some(triage) = &state.triage {
        return triage.run.as_ref().is_some_and(|run| {
            [run.created, run.started_at, run.completed_at]
                .into_iter()
                .flatten()
                .any(reads_differently)
        }) || triage
            .charts
            .values()
            .any(|c| reads_differently(c.fetched_at));
    }
    state.runs.as_ref().is_some_and(|runs| {
        runs.rows
            .iter()
            .filter_map(|r| r.created)
            .any(reads_differently)
    })
}
