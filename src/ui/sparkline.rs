//! A small bar chart of measured values, a few rows high, with the threshold of a simple
//! condition drawn as a line across it. Values that have no height are drawn as marks and
//! counted in the legend: `?` NaN, `↑`/`↓` ±Inf (full or empty column), `∅` an empty result,
//! `×` no value. More points than columns are bucketed (the highest value of each bucket, so a
//! spike is never averaged away). Pure drawing into a buffer.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use crate::controller::analysis::prometheus::format_float;
use crate::model::triage::{Threshold, ValuePoint};

use super::{Role, Theme, put};

const EIGHTHS: [&str; 8] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];
const EIGHTHS_ASCII: [&str; 8] = [".", ".", "-", "-", "=", "=", "#", "#"];

/// The points of each column when there are more points than columns.
pub fn bucket(values: &[ValuePoint], width: usize) -> Vec<ValuePoint> {
    if width == 0 {
        return Vec::new();
    }
    if values.len() <= width {
        return values.to_vec();
    }
    (0..width)
        .map(|column| {
            let start = column * values.len() / width;
            let end = ((column + 1) * values.len() / width).max(start + 1);
            let slice = &values[start..end.min(values.len())];
            // A number beats a mark only when the bucket has one; the highest number wins.
            slice
                .iter()
                .filter_map(|p| p.number())
                .reduce(f64::max)
                .map_or_else(
                    || slice.first().copied().unwrap_or(ValuePoint::Missing),
                    ValuePoint::Number,
                )
        })
        .collect()
}

/// The value range the bars and the threshold share, with a tenth of headroom below so the
/// lowest value still shows (a ratio near 0.99 is not squashed against a zero baseline).
fn range(values: &[ValuePoint], threshold: Option<&Threshold>) -> (f64, f64) {
    shared_range(&[values], threshold)
}

/// One value range for several series, so canary and stable drawn in rows of their own are on
/// the same axis (equal heights mean equal values).
pub fn shared_range(series: &[&[ValuePoint]], threshold: Option<&Threshold>) -> (f64, f64) {
    let numbers = series
        .iter()
        .flat_map(|values| values.iter())
        .filter_map(|p| p.number())
        .chain(threshold.map(|t| t.limit));
    let (lo, hi) = numbers.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
    (lo - span / 10.0, hi.max(lo + span / 10.0))
}

/// The one-line legend: range, threshold, and counts of the points without height.
pub fn legend(values: &[ValuePoint], threshold: Option<&Threshold>) -> String {
    let sampled: Vec<ValuePoint> = values
        .iter()
        .copied()
        .filter(|p| *p != ValuePoint::Gap)
        .collect();
    let values = sampled.as_slice();
    let mut parts = Vec::new();
    let numbers: Vec<f64> = values.iter().filter_map(|p| p.number()).collect();
    if values.is_empty() {
        parts.push("no measurements yet".to_owned());
    } else if let (Some(min), Some(max)) = (
        numbers.iter().copied().reduce(f64::min),
        numbers.iter().copied().reduce(f64::max),
    ) {
        let last = values
            .last()
            .map(|p| {
                p.number()
                    .map_or_else(|| p.label().unwrap_or("?").to_owned(), format_float)
            })
            .unwrap_or_default();
        parts.push(format!(
            "{} points, min {} max {} last {last}",
            values.len(),
            format_float(min),
            format_float(max)
        ));
    } else {
        parts.push(format!("{} points, none numeric", values.len()));
    }
    for label in ["NaN", "+Inf", "-Inf", "empty", "no value"] {
        let count = values.iter().filter(|p| p.label() == Some(label)).count();
        if count > 0 {
            parts.push(format!("{count} {label}"));
        }
    }
    if let Some(t) = threshold {
        parts.push(format!("line: {}", t.describe()));
    }
    parts.join(" · ")
}

/// Draws the chart into `area` (every row of it), left-aligned, one column per point.
pub fn render_sparkline(
    area: Rect,
    buf: &mut Buffer,
    values: &[ValuePoint],
    threshold: Option<&Threshold>,
    theme: &Theme,
) {
    let columns = bucket(values, area.width as usize);
    let scale = range(&columns, threshold);
    render_scaled(area, buf, values, threshold, scale, Role::Spark, theme);
}

