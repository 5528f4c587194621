//! The pure reconcile of one Rollout: [`plan`] turns a [`Snapshot`] into a [`Plan`] — the
//! ReplicaSets to create or resize, the Services to re-point, the Rollout status merge patch, the
//! events to record and when to look again. It follows the reference order (spec §3.1, §3.4:
//! validation → new RS → paused conditions → services → traffic → analysis → scaling → pause →
//! status) and resizes at most one ReplicaSet per pass, so a caller applies the plan, waits for
//! the resulting watch events and plans again. No I/O and no clock: `now` is in the snapshot.
//!
//! Covered: canary without traffic routing (basic canary), including steps, timed and indefinite
//! pauses, promote, promote --full, abort, retry, `spec.paused`, scaling events, template change
//! mid-rollout, rollback to the stable ReplicaSet, the progress deadline and InvalidSpec.
//! Submodules hold the rest: blue-green, step/background analysis, traffic routing (routers in
//! `controller::traffic`), experiment steps, restartAt, ephemeral metadata, anti-affinity
//! injection and workloadRef.

pub mod anti_affinity;
mod blue_green;
pub mod ephemeral_metadata;
mod experiment;
mod ping_pong;
pub mod restart;
mod router_release;
mod step_analysis;
mod traffic_routing;
pub mod workload_ref;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use serde_json::{Value, json};

use crate::controller::canary_steps::{
    self, CanaryPauseAction, CanaryPromotionInput, CanaryStep, SetCanaryScale, StepProgress,
};
use crate::controller::fenceposts::{IntOrPercent, resolve_canary_fenceposts};
use crate::controller::hash::{POD_TEMPLATE_HASH_LABEL, pod_template_hash, step_hash};
use crate::controller::new_replica_set::{
    CandidateReplicaSet, EPHEMERAL_METADATA_ANNOTATION, find_new_replica_set, is_hash_collision,
    next_revision, revision_history_after_bump,
};
use crate::controller::replicas::canary::{
    AtDesiredInput, BasicCanaryInput, DesiredCanaryInput, ReplicaProgressThreshold,
    approximate_weighted_split, at_desired_replica_counts, basic_canary_replica_counts,
    desired_canary_target, new_rs_progress_met,
};
use crate::controller::replicas::scale_down::{
    CanaryScaleDownInput, DEFAULT_REVISION_HISTORY_LIMIT, HistoryReplicaSet, OtherReplicaSet,
    SCALE_DOWN_DEADLINE_ANNOTATION, ScaleDownDeadline, parse_scale_down_deadline,
    plan_canary_scale_down, replica_sets_to_garbage_collect,
};
use crate::controller::replicas::{
    CanaryResize, CanaryResizeInput, DEFAULT_MAX_TRAFFIC_WEIGHT, ReplicaSetSize, next_canary_resize,
};
use crate::controller::rollout_status::{
    DesiredCondition, PhaseInput, kind, merge_patch_diff, reason, remove_condition, rollout_phase,
    set_condition, state,
};
use crate::controller::snapshot::{
    DESIRED_REPLICAS_ANNOTATION, MANAGED_BY_ANNOTATION, REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION, Snapshot, format_match_labels, replica_set_created,
    replica_set_desired_annotation, replica_set_hash, replica_set_ready, replica_set_revision,
    replica_set_size, service_hash_selector, service_managed_by,
};
use crate::controller::validation::invalid_spec_message;
use crate::crd::rollout::PauseCondition;
use crate::crd::time::{format_time, parse_time};
use crate::crd::{Rollout, RolloutStatus};

/// Rollout annotations never copied onto a new ReplicaSet (spec §3.3).
const ANNOTATIONS_NOT_COPIED: [&str; 5] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    "notified.notifications.argoproj.io",
];

/// Pause-condition reason of a canary pause step.
pub const CANARY_PAUSE_STEP: &str = "CanaryPauseStep";
/// Pause-condition reason of an inconclusive step/background AnalysisRun.
pub const INCONCLUSIVE_ANALYSIS_RUN: &str = "InconclusiveAnalysisRun";
/// Default `progressDeadlineSeconds`.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;

/// Kubernetes event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `Normal`.
    Normal,
    /// `Warning`.
    Warning,
}

/// One change the shell must make, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create this ReplicaSet (spec.replicas 0, owned by the Rollout).
    CreateReplicaSet(Box<ReplicaSet>),
    /// Set `spec.replicas` and the `rollout.argoproj.io/desired-replicas` annotation.
    ScaleReplicaSet {
        /// ReplicaSet name.
        name: String,
        /// New `spec.replicas`.
        replicas: i32,
        /// Value for the desired-replicas annotation (`spec.replicas` of the Rollout).
        desired_replicas: i32,
    },
    /// Delete an old ReplicaSet beyond `revisionHistoryLimit` (spec §7.5).
    DeleteReplicaSet {
        /// ReplicaSet name.
        name: String,
    },
    /// JSON merge patch of a ReplicaSet's metadata (revision bump after a rollback).
    PatchReplicaSet {
        /// ReplicaSet name.
        name: String,
        /// Merge patch.
        patch: Value,
    },
    /// JSON merge patch of the Rollout object (the revision annotation; `spec.replicas: 1` when
    /// unset).
    PatchRollout(Value),
    /// JSON merge patch of the Rollout's status, relative to `status` (the shell wraps it as
    /// `{"status": …}` for the subresource).
    PatchRolloutStatus(Value),
    /// Merge patch of a Service (hash selector and managed-by annotation).
    PatchService {
        /// Service name.
        name: String,
        /// Merge patch.
        patch: Value,
    },
    /// Create an AnalysisRun (a canary step run).
    CreateAnalysisRun(Box<crate::crd::AnalysisRun>),
    /// JSON merge patch of an AnalysisRun (`spec.terminate: true` to cancel it).
    PatchAnalysisRun {
        /// AnalysisRun name.
        name: String,
        /// Merge patch.
        patch: Value,
    },
    /// Create or merge-patch a traffic-router object (VirtualService, Ingress, TrafficSplit).
    Traffic(crate::controller::traffic::TrafficChange),
    /// JSON merge patch of a pod's metadata (ephemeral labels/annotations, spec §7.3).
    PatchPod {
        /// Pod name.
        name: String,
        /// Merge patch.
        patch: Value,
    },
    /// Set `spec.replicas` of the `workloadRef` Deployment (migration scale-down, spec §3.13).
    ScaleDeployment {
        /// Deployment name.
        name: String,
        /// New `spec.replicas`.
        replicas: i32,
    },
    /// Evict a pod through the Eviction API (`restartAt`, spec §3.10); 429 means skip.
    EvictPod {
        /// Pod name.
        name: String,
    },
    /// Create an Experiment (a canary `experiment` step, spec §3.11).
    CreateExperiment(Box<crate::crd::Experiment>),
    /// JSON merge patch of an Experiment (`spec.terminate: true` to cancel it).
    PatchExperiment {
        /// Experiment name.
        name: String,
        /// Merge patch.
        patch: Value,
    },
    /// Record a Kubernetes Event on the Rollout.
    RecordEvent {
        /// Reason (spec §2.4).
        reason: String,
        /// Message.
        message: String,
        /// Type.
        kind: EventType,
    },
}

/// The outcome of one reconcile: actions in order, and when to reconcile again even without a
/// watch event (pause expiry, progress deadline). `None` = wait for events / the resync.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Actions, applied in order.
    pub actions: Vec<Action>,
    /// Requeue delay.
    pub requeue_after: Option<Duration>,
}

