//! The metric charts panel of the rollout detail view: each Prometheus metric of the rollout's
//! analysis templates over the last 30 minutes, titled with its metric name, with its resolved
//! query, canary and stable as two labelled rows on one value axis when the query splits, and
//! the rollout's step boundaries marked on the time axis. Short of room, each chart collapses to
//! one line and the header says so. Drawn from `State` alone; the data comes from
//! `app::triage_detail`.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use crate::app::state::DetailState;
use crate::app::triage_detail::DetailCharts;
use crate::controller::analysis::prometheus::format_float;
use crate::model::metric_chart::{
    MetricChartSpec, Side, StepMark, StepMarkKind, step_mark_columns,
};
use crate::model::triage::{ChartView, ValuePoint};

use super::sparkline::{render_scaled, shared_range};
use super::{Role, Theme, clip, put, width_of};

/// Width of the legend at the right of a series row (`max 1.25 last 0.97`).
const LEGEND: u16 = 22;

/// One row group of a chart: a series to draw, or a line of words instead of bars.
enum Body<'a> {
    Series {
        label: String,
        role: Role,
        values: &'a [ValuePoint],
    },
    Words(String, Role),
}

/// What a chart has to show, from its spec and the answers of its queries.
fn bodies<'a>(spec: &MetricChartSpec, charts: &'a DetailCharts) -> (Vec<Body<'a>>, String) {
    if let Some(reason) = &spec.not_charted {
        return (
            vec![Body::Words(format!("not charted: {reason}"), Role::Notice)],
            String::new(),
        );
    }
    let mut out = Vec::new();
    let mut route = String::new();
    for query in &spec.queries {
        let view: Option<&ChartView> = charts.views.get(&(spec.id.clone(), query.side));
        let side = query.side.map(Side::word);
        let Some(view) = view else {
            out.push(Body::Words(
                format!(
                    "{}querying Prometheus…",
                    side.map(|s| format!("{s}: ")).unwrap_or_default()
                ),
                Role::Muted,
            ));
            continue;
        };
        if route.is_empty() {
            route.clone_from(&view.route);
        }
        match &view.series {
            Err(reason) => out.push(Body::Words(
                format!("Prometheus unreachable: {reason}"),
                Role::Error,
            )),
            Ok(series) if series.is_empty() => out.push(Body::Words(
                format!(
                    "{}empty result (the query matches no series)",
                    side.map(|s| format!("{s}: ")).unwrap_or_default()
                ),
                Role::Notice,
            )),
            Ok(series) => match query.side {
                Some(side) => out.push(Body::Series {
                    label: side.word().to_owned(),
                    role: match side {
                        Side::Canary => Role::Canary,
                        Side::Stable => Role::Stable,
                    },
                    values: &series[0].values,
                }),
                None => {
                    for s in series.iter().take(2) {
                        // A query without labels (`sum(...)`) is just the value.
                        let label = if s.label == "{}" { "value" } else { &s.label };
                        out.push(Body::Series {
                            label: label.to_owned(),
                            role: Role::Spark,
                            values: &s.values,
                        });
                    }
                }
            },
        }
    }
    // The same reason twice (both sides unreachable) is said once.
    let mut seen: Vec<String> = Vec::new();
    out.retain(|b| match b {
        Body::Words(text, _) if text.starts_with("Prometheus unreachable") => {
            if seen.contains(text) {
                false
            } else {
                seen.push(text.clone());
                true
            }
        }
        _ => true,
    });
    (out, route)
}

