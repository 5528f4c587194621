//! The canary weight gauge: what the traffic router has applied (actual), with the desired
//! weight marked and flagged when the two differ. A full-width two-row gauge for the detail
//! view and a small bar for list cells. Canary and stable use different glyphs, so the split
//! reads without colour.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use crate::model::{RolloutSummary, Strategy};

use super::{Role, Theme, put};

/// Cells of `width` that `percent` fills, rounded to the nearest cell.
pub fn filled_cells(percent: u8, width: u16) -> u16 {
    let percent = u32::from(percent.min(100));
    ((percent * u32::from(width) + 50) / 100) as u16
}

/// The small list-cell form: a bar of the actual weight, then `desired→actual`, with the
/// mismatch marker when they differ. Returns the column after it.
pub fn render_weight_cell(
    x: u16,
    y: u16,
    width: u16,
    buf: &mut Buffer,
    summary: &RolloutSummary,
    theme: &Theme,
) -> u16 {
    const BAR: u16 = 5;
    let s = &theme.symbols;
    // Blue-green has no weights, and a settled canary has nothing in flight.
    if summary.strategy == Strategy::BlueGreen || (summary.fully_promoted && !summary.aborted) {
        let text = if summary.strategy == Strategy::BlueGreen {
            "-"
        } else {
            "- stable"
        };
        return put(buf, x, y, text, width, theme.style(Role::Muted));
    }
    let canary = filled_cells(summary.actual_weight, BAR);
    let mut cx = x;
    for i in 0..BAR.min(width) {
        let (glyph, role) = if i < canary {
            (s.bar_canary, Role::GaugeCanary)
        } else {
            (s.bar_stable, Role::GaugeTrack)
        };
        cx = put(buf, cx, y, glyph, 1, theme.style(role));
    }
    let arrow = if s.ascii { ">" } else { s.arrow };
    let (text, role) = if summary.weights_differ() {
        (
            format!(
                " {}{arrow}{}{}",
                summary.desired_weight,
                summary.actual_weight,
                if s.ascii { "!" } else { s.mismatch }
            ),
            Role::GaugeMismatch,
        )
    } else {
        (
            format!(
                " {}{arrow}{}",
                summary.desired_weight, summary.actual_weight
            ),
            Role::Fg,
        )
    };
    put(
        buf,
        cx,
        y,
        &text,
        (x + width).saturating_sub(cx),
        theme.style(role),
    )
}

