//! The five field reports of `seeds.md` as summaries at one fixed instant, and a generator of
//! many synthetic rollouts. Snapshot tests, the benchmark and the demo's first frame use them;
//! they are data, not behaviour, and no code path decides anything from them.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::event::{EventType, EventView};
use super::rollout::{
    AnalysisCounts, AnalysisPhase, AnalysisSummary, BlueGreenView, PauseInfo, Phase, Replicas,
    ResourceKey, RolloutSummary, StepKind, StepView, Strategy,
};
use super::tree::{AnalysisRunView, PodView, ReplicaSetStatus, ReplicaSetView, RevisionView};

/// The instant every fixture is built around: 2027-01-15T08:00:00Z.
pub fn fixed_now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0)
        .single()
        .unwrap_or_default()
}

fn ago(now: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    now - TimeDelta::seconds(secs)
}

fn replicas(desired: i32, current: i32, updated: i32, ready: i32) -> Replicas {
    Replicas {
        desired,
        current,
        updated,
        ready,
        available: ready,
    }
}

/// R1, R2, R3, R4, R5 at `now`: paused at setWeight 5, healthy, blue-green with preview,
/// progressing through a timed pause, degraded after a failed analysis.
pub fn field_reports(now: DateTime<Utc>) -> Vec<RolloutSummary> {
    let mut r1 = RolloutSummary::new(
        ResourceKey::new("argo-apl", "rollouts-demo"),
        Strategy::Canary,
        ago(now, 3 * 86_400),
    );
    r1.phase = Phase::Paused;
    r1.message = "CanaryPauseStep".into();
    r1.steps = vec![
        StepView::new(StepKind::SetWeight, "5"),
        StepView::new(StepKind::Pause, ""),
    ];
    r1.step_index = Some(1);
    r1.desired_weight = 5;
    r1.actual_weight = 5;
    r1.pause = Some(PauseInfo {
        reason: "CanaryPauseStep".into(),
        started: Some(ago(now, 260)),
        duration: None,
    });
    r1.fully_promoted = false;
    r1.traffic_routed = true;
    r1.stable_image = Some("argoproj/rollouts-demo:blue".into());
    r1.canary_image = Some("argoproj/rollouts-demo:yellow".into());
    r1.containers = vec!["rollouts-demo".into()];
    r1.revision = 2;
    r1.replicas = replicas(1, 2, 1, 2);

    let mut r2 = RolloutSummary::new(
        ResourceKey::new("default", "tomozo"),
        Strategy::Canary,
        ago(now, 9 * 86_400),
    );
    r2.steps = vec![
        StepView::new(StepKind::SetWeight, "10"),
        StepView::new(StepKind::Pause, ""),
    ];
    r2.step_index = Some(2);
    r2.traffic_routed = true;
    r2.stable_image = Some("tomozo/web:1.4.2".into());
    r2.canary_image = Some("tomozo/web:1.4.2".into());
    r2.containers = vec!["tomozo".into()];
    r2.revision = 4;
    r2.replicas = replicas(3, 3, 3, 3);

    let mut r3 = RolloutSummary::new(
        ResourceKey::new("hoge", "sample"),
        Strategy::BlueGreen,
        ago(now, 40 * 86_400),
    );
    r3.phase = Phase::Paused;
    r3.message = "BlueGreenPause".into();
    r3.desired_weight = 0;
    r3.actual_weight = 0;
    r3.pause = Some(PauseInfo {
        reason: "BlueGreenPause".into(),
        started: Some(ago(now, 1_500)),
        duration: None,
    });
    r3.fully_promoted = false;
    r3.stable_image = Some("nginx:blue".into());
    r3.canary_image = Some("nginx:green".into());
    r3.containers = vec!["nginx".into()];
    r3.revision = 11;
    r3.replicas = replicas(3, 6, 3, 6);
    r3.blue_green = Some(BlueGreenView {
        active_service: "sample-active".into(),
        preview_service: Some("sample-preview".into()),
        active_hash: Some("6cbccd9f99".into()),
        preview_hash: Some("74b948fccb".into()),
        auto_promotion: false,
    });

    let mut r4 = RolloutSummary::new(
        ResourceKey::new("default", "nginx"),
        Strategy::Canary,
        ago(now, 2 * 3600),
    );
    r4.phase = Phase::Paused;
    r4.message = "CanaryPauseStep".into();
    r4.steps = vec![
        StepView::new(StepKind::SetWeight, "30"),
        StepView::new(StepKind::Pause, "30s"),
        StepView::new(StepKind::SetWeight, "60"),
        StepView::new(StepKind::Pause, "30s"),
        StepView::new(StepKind::SetWeight, "100"),
        StepView::new(StepKind::Pause, "10s"),
    ];
    r4.step_index = Some(1);
    r4.desired_weight = 30;
    // No traffic router: weight is the canary's share of available pods, 1 of 3.
    r4.actual_weight = 33;
    r4.pause = Some(PauseInfo {
        reason: "CanaryPauseStep".into(),
        started: Some(ago(now, 12)),
        duration: Some(Duration::from_secs(30)),
    });
    r4.fully_promoted = false;
    r4.analysis = Some(AnalysisSummary {
        name: "nginx-6f646bf7b7-2".into(),
        phase: AnalysisPhase::Running,
        counts: AnalysisCounts {
            successful: 1,
            ..AnalysisCounts::default()
        },
    });
    r4.stable_image = Some("nginx:1.23.4".into());
    r4.canary_image = Some("nginx:1.24.0".into());
    r4.containers = vec!["nginx".into()];
    r4.revision = 2;
    r4.replicas = replicas(2, 3, 1, 3);

    let mut r5 = RolloutSummary::new(
        ResourceKey::new("kubota-test", "rollouts-demo"),
        Strategy::Canary,
        ago(now, 5 * 86_400),
    );
    r5.phase = Phase::Degraded;
    r5.aborted = true;
    r5.message = "RolloutAborted: Rollout aborted update to revision 2: Metric \"http_error_count\" assessed Failed due to failed (1) > failureLimit (0)".into();
    r5.steps = vec![
        StepView::new(StepKind::SetWeight, "50"),
        StepView::new(StepKind::Pause, ""),
        StepView::new(StepKind::Analysis, "failure-count"),
    ];
    r5.step_index = Some(0);
    r5.desired_weight = 0;
    r5.actual_weight = 0;
    r5.fully_promoted = false;
    r5.analysis = Some(AnalysisSummary {
        name: "rollouts-demo-5c8b9d6f7-2-2".into(),
        phase: AnalysisPhase::Failed,
        counts: AnalysisCounts {
            failed: 1,
            ..AnalysisCounts::default()
        },
    });
    r5.traffic_routed = true;
    r5.stable_image = Some("quay.io/brancz/prometheus-example-app:v0.1.0".into());
    r5.canary_image = Some("quay.io/brancz/prometheus-example-app:v0.2.0".into());
    r5.containers = vec!["rollouts-demo".into()];
    r5.revision = 2;
    r5.replicas = replicas(1, 1, 0, 1);

    vec![r1, r2, r3, r4, r5]
}

