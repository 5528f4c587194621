//! Scenario tests for [`crate::controller::plan`]. A small in-memory world (Rollout, owned
//! ReplicaSets, AnalysisRuns, Services, recorded events, a clock) applies each [`Plan`]'s
//! actions and plays a trivial ReplicaSet controller and kubelet: pods exist as soon as
//! `spec.replicas` says so, and become available unless their image is marked as crashing. The
//! tests play the analysis engine by setting run phases, and replay the user actions of
//! `kubectl argo rollouts` as the status/spec patches spec §7.7 describes. Each test drives
//! `plan` to a fixed point and asserts ReplicaSet sizes, status fields, messages and events along
//! the §8 canary and blue-green scenarios.
//!
//! This is a pure simulation of the planner's logic only. It is **not** a substitute for the
//! end-to-end tests against the sandbox API server (real watches, real patches, the `apply`
//! step), which must still cover these scenarios.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use serde_json::{Value, json};

use crate::controller::plan::{Action, Plan, plan};
use crate::controller::snapshot::{
    DESIRED_REPLICAS_ANNOTATION, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION, Snapshot,
    replica_set_hash,
};
use crate::crd::{AnalysisRun, AnalysisTemplate, Experiment, Rollout};

struct World {
    experiments: Vec<Experiment>,
    rollout: Rollout,
    replica_sets: Vec<ReplicaSet>,
    analysis_runs: Vec<AnalysisRun>,
    analysis_templates: Vec<AnalysisTemplate>,
    services: Vec<Service>,
    now: DateTime<Utc>,
    events: Vec<(String, String)>,
    crashing: Vec<String>,
    created: i64,
    last_requeue: Option<Duration>,
    /// Router objects (VirtualServices, ...), patched by `Action::Traffic`.
    traffic: crate::controller::traffic::TrafficObjects,
}

fn rollout(replicas: i32, canary: &Value) -> Rollout {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "demo", "namespace": "default", "uid": "uid-demo", "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "demo"}},
            "template": {
                "metadata": {"labels": {"app": "demo"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}
            },
            "strategy": {"canary": canary}
        }
    }))
    .unwrap()
}

fn service(name: &str) -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"app": "demo"}, "ports": [{"port": 80}]}
    }))
    .unwrap()
}

fn merge_into<T: serde::Serialize + serde::de::DeserializeOwned>(target: &mut T, patch: &Value) {
    let mut value = serde_json::to_value(&*target).unwrap();
    json_patch::merge(&mut value, patch);
    *target = serde_json::from_value(value).unwrap();
}

impl World {
    fn new(rollout: Rollout) -> Self {
        World {
            experiments: Vec::new(),
            rollout,
            replica_sets: Vec::new(),
            analysis_runs: Vec::new(),
            analysis_templates: Vec::new(),
            services: Vec::new(),
            now: DateTime::from_timestamp(1_750_000_000, 0).unwrap(),
            events: Vec::new(),
            crashing: Vec::new(),
            created: 0,
            last_requeue: None,
            traffic: crate::controller::traffic::TrafficObjects::default(),
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            rollout: self.rollout.clone(),
            replica_sets: self.replica_sets.clone(),
            analysis_runs: self.analysis_runs.clone(),
            analysis_templates: self.analysis_templates.clone(),
            cluster_analysis_templates: Vec::new(),
            services: self.services.clone(),
            now: self.now,
            traffic: self.traffic.clone(),
            pods: Vec::new(),
            experiments: self.experiments.clone(),
            workload: None,
        }
    }

