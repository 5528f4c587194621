//! What one reconcile of one Rollout sees (spec §3.1 steps 3–4): the Rollout, the ReplicaSets it
//! owns, its AnalysisRuns and the templates to create them from, the Services it references and
//! the reconcile time. This module only
//! *reads* those objects into the small values the planner and the replica arithmetic need
//! (sizes, hashes, revisions, annotations); it never decides anything and never does I/O. The
//! shell (`apply`, the kube-runtime loop) fills a [`Snapshot`] from watch caches.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;

use crate::controller::hash::POD_TEMPLATE_HASH_LABEL;
use crate::controller::replicas::ReplicaSetSize;
use crate::crd::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Experiment, Rollout};

/// `rollout.argoproj.io/revision` on Rollouts, ReplicaSets and AnalysisRuns.
pub const REVISION_ANNOTATION: &str = "rollout.argoproj.io/revision";
/// `rollout.argoproj.io/revision-history` on a ReplicaSet reused by a rollback.
pub const REVISION_HISTORY_ANNOTATION: &str = "rollout.argoproj.io/revision-history";
/// `rollout.argoproj.io/desired-replicas`: `spec.replicas` at the last scale (scaling event).
pub const DESIRED_REPLICAS_ANNOTATION: &str = "rollout.argoproj.io/desired-replicas";
/// Marks a Service whose selector the controller manages (spec §5.1).
pub const MANAGED_BY_ANNOTATION: &str = "argo-rollouts.argoproj.io/managed-by-rollouts";

/// Everything one reconcile of one Rollout sees. `now` is a parameter so the planner never reads
/// the clock.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The Rollout as last observed.
    pub rollout: Rollout,
    /// ReplicaSets in the Rollout's namespace; those not owned by it are ignored.
    pub replica_sets: Vec<ReplicaSet>,
    /// AnalysisRuns in the namespace owned by the Rollout.
    pub analysis_runs: Vec<AnalysisRun>,
    /// AnalysisTemplates in the namespace (for step runs).
    pub analysis_templates: Vec<AnalysisTemplate>,
    /// ClusterAnalysisTemplates (for step runs with `clusterScope: true`).
    pub cluster_analysis_templates: Vec<ClusterAnalysisTemplate>,
    /// Services in the namespace (at least those the strategy names).
    pub services: Vec<Service>,
    /// The reconcile time.
    pub now: DateTime<Utc>,
    /// Traffic-router objects the Rollout references, and which router kinds are served.
    pub traffic: crate::controller::traffic::TrafficObjects,
    /// Pods in the namespace; the shell reads them only while a `restartAt` is pending
    /// ([`Snapshot::needs_pods`]).
    pub pods: Vec<Pod>,
    /// Experiments in the namespace; read only for rollouts with experiment steps
    /// ([`Snapshot::needs_experiments`]).
    pub experiments: Vec<Experiment>,
    /// The Deployment a `workloadRef` names (read only for such rollouts,
    /// [`Snapshot::workload_name`]).
    pub workload: Option<Deployment>,
}

impl Snapshot {
    /// Whether a reconcile of `rollout` looks at pods: a restart is pending (spec §3.10), or the
    /// strategy has ephemeral metadata to keep on live pods (§7.3).
    pub fn needs_pods(rollout: &Rollout) -> bool {
        let restart_pending = rollout.spec.restart_at.as_deref().is_some_and(|at| {
            !at.is_empty()
                && rollout
                    .status
                    .as_ref()
                    .and_then(|s| s.restarted_at.as_deref())
                    != Some(at)
        });
        let canary_metadata = rollout
            .canary()
            .is_some_and(|c| c.canary_metadata.is_some() || c.stable_metadata.is_some());
        let blue_green_metadata = rollout
            .blue_green()
            .is_some_and(|b| b.preview_metadata.is_some() || b.active_metadata.is_some());
        restart_pending || canary_metadata || blue_green_metadata
    }

    /// The Deployment a `workloadRef` rollout takes its template from (kind `Deployment` only).
    pub fn workload_name(rollout: &Rollout) -> Option<&str> {
        let reference = rollout.spec.workload_ref.as_ref()?;
        (reference.kind.as_deref() == Some("Deployment"))
            .then_some(reference.name.as_deref())
            .flatten()
            .filter(|name| !name.is_empty())
    }

