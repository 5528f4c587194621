//! Pure views of the cockpit: `render(frame, &State, &Theme)` draws one frame from state alone
//! (no mutation, no clock: time is `state.now`). Top-level layout lives here; each screen and
//! widget has its own module. Only the visible rows of the list are formatted.

pub mod chrome;
pub mod logs;
pub mod metric_charts;
pub mod overlay;
pub mod rollout_detail;
pub mod rollout_list;
pub mod sparkline;
pub mod theme;
pub mod triage;
pub mod weight_gauge;
pub mod yaml;

#[cfg(test)]
mod pager_screens;
#[cfg(test)]
mod screens;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;

use crate::app::state::{Overlay, State, View};
use crate::model::{Phase, Tone};

pub use theme::{Role, Symbols, Theme, ThemeChoice};

/// Draws the whole screen.
pub fn render(frame: &mut Frame<'_>, state: &State, theme: &Theme) {
    let area = frame.area();
    draw(area, frame.buffer_mut(), state, theme);
}

/// Draws into a buffer; what `render` does, usable without a terminal.
pub fn draw(area: Rect, buf: &mut Buffer, state: &State, theme: &Theme) {
    if area.height < 3 || area.width < 10 {
        put(
            buf,
            area.x,
            area.y,
            "terminal too small",
            area.width,
            theme.style(Role::Error),
        );
        return;
    }
    let header = Rect { height: 1, ..area };
    let footer = Rect {
        y: area.bottom() - 1,
        height: 1,
        ..area
    };
    let status = Rect {
        y: area.bottom() - 2,
        height: 1,
        ..area
    };
    let body = Rect {
        y: area.y + 1,
        height: area.height.saturating_sub(3),
        ..area
    };
    chrome::render_header(header, buf, state, theme);
    if let Some(open) = &state.triage {
        triage::render_triage(body, buf, state, open, theme);
    } else if let Some(runs) = &state.runs {
        triage::render_runs(body, buf, state, runs, theme);
    } else {
        match &state.view {
            View::List => rollout_list::render_list(body, buf, state, theme),
            View::Detail(detail) => rollout_detail::render_detail(body, buf, state, detail, theme),
            View::Logs(logs) => logs::render_logs(body, buf, logs, theme),
            View::Yaml(yaml) => yaml::render_yaml(body, buf, yaml, theme),
        }
    }
    chrome::render_status_line(status, buf, state, theme);
    chrome::render_footer(footer, buf, state, theme);
    match &state.overlay {
        Overlay::None => {}
        Overlay::Help => overlay::render_help(area, buf, theme),
        Overlay::Confirm(confirm) => overlay::render_confirm(area, buf, confirm, theme),
    }
    if theme.symbols.ascii {
        to_ascii(area, buf);
    }
}

/// `--ascii` promises ASCII only: text from the cluster or from model strings (arrows,
/// ellipses, glyphs) is folded cell by cell into the closest ASCII character.
fn to_ascii(area: Rect, buf: &mut Buffer) {
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let cell = &mut buf[(x, y)];
            if cell.symbol().is_ascii() {
                continue;
            }
            let folded = match cell.symbol() {
                "→" | "▶" | "›" => ">",
                "←" | "‹" => "<",
                "↑" => "^",
                "↓" => "v",
                "…" | "◌" => "~",
                "≠" | "⚠" | "⚑" => "!",
                "·" | "│" | "┃" | "║" => "|",
                "✖" | "×" => "x",
                "॥" => "=",
                "◷" | "○" | "•" | "░" => ".",
                "█" | "▇" | "▆" => "#",
                "─" | "━" | "═" => "-",
                "✔" | "╭" | "╮" | "╰" | "╯" | "┌" | "┐" | "└" | "┘" | "├" | "┤" | "┬" | "┴"
                | "┼" => "+",
                _ => "?",
            };
            cell.set_symbol(folded);
        }
    }
}

/// Writes `text` clipped to `width` cells; returns the column after it.
pub(crate) fn put(buf: &mut Buffer, x: u16, y: u16, text: &str, width: u16, style: Style) -> u16 {
    if width == 0 {
        return x;
    }
    let (end, _) = buf.set_stringn(x, y, text, width as usize, style);
    end
}

/// Display width in cells.
pub(crate) fn width_of(text: &str) -> u16 {
    Span::raw(text).width() as u16
}

/// `text` cut to `width` cells with an ellipsis when it does not fit.
pub(crate) fn clip(text: &str, width: u16, ellipsis: &str) -> String {
    if width_of(text) <= width {
        return text.to_owned();
    }
    let room = width.saturating_sub(width_of(ellipsis));
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = width_of(c.encode_utf8(&mut [0; 4]));
        if used + w > room {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push_str(ellipsis);
    out
}

/// The role that colours a rollout's status; aborted wins over the phase.
pub(crate) fn phase_role(phase: Phase, aborted: bool) -> Role {
    if aborted {
        return Role::Aborted;
    }
    match phase {
        Phase::Healthy => Role::Healthy,
        Phase::Progressing => Role::Progressing,
        Phase::Paused => Role::Paused,
        Phase::Degraded => Role::Degraded,
        Phase::Unknown => Role::Muted,
    }
}

pub(crate) fn tone_role(tone: Tone) -> Role {
    match tone {
        Tone::Ok => Role::Healthy,
        Tone::Progress => Role::Progressing,
        Tone::Warn => Role::Paused,
        Tone::Bad => Role::Degraded,
        Tone::Muted => Role::Muted,
    }
}

pub(crate) fn phase_glyph(phase: Phase, symbols: &Symbols) -> &'static str {
    if symbols.ascii {
        phase.ascii_glyph()
    } else {
        phase.glyph()
    }
}