    fn apply(&mut self, plan: &Plan) {
        for action in &plan.actions {
            match action {
                Action::CreateReplicaSet(rs) => {
                    let mut rs = (**rs).clone();
                    assert!(
                        self.replica_sets
                            .iter()
                            .all(|o| o.name_any() != rs.name_any()),
                        "AlreadyExists: {}",
                        rs.name_any()
                    );
                    self.created += 1;
                    let ts = k8s_openapi::jiff::Timestamp::from_second(
                        self.now.timestamp() + self.created,
                    )
                    .unwrap();
                    rs.metadata.creation_timestamp =
                        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts));
                    rs.metadata.uid = Some(format!("rs-{}", self.created));
                    self.replica_sets.push(rs);
                }
                Action::ScaleReplicaSet {
                    name,
                    replicas,
                    desired_replicas,
                } => {
                    let rs = self.rs_named(name);
                    rs.spec.replicas = Some(*replicas);
                    rs.annotations_mut().insert(
                        DESIRED_REPLICAS_ANNOTATION.into(),
                        desired_replicas.to_string(),
                    );
                }
                Action::PatchReplicaSet { name, patch } => merge_into(self.rs_named(name), patch),
                Action::DeleteReplicaSet { name } => {
                    let before = self.replica_sets.len();
                    self.replica_sets.retain(|rs| rs.name_any() != *name);
                    assert_eq!(self.replica_sets.len() + 1, before, "deleted {name} twice");
                }
                Action::PatchRollout(patch) => merge_into(&mut self.rollout, patch),
                Action::PatchRolloutStatus(patch) => {
                    let mut status = serde_json::to_value(&self.rollout.status).unwrap();
                    json_patch::merge(&mut status, patch);
                    self.rollout.status = serde_json::from_value(status).unwrap();
                }
                Action::PatchService { name, patch } => {
                    let svc = self
                        .services
                        .iter_mut()
                        .find(|s| s.name_any() == *name)
                        .unwrap();
                    merge_into(svc, patch);
                }
                Action::CreateAnalysisRun(run) => {
                    assert!(
                        self.analysis_runs
                            .iter()
                            .all(|r| r.name_any() != run.name_any())
                    );
                    self.analysis_runs.push((**run).clone());
                }
                Action::PatchAnalysisRun { name, patch } => {
                    let run = self
                        .analysis_runs
                        .iter_mut()
                        .find(|r| r.name_any() == *name)
                        .unwrap();
                    merge_into(run, patch);
                }
                Action::CreateExperiment(experiment) => {
                    assert!(
                        self.experiments
                            .iter()
                            .all(|e| e.name_any() != experiment.name_any())
                    );
                    self.experiments.push((**experiment).clone());
                }
                Action::PatchExperiment { name, patch } => {
                    let experiment = self
                        .experiments
                        .iter_mut()
                        .find(|e| e.name_any() == *name)
                        .unwrap();
                    merge_into(experiment, patch);
                }
                Action::DeleteAnalysisRun { name } => {
                    self.analysis_runs.retain(|r| r.name_any() != *name);
                }
                Action::DeleteExperiment { name } => {
                    self.experiments.retain(|e| e.name_any() != *name);
                }
                Action::EvictPod { name }
                | Action::PatchPod { name, .. }
                | Action::ScaleDeployment { name, .. } => {
                    panic!("the simulation has no pods: {name}");
                }
                Action::RecordEvent {
                    reason, message, ..
                } => self.events.push((reason.clone(), message.clone())),
                Action::Traffic(change) => self.apply_traffic(change),
            }
        }
    }

    fn apply_traffic(&mut self, change: &crate::controller::traffic::TrafficChange) {
        use crate::controller::traffic::TrafficChange;
        match change {
            TrafficChange::Patch { key, patch, .. } => {
                let object = self.traffic.objects.get_mut(key).unwrap();
                json_patch::merge(object, patch);
            }
            TrafficChange::Create { key, object, .. } => {
                self.traffic.objects.insert(key.clone(), object.clone());
            }
        }
    }

    fn rs_named(&mut self, name: &str) -> &mut ReplicaSet {
        self.replica_sets
            .iter_mut()
            .find(|rs| rs.name_any() == name)
            .unwrap()
    }

    fn image_of(rs: &ReplicaSet) -> String {
        rs.spec
            .template
            .as_ref()
            .unwrap()
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image
            .clone()
            .unwrap()
    }

    /// ReplicaSet controller + kubelet: pods exist at once; available unless crashing.
    fn kubelet(&mut self, ready: bool) {
        for rs in &mut self.replica_sets {
            let spec = rs.spec.replicas.unwrap_or(0);
            let crashing = self.crashing.contains(&World::image_of(rs));
            let available = if ready && !crashing {
                spec
            } else {
                // Pods not yet ready keep whatever was available, capped by the new size.
                rs.status
                    .as_ref()
                    .and_then(|s| s.available_replicas)
                    .unwrap_or(0)
                    .min(spec)
                    .min(if crashing { 0 } else { spec })
            };
            rs.status = Some(ReplicaSetStatus {
                replicas: spec,
                ready_replicas: Some(available),
                available_replicas: Some(available),
                ..ReplicaSetStatus::default()
            });
        }
    }

    /// Plans and applies until a pass plans nothing, playing the kubelet in between.
    fn settle_with(&mut self, ready: bool) {
        for _ in 0..100 {
            self.kubelet(ready);
            let plan = plan(&self.snapshot());
            self.last_requeue = plan.requeue_after;
            if plan.actions.is_empty() {
                return;
            }
            self.apply(&plan);
        }
        panic!(
            "plan did not reach a fixed point; events: {:?}",
            self.events
        );
    }

    fn settle(&mut self) {
        self.settle_with(true);
    }

    fn advance(&mut self, seconds: i64) {
        self.now += chrono::Duration::seconds(seconds);
    }

    fn edit_spec(&mut self, patch: &Value) {
        merge_into(&mut self.rollout, &json!({ "spec": patch }));
        let generation = self.rollout.metadata.generation.unwrap_or(0) + 1;
        self.rollout.metadata.generation = Some(generation);
    }

    fn set_image(&mut self, image: &str) {
        self.edit_spec(
            &json!({"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}),
        );
    }

    fn patch_status(&mut self, patch: &Value) {
        let mut status = serde_json::to_value(&self.rollout.status).unwrap();
        json_patch::merge(&mut status, patch);
        self.rollout.status = serde_json::from_value(status).unwrap();
    }

    /// `kubectl argo rollouts promote` (spec §7.7).
    fn promote(&mut self) {
        if self.rollout.spec.paused == Some(true) {
            self.edit_spec(&json!({"paused": false}));
        }
        let status = self.rollout.status.clone().unwrap_or_default();
        if status.pause_conditions().is_empty() {
            let next = status.current_step_index.unwrap_or(0) + 1;
            self.patch_status(&json!({"currentStepIndex": next}));
        } else {
            self.patch_status(&json!({"pauseConditions": null}));
        }
    }

    fn status(&self) -> crate::crd::RolloutStatus {
        self.rollout.status.clone().unwrap_or_default()
    }

    fn phase(&self) -> (String, String) {
        let s = self.status();
        (
            s.phase_text.unwrap_or_default(),
            s.message.unwrap_or_default(),
        )
    }

    /// `spec.replicas` of the ReplicaSet running `image` (0 if none).
    fn pods(&self, image: &str) -> i32 {
        self.replica_sets
            .iter()
            .filter(|rs| World::image_of(rs) == image)
            .map(|rs| rs.spec.replicas.unwrap_or(0))
            .sum()
    }

    fn hash_of(&self, image: &str) -> String {
        let rs = self
            .replica_sets
            .iter()
            .find(|rs| World::image_of(rs) == image)
            .unwrap();
        replica_set_hash(rs).unwrap().to_owned()
    }

    fn condition(&self, kind: &str) -> (String, String, String) {
        let s = self.status();
        let c = s.condition(kind).unwrap();
        (
            c.status.clone(),
            c.reason.clone().unwrap_or_default(),
            c.message.clone().unwrap_or_default(),
        )
    }

    fn reasons_since(&self, from: usize) -> Vec<&str> {
        self.events[from..]
            .iter()
            .map(|(r, _)| r.as_str())
            .collect()
    }

    fn has_event(&self, reason: &str, message: &str) -> bool {
        self.events.iter().any(|(r, m)| r == reason && m == message)
    }
}

#[test]
fn initial_deploy_is_promoted_at_once_and_becomes_healthy() {
    let mut w = World::new(rollout(
        3,
        &json!({"steps": [{"setWeight": 50}, {"pause": {}}]}),
    ));
    w.settle();
    let s = w.status();
    assert_eq!(w.pods("nginx:1"), 3);
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    let hash = w.hash_of("nginx:1");
    assert_eq!(s.stable_rs.as_deref(), Some(hash.as_str()));
    assert_eq!(s.current_pod_hash.as_deref(), Some(hash.as_str()));
    assert_eq!(s.current_step_index, Some(2));
    assert_eq!(s.observed_generation(), Some(1));
    assert_eq!(s.selector.as_deref(), Some("app=demo"));
    assert_eq!(
        (
            s.replicas,
            s.updated_replicas,
            s.ready_replicas,
            s.available_replicas,
            s.hpa_replicas
        ),
        (Some(3), Some(3), Some(3), Some(3), Some(3))
    );
    assert_eq!(w.condition("Completed").0, "True");
    assert_eq!(
        w.condition("Healthy"),
        (
            "True".into(),
            "RolloutHealthy".into(),
            "Rollout is healthy".into()
        )
    );
    assert_eq!(w.condition("Available").0, "True");
    let rs_name = format!("demo-{hash}");
    assert_eq!(
        w.condition("Progressing"),
        (
            "True".into(),
            "NewReplicaSetAvailable".into(),
            format!("ReplicaSet \"{rs_name}\" has successfully progressed.")
        )
    );
    let rs = &w.replica_sets[0];
    assert_eq!(rs.name_any(), rs_name);
    assert_eq!(rs.annotations()[REVISION_ANNOTATION], "1");
    assert_eq!(rs.annotations()[DESIRED_REPLICAS_ANNOTATION], "3");
    assert_eq!(rs.labels()["rollouts-pod-template-hash"], hash);
    assert_eq!(
        rs.spec.selector.match_labels.as_ref().unwrap()["rollouts-pod-template-hash"],
        hash
    );
    assert_eq!(rs.owner_references()[0].kind, "Rollout");
    assert_eq!(rs.owner_references()[0].uid, "uid-demo");
    assert_eq!(w.rollout.annotations()[REVISION_ANNOTATION], "1");
    assert_eq!(
        w.reasons_since(0),
        [
            "RolloutUpdated",
            "NewReplicaSetCreated",
            "RolloutNotCompleted",
            "ScalingReplicaSet",
            "RolloutCompleted"
        ]
    );
    assert!(w.has_event(
        "RolloutCompleted",
        &format!("Rollout completed update to revision 1 ({hash}): Initial deploy")
    ));
    // A settled world plans nothing and asks for no timer.
    assert_eq!(plan(&w.snapshot()), Plan::default());
}

/// §8 S7 TestRolloutAbortRetryPromote, including the exact event reason sequence.
#[test]
fn s7_abort_retry_and_timed_pause_auto_resume() {
    let mut w = World::new(rollout(
        1,
        &json!({"steps": [{"setWeight": 50}, {"pause": {"duration": "3s"}}]}),
    ));
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
    assert_eq!((w.pods("nginx:1"), w.pods("nginx:2")), (1, 1));
    let s = w.status();
    assert_eq!(s.current_step_index, Some(1));
    assert_eq!(s.controller_pause, Some(true));
    assert_eq!(s.pause_conditions()[0].reason, "CanaryPauseStep");
    assert_eq!(w.condition("Paused").0, "True");
    assert_eq!(w.condition("Progressing").1, "RolloutPaused");
    assert_eq!(w.last_requeue, Some(Duration::from_secs(4)));

    w.patch_status(&json!({"abort": true}));
    w.settle();
    assert_eq!(
        w.phase(),
        (
            "Degraded".into(),
            "RolloutAborted: Rollout aborted update to revision 2".into()
        )
    );
    assert_eq!((w.pods("nginx:1"), w.pods("nginx:2")), (1, 0));
    let s = w.status();
    assert_eq!(s.current_step_index, Some(0));
    assert!(s.pause_conditions.is_none());
    assert!(s.aborted_at.is_some());

    w.patch_status(&json!({"abort": false}));
    w.settle();
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
    assert_eq!((w.pods("nginx:1"), w.pods("nginx:2")), (1, 1));
    assert!(w.status().aborted_at.is_none());
    // The pause does not end early.
    w.advance(2);
    w.settle();
    assert_eq!(w.phase().0, "Paused");
    w.advance(2);
    w.settle();
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert_eq!((w.pods("nginx:1"), w.pods("nginx:2")), (0, 1));
    let hash = w.hash_of("nginx:2");
    assert_eq!(w.status().stable_rs.as_deref(), Some(hash.as_str()));
    assert_eq!(
        w.reasons_since(0),
        [
            "RolloutUpdated",
            "NewReplicaSetCreated",
            "RolloutNotCompleted",
            "ScalingReplicaSet",
            "RolloutCompleted",
            "RolloutUpdated",
            "NewReplicaSetCreated",
            "RolloutNotCompleted",
            "ScalingReplicaSet",
            "RolloutStepCompleted",
            "RolloutPaused",
            "ScalingReplicaSet",
            "RolloutAborted",
            "ScalingReplicaSet",
            "RolloutStepCompleted",
            "RolloutPaused",
            "RolloutStepCompleted",
            "RolloutResumed",
            "ScalingReplicaSet",
            "RolloutCompleted",
        ]
    );
    assert!(w.has_event(
        "RolloutStepCompleted",
        "Rollout step 1/2 completed (setWeight: 50)"
    ));
    assert!(w.has_event(
        "RolloutStepCompleted",
        "Rollout step 2/2 completed (pause: 3s)"
    ));
    assert!(w.has_event(
        "RolloutCompleted",
        &format!("Rollout completed update to revision 2 ({hash}): Completed all 2 canary steps")
    ));
}

/// §8 S1 TestRolloutScalingWhenPaused: scaling a paused canary goes through the scaling-event
/// path and never advances steps.
#[test]
fn s1_scaling_a_paused_canary() {
    let mut w = World::new(rollout(
        1,
        &json!({"steps": [{"setWeight": 25}, {"pause": {}}]}),
    ));
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (1, 1));
    w.edit_spec(&json!({"replicas": 8}));
    w.settle();
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (2, 6));
    assert_eq!(w.status().current_step_index, Some(1));
    w.edit_spec(&json!({"replicas": 4}));
    w.settle();
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (1, 3));
    assert_eq!(w.status().current_step_index, Some(1));
    assert_eq!(w.phase().0, "Paused");
}

/// §8 S2 TestRolloutWithMaxSurgeScalingDuringUpdate (the canary never becomes available).
#[test]
fn s2_no_steps_max_surge_100_percent() {
    let mut w = World::new(rollout(4, &json!({"maxSurge": "100%"})));
    w.settle();
    w.crashing.push("nginx:2".into());
    w.set_image("nginx:2");
    w.settle();
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (4, 3));
    assert_eq!(w.status().replicas, Some(7));
    w.edit_spec(&json!({"replicas": 8}));
    w.settle();
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (8, 3));
    assert_eq!(w.status().replicas, Some(11));
    w.edit_spec(&json!({"replicas": 4}));
    w.settle();
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (4, 3));
    assert_eq!(
        w.phase(),
        (
            "Progressing".into(),
            "updated replicas are still becoming available".into()
        )
    );
}

