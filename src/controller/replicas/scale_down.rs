//! Scaling down the ReplicaSets that are neither new nor stable, and every `scale-down-deadline`
//! decision (spec §3.7, §4.4, §4.5, §6.1): the canary rolling drain bounded by `maxUnavailable`,
//! the traffic-routed and blue-green "keep the previous stable up for `scaleDownDelaySeconds`"
//! rule with its revision limit, and the abort delay on the new RS. Deadlines are read and
//! decided here as pure functions of the annotation value and `now`; writing them is the caller's.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::{ReplicaSetSize, clamp_pod_count};

/// The ReplicaSet annotation holding the scale-down deadline (no prefix, as in the reference).
pub const SCALE_DOWN_DEADLINE_ANNOTATION: &str = "scale-down-deadline";

/// Default `scaleDownDelaySeconds` (traffic-routed canary, blue-green).
pub const DEFAULT_SCALE_DOWN_DELAY: Duration = Duration::from_secs(30);

/// Default `abortScaleDownDelaySeconds` (traffic-routed canary, blue-green).
pub const DEFAULT_ABORT_SCALE_DOWN_DELAY: Duration = Duration::from_secs(30);

/// The flavour of rollout strategy, as far as delays are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyKind {
    /// Canary without traffic routing.
    BasicCanary,
    /// Canary with a traffic router.
    TrafficRoutedCanary,
    /// Blue-green.
    BlueGreen,
}

/// A parsed `scale-down-deadline` annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleDownDeadline {
    /// A valid RFC3339 time.
    At(DateTime<Utc>),
    /// The annotation exists but is not RFC3339; the reference logs and treats it as expired.
    Unreadable,
}

/// Parses the annotation value (RFC3339, e.g. `2024-01-01T10:00:30Z`).
pub fn parse_scale_down_deadline(value: &str) -> ScaleDownDeadline {
    DateTime::parse_from_rfc3339(value.trim()).map_or(ScaleDownDeadline::Unreadable, |t| {
        ScaleDownDeadline::At(t.with_timezone(&Utc))
    })
}

/// Formats a deadline the way the reference writes it: RFC3339 UTC, whole seconds, `Z` suffix.
pub fn format_scale_down_deadline(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `now + delay`, truncated to whole seconds like the written annotation. Saturates on absurd
/// delays.
pub fn scale_down_deadline_after(now: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    let at = chrono::Duration::from_std(delay)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at)
}

/// True while a deadline lies in the future ("within scale-down delay", used for blue-green fast
/// rollback, spec §3.9).
pub fn is_within_scale_down_delay(deadline: Option<ScaleDownDeadline>, now: DateTime<Utc>) -> bool {
    matches!(deadline, Some(ScaleDownDeadline::At(at)) if at > now)
}

/// `GetScaleDownDelaySecondsOrDefault`: basic canary has no delay; traffic-routed canary and
/// blue-green default to 30 s. Negative values are treated as 0.
pub fn scale_down_delay(strategy: StrategyKind, configured_seconds: Option<i32>) -> Duration {
    match strategy {
        StrategyKind::BasicCanary => Duration::ZERO,
        StrategyKind::TrafficRoutedCanary | StrategyKind::BlueGreen => configured_seconds
            .map_or(DEFAULT_SCALE_DOWN_DELAY, |s| {
                Duration::from_secs(u64::try_from(s).unwrap_or(0))
            }),
    }
}

/// A resolved `abortScaleDownDelaySeconds` (`GetAbortScaleDownDelaySecondsOrDefault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortScaleDownDelay {
    /// `None` means "never scale the canary/preview down on abort" (explicit 0).
    pub delay: Option<Duration>,
    /// The value was written in the spec (matters for `dynamicStableScale`).
    pub explicit: bool,
}

/// Resolves `abortScaleDownDelaySeconds`: explicit 0 ⇒ never; unset ⇒ 30 s for traffic-routed
/// canary and blue-green; basic canary ⇒ immediately (0 s; it never uses the delay mechanism).
pub fn abort_scale_down_delay(
    strategy: StrategyKind,
    configured_seconds: Option<i32>,
) -> AbortScaleDownDelay {
    match (strategy, configured_seconds) {
        // The reference only reads the field with traffic routing, so it is never "explicit" here.
        (StrategyKind::BasicCanary, _) => AbortScaleDownDelay {
            delay: Some(Duration::ZERO),
            explicit: false,
        },
        (_, Some(seconds)) if seconds <= 0 => AbortScaleDownDelay {
            delay: None,
            explicit: true,
        },
        (_, Some(seconds)) => AbortScaleDownDelay {
            delay: Some(Duration::from_secs(u64::try_from(seconds).unwrap_or(0))),
            explicit: true,
        },
        (_, None) => AbortScaleDownDelay {
            delay: Some(DEFAULT_ABORT_SCALE_DOWN_DELAY),
            explicit: false,
        },
    }
}

