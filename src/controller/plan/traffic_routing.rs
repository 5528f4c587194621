//! The traffic-routed half of the canary planner (spec §3.4 steps 8 and 11, §4.2, §5.2): after
//! the Services are pointed, set the router weights for this pass and record
//! `status.canary.weights`; then size the ReplicaSets with the traffic-routed arithmetic (the
//! stable RS stays at `spec.replicas`, the canary follows the weight or `setCanaryScale`), the
//! previous stable kept up for `scaleDownDelaySeconds` after promotion and an aborted canary for
//! `abortScaleDownDelaySeconds`. The router writes themselves are decided in
//! [`crate::controller::traffic`].
//!
//! Not done: the weight side of `dynamicStableScale` (abort step-down and dynamic rollback rows
//! of §5.2 — its replica side is passed through), experiment destinations, and ALB weight
//! verification. Ping-pong Services are in `plan::ping_pong`; the routers get the role names
//! from [`crate::controller::traffic::router_services`].

use chrono::Duration as ChronoDuration;

use super::{Action, EventType, INCONCLUSIVE_ANALYSIS_RUN, Planner, json};
use crate::controller::canary_steps::{self, CanaryStep};
use crate::controller::replicas::canary::{
    AtDesiredInput, CanaryCounts, DesiredCanaryInput, at_desired_replica_counts,
    desired_canary_target,
};
use crate::controller::replicas::scale_down::{
    AbortedNewReplicaSet, CanaryScaleDownInput, OtherReplicaSet, SCALE_DOWN_DEADLINE_ANNOTATION,
    StrategyKind, abort_scale_down_delay, decide_aborted_new_replica_set,
    format_scale_down_deadline, plan_canary_scale_down, scale_down_delay,
    should_delay_scale_down_on_abort,
};
use crate::controller::replicas::traffic_routed::{
    RecordedWeights, TrafficRoutedInput, traffic_routed_replica_counts,
};
use crate::controller::replicas::{
    CanaryResize, CanaryResizeInput, DEFAULT_MAX_TRAFFIC_WEIGHT, next_canary_resize,
};
use crate::controller::traffic::{
    DesiredTraffic, ManagedRouteStep, WeightInput, desired_weight, router_changes, stable_can_carry,
};
use crate::crd::rollout::{TrafficWeights, WeightDestination};

/// Event reason when a router could not be written.
pub const TRAFFIC_ROUTING_ERROR: &str = "TrafficRoutingError";
/// Event reason when the recorded canary weight changes.
pub const TRAFFIC_WEIGHT_UPDATED: &str = "TrafficWeightUpdated";

