//! Reading Argo objects (`crd::Rollout`, `crd::AnalysisRun`) into the cockpit's summaries,
//! with the status and weight rules of `kubectl argo rollouts get` (spec §6.1, §6.2). Pure:
//! the cluster adapter calls these at the edge, before anything reaches the event loop.
//! What a Rollout object alone cannot tell (the stable ReplicaSet's image, run counters) comes
//! in `RolloutExtras`.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff;

use crate::crd::time::parse_time;
use crate::crd::{AnalysisRun, CanaryStep, Rollout};

use super::rollout::{
    AnalysisCounts, AnalysisPhase, AnalysisSummary, BlueGreenView, PauseInfo, Phase, Replicas,
    ResourceKey, RolloutSummary, StepKind, StepView, Strategy,
};

/// Facts about a rollout that live on other objects.
#[derive(Debug, Clone, Default)]
pub struct RolloutExtras {
    /// Image of the stable ReplicaSet's first container.
    pub stable_image: Option<String>,
    /// The rollout's latest AnalysisRun, with counters (see `AnalysisSummary::from_run`).
    pub analysis: Option<AnalysisSummary>,
}

const REVISION_ANNOTATION: &str = "rollout.argoproj.io/revision";

/// A Kubernetes timestamp as chrono time; a missing one reads as the epoch (shown as a very
/// old age rather than failing the whole object).
pub(crate) fn to_utc(time: Option<jiff::Timestamp>) -> DateTime<Utc> {
    time.and_then(|t| DateTime::from_timestamp(t.as_second(), 0))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// The `rollout.argoproj.io/revision` annotation; 0 when missing, as the CLI does.
pub(crate) fn revision_of(meta: &ObjectMeta) -> u32 {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION_ANNOTATION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn step_view(step: &CanaryStep) -> StepView {
    if let Some(weight) = step.set_weight {
        return StepView::new(StepKind::SetWeight, weight.to_string());
    }
    if let Some(pause) = &step.pause {
        let value = match &pause.duration {
            None => String::new(),
            Some(IntOrString::Int(seconds)) => format!("{seconds}s"),
            Some(IntOrString::String(text)) => text.clone(),
        };
        return StepView::new(StepKind::Pause, value);
    }
    if let Some(analysis) = &step.analysis {
        let names: Vec<&str> = analysis
            .templates()
            .iter()
            .map(|t| t.template_name.as_str())
            .collect();
        return StepView::new(StepKind::Analysis, names.join(","));
    }
    if let Some(experiment) = &step.experiment {
        let names: Vec<&str> = experiment
            .templates
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        return StepView::new(StepKind::Experiment, names.join(","));
    }
    if let Some(scale) = &step.set_canary_scale {
        let value = match (scale.weight, scale.replicas, scale.match_traffic_weight) {
            (Some(weight), _, _) => format!("weight {weight}"),
            (None, Some(replicas), _) => format!("replicas {replicas}"),
            (None, None, Some(true)) => "matchTrafficWeight".to_owned(),
            _ => String::new(),
        };
        return StepView::new(StepKind::SetCanaryScale, value);
    }
    if let Some(route) = &step.set_header_route {
        return StepView::new(StepKind::SetHeaderRoute, route.name.clone());
    }
    if let Some(route) = &step.set_mirror_route {
        return StepView::new(StepKind::SetMirrorRoute, route.name.clone());
    }
    if let Some(plugin) = &step.plugin {
        return StepView::new(StepKind::Plugin, plugin.name.clone());
    }
    // A step kind this version does not model: say so rather than guess.
    StepView::new(StepKind::Plugin, "unknown step")
}

fn to_percent(weight: i32, max: i32) -> u8 {
    if max <= 0 {
        return 0;
    }
    (i64::from(weight.clamp(0, max)) * 100 / i64::from(max)) as u8
}

fn template_containers(rollout: &Rollout) -> Vec<(String, String)> {
    let Some(template) = &rollout.spec.template else {
        return Vec::new();
    };
    template["spec"]["containers"]
        .as_array()
        .map(|containers| {
            containers
                .iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or_default().to_owned(),
                        c["image"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Phase and message by the CLI's first-match rules (spec §6.1).
fn phase_and_message(rollout: &Rollout) -> (Phase, String) {
    let Some(status) = &rollout.status else {
        return (Phase::Progressing, "waiting for the controller".to_owned());
    };
    if let (Some(observed), Some(generation)) =
        (status.observed_generation(), rollout.metadata.generation)
        && observed != generation
    {
        return (
            Phase::Progressing,
            "waiting for rollout spec update to be observed".to_owned(),
        );
    }
    if status.controller_pause == Some(true) && status.pause_conditions().is_empty() {
        return (
            Phase::Progressing,
            "waiting for rollout to unpause".to_owned(),
        );
    }
    match status.phase_text.as_deref() {
        Some(word) => (
            Phase::from_word(word),
            status.message.clone().unwrap_or_default(),
        ),
        None => (Phase::Unknown, status.message.clone().unwrap_or_default()),
    }
}

impl RolloutSummary {
    /// Summarises a Rollout object; nothing here depends on `now` (countdowns use
    /// `pause.started` at render time).
    pub fn from_rollout(rollout: &Rollout, extras: RolloutExtras) -> Self {
        let meta = &rollout.metadata;
        let key = ResourceKey::new(
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        );
        let strategy = if rollout.blue_green().is_some() {
            Strategy::BlueGreen
        } else {
            Strategy::Canary
        };
        let created = to_utc(meta.creation_timestamp.as_ref().map(|t| t.0));
        let mut summary = RolloutSummary::new(key, strategy, created);
        let (phase, message) = phase_and_message(rollout);
        summary.phase = phase;
        summary.message = message;
        summary.steps = rollout.steps().iter().map(step_view).collect();
        summary.spec_paused = rollout.spec.paused == Some(true);
        summary.revision = revision_of(meta);
        let containers = template_containers(rollout);
        summary.canary_image = containers.first().map(|(_, image)| image.clone());
        summary.containers = containers.into_iter().map(|(name, _)| name).collect();
        summary.replicas.desired = rollout.desired_replicas();

        let Some(status) = &rollout.status else {
            summary.stable_image = extras.stable_image;
            summary.analysis = extras.analysis;
            return summary;
        };
        summary.aborted = status.abort == Some(true);
        summary.controller_pause = status.controller_pause == Some(true);
        summary.step_index = status
            .current_step_index
            .and_then(|i| u32::try_from(i).ok());
        summary.replicas = Replicas {
            desired: rollout.desired_replicas(),
            current: status.replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            ready: status.ready_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
        };
        summary.fully_promoted = match (&status.current_pod_hash, &status.stable_rs) {
            (Some(current), Some(stable)) => current == stable,
            // No stable yet: the first revision is rolling out.
            (Some(_), None) => false,
            _ => true,
        };
        let canary_status = status.canary.as_ref();
        summary.step_analysis_inconclusive = canary_status
            .and_then(|c| c.current_step_analysis_run_status.as_ref())
            .is_some_and(|run| run.status == "Inconclusive");
        set_weights(&mut summary, rollout);
        summary.pause = status.pause_conditions().first().map(|condition| {
            let duration = if condition.reason == "CanaryPauseStep" {
                summary
                    .step_index
                    .and_then(|i| rollout.steps().get(i as usize))
                    .and_then(|step| step.pause.as_ref())
                    .and_then(crate::crd::rollout::RolloutPause::duration)
                    .and_then(Result::ok)
            } else {
                None
            };
            PauseInfo {
                reason: condition.reason.clone(),
                started: parse_time(&condition.start_time),
                duration,
            }
        });
        if let (Some(bg), Strategy::BlueGreen) = (rollout.blue_green(), strategy) {
            let bg_status = status.blue_green.as_ref();
            summary.blue_green = Some(BlueGreenView {
                active_service: bg.active_service.clone().unwrap_or_default(),
                preview_service: bg.preview_service.clone(),
                active_hash: bg_status.and_then(|s| s.active_selector.clone()),
                preview_hash: bg_status.and_then(|s| s.preview_selector.clone()),
                auto_promotion: bg.auto_promotion_enabled.unwrap_or(true),
            });
            summary.desired_weight = 0;
            summary.actual_weight = 0;
        }
        summary.stable_image = extras.stable_image.or_else(|| {
            summary
                .fully_promoted
                .then(|| summary.canary_image.clone())
                .flatten()
        });
        summary.analysis = extras.analysis.or_else(|| {
            let run = canary_status.and_then(|c| {
                c.current_step_analysis_run_status
                    .as_ref()
                    .or(c.current_background_analysis_run_status.as_ref())
            })?;
            Some(AnalysisSummary {
                name: run.name.clone(),
                phase: AnalysisPhase::from_word(&run.status)?,
                counts: AnalysisCounts::default(),
            })
        });
        summary
    }
}

/// SetWeight and ActualWeight as the CLI computes them (spec §6.2).
fn set_weights(summary: &mut RolloutSummary, rollout: &Rollout) {
    let Some(status) = &rollout.status else {
        return;
    };
    let routing = rollout.traffic_routing();
    summary.traffic_routed = routing.is_some();
    let max = routing.and_then(|r| r.max_traffic_weight).unwrap_or(100);
    let steps = rollout.steps();
    let index = summary.step_index.map_or(0, |i| i as usize);
    let past_last_step = steps.is_empty() || index >= steps.len();
    summary.desired_weight = if summary.aborted {
        0
    } else if past_last_step {
        100
    } else {
        steps[..=index]
            .iter()
            .rev()
            .find_map(|step| step.set_weight)
            .map_or(0, |weight| to_percent(weight, max))
    };
    let available = status.available_replicas.unwrap_or(0);
    summary.actual_weight = if past_last_step && !summary.aborted {
        100
    } else if available == 0 {
        0
    } else if routing.is_some() {
        status
            .canary
            .as_ref()
            .and_then(|c| c.weights.as_ref())
            .map_or(summary.desired_weight, |w| to_percent(w.canary.weight, max))
    } else {
        // Without a router the weight is the canary's share of available pods. The Rollout
        // does not carry the canary ReplicaSet's availability; updated replicas stand in.
        let canary = status.updated_replicas.unwrap_or(0).min(available);
        to_percent(canary, available)
    };
}

impl AnalysisSummary {
    /// Name, phase and counters summed over metric results, as the CLI tree prints them.
    pub fn from_run(run: &AnalysisRun) -> Self {
        let status = run.status.as_ref();
        let mut counts = AnalysisCounts::default();
        for result in status
            .and_then(|s| s.metric_results.as_deref())
            .unwrap_or_default()
        {
            let add = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
            counts.successful += add(result.successful);
            counts.failed += add(result.failed);
            counts.inconclusive += add(result.inconclusive);
            counts.error += add(result.error);
        }
        let phase = status
            .and_then(|s| s.phase_text.as_deref())
            .and_then(AnalysisPhase::from_word)
            .unwrap_or(AnalysisPhase::Pending);
        Self {
            name: run.metadata.name.clone().unwrap_or_default(),
            phase,
            counts,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::time::Duration;

    fn document(file: &str, kind: &str) -> Value {
        let path = format!("{}/tests/fixtures/crd/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        text.split("\n---")
            .map(|doc| serde_saphyr::from_str::<Value>(doc).unwrap())
            .find(|doc| doc["kind"] == kind)
            .unwrap()
    }

    fn rollout(file: &str) -> Rollout {
        serde_json::from_value(document(file, "Rollout")).unwrap()
    }

    #[test]
    fn r1_paused_at_set_weight_5() {
        let s = RolloutSummary::from_rollout(
            &rollout("r1-istio-canary.yaml"),
            RolloutExtras::default(),
        );
        assert_eq!(s.key.to_string(), "argo-apl/rollouts-demo");
        assert_eq!(
            (s.phase, s.message.as_str()),
            (Phase::Paused, "CanaryPauseStep")
        );
        assert_eq!(s.step_text().as_deref(), Some("1/2"));
        assert_eq!(
            s.steps.iter().map(StepView::label).collect::<Vec<_>>(),
            ["setWeight 5", "pause"]
        );
        assert_eq!((s.desired_weight, s.actual_weight), (5, 5));
        assert!(s.traffic_routed);
        assert!(s.is_manual_pause());
        assert!(!s.fully_promoted);
        assert_eq!(
            s.canary_image.as_deref(),
            Some("argoproj/rollouts-demo:yellow")
        );
        assert_eq!(s.containers, ["rollouts-demo"]);
        assert_eq!(s.revision, 2);
        assert_eq!(
            s.pause.as_ref().unwrap().started,
            parse_time("2021-03-04T09:20:02Z")
        );
        assert_eq!(s.replicas.updated, 1);
    }

    #[test]
    fn r5_aborted_is_degraded_with_zero_weight() {
        let s = RolloutSummary::from_rollout(
            &rollout("r5-failing-canary.yaml"),
            RolloutExtras::default(),
        );
        assert_eq!(s.phase, Phase::Degraded);
        assert!(s.aborted);
        assert!(
            s.message
                .starts_with("RolloutAborted: Rollout aborted update to revision 3")
        );
        assert_eq!((s.desired_weight, s.actual_weight), (0, 0));
        let analysis = s.analysis.as_ref().unwrap();
        assert_eq!(analysis.phase, AnalysisPhase::Failed);
        assert_eq!(s.steps[2].label(), "analysis failure-count");

        let run: AnalysisRun =
            serde_json::from_value(document("r5-failing-canary.yaml", "AnalysisRun")).unwrap();
        let summary = AnalysisSummary::from_run(&run);
        assert_eq!(summary.name, "rollouts-demo-5b9f8d7c6d-3-2");
        assert_eq!(summary.counts.to_text(false), "✖ 1");
    }

    #[test]
    fn r3_blue_green_lanes_come_from_status_selectors() {
        let s = RolloutSummary::from_rollout(
            &rollout("r3-blue-green.yaml"),
            RolloutExtras {
                stable_image: Some("argoproj/rollouts-demo:blue".into()),
                analysis: None,
            },
        );
        assert_eq!(s.strategy, Strategy::BlueGreen);
        assert_eq!(s.step_text(), None);
        let bg = s.blue_green.as_ref().unwrap();
        assert_eq!(bg.active_hash.as_deref(), Some("6cbccd9f99"));
        assert_eq!(bg.preview_hash.as_deref(), Some("74b948fccb"));
        assert_eq!(s.pause.as_ref().unwrap().reason, "BlueGreenPause");
        assert_eq!(
            s.stable_image.as_deref(),
            Some("argoproj/rollouts-demo:blue")
        );
        assert_eq!(s.attention(), super::super::Attention::ManualPause);
    }

    #[test]
    fn status_rules_take_precedence_over_the_phase_field() {
        let mut r = rollout("r1-istio-canary.yaml");
        r.metadata.generation = Some(3);
        let s = RolloutSummary::from_rollout(&r, RolloutExtras::default());
        assert_eq!(
            (s.phase, s.message.as_str()),
            (
                Phase::Progressing,
                "waiting for rollout spec update to be observed"
            )
        );
        let mut r = rollout("r1-istio-canary.yaml");
        r.status.as_mut().unwrap().pause_conditions = None;
        let s = RolloutSummary::from_rollout(&r, RolloutExtras::default());
        assert_eq!(s.message, "waiting for rollout to unpause");
        let mut r = rollout("r1-istio-canary.yaml");
        r.status = None;
        let s = RolloutSummary::from_rollout(&r, RolloutExtras::default());
        assert_eq!(s.phase, Phase::Progressing);
    }

    #[test]
    fn timed_pause_steps_carry_their_duration() {
        let mut r = rollout("r1-istio-canary.yaml");
        let steps = r
            .spec
            .strategy
            .as_mut()
            .unwrap()
            .canary
            .as_mut()
            .unwrap()
            .steps
            .as_mut()
            .unwrap();
        steps[1].pause.as_mut().unwrap().duration = Some(IntOrString::String("30s".into()));
        let s = RolloutSummary::from_rollout(&r, RolloutExtras::default());
        assert_eq!(s.steps[1].label(), "pause 30s");
        assert_eq!(
            s.pause.as_ref().unwrap().duration,
            Some(Duration::from_secs(30))
        );
        let started = s.pause.as_ref().unwrap().started.unwrap();
        assert_eq!(
            s.pause_remaining(started + chrono::TimeDelta::seconds(12)),
            Some(Duration::from_secs(18))
        );
    }

    #[test]
    fn weight_percent_respects_max_traffic_weight() {
        let cases = [
            (5, 100, 5),
            (50, 200, 25),
            (300, 200, 100),
            (-1, 100, 0),
            (1, 0, 0),
        ];
        for (weight, max, want) in cases {
            assert_eq!(to_percent(weight, max), want, "{weight}/{max}");
        }
    }
}
