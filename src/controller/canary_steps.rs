//! Canary step-list arithmetic (spec §1.2, §3.5, §3.7, §3.8, §4.0): which step is current, the
//! `setWeight` in force, the `setCanaryScale` in force, when the current step is complete, and what
//! `currentStepIndex` becomes on reset, abort and advance. Steps are given as the plain
//! [`CanaryStep`] enum so this module is independent of the CRD types; time is a parameter.

use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;

/// The `setCanaryScale` step body. Exactly one of the three is meaningful; when `replicas` and
/// `weight` are both set `replicas` wins, as in the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetCanaryScale {
    /// Explicit canary pod count.
    pub replicas: Option<i32>,
    /// Canary pods as a weight of `spec.replicas` (may exceed 100).
    pub weight: Option<i32>,
    /// Go back to sizing the canary from the traffic weight.
    pub match_traffic_weight: bool,
}

/// One canary step, reduced to what the replica and step arithmetic needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CanaryStep {
    /// `setWeight: n`.
    SetWeight(i32),
    /// `pause: {duration?}`; `None` waits for the user.
    Pause(Option<Duration>),
    /// A step AnalysisRun.
    Analysis,
    /// An Experiment.
    Experiment,
    /// `setCanaryScale`.
    SetCanaryScale(SetCanaryScale),
    /// `setHeaderRoute` (completes immediately).
    SetHeaderRoute,
    /// `setMirrorRoute` (completes immediately).
    SetMirrorRoute,
    /// A step plugin.
    Plugin,
}

impl CanaryStep {
    /// Short label used in events (`RolloutStepCompleted` "1/2 setWeight: 50").
    pub fn describe(&self) -> String {
        match self {
            CanaryStep::SetWeight(w) => format!("setWeight: {w}"),
            CanaryStep::Pause(Some(d)) => format!("pause: {}s", d.as_secs()),
            CanaryStep::Pause(None) => "pause".to_owned(),
            CanaryStep::Analysis => "analysis".to_owned(),
            CanaryStep::Experiment => "experiment".to_owned(),
            CanaryStep::SetCanaryScale(_) => "setCanaryScale".to_owned(),
            CanaryStep::SetHeaderRoute => "setHeaderRoute".to_owned(),
            CanaryStep::SetMirrorRoute => "setMirrorRoute".to_owned(),
            CanaryStep::Plugin => "plugin".to_owned(),
        }
    }
}

/// The current step and its index (`GetCurrentCanaryStep`): a missing index means 0; an index at or
/// past the end (all steps done) or an empty list gives `None`. A negative index (corrupt status)
/// counts as 0 so it can never be mistaken for "all steps done" and jump to full weight.
pub fn current_step(steps: &[CanaryStep], index: Option<i32>) -> Option<(usize, &CanaryStep)> {
    let index = usize::try_from(index.unwrap_or(0).max(0)).ok()?;
    steps.get(index).map(|step| (index, step))
}

/// The `setWeight` in force (`GetCurrentSetWeight`): 0 when aborted, `max_weight` when past the last
/// step (or no steps), otherwise the last `setWeight` at or before the current index, 0 if none.
pub fn current_set_weight(
    steps: &[CanaryStep],
    index: Option<i32>,
    aborted: bool,
    max_weight: i32,
) -> i32 {
    if aborted {
        return 0;
    }
    let Some((current, _)) = current_step(steps, index) else {
        return max_weight;
    };
    steps[..=current]
        .iter()
        .rev()
        .find_map(|step| match step {
            CanaryStep::SetWeight(w) => Some(*w),
            _ => None,
        })
        .unwrap_or(0)
}

