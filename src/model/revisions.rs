//! Groups one rollout's ReplicaSets, Pods and AnalysisRuns into `RevisionView`s for the tree,
//! with the status words, tags and pod summaries of `kubectl argo rollouts get` (spec §6.3,
//! §6.4). Pure: the cluster adapter hands in the objects it watches for the open rollout.
//! Experiments (with their ReplicaSets and runs) and the Jobs of job-provider measurements are
//! included. Not modelled here: the `delay:` tag of a scale-down deadline (it needs `now`; the
//! CLI adds it).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::crd::time::parse_time;
use crate::crd::{AnalysisRun, Experiment, Rollout};

use super::rollout::{AnalysisPhase, AnalysisSummary};
use super::rollout_crd::{revision_of, to_utc};
use super::tree::{
    AnalysisRunView, ExperimentView, JobView, PodView, ReplicaSetStatus, ReplicaSetView,
    RevisionView,
};

const POD_TEMPLATE_HASH: &str = "rollouts-pod-template-hash";
/// Measurement metadata naming the Job a job-provider measurement ran.
const JOB_NAME_METADATA: &str = "job-name";

fn time(t: Option<&Time>) -> DateTime<Utc> {
    to_utc(t.map(|t| t.0))
}

fn owned_by(meta: &ObjectMeta, uid: Option<&str>) -> bool {
    let Some(uid) = uid else {
        return false;
    };
    meta.owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|owner| owner.uid == uid)
}

/// The CLI's ReplicaSet status rule.
pub fn replica_set_status(rs: &ReplicaSet) -> ReplicaSetStatus {
    let spec_replicas = rs.spec.replicas.unwrap_or(1);
    let Some(status) = &rs.status else {
        return ReplicaSetStatus::Progressing;
    };
    if let (Some(generation), Some(observed)) = (rs.metadata.generation, status.observed_generation)
        && observed < generation
    {
        return ReplicaSetStatus::Progressing;
    }
    let failing = status
        .conditions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|c| {
            c.type_.as_deref() == Some("ReplicaFailure") && c.status.as_deref() == Some("True")
        });
    if failing {
        ReplicaSetStatus::ReplicaFailure
    } else if status.available_replicas.unwrap_or(0) < spec_replicas {
        ReplicaSetStatus::Progressing
    } else if spec_replicas == 0 {
        ReplicaSetStatus::ScaledDown
    } else {
        ReplicaSetStatus::Healthy
    }
}

/// `kubectl get pods` STATUS, READY and RESTARTS, reduced: terminating, then the first
/// container's waiting or terminated reason, then the pod phase.
pub fn pod_view(pod: &Pod) -> PodView {
    let status = pod.status.as_ref();
    let containers = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let total = pod
        .spec
        .as_ref()
        .map_or(containers.len(), |spec| spec.containers.len());
    let ready = containers.iter().filter(|c| c.ready).count();
    let restarts: i32 = containers.iter().map(|c| c.restart_count).sum();
    // The CLI walks containers last to first, so the first container's reason wins.
    let reason = containers.iter().rev().fold(None, |found, c| {
        let state = c.state.as_ref();
        let waiting = state
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone());
        let terminated = state.and_then(|s| s.terminated.as_ref()).map(|t| {
            t.reason.clone().unwrap_or_else(|| match t.signal {
                Some(signal) if signal != 0 => format!("Signal:{signal}"),
                _ => format!("ExitCode:{}", t.exit_code),
            })
        });
        waiting.or(terminated).or(found)
    });
    let word = if pod.metadata.deletion_timestamp.is_some() {
        "Terminating".to_owned()
    } else {
        reason
            .or_else(|| status.and_then(|s| s.phase.clone()))
            .unwrap_or_else(|| "Unknown".to_owned())
    };
    PodView {
        name: pod.metadata.name.clone().unwrap_or_default(),
        status: word,
        ready: ready as u32,
        containers: total as u32,
        restarts: u32::try_from(restarts).unwrap_or(0),
        created: time(pod.metadata.creation_timestamp.as_ref()),
    }
}

/// Tags in the CLI's order: `stable`, then `canary` / `active` / `preview`.
fn tags(rollout: &Rollout, hash: Option<&str>) -> Vec<String> {
    let Some(hash) = hash else {
        return Vec::new();
    };
    let status = rollout.status.as_ref();
    let stable = status.and_then(|s| s.stable_rs.as_deref()) == Some(hash);
    let mut tags = Vec::new();
    if stable {
        tags.push("stable".to_owned());
    }
    if rollout.blue_green().is_some() {
        let bg = status.and_then(|s| s.blue_green.as_ref());
        if bg.and_then(|b| b.active_selector.as_deref()) == Some(hash) {
            tags.push("active".to_owned());
        } else if bg.and_then(|b| b.preview_selector.as_deref()) == Some(hash) {
            tags.push("preview".to_owned());
        }
    } else if !stable && status.and_then(|s| s.current_pod_hash.as_deref()) == Some(hash) {
        tags.push("canary".to_owned());
    }
    tags
}

