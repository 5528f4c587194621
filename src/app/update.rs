//! `update(&mut State, Msg) -> Vec<Effect>`: every decision of the cockpit, pure. No clock
//! reads (time comes in `Msg::Tick`), no I/O (the shell runs the returned effects). Each arm
//! calls a small named function; anything that changes what is drawn sets `state.dirty`.

use std::cmp::Ordering;
use std::time::Duration;

use chrono::TimeDelta;

use crate::model::alert::alert;
use crate::model::driver::Driver;
use crate::model::{
    Action, ActionRefused, ResourceKey, RolloutSummary, age, build_tree, compare_rollouts,
    human_duration, plan_action,
};

use super::keymap::{ActionKey, InputEdit, Intent, KeyContext, intent};
use super::msg::{Effect, Msg, RolloutEvent};
use super::state::{
    Confirm, DetailState, Input, InputKind, LIST_CHROME_ROWS, Notice, NoticeLevel, Overlay,
    RolloutRow, Scope, State, View,
};

/// How long a notice stays on the status line.
pub const NOTICE_TTL: Duration = Duration::from_secs(8);

pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => match intent(key_context(state), key) {
            Some(intent) => apply_intent(state, intent),
            None => Vec::new(),
        },
        Msg::Resize { width, height } => {
            resize(state, width, height);
            Vec::new()
        }
        Msg::Tick(now) => {
            tick(state, now);
            Vec::new()
        }
        Msg::Rollouts(event) => apply_rollout_event(state, event),
        Msg::Detail {
            key,
            revisions,
            events,
        } => {
            if let View::Detail(detail) = &mut state.view
                && detail.key == key
            {
                detail.tree = build_tree(&revisions, detail.unfold);
                detail.revisions = revisions;
                detail.events = events;
                state.dirty = true;
            }
            Vec::new()
        }
        Msg::WatchFailed { error } => {
            state.watch_error = Some(error);
            state.dirty = true;
            Vec::new()
        }
        Msg::Triage(event) => {
            super::triage::apply_event(state, event);
            Vec::new()
        }
        Msg::ActionFinished { key, verb, outcome } => {
            let (level, text) = match outcome {
                Ok(()) => (NoticeLevel::Info, format!("{verb} {key}: sent")),
                Err(error) => (NoticeLevel::Error, format!("{verb} {key} failed: {error}")),
            };
            notify(state, level, text);
            Vec::new()
        }
        Msg::Driver(driver) => {
            let text = driver.describe();
            state.driver = Some(driver);
            notify(state, NoticeLevel::Info, text);
            Vec::new()
        }
        Msg::Log {
            stream,
            pane,
            event,
        } => {
            super::pager::apply_log(state, stream, pane, event);
            Vec::new()
        }
        Msg::Yaml { kind, key, result } => {
            super::pager::apply_yaml(state, kind, &key, result);
            Vec::new()
        }
    }
}

