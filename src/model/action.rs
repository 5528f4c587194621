//! Operator actions on a rollout (promote, abort, retry, restart, undo, set image, pause) as
//! pure plans: what the action will do in words ("step 1/2 → 2/2, weight 5 % → 100 %") and the
//! exact requests `kubectl argo rollouts` would send, or the reason the action cannot work in
//! the rollout's current state. The cockpit shows the plan in its confirmation dialog; the
//! cluster adapter sends the requests. No I/O.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::rollout::{RolloutSummary, StepKind, Strategy};

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Promote,
    PromoteFull,
    Abort,
    Retry,
    Restart,
    /// Roll back to the second-highest ReplicaSet revision, as `undo` without `--to-revision`.
    Undo,
    SetImage {
        container: String,
        image: String,
    },
    Pause,
    Resume,
}

impl Action {
    /// The verb as the CLI spells it.
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Promote => "promote",
            Self::PromoteFull => "promote --full",
            Self::Abort => "abort",
            Self::Retry => "retry",
            Self::Restart => "restart",
            Self::Undo => "undo",
            Self::SetImage { .. } => "set image",
            Self::Pause => "pause",
            Self::Resume => "resume",
        }
    }
}

/// Which endpoint a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchTarget {
    /// `PATCH …/rollouts/NAME/status` (falling back to the main resource on 404).
    StatusSubresource,
    /// `PATCH …/rollouts/NAME`.
    Rollout,
}

/// How the body is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json` whose `value` is the pod template of the target
    /// ReplicaSet, read at send time (the body shows where it goes).
    JsonPatchFromReplicaSet,
    /// GET the rollout, set the container image, PUT it back (retried on 409).
    SetImageUpdate,
}

/// One request of an action plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchRequest {
    pub target: PatchTarget,
    pub kind: PatchKind,
    pub body: Value,
}

impl PatchRequest {
    fn merge(target: PatchTarget, body: Value) -> Self {
        Self {
            target,
            kind: PatchKind::Merge,
            body,
        }
    }

    /// The line the confirmation dialog shows: endpoint, kind and compact JSON body.
    pub fn describe(&self) -> String {
        let target = match self.target {
            PatchTarget::StatusSubresource => "PATCH status",
            PatchTarget::Rollout => "PATCH rollout",
        };
        match self.kind {
            PatchKind::Merge => format!("{target} (merge) {}", self.body),
            PatchKind::JsonPatchFromReplicaSet => format!("{target} (json) {}", self.body),
            PatchKind::SetImageUpdate => format!("GET+PUT rollout {}", self.body),
        }
    }
}

/// A checked action: the words and the exact requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionPlan {
    pub action: Action,
    /// What will happen, for a human: `step 1/2 → 2/2, weight 5 % → 100 %`.
    pub effect: String,
    pub requests: Vec<PatchRequest>,
}

/// Why an action cannot work now; shown instead of doing nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionRefused {
    ReadOnly,
    AbortedRetryFirst,
    NothingToPromote,
    NothingToAbort,
    AlreadyAborted,
    NotAborted,
    NoEarlierRevision,
    UnknownContainer {
        container: String,
        known: Vec<String>,
    },
    EmptyImage,
}

impl fmt::Display for ActionRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReadOnly => write!(f, "read-only: rolltop was started with --readonly"),
            Self::AbortedRetryFirst => {
                write!(f, "rollout is aborted: retry (r) first, then promote")
            }
            Self::NothingToPromote => {
                write!(
                    f,
                    "nothing to promote: no update in progress and not paused"
                )
            }
            Self::NothingToAbort => write!(f, "nothing to abort: no update in progress"),
            Self::AlreadyAborted => write!(f, "already aborted: retry (r) restarts the update"),
            Self::NotAborted => write!(f, "retry works on an aborted rollout; this one is not"),
            Self::NoEarlierRevision => write!(f, "no earlier revision to roll back to"),
            Self::UnknownContainer { container, known } => write!(
                f,
                "no container named {container:?} (containers: {})",
                known.join(", ")
            ),
            Self::EmptyImage => write!(f, "an image is required"),
        }
    }
}

