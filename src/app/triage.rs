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
use crate::model::metric_chart::{RolloutCharts, Side, StepMark};
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
    /// Whether `run` is what this target follows.
    pub fn matches(&self, run: &TriageRun) -> bool {
        match self {
            Self::NewestOf(rollout) => {
                run.key.namespace == rollout.namespace
                    && run.rollout.as_deref() == Some(rollout.name.as_str())
            }
            Self::Run(key) => run.key == *key,
        }
    }

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
    /// The pods of each job metric's Job, one status line each, by Job name.
    pub job_pods: BTreeMap<String, Vec<String>>,
    /// The owning rollout's step boundaries (marked under the live chart).
    pub step_marks: Vec<StepMark>,
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
            job_pods: BTreeMap::new(),
            step_marks: Vec::new(),
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
    /// The pods of a job metric's Job (`job` is the Job name).
    JobPods {
        job: String,
        pods: Vec<String>,
    },
    /// The runs of the scope, failing first.
    Runs(Vec<RunRow>),
    RunsFailed(String),
    /// The owning rollout's step boundaries, for the live chart's time axis.
    StepMarks(Vec<StepMark>),
    /// The detail view's charts of `rollout`'s analysis templates (re-read on a slow schedule).
    DetailSpecs {
        rollout: ResourceKey,
        charts: Result<RolloutCharts, String>,
    },
    /// One detail chart's answer for one side.
    DetailChart {
        rollout: ResourceKey,
        id: String,
        side: Option<Side>,
        view: ChartView,
    },
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
            Intent::Charts => Some(super::triage_detail::toggle(state)),
            _ => None,
        },
    }
}

fn open(state: &mut State, target: TriageTarget) -> Vec<Effect> {
    let effect = match &target {
        TriageTarget::NewestOf(key) => Effect::OpenTriage(key.clone()),
        TriageTarget::Run(key) => Effect::OpenTriageRun(key.clone()),
    };
    // Triage covers the detail view: its charts are not on screen, so they stop querying.
    let covered = detail_charts_shown(state).map(|_| Effect::StopDetailCharts);
    state.triage = Some(TriageState::new(target));
    state.dirty = true;
    covered.into_iter().chain([effect]).collect()
}

/// The detail view's key when its charts panel is shown (not hidden with `m`).
fn detail_charts_shown(state: &State) -> Option<ResourceKey> {
    match &state.view {
        View::Detail(detail) if !detail.charts.hidden => Some(detail.key.clone()),
        _ => None,
    }
}

/// When the triage layers are gone and the detail view is on screen again, its charts resume.
fn uncovered(state: &State) -> Option<Effect> {
    if state.triage.is_some() || state.runs.is_some() {
        return None;
    }
    detail_charts_shown(state).map(Effect::WatchDetailCharts)
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
    if effects.contains(&Effect::StopTriage) {
        effects.extend(uncovered(state));
    }
    state.dirty = true;
    effects
}

/// `:ar`: the run list of the scope.
pub fn open_runs(state: &mut State) -> Vec<Effect> {
    let mut effects: Vec<Effect> = close_layers(state)
        .into_iter()
        .filter(|e| *e != Effect::StopAnalysisRuns && !matches!(e, Effect::WatchDetailCharts(_)))
        .collect();
    // The list covers the detail view: its charts stop querying until Esc.
    effects.extend(detail_charts_shown(state).map(|_| Effect::StopDetailCharts));
    state.runs = Some(RunsState::default());
    effects.push(Effect::ListAnalysisRuns);
    effects
}

/// How many rows `PgUp`/`PgDn` move in the triage lists.
const LIST_PAGE: usize = 10;

/// Where a list selection moves for a navigation intent, clamped to `len` rows; `None` when the
/// intent does not move a selection. The one rule for the metric list and the `:ar` list.
pub fn moved_selection(selected: usize, len: usize, intent: Intent) -> Option<usize> {
    let last = len.saturating_sub(1);
    let to = match intent {
        Intent::Up => selected.saturating_sub(1),
        Intent::Down => selected.saturating_add(1),
        Intent::Top => 0,
        Intent::Bottom => last,
        Intent::PageUp => selected.saturating_sub(LIST_PAGE),
        Intent::PageDown => selected.saturating_add(LIST_PAGE),
        _ => return None,
    };
    Some(to.min(last))
}