/// Plans one reconcile of the snapshot's Rollout.
pub fn plan(snapshot: &Snapshot) -> Plan {
    // workloadRef: plan on a copy whose template comes from the referenced Deployment.
    let resolved = match workload_ref::resolve(snapshot) {
        Ok(resolved) => resolved,
        Err(message) => {
            let mut planner = Planner::new(snapshot);
            planner.invalid_spec(&message);
            return planner.finish();
        }
    };
    let mut planner = Planner::new(resolved.as_ref().unwrap_or(snapshot));
    planner.run();
    planner.scale_down_workload();
    planner.finish()
}

/// What the planner knows about one owned ReplicaSet.
#[derive(Debug, Clone)]
struct RsView {
    name: String,
    hash: String,
    revision: i64,
    size: ReplicaSetSize,
    ready: i32,
    desired_annotation: Option<i32>,
    deadline: Option<ScaleDownDeadline>,
    selector: String,
    created: Option<DateTime<Utc>>,
    generation_observed: bool,
}

impl RsView {
    fn of(rs: &ReplicaSet) -> Self {
        RsView {
            name: rs.name_any(),
            hash: replica_set_hash(rs).unwrap_or_default().to_owned(),
            revision: replica_set_revision(rs),
            size: replica_set_size(rs),
            ready: replica_set_ready(rs),
            desired_annotation: replica_set_desired_annotation(rs),
            deadline: rs
                .annotations()
                .get(SCALE_DOWN_DEADLINE_ANNOTATION)
                .map(|v| parse_scale_down_deadline(v)),
            selector: format_match_labels(rs.spec.selector.match_labels.as_ref()),
            created: replica_set_created(rs),
            generation_observed: rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0)
                >= rs.metadata.generation.unwrap_or(0),
        }
    }
}

fn existing_reason_is(
    condition: Option<&crate::crd::rollout::RolloutCondition>,
    reason: &str,
) -> bool {
    condition.is_some_and(|c| c.reason.as_deref() == Some(reason))
}

/// Reduces a CRD step to the arithmetic's step enum (validation ran before).
fn plain_step(step: &crate::crd::CanaryStep) -> CanaryStep {
    if let Some(weight) = step.set_weight {
        CanaryStep::SetWeight(weight)
    } else if let Some(pause) = step.pause.as_ref() {
        CanaryStep::Pause(pause.duration().and_then(Result::ok))
    } else if step.experiment.is_some() {
        CanaryStep::Experiment
    } else if step.analysis.is_some() {
        CanaryStep::Analysis
    } else if let Some(scale) = step.set_canary_scale.as_ref() {
        CanaryStep::SetCanaryScale(SetCanaryScale {
            replicas: scale.replicas,
            weight: scale.weight,
            match_traffic_weight: scale.match_traffic_weight.unwrap_or(false),
        })
    } else if step.set_header_route.is_some() {
        CanaryStep::SetHeaderRoute
    } else if step.set_mirror_route.is_some() {
        CanaryStep::SetMirrorRoute
    } else {
        CanaryStep::Plugin
    }
}

fn to_int_or_percent(value: &IntOrString) -> IntOrPercent {
    match value {
        IntOrString::Int(n) => IntOrPercent::Int(i64::from(*n)),
        IntOrString::String(s) => IntOrPercent::Percent(s.clone()),
    }
}

fn len_i32(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

struct Planner<'a> {
    snap: &'a Snapshot,
    rollout: &'a Rollout,
    now: DateTime<Utc>,
    replicas: i32,
    old: RolloutStatus,
    status: RolloutStatus,
    actions: Vec<Action>,
    requeue_at: Option<DateTime<Utc>>,
    steps: Vec<CanaryStep>,
    step_hash: String,
    new_rs: Option<RsView>,
    stable_rs: Option<RsView>,
    others: Vec<RsView>,
    created_new_rs: bool,
    reset_this_pass: bool,
    /// Service selectors switched in this pass (name → hash).
    switched: BTreeMap<String, String>,
    /// Why the controller aborted in this pass (appended to the abort message).
    abort_reason: Option<String>,
}

impl<'a> Planner<'a> {
    fn new(snap: &'a Snapshot) -> Self {
        let rollout = &snap.rollout;
        let old = rollout.status.clone().unwrap_or_default();
        let steps: Vec<CanaryStep> = rollout.steps().iter().map(plain_step).collect();
        let steps_json = rollout
            .canary()
            .and_then(|c| c.steps.as_ref())
            .and_then(|s| serde_json::to_value(s).ok());
        Planner {
            snap,
            rollout,
            now: snap.now,
            replicas: rollout.desired_replicas().max(0),
            status: old.clone(),
            old,
            actions: Vec::new(),
            requeue_at: None,
            steps,
            step_hash: step_hash(steps_json.as_ref()),
            new_rs: None,
            stable_rs: None,
            others: Vec::new(),
            created_new_rs: false,
            reset_this_pass: false,
            switched: BTreeMap::new(),
            abort_reason: None,
        }
    }

    fn finish(self) -> Plan {
        let requeue_after = self
            .requeue_at
            .map(|at| (at - self.now).to_std().unwrap_or(Duration::ZERO));
        Plan {
            actions: self.actions,
            requeue_after,
        }
    }

    /// Records a pause condition `reason` starting now and marks the pause as the controller's
    /// (every pause the controller takes goes through here).
    fn add_pause_condition(&mut self, reason: &str) {
        self.status
            .pause_conditions
            .get_or_insert_with(Vec::new)
            .push(PauseCondition {
                reason: reason.to_owned(),
                start_time: format_time(self.now),
                extra: BTreeMap::default(),
            });
        self.status.controller_pause = Some(true);
    }

    /// Whether a pause condition `reason` is recorded.
    fn has_pause_condition(&self, reason: &str) -> bool {
        self.status
            .pause_conditions()
            .iter()
            .any(|p| p.reason == reason)
    }

    fn event(&mut self, reason: &str, message: String, kind: EventType) {
        self.actions.push(Action::RecordEvent {
            reason: reason.to_owned(),
            message,
            kind,
        });
    }

    fn requeue_at(&mut self, at: DateTime<Utc>) {
        self.requeue_at = Some(self.requeue_at.map_or(at, |current| current.min(at)));
    }

    fn generation(&self) -> i64 {
        self.rollout.metadata.generation.unwrap_or(0)
    }

    fn spec_paused(&self) -> bool {
        self.rollout.spec.paused == Some(true)
    }

    fn aborted(&self) -> bool {
        self.status.abort == Some(true)
    }

    fn promote_full(&self) -> bool {
        self.status.promote_full == Some(true)
    }