fn pods(rs: &str, count: u32, created: DateTime<Utc>, status: &str) -> Vec<PodView> {
    (0..count)
        .map(|i| PodView {
            name: format!(
                "{rs}-{}",
                ["x7k2p", "m4q9d", "b8v3n", "t5w1c"][i as usize % 4]
            ),
            status: status.to_owned(),
            ready: u32::from(status == "Running"),
            containers: 1,
            restarts: if status == "Running" { 0 } else { 3 },
            created,
        })
        .collect()
}

/// A revision › ReplicaSet › Pod history consistent with a fixture summary: the current
/// revision (canary or preview), the stable one, and one old scaled-down revision.
pub fn revisions_for(summary: &RolloutSummary, now: DateTime<Utc>) -> Vec<RevisionView> {
    let name = &summary.key.name;
    let current = summary.revision;
    let stable_rs = format!("{name}-7d84d44bb8");
    let canary_rs = format!("{name}-6f646bf7b7");
    let (stable_tags, canary_tags): (Vec<String>, Vec<String>) = match summary.strategy {
        Strategy::Canary => (vec!["stable".into()], vec!["canary".into()]),
        Strategy::BlueGreen => (
            vec!["stable".into(), "active".into()],
            vec!["preview".into()],
        ),
    };
    let stable_pods = summary.replicas.desired.max(1) as u32;
    let mut revisions = Vec::new();
    if summary.fully_promoted {
        revisions.push(RevisionView {
            revision: current,
            replica_sets: vec![ReplicaSetView {
                name: stable_rs,
                status: ReplicaSetStatus::Healthy,
                tags: stable_tags,
                created: ago(now, 86_400),
                pods: pods(
                    &format!("{name}-7d84d44bb8"),
                    stable_pods,
                    ago(now, 86_400),
                    "Running",
                ),
            }],
            experiments: Vec::new(),
            analysis_runs: Vec::new(),
        });
    } else {
        let canary_pods = if summary.aborted {
            0
        } else {
            summary.replicas.updated.max(1) as u32
        };
        let canary_status = if summary.aborted {
            ReplicaSetStatus::ScaledDown
        } else {
            ReplicaSetStatus::Healthy
        };
        let runs = summary
            .analysis
            .iter()
            .map(|run| AnalysisRunView {
                name: run.name.clone(),
                phase: run.phase,
                counts: run.counts,
                created: ago(now, 300),
                jobs: Vec::new(),
            })
            .collect();
        revisions.push(RevisionView {
            revision: current,
            replica_sets: vec![ReplicaSetView {
                name: canary_rs.clone(),
                status: canary_status,
                tags: canary_tags,
                created: ago(now, 600),
                pods: pods(&canary_rs, canary_pods, ago(now, 590), "Running"),
            }],
            experiments: Vec::new(),
            analysis_runs: runs,
        });
        revisions.push(RevisionView {
            revision: current.saturating_sub(1),
            replica_sets: vec![ReplicaSetView {
                name: stable_rs.clone(),
                status: ReplicaSetStatus::Healthy,
                tags: stable_tags,
                created: ago(now, 86_400),
                pods: pods(&stable_rs, stable_pods, ago(now, 86_400), "Running"),
            }],
            experiments: Vec::new(),
            analysis_runs: Vec::new(),
        });
    }
    if current > 2 {
        revisions.push(RevisionView {
            revision: current - 2,
            replica_sets: vec![ReplicaSetView {
                name: format!("{name}-746d5fddf6"),
                status: ReplicaSetStatus::ScaledDown,
                tags: Vec::new(),
                created: ago(now, 7 * 86_400),
                pods: Vec::new(),
            }],
            experiments: Vec::new(),
            analysis_runs: Vec::new(),
        });
    }
    revisions
}

