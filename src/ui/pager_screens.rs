//! Snapshot tests of the log and YAML views and of the header naming the driver: `TestBackend`
//! at 80×24 and 160×48, fixture rollouts, a fixed clock, fixed log lines.

#![allow(clippy::unwrap_used)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::app::msg::{Msg, RolloutEvent};
use crate::app::state::{Scope, StartOptions, State};
use crate::app::update;
use crate::cluster::objects::{LogEvent, ObjectKind};
use crate::model::field_reports::{events_for, field_reports, fixed_now, revisions_for};
use crate::model::{Driver, ResourceKey};

use super::{Theme, render};

fn state(width: u16, height: u16) -> State {
    let mut state = State::new(StartOptions {
        context: "kind-rolltop".into(),
        cluster: "kind-rolltop".into(),
        scope: Scope::AllNamespaces,
        readonly: false,
        now: fixed_now(),
    });
    update(&mut state, Msg::Resize { width, height });
    update(
        &mut state,
        Msg::Rollouts(RolloutEvent::Resynced(field_reports(fixed_now()))),
    );
    state
}

fn press(state: &mut State, code: KeyCode) {
    update(state, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn open(state: &mut State, namespace: &str, name: &str) {
    let key = ResourceKey::new(namespace, name);
    state.selected = state.visible.iter().position(|k| *k == key).unwrap();
    press(state, KeyCode::Enter);
    let summary = state.rollouts[&key].summary.clone();
    update(
        state,
        Msg::Detail {
            key,
            revisions: revisions_for(&summary, fixed_now()),
            events: events_for(&summary, fixed_now()),
        },
    );
}

fn screen(state: &State) -> TestBackend {
    let theme = Theme::built_in("dark").unwrap();
    let mut terminal = Terminal::new(TestBackend::new(state.width, state.height)).unwrap();
    terminal.draw(|frame| render(frame, state, &theme)).unwrap();
    terminal.backend().clone()
}

fn log_lines(version: &str, count: usize) -> LogEvent {
    LogEvent::Lines(
        (0..count)
            .map(|i| {
                format!(
                    "2026-03-01T10:{:02}:{:02}Z GET /color 200 {version} {}ms",
                    i / 60,
                    i % 60,
                    7 + i % 5
                )
            })
            .collect(),
    )
}

#[test]
fn logs_canary_and_stable_side_by_side() {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut state = state(w, h);
        open(&mut state, "argo-apl", "rollouts-demo");
        press(&mut state, KeyCode::Char('l'));
        let stream = state.log_stream;
        update(
            &mut state,
            Msg::Log {
                stream,
                pane: 0,
                event: log_lines("yellow", 30),
            },
        );
        update(
            &mut state,
            Msg::Log {
                stream,
                pane: 1,
                event: log_lines("blue", 3),
            },
        );
        update(
            &mut state,
            Msg::Log {
                stream,
                pane: 1,
                event: LogEvent::Ended(None),
            },
        );
        insta::assert_snapshot!(format!("logs_side_by_side_{w}x{h}"), screen(&state));
    }
}

#[test]
fn logs_scrolled_back_say_so() {
    let mut state = state(80, 24);
    open(&mut state, "argo-apl", "rollouts-demo");
    press(&mut state, KeyCode::Char('g'));
    for _ in 0..2 {
        press(&mut state, KeyCode::Char('j'));
    }
    press(&mut state, KeyCode::Char('l'));
    let stream = state.log_stream;
    update(
        &mut state,
        Msg::Log {
            stream,
            pane: 0,
            event: log_lines("yellow", 40),
        },
    );
    for _ in 0..5 {
        press(&mut state, KeyCode::Up);
    }
    insta::assert_snapshot!("logs_one_pod_scrolled_80x24", screen(&state));
}

const YAML: &str = "\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: rollouts-demo
  namespace: argo-apl
  generation: 3
  labels:
    app: rollouts-demo
spec:
  replicas: 1
  selector:
    matchLabels:
      app: rollouts-demo
  strategy:
    canary:
      steps:
      - setWeight: 5
      - pause: {}
  template:
    metadata:
      labels:
        app: rollouts-demo
    spec:
      containers:
      - name: rollouts-demo
        image: argoproj/rollouts-demo:yellow
status:
  phase: Paused
  currentStepIndex: 1
";

#[test]
fn yaml_view() {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut state = state(w, h);
        let key = ResourceKey::new("argo-apl", "rollouts-demo");
        state.selected = state.visible.iter().position(|k| *k == key).unwrap();
        press(&mut state, KeyCode::Char('y'));
        insta::assert_snapshot!(format!("yaml_loading_{w}x{h}"), screen(&state));
        update(
            &mut state,
            Msg::Yaml {
                kind: ObjectKind::Rollout,
                key,
                result: Ok(YAML.into()),
            },
        );
        press(&mut state, KeyCode::Char('j'));
        insta::assert_snapshot!(format!("yaml_{w}x{h}"), screen(&state));
    }
}

#[test]
fn yaml_error_is_shown() {
    let mut state = state(80, 24);
    let key = state.visible[0].clone();
    press(&mut state, KeyCode::Char('y'));
    update(
        &mut state,
        Msg::Yaml {
            kind: ObjectKind::Rollout,
            key,
            result: Err("getting Rollout x/y: forbidden".into()),
        },
    );
    let text = format!("{}", screen(&state));
    assert!(text.contains("forbidden"), "{text}");
}

#[test]
fn header_names_the_driver() {
    for (w, h, driver) in [
        (
            80,
            24,
            Driver::ThisRolltop {
                lease: "kube-system/rolltop-controller".into(),
            },
        ),
        (
            160,
            48,
            Driver::OtherRolltop {
                identity: "laptop_4242_ab12cd34".into(),
                lease: "kube-system/rolltop-controller".into(),
            },
        ),
    ] {
        let mut state = state(w, h);
        update(&mut state, Msg::Driver(driver));
        let backend = screen(&state);
        let text = format!("{backend}");
        let header = text.lines().next().unwrap();
        assert!(
            header.contains("rolltop ")
                && (header.contains("driver: ") || header.contains("ctl: ")),
            "{header}"
        );
        insta::assert_snapshot!(format!("header_driver_{w}x{h}"), backend);
    }
}