fn triage_intent(state: &mut State, intent: Intent) -> Vec<Effect> {
    let Some(triage) = state.triage.as_mut() else {
        return Vec::new();
    };
    let len = triage.run.as_ref().map_or(0, |r| r.metrics.len());
    if let Some(selected) = moved_selection(triage.selected, len, intent) {
        triage.selected = selected;
        state.dirty = true;
        return Vec::new();
    }
    match intent {
        Intent::Back => {
            state.triage = None;
            state.dirty = true;
            let mut effects = vec![Effect::StopTriage];
            effects.extend(uncovered(state));
            effects
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
            vec![Effect::Recheck(Box::new(RecheckRequest {
                run,
                definition,
            }))]
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
    if let Some(selected) = moved_selection(runs.selected, runs.rows.len(), intent) {
        runs.selected = selected;
        state.dirty = true;
        return Vec::new();
    }
    match intent {
        Intent::Back => {
            state.runs = None;
            state.dirty = true;
            let mut effects = vec![Effect::StopAnalysisRuns];
            effects.extend(uncovered(state));
            effects
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
            // A late message from the task of a view that was closed is not this view's run.
            if let Some(triage) = state.triage.as_mut().filter(|t| t.target.matches(&run)) {
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
        TriageEvent::JobPods { job, pods } => {
            if let Some(triage) = state.triage.as_mut() {
                triage.job_pods.insert(job, pods);
                state.dirty = true;
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
        TriageEvent::StepMarks(marks) => {
            if let Some(triage) = state.triage.as_mut() {
                triage.step_marks = marks;
                state.dirty = true;
            }
        }
        TriageEvent::DetailSpecs { rollout, charts } => {
            super::triage_detail::apply_specs(state, &rollout, charts);
        }
        TriageEvent::DetailChart {
            rollout,
            id,
            side,
            view,
        } => super::triage_detail::apply_chart(state, &rollout, id, side, view),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::app::msg::{Msg, RolloutEvent};
    use crate::app::state::{Scope, StartOptions};
    use crate::app::update;
    use crate::model::field_reports::{events_for, field_reports, fixed_now, revisions_for};
    use crate::model::triage::fixtures;

    fn state() -> State {
        let mut state = State::new(StartOptions {
            context: "kind".into(),
            cluster: "kind".into(),
            scope: Scope::AllNamespaces,
            readonly: false,
            now: fixed_now(),
        });
        update(
            &mut state,
            Msg::Resize {
                width: 80,
                height: 24,
            },
        );
        update(
            &mut state,
            Msg::Rollouts(RolloutEvent::Resynced(field_reports(fixed_now()))),
        );
        state
    }

    fn press(state: &mut State, code: KeyCode) -> Vec<Effect> {
        update(state, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn arrive(state: &mut State, run: &crate::crd::AnalysisRun) {
        update(
            state,
            Msg::Triage(TriageEvent::Run(Box::new(TriageRun::from_run(run)))),
        );
    }

    #[test]
    fn list_navigation_clamps_to_the_rows() {
        let cases = [
            (0, 5, Intent::Up, Some(0)),
            (2, 5, Intent::Up, Some(1)),
            (2, 5, Intent::Down, Some(3)),
            (4, 5, Intent::Down, Some(4)),
            (3, 5, Intent::Top, Some(0)),
            (0, 5, Intent::Bottom, Some(4)),
            (0, 30, Intent::PageDown, Some(10)),
            (25, 30, Intent::PageDown, Some(29)),
            (5, 30, Intent::PageUp, Some(0)),
            (0, 0, Intent::Down, Some(0)),
            (0, 0, Intent::Bottom, Some(0)),
            (1, 5, Intent::Open, None),
            (1, 5, Intent::Recheck, None),
        ];
        for (selected, len, intent, want) in cases {
            assert_eq!(
                moved_selection(selected, len, intent),
                want,
                "{selected} of {len}, {intent:?}"
            );
        }
    }

    #[test]
    fn t_opens_the_newest_run_of_the_selected_rollout_and_esc_goes_back() {
        let mut state = state();
        let key = state.selected_key().cloned().unwrap();
        assert_eq!(
            press(&mut state, KeyCode::Char('t')),
            [Effect::OpenTriage(key.clone())]
        );
        assert_eq!(
            state.triage.as_ref().unwrap().target,
            TriageTarget::NewestOf(key)
        );
        assert_eq!(crate::app::update::key_context(&state), KeyContext::Triage);
        assert_eq!(press(&mut state, KeyCode::Esc), [Effect::StopTriage]);
        assert!(state.triage.is_none());
        assert!(matches!(state.view, View::List));
    }

    #[test]
    fn t_from_the_detail_view_and_esc_returns_to_it() {
        let mut state = state();
        press(&mut state, KeyCode::Enter);
        let key = state.target_key().cloned().unwrap();
        // The detail view's charts stop while triage covers them and resume after.
        assert_eq!(
            press(&mut state, KeyCode::Char('t')),
            [Effect::StopDetailCharts, Effect::OpenTriage(key.clone())]
        );
        assert_eq!(
            press(&mut state, KeyCode::Esc),
            [Effect::StopTriage, Effect::WatchDetailCharts(key.clone())]
        );
        assert!(matches!(&state.view, View::Detail(d) if d.key == key));
        // Hidden charts stay stopped.
        press(&mut state, KeyCode::Char('m'));
        assert_eq!(
            press(&mut state, KeyCode::Char('t')),
            [Effect::OpenTriage(key.clone())]
        );
        assert_eq!(press(&mut state, KeyCode::Esc), [Effect::StopTriage]);
    }

    #[test]
    fn enter_on_an_analysis_run_in_the_tree_opens_that_run() {
        let mut state = state();
        let key = ResourceKey::new("kubota-test", "rollouts-demo");
        state.selected = state.visible.iter().position(|k| *k == key).unwrap();
        press(&mut state, KeyCode::Enter);
        let summary = state.rollouts[&key].summary.clone();
        update(
            &mut state,
            Msg::Detail {
                key: key.clone(),
                revisions: revisions_for(&summary, fixed_now()),
                events: events_for(&summary, fixed_now()),
            },
        );
        let View::Detail(detail) = &state.view else {
            panic!("not in detail");
        };
        let (index, line) = detail
            .tree
            .iter()
            .enumerate()
            .find(|(_, l)| l.kind == TreeKind::AnalysisRun)
            .unwrap();
        let run = ResourceKey::new("kubota-test", line.name.clone());
        // Enter elsewhere in the tree does nothing; on the run it opens triage.
        if let View::Detail(detail) = &mut state.view {
            detail.scroll = 0;
        }
        assert!(press(&mut state, KeyCode::Enter).is_empty());
        if let View::Detail(detail) = &mut state.view {
            detail.scroll = index;
        }
        assert_eq!(
            press(&mut state, KeyCode::Enter),
            [Effect::StopDetailCharts, Effect::OpenTriageRun(run.clone())]
        );
        assert_eq!(
            state.triage.as_ref().unwrap().target,
            TriageTarget::Run(run)
        );
    }

    #[test]
    fn e_rechecks_the_selected_metric_and_the_result_is_kept() {
        let mut state = state();
        press(&mut state, KeyCode::Char('t'));
        arrive(&mut state, &fixtures::failed(fixed_now()));
        let effects = press(&mut state, KeyCode::Char('e'));
        let [Effect::Recheck(request)] = effects.as_slice() else {
            panic!("{effects:?}");
        };
        assert_eq!(request.definition.name, "error-count");
        assert_eq!(request.definition.success_condition, "result[0] <= 5");
        let triage = state.triage.as_ref().unwrap();
        assert_eq!(triage.rechecking.as_deref(), Some("error-count"));
        update(
            &mut state,
            Msg::Triage(TriageEvent::Recheck(RecheckView {
                metric: "error-count".into(),
                at: fixed_now(),
                outcome: Ok((
                    crate::controller::analysis::AnalysisPhase::Failed,
                    "[16]".into(),
                )),
            })),
        );
        let triage = state.triage.as_ref().unwrap();
        assert!(triage.rechecking.is_none());
        assert!(triage.rechecks.contains_key("error-count"));
        assert!(
            state
                .notice
                .as_ref()
                .unwrap()
                .text
                .contains("a retry would fail again")
        );
        // j selects the next metric; e re-checks that one.
        press(&mut state, KeyCode::Char('j'));
        let effects = press(&mut state, KeyCode::Char('e'));
        assert!(
            matches!(effects.as_slice(), [Effect::Recheck(r)] if r.definition.name == "latency-p99")
        );
    }

    #[test]
    fn a_run_for_another_target_is_ignored() {
        let mut state = state();
        let key = ResourceKey::new("argo-apl", "rollouts-demo");
        state.selected = state.visible.iter().position(|k| *k == key).unwrap();
        press(&mut state, KeyCode::Char('t'));
        // fixtures belong to kubota-test/rollouts-demo, not argo-apl/rollouts-demo.
        arrive(&mut state, &fixtures::failed(fixed_now()));
        assert!(state.triage.as_ref().unwrap().run.is_none());
    }

    #[test]
    fn e_on_a_metric_with_secret_arguments_says_why_it_cannot() {
        let mut state = state();
        press(&mut state, KeyCode::Char('t'));
        arrive(&mut state, &fixtures::inconclusive(fixed_now()));
        assert!(press(&mut state, KeyCode::Char('e')).is_empty());
        assert!(state.notice.as_ref().unwrap().text.contains("secret"));
    }

    #[test]
    fn selection_follows_the_metric_when_the_run_changes() {
        let mut state = state();
        press(&mut state, KeyCode::Char('t'));
        arrive(&mut state, &fixtures::failed(fixed_now()));
        press(&mut state, KeyCode::Char('j'));
        assert_eq!(
            state
                .triage
                .as_ref()
                .unwrap()
                .selected_metric()
                .unwrap()
                .name,
            "latency-p99"
        );
        arrive(&mut state, &fixtures::failed(fixed_now()));
        assert_eq!(
            state
                .triage
                .as_ref()
                .unwrap()
                .selected_metric()
                .unwrap()
                .name,
            "latency-p99"
        );
        update(
            &mut state,
            Msg::Triage(TriageEvent::NoRun("deleted".into())),
        );
        assert_eq!(
            state.triage.as_ref().unwrap().problem.as_deref(),
            Some("deleted")
        );
    }

    #[test]
    fn ar_lists_runs_and_enter_opens_one_and_esc_steps_back() {
        let mut state = state();
        press(&mut state, KeyCode::Char(':'));
        press(&mut state, KeyCode::Char('a'));
        press(&mut state, KeyCode::Char('r'));
        assert_eq!(
            press(&mut state, KeyCode::Enter),
            [Effect::ListAnalysisRuns]
        );
        assert_eq!(crate::app::update::key_context(&state), KeyContext::Runs);
        let rows: Vec<RunRow> = [
            fixtures::successful(fixed_now()),
            fixtures::failed(fixed_now()),
        ]
        .iter()
        .map(|r| RunRow::from_triage(&TriageRun::from_run(r)))
        .collect();
        update(&mut state, Msg::Triage(TriageEvent::Runs(rows.clone())));
        press(&mut state, KeyCode::Char('j'));
        assert_eq!(
            press(&mut state, KeyCode::Enter),
            [Effect::OpenTriageRun(rows[1].key.clone())]
        );
        assert_eq!(press(&mut state, KeyCode::Esc), [Effect::StopTriage]);
        assert_eq!(crate::app::update::key_context(&state), KeyContext::Runs);
        assert_eq!(press(&mut state, KeyCode::Esc), [Effect::StopAnalysisRuns]);
        assert_eq!(crate::app::update::key_context(&state), KeyContext::List);
    }

    #[test]
    fn the_command_line_and_help_work_over_triage() {
        let mut state = state();
        press(&mut state, KeyCode::Char('t'));
        press(&mut state, KeyCode::Char('?'));
        assert_eq!(state.overlay, Overlay::Help);
        press(&mut state, KeyCode::Esc);
        assert!(state.triage.is_some());
        press(&mut state, KeyCode::Char(':'));
        press(&mut state, KeyCode::Char('r'));
        press(&mut state, KeyCode::Char('o'));
        assert_eq!(press(&mut state, KeyCode::Enter), [Effect::StopTriage]);
        assert!(state.triage.is_none());
        assert_eq!(press(&mut state, KeyCode::Char('q')), [Effect::Quit]);
    }
}
