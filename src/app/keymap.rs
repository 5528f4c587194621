//! Keys → intents, by context. The bindings are a contract (docs/keybindings.md); the same
//! table feeds the help overlay and the footer hints, so what is drawn is what is bound.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Where the key lands: the innermost open layer decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyContext {
    List,
    Detail,
    Help,
    Confirm,
    Input,
    /// The log and YAML views: scrolling, back, help, quit.
    Pager,
    /// The AnalysisRun triage view.
    Triage,
    /// The `:ar` run list.
    Runs,
}

/// Operator actions reachable from a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKey {
    Promote,
    PromoteFull,
    Abort,
    Retry,
    Restart,
    Undo,
    SetImage,
    PauseResume,
}

/// Edits of the one-line input (filter, command line, set-image prompts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputEdit {
    Insert(char),
    Backspace,
    Clear,
    Submit,
    Cancel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Quit,
    Back,
    Help,
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    Open,
    Filter,
    Command,
    CycleSort,
    ToggleFold,
    Act(ActionKey),
    Triage,
    Logs,
    Yaml,
    Confirm,
    Cancel,
    Input(InputEdit),
    /// `e` in the triage view: evaluate the selected metric now (dry run).
    Recheck,
    /// `m` in the detail view: show or hide the metric charts.
    Charts,
}

/// One line of the help overlay.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static str,
    pub what: &'static str,
}

/// Every key, in the order the help overlay lists them.
pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: "↑ ↓ j k",
        what: "move",
    },
    Binding {
        keys: "g G",
        what: "first / last",
    },
    Binding {
        keys: "PgUp PgDn",
        what: "page up / down",
    },
    Binding {
        keys: "Enter",
        what: "open rollout",
    },
    Binding {
        keys: "Esc",
        what: "back, close, clear filter",
    },
    Binding {
        keys: "/",
        what: "filter as you type",
    },
    Binding {
        keys: "Ctrl-U",
        what: "clear the input line",
    },
    Binding {
        keys: ":",
        what: "command: ns, ctx, ro, ar",
    },
    Binding {
        keys: "S",
        what: "cycle sort column",
    },
    Binding {
        keys: "p",
        what: "promote one step",
    },
    Binding {
        keys: "P",
        what: "promote --full",
    },
    Binding {
        keys: "a",
        what: "abort",
    },
    Binding {
        keys: "r",
        what: "retry aborted rollout",
    },
    Binding {
        keys: "R",
        what: "restart pods",
    },
    Binding {
        keys: "u",
        what: "undo to previous revision",
    },
    Binding {
        keys: "i",
        what: "set image",
    },
    Binding {
        keys: "s",
        what: "pause / resume",
    },
    Binding {
        keys: "t",
        what: "analysis triage",
    },
    Binding {
        keys: "Enter α",
        what: "triage this AnalysisRun",
    },
    Binding {
        keys: "e",
        what: "triage: re-check now",
    },
    Binding {
        keys: "m",
        what: "detail: charts on/off",
    },
    Binding {
        keys: "l",
        what: "logs: pod or canary|stable",
    },
    Binding {
        keys: "y",
        what: "YAML; in a dialog: send",
    },
    Binding {
        keys: "n",
        what: "in a dialog: cancel",
    },
    Binding {
        keys: "f",
        what: "fold old revisions",
    },
    Binding {
        keys: "?",
        what: "this help",
    },
    Binding {
        keys: "q",
        what: "quit (no dialog open)",
    },
    Binding {
        keys: "Ctrl-C",
        what: "quit from anywhere",
    },
];

