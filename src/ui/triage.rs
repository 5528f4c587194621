//! The triage screens: one AnalysisRun explained (every metric failing first; the selected
//! metric's query, conditions, counters against limits, last value, the explanation of an
//! empty result, the re-check outcome, a chart of its measurements with the threshold, and the
//! live Prometheus chart of its query), and the `:ar` run list. Drawn from `State` alone; the
//! most important lines come first so a small terminal still shows metric, query, value,
//! condition and limit.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use crate::app::state::State;
use crate::app::triage::{RunsState, TriageState};
use crate::controller::analysis::AnalysisPhase;
use crate::model::age;
use crate::model::metric_chart::{StepMark, StepMarkKind, step_mark_columns};
use crate::model::triage::{ChartView, TriageMetric, TriageRun, mark_columns};

use super::sparkline::{legend, render_sparkline};
use super::{Role, Theme, clip, put, width_of};

/// Label column width of the field lines.
const LABEL: u16 = 10;

pub fn phase_glyph(phase: AnalysisPhase, ascii: bool) -> &'static str {
    match (phase, ascii) {
        (AnalysisPhase::Successful, false) => "✔",
        (AnalysisPhase::Failed, false) => "✖",
        (AnalysisPhase::Error, false) => "⚠",
        (AnalysisPhase::Inconclusive, _) => "?",
        (AnalysisPhase::Running, false) => "◌",
        (AnalysisPhase::Pending, false) => "○",
        (AnalysisPhase::Successful, true) => "+",
        (AnalysisPhase::Failed, true) => "x",
        (AnalysisPhase::Error, true) => "!",
        (AnalysisPhase::Running, true) => "~",
        (AnalysisPhase::Pending, true) => ".",
    }
}

pub fn phase_role(phase: AnalysisPhase) -> Role {
    match phase {
        AnalysisPhase::Successful => Role::Healthy,
        AnalysisPhase::Failed => Role::Degraded,
        AnalysisPhase::Error => Role::Error,
        AnalysisPhase::Inconclusive => Role::Inconclusive,
        AnalysisPhase::Running => Role::Progressing,
        AnalysisPhase::Pending => Role::Muted,
    }
}

/// Writes lines top-down and knows how much room is left.
struct Writer<'a> {
    buf: &'a mut Buffer,
    area: Rect,
    y: u16,
}

impl Writer<'_> {
    fn left(&self) -> u16 {
        self.area.bottom().saturating_sub(self.y)
    }

    /// One line of spans, clipped to the width. False when the area is full.
    fn line(&mut self, spans: &[(&str, Style)]) -> bool {
        if self.left() == 0 {
            return false;
        }
        let mut x = self.area.x;
        for (text, style) in spans {
            let room = self.area.right().saturating_sub(x);
            x = put(self.buf, x, self.y, text, room, *style);
        }
        self.y += 1;
        true
    }

    /// `label` then `text` wrapped under the value column, at most `max_rows` rows.
    fn field(&mut self, label: &str, text: &str, style: Style, label_style: Style, max_rows: u16) {
        let width = self.area.width.saturating_sub(LABEL).max(1) as usize;
        let chunks = wrap(text, width);
        let shown = chunks.len().min(max_rows.max(1) as usize);
        for (i, chunk) in chunks.iter().take(shown).enumerate() {
            let head = if i == 0 { label } else { "" };
            let mut chunk = chunk.clone();
            if i + 1 == shown && shown < chunks.len() {
                chunk = clip(&format!("{chunk}…"), width as u16, "…");
            }
            let head = format!("{head:<width$}", width = LABEL as usize);
            if !self.line(&[(&head, label_style), (&chunk, style)]) {
                return;
            }
        }
    }

    fn rect(&mut self, height: u16) -> Option<Rect> {
        let height = height.min(self.left());
        if height == 0 {
            return None;
        }
        let rect = Rect {
            x: self.area.x,
            y: self.y,
            width: self.area.width,
            height,
        };
        self.y += height;
        Some(rect)
    }
}

