//! Flow tests of the cockpit's later additions: the log and YAML pagers, the driver in the
//! header, bell/OSC 9 alerts, and the typed-name guard of protected namespaces.

#![allow(clippy::unwrap_used)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::msg::{Effect, LogSource, Msg, RolloutEvent};
use super::pager::{MAX_LOG_LINES, PaneRole, PaneStatus};
use super::settings::{ConfigFile, Settings, parse_config};
use super::state::{InputKind, Overlay, Scope, StartOptions, State, View};
use super::update::update;
use crate::cluster::objects::{LogEvent, ObjectKind};
use crate::model::field_reports::{events_for, field_reports, fixed_now, revisions_for};
use crate::model::{Driver, Phase, ResourceKey, TreeKind};

fn state() -> State {
    let mut state = State::new(StartOptions {
        context: "kind-rolltop".into(),
        cluster: "kind-rolltop".into(),
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

fn select(state: &mut State, key: &ResourceKey) {
    state.selected = state.visible.iter().position(|k| k == key).unwrap();
}

/// Opens `namespace/name` in the detail view with its fixture tree.
fn open(state: &mut State, namespace: &str, name: &str) -> ResourceKey {
    let key = ResourceKey::new(namespace, name);
    select(state, &key);
    press(state, KeyCode::Enter);
    let summary = state.rollouts[&key].summary.clone();
    update(
        state,
        Msg::Detail {
            key: key.clone(),
            revisions: revisions_for(&summary, fixed_now()),
            events: events_for(&summary, fixed_now()),
        },
    );
    key
}

/// Moves the tree cursor to the first line of `kind`.
fn cursor_to(state: &mut State, kind: TreeKind) -> String {
    let View::Detail(detail) = &state.view else {
        panic!("not in the detail view");
    };
    let index = detail.tree.iter().position(|l| l.kind == kind).unwrap();
    let name = detail.tree[index].name.clone();
    press(state, KeyCode::Char('g'));
    for _ in 0..index {
        press(state, KeyCode::Char('j'));
    }
    name
}

#[test]
fn logs_from_the_list_say_how_to_get_there() {
    let mut state = state();
    let effects = press(&mut state, KeyCode::Char('l'));
    assert!(effects.is_empty());
    assert!(matches!(state.view, View::List));
    assert!(state.notice.unwrap().text.contains("open the rollout"));
}

#[test]
fn logs_of_the_rollout_show_canary_and_stable_side_by_side() {
    let mut state = state();
    let key = open(&mut state, "argo-apl", "rollouts-demo");
    let effects = press(&mut state, KeyCode::Char('l'));
    let View::Logs(logs) = &state.view else {
        panic!("no log view: {:?}", state.view);
    };
    let roles: Vec<PaneRole> = logs.panes.iter().map(|p| p.role).collect();
    assert_eq!(roles, [PaneRole::Canary, PaneRole::Stable]);
    assert!(logs.panes[0].label.starts_with("canary rollouts-demo-6f64"));
    assert!(logs.panes[1].label.starts_with("stable rollouts-demo-7d84"));
    let container = state.rollouts[&key].summary.containers.first().cloned();
    let stream = logs.stream;
    assert_eq!(effects[0], Effect::StopDetail);
    let Effect::FollowLogs {
        stream: sent,
        sources,
    } = &effects[1]
    else {
        panic!("{effects:?}");
    };
    assert_eq!(*sent, stream);
    assert_eq!(sources.len(), 2);
    assert_eq!(
        sources[0],
        LogSource {
            namespace: "argo-apl".into(),
            pod: logs.panes[0].label["canary ".len()..].to_owned(),
            container,
        }
    );
    // Esc: back to the same rollout, its watch restarted.
    let effects = press(&mut state, KeyCode::Esc);
    assert_eq!(
        effects,
        [Effect::StopLogs, Effect::WatchDetail(key.clone())]
    );
    assert!(matches!(&state.view, View::Detail(d) if d.key == key));
}

#[test]
fn logs_of_a_pod_line_follow_that_pod() {
    let mut state = state();
    open(&mut state, "argo-apl", "rollouts-demo");
    let pod = cursor_to(&mut state, TreeKind::Pod);
    let effects = press(&mut state, KeyCode::Char('l'));
    let View::Logs(logs) = &state.view else {
        panic!();
    };
    assert_eq!(logs.panes.len(), 1);
    assert_eq!(logs.panes[0].role, PaneRole::Pod);
    assert!(matches!(&effects[1], Effect::FollowLogs { sources, .. } if sources[0].pod == pod));
}

#[test]
fn log_buffers_are_bounded_and_old_streams_ignored() {
    let mut state = state();
    open(&mut state, "argo-apl", "rollouts-demo");
    press(&mut state, KeyCode::Char('l'));
    let View::Logs(logs) = &state.view else {
        panic!();
    };
    let stream = logs.stream;
    let lines: Vec<String> = (0..MAX_LOG_LINES + 10)
        .map(|i| format!("line {i}"))
        .collect();
    update(
        &mut state,
        Msg::Log {
            stream,
            pane: 0,
            event: LogEvent::Lines(lines),
        },
    );
    update(
        &mut state,
        Msg::Log {
            stream: stream - 1,
            pane: 1,
            event: LogEvent::Lines(vec!["from a closed stream".into()]),
        },
    );
    update(
        &mut state,
        Msg::Log {
            stream,
            pane: 1,
            event: LogEvent::Ended(Some("container not found".into())),
        },
    );
    let View::Logs(logs) = &state.view else {
        panic!();
    };
    assert_eq!(logs.panes[0].lines.len(), MAX_LOG_LINES);
    assert_eq!(logs.panes[0].dropped, 10);
    assert_eq!(logs.panes[0].lines.front().unwrap(), "line 10");
    assert!(logs.panes[1].lines.is_empty());
    assert_eq!(
        logs.panes[1].status,
        PaneStatus::Failed("container not found".into())
    );
}

#[test]
fn scrolling_back_holds_still_while_lines_arrive_and_g_follows_again() {
    let mut state = state();
    open(&mut state, "argo-apl", "rollouts-demo");
    press(&mut state, KeyCode::Char('l'));
    let stream = state.log_stream;
    let lines = |n: usize| LogEvent::Lines((0..n).map(|i| format!("l{i}")).collect());
    update(
        &mut state,
        Msg::Log {
            stream,
            pane: 0,
            event: lines(50),
        },
    );
    press(&mut state, KeyCode::Up);
    press(&mut state, KeyCode::Up);
    update(
        &mut state,
        Msg::Log {
            stream,
            pane: 0,
            event: lines(5),
        },
    );
    let back = |state: &State| match &state.view {
        View::Logs(logs) => logs.back_lines,
        _ => panic!(),
    };
    assert_eq!(back(&state), 7);
    // Action keys mean nothing in a pager.
    assert!(press(&mut state, KeyCode::Char('p')).is_empty());
    assert_eq!(state.overlay, Overlay::None);
    press(&mut state, KeyCode::Char('G'));
    assert_eq!(back(&state), 0);
}

#[test]
fn yaml_of_the_selected_row_then_back_to_the_list() {
    let mut state = state();
    let key = state.visible[1].clone();
    select(&mut state, &key);
    let effects = press(&mut state, KeyCode::Char('y'));
    assert_eq!(
        effects,
        [Effect::FetchYaml {
            kind: ObjectKind::Rollout,
            key: key.clone()
        }]
    );
    let text = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: x\n";
    update(
        &mut state,
        Msg::Yaml {
            kind: ObjectKind::Rollout,
            key: key.clone(),
            result: Ok(text.into()),
        },
    );
    press(&mut state, KeyCode::Char('j'));
    press(&mut state, KeyCode::Char('G'));
    let View::Yaml(yaml) = &state.view else {
        panic!();
    };
    assert_eq!(yaml.content.as_ref().unwrap().as_ref().unwrap().len(), 4);
    assert_eq!(yaml.scroll, 3);
    assert!(press(&mut state, KeyCode::Esc).is_empty());
    assert!(matches!(state.view, View::List));
    assert_eq!(state.selected_key(), Some(&key));
}

#[test]
fn yaml_in_the_detail_view_opens_the_selected_tree_object() {
    let mut state = state();
    let key = open(&mut state, "argo-apl", "rollouts-demo");
    let name = cursor_to(&mut state, TreeKind::ReplicaSet);
    let effects = press(&mut state, KeyCode::Char('y'));
    assert_eq!(
        effects,
        [
            Effect::StopDetail,
            Effect::FetchYaml {
                kind: ObjectKind::ReplicaSet,
                key: ResourceKey::new("argo-apl", name)
            }
        ]
    );
    // A late answer about another object is not shown.
    update(
        &mut state,
        Msg::Yaml {
            kind: ObjectKind::Rollout,
            key: key.clone(),
            result: Ok("kind: Rollout".into()),
        },
    );
    assert!(matches!(&state.view, View::Yaml(y) if y.content.is_none()));
    assert_eq!(press(&mut state, KeyCode::Esc), [Effect::WatchDetail(key)]);
}

#[test]
fn driver_reports_reach_the_header_state_and_status_line() {
    let mut state = state();
    update(
        &mut state,
        Msg::Driver(Driver::ThisRolltop {
            lease: "kube-system/rolltop-controller".into(),
        }),
    );
    assert_eq!(
        state.driver.as_ref().unwrap().header_text(),
        "driver: this rolltop"
    );
    assert!(state.notice.unwrap().text.contains("this rolltop drives"));
}

fn upsert(state: &mut State, summary: crate::model::RolloutSummary) -> Vec<Effect> {
    update(
        state,
        Msg::Rollouts(RolloutEvent::Upsert(Box::new(summary))),
    )
}

#[test]
fn entering_degraded_rings_once_and_opt_out_stays_silent() {
    let mut state = state();
    let key = ResourceKey::new("default", "tomozo");
    let mut summary = state.rollouts[&key].summary.clone();
    assert_eq!(summary.phase, Phase::Healthy);
    summary.phase = Phase::Degraded;
    summary.message = "ProgressDeadlineExceeded".into();
    let effects = upsert(&mut state, summary.clone());
    assert_eq!(
        effects,
        [Effect::Notify(
            "rolltop: default/tomozo went Degraded: ProgressDeadlineExceeded".into()
        )]
    );
    assert!(upsert(&mut state, summary.clone()).is_empty(), "rings once");
    let mut quiet = self::state();
    quiet.settings = Settings::new(ConfigFile::default(), false, true);
    quiet.settings.enter_context("kind-rolltop");
    assert!(upsert(&mut quiet, summary).is_empty());
    assert!(quiet.notice.unwrap().text.contains("went Degraded"));
}

fn protected_state() -> State {
    let mut state = state();
    let file = parse_config(
        "[contexts.kind-rolltop]\nprotected = \"kubota-*\"\n",
        "config.toml",
    )
    .unwrap();
    state.settings = Settings::new(file, false, false);
    state.readonly = state.settings.enter_context("kind-rolltop");
    state
}

#[test]
fn protected_namespace_asks_for_the_name_before_a_destructive_action() {
    let mut state = protected_state();
    let key = ResourceKey::new("kubota-test", "rollouts-demo");
    select(&mut state, &key);
    // Undo is destructive and the namespace matches kubota-*.
    press(&mut state, KeyCode::Char('u'));
    assert!(
        matches!(state.overlay, Overlay::Confirm(_)),
        "{:?}",
        state.notice
    );
    assert!(press(&mut state, KeyCode::Char('y')).is_empty());
    assert!(matches!(
        state.input.as_ref().map(|i| &i.kind),
        Some(InputKind::TypeName { name }) if name == "rollouts-demo"
    ));
    for c in "rollouts-dem".chars() {
        press(&mut state, KeyCode::Char(c));
    }
    assert!(press(&mut state, KeyCode::Enter).is_empty());
    assert_eq!(state.overlay, Overlay::None);
    assert!(state.notice.as_ref().unwrap().text.contains("nothing sent"));

    press(&mut state, KeyCode::Char('u'));
    press(&mut state, KeyCode::Char('y'));
    for c in "rollouts-demo".chars() {
        press(&mut state, KeyCode::Char(c));
    }
    let effects = press(&mut state, KeyCode::Enter);
    assert!(matches!(&effects[..], [Effect::Send { key: k, .. }] if *k == key));
}

#[test]
fn unprotected_namespaces_and_gentle_actions_send_on_y() {
    let mut state = protected_state();
    let key = ResourceKey::new("argo-apl", "rollouts-demo");
    select(&mut state, &key);
    press(&mut state, KeyCode::Char('a'));
    let effects = press(&mut state, KeyCode::Char('y'));
    assert!(matches!(&effects[..], [Effect::Send { .. }]), "{effects:?}");
}

#[test]
fn switching_context_applies_its_readonly_setting() {
    let mut state = state();
    let file = parse_config("[contexts.prod-eu]\nreadonly = true\n", "c.toml").unwrap();
    state.settings = Settings::new(file, false, false);
    state.driver = Some(Driver::Checking);
    press(&mut state, KeyCode::Char(':'));
    for c in "ctx prod-eu".chars() {
        press(&mut state, KeyCode::Char(c));
    }
    let effects = press(&mut state, KeyCode::Enter);
    assert_eq!(effects, [Effect::SwitchContext("prod-eu".into())]);
    assert!(state.readonly);
    // The embedded controller stays with the start context, and says so.
    assert_eq!(state.driven_context, "kind-rolltop");
    let notice = &state.notice.as_ref().unwrap().text;
    assert!(
        notice.contains("the embedded controller stays with kind-rolltop"),
        "{notice}"
    );
}

#[test]
fn switching_namespace_keeps_driving_the_start_namespace_and_says_so() {
    let mut state = state();
    state.scope = Scope::Namespace("shop".into());
    state.driven_scope = Scope::Namespace("shop".into());
    state.driver = Some(Driver::ThisRolltop {
        lease: "shop/rolltop-controller".into(),
    });
    press(&mut state, KeyCode::Char(':'));
    for c in "ns payments".chars() {
        press(&mut state, KeyCode::Char(c));
    }
    let effects = press(&mut state, KeyCode::Enter);
    assert_eq!(
        effects,
        [Effect::SetScope(Scope::Namespace("payments".into()))]
    );
    let notice = &state.notice.as_ref().unwrap().text;
    assert_eq!(
        notice,
        "scope: ns payments (this rolltop still drives shop only)"
    );
    assert_eq!(state.driven_scope, Scope::Namespace("shop".into()));
}