/// §8 S3 TestRolloutScalingDuringUpdate: maxSurge 2 / maxUnavailable 0, crashing canary.
#[test]
fn s3_crashing_canary_with_surge_two() {
    let mut w = World::new(rollout(4, &json!({"maxSurge": 2, "maxUnavailable": 0})));
    w.settle();
    w.crashing.push("nginx:2".into());
    w.set_image("nginx:2");
    w.settle();
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (2, 4));
    w.edit_spec(&json!({"replicas": 8}));
    w.settle();
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (6, 4));
    w.edit_spec(&json!({"replicas": 4}));
    w.settle();
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (2, 4));
}

/// §8 S5 TestRolloutGoodToBadUpdate: progress deadline, then a second bad update.
#[test]
fn s5_good_to_bad_to_bad_update_times_out() {
    let mut w = World::new(rollout(4, &json!({"maxSurge": 1, "maxUnavailable": 0})));
    w.settle();
    w.crashing
        .extend(["nginx:bad".to_owned(), "nginx:worse".to_owned()]);
    w.edit_spec(&json!({"progressDeadlineSeconds": 10}));
    w.set_image("nginx:bad");
    w.settle();
    assert_eq!(w.phase().0, "Progressing");
    assert_eq!(w.last_requeue, Some(Duration::from_secs(11)));
    w.advance(11);
    w.settle();
    let rs = format!("demo-{}", w.hash_of("nginx:bad"));
    assert_eq!(
        w.phase(),
        (
            "Degraded".into(),
            format!("ProgressDeadlineExceeded: ReplicaSet \"{rs}\" has timed out progressing.")
        )
    );
    assert_eq!((w.pods("nginx:bad"), w.pods("nginx:1")), (1, 4));
    assert_eq!(w.last_requeue, None);
    w.set_image("nginx:worse");
    w.settle();
    assert_eq!(w.phase().0, "Progressing");
    w.advance(11);
    w.settle();
    assert_eq!(w.phase().0, "Degraded");
    assert_eq!(
        (
            w.pods("nginx:1"),
            w.pods("nginx:bad"),
            w.pods("nginx:worse")
        ),
        (4, 0, 1)
    );
}

/// §8 S6 TestRolloutBadToGoodUpdate: a crashing first revision is stable at once (Initial
/// deploy), times out, and a fixed template heals it.
#[test]
fn s6_bad_to_good_update() {
    let mut w = World::new(rollout(4, &json!({})));
    w.rollout.spec.progress_deadline_seconds = Some(10);
    w.crashing.push("nginx:1".into());
    w.settle();
    assert_eq!(w.status().stable_rs, Some(w.hash_of("nginx:1")));
    w.advance(11);
    w.settle();
    assert_eq!(w.phase().0, "Degraded");
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (4, 0));
}

/// §8 S9 TestCanaryWithPausedRollout: an update while paused on a previous update scales the
/// intermediate RS away; the basic-canary Services follow stable and canary.
#[test]
fn s9_update_while_paused_and_services() {
    let mut w = World::new(rollout(
        3,
        &json!({"canaryService": "demo-canary", "stableService": "demo-stable",
                "steps": [{"setWeight": 20}, {"pause": {}}]}),
    ));
    w.services = vec![service("demo-canary"), service("demo-stable")];
    w.settle();
    let h1 = w.hash_of("nginx:1");
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
    let h2 = w.hash_of("nginx:2");
    let selector = |w: &World, name: &str| {
        w.services
            .iter()
            .find(|s| s.name_any() == name)
            .unwrap()
            .spec
            .as_ref()
            .unwrap()
            .selector
            .as_ref()
            .unwrap()["rollouts-pod-template-hash"]
            .clone()
    };
    assert_eq!(selector(&w, "demo-stable"), h1);
    assert_eq!(selector(&w, "demo-canary"), h2);
    w.set_image("nginx:3");
    w.settle();
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
    assert_eq!(
        (w.pods("nginx:1"), w.pods("nginx:2"), w.pods("nginx:3")),
        (3, 0, 1)
    );
    let h3 = w.hash_of("nginx:3");
    assert_eq!(selector(&w, "demo-canary"), h3);
    assert_eq!(selector(&w, "demo-stable"), h1);
    assert!(w.has_event(
        "SwitchService",
        &format!("Switched selector for service 'demo-canary' from '{h2}' to '{h3}'")
    ));
    let svc = w
        .services
        .iter()
        .find(|s| s.name_any() == "demo-canary")
        .unwrap();
    assert_eq!(
        svc.annotations()["argo-rollouts.argoproj.io/managed-by-rollouts"],
        "demo"
    );
    // Promote to the end: both Services point at the new RS.
    w.promote();
    w.settle();
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert_eq!(selector(&w, "demo-stable"), h3);
    assert_eq!(selector(&w, "demo-canary"), h3);
}

/// §8 S11: `spec.paused` (manually paused, no scaling, an expired pause does not advance) and
/// TestResumeRolloutAfterPauseDuration.
#[test]
fn s11_spec_paused_and_pause_duration() {
    let mut w = World::new(rollout(
        10,
        &json!({"steps": [{"setWeight": 10}, {"pause": {"duration": 60}}, {"setWeight": 20}, {"pause": {}}]}),
    ));
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.status().current_step_index, Some(1));
    w.edit_spec(&json!({"paused": true}));
    w.settle();
    assert_eq!(w.phase(), ("Paused".into(), "manually paused".into()));
    assert_eq!(w.condition("Progressing").0, "Unknown");
    assert_eq!(w.condition("Progressing").1, "RolloutPaused");
    w.advance(61);
    w.settle();
    assert_eq!(
        w.status().current_step_index,
        Some(1),
        "no step completes while spec.paused"
    );
    w.edit_spec(&json!({"paused": false}));
    w.settle();
    let s = w.status();
    assert_eq!(s.current_step_index, Some(3));
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (2, 8));
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
}

/// Creating a rollout with `spec.paused: true` keeps it at 0 pods until resumed (pitfall 12).
#[test]
fn created_paused_stays_at_zero() {
    let mut w = World::new(rollout(2, &json!({})));
    w.rollout.spec.paused = Some(true);
    w.settle();
    assert_eq!(w.pods("nginx:1"), 0);
    assert_eq!(w.phase(), ("Paused".into(), "manually paused".into()));
    w.edit_spec(&json!({"paused": false}));
    w.settle();
    assert_eq!(w.pods("nginx:1"), 2);
    assert_eq!(w.phase().0, "Healthy");
}

/// Promote through an indefinite pause, then `promote --full` skips the remaining steps.
#[test]
fn promote_and_promote_full() {
    let mut w = World::new(rollout(
        4,
        &json!({"steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}, {"setWeight": 75}, {"pause": {}}]}),
    ));
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.status().current_step_index, Some(1));
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (1, 3));
    w.promote();
    w.settle();
    assert_eq!(w.status().current_step_index, Some(3));
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (2, 2));
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
    w.patch_status(&json!({"promoteFull": true}));
    w.settle();
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (4, 0));
    let s = w.status();
    assert_eq!(s.current_step_index, Some(6));
    assert!(s.promote_full.is_none());
    let hash = w.hash_of("nginx:2");
    assert!(w.has_event(
        "RolloutCompleted",
        &format!("Rollout completed update to revision 2 ({hash}): Full promotion requested")
    ));
}

/// §8 S7 unit view TestHandleCanaryAbort and an abort on a fully promoted rollout.
#[test]
fn abort_mid_update_and_abort_when_promoted() {
    let mut w = World::new(rollout(
        10,
        &json!({"steps": [{"setWeight": 10}, {"setWeight": 20}, {"setWeight": 30}, {"pause": {}}]}),
    ));
    w.settle();
    w.crashing.push("nginx:2".into());
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.status().current_step_index, Some(0));
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (1, 9));
    w.patch_status(&json!({"abort": true}));
    w.settle();
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (0, 10));
    assert_eq!(w.status().current_step_index, Some(0));
    assert_eq!(
        w.phase(),
        (
            "Degraded".into(),
            "RolloutAborted: Rollout aborted update to revision 2".into()
        )
    );
    assert_eq!(w.condition("Progressing").0, "False");
    // A new template clears the abort (the other way out of Degraded).
    w.crashing.clear();
    w.set_image("nginx:3");
    w.settle();
    assert_eq!(w.status().abort, None);
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
    w.promote();
    w.settle();
    assert_eq!(w.phase().0, "Healthy");
    // Abort on a fully promoted rollout is dropped.
    w.patch_status(&json!({"abort": true}));
    w.settle();
    let s = w.status();
    assert_eq!((s.abort, s.aborted_at.clone()), (None, None));
    assert_eq!(w.phase().0, "Healthy");
}

