//! Canary step AnalysisRuns (spec §3.12): create the run of an `analysis` step from its
//! templates (args merged, `podTemplateHashValue` and `metadata.*` field refs resolved), follow
//! its phase (Successful completes the step, Inconclusive pauses with `InconclusiveAnalysisRun`,
//! Failed/Error abort with the reference's reason), and terminate runs that are no longer
//! current (abort, promote --full, step left). The background run (`canary.analysis`) follows
//! the same phase rules from `startingStep` until promotion. Evaluating runs is the analysis
//! engine's job.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;

use super::{Action, EventType, INCONCLUSIVE_ANALYSIS_RUN, Planner};
use crate::controller::canary_steps::{self, CanaryStep};
use crate::controller::hash::POD_TEMPLATE_HASH_LABEL;
use crate::controller::snapshot::REVISION_ANNOTATION;
use crate::crd::analysis::{AnalysisRunSpec, Argument};
use crate::crd::rollout::{RolloutAnalysis, RolloutAnalysisRunStatus};
use crate::crd::{AnalysisPhase, AnalysisRun};

/// Label naming the run type (`Step`, `Background`, ...).
pub const ROLLOUT_TYPE_LABEL: &str = "rollout-type";
/// Label carrying the step index of a step run.
pub const STEP_INDEX_LABEL: &str = "step-index";

