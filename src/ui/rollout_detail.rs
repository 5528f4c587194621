//! The rollout detail screen: title and status banner (why it is paused, what promote does
//! now), the weight gauge (or blue-green active/preview lanes), images and replicas, the step
//! timeline with a live countdown, the revision › ReplicaSet › Pod tree, and recent Events.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use crate::app::state::{DetailState, State};
use crate::model::action::set_weight_at;
use crate::model::metric_chart::step_marks;
use crate::model::{
    Branch, EventType, RolloutSummary, StepState, Strategy, TreeLine, age, human_duration,
};

use super::metric_charts::{panel_rows, render_metric_charts};
use super::weight_gauge::render_weight_gauge;
use super::{Role, Theme, clip, phase_glyph, phase_role, put, tone_role, width_of};

pub fn render_detail(
    area: Rect,
    buf: &mut Buffer,
    state: &State,
    detail: &DetailState,
    theme: &Theme,
) {
    let Some(row) = state.rollouts.get(&detail.key) else {
        put(
            buf,
            area.x,
            area.y,
            &format!("{} is gone", detail.key),
            area.width,
            theme.style(Role::Muted),
        );
        return;
    };
    let summary = &row.summary;
    if area.height < 8 {
        render_title(area, buf, summary, theme);
        return;
    }
    let mut y = area.y;
    render_title(
        Rect {
            y,
            height: 1,
            ..area
        },
        buf,
        summary,
        theme,
    );
    y += 1;
    render_banner(
        Rect {
            y,
            height: 1,
            ..area
        },
        buf,
        state,
        summary,
        theme,
    );
    y += 1;
    let gauge = Rect {
        x: area.x + 1,
        y,
        width: area.width.saturating_sub(2),
        height: 2,
    };
    match summary.strategy {
        Strategy::Canary => render_weight_gauge(gauge, buf, summary, theme),
        Strategy::BlueGreen => render_lanes(gauge, buf, summary, theme),
    }
    y += 2;
    render_images_and_replicas(
        Rect {
            y,
            height: 2,
            ..area
        },
        buf,
        summary,
        theme,
    );
    y += 2;

    let events_rows = if area.height >= 30 { 7 } else { 4 };
    // The metric charts sit between the tree and the events; the tree keeps at least 5 rows.
    let marks = step_marks(
        &detail.events,
        summary.pause.as_ref().and_then(|p| p.started),
    );
    let room = area.bottom().saturating_sub(events_rows).saturating_sub(y);
    let cap = if room >= 30 {
        room / 2
    } else {
        room.saturating_sub(5)
    };
    let charts_rows = panel_rows(detail, &marks, cap, area.height);
    let body_bottom = area.bottom().saturating_sub(events_rows + charts_rows);
    let steps_width = if area.width >= 120 { 34 } else { 26 };
    let title = theme.style(Role::Header).add_modifier(Modifier::BOLD);
    let body_height = body_bottom.saturating_sub(y + 1);
    let tree_x = if summary.strategy == Strategy::Canary {
        put(buf, area.x + 1, y, "STEPS", steps_width, title);
        let steps = Rect {
            x: area.x + 1,
            y: y + 1,
            width: steps_width - 1,
            height: body_height,
        };
        render_steps(steps, buf, state, summary, theme);
        area.x + steps_width + 1
    } else {
        area.x + 1
    };
    put(
        buf,
        tree_x,
        y,
        "REVISIONS",
        area.right().saturating_sub(tree_x),
        title,
    );
    let tree = Rect {
        x: tree_x,
        y: y + 1,
        width: area.right().saturating_sub(tree_x),
        height: body_height,
    };
    render_tree(tree, buf, state, detail, theme);
    let charts = Rect {
        x: area.x + 1,
        y: body_bottom,
        width: area.width.saturating_sub(2),
        height: charts_rows,
    };
    render_metric_charts(charts, buf, detail, &marks, area.height, theme);
    let events_top = body_bottom + charts_rows;
    let events = Rect {
        x: area.x + 1,
        y: events_top,
        width: area.width.saturating_sub(2),
        height: area.bottom().saturating_sub(events_top),
    };
    render_events(events, buf, state, detail, theme);
}

