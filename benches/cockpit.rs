//! Cockpit benchmarks (plain main, `harness = false`): render time per frame with 5,000
//! rollouts on a 160×48 `TestBackend`, in the list and in the detail view, and `update` time
//! for a full resync of 5,000 rollouts. Prints median and p95 per case; asserts nothing.
//!
//! Then the real binary end to end (skipped without tmux, or with `ROLLTOP_BENCH_E2E=0`), each
//! against an in-process sandbox: first frame and time to the full list of 5,000 rollouts
//! (from the cockpit's own `ROLLTOP_TIMINGS` stamps, counted from `main`), resident memory
//! (VmRSS of the cockpit process alone) at 1,000 rollouts with 5,000 pods, bytes written to
//! the terminal over 10 s idle (tmux `pipe-pane`), and bytes per minute while the embedded
//! controller drives a canary through its steps.

#[path = "cockpit/e2e.rs"]
mod e2e;

use std::hint::black_box;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rolltop::app::state::{Scope, StartOptions, State};
use rolltop::app::{Msg, RolloutEvent, update};
use rolltop::model::field_reports::{events_for, fixed_now, many_rollouts, revisions_for};
use rolltop::ui::{Theme, render};

const ROLLOUTS: usize = 5_000;

fn measure(name: &str, rounds: usize, mut run: impl FnMut()) {
    // Warm-up: caches, allocator, lazy statics.
    for _ in 0..rounds.min(5) {
        run();
    }
    let mut samples: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    samples.sort();
    let median = samples[samples.len() / 2];
    let p95 = samples[(samples.len() * 95 / 100).min(samples.len() - 1)];
    println!("{name:<44} median {median:>10.2?}   p95 {p95:>10.2?}   ({rounds} rounds)");
}

fn state() -> State {
    let mut state = State::new(StartOptions {
        context: "bench".into(),
        cluster: "bench".into(),
        scope: Scope::AllNamespaces,
        readonly: false,
        now: fixed_now(),
    });
    update(
        &mut state,
        Msg::Resize {
            width: 160,
            height: 48,
        },
    );
    update(
        &mut state,
        Msg::Rollouts(RolloutEvent::Resynced(many_rollouts(ROLLOUTS, fixed_now()))),
    );
    state
}

fn main() {
    let theme = Theme::built_in("dark").unwrap_or_else(|error| panic!("theme: {error}"));
    let items = many_rollouts(ROLLOUTS, fixed_now());

    let mut state = state();
    measure("update: resync 5,000 rollouts", 50, || {
        update(
            &mut state,
            Msg::Rollouts(RolloutEvent::Resynced(black_box(items.clone()))),
        );
    });
    let one = items[2_500].clone();
    measure("update: upsert 1 of 5,000 (moves one row)", 200, || {
        update(
            &mut state,
            Msg::Rollouts(RolloutEvent::Upsert(Box::new(black_box(one.clone())))),
        );
    });
    measure("update: filter keystroke over 5,000", 200, || {
        update(
            &mut state,
            Msg::Key(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE)),
        );
        update(
            &mut state,
            Msg::Key(KeyEvent::new(KeyCode::Char('3'), KeyModifiers::NONE)),
        );
        update(
            &mut state,
            Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
        );
    });

    let mut terminal =
        Terminal::new(TestBackend::new(160, 48)).unwrap_or_else(|error| panic!("{error}"));
    let mut state = self::state();
    measure("render: list frame, 5,000 rows, 160x48", 300, || {
        update(
            &mut state,
            Msg::Key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE)),
        );
        terminal
            .draw(|frame| render(frame, black_box(&state), &theme))
            .unwrap_or_else(|error| panic!("{error}"));
    });

    let key = state.visible[3].clone();
    state.selected = 3;
    update(
        &mut state,
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    let summary = state.rollouts[&key].summary.clone();
    update(
        &mut state,
        Msg::Detail {
            key,
            revisions: revisions_for(&summary, fixed_now()),
            events: events_for(&summary, fixed_now()),
        },
    );
    measure("render: detail frame, 160x48", 300, || {
        terminal
            .draw(|frame| render(frame, black_box(&state), &theme))
            .unwrap_or_else(|error| panic!("{error}"));
    });

    if std::env::var("ROLLTOP_BENCH_E2E").is_ok_and(|v| v == "0") {
        return;
    }
    e2e::run();
}
