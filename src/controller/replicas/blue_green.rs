//! Blue-green new ReplicaSet sizing (spec §6.2 `NewRSNewReplicas`, §6.3 readiness checks): the
//! preview runs `previewReplicaCount` pods until the one-way `scaleUpPreviewCheckPoint` trips,
//! then the full `spec.replicas` so the active switch can happen once it is saturated.

use super::ReplicaSetSize;

/// Inputs of [`blue_green_new_rs_replicas`].
#[derive(Debug, Clone, Copy)]
pub struct BlueGreenNewReplicaSetInput {
    /// `spec.replicas`.
    pub replicas: i32,
    /// `previewReplicaCount`.
    pub preview_replica_count: Option<i32>,
    /// The active Service already selects the new RS.
    pub active_is_new_rs: bool,
    /// `status.promoteFull`.
    pub promote_full: bool,
    /// `spec.paused` or any pause condition.
    pub paused: bool,
    /// `status.blueGreen.scaleUpPreviewCheckPoint`.
    pub scale_up_preview_check_point: bool,
}

/// `NewRSNewReplicas` for blue-green: R, except while `previewReplicaCount` applies (set, the
/// active RS is not the new one, no full promotion) — then `previewReplicaCount`, unless the
/// rollout is not paused and the preview checkpoint has tripped, which scales it to R.
pub fn blue_green_new_rs_replicas(input: &BlueGreenNewReplicaSetInput) -> i32 {
    match input.preview_replica_count {
        Some(preview) if !input.active_is_new_rs && !input.promote_full => {
            if !input.paused && input.scale_up_preview_check_point {
                input.replicas
            } else {
                preview
            }
        }
        _ => input.replicas,
    }
}

/// `ReadyForPause`: the new RS has exactly the desired pods, all available.
pub fn is_ready_for_pause(new_rs: Option<ReplicaSetSize>, desired: i32) -> bool {
    new_rs.is_some_and(|rs| rs.spec == desired && rs.available == desired)
}

/// Saturation check before the active switch: spec == R, the RS's `desired-replicas` annotation
/// == R, and R pods available.
pub fn is_saturated(
    new_rs: Option<ReplicaSetSize>,
    desired_replicas_annotation: Option<i32>,
    replicas: i32,
) -> bool {
    new_rs.is_some_and(|rs| rs.spec == replicas && rs.available == replicas)
        && desired_replicas_annotation == Some(replicas)
}

/// Inputs of [`scale_up_preview_check_point`].
#[derive(Debug, Clone, Copy)]
pub struct PreviewCheckPointInput {
    /// `previewReplicaCount` (the checkpoint is always false without it).
    pub preview_replica_count: Option<i32>,
    /// Previous `status.blueGreen.scaleUpPreviewCheckPoint`.
    pub previous: bool,
    /// Aborted and a template change was detected this pass.
    pub aborted_with_template_change: bool,
    /// No new RS, no stable RS, or new == stable (fully promoted).
    pub fully_promoted_or_unknown: bool,
    /// Pre-promotion analysis completed successfully (or is not configured).
    pub pre_promotion_successful: bool,
    /// Pause completed (`CompletedBlueGreenPause`).
    pub pause_completed: bool,
    /// Available pods of the new RS.
    pub new_rs_available: i32,
}

