//! The metric charts panel of the rollout detail view, pure: what the detail chart task
//! reported (the charts of the rollout's analysis templates, `model::metric_chart`, and their
//! latest Prometheus answers per side) and `m`, which hides the panel and stops its queries or
//! shows it again. The panel opens with each detail view. Answers for another rollout (a late
//! message from a closed view) are dropped.

use std::collections::BTreeMap;

use crate::model::ResourceKey;
use crate::model::metric_chart::{RolloutCharts, Side};
use crate::model::triage::ChartView;

use super::msg::Effect;
use super::state::{State, View};

/// The charts panel of one detail view.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DetailCharts {
    /// `m` hid the panel (its queries stop).
    pub hidden: bool,
    /// `None` until the task read the rollout and its templates; `Err` says why it could not.
    pub specs: Option<Result<RolloutCharts, String>>,
    /// The last answer per chart id and side (`None`: the one query of an unsplit chart).
    pub views: BTreeMap<(String, Option<Side>), ChartView>,
}

/// `m` in the detail view: hide the charts (stopping their queries) or show them again.
pub fn toggle(state: &mut State) -> Vec<Effect> {
    let View::Detail(detail) = &mut state.view else {
        return Vec::new();
    };
    detail.charts.hidden = !detail.charts.hidden;
    state.dirty = true;
    if detail.charts.hidden {
        vec![Effect::StopDetailCharts]
    } else {
        vec![Effect::WatchDetailCharts(detail.key.clone())]
    }
}

fn open_charts<'a>(state: &'a mut State, rollout: &ResourceKey) -> Option<&'a mut DetailCharts> {
    match &mut state.view {
        View::Detail(detail) if detail.key == *rollout && !detail.charts.hidden => {
            Some(&mut detail.charts)
        }
        _ => None,
    }
}

/// The charts of the rollout's analysis were (re-)read.
pub fn apply_specs(state: &mut State, rollout: &ResourceKey, specs: Result<RolloutCharts, String>) {
    if let Some(charts) = open_charts(state, rollout) {
        // Answers of charts that no longer exist are dropped.
        if let Ok(new) = &specs {
            charts
                .views
                .retain(|(id, _), _| new.charts.iter().any(|c| c.id == *id));
        }
        charts.specs = Some(specs);
        state.dirty = true;
    }
}

/// One chart's answer for one side.
pub fn apply_chart(
    state: &mut State,
    rollout: &ResourceKey,
    id: String,
    side: Option<Side>,
    view: ChartView,
) {
    if let Some(charts) = open_charts(state, rollout) {
        charts.views.insert((id, side), view);
        state.dirty = true;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::app::msg::{Msg, RolloutEvent};
    use crate::app::state::{Scope, StartOptions};
    use crate::app::triage::TriageEvent;
    use crate::app::update;
    use crate::model::field_reports::{field_reports, fixed_now};

    fn detail_state() -> (State, ResourceKey) {
        let mut state = State::new(StartOptions {
            context: "kind".into(),
            cluster: "kind".into(),
            scope: Scope::AllNamespaces,
            readonly: false,
            now: fixed_now(),
        });
        update(
            &mut state,
            Msg::Rollouts(RolloutEvent::Resynced(field_reports(fixed_now()))),
        );
        let key = state.selected_key().cloned().unwrap();
        assert_eq!(
            press(&mut state, KeyCode::Enter),
            [Effect::WatchDetail(key.clone())]
        );
        (state, key)
    }

    fn press(state: &mut State, code: KeyCode) -> Vec<Effect> {
        update(state, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn charts(state: &State) -> &DetailCharts {
        let View::Detail(detail) = &state.view else {
            panic!("not in detail");
        };
        &detail.charts
    }

    fn view(metric: &str) -> ChartView {
        ChartView {
            metric: metric.into(),
            route: "http://prometheus:9090".into(),
            window: std::time::Duration::from_secs(1800),
            fetched_at: fixed_now(),
            series: Ok(Vec::new()),
        }
    }

    #[test]
    fn m_hides_and_shows_the_charts_and_stops_their_queries() {
        let (mut state, key) = detail_state();
        assert_eq!(
            press(&mut state, KeyCode::Char('m')),
            [Effect::StopDetailCharts]
        );
        assert!(charts(&state).hidden);
        // Answers arriving while hidden are not kept.
        update(
            &mut state,
            Msg::Triage(TriageEvent::DetailChart {
                rollout: key.clone(),
                id: "error-rate".into(),
                side: None,
                view: view("error-rate"),
            }),
        );
        assert!(charts(&state).views.is_empty());
        assert_eq!(
            press(&mut state, KeyCode::Char('m')),
            [Effect::WatchDetailCharts(key)]
        );
        assert!(!charts(&state).hidden);
        // `m` means nothing on the list.
        press(&mut state, KeyCode::Esc);
        assert!(press(&mut state, KeyCode::Char('m')).is_empty());
    }

    #[test]
    fn answers_for_another_rollout_are_dropped_and_stale_charts_forgotten() {
        let (mut state, key) = detail_state();
        let other = ResourceKey::new("elsewhere", "other");
        for rollout in [&other, &key] {
            update(
                &mut state,
                Msg::Triage(TriageEvent::DetailChart {
                    rollout: rollout.clone(),
                    id: "error-rate".into(),
                    side: Some(Side::Canary),
                    view: view("error-rate"),
                }),
            );
        }
        assert_eq!(charts(&state).views.len(), 1);
        update(
            &mut state,
            Msg::Triage(TriageEvent::DetailSpecs {
                rollout: key,
                charts: Ok(RolloutCharts::default()),
            }),
        );
        assert!(charts(&state).views.is_empty());
        assert!(charts(&state).specs.is_some());
    }
}