impl Planner<'_> {
    fn max_traffic_weight(&self) -> i32 {
        self.rollout
            .traffic_routing()
            .and_then(|r| r.max_traffic_weight)
            .filter(|w| *w > 0)
            .unwrap_or(DEFAULT_MAX_TRAFFIC_WEIGHT)
    }

    fn dynamic_stable_scale(&self) -> bool {
        self.rollout
            .canary()
            .and_then(|c| c.dynamic_stable_scale)
            .unwrap_or(false)
    }

    /// The weights recorded before this pass.
    fn recorded_weights(&self) -> Option<&TrafficWeights> {
        self.old.canary.as_ref()?.weights.as_ref()
    }

    /// §4.2 desired (canary, stable) counts for the traffic-routed canary.
    fn traffic_routed_counts(&self) -> CanaryCounts {
        let canary = self.rollout.canary();
        let abort_delay = abort_scale_down_delay(
            StrategyKind::TrafficRoutedCanary,
            canary.and_then(|c| c.abort_scale_down_delay_seconds),
        );
        let effective = canary_steps::effective_step_index(
            self.steps.len(),
            self.status.current_step_index,
            self.promote_full(),
            self.within_rollback_window(),
        );
        let max_weight = self.max_traffic_weight();
        let target = desired_canary_target(&DesiredCanaryInput {
            steps: &self.steps,
            current_step_index: effective,
            max_weight,
            promote_full: self.promote_full(),
            has_stable_rs: self.distinct_stable().is_some() || self.fully_promoted(),
            current_is_stable: self.fully_promoted(),
            aborted: self.aborted(),
            traffic_routed: true,
            dynamic_stable_scale: self.dynamic_stable_scale(),
            abort_scale_down_delay: abort_delay.delay,
            abort_scale_down_delay_explicit: abort_delay.explicit,
            replicas: self.replicas,
            stable_available: self.distinct_stable().map(|s| s.size.available),
            canary_available: self.new_rs.as_ref().map(|s| s.size.available),
        });
        traffic_routed_replica_counts(&TrafficRoutedInput {
            replicas: self.replicas,
            target,
            max_weight,
            dynamic_stable_scale: self.dynamic_stable_scale(),
            aborted: self.aborted(),
            min_pods_per_replica_set: canary.and_then(|c| c.min_pods_per_replica_set),
            recorded_weights: self.recorded_weights().map(|w| RecordedWeights {
                canary: w.canary.weight,
                stable: w.stable.weight,
            }),
        })
    }

    /// `AtDesiredReplicaCountsForCanary` with the traffic-routed counts.
    pub(super) fn traffic_routed_at_desired(&self) -> bool {
        let Some(new) = self.new_rs.as_ref() else {
            return false;
        };
        let stable = if self.fully_promoted() {
            Some(new.size)
        } else {
            self.distinct_stable().map(|s| s.size)
        };
        at_desired_replica_counts(&AtDesiredInput {
            desired: self.traffic_routed_counts(),
            new_rs: Some(new.size),
            stable_rs: stable,
            other_rs_available_total: self.others.iter().map(|o| o.size.available).sum(),
            traffic_routed: true,
            dynamic_stable_scale: self.dynamic_stable_scale(),
            progress_threshold: self.progress_threshold(),
        })
    }

    /// The current step when it is a `setHeaderRoute` / `setMirrorRoute` step.
    fn managed_route_step(&self) -> Option<ManagedRouteStep<'_>> {
        let (index, step) =
            canary_steps::current_step(&self.steps, self.status.current_step_index)?;
        if !matches!(
            step,
            CanaryStep::SetHeaderRoute | CanaryStep::SetMirrorRoute
        ) {
            return None;
        }
        let raw = self.rollout.steps().get(index)?;
        raw.set_header_route
            .as_ref()
            .map(ManagedRouteStep::Header)
            .or_else(|| raw.set_mirror_route.as_ref().map(ManagedRouteStep::Mirror))
    }

    /// §5.2: choose the weight, gate on stable availability, write the routers, record
    /// `status.canary.weights`.
    pub(super) fn reconcile_traffic_routing(&mut self) {
        let Some(canary) = self.rollout.canary() else {
            return;
        };
        if canary.traffic_routing.is_none() {
            return;
        }
        let max_weight = self.max_traffic_weight();
        let decision = desired_weight(&WeightInput {
            steps: &self.steps,
            current_step_index: self.status.current_step_index,
            fully_promoted: self.fully_promoted(),
            aborted: self.aborted(),
            promote_full: self.promote_full(),
            new_rs_available: self.new_rs.as_ref().map(|rs| rs.size.available),
            at_desired: self.traffic_routed_at_desired(),
            recorded_canary_weight: self.recorded_weights().map(|w| w.canary.weight),
            max_weight,
        });
        let stable = if self.fully_promoted() {
            self.new_rs.clone()
        } else {
            self.distinct_stable().cloned()
        };
        if !stable_can_carry(
            decision.weight,
            max_weight,
            self.replicas,
            stable.as_ref().map(|s| s.size.available),
        ) {
            // §5.2 step 2 (pitfall §9.15): no traffic change until the stable RS can take it.
            return;
        }
        let Some(stable) = stable else {
            return;
        };
        let canary_hash = self.new_hash();
        let (stable_service, canary_service) =
            crate::controller::traffic::router_services(self.rollout, false);
        let revision = self.new_rs.as_ref().map_or(0, |rs| rs.revision);
        let route_step = if revision > 1 && !decision.remove_managed_routes {
            self.managed_route_step()
        } else {
            None
        };
        let desired = DesiredTraffic {
            rollout: self.rollout,
            canary_service: &canary_service,
            stable_service: &stable_service,
            canary_weight: decision.weight,
            max_weight,
            remove_managed_routes: decision.remove_managed_routes,
            route_step,
            canary_hash: &canary_hash,
            stable_hash: &stable.hash,
        };
        match router_changes(&desired, &self.snap.traffic) {
            Ok(changes) => self
                .actions
                .extend(changes.into_iter().map(Action::Traffic)),
            Err(error) => {
                self.event(TRAFFIC_ROUTING_ERROR, error.to_string(), EventType::Warning);
                return;
            }
        }
        let destination = |service: &str, hash: &str, weight| WeightDestination {
            service_name: (!service.is_empty()).then(|| service.to_owned()),
            pod_template_hash: (!hash.is_empty()).then(|| hash.to_owned()),
            weight,
            extra: std::collections::BTreeMap::default(),
        };
        let weights = TrafficWeights {
            canary: destination(&canary_service, &canary_hash, decision.weight),
            stable: destination(&stable_service, &stable.hash, max_weight - decision.weight),
            additional: None,
            verified: None,
            extra: std::collections::BTreeMap::default(),
        };
        // No recorded weights means the router started at canary 0.
        let previous = self.recorded_weights().map_or(0, |w| w.canary.weight);
        if previous != decision.weight {
            self.event(
                TRAFFIC_WEIGHT_UPDATED,
                format!(
                    "Traffic weight updated from {previous} to {}",
                    decision.weight
                ),
                EventType::Normal,
            );
        }
        self.status
            .canary
            .get_or_insert_with(Default::default)
            .weights = Some(weights);
    }

    /// Whether an other RS is still referenced (status hashes, recorded weights, a Service
    /// selector) and so must not be scaled down (§4.4 step 3).
    fn still_referenced(&self, hash: &str) -> bool {
        if hash.is_empty() {
            return false;
        }
        let status_hashes = [
            self.status.stable_rs.as_deref(),
            self.status.current_pod_hash.as_deref(),
        ];
        let weight_hashes = self
            .recorded_weights()
            .map(|w| {
                [
                    w.canary.pod_template_hash.clone(),
                    w.stable.pod_template_hash.clone(),
                ]
            })
            .unwrap_or_default();
        let services: Vec<String> = self
            .rollout
            .canary()
            .map(|c| {
                [c.canary_service.clone(), c.stable_service.clone()]
                    .into_iter()
                    .flatten()
                    .filter_map(|s| self.service_selector(&s))
                    .collect()
            })
            .unwrap_or_default();
        status_hashes.contains(&Some(hash))
            || weight_hashes.iter().any(|h| h.as_deref() == Some(hash))
            || services.iter().any(|s| s == hash)
            || crate::controller::traffic::destination_rule_hashes(self.rollout, &self.snap.traffic)
                .iter()
                .any(|h| h == hash)
    }

    /// §3.4 step 11 for a traffic-routed canary: deadlines off the new/stable RS, stable to its
    /// count, else the new RS (held while an abort delay runs), else the others through the
    /// scale-down delay. At most one resize per pass.
    pub(super) fn scale_traffic_routed_canary(&mut self) -> bool {
        let inconclusive = self
            .status
            .pause_conditions()
            .iter()
            .any(|p| p.reason == INCONCLUSIVE_ANALYSIS_RUN);
        if self.spec_paused() || inconclusive {
            return false;
        }
        let (Some(fenceposts), Some(new)) = (self.fenceposts(), self.new_rs.clone()) else {
            return false;
        };
        let canary = self.rollout.canary().cloned().unwrap_or_default();
        let stable = self.distinct_stable().cloned();
        let abort_delay = abort_scale_down_delay(
            StrategyKind::TrafficRoutedCanary,
            canary.abort_scale_down_delay_seconds,
        );
        let delay_abort = should_delay_scale_down_on_abort(
            self.aborted(),
            stable.is_some(),
            StrategyKind::TrafficRoutedCanary,
            abort_delay,
            self.dynamic_stable_scale(),
        );
        for rs in std::iter::once(&new).chain(stable.iter()) {
            let in_abort_delay = delay_abort && rs.name == new.name;
            if rs.deadline.is_some() && !in_abort_delay {
                self.actions.push(Action::PatchReplicaSet {
                    name: rs.name.clone(),
                    patch: json!({"metadata": {"annotations": {SCALE_DOWN_DEADLINE_ANNOTATION: null}}}),
                });
            }
        }
        let aborted_new = match (delay_abort, abort_delay.delay) {
            (true, Some(delay)) => Some(decide_aborted_new_replica_set(
                new.deadline,
                delay,
                stable.as_ref().map_or(0, |s| s.size.available),
                self.replicas,
                self.now,
            )),
            _ => None,
        };
        if let Some(AbortedNewReplicaSet::Hold {
            add_deadline,
            requeue_at,
        }) = aborted_new
        {
            if let Some(at) = add_deadline {
                self.actions.push(Action::PatchReplicaSet {
                    name: new.name.clone(),
                    patch: json!({"metadata": {"annotations": {
                        SCALE_DOWN_DEADLINE_ANNOTATION: format_scale_down_deadline(at)
                    }}}),
                });
            }
            if let Some(at) = requeue_at {
                self.requeue_at(at + ChronoDuration::seconds(1));
            }
        }
        let others: Vec<OtherReplicaSet> = self
            .others
            .iter()
            .map(|rs| OtherReplicaSet {
                revision: rs.revision,
                size: rs.size,
                referenced: self.still_referenced(&rs.hash),
                scale_down_deadline: rs.deadline,
            })
            .collect();
        let available_total = new.size.available
            + stable.as_ref().map_or(0, |s| s.size.available)
            + others.iter().map(|o| o.size.available).sum::<i32>();
        let others_plan = plan_canary_scale_down(&CanaryScaleDownInput {
            replicas: self.replicas,
            max_unavailable: fenceposts.max_unavailable,
            available_total,
            others: &others,
            traffic_routed: true,
            fully_promoted: self.fully_promoted(),
            dynamic_stable_scale: self.dynamic_stable_scale(),
            scale_down_delay: scale_down_delay(
                StrategyKind::TrafficRoutedCanary,
                canary.scale_down_delay_seconds,
            ),
            scale_down_delay_revision_limit: canary.scale_down_delay_revision_limit,
            now: self.now,
        });
        if let Some(at) = others_plan.requeue_at {
            self.requeue_at(at + ChronoDuration::seconds(1));
        }
        let resize = next_canary_resize(&CanaryResizeInput {
            desired: self.traffic_routed_counts(),
            new_rs: Some(new.size),
            stable_rs: stable.as_ref().map(|s| s.size),
            aborted_new_rs: aborted_new,
            others: &others,
            others_plan: &others_plan,
        });
        match resize {
            CanaryResize::Stable(n) => {
                if let Some(stable) = stable {
                    self.scale(&stable.name, n);
                }
                true
            }
            CanaryResize::New(n) => {
                self.scale(&new.name, n);
                true
            }
            CanaryResize::Others(changes) => {
                let mut any = false;
                for change in changes {
                    let Some(rs) = self.others.get(change.index).cloned() else {
                        continue;
                    };
                    if let Some(at) = change.add_deadline {
                        self.actions.push(Action::PatchReplicaSet {
                            name: rs.name.clone(),
                            patch: json!({"metadata": {"annotations": {
                                SCALE_DOWN_DEADLINE_ANNOTATION: format_scale_down_deadline(at)
                            }}}),
                        });
                    }
                    if rs.size.spec != change.replicas {
                        self.scale(&rs.name, change.replicas);
                        any = true;
                    }
                }
                any
            }
            CanaryResize::Settled => {
                for rs in stable.iter().chain(std::iter::once(&new)) {
                    if rs.size.spec > 0 && rs.desired_annotation != Some(self.replicas) {
                        self.actions.push(Action::ScaleReplicaSet {
                            name: rs.name.clone(),
                            replicas: rs.size.spec,
                            desired_replicas: self.replicas,
                        });
                        return true;
                    }
                }
                false
            }
        }
    }
}
