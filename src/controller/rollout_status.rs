//! Rollout status bookkeeping shared by every strategy (spec §2): condition upserts with the
//! reference's time rules, the condition vocabulary (types, reasons, messages), the controller-side
//! phase/message precedence (`CalculateRolloutPhase`, §2.2) and the two-way JSON merge patch the
//! controller sends to the `status` subresource (§0: no patch when nothing changed). Pure
//! functions over [`RolloutStatus`]; time is a parameter.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::crd::RolloutStatus;
use crate::crd::rollout::RolloutCondition;
use crate::crd::time::format_time;

/// Condition types.
pub mod kind {
    /// `Progressing`.
    pub const PROGRESSING: &str = "Progressing";
    /// `Available`.
    pub const AVAILABLE: &str = "Available";
    /// `Completed`.
    pub const COMPLETED: &str = "Completed";
    /// `Paused`.
    pub const PAUSED: &str = "Paused";
    /// `Healthy`.
    pub const HEALTHY: &str = "Healthy";
    /// `InvalidSpec`.
    pub const INVALID_SPEC: &str = "InvalidSpec";
}

/// Condition reasons (also used as event reasons where the reference shares them).
pub mod reason {
    /// Progressing True: the new RS was created this pass.
    pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
    /// Progressing True: the template changed to an existing RS.
    pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
    /// Progressing True: progress observed.
    pub const RS_UPDATED: &str = "ReplicaSetUpdated";
    /// Progressing True: the rollout is healthy.
    pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
    /// Progressing Unknown / Paused: paused.
    pub const PAUSED: &str = "RolloutPaused";
    /// Progressing Unknown: resumed.
    pub const RESUMED: &str = "RolloutResumed";
    /// Progressing Unknown: retry after abort.
    pub const RETRY: &str = "RolloutRetry";
    /// Progressing False: aborted.
    pub const ABORTED: &str = "RolloutAborted";
    /// Progressing False: progress deadline exceeded.
    pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
    /// Available.
    pub const AVAILABLE: &str = "AvailableReason";
    /// Completed.
    pub const COMPLETED: &str = "RolloutCompleted";
    /// Healthy.
    pub const HEALTHY: &str = "RolloutHealthy";
    /// InvalidSpec.
    pub const INVALID_SPEC: &str = "InvalidSpec";
}

/// Condition status strings.
pub mod state {
    /// `True`.
    pub const TRUE: &str = "True";
    /// `False`.
    pub const FALSE: &str = "False";
    /// `Unknown`.
    pub const UNKNOWN: &str = "Unknown";
}

/// The condition value a reconcile wants (`NewRolloutCondition`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredCondition<'a> {
    /// Condition type.
    pub kind: &'a str,
    /// `True` / `False` / `Unknown`.
    pub status: &'a str,
    /// Reason.
    pub reason: &'a str,
    /// Message.
    pub message: String,
}

/// `SetRolloutCondition`: an identical condition (status, reason, message) is left untouched;
/// the same status with another reason or message keeps `lastTransitionTime`; a status change
/// stamps both times with `now`. `refresh` forces `lastUpdateTime = now` even when identical
/// (the reference refreshes `ReplicaSetUpdated` on every observed progress). Returns true when
/// anything changed.
pub fn set_condition(
    status: &mut RolloutStatus,
    desired: &DesiredCondition<'_>,
    now: DateTime<Utc>,
    refresh: bool,
) -> bool {
    let now_text = format_time(now);
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    if let Some(existing) = conditions.iter_mut().find(|c| c.kind == desired.kind) {
        let same = existing.status == desired.status
            && existing.reason.as_deref() == Some(desired.reason)
            && existing.message.as_deref() == Some(desired.message.as_str());
        if same && !refresh {
            return false;
        }
        if existing.status != desired.status {
            existing.last_transition_time = Some(now_text.clone());
        }
        let changed = !same || existing.last_update_time.as_deref() != Some(now_text.as_str());
        desired.status.clone_into(&mut existing.status);
        existing.reason = Some(desired.reason.to_owned());
        existing.message = Some(desired.message.clone());
        existing.last_update_time = Some(now_text);
        return changed;
    }
    conditions.push(RolloutCondition {
        kind: desired.kind.to_owned(),
        status: desired.status.to_owned(),
        last_update_time: Some(now_text.clone()),
        last_transition_time: Some(now_text),
        reason: Some(desired.reason.to_owned()),
        message: Some(desired.message.clone()),
        extra: std::collections::BTreeMap::default(),
    });
    true
}