/// Short hints for the footer, per context.
pub fn footer_hints(context: KeyContext) -> &'static [(&'static str, &'static str)] {
    match context {
        KeyContext::List => &[
            ("Enter", "open"),
            ("/", "filter"),
            (":", "cmd"),
            ("S", "sort"),
            ("p", "promote"),
            ("a", "abort"),
            ("?", "help"),
            ("q", "quit"),
        ],
        KeyContext::Detail => &[
            ("Esc", "back"),
            ("p", "promote"),
            ("P", "full"),
            ("a", "abort"),
            ("r", "retry"),
            ("f", "fold"),
            ("?", "help"),
            ("q", "quit"),
        ],
        KeyContext::Help => &[("Esc", "close")],
        KeyContext::Confirm => &[("y", "send"), ("n/Esc", "cancel")],
        KeyContext::Input => &[("Enter", "keep"), ("Esc", "cancel"), ("Ctrl-U", "clear")],
        KeyContext::Pager => &[
            ("Esc", "back"),
            ("↑↓", "scroll"),
            ("g/G", "top/end"),
            ("?", "help"),
            ("q", "quit"),
        ],
        KeyContext::Triage => &[
            ("Esc", "back"),
            ("j/k", "metric"),
            ("e", "re-check now"),
            ("?", "help"),
            ("q", "quit"),
        ],
        KeyContext::Runs => &[
            ("Enter", "triage"),
            ("Esc", "back"),
            ("?", "help"),
            ("q", "quit"),
        ],
    }
}

/// The intent of a key in a context; `None` for unbound keys and key releases.
pub fn intent(context: KeyContext, key: KeyEvent) -> Option<Intent> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Intent::Quit);
    }
    match context {
        KeyContext::Input => input_intent(key, ctrl),
        KeyContext::Confirm => match key.code {
            KeyCode::Char('y' | 'Y') => Some(Intent::Confirm),
            KeyCode::Char('n' | 'N') | KeyCode::Esc => Some(Intent::Cancel),
            _ => None,
        },
        KeyContext::Help => match key.code {
            KeyCode::Esc | KeyCode::Char('?' | 'q') => Some(Intent::Back),
            _ => None,
        },
        KeyContext::Pager => pager_intent(key, ctrl),
        KeyContext::Triage if !ctrl && key.code == KeyCode::Char('e') => Some(Intent::Recheck),
        KeyContext::Detail if !ctrl && key.code == KeyCode::Char('m') => Some(Intent::Charts),
        KeyContext::List | KeyContext::Detail | KeyContext::Triage | KeyContext::Runs => {
            view_intent(key, ctrl)
        }
    }
}

fn input_intent(key: KeyEvent, ctrl: bool) -> Option<Intent> {
    let edit = match key.code {
        KeyCode::Char('u') if ctrl => InputEdit::Clear,
        KeyCode::Char(_) if ctrl => return None,
        KeyCode::Char(c) => InputEdit::Insert(c),
        KeyCode::Backspace => InputEdit::Backspace,
        KeyCode::Enter => InputEdit::Submit,
        KeyCode::Esc => InputEdit::Cancel,
        _ => return None,
    };
    Some(Intent::Input(edit))
}

/// In a pager only moving, back, help and quit mean something; action keys do nothing.
fn pager_intent(key: KeyEvent, ctrl: bool) -> Option<Intent> {
    view_intent(key, ctrl).filter(|intent| {
        matches!(
            intent,
            Intent::Up
                | Intent::Down
                | Intent::Top
                | Intent::Bottom
                | Intent::PageUp
                | Intent::PageDown
                | Intent::Back
                | Intent::Help
                | Intent::Quit
        )
    })
}