/// As [`render_sparkline`] on a given value range (from [`shared_range`]), bars in `bar`'s
/// colour (canary and stable keep their colours from the rest of the cockpit).
pub fn render_scaled(
    area: Rect,
    buf: &mut Buffer,
    values: &[ValuePoint],
    threshold: Option<&Threshold>,
    (lo, hi): (f64, f64),
    bar: Role,
    theme: &Theme,
) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let ascii = theme.symbols.ascii;
    let blocks = if ascii { &EIGHTHS_ASCII } else { &EIGHTHS };
    let columns = bucket(values, area.width as usize);
    let rows = area.height as usize;
    let spark = theme.style(bar);
    let mark = theme.style(Role::Error);
    let line_style = theme.style(Role::SparkThreshold);
    // The threshold's row, counted from the bottom.
    let line_row = threshold.map(|t| {
        let at = ((t.limit - lo) / (hi - lo) * rows as f64).floor() as usize;
        at.min(rows - 1)
    });
    let bottom = area.bottom() - 1;
    for (column, point) in columns.iter().enumerate() {
        let x = area.x + column as u16;
        let eighths = match point {
            ValuePoint::Number(v) => {
                let filled = ((v - lo) / (hi - lo) * (rows * 8) as f64).round().max(0.0) as usize;
                // A value above the floor always shows at least a sliver.
                Some(if *v > lo { filled.max(1) } else { filled })
            }
            ValuePoint::PosInf => Some(rows * 8),
            _ => None,
        };
        for row in 0..rows {
            let y = bottom - row as u16;
            match eighths {
                Some(total) if total >= (row + 1) * 8 => {
                    let style = if matches!(point, ValuePoint::PosInf) {
                        mark
                    } else {
                        spark
                    };
                    put(buf, x, y, blocks[7], 1, style);
                }
                Some(total) if total > row * 8 => {
                    put(buf, x, y, blocks[total - row * 8 - 1], 1, spark);
                }
                _ => {
                    if line_row == Some(row) {
                        put(buf, x, y, if ascii { "-" } else { "─" }, 1, line_style);
                    }
                }
            }
        }
        let symbol = match point {
            ValuePoint::NaN => Some("?"),
            ValuePoint::NegInf => Some(if ascii { "v" } else { "↓" }),
            ValuePoint::Empty => Some(if ascii { "o" } else { "∅" }),
            ValuePoint::Missing => Some("x"),
            _ => None,
        };
        if let Some(symbol) = symbol {
            put(buf, x, bottom, symbol, 1, mark);
        }
        if matches!(point, ValuePoint::PosInf) {
            put(buf, x, area.y, if ascii { "^" } else { "↑" }, 1, mark);
        }
    }
    // The line continues to the right edge, so it reads as a line even with few points.
    if let Some(row) = line_row {
        let y = bottom - row as u16;
        for x in area.x + columns.len() as u16..area.right() {
            put(buf, x, y, if ascii { "-" } else { "─" }, 1, line_style);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::triage::{CompareOp, ThresholdKind};

    fn theme() -> Theme {
        Theme::built_in("dark").unwrap()
    }

    fn draw(values: &[ValuePoint], threshold: Option<&Threshold>, w: u16, h: u16) -> Buffer {
        let area = Rect::new(0, 0, w, h);
        let mut buf = Buffer::empty(area);
        render_sparkline(area, &mut buf, values, threshold, &theme());
        buf
    }

    #[test]
    fn bars_scale_to_the_highest_value_and_threshold_draws_a_line() {
        use ValuePoint::Number as N;
        let threshold = Threshold {
            kind: ThresholdKind::Success,
            op: CompareOp::Le,
            limit: 8.0,
        };
        let buf = draw(&[N(0.0), N(4.0), N(16.0)], Some(&threshold), 6, 2);
        assert_eq!(symbols(&buf), vec!["──█───", "▁▅█   "]);
        assert_eq!(
            buf[(3, 0)].fg,
            theme().style(Role::SparkThreshold).fg.unwrap()
        );
        assert_eq!(buf[(2, 1)].fg, theme().style(Role::Spark).fg.unwrap());
    }

    fn symbols(buf: &Buffer) -> Vec<String> {
        let area = buf.area;
        (0..area.height)
            .map(|y| {
                (0..area.width)
                    .map(|x| buf[(x, y)].symbol().to_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn marks_for_values_without_height() {
        let values = [
            ValuePoint::NaN,
            ValuePoint::PosInf,
            ValuePoint::Empty,
            ValuePoint::Missing,
            ValuePoint::Number(1.0),
        ];
        let buf = draw(&values, None, 5, 2);
        assert_eq!(symbols(&buf), vec![" ↑   ", "?█∅x█"]);
        assert_eq!(
            legend(&values, None),
            "5 points, min 1 max 1 last 1 · 1 NaN · 1 +Inf · 1 empty · 1 no value"
        );
    }

    #[test]
    fn buckets_keep_spikes() {
        use ValuePoint::Number as N;
        let values = [N(0.0), N(9.0), N(1.0), N(1.0)];
        assert_eq!(bucket(&values, 2), vec![N(9.0), N(1.0)]);
        assert_eq!(bucket(&values, 8), values.to_vec());
        assert!(bucket(&values, 0).is_empty());
    }
}