/// The `setCanaryScale` in force (`UseSetCanaryScale`), searched backwards from the current step.
///
/// * Only with traffic routing (validation rejects it otherwise).
/// * While aborted it is ignored unless the abort scale-down delay resolved to "never"
///   (`abort_scale_down_delay == None`, i.e. `abortScaleDownDelaySeconds: 0`), so an explicit
///   zero keeps the canary at its pinned size.
/// * A later `matchTrafficWeight: true` cancels an earlier scale.
pub fn applicable_set_canary_scale(
    steps: &[CanaryStep],
    index: Option<i32>,
    traffic_routed: bool,
    aborted: bool,
    abort_scale_down_delay: Option<Duration>,
) -> Option<SetCanaryScale> {
    if !traffic_routed || (aborted && abort_scale_down_delay.is_some()) {
        return None;
    }
    let (current, _) = current_step(steps, index)?;
    steps[..=current].iter().rev().find_map(|step| match step {
        CanaryStep::SetCanaryScale(scale) if scale.match_traffic_weight => Some(None),
        CanaryStep::SetCanaryScale(scale) => Some(Some(*scale)),
        _ => None,
    })?
}

/// Why a `pause.duration` could not be read; the reference maps this to InvalidSpec.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParsePauseDurationError {
    /// Not an integer, a unit-less number or a Go duration string.
    #[error("invalid pause duration {value:?}")]
    Unparsable { value: String },
    /// Negative durations are meaningless for a pause.
    #[error("pause duration {value:?} is negative")]
    Negative { value: String },
}

/// A raw `pause.duration` (Kubernetes `IntOrString`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawPauseDuration {
    /// Integer form: seconds.
    Seconds(i64),
    /// String form: seconds when it has no unit, otherwise a Go duration (`10s`, `5m`, `1h30m`).
    Text(String),
}

/// Parses a `pause.duration` the way the reference does (`DurationFromIntOrString`).
pub fn parse_pause_duration(raw: &RawPauseDuration) -> Result<Duration, ParsePauseDurationError> {
    match raw {
        RawPauseDuration::Seconds(s) => u64::try_from(*s).map(Duration::from_secs).map_err(|_| {
            ParsePauseDurationError::Negative {
                value: s.to_string(),
            }
        }),
        RawPauseDuration::Text(text) => {
            let trimmed = text.trim();
            if let Ok(secs) = trimmed.parse::<i64>() {
                return parse_pause_duration(&RawPauseDuration::Seconds(secs)).map_err(|_| {
                    ParsePauseDurationError::Negative {
                        value: text.clone(),
                    }
                });
            }
            parse_go_duration(trimmed)
        }
    }
}

/// Go's `time.ParseDuration` syntax, from the one parser in [`crate::crd::duration`].
fn parse_go_duration(text: &str) -> Result<Duration, ParsePauseDurationError> {
    crate::crd::duration::parse_go_duration(text).map_err(|error| match error {
        crate::crd::DurationError::Negative(_) => ParsePauseDurationError::Negative {
            value: text.to_owned(),
        },
        _ => ParsePauseDurationError::Unparsable {
            value: text.to_owned(),
        },
    })
}

/// What the controller knows about the current step's progress, for [`is_current_step_complete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepProgress {
    /// `spec.paused`: no step ever completes while set.
    pub spec_paused: bool,
    /// `status.controllerPause`.
    pub controller_pause: bool,
    /// Start time of the `CanaryPauseStep` pause condition, if one exists.
    pub canary_pause_started_at: Option<DateTime<Utc>>,
    /// Replica counts are at desired (`AtDesiredReplicaCountsForCanary`).
    pub replicas_at_desired: bool,
    /// `status.canary.weights.verified` (`None` when not verified / not applicable).
    pub weights_verified: Option<bool>,
    /// The current Experiment is Successful.
    pub experiment_successful: bool,
    /// The current step AnalysisRun is Successful.
    pub analysis_successful: bool,
    /// The step plugin reported completion.
    pub plugin_completed: bool,
}

