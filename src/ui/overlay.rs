//! Dialogs drawn over a screen: the action confirmation (context, namespace, rollout, what
//! will happen, the exact requests) and the help overlay listing every key.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Padding, Paragraph, Widget, Wrap};

use crate::app::keymap::BINDINGS;
use crate::app::state::Confirm;

use super::{Role, Theme, put};

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

fn frame<'a>(title: String, theme: &Theme) -> Block<'a> {
    Block::bordered()
        .border_set(theme.symbols.border)
        .border_style(theme.style(Role::Accent))
        .title(Span::styled(
            title,
            theme.style(Role::Header).add_modifier(Modifier::BOLD),
        ))
}

pub fn render_confirm(area: Rect, buf: &mut Buffer, confirm: &Confirm, theme: &Theme) {
    let label = theme.style(Role::Muted);
    let value = theme.style(Role::Fg).add_modifier(Modifier::BOLD);
    let field = |name: &'static str, text: String, style| {
        Line::from(vec![
            Span::styled(format!("{name:<10}"), label),
            Span::styled(text, style),
        ])
    };
    let mut lines = vec![
        field(
            "context",
            confirm.context.clone(),
            theme.style(Role::Accent).add_modifier(Modifier::BOLD),
        ),
        field("namespace", confirm.key.namespace.clone(), value),
        field("rollout", confirm.key.name.clone(), value),
        Line::default(),
        field(
            "will",
            confirm.plan.effect.clone(),
            theme.style(Role::Notice),
        ),
        Line::default(),
    ];
    if confirm.plan.requests.is_empty() {
        lines.push(field("request", "none needed".to_owned(), label));
    }
    for request in &confirm.plan.requests {
        lines.push(field("request", request.describe(), theme.style(Role::Fg)));
    }
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled("y", theme.style(Role::Accent).add_modifier(Modifier::BOLD)),
        Span::styled(" send   ", label),
        Span::styled(
            "n/Esc",
            theme.style(Role::Accent).add_modifier(Modifier::BOLD),
        ),
        Span::styled(" cancel", label),
    ]));
    let width = area.width.saturating_sub(4).min(90);
    let inner_width = width.saturating_sub(4).max(1);
    // Height of the wrapped text, so long patches are never cut.
    let wrapped: u16 = lines
        .iter()
        .map(|line| (line.width() as u16).div_ceil(inner_width).max(1))
        .sum();
    let rect = centered(area, width, wrapped + 2);
    Clear.render(rect, buf);
    let title = format!(" {}? ", confirm.plan.action.verb());
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(frame(title, theme).padding(Padding::horizontal(1)))
        .render(rect, buf);
}

pub fn render_help(area: Rect, buf: &mut Buffer, theme: &Theme) {
    let rows = BINDINGS.len() as u16;
    let two_columns = rows + 2 > area.height.saturating_sub(2);
    let per_column = if two_columns { rows.div_ceil(2) } else { rows };
    let column_width: u16 = 37;
    let width = if two_columns {
        column_width * 2 + 4
    } else {
        column_width + 3
    };
    let rect = centered(area, width, per_column + 2);
    Clear.render(rect, buf);
    frame(" keys ".to_owned(), theme).render(rect, buf);
    let inner = Rect {
        x: rect.x + 1,
        y: rect.y + 1,
        width: rect.width.saturating_sub(2),
        height: rect.height.saturating_sub(2),
    };
    for (i, binding) in BINDINGS.iter().enumerate() {
        let i = i as u16;
        let (col, row) = (i / per_column, i % per_column);
        if row >= inner.height {
            continue;
        }
        let x = inner.x + 1 + col * (column_width + 1);
        let y = inner.y + row;
        let room = inner.right().saturating_sub(x).min(column_width);
        let after = put(
            buf,
            x,
            y,
            &format!("{:<10}", binding.keys),
            room,
            theme.style(Role::Accent).add_modifier(Modifier::BOLD),
        );
        put(
            buf,
            after,
            y,
            binding.what,
            (x + room).saturating_sub(after),
            theme.style(Role::Fg),
        );
    }
}