/// Recent events consistent with a fixture summary, oldest first.
pub fn events_for(summary: &RolloutSummary, now: DateTime<Utc>) -> Vec<EventView> {
    let event = |secs, kind, reason: &str, message: String| EventView {
        last_seen: ago(now, secs),
        kind,
        reason: reason.to_owned(),
        message,
        count: 1,
    };
    let mut events = vec![event(
        600,
        EventType::Normal,
        "RolloutUpdated",
        format!("Rollout updated to revision {}", summary.revision),
    )];
    if summary.desired_weight > 0 && !summary.fully_promoted {
        events.push(event(
            590,
            EventType::Normal,
            "TrafficWeightUpdated",
            format!(
                "Traffic weight updated from 0 to {}",
                summary.desired_weight
            ),
        ));
    }
    if let Some(pause) = &summary.pause {
        events.push(event(
            260,
            EventType::Normal,
            "RolloutPaused",
            format!("Rollout is paused ({})", pause.reason),
        ));
    }
    if summary.aborted {
        events.push(event(
            120,
            EventType::Warning,
            "AnalysisRunFailed",
            "Step Analysis Run 'rollouts-demo-5c8b9d6f7-2-2' Status New: 'Failed' Previous: 'Running'"
                .to_owned(),
        ));
        events.push(event(
            118,
            EventType::Warning,
            "RolloutAborted",
            summary.message.clone(),
        ));
    }
    if summary.fully_promoted {
        events.push(event(
            3_000,
            EventType::Normal,
            "RolloutCompleted",
            format!("Rollout completed update to revision {}", summary.revision),
        ));
    }
    events
}

/// `count` synthetic rollouts over 50 namespaces, cycling through the five report shapes, for
/// the render and resync benchmarks.
pub fn many_rollouts(count: usize, now: DateTime<Utc>) -> Vec<RolloutSummary> {
    let shapes = field_reports(now);
    (0..count)
        .map(|i| {
            let mut summary = shapes[i % shapes.len()].clone();
            summary.key = ResourceKey::new(format!("team-{:02}", i % 50), format!("svc-{i:05}"));
            summary.created = ago(now, (i as i64 * 37) % (30 * 86_400));
            summary
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rollout::Attention;

    #[test]
    fn field_reports_cover_every_attention_shape_the_snapshots_need() {
        let now = fixed_now();
        let reports = field_reports(now);
        let attention: Vec<Attention> = reports.iter().map(RolloutSummary::attention).collect();
        assert_eq!(
            attention,
            [
                Attention::ManualPause,
                Attention::Settled,
                Attention::ManualPause,
                Attention::WeightMismatch,
                Attention::Degraded
            ]
        );
        assert_eq!(
            reports[3].pause_remaining(now),
            Some(Duration::from_secs(18))
        );
        assert_eq!(many_rollouts(12, now).len(), 12);
    }
}