/// Two rows: labels (`canary 20% · stable 80%`, desired vs actual) and the bar, with the
/// desired weight marked on the bar when the router has not applied it yet.
pub fn render_weight_gauge(area: Rect, buf: &mut Buffer, summary: &RolloutSummary, theme: &Theme) {
    if area.height < 2 || area.width < 10 {
        return;
    }
    let s = &theme.symbols;
    if summary.fully_promoted && !summary.aborted {
        put(
            buf,
            area.x,
            area.y,
            "stable 100%: fully promoted, no canary in flight",
            area.width,
            theme.style(Role::Stable).add_modifier(Modifier::BOLD),
        );
        for i in 0..area.width {
            put(
                buf,
                area.x + i,
                area.y + 1,
                s.bar_stable,
                1,
                theme.style(Role::GaugeStable),
            );
        }
        return;
    }
    let actual = summary.actual_weight.min(100);
    let stable = 100 - actual;
    let right = area.right();
    let mut x = put(
        buf,
        area.x,
        area.y,
        &format!("canary {actual}%"),
        area.width,
        theme.style(Role::Canary).add_modifier(Modifier::BOLD),
    );
    x = put(
        buf,
        x,
        area.y,
        &format!(" {} ", s.separator),
        right.saturating_sub(x),
        theme.style(Role::Muted),
    );
    x = put(
        buf,
        x,
        area.y,
        &format!("stable {stable}%"),
        right.saturating_sub(x),
        theme.style(Role::Stable).add_modifier(Modifier::BOLD),
    );
    let (note, role) = if summary.weights_differ() {
        (
            format!(
                "   {} desired {}%, actual {actual}%: {}",
                s.mismatch,
                summary.desired_weight,
                if summary.traffic_routed {
                    "traffic router not updated yet"
                } else {
                    "no traffic router, weight follows available pods"
                }
            ),
            Role::GaugeMismatch,
        )
    } else {
        (
            format!("   desired {}% = actual", summary.desired_weight),
            Role::Muted,
        )
    };
    put(
        buf,
        x,
        area.y,
        &note,
        right.saturating_sub(x),
        theme.style(role),
    );

    let bar_y = area.y + 1;
    let canary_cells = filled_cells(actual, area.width);
    for i in 0..area.width {
        let (glyph, role) = if i < canary_cells {
            (s.bar_canary, Role::GaugeCanary)
        } else {
            (s.bar_stable, Role::GaugeStable)
        };
        put(buf, area.x + i, bar_y, glyph, 1, theme.style(role));
    }
    if summary.weights_differ() {
        let at = filled_cells(summary.desired_weight, area.width).min(area.width - 1);
        put(
            buf,
            area.x + at,
            bar_y,
            s.bar_desired,
            1,
            theme
                .style(Role::GaugeMismatch)
                .add_modifier(Modifier::BOLD),
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::field_reports::{field_reports, fixed_now};
    use crate::ui::theme::Symbols;

    fn summary(desired: u8, actual: u8) -> RolloutSummary {
        let mut s = field_reports(fixed_now()).remove(3);
        s.desired_weight = desired;
        s.actual_weight = actual;
        s
    }

    fn lines(buf: &Buffer) -> Vec<String> {
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn filled_cells_round_to_the_nearest_cell() {
        let cases = [
            (0, 20, 0),
            (5, 20, 1),
            (24, 20, 5),
            (25, 20, 5),
            (33, 5, 2),
            (100, 7, 7),
            (255, 4, 4),
        ];
        for (percent, width, want) in cases {
            assert_eq!(filled_cells(percent, width), want, "{percent}% of {width}");
        }
    }

    #[test]
    fn ascii_gauge_cells_are_exact() {
        let theme = Theme::built_in("mono")
            .unwrap()
            .with_symbols(Symbols::ASCII);
        let mut buf = Buffer::empty(Rect::new(0, 0, 20, 2));
        render_weight_gauge(buf.area, &mut buf, &summary(30, 20), &theme);
        assert_eq!(
            lines(&buf),
            ["canary 20% | stable ", "####..|............."]
        );
    }

    #[test]
    fn equal_weights_have_no_desired_marker_and_cells_show_the_split() {
        let theme = Theme::built_in("dark").unwrap();
        let mut buf = Buffer::empty(Rect::new(0, 0, 10, 2));
        render_weight_gauge(buf.area, &mut buf, &summary(50, 50), &theme);
        let bar: String = (0..10).map(|x| buf[(x, 1)].symbol().to_owned()).collect();
        assert_eq!(bar, "█████░░░░░");
        assert_eq!(buf[(0, 1)].fg, theme.style(Role::GaugeCanary).fg.unwrap());
        assert_eq!(buf[(9, 1)].fg, theme.style(Role::GaugeStable).fg.unwrap());
    }

    #[test]
    fn list_cell_flags_a_mismatch() {
        let theme = Theme::built_in("mono")
            .unwrap()
            .with_symbols(Symbols::ASCII);
        let mut buf = Buffer::empty(Rect::new(0, 0, 12, 1));
        render_weight_cell(0, 0, 12, &mut buf, &summary(30, 33), &theme);
        let text: String = (0..12).map(|x| buf[(x, 0)].symbol().to_owned()).collect();
        assert_eq!(text, "##... 30>33!");
        let mut buf = Buffer::empty(Rect::new(0, 0, 12, 1));
        let unicode = Theme::built_in("dark").unwrap();
        render_weight_cell(0, 0, 12, &mut buf, &summary(5, 5), &unicode);
        let text: String = (0..12).map(|x| buf[(x, 0)].symbol().to_owned()).collect();
        assert_eq!(text, "░░░░░ 5→5   ");
    }
}
