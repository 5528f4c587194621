//! Snapshot tests of whole screens: `TestBackend` at 80×24 and 160×48, the five field reports,
//! a fixed clock. Colours are not in text snapshots; styles are checked on cells elsewhere.

#![allow(clippy::unwrap_used)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;

use crate::app::msg::{Msg, RolloutEvent};
use crate::app::state::{Scope, StartOptions, State};
use crate::app::update;
use crate::model::ResourceKey;
use crate::model::field_reports::{
    events_for, field_reports, fixed_now, many_rollouts, revisions_for,
};

use super::{Role, Symbols, Theme, render};

fn state(width: u16, height: u16, readonly: bool) -> State {
    let mut state = State::new(StartOptions {
        context: "kind-rolltop".into(),
        cluster: "kind-rolltop".into(),
        scope: Scope::AllNamespaces,
        readonly,
        now: fixed_now(),
    });
    update(&mut state, Msg::Resize { width, height });
    update(
        &mut state,
        Msg::Rollouts(RolloutEvent::Resynced(field_reports(fixed_now()))),
    );
    // The last event arrived 3 s before the frame.
    update(
        &mut state,
        Msg::Tick(fixed_now() + chrono::TimeDelta::seconds(3)),
    );
    state
}

fn press(state: &mut State, code: KeyCode) {
    update(state, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn open(state: &mut State, namespace: &str, name: &str) {
    let key = ResourceKey::new(namespace, name);
    let index = state.visible.iter().position(|k| *k == key).unwrap();
    state.selected = index;
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

fn screen(state: &State, theme: &Theme) -> TestBackend {
    let mut terminal = Terminal::new(TestBackend::new(state.width, state.height)).unwrap();
    terminal.draw(|frame| render(frame, state, theme)).unwrap();
    terminal.backend().clone()
}

fn dark() -> Theme {
    Theme::built_in("dark").unwrap()
}

fn ascii() -> Theme {
    Theme::built_in("mono")
        .unwrap()
        .with_symbols(Symbols::ASCII)
}

#[test]
fn list() {
    for (w, h) in [(80, 24), (160, 48)] {
        let state = state(w, h, false);
        insta::assert_snapshot!(format!("list_{w}x{h}"), screen(&state, &dark()));
    }
}

#[test]
fn list_ascii() {
    let state = state(80, 24, false);
    insta::assert_snapshot!("list_ascii_80x24", screen(&state, &ascii()));
}

#[test]
fn list_filtering() {
    let mut state = state(80, 24, false);
    press(&mut state, KeyCode::Char('/'));
    for c in "demo".chars() {
        press(&mut state, KeyCode::Char(c));
    }
    insta::assert_snapshot!("list_filter_typing_80x24", screen(&state, &dark()));
    press(&mut state, KeyCode::Enter);
    insta::assert_snapshot!("list_filter_kept_80x24", screen(&state, &dark()));
}

#[test]
fn list_loading() {
    let mut state = State::new(StartOptions {
        context: "prod-eu".into(),
        cluster: "eks-prod".into(),
        scope: Scope::Namespace("payments".into()),
        readonly: true,
        now: fixed_now(),
    });
    update(
        &mut state,
        Msg::Resize {
            width: 80,
            height: 24,
        },
    );
    insta::assert_snapshot!("list_loading_readonly_80x24", screen(&state, &dark()));
}

#[test]
fn list_scrolled_many() {
    let mut state = state(80, 24, false);
    update(
        &mut state,
        Msg::Rollouts(RolloutEvent::Resynced(many_rollouts(5000, fixed_now()))),
    );
    press(&mut state, KeyCode::Char('S'));
    press(&mut state, KeyCode::Char('S'));
    press(&mut state, KeyCode::PageDown);
    press(&mut state, KeyCode::PageDown);
    insta::assert_snapshot!("list_scrolled_5000_80x24", screen(&state, &dark()));
}

#[test]
fn detail_each_field_report() {
    let reports = [
        ("r1", "argo-apl", "rollouts-demo"),
        ("r2", "default", "tomozo"),
        ("r3", "hoge", "sample"),
        ("r4", "default", "nginx"),
        ("r5", "kubota-test", "rollouts-demo"),
    ];
    for (w, h) in [(80, 24), (160, 48)] {
        for (id, namespace, name) in reports {
            let mut state = state(w, h, false);
            open(&mut state, namespace, name);
            insta::assert_snapshot!(format!("detail_{id}_{w}x{h}"), screen(&state, &dark()));
        }
    }
}

#[test]
fn detail_ascii() {
    let mut state = state(80, 24, false);
    open(&mut state, "kubota-test", "rollouts-demo");
    insta::assert_snapshot!("detail_r5_ascii_80x24", screen(&state, &ascii()));
    let mut state = self::state(80, 24, false);
    open(&mut state, "default", "nginx");
    let backend = screen(&state, &ascii());
    let text = format!("{backend}");
    assert!(text.lines().all(str::is_ascii), "{text}");
}

#[test]
fn confirm_promote() {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut state = state(w, h, false);
        open(&mut state, "argo-apl", "rollouts-demo");
        press(&mut state, KeyCode::Char('p'));
        insta::assert_snapshot!(format!("confirm_promote_{w}x{h}"), screen(&state, &dark()));
    }
}

#[test]
fn confirm_set_image_long_patch_wraps() {
    let mut state = state(80, 24, false);
    open(&mut state, "default", "nginx");
    press(&mut state, KeyCode::Char('i'));
    press(&mut state, KeyCode::Enter);
    update(
        &mut state,
        Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
    );
    for c in "registry.example.com/platform/nginx:1.25.3-alpine".chars() {
        press(&mut state, KeyCode::Char(c));
    }
    insta::assert_snapshot!("prompt_set_image_80x24", screen(&state, &dark()));
    press(&mut state, KeyCode::Enter);
    insta::assert_snapshot!("confirm_set_image_80x24", screen(&state, &dark()));
}

#[test]
fn help_overlay() {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut state = state(w, h, false);
        press(&mut state, KeyCode::Char('?'));
        insta::assert_snapshot!(format!("help_{w}x{h}"), screen(&state, &dark()));
    }
}

#[test]
fn readonly_refusal_is_said_on_screen() {
    let mut state = state(80, 24, true);
    press(&mut state, KeyCode::Char('p'));
    insta::assert_snapshot!("readonly_promote_80x24", screen(&state, &dark()));
}

#[test]
fn selection_and_status_use_theme_roles() {
    let state = state(80, 24, false);
    let theme = dark();
    let backend = screen(&state, &theme);
    let buffer = backend.buffer();
    // Row 2 is the selected first row: the degraded, aborted R5.
    assert_eq!(buffer[(5, 2)].bg, theme.style(Role::Selection).bg.unwrap());
    let mono = Theme::load(&super::ThemeChoice {
        theme: None,
        no_color: true,
        ascii: false,
    })
    .unwrap();
    let backend = screen(&state, &mono);
    assert!(
        backend.buffer()[(5, 2)]
            .modifier
            .contains(Modifier::REVERSED)
    );
    // Status of the second row (R1, paused) in the dark theme's paused colour.
    let backend = screen(&state, &theme);
    let cell = (0..80)
        .find(|x| backend.buffer()[(*x, 3)].symbol() == "॥")
        .unwrap();
    assert_eq!(
        backend.buffer()[(cell, 3)].fg,
        theme.style(Role::Paused).fg.unwrap()
    );
}

#[test]
fn ascii_mode_draws_only_ascii_on_every_screen() {
    let theme = ascii();
    let mut screens = Vec::new();
    let mut state = state(80, 24, false);
    screens.push(screen(&state, &theme));
    press(&mut state, KeyCode::Char('?'));
    screens.push(screen(&state, &theme));
    press(&mut state, KeyCode::Esc);
    for (namespace, name) in [
        ("argo-apl", "rollouts-demo"),
        ("hoge", "sample"),
        ("default", "nginx"),
    ] {
        let mut state = self::state(80, 24, false);
        open(&mut state, namespace, name);
        screens.push(screen(&state, &theme));
        press(&mut state, KeyCode::Char('p'));
        screens.push(screen(&state, &theme));
    }
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
    screens.push(screen(&state, &theme));
    for backend in screens {
        for cell in backend.buffer().content() {
            assert!(
                cell.symbol().is_ascii(),
                "{:?} in\n{backend}",
                cell.symbol()
            );
        }
    }
}

#[test]
fn stale_data_says_how_stale_and_why() {
    let mut state = state(80, 24, false);
    update(
        &mut state,
        Msg::WatchFailed {
            error: "connection refused".into(),
        },
    );
    update(
        &mut state,
        Msg::Tick(fixed_now() + chrono::TimeDelta::seconds(95)),
    );
    insta::assert_snapshot!("list_stale_80x24", screen(&state, &dark()));
    update(
        &mut state,
        Msg::Resize {
            width: 160,
            height: 24,
        },
    );
    insta::assert_snapshot!("list_stale_160x24", screen(&state, &dark()));
}

#[test]
fn tiny_terminals_never_panic() {
    let sizes = [
        (1, 1),
        (9, 2),
        (10, 3),
        (20, 5),
        (33, 8),
        (40, 10),
        (60, 15),
        (79, 23),
    ];
    for (w, h) in sizes {
        for theme in [dark(), ascii()] {
            let mut state = state(w, h, false);
            screen(&state, &theme);
            press(&mut state, KeyCode::Char('?'));
            screen(&state, &theme);
            press(&mut state, KeyCode::Esc);
            for (namespace, name) in [("hoge", "sample"), ("default", "nginx")] {
                let mut state = self::state(w, h, false);
                open(&mut state, namespace, name);
                screen(&state, &theme);
                press(&mut state, KeyCode::Char('p'));
                screen(&state, &theme);
            }
        }
    }
}
