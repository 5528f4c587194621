//! Flow tests of `update`: message sequences in, state and effects out, no terminal.

#![allow(clippy::unwrap_used)]

use chrono::TimeDelta;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::msg::{Effect, Msg, RolloutEvent};
use super::state::{InputKind, NoticeLevel, Overlay, Scope, StartOptions, State, View};
use super::update::update;
use crate::model::field_reports::{field_reports, fixed_now, many_rollouts};
use crate::model::{ResourceKey, SortColumn};

fn state(readonly: bool) -> State {
    let mut state = State::new(StartOptions {
        context: "kind-rolltop".into(),
        cluster: "kind-rolltop".into(),
        scope: Scope::AllNamespaces,
        readonly,
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

fn ctrl(state: &mut State, c: char) -> Vec<Effect> {
    update(
        state,
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)),
    )
}

fn typed(state: &mut State, text: &str) {
    for c in text.chars() {
        press(state, KeyCode::Char(c));
    }
}

fn names(state: &State) -> Vec<String> {
    state.visible.iter().map(ToString::to_string).collect()
}

fn select(state: &mut State, key: &str) {
    let index = state
        .visible
        .iter()
        .position(|k| k.to_string() == key)
        .unwrap();
    press(state, KeyCode::Char('g'));
    for _ in 0..index {
        press(state, KeyCode::Char('j'));
    }
    assert_eq!(state.selected_key().unwrap().to_string(), key);
}

#[test]
fn default_sort_puts_what_needs_a_human_first() {
    let state = state(false);
    assert_eq!(
        names(&state),
        [
            "kubota-test/rollouts-demo",
            "argo-apl/rollouts-demo",
            "hoge/sample",
            "default/nginx",
            "default/tomozo"
        ]
    );
}

#[test]
fn sort_cycles_and_keeps_the_selection() {
    let mut state = state(false);
    select(&mut state, "default/nginx");
    press(&mut state, KeyCode::Char('S'));
    assert_eq!(state.sort, SortColumn::Namespace);
    assert_eq!(names(&state)[0], "argo-apl/rollouts-demo");
    assert_eq!(state.selected_key().unwrap().to_string(), "default/nginx");
    for _ in 0..4 {
        press(&mut state, KeyCode::Char('S'));
    }
    assert_eq!(state.sort, SortColumn::Attention);
}

#[test]
fn navigation_moves_and_clamps() {
    let mut state = state(false);
    press(&mut state, KeyCode::Char('k'));
    assert_eq!(state.selected, 0);
    press(&mut state, KeyCode::Down);
    press(&mut state, KeyCode::Char('j'));
    assert_eq!(state.selected, 2);
    press(&mut state, KeyCode::Char('G'));
    assert_eq!(state.selected, 4);
    press(&mut state, KeyCode::Char('j'));
    assert_eq!(state.selected, 4);
    press(&mut state, KeyCode::PageUp);
    assert_eq!(state.selected, 0);
}

#[test]
fn paging_scrolls_the_window_over_many_rows() {
    let mut state = state(false);
    update(
        &mut state,
        Msg::Rollouts(RolloutEvent::Resynced(many_rollouts(1000, fixed_now()))),
    );
    assert_eq!(state.viewport_rows, 20);
    press(&mut state, KeyCode::PageDown);
    assert_eq!((state.selected, state.offset), (20, 1));
    press(&mut state, KeyCode::Char('G'));
    assert_eq!((state.selected, state.offset), (999, 980));
    assert_eq!(state.window().count(), 20);
    press(&mut state, KeyCode::Char('g'));
    assert_eq!((state.selected, state.offset), (0, 0));
}

#[test]
fn filter_as_you_type_enter_keeps_esc_clears_slash_reopens() {
    let mut state = state(false);
    press(&mut state, KeyCode::Char('/'));
    typed(&mut state, "demo");
    assert_eq!(state.visible.len(), 2);
    press(&mut state, KeyCode::Enter);
    assert!(state.input.is_none());
    assert_eq!(state.filter, "demo");
    assert_eq!(state.visible.len(), 2);

    press(&mut state, KeyCode::Char('/'));
    assert_eq!(state.input.as_ref().unwrap().text, "demo");
    ctrl(&mut state, 'u');
    assert_eq!(state.input.as_ref().unwrap().text, "");
    assert_eq!(state.visible.len(), 5);
    typed(&mut state, "KUBOTA");
    assert_eq!(names(&state), ["kubota-test/rollouts-demo"]);
    // `q` while typing is text, not quit.
    typed(&mut state, "q");
    assert!(!state.quitting);
    assert!(state.visible.is_empty());
    press(&mut state, KeyCode::Esc);
    assert!(state.input.is_none());
    assert_eq!(state.filter, "");
    assert_eq!(state.visible.len(), 5);
}

#[test]
fn esc_in_the_list_clears_a_kept_filter() {
    let mut state = state(false);
    press(&mut state, KeyCode::Char('/'));
    typed(&mut state, "hoge");
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.visible.len(), 1);
    press(&mut state, KeyCode::Esc);
    assert_eq!(state.visible.len(), 5);
}

