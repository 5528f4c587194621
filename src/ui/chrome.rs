//! The frame around every screen: the header (context, cluster, scope, who drives the
//! rollouts, data freshness, read-only flag), the status line (input, notice, or the kept filter) and the footer's key
//! hints.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use crate::app::keymap::footer_hints;
use crate::app::state::{InputKind, NoticeLevel, State};
use crate::app::update::key_context;
use crate::model::age;

use super::{Role, Theme, put, width_of};

pub fn render_header(area: Rect, buf: &mut Buffer, state: &State, theme: &Theme) {
    let s = &theme.symbols;
    let muted = theme.style(Role::Muted);
    let flag = if state.readonly { " READ-ONLY " } else { "" };
    let mut left = vec![format!("ctx {}", state.context)];
    // The cluster is named when it differs from the context, or when there is room anyway.
    if state.cluster != state.context || area.width >= 100 {
        left.push(format!("cluster {}", state.cluster));
    }
    left.push(state.scope.describe());
    if let Some(driver) = state
        .driver
        .as_ref()
        .filter(|_| state.context == state.driven_context)
    {
        left.push(driver.header_for_view(
            state.driven_scope.namespace(),
            state.scope.namespace(),
            area.width < 100,
        ));
    }
    let left_width: u16 = 9 + left.iter().map(|p| width_of(p) + 3).sum::<u16>();
    // The freshness note shrinks before the scope is cut.
    let (full, compact, role) = freshness(state, theme);
    let room = area.width.saturating_sub(left_width + width_of(flag) + 1);
    let note = if width_of(&full) <= room {
        full
    } else {
        compact
    };
    let right_width = width_of(&note) + width_of(flag) + 1;
    let right_x = area.right().saturating_sub(right_width);

    let mut x = put(
        buf,
        area.x,
        area.y,
        " rolltop ",
        area.width,
        theme.style(Role::Header).add_modifier(Modifier::BOLD),
    );
    for part in &left {
        x = put(
            buf,
            x,
            area.y,
            &format!(" {} ", s.separator),
            right_x.saturating_sub(x),
            muted,
        );
        x = put(
            buf,
            x,
            area.y,
            part,
            right_x.saturating_sub(x),
            theme.style(Role::Fg),
        );
    }
    let x = put(
        buf,
        right_x.max(x),
        area.y,
        &note,
        area.right().saturating_sub(right_x.max(x)),
        theme.style(role),
    );
    if state.readonly {
        let at = (x + 1).min(area.right());
        put(
            buf,
            at,
            area.y,
            flag,
            area.right().saturating_sub(at),
            theme
                .style(Role::Error)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        );
    }
}

/// "● live · 5 rollouts · 3s ago" (and a compact form), or how stale the data is and why.
fn freshness(state: &State, theme: &Theme) -> (String, String, Role) {
    let s = &theme.symbols;
    let last = state
        .last_event
        .map(|at| format!("{} ago", age(at, state.now)));
    if let Some(error) = &state.watch_error {
        let since = last.unwrap_or_else(|| "never synced".to_owned());
        return (
            format!("{} stale, last event {since}: {error}", s.warn),
            format!("{} stale {since}", s.warn),
            Role::Error,
        );
    }
    if !state.synced {
        return (
            "loading rollouts…".to_owned(),
            "loading…".to_owned(),
            Role::Progressing,
        );
    }
    let last = last.unwrap_or_else(|| "no events yet".to_owned());
    (
        format!(
            "{} live {} {} rollouts {} {last}",
            s.live,
            s.separator,
            state.rollouts.len(),
            s.separator
        ),
        format!("{} live {last}", s.live),
        Role::Healthy,
    )
}

pub fn render_status_line(area: Rect, buf: &mut Buffer, state: &State, theme: &Theme) {
    let s = &theme.symbols;
    if let Some(input) = &state.input {
        let prompt = match &input.kind {
            InputKind::Filter => "/".to_owned(),
            InputKind::Command => ":".to_owned(),
            InputKind::ImageContainer => "set image, container: ".to_owned(),
            InputKind::Image { container } => format!("set image {container}="),
            InputKind::TypeName { name } => {
                format!("protected namespace: type {name} and Enter to send, Esc to stop: ")
            }
        };
        let x = put(
            buf,
            area.x,
            area.y,
            &prompt,
            area.width,
            theme.style(Role::Accent),
        );
        let x = put(
            buf,
            x,
            area.y,
            &input.text,
            area.right().saturating_sub(x),
            theme.style(Role::Fg),
        );
        put(
            buf,
            x,
            area.y,
            s.cursor,
            area.right().saturating_sub(x),
            theme.style(Role::Accent),
        );
        return;
    }
    if let Some(notice) = &state.notice {
        let (glyph, role) = match notice.level {
            NoticeLevel::Info => (s.info, Role::Notice),
            NoticeLevel::Warn => (s.warn, Role::Notice),
            NoticeLevel::Error => (s.error, Role::Error),
        };
        put(
            buf,
            area.x,
            area.y,
            &format!("{glyph} {}", notice.text),
            area.width,
            theme.style(role),
        );
        return;
    }
    if !state.filter.is_empty() {
        let text = format!(
            "filter /{} {} {} of {} {} Esc clears",
            state.filter,
            s.separator,
            state.visible.len(),
            state.rollouts.len(),
            s.separator
        );
        put(
            buf,
            area.x,
            area.y,
            &text,
            area.width,
            theme.style(Role::Accent),
        );
    }
}

pub fn render_footer(area: Rect, buf: &mut Buffer, state: &State, theme: &Theme) {
    let mut x = area.x;
    for (key, what) in footer_hints(key_context(state)) {
        let room = area.right().saturating_sub(x);
        if room < width_of(key) + width_of(what) + 2 {
            break;
        }
        x = put(
            buf,
            x,
            area.y,
            key,
            room,
            theme.style(Role::Accent).add_modifier(Modifier::BOLD),
        );
        x = put(
            buf,
            x,
            area.y,
            &format!(" {what}  "),
            area.right().saturating_sub(x),
            theme.style(Role::Muted),
        );
    }
}
