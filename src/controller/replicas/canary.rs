//! Canary sizing shared by both canary flavours (spec §4.0) and the basic, non-traffic-routed
//! canary (spec §4.1, `CalculateReplicaCountsForBasicCanary`): the desired canary weight or
//! explicit scale, the weighted canary/stable split, the surge/availability-driven step towards
//! it, and the "replica counts at desired" check used for step completion (spec §3.5).

use std::time::Duration;

use super::{ReplicaSetSize, clamp_pod_count, traffic_routed};
use crate::controller::canary_steps::{self, CanaryStep};
use crate::controller::fenceposts::Fenceposts;

/// What the canary should be sized by (`GetCanaryReplicasOrWeight`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryTarget {
    /// An explicit pod count from `setCanaryScale.replicas`.
    Replicas(i32),
    /// A weight out of the max traffic weight.
    Weight(i32),
}

impl CanaryTarget {
    /// The weight to size by; an explicit replica count carries weight 0, as in the reference
    /// (only the traffic-routed formula reads the count).
    pub fn weight(self) -> i32 {
        match self {
            CanaryTarget::Replicas(_) => 0,
            CanaryTarget::Weight(w) => w,
        }
    }
}

/// Inputs of [`desired_canary_target`].
#[derive(Debug, Clone, Copy)]
pub struct DesiredCanaryInput<'a> {
    /// `spec.strategy.canary.steps`.
    pub steps: &'a [CanaryStep],
    /// `status.currentStepIndex`.
    pub current_step_index: Option<i32>,
    /// Max traffic weight (100 unless `trafficRouting.maxTrafficWeight`).
    pub max_weight: i32,
    /// `status.promoteFull`.
    pub promote_full: bool,
    /// `status.stableRS` is non-empty.
    pub has_stable_rs: bool,
    /// `status.currentPodHash == status.stableRS`.
    pub current_is_stable: bool,
    /// `status.abort`.
    pub aborted: bool,
    /// Traffic routing is configured.
    pub traffic_routed: bool,
    /// `dynamicStableScale`.
    pub dynamic_stable_scale: bool,
    /// Resolved abort scale-down delay (`None` = never scale down, see
    /// [`super::scale_down::abort_scale_down_delay`]).
    pub abort_scale_down_delay: Option<Duration>,
    /// `abortScaleDownDelaySeconds` was set explicitly in the spec.
    pub abort_scale_down_delay_explicit: bool,
    /// `spec.replicas`.
    pub replicas: i32,
    /// Available pods of the stable RS (for the dynamic abort step-down); `None` without one.
    pub stable_available: Option<i32>,
    /// Available pods of the canary RS (for the dynamic abort step-down); `None` without one.
    pub canary_available: Option<i32>,
}

/// The canary's desired size source (spec §4.0, `GetCanaryReplicasOrWeight`):
///
/// 1. full promotion, no stable yet, or the current template is the stable one → max weight;
/// 2. an applicable `setCanaryScale` (traffic routing only) → its replicas or weight;
/// 3. aborted with `dynamicStableScale` → the step-down weight ([`traffic_routed::abort_step_down_weight`]);
/// 4. otherwise the `setWeight` in force (0 when aborted, max weight past the last step).
pub fn desired_canary_target(input: &DesiredCanaryInput<'_>) -> CanaryTarget {
    if input.promote_full || !input.has_stable_rs || input.current_is_stable {
        return CanaryTarget::Weight(input.max_weight);
    }
    if let Some(scale) = canary_steps::applicable_set_canary_scale(
        input.steps,
        input.current_step_index,
        input.traffic_routed,
        input.aborted,
        input.abort_scale_down_delay,
    ) {
        if let Some(replicas) = scale.replicas {
            return CanaryTarget::Replicas(replicas);
        }
        if let Some(weight) = scale.weight {
            return CanaryTarget::Weight(weight);
        }
    }
    if input.aborted && input.traffic_routed && input.dynamic_stable_scale {
        return CanaryTarget::Weight(traffic_routed::abort_step_down_weight(
            &traffic_routed::AbortStepDownInput {
                steps: input.steps,
                replicas: input.replicas,
                max_weight: input.max_weight,
                stable_available: input.stable_available,
                canary_available: input.canary_available,
                abort_scale_down_delay_explicit: input.abort_scale_down_delay_explicit,
            },
        ));
    }
    CanaryTarget::Weight(canary_steps::current_set_weight(
        input.steps,
        input.current_step_index,
        input.aborted,
        input.max_weight,
    ))
}

/// A (canary, stable) pod split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CanaryCounts {
    /// Pods of the new (canary) ReplicaSet.
    pub canary: i32,
    /// Pods of the stable ReplicaSet.
    pub stable: i32,
}

/// True when `canary/total` sits exactly half-way between two whole pod counts for `weight`, i.e.
/// the fractional part of `total·weight/max_weight` is exactly 0.5 (computed exactly in integers).
fn floor_ceil_tied(weight: i64, total: i64, max_weight: i64) -> bool {
    (2 * total * weight).rem_euclid(2 * max_weight) == max_weight
}

