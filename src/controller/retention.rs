//! Retention of completed AnalysisRuns and Experiments (spec §1.1 and §3.12, the reference's
//! `FilterAnalysisRunsToDelete` / `FilterExperimentsToDelete`): of the Rollout's runs that are
//! not current (not named in the status), newest first, the first
//! `analysis.successfulRunHistoryLimit` (default 5) Successful ones and the first
//! `analysis.unsuccessfulRunHistoryLimit` (default 5) Failed, Error or Inconclusive ones are
//! kept and the other completed ones are deleted. A run whose `rollouts-pod-template-hash`
//! names no ReplicaSet of the Rollout any more (or one being deleted), or that has no hash, is
//! deleted whatever its phase: its revision went with `revisionHistoryLimit`. Running and
//! Pending runs are otherwise kept. Experiments follow the same rules with the same limits.
//!
//! Pure: it reads the snapshot and names what to delete.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;

use crate::controller::hash::POD_TEMPLATE_HASH_LABEL;
use crate::controller::snapshot::Snapshot;
use crate::crd::Rollout;

/// `analysis.successfulRunHistoryLimit` default.
pub const DEFAULT_SUCCESSFUL_HISTORY_LIMIT: i32 = 5;
/// `analysis.unsuccessfulRunHistoryLimit` default.
pub const DEFAULT_UNSUCCESSFUL_HISTORY_LIMIT: i32 = 5;

/// `(successful, unsuccessful)` history limits of a Rollout (negative counts as 0).
pub fn history_limits(rollout: &Rollout) -> (usize, usize) {
    let analysis = rollout.spec.analysis.as_ref();
    let limit =
        |value: Option<i32>, default: i32| usize::try_from(value.unwrap_or(default)).unwrap_or(0);
    (
        limit(
            analysis.and_then(|a| a.successful_run_history_limit),
            DEFAULT_SUCCESSFUL_HISTORY_LIMIT,
        ),
        limit(
            analysis.and_then(|a| a.unsuccessful_run_history_limit),
            DEFAULT_UNSUCCESSFUL_HISTORY_LIMIT,
        ),
    )
}

/// One AnalysisRun or Experiment as retention sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Completed<'a> {
    pub name: &'a str,
    pub hash: Option<&'a str>,
    pub created: Option<DateTime<Utc>>,
    pub phase: Option<&'a str>,
}

/// The names to delete among `items` (the non-current ones), given the hashes of the
/// Rollout's ReplicaSets (`true` when that ReplicaSet is being deleted).
pub fn to_delete<'a>(
    items: &[Completed<'a>],
    rs_hashes: &BTreeMap<&str, bool>,
    (successful_limit, unsuccessful_limit): (usize, usize),
) -> Vec<&'a str> {
    let mut newest_first: Vec<&Completed<'a>> = items.iter().collect();
    // Newest first; ties (and missing timestamps) by name for a stable answer.
    newest_first.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(b.name)));
    let (mut successful, mut unsuccessful) = (0, 0);
    let mut doomed = Vec::new();
    for item in newest_first {
        let revision_gone = item
            .hash
            .is_none_or(|hash| rs_hashes.get(hash).is_none_or(|deleting| *deleting));
        if revision_gone {
            doomed.push(item.name);
            continue;
        }
        match item.phase {
            Some("Successful") => {
                successful += 1;
                if successful > successful_limit {
                    doomed.push(item.name);
                }
            }
            Some("Failed" | "Error" | "Inconclusive") => {
                unsuccessful += 1;
                if unsuccessful > unsuccessful_limit {
                    doomed.push(item.name);
                }
            }
            _ => {}
        }
    }
    doomed
}

fn owned_by(meta: &ObjectMeta, rollout: &Rollout) -> bool {
    let uid = rollout.metadata.uid.as_deref();
    meta.owner_references
        .iter()
        .flatten()
        .any(|owner: &OwnerReference| {
            owner.kind == "Rollout"
                && owner.name == rollout.name_any()
                && uid.is_none_or(|uid| owner.uid.is_empty() || owner.uid == uid)
        })
}

fn record<'a>(meta: &'a ObjectMeta, phase: Option<&'a str>) -> Completed<'a> {
    Completed {
        name: meta.name.as_deref().unwrap_or_default(),
        hash: meta
            .labels
            .as_ref()
            .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
            .map(String::as_str),
        created: meta.creation_timestamp.as_ref().and_then(|t| {
            DateTime::from_timestamp(
                t.0.as_second(),
                u32::try_from(t.0.subsec_nanosecond()).unwrap_or(0),
            )
        }),
        phase,
    }
}