#[test]
fn enter_opens_detail_and_esc_goes_back() {
    let mut state = state(false);
    select(&mut state, "argo-apl/rollouts-demo");
    let effects = press(&mut state, KeyCode::Enter);
    let key = ResourceKey::new("argo-apl", "rollouts-demo");
    assert_eq!(effects, [Effect::WatchDetail(key.clone())]);
    assert!(matches!(&state.view, View::Detail(d) if d.key == key));
    let effects = press(&mut state, KeyCode::Esc);
    assert_eq!(effects, [Effect::StopDetail]);
    assert!(matches!(state.view, View::List));
}

#[test]
fn deleting_the_open_rollout_returns_to_the_list_with_a_notice() {
    let mut state = state(false);
    select(&mut state, "default/nginx");
    press(&mut state, KeyCode::Enter);
    let effects = update(
        &mut state,
        Msg::Rollouts(RolloutEvent::Remove(ResourceKey::new("default", "nginx"))),
    );
    assert_eq!(effects, [Effect::StopDetail]);
    assert!(matches!(state.view, View::List));
    assert_eq!(
        state.notice.as_ref().unwrap().text,
        "default/nginx was deleted"
    );
}

#[test]
fn promote_confirms_with_the_patch_and_y_sends() {
    let mut state = state(false);
    select(&mut state, "argo-apl/rollouts-demo");
    assert!(press(&mut state, KeyCode::Char('p')).is_empty());
    let Overlay::Confirm(confirm) = &state.overlay else {
        panic!("no confirmation: {:?}", state.notice)
    };
    assert_eq!(confirm.context, "kind-rolltop");
    assert_eq!(confirm.plan.effect, "step 1/2 → 2/2, weight 5 % → 100 %");
    assert_eq!(
        confirm.plan.requests[0].describe(),
        r#"PATCH status (merge) {"status":{"pauseConditions":null}}"#
    );
    // Other keys do nothing while the dialog is open, q included.
    assert!(press(&mut state, KeyCode::Char('q')).is_empty());
    assert!(!state.quitting);
    let effects = press(&mut state, KeyCode::Char('y'));
    assert!(matches!(
        effects.as_slice(),
        [Effect::Send { key, .. }] if key.to_string() == "argo-apl/rollouts-demo"
    ));
    assert_eq!(state.overlay, Overlay::None);
}

#[test]
fn n_and_esc_cancel_without_sending() {
    let mut state = state(false);
    select(&mut state, "argo-apl/rollouts-demo");
    for cancel in [KeyCode::Char('n'), KeyCode::Esc] {
        press(&mut state, KeyCode::Char('a'));
        assert!(matches!(state.overlay, Overlay::Confirm(_)));
        assert!(press(&mut state, cancel).is_empty());
        assert_eq!(state.overlay, Overlay::None);
        assert_eq!(
            state.notice.as_ref().unwrap().text,
            "cancelled: nothing sent"
        );
    }
}

#[test]
fn readonly_refuses_every_action_with_the_reason() {
    let mut state = state(true);
    select(&mut state, "argo-apl/rollouts-demo");
    for key in ['p', 'P', 'a', 'r', 'R', 'u', 's', 'i'] {
        let effects = press(&mut state, KeyCode::Char(key));
        assert!(effects.is_empty(), "{key}");
        assert_eq!(state.overlay, Overlay::None, "{key}");
        assert!(state.input.is_none(), "{key}");
        let notice = state.notice.as_ref().unwrap();
        assert_eq!(notice.level, NoticeLevel::Warn);
        assert!(notice.text.contains("read-only"), "{key}: {}", notice.text);
    }
}