/// The weight Argo reports for a step index: the last `setWeight` at or before it, 100 past
/// the last step, 0 when aborted.
pub fn set_weight_at(summary: &RolloutSummary, index: usize) -> u8 {
    if index >= summary.steps.len() {
        return 100;
    }
    summary.steps[..=index]
        .iter()
        .rev()
        .find(|step| step.kind == StepKind::SetWeight)
        .and_then(|step| step.value.trim_end_matches('%').parse().ok())
        .unwrap_or(0)
}

fn step_move(summary: &RolloutSummary, next: usize) -> String {
    let current = summary.step_index.unwrap_or(0);
    let count = summary.steps.len();
    format!(
        "step {current}/{count} → {next}/{count}, weight {} % → {} %",
        summary.desired_weight,
        set_weight_at(summary, next)
    )
}

fn promote(summary: &RolloutSummary) -> Result<ActionPlan, ActionRefused> {
    if summary.aborted {
        return Err(ActionRefused::AbortedRetryFirst);
    }
    if summary.fully_promoted && summary.pause.is_none() && !summary.spec_paused {
        return Err(ActionRefused::NothingToPromote);
    }
    let mut requests = Vec::new();
    let canary_steps = summary.strategy == Strategy::Canary && !summary.steps.is_empty();
    let next = (summary.step_index.unwrap_or(0) as usize + 1).min(summary.steps.len());
    let status = if summary.strategy == Strategy::Canary
        && summary.step_analysis_inconclusive
        && summary.pause.is_some()
        && summary.controller_pause
    {
        Some(
            json!({"status": {"pauseConditions": null, "controllerPause": false, "currentStepIndex": next}}),
        )
    } else if summary.pause.is_some() {
        Some(json!({"status": {"pauseConditions": null}}))
    } else if canary_steps {
        Some(json!({"status": {"pauseConditions": null, "currentStepIndex": next}}))
    } else {
        None
    };
    if let Some(body) = status {
        requests.push(PatchRequest::merge(PatchTarget::StatusSubresource, body));
    }
    if summary.spec_paused {
        requests.push(PatchRequest::merge(
            PatchTarget::Rollout,
            json!({"spec": {"paused": false}}),
        ));
    }
    let effect = if canary_steps {
        step_move(summary, next)
    } else if summary.strategy == Strategy::BlueGreen {
        "preview becomes active: the active service switches to the new revision".to_owned()
    } else {
        "unpause the rollout".to_owned()
    };
    Ok(ActionPlan {
        action: Action::Promote,
        effect,
        requests,
    })
}

fn promote_full(summary: &RolloutSummary) -> Result<ActionPlan, ActionRefused> {
    // An aborted update may be promoted in full without a retry: the reference plugin sends
    // `promoteFull` regardless and its controller completes the update (spec S8), so refusing
    // here would break scripts written for the plugin.
    if summary.fully_promoted && !summary.spec_paused {
        return Err(ActionRefused::NothingToPromote);
    }
    let mut requests = Vec::new();
    if !summary.fully_promoted {
        requests.push(PatchRequest::merge(
            PatchTarget::StatusSubresource,
            json!({"status": {"promoteFull": true}}),
        ));
    }
    if summary.spec_paused {
        requests.push(PatchRequest::merge(
            PatchTarget::Rollout,
            json!({"spec": {"paused": false}}),
        ));
    }
    let effect = match summary.strategy {
        Strategy::Canary if summary.aborted => {
            "promote the aborted update in full: no more steps or analysis, canary becomes stable"
                .to_owned()
        }
        Strategy::Canary => format!(
            "skip all remaining steps and pauses, weight {} % → 100 %; canary becomes stable",
            summary.desired_weight
        ),
        Strategy::BlueGreen => {
            "skip pauses and analysis: preview becomes active and stable".to_owned()
        }
    };
    Ok(ActionPlan {
        action: Action::PromoteFull,
        effect,
        requests,
    })
}