/// `scaleUpPreviewCheckPoint` (spec §6.3): a one-way trip-wire, reset by a template change after
/// an abort or by full promotion; trips once pre-promotion analysis succeeded, the pause has
/// completed and the preview RS has `previewReplicaCount` available pods.
pub fn scale_up_preview_check_point(input: &PreviewCheckPointInput) -> bool {
    let Some(preview) = input.preview_replica_count else {
        return false;
    };
    if input.aborted_with_template_change || input.fully_promoted_or_unknown {
        return false;
    }
    if input.previous {
        return true;
    }
    input.pre_promotion_successful && input.pause_completed && input.new_rs_available == preview
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> BlueGreenNewReplicaSetInput {
        BlueGreenNewReplicaSetInput {
            replicas: 2,
            preview_replica_count: Some(1),
            active_is_new_rs: false,
            promote_full: false,
            paused: true,
            scale_up_preview_check_point: false,
        }
    }

    /// S34 TestBlueGreenPreviewReplicaCount (R=2, previewReplicaCount 1) and friends.
    #[test]
    fn new_rs_replicas_table() {
        let cases = [
            ("preview paused at previewReplicaCount", base(), 1),
            (
                "no previewReplicaCount",
                BlueGreenNewReplicaSetInput {
                    preview_replica_count: None,
                    ..base()
                },
                2,
            ),
            (
                "checkpoint tripped, resumed",
                BlueGreenNewReplicaSetInput {
                    paused: false,
                    scale_up_preview_check_point: true,
                    ..base()
                },
                2,
            ),
            (
                "checkpoint tripped but still paused",
                BlueGreenNewReplicaSetInput {
                    scale_up_preview_check_point: true,
                    ..base()
                },
                1,
            ),
            (
                "promote --full ignores previewReplicaCount",
                BlueGreenNewReplicaSetInput {
                    promote_full: true,
                    ..base()
                },
                2,
            ),
            (
                "already active",
                BlueGreenNewReplicaSetInput {
                    active_is_new_rs: true,
                    ..base()
                },
                2,
            ),
            (
                "zero preview",
                BlueGreenNewReplicaSetInput {
                    preview_replica_count: Some(0),
                    ..base()
                },
                0,
            ),
            (
                "zero replicas",
                BlueGreenNewReplicaSetInput {
                    replicas: 0,
                    preview_replica_count: None,
                    ..base()
                },
                0,
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(blue_green_new_rs_replicas(&input), want, "{name}");
        }
    }

    #[test]
    fn readiness_and_saturation() {
        let rs = |spec, available| Some(ReplicaSetSize::with_available(spec, available));
        assert!(is_ready_for_pause(rs(1, 1), 1));
        assert!(!is_ready_for_pause(rs(1, 0), 1));
        assert!(!is_ready_for_pause(rs(2, 2), 1));
        assert!(!is_ready_for_pause(None, 0));
        // S33: rev2 scaled to 3 and fully available ⇒ switch.
        assert!(is_saturated(rs(3, 3), Some(3), 3));
        assert!(!is_saturated(rs(3, 3), Some(2), 3), "scaling event pending");
        assert!(!is_saturated(rs(1, 1), Some(2), 2), "preview size only");
        assert!(!is_saturated(rs(3, 3), None, 3));
    }

    #[test]
    fn preview_check_point() {
        let base = PreviewCheckPointInput {
            preview_replica_count: Some(1),
            previous: false,
            aborted_with_template_change: false,
            fully_promoted_or_unknown: false,
            pre_promotion_successful: true,
            pause_completed: true,
            new_rs_available: 1,
        };
        let cases = [
            ("trips", base, true),
            (
                "feature unused",
                PreviewCheckPointInput {
                    preview_replica_count: None,
                    ..base
                },
                false,
            ),
            (
                "sticky",
                PreviewCheckPointInput {
                    previous: true,
                    new_rs_available: 0,
                    pause_completed: false,
                    ..base
                },
                true,
            ),
            (
                "reset on promotion",
                PreviewCheckPointInput {
                    previous: true,
                    fully_promoted_or_unknown: true,
                    ..base
                },
                false,
            ),
            (
                "reset on post-abort template change",
                PreviewCheckPointInput {
                    previous: true,
                    aborted_with_template_change: true,
                    ..base
                },
                false,
            ),
            (
                "pre-promotion pending",
                PreviewCheckPointInput {
                    pre_promotion_successful: false,
                    ..base
                },
                false,
            ),
            (
                "still paused",
                PreviewCheckPointInput {
                    pause_completed: false,
                    ..base
                },
                false,
            ),
            (
                "preview not available",
                PreviewCheckPointInput {
                    new_rs_available: 0,
                    ..base
                },
                false,
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(scale_up_preview_check_point(&input), want, "{name}");
        }
    }
}
