//! The Experiment controller's decisions, pure: from one Experiment, the ReplicaSets, Services
//! and AnalysisRuns it owns, the analysis templates and the clock, the writes that bring the
//! cluster one step closer to the Experiment's spec and the status to record. No I/O.
//!
//! One pass, in the reference's order:
//! 1. Each template gets a ReplicaSet `<experiment>-<template>-<hash>` (owner: the Experiment;
//!    labels: the template's labels plus `rollouts-pod-template-hash`; selector: the template's
//!    selector plus the hash) sized to the template's `replicas` (default 1) — or to 0 once the
//!    Experiment is terminating, after `scaleDownDelaySeconds` (default 30, kept in the RS's
//!    `scale-down-deadline` annotation). Its `templateStatuses` entry goes Progressing → Running
//!    (all replicas available) → Successful (scaled away while terminating), or Failed when it
//!    stays Progressing past `progressDeadlineSeconds` (default 600).
//! 2. A template with `service` gets a Service once Running (selector: the pod labels with the
//!    hash; ports: the containers' ports), recorded as `serviceName`; it is deleted when the
//!    template is scaled away.
//! 3. Once every template is Running, `availableAt` is set and each of `spec.analyses` gets its
//!    AnalysisRun `<experiment>-<analysis>` (owner: the Experiment); a terminating Experiment
//!    terminates its unfinished runs.
//! 4. The Experiment is terminating when `spec.terminate` is set, its phase is final, a template
//!    failed, an analysis ended Failed/Error/Inconclusive, `duration` has passed since
//!    `availableAt`, or every `requiredForCompletion` analysis is Successful.
//! 5. The phase: the templates' worst state (Pending while any is Progressing, Running when all
//!    run) until they end; a bad analysis result ends the Experiment at once with that phase;
//!    once the templates are scaled away the phase is the analyses' worst result (Successful
//!    without analyses). A final phase never changes again.
//!
//! Deviations: no ReplicaSet collision counts (a name clash with a foreign ReplicaSet waits),
//! and the Experiment's Services are named after the template's `service.name` or, when empty,
//! the ReplicaSet.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use serde_json::{Value, json};

use crate::controller::analysis::adapter::merge_patch;
use crate::controller::hash::{POD_TEMPLATE_HASH_LABEL, pod_template_hash};
use crate::controller::plan::EventType;
use crate::controller::replicas::scale_down::{
    SCALE_DOWN_DEADLINE_ANNOTATION, ScaleDownDeadline, format_scale_down_deadline,
    parse_scale_down_deadline,
};
use crate::crd::experiment::{ExperimentAnalysisRunStatus, ExperimentTemplate, TemplateStatus};
use crate::crd::{
    AnalysisPhase, AnalysisRun, AnalysisTemplate, Argument, ClusterAnalysisTemplate, Experiment,
    ExperimentStatus,
};

/// Annotation on an Experiment's ReplicaSet naming its template.
pub const TEMPLATE_NAME_ANNOTATION: &str = "experiment.argoproj.io/template-name";
/// Default `progressDeadlineSeconds` of a template.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;
/// Default `scaleDownDelaySeconds` of an Experiment.
pub const DEFAULT_SCALE_DOWN_DELAY_SECONDS: i32 = 30;
/// The condition type the controller keeps on an Experiment.
pub const PROGRESSING_CONDITION: &str = "Progressing";
/// The condition type of an invalid Experiment spec.
pub const INVALID_SPEC_CONDITION: &str = "InvalidSpec";

/// Template states (`templateStatuses[].status`).
pub mod template_state {
    /// ReplicaSet created, not all replicas available yet.
    pub const PROGRESSING: &str = "Progressing";
    /// All replicas available.
    pub const RUNNING: &str = "Running";
    /// Scaled away after the Experiment ended.
    pub const SUCCESSFUL: &str = "Successful";
    /// Progress deadline exceeded.
    pub const FAILED: &str = "Failed";
    /// The template could not be run (invalid).
    pub const ERROR: &str = "Error";
}

/// Everything one pass looks at.
#[derive(Debug, Clone)]
pub struct ExperimentSnapshot {
    /// The Experiment as read.
    pub experiment: Experiment,
    /// ReplicaSets of the namespace (those the Experiment owns are picked out).
    pub replica_sets: Vec<ReplicaSet>,
    /// Services of the namespace.
    pub services: Vec<Service>,
    /// AnalysisRuns of the namespace.
    pub analysis_runs: Vec<AnalysisRun>,
    /// AnalysisTemplates of the namespace.
    pub analysis_templates: Vec<AnalysisTemplate>,
    /// ClusterAnalysisTemplates.
    pub cluster_analysis_templates: Vec<ClusterAnalysisTemplate>,
    /// The clock.
    pub now: DateTime<Utc>,
}

/// One write the shell makes, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ExperimentAction {
    /// Create a template's ReplicaSet.
    CreateReplicaSet(Box<ReplicaSet>),
    /// Merge-patch a ReplicaSet (size, scale-down deadline).
    PatchReplicaSet {
        /// ReplicaSet name.
        name: String,
        /// Merge patch.
        patch: Value,
    },
    /// Create a template's Service.
    CreateService(Box<Service>),
    /// Delete a template's Service.
    DeleteService {
        /// Service name.
        name: String,
    },
    /// Create an analysis's AnalysisRun.
    CreateAnalysisRun(Box<AnalysisRun>),
    /// Merge-patch an AnalysisRun (`spec.terminate`).
    PatchAnalysisRun {
        /// Run name.
        name: String,
        /// Merge patch.
        patch: Value,
    },
    /// Merge patch of the Experiment's `status` (the shell adds the resourceVersion
    /// precondition so a concurrent writer is never overwritten).
    PatchStatus(Value),
    /// A core/v1 Event on the Experiment.
    RecordEvent {
        /// Reason.
        reason: String,
        /// Message.
        message: String,
        /// Normal or Warning.
        kind: EventType,
    },
}

/// The result of one pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExperimentPlan {
    /// Writes, in order.
    pub actions: Vec<ExperimentAction>,
    /// When to look again without a watch event (duration, deadlines, scale-down delays).
    pub requeue_after: Option<Duration>,
}

fn is_final(phase: Option<AnalysisPhase>) -> bool {
    matches!(
        phase,
        Some(
            AnalysisPhase::Successful
                | AnalysisPhase::Failed
                | AnalysisPhase::Error
                | AnalysisPhase::Inconclusive
        )
    )
}