fn abort(summary: &RolloutSummary) -> Result<ActionPlan, ActionRefused> {
    if summary.aborted {
        return Err(ActionRefused::AlreadyAborted);
    }
    if summary.fully_promoted {
        return Err(ActionRefused::NothingToAbort);
    }
    let effect = match summary.strategy {
        Strategy::Canary => format!(
            "weight {} % → 0 %, all traffic back to stable; rollout becomes Degraded",
            summary.actual_weight
        ),
        Strategy::BlueGreen => {
            "active service stays on stable, preview scaled down; rollout becomes Degraded"
                .to_owned()
        }
    };
    Ok(ActionPlan {
        action: Action::Abort,
        effect,
        requests: vec![PatchRequest::merge(
            PatchTarget::StatusSubresource,
            json!({"status": {"abort": true}}),
        )],
    })
}

fn retry(summary: &RolloutSummary) -> Result<ActionPlan, ActionRefused> {
    if !summary.aborted {
        return Err(ActionRefused::NotAborted);
    }
    Ok(ActionPlan {
        action: Action::Retry,
        effect: "clear the abort: the update starts again from step 0 with new analysis runs"
            .to_owned(),
        requests: vec![PatchRequest::merge(
            PatchTarget::StatusSubresource,
            json!({"status": {"abort": false}}),
        )],
    })
}

