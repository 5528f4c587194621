//! Canary `experiment` steps (spec §3.11): on an experiment step (with a stable RS, not aborted,
//! not promoted fully) create the Experiment `<rollout>-<hash>-<revision>-<step>` owned by the
//! Rollout, its templates copied from the canary (new) or stable ReplicaSet's pod template,
//! record it in `status.canary.currentExperiment`, and follow its phase: Successful completes the
//! step, Inconclusive pauses with `InconclusiveExperiment`, Failed/Error abort. Experiments that
//! are no longer current (step left, abort, promote --full, template change) get
//! `spec.terminate`. Running the Experiment's ReplicaSets and analyses is the Experiment
//! controller's job (`controller::experiment`). While the Experiment runs, its weighted
//! templates' Services are traffic destinations ([`Planner::experiment_destinations`]).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;
use serde_json::{Value, json};

use super::step_analysis::is_terminal;
use super::{Action, EventType, Planner};
use crate::controller::canary_steps::{self, CanaryStep};
use crate::controller::hash::POD_TEMPLATE_HASH_LABEL;
use crate::controller::snapshot::REVISION_ANNOTATION;
use crate::crd::analysis::AnalysisPhase;
use crate::crd::experiment::ExperimentTemplate;
use crate::crd::rollout::RolloutExperimentStep;
use crate::crd::{Experiment, ExperimentSpec};

/// Pause-condition reason of an inconclusive experiment step.
pub const INCONCLUSIVE_EXPERIMENT: &str = "InconclusiveExperiment";

/// What the phase of the current step's Experiment asks of the rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExperimentOutcome {
    /// Still running (or not started): wait.
    Wait,
    /// Successful: the step completes.
    Complete,
    /// Inconclusive: pause with `InconclusiveExperiment` (once).
    Pause,
    /// Failed or Error: abort, with this reason.
    Abort(String),
}

/// §3.11 phase rules.
pub fn experiment_outcome(
    name: &str,
    phase: Option<AnalysisPhase>,
    message: Option<&str>,
) -> ExperimentOutcome {
    match phase {
        Some(AnalysisPhase::Successful) => ExperimentOutcome::Complete,
        Some(AnalysisPhase::Inconclusive) => ExperimentOutcome::Pause,
        Some(phase @ (AnalysisPhase::Failed | AnalysisPhase::Error)) => {
            let verb = if phase == AnalysisPhase::Failed {
                "failed"
            } else {
                "error"
            };
            ExperimentOutcome::Abort(match message.filter(|m| !m.is_empty()) {
                Some(message) => format!("Experiment '{name}' phase {verb}: {message}"),
                None => format!("Experiment '{name}' phase {verb}"),
            })
        }
        _ => ExperimentOutcome::Wait,
    }
}

/// The Experiment name for a step: `<rollout>-<hash>-<revision>-<step>`, then `-1`, `-2`… when
/// a name is taken.
pub fn experiment_name(
    rollout: &str,
    hash: &str,
    revision: i64,
    step: usize,
    taken: &[String],
) -> String {
    let base = format!("{rollout}-{hash}-{revision}-{step}");
    std::iter::once(base.clone())
        .chain((1..=taken.len()).map(|n| format!("{base}-{n}")))
        .find(|name| !taken.contains(name))
        .unwrap_or(base)
}