#[test]
fn gating_explains_instead_of_doing_nothing() {
    let mut state = state(false);
    select(&mut state, "kubota-test/rollouts-demo");
    press(&mut state, KeyCode::Char('p'));
    assert_eq!(state.overlay, Overlay::None);
    assert_eq!(
        state.notice.as_ref().unwrap().text,
        "promote: rollout is aborted: retry (r) first, then promote"
    );
    press(&mut state, KeyCode::Char('r'));
    assert!(
        matches!(&state.overlay, Overlay::Confirm(c) if c.plan.effect.starts_with("clear the abort"))
    );
    press(&mut state, KeyCode::Esc);
    select(&mut state, "default/tomozo");
    press(&mut state, KeyCode::Char('a'));
    assert_eq!(
        state.notice.as_ref().unwrap().text,
        "abort: nothing to abort: no update in progress"
    );
}

#[test]
fn set_image_prompts_container_then_image_then_confirms() {
    let mut state = state(false);
    select(&mut state, "default/nginx");
    press(&mut state, KeyCode::Char('i'));
    let input = state.input.as_ref().unwrap();
    assert_eq!(
        (&input.kind, input.text.as_str()),
        (&InputKind::ImageContainer, "nginx")
    );
    press(&mut state, KeyCode::Enter);
    let input = state.input.as_ref().unwrap();
    assert_eq!(input.text, "nginx:1.24.0");
    ctrl(&mut state, 'u');
    typed(&mut state, "nginx:1.25.0");
    press(&mut state, KeyCode::Enter);
    let Overlay::Confirm(confirm) = &state.overlay else {
        panic!("no confirmation")
    };
    assert_eq!(
        confirm.plan.requests[0].describe(),
        r#"GET+PUT rollout {"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.25.0"}]}}}}"#
    );
}

#[test]
fn command_line_changes_scope_and_context() {
    let mut state = state(false);
    press(&mut state, KeyCode::Char(':'));
    typed(&mut state, "ns kubota-test");
    let effects = press(&mut state, KeyCode::Enter);
    assert_eq!(
        effects,
        [Effect::SetScope(Scope::Namespace("kubota-test".into()))]
    );
    assert!(state.rollouts.is_empty() && !state.synced);
    press(&mut state, KeyCode::Char(':'));
    typed(&mut state, "ns all");
    assert_eq!(
        press(&mut state, KeyCode::Enter),
        [Effect::SetScope(Scope::AllNamespaces)]
    );
    press(&mut state, KeyCode::Char(':'));
    typed(&mut state, "ctx prod-eu");
    assert_eq!(
        press(&mut state, KeyCode::Enter),
        [Effect::SwitchContext("prod-eu".into())]
    );
    assert_eq!(state.context, "prod-eu");
    press(&mut state, KeyCode::Char(':'));
    typed(&mut state, "ar");
    assert_eq!(
        press(&mut state, KeyCode::Enter),
        [Effect::ListAnalysisRuns]
    );
    press(&mut state, KeyCode::Char(':'));
    typed(&mut state, "bogus");
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.notice.as_ref().unwrap().level, NoticeLevel::Error);
}

#[test]
fn q_quits_from_views_and_ctrl_c_from_anywhere() {
    let mut state = state(false);
    press(&mut state, KeyCode::Enter);
    assert_eq!(press(&mut state, KeyCode::Char('q')), [Effect::Quit]);
    let mut state = self::state(false);
    press(&mut state, KeyCode::Char('/'));
    assert_eq!(ctrl(&mut state, 'c'), [Effect::Quit]);
    assert!(state.quitting);
}

#[test]
fn help_overlay_opens_and_closes() {
    let mut state = state(false);
    press(&mut state, KeyCode::Char('?'));
    assert_eq!(state.overlay, Overlay::Help);
    press(&mut state, KeyCode::Char('q'));
    assert_eq!(state.overlay, Overlay::None);
    assert!(!state.quitting);
}