/// Whether the current step is complete (`completedCurrentCanaryStep`, spec §3.5 table).
pub fn is_current_step_complete(
    step: &CanaryStep,
    progress: &StepProgress,
    now: DateTime<Utc>,
) -> bool {
    if progress.spec_paused {
        return false;
    }
    match step {
        CanaryStep::Pause(duration) => {
            // "controllerPause and no condition" means the user resumed (promote cleared it).
            if progress.controller_pause && progress.canary_pause_started_at.is_none() {
                return true;
            }
            match (duration, progress.canary_pause_started_at) {
                (Some(duration), Some(start)) => now > pause_step_deadline(start, *duration),
                _ => false,
            }
        }
        CanaryStep::SetCanaryScale(_) => progress.replicas_at_desired,
        CanaryStep::SetWeight(_) => {
            progress.replicas_at_desired && progress.weights_verified != Some(false)
        }
        CanaryStep::Experiment => progress.experiment_successful,
        CanaryStep::Analysis => progress.analysis_successful,
        CanaryStep::SetHeaderRoute | CanaryStep::SetMirrorRoute => true,
        CanaryStep::Plugin => progress.plugin_completed,
    }
}

/// When a timed pause step expires: `start + duration`. Saturates instead of overflowing on
/// absurd durations (a 100-year pause is effectively indefinite).
pub fn pause_step_deadline(start: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|d| start.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The step count as a status index value.
fn len_index(steps_len: usize) -> i32 {
    i32::try_from(steps_len).unwrap_or(i32::MAX)
}

/// `currentStepIndex` after a template or step-list change (spec §3.5 reset): `None` without steps,
/// `len(steps)` when the new template is the stable one (rollback to stable) or a rollback within
/// `rollbackWindow` onto an active RS, otherwise 0.
pub fn step_index_after_reset(
    steps_len: usize,
    new_rs_is_stable: bool,
    rollback_within_window_onto_active_rs: bool,
) -> Option<i32> {
    if steps_len == 0 {
        return None;
    }
    if new_rs_is_stable || rollback_within_window_onto_active_rs {
        Some(len_index(steps_len))
    } else {
        Some(0)
    }
}

/// `currentStepIndex` while aborted: `len(steps)` when the current template is already stable,
/// else 0 (the steps restart on retry). `None` without steps.
pub fn step_index_on_abort(steps_len: usize, current_is_stable: bool) -> Option<i32> {
    if steps_len == 0 {
        None
    } else if current_is_stable {
        Some(len_index(steps_len))
    } else {
        Some(0)
    }
}

/// `currentStepIndex` after full promotion (`promoteStable`): `len(steps)`, `None` without steps.
pub fn step_index_on_promotion(steps_len: usize) -> Option<i32> {
    (steps_len > 0).then(|| len_index(steps_len))
}

/// The index used for step evaluation: `promoteFull` and rollbacks within the window behave as if
/// every step were done.
pub fn effective_step_index(
    steps_len: usize,
    index: Option<i32>,
    promote_full: bool,
    within_rollback_window: bool,
) -> Option<i32> {
    if promote_full || within_rollback_window {
        step_index_on_promotion(steps_len)
    } else {
        index
    }
}

/// The index after completing the current step (`index + 1`, a missing index counting as 0).
pub fn advance_step_index(index: Option<i32>) -> i32 {
    index.unwrap_or(0).saturating_add(1)
}

/// True once every step has run (`index >= len(steps)`), or when there are no steps.
pub fn all_steps_completed(steps_len: usize, index: Option<i32>) -> bool {
    steps_len == 0 || index.is_some_and(|i| i >= len_index(steps_len))
}

/// Why a canary is fully promoted (`shouldFullPromote`); the `Display` text is the event message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullPromotionReason {
    /// No stable RS yet: the very first revision is stable immediately (pitfall §9.12).
    InitialDeploy,
    /// `status.promoteFull` (CLI `promote --full`).
    FullPromotionRequested,
    /// The target is the stable RS again.
    FastRollback,
    /// The target is within `rollbackWindow`.
    RollbackWithinWindow,
    /// Every step ran (or there are none); carries the step count.
    CompletedAllSteps(usize),
}