/// `shouldDelayScaleDownOnAbort` (spec §3.7): only while aborted with a stable RS, never for a
/// basic canary, not when the delay is "never" (explicit 0), and not with `dynamicStableScale`
/// unless the delay was set explicitly (dynamic scaling shrinks the canary step by step instead).
pub fn should_delay_scale_down_on_abort(
    aborted: bool,
    stable_rs_exists: bool,
    strategy: StrategyKind,
    abort_delay: AbortScaleDownDelay,
    dynamic_stable_scale: bool,
) -> bool {
    aborted
        && stable_rs_exists
        && strategy != StrategyKind::BasicCanary
        && abort_delay.delay.is_some()
        && (!dynamic_stable_scale || abort_delay.explicit)
}

/// What to do with the new (canary/preview) RS while an abort delay applies
/// (`reconcileNewReplicaSet` under `shouldDelayScaleDownOnAbort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortedNewReplicaSet {
    /// Leave it at its current size; optionally stamp a deadline; wake up at `requeue_at`.
    Hold {
        /// A deadline to write now (stable has become fully available).
        add_deadline: Option<DateTime<Utc>>,
        /// When the decision may change.
        requeue_at: Option<DateTime<Utc>>,
    },
    /// The deadline has passed: scale to 0.
    ScaleToZero,
    /// The deadline is unreadable: scale to the normally computed count.
    ScaleToComputed,
}

/// Decides the aborted new RS (spec §3.7, §4.5 "abort" row): a future deadline holds it; a past
/// deadline scales it to 0; without a deadline it is held, and stamped with
/// `now + abortScaleDownDelaySeconds` once the stable RS has `replicas` available pods.
pub fn decide_aborted_new_replica_set(
    deadline: Option<ScaleDownDeadline>,
    abort_delay: Duration,
    stable_available: i32,
    replicas: i32,
    now: DateTime<Utc>,
) -> AbortedNewReplicaSet {
    match deadline {
        Some(ScaleDownDeadline::Unreadable) => AbortedNewReplicaSet::ScaleToComputed,
        Some(ScaleDownDeadline::At(at)) if at > now => AbortedNewReplicaSet::Hold {
            add_deadline: None,
            requeue_at: Some(at),
        },
        Some(ScaleDownDeadline::At(_)) => AbortedNewReplicaSet::ScaleToZero,
        None if stable_available == replicas => {
            let at = scale_down_deadline_after(now, abort_delay);
            AbortedNewReplicaSet::Hold {
                add_deadline: Some(at),
                requeue_at: Some(at),
            }
        }
        None => AbortedNewReplicaSet::Hold {
            add_deadline: None,
            requeue_at: None,
        },
    }
}

/// One ReplicaSet that is neither new nor stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtherReplicaSet {
    /// `rollout.argoproj.io/revision` (higher = newer).
    pub revision: i64,
    /// Its sizes.
    pub size: ReplicaSetSize,
    /// Still referenced by status (stable/current/active/preview/recorded weights), a live
    /// Service selector or a DestinationRule subset; never scaled down while true.
    pub referenced: bool,
    /// Its `scale-down-deadline` annotation, if any.
    pub scale_down_deadline: Option<ScaleDownDeadline>,
}

/// A change to one other ReplicaSet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtherReplicaSetChange {
    /// Index into the input slice.
    pub index: usize,
    /// New `spec.replicas` (may equal the current one when only a deadline is added).
    pub replicas: i32,
    /// Deadline annotation to add.
    pub add_deadline: Option<DateTime<Utc>>,
}

/// Planned changes to other ReplicaSets, in application order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScaleDownPlan {
    /// Changes; at most one per ReplicaSet.
    pub changes: Vec<OtherReplicaSetChange>,
    /// Earliest pending deadline, when the plan may change by itself.
    pub requeue_at: Option<DateTime<Utc>>,
}