/// The reference's severity order of run phases (Successful best, Failed worst).
fn severity(phase: AnalysisPhase) -> u8 {
    match phase {
        AnalysisPhase::Successful => 0,
        AnalysisPhase::Running => 1,
        AnalysisPhase::Pending => 2,
        AnalysisPhase::Inconclusive => 3,
        AnalysisPhase::Error => 4,
        AnalysisPhase::Failed => 5,
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `spec.duration` as a time span; `None` when absent, empty or unreadable.
fn experiment_duration(experiment: &Experiment) -> Option<chrono::TimeDelta> {
    let text = experiment.spec.duration.as_deref()?.trim();
    if text.is_empty() {
        return None;
    }
    crate::crd::parse_go_duration(text)
        .ok()
        .and_then(|d| chrono::TimeDelta::from_std(d).ok())
}

/// The ReplicaSet name of a template: `<experiment>-<template>-<hash>`.
pub fn replica_set_name(experiment: &str, template: &str, hash: &str) -> String {
    format!("{experiment}-{template}-{hash}")
}

/// The pod template of an Experiment template with the hash label removed, and its hash.
pub fn template_hash(template: &ExperimentTemplate) -> (Value, String) {
    let mut pod = template.template.clone().unwrap_or_else(|| json!({}));
    crate::controller::hash::remove_pod_template_hash_label(&mut pod);
    let hash = pod_template_hash(&pod, None);
    (pod, hash)
}

/// Why an Experiment spec cannot run; `None` when it can.
pub fn validation_error(experiment: &Experiment) -> Option<String> {
    let templates = &experiment.spec.templates;
    if templates.is_empty() {
        return Some("spec.templates: Required value: at least one template".to_owned());
    }
    for (i, template) in templates.iter().enumerate() {
        if template.name.is_empty() {
            return Some(format!("spec.templates[{i}].name: Required value"));
        }
        if templates[..i].iter().any(|t| t.name == template.name) {
            return Some(format!(
                "spec.templates[{i}].name: Duplicate value: \"{}\"",
                template.name
            ));
        }
        if template.replicas.is_some_and(|r| r < 0) {
            return Some(format!(
                "spec.templates[{i}].replicas: Invalid value: must be >= 0"
            ));
        }
        let Some(selector) = template.selector.as_ref() else {
            return Some(format!("spec.templates[{i}].selector: Required value"));
        };
        let labels: BTreeMap<String, String> = template
            .template
            .as_ref()
            .and_then(|t| t.pointer("/metadata/labels"))
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default();
        let matches = selector
            .match_labels
            .iter()
            .flatten()
            .all(|(k, v)| labels.get(k) == Some(v));
        if selector
            .match_labels
            .as_ref()
            .is_none_or(BTreeMap::is_empty)
            || !matches
        {
            return Some(format!(
                "spec.templates[{i}].selector: Invalid value: `selector` does not match template \
                 `labels`"
            ));
        }
    }
    if experiment
        .spec
        .duration
        .as_deref()
        .is_some_and(|d| !d.trim().is_empty() && crate::crd::parse_go_duration(d.trim()).is_err())
    {
        return Some(format!(
            "spec.duration: Invalid value: {:?}: not a duration",
            experiment.spec.duration.as_deref().unwrap_or_default()
        ));
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, analysis) in experiment.spec.analyses.iter().flatten().enumerate() {
        if seen.contains(&analysis.name.as_str()) {
            return Some(format!(
                "spec.analyses[{i}].name: Duplicate value: \"{}\"",
                analysis.name
            ));
        }
        seen.push(&analysis.name);
    }
    None
}

struct Pass<'a> {
    snap: &'a ExperimentSnapshot,
    name: String,
    status: ExperimentStatus,
    actions: Vec<ExperimentAction>,
    wake: Option<DateTime<Utc>>,
}

/// Plans one pass over `snap.experiment` (see the module docs).
pub fn plan(snap: &ExperimentSnapshot) -> ExperimentPlan {
    let mut pass = Pass {
        snap,
        name: snap.experiment.name_any(),
        status: snap.experiment.status.clone().unwrap_or_default(),
        actions: Vec::new(),
        wake: None,
    };
    pass.run();
    let before = snap.experiment.status.clone().unwrap_or_default();
    if pass.status != before {
        let old = serde_json::to_value(&before).unwrap_or(Value::Null);
        let new = serde_json::to_value(&pass.status).unwrap_or(Value::Null);
        let patch = merge_patch(&old, &new);
        if !patch.is_null() && patch != json!({}) {
            pass.actions.push(ExperimentAction::PatchStatus(patch));
        }
        if before.phase() != pass.status.phase()
            && let Some(phase) = pass.status.phase()
        {
            let warning = matches!(
                phase,
                AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive
            );
            pass.actions.push(ExperimentAction::RecordEvent {
                reason: format!("Experiment{}", phase.as_str()),
                message: format!(
                    "Experiment '{}' Status New: '{}'",
                    pass.name,
                    phase.as_str()
                ),
                kind: if warning {
                    EventType::Warning
                } else {
                    EventType::Normal
                },
            });
        }
    }
    let requeue_after = pass
        .wake
        .map(|at| (at - snap.now).to_std().unwrap_or_default())
        .map(|d| d.max(Duration::from_millis(200)));
    ExperimentPlan {
        actions: pass.actions,
        requeue_after,
    }
}

impl Pass<'_> {
    fn now(&self) -> DateTime<Utc> {
        self.snap.now
    }

    fn wake_at(&mut self, at: DateTime<Utc>) {
        self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
    }

    fn owned<'o, K: kube::Resource>(&self, object: &'o K) -> Option<&'o K> {
        let uid = self.snap.experiment.metadata.uid.as_deref();
        object
            .meta()
            .owner_references
            .iter()
            .flatten()
            .any(|o| {
                o.kind == "Experiment"
                    && o.name == self.name
                    && uid.is_none_or(|uid| o.uid.is_empty() || o.uid == uid)
            })
            .then_some(object)
    }

    fn template_rs(&self, template: &str) -> Option<&ReplicaSet> {
        self.snap
            .replica_sets
            .iter()
            .filter_map(|rs| self.owned(rs))
            .find(|rs| {
                rs.metadata.deletion_timestamp.is_none()
                    && rs
                        .annotations()
                        .get(TEMPLATE_NAME_ANNOTATION)
                        .map(String::as_str)
                        == Some(template)
            })
    }

    fn template_status_mut(&mut self, name: &str) -> &mut TemplateStatus {
        let statuses = self.status.template_statuses.get_or_insert_with(Vec::new);
        if let Some(index) = statuses.iter().position(|s| s.name == name) {
            return &mut statuses[index];
        }
        statuses.push(TemplateStatus {
            name: name.to_owned(),
            ..TemplateStatus::default()
        });
        let last = statuses.len() - 1;
        &mut statuses[last]
    }

    fn template_state(&self, name: &str) -> Option<String> {
        self.status
            .template_statuses
            .iter()
            .flatten()
            .find(|s| s.name == name)
            .and_then(|s| s.status.clone())
    }

    fn analysis_phase(&self, name: &str) -> Option<AnalysisPhase> {
        self.status
            .analysis_runs
            .iter()
            .flatten()
            .find(|s| s.name == name)
            .and_then(|s| s.phase.as_deref())
            .and_then(AnalysisPhase::parse)
    }

    /// Step 4 of the module docs.
    fn terminating(&mut self) -> bool {
        let experiment = &self.snap.experiment;
        if experiment.spec.terminate == Some(true) || is_final(self.status.phase()) {
            return true;
        }
        let template_failed = self.status.template_statuses.iter().flatten().any(|t| {
            matches!(
                t.status.as_deref(),
                Some(template_state::FAILED | template_state::ERROR)
            )
        });
        let analysis_bad = self.status.analysis_runs.iter().flatten().any(|a| {
            matches!(
                a.phase.as_deref().and_then(AnalysisPhase::parse),
                Some(AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive)
            )
        });
        if template_failed || analysis_bad {
            return true;
        }
        let required: Vec<&str> = experiment
            .spec
            .analyses
            .iter()
            .flatten()
            .filter(|a| a.required_for_completion == Some(true))
            .map(|a| a.name.as_str())
            .collect();
        if !required.is_empty()
            && required
                .iter()
                .all(|name| self.analysis_phase(name) == Some(AnalysisPhase::Successful))
        {
            return true;
        }
        if let (Some(available), Some(duration)) = (
            parse_time(self.status.available_at.as_deref()),
            experiment_duration(experiment),
        ) {
            let end = available + duration;
            if self.now() >= end {
                return true;
            }
            self.wake_at(end);
        }
        false
    }

    fn run(&mut self) {
        let experiment = &self.snap.experiment;
        if self.status.phase().is_none() {
            self.status.phase_text = Some(AnalysisPhase::Pending.as_str().to_owned());
        }
        if let Some(message) = validation_error(experiment) {
            if !is_final(self.status.phase()) {
                self.status.phase_text = Some(AnalysisPhase::Error.as_str().to_owned());
                self.status.message = Some(message.clone());
            }
            self.set_condition(INVALID_SPEC_CONDITION, "True", "InvalidSpec", &message);
            return;
        }
        let terminating = self.terminating();
        let templates = experiment.spec.templates.clone();
        for template in &templates {
            self.reconcile_template(template, terminating);
        }
        self.reconcile_analyses(terminating);
        self.calculate_phase();
        self.update_progressing_condition();
    }

    fn scale_down_delay(&self) -> i32 {
        self.snap
            .experiment
            .spec
            .scale_down_delay_seconds
            .unwrap_or(DEFAULT_SCALE_DOWN_DELAY_SECONDS)
            .max(0)
    }

    fn new_replica_set(&self, template: &ExperimentTemplate, replicas: i32) -> ReplicaSet {
        let (mut pod, hash) = template_hash(template);
        if let Some(meta) = pod
            .as_object_mut()
            .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
            && let Some(meta) = meta.as_object_mut()
        {
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(labels) = labels.as_object_mut() {
                labels.insert(POD_TEMPLATE_HASH_LABEL.to_owned(), json!(hash));
            }
        }
        let mut selector =
            serde_json::to_value(template.selector.clone().unwrap_or_default()).unwrap_or_default();
        if let Some(object) = selector.as_object_mut() {
            let labels = object.entry("matchLabels").or_insert_with(|| json!({}));
            if let Some(labels) = labels.as_object_mut() {
                labels.insert(POD_TEMPLATE_HASH_LABEL.to_owned(), json!(hash));
            }
        }
        let mut labels = pod
            .pointer("/metadata/labels")
            .cloned()
            .unwrap_or_else(|| json!({}));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert(POD_TEMPLATE_HASH_LABEL.to_owned(), json!(hash));
        }
        let experiment = &self.snap.experiment;
        let mut spec = json!({
            "replicas": replicas,
            "selector": selector,
            "template": pod,
        });
        if let Some(seconds) = template.min_ready_seconds {
            spec["minReadySeconds"] = json!(seconds);
        }
        serde_json::from_value(json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": replica_set_name(&self.name, &template.name, &hash),
                "namespace": experiment.namespace(),
                "labels": labels,
                "annotations": {TEMPLATE_NAME_ANNOTATION: template.name},
                "ownerReferences": [{
                    "apiVersion": crate::crd::API_VERSION,
                    "kind": "Experiment",
                    "name": self.name,
                    "uid": experiment.metadata.uid.clone().unwrap_or_default(),
                    "controller": true,
                    "blockOwnerDeletion": true,
                }],
            },
            "spec": spec,
        }))
        .unwrap_or_default()
    }

    /// Step 1 and 2 for one template.
    fn reconcile_template(&mut self, template: &ExperimentTemplate, terminating: bool) {
        let now = self.now();
        let state = self.template_state(&template.name);
        let done = matches!(
            state.as_deref(),
            Some(template_state::SUCCESSFUL | template_state::FAILED | template_state::ERROR)
        );
        let desired = if terminating || done {
            0
        } else {
            template.replicas.unwrap_or(1).max(0)
        };
        let Some(rs) = self.template_rs(&template.name).cloned() else {
            if desired > 0 {
                let rs = self.new_replica_set(template, desired);
                let hash = rs.labels().get(POD_TEMPLATE_HASH_LABEL).cloned();
                let status = self.template_status_mut(&template.name);
                status.status = Some(template_state::PROGRESSING.to_owned());
                status.last_transition_time = Some(rfc3339(now));
                status.pod_template_hash = hash;
                status.replicas = Some(0);
                status.updated_replicas = Some(0);
                status.ready_replicas = Some(0);
                status.available_replicas = Some(0);
                self.actions
                    .push(ExperimentAction::CreateReplicaSet(Box::new(rs)));
            } else if state.is_none() {
                // Terminated before it ever ran: nothing to scale away.
                let status = self.template_status_mut(&template.name);
                status.status = Some(template_state::SUCCESSFUL.to_owned());
                status.last_transition_time = Some(rfc3339(now));
            }
            return;
        };
        let rs_name = rs.name_any();
        let spec_replicas = rs.spec.replicas.unwrap_or(1);
        let deadline = rs
            .annotations()
            .get(SCALE_DOWN_DEADLINE_ANNOTATION)
            .map(|v| parse_scale_down_deadline(v));
        if spec_replicas != desired {
            let delay = self.scale_down_delay();
            if desired == 0 && delay > 0 {
                match deadline {
                    Some(ScaleDownDeadline::At(at)) if at > now => self.wake_at(at),
                    Some(ScaleDownDeadline::At(_)) => {
                        self.actions.push(ExperimentAction::PatchReplicaSet {
                            name: rs_name.clone(),
                            patch: json!({"spec": {"replicas": 0}}),
                        });
                    }
                    _ => {
                        let at = now + chrono::TimeDelta::seconds(i64::from(delay));
                        self.wake_at(at);
                        self.actions.push(ExperimentAction::PatchReplicaSet {
                            name: rs_name.clone(),
                            patch: json!({"metadata": {"annotations": {
                                SCALE_DOWN_DEADLINE_ANNOTATION: format_scale_down_deadline(at)
                            }}}),
                        });
                    }
                }
            } else {
                let mut patch = json!({"spec": {"replicas": desired}});
                if desired > 0 && deadline.is_some() {
                    patch["metadata"] =
                        json!({"annotations": {SCALE_DOWN_DEADLINE_ANNOTATION: null}});
                }
                self.actions.push(ExperimentAction::PatchReplicaSet {
                    name: rs_name.clone(),
                    patch,
                });
            }
        }
        let rs_status = rs.status.clone().unwrap_or_default();
        let available = rs_status.available_replicas.unwrap_or(0);
        let current = rs_status.replicas;
        let hash = rs.labels().get(POD_TEMPLATE_HASH_LABEL).cloned();
        let progress_deadline = self
            .snap
            .experiment
            .spec
            .progress_deadline_seconds
            .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
        // Service bookkeeping before the status borrow.
        let service_name = template.service.as_ref().map(|s| {
            s.name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| rs_name.clone())
        });
        let scaled_away = desired == 0 && spec_replicas == 0 && current == 0;
        let status = self.template_status_mut(&template.name);
        status.replicas = Some(current);
        status.updated_replicas = Some(current);
        status.ready_replicas = Some(rs_status.ready_replicas.unwrap_or(0));
        status.available_replicas = Some(available);
        status.pod_template_hash = hash;
        let previous = status.status.clone();
        let mut next = previous.clone();
        let mut message = None;
        let mut deadline_at = None;
        if desired == 0 {
            if scaled_away
                && !matches!(
                    previous.as_deref(),
                    Some(template_state::FAILED | template_state::ERROR)
                )
            {
                next = Some(template_state::SUCCESSFUL.to_owned());
            }
        } else if available >= desired && spec_replicas == desired && current == desired {
            next = Some(template_state::RUNNING.to_owned());
        } else {
            if previous.as_deref() != Some(template_state::PROGRESSING) {
                next = Some(template_state::PROGRESSING.to_owned());
            }
            let since = if next == previous {
                parse_time(status.last_transition_time.as_deref()).unwrap_or(now)
            } else {
                now
            };
            let limit = since + chrono::TimeDelta::seconds(i64::from(progress_deadline.max(0)));
            if now >= limit {
                next = Some(template_state::FAILED.to_owned());
                message = Some(format!(
                    "Template '{}' exceeded its progressDeadlineSeconds ({progress_deadline})",
                    template.name
                ));
            } else {
                deadline_at = Some(limit);
            }
        }
        if next != previous {
            status.status.clone_from(&next);
            status.last_transition_time = Some(rfc3339(now));
            status.message = message;
        }
        let running = next.as_deref() == Some(template_state::RUNNING);
        let recorded_service = status.service_name.clone();
        if let Some(at) = deadline_at {
            self.wake_at(at);
        }
        let Some(service_name) = service_name else {
            return;
        };
        let live = self
            .snap
            .services
            .iter()
            .any(|s| s.name_any() == service_name);
        if running && desired > 0 {
            if !live {
                let service = self.new_service(&service_name, &rs);
                self.actions
                    .push(ExperimentAction::CreateService(Box::new(service)));
            }
            if recorded_service.as_deref() != Some(service_name.as_str()) {
                self.template_status_mut(&template.name).service_name = Some(service_name);
            }
        } else if scaled_away {
            let owned = self
                .snap
                .services
                .iter()
                .find(|s| s.name_any() == service_name)
                .and_then(|s| self.owned(s))
                .is_some();
            if owned {
                self.actions
                    .push(ExperimentAction::DeleteService { name: service_name });
            }
            if recorded_service.is_some() {
                self.template_status_mut(&template.name).service_name = None;
            }
        }
    }

    fn new_service(&self, name: &str, rs: &ReplicaSet) -> Service {
        let template = rs.spec.template.as_ref();
        let selector = template
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        let mut ports: Vec<Value> = template
            .and_then(|t| t.spec.as_ref())
            .map(|spec| {
                spec.containers
                    .iter()
                    .flat_map(|c| c.ports.iter().flatten())
                    .map(|p| {
                        let mut port = json!({
                            "port": p.container_port,
                            "targetPort": p.container_port,
                            "protocol": p.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
                        });
                        if let Some(name) = p.name.as_ref() {
                            port["name"] = json!(name);
                        }
                        port
                    })
                    .collect()
            })
            .unwrap_or_default();
        if ports.is_empty() {
            // A Service needs a port; the reference requires containerPorts, rolltop falls back
            // to 80 so a template without declared ports still gets its traffic destination.
            ports.push(json!({"port": 80, "targetPort": 80, "protocol": "TCP"}));
        }
        let experiment = &self.snap.experiment;
        serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": experiment.namespace(),
                "ownerReferences": [{
                    "apiVersion": crate::crd::API_VERSION,
                    "kind": "Experiment",
                    "name": self.name,
                    "uid": experiment.metadata.uid.clone().unwrap_or_default(),
                    "controller": true,
                    "blockOwnerDeletion": true,
                }],
            },
            "spec": {"selector": selector, "ports": ports},
        }))
        .unwrap_or_default()
    }

    fn run_name(&self, analysis: &str) -> String {
        format!("{}-{analysis}", self.name)
    }

    /// Step 3.
    fn reconcile_analyses(&mut self, terminating: bool) {
        let experiment = self.snap.experiment.clone();
        let available = self.status.available_at.is_some();
        for analysis in experiment.spec.analyses.iter().flatten() {
            let run_name = self.run_name(&analysis.name);
            let live = self
                .snap
                .analysis_runs
                .iter()
                .filter_map(|r| self.owned(r))
                .find(|r| r.name_any() == run_name)
                .cloned();
            let entry = match live {
                Some(run) => {
                    let phase = run.phase();
                    if terminating && !is_final(phase) && !run.is_terminating() {
                        self.actions.push(ExperimentAction::PatchAnalysisRun {
                            name: run_name.clone(),
                            patch: json!({"spec": {"terminate": true}}),
                        });
                    }
                    ExperimentAnalysisRunStatus {
                        name: analysis.name.clone(),
                        analysis_run: Some(run_name),
                        phase: Some(phase.unwrap_or(AnalysisPhase::Pending).as_str().to_owned()),
                        message: run
                            .status
                            .as_ref()
                            .and_then(|s| s.message.clone())
                            .filter(|m| !m.is_empty()),
                        extra: BTreeMap::default(),
                    }
                }
                None if !available => continue,
                None => {
                    let recorded = self
                        .status
                        .analysis_runs
                        .iter()
                        .flatten()
                        .find(|a| a.name == analysis.name)
                        .cloned();
                    if let Some(recorded) = recorded
                        .filter(|r| is_final(r.phase.as_deref().and_then(AnalysisPhase::parse)))
                    {
                        // A finished run that was deleted (ttl) keeps its recorded result.
                        recorded
                    } else if terminating {
                        ExperimentAnalysisRunStatus {
                            name: analysis.name.clone(),
                            analysis_run: None,
                            phase: Some(AnalysisPhase::Successful.as_str().to_owned()),
                            message: Some("Experiment terminated before the run started".into()),
                            extra: BTreeMap::default(),
                        }
                    } else {
                        match self.new_run(analysis, &run_name) {
                            Ok(run) => {
                                self.actions
                                    .push(ExperimentAction::CreateAnalysisRun(Box::new(run)));
                                ExperimentAnalysisRunStatus {
                                    name: analysis.name.clone(),
                                    analysis_run: Some(run_name),
                                    phase: Some(AnalysisPhase::Pending.as_str().to_owned()),
                                    message: None,
                                    extra: BTreeMap::default(),
                                }
                            }
                            Err(message) => ExperimentAnalysisRunStatus {
                                name: analysis.name.clone(),
                                analysis_run: None,
                                phase: Some(AnalysisPhase::Error.as_str().to_owned()),
                                message: Some(message),
                                extra: BTreeMap::default(),
                            },
                        }
                    }
                }
            };
            let runs = self.status.analysis_runs.get_or_insert_with(Vec::new);
            match runs.iter_mut().find(|a| a.name == entry.name) {
                Some(existing) => *existing = entry,
                None => runs.push(entry),
            }
        }
    }

    /// `{{templates.<t>.podTemplateHash}}`, `{{templates.<t>.replicaset.name}}`,
    /// `{{experiment.availableAt}}` and `{{experiment.finishedAt}}` in argument values.
    fn substitute(&self, value: &str) -> String {
        let mut out = value.to_owned();
        for status in self.status.template_statuses.iter().flatten() {
            if let Some(hash) = status.pod_template_hash.as_deref() {
                out = out
                    .replace(
                        &format!("{{{{templates.{}.podTemplateHash}}}}", status.name),
                        hash,
                    )
                    .replace(
                        &format!("{{{{templates.{}.replicaset.name}}}}", status.name),
                        &replica_set_name(&self.name, &status.name, hash),
                    );
            }
        }
        if let Some(at) = self.status.available_at.as_deref() {
            out = out.replace("{{experiment.availableAt}}", at);
            if let Some(duration) = experiment_duration(&self.snap.experiment)
                && let Some(start) = parse_time(Some(at))
            {
                out = out.replace("{{experiment.finishedAt}}", &rfc3339(start + duration));
            }
        }
        out
    }

    fn new_run(
        &self,
        analysis: &crate::crd::experiment::ExperimentAnalysis,
        run_name: &str,
    ) -> Result<AnalysisRun, String> {
        let spec = if analysis.cluster_scope == Some(true) {
            self.snap
                .cluster_analysis_templates
                .iter()
                .find(|t| t.name_any() == analysis.template_name)
                .map(|t| t.spec.0.clone())
                .ok_or_else(|| {
                    format!(
                        "ClusterAnalysisTemplate '{}' not found",
                        analysis.template_name
                    )
                })?
        } else {
            self.snap
                .analysis_templates
                .iter()
                .find(|t| t.name_any() == analysis.template_name)
                .map(|t| t.spec.clone())
                .ok_or_else(|| format!("AnalysisTemplate '{}' not found", analysis.template_name))?
        };
        let mut args: Vec<Argument> = spec.args.clone().unwrap_or_default();
        for arg in analysis.args.iter().flatten() {
            let mut arg = arg.clone();
            arg.value = arg.value.as_deref().map(|v| self.substitute(v));
            match args.iter_mut().find(|a| a.name == arg.name) {
                Some(existing) => *existing = arg,
                None => args.push(arg),
            }
        }
        let experiment = &self.snap.experiment;
        let mut labels = experiment.labels().clone();
        let mut annotations = BTreeMap::new();
        if let Some(meta) = experiment.spec.analysis_run_metadata.as_ref() {
            labels.extend(meta.labels.clone().unwrap_or_default());
            annotations.extend(meta.annotations.clone().unwrap_or_default());
        }
        if let Some(revision) = experiment
            .annotations()
            .get(crate::controller::snapshot::REVISION_ANNOTATION)
        {
            annotations.insert(
                crate::controller::snapshot::REVISION_ANNOTATION.to_owned(),
                revision.clone(),
            );
        }
        let mut run: AnalysisRun = serde_json::from_value(json!({
            "apiVersion": crate::crd::API_VERSION,
            "kind": "AnalysisRun",
            "metadata": {
                "name": run_name,
                "namespace": experiment.namespace(),
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [{
                    "apiVersion": crate::crd::API_VERSION,
                    "kind": "Experiment",
                    "name": self.name,
                    "uid": experiment.metadata.uid.clone().unwrap_or_default(),
                    "controller": true,
                    "blockOwnerDeletion": true,
                }],
            },
            "spec": {"metrics": []},
        }))
        .map_err(|e| e.to_string())?;
        run.spec.metrics = spec.metrics;
        run.spec.args = (!args.is_empty()).then_some(args);
        run.spec.dry_run = experiment.spec.dry_run.clone().or(spec.dry_run);
        run.spec.measurement_retention = experiment
            .spec
            .measurement_retention
            .clone()
            .or(spec.measurement_retention);
        Ok(run)
    }

    /// The templates' combined state: (phase, message).
    fn assess_templates(&self) -> (AnalysisPhase, Option<String>) {
        let mut worst = (AnalysisPhase::Successful, None);
        let rank = |phase: AnalysisPhase| match phase {
            AnalysisPhase::Successful => 0,
            AnalysisPhase::Running => 1,
            AnalysisPhase::Pending => 2,
            AnalysisPhase::Inconclusive => 3,
            AnalysisPhase::Error => 4,
            AnalysisPhase::Failed => 5,
        };
        for template in &self.snap.experiment.spec.templates {
            let status = self
                .status
                .template_statuses
                .iter()
                .flatten()
                .find(|s| s.name == template.name);
            let phase = match status.and_then(|s| s.status.as_deref()) {
                Some(template_state::RUNNING) => AnalysisPhase::Running,
                Some(template_state::SUCCESSFUL) => AnalysisPhase::Successful,
                Some(template_state::FAILED) => AnalysisPhase::Failed,
                Some(template_state::ERROR) => AnalysisPhase::Error,
                _ => AnalysisPhase::Pending,
            };
            if rank(phase) > rank(worst.0) {
                worst = (phase, status.and_then(|s| s.message.clone()));
            }
        }
        worst
    }

    /// The analyses' combined result: (phase, message); Successful without analyses.
    fn assess_analyses(&self) -> (AnalysisPhase, Option<String>) {
        let mut worst = (AnalysisPhase::Successful, None);
        for analysis in self.snap.experiment.spec.analyses.iter().flatten() {
            let status = self
                .status
                .analysis_runs
                .iter()
                .flatten()
                .find(|a| a.name == analysis.name);
            let phase = status
                .and_then(|s| s.phase.as_deref())
                .and_then(AnalysisPhase::parse)
                .unwrap_or(AnalysisPhase::Pending);
            if severity(phase) > severity(worst.0) {
                let message = status.and_then(|s| s.message.clone()).map_or_else(
                    || format!("Analysis '{}' {}", analysis.name, phase.as_str()),
                    |m| format!("Analysis '{}' {}: {m}", analysis.name, phase.as_str()),
                );
                worst = (phase, Some(message));
            }
        }
        worst
    }

    /// Step 5.
    fn calculate_phase(&mut self) {
        if is_final(self.status.phase()) {
            return;
        }
        let (templates, template_message) = self.assess_templates();
        let (analyses, analysis_message) = self.assess_analyses();
        if templates == AnalysisPhase::Running && self.status.available_at.is_none() {
            self.status.available_at = Some(rfc3339(self.now()));
        }
        let (phase, message) = if is_final(Some(templates)) {
            if templates == AnalysisPhase::Successful {
                if is_final(Some(analyses)) {
                    (analyses, analysis_message)
                } else {
                    // Scaled away; the terminated runs still have to report.
                    (AnalysisPhase::Running, None)
                }
            } else {
                (templates, template_message)
            }
        } else if is_final(Some(analyses)) && analyses != AnalysisPhase::Successful {
            (analyses, analysis_message)
        } else {
            (templates, template_message)
        };
        self.status.phase_text = Some(phase.as_str().to_owned());
        self.status.message = message;
    }

    fn set_condition(&mut self, kind: &str, status: &str, reason: &str, message: &str) {
        let now = rfc3339(self.now());
        let conditions = self.status.conditions.get_or_insert_with(Vec::new);
        let existing = conditions
            .iter_mut()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(kind));
        match existing {
            Some(condition) => {
                let same = condition.get("status").and_then(Value::as_str) == Some(status)
                    && condition.get("reason").and_then(Value::as_str) == Some(reason)
                    && condition.get("message").and_then(Value::as_str) == Some(message);
                if same {
                    return;
                }
                let transition = if condition.get("status").and_then(Value::as_str) == Some(status)
                {
                    condition
                        .get("lastTransitionTime")
                        .cloned()
                        .unwrap_or_else(|| json!(now))
                } else {
                    json!(now)
                };
                *condition = json!({
                    "type": kind, "status": status, "reason": reason, "message": message,
                    "lastUpdateTime": now, "lastTransitionTime": transition,
                });
            }
            None => conditions.push(json!({
                "type": kind, "status": status, "reason": reason, "message": message,
                "lastUpdateTime": now, "lastTransitionTime": now,
            })),
        }
    }

    fn update_progressing_condition(&mut self) {
        let name = self.name.clone();
        match self.status.phase() {
            Some(AnalysisPhase::Pending) | None => self.set_condition(
                PROGRESSING_CONDITION,
                "True",
                "ExperimentProgressing",
                &format!("Experiment \"{name}\" is progressing."),
            ),
            Some(AnalysisPhase::Running) => self.set_condition(
                PROGRESSING_CONDITION,
                "True",
                "ExperimentProgressing",
                &format!("Experiment \"{name}\" is running."),
            ),
            Some(phase) => self.set_condition(
                PROGRESSING_CONDITION,
                "False",
                "ExperimentCompleted",
                &format!(
                    "Experiment \"{name}\" has completed with phase {}.",
                    phase.as_str()
                ),
            ),
        }
    }
}