fn entry(revisions: &mut BTreeMap<u32, RevisionView>, revision: u32) -> &mut RevisionView {
    revisions.entry(revision).or_insert_with(|| RevisionView {
        revision,
        replica_sets: Vec::new(),
        experiments: Vec::new(),
        analysis_runs: Vec::new(),
    })
}

/// The rollout's revisions: ReplicaSets it controls (with their pods) and AnalysisRuns it
/// owns, grouped by the revision annotation.
pub fn build_revisions(
    rollout: &Rollout,
    replica_sets: &[ReplicaSet],
    pods: &[Pod],
    runs: &[AnalysisRun],
) -> Vec<RevisionView> {
    build_revisions_with_experiments(rollout, replica_sets, pods, runs, &[])
}

/// The ReplicaSets owned by `owner_uid`, each with its pods; `tags` names a ReplicaSet's role.
fn owned_replica_sets(
    owner_uid: Option<&str>,
    replica_sets: &[ReplicaSet],
    pods: &[Pod],
    tags: impl Fn(Option<&str>) -> Vec<String>,
) -> Vec<(u32, ReplicaSetView)> {
    replica_sets
        .iter()
        .filter(|rs| owned_by(&rs.metadata, owner_uid))
        .map(|rs| {
            let rs_uid = rs.metadata.uid.as_deref();
            let hash = rs
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(POD_TEMPLATE_HASH))
                .map(String::as_str);
            let view = ReplicaSetView {
                name: rs.metadata.name.clone().unwrap_or_default(),
                status: replica_set_status(rs),
                tags: tags(hash),
                created: time(rs.metadata.creation_timestamp.as_ref()),
                pods: pods
                    .iter()
                    .filter(|pod| owned_by(&pod.metadata, rs_uid))
                    .map(pod_view)
                    .collect(),
            };
            (revision_of(&rs.metadata), view)
        })
        .collect()
}

/// One run with its counters and the Jobs its measurements ran (`metadata.job-name`), in
/// metric then measurement order, as the CLI lists them.
pub fn analysis_run_view(run: &AnalysisRun) -> AnalysisRunView {
    let summary = AnalysisSummary::from_run(run);
    let jobs = run
        .status
        .as_ref()
        .and_then(|s| s.metric_results.as_deref())
        .unwrap_or_default()
        .iter()
        .flat_map(|result| result.measurements.as_deref().unwrap_or_default())
        .filter_map(|m| {
            let name = m.metadata.as_ref()?.get(JOB_NAME_METADATA)?;
            Some(JobView {
                name: name.clone(),
                phase: AnalysisPhase::from_word(&m.phase_text).unwrap_or(AnalysisPhase::Pending),
                started: m.started_at.as_deref().and_then(parse_time),
            })
        })
        .collect();
    AnalysisRunView {
        name: summary.name,
        phase: summary.phase,
        counts: summary.counts,
        created: time(run.metadata.creation_timestamp.as_ref()),
        jobs,
    }
}

