//! The log view: one pane per followed pod (canary and stable side by side, each labelled),
//! showing the tail of each bounded buffer, or the same lines scrolled back. Lines are clipped,
//! never wrapped, so panes stay aligned in time order row by row.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use crate::app::pager::{LogPane, LogsView, PaneRole, PaneStatus};

use super::{Role, Theme, clip, put};

pub fn render_logs(area: Rect, buf: &mut Buffer, logs: &LogsView, theme: &Theme) {
    if area.height < 3 || logs.panes.is_empty() {
        return;
    }
    let s = &theme.symbols;
    let follow = if logs.back_lines == 0 {
        "following".to_owned()
    } else {
        format!("scrolled back {} lines (G follows)", logs.back_lines)
    };
    let title = format!(" LOGS {} {} {follow}", logs.rollout, s.separator);
    put(
        buf,
        area.x,
        area.y,
        &title,
        area.width,
        theme.style(Role::Header).add_modifier(Modifier::BOLD),
    );
    let count = logs.panes.len() as u16;
    // One column between panes for the separator.
    let pane_width = area.width.saturating_sub(count - 1) / count;
    for (i, pane) in logs.panes.iter().enumerate() {
        let x = area.x + i as u16 * (pane_width + 1);
        let rect = Rect {
            x,
            y: area.y + 1,
            width: pane_width,
            height: area.height - 1,
        };
        render_pane(rect, buf, pane, logs.back_lines, theme);
        if i + 1 < logs.panes.len() {
            for y in rect.top()..rect.bottom() {
                put(
                    buf,
                    x + pane_width,
                    y,
                    s.tree_pipe.trim_end(),
                    1,
                    theme.style(Role::Muted),
                );
            }
        }
    }
}

fn render_pane(area: Rect, buf: &mut Buffer, pane: &LogPane, back_lines: usize, theme: &Theme) {
    let s = &theme.symbols;
    let role = match pane.role {
        PaneRole::Canary => Role::Canary,
        PaneRole::Stable => Role::Stable,
        PaneRole::Pod => Role::Accent,
    };
    let mut label = pane.label.clone();
    if pane.dropped > 0 {
        label = format!("{label} ({} older lines dropped)", pane.dropped);
    }
    put(
        buf,
        area.x,
        area.y,
        &clip(&label, area.width, s.ellipsis),
        area.width,
        theme.style(role).add_modifier(Modifier::BOLD),
    );
    let rows = area.height.saturating_sub(1) as usize;
    let ending = match &pane.status {
        PaneStatus::Streaming => None,
        PaneStatus::Ended => Some(("(log stream ended)".to_owned(), Role::Muted)),
        PaneStatus::Failed(error) => Some((format!("(log failed: {error})"), Role::Error)),
    };
    let total = pane.lines.len() + usize::from(ending.is_some());
    let end = total.saturating_sub(back_lines.min(total.saturating_sub(1)));
    let start = end.saturating_sub(rows);
    if total == 0 {
        put(
            buf,
            area.x,
            area.y + 1,
            "waiting for log lines…",
            area.width,
            theme.style(Role::Muted),
        );
        return;
    }
    for (row, index) in (start..end).enumerate() {
        let y = area.y + 1 + row as u16;
        let (text, role) = match pane.lines.get(index) {
            Some(line) => (line.as_str(), Role::Fg),
            None => match &ending {
                Some((text, role)) => (text.as_str(), *role),
                None => continue,
            },
        };
        put(
            buf,
            area.x,
            y,
            &clip(text, area.width, s.ellipsis),
            area.width,
            theme.style(role),
        );
    }
}