fn render_title(area: Rect, buf: &mut Buffer, summary: &RolloutSummary, theme: &Theme) {
    let s = &theme.symbols;
    let right = area.right();
    let mut x = put(
        buf,
        area.x + 1,
        area.y,
        &summary.key.name,
        area.width,
        theme.style(Role::Accent).add_modifier(Modifier::BOLD),
    );
    let mut status = format!(
        "  {} {}",
        phase_glyph(summary.phase, s),
        summary.phase.word()
    );
    if summary.aborted {
        status = format!("{status} {} aborted", s.abort_marker);
    }
    x = put(
        buf,
        x,
        area.y,
        &status,
        right.saturating_sub(x),
        theme
            .style(phase_role(summary.phase, summary.aborted))
            .add_modifier(Modifier::BOLD),
    );
    let mut facts = format!(
        "  ns {}  {}  rev {}",
        summary.key.namespace,
        summary.strategy.word(),
        summary.revision
    );
    if let Some(step) = summary.step_text() {
        facts = format!("{facts}  step {step}");
    }
    put(
        buf,
        x,
        area.y,
        &facts,
        right.saturating_sub(x),
        theme.style(Role::Muted),
    );
}

/// One line that answers "why is it stuck, and what does promote do now".
fn render_banner(
    area: Rect,
    buf: &mut Buffer,
    state: &State,
    summary: &RolloutSummary,
    theme: &Theme,
) {
    let s = &theme.symbols;
    let (text, role) = if summary.aborted
        || !summary.message.is_empty() && summary.pause.is_none() && !summary.spec_paused
    {
        let glyph = if summary.aborted { s.error } else { s.info };
        let role = if summary.aborted {
            Role::Degraded
        } else {
            Role::Progressing
        };
        (format!("{glyph} {}", summary.message), role)
    } else if summary.spec_paused {
        (
            format!(
                "{} paused by spec.paused: s resumes, p promotes",
                phase_glyph(summary.phase, s)
            ),
            Role::Paused,
        )
    } else if let Some(pause) = &summary.pause {
        let glyph = phase_glyph(crate::model::Phase::Paused, s);
        let next = summary.step_index.map_or(0, |i| i as usize + 1);
        let what_promote_does = match summary.strategy {
            Strategy::Canary if !summary.steps.is_empty() => format!(
                "p: step {}/{}, weight {} %",
                next.min(summary.steps.len()),
                summary.steps.len(),
                set_weight_at(summary, next)
            ),
            _ => "p promotes preview to active".to_owned(),
        };
        if let Some(left) = summary.pause_remaining(state.now) {
            (
                format!(
                    "{glyph} {}: {} left, then continues {} {what_promote_does}",
                    pause.reason,
                    human_duration(left),
                    s.separator
                ),
                Role::Paused,
            )
        } else {
            let since = pause
                .started
                .map(|at| format!(" {}", age(at, state.now)))
                .unwrap_or_default();
            (
                format!(
                    "{glyph} {}: waiting for a human{since} {} {what_promote_does}",
                    pause.reason, s.separator
                ),
                Role::Paused,
            )
        }
    } else if summary.fully_promoted {
        (
            format!("{} fully promoted", phase_glyph(summary.phase, s)),
            Role::Healthy,
        )
    } else {
        (
            format!("{} {}", phase_glyph(summary.phase, s), summary.phase.word()),
            Role::Progressing,
        )
    };
    put(
        buf,
        area.x + 1,
        area.y,
        &clip(&text, area.width.saturating_sub(2), s.ellipsis),
        area.width.saturating_sub(2),
        theme.style(role),
    );
}

/// Blue-green: which service points at which revision.
fn render_lanes(area: Rect, buf: &mut Buffer, summary: &RolloutSummary, theme: &Theme) {
    let Some(bg) = &summary.blue_green else {
        return;
    };
    let s = &theme.symbols;
    let stable_image = summary.stable_image.as_deref().unwrap_or("-");
    let preview_image = summary.canary_image.as_deref().unwrap_or("-");
    let lanes = [
        (
            "active ",
            Some(bg.active_service.as_str()),
            bg.active_hash.as_deref(),
            stable_image,
            Role::Active,
        ),
        (
            "preview",
            bg.preview_service.as_deref(),
            bg.preview_hash.as_deref(),
            preview_image,
            Role::Preview,
        ),
    ];
    for (i, (label, service, hash, image, role)) in lanes.into_iter().enumerate() {
        let y = area.y + i as u16;
        let x = put(
            buf,
            area.x,
            y,
            label,
            area.width,
            theme.style(role).add_modifier(Modifier::BOLD),
        );
        let text = format!(
            "  svc {} {} {} {} {}",
            service.unwrap_or("(none)"),
            s.arrow,
            hash.unwrap_or("-"),
            s.separator,
            crate::model::rollout::short_image(image)
        );
        put(
            buf,
            x,
            y,
            &text,
            area.right().saturating_sub(x),
            theme.style(Role::Fg),
        );
    }
}