impl ScaleDownPlan {
    fn set(&mut self, index: usize, replicas: i32, add_deadline: Option<DateTime<Utc>>) {
        if let Some(change) = self.changes.iter_mut().find(|c| c.index == index) {
            change.replicas = replicas;
            change.add_deadline = add_deadline.or(change.add_deadline);
        } else {
            self.changes.push(OtherReplicaSetChange {
                index,
                replicas,
                add_deadline,
            });
        }
    }

    fn wake_at(&mut self, at: DateTime<Utc>) {
        self.requeue_at = Some(self.requeue_at.map_or(at, |current| current.min(at)));
    }

    /// True when any ReplicaSet changes size (the reconcile pass then stops, spec §3.4 step 11).
    pub fn scales_anything(&self, others: &[OtherReplicaSet]) -> bool {
        self.changes.iter().any(|c| {
            others
                .get(c.index)
                .is_some_and(|rs| rs.size.spec != c.replicas)
        })
    }
}

/// Shared state of the reference `scaleDownDelayHelper` over one pass.
struct DelayBudget {
    /// `scaleDownDelayRevisionLimit` (unset = unlimited).
    limit: i64,
    annotated: i64,
    delay: Duration,
    now: DateTime<Utc>,
}

/// Result of the delay helper for one RS.
struct DelayDecision {
    replicas: i32,
    add_deadline: Option<DateTime<Utc>>,
    wake_at: Option<DateTime<Utc>>,
}

impl DelayBudget {
    fn new(limit: Option<i32>, delay: Duration, now: DateTime<Utc>) -> Self {
        DelayBudget {
            limit: limit.map_or(i64::MAX, |l| i64::from(l.max(0))),
            annotated: 0,
            delay,
            now,
        }
    }

    /// The delay helper: an up-scaled RS without a deadline gets one (while under the revision
    /// limit) and keeps its size; an RS with a future deadline keeps `keep_at` pods; past the
    /// limit, past the deadline or with an unreadable deadline it goes to 0.
    ///
    /// Deviation: with a zero delay the reference writes no annotation yet keeps the RS up, so it
    /// would never shrink; we scale it down at once, which is what a zero delay asks for.
    fn decide(&mut self, rs: &OtherReplicaSet, keep_at: i32) -> DelayDecision {
        let zero = DelayDecision {
            replicas: 0,
            add_deadline: None,
            wake_at: None,
        };
        match rs.scale_down_deadline {
            None if rs.size.spec > 0 => {
                if self.annotated >= self.limit || self.delay.is_zero() {
                    return zero;
                }
                self.annotated += 1;
                let at = scale_down_deadline_after(self.now, self.delay);
                DelayDecision {
                    replicas: rs.size.spec,
                    add_deadline: Some(at),
                    wake_at: Some(at),
                }
            }
            None => zero,
            Some(deadline) => {
                self.annotated += 1;
                match deadline {
                    ScaleDownDeadline::At(at) if self.annotated <= self.limit && at > self.now => {
                        DelayDecision {
                            replicas: keep_at,
                            add_deadline: None,
                            wake_at: Some(at),
                        }
                    }
                    _ => zero,
                }
            }
        }
    }
}

/// Indices of `others` from the highest revision to the lowest (stable for equal revisions).
fn newest_first(others: &[OtherReplicaSet]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..others.len()).collect();
    order.sort_by(|a, b| others[*b].revision.cmp(&others[*a].revision));
    order
}

/// Inputs of [`plan_canary_scale_down`].
#[derive(Debug, Clone, Copy)]
pub struct CanaryScaleDownInput<'a> {
    /// `spec.replicas`.
    pub replicas: i32,
    /// Resolved `maxUnavailable`.
    pub max_unavailable: i32,
    /// Σ available pods over **all** ReplicaSets (new, stable and others).
    pub available_total: i32,
    /// The other ReplicaSets.
    pub others: &'a [OtherReplicaSet],
    /// Traffic routing is configured.
    pub traffic_routed: bool,
    /// `stableRS == currentPodHash`.
    pub fully_promoted: bool,
    /// `dynamicStableScale`.
    pub dynamic_stable_scale: bool,
    /// Resolved `scaleDownDelaySeconds` ([`scale_down_delay`]).
    pub scale_down_delay: Duration,
    /// `scaleDownDelayRevisionLimit` (unset = unlimited).
    pub scale_down_delay_revision_limit: Option<i32>,
    /// The reconcile time.
    pub now: DateTime<Utc>,
}