/// Removes the condition of `kind`; true when one was removed.
pub fn remove_condition(status: &mut RolloutStatus, kind: &str) -> bool {
    let Some(conditions) = status.conditions.as_mut() else {
        return false;
    };
    let before = conditions.len();
    conditions.retain(|c| c.kind != kind);
    let removed = conditions.len() != before;
    if conditions.is_empty() {
        status.conditions = None;
    }
    removed
}

/// Inputs of [`rollout_phase`] besides the conditions and pause conditions in the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseInput {
    /// `spec.paused`.
    pub spec_paused: bool,
    /// `spec.restartAt` is set and differs from `status.restartedAt`.
    pub restart_pending: bool,
    /// `spec.replicas`.
    pub replicas: i32,
    /// Traffic routing configured (canary).
    pub traffic_routed: bool,
    /// Blue-green: `Some(activeSelector)` (empty when unset); `None` for canary.
    pub blue_green_active_selector: Option<String>,
    /// Blue-green: post-promotion analysis is configured and its run is missing or not complete.
    pub post_promotion_analysis_pending: bool,
}

/// `CalculateRolloutPhase` (spec §2.2): first match wins. Returns `(phase, message)`.
pub fn rollout_phase(status: &RolloutStatus, input: &PhaseInput) -> (&'static str, String) {
    for cond in status.conditions() {
        if cond.kind == kind::INVALID_SPEC {
            return (
                "Degraded",
                format!(
                    "InvalidSpec: {}",
                    cond.message.as_deref().unwrap_or_default()
                ),
            );
        }
        if let Some(r) = cond.reason.as_deref()
            && (r == reason::ABORTED || r == reason::TIMED_OUT)
        {
            return (
                "Degraded",
                format!("{r}: {}", cond.message.as_deref().unwrap_or_default()),
            );
        }
    }
    if input.spec_paused {
        return ("Paused", "manually paused".to_owned());
    }
    if let Some(first) = status.pause_conditions().first() {
        return ("Paused", first.reason.clone());
    }
    if input.restart_pending {
        return ("Progressing", "rollout is restarting".to_owned());
    }
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    if updated < input.replicas {
        return ("Progressing", "more replicas need to be updated".to_owned());
    }
    if available < updated {
        return (
            "Progressing",
            "updated replicas are still becoming available".to_owned(),
        );
    }
    let stable = status.stable_rs.as_deref().unwrap_or_default();
    if let Some(active) = input.blue_green_active_selector.as_deref() {
        if active.is_empty() || Some(active) != status.current_pod_hash.as_deref() {
            return ("Progressing", "active service cutover pending".to_owned());
        }
        if stable.is_empty() || Some(stable) != status.current_pod_hash.as_deref() {
            let message = if input.post_promotion_analysis_pending {
                "waiting for analysis to complete"
            } else {
                "waiting for post-promotion verification to complete"
            };
            return ("Progressing", message.to_owned());
        }
        return ("Healthy", String::new());
    }
    if !input.traffic_routed && total > updated {
        return (
            "Progressing",
            "old replicas are pending termination".to_owned(),
        );
    }
    if stable.is_empty() || Some(stable) != status.current_pod_hash.as_deref() {
        return (
            "Progressing",
            "waiting for all steps to complete".to_owned(),
        );
    }
    ("Healthy", String::new())
}