/// `approximateWeightedCanaryStableReplicaCounts` (spec §4.1 step 1): the (canary, stable) split
/// whose canary share is closest to `weight`, using `replicas` pods or — when surge is allowed —
/// `replicas + 1`. With a weight strictly between 0 and max and at least two pods (surge included)
/// both sides get at least one pod. Comparisons are done in exact integer arithmetic.
pub fn approximate_weighted_split(
    replicas: i32,
    weight: i32,
    max_surge: i32,
    max_weight: i32,
) -> CanaryCounts {
    if replicas <= 0 {
        return CanaryCounts::default();
    }
    let max_w = i64::from(if max_weight > 0 { max_weight } else { 100 });
    let r = i64::from(clamp_pod_count(replicas));
    let w = i64::from(weight.clamp(0, max_weight.max(0)));
    let product = r * w;
    let ceil = (product + max_w - 1).div_euclid(max_w);
    let floor = product.div_euclid(max_w);
    let zero_allowed = w == max_w || w == 0 || (r == 1 && max_surge == 0);

    let mut options: Vec<(i64, i64)> = Vec::with_capacity(4);
    if ceil < r || zero_allowed {
        options.push((ceil, r));
    }
    if !floor_ceil_tied(w, r, max_w) && (floor != 0 || zero_allowed) {
        options.push((floor, r));
    }
    if max_surge > 0 {
        options.push((ceil, r + 1));
        if !floor_ceil_tied(w, r + 1, max_w) && (floor != 0 || zero_allowed) {
            options.push((floor, r + 1));
        }
    }
    // |canary·MAXW/total − w| = |canary·MAXW − w·total| / total; compare fractions by
    // cross-multiplying. Strict `<` keeps the earlier option on ties, as the reference does.
    let delta = |(canary, total): (i64, i64)| {
        let (canary, total, max_w, w) = (
            i128::from(canary),
            i128::from(total),
            i128::from(max_w),
            i128::from(w),
        );
        ((canary * max_w - w * total).abs(), total)
    };
    let Some(mut best) = options.first().copied() else {
        // Unreachable with the rules above; the reference falls back to "all stable".
        return CanaryCounts {
            canary: 0,
            stable: replicas,
        };
    };
    for option in options.into_iter().skip(1) {
        let (num_o, den_o) = delta(option);
        let (num_b, den_b) = delta(best);
        if num_o * den_b < num_b * den_o {
            best = option;
        }
    }
    CanaryCounts {
        canary: best.0 as i32,
        stable: (best.1 - best.0) as i32,
    }
}

/// Inputs of [`basic_canary_replica_counts`].
#[derive(Debug, Clone, Copy)]
pub struct BasicCanaryInput {
    /// `spec.replicas`.
    pub replicas: i32,
    /// Desired canary weight out of 100 (basic canary has no `maxTrafficWeight`).
    pub weight: i32,
    /// Resolved `maxSurge`/`maxUnavailable`.
    pub fenceposts: Fenceposts,
    /// The new ReplicaSet, if it exists.
    pub new_rs: Option<ReplicaSetSize>,
    /// The stable ReplicaSet when it exists **and differs from the new one**; pass `None` for an
    /// initial deploy or when the new RS is the stable RS.
    pub stable_rs: Option<ReplicaSetSize>,
    /// Σ `spec.replicas` of all other (older/intermediate) ReplicaSets.
    pub other_rs_spec_total: i32,
}

/// `GetReplicasForScaleDown`: pods of `rs` that count towards availability when deciding how much
/// may be scaled down. A RS already shrinking (spec < available) counts its spec; `ignore_availability`
/// counts the spec even when pods are not available (so a crash-looping RS can still be drained).
fn countable_for_scale_down(rs: Option<ReplicaSetSize>, ignore_availability: bool) -> i32 {
    match rs {
        None => 0,
        Some(rs) if rs.spec < rs.available || ignore_availability => rs.spec,
        Some(rs) => rs.available,
    }
}

/// `adjustReplicaWithinLimits`: after the drained RS was lowered, trim the other ("adjust") RS so
/// the total stays within `replicas + maxSurge`, give back to it whatever availability the trim
/// would cost below `min_available`, then trim the drained RS by any overflow that remains.
/// Returns `(drain_count, adjust_count)`.
fn adjust_within_limits(
    drain_rs: Option<ReplicaSetSize>,
    adjust_rs: Option<ReplicaSetSize>,
    mut drain_count: i32,
    mut adjust_count: i32,
    max_total: i32,
    min_available: i32,
) -> (i32, i32) {
    let over_limit = (adjust_count + drain_count - max_total).max(0);
    let mut total_available = drain_rs.map_or(0, |rs| rs.available.min(drain_count));
    if let Some(adjust) = adjust_rs {
        adjust_count -= over_limit;
        total_available += adjust.available.min(adjust_count);
        let availability_lost = (adjust.available - adjust_count).max(0);
        let still_needed = (min_available - total_available).max(0);
        adjust_count += availability_lost.min(still_needed);
        let over_limit = (adjust_count + drain_count - max_total).max(0);
        drain_count -= over_limit;
    }
    (drain_count, adjust_count)
}

