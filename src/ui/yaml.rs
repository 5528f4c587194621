//! The YAML view: one object as fetched (managedFields and the last-applied annotation already
//! stripped at the edge), with line numbers, scrolled by line.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use crate::app::pager::YamlView;

use super::{Role, Theme, clip, put};

pub fn render_yaml(area: Rect, buf: &mut Buffer, yaml: &YamlView, theme: &Theme) {
    if area.height < 2 {
        return;
    }
    let s = &theme.symbols;
    let position = match &yaml.content {
        Some(Ok(lines)) => format!(
            " {} line {}/{}",
            s.separator,
            (yaml.scroll + 1).min(lines.len()),
            lines.len()
        ),
        _ => String::new(),
    };
    put(
        buf,
        area.x,
        area.y,
        &format!(" YAML {} {}{position}", yaml.kind.word(), yaml.key),
        area.width,
        theme.style(Role::Header).add_modifier(Modifier::BOLD),
    );
    let body_y = area.y + 1;
    let lines = match &yaml.content {
        None => {
            put(
                buf,
                area.x + 1,
                body_y,
                "loading…",
                area.width,
                theme.style(Role::Progressing),
            );
            return;
        }
        Some(Err(error)) => {
            put(
                buf,
                area.x + 1,
                body_y,
                &format!("{} {error}", s.error),
                area.width.saturating_sub(1),
                theme.style(Role::Error),
            );
            return;
        }
        Some(Ok(lines)) => lines,
    };
    let number_width = lines.len().to_string().len();
    let rows = (area.height - 1) as usize;
    for (row, (index, line)) in lines
        .iter()
        .enumerate()
        .skip(yaml.scroll)
        .take(rows)
        .enumerate()
    {
        let y = body_y + row as u16;
        let x = put(
            buf,
            area.x,
            y,
            &format!("{:>number_width$} ", index + 1),
            area.width,
            theme.style(Role::Muted),
        );
        let room = area.right().saturating_sub(x);
        let role = if line.trim_start().starts_with('#') {
            Role::Muted
        } else {
            Role::Fg
        };
        put(
            buf,
            x,
            y,
            &clip(line, room, s.ellipsis),
            room,
            theme.style(role),
        );
    }
}
