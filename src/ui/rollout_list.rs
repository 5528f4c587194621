//! The rollout list: column titles and only the rows in the window `state.window()`. Columns
//! are chosen by priority to fit the width (80 columns keep status, name, namespace, weight,
//! step, pause and age); strings that depend on data were formatted in `update`.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use crate::app::state::{RolloutRow, State};
use crate::model::{RolloutSummary, SortColumn, age, human_duration};

use super::weight_gauge::render_weight_cell;
use super::{Role, Theme, clip, phase_glyph, phase_role, put};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Namespace,
    Name,
    Strategy,
    Status,
    Step,
    Weight,
    Pause,
    Analysis,
    Images,
    Age,
}

impl Column {
    fn title(self) -> &'static str {
        match self {
            Self::Namespace => "NAMESPACE",
            Self::Name => "NAME",
            Self::Strategy => "STRATEGY",
            Self::Status => "STATUS",
            Self::Step => "STEP",
            Self::Weight => "WEIGHT",
            Self::Pause => "PAUSE",
            Self::Analysis => "ANALYSIS",
            Self::Images => "IMAGES",
            Self::Age => "AGE",
        }
    }

    fn min_width(self) -> u16 {
        match self {
            Self::Namespace => 12,
            Self::Strategy => 9,
            Self::Name | Self::Status | Self::Weight | Self::Pause => 13,
            Self::Step | Self::Age => 4,
            Self::Analysis => 11,
            Self::Images => 24,
        }
    }

    fn sorted_by(self) -> Option<SortColumn> {
        match self {
            Self::Namespace => Some(SortColumn::Namespace),
            Self::Name => Some(SortColumn::Name),
            Self::Status => Some(SortColumn::Status),
            Self::Age => Some(SortColumn::Age),
            _ => None,
        }
    }
}

/// Columns in the order they are dropped last-first when the terminal is narrow.
const PRIORITY: [Column; 10] = [
    Column::Status,
    Column::Name,
    Column::Namespace,
    Column::Weight,
    Column::Step,
    Column::Pause,
    Column::Age,
    Column::Strategy,
    Column::Analysis,
    Column::Images,
];

/// Left-to-right display order.
const ORDER: [Column; 10] = [
    Column::Namespace,
    Column::Name,
    Column::Strategy,
    Column::Status,
    Column::Step,
    Column::Weight,
    Column::Pause,
    Column::Analysis,
    Column::Images,
    Column::Age,
];

/// The columns that fit in `width`, with their x offsets and widths. Spare room widens the
/// name (up to 40 cells), then the images.
pub fn layout_columns(width: u16) -> Vec<(Column, u16, u16)> {
    const GAP: u16 = 1;
    let mut chosen = Vec::new();
    let mut used = 1;
    for column in PRIORITY {
        let need = column.min_width() + GAP;
        if used + need <= width {
            used += need;
            chosen.push(column);
        }
    }
    let mut spare = width.saturating_sub(used);
    let mut widths: Vec<(Column, u16)> = ORDER
        .iter()
        .filter(|c| chosen.contains(c))
        .map(|c| (*c, c.min_width()))
        .collect();
    for (column, w) in &mut widths {
        let cap = match column {
            Column::Images => 40,
            Column::Name => 12,
            Column::Namespace => 4,
            _ => 0,
        };
        let extra = spare.min(cap);
        *w += extra;
        spare -= extra;
    }
    let mut x = 1;
    widths
        .into_iter()
        .map(|(column, w)| {
            let placed = (column, x, w);
            x += w + GAP;
            placed
        })
        .collect()
}

/// The PAUSE cell: why it waits (`step`, `bg` for a blue-green promotion, `inconclusive`,
/// `spec.paused`) and for how long: the countdown of a timed pause, or `manual`.
pub fn pause_text(summary: &RolloutSummary, now: chrono::DateTime<chrono::Utc>) -> String {
    if summary.spec_paused {
        return "spec.paused".to_owned();
    }
    let Some(pause) = &summary.pause else {
        return String::new();
    };
    let why = match pause.reason.as_str() {
        "CanaryPauseStep" => "step",
        "BlueGreenPause" => "bg",
        reason if reason.starts_with("Inconclusive") => return "inconclusive".to_owned(),
        reason => reason,
    };
    match summary.pause_remaining(now) {
        Some(left) => format!("{why} {} left", human_duration(left)),
        None => format!("{why}: manual"),
    }
}