/// `scaleDownOldReplicaSetsForCanary` (spec §4.4):
///
/// 1. RSs with unavailable pods are first cut to their available count;
/// 2. the budget is Σ available − (R − maxUnavailable); nothing more happens without budget;
/// 3. from newest to oldest revision: referenced RSs are skipped (traffic-routed only); a basic
///    canary drains each RS by what the budget allows; a traffic-routed canary scales a previous
///    stable (fully promoted, or already carrying a deadline) to 0 at once with
///    `dynamicStableScale`, otherwise through the delay helper; an abandoned intermediate RS goes
///    to 0 at once.
pub fn plan_canary_scale_down(input: &CanaryScaleDownInput<'_>) -> ScaleDownPlan {
    let mut plan = ScaleDownPlan::default();
    let mut sizes: Vec<ReplicaSetSize> = input.others.iter().map(|rs| rs.size.clamped()).collect();
    for (index, size) in sizes.iter_mut().enumerate() {
        if size.spec > 0 && size.available < size.spec {
            size.spec = size.available.max(0);
            plan.set(index, size.spec, None);
        }
    }
    let min_available = clamp_pod_count(input.replicas) - clamp_pod_count(input.max_unavailable);
    // The total spans every ReplicaSet, so allow it a wider (still overflow-free) range.
    let available_total = input.available_total.clamp(0, 64 * super::MAX_POD_COUNT);
    let mut budget = available_total - min_available;
    if budget <= 0 {
        return plan;
    }
    let mut delays = DelayBudget::new(
        input.scale_down_delay_revision_limit,
        input.scale_down_delay,
        input.now,
    );
    for index in newest_first(input.others) {
        let rs = OtherReplicaSet {
            size: sizes[index],
            ..input.others[index]
        };
        if input.traffic_routed && rs.referenced {
            continue;
        }
        if budget <= 0 {
            break;
        }
        if rs.size.spec == 0 {
            continue;
        }
        let mut add_deadline = None;
        let desired = if !input.traffic_routed {
            (rs.size.spec - budget).max(0)
        } else if input.fully_promoted || rs.scale_down_deadline.is_some() {
            if input.dynamic_stable_scale {
                0
            } else {
                let decision = delays.decide(&rs, rs.size.spec);
                if let Some(at) = decision.wake_at {
                    plan.wake_at(at);
                }
                add_deadline = decision.add_deadline;
                decision.replicas
            }
        } else {
            // Intermediate RS abandoned mid-update: no traffic reaches it, drop it now.
            0
        };
        if desired == rs.size.spec && add_deadline.is_none() {
            continue;
        }
        plan.set(index, desired, add_deadline);
        budget -= rs.size.spec - desired;
    }
    plan
}

/// Inputs of [`plan_blue_green_scale_down`].
#[derive(Debug, Clone, Copy)]
pub struct BlueGreenScaleDownInput<'a> {
    /// `spec.replicas` (an RS within its delay is kept at this size).
    pub replicas: i32,
    /// The other ReplicaSets.
    pub others: &'a [OtherReplicaSet],
    /// Scale-down is blocked: an `InconclusiveAnalysisRun` pause, or `postPromotionAnalysis` with
    /// an unset `scaleDownDelaySeconds` whose run has not yet succeeded.
    pub blocked: bool,
    /// Resolved `scaleDownDelaySeconds`.
    pub scale_down_delay: Duration,
    /// `scaleDownDelayRevisionLimit` (unset = unlimited).
    pub scale_down_delay_revision_limit: Option<i32>,
    /// The reconcile time.
    pub now: DateTime<Utc>,
}

/// Blue-green old RS scale-down (spec §6.1 step 6, §4.5): newest first, referenced RSs skipped,
/// each through the delay helper keeping R pods until its deadline (at most
/// `scaleDownDelayRevisionLimit` RSs are kept).
pub fn plan_blue_green_scale_down(input: &BlueGreenScaleDownInput<'_>) -> ScaleDownPlan {
    let mut plan = ScaleDownPlan::default();
    if input.blocked {
        return plan;
    }
    let mut delays = DelayBudget::new(
        input.scale_down_delay_revision_limit,
        input.scale_down_delay,
        input.now,
    );
    for index in newest_first(input.others) {
        let rs = &input.others[index];
        // Like the canary path, a scaled-down RS is left alone: a leftover future deadline must
        // not scale an old revision back up.
        if rs.referenced || rs.size.spec == 0 {
            continue;
        }
        let decision = delays.decide(rs, input.replicas);
        if let Some(at) = decision.wake_at {
            plan.wake_at(at);
        }
        if decision.replicas != rs.size.spec || decision.add_deadline.is_some() {
            plan.set(index, decision.replicas, decision.add_deadline);
        }
    }
    plan
}

