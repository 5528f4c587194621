//! Traffic-routed canary sizing (spec §4.2, §4.3, `CalculateReplicaCountsForTrafficRoutedCanary`):
//! the canary follows the desired weight or an explicit `setCanaryScale`; the stable RS stays fully
//! scaled unless `dynamicStableScale`, in which case it follows the traffic actually recorded in
//! `status.canary.weights` so pods never disappear before their traffic has left.

use super::canary::{CanaryCounts, CanaryTarget};
use super::{clamp_pod_count, traffic_weight_to_replicas};
use crate::controller::canary_steps::CanaryStep;

/// The weights recorded in `status.canary.weights` (before this reconcile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedWeights {
    /// `weights.canary.weight`.
    pub canary: i32,
    /// `weights.stable.weight`.
    pub stable: i32,
}

/// Inputs of [`traffic_routed_replica_counts`].
#[derive(Debug, Clone, Copy)]
pub struct TrafficRoutedInput {
    /// `spec.replicas`.
    pub replicas: i32,
    /// The canary target from [`super::canary::desired_canary_target`].
    pub target: CanaryTarget,
    /// Max traffic weight.
    pub max_weight: i32,
    /// `dynamicStableScale`.
    pub dynamic_stable_scale: bool,
    /// `status.abort`.
    pub aborted: bool,
    /// `minPodsPerReplicaSet`.
    pub min_pods_per_replica_set: Option<i32>,
    /// `status.canary.weights` (`None` when unset). The reference sizes the stable RS from the
    /// weights recorded *before* this reconcile and the new RS from the weights the traffic
    /// step just wrote (spec §4.2), so stable changes lag traffic by one pass: call once per
    /// RS with the matching weights and take `.stable` / `.canary` respectively.
    pub recorded_weights: Option<RecordedWeights>,
}

/// `CheckMinPodsPerReplicaSet`: a non-zero RS size is raised to `minPodsPerReplicaSet`, capped at
/// `spec.replicas` (spec §1.2). Zero stays zero.
pub fn apply_min_pods_per_replica_set(count: i32, min_pods: Option<i32>, replicas: i32) -> i32 {
    match min_pods {
        Some(min) if count != 0 => count.max(min.min(replicas)),
        _ => count,
    }
}

/// Traffic-routed canary counts (spec §4.2):
///
/// * canary = explicit `setCanaryScale.replicas`, else `minPods(ceil(w·R/MAXW))`;
/// * without `dynamicStableScale` the stable RS stays at R (instant abort; `maxSurge`/
///   `maxUnavailable` do not apply, so canary + stable may exceed 2R with `setCanaryScale`);
/// * with it, stable = max(ceil((MAXW−w)·R/MAXW), ceil(recordedStable·R/MAXW)) and, while
///   aborted, canary = max(canary, ceil(recordedCanary·R/MAXW)); both through `minPods`.
pub fn traffic_routed_replica_counts(input: &TrafficRoutedInput) -> CanaryCounts {
    let r = clamp_pod_count(input.replicas);
    let min_pods = |count| apply_min_pods_per_replica_set(count, input.min_pods_per_replica_set, r);
    let (mut canary, weight) = match input.target {
        CanaryTarget::Replicas(n) => (clamp_pod_count(n), 0),
        CanaryTarget::Weight(w) => (
            min_pods(traffic_weight_to_replicas(r, w, input.max_weight)),
            w,
        ),
    };
    if !input.dynamic_stable_scale {
        return CanaryCounts { canary, stable: r };
    }
    let mut stable =
        traffic_weight_to_replicas(r, input.max_weight.saturating_sub(weight), input.max_weight);
    if let Some(recorded) = input.recorded_weights {
        stable = stable.max(traffic_weight_to_replicas(
            r,
            recorded.stable,
            input.max_weight,
        ));
        if input.aborted {
            canary = canary.max(traffic_weight_to_replicas(
                r,
                recorded.canary,
                input.max_weight,
            ));
        }
    }
    CanaryCounts {
        canary: min_pods(canary),
        stable: min_pods(stable),
    }
}

/// Inputs of [`abort_step_down_weight`].
#[derive(Debug, Clone, Copy)]
pub struct AbortStepDownInput<'a> {
    /// `spec.strategy.canary.steps`.
    pub steps: &'a [CanaryStep],
    /// `spec.replicas`.
    pub replicas: i32,
    /// Max traffic weight.
    pub max_weight: i32,
    /// Available stable pods; `None` when the stable RS does not exist.
    pub stable_available: Option<i32>,
    /// Available canary pods; `None` when the canary RS does not exist.
    pub canary_available: Option<i32>,
    /// `abortScaleDownDelaySeconds` was set explicitly.
    pub abort_scale_down_delay_explicit: bool,
}

