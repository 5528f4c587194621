//! The typed-name guard of protected namespaces (`protected = "prod-*"` in the config file):
//! `y` on a destructive action there opens a prompt, and only the rollout's exact name sends
//! it. Pure flows over `State`.

use super::msg::Effect;
use super::state::{Input, InputKind, Notice, NoticeLevel, Overlay, State};

/// `y` on an open confirmation: asks for the name when the action needs it (`Some`), else
/// `None` and the caller sends.
pub fn ask_name_first(state: &mut State) -> Option<Vec<Effect>> {
    let Overlay::Confirm(confirm) = &state.overlay else {
        return None;
    };
    if !state
        .settings
        .needs_typed_name(&confirm.plan.action, &confirm.key.namespace)
    {
        return None;
    }
    let name = confirm.key.name.clone();
    state.input = Some(Input {
        kind: InputKind::TypeName { name },
        text: String::new(),
    });
    state.dirty = true;
    Some(Vec::new())
}

/// Enter on the name prompt: the exact name sends (through `send`), anything else closes the
/// confirmation and says nothing was sent.
pub fn submit_name(
    state: &mut State,
    expected: &str,
    typed: &str,
    send: fn(&mut State) -> Vec<Effect>,
) -> Vec<Effect> {
    if typed.trim() == expected {
        return send(state);
    }
    state.overlay = Overlay::None;
    state.notice = Some(Notice {
        level: NoticeLevel::Warn,
        text: format!("protected: {typed:?} is not {expected:?}, nothing sent"),
        at: state.now,
    });
    state.dirty = true;
    Vec::new()
}