fn render_images_and_replicas(
    area: Rect,
    buf: &mut Buffer,
    summary: &RolloutSummary,
    theme: &Theme,
) {
    let s = &theme.symbols;
    let x = put(
        buf,
        area.x + 1,
        area.y,
        "images   ",
        area.width,
        theme.style(Role::Muted),
    );
    let right = area.right();
    let full = summary
        .stable_image
        .iter()
        .chain(&summary.canary_image)
        .map(|i| width_of(i))
        .sum::<u16>()
        + 40;
    let show = |image: &str| -> String {
        if full > area.width {
            crate::model::rollout::short_image(image).to_owned()
        } else {
            image.to_owned()
        }
    };
    let stable = summary
        .stable_image
        .as_deref()
        .map_or_else(|| "-".to_owned(), show);
    let mut x = put(
        buf,
        x,
        area.y,
        &format!("stable {stable}"),
        right.saturating_sub(x),
        theme.style(Role::Stable),
    );
    if let Some(canary) = &summary.canary_image
        && Some(canary) != summary.stable_image.as_ref()
    {
        x = put(
            buf,
            x,
            area.y,
            &format!(" {} ", s.arrow),
            right.saturating_sub(x),
            theme.style(Role::Muted),
        );
        let word = if summary.strategy == Strategy::BlueGreen {
            "preview"
        } else {
            "canary"
        };
        put(
            buf,
            x,
            area.y,
            &format!("{word} {}", show(canary)),
            right.saturating_sub(x),
            theme.style(Role::Canary),
        );
    }
    let r = summary.replicas;
    let text = format!(
        "replicas {} desired {sep} {} current {sep} {} updated {sep} {} ready {sep} {} available",
        r.desired,
        r.current,
        r.updated,
        r.ready,
        r.available,
        sep = s.separator
    );
    put(
        buf,
        area.x + 1,
        area.y + 1,
        &text,
        area.width.saturating_sub(1),
        theme.style(Role::Muted),
    );
}

fn render_steps(
    area: Rect,
    buf: &mut Buffer,
    state: &State,
    summary: &RolloutSummary,
    theme: &Theme,
) {
    let s = &theme.symbols;
    if summary.steps.is_empty() {
        put(
            buf,
            area.x,
            area.y,
            "no steps: full rollout",
            area.width,
            theme.style(Role::Muted),
        );
        return;
    }
    let count = summary.steps.len();
    let current = summary.step_index.unwrap_or(0) as usize;
    // Keep the current step in view on short screens.
    let first = current.saturating_sub((area.height as usize).saturating_sub(2));
    for (line, (index, step)) in summary.steps.iter().enumerate().skip(first).enumerate() {
        if line as u16 >= area.height {
            break;
        }
        let y = area.y + line as u16;
        let (marker, role) = match summary.step_state(index) {
            StepState::Done => (s.step_done, Role::Muted),
            StepState::Current if summary.aborted => (s.step_failed, Role::Degraded),
            StepState::Current => (s.step_current, Role::Accent),
            StepState::Pending => (s.step_pending, Role::Fg),
        };
        let mut text = format!("{marker} {index} {}", step.label());
        if summary.step_state(index) == StepState::Current && !summary.aborted {
            if let Some(left) = summary.pause_remaining(state.now) {
                text = format!("{text}  {} left", human_duration(left));
            } else if step.is_manual_pause() && summary.pause.is_some() {
                text.push_str("  awaiting p");
            }
        }
        let style = theme.style(role);
        let style = if summary.step_state(index) == StepState::Current {
            style.add_modifier(Modifier::BOLD)
        } else {
            style
        };
        put(buf, area.x, y, &text, area.width, style);
    }
    let shown = count - first;
    if current >= count && (shown as u16) < area.height {
        put(
            buf,
            area.x,
            area.y + shown as u16,
            &format!("{} all {count} steps done", s.step_done),
            area.width,
            theme.style(Role::Healthy),
        );
    }
}

fn branch_prefix(line: &TreeLine, theme: &Theme) -> String {
    let s = &theme.symbols;
    line.branches
        .iter()
        .map(|branch| match branch {
            Branch::Pipe => s.tree_pipe,
            Branch::Blank => s.tree_blank,
            Branch::Tee => s.tree_tee,
            Branch::Elbow => s.tree_elbow,
        })
        .collect()
}