/// Two-way JSON merge patch (RFC 7386) turning `old` into `new`: removed members become `null`,
/// changed objects recurse, anything else is replaced wholesale. `None` when equal.
pub fn merge_patch_diff(old: &Value, new: &Value) -> Option<Value> {
    if old == new {
        return None;
    }
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (key, old_value) in old {
                match new.get(key) {
                    None => {
                        patch.insert(key.clone(), Value::Null);
                    }
                    Some(new_value) => {
                        if let Some(inner) = merge_patch_diff(old_value, new_value) {
                            patch.insert(key.clone(), inner);
                        }
                    }
                }
            }
            for (key, new_value) in new {
                if !old.contains_key(key) {
                    patch.insert(key.clone(), new_value.clone());
                }
            }
            Some(Value::Object(patch))
        }
        _ => Some(new.clone()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn merge_patch_diff_nulls_removed_members_and_recurses() {
        let old = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]});
        let new = json!({"b": {"c": 2, "d": 4}, "e": [1], "f": true});
        let patch = merge_patch_diff(&old, &new).unwrap();
        assert_eq!(
            patch,
            json!({"a": null, "b": {"d": 4}, "e": [1], "f": true})
        );
        let mut applied = old.clone();
        json_patch::merge(&mut applied, &patch);
        assert_eq!(applied, new);
        assert_eq!(merge_patch_diff(&new, &new), None);
    }

    #[test]
    fn set_condition_keeps_transition_time_when_status_unchanged() {
        let mut status = RolloutStatus::default();
        let first = DesiredCondition {
            kind: kind::PROGRESSING,
            status: state::TRUE,
            reason: reason::RS_UPDATED,
            message: "a".into(),
        };
        assert!(set_condition(&mut status, &first, at(0), false));
        assert!(!set_condition(&mut status, &first, at(5), false));
        let second = DesiredCondition {
            reason: reason::NEW_RS_AVAILABLE,
            ..first.clone()
        };
        assert!(set_condition(&mut status, &second, at(10), false));
        let cond = status.condition(kind::PROGRESSING).unwrap();
        assert_eq!(
            cond.last_transition_time.as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(
            cond.last_update_time.as_deref(),
            Some("2023-11-14T22:13:30Z")
        );
        let third = DesiredCondition {
            status: state::FALSE,
            ..second
        };
        assert!(set_condition(&mut status, &third, at(20), false));
        let cond = status.condition(kind::PROGRESSING).unwrap();
        assert_eq!(
            cond.last_transition_time.as_deref(),
            Some("2023-11-14T22:13:40Z")
        );
        assert!(remove_condition(&mut status, kind::PROGRESSING));
        assert!(status.conditions.is_none());
    }

    #[test]
    fn phase_precedence_table() {
        let input = PhaseInput {
            spec_paused: false,
            restart_pending: false,
            replicas: 2,
            traffic_routed: false,
            blue_green_active_selector: None,
            post_promotion_analysis_pending: false,
        };
        let mut status: RolloutStatus = serde_json::from_value(json!({
            "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
            "stableRS": "h", "currentPodHash": "h"
        }))
        .unwrap();
        assert_eq!(rollout_phase(&status, &input), ("Healthy", String::new()));
        status.stable_rs = Some("old".into());
        assert_eq!(
            rollout_phase(&status, &input).1,
            "waiting for all steps to complete"
        );
        status.replicas = Some(3);
        assert_eq!(
            rollout_phase(&status, &input).1,
            "old replicas are pending termination"
        );
        status.available_replicas = Some(1);
        assert_eq!(
            rollout_phase(&status, &input).1,
            "updated replicas are still becoming available"
        );
        status.updated_replicas = Some(1);
        assert_eq!(
            rollout_phase(&status, &input).1,
            "more replicas need to be updated"
        );
        status.pause_conditions = Some(vec![crate::crd::rollout::PauseCondition {
            reason: "CanaryPauseStep".into(),
            start_time: "2023-11-14T22:13:20Z".into(),
            extra: std::collections::BTreeMap::default(),
        }]);
        assert_eq!(
            rollout_phase(&status, &input),
            ("Paused", "CanaryPauseStep".to_owned())
        );
        let paused = PhaseInput {
            spec_paused: true,
            ..input.clone()
        };
        assert_eq!(rollout_phase(&status, &paused).1, "manually paused");
        set_condition(
            &mut status,
            &DesiredCondition {
                kind: kind::PROGRESSING,
                status: state::FALSE,
                reason: reason::ABORTED,
                message: "Rollout aborted update to revision 2".into(),
            },
            at(0),
            false,
        );
        assert_eq!(
            rollout_phase(&status, &paused),
            (
                "Degraded",
                "RolloutAborted: Rollout aborted update to revision 2".to_owned()
            )
        );
    }
}