/// Whether `name` is the experiment of this step (the base name or a collision suffix).
pub fn is_step_experiment(
    name: &str,
    rollout: &str,
    hash: &str,
    revision: i64,
    step: usize,
) -> bool {
    let base = format!("{rollout}-{hash}-{revision}-{step}");
    name == base
        || name
            .strip_prefix(&base)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// One Experiment template from a step template and the pod template of the RS it names: the
/// `rollouts-pod-template-hash` label is dropped (the Experiment's ReplicaSets get their own),
/// the step's extra metadata is merged in, and the selector is the step's or the RS's.
pub fn experiment_template(
    step: &crate::crd::rollout::RolloutExperimentTemplate,
    pod_template: &Value,
    rs_selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> ExperimentTemplate {
    let mut template = pod_template.clone();
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    if let Some(extra) = step.metadata.as_ref()
        && let Some(object) = template.as_object_mut()
    {
        let meta = object.entry("metadata").or_insert_with(|| json!({}));
        for (field, values) in [
            ("labels", &extra.labels),
            ("annotations", &extra.annotations),
        ] {
            let Some(values) = values else { continue };
            if let Some(meta) = meta.as_object_mut() {
                let target = meta.entry(field).or_insert_with(|| json!({}));
                if let Some(target) = target.as_object_mut() {
                    for (k, v) in values {
                        target.insert(k.clone(), json!(v));
                    }
                }
            }
        }
    }
    let selector = step.selector.clone().unwrap_or_else(|| {
        let mut selector = rs_selector.clone();
        if let Some(labels) = selector.match_labels.as_mut() {
            labels.remove(POD_TEMPLATE_HASH_LABEL);
        }
        selector
    });
    ExperimentTemplate {
        name: step.name.clone(),
        replicas: Some(step.replicas.unwrap_or(1)),
        min_ready_seconds: None,
        selector: Some(selector),
        template: Some(template),
        // A weighted template needs a Service to be a traffic destination (§3.11).
        service: step.service.clone().or_else(|| {
            step.weight
                .map(|_| crate::crd::rollout::TemplateService::default())
        }),
        extra: BTreeMap::default(),
    }
}

impl Planner<'_> {
    fn current_experiment_name(&self) -> Option<String> {
        self.status
            .canary
            .as_ref()
            .and_then(|c| c.current_experiment.clone())
    }

    fn set_current_experiment(&mut self, name: Option<String>) {
        if name.is_none() && self.status.canary.is_none() {
            return;
        }
        self.status
            .canary
            .get_or_insert_with(Default::default)
            .current_experiment = name;
    }

    fn live_experiment(&self, name: &str) -> Option<&Experiment> {
        self.snap.experiments.iter().find(|e| e.name_any() == name)
    }

    /// Whether the current step's Experiment is Successful (step completion).
    pub(super) fn step_experiment_successful(&self) -> bool {
        let Some(name) = self.current_experiment_name() else {
            return false;
        };
        let Some((index, CanaryStep::Experiment)) =
            canary_steps::current_step(&self.steps, self.status.current_step_index)
        else {
            return false;
        };
        let Some(new) = self.new_rs.as_ref() else {
            return false;
        };
        is_step_experiment(
            &name,
            &self.rollout.name_any(),
            &new.hash,
            new.revision,
            index,
        ) && self
            .live_experiment(&name)
            .and_then(Experiment::phase)
            .is_some_and(|p| p == AnalysisPhase::Successful)
    }

    /// The weighted templates of the current step's Experiment while it is Running (spec §5.2
    /// "additional destinations", §5.7): each template with a `weight` whose Service the
    /// Experiment controller has recorded. None when aborted, promoted or promoting fully.
    pub(super) fn experiment_destinations(
        &self,
    ) -> Vec<crate::controller::traffic::ExperimentDestination> {
        if self.aborted() || self.promote_full() || self.fully_promoted() {
            return Vec::new();
        }
        let Some(name) = self.current_experiment_name() else {
            return Vec::new();
        };
        let Some((index, CanaryStep::Experiment)) =
            canary_steps::current_step(&self.steps, self.status.current_step_index)
        else {
            return Vec::new();
        };
        let Some(new) = self.new_rs.as_ref() else {
            return Vec::new();
        };
        if !is_step_experiment(
            &name,
            &self.rollout.name_any(),
            &new.hash,
            new.revision,
            index,
        ) {
            return Vec::new();
        }
        let Some(experiment) = self
            .live_experiment(&name)
            .filter(|e| e.phase() == Some(AnalysisPhase::Running))
        else {
            return Vec::new();
        };
        let Some(step) = self
            .rollout
            .steps()
            .get(index)
            .and_then(|s| s.experiment.as_ref())
        else {
            return Vec::new();
        };
        let statuses = experiment
            .status
            .as_ref()
            .and_then(|s| s.template_statuses.as_ref());
        step.templates
            .iter()
            .filter_map(|template| {
                let weight = template.weight?;
                let status = statuses?.iter().find(|s| s.name == template.name)?;
                Some(crate::controller::traffic::ExperimentDestination {
                    service: status.service_name.clone().filter(|s| !s.is_empty())?,
                    pod_template_hash: status.pod_template_hash.clone().unwrap_or_default(),
                    weight,
                })
            })
            .collect()
    }

    /// §3.11 for the current step. Returns true when an inconclusive pause was added (the pass
    /// then only writes status).
    pub(super) fn reconcile_experiment(&mut self) -> bool {
        let current = self.current_experiment_name();
        let step = canary_steps::current_step(&self.steps, self.status.current_step_index)
            .map(|(i, s)| (i, s.clone()));
        let on_step = match step {
            Some((index, CanaryStep::Experiment)) => Some(index),
            _ => None,
        };
        if current.is_none() && on_step.is_none() {
            return false;
        }
        let skip = self.aborted()
            || self.promote_full()
            || self.fully_promoted()
            || self.status.stable_rs.as_deref().is_none_or(str::is_empty)
            || self.within_rollback_window();
        let (rollout_name, hash, revision) = match self.new_rs.as_ref() {
            Some(new) => (self.rollout.name_any(), new.hash.clone(), new.revision),
            None => return false,
        };
        let live = current
            .as_deref()
            .and_then(|name| self.live_experiment(name).cloned());
        let matches = match (current.as_deref(), on_step) {
            (Some(name), Some(index)) => {
                is_step_experiment(name, &rollout_name, &hash, revision, index)
            }
            _ => false,
        };
        if skip || on_step.is_none() || (current.is_some() && !matches) {
            if let Some(experiment) = live.as_ref()
                && experiment.spec.terminate != Some(true)
                && experiment.phase().is_none_or(|p| !is_terminal(p))
            {
                self.actions.push(Action::PatchExperiment {
                    name: experiment.name_any(),
                    patch: json!({"spec": {"terminate": true}}),
                });
            }
            if current.is_some() {
                self.set_current_experiment(None);
            }
            if skip || on_step.is_none() {
                return false;
            }
        }
        let Some(index) = on_step else {
            return false;
        };
        if matches && let Some(name) = current.as_deref() {
            let Some(experiment) = live else {
                // Recorded but not observed yet (or deleted): wait for the watch event.
                return false;
            };
            let message = experiment.status.as_ref().and_then(|s| s.message.clone());
            match experiment_outcome(name, experiment.phase(), message.as_deref()) {
                ExperimentOutcome::Abort(why) => {
                    self.status.abort = Some(true);
                    self.abort_reason = Some(why);
                    self.event(
                        &format!(
                            "Experiment{}",
                            experiment
                                .phase()
                                .map(AnalysisPhase::as_str)
                                .unwrap_or_default()
                        ),
                        format!(
                            "Experiment '{name}' Status New: '{}'",
                            experiment
                                .phase()
                                .map(AnalysisPhase::as_str)
                                .unwrap_or_default()
                        ),
                        EventType::Warning,
                    );
                }
                ExperimentOutcome::Pause if !self.has_pause_condition(INCONCLUSIVE_EXPERIMENT) => {
                    self.add_pause_condition(INCONCLUSIVE_EXPERIMENT);
                    return true;
                }
                _ => {}
            }
            return false;
        }
        if !self.status.pause_conditions().is_empty() {
            return false;
        }
        let Some(crate::crd::CanaryStep {
            experiment: Some(step),
            ..
        }) = self.rollout.steps().get(index).cloned()
        else {
            return false;
        };
        if let Some(experiment) = self.new_experiment(&step, index) {
            self.set_current_experiment(Some(experiment.name_any()));
            self.event(
                "ExperimentCreated",
                format!("Created Experiment '{}'", experiment.name_any()),
                EventType::Normal,
            );
            self.actions
                .push(Action::CreateExperiment(Box::new(experiment)));
        }
        false
    }

    /// Builds the step's Experiment; `None` when a template names an RS that is not there.
    fn new_experiment(&self, step: &RolloutExperimentStep, index: usize) -> Option<Experiment> {
        let new = self.new_rs.as_ref()?;
        let stable_name = self
            .stable_rs
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let owned = self.snap.owned_replica_sets();
        let mut templates = Vec::new();
        for template in &step.templates {
            let rs_name = if template.spec_ref == "stable" {
                stable_name.as_str()
            } else {
                new.name.as_str()
            };
            let rs = owned.iter().find(|rs| rs.name_any() == rs_name)?;
            let pod_template = serde_json::to_value(rs.spec.template.as_ref()?).ok()?;
            templates.push(experiment_template(
                template,
                &pod_template,
                &rs.spec.selector,
            ));
        }
        let rollout_name = self.rollout.name_any();
        let taken: Vec<String> = self
            .snap
            .experiments
            .iter()
            .map(ResourceExt::name_any)
            .collect();
        let name = experiment_name(&rollout_name, &new.hash, new.revision, index, &taken);
        let mut labels = self.rollout.labels().clone();
        labels.insert(POD_TEMPLATE_HASH_LABEL.to_owned(), new.hash.clone());
        let analyses = step.analyses.as_ref().map(|analyses| {
            analyses
                .iter()
                .map(|analysis| {
                    let mut analysis = analysis.clone();
                    analysis.args = analysis
                        .args
                        .as_ref()
                        .map(|args| args.iter().map(|a| self.resolve_arg(a)).collect());
                    analysis
                })
                .collect()
        });
        Some(Experiment {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: self.rollout.namespace(),
                labels: Some(labels),
                annotations: Some(BTreeMap::from([(
                    REVISION_ANNOTATION.to_owned(),
                    new.revision.to_string(),
                )])),
                owner_references: Some(vec![OwnerReference {
                    api_version: crate::crd::API_VERSION.to_owned(),
                    kind: "Rollout".to_owned(),
                    name: rollout_name,
                    uid: self.rollout.metadata.uid.clone().unwrap_or_default(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]),
                ..ObjectMeta::default()
            },
            spec: ExperimentSpec {
                templates,
                duration: step.duration.clone(),
                progress_deadline_seconds: self.rollout.spec.progress_deadline_seconds,
                terminate: None,
                analyses,
                scale_down_delay_seconds: step.scale_down_delay_seconds,
                dry_run: step.dry_run.clone(),
                measurement_retention: None,
                analysis_run_metadata: step.analysis_run_metadata.clone(),
                extra: BTreeMap::default(),
            },
            status: None,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crd::rollout::RolloutExperimentTemplate;

    #[test]
    fn phase_rules() {
        let cases = [
            (None, None, ExperimentOutcome::Wait),
            (Some(AnalysisPhase::Pending), None, ExperimentOutcome::Wait),
            (Some(AnalysisPhase::Running), None, ExperimentOutcome::Wait),
            (
                Some(AnalysisPhase::Successful),
                None,
                ExperimentOutcome::Complete,
            ),
            (
                Some(AnalysisPhase::Inconclusive),
                None,
                ExperimentOutcome::Pause,
            ),
            (
                Some(AnalysisPhase::Failed),
                Some("metric x failed"),
                ExperimentOutcome::Abort("Experiment 'e' phase failed: metric x failed".into()),
            ),
            (
                Some(AnalysisPhase::Error),
                None,
                ExperimentOutcome::Abort("Experiment 'e' phase error".into()),
            ),
        ];
        for (phase, message, outcome) in cases {
            assert_eq!(
                experiment_outcome("e", phase, message),
                outcome,
                "{phase:?}"
            );
        }
    }

    #[test]
    fn names_and_collisions() {
        let taken = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let cases = [
            (taken(&[]), "demo-abc-2-1"),
            (taken(&["demo-abc-2-1"]), "demo-abc-2-1-1"),
            (taken(&["demo-abc-2-1", "demo-abc-2-1-1"]), "demo-abc-2-1-2"),
            (taken(&["demo-abc-2-0"]), "demo-abc-2-1"),
        ];
        for (taken, want) in cases {
            assert_eq!(experiment_name("demo", "abc", 2, 1, &taken), want);
        }
        let matches = [
            ("demo-abc-2-1", 1, true),
            ("demo-abc-2-1-3", 1, true),
            ("demo-abc-2-1", 0, false),
            ("demo-abc-2-1-x", 1, false),
            ("demo-abc-2-10", 1, false),
            ("demo-xyz-2-1", 1, false),
        ];
        for (name, step, want) in matches {
            assert_eq!(
                is_step_experiment(name, "demo", "abc", 2, step),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn template_drops_the_hash_and_merges_metadata() {
        let step: RolloutExperimentTemplate = serde_json::from_value(json!({
            "name": "baseline", "specRef": "stable",
            "metadata": {"labels": {"role": "baseline"}, "annotations": {"a": "b"}}
        }))
        .unwrap();
        let pod = json!({
            "metadata": {"labels": {"app": "demo", "rollouts-pod-template-hash": "abc"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}
        });
        let selector = serde_json::from_value(json!({
            "matchLabels": {"app": "demo", "rollouts-pod-template-hash": "abc"}
        }))
        .unwrap();
        let template = experiment_template(&step, &pod, &selector);
        assert_eq!(template.replicas, Some(1));
        assert_eq!(
            template.template.unwrap()["metadata"],
            json!({"labels": {"app": "demo", "role": "baseline"}, "annotations": {"a": "b"}})
        );
        assert_eq!(
            serde_json::to_value(template.selector).unwrap(),
            json!({"matchLabels": {"app": "demo"}})
        );
    }
}
