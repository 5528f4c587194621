//! Replica arithmetic of the rollout controller (spec §4, §6.2): how many pods the canary,
//! stable and older ReplicaSets should run. Every function here is pure and takes small plain
//! structs (counts, weights, booleans, `now`) so the CRD adapter and the planner can call it without
//! the arithmetic knowing about Kubernetes objects.
//!
//! * [`canary`]: desired canary weight, basic (no traffic routing) canary counts, "at desired".
//! * [`traffic_routed`]: traffic-routed canary counts, `dynamicStableScale`, `minPodsPerReplicaSet`,
//!   `setCanaryScale`.
//! * [`scale_down`]: which older ReplicaSets shrink and by how much, and the `scale-down-deadline`
//!   decisions.
//! * [`blue_green`]: the blue-green new ReplicaSet size and preview checkpoint.
//! * [`restart`]: `restartAt` eviction budget and order.

pub mod blue_green;
pub mod canary;
pub mod restart;
pub mod scale_down;
pub mod traffic_routed;

/// Observed sizes of one ReplicaSet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplicaSetSize {
    /// `spec.replicas` (a missing value counts as 0 here; the adapter decides).
    pub spec: i32,
    /// `status.replicas`: pods that exist.
    pub status: i32,
    /// `status.availableReplicas`.
    pub available: i32,
}

impl ReplicaSetSize {
    /// A ReplicaSet whose pods all exist and are available.
    pub fn settled(replicas: i32) -> Self {
        ReplicaSetSize {
            spec: replicas,
            status: replicas,
            available: replicas,
        }
    }

    /// A ReplicaSet with the given spec and available counts (`status` = spec).
    pub fn with_available(spec: i32, available: i32) -> Self {
        ReplicaSetSize {
            spec,
            status: spec,
            available,
        }
    }
}

/// Default maximum traffic weight when `trafficRouting.maxTrafficWeight` is unset.
pub const DEFAULT_MAX_TRAFFIC_WEIGHT: i32 = 100;

/// `trafficWeightToReplicas`: pods needed to carry `weight` out of `max_weight`, rounded up
/// (`ceil(weight·replicas / max_weight)`). Non-positive weights or replica counts give 0, and a
/// non-positive `max_weight` (rejected by validation) is treated as the default 100.
pub fn traffic_weight_to_replicas(replicas: i32, weight: i32, max_weight: i32) -> i32 {
    if replicas <= 0 || weight <= 0 {
        return 0;
    }
    let max_weight = if max_weight > 0 {
        i64::from(max_weight)
    } else {
        i64::from(DEFAULT_MAX_TRAFFIC_WEIGHT)
    };
    let product = i64::from(weight) * i64::from(replicas);
    let pods = (product + max_weight - 1) / max_weight;
    pods.min(i64::from(i32::MAX)) as i32
}

/// Scaling event (spec §3.1 step 10): the `rollout.argoproj.io/desired-replicas` annotation of the
/// new or stable RS (only those with `spec.replicas > 0`; RSs without the annotation are ignored)
/// differs from `spec.replicas`, so only the RS sizes are re-synced this pass.
pub fn is_scaling_event(annotated: &[(ReplicaSetSize, Option<i32>)], replicas: i32) -> bool {
    annotated
        .iter()
        .any(|(size, desired)| size.spec > 0 && desired.is_some_and(|d| d != replicas))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_event_table() {
        let up = ReplicaSetSize::settled(3);
        let down = ReplicaSetSize::settled(0);
        assert!(!is_scaling_event(&[(up, Some(3))], 3));
        assert!(is_scaling_event(&[(up, Some(3))], 8), "S1: R changed to 8");
        assert!(
            !is_scaling_event(&[(down, Some(3))], 8),
            "scaled-down RSs are ignored"
        );
        assert!(
            !is_scaling_event(&[(up, None)], 8),
            "no annotation, no event"
        );
        assert!(is_scaling_event(&[(up, Some(8)), (up, Some(3))], 8));
        assert!(!is_scaling_event(&[], 8));
    }

    #[test]
    fn traffic_weight_to_replicas_rounds_up() {
        let cases = [
            // (R, w, MAXW, pods)
            (10, 10, 100, 1),
            (10, 5, 100, 1),
            (10, 0, 100, 0),
            (10, 100, 100, 10),
            (4, 25, 100, 1),
            (4, 75, 100, 3),
            (4, 200, 100, 8), // setCanaryScale{weight 200}, R=4 ⇒ 8
            (3, 50, 100, 2),
            (10, 1, 1000, 1),
            (10, 500, 1000, 5),
            (0, 50, 100, 0),
            (5, -1, 100, 0),
            (5, 20, 0, 1),
        ];
        for (r, w, max, want) in cases {
            assert_eq!(
                traffic_weight_to_replicas(r, w, max),
                want,
                "R={r} w={w} MAXW={max}"
            );
        }
    }
}