fn view_intent(key: KeyEvent, ctrl: bool) -> Option<Intent> {
    if ctrl {
        return match key.code {
            KeyCode::Char('d' | 'f') => Some(Intent::PageDown),
            KeyCode::Char('u' | 'b') => Some(Intent::PageUp),
            _ => None,
        };
    }
    Some(match key.code {
        KeyCode::Up | KeyCode::Char('k') => Intent::Up,
        KeyCode::Down | KeyCode::Char('j') => Intent::Down,
        KeyCode::Home | KeyCode::Char('g') => Intent::Top,
        KeyCode::End | KeyCode::Char('G') => Intent::Bottom,
        KeyCode::PageUp => Intent::PageUp,
        KeyCode::PageDown => Intent::PageDown,
        KeyCode::Enter => Intent::Open,
        KeyCode::Esc => Intent::Back,
        KeyCode::Char('q') => Intent::Quit,
        KeyCode::Char('?') => Intent::Help,
        KeyCode::Char('/') => Intent::Filter,
        KeyCode::Char(':') => Intent::Command,
        KeyCode::Char('S') => Intent::CycleSort,
        KeyCode::Char('f') => Intent::ToggleFold,
        KeyCode::Char('p') => Intent::Act(ActionKey::Promote),
        KeyCode::Char('P') => Intent::Act(ActionKey::PromoteFull),
        KeyCode::Char('a') => Intent::Act(ActionKey::Abort),
        KeyCode::Char('r') => Intent::Act(ActionKey::Retry),
        KeyCode::Char('R') => Intent::Act(ActionKey::Restart),
        KeyCode::Char('u') => Intent::Act(ActionKey::Undo),
        KeyCode::Char('i') => Intent::Act(ActionKey::SetImage),
        KeyCode::Char('s') => Intent::Act(ActionKey::PauseResume),
        KeyCode::Char('t') => Intent::Triage,
        KeyCode::Char('l') => Intent::Logs,
        KeyCode::Char('y') => Intent::Yaml,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn contract_keys_map_to_their_intents() {
        let cases = [
            ('p', Intent::Act(ActionKey::Promote)),
            ('P', Intent::Act(ActionKey::PromoteFull)),
            ('a', Intent::Act(ActionKey::Abort)),
            ('r', Intent::Act(ActionKey::Retry)),
            ('R', Intent::Act(ActionKey::Restart)),
            ('u', Intent::Act(ActionKey::Undo)),
            ('i', Intent::Act(ActionKey::SetImage)),
            ('s', Intent::Act(ActionKey::PauseResume)),
            ('t', Intent::Triage),
            ('l', Intent::Logs),
            ('y', Intent::Yaml),
            ('?', Intent::Help),
            ('q', Intent::Quit),
            ('/', Intent::Filter),
            (':', Intent::Command),
            ('S', Intent::CycleSort),
            ('j', Intent::Down),
            ('k', Intent::Up),
            ('g', Intent::Top),
            ('G', Intent::Bottom),
        ];
        for (c, want) in cases {
            for context in [KeyContext::List, KeyContext::Detail] {
                assert_eq!(intent(context, key(KeyCode::Char(c))), Some(want), "{c}");
            }
        }
    }

    #[test]
    fn layers_change_the_meaning_of_keys() {
        let y = key(KeyCode::Char('y'));
        let q = key(KeyCode::Char('q'));
        assert_eq!(intent(KeyContext::Confirm, y), Some(Intent::Confirm));
        assert_eq!(intent(KeyContext::Confirm, q), None);
        assert_eq!(
            intent(KeyContext::Input, q),
            Some(Intent::Input(InputEdit::Insert('q')))
        );
        assert_eq!(intent(KeyContext::Help, q), Some(Intent::Back));
        let ctrl_u = KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL);
        assert_eq!(
            intent(KeyContext::Input, ctrl_u),
            Some(Intent::Input(InputEdit::Clear))
        );
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for context in [
            KeyContext::List,
            KeyContext::Detail,
            KeyContext::Help,
            KeyContext::Confirm,
            KeyContext::Input,
        ] {
            assert_eq!(intent(context, ctrl_c), Some(Intent::Quit));
        }
    }

    #[test]
    fn releases_are_ignored() {
        let mut release = key(KeyCode::Char('p'));
        release.kind = KeyEventKind::Release;
        assert_eq!(intent(KeyContext::List, release), None);
    }
}