fn cursor(selected: bool, theme: &Theme) -> &'static str {
    match (selected, theme.symbols.ascii) {
        (false, _) => " ",
        (true, false) => "▶",
        (true, true) => ">",
    }
}

/// Words up to `width` per row; a word longer than a row (a PromQL query) is cut by characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut rows: Vec<String> = Vec::new();
    let mut row = String::new();
    for word in text.split(' ') {
        let needed = row.chars().count() + usize::from(!row.is_empty()) + word.chars().count();
        if needed <= width {
            if !row.is_empty() {
                row.push(' ');
            }
            row.push_str(word);
            continue;
        }
        if !row.is_empty() {
            rows.push(std::mem::take(&mut row));
        }
        let chars: Vec<char> = word.chars().collect();
        for chunk in chars.chunks(width.max(1)) {
            let piece: String = chunk.iter().collect();
            if chunk.len() == width {
                rows.push(piece);
            } else {
                row = piece;
            }
        }
    }
    if !row.is_empty() || rows.is_empty() {
        rows.push(row);
    }
    rows
}

fn when(at: Option<chrono::DateTime<chrono::Utc>>, now: chrono::DateTime<chrono::Utc>) -> String {
    at.map_or_else(
        || "-".to_owned(),
        |t| format!("{} ({} ago)", t.format("%H:%M:%S"), age(t, now)),
    )
}

pub fn render_triage(
    area: Rect,
    buf: &mut Buffer,
    state: &State,
    triage: &TriageState,
    theme: &Theme,
) {
    let mut w = Writer {
        buf,
        area,
        y: area.y,
    };
    let Some(run) = &triage.run else {
        let title = format!("Triage: {}", triage.target.describe());
        w.line(&[(
            &title,
            theme.style(Role::Header).add_modifier(Modifier::BOLD),
        )]);
        let text = triage
            .problem
            .clone()
            .unwrap_or_else(|| "loading the AnalysisRun…".to_owned());
        w.line(&[(&text, theme.style(Role::Notice))]);
        return;
    };
    render_run_header(&mut w, state, run, theme);
    render_metric_list(&mut w, run, triage.selected, theme);
    let Some(metric) = run.metrics.get(triage.selected) else {
        return;
    };
    let rule = format!(
        "── {} {}",
        metric.name,
        "─".repeat(area.width.saturating_sub(width_of(&metric.name) + 4) as usize)
    );
    w.line(&[(&rule, theme.style(Role::Border))]);
    render_metric(&mut w, state, triage, metric, theme);
}

fn render_run_header(w: &mut Writer<'_>, state: &State, run: &TriageRun, theme: &Theme) {
    let ascii = theme.symbols.ascii;
    let phase = run.phase.unwrap_or_default();
    let status = format!(" {} {} ", phase_glyph(phase, ascii), phase.as_str());
    let rollout = run
        .rollout
        .as_ref()
        .map(|r| format!(" rollout {r}"))
        .unwrap_or_default();
    let title = format!("AnalysisRun {}", run.key);
    w.line(&[
        (
            &title,
            theme.style(Role::Header).add_modifier(Modifier::BOLD),
        ),
        (
            &status,
            theme.style(phase_role(phase)).add_modifier(Modifier::BOLD),
        ),
        (&rollout, theme.style(Role::Muted)),
    ]);
    let times = format!(
        "started {} · completed {}",
        when(run.started_at, state.now),
        when(run.completed_at, state.now)
    );
    w.line(&[(&times, theme.style(Role::Muted))]);
    if !run.message.is_empty() {
        w.field(
            "message",
            &run.message,
            theme.style(phase_role(phase)),
            theme.style(Role::Muted),
            2,
        );
    }
}

