//! Pod-restart arithmetic for `spec.restartAt` (spec §3.10): when a restart is due, how many pods
//! may be evicted at once without breaking availability, and in which order. The eviction calls
//! themselves (Eviction API, PDBs, 429 handling) belong to the caller.

use chrono::{DateTime, Utc};

/// Where a `restartAt` request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartState {
    /// No `restartAt`, or it was already completed (`status.restartedAt == spec.restartAt`).
    Idle,
    /// `restartAt` lies in the future: re-evaluate at that time.
    Scheduled(DateTime<Utc>),
    /// Pods created before `restartAt` must be evicted.
    Due(DateTime<Utc>),
}

/// Restarts run only when `now > restartAt` and `restartAt ≠ status.restartedAt`.
pub fn restart_state(
    restart_at: Option<DateTime<Utc>>,
    restarted_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> RestartState {
    match restart_at {
        None => RestartState::Idle,
        Some(at) if restarted_at == Some(at) => RestartState::Idle,
        Some(at) if now > at => RestartState::Due(at),
        Some(at) => RestartState::Scheduled(at),
    }
}

/// How many pods may be evicted now: `concurrentRestart = max(maxUnavailable, 1)`,
/// `effectiveMinAvailable = max(R, Σ spec) − concurrentRestart`, budget =
/// `available − effectiveMinAvailable` (never negative).
pub fn restart_eviction_budget(
    replicas: i32,
    max_unavailable: i32,
    spec_total: i32,
    available_pods: i32,
) -> i32 {
    let concurrent = i64::from(max_unavailable.max(1));
    let effective_min_available = i64::from(replicas.max(spec_total)) - concurrent;
    let budget = (i64::from(available_pods) - effective_min_available).max(0);
    i32::try_from(budget).unwrap_or(i32::MAX)
}

/// A pod the restarter may evict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartCandidate {
    /// Priority of its ReplicaSet: stable 0, new 1, others 2 + age rank (oldest first).
    pub replica_set_rank: u32,
    /// `metadata.creationTimestamp` of the pod.
    pub created_at: DateTime<Utc>,
}

/// Indices of the pods to evict now: pods created strictly before `restart_at`, in ReplicaSet
/// priority order (then oldest pod first), at most `budget` of them.
pub fn pods_to_evict(
    candidates: &[RestartCandidate],
    restart_at: DateTime<Utc>,
    budget: i32,
) -> Vec<usize> {
    let mut stale: Vec<usize> = (0..candidates.len())
        .filter(|i| candidates[*i].created_at < restart_at)
        .collect();
    stale.sort_by_key(|i| (candidates[*i].replica_set_rank, candidates[*i].created_at));
    stale.truncate(usize::try_from(budget).unwrap_or(0));
    stale
}

/// True once no pod older than `restart_at` remains: `status.restartedAt` may be set.
pub fn restart_complete(candidates: &[RestartCandidate], restart_at: DateTime<Utc>) -> bool {
    candidates.iter().all(|c| c.created_at >= restart_at)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn restart_state_table() {
        assert_eq!(restart_state(None, None, t(0)), RestartState::Idle);
        assert_eq!(
            restart_state(Some(t(10)), None, t(0)),
            RestartState::Scheduled(t(10))
        );
        assert_eq!(
            restart_state(Some(t(10)), None, t(10)),
            RestartState::Scheduled(t(10))
        );
        assert_eq!(
            restart_state(Some(t(10)), None, t(11)),
            RestartState::Due(t(10))
        );
        assert_eq!(
            restart_state(Some(t(10)), Some(t(10)), t(11)),
            RestartState::Idle
        );
        assert_eq!(
            restart_state(Some(t(20)), Some(t(10)), t(21)),
            RestartState::Due(t(20))
        );
    }

    /// S12 TestRolloutRestart: R=4, maxUnavailable 75 % (3), 1 canary + 3 stable available ⇒ 3
    /// pods evicted at once.
    #[test]
    fn restart_budget_table() {
        assert_eq!(restart_eviction_budget(4, 3, 4, 4), 3);
        // Default 25 % of 4 = 1.
        assert_eq!(restart_eviction_budget(4, 1, 4, 4), 1);
        // maxUnavailable 0 still restarts one at a time.
        assert_eq!(restart_eviction_budget(4, 0, 4, 4), 1);
        // Pods already missing consume the budget.
        assert_eq!(restart_eviction_budget(4, 1, 4, 3), 0);
        // Surged pods (Σ spec above R) raise the floor.
        assert_eq!(restart_eviction_budget(4, 1, 5, 5), 1);
        assert_eq!(restart_eviction_budget(4, 1, 5, 4), 0);
    }

    #[test]
    fn eviction_order_prefers_stable_then_new_then_oldest() {
        let pods = [
            RestartCandidate {
                replica_set_rank: 1,
                created_at: t(1),
            }, // new
            RestartCandidate {
                replica_set_rank: 0,
                created_at: t(5),
            }, // stable, younger
            RestartCandidate {
                replica_set_rank: 0,
                created_at: t(2),
            }, // stable, older
            RestartCandidate {
                replica_set_rank: 0,
                created_at: t(50),
            }, // stable, after restartAt
        ];
        assert_eq!(pods_to_evict(&pods, t(10), 3), vec![2, 1, 0]);
        assert_eq!(pods_to_evict(&pods, t(10), 1), vec![2]);
        assert!(pods_to_evict(&pods, t(10), 0).is_empty());
        assert!(pods_to_evict(&pods, t(10), -1).is_empty());
        assert!(!restart_complete(&pods, t(10)));
        assert!(restart_complete(&pods[3..], t(10)));
    }
}