fn body_rows(bodies: &[Body<'_>], bar_rows: u16) -> u16 {
    bodies
        .iter()
        .map(|b| match b {
            Body::Series { .. } => bar_rows,
            Body::Words(..) => 1,
        })
        .sum()
}

fn has_series(bodies: &[Body<'_>]) -> bool {
    bodies.iter().any(|b| matches!(b, Body::Series { .. }))
}

/// Bars per series: taller on a tall terminal.
fn bar_rows(height: u16) -> u16 {
    if height >= 40 { 2 } else { 1 }
}

/// The rows of the full layout: header, problems, then per chart a title, the query, its rows
/// and (when there are bars and boundaries) the step-mark row.
fn full_rows(charts: &DetailCharts, marks: bool, bars: u16) -> u16 {
    let Some(Ok(specs)) = &charts.specs else {
        return 2;
    };
    let problems = specs.problems.len() as u16;
    if specs.charts.is_empty() {
        return 2 + problems;
    }
    1 + problems
        + specs
            .charts
            .iter()
            .map(|spec| {
                let (bodies, _) = bodies(spec, charts);
                2 + body_rows(&bodies, bars) + u16::from(marks && has_series(&bodies))
            })
            .sum::<u16>()
}

fn compact_rows(charts: &DetailCharts) -> u16 {
    match &charts.specs {
        Some(Ok(specs)) if !specs.charts.is_empty() => {
            1 + specs.problems.len() as u16 + specs.charts.len() as u16
        }
        Some(Ok(specs)) => 2 + specs.problems.len() as u16,
        _ => 2,
    }
}

/// How many rows the panel takes when at most `cap` are free (never more than it needs).
/// A rollout without analysis templates (or not read yet) has no panel at all.
pub fn panel_rows(detail: &DetailState, marks: &[StepMark], cap: u16, height: u16) -> u16 {
    if detail.charts.hidden {
        return 1.min(cap);
    }
    match &detail.charts.specs {
        None => return 0,
        Some(Ok(specs)) if specs.charts.is_empty() && specs.problems.is_empty() => return 0,
        _ => {}
    }
    let full = full_rows(&detail.charts, !marks.is_empty(), bar_rows(height));
    if full <= cap {
        full
    } else {
        compact_rows(&detail.charts).min(cap)
    }
}

/// Draws the panel into `area` (as tall as [`panel_rows`] said).
pub fn render_metric_charts(
    area: Rect,
    buf: &mut Buffer,
    detail: &DetailState,
    marks: &[StepMark],
    height: u16,
    theme: &Theme,
) {
    if area.height == 0 {
        return;
    }
    let charts = &detail.charts;
    let title = theme.style(Role::Header).add_modifier(Modifier::BOLD);
    let muted = theme.style(Role::Muted);
    let sep = theme.symbols.separator;
    let x = put(buf, area.x, area.y, "METRICS", area.width, title);
    let right = area.right();
    if charts.hidden {
        put(
            buf,
            x,
            area.y,
            "  hidden · m shows",
            right.saturating_sub(x),
            muted,
        );
        return;
    }
    let bars = bar_rows(height);
    let full = full_rows(charts, !marks.is_empty(), bars) <= area.height;
    let mode = if full {
        format!("  last 30m {sep} from the analysis templates {sep} m hides")
    } else {
        format!("  last 30m {sep} one line per chart (short of space) {sep} m hides")
    };
    put(buf, x, area.y, &mode, right.saturating_sub(x), muted);
    let mut y = area.y + 1;
    let bottom = area.bottom();
    let specs = match &charts.specs {
        None => {
            put(
                buf,
                area.x,
                y,
                "reading the rollout's analysis templates…",
                area.width,
                muted,
            );
            return;
        }
        Some(Err(reason)) => {
            put(buf, area.x, y, reason, area.width, theme.style(Role::Error));
            return;
        }
        Some(Ok(specs)) => specs,
    };
    for problem in &specs.problems {
        if y >= bottom {
            return;
        }
        let text = clip(problem, area.width, theme.symbols.ellipsis);
        put(buf, area.x, y, &text, area.width, theme.style(Role::Error));
        y += 1;
    }
    if specs.charts.is_empty() && y < bottom {
        put(
            buf,
            area.x,
            y,
            "no Prometheus metrics in the rollout's analysis templates",
            area.width,
            muted,
        );
        return;
    }
    // Compact lines share one name column so the bars line up.
    let name_w = specs
        .charts
        .iter()
        .map(|c| width_of(&c.metric))
        .max()
        .unwrap_or(8)
        .clamp(8, 20)
        + 1;
    for (index, spec) in specs.charts.iter().enumerate() {
        if y >= bottom {
            break;
        }
        // Keep the last row to say how many charts did not fit.
        let left = specs.charts.len() - index;
        if !full && y + 1 == bottom && left > 1 {
            put(
                buf,
                area.x,
                y,
                &format!("+{left} more charts (a taller terminal shows them)"),
                area.width,
                muted,
            );
            break;
        }
        let row = Rect {
            y,
            height: bottom - y,
            ..area
        };
        y += if full {
            render_full(row, buf, spec, charts, marks, bars, theme)
        } else {
            render_compact(row, buf, spec, charts, name_w, theme)
        };
    }
}

fn title_line(
    area: Rect,
    buf: &mut Buffer,
    spec: &MetricChartSpec,
    route: &str,
    theme: &Theme,
) -> u16 {
    let sep = theme.symbols.separator;
    let x = put(
        buf,
        area.x,
        area.y,
        &spec.metric,
        area.width,
        theme.style(Role::Accent).add_modifier(Modifier::BOLD),
    );
    let mut facts = format!("  {} {sep} {}", spec.sources.join(", "), spec.template);
    if let Some(split) = &spec.split {
        facts = format!("{facts} {sep} split {split}");
    }
    if !route.is_empty() {
        facts = format!("{facts} {sep} via {route}");
    }
    let room = area.right().saturating_sub(x);
    put(
        buf,
        x,
        area.y,
        &clip(&facts, room, theme.symbols.ellipsis),
        room,
        theme.style(Role::Muted),
    );
    x
}

/// One chart in full; returns the rows used.
fn render_full(
    area: Rect,
    buf: &mut Buffer,
    spec: &MetricChartSpec,
    charts: &DetailCharts,
    marks: &[StepMark],
    bars: u16,
    theme: &Theme,
) -> u16 {
    let (bodies, route) = bodies(spec, charts);
    let bottom = area.bottom();
    let mut y = area.y;
    title_line(Rect { y, ..area }, buf, spec, &route, theme);
    y += 1;
    if y >= bottom {
        return y - area.y;
    }
    let x = put(
        buf,
        area.x,
        y,
        "  query ",
        area.width,
        theme.style(Role::Muted),
    );
    let room = area.right().saturating_sub(x);
    put(
        buf,
        x,
        y,
        &clip(&spec.shown_query, room, theme.symbols.ellipsis),
        room,
        theme.style(Role::Fg),
    );
    y += 1;
    let label_w = bodies
        .iter()
        .filter_map(|b| match b {
            Body::Series { label, .. } => Some(width_of(label)),
            Body::Words(..) => None,
        })
        .max()
        .unwrap_or(6)
        .clamp(6, 24)
        + 3;
    let bars_w = area.width.saturating_sub(label_w + LEGEND);
    let series: Vec<&[ValuePoint]> = bodies
        .iter()
        .filter_map(|b| match b {
            Body::Series { values, .. } => Some(*values),
            Body::Words(..) => None,
        })
        .collect();
    let scale = shared_range(&series, spec.threshold.as_ref());
    let slots = series.iter().map(|v| v.len()).max().unwrap_or(0);
    for body in &bodies {
        if y >= bottom {
            return y - area.y;
        }
        match body {
            Body::Words(text, role) => {
                let text = format!("  {text}");
                let text = clip(&text, area.width, theme.symbols.ellipsis);
                put(buf, area.x, y, &text, area.width, theme.style(*role));
                y += 1;
            }
            Body::Series {
                label,
                role,
                values,
            } => {
                let rows = bars.min(bottom - y);
                let label_text = clip(&format!("  {label}"), label_w, theme.symbols.ellipsis);
                put(
                    buf,
                    area.x,
                    y + rows - 1,
                    &label_text,
                    label_w,
                    theme.style(*role),
                );
                // The bars (and the threshold line) end where the window ends.
                let rect = Rect {
                    x: area.x + label_w,
                    y,
                    width: bars_w.min(slots as u16),
                    height: rows,
                };
                render_scaled(
                    rect,
                    buf,
                    values,
                    spec.threshold.as_ref(),
                    scale,
                    *role,
                    theme,
                );
                let x = area.x + label_w + bars_w.min(slots as u16) + 1;
                put(
                    buf,
                    x,
                    y + rows - 1,
                    &short_legend(values),
                    area.right().saturating_sub(x),
                    theme.style(Role::Muted),
                );
                y += rows;
            }
        }
    }
    if !marks.is_empty() && !series.is_empty() && y < bottom {
        let view = spec
            .queries
            .iter()
            .find_map(|q| charts.views.get(&(spec.id.clone(), q.side)));
        if let Some(view) = view {
            put(buf, area.x, y, "  steps", label_w, theme.style(Role::Muted));
            let columns = bars_w.min(slots as u16);
            let ascii = theme.symbols.ascii;
            for (column, kind) in step_mark_columns(marks, view.fetched_at, view.window, columns) {
                let (glyph, role) = match kind {
                    StepMarkKind::Update => (if ascii { "*" } else { "◆" }, Role::Accent),
                    StepMarkKind::Step => (if ascii { "|" } else { "│" }, Role::Notice),
                };
                put(
                    buf,
                    area.x + label_w + column,
                    y,
                    glyph,
                    1,
                    theme.style(role),
                );
            }
            y += 1;
        }
    }
    y - area.y
}

/// `max 18 last 16`, or what the points are when none is a number.
fn short_legend(values: &[ValuePoint]) -> String {
    let numbers: Vec<f64> = values.iter().filter_map(|p| p.number()).collect();
    let last = values
        .iter()
        .rev()
        .find(|p| **p != ValuePoint::Gap)
        .map(|p| {
            p.number()
                .map_or_else(|| p.label().unwrap_or("?").to_owned(), format_float)
        });
    match (numbers.iter().copied().reduce(f64::max), last) {
        (Some(max), Some(last)) => format!("max {} last {last}", format_float(max)),
        (None, Some(last)) => format!("last {last}"),
        _ => "no samples in the window".to_owned(),
    }
}

/// One chart on one line: the name, then each side's bars and last value, or the reason.
fn render_compact(
    area: Rect,
    buf: &mut Buffer,
    spec: &MetricChartSpec,
    charts: &DetailCharts,
    name_w: u16,
    theme: &Theme,
) -> u16 {
    let (bodies, _) = bodies(spec, charts);
    put(
        buf,
        area.x,
        area.y,
        &clip(&spec.metric, name_w - 1, theme.symbols.ellipsis),
        name_w,
        theme.style(Role::Accent).add_modifier(Modifier::BOLD),
    );
    let mut x = area.x + name_w;
    let right = area.right();
    let series: Vec<&[ValuePoint]> = bodies
        .iter()
        .filter_map(|b| match b {
            Body::Series { values, .. } => Some(*values),
            Body::Words(..) => None,
        })
        .collect();
    let scale = shared_range(&series, spec.threshold.as_ref());
    let share = right.saturating_sub(x) / bodies.len().max(1) as u16;
    for body in &bodies {
        if x >= right {
            break;
        }
        match body {
            Body::Words(text, role) => {
                let room = right.saturating_sub(x);
                let text = clip(text, room, theme.symbols.ellipsis);
                x = put(buf, x, area.y, &text, room, theme.style(*role)) + 1;
            }
            Body::Series {
                label,
                role,
                values,
            } => {
                let start = x;
                let label = clip(label, 10, theme.symbols.ellipsis);
                x = put(
                    buf,
                    x,
                    area.y,
                    &format!("{label} "),
                    right.saturating_sub(x),
                    theme.style(*role),
                );
                let last = short_legend(values);
                let last = last
                    .rsplit_once("last ")
                    .map_or(last.clone(), |(_, l)| l.to_owned());
                let bars = share.saturating_sub(x - start + width_of(&last) + 3);
                let rect = Rect {
                    x,
                    y: area.y,
                    width: bars.min(right.saturating_sub(x)),
                    height: 1,
                };
                render_scaled(
                    rect,
                    buf,
                    values,
                    spec.threshold.as_ref(),
                    scale,
                    *role,
                    theme,
                );
                x += rect.width.min(values.len() as u16) + 1;
                x = put(
                    buf,
                    x,
                    area.y,
                    &last,
                    right.saturating_sub(x),
                    theme.style(Role::Muted),
                ) + 2;
            }
        }
    }
    1
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use chrono::TimeDelta;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use serde_json::json;

    use crate::app::msg::{Msg, RolloutEvent};
    use crate::app::state::{Scope, StartOptions, State};
    use crate::app::triage::TriageEvent;
    use crate::app::update;
    use crate::crd::Rollout;
    use crate::crd::analysis::AnalysisTemplateSpec;
    use crate::model::ResourceKey;
    use crate::model::field_reports::{events_for, field_reports, fixed_now, revisions_for};
    use crate::model::metric_chart::{RolloutCharts, Side, TemplateKey, rollout_charts};
    use crate::model::triage::{ChartView, SeriesView, ValuePoint};
    use crate::ui::{Symbols, Theme, render};

    const ERRORS: &str =
        r#"sum(rate(http_requests_total{code=~"5..",service="{{args.service}}"}[5m]))"#;
    const RESTARTS: &str =
        "sum(kube_pod_container_status_restarts_total{namespace=\"kubota-test\"})";

    fn key() -> ResourceKey {
        ResourceKey::new("kubota-test", "rollouts-demo")
    }

    /// The R5 rollout's detail view, its tree and events arrived.
    fn detail(width: u16, height: u16) -> State {
        let mut state = State::new(StartOptions {
            context: "kind-rolltop".into(),
            cluster: "kind-rolltop".into(),
            scope: Scope::AllNamespaces,
            readonly: false,
            now: fixed_now(),
        });
        update(&mut state, Msg::Resize { width, height });
        update(
            &mut state,
            Msg::Rollouts(RolloutEvent::Resynced(field_reports(fixed_now()))),
        );
        update(&mut state, Msg::Tick(fixed_now() + TimeDelta::seconds(3)));
        state.selected = state.visible.iter().position(|k| *k == key()).unwrap();
        update(
            &mut state,
            Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
        );
        let summary = state.rollouts[&key()].summary.clone();
        update(
            &mut state,
            Msg::Detail {
                key: key(),
                revisions: revisions_for(&summary, fixed_now()),
                events: events_for(&summary, fixed_now()),
            },
        );
        state
    }

    /// R5's analysis as templates: error-rate by service (split canary/stable) at step 1, and
    /// restarts (one query) in the background; `missing` adds a template that is not there.
    fn specs(with_restarts: bool, missing: bool) -> RolloutCharts {
        let mut steps = vec![
            json!({"setWeight": 20}),
            json!({"analysis": {"templates": [{"templateName": "error-rate"}],
                "args": [{"name": "service", "value": "rollouts-demo-canary"}]}}),
        ];
        if missing {
            steps.push(json!({"analysis": {"templates": [{"templateName": "latency"}]}}));
        }
        let mut canary = json!({"canaryService": "rollouts-demo-canary",
            "stableService": "rollouts-demo-stable", "steps": steps});
        if with_restarts {
            canary["analysis"] = json!({"templates": [{"templateName": "restarts"}]});
        }
        let rollout: Rollout = serde_json::from_value(json!({
            "metadata": {"name": "rollouts-demo", "namespace": "kubota-test"},
            "spec": {"strategy": {"canary": canary}},
            "status": {"currentPodHash": "6cf78c66c5", "stableRS": "5f9d8b7c44"}
        }))
        .unwrap();
        let template =
            |v: serde_json::Value| -> AnalysisTemplateSpec { serde_json::from_value(v).unwrap() };
        let templates: BTreeMap<TemplateKey, Result<AnalysisTemplateSpec, String>> =
            BTreeMap::from([
                (
                    (false, "error-rate".to_owned()),
                    Ok(template(json!({"args": [{"name": "service"}],
                        "metrics": [{"name": "error-rate", "successCondition": "result[0] <= 5",
                            "provider": {"prometheus": {
                                "address": "http://prometheus.monitoring.svc:9090",
                                "query": ERRORS}}}]}))),
                ),
                (
                    (false, "restarts".to_owned()),
                    Ok(template(json!({"metrics": [{"name": "restarts",
                        "provider": {"prometheus": {"query": RESTARTS}}}]}))),
                ),
                (
                    (false, "latency".to_owned()),
                    Err("AnalysisTemplate latency in kubota-test: not found".to_owned()),
                ),
            ]);
        rollout_charts(&rollout, &templates)
    }

    fn view(series: Result<Vec<SeriesView>, String>) -> ChartView {
        ChartView {
            metric: String::new(),
            route: "API proxy monitoring/prometheus:9090".into(),
            window: std::time::Duration::from_secs(1800),
            fetched_at: fixed_now(),
            series,
        }
    }

    /// 61 steps over 30 minutes: the canary degrades after the update, the stable stays low.
    fn series(label: &str, canary: bool) -> Vec<SeriesView> {
        let values = (0..61)
            .map(|i| {
                if i < 10 {
                    ValuePoint::Gap
                } else if canary && i >= 40 {
                    ValuePoint::Number(f64::from(i - 38))
                } else {
                    ValuePoint::Number(f64::from(i % 3))
                }
            })
            .collect();
        vec![SeriesView {
            label: label.into(),
            values,
        }]
    }

    fn arrive(state: &mut State, charts: RolloutCharts) {
        update(
            state,
            Msg::Triage(TriageEvent::DetailSpecs {
                rollout: key(),
                charts: Ok(charts),
            }),
        );
    }

    fn answer(state: &mut State, id: &str, side: Option<Side>, view: ChartView) {
        update(
            state,
            Msg::Triage(TriageEvent::DetailChart {
                rollout: key(),
                id: id.into(),
                side,
                view,
            }),
        );
    }

    fn screen(state: &State, theme: &Theme) -> TestBackend {
        let mut terminal = Terminal::new(TestBackend::new(state.width, state.height)).unwrap();
        terminal.draw(|frame| render(frame, state, theme)).unwrap();
        terminal.backend().clone()
    }

    fn dark() -> Theme {
        Theme::built_in("dark").unwrap()
    }

    fn case(name: &str, width: u16, height: u16) -> State {
        let mut state = detail(width, height);
        match name {
            "split" | "two" => {
                arrive(&mut state, specs(name == "two", false));
                answer(
                    &mut state,
                    "error-rate",
                    Some(Side::Canary),
                    view(Ok(series("{}", true))),
                );
                answer(
                    &mut state,
                    "error-rate",
                    Some(Side::Stable),
                    view(Ok(series("{}", false))),
                );
                answer(&mut state, "restarts", None, view(Ok(series("{}", false))));
            }
            "unreachable" => {
                arrive(&mut state, specs(false, true));
                let reason = "Prometheus via API proxy monitoring/prometheus:9090: 503 Service \
                              Unavailable: no endpoints available for service \"prometheus\"";
                for side in [Side::Canary, Side::Stable] {
                    answer(
                        &mut state,
                        "error-rate",
                        Some(side),
                        view(Err(reason.into())),
                    );
                }
            }
            "empty" => {
                arrive(&mut state, specs(false, false));
                answer(
                    &mut state,
                    "error-rate",
                    Some(Side::Canary),
                    view(Ok(Vec::new())),
                );
                answer(
                    &mut state,
                    "error-rate",
                    Some(Side::Stable),
                    view(Ok(series("{}", false))),
                );
            }
            _ => unreachable!(),
        }
        state
    }

    #[test]
    fn detail_chart_snapshots() {
        for (w, h) in [(80, 24), (160, 48)] {
            for name in ["split", "two", "unreachable", "empty"] {
                let state = case(name, w, h);
                insta::assert_snapshot!(
                    format!("detail_charts_{name}_{w}x{h}"),
                    screen(&state, &dark())
                );
            }
        }
    }

    #[test]
    fn the_chart_says_its_name_query_sides_and_reasons() {
        let text = format!("{}", screen(&case("split", 160, 48), &dark()));
        assert!(text.contains("error-rate"), "{text}");
        assert!(text.contains(r#"service="rollouts-demo-canary""#), "{text}");
        assert!(text.contains("canary") && text.contains("stable"), "{text}");
        assert!(text.contains("split service: rollouts-demo-canary | rollouts-demo-stable"));
        assert!(text.contains("steps"), "{text}");
        let text = format!("{}", screen(&case("two", 80, 24), &dark()));
        assert!(
            text.contains("one line per chart (short of space)"),
            "{text}"
        );
        let text = format!("{}", screen(&case("unreachable", 80, 24), &dark()));
        assert!(text.contains("Prometheus unreachable"), "{text}");
        assert!(text.contains("latency in kubota-test: not found"), "{text}");
        let text = format!("{}", screen(&case("empty", 160, 48), &dark()));
        assert!(text.contains("canary: empty result"), "{text}");
    }

    #[test]
    fn ascii_charts_draw_only_ascii_and_tiny_terminals_never_panic() {
        let theme = Theme::built_in("mono")
            .unwrap()
            .with_symbols(Symbols::ASCII);
        let text = format!("{}", screen(&case("split", 160, 48), &theme));
        assert!(text.lines().all(str::is_ascii), "{text}");
        for (w, h) in [(20, 8), (40, 12), (80, 10), (1, 1)] {
            for name in ["split", "two", "unreachable", "empty"] {
                let _ = screen(&case(name, w, h), &dark());
            }
        }
    }
}