/// `CalculateReplicaCountsForBasicCanary` (spec §4.1): the next (canary, stable) spec counts for a
/// canary without traffic routing. Moves towards the weighted split while honouring `maxSurge`
/// (total never above `replicas + maxSurge`) and `maxUnavailable` (available pods never planned
/// below `replicas − maxUnavailable`); older ReplicaSets must drain before new or stable shrink.
/// The caller applies the stable count first and recomputes after any change (§4.1 step 7).
pub fn basic_canary_replica_counts(input: &BasicCanaryInput) -> CanaryCounts {
    let input = BasicCanaryInput {
        replicas: clamp_pod_count(input.replicas),
        weight: input.weight,
        fenceposts: Fenceposts {
            max_surge: clamp_pod_count(input.fenceposts.max_surge),
            max_unavailable: clamp_pod_count(input.fenceposts.max_unavailable),
        },
        new_rs: input.new_rs.map(ReplicaSetSize::clamped),
        stable_rs: input.stable_rs.map(ReplicaSetSize::clamped),
        other_rs_spec_total: clamp_pod_count(input.other_rs_spec_total),
    };
    let replicas = input.replicas;
    let surge = input.fenceposts.max_surge;
    let mut desired = approximate_weighted_split(replicas, input.weight, surge, 100);
    let stable_rs = input.stable_rs;
    if stable_rs.is_none() {
        // Initial deploy or new == stable: the canary simply becomes everything.
        desired = CanaryCounts {
            canary: replicas,
            stable: 0,
        };
    }
    let mut canary = input.new_rs.map_or(0, |rs| rs.spec);
    let mut stable = stable_rs.map_or(0, |rs| rs.spec);

    let max_total = replicas + surge;
    let current_total = input.other_rs_spec_total + canary + stable;
    let mut scale_up = max_total - current_total;

    if let Some(rs) = stable_rs
        && rs.spec < desired.stable
        && scale_up > 0
    {
        stable = desired.stable.min(rs.spec + scale_up);
        scale_up -= stable - rs.spec;
    }
    if let Some(rs) = input.new_rs
        && rs.spec < desired.canary
        && scale_up > 0
    {
        canary = desired.canary.min(rs.spec + scale_up);
    }

    if input.other_rs_spec_total > 0 {
        // Older ReplicaSets are scaled down first (§4.4) before new or stable may shrink.
        return CanaryCounts { canary, stable };
    }

    let min_available = replicas - input.fenceposts.max_unavailable;
    // Growing the canary: stable pods may be drained regardless of availability. Shrinking the
    // canary (lower weight, abort): canary pods may be drained regardless of availability.
    let increasing = input.new_rs.is_none_or(|rs| desired.canary >= rs.spec);
    let countable = countable_for_scale_down(input.new_rs, !increasing)
        + countable_for_scale_down(stable_rs, increasing);
    if countable <= min_available {
        return CanaryCounts { canary, stable };
    }
    let scale_down = countable - min_available;

    if !increasing {
        if let Some(rs) = input.new_rs
            && rs.spec > desired.canary
        {
            canary = desired.canary.max(rs.spec - scale_down);
        }
        let (c, s) = adjust_within_limits(
            input.new_rs,
            stable_rs,
            canary,
            stable,
            max_total,
            min_available,
        );
        canary = c;
        stable = s;
    } else if let Some(rs) = stable_rs {
        if rs.spec > desired.stable {
            stable = desired.stable.max(rs.spec - scale_down);
        }
        let (s, c) = adjust_within_limits(
            stable_rs,
            input.new_rs,
            stable,
            canary,
            max_total,
            min_available,
        );
        stable = s;
        canary = c;
    }
    CanaryCounts { canary, stable }
}

/// `replicaProgressThreshold`: how much of the desired canary must be available for a step to
/// count as reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaProgressThreshold {
    /// `type: Percent`: available/desired·100 ≥ value.
    Percent(i32),
    /// `type: Pods`: at least `value` available pods (never more than desired).
    Pods(i32),
}

/// Whether the new RS has reached `desired` pods: spec must equal desired; availability must be
/// complete, or meet the configured progress threshold.
pub fn new_rs_progress_met(
    new_rs: Option<ReplicaSetSize>,
    desired: i32,
    threshold: Option<ReplicaProgressThreshold>,
) -> bool {
    let Some(rs) = new_rs else {
        return false;
    };
    if rs.spec != desired {
        return false;
    }
    match threshold {
        None => rs.available == desired,
        Some(ReplicaProgressThreshold::Percent(pct)) => {
            i64::from(rs.available) * 100 >= i64::from(pct) * i64::from(desired)
        }
        Some(ReplicaProgressThreshold::Pods(pods)) => rs.available >= pods.min(desired),
    }
}

/// Inputs of [`at_desired_replica_counts`].
#[derive(Debug, Clone, Copy)]
pub struct AtDesiredInput {
    /// Desired counts from the strategy's formula (basic or traffic-routed).
    pub desired: CanaryCounts,
    /// The new ReplicaSet.
    pub new_rs: Option<ReplicaSetSize>,
    /// The stable ReplicaSet (the same sizes as `new_rs` when they are one RS).
    pub stable_rs: Option<ReplicaSetSize>,
    /// Σ available pods of other ReplicaSets.
    pub other_rs_available_total: i32,
    /// Traffic routing is configured.
    pub traffic_routed: bool,
    /// `dynamicStableScale`.
    pub dynamic_stable_scale: bool,
    /// `replicaProgressThreshold`.
    pub progress_threshold: Option<ReplicaProgressThreshold>,
}