impl std::fmt::Display for FullPromotionReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FullPromotionReason::InitialDeploy => f.write_str("Initial deploy"),
            FullPromotionReason::FullPromotionRequested => f.write_str("Full promotion requested"),
            FullPromotionReason::FastRollback => f.write_str("Fast rollback"),
            FullPromotionReason::RollbackWithinWindow => f.write_str("Rollback within window"),
            FullPromotionReason::CompletedAllSteps(n) => {
                write!(f, "Completed all {n} canary steps")
            }
        }
    }
}

/// Inputs of [`canary_full_promotion`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CanaryPromotionInput {
    /// `status.stableRS` is set.
    pub has_stable_rs: bool,
    /// `status.abort`.
    pub aborted: bool,
    /// The new RS exists and has `spec.replicas` available pods (or meets
    /// `replicaProgressThreshold` against `spec.replicas`).
    pub new_rs_ready: bool,
    /// `status.promoteFull`.
    pub promote_full: bool,
    /// The new RS is the stable RS (rollback to stable).
    pub new_is_stable: bool,
    /// The new RS is within `rollbackWindow` ([`is_rollback_within_window`]).
    pub rollback_within_window: bool,
    /// Number of steps.
    pub steps_len: usize,
    /// `currentStepIndex` after promoteFull/rollback-window handling ([`effective_step_index`]).
    pub current_step_index: Option<i32>,
}

/// `shouldFullPromote` for canary (spec §3.5): the first true reason wins; `None` = not yet.
pub fn canary_full_promotion(input: &CanaryPromotionInput) -> Option<FullPromotionReason> {
    if !input.has_stable_rs {
        return Some(FullPromotionReason::InitialDeploy);
    }
    if input.aborted || !input.new_rs_ready {
        return None;
    }
    if input.promote_full {
        return Some(FullPromotionReason::FullPromotionRequested);
    }
    if input.new_is_stable {
        return Some(FullPromotionReason::FastRollback);
    }
    if input.rollback_within_window {
        return Some(FullPromotionReason::RollbackWithinWindow);
    }
    if all_steps_completed(input.steps_len, input.current_step_index) {
        return Some(FullPromotionReason::CompletedAllSteps(input.steps_len));
    }
    None
}

/// Rollback window (spec §3.9): the target RS is older than the stable RS and fewer than
/// `window_revisions` ReplicaSets (experiment RSs excluded by the caller) were created strictly
/// between them. `between_candidates` are the creation times of every other ReplicaSet.
pub fn is_rollback_within_window(
    window_revisions: Option<i32>,
    target_created: Option<DateTime<Utc>>,
    stable_created: Option<DateTime<Utc>>,
    between_candidates: &[DateTime<Utc>],
) -> bool {
    let (Some(window), Some(target), Some(stable)) =
        (window_revisions, target_created, stable_created)
    else {
        return false;
    };
    if target >= stable {
        return false;
    }
    let between = between_candidates
        .iter()
        .filter(|t| **t > target && **t < stable)
        .count();
    i64::try_from(between).unwrap_or(i64::MAX) < i64::from(window)
}

/// What the canary pause-step bookkeeping should do this pass (`reconcileCanaryPause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryPauseAction {
    /// Not on a pause step (or `spec.paused`, `promoteFull`, no steps, past the end).
    NotPausing,
    /// Enter the pause: add a `CanaryPauseStep` condition (start time = now).
    AddPauseCondition,
    /// The user resumed (`controllerPause` without condition): the step completes in status.
    Resumed,
    /// Still pausing; re-evaluate at `resume_at` for a timed pause.
    Waiting {
        /// `start + duration` for timed pauses.
        resume_at: Option<DateTime<Utc>>,
    },
}