/// §8 S14 TestRollBackToStable: reverting the template to the stable RS reuses it with a bumped
/// revision, skips the steps and drains the abandoned canary.
#[test]
fn s14_rollback_to_stable_fast_tracks() {
    let mut w = World::new(rollout(
        10,
        &json!({"maxSurge": 1, "steps": [{"setWeight": 10}, {"pause": {}}]}),
    ));
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (1, 9));
    let rs_count = w.replica_sets.len();
    let events = w.events.len();
    w.set_image("nginx:1");
    w.settle();
    assert_eq!(w.replica_sets.len(), rs_count, "no new ReplicaSet");
    let h1 = w.hash_of("nginx:1");
    let rs1 = w
        .replica_sets
        .iter()
        .find(|rs| World::image_of(rs) == "nginx:1")
        .unwrap();
    assert_eq!(rs1.annotations()[REVISION_ANNOTATION], "3");
    assert_eq!(rs1.annotations()[REVISION_HISTORY_ANNOTATION], "1");
    assert_eq!(w.rollout.annotations()[REVISION_ANNOTATION], "3");
    let s = w.status();
    assert_eq!(s.current_pod_hash.as_deref(), Some(h1.as_str()));
    assert_eq!(s.current_step_index, Some(2));
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (0, 10));
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert!(w.reasons_since(events).contains(&"SkipSteps"));
}