fn set_image(
    summary: &RolloutSummary,
    container: &str,
    image: &str,
) -> Result<ActionPlan, ActionRefused> {
    if image.trim().is_empty() {
        return Err(ActionRefused::EmptyImage);
    }
    if container != "*"
        && !summary.containers.is_empty()
        && !summary.containers.iter().any(|c| c == container)
    {
        return Err(ActionRefused::UnknownContainer {
            container: container.to_owned(),
            known: summary.containers.clone(),
        });
    }
    Ok(ActionPlan {
        action: Action::SetImage {
            container: container.to_owned(),
            image: image.to_owned(),
        },
        effect: format!(
            "new revision {} with {container}={image}; the {} strategy starts",
            summary.revision + 1,
            summary.strategy.word()
        ),
        requests: vec![PatchRequest {
            target: PatchTarget::Rollout,
            kind: PatchKind::SetImageUpdate,
            body: json!({"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}),
        }],
    })
}

/// Checks `action` against the rollout's state and plans its requests. `now` stamps
/// `restartAt`; `readonly` refuses every write.
pub fn plan_action(
    summary: &RolloutSummary,
    action: &Action,
    now: DateTime<Utc>,
    readonly: bool,
) -> Result<ActionPlan, ActionRefused> {
    if readonly {
        return Err(ActionRefused::ReadOnly);
    }
    let spec = |action: Action, effect: String, body: Value| ActionPlan {
        action,
        effect,
        requests: vec![PatchRequest::merge(PatchTarget::Rollout, body)],
    };
    match action {
        Action::Promote => promote(summary),
        Action::PromoteFull => promote_full(summary),
        Action::Abort => abort(summary),
        Action::Retry => retry(summary),
        Action::Restart => {
            let at = now.to_rfc3339_opts(SecondsFormat::Secs, true);
            Ok(spec(
                Action::Restart,
                format!(
                    "restart all {} pods, oldest first (restartAt {at})",
                    summary.replicas.current
                ),
                json!({"spec": {"restartAt": at}}),
            ))
        }
        Action::Undo => {
            if summary.revision <= 1 {
                return Err(ActionRefused::NoEarlierRevision);
            }
            Ok(ActionPlan {
                action: Action::Undo,
                effect: format!(
                    "roll back from revision {} to the previous revision's pod template",
                    summary.revision
                ),
                requests: vec![PatchRequest {
                    target: PatchTarget::Rollout,
                    kind: PatchKind::JsonPatchFromReplicaSet,
                    body: json!([{"op": "replace", "path": "/spec/template", "value": "<pod template of the previous ReplicaSet>"}]),
                }],
            })
        }
        Action::SetImage { container, image } => set_image(summary, container, image),
        Action::Pause => Ok(spec(
            Action::Pause,
            "pause the rollout where it is (spec.paused)".to_owned(),
            json!({"spec": {"paused": true}}),
        )),
        Action::Resume => Ok(spec(
            Action::Resume,
            "resume the rollout (clear spec.paused)".to_owned(),
            json!({"spec": {"paused": false}}),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::rollout::{PauseInfo, Phase, ResourceKey, StepView};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    /// R4's steps: setWeight 30, pause 30s, setWeight 60, pause 30s, setWeight 100, pause 10s.
    fn paused_canary(step: u32) -> RolloutSummary {
        let mut s = RolloutSummary::new(
            ResourceKey::new("default", "nginx"),
            Strategy::Canary,
            now(),
        );
        s.steps = vec![
            StepView::new(StepKind::SetWeight, "30"),
            StepView::new(StepKind::Pause, "30s"),
            StepView::new(StepKind::SetWeight, "60"),
            StepView::new(StepKind::Pause, "30s"),
            StepView::new(StepKind::SetWeight, "100"),
            StepView::new(StepKind::Pause, "10s"),
        ];
        s.step_index = Some(step);
        s.phase = Phase::Paused;
        s.fully_promoted = false;
        s.desired_weight = set_weight_at(&s, step as usize);
        s.actual_weight = s.desired_weight;
        s.pause = Some(PauseInfo {
            reason: "CanaryPauseStep".into(),
            started: Some(now()),
            duration: None,
        });
        s.revision = 2;
        s.containers = vec!["nginx".into()];
        s
    }

    fn bodies(plan: &ActionPlan) -> Vec<String> {
        plan.requests.iter().map(PatchRequest::describe).collect()
    }

    #[test]
    fn set_weight_follows_the_last_set_weight_step() {
        let s = paused_canary(0);
        let cases = [
            (0, 30),
            (1, 30),
            (2, 60),
            (3, 60),
            (4, 100),
            (6, 100),
            (9, 100),
        ];
        for (index, want) in cases {
            assert_eq!(set_weight_at(&s, index), want, "index {index}");
        }
    }

    #[test]
    fn promote_patches_follow_the_plugin_rules() {
        let paused = paused_canary(1);
        let mut inconclusive = paused_canary(1);
        inconclusive.step_analysis_inconclusive = true;
        inconclusive.controller_pause = true;
        let mut running = paused_canary(2);
        running.pause = None;
        running.phase = Phase::Progressing;
        let mut spec_paused = running.clone();
        spec_paused.spec_paused = true;
        let mut blue_green = paused_canary(0);
        blue_green.strategy = Strategy::BlueGreen;
        blue_green.steps.clear();
        blue_green.step_index = None;
        blue_green.pause = None;
        let cases: [(&RolloutSummary, &[&str], &str); 5] = [
            (
                &paused,
                &[r#"PATCH status (merge) {"status":{"pauseConditions":null}}"#],
                "step 1/6 → 2/6, weight 30 % → 60 %",
            ),
            (
                &inconclusive,
                &[
                    r#"PATCH status (merge) {"status":{"pauseConditions":null,"controllerPause":false,"currentStepIndex":2}}"#,
                ],
                "step 1/6 → 2/6, weight 30 % → 60 %",
            ),
            (
                &running,
                &[
                    r#"PATCH status (merge) {"status":{"pauseConditions":null,"currentStepIndex":3}}"#,
                ],
                "step 2/6 → 3/6, weight 60 % → 60 %",
            ),
            (
                &spec_paused,
                &[
                    r#"PATCH status (merge) {"status":{"pauseConditions":null,"currentStepIndex":3}}"#,
                    r#"PATCH rollout (merge) {"spec":{"paused":false}}"#,
                ],
                "step 2/6 → 3/6, weight 60 % → 60 %",
            ),
            (
                &blue_green,
                &[],
                "preview becomes active: the active service switches to the new revision",
            ),
        ];
        for (summary, want, effect) in cases {
            let plan = plan_action(summary, &Action::Promote, now(), false).unwrap();
            assert_eq!(bodies(&plan), want, "{effect}");
            assert_eq!(plan.effect, effect);
        }
    }

    #[test]
    fn step_index_is_capped_at_the_step_count() {
        let mut last = paused_canary(6);
        last.pause = None;
        let plan = plan_action(&last, &Action::Promote, now(), false).unwrap();
        assert_eq!(
            bodies(&plan),
            [r#"PATCH status (merge) {"status":{"pauseConditions":null,"currentStepIndex":6}}"#]
        );
    }

    #[test]
    fn gating_says_why() {
        let mut aborted = paused_canary(1);
        aborted.aborted = true;
        aborted.phase = Phase::Degraded;
        let mut healthy = paused_canary(6);
        healthy.pause = None;
        healthy.fully_promoted = true;
        healthy.phase = Phase::Healthy;
        let mut first = healthy.clone();
        first.revision = 1;
        let cases = [
            (&aborted, Action::Promote, ActionRefused::AbortedRetryFirst),
            (&aborted, Action::Abort, ActionRefused::AlreadyAborted),
            (&healthy, Action::Promote, ActionRefused::NothingToPromote),
            (
                &healthy,
                Action::PromoteFull,
                ActionRefused::NothingToPromote,
            ),
            (&healthy, Action::Abort, ActionRefused::NothingToAbort),
            (&healthy, Action::Retry, ActionRefused::NotAborted),
            (&first, Action::Undo, ActionRefused::NoEarlierRevision),
            (
                &healthy,
                Action::SetImage {
                    container: "web".into(),
                    image: "nginx:1".into(),
                },
                ActionRefused::UnknownContainer {
                    container: "web".into(),
                    known: vec!["nginx".into()],
                },
            ),
            (
                &healthy,
                Action::SetImage {
                    container: "nginx".into(),
                    image: " ".into(),
                },
                ActionRefused::EmptyImage,
            ),
        ];
        for (summary, action, want) in cases {
            assert_eq!(
                plan_action(summary, &action, now(), false),
                Err(want),
                "{}",
                action.verb()
            );
        }
        assert_eq!(
            plan_action(&healthy, &Action::Restart, now(), true),
            Err(ActionRefused::ReadOnly)
        );
        assert_eq!(
            ActionRefused::AbortedRetryFirst.to_string(),
            "rollout is aborted: retry (r) first, then promote"
        );
    }

    #[test]
    fn other_actions_send_the_cli_bodies() {
        let mut aborted = paused_canary(1);
        aborted.aborted = true;
        let s = paused_canary(1);
        let cases = [
            (
                &s,
                Action::PromoteFull,
                r#"PATCH status (merge) {"status":{"promoteFull":true}}"#,
            ),
            (
                &s,
                Action::Abort,
                r#"PATCH status (merge) {"status":{"abort":true}}"#,
            ),
            (
                &aborted,
                Action::Retry,
                r#"PATCH status (merge) {"status":{"abort":false}}"#,
            ),
            (
                &s,
                Action::Restart,
                r#"PATCH rollout (merge) {"spec":{"restartAt":"2027-01-15T08:00:00Z"}}"#,
            ),
            (
                &s,
                Action::Pause,
                r#"PATCH rollout (merge) {"spec":{"paused":true}}"#,
            ),
            (
                &s,
                Action::Resume,
                r#"PATCH rollout (merge) {"spec":{"paused":false}}"#,
            ),
            (
                &s,
                Action::Undo,
                r#"PATCH rollout (json) [{"op":"replace","path":"/spec/template","value":"<pod template of the previous ReplicaSet>"}]"#,
            ),
            (
                &s,
                Action::SetImage {
                    container: "nginx".into(),
                    image: "nginx:1.24.0".into(),
                },
                r#"GET+PUT rollout {"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.24.0"}]}}}}"#,
            ),
        ];
        for (summary, action, want) in cases {
            let plan = plan_action(summary, &action, now(), false).unwrap();
            assert_eq!(bodies(&plan), [want], "{}", action.verb());
        }
    }

    #[test]
    fn promote_full_of_an_aborted_update_sends_promote_full_as_the_plugin_does() {
        let mut aborted = paused_canary(1);
        aborted.aborted = true;
        aborted.phase = Phase::Degraded;
        let plan = plan_action(&aborted, &Action::PromoteFull, now(), false).unwrap();
        assert_eq!(plan.requests.len(), 1);
        assert_eq!(plan.requests[0].target, PatchTarget::StatusSubresource);
        assert_eq!(
            plan.requests[0].body,
            json!({"status": {"promoteFull": true}})
        );
        assert!(
            plan.effect.contains("aborted update in full"),
            "{}",
            plan.effect
        );
    }
}