fn render_metric_list(w: &mut Writer<'_>, run: &TriageRun, selected: usize, theme: &Theme) {
    let ascii = theme.symbols.ascii;
    let name_width = run
        .metrics
        .iter()
        .map(|m| width_of(&m.name))
        .max()
        .unwrap_or(0)
        .min(24) as usize;
    for (index, metric) in run.metrics.iter().enumerate() {
        let cursor = cursor(index == selected, theme);
        let decisive = metric
            .counters
            .iter()
            .find(|c| c.exceeded)
            .map(|c| c.text.clone())
            .unwrap_or_default();
        let dry = if metric.dry_run { " (dry run)" } else { "" };
        let text = format!(
            "{cursor} {} {:<12} {:<name_width$} {:<10} {decisive}{dry}",
            phase_glyph(metric.phase, ascii),
            metric.phase.as_str(),
            metric.name,
            metric.provider,
        );
        let mut style = theme.style(phase_role(metric.phase));
        if index == selected {
            style = style.add_modifier(Modifier::BOLD);
        }
        if !w.line(&[(&text, style)]) {
            return;
        }
    }
}

fn render_metric(
    w: &mut Writer<'_>,
    state: &State,
    triage: &TriageState,
    metric: &TriageMetric,
    theme: &Theme,
) {
    let label = theme.style(Role::Muted);
    let fg = theme.style(Role::Fg);
    let bad = theme.style(Role::Degraded).add_modifier(Modifier::BOLD);
    let query_label = if metric.provider == "web" {
        "url"
    } else {
        "query"
    };
    match &metric.query {
        Some(query) => w.field(query_label, query, fg, label, 3),
        None => w.field("provider", &metric.provider, fg, label, 1),
    }
    match (
        metric.success_condition.is_empty(),
        metric.failure_condition.is_empty(),
    ) {
        (false, true) => w.field(
            "success",
            &format!("{}   (no failureCondition)", metric.success_condition),
            fg,
            label,
            2,
        ),
        (true, false) => w.field(
            "failure",
            &format!("{}   (no successCondition)", metric.failure_condition),
            fg,
            label,
            2,
        ),
        (true, true) => w.field("success", "(no conditions)", label, label, 1),
        (false, false) => {
            w.field("success", &metric.success_condition, fg, label, 2);
            w.field("failure", &metric.failure_condition, fg, label, 2);
        }
    }
    if !metric.counters.is_empty() {
        let exceeded: Vec<&str> = metric
            .counters
            .iter()
            .filter(|c| c.exceeded)
            .map(|c| c.text.as_str())
            .collect();
        let others: Vec<&str> = metric
            .counters
            .iter()
            .filter(|c| !c.exceeded)
            .map(|c| c.text.as_str())
            .collect();
        if !exceeded.is_empty() {
            w.field("limit", &exceeded.join(" · "), bad, label, 2);
        }
        w.field("counters", &others.join(" · "), fg, label, 2);
    }
    if let Some(last) = &metric.last {
        let mut text = format!(
            "{} {} at {}",
            if last.value.is_empty() {
                "(no value)"
            } else {
                &last.value
            },
            last.phase.as_str(),
            when(last.finished_at, state.now)
        );
        if !last.message.is_empty() && metric.explanation.is_none() {
            text.push_str(" · ");
            text.push_str(&last.message);
        }
        w.field(
            "value",
            &text,
            theme.style(phase_role(last.phase)),
            label,
            2,
        );
    } else {
        w.field("value", "no measurement yet", label, label, 1);
    }
    if let Some(explanation) = &metric.explanation {
        w.field("why", explanation, theme.style(Role::Notice), label, 4);
    } else if !metric.message.is_empty() {
        w.field("message", &metric.message, fg, label, 2);
    }
    if let Some(job) = &metric.job {
        let pods = triage.job_pods.get(job).map_or_else(
            || "pods: loading…".to_owned(),
            |pods| {
                if pods.is_empty() {
                    "no pods (deleted, or not started)".to_owned()
                } else {
                    pods.join(" · ")
                }
            },
        );
        w.field("job", &format!("{job}: {pods}"), fg, label, 2);
    }
    let recheck = if triage.rechecking.as_deref() == Some(metric.name.as_str()) {
        ("re-checking against Prometheus now…".to_owned(), label)
    } else if let Some(view) = triage.rechecks.get(&metric.name) {
        let role = match &view.outcome {
            Ok((phase, _)) => phase_role(*phase),
            Err(_) => Role::Error,
        };
        (
            format!("{} · {}", view.at.format("%H:%M:%S"), view.describe()),
            theme.style(role),
        )
    } else {
        match &metric.recheck {
            Ok(_) => (
                "press e to evaluate it now (dry run, nothing is written)".to_owned(),
                label,
            ),
            Err(reason) => (format!("not available: {reason}"), label),
        }
    };
    w.field("re-check", &recheck.0, recheck.1, label, 2);

    // Measurements chart: label line then bars.
    let chart_rows = if w.area.height >= 40 { 4 } else { 2 };
    if w.left() > chart_rows {
        let title = format!(
            "measured  {}",
            legend(&metric.values, metric.threshold.as_ref())
        );
        w.line(&[(&title, label)]);
        if let Some(rect) = w.rect(chart_rows) {
            let rect = Rect {
                x: rect.x + LABEL,
                width: rect.width.saturating_sub(LABEL),
                ..rect
            };
            render_sparkline(
                rect,
                w.buf,
                &metric.values,
                metric.threshold.as_ref(),
                theme,
            );
        }
    }
    if metric.is_prometheus() {
        render_live_chart(
            w,
            triage.charts.get(&metric.name),
            metric,
            &triage.step_marks,
            chart_rows,
            theme,
        );
    }
}