/// An other ReplicaSet considered for `revisionHistoryLimit` garbage collection (spec §7.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryReplicaSet {
    /// `metadata.creationTimestamp`.
    pub created_at: Option<DateTime<Utc>>,
    /// Its sizes.
    pub size: ReplicaSetSize,
    /// `status.observedGeneration >= metadata.generation`.
    pub observed_generation_current: bool,
    /// `metadata.deletionTimestamp` is set.
    pub being_deleted: bool,
}

/// Default `revisionHistoryLimit`.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;

/// Indices of other ReplicaSets to delete: among those not already being deleted, the oldest
/// ones in excess of `revision_history_limit`, skipping (but still counting) any that are not
/// fully scaled down with an observed generation.
pub fn replica_sets_to_garbage_collect(
    others: &[HistoryReplicaSet],
    revision_history_limit: i32,
) -> Vec<usize> {
    let mut live: Vec<usize> = (0..others.len())
        .filter(|i| !others[*i].being_deleted)
        .collect();
    let excess = live
        .len()
        .saturating_sub(usize::try_from(revision_history_limit).unwrap_or(0));
    // Unknown creation times sort first: such an RS is the least trustworthy to keep.
    live.sort_by_key(|i| others[*i].created_at);
    live.into_iter()
        .take(excess)
        .filter(|i| {
            let rs = &others[*i];
            rs.size.spec == 0 && rs.size.status == 0 && rs.observed_generation_current
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_704_103_200 + secs, 0).unwrap() // 2024-01-01T10:00:00Z
    }

    fn other(revision: i64, spec: i32, available: i32) -> OtherReplicaSet {
        OtherReplicaSet {
            revision,
            size: ReplicaSetSize::with_available(spec, available),
            referenced: false,
            scale_down_deadline: None,
        }
    }

    fn with_deadline(rs: OtherReplicaSet, at: DateTime<Utc>) -> OtherReplicaSet {
        OtherReplicaSet {
            scale_down_deadline: Some(ScaleDownDeadline::At(at)),
            ..rs
        }
    }

    fn canary_input(others: &[OtherReplicaSet]) -> CanaryScaleDownInput<'_> {
        CanaryScaleDownInput {
            replicas: 4,
            max_unavailable: 1,
            available_total: 0,
            others,
            traffic_routed: false,
            fully_promoted: false,
            dynamic_stable_scale: false,
            scale_down_delay: Duration::ZERO,
            scale_down_delay_revision_limit: None,
            now: t(0),
        }
    }

    fn changes(plan: &ScaleDownPlan) -> Vec<(usize, i32, Option<DateTime<Utc>>)> {
        plan.changes
            .iter()
            .map(|c| (c.index, c.replicas, c.add_deadline))
            .collect()
    }

    #[test]
    fn deadline_annotation_round_trip() {
        assert_eq!(
            parse_scale_down_deadline("2024-01-01T10:00:30Z"),
            ScaleDownDeadline::At(t(30))
        );
        assert_eq!(format_scale_down_deadline(t(30)), "2024-01-01T10:00:30Z");
        assert_eq!(
            parse_scale_down_deadline("tomorrow"),
            ScaleDownDeadline::Unreadable
        );
        // Sub-second `now` is truncated like Go's RFC3339 formatting.
        let now = t(0) + chrono::Duration::milliseconds(900);
        assert_eq!(
            scale_down_deadline_after(now, Duration::from_secs(30)),
            t(30)
        );
        assert!(is_within_scale_down_delay(
            Some(ScaleDownDeadline::At(t(5))),
            t(0)
        ));
        assert!(!is_within_scale_down_delay(
            Some(ScaleDownDeadline::At(t(5))),
            t(5)
        ));
        assert!(!is_within_scale_down_delay(
            Some(ScaleDownDeadline::Unreadable),
            t(0)
        ));
        assert!(!is_within_scale_down_delay(None, t(0)));
    }

    #[test]
    fn delay_defaults() {
        assert_eq!(
            scale_down_delay(StrategyKind::BasicCanary, Some(60)),
            Duration::ZERO
        );
        assert_eq!(
            scale_down_delay(StrategyKind::TrafficRoutedCanary, None),
            Duration::from_secs(30)
        );
        assert_eq!(
            scale_down_delay(StrategyKind::BlueGreen, Some(10)),
            Duration::from_secs(10)
        );
        let never = AbortScaleDownDelay {
            delay: None,
            explicit: true,
        };
        assert_eq!(
            abort_scale_down_delay(StrategyKind::TrafficRoutedCanary, Some(0)),
            never
        );
        assert_eq!(
            abort_scale_down_delay(StrategyKind::BlueGreen, None),
            AbortScaleDownDelay {
                delay: Some(Duration::from_secs(30)),
                explicit: false
            }
        );
        assert_eq!(
            abort_scale_down_delay(StrategyKind::TrafficRoutedCanary, Some(1)),
            AbortScaleDownDelay {
                delay: Some(Duration::from_secs(1)),
                explicit: true
            }
        );
        assert_eq!(
            abort_scale_down_delay(StrategyKind::BasicCanary, None).delay,
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn should_delay_scale_down_on_abort_table() {
        let default = abort_scale_down_delay(StrategyKind::TrafficRoutedCanary, None);
        let explicit = abort_scale_down_delay(StrategyKind::TrafficRoutedCanary, Some(5));
        let never = abort_scale_down_delay(StrategyKind::TrafficRoutedCanary, Some(0));
        let routed = StrategyKind::TrafficRoutedCanary;
        let cases = [
            (
                "routed, default delay",
                true,
                true,
                routed,
                default,
                false,
                true,
            ),
            ("not aborted", false, true, routed, default, false, false),
            ("no stable", true, false, routed, default, false, false),
            (
                "basic canary",
                true,
                true,
                StrategyKind::BasicCanary,
                default,
                false,
                false,
            ),
            ("explicit zero", true, true, routed, never, false, false),
            (
                "dynamic without explicit delay",
                true,
                true,
                routed,
                default,
                true,
                false,
            ),
            (
                "dynamic with explicit delay (S19)",
                true,
                true,
                routed,
                explicit,
                true,
                true,
            ),
            (
                "blue-green",
                true,
                true,
                StrategyKind::BlueGreen,
                default,
                false,
                true,
            ),
        ];
        for (name, aborted, stable, strategy, delay, dynamic, want) in cases {
            assert_eq!(
                should_delay_scale_down_on_abort(aborted, stable, strategy, delay, dynamic),
                want,
                "{name}"
            );
        }
    }

    /// S17 / S23 / S40: the aborted canary or preview keeps its pods, gets a deadline once the
    /// stable RS is fully available, and goes to 0 after it.
    #[test]
    fn aborted_new_replica_set_lifecycle() {
        let delay = Duration::from_secs(30);
        // Stable not yet fully available: hold, no deadline.
        assert_eq!(
            decide_aborted_new_replica_set(None, delay, 4, 5, t(0)),
            AbortedNewReplicaSet::Hold {
                add_deadline: None,
                requeue_at: None
            }
        );
        // Stable 5/5: stamp now + 30 s.
        assert_eq!(
            decide_aborted_new_replica_set(None, delay, 5, 5, t(0)),
            AbortedNewReplicaSet::Hold {
                add_deadline: Some(t(30)),
                requeue_at: Some(t(30))
            }
        );
        let deadline = Some(ScaleDownDeadline::At(t(30)));
        assert_eq!(
            decide_aborted_new_replica_set(deadline, delay, 5, 5, t(10)),
            AbortedNewReplicaSet::Hold {
                add_deadline: None,
                requeue_at: Some(t(30))
            }
        );
        assert_eq!(
            decide_aborted_new_replica_set(deadline, delay, 5, 5, t(30)),
            AbortedNewReplicaSet::ScaleToZero
        );
        assert_eq!(
            decide_aborted_new_replica_set(Some(ScaleDownDeadline::Unreadable), delay, 5, 5, t(0)),
            AbortedNewReplicaSet::ScaleToComputed
        );
    }

    #[test]
    fn basic_canary_drains_old_replica_sets_within_budget() {
        // R=4, maxUnavailable 1; new 1 + stable 3 available, older RS 2/2 ⇒ available 6,
        // budget 6 − 3 = 3 ⇒ older 2 → 0.
        let others = [other(1, 2, 2)];
        let plan = plan_canary_scale_down(&CanaryScaleDownInput {
            available_total: 6,
            ..canary_input(&others)
        });
        assert_eq!(changes(&plan), vec![(0, 0, None)]);

        // Budget 1 only: newest first, the older RS shrinks by one.
        let others = [other(1, 3, 3), other(2, 2, 2)];
        let plan = plan_canary_scale_down(&CanaryScaleDownInput {
            available_total: 4,
            ..canary_input(&others)
        });
        assert_eq!(changes(&plan), vec![(1, 1, None)]);

        // No budget: nothing (the newest RS is untouched).
        let plan = plan_canary_scale_down(&CanaryScaleDownInput {
            available_total: 3,
            ..canary_input(&others)
        });
        assert!(plan.changes.is_empty());
    }

    #[test]
    fn unhealthy_replicas_are_cleaned_up_first() {
        // S9/S5: an abandoned crashing RS (spec 1, 0 available) is cut to 0 even without budget.
        let others = [other(2, 1, 0)];
        let plan = plan_canary_scale_down(&CanaryScaleDownInput {
            available_total: 3,
            ..canary_input(&others)
        });
        assert_eq!(changes(&plan), vec![(0, 0, None)]);
        assert!(plan.scales_anything(&others));
        // Partially available: cut to available, then drained by the budget.
        let others = [other(2, 3, 2)];
        let plan = plan_canary_scale_down(&CanaryScaleDownInput {
            available_total: 4,
            ..canary_input(&others)
        });
        assert_eq!(changes(&plan), vec![(0, 1, None)]);
    }

    fn routed(others: &[OtherReplicaSet], fully_promoted: bool) -> CanaryScaleDownInput<'_> {
        CanaryScaleDownInput {
            replicas: 1,
            max_unavailable: 0,
            available_total: 2,
            others,
            traffic_routed: true,
            fully_promoted,
            dynamic_stable_scale: false,
            scale_down_delay: Duration::from_secs(30),
            scale_down_delay_revision_limit: Some(1),
            now: t(0),
        }
    }

    /// S16 TestCanaryScaleDownDelay (ALB, R=1, limit 1, default 30 s delay).
    #[test]
    fn canary_scale_down_delay_and_revision_limit() {
        // rev1 → rev2 promoted: rs1 keeps 1 pod with a deadline.
        let others = [other(1, 1, 1)];
        let plan = plan_canary_scale_down(&routed(&others, true));
        assert_eq!(changes(&plan), vec![(0, 1, Some(t(30)))]);
        assert!(!plan.scales_anything(&others));
        assert_eq!(plan.requeue_at, Some(t(30)));

        // rev3 promoted: rs2 (newest) gets the only slot, rs1 (already delayed) goes to 0.
        let others = [with_deadline(other(1, 1, 1), t(30)), other(2, 1, 1)];
        let plan = plan_canary_scale_down(&CanaryScaleDownInput {
            available_total: 3,
            ..routed(&others, true)
        });
        assert_eq!(changes(&plan), vec![(1, 1, Some(t(30))), (0, 0, None)]);

        // The deadline passes: 0.
        let others = [with_deadline(other(2, 1, 1), t(30))];
        let plan = plan_canary_scale_down(&CanaryScaleDownInput {
            now: t(31),
            ..routed(&others, true)
        });
        assert_eq!(changes(&plan), vec![(0, 0, None)]);

        // Within the deadline: kept, wake-up at the deadline.
        let plan = plan_canary_scale_down(&CanaryScaleDownInput {
            now: t(10),
            ..routed(&others, true)
        });
        assert!(plan.changes.is_empty());
        assert_eq!(plan.requeue_at, Some(t(30)));
    }

    #[test]
    fn traffic_routed_special_cases() {
        // Referenced RSs are never touched.
        let mut rs = other(1, 1, 1);
        rs.referenced = true;
        let others = [rs];
        assert!(
            plan_canary_scale_down(&routed(&others, true))
                .changes
                .is_empty()
        );

        // dynamicStableScale: the previous stable goes to 0 at once.
        let others = [other(1, 1, 1)];
        let plan = plan_canary_scale_down(&CanaryScaleDownInput {
            dynamic_stable_scale: true,
            ..routed(&others, true)
        });
        assert_eq!(changes(&plan), vec![(0, 0, None)]);

        // Mid-update intermediate RS (not promoted, no deadline): 0 at once (S24).
        let plan = plan_canary_scale_down(&routed(&others, false));
        assert_eq!(changes(&plan), vec![(0, 0, None)]);

        // Unreadable deadline: treated as expired.
        let others = [OtherReplicaSet {
            scale_down_deadline: Some(ScaleDownDeadline::Unreadable),
            ..other(1, 1, 1)
        }];
        let plan = plan_canary_scale_down(&routed(&others, false));
        assert_eq!(changes(&plan), vec![(0, 0, None)]);
    }

    /// S39 TestBlueGreenScaleDownDelay (R=1, delay 86400 s, limit 2).
    #[test]
    fn blue_green_scale_down_delay_revision_limit() {
        let day = Duration::from_secs(86_400);
        let input = |others, limit| BlueGreenScaleDownInput {
            replicas: 1,
            others,
            blocked: false,
            scale_down_delay: day,
            scale_down_delay_revision_limit: Some(limit),
            now: t(100),
        };
        // After rev4: rev3 and rev2 carry deadlines, rev1 too ⇒ rev1 (oldest) is beyond the
        // limit ⇒ 0; rev3 and rev2 keep 1 pod.
        let others = [
            with_deadline(other(1, 1, 1), t(86_400)),
            with_deadline(other(2, 1, 1), t(86_450)),
            other(3, 1, 1),
        ];
        let plan = plan_blue_green_scale_down(&input(&others, 2));
        assert_eq!(changes(&plan), vec![(2, 1, Some(t(86_500))), (0, 0, None)]);
        // Lowering the limit to 1 ⇒ only the newest delayed RS survives.
        let others = [
            with_deadline(other(2, 1, 1), t(86_450)),
            with_deadline(other(3, 1, 1), t(86_500)),
        ];
        let plan = plan_blue_green_scale_down(&input(&others, 1));
        assert_eq!(changes(&plan), vec![(0, 0, None)]);
        // Blocked (inconclusive pause or pending post-promotion analysis): nothing.
        let plan = plan_blue_green_scale_down(&BlueGreenScaleDownInput {
            blocked: true,
            ..input(&others, 1)
        });
        assert!(plan.changes.is_empty());
    }

    #[test]
    fn blue_green_delayed_rs_is_kept_at_full_size() {
        // An RS within its delay is kept at R even if it was partially scaled (BG keeps the
        // previous active ready for fast rollback, S35).
        let others = [with_deadline(other(1, 1, 1), t(200))];
        let plan = plan_blue_green_scale_down(&BlueGreenScaleDownInput {
            replicas: 3,
            others: &others,
            blocked: false,
            scale_down_delay: Duration::from_secs(30),
            scale_down_delay_revision_limit: None,
            now: t(100),
        });
        assert_eq!(changes(&plan), vec![(0, 3, None)]);
        assert_eq!(plan.requeue_at, Some(t(200)));

        // A scaled-down RS with a leftover deadline stays at 0.
        let others = [with_deadline(other(1, 0, 0), t(200))];
        let plan = plan_blue_green_scale_down(&BlueGreenScaleDownInput {
            replicas: 3,
            others: &others,
            blocked: false,
            scale_down_delay: Duration::from_secs(30),
            scale_down_delay_revision_limit: None,
            now: t(100),
        });
        assert!(plan.changes.is_empty());
    }

    #[test]
    fn revision_history_garbage_collection() {
        let rs = |age: i64, spec: i32, status: i32| HistoryReplicaSet {
            created_at: Some(t(age)),
            size: ReplicaSetSize {
                spec,
                status,
                available: status,
            },
            observed_generation_current: true,
            being_deleted: false,
        };
        let others = [rs(30, 0, 0), rs(10, 0, 0), rs(20, 0, 0), rs(40, 1, 1)];
        // Limit 2 of 4 ⇒ the two oldest (ages 10 and 20) go.
        assert_eq!(replica_sets_to_garbage_collect(&others, 2), vec![1, 2]);
        assert!(replica_sets_to_garbage_collect(&others, 10).is_empty());
        assert_eq!(replica_sets_to_garbage_collect(&others, 0), vec![1, 2, 0]);
        // A still-scaled or not-yet-observed old RS is skipped, not replaced by a newer one.
        let others = [rs(10, 1, 1), rs(20, 0, 0), rs(30, 0, 0)];
        assert!(replica_sets_to_garbage_collect(&others, 2).is_empty());
        let mut unobserved = rs(10, 0, 0);
        unobserved.observed_generation_current = false;
        assert_eq!(
            replica_sets_to_garbage_collect(&[unobserved, rs(20, 0, 0)], 0),
            vec![1]
        );
        // RSs already being deleted do not count.
        let mut deleting = rs(5, 0, 0);
        deleting.being_deleted = true;
        assert_eq!(
            replica_sets_to_garbage_collect(&[deleting, rs(20, 0, 0)], 1),
            Vec::<usize>::new()
        );
    }
}