/// The cluster side of a pass for pure tests and simulations: applies `actions` to in-memory
/// objects the way the API server and the shell would (creates, merge patches, deletes).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn apply_to_objects(
    actions: &[ExperimentAction],
    experiment: &mut Experiment,
    replica_sets: &mut Vec<ReplicaSet>,
    services: &mut Vec<Service>,
    runs: &mut Vec<AnalysisRun>,
) {
    fn merge<T: serde::Serialize + serde::de::DeserializeOwned>(target: &mut T, patch: &Value) {
        let mut value = serde_json::to_value(&*target).unwrap();
        json_patch::merge(&mut value, patch);
        *target = serde_json::from_value(value).unwrap();
    }
    for action in actions {
        match action {
            ExperimentAction::CreateReplicaSet(rs) => {
                assert!(replica_sets.iter().all(|r| r.name_any() != rs.name_any()));
                let mut rs = (**rs).clone();
                rs.metadata.uid = Some(format!("uid-{}", rs.name_any()));
                replica_sets.push(rs);
            }
            ExperimentAction::PatchReplicaSet { name, patch } => {
                merge(
                    replica_sets
                        .iter_mut()
                        .find(|r| r.name_any() == *name)
                        .unwrap(),
                    patch,
                );
            }
            ExperimentAction::CreateService(service) => {
                assert!(services.iter().all(|s| s.name_any() != service.name_any()));
                services.push((**service).clone());
            }
            ExperimentAction::DeleteService { name } => services.retain(|s| s.name_any() != *name),
            ExperimentAction::CreateAnalysisRun(run) => {
                assert!(runs.iter().all(|r| r.name_any() != run.name_any()));
                runs.push((**run).clone());
            }
            ExperimentAction::PatchAnalysisRun { name, patch } => {
                merge(
                    runs.iter_mut().find(|r| r.name_any() == *name).unwrap(),
                    patch,
                );
            }
            ExperimentAction::PatchStatus(patch) => {
                let mut status = serde_json::to_value(&experiment.status).unwrap();
                if status.is_null() {
                    status = json!({});
                }
                json_patch::merge(&mut status, patch);
                experiment.status = serde_json::from_value(status).unwrap();
            }
            ExperimentAction::RecordEvent { .. } => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSetStatus;

    fn experiment(spec: &Value) -> Experiment {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Experiment",
            "metadata": {"name": "exp", "namespace": "shop", "uid": "uid-exp",
                         "labels": {"team": "a"}},
            "spec": spec,
        }))
        .unwrap()
    }

    fn template(name: &str, image: &str) -> Value {
        json!({
            "name": name,
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web", "role": name}},
            "template": {
                "metadata": {"labels": {"app": "web", "role": name}},
                "spec": {"containers": [{"name": "app", "image": image,
                                          "ports": [{"containerPort": 8080, "name": "http"}]}]}
            }
        })
    }

    fn analysis_template(name: &str) -> AnalysisTemplate {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"args": [{"name": "hash"}],
                     "metrics": [{"name": "m", "provider": {"web": {"url": "http://x/"}}}]}
        }))
        .unwrap()
    }

    /// The Experiment and the objects it owns, advanced pass by pass.
    struct Bench {
        snap: ExperimentSnapshot,
        /// The kubelet makes pods available.
        ready: bool,
        events: Vec<String>,
        last: ExperimentPlan,
    }

    impl Bench {
        fn new(spec: &Value) -> Self {
            Bench {
                snap: ExperimentSnapshot {
                    experiment: experiment(spec),
                    replica_sets: Vec::new(),
                    services: Vec::new(),
                    analysis_runs: Vec::new(),
                    analysis_templates: vec![analysis_template("probe")],
                    cluster_analysis_templates: Vec::new(),
                    now: DateTime::from_timestamp(1_750_000_000, 0).unwrap(),
                },
                ready: true,
                events: Vec::new(),
                last: ExperimentPlan::default(),
            }
        }

        fn kubelet(&mut self) {
            for rs in &mut self.snap.replica_sets {
                let spec = rs.spec.replicas.unwrap_or(0);
                let available = if self.ready {
                    spec
                } else {
                    rs.status
                        .as_ref()
                        .and_then(|s| s.available_replicas)
                        .unwrap_or(0)
                        .min(spec)
                };
                rs.status = Some(ReplicaSetStatus {
                    replicas: spec,
                    ready_replicas: Some(available),
                    available_replicas: Some(available),
                    ..ReplicaSetStatus::default()
                });
            }
        }

        fn settle(&mut self) {
            for _ in 0..50 {
                self.kubelet();
                let plan = plan(&self.snap);
                for action in &plan.actions {
                    if let ExperimentAction::RecordEvent { reason, .. } = action {
                        self.events.push(reason.clone());
                    }
                }
                let done = plan.actions.is_empty();
                apply_to_objects(
                    &plan.actions,
                    &mut self.snap.experiment,
                    &mut self.snap.replica_sets,
                    &mut self.snap.services,
                    &mut self.snap.analysis_runs,
                );
                self.last = plan;
                if done {
                    return;
                }
            }
            panic!("no fixed point");
        }

        fn advance(&mut self, seconds: i64) {
            self.snap.now += chrono::TimeDelta::seconds(seconds);
        }

        fn status(&self) -> ExperimentStatus {
            self.snap.experiment.status.clone().unwrap_or_default()
        }

        fn phase(&self) -> (String, String) {
            let s = self.status();
            (
                s.phase_text.unwrap_or_default(),
                s.message.unwrap_or_default(),
            )
        }

        fn template_states(&self) -> Vec<String> {
            self.status()
                .template_statuses
                .unwrap_or_default()
                .iter()
                .map(|t| t.status.clone().unwrap_or_default())
                .collect()
        }

        fn sizes(&self) -> Vec<i32> {
            self.snap
                .replica_sets
                .iter()
                .map(|rs| rs.spec.replicas.unwrap_or(0))
                .collect()
        }

        fn finish_run(&mut self, phase: &str, message: &str) {
            for run in &mut self.snap.analysis_runs {
                run.status = Some(
                    serde_json::from_value(json!({"phase": phase, "message": message})).unwrap(),
                );
            }
        }
    }

    #[test]
    fn templates_run_then_duration_scales_them_away_after_the_delay() {
        let mut bench = Bench::new(&json!({
            "duration": "60s",
            "templates": [template("baseline", "app:v1"), template("canary", "app:v2")],
        }));
        bench.ready = false;
        bench.settle();
        assert_eq!(bench.phase().0, "Pending");
        assert_eq!(bench.template_states(), ["Progressing", "Progressing"]);
        let rs = &bench.snap.replica_sets[0];
        let hash = rs.labels()[POD_TEMPLATE_HASH_LABEL].clone();
        assert_eq!(rs.name_any(), format!("exp-baseline-{hash}"));
        assert_eq!(rs.owner_references()[0].kind, "Experiment");
        assert_eq!(rs.owner_references()[0].uid, "uid-exp");
        assert_eq!(rs.labels()["role"], "baseline");
        assert_eq!(
            rs.spec.selector.match_labels.as_ref().unwrap()[POD_TEMPLATE_HASH_LABEL],
            hash
        );
        assert_eq!(bench.sizes(), [2, 2]);
        assert_eq!(bench.status().available_at, None);

        bench.ready = true;
        bench.advance(5);
        bench.settle();
        assert_eq!(bench.phase().0, "Running");
        assert_eq!(bench.template_states(), ["Running", "Running"]);
        assert_eq!(
            bench.status().available_at.as_deref(),
            Some("2025-06-15T15:06:45Z")
        );
        // The duration ends 60 s after availableAt: the plan asks to be woken then.
        assert_eq!(bench.last.requeue_after, Some(Duration::from_secs(60)));
        assert!(bench.events.contains(&"ExperimentRunning".to_owned()));

        bench.advance(60);
        bench.settle();
        // Default 30 s scale-down delay: still running, deadline recorded.
        assert_eq!(bench.sizes(), [2, 2]);
        assert_eq!(bench.phase().0, "Running");
        assert_eq!(
            bench.snap.replica_sets[0].annotations()[SCALE_DOWN_DEADLINE_ANNOTATION],
            "2025-06-15T15:08:15Z"
        );
        bench.advance(30);
        bench.settle();
        assert_eq!(bench.sizes(), [0, 0]);
        assert_eq!(bench.template_states(), ["Successful", "Successful"]);
        assert_eq!(bench.phase().0, "Successful");
        let condition = &bench.status().conditions.unwrap()[0];
        assert_eq!(condition["reason"], "ExperimentCompleted");
        assert_eq!(condition["status"], "False");
    }

    #[test]
    fn progress_deadline_fails_a_template_and_the_experiment() {
        let mut bench = Bench::new(&json!({
            "progressDeadlineSeconds": 30, "scaleDownDelaySeconds": 0,
            "templates": [template("canary", "app:v2")],
        }));
        bench.ready = false;
        bench.settle();
        assert_eq!(bench.last.requeue_after, Some(Duration::from_secs(30)));
        bench.advance(29);
        bench.settle();
        assert_eq!(bench.phase().0, "Pending");
        bench.advance(1);
        bench.settle();
        assert_eq!(
            bench.phase(),
            (
                "Failed".to_owned(),
                "Template 'canary' exceeded its progressDeadlineSeconds (30)".to_owned()
            )
        );
        assert_eq!(bench.sizes(), [0]);
        assert_eq!(bench.template_states(), ["Failed"]);
    }

    #[test]
    fn analyses_start_once_available_and_decide_the_phase() {
        // (run phase, run message, experiment phase, experiment message)
        let cases = [
            ("Successful", "", "Successful", ""),
            (
                "Failed",
                "metric m failed",
                "Failed",
                "Analysis 'check' Failed: metric m failed",
            ),
            (
                "Inconclusive",
                "",
                "Inconclusive",
                "Analysis 'check' Inconclusive",
            ),
        ];
        for (run_phase, run_message, phase, message) in cases {
            let mut bench = Bench::new(&json!({
                "scaleDownDelaySeconds": 0,
                "templates": [template("canary", "app:v2")],
                "analyses": [{"name": "check", "templateName": "probe", "requiredForCompletion": true,
                              "args": [{"name": "hash", "value": "{{templates.canary.podTemplateHash}}"}]}],
            }));
            bench.ready = false;
            bench.settle();
            assert!(
                bench.snap.analysis_runs.is_empty(),
                "no run before availableAt"
            );
            bench.ready = true;
            bench.settle();
            assert_eq!(bench.snap.analysis_runs.len(), 1);
            let run = &bench.snap.analysis_runs[0];
            assert_eq!(run.name_any(), "exp-check");
            assert_eq!(run.owner_references()[0].kind, "Experiment");
            let hash = bench.status().template_statuses.unwrap()[0]
                .pod_template_hash
                .clone()
                .unwrap();
            assert_eq!(
                run.spec.args.as_ref().unwrap()[0].value.as_deref(),
                Some(hash.as_str())
            );
            assert_eq!(bench.phase().0, "Running");
            bench.finish_run(run_phase, run_message);
            bench.settle();
            assert_eq!(
                bench.phase(),
                (phase.to_owned(), message.to_owned()),
                "{run_phase}"
            );
            assert_eq!(bench.sizes(), [0], "{run_phase}");
        }
    }

    #[test]
    fn terminate_stops_runs_scales_down_and_takes_the_analysis_phase() {
        let mut bench = Bench::new(&json!({
            "scaleDownDelaySeconds": 0,
            "templates": [template("canary", "app:v2")],
            "analyses": [{"name": "check", "templateName": "probe"}],
        }));
        bench.settle();
        assert_eq!(bench.phase().0, "Running");
        bench.snap.experiment.spec.terminate = Some(true);
        bench.settle();
        assert_eq!(bench.snap.analysis_runs[0].spec.terminate, Some(true));
        assert_eq!(bench.sizes(), [0]);
        // Scaled away, but the terminated run has not reported yet.
        assert_eq!(bench.phase().0, "Running");
        bench.finish_run("Successful", "");
        bench.settle();
        assert_eq!(bench.phase().0, "Successful");
    }

    #[test]
    fn a_template_service_follows_the_running_template() {
        let mut spec = template("canary", "app:v2");
        spec["service"] = json!({});
        let mut bench = Bench::new(&json!({
            "scaleDownDelaySeconds": 0, "templates": [spec],
        }));
        bench.settle();
        let rs_name = bench.snap.replica_sets[0].name_any();
        assert_eq!(bench.snap.services.len(), 1);
        let service = &bench.snap.services[0];
        assert_eq!(service.name_any(), rs_name);
        let service_spec = service.spec.clone().unwrap();
        assert_eq!(
            service_spec.selector.unwrap()[POD_TEMPLATE_HASH_LABEL],
            bench.snap.replica_sets[0].labels()[POD_TEMPLATE_HASH_LABEL]
        );
        assert_eq!(service_spec.ports.unwrap()[0].port, 8080);
        assert_eq!(
            bench.status().template_statuses.unwrap()[0]
                .service_name
                .as_deref(),
            Some(rs_name.as_str())
        );
        bench.snap.experiment.spec.terminate = Some(true);
        bench.settle();
        assert!(bench.snap.services.is_empty());
        assert_eq!(
            bench.status().template_statuses.unwrap()[0].service_name,
            None
        );
        assert_eq!(bench.phase().0, "Successful");
    }

    #[test]
    fn invalid_specs_error_without_creating_anything() {
        let mut unmatched = template("a", "app:v1");
        unmatched["selector"] = json!({"matchLabels": {"app": "other"}});
        let cases = [
            (json!({"templates": []}), "spec.templates: Required value"),
            (
                json!({"templates": [template("a", "x"), template("a", "y")]}),
                "spec.templates[1].name: Duplicate value: \"a\"",
            ),
            (
                json!({"templates": [unmatched]}),
                "spec.templates[0].selector: Invalid value",
            ),
            (
                json!({"duration": "soon", "templates": [template("a", "x")]}),
                "spec.duration: Invalid value",
            ),
        ];
        for (spec, want) in cases {
            let mut bench = Bench::new(&spec);
            bench.settle();
            let (phase, message) = bench.phase();
            assert_eq!(phase, "Error", "{spec}");
            assert!(message.starts_with(want), "{message}");
            assert!(bench.snap.replica_sets.is_empty());
        }
    }

    #[test]
    fn a_final_phase_is_kept_and_foreign_objects_are_ignored() {
        let mut bench = Bench::new(&json!({
            "scaleDownDelaySeconds": 0, "templates": [template("canary", "app:v2")],
        }));
        // Someone else's ReplicaSet with the same template annotation is not ours.
        let mut foreign = bench.snap.replica_sets.clone();
        let mut other: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "other", "annotations": {TEMPLATE_NAME_ANNOTATION: "canary"},
                         "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1",
                             "kind": "Experiment", "name": "exp", "uid": "someone-else"}]},
            "spec": {"replicas": 5, "selector": {}}
        }))
        .unwrap();
        other.status = None;
        foreign.push(other);
        bench.snap.replica_sets = foreign;
        bench.settle();
        assert_eq!(bench.sizes(), [5, 2]);
        assert_eq!(bench.phase().0, "Running");
        // A user marks it Failed: the controller keeps the phase and scales down.
        bench.snap.experiment.status.as_mut().unwrap().phase_text = Some("Failed".into());
        bench.settle();
        assert_eq!(bench.phase().0, "Failed");
        assert_eq!(bench.sizes(), [5, 0]);
    }
}