fn render_live_chart(
    w: &mut Writer<'_>,
    chart: Option<&ChartView>,
    metric: &TriageMetric,
    step_marks: &[StepMark],
    rows: u16,
    theme: &Theme,
) {
    let label = theme.style(Role::Muted);
    let Some(chart) = chart else {
        w.line(&[("live      ", label), ("querying Prometheus…", label)]);
        return;
    };
    let minutes = chart.window.as_secs() / 60;
    match &chart.series {
        Err(reason) => {
            w.field(
                "live",
                &format!("Prometheus unreachable: {reason}"),
                theme.style(Role::Error),
                label,
                3,
            );
        }
        Ok(series) if series.is_empty() => {
            w.field(
                "live",
                &format!(
                    "{} · last {minutes}m via {}: empty result (the query matches no series)",
                    chart.metric, chart.route
                ),
                theme.style(Role::Notice),
                label,
                2,
            );
        }
        Ok(series) => {
            for s in series.iter().take(2) {
                if w.left() < rows + 1 {
                    return;
                }
                let title = format!(
                    "live      {} via {} · last {minutes}m · {} · {}",
                    chart.metric,
                    chart.route,
                    legend(&s.values, metric.threshold.as_ref()),
                    s.label,
                );
                w.line(&[(&title, label)]);
                if let Some(rect) = w.rect(rows) {
                    let rect = Rect {
                        x: rect.x + LABEL,
                        width: rect.width.saturating_sub(LABEL),
                        ..rect
                    };
                    render_sparkline(rect, w.buf, &s.values, metric.threshold.as_ref(), theme);
                }
            }
            // Where the analysis measured, on the same time axis, when there is a row for it.
            // The chart has one column per point (or per bucket), so marks use that width.
            let points = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
            let columns = w.area.width.saturating_sub(LABEL).min(points as u16);
            let marks = mark_columns(&metric.measured_at, chart.fetched_at, chart.window, columns);
            if !marks.is_empty() && w.left() > 0 {
                let y = w.y;
                w.line(&[("analysis", label)]);
                let glyph = if theme.symbols.ascii { "^" } else { "▲" };
                for column in marks {
                    put(
                        w.buf,
                        w.area.x + LABEL + column,
                        y,
                        glyph,
                        1,
                        theme.style(Role::Accent),
                    );
                }
            }
            // The rollout's step boundaries on the same axis (◆ update, │ step).
            let steps = step_mark_columns(step_marks, chart.fetched_at, chart.window, columns);
            if !steps.is_empty() && w.left() > 0 {
                let y = w.y;
                w.line(&[("steps", label)]);
                let ascii = theme.symbols.ascii;
                for (column, kind) in steps {
                    let (glyph, role) = match kind {
                        StepMarkKind::Update => (if ascii { "*" } else { "◆" }, Role::Accent),
                        StepMarkKind::Step => (if ascii { "|" } else { "│" }, Role::Notice),
                    };
                    put(
                        w.buf,
                        w.area.x + LABEL + column,
                        y,
                        glyph,
                        1,
                        theme.style(role),
                    );
                }
            }
            if series.len() > 2 {
                let more = format!("          +{} more series", series.len() - 2);
                w.line(&[(&more, label)]);
            }
        }
    }
}

