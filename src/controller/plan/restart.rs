//! `spec.restartAt` (spec §3.10): once the restart time has passed, evict the pods of the
//! rollout's ReplicaSets that were created before it, a few at a time so availability never
//! drops below `max(R, Σ spec.replicas) − max(maxUnavailable, 1)`, then record
//! `status.restartedAt = spec.restartAt`. The decision is the pure [`plan_restart`]; the planner
//! hook reads the snapshot's pods into it and turns the outcome into `EvictPod` actions and
//! requeues. The reference's priority order is kept: stable RS first, then the new RS, then the
//! others oldest first. A template change cancels a pending restart (the reset in `plan.rs`).

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use super::{Action, Planner, RsView};
use crate::crd::time::parse_time;

/// How long to wait before looking again while pods still need a restart.
pub const RESTART_RETRY: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// One pod as the restart decision sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartPod {
    /// Pod name.
    pub name: String,
    /// Position of its ReplicaSet in priority order (0 = evicted first).
    pub priority: usize,
    /// `metadata.creationTimestamp`.
    pub created: Option<DateTime<Utc>>,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
    /// Ready condition true and not terminating.
    pub available: bool,
}

/// Inputs of [`plan_restart`].
#[derive(Debug, Clone)]
pub struct RestartInput<'a> {
    /// `spec.restartAt`.
    pub restart_at: Option<&'a str>,
    /// `status.restartedAt`.
    pub restarted_at: Option<&'a str>,
    /// Reconcile time.
    pub now: DateTime<Utc>,
    /// `spec.replicas`.
    pub replicas: i32,
    /// Sum of `spec.replicas` over the rollout's ReplicaSets.
    pub spec_total: i32,
    /// Resolved maxUnavailable (pods).
    pub max_unavailable: i32,
    /// Pods of the rollout's ReplicaSets.
    pub pods: &'a [RestartPod],
}

/// What the restart needs this pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestartOutcome {
    /// Pods to evict, in order.
    pub evict: Vec<String>,
    /// Look again at this time (restart time not reached, or pods remain).
    pub requeue_at: Option<DateTime<Utc>>,
    /// Every pod is newer than `restartAt`: write `status.restartedAt`.
    pub done: bool,
}

/// The §3.10 decision.
pub fn plan_restart(input: &RestartInput<'_>) -> RestartOutcome {
    let Some(raw) = input.restart_at.filter(|s| !s.is_empty()) else {
        return RestartOutcome::default();
    };
    if input.restarted_at == Some(raw) {
        return RestartOutcome::default();
    }
    let Some(restart_at) = parse_time(raw) else {
        return RestartOutcome::default();
    };
    if input.now <= restart_at {
        // Restart only once `now > restartAt`: look again just after it.
        return RestartOutcome {
            requeue_at: Some(restart_at + chrono::TimeDelta::milliseconds(1)),
            ..RestartOutcome::default()
        };
    }
    let mut stale: Vec<&RestartPod> = input
        .pods
        .iter()
        .filter(|pod| pod.created.is_none_or(|created| created < restart_at))
        .collect();
    if stale.is_empty() {
        return RestartOutcome {
            done: true,
            ..RestartOutcome::default()
        };
    }
    stale.sort_by_key(|pod| (pod.priority, pod.created, pod.name.clone()));
    let available = input.pods.iter().filter(|pod| pod.available).count();
    let available = i32::try_from(available).unwrap_or(i32::MAX);
    let concurrent = input.max_unavailable.max(1);
    let min_available = input.replicas.max(input.spec_total) - concurrent;
    let budget = usize::try_from((available - min_available).max(0)).unwrap_or(0);
    let evict: Vec<String> = stale
        .iter()
        .filter(|pod| !pod.terminating)
        .take(budget)
        .map(|pod| pod.name.clone())
        .collect();
    RestartOutcome {
        evict,
        requeue_at: Some(input.now + RESTART_RETRY),
        done: false,
    }
}