pub fn render_list(area: Rect, buf: &mut Buffer, state: &State, theme: &Theme) {
    if area.height == 0 {
        return;
    }
    let columns = layout_columns(area.width);
    let header_style = theme.style(Role::Header).add_modifier(Modifier::BOLD);
    let sort_mark = if theme.symbols.ascii { "v" } else { "↓" };
    for (column, x, w) in &columns {
        let mut title = column.title().to_owned();
        if column.sorted_by() == Some(state.sort) {
            title.push_str(sort_mark);
        }
        put(buf, area.x + x, area.y, &title, *w, header_style);
    }
    if state.visible.is_empty() {
        let text = if !state.synced {
            "waiting for the first list of rollouts…"
        } else if state.rollouts.is_empty() {
            "no rollouts in this scope (:ns NAME or :ns all to change it)"
        } else {
            "no rollout matches the filter (Esc clears it)"
        };
        put(
            buf,
            area.x + 1,
            area.y + 1,
            text,
            area.width.saturating_sub(1),
            theme.style(Role::Muted),
        );
        return;
    }
    let rows_area = Rect {
        y: area.y + 1,
        height: area.height - 1,
        ..area
    };
    for (index, row) in state.window() {
        let line = (index - state.offset) as u16;
        if line >= rows_area.height {
            break;
        }
        let y = rows_area.y + line;
        let selected = index == state.selected;
        render_row(rows_area.x, y, buf, &columns, row, state, theme);
        if selected {
            let row_area = Rect {
                y,
                height: 1,
                ..rows_area
            };
            buf.set_style(row_area, theme.style(Role::Selection));
            put(
                buf,
                rows_area.x,
                y,
                if theme.symbols.ascii { ">" } else { "▶" },
                1,
                theme.style(Role::Selection),
            );
        }
    }
}

fn render_row(
    x0: u16,
    y: u16,
    buf: &mut Buffer,
    columns: &[(Column, u16, u16)],
    row: &RolloutRow,
    state: &State,
    theme: &Theme,
) {
    let s = &theme.symbols;
    let summary = &row.summary;
    let fg = theme.style(Role::Fg);
    for (column, x, w) in columns {
        let x = x0 + x;
        match column {
            Column::Namespace => {
                put(
                    buf,
                    x,
                    y,
                    &clip(&summary.key.namespace, *w, s.ellipsis),
                    *w,
                    theme.style(Role::Muted),
                );
            }
            Column::Name => {
                put(buf, x, y, &clip(&summary.key.name, *w, s.ellipsis), *w, fg);
            }
            Column::Strategy => {
                put(buf, x, y, summary.strategy.word(), *w, fg);
            }
            Column::Status => {
                let mut text =
                    format!("{} {}", phase_glyph(summary.phase, s), summary.phase.word());
                if summary.aborted {
                    text.push(' ');
                    text.push_str(s.abort_marker);
                }
                put(
                    buf,
                    x,
                    y,
                    &text,
                    *w,
                    theme.style(phase_role(summary.phase, summary.aborted)),
                );
            }
            Column::Step => {
                put(buf, x, y, &row.step, *w, fg);
            }
            Column::Weight => {
                render_weight_cell(x, y, *w, buf, summary, theme);
            }
            Column::Pause => {
                put(
                    buf,
                    x,
                    y,
                    &pause_text(summary, state.now),
                    *w,
                    theme.style(Role::Paused),
                );
            }
            Column::Analysis => {
                let text = if s.ascii {
                    &row.analysis_ascii
                } else {
                    &row.analysis
                };
                let role = match summary.analysis.as_ref().map(|run| run.phase) {
                    Some(
                        crate::model::AnalysisPhase::Failed | crate::model::AnalysisPhase::Error,
                    ) => Role::Degraded,
                    Some(crate::model::AnalysisPhase::Inconclusive) => Role::Inconclusive,
                    Some(crate::model::AnalysisPhase::Successful) => Role::Healthy,
                    _ => Role::Progressing,
                };
                put(buf, x, y, text, *w, theme.style(role));
            }
            Column::Images => {
                let text = if s.ascii {
                    &row.images_ascii
                } else {
                    &row.images
                };
                put(
                    buf,
                    x,
                    y,
                    &clip(text, *w, s.ellipsis),
                    *w,
                    theme.style(Role::Muted),
                );
            }
            Column::Age => {
                put(
                    buf,
                    x,
                    y,
                    &age(summary.created, state.now),
                    *w,
                    theme.style(Role::Muted),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::field_reports::{field_reports, fixed_now};

    #[test]
    fn pause_cell_names_the_wait_and_counts_down() {
        let now = fixed_now();
        let reports = field_reports(now);
        let cells: Vec<String> = reports.iter().map(|s| pause_text(s, now)).collect();
        assert_eq!(
            cells,
            ["step: manual", "", "bg: manual", "step 18s left", ""]
        );
        let mut spec_paused = reports[1].clone();
        spec_paused.spec_paused = true;
        assert_eq!(pause_text(&spec_paused, now), "spec.paused");
        let mut inconclusive = reports[0].clone();
        if let Some(pause) = inconclusive.pause.as_mut() {
            pause.reason = "InconclusiveAnalysisRun".into();
        }
        assert_eq!(pause_text(&inconclusive, now), "inconclusive");
    }

    #[test]
    fn narrow_terminals_keep_the_essential_columns() {
        let names =
            |width| -> Vec<Column> { layout_columns(width).into_iter().map(|c| c.0).collect() };
        assert_eq!(
            names(80),
            [
                Column::Namespace,
                Column::Name,
                Column::Status,
                Column::Step,
                Column::Weight,
                Column::Pause,
                Column::Age
            ]
        );
        assert_eq!(names(160).len(), 10);
        for width in [40, 80, 120, 160, 200] {
            let columns = layout_columns(width);
            let (_, x, w) = columns.last().copied().unwrap_or((Column::Name, 0, 0));
            assert!(x + w <= width, "width {width}");
        }
    }
}
