//! The two read-only pagers of the cockpit, state and pure flows: the log view (`l`: the
//! selected pod's log, or canary and stable pods side by side, each pane a bounded buffer that
//! follows the tail until scrolled) and the YAML view (`y`: the selected object as fetched).
//! Both remember the view they came from; `Esc` goes back to it (and restarts its watch).

use std::collections::VecDeque;

use crate::cluster::objects::{LogEvent, ObjectKind};
use crate::model::{ResourceKey, RevisionView, TreeKind};

use super::keymap::Intent;
use super::msg::{Effect, LogSource};
use super::state::{NoticeLevel, State, View};

/// Lines kept per log pane; older lines are dropped (and counted).
pub const MAX_LOG_LINES: usize = 2_000;
/// Lines asked for when a log opens.
pub const LOG_TAIL_LINES: i64 = 200;
/// Lines a page key moves.
const PAGE: usize = 10;

/// What a log pane shows, which picks its label colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaneRole {
    Canary,
    Stable,
    Pod,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaneStatus {
    Streaming,
    Ended,
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct LogPane {
    pub role: PaneRole,
    /// `canary rollouts-demo-6f64-x7k2p`.
    pub label: String,
    pub lines: VecDeque<String>,
    /// Lines dropped off the top of the bounded buffer.
    pub dropped: usize,
    pub status: PaneStatus,
}

#[derive(Debug, Clone)]
pub struct LogsView {
    pub stream: u64,
    pub rollout: ResourceKey,
    pub panes: Vec<LogPane>,
    /// Lines scrolled up from the tail; 0 follows new lines.
    pub back_lines: usize,
    pub back: Box<View>,
}

#[derive(Debug, Clone)]
pub struct YamlView {
    pub kind: ObjectKind,
    pub key: ResourceKey,
    /// `None` while loading; the lines, or why they could not be fetched.
    pub content: Option<Result<Vec<String>, String>>,
    pub scroll: usize,
    pub back: Box<View>,
}

fn say(state: &mut State, level: NoticeLevel, text: String) {
    state.notice = Some(super::state::Notice {
        level,
        text,
        at: state.now,
    });
    state.dirty = true;
}

/// The first pod of the ReplicaSet tagged with one of `tags`, preferring running ones.
fn pod_tagged(revisions: &[RevisionView], tags: &[&str]) -> Option<String> {
    let replica_set = revisions
        .iter()
        .flat_map(|revision| &revision.replica_sets)
        .find(|rs| rs.tags.iter().any(|tag| tags.contains(&tag.as_str())))?;
    let mut pods: Vec<_> = replica_set.pods.iter().collect();
    pods.sort_by_key(|pod| (pod.status != "Running", pod.created));
    pods.first().map(|pod| pod.name.clone())
}

/// `l`: in the detail view, the selected pod's log, or (on any other tree line) canary and
/// stable logs side by side. The list has no pods to pick from, so it says how to get there.
pub fn open_logs(state: &mut State) -> Vec<Effect> {
    let View::Detail(detail) = &state.view else {
        if matches!(state.view, View::List) {
            say(
                state,
                NoticeLevel::Info,
                "logs: open the rollout (Enter), then l on a pod or on the rollout".to_owned(),
            );
        }
        return Vec::new();
    };
    let key = detail.key.clone();
    let container = state
        .rollouts
        .get(&key)
        .and_then(|row| row.summary.containers.first().cloned());
    let mut panes: Vec<(PaneRole, String, String)> = Vec::new();
    match detail.tree.get(detail.scroll) {
        Some(line) if line.kind == TreeKind::Pod => {
            panes.push((
                PaneRole::Pod,
                format!("pod {}", line.name),
                line.name.clone(),
            ));
        }
        _ => {
            let canary = pod_tagged(&detail.revisions, &["canary", "preview"]);
            let stable = pod_tagged(&detail.revisions, &["stable", "active"]);
            if let Some(pod) = &canary {
                panes.push((PaneRole::Canary, format!("canary {pod}"), pod.clone()));
            }
            if let Some(pod) = stable.filter(|pod| Some(pod) != canary.as_ref()) {
                panes.push((PaneRole::Stable, format!("stable {pod}"), pod));
            }
        }
    }
    if panes.is_empty() {
        say(
            state,
            NoticeLevel::Warn,
            format!("logs: {key} has no canary or stable pod yet"),
        );
        return Vec::new();
    }
    state.log_stream += 1;
    let stream = state.log_stream;
    let sources = panes
        .iter()
        .map(|(_, _, pod)| LogSource {
            namespace: key.namespace.clone(),
            pod: pod.clone(),
            container: container.clone(),
        })
        .collect();
    let panes = panes
        .into_iter()
        .map(|(role, label, _)| LogPane {
            role,
            label,
            lines: VecDeque::new(),
            dropped: 0,
            status: PaneStatus::Streaming,
        })
        .collect();
    let back = std::mem::replace(&mut state.view, View::List);
    state.view = View::Logs(LogsView {
        stream,
        rollout: key,
        panes,
        back_lines: 0,
        back: Box::new(back),
    });
    state.dirty = true;
    vec![Effect::StopDetail, Effect::FollowLogs { stream, sources }]
}

/// `y`: the selected object's YAML: the tree line's ReplicaSet, pod or AnalysisRun in the
/// detail view, else the rollout.
pub fn open_yaml(state: &mut State) -> Vec<Effect> {
    let (kind, key) = match &state.view {
        View::Detail(detail) => {
            let namespace = detail.key.namespace.clone();
            match detail.tree.get(detail.scroll) {
                Some(line) if line.kind == TreeKind::Pod => {
                    (ObjectKind::Pod, ResourceKey::new(namespace, &line.name))
                }
                Some(line) if line.kind == TreeKind::ReplicaSet => (
                    ObjectKind::ReplicaSet,
                    ResourceKey::new(namespace, &line.name),
                ),
                Some(line) if line.kind == TreeKind::AnalysisRun => (
                    ObjectKind::AnalysisRun,
                    ResourceKey::new(namespace, &line.name),
                ),
                _ => (ObjectKind::Rollout, detail.key.clone()),
            }
        }
        View::List => {
            let Some(key) = state.selected_key() else {
                say(state, NoticeLevel::Warn, "no rollout selected".to_owned());
                return Vec::new();
            };
            (ObjectKind::Rollout, key.clone())
        }
        View::Logs(_) | View::Yaml(_) => return Vec::new(),
    };
    let mut effects = Vec::new();
    if matches!(state.view, View::Detail(_)) {
        effects.push(Effect::StopDetail);
    }
    let back = std::mem::replace(&mut state.view, View::List);
    state.view = View::Yaml(YamlView {
        kind,
        key: key.clone(),
        content: None,
        scroll: 0,
        back: Box::new(back),
    });
    state.dirty = true;
    effects.push(Effect::FetchYaml { kind, key });
    effects
}

/// `Esc` in a pager: back to the view it came from, restarting that view's watch.
pub fn back(state: &mut State) -> Vec<Effect> {
    let (back, mut effects) = match std::mem::replace(&mut state.view, View::List) {
        View::Logs(logs) => (*logs.back, vec![Effect::StopLogs]),
        View::Yaml(yaml) => (*yaml.back, Vec::new()),
        other => (other, Vec::new()),
    };
    if let View::Detail(detail) = &back {
        effects.push(Effect::WatchDetail(detail.key.clone()));
    }
    state.view = back;
    state.dirty = true;
    effects
}

/// Scrolling inside a pager; false when no pager is open.
pub fn navigate(state: &mut State, intent: Intent) -> bool {
    match &mut state.view {
        View::Logs(logs) => {
            let longest = logs.panes.iter().map(|p| p.lines.len()).max().unwrap_or(0);
            let top = longest.saturating_sub(1);
            logs.back_lines = match intent {
                // Up scrolls back in time.
                Intent::Up => (logs.back_lines + 1).min(top),
                Intent::Down => logs.back_lines.saturating_sub(1),
                Intent::Top => top,
                Intent::Bottom => 0,
                Intent::PageUp => (logs.back_lines + PAGE).min(top),
                Intent::PageDown => logs.back_lines.saturating_sub(PAGE),
                _ => return true,
            };
        }
        View::Yaml(yaml) => {
            let last = match &yaml.content {
                Some(Ok(lines)) => lines.len().saturating_sub(1),
                _ => 0,
            };
            yaml.scroll = match intent {
                Intent::Up => yaml.scroll.saturating_sub(1),
                Intent::Down => (yaml.scroll + 1).min(last),
                Intent::Top => 0,
                Intent::Bottom => last,
                Intent::PageUp => yaml.scroll.saturating_sub(PAGE),
                Intent::PageDown => (yaml.scroll + PAGE).min(last),
                _ => return true,
            };
        }
        View::List | View::Detail(_) => return false,
    }
    state.dirty = true;
    true
}

/// New lines (or the end) of one pane. Lines of an older stream are dropped.
pub fn apply_log(state: &mut State, stream: u64, pane: usize, event: LogEvent) {
    let View::Logs(logs) = &mut state.view else {
        return;
    };
    if logs.stream != stream {
        return;
    }
    let Some(target) = logs.panes.get_mut(pane) else {
        return;
    };
    match event {
        LogEvent::Lines(lines) => {
            let added = lines.len();
            target.lines.extend(lines);
            let over = target.lines.len().saturating_sub(MAX_LOG_LINES);
            target.lines.drain(..over);
            target.dropped += over;
            // Scrolled back: keep the same lines on screen as new ones arrive.
            if logs.back_lines > 0 {
                logs.back_lines += added;
            }
        }
        LogEvent::Ended(None) => target.status = PaneStatus::Ended,
        LogEvent::Ended(Some(error)) => target.status = PaneStatus::Failed(error),
    }
    state.dirty = true;
}

/// The fetched YAML for the open YAML view.
pub fn apply_yaml(
    state: &mut State,
    kind: ObjectKind,
    key: &ResourceKey,
    result: Result<String, String>,
) {
    let View::Yaml(yaml) = &mut state.view else {
        return;
    };
    if yaml.kind != kind || yaml.key != *key {
        return;
    }
    yaml.content = Some(result.map(|text| text.lines().map(str::to_owned).collect()));
    state.dirty = true;
}