/// §3.5: editing only the steps restarts the canary at step 0 (pitfall 9.3).
#[test]
fn steps_edit_restarts_the_canary() {
    let mut w = World::new(rollout(
        4,
        &json!({"steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]}),
    ));
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    w.promote();
    w.settle();
    assert_eq!(w.status().current_step_index, Some(3));
    w.edit_spec(&json!({"strategy": {"canary": {"steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 75}, {"pause": {}}]}}}));
    w.settle();
    assert_eq!(w.status().current_step_index, Some(1));
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
}

/// Spec §1.5 InvalidSpec rows: Degraded with the reference message, nothing reconciled, no
/// requeue; fixing the spec clears the condition.
#[test]
fn invalid_specs_degrade_without_requeue() {
    let cases = [
        (
            json!({"canaryService": "missing-canary", "stableService": "demo-stable"}),
            "spec.strategy.canary.canaryService: Invalid value: \"missing-canary\": services \"missing-canary\" not found",
        ),
        (
            json!({"steps": [{"setWeight": 10, "pause": {}}]}),
            "spec.strategy.steps[0]: Invalid value: \"step.Experiment: false step.Pause: true step.SetWeight: true step.Analysis: false\": Step must have one of the following set: experiment, setWeight, setCanaryScale or pause",
        ),
        (
            json!({"steps": [{"setWeight": 101}]}),
            "spec.strategy.steps[0].setWeight: Invalid value: 101: SetWeight needs to be between 0 and 100",
        ),
        (
            json!({"maxSurge": 0, "maxUnavailable": 0}),
            "spec.strategy.maxSurge: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: MaxSurge and MaxUnavailable both can not be zero",
        ),
        (
            json!({"steps": [{"pause": {"duration": "soon"}}]}),
            "spec.strategy.steps[0].pause.duration: Invalid value: -1: Duration needs to be greater than 0",
        ),
        (
            json!({"steps": [{"setCanaryScale": {"replicas": 1}}]}),
            "spec.strategy.trafficRouting: Required value: SetCanaryScale requires TrafficRouting to be set",
        ),
    ];
    for (canary, err) in cases {
        let mut w = World::new(rollout(2, &canary));
        w.services = vec![service("demo-stable")];
        let p = plan(&w.snapshot());
        assert_eq!(p.requeue_after, None);
        assert!(
            p.actions
                .iter()
                .all(|a| matches!(a, Action::PatchRolloutStatus(_))),
            "{p:?}"
        );
        w.settle();
        let message = format!("The Rollout \"demo\" is invalid: {err}");
        assert_eq!(
            w.phase(),
            ("Degraded".into(), format!("InvalidSpec: {message}"))
        );
        assert_eq!(
            w.condition("InvalidSpec"),
            ("True".into(), "InvalidSpec".into(), message)
        );
        assert!(w.replica_sets.is_empty());
        assert_eq!(w.last_requeue, None);
    }
    let mut w = World::new(rollout(2, &json!({"steps": [{"setWeight": 101}]})));
    w.settle();
    w.edit_spec(&json!({"strategy": {"canary": {"steps": [{"setWeight": 100}]}}}));
    w.settle();
    assert!(w.status().condition("InvalidSpec").is_none());
    assert_eq!(w.phase().0, "Healthy");
}

/// Missing strategy and an empty selector are reported too.
#[test]
fn invalid_top_level_fields() {
    let mut r = rollout(1, &json!({}));
    r.spec.strategy = None;
    let mut w = World::new(r);
    w.settle();
    assert_eq!(
        w.phase().1,
        "InvalidSpec: The Rollout \"demo\" is invalid: spec.strategy: Required value: Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'"
    );
    let mut r = rollout(1, &json!({}));
    r.spec.selector = None;
    let mut w = World::new(r);
    w.settle();
    assert_eq!(
        w.phase().1,
        "InvalidSpec: The Rollout \"demo\" is invalid: spec.selector: Required value: Rollout has missing field '.spec.selector'"
    );
}

/// §8 S10 TestCanaryProgressDeadlineExceededWithPause: a slow canary times out, recovers into
/// the pause step, and the deadline is not evaluated while paused.
#[test]
fn s10_progress_deadline_with_pause_step() {
    let mut w = World::new(rollout(
        3,
        &json!({"steps": [{"setWeight": 20}, {"pause": {}}]}),
    ));
    w.rollout.spec.progress_deadline_seconds = Some(5);
    w.settle();
    w.set_image("nginx:2");
    w.settle_with(false);
    assert_eq!(w.phase().0, "Progressing");
    w.advance(6);
    w.settle_with(false);
    assert_eq!(w.phase().0, "Degraded");
    assert!(
        w.phase()
            .1
            .starts_with("ProgressDeadlineExceeded: ReplicaSet \"demo-")
    );
    w.settle();
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (1, 3));
    w.advance(60);
    w.settle();
    assert_eq!(w.phase().0, "Paused", "no timeout while paused");
    assert_eq!(w.last_requeue, None);
}

/// TestResumeRolloutAfterPauseDuration at the plan level: the exact status patch.
#[test]
fn expired_pause_duration_status_patch() {
    let mut w = World::new(rollout(
        10,
        &json!({"steps": [{"setWeight": 10}, {"pause": {"duration": 60}}, {"setWeight": 20}]}),
    ));
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.status().current_step_index, Some(1));
    w.advance(61);
    let p = plan(&w.snapshot());
    let patch = p
        .actions
        .iter()
        .find_map(|a| match a {
            Action::PatchRolloutStatus(patch) => Some(patch.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(patch["currentStepIndex"], json!(2));
    assert_eq!(patch["pauseConditions"], Value::Null);
    assert!(patch.as_object().unwrap().contains_key("pauseConditions"));
    assert_eq!(patch["controllerPause"], Value::Null);
    assert!(patch.as_object().unwrap().contains_key("controllerPause"));
}

fn blue_green_rollout(replicas: i32, blue_green: &Value) -> Rollout {
    let mut r = rollout(replicas, &json!({}));
    r.spec.strategy = Some(serde_json::from_value(json!({ "blueGreen": blue_green })).unwrap());
    r
}

impl World {
    fn selector_of(&self, service: &str) -> String {
        self.services
            .iter()
            .find(|s| s.name_any() == service)
            .unwrap()
            .spec
            .as_ref()
            .unwrap()
            .selector
            .as_ref()
            .unwrap()
            .get("rollouts-pod-template-hash")
            .cloned()
            .unwrap_or_default()
    }

    /// `(desired, current, updated, ready, available)` as the CLI prints them.
    fn counts(&self) -> (i32, i32, i32, i32, i32) {
        let s = self.status();
        (
            self.rollout.spec.replicas.unwrap_or(1),
            s.replicas.unwrap_or(0),
            s.updated_replicas.unwrap_or(0),
            s.ready_replicas.unwrap_or(0),
            s.available_replicas.unwrap_or(0),
        )
    }
}

/// §8 S33 TestBlueGreenUpdate: active switch once rev2 is available, old RS kept for
/// scaleDownDelaySeconds, exact event sequence.
#[test]
fn s33_basic_blue_green() {
    let mut w = World::new(blue_green_rollout(
        3,
        &json!({"activeService": "demo-active", "scaleDownDelaySeconds": 10}),
    ));
    w.services = vec![service("demo-active")];
    w.settle();
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert_eq!(w.counts(), (3, 3, 3, 3, 3));
    let h1 = w.hash_of("nginx:1");
    assert_eq!(w.selector_of("demo-active"), h1);
    assert_eq!(
        w.status().selector,
        Some(format!("app=demo,rollouts-pod-template-hash={h1}"))
    );
    let start = w.events.len();
    w.set_image("nginx:2");
    w.settle();
    let h2 = w.hash_of("nginx:2");
    assert_eq!(w.selector_of("demo-active"), h2);
    assert_eq!(w.counts(), (3, 6, 3, 3, 3));
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert_eq!(w.status().stable_rs, Some(h2.clone()));
    assert_eq!(w.last_requeue, Some(Duration::from_secs(11)));
    let rs1 = w
        .replica_sets
        .iter()
        .find(|rs| World::image_of(rs) == "nginx:1")
        .unwrap();
    assert!(rs1.annotations().contains_key("scale-down-deadline"));
    w.advance(11);
    w.settle();
    assert_eq!((w.pods("nginx:1"), w.pods("nginx:2")), (0, 3));
    assert_eq!(w.counts(), (3, 3, 3, 3, 3));
    assert_eq!(
        w.reasons_since(0)[..start],
        [
            "RolloutUpdated",
            "NewReplicaSetCreated",
            "RolloutNotCompleted",
            "ScalingReplicaSet",
            "RolloutCompleted",
            "SwitchService"
        ]
    );
    assert_eq!(
        w.reasons_since(start),
        [
            "RolloutUpdated",
            "NewReplicaSetCreated",
            "RolloutNotCompleted",
            "ScalingReplicaSet",
            "SwitchService",
            "RolloutCompleted",
            "ScalingReplicaSet"
        ]
    );
    assert!(w.has_event(
        "SwitchService",
        &format!("Switched selector for service 'demo-active' from '{h1}' to '{h2}'")
    ));
    assert!(w.has_event(
        "RolloutCompleted",
        &format!("Rollout completed update to revision 2 ({h2}): Completed blue-green update")
    ));
}

/// TestKubectlWaitForPaused: auto-promotion disabled pauses with `BlueGreenPause` (Paused
/// condition True, active still rev1) until promoted.
#[test]
fn blue_green_manual_promotion() {
    let mut w = World::new(blue_green_rollout(
        2,
        &json!({"activeService": "demo-active", "previewService": "demo-preview", "autoPromotionEnabled": false}),
    ));
    w.services = vec![service("demo-active"), service("demo-preview")];
    w.settle();
    let h1 = w.hash_of("nginx:1");
    w.set_image("nginx:2");
    w.settle();
    let h2 = w.hash_of("nginx:2");
    assert_eq!(w.phase(), ("Paused".into(), "BlueGreenPause".into()));
    assert_eq!(w.condition("Paused").0, "True");
    assert_eq!(
        (w.selector_of("demo-active"), w.selector_of("demo-preview")),
        (h1.clone(), h2.clone())
    );
    let bg = w.status().blue_green.unwrap();
    assert_eq!(
        (bg.active_selector, bg.preview_selector),
        (Some(h1.clone()), Some(h2.clone()))
    );
    assert_eq!(w.status().stable_rs, Some(h1));
    w.promote();
    w.settle();
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert_eq!(w.condition("Paused").0, "False");
    assert_eq!(w.selector_of("demo-active"), h2);
    assert_eq!(w.status().stable_rs, Some(h2));
}

/// §8 S34 TestBlueGreenPreviewReplicaCount: rev2 runs 1 pod while paused, scales to R before
/// the active switch.
#[test]
fn s34_preview_replica_count() {
    let mut w = World::new(blue_green_rollout(
        2,
        &json!({"activeService": "demo-active", "previewService": "demo-preview",
                "previewReplicaCount": 1, "autoPromotionEnabled": false, "scaleDownDelaySeconds": 5}),
    ));
    w.services = vec![service("demo-active"), service("demo-preview")];
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.phase(), ("Paused".into(), "BlueGreenPause".into()));
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (1, 2));
    assert_eq!(w.counts(), (2, 3, 1, 2, 2));
    w.promote();
    w.settle();
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert_eq!(w.counts(), (2, 4, 2, 2, 2));
    assert_eq!(w.selector_of("demo-active"), w.hash_of("nginx:2"));
}

/// Blue-green abort switches the active Service back to the stable RS; Degraded.
#[test]
fn blue_green_abort_switches_back() {
    let mut w = World::new(blue_green_rollout(
        1,
        &json!({"activeService": "demo-active", "autoPromotionEnabled": false, "abortScaleDownDelaySeconds": 2}),
    ));
    w.services = vec![service("demo-active")];
    w.settle();
    let h1 = w.hash_of("nginx:1");
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.phase().1, "BlueGreenPause");
    w.patch_status(&json!({"abort": true}));
    w.settle();
    assert_eq!(
        w.phase(),
        (
            "Degraded".into(),
            "RolloutAborted: Rollout aborted update to revision 2".into()
        )
    );
    assert_eq!(w.selector_of("demo-active"), h1);
    // TestBlueGreenScaleDownOnAbort: the preview RS goes to 0 after the abort delay.
    assert_eq!(w.pods("nginx:2"), 1);
    assert_eq!(w.last_requeue, Some(Duration::from_secs(3)));
    w.advance(3);
    w.settle();
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (0, 1));
    assert_eq!(w.phase().0, "Degraded");
}

/// §7.5: old ReplicaSets beyond `revisionHistoryLimit` are deleted once scaled down.
#[test]
fn revision_history_limit_deletes_oldest_scaled_down_replica_sets() {
    let mut w = World::new(rollout(1, &json!({})));
    w.rollout.spec.revision_history_limit = Some(1);
    w.settle();
    for image in ["nginx:2", "nginx:3", "nginx:4"] {
        w.set_image(image);
        w.settle();
    }
    let mut images: Vec<String> = w.replica_sets.iter().map(World::image_of).collect();
    images.sort();
    assert_eq!(images, ["nginx:3", "nginx:4"]);
    assert_eq!(w.phase().0, "Healthy");
}

/// `progressDeadlineAbort` (S40's canary counterpart): the timeout aborts the update with the
/// deadline as reason and the canary is scaled back.
#[test]
fn progress_deadline_abort() {
    let mut w = World::new(rollout(2, &json!({"maxSurge": 1, "maxUnavailable": 0})));
    w.settle();
    w.crashing.push("nginx:bad".into());
    w.edit_spec(&json!({"progressDeadlineSeconds": 5, "progressDeadlineAbort": true}));
    w.set_image("nginx:bad");
    w.settle();
    assert_eq!(w.pods("nginx:bad"), 1);
    w.advance(6);
    w.settle();
    let rs = format!("demo-{}", w.hash_of("nginx:bad"));
    assert_eq!(
        w.phase(),
        (
            "Degraded".into(),
            format!(
                "RolloutAborted: Rollout aborted update to revision 2: ReplicaSet \"{rs}\" has timed out progressing."
            )
        )
    );
    assert_eq!(w.status().abort, Some(true));
    assert_eq!((w.pods("nginx:bad"), w.pods("nginx:1")), (0, 2));
}

/// §3.9 / S32 rollback window: a rollback to the previous revision skips the steps (inside
/// the window); with one more revision in between it runs the steps again (outside).
#[test]
fn s32_rollback_window() {
    let canary = json!({"steps": [{"setWeight": 50}, {"pause": {}}]});
    let mut w = World::new(rollout(2, &canary));
    w.rollout.spec.rollback_window = Some(serde_json::from_value(json!({"revisions": 1})).unwrap());
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    w.promote();
    w.settle();
    assert_eq!(w.phase().0, "Healthy");
    w.set_image("nginx:1");
    w.settle();
    assert_eq!(
        w.phase(),
        ("Healthy".into(), String::new()),
        "inside the window"
    );
    assert_eq!((w.pods("nginx:1"), w.pods("nginx:2")), (2, 0));
    let h1 = w.hash_of("nginx:1");
    assert!(w.has_event(
        "RolloutCompleted",
        &format!("Rollout completed update to revision 3 ({h1}): Rollback within window")
    ));
    // Outside: promote nginx:3 and nginx:4, then roll back to nginx:2, whose RS is older than
    // the stable nginx:4 with nginx:3's RS created strictly between them (1 ≥ window 1).
    w.set_image("nginx:3");
    w.settle();
    w.promote();
    w.settle();
    w.set_image("nginx:4");
    w.settle();
    w.promote();
    w.settle();
    assert_eq!(w.phase().0, "Healthy");
    // Target nginx:2 (created 2nd), stable nginx:4 (created 4th): nginx:3 lies between.
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(
        w.phase(),
        ("Paused".into(), "CanaryPauseStep".into()),
        "outside the window"
    );
}

/// §8 S39 TestBlueGreenScaleDownDelay: at most `scaleDownDelayRevisionLimit` old RSs stay up
/// inside their delay; lowering the limit scales the extra one down.
#[test]
fn s39_blue_green_scale_down_delay_revision_limit() {
    let mut w = World::new(blue_green_rollout(
        1,
        &json!({"activeService": "demo-active", "scaleDownDelaySeconds": 86400, "scaleDownDelayRevisionLimit": 2}),
    ));
    w.services = vec![service("demo-active")];
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!((w.pods("nginx:1"), w.pods("nginx:2")), (1, 1));
    assert_eq!(w.counts(), (1, 2, 1, 1, 1));
    for image in ["nginx:3", "nginx:4"] {
        w.set_image(image);
        w.settle();
    }
    assert_eq!(
        (
            w.pods("nginx:4"),
            w.pods("nginx:3"),
            w.pods("nginx:2"),
            w.pods("nginx:1")
        ),
        (1, 1, 1, 0)
    );
    assert_eq!(w.counts(), (1, 3, 1, 1, 1));
    w.edit_spec(&json!({"strategy": {"blueGreen": {"scaleDownDelayRevisionLimit": 1}}}));
    w.settle();
    assert_eq!((w.pods("nginx:3"), w.pods("nginx:2")), (1, 0));
    assert_eq!(w.counts(), (1, 2, 1, 1, 1));
}

/// Blue-green InvalidSpec rows: same active/preview Service, scale-down limit above the history
/// limit, missing active Service.
#[test]
fn blue_green_invalid_specs() {
    let cases = [
        (
            json!({"activeService": "demo-active", "previewService": "demo-active"}),
            "spec.strategy.activeService: Invalid value: \"demo-active\": This rollout uses the same service for the active and preview services, but two different services are required.",
        ),
        (
            json!({"activeService": "demo-active", "scaleDownDelayRevisionLimit": 11}),
            "spec.strategy.scaleDownDelayRevisionLimit: Invalid value: 11: This rollout's revision history limit can not be smaller than the rollout's scale down limit",
        ),
        (
            json!({"activeService": "gone"}),
            "spec.strategy.blueGreen.activeService: Invalid value: \"gone\": services \"gone\" not found",
        ),
    ];
    for (bg, err) in cases {
        let mut w = World::new(blue_green_rollout(1, &bg));
        w.services = vec![service("demo-active")];
        w.settle();
        assert_eq!(
            w.phase(),
            (
                "Degraded".into(),
                format!("InvalidSpec: The Rollout \"demo\" is invalid: {err}")
            )
        );
        assert!(w.replica_sets.is_empty());
    }
}

fn sleep_job_template() -> AnalysisTemplate {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "sleep-job", "namespace": "default"},
        "spec": {
            "args": [{"name": "exit-code", "value": "0"}, {"name": "canary-hash"}],
            "metrics": [{"name": "sleep-job", "count": 1, "provider": {"job": {"spec": {"template": {"spec": {
                "containers": [{"name": "sleep", "image": "busybox", "command": ["sh", "-c", "exit {{args.exit-code}}"]}],
                "restartPolicy": "Never"}}}}}}]
        }
    }))
    .unwrap()
}