fn render_tree(area: Rect, buf: &mut Buffer, state: &State, detail: &DetailState, theme: &Theme) {
    let s = &theme.symbols;
    if detail.tree.is_empty() {
        put(
            buf,
            area.x,
            area.y,
            "waiting for ReplicaSets and pods…",
            area.width,
            theme.style(Role::Muted),
        );
        return;
    }
    // Cells per line, then column widths like the CLI's tab writer.
    let cells: Vec<(String, String, String, &str)> = detail
        .tree
        .iter()
        .map(|line| {
            let glyph = if s.ascii {
                line.kind.ascii_glyph()
            } else {
                line.kind.glyph()
            };
            let head = format!("{}{glyph} {}", branch_prefix(line, theme), line.name);
            let status = line
                .status
                .as_ref()
                .map(|mark| {
                    format!(
                        "{} {}",
                        if s.ascii { mark.ascii } else { mark.glyph },
                        mark.word
                    )
                })
                .unwrap_or_default();
            let when = line
                .created
                .map(|at| age(at, state.now))
                .unwrap_or_default();
            let info = if s.ascii {
                line.info_ascii.as_str()
            } else {
                line.info.as_str()
            };
            (head, status, when, info)
        })
        .collect();
    let widest = |pick: fn(&(String, String, String, &str)) -> u16| {
        cells.iter().map(pick).max().unwrap_or(0)
    };
    let status_w = widest(|c| width_of(&c.1));
    let age_w = widest(|c| width_of(&c.2));
    let info_w = widest(|c| width_of(c.3)).min(22);
    // The name column gives way first, down to 16 cells.
    let fixed = status_w + age_w + info_w + 6;
    let name_w = widest(|c| width_of(&c.0)).min(area.width.saturating_sub(fixed).max(16));
    // `scroll` is the selected line; the window starts as late as needed to show it.
    let cursor = detail.scroll.min(detail.tree.len().saturating_sub(1));
    let first = cursor.saturating_sub(area.height.saturating_sub(1) as usize);
    let right = area.right();
    for (row, (line, (head, status, when, info))) in
        detail.tree.iter().zip(&cells).skip(first).enumerate()
    {
        if row as u16 >= area.height {
            break;
        }
        let y = area.y + row as u16;
        if first + row == cursor {
            buf.set_style(
                Rect {
                    x: area.x,
                    y,
                    width: area.width,
                    height: 1,
                },
                theme.style(Role::Selection),
            );
        }
        let role = match line.kind {
            crate::model::TreeKind::Revision => Role::Header,
            crate::model::TreeKind::Folded => Role::Muted,
            _ => Role::Fg,
        };
        let room = if line.status.is_none() {
            area.width
        } else {
            name_w
        };
        put(
            buf,
            area.x,
            y,
            &clip(head, room, s.ellipsis),
            room,
            theme.style(role),
        );
        if let Some(mark) = &line.status {
            let x = area.x + name_w + 2;
            put(
                buf,
                x,
                y,
                status,
                right.saturating_sub(x),
                theme.style(tone_role(mark.tone)),
            );
        }
        let x = area.x + name_w + 2 + status_w + 2;
        put(
            buf,
            x,
            y,
            &format!("{when:>width$}", width = age_w as usize),
            right.saturating_sub(x),
            theme.style(Role::Muted),
        );
        if !info.is_empty() {
            let role = if info.contains("canary") || info.contains("preview") {
                Role::Canary
            } else if info.contains("stable") {
                Role::Stable
            } else {
                Role::Fg
            };
            let x = x + age_w + 2;
            put(
                buf,
                x,
                y,
                &clip(info, right.saturating_sub(x), s.ellipsis),
                right.saturating_sub(x),
                theme.style(role),
            );
        }
    }
}

fn render_events(area: Rect, buf: &mut Buffer, state: &State, detail: &DetailState, theme: &Theme) {
    let s = &theme.symbols;
    if area.height == 0 {
        return;
    }
    put(
        buf,
        area.x,
        area.y,
        "EVENTS",
        area.width,
        theme.style(Role::Header).add_modifier(Modifier::BOLD),
    );
    let rows = (area.height - 1) as usize;
    if detail.events.is_empty() {
        put(
            buf,
            area.x,
            area.y + 1,
            "no recent events",
            area.width,
            theme.style(Role::Muted),
        );
        return;
    }
    let start = detail.events.len().saturating_sub(rows);
    for (i, event) in detail.events[start..].iter().enumerate() {
        let y = area.y + 1 + i as u16;
        let (glyph, role) = match event.kind {
            EventType::Normal => (" ", Role::Muted),
            EventType::Warning => (s.warn, Role::Error),
        };
        let when = format!("{:>5} ", age(event.last_seen, state.now));
        let x = put(buf, area.x, y, &when, area.width, theme.style(Role::Muted));
        let x = put(
            buf,
            x,
            y,
            &format!("{glyph} {} ", event.reason),
            area.right().saturating_sub(x),
            theme.style(role),
        );
        let room = area.right().saturating_sub(x);
        put(
            buf,
            x,
            y,
            &clip(&event.message, room, s.ellipsis),
            room,
            theme.style(Role::Fg),
        );
    }
}