/// The innermost layer that receives keys.
pub fn key_context(state: &State) -> KeyContext {
    if let Some(context) = super::triage::key_context(state) {
        context
    } else if state.input.is_some() {
        KeyContext::Input
    } else {
        match (&state.overlay, &state.view) {
            (Overlay::Confirm(_), _) => KeyContext::Confirm,
            (Overlay::Help, _) => KeyContext::Help,
            (Overlay::None, View::Detail(_)) => KeyContext::Detail,
            (Overlay::None, View::List) => KeyContext::List,
            (Overlay::None, View::Logs(_) | View::Yaml(_)) => KeyContext::Pager,
        }
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

fn resize(state: &mut State, width: u16, height: u16) {
    state.width = width;
    state.height = height;
    state.viewport_rows = height.saturating_sub(LIST_CHROME_ROWS).max(1) as usize;
    clamp_selection(state);
    state.dirty = true;
}

fn tick(state: &mut State, now: chrono::DateTime<chrono::Utc>) {
    let before = state.now;
    state.now = now;
    let ttl = TimeDelta::from_std(NOTICE_TTL).unwrap_or(TimeDelta::MAX);
    if state.notice.as_ref().is_some_and(|n| now - n.at >= ttl) {
        state.notice = None;
        state.dirty = true;
    }
    // Idle means no draws: redraw only when a clock-derived text on screen reads differently.
    if clock_text_changed(state, before, now)
        || super::triage::clock_text_changed(state, before, now)
    {
        state.dirty = true;
    }
}

/// Whether moving the clock from `before` to `now` changes any age, countdown or freshness
/// text that is on screen: the header, the visible list rows, or the open rollout's pause,
/// tree and events. Comparing the formatted texts keeps this exact without knowing layouts.
fn clock_text_changed(
    state: &State,
    before: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    let reads_differently = |at| age(at, before) != age(at, now);
    let countdown_changes = |summary: &RolloutSummary| {
        summary.pause_remaining(before).map(human_duration)
            != summary.pause_remaining(now).map(human_duration)
    };
    if state.last_event.is_some_and(reads_differently) {
        return true;
    }
    match &state.view {
        View::Detail(detail) => {
            state.rollouts.get(&detail.key).is_some_and(|row| {
                countdown_changes(&row.summary)
                    || row
                        .summary
                        .pause
                        .as_ref()
                        .and_then(|pause| pause.started)
                        .is_some_and(reads_differently)
            }) || detail
                .tree
                .iter()
                .filter_map(|line| line.created)
                .any(reads_differently)
                || detail
                    .events
                    .iter()
                    .any(|event| reads_differently(event.last_seen))
        }
        View::List => state.window().any(|(_, row)| {
            reads_differently(row.summary.created) || countdown_changes(&row.summary)
        }),
        // Pagers show no clock-derived text.
        View::Logs(_) | View::Yaml(_) => false,
    }
}

fn apply_rollout_event(state: &mut State, event: RolloutEvent) -> Vec<Effect> {
    let selected = state.selected_key().cloned();
    let mut alerts = Vec::new();
    // One event moves one row (O(n) memmove, O(log n) comparisons); only a resync re-sorts.
    match event {
        RolloutEvent::Upsert(summary) => {
            let key = summary.key.clone();
            if let Some(alert) = alert(state.rollouts.get(&key).map(|row| &row.summary), &summary) {
                let text = alert.text();
                if state.settings.notify {
                    alerts.push(Effect::Notify(format!("rolltop: {text}")));
                }
                notify(state, NoticeLevel::Warn, text);
            }
            unplace_row(state, &key);
            state
                .rollouts
                .insert(key.clone(), RolloutRow::new(*summary));
            place_row(state, key);
            reselect(state, selected.as_ref());
        }
        RolloutEvent::Remove(key) => {
            unplace_row(state, &key);
            state.rollouts.remove(&key);
            reselect(state, selected.as_ref());
        }
        RolloutEvent::Resynced(items) => {
            state.rollouts = items
                .into_iter()
                .map(|summary| (summary.key.clone(), RolloutRow::new(summary)))
                .collect();
            state.synced = true;
            state.watch_error = None;
            recompute_visible(state, selected.as_ref());
        }
    }
    state.last_event = Some(state.now);
    replan_confirmation(state);
    let mut effects = alerts;
    if let View::Detail(detail) = &state.view
        && !state.rollouts.contains_key(&detail.key)
    {
        let text = format!("{} was deleted", detail.key);
        state.view = View::List;
        effects.push(Effect::StopDetail);
        notify(state, NoticeLevel::Warn, text);
    }
    state.dirty = true;
    effects
}

/// An open confirmation must show what `y` will really send: when its rollout changed (or
/// vanished), plan again; if the action no longer works, close the dialog and say why.
fn replan_confirmation(state: &mut State) {
    let Overlay::Confirm(confirm) = &state.overlay else {
        return;
    };
    let action = confirm.plan.action.clone();
    let Some(row) = state.rollouts.get(&confirm.key) else {
        let text = format!(
            "{}: {} was deleted, nothing sent",
            action.verb(),
            confirm.key
        );
        state.overlay = Overlay::None;
        notify(state, NoticeLevel::Warn, text);
        return;
    };
    match plan_action(&row.summary, &action, state.now, state.readonly) {
        Ok(plan) if plan == confirm.plan => {}
        Ok(plan) => {
            if let Overlay::Confirm(confirm) = &mut state.overlay {
                confirm.plan = plan;
            }
            let text = format!(
                "{}: the rollout changed, confirmation updated",
                action.verb()
            );
            notify(state, NoticeLevel::Warn, text);
        }
        Err(refused) => {
            state.overlay = Overlay::None;
            let text = format!("{}: the rollout changed: {refused}", action.verb());
            notify(state, NoticeLevel::Warn, text);
        }
    }
}

/// Removes `key` from the visible index if it is there.
fn unplace_row(state: &mut State, key: &ResourceKey) {
    if let Some(index) = state.visible.iter().position(|k| k == key) {
        state.visible.remove(index);
    }
}

/// Inserts `key` at its sorted place in the visible index when it passes the filter.
fn place_row(state: &mut State, key: ResourceKey) {
    let Some(row) = state.rollouts.get(&key) else {
        return;
    };
    if !row.matches(&state.filter.to_lowercase()) {
        return;
    }
    let column = state.sort;
    let index = state.visible.partition_point(|other| {
        state.rollouts.get(other).is_some_and(|other| {
            compare_rollouts(&other.summary, &row.summary, column) == Ordering::Less
        })
    });
    state.visible.insert(index, key);
}

/// Keeps the selection on the same rollout after the index changed under it.
fn reselect(state: &mut State, keep: Option<&ResourceKey>) {
    if let Some(key) = keep
        && let Some(index) = state.visible.iter().position(|k| k == key)
    {
        state.selected = index;
    }
    clamp_selection(state);
}

/// Filters and sorts the keys, keeping the selection on the same rollout when it survives.
pub fn recompute_visible(state: &mut State, keep: Option<&ResourceKey>) {
    let needle = state.filter.to_lowercase();
    let mut rows: Vec<&RolloutRow> = state
        .rollouts
        .values()
        .filter(|row| row.matches(&needle))
        .collect();
    let column = state.sort;
    rows.sort_by(|a, b| compare_rollouts(&a.summary, &b.summary, column));
    state.visible = rows
        .into_iter()
        .map(|row| row.summary.key.clone())
        .collect();
    reselect(state, keep);
    state.dirty = true;
}

fn clamp_selection(state: &mut State) {
    let len = state.visible.len();
    state.selected = state.selected.min(len.saturating_sub(1));
    let rows = state.viewport_rows.max(1);
    if state.selected < state.offset {
        state.offset = state.selected;
    } else if state.selected >= state.offset + rows {
        state.offset = state.selected + 1 - rows;
    }
    state.offset = state.offset.min(len.saturating_sub(rows));
}

fn apply_intent(state: &mut State, intent: Intent) -> Vec<Effect> {
    if let Some(effects) = super::triage::apply_intent(state, intent) {
        return effects;
    }
    match intent {
        Intent::Quit => {
            state.quitting = true;
            vec![Effect::Quit]
        }
        Intent::Back => back(state),
        Intent::Help => {
            state.overlay = Overlay::Help;
            state.dirty = true;
            Vec::new()
        }
        Intent::Up
        | Intent::Down
        | Intent::Top
        | Intent::Bottom
        | Intent::PageUp
        | Intent::PageDown => {
            navigate(state, intent);
            Vec::new()
        }
        Intent::Open => open_detail(state),
        Intent::Filter => {
            state.input = Some(Input {
                kind: InputKind::Filter,
                text: state.filter.clone(),
            });
            state.dirty = true;
            Vec::new()
        }
        Intent::Command => {
            state.input = Some(Input {
                kind: InputKind::Command,
                text: String::new(),
            });
            state.dirty = true;
            Vec::new()
        }
        Intent::CycleSort => {
            state.sort = state.sort.next();
            let keep = state.selected_key().cloned();
            recompute_visible(state, keep.as_ref());
            let text = format!("sorted by {}", state.sort.word());
            notify(state, NoticeLevel::Info, text);
            Vec::new()
        }
        Intent::ToggleFold => {
            if let View::Detail(detail) = &mut state.view {
                detail.unfold = !detail.unfold;
                detail.tree = build_tree(&detail.revisions, detail.unfold);
                state.dirty = true;
            }
            Vec::new()
        }
        Intent::Act(action) => request_action(state, action),
        Intent::Triage => with_target(state, Effect::OpenTriage),
        Intent::Logs => super::pager::open_logs(state),
        Intent::Yaml => super::pager::open_yaml(state),
        Intent::Confirm => confirm(state),
        Intent::Cancel => {
            state.overlay = Overlay::None;
            notify(
                state,
                NoticeLevel::Info,
                "cancelled: nothing sent".to_owned(),
            );
            Vec::new()
        }
        Intent::Input(edit) => edit_input(state, edit),
        // Only the triage layer re-checks, and `triage::apply_intent` toggles the detail view's
        // charts panel; both were handled above.
        Intent::Recheck | Intent::Charts => Vec::new(),
    }
}

fn with_target(state: &State, effect: fn(ResourceKey) -> Effect) -> Vec<Effect> {
    state
        .target_key()
        .cloned()
        .map(effect)
        .into_iter()
        .collect()
}

fn back(state: &mut State) -> Vec<Effect> {
    state.dirty = true;
    if state.overlay != Overlay::None {
        state.overlay = Overlay::None;
        return Vec::new();
    }
    match state.view {
        View::Logs(_) | View::Yaml(_) => super::pager::back(state),
        View::Detail(_) => {
            state.view = View::List;
            vec![Effect::StopDetail]
        }
        View::List => {
            if !state.filter.is_empty() {
                state.filter.clear();
                let keep = state.selected_key().cloned();
                recompute_visible(state, keep.as_ref());
            }
            Vec::new()
        }
    }
}

fn navigate(state: &mut State, intent: Intent) {
    if super::pager::navigate(state, intent) {
        return;
    }
    if let View::Detail(detail) = &mut state.view {
        let last = detail.tree.len().saturating_sub(1);
        detail.scroll = match intent {
            Intent::Up => detail.scroll.saturating_sub(1),
            Intent::Down => (detail.scroll + 1).min(last),
            Intent::Top => 0,
            Intent::Bottom => last,
            Intent::PageUp => detail.scroll.saturating_sub(10),
            _ => (detail.scroll + 10).min(last),
        };
        state.dirty = true;
        return;
    }
    let last = state.visible.len().saturating_sub(1);
    let page = state.viewport_rows.max(1);
    state.selected = match intent {
        Intent::Up => state.selected.saturating_sub(1),
        Intent::Down => (state.selected + 1).min(last),
        Intent::Top => 0,
        Intent::Bottom => last,
        Intent::PageUp => state.selected.saturating_sub(page),
        _ => (state.selected + page).min(last),
    };
    clamp_selection(state);
    state.dirty = true;
}

fn open_detail(state: &mut State) -> Vec<Effect> {
    let Some(key) = state.selected_key().cloned() else {
        return Vec::new();
    };
    if matches!(state.view, View::Detail(_)) {
        return Vec::new();
    }
    state.view = View::Detail(DetailState {
        key: key.clone(),
        revisions: Vec::new(),
        tree: Vec::new(),
        events: Vec::new(),
        unfold: false,
        scroll: 0,
        charts: super::triage_detail::DetailCharts::default(),
    });
    state.dirty = true;
    vec![Effect::WatchDetail(key)]
}

fn target_summary(state: &State) -> Option<&RolloutSummary> {
    state
        .target_key()
        .and_then(|key| state.rollouts.get(key))
        .map(|row| &row.summary)
}

fn request_action(state: &mut State, action: ActionKey) -> Vec<Effect> {
    let Some(summary) = target_summary(state) else {
        notify(state, NoticeLevel::Warn, "no rollout selected".to_owned());
        return Vec::new();
    };
    let action = match action {
        ActionKey::Promote => Action::Promote,
        ActionKey::PromoteFull => Action::PromoteFull,
        ActionKey::Abort => Action::Abort,
        ActionKey::Retry => Action::Retry,
        ActionKey::Restart => Action::Restart,
        ActionKey::Undo => Action::Undo,
        ActionKey::PauseResume if summary.spec_paused => Action::Resume,
        ActionKey::PauseResume => Action::Pause,
        ActionKey::SetImage => {
            if state.readonly {
                notify(
                    state,
                    NoticeLevel::Warn,
                    ActionRefused::ReadOnly.to_string(),
                );
                return Vec::new();
            }
            let container = summary.containers.first().cloned().unwrap_or_default();
            state.input = Some(Input {
                kind: InputKind::ImageContainer,
                text: container,
            });
            state.dirty = true;
            return Vec::new();
        }
    };
    propose(state, &action);
    Vec::new()
}

/// Plans `action` on the target: opens the confirmation, or says why it cannot work.
fn propose(state: &mut State, action: &Action) {
    let Some(summary) = target_summary(state) else {
        return;
    };
    match plan_action(summary, action, state.now, state.readonly) {
        Ok(plan) => {
            state.overlay = Overlay::Confirm(Confirm {
                context: state.context.clone(),
                key: summary.key.clone(),
                plan,
            });
            state.dirty = true;
        }
        Err(refused) => {
            let text = format!("{}: {refused}", action.verb());
            notify(state, NoticeLevel::Warn, text);
        }
    }
}

fn confirm(state: &mut State) -> Vec<Effect> {
    if let Some(effects) = super::protect::ask_name_first(state) {
        return effects;
    }
    send_confirmed(state)
}

/// Closes the confirmation and sends its plan.
fn send_confirmed(state: &mut State) -> Vec<Effect> {
    let Overlay::Confirm(confirm) = std::mem::replace(&mut state.overlay, Overlay::None) else {
        return Vec::new();
    };
    let text = format!("{} {}: sending…", confirm.plan.action.verb(), confirm.key);
    notify(state, NoticeLevel::Info, text);
    vec![Effect::Send {
        context: confirm.context,
        key: confirm.key,
        plan: confirm.plan,
    }]
}

fn edit_input(state: &mut State, edit: InputEdit) -> Vec<Effect> {
    let Some(input) = state.input.as_mut() else {
        return Vec::new();
    };
    state.dirty = true;
    match edit {
        InputEdit::Insert(c) => input.text.push(c),
        InputEdit::Backspace => {
            input.text.pop();
        }
        InputEdit::Clear => input.text.clear(),
        InputEdit::Cancel => {
            let kind = input.kind.clone();
            state.input = None;
            if kind == InputKind::Filter {
                state.filter.clear();
                let keep = state.selected_key().cloned();
                recompute_visible(state, keep.as_ref());
            }
            return Vec::new();
        }
        InputEdit::Submit => {
            let Some(input) = state.input.take() else {
                return Vec::new();
            };
            return submit_input(state, input);
        }
    }
    // Filter as you type.
    if input.kind == InputKind::Filter && input.text != state.filter {
        state.filter.clone_from(&input.text);
        let keep = state.selected_key().cloned();
        recompute_visible(state, keep.as_ref());
    }
    Vec::new()
}

fn submit_input(state: &mut State, input: Input) -> Vec<Effect> {
    match input.kind {
        InputKind::Filter => Vec::new(),
        InputKind::Command => run_command(state, input.text.trim()),
        InputKind::ImageContainer => {
            let container = input.text.trim().to_owned();
            let image = target_summary(state)
                .and_then(|s| s.canary_image.clone().or_else(|| s.stable_image.clone()))
                .unwrap_or_default();
            state.input = Some(Input {
                kind: InputKind::Image { container },
                text: image,
            });
            Vec::new()
        }
        InputKind::Image { container } => {
            let action = Action::SetImage {
                container,
                image: input.text.trim().to_owned(),
            };
            propose(state, &action);
            Vec::new()
        }
        InputKind::TypeName { name } => {
            super::protect::submit_name(state, &name, &input.text, send_confirmed)
        }
    }
}

fn run_command(state: &mut State, line: &str) -> Vec<Effect> {
    let mut words = line.split_whitespace();
    let command = words.next().unwrap_or_default();
    let argument = words.next();
    match (command, argument) {
        ("ns" | "namespace", Some(name)) => {
            let scope = if matches!(name, "all" | "-A" | "*") {
                Scope::AllNamespaces
            } else {
                Scope::Namespace(name.to_owned())
            };
            reset_data(state);
            state.scope = scope.clone();
            let mut text = format!("scope: {}", scope.describe());
            if let (Some(Driver::ThisRolltop { .. }), Some(driven)) =
                (&state.driver, state.driven_scope.namespace())
                && scope.namespace() != Some(driven)
            {
                // What is driven stays put: a release in flight must not stall.
                text = format!("{text} (this rolltop still drives {driven} only)");
            }
            notify(state, NoticeLevel::Info, text);
            vec![Effect::SetScope(scope)]
        }
        ("ctx" | "context", Some(name)) => {
            reset_data(state);
            name.clone_into(&mut state.context);
            state.readonly = state.settings.enter_context(name);
            // The embedded controller drives the start context only; the header names a
            // driver again when the view is back there.
            let text = if name == state.driven_context {
                format!("context: {name}")
            } else {
                format!(
                    "context: {name} (the embedded controller stays with {})",
                    state.driven_context
                )
            };
            notify(state, NoticeLevel::Info, text);
            vec![Effect::SwitchContext(name.to_owned())]
        }
        ("ro" | "rollout" | "rollouts", None) => {
            let closed = super::triage::close_layers(state);
            let was_detail = matches!(state.view, View::Detail(_));
            state.view = View::List;
            state.dirty = true;
            let mut effects = closed;
            if was_detail {
                effects.push(Effect::StopDetail);
            }
            effects
        }
        ("ar" | "analysisrun" | "analysisruns", None) => super::triage::open_runs(state),
        ("q" | "quit", None) => {
            state.quitting = true;
            vec![Effect::Quit]
        }
        ("", None) => Vec::new(),
        _ => {
            let text =
                format!("unknown command :{line} (try :ns NAME, :ns all, :ctx NAME, :ro, :ar)");
            notify(state, NoticeLevel::Error, text);
            Vec::new()
        }
    }
}

/// Scope or context changed: the rows on screen belong to the old one, so drop them until
/// the new watch lists.
fn reset_data(state: &mut State) {
    // Triage layers belong to the old scope too; the shell stops their tasks on the switch.
    state.triage = None;
    state.runs = None;
    state.rollouts.clear();
    state.visible.clear();
    state.selected = 0;
    state.offset = 0;
    state.synced = false;
    state.last_event = None;
    state.watch_error = None;
    state.view = View::List;
    state.dirty = true;
}
