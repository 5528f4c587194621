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

/// Largest pod count the arithmetic works with. Counts from cluster objects are clamped to
/// `0..=MAX_POD_COUNT` on entry — far beyond any real ReplicaSet — so sums and differences of a
/// handful of them can never overflow `i32`, whatever a corrupt object says.
pub const MAX_POD_COUNT: i32 = 1 << 24;

/// Clamps a pod count from cluster data into `0..=MAX_POD_COUNT`.
pub fn clamp_pod_count(count: i32) -> i32 {
    count.clamp(0, MAX_POD_COUNT)
}

impl ReplicaSetSize {
    /// This size with every count clamped by [`clamp_pod_count`].
    #[must_use]
    pub fn clamped(self) -> Self {
        ReplicaSetSize {
            spec: clamp_pod_count(self.spec),
            status: clamp_pod_count(self.status),
            available: clamp_pod_count(self.available),
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

/// The single resize a canary reconcile performs this pass (spec §3.4 step 11: stable first,
/// then new, then the others; any change ends the pass).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CanaryResize {
    /// Set the stable RS to this many replicas.
    Stable(i32),
    /// Set the new RS to this many replicas.
    New(i32),
    /// Apply these changes to other ReplicaSets (sizes and/or deadlines).
    Others(Vec<scale_down::OtherReplicaSetChange>),
    /// Nothing to resize.
    Settled,
}

/// Inputs of [`next_canary_resize`].
#[derive(Debug, Clone, Copy)]
pub struct CanaryResizeInput<'a> {
    /// Desired counts from the basic or traffic-routed formula.
    pub desired: canary::CanaryCounts,
    /// The new RS.
    pub new_rs: Option<ReplicaSetSize>,
    /// The stable RS when distinct from the new RS.
    pub stable_rs: Option<ReplicaSetSize>,
    /// The abort-delay decision for the new RS, when `should_delay_scale_down_on_abort` holds.
    pub aborted_new_rs: Option<scale_down::AbortedNewReplicaSet>,
    /// The other ReplicaSets and their plan from `plan_canary_scale_down`.
    pub others: &'a [scale_down::OtherReplicaSet],
    /// The plan for `others`.
    pub others_plan: &'a scale_down::ScaleDownPlan,
}

/// Picks this pass's resize. A held aborted new RS is left alone (only its deadline may be
/// written, see [`scale_down::AbortedNewReplicaSet::Hold`]) and the others are reconciled in
/// the same pass, as in the reference.
pub fn next_canary_resize(input: &CanaryResizeInput<'_>) -> CanaryResize {
    if let Some(stable) = input.stable_rs
        && stable.spec != input.desired.stable
    {
        return CanaryResize::Stable(input.desired.stable);
    }
    if let Some(new) = input.new_rs {
        let target = match input.aborted_new_rs {
            None | Some(scale_down::AbortedNewReplicaSet::ScaleToComputed) => {
                Some(input.desired.canary)
            }
            Some(scale_down::AbortedNewReplicaSet::ScaleToZero) => Some(0),
            Some(scale_down::AbortedNewReplicaSet::Hold { .. }) => None,
        };
        if let Some(target) = target
            && target != new.spec
        {
            return CanaryResize::New(target);
        }
    }
    if input.others_plan.changes.is_empty() {
        CanaryResize::Settled
    } else {
        CanaryResize::Others(input.others_plan.changes.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_canary_resize_orders_stable_new_others() {
        let settled = |n| Some(ReplicaSetSize::settled(n));
        let others = [scale_down::OtherReplicaSet {
            revision: 1,
            size: ReplicaSetSize::settled(2),
            referenced: false,
            scale_down_deadline: None,
        }];
        let plan = scale_down::ScaleDownPlan {
            changes: vec![scale_down::OtherReplicaSetChange {
                index: 0,
                replicas: 0,
                add_deadline: None,
            }],
            requeue_at: None,
        };
        let empty = scale_down::ScaleDownPlan::default();
        let base = CanaryResizeInput {
            desired: canary::CanaryCounts {
                canary: 1,
                stable: 9,
            },
            new_rs: settled(1),
            stable_rs: settled(9),
            aborted_new_rs: None,
            others: &others,
            others_plan: &empty,
        };
        let hold = scale_down::AbortedNewReplicaSet::Hold {
            add_deadline: None,
            requeue_at: None,
        };
        let cases = [
            ("settled", base, CanaryResize::Settled),
            (
                "stable first",
                CanaryResizeInput {
                    stable_rs: settled(10),
                    new_rs: settled(0),
                    ..base
                },
                CanaryResize::Stable(9),
            ),
            (
                "then new",
                CanaryResizeInput {
                    new_rs: settled(0),
                    ..base
                },
                CanaryResize::New(1),
            ),
            (
                "then others",
                CanaryResizeInput {
                    others_plan: &plan,
                    ..base
                },
                CanaryResize::Others(plan.changes.clone()),
            ),
            (
                "held abort leaves the canary up",
                CanaryResizeInput {
                    new_rs: settled(4),
                    aborted_new_rs: Some(hold),
                    others_plan: &plan,
                    ..base
                },
                CanaryResize::Others(plan.changes.clone()),
            ),
            (
                "expired abort delay",
                CanaryResizeInput {
                    new_rs: settled(4),
                    aborted_new_rs: Some(scale_down::AbortedNewReplicaSet::ScaleToZero),
                    ..base
                },
                CanaryResize::New(0),
            ),
            (
                "initial deploy: no stable",
                CanaryResizeInput {
                    stable_rs: None,
                    new_rs: settled(0),
                    desired: canary::CanaryCounts {
                        canary: 3,
                        stable: 0,
                    },
                    ..base
                },
                CanaryResize::New(3),
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(next_canary_resize(&input), want, "{name}");
        }
    }

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

    /// Corrupt or hostile cluster data (negative or huge counts, weights, budgets) must never
    /// panic (house rule) — debug builds trap on `i32` overflow, so this exercises the clamps.
    #[test]
    fn extreme_inputs_never_panic() {
        use crate::controller::canary_steps::CanaryStep;
        use crate::controller::fenceposts::{Fenceposts, IntOrPercent, resolve_canary_fenceposts};
        let extremes = [i32::MIN, -1, 0, 1, MAX_POD_COUNT, i32::MAX];
        let steps = [
            CanaryStep::SetWeight(i32::MAX),
            CanaryStep::SetWeight(i32::MIN),
        ];
        for &a in &extremes {
            for &b in &extremes {
                let size = ReplicaSetSize {
                    spec: a,
                    status: b,
                    available: b,
                };
                let counts = canary::basic_canary_replica_counts(&canary::BasicCanaryInput {
                    replicas: a,
                    weight: b,
                    fenceposts: Fenceposts {
                        max_surge: b,
                        max_unavailable: a,
                    },
                    new_rs: Some(size),
                    stable_rs: Some(size),
                    other_rs_spec_total: b,
                });
                assert!(
                    counts.canary >= 0 && counts.stable >= 0,
                    "{a} {b} {counts:?}"
                );
                for target in [
                    canary::CanaryTarget::Weight(b),
                    canary::CanaryTarget::Replicas(b),
                ] {
                    let _ = traffic_routed::traffic_routed_replica_counts(
                        &traffic_routed::TrafficRoutedInput {
                            replicas: a,
                            target,
                            max_weight: b,
                            dynamic_stable_scale: true,
                            aborted: true,
                            min_pods_per_replica_set: Some(b),
                            recorded_weights: Some(traffic_routed::RecordedWeights {
                                canary: a,
                                stable: b,
                            }),
                        },
                    );
                }
                let _ =
                    traffic_routed::abort_step_down_weight(&traffic_routed::AbortStepDownInput {
                        steps: &steps,
                        replicas: a,
                        max_weight: b,
                        stable_available: Some(b),
                        canary_available: Some(a),
                        abort_scale_down_delay_explicit: false,
                    });
                let others = [scale_down::OtherReplicaSet {
                    revision: i64::from(a),
                    size,
                    referenced: false,
                    scale_down_deadline: None,
                }];
                let _ = scale_down::plan_canary_scale_down(&scale_down::CanaryScaleDownInput {
                    replicas: a,
                    max_unavailable: b,
                    available_total: b,
                    others: &others,
                    traffic_routed: false,
                    fully_promoted: false,
                    dynamic_stable_scale: false,
                    scale_down_delay: std::time::Duration::ZERO,
                    scale_down_delay_revision_limit: Some(a),
                    now: chrono::DateTime::<chrono::Utc>::MAX_UTC,
                });
                let _ = restart::restart_eviction_budget(a, b, a, b);
                let _ = traffic_weight_to_replicas(a, b, a);
                let _ = canary::approximate_weighted_split(a, b, b, a);
                let _ = resolve_canary_fenceposts(Some(&IntOrPercent::Int(i64::from(a))), None, b);
            }
        }
        let huge = IntOrPercent::Percent("999999999999999999%".to_owned());
        assert!(resolve_canary_fenceposts(Some(&huge), Some(&huge), i32::MAX).is_ok());
    }
}