/// The `:ar` list: failing first, one run per line.
pub fn render_runs(area: Rect, buf: &mut Buffer, state: &State, runs: &RunsState, theme: &Theme) {
    let mut w = Writer {
        buf,
        area,
        y: area.y,
    };
    let header = theme.style(Role::Header).add_modifier(Modifier::BOLD);
    w.line(&[(
        &format!("AnalysisRuns ({}), failing first", runs.rows.len()),
        header,
    )]);
    if let Some(problem) = &runs.problem {
        w.line(&[(problem, theme.style(Role::Error))]);
    }
    if !runs.loaded {
        w.line(&[("loading…", theme.style(Role::Muted))]);
        return;
    }
    if runs.rows.is_empty() {
        w.line(&[("no AnalysisRuns in scope", theme.style(Role::Muted))]);
        return;
    }
    let titles = format!(
        "  {:<14} {:<34} {:<16} {:>5}  REASON",
        "STATUS", "NAMESPACE/NAME", "ROLLOUT", "AGE"
    );
    w.line(&[(&titles, theme.style(Role::Muted))]);
    let rows = w.left() as usize;
    let offset = runs.selected.saturating_sub(rows.saturating_sub(1));
    for (index, row) in runs.rows.iter().enumerate().skip(offset).take(rows) {
        let phase = row.phase.unwrap_or_default();
        let cursor = cursor(index == runs.selected, theme);
        let status = format!(
            "{} {}",
            phase_glyph(phase, theme.symbols.ascii),
            phase.as_str()
        );
        let text = format!(
            "{cursor} {status:<14} {:<34} {:<16} {:>5}  {}",
            clip(&row.key.to_string(), 34, theme.symbols.ellipsis),
            clip(&row.rollout, 16, theme.symbols.ellipsis),
            row.created.map(|c| age(c, state.now)).unwrap_or_default(),
            row.reason
        );
        let mut style = theme.style(phase_role(phase));
        if index == runs.selected {
            style = theme.style(Role::Selection);
        }
        w.line(&[(&text, style)]);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeDelta;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use crate::app::msg::{Msg, RolloutEvent};
    use crate::app::state::{Scope, StartOptions, State};
    use crate::app::triage::TriageEvent;
    use crate::app::update;
    use crate::crd::AnalysisRun;
    use crate::model::ResourceKey;
    use crate::model::field_reports::{field_reports, fixed_now};
    use crate::model::triage::{ChartView, RunRow, SeriesView, TriageRun, ValuePoint, fixtures};
    use crate::ui::{Symbols, Theme, render};

    fn state(width: u16, height: u16) -> State {
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
        state
    }

    fn press(state: &mut State, code: KeyCode) {
        update(state, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }

    /// `t` on the R5 rollout, then the run arrives from the watch.
    fn triage_of(width: u16, height: u16, run: &AnalysisRun) -> State {
        let mut state = state(width, height);
        let key = ResourceKey::new("kubota-test", "rollouts-demo");
        state.selected = state.visible.iter().position(|k| *k == key).unwrap();
        press(&mut state, KeyCode::Char('t'));
        update(
            &mut state,
            Msg::Triage(TriageEvent::Run(Box::new(TriageRun::from_run(run)))),
        );
        state
    }

    fn screen(state: &State, theme: &Theme) -> TestBackend {
        let mut terminal = Terminal::new(TestBackend::new(state.width, state.height)).unwrap();
        terminal.draw(|frame| render(frame, state, theme)).unwrap();
        terminal.backend().clone()
    }

    fn dark() -> Theme {
        Theme::built_in("dark").unwrap()
    }

    fn chart(metric: &str, series: Result<Vec<SeriesView>, String>) -> ChartView {
        ChartView {
            metric: metric.into(),
            route: "API proxy monitoring/prometheus:9090".into(),
            window: std::time::Duration::from_secs(1800),
            fetched_at: fixed_now(),
            series,
        }
    }

    /// A canary that degrades and a flat stable, as a split query returns them.
    fn canary_and_stable() -> Vec<SeriesView> {
        let canary = (0..60)
            .map(|i| ValuePoint::Number(if i < 40 { 0.0 } else { f64::from(i - 40) }))
            .collect();
        let stable = (0..60)
            .map(|i| ValuePoint::Number(f64::from(i % 3)))
            .collect();
        vec![
            SeriesView {
                label: "service=rollouts-demo-canary".into(),
                values: canary,
            },
            SeriesView {
                label: "service=rollouts-demo-stable".into(),
                values: stable,
            },
        ]
    }

    #[test]
    fn triage_snapshots() {
        let now = fixed_now();
        let cases = [
            ("failed", fixtures::failed(now)),
            ("errored_empty", fixtures::errored(now)),
            ("inconclusive", fixtures::inconclusive(now)),
            ("successful", fixtures::successful(now)),
        ];
        for (w, h) in [(80, 24), (160, 48)] {
            for (name, run) in &cases {
                let mut state = triage_of(w, h, run);
                let first = state.triage.as_ref().unwrap().run.as_ref().unwrap().metrics[0]
                    .name
                    .clone();
                let live = match *name {
                    "failed" => Ok(canary_and_stable()),
                    "errored_empty" => Ok(Vec::new()),
                    "inconclusive" => Err("Prometheus via API proxy monitoring/prometheus:9090: \
                         services \"prometheus\" not found"
                        .to_owned()),
                    _ => Ok(canary_and_stable()[..1].to_vec()),
                };
                update(
                    &mut state,
                    Msg::Triage(TriageEvent::Chart(chart(&first, live))),
                );
                insta::assert_snapshot!(format!("triage_{name}_{w}x{h}"), screen(&state, &dark()));
            }
        }
    }

    #[test]
    fn live_chart_marks_the_rollouts_step_boundaries() {
        use crate::model::metric_chart::{StepMark, StepMarkKind};
        let mut state = triage_of(160, 48, &fixtures::failed(fixed_now()));
        let first = state.triage.as_ref().unwrap().run.as_ref().unwrap().metrics[0]
            .name
            .clone();
        update(
            &mut state,
            Msg::Triage(TriageEvent::Chart(chart(&first, Ok(canary_and_stable())))),
        );
        let text = format!("{}", screen(&state, &dark()));
        assert!(!text.contains("steps"), "{text}");
        update(
            &mut state,
            Msg::Triage(TriageEvent::StepMarks(vec![
                StepMark {
                    at: fixed_now() - TimeDelta::minutes(20),
                    kind: StepMarkKind::Update,
                },
                StepMark {
                    at: fixed_now() - TimeDelta::minutes(5),
                    kind: StepMarkKind::Step,
                },
            ])),
        );
        let text = format!("{}", screen(&state, &dark()));
        let row = text
            .lines()
            .find(|l| l.starts_with("\"steps"))
            .unwrap_or_else(|| panic!("{text}"));
        // 60 points over 30 minutes: 20 minutes ago is column 20, 5 minutes ago column 50.
        let columns: Vec<usize> = row
            .chars()
            .enumerate()
            .filter(|(_, c)| *c == '◆' || *c == '│')
            .map(|(i, _)| i - 1 - 10)
            .collect();
        assert_eq!(columns, [20, 50], "{row}");
    }

    #[test]
    fn job_metric_shows_its_pods() {
        let mut state = triage_of(80, 24, &fixtures::inconclusive(fixed_now()));
        let names: Vec<String> = state
            .triage
            .as_ref()
            .unwrap()
            .run
            .as_ref()
            .unwrap()
            .metrics
            .iter()
            .map(|m| m.name.clone())
            .collect();
        let index = names.iter().position(|n| n == "smoke-test").unwrap();
        for _ in 0..index {
            press(&mut state, KeyCode::Char('j'));
        }
        update(
            &mut state,
            Msg::Triage(TriageEvent::JobPods {
                job: "nginx-5d8f-4-1.smoke-test.1".into(),
                pods: vec![
                    "nginx-5d8f-4-1.smoke-test.1-x7k2p Pending (smoke: waiting ImagePullBackOff)"
                        .into(),
                ],
            }),
        );
        insta::assert_snapshot!("triage_job_80x24", screen(&state, &dark()));
    }

    #[test]
    fn ascii_triage_draws_only_ascii() {
        let theme = Theme::built_in("mono")
            .unwrap()
            .with_symbols(Symbols::ASCII);
        for run in [
            fixtures::failed(fixed_now()),
            fixtures::errored(fixed_now()),
        ] {
            let mut state = triage_of(80, 24, &run);
            let first = state.triage.as_ref().unwrap().run.as_ref().unwrap().metrics[0]
                .name
                .clone();
            update(
                &mut state,
                Msg::Triage(TriageEvent::Chart(chart(&first, Ok(canary_and_stable())))),
            );
            let backend = screen(&state, &theme);
            for cell in backend.buffer().content() {
                assert!(
                    cell.symbol().is_ascii(),
                    "{:?} in\n{backend}",
                    cell.symbol()
                );
            }
        }
    }

    #[test]
    fn run_list_snapshot() {
        let now = fixed_now();
        let mut state = state(120, 12);
        press(&mut state, KeyCode::Char(':'));
        for c in "ar".chars() {
            press(&mut state, KeyCode::Char(c));
        }
        press(&mut state, KeyCode::Enter);
        insta::assert_snapshot!("runs_loading_120x12", screen(&state, &dark()));
        let mut rows: Vec<RunRow> = [
            fixtures::successful(now),
            fixtures::failed(now),
            fixtures::inconclusive(now),
            fixtures::errored(now),
        ]
        .iter()
        .map(|r| RunRow::from_triage(&TriageRun::from_run(r)))
        .collect();
        crate::model::triage::sort_runs(&mut rows);
        update(&mut state, Msg::Triage(TriageEvent::Runs(rows)));
        insta::assert_snapshot!("runs_120x12", screen(&state, &dark()));
    }

    #[test]
    fn tiny_terminals_never_panic() {
        for (w, h) in [(10, 3), (20, 5), (40, 10), (79, 23)] {
            for run in [
                fixtures::failed(fixed_now()),
                fixtures::inconclusive(fixed_now()),
            ] {
                let state = triage_of(w, h, &run);
                screen(&state, &dark());
            }
        }
    }
}

#[cfg(test)]
mod wrap_tests {
    #[test]
    fn wraps_words_and_cuts_long_tokens() {
        assert_eq!(super::wrap("a bb ccc", 4), ["a bb", "ccc"]);
        assert_eq!(super::wrap("abcdefghij k", 4), ["abcd", "efgh", "ij k"]);
        assert_eq!(super::wrap("", 4), [""]);
    }
}