impl World {
    /// Plays the analysis engine: the run's phase becomes `phase`.
    fn finish_run(&mut self, name: &str, phase: &str, message: &str) {
        let run = self
            .analysis_runs
            .iter_mut()
            .find(|r| r.name_any() == name)
            .unwrap();
        merge_into(
            run,
            &json!({"status": {"phase": phase, "message": message}}),
        );
    }
}

/// §8 S4 TestReduceWeightAndHonorMaxUnavailable: lowering the weight surges stable first; a
/// failing step analysis aborts (Degraded, one AnalysisRun) and scales back the same way.
#[test]
fn s4_reduce_weight_and_failing_step_analysis() {
    let mut w = World::new(rollout(
        3,
        &json!({"maxSurge": 2, "maxUnavailable": 0, "steps": [
            {"setWeight": 100}, {"pause": {}}, {"setWeight": 0}, {"pause": {}}, {"setWeight": 100},
            {"analysis": {"templates": [{"templateName": "sleep-job"}],
                          "args": [{"name": "exit-code", "value": "1"},
                                   {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]}}]}),
    ));
    w.analysis_templates.push(sleep_job_template());
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.status().current_step_index, Some(1));
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (3, 0));
    w.promote();
    w.settle_with(false);
    assert_eq!(w.status().current_step_index, Some(2));
    assert_eq!(
        (w.pods("nginx:2"), w.pods("nginx:1")),
        (3, 2),
        "stable surges first"
    );
    w.settle();
    assert_eq!(w.status().current_step_index, Some(3));
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (0, 3));
    w.promote();
    w.settle();
    assert_eq!(w.status().current_step_index, Some(5));
    assert_eq!(w.analysis_runs.len(), 1);
    let run = w.analysis_runs[0].clone();
    let h2 = w.hash_of("nginx:2");
    assert_eq!(run.name_any(), format!("demo-{h2}-2-5"));
    assert_eq!(run.labels()["rollout-type"], "Step");
    assert_eq!(run.labels()["step-index"], "5");
    assert_eq!(run.labels()["app"], "demo");
    let args = run.spec.args.clone().unwrap();
    let arg = |name: &str| args.iter().find(|a| a.name == name).unwrap().value.clone();
    assert_eq!(arg("exit-code").as_deref(), Some("1"));
    assert_eq!(arg("canary-hash"), Some(h2.clone()));
    assert_eq!(w.phase().0, "Progressing");
    w.finish_run(
        &run.name_any(),
        "Failed",
        "Metric \"sleep-job\" assessed Failed",
    );
    w.settle_with(false);
    assert_eq!(
        w.phase(),
        (
            "Degraded".into(),
            "RolloutAborted: Rollout aborted update to revision 2: Step-based analysis phase error/failed: Metric \"sleep-job\" assessed Failed".into()
        )
    );
    assert_eq!(w.analysis_runs.len(), 1);
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (3, 2));
    w.settle();
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (0, 3));
    assert_eq!(w.phase().0, "Degraded");
}

/// A successful step run completes the step; an inconclusive one pauses
/// (`InconclusiveAnalysisRun`) and halts scaling; abort terminates a running run.
#[test]
fn step_analysis_success_inconclusive_and_cancel() {
    let steps = json!({"steps": [{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "sleep-job"}]}}, {"pause": {}}]});
    let mut w = World::new(rollout(2, &steps));
    w.analysis_templates.push(sleep_job_template());
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.status().current_step_index, Some(1));
    let run = w.analysis_runs[0].name_any();
    let current = w
        .status()
        .canary
        .unwrap()
        .current_step_analysis_run_status
        .unwrap();
    assert_eq!(current.name, run);
    // A controller killed after creating the run but before writing status: the next pass
    // adopts the run instead of creating `….1`.
    w.patch_status(&json!({"canary": {"currentStepAnalysisRunStatus": null}}));
    w.settle();
    assert_eq!(w.analysis_runs.len(), 1);
    let adopted = w.status().canary.unwrap().current_step_analysis_run_status;
    assert_eq!(adopted.map(|a| a.name), Some(run.clone()));
    w.finish_run(&run, "Successful", "");
    w.settle();
    assert_eq!(w.status().current_step_index, Some(2));
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));

    // Inconclusive: a new update, a new run, then a pause.
    w.set_image("nginx:3");
    w.settle();
    let run = w.analysis_runs.last().unwrap().name_any();
    assert_eq!(w.analysis_runs.len(), 2);
    w.finish_run(&run, "Inconclusive", "");
    w.settle();
    assert_eq!(
        w.phase(),
        ("Paused".into(), "InconclusiveAnalysisRun".into())
    );
    // Abort while a run is still running cancels it.
    w.set_image("nginx:4");
    w.settle();
    let run = w.analysis_runs.last().unwrap().name_any();
    assert_eq!(w.analysis_runs.len(), 3);
    w.patch_status(&json!({"abort": true}));
    w.settle();
    let live = w
        .analysis_runs
        .iter()
        .find(|r| r.name_any() == run)
        .unwrap();
    assert!(live.is_terminating());
    assert_eq!(w.phase().0, "Degraded");
}

/// §8 S8 TestCanaryPromoteFull (without the never-reached background analysis): promote into a
/// step analysis, promote past it (the CLI bumps the index; the run is cancelled), abort, then
/// promote --full → Healthy with still one AnalysisRun.
#[test]
fn s8_promote_through_analysis_abort_then_promote_full() {
    let mut w = World::new(rollout(
        1,
        &json!({"steps": [
            {"pause": {"duration": "24h"}},
            {"analysis": {"templates": [{"templateName": "sleep-job"}]}},
            {"pause": {}},
            {"analysis": {"templates": [{"templateName": "sleep-job"}]}}]}),
    ));
    w.analysis_templates.push(sleep_job_template());
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
    assert_eq!(w.status().current_step_index, Some(0));
    w.promote();
    w.settle();
    assert_eq!(w.status().current_step_index, Some(1));
    assert_eq!(w.phase().0, "Progressing");
    assert_eq!(w.analysis_runs.len(), 1);
    w.finish_run(&w.analysis_runs[0].name_any(), "Running", "");
    w.promote();
    w.settle();
    assert_eq!(w.status().current_step_index, Some(2));
    assert!(
        w.analysis_runs[0].is_terminating(),
        "the step run is cancelled"
    );
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
    w.patch_status(&json!({"abort": true}));
    w.settle();
    assert_eq!(w.phase().0, "Degraded");
    w.patch_status(&json!({"promoteFull": true}));
    w.settle();
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert_eq!(w.analysis_runs.len(), 1);
    assert_eq!((w.pods("nginx:2"), w.pods("nginx:1")), (1, 0));
}

/// §3.12 background analysis: starts at `startingStep`, is cancelled at promotion, and a failed
/// run aborts with the background reason.
#[test]
fn background_analysis_lifecycle() {
    let canary = json!({
        "analysis": {"templates": [{"templateName": "sleep-job"}], "startingStep": 1},
        "steps": [{"setWeight": 50}, {"pause": {}}]
    });
    let mut w = World::new(rollout(2, &canary));
    w.analysis_templates.push(sleep_job_template());
    w.settle();
    assert!(w.analysis_runs.is_empty(), "no run on the initial deploy");
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.status().current_step_index, Some(1));
    assert_eq!(w.analysis_runs.len(), 1);
    let run = w.analysis_runs[0].clone();
    let h2 = w.hash_of("nginx:2");
    assert_eq!(run.name_any(), format!("demo-{h2}-2"));
    assert_eq!(run.labels()["rollout-type"], "Background");
    w.finish_run(&run.name_any(), "Running", "");
    w.promote();
    w.settle();
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert!(
        w.analysis_runs[0].is_terminating(),
        "cancelled at promotion"
    );
    assert!(
        w.status()
            .canary
            .unwrap()
            .current_background_analysis_run_status
            .is_none()
    );

    w.set_image("nginx:3");
    w.settle();
    let run = w.analysis_runs.last().unwrap().name_any();
    assert_eq!(w.analysis_runs.len(), 2);
    w.finish_run(&run, "Error", "metric errored");
    w.settle();
    assert_eq!(
        w.phase(),
        (
            "Degraded".into(),
            "RolloutAborted: Rollout aborted update to revision 3: Background analysis phase error/failed: metric errored".into()
        )
    );
    assert_eq!((w.pods("nginx:3"), w.pods("nginx:2")), (0, 2));
}