/// `AtDesiredReplicaCountsForCanary` (spec §3.5): the new RS meets its desired count (see
/// [`new_rs_progress_met`]); unless traffic-routed with `dynamicStableScale`, the stable RS has
/// exactly the desired pods created (spec and `status.replicas`); a basic canary also needs every
/// other RS to have no available pods (they would still receive traffic).
pub fn at_desired_replica_counts(input: &AtDesiredInput) -> bool {
    if !new_rs_progress_met(input.new_rs, input.desired.canary, input.progress_threshold) {
        return false;
    }
    if !(input.traffic_routed && input.dynamic_stable_scale) {
        let stable_created = input
            .stable_rs
            .is_some_and(|rs| rs.spec == input.desired.stable && rs.status == input.desired.stable);
        if !stable_created {
            return false;
        }
    }
    input.traffic_routed || input.other_rs_available_total == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::canary_steps::SetCanaryScale;

    fn fp(max_surge: i32, max_unavailable: i32) -> Fenceposts {
        Fenceposts {
            max_surge,
            max_unavailable,
        }
    }

    /// The approximation examples of spec §4.1 plus our own edge cases.
    #[test]
    fn approximate_weighted_new_stable_replica_counts() {
        // (R, w, surge) ⇒ (canary, stable)
        let cases = [
            (10, 41, 0, 4, 6),
            (10, 25, 3, 3, 8),
            (4, 25, 1, 1, 3),
            (3, 20, 1, 1, 3),
            (1, 50, 1, 1, 1),
            (1, 49, 0, 0, 1),
            (1, 50, 0, 1, 0),
            (10, 1, 1, 1, 10),
            // Own edge cases.
            (0, 50, 1, 0, 0),
            (10, 0, 1, 0, 10),
            (10, 100, 1, 10, 0),
            (1, 100, 0, 1, 0),
            (1, 0, 0, 0, 1),
            (3, 50, 0, 2, 1), // tied: 1.5 ⇒ ceil is the only option
            (2, 50, 0, 1, 1),
            (10, 5, 0, 1, 9),  // tied at 0.5 ⇒ never 0 canaries
            (10, 99, 0, 9, 1), // never 0 stable for 1..99
            (8, 25, 2, 2, 6),  // S1: scale a paused canary to 8
            (4, 25, 1, 1, 3),  // S1: back to 4
            (4, 20, 1, 1, 4),  // S9-like: 1/5 = 20 % with surge
            (3, 20, 1, 1, 3),  // S9: 1/4 ≈ 20 % with surge 1
            (1, 20, 1, 1, 1),
        ];
        for (r, w, s, canary, stable) in cases {
            assert_eq!(
                approximate_weighted_split(r, w, s, 100),
                CanaryCounts { canary, stable },
                "R={r} w={w} surge={s}"
            );
        }
    }

    struct Row {
        name: &'static str,
        replicas: i32,
        weight: i32,
        surge: i32,
        unavailable: i32,
        stable: Option<(i32, i32)>,
        canary: Option<(i32, i32)>,
        other_spec: i32,
        want: (i32, i32),
    }

    fn run(rows: &[Row]) {
        for row in rows {
            let got = basic_canary_replica_counts(&BasicCanaryInput {
                replicas: row.replicas,
                weight: row.weight,
                fenceposts: fp(row.surge, row.unavailable),
                new_rs: row
                    .canary
                    .map(|(s, a)| ReplicaSetSize::with_available(s, a)),
                stable_rs: row
                    .stable
                    .map(|(s, a)| ReplicaSetSize::with_available(s, a)),
                other_rs_spec_total: row.other_spec,
            });
            assert_eq!(
                (got.canary, got.stable),
                row.want,
                "{}: (canary, stable)",
                row.name
            );
        }
    }

    /// TestCalculateReplicaCountsForCanary vectors as listed in spec §4.1 (columns R, w, S, U,
    /// stable spec/avail, canary spec/avail ⇒ canary, stable).
    #[test]
    fn calculate_replica_counts_for_canary_spec_vectors() {
        #[rustfmt::skip]
        let rows = [
            Row { name: "10,20,2,0 scale up canary within surge", replicas: 10, weight: 20, surge: 2, unavailable: 0, stable: Some((10, 10)), canary: Some((0, 0)), other_spec: 0, want: (2, 10) },
            // maxSurge "20%" of 10 = 2.
            Row { name: "10,20,20%,0 scale down stable once canary available", replicas: 10, weight: 20, surge: 2, unavailable: 0, stable: Some((10, 10)), canary: Some((2, 2)), other_spec: 0, want: (2, 8) },
            Row { name: "10,30,2,0 canary limited by surge", replicas: 10, weight: 30, surge: 2, unavailable: 0, stable: Some((10, 10)), canary: Some((0, 0)), other_spec: 0, want: (2, 10) },
            Row { name: "10,20,0,2 no surge: stable first", replicas: 10, weight: 20, surge: 0, unavailable: 2, stable: Some((10, 10)), canary: Some((0, 0)), other_spec: 0, want: (0, 8) },
            Row { name: "10,50,2,1 surge and unavailable together", replicas: 10, weight: 50, surge: 2, unavailable: 1, stable: Some((10, 10)), canary: Some((0, 0)), other_spec: 0, want: (2, 9) },
            Row { name: "10,0,1,1 weight 0 keeps stable", replicas: 10, weight: 0, surge: 1, unavailable: 1, stable: Some((10, 10)), canary: Some((1, 1)), other_spec: 0, want: (0, 10) },
            Row { name: "1,20,1,0 one pod surges", replicas: 1, weight: 20, surge: 1, unavailable: 0, stable: Some((1, 1)), canary: Some((0, 0)), other_spec: 0, want: (1, 1) },
            Row { name: "1,51,0,1 one pod no surge", replicas: 1, weight: 51, surge: 0, unavailable: 1, stable: Some((1, 1)), canary: Some((0, 0)), other_spec: 0, want: (0, 0) },
            Row { name: "10,5,0,1 first pass drains stable", replicas: 10, weight: 5, surge: 0, unavailable: 1, stable: Some((10, 10)), canary: Some((0, 0)), other_spec: 0, want: (0, 9) },
            Row { name: "10,5,0,1 second pass adds canary", replicas: 10, weight: 5, surge: 0, unavailable: 1, stable: Some((9, 9)), canary: Some((0, 0)), other_spec: 0, want: (1, 9) },
            Row { name: "4,0,1,0 surge stable first", replicas: 4, weight: 0, surge: 1, unavailable: 0, stable: Some((0, 0)), canary: Some((4, 4)), other_spec: 0, want: (4, 1) },
            Row { name: "4,0,1,0 then shrink canary", replicas: 4, weight: 0, surge: 1, unavailable: 0, stable: Some((1, 1)), canary: Some((4, 4)), other_spec: 0, want: (3, 1) },
            // "0%"/"0%" resolves to surge 0, unavailable forced to 1.
            Row { name: "10,10,0%,0% unavailable forced to 1", replicas: 10, weight: 10, surge: 0, unavailable: 1, stable: Some((10, 10)), canary: Some((0, 0)), other_spec: 0, want: (0, 9) },
            // promoteFull ⇒ desired weight 100.
            Row { name: "promoteFull 4,4,4", replicas: 4, weight: 100, surge: 4, unavailable: 4, stable: Some((4, 4)), canary: Some((0, 0)), other_spec: 0, want: (4, 0) },
            Row { name: "promoteFull 4,3,0", replicas: 4, weight: 100, surge: 3, unavailable: 0, stable: Some((4, 4)), canary: Some((0, 0)), other_spec: 0, want: (3, 4) },
        ];
        run(&rows);
    }

    /// Replica numbers of the basic-canary conformance scenarios (spec §8 S1–S5, S9), one
    /// reconcile at a time as the controller would see them.
    #[test]
    fn basic_canary_scenarios() {
        #[rustfmt::skip]
        let rows = [
            // S1: R=1 paused at setWeight 25 (default 25 %/25 % ⇒ surge 1, unavailable 0): 1/1.
            Row { name: "S1 R=1 paused at 25%", replicas: 1, weight: 25, surge: 1, unavailable: 0, stable: Some((1, 1)), canary: Some((0, 0)), other_spec: 0, want: (1, 1) },
            // S1: scale to R=8 (surge 2, unavailable 2): both grow within the surge at once.
            Row { name: "S1 scale to 8", replicas: 8, weight: 25, surge: 2, unavailable: 2, stable: Some((1, 1)), canary: Some((1, 1)), other_spec: 0, want: (2, 6) },
            Row { name: "S1 scale to 8, settled", replicas: 8, weight: 25, surge: 2, unavailable: 2, stable: Some((6, 6)), canary: Some((2, 2)), other_spec: 0, want: (2, 6) },
            // S1: back to R=4 (surge 1, unavailable 1) ⇒ 1/3 in two passes: the canary is cut
            // first and the stable trimmed to the surge limit, then the stable drains.
            Row { name: "S1 scale back to 4, first pass", replicas: 4, weight: 25, surge: 1, unavailable: 1, stable: Some((6, 6)), canary: Some((2, 2)), other_spec: 0, want: (1, 4) },
            Row { name: "S1 scale back to 4, second pass", replicas: 4, weight: 25, surge: 1, unavailable: 1, stable: Some((4, 4)), canary: Some((1, 1)), other_spec: 0, want: (1, 3) },
            // S2: no steps, maxSurge 100 % (4), default unavailable 1: canary 4, stable 3.
            Row { name: "S2 maxSurge 100%", replicas: 4, weight: 100, surge: 4, unavailable: 1, stable: Some((4, 4)), canary: Some((0, 0)), other_spec: 0, want: (4, 3) },
            // S3: crashing canary (never available), surge 2, unavailable 0 ⇒ 2/4 and stuck.
            Row { name: "S3 crashing canary", replicas: 4, weight: 100, surge: 2, unavailable: 0, stable: Some((4, 4)), canary: Some((2, 0)), other_spec: 0, want: (2, 4) },
            Row { name: "S3 scale to 8", replicas: 8, weight: 100, surge: 2, unavailable: 0, stable: Some((4, 4)), canary: Some((2, 0)), other_spec: 0, want: (6, 4) },
            Row { name: "S3 back to 4", replicas: 4, weight: 100, surge: 2, unavailable: 0, stable: Some((4, 4)), canary: Some((6, 0)), other_spec: 0, want: (2, 4) },
            // S4: setWeight 0 after 100 with surge 2, unavailable 0: stable surges first.
            Row { name: "S4 weight back to 0", replicas: 3, weight: 0, surge: 2, unavailable: 0, stable: Some((0, 0)), canary: Some((3, 3)), other_spec: 0, want: (3, 2) },
            // S5: crashing canary with surge 1 / unavailable 0 ⇒ canary 1, stable 4.
            Row { name: "S5 good to bad", replicas: 4, weight: 100, surge: 1, unavailable: 0, stable: Some((4, 4)), canary: Some((0, 0)), other_spec: 0, want: (1, 4) },
            // S9: R=3, setWeight 20, rev2 abandoned with 1 pod: older RSs drain before anything
            // shrinks; rev3 gets nothing while the budget is used up.
            Row { name: "S9 intermediate still up", replicas: 3, weight: 20, surge: 1, unavailable: 0, stable: Some((3, 3)), canary: Some((0, 0)), other_spec: 1, want: (0, 3) },
            Row { name: "S9 intermediate drained", replicas: 3, weight: 20, surge: 1, unavailable: 0, stable: Some((3, 3)), canary: Some((0, 0)), other_spec: 0, want: (1, 3) },
        ];
        run(&rows);
    }

    #[test]
    fn basic_canary_edge_cases() {
        #[rustfmt::skip]
        let rows = [
            Row { name: "initial deploy: no stable, canary gets everything", replicas: 5, weight: 20, surge: 2, unavailable: 1, stable: None, canary: Some((0, 0)), other_spec: 0, want: (5, 0) },
            Row { name: "zero replicas", replicas: 0, weight: 50, surge: 0, unavailable: 0, stable: Some((0, 0)), canary: Some((0, 0)), other_spec: 0, want: (0, 0) },
            Row { name: "scale to zero drains within availability", replicas: 0, weight: 50, surge: 0, unavailable: 0, stable: Some((3, 3)), canary: Some((1, 1)), other_spec: 0, want: (0, 0) },
            Row { name: "weight 100 completes the canary", replicas: 4, weight: 100, surge: 1, unavailable: 1, stable: Some((3, 3)), canary: Some((1, 1)), other_spec: 0, want: (2, 2) },
            Row { name: "no new RS yet: stable untouched up to surge", replicas: 4, weight: 50, surge: 1, unavailable: 0, stable: Some((4, 4)), canary: None, other_spec: 0, want: (0, 4) },
            Row { name: "unavailable stable blocks drain (pitfall 9.4)", replicas: 4, weight: 50, surge: 0, unavailable: 1, stable: Some((4, 2)), canary: Some((0, 0)), other_spec: 0, want: (0, 3) },
            Row { name: "abort: canary drained ignoring its availability", replicas: 4, weight: 0, surge: 1, unavailable: 1, stable: Some((4, 4)), canary: Some((2, 0)), other_spec: 0, want: (0, 4) },
            Row { name: "huge surge", replicas: 2, weight: 50, surge: 100, unavailable: 0, stable: Some((2, 2)), canary: Some((0, 0)), other_spec: 0, want: (1, 2) },
            Row { name: "full unavailability", replicas: 4, weight: 50, surge: 0, unavailable: 4, stable: Some((4, 4)), canary: Some((0, 0)), other_spec: 0, want: (0, 2) },
            Row { name: "older RS uses the surge budget", replicas: 4, weight: 50, surge: 1, unavailable: 1, stable: Some((4, 4)), canary: Some((0, 0)), other_spec: 1, want: (0, 4) },
        ];
        run(&rows);
    }

    fn target(steps: &[CanaryStep], index: Option<i32>) -> DesiredCanaryInput<'_> {
        DesiredCanaryInput {
            steps,
            current_step_index: index,
            max_weight: 100,
            promote_full: false,
            has_stable_rs: true,
            current_is_stable: false,
            aborted: false,
            traffic_routed: false,
            dynamic_stable_scale: false,
            abort_scale_down_delay: Some(Duration::from_secs(30)),
            abort_scale_down_delay_explicit: false,
            replicas: 10,
            stable_available: Some(10),
            canary_available: Some(0),
        }
    }

    #[test]
    fn desired_canary_target_table() {
        let steps = [
            CanaryStep::SetWeight(10),
            CanaryStep::SetCanaryScale(SetCanaryScale {
                replicas: Some(9),
                ..Default::default()
            }),
            CanaryStep::SetWeight(20),
        ];
        let base = target(&steps, Some(2));
        let cases: &[(&str, DesiredCanaryInput<'_>, CanaryTarget)] = &[
            ("setWeight in force", base, CanaryTarget::Weight(20)),
            (
                "promoteFull",
                DesiredCanaryInput {
                    promote_full: true,
                    ..base
                },
                CanaryTarget::Weight(100),
            ),
            (
                "no stable",
                DesiredCanaryInput {
                    has_stable_rs: false,
                    ..base
                },
                CanaryTarget::Weight(100),
            ),
            (
                "current is stable",
                DesiredCanaryInput {
                    current_is_stable: true,
                    max_weight: 1000,
                    ..base
                },
                CanaryTarget::Weight(1000),
            ),
            (
                "aborted",
                DesiredCanaryInput {
                    aborted: true,
                    ..base
                },
                CanaryTarget::Weight(0),
            ),
            (
                "setCanaryScale ignored without traffic routing",
                base,
                CanaryTarget::Weight(20),
            ),
            (
                "setCanaryScale replicas",
                DesiredCanaryInput {
                    traffic_routed: true,
                    ..base
                },
                CanaryTarget::Replicas(9),
            ),
            (
                "setCanaryScale ignored when aborted",
                DesiredCanaryInput {
                    traffic_routed: true,
                    aborted: true,
                    ..base
                },
                CanaryTarget::Weight(0),
            ),
            (
                "setCanaryScale kept when abort delay is 0",
                DesiredCanaryInput {
                    traffic_routed: true,
                    aborted: true,
                    abort_scale_down_delay: None,
                    ..base
                },
                CanaryTarget::Replicas(9),
            ),
            (
                "past last step",
                DesiredCanaryInput {
                    current_step_index: Some(3),
                    ..base
                },
                CanaryTarget::Weight(100),
            ),
            (
                "first step",
                DesiredCanaryInput {
                    current_step_index: Some(0),
                    ..base
                },
                CanaryTarget::Weight(10),
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(desired_canary_target(input), *want, "{name}");
        }
        assert_eq!(CanaryTarget::Replicas(9).weight(), 0);
        assert_eq!(CanaryTarget::Weight(30).weight(), 30);
    }

    #[test]
    fn desired_target_dynamic_abort_steps_down() {
        // S18 shape: R=4, steps [25, pause, 75, pause], aborted with 1 stable pod available.
        let steps = [
            CanaryStep::SetWeight(25),
            CanaryStep::Pause(None),
            CanaryStep::SetWeight(75),
            CanaryStep::Pause(None),
        ];
        let input = DesiredCanaryInput {
            traffic_routed: true,
            dynamic_stable_scale: true,
            aborted: true,
            abort_scale_down_delay: Some(Duration::from_secs(30)),
            replicas: 4,
            stable_available: Some(1),
            canary_available: Some(3),
            ..target(&steps, Some(0))
        };
        assert_eq!(desired_canary_target(&input), CanaryTarget::Weight(25));
    }

    #[test]
    fn progress_threshold() {
        let rs = |spec, available| Some(ReplicaSetSize::with_available(spec, available));
        let pct80 = Some(ReplicaProgressThreshold::Percent(80));
        // TestCheckReplicasAvailableWithReplicaProgressThreshold shapes: desired 5.
        assert!(new_rs_progress_met(rs(5, 4), 5, pct80));
        assert!(!new_rs_progress_met(rs(5, 3), 5, pct80));
        assert!(!new_rs_progress_met(rs(5, 4), 5, None));
        assert!(new_rs_progress_met(rs(5, 5), 5, None));
        assert!(new_rs_progress_met(
            rs(5, 2),
            5,
            Some(ReplicaProgressThreshold::Pods(2))
        ));
        assert!(new_rs_progress_met(
            rs(1, 1),
            1,
            Some(ReplicaProgressThreshold::Pods(3))
        ));
        assert!(
            !new_rs_progress_met(rs(4, 4), 5, None),
            "spec must be at desired"
        );
        assert!(!new_rs_progress_met(None, 0, None));
    }

    #[test]
    fn at_desired_replica_counts_table() {
        let settled = |n| Some(ReplicaSetSize::settled(n));
        let base = AtDesiredInput {
            desired: CanaryCounts {
                canary: 1,
                stable: 9,
            },
            new_rs: settled(1),
            stable_rs: settled(9),
            other_rs_available_total: 0,
            traffic_routed: false,
            dynamic_stable_scale: false,
            progress_threshold: None,
        };
        let cases: &[(&str, AtDesiredInput, bool)] = &[
            ("basic at desired", base, true),
            (
                "canary not yet available",
                AtDesiredInput {
                    new_rs: Some(ReplicaSetSize::with_available(1, 0)),
                    ..base
                },
                false,
            ),
            (
                "stable pods still terminating",
                AtDesiredInput {
                    stable_rs: Some(ReplicaSetSize {
                        spec: 9,
                        status: 10,
                        available: 10,
                    }),
                    ..base
                },
                false,
            ),
            (
                "basic: older RS still available",
                AtDesiredInput {
                    other_rs_available_total: 1,
                    ..base
                },
                false,
            ),
            (
                "routed: older RS may stay up",
                AtDesiredInput {
                    other_rs_available_total: 1,
                    traffic_routed: true,
                    ..base
                },
                true,
            ),
            (
                "dynamic: stable not checked",
                AtDesiredInput {
                    traffic_routed: true,
                    dynamic_stable_scale: true,
                    stable_rs: settled(3),
                    ..base
                },
                true,
            ),
            (
                "no new RS",
                AtDesiredInput {
                    new_rs: None,
                    ..base
                },
                false,
            ),
            (
                "stable missing",
                AtDesiredInput {
                    stable_rs: None,
                    ..base
                },
                false,
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(at_desired_replica_counts(input), *want, "{name}");
        }
    }

    /// Drives [`basic_canary_replica_counts`] the way the controller does (stable first, one RS
    /// resized per pass, pods become available between passes) and returns the settled counts,
    /// checking on every pass that the surge and availability bounds hold.
    fn settle(
        replicas: i32,
        weight: i32,
        fenceposts: Fenceposts,
        stable: i32,
        canary: i32,
    ) -> (i32, i32, usize) {
        let mut stable_rs = ReplicaSetSize::settled(stable);
        let mut new_rs = ReplicaSetSize::settled(canary);
        for pass in 0..100 {
            let want = basic_canary_replica_counts(&BasicCanaryInput {
                replicas,
                weight,
                fenceposts,
                new_rs: Some(new_rs),
                stable_rs: Some(stable_rs),
                other_rs_spec_total: 0,
            });
            if want.stable != stable_rs.spec {
                stable_rs.spec = want.stable;
                stable_rs.available = stable_rs.available.min(want.stable);
            } else if want.canary != new_rs.spec {
                new_rs.spec = want.canary;
                new_rs.available = new_rs.available.min(want.canary);
            } else {
                return (new_rs.spec, stable_rs.spec, pass);
            }
            let ctx = format!("R={replicas} w={weight} {fenceposts:?} pass {pass}");
            assert!(
                new_rs.spec + stable_rs.spec <= replicas + fenceposts.max_surge,
                "surge exceeded: {ctx}"
            );
            assert!(
                new_rs.available + stable_rs.available >= replicas - fenceposts.max_unavailable,
                "availability broken: {ctx}"
            );
            // Pods started this pass become available before the next one.
            stable_rs.available = stable_rs.spec;
            new_rs.available = new_rs.spec;
        }
        panic!("R={replicas} w={weight} {fenceposts:?} did not settle");
    }

    /// Property check over a grid of sizes, weights and fenceposts: starting from a fully stable
    /// rollout, the stepping settles on the weighted split without breaking maxSurge or
    /// maxUnavailable, and going back to weight 0 restores the stable.
    #[test]
    fn basic_canary_settles_within_bounds() {
        let fenceposts = [(1, 0), (0, 1), (1, 1), (2, 0), (3, 2), (0, 3), (10, 0)];
        for replicas in 1..=10 {
            for weight in [0, 1, 5, 10, 20, 25, 33, 50, 75, 99, 100] {
                for (surge, unavailable) in fenceposts {
                    let fp = fp(surge, unavailable.min(replicas));
                    let target = approximate_weighted_split(replicas, weight, surge, 100);
                    let (canary, stable, _) = settle(replicas, weight, fp, replicas, 0);
                    assert_eq!(
                        (canary, stable),
                        (target.canary, target.stable),
                        "R={replicas} w={weight} surge={surge} unavailable={unavailable}"
                    );
                    let (canary, stable, _) = settle(replicas, 0, fp, stable, canary);
                    assert_eq!((canary, stable), (0, replicas), "abort back to stable");
                }
            }
        }
    }

    /// S4 TestReduceWeightAndHonorMaxUnavailable (R=3, maxSurge 2, maxUnavailable 0): the path
    /// from setWeight 100 back to 0 passes through canary 3 / stable 2.
    #[test]
    fn reduce_weight_and_honor_max_unavailable() {
        let fp = fp(2, 0);
        let up = settle(3, 100, fp, 3, 0);
        assert_eq!((up.0, up.1), (3, 0));
        let first = basic_canary_replica_counts(&BasicCanaryInput {
            replicas: 3,
            weight: 0,
            fenceposts: fp,
            new_rs: Some(ReplicaSetSize::settled(3)),
            stable_rs: Some(ReplicaSetSize::settled(0)),
            other_rs_spec_total: 0,
        });
        assert_eq!((first.canary, first.stable), (3, 2));
        let down = settle(3, 0, fp, 0, 3);
        assert_eq!((down.0, down.1), (0, 3));
    }

    /// The full row set of the reference's TestApproximateWeightedNewStableReplicaCounts (spec §8
    /// "worth porting verbatim"), restated as (R, w, surge) ⇒ (canary, stable).
    #[test]
    fn approximate_weighted_new_stable_replica_counts_reference_table() {
        #[rustfmt::skip]
        let rows = [
            (0, 0, 0, 0, 0), (0, 50, 0, 0, 0), (0, 100, 0, 0, 0),
            (0, 0, 1, 0, 0), (0, 50, 1, 0, 0), (0, 100, 1, 0, 0),
            (1, 0, 0, 0, 1), (1, 1, 0, 0, 1), (1, 49, 0, 0, 1), (1, 50, 0, 1, 0), (1, 99, 0, 1, 0), (1, 100, 0, 1, 0),
            (1, 0, 1, 0, 1), (1, 1, 1, 1, 1), (1, 49, 1, 1, 1), (1, 50, 1, 1, 1), (1, 99, 1, 1, 1), (1, 100, 1, 1, 0),
            (2, 0, 0, 0, 2), (2, 1, 0, 1, 1), (2, 50, 0, 1, 1), (2, 99, 0, 1, 1), (2, 100, 0, 2, 0),
            (2, 0, 1, 0, 2), (2, 1, 1, 1, 2), (2, 50, 1, 1, 1), (2, 99, 1, 2, 1), (2, 100, 1, 2, 0),
            (3, 10, 0, 1, 2), (3, 25, 0, 1, 2), (3, 33, 0, 1, 2), (3, 34, 0, 1, 2), (3, 49, 0, 1, 2), (3, 50, 0, 2, 1),
            (3, 10, 1, 1, 3), (3, 25, 1, 1, 3), (3, 33, 1, 1, 2), (3, 34, 1, 1, 2), (3, 49, 1, 2, 2), (3, 50, 1, 2, 2),
            (10, 0, 1, 0, 10), (10, 1, 0, 1, 9), (10, 14, 0, 1, 9), (10, 15, 0, 2, 8), (10, 16, 0, 2, 8),
            (10, 99, 0, 9, 1), (10, 100, 1, 10, 0),
            (10, 1, 1, 1, 10), (10, 18, 1, 2, 9), (10, 19, 1, 2, 9), (10, 20, 1, 2, 8), (10, 23, 1, 2, 8),
            (10, 24, 1, 3, 8), (10, 25, 1, 3, 8), (10, 99, 1, 10, 1),
        ];
        for (r, w, s, canary, stable) in rows {
            assert_eq!(
                approximate_weighted_split(r, w, s, 100),
                CanaryCounts { canary, stable },
                "R={r} w={w} surge={s}"
            );
        }
    }

    /// The basic-canary rows of the reference's TestCalculateReplicaCountsForCanary beyond those
    /// the spec lists (the traffic-routed rows live in `traffic_routed`).
    #[test]
    fn calculate_replica_counts_for_canary_reference_rows() {
        #[rustfmt::skip]
        let rows = [
            Row { name: "spec below available is not counted twice", replicas: 10, weight: 100, surge: 3, unavailable: 0, stable: Some((7, 8)), canary: Some((6, 3)), other_spec: 0, want: (6, 7) },
            Row { name: "unavailable 20% drains stable", replicas: 10, weight: 20, surge: 0, unavailable: 2, stable: Some((10, 10)), canary: Some((0, 0)), other_spec: 0, want: (0, 8) },
            Row { name: "do not go past max unavailable", replicas: 10, weight: 30, surge: 0, unavailable: 2, stable: Some((10, 10)), canary: Some((0, 0)), other_spec: 0, want: (0, 8) },
            Row { name: "weight 100 scales stable to 0", replicas: 10, weight: 100, surge: 1, unavailable: 1, stable: Some((1, 1)), canary: Some((10, 10)), other_spec: 0, want: (10, 0) },
            Row { name: "R=1 weight 90 keeps both", replicas: 1, weight: 90, surge: 1, unavailable: 0, stable: Some((1, 1)), canary: Some((0, 0)), other_spec: 0, want: (1, 1) },
            Row { name: "stable scaled up before canary, older RS present", replicas: 10, weight: 30, surge: 1, unavailable: 0, stable: Some((1, 1)), canary: Some((0, 0)), other_spec: 3, want: (1, 7) },
            Row { name: "scale down canary and stable", replicas: 10, weight: 30, surge: 0, unavailable: 3, stable: Some((8, 5)), canary: Some((4, 4)), other_spec: 0, want: (3, 7) },
            Row { name: "scale down by available pods", replicas: 10, weight: 100, surge: 1, unavailable: 0, stable: Some((10, 2)), canary: Some((10, 8)), other_spec: 0, want: (9, 2) },
            Row { name: "older RS blocks any scale-down", replicas: 10, weight: 30, surge: 0, unavailable: 1, stable: Some((8, 6)), canary: Some((4, 2)), other_spec: 3, want: (4, 8) },
            Row { name: "surge 1 while stable unavailable", replicas: 4, weight: 100, surge: 1, unavailable: 0, stable: Some((4, 1)), canary: Some((0, 0)), other_spec: 0, want: (1, 4) },
            Row { name: "R=3 w=99 drain within unavailable", replicas: 3, weight: 99, surge: 0, unavailable: 2, stable: Some((3, 3)), canary: Some((0, 0)), other_spec: 0, want: (0, 1) },
            Row { name: "R=3 w=99 then canary", replicas: 3, weight: 99, surge: 0, unavailable: 2, stable: Some((1, 1)), canary: Some((0, 0)), other_spec: 0, want: (2, 1) },
            Row { name: "stable unavailable drains by one", replicas: 4, weight: 100, surge: 1, unavailable: 0, stable: Some((4, 1)), canary: Some((1, 1)), other_spec: 0, want: (1, 3) },
            Row { name: "reduce weight: stable not yet available", replicas: 4, weight: 0, surge: 1, unavailable: 0, stable: Some((1, 0)), canary: Some((4, 4)), other_spec: 0, want: (4, 1) },
        ];
        run(&rows);
    }
}