    fn run(&mut self) {
        if self.rollout.metadata.deletion_timestamp.is_some() {
            return;
        }
        if let Some(message) = invalid_spec_message(self.snap) {
            self.invalid_spec(&message);
            return;
        }
        let blue_green = self.rollout.blue_green().is_some();
        if self.rollout.canary().is_none() && !blue_green {
            return;
        }
        if self.rollout.spec.replicas.is_none() {
            // §3.1 step 8: the controller writes the default into the spec (HPA needs a value).
            self.actions
                .push(Action::PatchRollout(json!({"spec": {"replicas": 1}})));
            return;
        }
        let Some(template) = self.rollout.spec.template.clone() else {
            return;
        };
        if !self.find_or_create_new_rs(&template) {
            return;
        }
        self.classify();
        if self.aborted() && self.fully_promoted() {
            // §3.1 step 7: an abort on a fully promoted rollout is dropped (prevents hot loops).
            self.status.abort = None;
            self.status.aborted_at = None;
        }
        if self.check_paused_conditions() {
            return;
        }
        if blue_green {
            self.run_blue_green();
            return;
        }
        let template_changed = self.status.current_pod_hash.as_deref()
            != self.new_rs.as_ref().map(|rs| rs.hash.as_str())
            || self.status.current_step_hash.as_deref() != Some(self.step_hash.as_str());
        if template_changed {
            self.reset_for_new_template();
            self.persist();
            return;
        }
        if self.is_scaling_event() {
            // §3.1 step 10: only the RS sizes are re-synced; steps and services wait.
            self.scale_canary();
            self.persist();
            return;
        }
        self.garbage_collect_history();
        self.reconcile_ping_pong_services();
        self.reconcile_services();
        self.release_unreferenced_routers();
        self.reconcile_traffic_routing();
        self.reconcile_ephemeral_metadata();
        self.reconcile_restart();
        if self.reconcile_experiment()
            || self.reconcile_step_analysis()
            || self.reconcile_background_analysis()
        {
            // An inconclusive pause was added: write status and stop (§3.4 step 10).
            self.persist();
            return;
        }
        let resized = self.scale_canary();
        if !resized && !self.aborted() {
            self.reconcile_pause_step();
        }
        self.canary_status();
        self.persist();
    }

    fn invalid_spec(&mut self, message: &str) {
        set_condition(
            &mut self.status,
            &DesiredCondition {
                kind: kind::INVALID_SPEC,
                status: state::TRUE,
                reason: reason::INVALID_SPEC,
                message: message.to_owned(),
            },
            self.now,
            false,
        );
        self.status.set_observed_generation(self.generation());
        let (phase, msg) = rollout_phase(&self.status, &self.phase_input());
        self.status.phase_text = Some(phase.to_owned());
        self.status.message = Some(msg);
        // No requeue: a spec edit is a watch event, so waiting costs nothing and avoids a
        // retry storm (the reference requeues every 20 s).
        self.write_status_patch();
    }

    fn phase_input(&self) -> PhaseInput {
        let restart_pending = self
            .rollout
            .spec
            .restart_at
            .as_ref()
            .is_some_and(|at| self.status.restarted_at.as_ref() != Some(at));
        PhaseInput {
            spec_paused: self.spec_paused(),
            restart_pending,
            replicas: self.replicas,
            traffic_routed: self.rollout.traffic_routing().is_some(),
            blue_green_active_selector: self.rollout.blue_green().map(|_| {
                self.status
                    .blue_green
                    .as_ref()
                    .and_then(|b| b.active_selector.clone())
                    .unwrap_or_default()
            }),
            post_promotion_analysis_pending: self
                .rollout
                .blue_green()
                .is_some_and(|bg| bg.post_promotion_analysis.is_some())
                && !self
                    .status
                    .blue_green
                    .as_ref()
                    .and_then(|b| b.post_promotion_analysis_run_status.as_ref())
                    .is_some_and(|run| {
                        ["Successful", "Failed", "Error", "Inconclusive"]
                            .contains(&run.status.as_str())
                    }),
        }
    }

    fn write_status_patch(&mut self) {
        let old = serde_json::to_value(&self.old).unwrap_or(Value::Null);
        let new = serde_json::to_value(&self.status).unwrap_or(Value::Null);
        if let Some(patch) = merge_patch_diff(&old, &new) {
            self.actions.push(Action::PatchRolloutStatus(patch));
        }
    }

    /// §3.2/§3.3: find the RS whose template equals `spec.template`, else create it. Returns
    /// false when the pass must end (hash collision recorded).
    fn find_or_create_new_rs(&mut self, template: &Value) -> bool {
        let hash = pod_template_hash(template, self.status.collision_count);
        let owned = self.snap.owned_replica_sets();
        let templates: Vec<Value> = owned
            .iter()
            .map(|rs| {
                rs.spec
                    .template
                    .as_ref()
                    .and_then(|t| serde_json::to_value(t).ok())
                    .unwrap_or(Value::Null)
            })
            .collect();
        let names: Vec<String> = owned.iter().map(|rs| rs.name_any()).collect();
        let candidates: Vec<CandidateReplicaSet<'_>> = owned
            .iter()
            .enumerate()
            .map(|(i, rs)| CandidateReplicaSet {
                name: &names[i],
                created_at: replica_set_created(rs),
                pod_template_hash: replica_set_hash(rs),
                template: &templates[i],
                ephemeral_metadata: rs
                    .annotations()
                    .get(EPHEMERAL_METADATA_ANNOTATION)
                    .map(String::as_str),
            })
            .collect();
        if let Some(index) = find_new_replica_set(template, &hash, &candidates) {
            let view = RsView::of(owned[index]);
            self.new_rs = Some(view);
            self.sync_revision();
            return true;
        }
        let name = self.rollout.name_any();
        // A foreign ReplicaSet already has our name (typically the Deployment a workloadRef
        // migrates from, whose pod-template hash matches ours): that is a collision too.
        let taken_by_other = self
            .snap
            .replica_sets
            .iter()
            .any(|rs| rs.name_any() == format!("{name}-{hash}"))
            && !names.iter().any(|n| *n == format!("{name}-{hash}"));
        if taken_by_other || is_hash_collision(template, &name, &hash, &candidates) {
            // §3.3: bump collisionCount; the next pass computes a fresh hash.
            self.status.collision_count = Some(self.status.collision_count.unwrap_or(0) + 1);
            self.write_status_patch();
            return false;
        }
        let older: Vec<i64> = owned.iter().map(|rs| replica_set_revision(rs)).collect();
        let revision = next_revision(&older);
        let rs = self.new_replica_set(template, &hash, revision);
        let Some(rs) = rs else {
            self.invalid_spec(&format!(
                "The Rollout \"{name}\" is invalid: spec.template: Invalid value: \"object\": not a pod template"
            ));
            return false;
        };
        let rs_name = rs.name_any();
        self.actions
            .push(Action::CreateReplicaSet(Box::new(rs.clone())));
        self.new_rs = Some(RsView::of(&rs));
        self.created_new_rs = true;
        self.set_rollout_revision(revision);
        self.event(
            reason::NEW_RS_CREATED,
            format!("Created ReplicaSet {rs_name} (revision {revision})"),
            EventType::Normal,
        );
        true
    }

    /// Writes the Rollout's revision annotation when it differs (event `RolloutUpdated`).
    fn set_rollout_revision(&mut self, revision: i64) {
        let current = self
            .rollout
            .annotations()
            .get(REVISION_ANNOTATION)
            .and_then(|v| v.trim().parse::<i64>().ok());
        if current == Some(revision) {
            return;
        }
        self.actions.push(Action::PatchRollout(json!({
            "metadata": {"annotations": {REVISION_ANNOTATION: revision.to_string()}}
        })));
        self.event(
            "RolloutUpdated",
            format!("Rollout updated to revision {revision}"),
            EventType::Normal,
        );
    }