/// §3.1 step 8: an unset `spec.replicas` is written as 1 before anything else happens.
#[test]
fn unset_replicas_defaults_to_one() {
    let mut w = World::new(rollout(1, &json!({})));
    w.rollout.spec.replicas = None;
    let p = plan(&w.snapshot());
    assert_eq!(
        p.actions,
        vec![Action::PatchRollout(json!({"spec": {"replicas": 1}}))]
    );
    w.settle();
    assert_eq!(w.rollout.spec.replicas, Some(1));
    assert_eq!(w.pods("nginx:1"), 1);
    assert_eq!(w.phase().0, "Healthy");
}

/// §8 S35 TestBlueGreenAnalysis and S37 TestBlueGreenPostPromotionFail: the pre run gates the
/// pause, the post run gates promotion; a failed post run switches the active Service back.
#[test]
fn s35_s37_blue_green_pre_and_post_analysis() {
    let bg = json!({"activeService": "demo-active", "previewService": "demo-preview",
                    "autoPromotionEnabled": false,
                    "prePromotionAnalysis": {"templates": [{"templateName": "sleep-job"}]},
                    "postPromotionAnalysis": {"templates": [{"templateName": "sleep-job"}]}});
    for post_outcome in ["Successful", "Failed"] {
        let mut w = World::new(blue_green_rollout(1, &bg));
        w.services = vec![service("demo-active"), service("demo-preview")];
        w.analysis_templates.push(sleep_job_template());
        w.settle();
        assert!(
            w.analysis_runs.is_empty(),
            "no analysis on the first deploy"
        );
        let h1 = w.hash_of("nginx:1");
        w.set_image("nginx:2");
        w.settle();
        let h2 = w.hash_of("nginx:2");
        assert_eq!(w.analysis_runs.len(), 1);
        let pre = w.analysis_runs[0].name_any();
        assert_eq!(pre, format!("demo-{h2}-2-pre"));
        assert_eq!(w.analysis_runs[0].labels()["rollout-type"], "PrePromotion");
        assert_eq!(w.phase().0, "Progressing");
        w.finish_run(&pre, "Successful", "");
        w.settle();
        assert_eq!(w.phase(), ("Paused".into(), "BlueGreenPause".into()));
        assert_eq!(
            (w.selector_of("demo-active"), w.selector_of("demo-preview")),
            (h1.clone(), h2.clone())
        );
        w.promote();
        w.settle();
        assert_eq!(w.selector_of("demo-active"), h2);
        assert_eq!(w.analysis_runs.len(), 2);
        let post = w.analysis_runs[1].name_any();
        assert_eq!(post, format!("demo-{h2}-2-post"));
        assert_eq!(
            w.phase(),
            (
                "Progressing".into(),
                "waiting for analysis to complete".into()
            )
        );
        assert_eq!(w.counts(), (1, 2, 1, 1, 1));
        w.finish_run(&post, post_outcome, "boom");
        w.settle();
        if post_outcome == "Successful" {
            assert_eq!(w.phase(), ("Healthy".into(), String::new()));
            assert_eq!(w.status().stable_rs, Some(h2.clone()));
            // Fast rollback: rev1 still waits out its scale-down delay, so going back to its
            // template skips the pause and both analyses.
            w.set_image("nginx:1");
            w.settle();
            assert_eq!(w.phase(), ("Healthy".into(), String::new()));
            assert_eq!(w.status().stable_rs, Some(h1.clone()));
            assert_eq!(w.analysis_runs.len(), 2);
            assert_eq!(
                (w.selector_of("demo-active"), w.selector_of("demo-preview")),
                (h1.clone(), h1.clone())
            );
        } else {
            assert_eq!(
                w.phase(),
                (
                    "Degraded".into(),
                    "RolloutAborted: Rollout aborted update to revision 2: Blue/green post-promotion analysis phase error/failed: boom".into()
                )
            );
            assert_eq!(w.selector_of("demo-active"), h1);
            assert_eq!(w.selector_of("demo-preview"), h2);
            assert_eq!(w.status().stable_rs, Some(h1.clone()));
        }
    }
}

/// §8 S36 TestBlueGreenPrePromotionFail: a failed pre-promotion run aborts (active stays on
/// rev1, preview on rev2); retry creates a `.1` run whose success lets the update finish.
#[test]
fn s36_blue_green_pre_promotion_failure_and_retry() {
    let mut w = World::new(blue_green_rollout(
        2,
        &json!({"activeService": "demo-active", "previewService": "demo-preview",
                "previewReplicaCount": 1, "abortScaleDownDelaySeconds": 0,
                "prePromotionAnalysis": {"templates": [{"templateName": "sleep-job"}]}}),
    ));
    w.services = vec![service("demo-active"), service("demo-preview")];
    w.analysis_templates.push(sleep_job_template());
    w.settle();
    let h1 = w.hash_of("nginx:1");
    w.set_image("nginx:2");
    w.settle();
    let h2 = w.hash_of("nginx:2");
    let pre = w.analysis_runs[0].name_any();
    w.finish_run(&pre, "Failed", "exit 1");
    w.settle();
    assert_eq!(w.phase().0, "Degraded");
    assert_eq!(w.analysis_runs.len(), 1);
    assert_eq!(
        (w.selector_of("demo-active"), w.selector_of("demo-preview")),
        (h1.clone(), h2.clone())
    );
    assert_eq!(w.status().stable_rs, Some(h1));
    w.patch_status(&json!({"abort": false}));
    w.settle();
    assert_eq!(w.analysis_runs.len(), 2);
    let retry = w.analysis_runs[1].name_any();
    assert_eq!(retry, format!("{pre}.1"));
    w.finish_run(&retry, "Successful", "");
    w.settle();
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert_eq!(
        (w.selector_of("demo-active"), w.selector_of("demo-preview")),
        (h2.clone(), h2.clone())
    );
    assert_eq!(w.status().stable_rs, Some(h2));
}

/// §8 S38 TestBlueGreenKitchenSink: previewReplicaCount 1, autoPromotionSeconds 10,
/// scaleDownDelaySeconds 5, pre run succeeds, post run fails.
#[test]
fn s38_blue_green_kitchen_sink() {
    let mut w = World::new(blue_green_rollout(
        2,
        &json!({"activeService": "demo-active", "previewService": "demo-preview",
                "previewReplicaCount": 1, "autoPromotionSeconds": 10, "scaleDownDelaySeconds": 5,
                "prePromotionAnalysis": {"templates": [{"templateName": "sleep-job"}]},
                "postPromotionAnalysis": {"templates": [{"templateName": "sleep-job"}]}}),
    ));
    w.services = vec![service("demo-active"), service("demo-preview")];
    w.analysis_templates.push(sleep_job_template());
    w.settle();
    let h1 = w.hash_of("nginx:1");
    w.set_image("nginx:2");
    w.settle();
    let h2 = w.hash_of("nginx:2");
    w.finish_run(&w.analysis_runs[0].name_any(), "Successful", "");
    w.settle();
    assert_eq!(w.phase(), ("Paused".into(), "BlueGreenPause".into()));
    assert_eq!(
        (w.selector_of("demo-active"), w.selector_of("demo-preview")),
        (h1.clone(), h2.clone())
    );
    assert_eq!((w.pods("nginx:1"), w.pods("nginx:2")), (2, 1));
    assert_eq!(w.counts(), (2, 3, 1, 2, 2));
    assert_eq!(w.analysis_runs.len(), 1);
    w.advance(5);
    w.settle();
    assert_eq!(w.phase().1, "BlueGreenPause");
    w.advance(6);
    w.settle();
    assert_eq!(w.selector_of("demo-active"), h2);
    assert_eq!(w.counts(), (2, 4, 2, 2, 2));
    assert_eq!(w.analysis_runs.len(), 2);
    w.finish_run(&w.analysis_runs[1].name_any(), "Failed", "");
    w.settle();
    assert_eq!(w.phase().0, "Degraded");
    assert_eq!(
        (w.selector_of("demo-active"), w.selector_of("demo-preview")),
        (h1.clone(), h2)
    );
    assert_eq!(w.status().stable_rs, Some(h1));
    assert_eq!((w.pods("nginx:1"), w.pods("nginx:2")), (2, 2));
}