#[test]
fn resync_keeps_the_selection_and_notices_expire_on_tick() {
    let mut state = state(false);
    select(&mut state, "default/nginx");
    let mut reports = field_reports(fixed_now());
    reports.reverse();
    update(&mut state, Msg::Rollouts(RolloutEvent::Resynced(reports)));
    assert_eq!(state.selected_key().unwrap().to_string(), "default/nginx");
    press(&mut state, KeyCode::Char('S'));
    assert!(state.notice.is_some());
    update(&mut state, Msg::Tick(fixed_now() + TimeDelta::seconds(3)));
    assert!(state.notice.is_some());
    update(&mut state, Msg::Tick(fixed_now() + TimeDelta::seconds(9)));
    assert!(state.notice.is_none());
}

#[test]
fn dirty_is_set_by_changes_and_left_alone_by_unbound_keys() {
    let mut state = state(false);
    state.dirty = false;
    press(&mut state, KeyCode::Char('z'));
    assert!(!state.dirty);
    press(&mut state, KeyCode::Char('j'));
    assert!(state.dirty);
}

#[test]
fn action_results_become_notices() {
    let mut state = state(false);
    let key = ResourceKey::new("default", "nginx");
    update(
        &mut state,
        Msg::ActionFinished {
            key,
            verb: "abort".into(),
            outcome: Err("rollouts.argoproj.io \"nginx\" is forbidden".into()),
        },
    );
    let notice = state.notice.as_ref().unwrap();
    assert_eq!(notice.level, NoticeLevel::Error);
    assert!(notice.text.starts_with("abort default/nginx failed"));
}

#[test]
fn incremental_upserts_and_removes_match_a_full_resort() {
    let mut state = state(false);
    update(
        &mut state,
        Msg::Rollouts(RolloutEvent::Resynced(many_rollouts(200, fixed_now()))),
    );
    press(&mut state, KeyCode::Char('/'));
    typed(&mut state, "team-0");
    press(&mut state, KeyCode::Enter);
    let seventh = state.visible[7].to_string();
    select(&mut state, &seventh);
    let kept = state.selected_key().cloned().unwrap();
    let shapes = field_reports(fixed_now());
    for (i, mut summary) in many_rollouts(200, fixed_now())
        .into_iter()
        .enumerate()
        .step_by(7)
    {
        // Change the shape so the row moves; some rows leave the filter, some join it.
        let shape = &shapes[(i / 7) % shapes.len()];
        summary.phase = shape.phase;
        summary.aborted = shape.aborted;
        summary.pause.clone_from(&shape.pause);
        if i % 3 == 0 {
            summary.key.namespace = format!("team-0{}", i % 10);
        }
        update(
            &mut state,
            Msg::Rollouts(RolloutEvent::Upsert(Box::new(summary))),
        );
    }
    update(
        &mut state,
        Msg::Rollouts(RolloutEvent::Remove(ResourceKey::new(
            "team-01",
            "svc-00001",
        ))),
    );
    let incremental = state.visible.clone();
    super::update::recompute_visible(&mut state, None);
    assert_eq!(incremental, state.visible);
    assert!(!incremental.is_empty());
    assert_eq!(state.selected_key(), Some(&kept));
}

#[test]
fn terminal_events_become_messages() {
    use crossterm::event::{Event, KeyEventKind};
    let press = KeyEvent::new(KeyCode::Char('p'), KeyModifiers::NONE);
    let mut release = press;
    release.kind = KeyEventKind::Release;
    assert!(matches!(Msg::from_terminal(&Event::Key(press)), Some(Msg::Key(k)) if k == press));
    assert!(Msg::from_terminal(&Event::Key(release)).is_none());
    assert!(matches!(
        Msg::from_terminal(&Event::Resize(100, 30)),
        Some(Msg::Resize {
            width: 100,
            height: 30
        })
    ));
    assert!(Msg::from_terminal(&Event::FocusGained).is_none());
}

#[test]
fn a_failed_watch_marks_the_data_stale_until_the_next_resync() {
    let mut state = state(false);
    update(
        &mut state,
        Msg::WatchFailed {
            error: "connection refused".into(),
        },
    );
    assert_eq!(state.watch_error.as_deref(), Some("connection refused"));
    assert_eq!(state.rollouts.len(), 5);
    update(
        &mut state,
        Msg::Rollouts(RolloutEvent::Resynced(field_reports(fixed_now()))),
    );
    assert_eq!(state.watch_error, None);
}