/// AnalysisRuns and Experiments to delete for the snapshot's Rollout (runs first).
pub fn deletions(snapshot: &Snapshot) -> (Vec<String>, Vec<String>) {
    let rollout = &snapshot.rollout;
    if rollout.metadata.deletion_timestamp.is_some() {
        return (Vec::new(), Vec::new());
    }
    let rs_hashes: BTreeMap<&str, bool> = snapshot
        .owned_replica_sets()
        .into_iter()
        .filter_map(|rs| {
            let hash = rs.labels().get(POD_TEMPLATE_HASH_LABEL)?;
            Some((hash.as_str(), rs.metadata.deletion_timestamp.is_some()))
        })
        .collect();
    let status = rollout.status.clone().unwrap_or_default();
    let canary = status.canary.clone().unwrap_or_default();
    let blue_green = status.blue_green.clone().unwrap_or_default();
    let current_runs: Vec<String> = [
        canary.current_step_analysis_run_status,
        canary.current_background_analysis_run_status,
        blue_green.pre_promotion_analysis_run_status,
        blue_green.post_promotion_analysis_run_status,
    ]
    .into_iter()
    .flatten()
    .map(|run| run.name)
    .collect();
    let limits = history_limits(rollout);
    let runs: Vec<Completed<'_>> = snapshot
        .analysis_runs
        .iter()
        .filter(|run| owned_by(&run.metadata, rollout) && run.metadata.deletion_timestamp.is_none())
        .filter(|run| !current_runs.contains(&run.name_any()))
        .map(|run| {
            record(
                &run.metadata,
                run.status.as_ref().and_then(|s| s.phase_text.as_deref()),
            )
        })
        .collect();
    let experiments: Vec<Completed<'_>> = snapshot
        .experiments
        .iter()
        .filter(|e| owned_by(&e.metadata, rollout) && e.metadata.deletion_timestamp.is_none())
        .filter(|e| canary.current_experiment.as_deref() != Some(e.name_any().as_str()))
        .map(|e| {
            record(
                &e.metadata,
                e.status.as_ref().and_then(|s| s.phase_text.as_deref()),
            )
        })
        .collect();
    let owned = |names: Vec<&str>| names.into_iter().map(str::to_owned).collect();
    (
        owned(to_delete(&runs, &rs_hashes, limits)),
        owned(to_delete(&experiments, &rs_hashes, limits)),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(second: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(1_750_000_000 + second, 0)
    }

    #[test]
    fn history_limits_default_to_five_and_five() {
        let rollout: Rollout = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "demo"}, "spec": {}
        }))
        .unwrap();
        assert_eq!(history_limits(&rollout), (5, 5));
        let mut limited = rollout.clone();
        limited.spec.analysis = serde_json::from_value(
            serde_json::json!({"successfulRunHistoryLimit": 1, "unsuccessfulRunHistoryLimit": -3}),
        )
        .unwrap();
        assert_eq!(history_limits(&limited), (1, 0));
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn retention_table() {
        let hashes: BTreeMap<&str, bool> = [("h1", false), ("h2", false), ("gc", true)].into();
        let item = |name: &'static str,
                    hash: Option<&'static str>,
                    created: i64,
                    phase: Option<&'static str>| Completed {
            name,
            hash,
            created: at(created),
            phase,
        };
        // (what, items, limits, expected deletions newest first)
        let cases: Vec<(&str, Vec<Completed<'_>>, (usize, usize), Vec<&str>)> = vec![
            (
                "within the limits nothing goes",
                vec![
                    item("s1", Some("h1"), 1, Some("Successful")),
                    item("f1", Some("h1"), 2, Some("Failed")),
                ],
                (5, 5),
                vec![],
            ),
            (
                "the oldest successful beyond the limit go",
                vec![
                    item("s1", Some("h1"), 1, Some("Successful")),
                    item("s3", Some("h2"), 3, Some("Successful")),
                    item("s2", Some("h1"), 2, Some("Successful")),
                ],
                (1, 5),
                vec!["s2", "s1"],
            ),
            (
                "Failed, Error and Inconclusive share the unsuccessful limit",
                vec![
                    item("f", Some("h1"), 1, Some("Failed")),
                    item("e", Some("h1"), 2, Some("Error")),
                    item("i", Some("h1"), 3, Some("Inconclusive")),
                    item("s", Some("h1"), 4, Some("Successful")),
                ],
                (1, 2),
                vec!["f"],
            ),
            (
                "limit zero keeps none; running and pending are never counted",
                vec![
                    item("r", Some("h1"), 3, Some("Running")),
                    item("p", Some("h1"), 4, None),
                    item("s", Some("h1"), 1, Some("Successful")),
                    item("f", Some("h1"), 2, Some("Failed")),
                ],
                (0, 0),
                vec!["f", "s"],
            ),
            (
                "a run whose ReplicaSet is gone or going goes, whatever its phase",
                vec![
                    item("gone", Some("h9"), 3, Some("Running")),
                    item("going", Some("gc"), 2, Some("Successful")),
                    item("nohash", None, 1, Some("Successful")),
                    item("kept", Some("h2"), 4, Some("Successful")),
                ],
                (5, 5),
                vec!["gone", "going", "nohash"],
            ),
        ];
        for (what, items, limits, want) in cases {
            assert_eq!(to_delete(&items, &hashes, limits), want, "{what}");
        }
    }
}