/// Like [`build_revisions`], with the rollout's Experiments (each with the ReplicaSets and
/// AnalysisRuns it owns) under their revisions. Runs owned by an Experiment appear under it,
/// not under the revision.
pub fn build_revisions_with_experiments(
    rollout: &Rollout,
    replica_sets: &[ReplicaSet],
    pods: &[Pod],
    runs: &[AnalysisRun],
    experiments: &[Experiment],
) -> Vec<RevisionView> {
    let uid = rollout.metadata.uid.as_deref();
    let mut revisions: BTreeMap<u32, RevisionView> = BTreeMap::new();
    for (revision, view) in owned_replica_sets(uid, replica_sets, pods, |hash| tags(rollout, hash))
    {
        entry(&mut revisions, revision).replica_sets.push(view);
    }
    for experiment in experiments.iter().filter(|e| owned_by(&e.metadata, uid)) {
        let experiment_uid = experiment.metadata.uid.as_deref();
        let view = ExperimentView {
            name: experiment.metadata.name.clone().unwrap_or_default(),
            phase: experiment
                .status
                .as_ref()
                .and_then(|s| s.phase_text.as_deref())
                .and_then(AnalysisPhase::from_word),
            created: time(experiment.metadata.creation_timestamp.as_ref()),
            replica_sets: owned_replica_sets(experiment_uid, replica_sets, pods, |_| Vec::new())
                .into_iter()
                .map(|(_, rs)| rs)
                .collect(),
            analysis_runs: runs
                .iter()
                .filter(|run| owned_by(&run.metadata, experiment_uid))
                .map(analysis_run_view)
                .collect(),
        };
        entry(&mut revisions, revision_of(&experiment.metadata))
            .experiments
            .push(view);
    }
    for run in runs.iter().filter(|run| owned_by(&run.metadata, uid)) {
        entry(&mut revisions, revision_of(&run.metadata))
            .analysis_runs
            .push(analysis_run_view(run));
    }
    revisions.into_values().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::{TreeKind, build_tree};
    use serde_json::json;

    fn rollout() -> Rollout {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "app", "namespace": "ns", "uid": "ro-1"},
            "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}},
            "status": {"currentPodHash": "bbb", "stableRS": "aaa"}
        }))
        .unwrap()
    }

    fn rs(name: &str, hash: &str, revision: u32, replicas: i32, available: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": name, "uid": format!("uid-{name}"),
                "labels": {"rollouts-pod-template-hash": hash},
                "annotations": {"rollout.argoproj.io/revision": revision.to_string()},
                "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "app", "uid": "ro-1"}]},
            "spec": {"replicas": replicas, "selector": {}},
            "status": {"replicas": replicas, "availableReplicas": available}
        }))
        .unwrap()
    }

    fn pod(name: &str, owner: &str, container_state: &serde_json::Value, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "creationTimestamp": "2027-01-15T07:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": format!("uid-{owner}")}]},
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "app", "image": "x", "imageID": "",
                "ready": ready, "restartCount": 3, "state": container_state}]}
        }))
        .unwrap()
    }

    #[test]
    fn revisions_group_replica_sets_pods_and_runs() {
        let replica_sets = [
            rs("app-aaa", "aaa", 1, 2, 2),
            rs("app-bbb", "bbb", 2, 1, 0),
            rs("app-old", "ccc", 0, 0, 0),
        ];
        let pods = [
            pod("app-aaa-1", "app-aaa", &json!({"running": {}}), true),
            pod(
                "app-bbb-1",
                "app-bbb",
                &json!({"waiting": {"reason": "CrashLoopBackOff"}}),
                false,
            ),
            pod("stray", "other", &json!({"running": {}}), true),
        ];
        let run: AnalysisRun = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": "app-bbb-2", "annotations": {"rollout.argoproj.io/revision": "2"},
                "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "app", "uid": "ro-1"}]},
            "spec": {"metrics": []},
            "status": {"phase": "Running", "metricResults": [{"name": "m", "phase": "Running", "successful": 2}]}
        }))
        .unwrap();
        let revisions = build_revisions(&rollout(), &replica_sets, &pods, &[run]);
        let lines = build_tree(&revisions, false);
        let text: Vec<String> = lines
            .iter()
            .map(|l| {
                let status = l
                    .status
                    .as_ref()
                    .map(|m| m.word.clone())
                    .unwrap_or_default();
                format!(
                    "{}{:?} {} {status} {}",
                    "  ".repeat(l.depth),
                    l.kind,
                    l.name,
                    l.info
                )
            })
            .collect();
        assert_eq!(
            text,
            [
                "Revision revision:2  ",
                "  ReplicaSet app-bbb Progressing canary",
                "    Pod app-bbb-1 CrashLoopBackOff ready:0/1,restarts:3",
                "  AnalysisRun app-bbb-2 Running ✔ 2",
                "Revision revision:1  ",
                "  ReplicaSet app-aaa Healthy stable",
                "    Pod app-aaa-1 Running ready:1/1,restarts:3",
                "Folded 1 older revision scaled down (0)  ",
            ]
        );
        assert_eq!(lines.last().unwrap().kind, TreeKind::Folded);
    }

    #[test]
    fn pod_status_prefers_the_first_containers_reason() {
        let exited = pod("p", "o", &json!({"terminated": {"exitCode": 137}}), false);
        assert_eq!(pod_view(&exited).status, "ExitCode:137");
        let signalled = pod(
            "p",
            "o",
            &json!({"terminated": {"exitCode": 0, "signal": 9}}),
            false,
        );
        assert_eq!(pod_view(&signalled).status, "Signal:9");
        let mut deleting = pod("p", "o", &json!({"running": {}}), true);
        deleting.metadata.deletion_timestamp = deleting.metadata.creation_timestamp.clone();
        assert_eq!(pod_view(&deleting).status, "Terminating");
    }
}