#[test]
fn an_open_confirmation_follows_the_rollout_it_acts_on() {
    let mut state = state(false);
    select(&mut state, "default/nginx");
    press(&mut state, KeyCode::Char('p'));
    let Overlay::Confirm(before) = state.overlay.clone() else {
        panic!("no confirmation")
    };
    assert_eq!(before.plan.effect, "step 1/6 → 2/6, weight 30 % → 60 %");
    // The timed pause ran out meanwhile: the controller moved to step 2.
    let mut moved = field_reports(fixed_now())[3].clone();
    moved.step_index = Some(2);
    moved.desired_weight = 60;
    moved.pause = None;
    update(
        &mut state,
        Msg::Rollouts(RolloutEvent::Upsert(Box::new(moved.clone()))),
    );
    let Overlay::Confirm(after) = &state.overlay else {
        panic!("confirmation closed")
    };
    assert_eq!(after.plan.effect, "step 2/6 → 3/6, weight 60 % → 60 %");
    assert!(
        state
            .notice
            .as_ref()
            .unwrap()
            .text
            .contains("confirmation updated")
    );
    // Then someone aborted it from another terminal: promote no longer works.
    moved.aborted = true;
    update(
        &mut state,
        Msg::Rollouts(RolloutEvent::Upsert(Box::new(moved))),
    );
    assert_eq!(state.overlay, Overlay::None);
    assert_eq!(
        state.notice.as_ref().unwrap().text,
        "promote: the rollout changed: rollout is aborted: retry (r) first, then promote"
    );
    // An unrelated rollout's update leaves an open dialog alone.
    press(&mut state, KeyCode::Char('R'));
    let Overlay::Confirm(restart) = state.overlay.clone() else {
        panic!("no confirmation")
    };
    update(
        &mut state,
        Msg::Rollouts(RolloutEvent::Upsert(Box::new(
            field_reports(fixed_now())[1].clone(),
        ))),
    );
    assert_eq!(state.overlay, Overlay::Confirm(restart));
}

#[test]
fn idle_ticks_draw_only_when_a_clock_text_on_screen_changes() {
    let mut state = state(false);
    update(
        &mut state,
        Msg::Rollouts(RolloutEvent::Resynced(field_reports(fixed_now()))),
    );
    // Fresh data: the header counts seconds since the last event.
    state.dirty = false;
    update(&mut state, Msg::Tick(fixed_now() + TimeDelta::seconds(1)));
    assert!(state.dirty);
    // An hour later every age on the list reads in minutes or coarser: a second changes nothing.
    update(
        &mut state,
        Msg::Tick(fixed_now() + TimeDelta::seconds(3610)),
    );
    state.dirty = false;
    update(
        &mut state,
        Msg::Tick(fixed_now() + TimeDelta::seconds(3611)),
    );
    assert!(!state.dirty);
    // The minute turns: "60m ago" becomes "61m ago".
    update(
        &mut state,
        Msg::Tick(fixed_now() + TimeDelta::seconds(3660)),
    );
    assert!(state.dirty);
}

#[test]
fn idle_detail_view_draws_only_when_an_age_on_it_turns_over() {
    let mut state = state(false);
    update(
        &mut state,
        Msg::Rollouts(RolloutEvent::Resynced(field_reports(fixed_now()))),
    );
    select(&mut state, "default/tomozo");
    press(&mut state, KeyCode::Enter);
    let key = state.target_key().unwrap().clone();
    let event = crate::model::EventView {
        last_seen: fixed_now() + TimeDelta::seconds(3000),
        kind: crate::model::EventType::Normal,
        reason: "RolloutUpdated".to_owned(),
        message: "updated".to_owned(),
        count: 1,
    };
    update(
        &mut state,
        Msg::Detail {
            key,
            revisions: Vec::new(),
            events: vec![event],
        },
    );
    // The event is 610 s old: "10m" for the whole minute.
    update(
        &mut state,
        Msg::Tick(fixed_now() + TimeDelta::seconds(3610)),
    );
    state.dirty = false;
    update(
        &mut state,
        Msg::Tick(fixed_now() + TimeDelta::seconds(3611)),
    );
    assert!(!state.dirty);
    update(
        &mut state,
        Msg::Tick(fixed_now() + TimeDelta::seconds(3660)),
    );
    assert!(state.dirty);
}