    /// Whether a reconcile of `rollout` looks at Experiments (an experiment step, or one
    /// recorded in `status.canary.currentExperiment`).
    pub fn needs_experiments(rollout: &Rollout) -> bool {
        rollout.steps().iter().any(|step| step.experiment.is_some())
            || rollout
                .status
                .as_ref()
                .and_then(|s| s.canary.as_ref())
                .is_some_and(|c| c.current_experiment.is_some())
    }

    /// The Service called `name`, if observed.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|svc| svc.name_any() == name)
    }

    /// ReplicaSets controlled by this Rollout: an ownerReference of kind `Rollout` with its name
    /// (and its uid when both sides carry one). `plan` applies adoption and release
    /// (§3.1 step 3, `controller::adoption`) to the snapshot before it reads this.
    pub fn owned_replica_sets(&self) -> Vec<&ReplicaSet> {
        let name = self.rollout.name_any();
        let uid = self.rollout.metadata.uid.as_deref();
        self.replica_sets
            .iter()
            .filter(|rs| {
                rs.metadata.deletion_timestamp.is_none()
                    && rs.owner_references().iter().any(|owner| {
                        owner.kind == "Rollout"
                            && owner.name == name
                            && uid.is_none_or(|uid| owner.uid.is_empty() || owner.uid == uid)
                    })
            })
            .collect()
    }
}

/// The `rollouts-pod-template-hash` label of a ReplicaSet.
pub fn replica_set_hash(rs: &ReplicaSet) -> Option<&str> {
    rs.labels().get(POD_TEMPLATE_HASH_LABEL).map(String::as_str)
}

/// The `rollout.argoproj.io/revision` of a ReplicaSet; unreadable counts as 0.
pub fn replica_set_revision(rs: &ReplicaSet) -> i64 {
    rs.annotations()
        .get(REVISION_ANNOTATION)
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

/// The `rollout.argoproj.io/desired-replicas` annotation, if readable.
pub fn replica_set_desired_annotation(rs: &ReplicaSet) -> Option<i32> {
    rs.annotations()
        .get(DESIRED_REPLICAS_ANNOTATION)
        .and_then(|text| text.trim().parse().ok())
}

/// Spec, created and available pod counts of a ReplicaSet (clamped for the arithmetic).
pub fn replica_set_size(rs: &ReplicaSet) -> ReplicaSetSize {
    let spec = rs.spec.replicas.unwrap_or(0);
    let status = rs.status.as_ref();
    ReplicaSetSize {
        spec,
        status: status.map_or(0, |s| s.replicas),
        available: status.and_then(|s| s.available_replicas).unwrap_or(0),
    }
    .clamped()
}

/// `status.readyReplicas` of a ReplicaSet.
pub fn replica_set_ready(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
        .clamp(0, crate::controller::replicas::MAX_POD_COUNT)
}

/// `metadata.creationTimestamp` of a ReplicaSet.
pub fn replica_set_created(rs: &ReplicaSet) -> Option<DateTime<Utc>> {
    let ts = rs.metadata.creation_timestamp.as_ref()?.0;
    DateTime::from_timestamp(
        ts.as_second(),
        u32::try_from(ts.subsec_nanosecond()).unwrap_or(0),
    )
}

/// The Service's current `rollouts-pod-template-hash` selector value.
pub fn service_hash_selector(svc: &Service) -> Option<&str> {
    svc.spec
        .as_ref()?
        .selector
        .as_ref()?
        .get(POD_TEMPLATE_HASH_LABEL)
        .map(String::as_str)
}

/// Whether the Service carries our managed-by annotation (for any rollout).
pub fn service_managed_by(svc: &Service) -> Option<&str> {
    svc.annotations()
        .get(MANAGED_BY_ANNOTATION)
        .map(String::as_str)
}

/// `spec.selector.matchLabels` formatted as `a=b,c=d` (sorted by key), the canary
/// `status.selector`.
pub fn format_match_labels(labels: Option<&BTreeMap<String, String>>) -> String {
    labels
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}