    /// §3.3 `syncReplicaSetRevision`: a reused RS (rollback) moves to max(old)+1.
    fn sync_revision(&mut self) {
        let Some(new) = self.new_rs.clone() else {
            return;
        };
        let older: Vec<i64> = self
            .snap
            .owned_replica_sets()
            .iter()
            .filter(|rs| rs.name_any() != new.name)
            .map(|rs| replica_set_revision(rs))
            .collect();
        let wanted = next_revision(&older);
        let mut revision = new.revision;
        if revision < wanted {
            let history = self
                .snap
                .owned_replica_sets()
                .iter()
                .find(|rs| rs.name_any() == new.name)
                .and_then(|rs| rs.annotations().get(REVISION_HISTORY_ANNOTATION).cloned());
            let history = revision_history_after_bump(history.as_deref(), revision);
            self.actions.push(Action::PatchReplicaSet {
                name: new.name.clone(),
                patch: json!({"metadata": {"annotations": {
                    REVISION_ANNOTATION: wanted.to_string(),
                    REVISION_HISTORY_ANNOTATION: history,
                }}}),
            });
            revision = wanted;
            if let Some(rs) = self.new_rs.as_mut() {
                rs.revision = wanted;
            }
        }
        self.set_rollout_revision(revision);
    }

    fn new_replica_set(&self, template: &Value, hash: &str, revision: i64) -> Option<ReplicaSet> {
        let mut template = template.clone();
        let meta = template
            .as_object_mut()?
            .entry("metadata")
            .or_insert(json!({}));
        let labels = meta.as_object_mut()?.entry("labels").or_insert(json!({}));
        labels
            .as_object_mut()?
            .insert(POD_TEMPLATE_HASH_LABEL.to_owned(), json!(hash));
        // §7.4 / §7.3: injected after hashing; template comparison ignores both.
        self.new_rs_anti_affinity(&mut template, hash);
        let ephemeral = self.new_rs_ephemeral(hash);
        ephemeral_metadata::inject_into_template(&mut template, &ephemeral);
        let typed = serde_json::from_value(template.clone()).ok()?;
        let labels: BTreeMap<String, String> = template
            .pointer("/metadata/labels")
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default();
        let mut selector = self.rollout.spec.selector.clone().unwrap_or_default();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH_LABEL.to_owned(), hash.to_owned());
        let mut annotations: BTreeMap<String, String> = self
            .rollout
            .annotations()
            .iter()
            .filter(|(k, _)| !ANNOTATIONS_NOT_COPIED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        annotations.insert(REVISION_ANNOTATION.to_owned(), revision.to_string());
        if let Some(recorded) = ephemeral.annotation() {
            annotations.insert(EPHEMERAL_METADATA_ANNOTATION.to_owned(), recorded);
        }
        annotations.insert(
            DESIRED_REPLICAS_ANNOTATION.to_owned(),
            self.replicas.to_string(),
        );
        let name = self.rollout.name_any();
        Some(ReplicaSet {
            metadata: ObjectMeta {
                name: Some(format!("{name}-{hash}")),
                namespace: self.rollout.namespace(),
                labels: Some(labels),
                annotations: Some(annotations),
                owner_references: Some(vec![OwnerReference {
                    api_version: crate::crd::API_VERSION.to_owned(),
                    kind: "Rollout".to_owned(),
                    name,
                    uid: self.rollout.metadata.uid.clone().unwrap_or_default(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]),
                ..ObjectMeta::default()
            },
            spec: ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: self.rollout.spec.min_ready_seconds,
                selector,
                template: Some(typed),
            },
            status: None,
        })
    }

    fn classify(&mut self) {
        let Some(new) = self.new_rs.clone() else {
            return;
        };
        let stable_hash = self.status.stable_rs.clone().unwrap_or_default();
        for rs in self.snap.owned_replica_sets() {
            let view = RsView::of(rs);
            if view.name == new.name {
                continue;
            }
            if !stable_hash.is_empty() && view.hash == stable_hash && self.stable_rs.is_none() {
                self.stable_rs = Some(view);
            } else {
                self.others.push(view);
            }
        }
        if !stable_hash.is_empty() && new.hash == stable_hash {
            self.stable_rs = Some(new);
        }
    }

    fn new_hash(&self) -> String {
        self.new_rs
            .as_ref()
            .map(|rs| rs.hash.clone())
            .unwrap_or_default()
    }

    fn fully_promoted(&self) -> bool {
        let stable = self.status.stable_rs.as_deref().unwrap_or_default();
        !stable.is_empty() && stable == self.new_hash()
    }

    /// The stable RS when it is a different RS from the new one.
    fn distinct_stable(&self) -> Option<&RsView> {
        self.stable_rs
            .as_ref()
            .filter(|s| Some(&s.name) != self.new_rs.as_ref().map(|n| &n.name))
    }

    /// §2.3 `checkPausedConditions`: keep the Paused / Progressing(paused) conditions in step with
    /// `pauseConditions ∪ spec.paused`, and turn a cleared abort into `RolloutRetry`. When it
    /// changes anything the pass ends after writing it.
    fn check_paused_conditions(&mut self) -> bool {
        if self.status.observed_generation() != Some(self.generation()) {
            return false;
        }
        let now = self.now;
        let progressing_reason = self
            .status
            .condition(kind::PROGRESSING)
            .and_then(|c| c.reason.clone());
        let mut changed = false;
        if !self.aborted() && progressing_reason.as_deref() == Some(reason::ABORTED) {
            changed |= set_condition(
                &mut self.status,
                &DesiredCondition {
                    kind: kind::PROGRESSING,
                    status: state::UNKNOWN,
                    reason: reason::RETRY,
                    message: "Retrying Rollout after abort".to_owned(),
                },
                now,
                false,
            );
        } else if !self.aborted() {
            let is_paused = !self.status.pause_conditions().is_empty() || self.spec_paused();
            let paused_cond = self
                .status
                .condition(kind::PAUSED)
                .is_some_and(|c| c.status == state::TRUE);
            if is_paused != paused_cond {
                changed |= set_condition(
                    &mut self.status,
                    &DesiredCondition {
                        kind: kind::PAUSED,
                        status: if is_paused { state::TRUE } else { state::FALSE },
                        reason: reason::PAUSED,
                        message: if is_paused {
                            "Rollout is paused".to_owned()
                        } else {
                            "Rollout is resumed".to_owned()
                        },
                    },
                    now,
                    false,
                );
            }
            let completed = self
                .status
                .condition(kind::COMPLETED)
                .is_some_and(|c| c.status == state::TRUE);
            if !completed {
                if is_paused && progressing_reason.as_deref() != Some(reason::PAUSED) {
                    changed |= set_condition(
                        &mut self.status,
                        &DesiredCondition {
                            kind: kind::PROGRESSING,
                            status: state::UNKNOWN,
                            reason: reason::PAUSED,
                            message: "Rollout is paused".to_owned(),
                        },
                        now,
                        false,
                    );
                } else if !is_paused && progressing_reason.as_deref() == Some(reason::PAUSED) {
                    changed |= set_condition(
                        &mut self.status,
                        &DesiredCondition {
                            kind: kind::PROGRESSING,
                            status: state::UNKNOWN,
                            reason: reason::RESUMED,
                            message: "Rollout is resumed".to_owned(),
                        },
                        now,
                        false,
                    );
                }
            }
        }
        if changed {
            let (phase, msg) = rollout_phase(&self.status, &self.phase_input());
            self.status.phase_text = Some(phase.to_owned());
            self.status.message = Some(msg);
            self.write_status_patch();
        }
        changed
    }

    /// §3.5 "template or steps changed": reset the step state and stop.
    fn reset_for_new_template(&mut self) {
        self.reset_this_pass = true;
        let new_hash = self.new_hash();
        let new_is_stable = self.fully_promoted();
        self.status.pause_conditions = None;
        self.status.controller_pause = None;
        self.status.abort = None;
        self.status.aborted_at = None;
        self.status
            .restarted_at
            .clone_from(&self.rollout.spec.restart_at);
        self.status.promote_full = None;
        if let Some(canary) = self.status.canary.as_mut() {
            canary.current_step_analysis_run_status = None;
            canary.current_background_analysis_run_status = None;
            canary.step_plugin_statuses = None;
        }
        self.status.current_step_index = canary_steps::step_index_after_reset(
            self.steps.len(),
            new_is_stable,
            self.within_rollback_window()
                && self.new_rs.as_ref().is_some_and(|rs| rs.size.spec > 0),
        );
        if new_is_stable && !self.steps.is_empty() {
            self.event(
                "SkipSteps",
                "Rollback to stable ReplicaSets".to_owned(),
                EventType::Normal,
            );
        }
        self.status.current_pod_hash = Some(new_hash);
        self.status.current_step_hash = Some(self.step_hash.clone());
        let name = self
            .new_rs
            .as_ref()
            .map(|rs| rs.name.clone())
            .unwrap_or_default();
        let (why, message) = if self.created_new_rs {
            (
                reason::NEW_RS_CREATED,
                format!("Created new replica set \"{name}\""),
            )
        } else {
            (
                reason::FOUND_NEW_RS,
                format!("Found new replica set \"{name}\""),
            )
        };
        set_condition(
            &mut self.status,
            &DesiredCondition {
                kind: kind::PROGRESSING,
                status: state::TRUE,
                reason: why,
                message,
            },
            self.now,
            false,
        );
    }

    fn is_scaling_event(&self) -> bool {
        let annotated: Vec<(ReplicaSetSize, Option<i32>)> = self
            .new_rs
            .iter()
            .chain(self.distinct_stable())
            .map(|rs| (rs.size, rs.desired_annotation))
            .collect();
        crate::controller::replicas::is_scaling_event(&annotated, self.replicas)
    }

    /// §5.1: stable Service → stable RS, canary Service → new RS (stable RS while aborted).
    fn reconcile_services(&mut self) {
        let Some(canary) = self.rollout.canary() else {
            return;
        };
        let aborted = self.aborted();
        let stable = self.stable_rs.clone();
        let new = self.new_rs.clone();
        let canary_target = if aborted { stable.clone() } else { new };
        let pairs = [
            (canary.stable_service.clone(), stable, false),
            (canary.canary_service.clone(), canary_target, aborted),
        ];
        for (service, target, skip_guard) in pairs {
            let (Some(service), Some(target)) = (service.filter(|s| !s.is_empty()), target) else {
                continue;
            };
            let Some(svc) = self.snap.service(&service) else {
                continue;
            };
            let current = self.service_selector(&service);
            if current.as_deref() == Some(target.hash.as_str()) {
                continue;
            }
            let adopted = service_managed_by(svc).is_some();
            let ready = if skip_guard {
                true
            } else if adopted {
                target.size.available > 0
            } else {
                target.size.spec > 0 && target.size.available >= target.size.spec
            };
            if !ready {
                continue;
            }
            self.point_service(&service, &target.hash);
        }
    }

    /// §7.5: delete the oldest fully scaled-down other RSs beyond `revisionHistoryLimit`.
    fn garbage_collect_history(&mut self) {
        let history: Vec<HistoryReplicaSet> = self
            .others
            .iter()
            .map(|rs| HistoryReplicaSet {
                created_at: rs.created,
                size: rs.size,
                observed_generation_current: rs.generation_observed,
                being_deleted: false,
            })
            .collect();
        let limit = self
            .rollout
            .spec
            .revision_history_limit
            .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT);
        let doomed = replica_sets_to_garbage_collect(&history, limit);
        if doomed.is_empty() {
            return;
        }
        let mut kept = Vec::new();
        for (index, rs) in std::mem::take(&mut self.others).into_iter().enumerate() {
            if doomed.contains(&index) {
                self.actions
                    .push(Action::DeleteReplicaSet { name: rs.name });
            } else {
                kept.push(rs);
            }
        }
        self.others = kept;
    }