/// S21 (TestIstioHostSplit): the VirtualService follows the steps, promotion ends at 100/0
/// with both Services on the new revision, and the old revision lingers for the
/// scale-down delay.
#[test]
fn s21_istio_host_split() {
    use crate::controller::traffic::{ObjectKey, RouterKind};
    let canary = json!({
        "canaryService": "demo-canary", "stableService": "demo-stable",
        "trafficRouting": {"istio": {"virtualService": {"name": "vs", "routes": ["primary"]}}},
        "steps": [{"setWeight": 10}, {"pause": {}}]
    });
    let mut world = World::new(rollout(1, &canary));
    world.services = vec![service("demo-stable"), service("demo-canary")];
    let key = ObjectKey {
        kind: RouterKind::VirtualService,
        namespace: "default".to_owned(),
        name: "vs".to_owned(),
    };
    world.traffic.served.insert(
        RouterKind::VirtualService,
        "networking.istio.io/v1alpha3".to_owned(),
    );
    world.traffic.objects.insert(
        key.clone(),
        json!({"metadata": {"name": "vs"}, "spec": {"http": [{"name": "primary", "route": [
            {"destination": {"host": "demo-stable"}, "weight": 100},
            {"destination": {"host": "demo-canary"}, "weight": 0}]}]}}),
    );
    let split = |world: &World| -> Vec<i64> {
        world.traffic.objects[&key]["spec"]["http"][0]["route"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["weight"].as_i64().unwrap())
            .collect()
    };
    world.settle();
    assert_eq!(world.phase().0, "Healthy");
    let rev1 = world.hash_of("nginx:1");
    assert_eq!(split(&world), vec![100, 0]);
    assert_eq!(world.selector_of("demo-stable"), rev1);
    assert_eq!(world.selector_of("demo-canary"), rev1);
    let weights = world.status().canary.unwrap().weights.unwrap();
    assert_eq!((weights.canary.weight, weights.stable.weight), (0, 100));

    let from = world.events.len();
    world.set_image("nginx:2");
    world.settle();
    let rev2 = world.hash_of("nginx:2");
    assert_eq!(
        world.phase(),
        ("Paused".to_owned(), "CanaryPauseStep".to_owned())
    );
    assert_eq!(split(&world), vec![90, 10]);
    assert_eq!(world.selector_of("demo-stable"), rev1);
    assert_eq!(world.selector_of("demo-canary"), rev2);
    let weights = world.status().canary.unwrap().weights.unwrap();
    assert_eq!(
        weights.canary.pod_template_hash.as_deref(),
        Some(rev2.as_str())
    );
    assert_eq!(
        weights.stable.pod_template_hash.as_deref(),
        Some(rev1.as_str())
    );
    assert!(world.has_event(
        "TrafficWeightUpdated",
        "Traffic weight updated from 0 to 10"
    ));
    // Traffic routing keeps the stable RS at full size: 1 stable + 1 canary pod.
    assert_eq!((world.pods("nginx:1"), world.pods("nginx:2")), (1, 1));
    assert!(world.reasons_since(from).contains(&"TrafficWeightUpdated"));

    world.promote();
    world.settle();
    assert_eq!(world.phase().0, "Healthy");
    assert_eq!(world.status().stable_rs.as_deref(), Some(rev2.as_str()));
    assert_eq!(split(&world), vec![100, 0]);
    assert_eq!(world.selector_of("demo-stable"), rev2);
    assert_eq!(world.selector_of("demo-canary"), rev2);
    // The old revision keeps its pod for the default 30 s scale-down delay.
    assert_eq!(world.pods("nginx:1"), 1);
    world.advance(31);
    world.settle();
    assert_eq!(world.pods("nginx:1"), 0);
}

impl World {
    /// Plays an Experiment controller: the Experiment's phase becomes `phase`.
    fn finish_experiment(&mut self, name: &str, phase: &str, message: &str) {
        let experiment = self
            .experiments
            .iter_mut()
            .find(|e| e.name_any() == name)
            .unwrap();
        merge_into(
            experiment,
            &json!({"status": {"phase": phase, "message": message}}),
        );
    }
}

/// §3.11 experiment step: the Experiment is created once (named after hash, revision and step,
/// owned by the rollout, templates from the stable and canary ReplicaSets), recorded in
/// `currentExperiment`; Successful completes the step; Inconclusive pauses; Failed aborts;
/// abort terminates a running Experiment.
#[test]
fn experiment_step_lifecycle() {
    let steps = json!({"steps": [
        {"setWeight": 50},
        {"experiment": {"duration": "1m", "templates": [
            {"name": "baseline", "specRef": "stable"},
            {"name": "canary", "specRef": "canary", "replicas": 2}
        ]}},
        {"pause": {}}
    ]});
    let mut w = World::new(rollout(2, &steps));
    w.settle();
    assert!(w.experiments.is_empty(), "initial deploy skips steps");
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.status().current_step_index, Some(1));
    assert_eq!(w.experiments.len(), 1);
    let hash = w.hash_of("nginx:2");
    let name = format!("demo-{hash}-2-1");
    let experiment = w.experiments[0].clone();
    assert_eq!(experiment.name_any(), name);
    assert_eq!(experiment.owner_references()[0].name, "demo");
    assert_eq!(
        experiment.labels()["rollouts-pod-template-hash"],
        hash.as_str()
    );
    assert_eq!(
        experiment.annotations()["rollout.argoproj.io/revision"],
        "2"
    );
    let images: Vec<String> = experiment
        .spec
        .templates
        .iter()
        .map(|t| {
            t.template.as_ref().unwrap()["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(images, ["nginx:1", "nginx:2"]);
    assert_eq!(experiment.spec.templates[1].replicas, Some(2));
    assert_eq!(experiment.spec.duration.as_deref(), Some("1m"));
    assert_eq!(
        w.status().canary.unwrap().current_experiment.as_deref(),
        Some(name.as_str())
    );
    // Running: the step waits (no progress deadline, no second Experiment).
    w.finish_experiment(&name, "Running", "");
    w.advance(3600);
    w.settle();
    assert_eq!(w.status().current_step_index, Some(1));
    assert_eq!(w.experiments.len(), 1);
    assert_eq!(w.phase().0, "Progressing");
    w.finish_experiment(&name, "Successful", "");
    w.settle();
    assert_eq!(w.status().current_step_index, Some(2));
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
    assert_eq!(w.status().canary.unwrap().current_experiment, None);

    // Inconclusive pauses with InconclusiveExperiment.
    w.set_image("nginx:3");
    w.settle();
    let name = w.experiments.last().unwrap().name_any();
    assert_eq!(w.experiments.len(), 2);
    w.finish_experiment(&name, "Inconclusive", "");
    w.settle();
    assert_eq!(
        w.phase(),
        ("Paused".into(), "InconclusiveExperiment".into())
    );

    // Failed aborts with the Experiment's message.
    w.set_image("nginx:4");
    w.settle();
    let name = w.experiments.last().unwrap().name_any();
    w.finish_experiment(&name, "Failed", "baseline pods crashed");
    w.settle();
    assert_eq!(w.phase().0, "Degraded");
    let (_, _, message) = w.condition("Progressing");
    assert!(
        message.ends_with(&format!(
            "Experiment '{name}' phase failed: baseline pods crashed"
        )),
        "{message}"
    );

    // Abort while an Experiment runs terminates it.
    w.patch_status(&json!({"abort": false}));
    w.set_image("nginx:5");
    w.settle();
    let running = w.experiments.last().unwrap().name_any();
    w.patch_status(&json!({"abort": true}));
    w.settle();
    let live = w
        .experiments
        .iter()
        .find(|e| e.name_any() == running)
        .unwrap();
    assert_eq!(live.spec.terminate, Some(true));
    assert_eq!(w.phase().0, "Degraded");
}

impl World {
    fn template_of(&self, image: &str) -> Value {
        let rs = self
            .replica_sets
            .iter()
            .find(|rs| World::image_of(rs) == image)
            .unwrap();
        serde_json::to_value(rs.spec.template.as_ref().unwrap()).unwrap()
    }
}

/// §7.4 and §7.3 on the ReplicaSet templates: the first deploy gets the stable metadata and no
/// anti-affinity; an update's new RS gets the canary metadata and a preferred anti-affinity term
/// against the stable hash; promotion moves it to the stable metadata (canary-only keys removed)
/// without creating another ReplicaSet.
#[test]
fn anti_affinity_and_ephemeral_metadata_on_templates() {
    let mut w = World::new(rollout(
        2,
        &json!({
            "antiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 50}},
            "canaryMetadata": {"labels": {"role": "canary", "canary-only": "yes"}},
            "stableMetadata": {"labels": {"role": "stable"}},
            "steps": [{"setWeight": 50}, {"pause": {}}]
        }),
    ));
    w.settle();
    let first = w.template_of("nginx:1");
    assert_eq!(first["metadata"]["labels"]["role"], "stable");
    assert!(first["spec"].get("affinity").is_none());
    let stable_hash = w.hash_of("nginx:1");

    w.set_image("nginx:2");
    w.settle();
    let canary = w.template_of("nginx:2");
    assert_eq!(canary["metadata"]["labels"]["role"], "canary");
    assert_eq!(canary["metadata"]["labels"]["canary-only"], "yes");
    let term = &canary["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        [0];
    assert_eq!(term["weight"], 50);
    assert_eq!(
        term["podAffinityTerm"]["labelSelector"]["matchExpressions"][0]["values"][0],
        stable_hash.as_str()
    );
    assert_eq!(
        w.template_of("nginx:1")["metadata"]["labels"]["role"],
        "stable"
    );

    w.promote();
    w.settle();
    assert_eq!(w.phase().0, "Healthy");
    assert_eq!(
        w.replica_sets.len(),
        2,
        "no extra ReplicaSet from injected metadata"
    );
    let promoted = w.template_of("nginx:2");
    assert_eq!(promoted["metadata"]["labels"]["role"], "stable");
    assert!(promoted["metadata"]["labels"].get("canary-only").is_none());
    let old = w.template_of("nginx:1");
    assert!(old["metadata"]["labels"].get("role").is_none(), "{old}");
}
mod adoption;
mod experiment_controller;
mod phase;
mod retention;
mod services;
mod traffic_routes;
mod traffic_scale;