/// The weight a `dynamicStableScale` abort steps back through (spec §4.2, `GetDesiredCanaryWeight`):
/// the canary still needs `R − stableAvailable` pods (or at least its currently available pods
/// unless the abort delay was set explicitly); scanning `setWeight` steps from last to first, the
/// first weight whose pod count is *below* that reference is returned, else 0. With
/// `replicas == 0` or a missing canary/stable RS nothing can shift gradually and the weight is 0
/// (the reference's "no RSs ⇒ immediate rollback" vector).
pub fn abort_step_down_weight(input: &AbortStepDownInput<'_>) -> i32 {
    let (Some(stable_available), Some(canary_available)) =
        (input.stable_available, input.canary_available)
    else {
        return 0;
    };
    let replicas = clamp_pod_count(input.replicas);
    if replicas == 0 {
        return 0;
    }
    let expected_canary = replicas - clamp_pod_count(stable_available);
    let reference = if input.abort_scale_down_delay_explicit {
        expected_canary
    } else {
        expected_canary.max(clamp_pod_count(canary_available))
    };
    input
        .steps
        .iter()
        .rev()
        .filter_map(|step| match step {
            CanaryStep::SetWeight(w) => Some(*w),
            _ => None,
        })
        .find(|w| traffic_weight_to_replicas(replicas, *w, input.max_weight) < reference)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::canary_steps::SetCanaryScale;

    fn input(replicas: i32, target: CanaryTarget) -> TrafficRoutedInput {
        TrafficRoutedInput {
            replicas,
            target,
            max_weight: 100,
            dynamic_stable_scale: false,
            aborted: false,
            min_pods_per_replica_set: None,
            recorded_weights: None,
        }
    }

    /// "Other vectors" of spec §4.2.
    #[test]
    fn traffic_routed_spec_vectors() {
        let cases: &[(&str, TrafficRoutedInput, (i32, i32))] = &[
            ("R=10 w=10", input(10, CanaryTarget::Weight(10)), (1, 10)),
            (
                "setCanaryScale replicas 9, R=1",
                input(1, CanaryTarget::Replicas(9)),
                (9, 1),
            ),
            (
                "setCanaryScale weight 200, R=4",
                input(4, CanaryTarget::Weight(200)),
                (8, 4),
            ),
            (
                "minPodsPerReplicaSet 2, R=10, w=5",
                TrafficRoutedInput {
                    min_pods_per_replica_set: Some(2),
                    ..input(10, CanaryTarget::Weight(5))
                },
                (2, 10),
            ),
        ];
        for (name, input, want) in cases {
            let got = traffic_routed_replica_counts(input);
            assert_eq!((got.canary, got.stable), *want, "{name}");
        }
    }

    /// TestCalculateReplicaCountsForCanaryTrafficRoutingDynamicScale (spec §4.2).
    #[test]
    fn calculate_replica_counts_for_canary_traffic_routing_dynamic_scale() {
        let dynamic = |target, aborted, recorded| TrafficRoutedInput {
            dynamic_stable_scale: true,
            aborted,
            recorded_weights: recorded,
            ..input(10, target)
        };
        // No abort, weights canary 10 / stable 90 ⇒ 1, 9.
        let got = traffic_routed_replica_counts(&dynamic(
            CanaryTarget::Weight(10),
            false,
            Some(RecordedWeights {
                canary: 10,
                stable: 90,
            }),
        ));
        assert_eq!((got.canary, got.stable), (1, 9));

        // Abort, recorded 60/40, canary 6/6, stable 4/4 ⇒ 6, 8. The spec lists the steps as
        // [setWeight 60]; the reference fixture (`newRollout(10, 20, …)`) already carries a
        // `setWeight 20` step, and only [20, 60] yields stable 8: 60 needs 6 pods (not below the
        // reference 6), 20 needs 2 ⇒ step-down weight 20 ⇒ stable ceil(80 %) = 8.
        let steps = [CanaryStep::SetWeight(20), CanaryStep::SetWeight(60)];
        let w = abort_step_down_weight(&AbortStepDownInput {
            steps: &steps,
            replicas: 10,
            max_weight: 100,
            stable_available: Some(4),
            canary_available: Some(6),
            abort_scale_down_delay_explicit: false,
        });
        assert_eq!(w, 20);
        let got = traffic_routed_replica_counts(&dynamic(
            CanaryTarget::Weight(w),
            true,
            Some(RecordedWeights {
                canary: 60,
                stable: 40,
            }),
        ));
        assert_eq!((got.canary, got.stable), (6, 8));

        // Abort, recorded 20/80, no RSs ⇒ weight 0 ⇒ canary max(0, 2) = 2, stable 10.
        let w = abort_step_down_weight(&AbortStepDownInput {
            steps: &[CanaryStep::SetWeight(20)],
            replicas: 10,
            max_weight: 100,
            stable_available: None,
            canary_available: None,
            abort_scale_down_delay_explicit: false,
        });
        assert_eq!(w, 0);
        let got = traffic_routed_replica_counts(&dynamic(
            CanaryTarget::Weight(w),
            true,
            Some(RecordedWeights {
                canary: 20,
                stable: 80,
            }),
        ));
        assert_eq!((got.canary, got.stable), (2, 10));

        // Zero replicas never divides by zero and steps straight to 0
        // (TestDynamicScalingAbortWithZeroReplicas).
        let w = abort_step_down_weight(&AbortStepDownInput {
            steps: &[CanaryStep::SetWeight(50)],
            replicas: 0,
            max_weight: 100,
            stable_available: Some(0),
            canary_available: Some(0),
            abort_scale_down_delay_explicit: false,
        });
        assert_eq!(w, 0);
    }

    /// S18 (TestCanaryDynamicStableScale, R=4, steps [25, pause, 75, pause]): the abort walks
    /// the canary down as stable pods become available.
    #[test]
    fn dynamic_stable_scale_abort_walkthrough() {
        let steps = [
            CanaryStep::SetWeight(25),
            CanaryStep::Pause(None),
            CanaryStep::SetWeight(75),
            CanaryStep::Pause(None),
        ];
        let step_down = |stable_available, canary_available, explicit| {
            abort_step_down_weight(&AbortStepDownInput {
                steps: &steps,
                replicas: 4,
                max_weight: 100,
                stable_available: Some(stable_available),
                canary_available: Some(canary_available),
                abort_scale_down_delay_explicit: explicit,
            })
        };
        let counts = |weight, recorded: (i32, i32)| {
            let c = traffic_routed_replica_counts(&TrafficRoutedInput {
                dynamic_stable_scale: true,
                aborted: true,
                recorded_weights: Some(RecordedWeights {
                    canary: recorded.0,
                    stable: recorded.1,
                }),
                ..input(4, CanaryTarget::Weight(weight))
            });
            (c.canary, c.stable)
        };
        // Before abort at index 3: weight 75 ⇒ rev1 1, rev2 3.
        let before = traffic_routed_replica_counts(&TrafficRoutedInput {
            dynamic_stable_scale: true,
            recorded_weights: Some(RecordedWeights {
                canary: 75,
                stable: 25,
            }),
            ..input(4, CanaryTarget::Weight(75))
        });
        assert_eq!((before.canary, before.stable), (3, 1));
        // Abort with stable 1/1, canary 3/3: step down to 25 ⇒ stable grows to 3, canary kept 3.
        assert_eq!(step_down(1, 3, false), 25);
        assert_eq!(counts(25, (75, 25)), (3, 3));
        // Traffic moved to 25/75, stable 3 available: canary may shrink to 1.
        assert_eq!(step_down(3, 3, false), 25);
        assert_eq!(counts(25, (25, 75)), (1, 3));
        // Canary at 1 available: weight 0 ⇒ stable 4, canary still 1 until traffic leaves.
        assert_eq!(step_down(3, 1, false), 0);
        assert_eq!(counts(0, (25, 75)), (1, 4));
        // Traffic at 0/100 ⇒ canary 0.
        assert_eq!(counts(0, (0, 100)), (0, 4));

        // S19: explicit abort delay — the reference ignores canary availability.
        assert_eq!(step_down(1, 3, true), 25);
        assert_eq!(step_down(3, 3, true), 0);
    }

    /// S15 / TestCanarySetCanaryScale (nginx, R=4): canary/stable pods per step index.
    #[test]
    fn set_canary_scale_scenario() {
        use crate::controller::canary_steps;
        use crate::controller::replicas::canary::{DesiredCanaryInput, desired_canary_target};
        let scale = |replicas, weight, matched| {
            CanaryStep::SetCanaryScale(SetCanaryScale {
                replicas,
                weight,
                match_traffic_weight: matched,
            })
        };
        let steps = [
            CanaryStep::Pause(None),
            scale(None, Some(25), false),
            CanaryStep::Pause(Some(std::time::Duration::from_secs(100))),
            CanaryStep::SetWeight(50),
            CanaryStep::Pause(Some(std::time::Duration::from_secs(10))),
            scale(Some(3), None, false),
            CanaryStep::Pause(None),
            scale(None, None, true),
            CanaryStep::Pause(Some(std::time::Duration::from_secs(5))),
        ];
        for (index, want) in [
            (0, (0, 4)),
            (2, (1, 4)),
            (4, (1, 4)),
            (6, (3, 4)),
            (8, (2, 4)),
        ] {
            let target = desired_canary_target(&DesiredCanaryInput {
                steps: &steps,
                current_step_index: Some(index),
                max_weight: 100,
                promote_full: false,
                has_stable_rs: true,
                current_is_stable: false,
                aborted: false,
                traffic_routed: true,
                dynamic_stable_scale: false,
                abort_scale_down_delay: Some(std::time::Duration::from_secs(30)),
                abort_scale_down_delay_explicit: false,
                replicas: 4,
                stable_available: Some(4),
                canary_available: Some(0),
            });
            let got = traffic_routed_replica_counts(&input(4, target));
            assert_eq!((got.canary, got.stable), want, "step {index}");
        }
        // Healthy: the new RS is stable ⇒ weight 100 ⇒ 4 pods.
        assert_eq!(
            canary_steps::current_set_weight(&steps, Some(9), false, 100),
            100
        );
    }

    #[test]
    fn min_pods_per_replica_set() {
        assert_eq!(apply_min_pods_per_replica_set(0, Some(2), 10), 0);
        assert_eq!(apply_min_pods_per_replica_set(1, Some(2), 10), 2);
        assert_eq!(apply_min_pods_per_replica_set(5, Some(2), 10), 5);
        // Capped at R.
        assert_eq!(apply_min_pods_per_replica_set(1, Some(5), 3), 3);
        assert_eq!(apply_min_pods_per_replica_set(1, None, 3), 1);
    }

    /// Traffic-routed rows of the reference's TestCalculateReplicaCountsForCanary and
    /// TestCalculateReplicaCountsForCanaryTrafficRoutingDynamicScale, driven through
    /// `desired_canary_target` so the setCanaryScale/abort rules are exercised too.
    #[test]
    fn traffic_routed_reference_rows() {
        struct Case {
            name: &'static str,
            replicas: i32,
            set_weight: i32,
            scale: Option<SetCanaryScale>,
            aborted: bool,
            abort_delay: Option<Duration>,
            dynamic: bool,
            recorded: Option<RecordedWeights>,
            want: (i32, i32),
        }
        use crate::controller::replicas::canary::{DesiredCanaryInput, desired_canary_target};
        use std::time::Duration;
        let scale = |replicas, weight, matched| SetCanaryScale {
            replicas,
            weight,
            match_traffic_weight: matched,
        };
        let base = Case {
            name: "",
            replicas: 10,
            set_weight: 20,
            scale: None,
            aborted: false,
            abort_delay: Some(Duration::from_secs(30)),
            dynamic: false,
            recorded: None,
            want: (0, 0),
        };
        let weights = |canary, stable| Some(RecordedWeights { canary, stable });
        let cases = [
            Case {
                name: "matchTrafficWeight ignores replicas/weight",
                scale: Some(scale(Some(9), Some(100), true)),
                want: (2, 10),
                ..base
            },
            Case {
                name: "aborted with abortScaleDownDelaySeconds:0 keeps setCanaryScale",
                replicas: 1,
                scale: Some(scale(Some(1), None, false)),
                aborted: true,
                abort_delay: None,
                want: (1, 1),
                ..base
            },
            Case {
                name: "aborted with abortScaleDownDelaySeconds>0 drops setCanaryScale",
                replicas: 1,
                scale: Some(scale(Some(1), None, false)),
                aborted: true,
                want: (0, 1),
                ..base
            },
            Case {
                name: "dynamic: max of desired canary and traffic",
                dynamic: true,
                recorded: weights(10, 90),
                want: (2, 9),
                ..base
            },
            Case {
                name: "dynamic abort keeps canary while traffic remains",
                dynamic: true,
                aborted: true,
                recorded: weights(20, 80),
                want: (2, 10),
                ..base
            },
            Case {
                name: "dynamic abort shrinks canary with its traffic",
                dynamic: true,
                aborted: true,
                recorded: weights(10, 90),
                want: (1, 10),
                ..base
            },
        ];
        for case in cases {
            let mut steps = vec![CanaryStep::SetWeight(case.set_weight)];
            if let Some(s) = case.scale {
                steps.push(CanaryStep::SetCanaryScale(s));
            }
            let target = desired_canary_target(&DesiredCanaryInput {
                steps: &steps,
                current_step_index: Some(i32::try_from(steps.len()).unwrap_or(1) - 1),
                max_weight: 100,
                promote_full: false,
                has_stable_rs: true,
                current_is_stable: false,
                aborted: case.aborted,
                traffic_routed: true,
                dynamic_stable_scale: case.dynamic,
                abort_scale_down_delay: case.abort_delay,
                abort_scale_down_delay_explicit: false,
                replicas: case.replicas,
                // The reference rows have no ReplicaSets.
                stable_available: None,
                canary_available: None,
            });
            let got = traffic_routed_replica_counts(&TrafficRoutedInput {
                dynamic_stable_scale: case.dynamic,
                aborted: case.aborted,
                recorded_weights: case.recorded,
                ..input(case.replicas, target)
            });
            assert_eq!((got.canary, got.stable), case.want, "{}", case.name);
        }
    }
}