    /// The Service's hash selector as of this pass (including switches planned in it).
    fn service_selector(&self, name: &str) -> Option<String> {
        if let Some(hash) = self.switched.get(name) {
            return Some(hash.clone());
        }
        self.snap
            .service(name)
            .and_then(service_hash_selector)
            .map(str::to_owned)
    }

    /// Points a Service's hash selector at `hash` (no-op when it already does or is missing).
    fn point_service(&mut self, service: &str, hash: &str) {
        if self.snap.service(service).is_none() {
            return;
        }
        let current = self.service_selector(service);
        if current.as_deref() == Some(hash) {
            return;
        }
        self.actions.push(Action::PatchService {
            name: service.to_owned(),
            patch: json!({
                "metadata": {"annotations": {MANAGED_BY_ANNOTATION: self.rollout.name_any()}},
                "spec": {"selector": {POD_TEMPLATE_HASH_LABEL: hash}},
            }),
        });
        self.event(
            "SwitchService",
            format!(
                "Switched selector for service '{service}' from '{}' to '{hash}'",
                current.unwrap_or_default(),
            ),
            EventType::Normal,
        );
        self.switched.insert(service.to_owned(), hash.to_owned());
    }

    fn progress_threshold(&self) -> Option<ReplicaProgressThreshold> {
        let raw = self.rollout.canary()?.replica_progress_threshold.as_ref()?;
        Some(if raw.kind == "Pods" {
            ReplicaProgressThreshold::Pods(raw.value)
        } else {
            ReplicaProgressThreshold::Percent(raw.value)
        })
    }

    fn fenceposts(&self) -> Option<crate::controller::fenceposts::Fenceposts> {
        let canary = self.rollout.canary()?;
        let surge = canary.max_surge.as_ref().map(to_int_or_percent);
        let unavailable = canary.max_unavailable.as_ref().map(to_int_or_percent);
        resolve_canary_fenceposts(surge.as_ref(), unavailable.as_ref(), self.replicas).ok()
    }

    /// §3.9 rollback window: the new RS is older than the stable RS and fewer than
    /// `rollbackWindow.revisions` ReplicaSets were created between them.
    fn within_rollback_window(&self) -> bool {
        let window = self
            .rollout
            .spec
            .rollback_window
            .as_ref()
            .and_then(|w| w.revisions);
        let (Some(new), Some(stable)) = (self.new_rs.as_ref(), self.distinct_stable()) else {
            return false;
        };
        let between: Vec<DateTime<Utc>> = self.others.iter().filter_map(|o| o.created).collect();
        canary_steps::is_rollback_within_window(window, new.created, stable.created, &between)
    }

    /// The canary weight the replica math aims at this pass.
    fn desired_weight(&self) -> i32 {
        let effective = canary_steps::effective_step_index(
            self.steps.len(),
            self.status.current_step_index,
            self.promote_full(),
            self.within_rollback_window(),
        );
        desired_canary_target(&DesiredCanaryInput {
            steps: &self.steps,
            current_step_index: effective,
            max_weight: DEFAULT_MAX_TRAFFIC_WEIGHT,
            promote_full: self.promote_full(),
            has_stable_rs: self.distinct_stable().is_some() || self.fully_promoted(),
            current_is_stable: self.fully_promoted(),
            aborted: self.aborted(),
            traffic_routed: false,
            dynamic_stable_scale: false,
            abort_scale_down_delay: None,
            abort_scale_down_delay_explicit: false,
            replicas: self.replicas,
            stable_available: self.distinct_stable().map(|s| s.size.available),
            canary_available: self.new_rs.as_ref().map(|s| s.size.available),
        })
        .weight()
    }