impl Planner<'_> {
    fn current_step_run_status(&self) -> Option<RolloutAnalysisRunStatus> {
        self.status
            .canary
            .as_ref()
            .and_then(|c| c.current_step_analysis_run_status.clone())
    }

    fn set_step_run_status(&mut self, value: Option<RolloutAnalysisRunStatus>) {
        self.status
            .canary
            .get_or_insert_with(Default::default)
            .current_step_analysis_run_status = value;
    }

    /// Phase of the current step run, for step completion.
    pub(super) fn step_analysis_successful(&self) -> bool {
        self.current_step_run_status()
            .is_some_and(|s| s.status == AnalysisPhase::Successful.as_str())
    }

    /// §3.4 step 10 for step runs. Returns true when an inconclusive pause was added (the pass
    /// then only writes status).
    pub(super) fn reconcile_step_analysis(&mut self) -> bool {
        let index = self.status.current_step_index;
        let step = canary_steps::current_step(&self.steps, index).map(|(i, s)| (i, s.clone()));
        let current = self.current_step_run_status();
        let live = current.as_ref().and_then(|c| {
            self.snap
                .analysis_runs
                .iter()
                .find(|run| run.name_any() == c.name)
                .cloned()
        });
        let skip = self.aborted()
            || self.promote_full()
            || self.fully_promoted()
            || self.status.stable_rs.as_deref().is_none_or(str::is_empty)
            || self.within_rollback_window();
        let on_analysis_step = matches!(step, Some((_, CanaryStep::Analysis)));
        let live_index = live
            .as_ref()
            .and_then(|run| run.labels().get(STEP_INDEX_LABEL).cloned());
        let current_matches = step
            .as_ref()
            .is_some_and(|(i, _)| live_index.as_deref() == Some(i.to_string().as_str()));
        if skip || !on_analysis_step || (live.is_some() && !current_matches) {
            if let Some(run) = live.as_ref()
                && !run.is_terminating()
                && run.phase().is_none_or(|p| !is_terminal(p))
            {
                self.actions.push(Action::PatchAnalysisRun {
                    name: run.name_any(),
                    patch: serde_json::json!({"spec": {"terminate": true}}),
                });
            }
            if current.is_some() && (skip || !on_analysis_step) {
                self.set_step_run_status(None);
            }
            if skip || !on_analysis_step {
                return false;
            }
        }
        let Some((step_index, _)) = step else {
            return false;
        };
        if let Some(run) = live.filter(|_| current_matches) {
            let phase = run.phase();
            let message = run.status.as_ref().and_then(|s| s.message.clone());
            self.set_step_run_status(Some(RolloutAnalysisRunStatus {
                name: run.name_any(),
                status: phase
                    .map(AnalysisPhase::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                message: message.clone(),
                extra: BTreeMap::default(),
            }));
            match phase {
                Some(AnalysisPhase::Failed | AnalysisPhase::Error) => {
                    self.status.abort = Some(true);
                    self.abort_reason = Some(format!(
                        "Step-based analysis phase error/failed: {}",
                        message.unwrap_or_default()
                    ));
                    self.actions.push(Action::RecordEvent {
                        reason: format!(
                            "AnalysisRun{}",
                            phase.map(AnalysisPhase::as_str).unwrap_or_default()
                        ),
                        message: format!(
                            "Step Analysis Run '{}' Status New: '{}'",
                            run.name_any(),
                            phase.map(AnalysisPhase::as_str).unwrap_or_default()
                        ),
                        kind: EventType::Warning,
                    });
                }
                Some(AnalysisPhase::Inconclusive)
                    if !self.has_pause_condition(INCONCLUSIVE_ANALYSIS_RUN) =>
                {
                    self.add_pause_condition(INCONCLUSIVE_ANALYSIS_RUN);
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
            analysis: Some(analysis),
            ..
        }) = self.rollout.steps().get(step_index).cloned()
        else {
            return false;
        };
        if let Some(run) = self.new_step_run(&analysis, step_index) {
            self.set_step_run_status(Some(RolloutAnalysisRunStatus {
                name: run.name_any(),
                status: String::new(),
                message: None,
                extra: BTreeMap::default(),
            }));
            self.create_run(run);
        }
        false
    }

    /// Background analysis (§3.12): runs from `startingStep` until promotion; Failed/Error
    /// abort, Inconclusive pauses. Returns true when an inconclusive pause was added.
    pub(super) fn reconcile_background_analysis(&mut self) -> bool {
        let Some(background) = self.rollout.canary().and_then(|c| c.analysis.clone()) else {
            return false;
        };
        let current = self
            .status
            .canary
            .as_ref()
            .and_then(|c| c.current_background_analysis_run_status.clone());
        let live = current.as_ref().and_then(|c| {
            self.snap
                .analysis_runs
                .iter()
                .find(|run| run.name_any() == c.name)
                .cloned()
        });
        let index = self.status.current_step_index.unwrap_or(0);
        let started = index >= background.starting_step.unwrap_or(0);
        let skip = self.aborted()
            || self.promote_full()
            || self.fully_promoted()
            || self.status.stable_rs.as_deref().is_none_or(str::is_empty)
            || self.within_rollback_window();
        let stale = live.as_ref().is_some_and(|run| {
            run.labels()
                .get(POD_TEMPLATE_HASH_LABEL)
                .map(String::as_str)
                != self.new_rs.as_ref().map(|rs| rs.hash.as_str())
        });
        if skip || !started || stale {
            if let Some(run) = live.as_ref()
                && !run.is_terminating()
                && run.phase().is_none_or(|p| !is_terminal(p))
            {
                self.actions.push(Action::PatchAnalysisRun {
                    name: run.name_any(),
                    patch: serde_json::json!({"spec": {"terminate": true}}),
                });
            }
            if current.is_some() {
                self.set_background_run_status(None);
            }
            if skip || !started {
                return false;
            }
        }
        if let Some(run) = live.filter(|_| !stale) {
            let phase = run.phase();
            let message = run.status.as_ref().and_then(|s| s.message.clone());
            self.set_background_run_status(Some(RolloutAnalysisRunStatus {
                name: run.name_any(),
                status: phase
                    .map(AnalysisPhase::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                message: message.clone(),
                extra: BTreeMap::default(),
            }));
            match phase {
                Some(AnalysisPhase::Failed | AnalysisPhase::Error) => {
                    self.status.abort = Some(true);
                    self.abort_reason = Some(format!(
                        "Background analysis phase error/failed: {}",
                        message.unwrap_or_default()
                    ));
                }
                Some(AnalysisPhase::Inconclusive)
                    if !self.has_pause_condition(INCONCLUSIVE_ANALYSIS_RUN) =>
                {
                    self.add_pause_condition(INCONCLUSIVE_ANALYSIS_RUN);
                    return true;
                }
                _ => {}
            }
            return false;
        }
        if let Some(run) = self.new_run(&background.analysis, None) {
            self.set_background_run_status(Some(RolloutAnalysisRunStatus {
                name: run.name_any(),
                status: String::new(),
                message: None,
                extra: BTreeMap::default(),
            }));
            self.create_run(run);
        }
        false
    }

    fn set_background_run_status(&mut self, value: Option<RolloutAnalysisRunStatus>) {
        self.status
            .canary
            .get_or_insert_with(Default::default)
            .current_background_analysis_run_status = value;
    }

    /// Creates `run` unless [`Self::build_run`] adopted an existing one.
    pub(super) fn create_run(&mut self, run: AnalysisRun) {
        let name = run.name_any();
        if !self.snap.analysis_runs.iter().any(|r| r.name_any() == name) {
            self.actions.push(Action::CreateAnalysisRun(Box::new(run)));
        }
    }

    /// Builds the step run: `<rollout>-<hash>-<revision>-<step>` (`.1`, `.2`… when taken).
    fn new_step_run(&self, analysis: &RolloutAnalysis, step_index: usize) -> Option<AnalysisRun> {
        self.new_run(analysis, Some(step_index))
    }

    /// Builds a step run (`step_index` given) or the background run
    /// (`<rollout>-<hash>-<revision>`).
    fn new_run(
        &self,
        analysis: &RolloutAnalysis,
        step_index: Option<usize>,
    ) -> Option<AnalysisRun> {
        match step_index {
            Some(step) => self.build_run(analysis, Some(&step.to_string()), "Step", Some(step)),
            None => self.build_run(analysis, None, "Background", None),
        }
    }

    /// Builds a run named `<rollout>-<hash>-<revision>[-<infix>]` with the given
    /// `rollout-type` label, or returns the usable existing run of that family (adopted).
    pub(super) fn build_run(
        &self,
        analysis: &RolloutAnalysis,
        infix: Option<&str>,
        rollout_type: &str,
        step_index: Option<usize>,
    ) -> Option<AnalysisRun> {
        let new = self.new_rs.as_ref()?;
        let rollout_name = self.rollout.name_any();
        let base = match infix {
            Some(infix) => format!("{rollout_name}-{}-{}-{infix}", new.hash, new.revision),
            None => format!("{rollout_name}-{}-{}", new.hash, new.revision),
        };
        // A run of this family that this rollout created for the same revision, kind and step
        // and that is still usable is adopted rather than duplicated: the status naming it may
        // have been lost (a controller killed between creating the run and writing status).
        // While retrying (`abortedAt` set) a new run is wanted, as in the reference.
        let step_label = step_index.map(|s| s.to_string());
        let adoptable = |run: &AnalysisRun| {
            self.status.aborted_at.is_none()
                && run.owner_references().iter().any(|o| {
                    o.kind == "Rollout"
                        && o.uid == self.rollout.metadata.uid.clone().unwrap_or_default()
                })
                && run.labels().get(POD_TEMPLATE_HASH_LABEL) == Some(&new.hash)
                && run.labels().get(ROLLOUT_TYPE_LABEL).map(String::as_str) == Some(rollout_type)
                && run.labels().get(STEP_INDEX_LABEL) == step_label.as_ref()
                && !run.is_terminating()
                && !matches!(
                    run.phase(),
                    Some(
                        AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive
                    )
                )
        };
        let mut name = None;
        for candidate in std::iter::once(base.clone())
            .chain((1..=self.snap.analysis_runs.len()).map(|n| format!("{base}.{n}")))
        {
            match self
                .snap
                .analysis_runs
                .iter()
                .find(|r| r.name_any() == candidate)
            {
                None => {
                    name = Some(candidate);
                    break;
                }
                Some(existing) if adoptable(existing) => return Some(existing.clone()),
                Some(_) => {}
            }
        }
        let name = name?;
        let mut metrics = Vec::new();
        let mut args: Vec<Argument> = Vec::new();
        for template_ref in analysis.templates.as_deref().unwrap_or_default() {
            let spec = if template_ref.cluster_scope == Some(true) {
                self.snap
                    .cluster_analysis_templates
                    .iter()
                    .find(|t| t.name_any() == template_ref.template_name)
                    .map(|t| t.spec.0.clone())
            } else {
                self.snap
                    .analysis_templates
                    .iter()
                    .find(|t| t.name_any() == template_ref.template_name)
                    .map(|t| t.spec.clone())
            }?;
            metrics.extend(spec.metrics);
            for arg in spec.args.unwrap_or_default() {
                if !args.iter().any(|a| a.name == arg.name) {
                    args.push(arg);
                }
            }
        }
        for arg in analysis.args.as_deref().unwrap_or_default() {
            let resolved = self.resolve_arg(arg);
            if let Some(existing) = args.iter_mut().find(|a| a.name == arg.name) {
                *existing = resolved;
            } else {
                args.push(resolved);
            }
        }
        let mut labels: BTreeMap<String, String> = self
            .rollout
            .spec
            .selector
            .as_ref()
            .and_then(|s| s.match_labels.clone())
            .unwrap_or_default();
        labels.insert(POD_TEMPLATE_HASH_LABEL.to_owned(), new.hash.clone());
        labels.insert(ROLLOUT_TYPE_LABEL.to_owned(), rollout_type.to_owned());
        if let Some(step) = step_index {
            labels.insert(STEP_INDEX_LABEL.to_owned(), step.to_string());
        }
        Some(AnalysisRun {
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
            spec: AnalysisRunSpec {
                metrics,
                args: (!args.is_empty()).then_some(args),
                dry_run: analysis.dry_run.clone(),
                measurement_retention: analysis.measurement_retention.clone(),
                ..AnalysisRunSpec::default()
            },
            status: None,
        })
    }

    /// Resolves `valueFrom.podTemplateHashValue` and `valueFrom.fieldRef` (`metadata.name`,
    /// `metadata.namespace`, `metadata.uid`, `metadata.labels['k']`,
    /// `metadata.annotations['k']`) to literal values; secret refs stay for the engine.
    pub(super) fn resolve_arg(&self, arg: &Argument) -> Argument {
        let Some(from) = arg.value_from.as_ref() else {
            return arg.clone();
        };
        let value = if let Some(which) = from.pod_template_hash_value.as_deref() {
            match which {
                "Stable" => self.status.stable_rs.clone(),
                _ => self.new_rs.as_ref().map(|rs| rs.hash.clone()),
            }
        } else if let Some(field) = from.field_ref.as_ref() {
            let meta = &self.rollout.metadata;
            let path = field.field_path.as_str();
            let keyed = |prefix: &str| {
                path.strip_prefix(prefix)
                    .and_then(|rest| rest.strip_suffix("']"))
                    .map(str::to_owned)
            };
            match path {
                "metadata.name" => meta.name.clone(),
                "metadata.namespace" => meta.namespace.clone(),
                "metadata.uid" => meta.uid.clone(),
                _ => {
                    if let Some(key) = keyed("metadata.labels['") {
                        self.rollout.labels().get(&key).cloned()
                    } else if let Some(key) = keyed("metadata.annotations['") {
                        self.rollout.annotations().get(&key).cloned()
                    } else {
                        serde_json::to_value(self.rollout)
                            .ok()
                            .and_then(|v| {
                                v.pointer(&format!("/{}", path.replace('.', "/"))).cloned()
                            })
                            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    }
                }
            }
        } else {
            return arg.clone();
        };
        Argument {
            name: arg.name.clone(),
            value,
            value_from: None,
            extra: arg.extra.clone(),
        }
    }
}

pub(super) fn is_terminal(phase: AnalysisPhase) -> bool {
    matches!(
        phase,
        AnalysisPhase::Successful
            | AnalysisPhase::Failed
            | AnalysisPhase::Error
            | AnalysisPhase::Inconclusive
    )
}