fn pod_created(pod: &Pod) -> Option<DateTime<Utc>> {
    let ts = pod.metadata.creation_timestamp.as_ref()?.0;
    DateTime::from_timestamp(
        ts.as_second(),
        u32::try_from(ts.subsec_nanosecond()).unwrap_or(0),
    )
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conds| {
            conds
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

impl Planner<'_> {
    /// ReplicaSets in restart priority order: stable, new, then the others oldest first.
    fn restart_order(&self) -> Vec<RsView> {
        let mut others = self.others.clone();
        others.sort_by_key(|rs| (rs.created, rs.name.clone()));
        self.distinct_stable()
            .cloned()
            .into_iter()
            .chain(self.new_rs.clone())
            .chain(others)
            .collect()
    }

    /// maxUnavailable in pods: the canary fenceposts, or blue-green's (default 0, rounded down).
    fn restart_max_unavailable(&self) -> i32 {
        if let Some(bg) = self.rollout.blue_green() {
            return match bg.max_unavailable.as_ref() {
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => *n,
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s)) => s
                    .trim_end_matches('%')
                    .parse::<i64>()
                    .ok()
                    .map_or(0, |pct| {
                        i32::try_from(i64::from(self.replicas) * pct / 100).unwrap_or(0)
                    }),
                None => 0,
            };
        }
        self.fenceposts().map_or(0, |f| f.max_unavailable)
    }

    /// §3.10: evict pods older than `spec.restartAt`; record `restartedAt` when none remain.
    pub(super) fn reconcile_restart(&mut self) {
        let restart_at = self.rollout.spec.restart_at.clone();
        let restarted_at = self.status.restarted_at.clone();
        let order = self.restart_order();
        let pods: Vec<RestartPod> = self
            .snap
            .pods
            .iter()
            .filter_map(|pod| {
                let owner = pod
                    .owner_references()
                    .iter()
                    .find(|o| o.kind == "ReplicaSet")?;
                let priority = order.iter().position(|rs| rs.name == owner.name)?;
                let terminating = pod.metadata.deletion_timestamp.is_some();
                Some(RestartPod {
                    name: pod.name_any(),
                    priority,
                    created: pod_created(pod),
                    terminating,
                    available: !terminating && pod_ready(pod),
                })
            })
            .collect();
        let outcome = plan_restart(&RestartInput {
            restart_at: restart_at.as_deref(),
            restarted_at: restarted_at.as_deref(),
            now: self.now,
            replicas: self.replicas,
            spec_total: order.iter().map(|rs| rs.size.spec).sum(),
            max_unavailable: self.restart_max_unavailable(),
            pods: &pods,
        });
        for name in outcome.evict {
            self.actions.push(Action::EvictPod { name });
        }
        if let Some(at) = outcome.requeue_at {
            self.requeue_at(at);
        }
        if outcome.done {
            self.status.restarted_at = restart_at;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        parse_time(text).unwrap()
    }

    fn pod(name: &str, priority: usize, created: &str, available: bool) -> RestartPod {
        RestartPod {
            name: name.to_owned(),
            priority,
            created: Some(at(created)),
            terminating: false,
            available,
        }
    }

    fn input<'a>(pods: &'a [RestartPod], now: &str, max_unavailable: i32) -> RestartInput<'a> {
        RestartInput {
            restart_at: Some("2026-01-01T00:10:00Z"),
            restarted_at: None,
            now: at(now),
            replicas: 4,
            spec_total: 4,
            max_unavailable,
            pods,
        }
    }

    /// (label, pods, now, maxUnavailable, evicted, requeue, done)
    type Case = (
        &'static str,
        Vec<RestartPod>,
        &'static str,
        i32,
        Vec<&'static str>,
        Option<&'static str>,
        bool,
    );

    #[test]
    fn restart_decisions() {
        let old = "2026-01-01T00:00:00Z";
        let older = "2025-12-31T00:00:00Z";
        let new = "2026-01-01T00:11:00Z";
        let four_old = [
            pod("canary-a", 1, old, true),
            pod("stable-b", 0, old, true),
            pod("stable-a", 0, older, true),
            pod("stable-c", 0, old, true),
        ];
        let cases: Vec<Case> = vec![
            (
                "not yet due: requeue just after restartAt",
                four_old.to_vec(),
                "2026-01-01T00:09:00Z",
                1,
                vec![],
                Some("2026-01-01T00:10:00.001Z"),
                false,
            ),
            (
                "maxUnavailable 1: one pod, stable first, oldest first",
                four_old.to_vec(),
                "2026-01-01T00:12:00Z",
                1,
                vec!["stable-a"],
                Some("2026-01-01T00:12:30Z"),
                false,
            ),
            (
                "S12 maxUnavailable 3 (75% of 4): three at once",
                four_old.to_vec(),
                "2026-01-01T00:12:00Z",
                3,
                vec!["stable-a", "stable-b", "stable-c"],
                Some("2026-01-01T00:12:30Z"),
                false,
            ),
            (
                "maxUnavailable 0 still restarts one at a time",
                four_old.to_vec(),
                "2026-01-01T00:12:00Z",
                0,
                vec!["stable-a"],
                Some("2026-01-01T00:12:30Z"),
                false,
            ),
            (
                "one pod already unavailable: no budget left",
                vec![
                    pod("stable-a", 0, old, false),
                    pod("stable-b", 0, old, true),
                    pod("stable-c", 0, new, true),
                    pod("canary-a", 1, old, true),
                ],
                "2026-01-01T00:12:00Z",
                1,
                vec![],
                Some("2026-01-01T00:12:30Z"),
                false,
            ),
            (
                "all pods newer: done",
                vec![pod("a", 0, new, true), pod("b", 1, new, true)],
                "2026-01-01T00:12:00Z",
                1,
                vec![],
                None,
                true,
            ),
        ];
        for (label, pods, now, max_unavailable, evicted, requeue, done) in cases {
            let outcome = plan_restart(&input(&pods, now, max_unavailable));
            assert_eq!(outcome.evict, evicted, "{label}");
            assert_eq!(outcome.requeue_at, requeue.map(at), "{label}");
            assert_eq!(outcome.done, done, "{label}");
        }
    }

    #[test]
    fn terminating_pods_are_waited_for_not_evicted_again() {
        let mut gone = pod("stable-a", 0, "2026-01-01T00:00:00Z", false);
        gone.terminating = true;
        let pods = [gone, pod("stable-b", 0, "2026-01-01T00:00:00Z", true)];
        let mut input = input(&pods, "2026-01-01T00:12:00Z", 2);
        input.replicas = 2;
        input.spec_total = 2;
        let outcome = plan_restart(&input);
        assert_eq!(outcome.evict, vec!["stable-b"]);
        assert!(!outcome.done);
    }

    #[test]
    fn already_restarted_or_unset_does_nothing() {
        let pods = [pod("a", 0, "2026-01-01T00:00:00Z", true)];
        let mut done = input(&pods, "2026-01-01T00:12:00Z", 1);
        done.restarted_at = Some("2026-01-01T00:10:00Z");
        assert_eq!(plan_restart(&done), RestartOutcome::default());
        let mut unset = input(&pods, "2026-01-01T00:12:00Z", 1);
        unset.restart_at = None;
        assert_eq!(plan_restart(&unset), RestartOutcome::default());
    }
}