    /// §3.4 step 11 for a basic canary: resize stable, else new, else the others; at most one
    /// RS per pass. Returns true when something was resized.
    fn scale_canary(&mut self) -> bool {
        let inconclusive = self
            .status
            .pause_conditions()
            .iter()
            .any(|p| p.reason == INCONCLUSIVE_ANALYSIS_RUN);
        if self.spec_paused() || inconclusive {
            return false;
        }
        if self.rollout.traffic_routing().is_some() {
            return self.scale_traffic_routed_canary();
        }
        let (Some(fenceposts), Some(new)) = (self.fenceposts(), self.new_rs.clone()) else {
            return false;
        };
        let stable = self.distinct_stable().cloned();
        let others: Vec<OtherReplicaSet> = self
            .others
            .iter()
            .map(|rs| OtherReplicaSet {
                revision: rs.revision,
                size: rs.size,
                referenced: false,
                scale_down_deadline: None,
            })
            .collect();
        let desired = basic_canary_replica_counts(&BasicCanaryInput {
            replicas: self.replicas,
            weight: self.desired_weight(),
            fenceposts,
            new_rs: Some(new.size),
            stable_rs: stable.as_ref().map(|s| s.size),
            other_rs_spec_total: others.iter().map(|o| o.size.spec).sum(),
        });
        let available_total = new.size.available
            + stable.as_ref().map_or(0, |s| s.size.available)
            + others.iter().map(|o| o.size.available).sum::<i32>();
        let others_plan = plan_canary_scale_down(&CanaryScaleDownInput {
            replicas: self.replicas,
            max_unavailable: fenceposts.max_unavailable,
            available_total,
            others: &others,
            traffic_routed: false,
            fully_promoted: self.fully_promoted(),
            dynamic_stable_scale: false,
            scale_down_delay: Duration::ZERO,
            scale_down_delay_revision_limit: None,
            now: self.now,
        });
        let resize = next_canary_resize(&CanaryResizeInput {
            desired,
            new_rs: Some(new.size),
            stable_rs: stable.as_ref().map(|s| s.size),
            aborted_new_rs: None,
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
                    if let Some(rs) = self.others.get(change.index).cloned()
                        && rs.size.spec != change.replicas
                    {
                        self.scale(&rs.name, change.replicas);
                        any = true;
                    }
                }
                any
            }
            CanaryResize::Settled => {
                // A stale desired-replicas annotation is refreshed like a resize (the reference
                // updates the RS when either the size or the annotations need it).
                for rs in stable.iter().chain(std::iter::once(&new)) {
                    if rs.size.spec > 0 && rs.desired_annotation != Some(self.replicas) {
                        let name = rs.name.clone();
                        let spec = rs.size.spec;
                        self.actions.push(Action::ScaleReplicaSet {
                            name,
                            replicas: spec,
                            desired_replicas: self.replicas,
                        });
                        return true;
                    }
                }
                false
            }
        }
    }

    /// Emits the resize and its `ScalingReplicaSet` event and updates the in-memory sizes.
    fn scale(&mut self, name: &str, replicas: i32) {
        let views = self
            .new_rs
            .iter_mut()
            .chain(self.stable_rs.iter_mut())
            .chain(self.others.iter_mut());
        let mut from = None;
        let mut revision = 0;
        for view in views.filter(|v| v.name == name) {
            from = Some(view.size.spec);
            revision = view.revision;
            view.size.spec = replicas;
            view.desired_annotation = Some(self.replicas);
        }
        let Some(from) = from else {
            return;
        };
        self.actions.push(Action::ScaleReplicaSet {
            name: name.to_owned(),
            replicas,
            desired_replicas: self.replicas,
        });
        if from != replicas {
            let direction = if replicas > from { "up" } else { "down" };
            self.event(
                "ScalingReplicaSet",
                format!("Scaled {direction} ReplicaSet {name} (revision {revision}) from {from} to {replicas}"),
                EventType::Normal,
            );
        }
    }

    fn canary_pause_started_at(&self) -> Option<DateTime<Utc>> {
        self.status
            .pause_conditions()
            .iter()
            .find(|p| p.reason == CANARY_PAUSE_STEP)
            .map(|p| parse_time(&p.start_time).unwrap_or(self.now))
    }

    /// §3.6 `reconcileCanaryPause`: enter a pause step, or schedule its expiry.
    fn reconcile_pause_step(&mut self) {
        let action = canary_steps::canary_pause_action(
            &self.steps,
            self.status.current_step_index,
            self.spec_paused(),
            self.promote_full() || self.within_rollback_window(),
            self.status.controller_pause == Some(true),
            self.canary_pause_started_at(),
        );
        match action {
            CanaryPauseAction::AddPauseCondition => {
                self.add_pause_condition(CANARY_PAUSE_STEP);
                self.event(
                    reason::PAUSED,
                    format!("Rollout is paused ({CANARY_PAUSE_STEP})"),
                    EventType::Normal,
                );
                if let Some((_, CanaryStep::Pause(Some(duration)))) =
                    canary_steps::current_step(&self.steps, self.status.current_step_index)
                {
                    let at = canary_steps::pause_step_deadline(self.now, *duration);
                    self.requeue_at(at + chrono::Duration::seconds(1));
                }
            }
            CanaryPauseAction::Waiting {
                resume_at: Some(at),
            } if at >= self.now => {
                // Completion is `now > start + duration`: look again just past the deadline.
                self.requeue_at(at + chrono::Duration::seconds(1));
            }
            _ => {}
        }
    }

    /// §3.5 `syncRolloutStatusCanary`: promotion, abort bookkeeping, step advance.
    fn canary_status(&mut self) {
        let steps_len = self.steps.len();
        let Some(new) = self.new_rs.clone() else {
            return;
        };
        if self.promote_full() || self.within_rollback_window() {
            // §3.5: full promotion and rollbacks within the window clear pauses and abort.
            self.status.pause_conditions = None;
            self.status.abort = None;
        }
        let effective = canary_steps::effective_step_index(
            steps_len,
            self.status.current_step_index,
            self.promote_full(),
            self.within_rollback_window(),
        );
        let new_rs_ready = new_rs_progress_met(
            Some(ReplicaSetSize {
                spec: self.replicas,
                ..new.size
            }),
            self.replicas,
            self.progress_threshold(),
        );
        let has_stable = self
            .status
            .stable_rs
            .as_deref()
            .is_some_and(|s| !s.is_empty());
        let promotion = canary_steps::canary_full_promotion(&CanaryPromotionInput {
            has_stable_rs: has_stable,
            aborted: self.aborted(),
            new_rs_ready,
            promote_full: self.promote_full(),
            new_is_stable: self.fully_promoted(),
            rollback_within_window: self.within_rollback_window(),
            steps_len,
            current_step_index: effective,
        });
        if let Some(why) = promotion {
            if !self.fully_promoted() {
                self.swap_ping_pong_roles();
                self.event(
                    reason::COMPLETED,
                    format!(
                        "Rollout completed update to revision {} ({}): {why}",
                        new.revision, new.hash
                    ),
                    EventType::Normal,
                );
            }
            self.status.pause_conditions = None;
            self.status.abort = None;
            self.status.aborted_at = None;
            self.status.promote_full = None;
            self.status.current_step_index = canary_steps::step_index_on_promotion(steps_len);
            self.status.stable_rs = Some(new.hash.clone());
            if let Some(stable) = self.stable_rs.as_mut() {
                *stable = new.clone();
            }
        } else if self.aborted() {
            self.status.current_step_index =
                canary_steps::step_index_on_abort(steps_len, self.fully_promoted());
            self.status.pause_conditions = None;
            if self.status.aborted_at.is_none() {
                self.status.aborted_at = Some(format_time(self.now));
            }
        } else if let Some((index, step)) =
            canary_steps::current_step(&self.steps, self.status.current_step_index)
        {
            let step = step.clone();
            let replicas_at_desired = self.replicas_at_desired();
            let progress = StepProgress {
                spec_paused: self.spec_paused(),
                controller_pause: self.status.controller_pause == Some(true),
                canary_pause_started_at: self.canary_pause_started_at(),
                replicas_at_desired,
                weights_verified: None,
                experiment_successful: self.step_experiment_successful(),
                analysis_successful: self.step_analysis_successful(),
                plugin_completed: false,
            };
            if canary_steps::is_current_step_complete(&step, &progress, self.now) {
                let next = canary_steps::advance_step_index(Some(len_i32(index)));
                self.status.current_step_index = Some(next);
                let had_pause = self.canary_pause_started_at().is_some();
                if let Some(canary) = self.status.canary.as_mut() {
                    canary.current_step_analysis_run_status = None;
                }
                if let Some(conds) = self.status.pause_conditions.as_mut() {
                    conds.retain(|p| p.reason != CANARY_PAUSE_STEP);
                }
                self.event(
                    "RolloutStepCompleted",
                    format!(
                        "Rollout step {next}/{steps_len} completed ({})",
                        step.describe()
                    ),
                    EventType::Normal,
                );
                if had_pause {
                    // The controller itself lifted its pause (timed pause expired).
                    self.event(
                        reason::RESUMED,
                        "Rollout is resumed".to_owned(),
                        EventType::Normal,
                    );
                }
            }
        }
        self.settle_pause_and_abort_fields();
    }

    /// §3.6 bookkeeping applied when status is persisted.
    fn settle_pause_and_abort_fields(&mut self) {
        if !self.aborted() {
            // Not aborted ⇒ no abortedAt (kept through the retry pass so a retried analysis
            // sees it).
            self.status.abort = None;
            self.status.aborted_at = None;
        }
        if self.status.pause_conditions().is_empty() {
            // An empty list means no controller pause either.
            self.status.pause_conditions = None;
            self.status.controller_pause = None;
        }
    }

    /// `AtDesiredReplicaCountsForCanary` for the current weight (basic canary).
    fn replicas_at_desired(&self) -> bool {
        if self.rollout.traffic_routing().is_some() {
            return self.traffic_routed_at_desired();
        }
        let Some(new) = self.new_rs.as_ref() else {
            return false;
        };
        let surge = self.fenceposts().map_or(0, |f| f.max_surge);
        let weight = canary_steps::current_set_weight(
            &self.steps,
            self.status.current_step_index,
            self.aborted(),
            DEFAULT_MAX_TRAFFIC_WEIGHT,
        );
        let desired =
            approximate_weighted_split(self.replicas, weight, surge, DEFAULT_MAX_TRAFFIC_WEIGHT);
        at_desired_replica_counts(&AtDesiredInput {
            desired,
            new_rs: Some(new.size),
            stable_rs: self.distinct_stable().map(|s| s.size),
            other_rs_available_total: self.others.iter().map(|o| o.size.available).sum(),
            traffic_routed: false,
            dynamic_stable_scale: false,
            progress_threshold: self.progress_threshold(),
        })
    }

    fn all_views(&self) -> impl Iterator<Item = &RsView> {
        self.new_rs
            .iter()
            .chain(self.distinct_stable())
            .chain(self.others.iter())
    }

    /// `persistRolloutStatus`: counts, conditions, phase, observedGeneration, diff patch.
    fn persist(&mut self) {
        let new_hash = self.new_hash();
        let new_name = self
            .new_rs
            .as_ref()
            .map(|r| r.name.clone())
            .unwrap_or_default();
        let new_revision = self.new_rs.as_ref().map_or(0, |r| r.revision);
        let (replicas, ready, available) = self.all_views().fold((0, 0, 0), |acc, rs| {
            (
                acc.0 + rs.size.status,
                acc.1 + rs.ready,
                acc.2 + rs.size.available,
            )
        });
        let updated = self.new_rs.as_ref().map_or(0, |r| r.size.status);
        let generation = self.generation();
        let blue_green = self.rollout.blue_green().is_some();
        // Blue-green reports ready/available/HPA/selector from the active RS (spec §2.1).
        let active_hash = self
            .status
            .blue_green
            .as_ref()
            .and_then(|b| b.active_selector.clone());
        let active = self
            .all_views()
            .find(|rs| blue_green && Some(&rs.hash) == active_hash.as_ref())
            .cloned();
        let rollout_selector = format_match_labels(
            self.rollout
                .spec
                .selector
                .as_ref()
                .and_then(|s| s.match_labels.as_ref()),
        );
        let status = &mut self.status;
        status.replicas = Some(replicas);
        status.updated_replicas = Some(updated);
        if let Some(active) = active {
            status.hpa_replicas = Some(active.size.status);
            status.ready_replicas = Some(active.ready);
            status.available_replicas = Some(active.size.available);
            status.selector = Some(active.selector);
        } else {
            status.hpa_replicas = Some(if blue_green { 0 } else { replicas });
            status.ready_replicas = Some(ready);
            status.available_replicas = Some(available);
            status.selector = Some(rollout_selector);
        }
        status.current_pod_hash = Some(new_hash.clone());
        status.current_step_hash = (!blue_green).then(|| self.step_hash.clone());
        if self.steps.is_empty() {
            status.current_step_index = None;
        }
        if self.rollout.traffic_routing().is_none()
            && let Some(canary) = status.canary.as_mut()
        {
            // Only traffic-routed canaries record weights (§5.2: no routers → nil).
            canary.weights = None;
        }
        status.set_observed_generation(generation);
        remove_condition(&mut self.status, kind::INVALID_SPEC);
        self.conditions(&new_name, new_revision, &new_hash);
        let (phase, msg) = rollout_phase(&self.status, &self.phase_input());
        self.status.phase_text = Some(phase.to_owned());
        self.status.message = Some(msg);
        self.write_status_patch();
    }

    /// `RolloutProgressing(old, new)` (§2.3).
    fn progressed(&self) -> bool {
        let (old, new) = (&self.old, &self.status);
        let behind = |s: &RolloutStatus| s.replicas.unwrap_or(0) - s.updated_replicas.unwrap_or(0);
        old.updated_replicas != new.updated_replicas
            || behind(new) < behind(old)
            || new.ready_replicas.unwrap_or(0) > old.ready_replicas.unwrap_or(0)
            || new.available_replicas.unwrap_or(0) > old.available_replicas.unwrap_or(0)
            || old.stable_rs != new.stable_rs
            || old.current_step_index != new.current_step_index
            || old.current_step_hash != new.current_step_hash
            || old
                .blue_green
                .as_ref()
                .map(|b| (&b.active_selector, &b.preview_selector))
                != new
                    .blue_green
                    .as_ref()
                    .map(|b| (&b.active_selector, &b.preview_selector))
    }

    /// `RolloutHealthy` for canary (§2.3).
    fn healthy(&self) -> bool {
        let s = &self.status;
        if let Some(bg) = self.rollout.blue_green() {
            let selectors = s.blue_green.clone().unwrap_or_default();
            let preview_ok = bg.preview_service.as_deref().is_none_or(str::is_empty)
                || selectors.preview_selector == s.current_pod_hash;
            return s.updated_replicas == Some(self.replicas)
                && s.available_replicas == Some(self.replicas)
                && s.stable_rs.is_some()
                && s.stable_rs == s.current_pod_hash
                && selectors.active_selector == s.current_pod_hash
                && preview_ok;
        }
        s.updated_replicas == Some(self.replicas)
            && s.available_replicas == Some(self.replicas)
            && s.replicas == Some(self.replicas)
            && canary_steps::all_steps_completed(self.steps.len(), s.current_step_index)
            && s.stable_rs.is_some()
            && s.stable_rs == s.current_pod_hash
    }

    fn conditions(&mut self, rs_name: &str, revision: i64, hash: &str) {
        let now = self.now;
        let healthy = self.healthy();
        let paused = !self.status.pause_conditions().is_empty() || self.spec_paused();
        let aborted = self.aborted();
        let progressed = self.progressed();
        let existing = self.status.condition(kind::PROGRESSING).cloned();
        let keeps_abort_reason = existing_reason_is(existing.as_ref(), reason::ABORTED)
            && existing.as_ref().is_some_and(|c| c.status == state::FALSE);
        if aborted && keeps_abort_reason {
            // Keep the controller's abort reason (e.g. the progress deadline) as written.
        } else if aborted {
            let message = match self.abort_reason.as_deref() {
                Some(why) => format!("Rollout aborted update to revision {revision}: {why}"),
                None => format!("Rollout aborted update to revision {revision}"),
            };
            let changed = set_condition(
                &mut self.status,
                &DesiredCondition {
                    kind: kind::PROGRESSING,
                    status: state::FALSE,
                    reason: reason::ABORTED,
                    message: message.clone(),
                },
                now,
                false,
            );
            if changed {
                self.event(reason::ABORTED, message, EventType::Warning);
            }
        } else if healthy {
            set_condition(
                &mut self.status,
                &DesiredCondition {
                    kind: kind::PROGRESSING,
                    status: state::TRUE,
                    reason: reason::NEW_RS_AVAILABLE,
                    message: format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
                },
                now,
                false,
            );
        } else if (progressed && !paused && !self.reset_this_pass) || existing.is_none() {
            set_condition(
                &mut self.status,
                &DesiredCondition {
                    kind: kind::PROGRESSING,
                    status: state::TRUE,
                    reason: reason::RS_UPDATED,
                    message: format!("ReplicaSet \"{rs_name}\" is progressing."),
                },
                now,
                true,
            );
        }
        if !aborted && !healthy && !paused {
            self.progress_deadline(rs_name, revision, progressed);
        }
        let available = self.status.available_replicas.unwrap_or(0) >= self.replicas;
        set_condition(
            &mut self.status,
            &DesiredCondition {
                kind: kind::AVAILABLE,
                status: if available { state::TRUE } else { state::FALSE },
                reason: reason::AVAILABLE,
                message: if available {
                    "Rollout has minimum availability".to_owned()
                } else {
                    "Rollout does not have minimum availability".to_owned()
                },
            },
            now,
            false,
        );
        let completed = self
            .status
            .stable_rs
            .as_deref()
            .is_some_and(|s| !s.is_empty() && s == hash);
        let was_not_completed = self
            .old
            .condition(kind::COMPLETED)
            .is_some_and(|c| c.status == state::FALSE);
        set_condition(
            &mut self.status,
            &DesiredCondition {
                kind: kind::COMPLETED,
                status: if completed { state::TRUE } else { state::FALSE },
                reason: reason::COMPLETED,
                message: reason::COMPLETED.to_owned(),
            },
            now,
            false,
        );
        if !was_not_completed && !completed {
            self.event(
                "RolloutNotCompleted",
                format!("Rollout not completed, started update to revision {revision} ({hash})"),
                EventType::Normal,
            );
        }
        if !paused && healthy {
            set_condition(
                &mut self.status,
                &DesiredCondition {
                    kind: kind::HEALTHY,
                    status: state::TRUE,
                    reason: reason::HEALTHY,
                    message: "Rollout is healthy".to_owned(),
                },
                now,
                false,
            );
        } else if self.status.condition(kind::HEALTHY).is_some() {
            set_condition(
                &mut self.status,
                &DesiredCondition {
                    kind: kind::HEALTHY,
                    status: state::FALSE,
                    reason: reason::HEALTHY,
                    message: "Rollout is not healthy".to_owned(),
                },
                now,
                false,
            );
        }
    }

    /// §2.3 timeout: no progress for `progressDeadlineSeconds` while not paused on a pause,
    /// analysis or experiment step ⇒ Progressing False `ProgressDeadlineExceeded`; otherwise
    /// requeue just after the deadline.
    fn progress_deadline(&mut self, rs_name: &str, revision: i64, progressed: bool) {
        let Some(existing) = self.status.condition(kind::PROGRESSING).cloned() else {
            return;
        };
        let reason_now = existing.reason.as_deref().unwrap_or_default();
        if reason_now == reason::ABORTED || reason_now == reason::PAUSED {
            return;
        }
        let waiting_step = matches!(
            canary_steps::current_step(&self.steps, self.status.current_step_index),
            Some((
                _,
                CanaryStep::Pause(_) | CanaryStep::Analysis | CanaryStep::Experiment
            ))
        );
        if waiting_step
            || self
                .status
                .condition(kind::PAUSED)
                .is_some_and(|c| c.status == state::TRUE)
        {
            return;
        }
        let Some(last) = existing.last_update_time.as_deref().and_then(parse_time) else {
            return;
        };
        let seconds = self
            .rollout
            .spec
            .progress_deadline_seconds
            .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
        if reason_now == reason::TIMED_OUT {
            return;
        }
        let deadline = last + chrono::Duration::seconds(i64::from(seconds));
        if !progressed && self.now > deadline {
            let message = format!("ReplicaSet \"{rs_name}\" has timed out progressing.");
            let completed = self.status.stable_rs.is_some()
                && self.status.stable_rs == self.status.current_pod_hash;
            if self.rollout.spec.progress_deadline_abort == Some(true) && !completed {
                // `progressDeadlineAbort`: the controller aborts with the deadline as reason.
                let message = format!("Rollout aborted update to revision {revision}: {message}");
                self.status.abort = Some(true);
                self.status.aborted_at = Some(format_time(self.now));
                set_condition(
                    &mut self.status,
                    &DesiredCondition {
                        kind: kind::PROGRESSING,
                        status: state::FALSE,
                        reason: reason::ABORTED,
                        message: message.clone(),
                    },
                    self.now,
                    false,
                );
                self.event(reason::ABORTED, message, EventType::Warning);
                return;
            }
            set_condition(
                &mut self.status,
                &DesiredCondition {
                    kind: kind::PROGRESSING,
                    status: state::FALSE,
                    reason: reason::TIMED_OUT,
                    message: message.clone(),
                },
                self.now,
                false,
            );
            self.event(reason::TIMED_OUT, message, EventType::Warning);
        } else {
            self.requeue_at(deadline + chrono::Duration::seconds(1));
        }
    }
}