/// Pause-step bookkeeping (spec §3.6). Any result but [`CanaryPauseAction::NotPausing`] means
/// "skip step plugins and go straight to the status pass".
pub fn canary_pause_action(
    steps: &[CanaryStep],
    index: Option<i32>,
    spec_paused: bool,
    promote_full: bool,
    controller_pause: bool,
    canary_pause_started_at: Option<DateTime<Utc>>,
) -> CanaryPauseAction {
    if spec_paused || promote_full {
        return CanaryPauseAction::NotPausing;
    }
    let Some((_, CanaryStep::Pause(duration))) = current_step(steps, index) else {
        return CanaryPauseAction::NotPausing;
    };
    match canary_pause_started_at {
        None if controller_pause => CanaryPauseAction::Resumed,
        None => CanaryPauseAction::AddPauseCondition,
        Some(start) => CanaryPauseAction::Waiting {
            resume_at: duration.map(|d| pause_step_deadline(start, d)),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn scale(replicas: Option<i32>, weight: Option<i32>, matched: bool) -> CanaryStep {
        CanaryStep::SetCanaryScale(SetCanaryScale {
            replicas,
            weight,
            match_traffic_weight: matched,
        })
    }

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    /// (steps, index, aborted, max weight, expected weight)
    type SetWeightCase<'a> = (&'a [CanaryStep], Option<i32>, bool, i32, i32);

    #[test]
    fn current_set_weight_table() {
        let steps = [
            CanaryStep::SetWeight(10),
            CanaryStep::Pause(None),
            CanaryStep::SetWeight(20),
            CanaryStep::Pause(Some(Duration::from_secs(10))),
        ];
        let cases: &[SetWeightCase<'_>] = &[
            (&steps, None, false, 100, 10),
            (&steps, Some(0), false, 100, 10),
            (&steps, Some(1), false, 100, 10),
            (&steps, Some(3), false, 100, 20),
            // Past the last step: full weight.
            (&steps, Some(4), false, 100, 100),
            (&steps, Some(4), false, 1000, 1000),
            // Aborted: always 0.
            (&steps, Some(3), true, 100, 0),
            (&steps, Some(4), true, 100, 0),
            // No setWeight yet.
            (
                &[CanaryStep::Pause(None), CanaryStep::SetWeight(50)],
                Some(0),
                false,
                100,
                0,
            ),
            // No steps at all.
            (&[], None, false, 100, 100),
            (&steps, Some(-1), false, 100, 10),
        ];
        for (steps, index, aborted, max, want) in cases {
            assert_eq!(
                current_set_weight(steps, *index, *aborted, *max),
                *want,
                "index {index:?} aborted {aborted}"
            );
        }
    }

    /// TestCanarySetCanaryScale step list (spec §4.3).
    fn set_canary_scale_steps() -> Vec<CanaryStep> {
        vec![
            CanaryStep::Pause(None),
            scale(None, Some(25), false),
            CanaryStep::Pause(Some(Duration::from_secs(100))),
            CanaryStep::SetWeight(50),
            CanaryStep::Pause(Some(Duration::from_secs(10))),
            scale(Some(3), None, false),
            CanaryStep::Pause(None),
            scale(None, None, true),
            CanaryStep::Pause(Some(Duration::from_secs(5))),
        ]
    }

    #[test]
    fn set_canary_scale_lookup_follows_test_canary_set_canary_scale() {
        let steps = set_canary_scale_steps();
        let weight25 = SetCanaryScale {
            weight: Some(25),
            ..Default::default()
        };
        let replicas3 = SetCanaryScale {
            replicas: Some(3),
            ..Default::default()
        };
        let expected = [
            None,
            Some(weight25),
            Some(weight25),
            Some(weight25),
            Some(weight25),
            Some(replicas3),
            Some(replicas3),
            None,
            None,
            None, // past the last step
        ];
        for (index, want) in expected.iter().enumerate() {
            let got = applicable_set_canary_scale(&steps, Some(index as i32), true, false, None);
            assert_eq!(got, *want, "step {index}");
        }
        // Without traffic routing setCanaryScale never applies.
        assert_eq!(
            applicable_set_canary_scale(&steps, Some(2), false, false, None),
            None
        );
    }

    #[test]
    fn set_canary_scale_during_abort() {
        let steps = vec![scale(Some(1), None, false), CanaryStep::Pause(None)];
        // Default abort delay (30 s) ⇒ ignored while aborted.
        assert_eq!(
            applicable_set_canary_scale(&steps, Some(1), true, true, Some(Duration::from_secs(30))),
            None
        );
        // abortScaleDownDelaySeconds: 0 ⇒ kept ("aborted with abortScaleDownDelaySeconds:0 and
        // setCanaryScale").
        assert_eq!(
            applicable_set_canary_scale(&steps, Some(1), true, true, None),
            Some(SetCanaryScale {
                replicas: Some(1),
                ..Default::default()
            })
        );
    }

    #[test]
    fn pause_duration_parsing() {
        let ok: &[(RawPauseDuration, u64)] = &[
            (RawPauseDuration::Seconds(60), 60_000),
            (RawPauseDuration::Text("60".into()), 60_000),
            (RawPauseDuration::Text("10s".into()), 10_000),
            (RawPauseDuration::Text("5m".into()), 300_000),
            (RawPauseDuration::Text("1h".into()), 3_600_000),
            (RawPauseDuration::Text("1h30m".into()), 5_400_000),
            (RawPauseDuration::Text("1.5h".into()), 5_400_000),
            (RawPauseDuration::Text("500ms".into()), 500),
            (RawPauseDuration::Text("0".into()), 0),
            (RawPauseDuration::Text("24h".into()), 86_400_000),
        ];
        for (raw, millis) in ok {
            assert_eq!(
                parse_pause_duration(raw).unwrap(),
                Duration::from_millis(*millis),
                "{raw:?}"
            );
        }
        for bad in ["", "abc", "10x", "h", "1d", "-5s", "-5"] {
            assert!(
                parse_pause_duration(&RawPauseDuration::Text(bad.into())).is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert!(parse_pause_duration(&RawPauseDuration::Seconds(-1)).is_err());
    }

    #[test]
    fn step_completion_table() {
        let timed = CanaryStep::Pause(Some(Duration::from_secs(60)));
        let indefinite = CanaryStep::Pause(None);
        let base = StepProgress::default();
        let resumed = StepProgress {
            controller_pause: true,
            ..base
        };
        let pausing = StepProgress {
            canary_pause_started_at: Some(t(0)),
            controller_pause: true,
            ..base
        };
        let at_desired = StepProgress {
            replicas_at_desired: true,
            ..base
        };
        let cases: &[(&str, &CanaryStep, StepProgress, DateTime<Utc>, bool)] = &[
            (
                "indefinite pause waits",
                &indefinite,
                pausing,
                t(10_000),
                false,
            ),
            (
                "user resumed indefinite pause",
                &indefinite,
                resumed,
                t(0),
                true,
            ),
            // TestResumeRolloutAfterPauseDuration: condition started 61 s ago, pause 60 s.
            ("timed pause expired", &timed, pausing, t(61), true),
            (
                "timed pause at exactly the deadline",
                &timed,
                pausing,
                t(60),
                false,
            ),
            ("timed pause running", &timed, pausing, t(30), false),
            ("pause not yet started", &timed, base, t(1000), false),
            // TestNoResumeAfterPauseDurationIfUserPaused.
            (
                "spec.paused blocks expiry",
                &timed,
                StepProgress {
                    spec_paused: true,
                    ..pausing
                },
                t(61),
                false,
            ),
            (
                "setWeight at desired",
                &CanaryStep::SetWeight(10),
                at_desired,
                t(0),
                true,
            ),
            (
                "setWeight unverified",
                &CanaryStep::SetWeight(10),
                StepProgress {
                    weights_verified: Some(false),
                    ..at_desired
                },
                t(0),
                false,
            ),
            (
                "setWeight verified",
                &CanaryStep::SetWeight(10),
                StepProgress {
                    weights_verified: Some(true),
                    ..at_desired
                },
                t(0),
                true,
            ),
            (
                "setWeight scaling",
                &CanaryStep::SetWeight(10),
                base,
                t(0),
                false,
            ),
            (
                "setCanaryScale at desired",
                &scale(Some(1), None, false),
                at_desired,
                t(0),
                true,
            ),
            (
                "header route",
                &CanaryStep::SetHeaderRoute,
                base,
                t(0),
                true,
            ),
            (
                "mirror route",
                &CanaryStep::SetMirrorRoute,
                base,
                t(0),
                true,
            ),
            ("analysis running", &CanaryStep::Analysis, base, t(0), false),
            (
                "analysis ok",
                &CanaryStep::Analysis,
                StepProgress {
                    analysis_successful: true,
                    ..base
                },
                t(0),
                true,
            ),
            (
                "experiment ok",
                &CanaryStep::Experiment,
                StepProgress {
                    experiment_successful: true,
                    ..base
                },
                t(0),
                true,
            ),
            ("plugin pending", &CanaryStep::Plugin, base, t(0), false),
        ];
        for (name, step, progress, now, want) in cases {
            assert_eq!(
                is_current_step_complete(step, progress, *now),
                *want,
                "{name}"
            );
        }
    }

    #[test]
    fn step_index_transitions() {
        // TestRollBackToStable: revert to the stable template ⇒ index = len(steps) = 1.
        assert_eq!(step_index_after_reset(1, true, false), Some(1));
        assert_eq!(step_index_after_reset(3, false, false), Some(0));
        assert_eq!(step_index_after_reset(2, false, true), Some(2));
        assert_eq!(step_index_after_reset(0, true, false), None);
        // TestHandleCanaryAbort: aborted mid-update ⇒ 0.
        assert_eq!(step_index_on_abort(3, false), Some(0));
        assert_eq!(step_index_on_abort(3, true), Some(3));
        assert_eq!(step_index_on_abort(0, false), None);
        assert_eq!(step_index_on_promotion(2), Some(2));
        assert_eq!(step_index_on_promotion(0), None);
        assert_eq!(effective_step_index(4, Some(1), true, false), Some(4));
        assert_eq!(effective_step_index(4, Some(1), false, true), Some(4));
        assert_eq!(effective_step_index(4, Some(1), false, false), Some(1));
        // TestResumeRolloutAfterPauseDuration: index 1 → 2.
        assert_eq!(advance_step_index(Some(1)), 2);
        assert_eq!(advance_step_index(None), 1);
        assert!(all_steps_completed(2, Some(2)));
        assert!(!all_steps_completed(2, Some(1)));
        assert!(!all_steps_completed(2, None));
        assert!(all_steps_completed(0, None));
    }

    #[test]
    fn describe_matches_event_wording() {
        assert_eq!(CanaryStep::SetWeight(50).describe(), "setWeight: 50");
        assert_eq!(
            CanaryStep::Pause(Some(Duration::from_secs(3))).describe(),
            "pause: 3s"
        );
    }

    #[test]
    fn full_promotion_reasons() {
        let ready = CanaryPromotionInput {
            has_stable_rs: true,
            new_rs_ready: true,
            steps_len: 2,
            current_step_index: Some(1),
            ..Default::default()
        };
        let cases = [
            (
                "initial deploy",
                CanaryPromotionInput {
                    has_stable_rs: false,
                    new_rs_ready: false,
                    ..ready
                },
                Some(FullPromotionReason::InitialDeploy),
            ),
            (
                "aborted",
                CanaryPromotionInput {
                    aborted: true,
                    promote_full: true,
                    ..ready
                },
                None,
            ),
            (
                "new RS not ready",
                CanaryPromotionInput {
                    new_rs_ready: false,
                    promote_full: true,
                    ..ready
                },
                None,
            ),
            (
                "promote full",
                CanaryPromotionInput {
                    promote_full: true,
                    ..ready
                },
                Some(FullPromotionReason::FullPromotionRequested),
            ),
            (
                "back to stable",
                CanaryPromotionInput {
                    new_is_stable: true,
                    ..ready
                },
                Some(FullPromotionReason::FastRollback),
            ),
            (
                "rollback window",
                CanaryPromotionInput {
                    rollback_within_window: true,
                    ..ready
                },
                Some(FullPromotionReason::RollbackWithinWindow),
            ),
            ("mid steps", ready, None),
            (
                "all steps done",
                CanaryPromotionInput {
                    current_step_index: Some(2),
                    ..ready
                },
                Some(FullPromotionReason::CompletedAllSteps(2)),
            ),
            (
                "no steps",
                CanaryPromotionInput {
                    steps_len: 0,
                    current_step_index: None,
                    ..ready
                },
                Some(FullPromotionReason::CompletedAllSteps(0)),
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(canary_full_promotion(&input), want, "{name}");
        }
        // S7 event text.
        assert_eq!(
            FullPromotionReason::CompletedAllSteps(2).to_string(),
            "Completed all 2 canary steps"
        );
        assert_eq!(
            FullPromotionReason::InitialDeploy.to_string(),
            "Initial deploy"
        );
    }

    /// S32 rollback_window_test (rollbackWindow.revisions: 2).
    #[test]
    fn rollback_window() {
        let (rev2, rev3, rev4, rev5) = (t(2), t(3), t(4), t(5));
        // Revert to rev2 while rev4 is stable: only rev3 lies between ⇒ within.
        assert!(is_rollback_within_window(
            Some(2),
            Some(rev2),
            Some(rev4),
            &[rev3]
        ));
        // After rev5: rev3 and rev4 lie between ⇒ a normal update.
        assert!(!is_rollback_within_window(
            Some(2),
            Some(rev2),
            Some(rev5),
            &[rev3, rev4]
        ));
        // No window configured, or the target is newer than stable.
        assert!(!is_rollback_within_window(
            None,
            Some(rev2),
            Some(rev4),
            &[]
        ));
        assert!(!is_rollback_within_window(
            Some(2),
            Some(rev5),
            Some(rev4),
            &[]
        ));
        assert!(!is_rollback_within_window(Some(2), None, Some(rev4), &[]));
    }

    #[test]
    fn canary_pause_actions() {
        let steps = [
            CanaryStep::SetWeight(10),
            CanaryStep::Pause(Some(Duration::from_secs(60))),
            CanaryStep::Pause(None),
        ];
        let cases = [
            (
                "not a pause step",
                Some(0),
                false,
                false,
                false,
                None,
                CanaryPauseAction::NotPausing,
            ),
            (
                "enter pause",
                Some(1),
                false,
                false,
                false,
                None,
                CanaryPauseAction::AddPauseCondition,
            ),
            (
                "user resumed",
                Some(2),
                false,
                false,
                true,
                None,
                CanaryPauseAction::Resumed,
            ),
            (
                "timed wait",
                Some(1),
                false,
                false,
                true,
                Some(t(0)),
                CanaryPauseAction::Waiting {
                    resume_at: Some(t(60)),
                },
            ),
            (
                "indefinite wait",
                Some(2),
                false,
                false,
                true,
                Some(t(0)),
                CanaryPauseAction::Waiting { resume_at: None },
            ),
            (
                "spec.paused",
                Some(1),
                true,
                false,
                false,
                None,
                CanaryPauseAction::NotPausing,
            ),
            (
                "promoteFull",
                Some(1),
                false,
                true,
                false,
                None,
                CanaryPauseAction::NotPausing,
            ),
            (
                "past the end",
                Some(3),
                false,
                false,
                false,
                None,
                CanaryPauseAction::NotPausing,
            ),
        ];
        for (name, index, spec_paused, promote_full, controller_pause, started, want) in cases {
            assert_eq!(
                canary_pause_action(
                    &steps,
                    index,
                    spec_paused,
                    promote_full,
                    controller_pause,
                    started
                ),
                want,
                "{name}"
            );
        }
    }
}
