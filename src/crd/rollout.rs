//! The Rollout kind: spec (strategy, steps, traffic routing) and status, shaped exactly like
//! `argoproj.io/v1alpha1` so that the Argo operator, `kubectl argo rollouts` and Argo CD read what
//! rolltop writes.
//!
//! Every optional field is an `Option` that is skipped when `None`, int-or-string fields keep their
//! form, durations and times stay strings, the pod template stays raw JSON, and each struct keeps
//! the fields it does not model in `extra`: reading and writing an object loses nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::analysis::{AnalysisTemplateRef, Argument, DryRun, Extra, MeasurementRetention};
use super::duration::{DurationError, parse_pause_duration};
use super::unknown::skip_extra;

/// The desired state of a Rollout.
// Several printer columns share `type_ = "integer"`; clippy mistakes them for repeated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "Rollout",
    namespaced,
    status = "RolloutStatus",
    shortname = "ro",
    schema = "disabled",
    derive = "PartialEq",
    derive = "Default",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.HPAReplicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(
        name = "Desired",
        type_ = "integer",
        json_path = ".spec.replicas",
        description = "Number of desired pods"
    ),
    printcolumn(
        name = "Current",
        type_ = "integer",
        json_path = ".status.replicas",
        description = "Total number of non-terminated pods targeted by this rollout"
    ),
    printcolumn(
        name = "Up-to-date",
        type_ = "integer",
        json_path = ".status.updatedReplicas",
        description = "Total number of non-terminated pods targeted by this rollout that have the desired template spec"
    ),
    printcolumn(
        name = "Available",
        type_ = "integer",
        json_path = ".status.availableReplicas",
        description = "Total number of available pods (ready for at least minReadySeconds) targeted by this rollout"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since resource was created"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// `None` means 1; the controller writes `1` into the spec (HPA needs a value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// A `PodTemplateSpec`, kept as raw JSON so fields newer than k8s-openapi survive; see
    /// [`Rollout::pod_template`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_ref: Option<WorkloadRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_deadline_abort: Option<bool>,
    /// RFC 3339; pods created before it are restarted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_window: Option<RollbackWindow>,
    /// AnalysisRun history limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisRunStrategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RolloutStrategy>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `spec.workloadRef`: take the pod template (and selector) from a Deployment, ReplicaSet or
/// PodTemplate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `never` (or empty), `onsuccess`, `progressively`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<String>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `spec.rollbackWindow`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackWindow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revisions: Option<i32>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `spec.analysis`: how many completed AnalysisRuns/Experiments to keep (5 and 5).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunStrategy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successful_run_history_limit: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsuccessful_run_history_limit: Option<i32>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `spec.strategy`: exactly one of `canary` or `blueGreen`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStrategy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStrategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStrategy>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// Which strategy a Rollout uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrategyKind {
    Canary,
    BlueGreen,
}

impl StrategyKind {
    /// The name `kubectl argo rollouts` prints: `Canary` or `BlueGreen`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Canary => "Canary",
            Self::BlueGreen => "BlueGreen",
        }
    }
}

/// `spec.strategy.canary`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<CanaryStep>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_routing: Option<TrafficRouting>,
    /// Any string is a percentage (`"25"` = 25%); default `"25"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// Any string is a percentage (`"1"` = 1%, not one pod); default `"25"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
    /// Background analysis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<RolloutAnalysisBackground>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anti_affinity: Option<AntiAffinity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_metadata: Option<PodTemplateMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_metadata: Option<PodTemplateMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_revision_limit: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort_scale_down_delay_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamic_stable_scale: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_pong: Option<PingPong>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_pods_per_replica_set: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_progress_threshold: Option<ReplicaProgressThreshold>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `spec.strategy.blueGreen`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStrategy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_replica_count: Option<i32>,
    /// Default true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_promotion_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_promotion_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_revision_limit: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort_scale_down_delay_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis: Option<RolloutAnalysis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis: Option<RolloutAnalysis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anti_affinity: Option<AntiAffinity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_metadata: Option<PodTemplateMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_metadata: Option<PodTemplateMetadata>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// Ephemeral labels and annotations for the pods of one side (canary/stable, preview/active).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// Spread new pods away from the old ReplicaSet's nodes: exactly one of the two.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AntiAffinity {
    #[serde(
        rename = "preferredDuringSchedulingIgnoredDuringExecution",
        skip_serializing_if = "Option::is_none"
    )]
    pub preferred: Option<PreferredAntiAffinity>,
    #[serde(
        rename = "requiredDuringSchedulingIgnoredDuringExecution",
        skip_serializing_if = "Option::is_none"
    )]
    pub required: Option<Value>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// The preferred anti-affinity term's weight (1..100).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreferredAntiAffinity {
    pub weight: i32,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `pingPong`: two services that swap roles instead of re-pointing selectors.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PingPong {
    pub ping_service: String,
    pub pong_service: String,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `replicaProgressThreshold`: relax "all desired pods available" for step completion.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaProgressThreshold {
    /// `Percent` or `Pods`.
    #[serde(rename = "type")]
    pub kind: String,
    pub value: i32,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// Analysis referenced by a Rollout: step, pre/post-promotion (and background, with
/// [`RolloutAnalysisBackground`]).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysis {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub templates: Option<Vec<AnalysisTemplateRef>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Argument>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<Vec<DryRun>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurement_retention: Option<Vec<MeasurementRetention>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis_run_metadata: Option<PodTemplateMetadata>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

impl RolloutAnalysis {
    pub fn templates(&self) -> &[AnalysisTemplateRef] {
        self.templates.as_deref().unwrap_or_default()
    }

    pub fn args(&self) -> &[Argument] {
        self.args.as_deref().unwrap_or_default()
    }
}

/// `canary.analysis`: background analysis, started at `startingStep` (0 = at once).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysisBackground {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_step: Option<i32>,
    #[serde(flatten)]
    pub analysis: RolloutAnalysis,
}

/// One canary step. Exactly one field should be set; see [`CanaryStep::kind_name`].
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStep {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_weight: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause: Option<RolloutPause>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<RolloutExperimentStep>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<RolloutAnalysis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_canary_scale: Option<SetCanaryScale>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_header_route: Option<SetHeaderRoute>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_mirror_route: Option<SetMirrorRoute>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginStep>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

impl CanaryStep {
    /// The wire names of the step kinds that are set, in Argo's field order.
    pub fn kind_names(&self) -> Vec<&'static str> {
        [
            ("setWeight", self.set_weight.is_some()),
            ("pause", self.pause.is_some()),
            ("experiment", self.experiment.is_some()),
            ("analysis", self.analysis.is_some()),
            ("setCanaryScale", self.set_canary_scale.is_some()),
            ("setHeaderRoute", self.set_header_route.is_some()),
            ("setMirrorRoute", self.set_mirror_route.is_some()),
            ("plugin", self.plugin.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }

    /// The step's kind (`"setWeight"`, `"pause"`, ...) when exactly one is set; `None` for an
    /// empty or ambiguous step (both are InvalidSpec upstream).
    pub fn kind_name(&self) -> Option<&'static str> {
        match self.kind_names().as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }
}

/// A canary step seen as the one kind it is, for exhaustive matching in decisions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepKind<'a> {
    SetWeight(i32),
    Pause(&'a RolloutPause),
    Experiment(&'a RolloutExperimentStep),
    Analysis(&'a RolloutAnalysis),
    SetCanaryScale(&'a SetCanaryScale),
    SetHeaderRoute(&'a SetHeaderRoute),
    SetMirrorRoute(&'a SetMirrorRoute),
    Plugin(&'a PluginStep),
}

impl CanaryStep {
    /// The step as its kind; `None` for an empty or ambiguous step, like [`Self::kind_name`].
    pub fn kind(&self) -> Option<StepKind<'_>> {
        self.kind_name()?;
        let kind = if let Some(weight) = self.set_weight {
            StepKind::SetWeight(weight)
        } else if let Some(pause) = &self.pause {
            StepKind::Pause(pause)
        } else if let Some(experiment) = &self.experiment {
            StepKind::Experiment(experiment)
        } else if let Some(analysis) = &self.analysis {
            StepKind::Analysis(analysis)
        } else if let Some(scale) = &self.set_canary_scale {
            StepKind::SetCanaryScale(scale)
        } else if let Some(route) = &self.set_header_route {
            StepKind::SetHeaderRoute(route)
        } else if let Some(route) = &self.set_mirror_route {
            StepKind::SetMirrorRoute(route)
        } else {
            StepKind::Plugin(self.plugin.as_ref()?)
        };
        Some(kind)
    }
}

/// `pause: {}` waits for a promote; `pause: {duration: ...}` resumes by itself.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutPause {
    /// Integer seconds, a unitless string of seconds, or a Go duration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<IntOrString>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

impl RolloutPause {
    /// `None` for an indefinite pause, else the parsed duration (whole seconds, as Argo).
    pub fn duration(&self) -> Option<Result<Duration, DurationError>> {
        self.duration.as_ref().map(parse_pause_duration)
    }
}

/// `setCanaryScale`: pin the canary's replica count independently of the traffic weight.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetCanaryScale {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_traffic_weight: Option<bool>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `setHeaderRoute`: send requests matching headers to the canary (no match = remove route).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetHeaderRoute {
    pub name: String,
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<HeaderRoutingMatch>>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// One header condition of a header route.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderRoutingMatch {
    pub header_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_value: Option<StringMatch>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// Exactly one of exact / prefix / regex.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StringMatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `setMirrorRoute`: mirror a percentage of matching requests to the canary.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetMirrorRoute {
    pub name: String,
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<RouteMatch>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<i32>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// One request condition of a mirror route.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteMatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<StringMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, StringMatch>>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// A step plugin: a name and opaque configuration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginStep {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `experiment` step: run ReplicaSets of the canary/stable template side by side, with analyses.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutExperimentStep {
    #[serde(default)]
    pub templates: Vec<RolloutExperimentTemplate>,
    /// Go duration; empty = until the analyses complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analyses: Option<Vec<RolloutExperimentStepAnalysis>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<Vec<DryRun>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis_run_metadata: Option<PodTemplateMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i32>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// One template of an experiment step.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutExperimentTemplate {
    pub name: String,
    /// `canary` or `stable`: whose pod template to copy.
    pub spec_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<PodTemplateMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Traffic weight for this template (only with traffic routing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<TemplateService>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// A Service generated for an experiment template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateService {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// An analysis run as part of an experiment step.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutExperimentStepAnalysis {
    pub name: String,
    pub template_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_scope: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Argument>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_for_completion: Option<bool>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `canary.trafficRouting`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRouting {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub istio: Option<IstioTrafficRouting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nginx: Option<NginxTrafficRouting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alb: Option<AlbTrafficRouting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smi: Option<SmiTrafficRouting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ambassador: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_mesh: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traefik: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apisix: Option<Value>,
    /// Traffic router plugins by name, configuration kept raw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugins: Option<BTreeMap<String, Value>>,
    /// Routes the controller may add and remove (header and mirror routes), in priority order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_routes: Option<Vec<ManagedRoute>>,
    /// Only for nginx and plugins; default 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_traffic_weight: Option<i32>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// A route name in `managedRoutes`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedRoute {
    pub name: String,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `trafficRouting.istio`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IstioTrafficRouting {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_service: Option<IstioVirtualService>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_services: Option<Vec<IstioVirtualService>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_rule: Option<IstioDestinationRule>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

impl IstioTrafficRouting {
    /// `virtualService` and `virtualServices` together, in that order.
    pub fn all_virtual_services(&self) -> Vec<&IstioVirtualService> {
        self.virtual_service
            .iter()
            .chain(self.virtual_services.iter().flatten())
            .collect()
    }
}

/// A VirtualService reference; `name` may be `name.namespace`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IstioVirtualService {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_routes: Option<Vec<TlsRoute>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_routes: Option<Vec<TcpRoute>>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// A TLS route selector: port and SNI hosts.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsRoute {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni_hosts: Option<Vec<String>>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// A TCP route selector: port.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TcpRoute {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// Subset-level Istio routing.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IstioDestinationRule {
    pub name: String,
    pub canary_subset_name: String,
    pub stable_subset_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_subset_names: Option<Vec<String>>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `trafficRouting.nginx`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NginxTrafficRouting {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotation_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_ingress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_ingresses: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_ingress_annotations: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_ingress_annotations: Option<BTreeMap<String, String>>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `trafficRouting.alb`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlbTrafficRouting {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingresses: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotation_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stickiness_config: Option<StickinessConfig>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// ALB target group stickiness.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StickinessConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i64>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `trafficRouting.smi`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmiTrafficRouting {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_split_name: Option<String>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// Rollout phases as the controller writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RolloutPhase {
    Progressing,
    Paused,
    Healthy,
    Degraded,
}

impl RolloutPhase {
    pub const ALL: [Self; 4] = [
        Self::Progressing,
        Self::Paused,
        Self::Healthy,
        Self::Degraded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Progressing => "Progressing",
            Self::Paused => "Paused",
            Self::Healthy => "Healthy",
            Self::Degraded => "Degraded",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|phase| phase.as_str() == text)
    }
}

impl std::fmt::Display for RolloutPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The observed state of a Rollout, written by the controller (and by the CLI for
/// abort/retry/promote).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_conditions: Option<Vec<PauseCondition>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller_pause: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborted_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_pod_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_step_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_step_index: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// A **string** upstream (`"3"`); kept in whatever form it arrived. Read it with
    /// [`RolloutStatus::observed_generation`], write it with
    /// [`RolloutStatus::set_observed_generation`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<IntOrString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<RolloutCondition>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStatus>,
    /// What the scale subresource (and so the HPA) reads.
    #[serde(rename = "HPAReplicas", skip_serializing_if = "Option::is_none")]
    pub hpa_replicas: Option<i32>,
    /// Label selector string for the scale subresource (`app=x` or with the hash for BG).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    #[serde(rename = "stableRS", skip_serializing_if = "Option::is_none")]
    pub stable_rs: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promote_full: Option<bool>,
    /// Wire string; see [`RolloutStatus::phase`].
    #[serde(rename = "phase", skip_serializing_if = "Option::is_none")]
    pub phase_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_observed_generation: Option<String>,
    /// ALB verification status, kept raw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alb: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub albs: Option<Vec<Value>>,
    /// The 1.10 duration block (`rolloutStartedAt`, `finishedAt`, `completionStatus`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<Value>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

impl RolloutStatus {
    pub fn phase(&self) -> Option<RolloutPhase> {
        self.phase_text.as_deref().and_then(RolloutPhase::parse)
    }

    /// `observedGeneration` as a number, whether it was written as a string (upstream) or an
    /// integer; `None` when absent or not a number.
    pub fn observed_generation(&self) -> Option<i64> {
        match self.observed_generation.as_ref()? {
            IntOrString::Int(value) => Some(i64::from(*value)),
            IntOrString::String(text) => text.trim().parse().ok(),
        }
    }

    /// Writes `observedGeneration` as upstream does: a decimal string.
    pub fn set_observed_generation(&mut self, generation: i64) {
        self.observed_generation = Some(IntOrString::String(generation.to_string()));
    }

    pub fn pause_conditions(&self) -> &[PauseCondition] {
        self.pause_conditions.as_deref().unwrap_or_default()
    }

    pub fn conditions(&self) -> &[RolloutCondition] {
        self.conditions.as_deref().unwrap_or_default()
    }

    /// The condition of this type (`Progressing`, `Available`, `Paused`, ...), if present.
    pub fn condition(&self, kind: &str) -> Option<&RolloutCondition> {
        self.conditions().iter().find(|c| c.kind == kind)
    }
}

/// Why and since when the controller paused the rollout.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PauseCondition {
    /// `CanaryPauseStep`, `BlueGreenPause`, `InconclusiveAnalysisRun`, `InconclusiveExperiment`.
    pub reason: String,
    /// RFC 3339.
    pub start_time: String,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// A Rollout condition (`Progressing`, `Available`, `Healthy`, `Completed`, `Paused`,
/// `InvalidSpec`, `ReplicaFailure`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutCondition {
    #[serde(rename = "type")]
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `status.canary`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_step_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_background_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_experiment: Option<String>,
    /// What the traffic router has applied (only with traffic routing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<TrafficWeights>,
    /// `ping` or `pong`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_ping_pong: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_plugin_statuses: Option<Vec<Value>>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `status.blueGreen`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_selector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_selector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_up_preview_check_point: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// A pointer from the Rollout status to a current AnalysisRun.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysisRunStatus {
    pub name: String,
    /// The run's phase.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `status.canary.weights`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficWeights {
    pub canary: WeightDestination,
    pub stable: WeightDestination,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional: Option<Vec<WeightDestination>>,
    /// ALB target verification; `None` when not verified at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// One weighted destination.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WeightDestination {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_template_hash: Option<String>,
    #[serde(default)]
    pub weight: i32,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// The pod spec lists that hold containers with images.
const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

impl Rollout {
    /// The canary strategy, if that is the one configured.
    pub fn canary(&self) -> Option<&CanaryStrategy> {
        self.spec.strategy.as_ref()?.canary.as_ref()
    }

    /// The blue-green strategy, if that is the one configured.
    pub fn blue_green(&self) -> Option<&BlueGreenStrategy> {
        self.spec.strategy.as_ref()?.blue_green.as_ref()
    }

    /// `Canary` or `BlueGreen`; `None` when neither or both are set (InvalidSpec upstream).
    pub fn strategy_kind(&self) -> Option<StrategyKind> {
        match (self.canary().is_some(), self.blue_green().is_some()) {
            (true, false) => Some(StrategyKind::Canary),
            (false, true) => Some(StrategyKind::BlueGreen),
            _ => None,
        }
    }

    /// The canary steps; empty for blue-green or a canary without steps.
    pub fn steps(&self) -> &[CanaryStep] {
        self.canary()
            .and_then(|canary| canary.steps.as_deref())
            .unwrap_or_default()
    }

    /// The step at `status.currentStepIndex`; `None` without status or index, or past the last
    /// step (all steps done).
    pub fn current_step(&self) -> Option<&CanaryStep> {
        let index = self.status.as_ref()?.current_step_index?;
        self.steps().get(usize::try_from(index).ok()?)
    }

    /// `spec.replicas`, defaulting to 1 as upstream does.
    pub fn desired_replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(1)
    }

    /// The traffic routing block, if any.
    pub fn traffic_routing(&self) -> Option<&TrafficRouting> {
        self.canary()?.traffic_routing.as_ref()
    }

    /// `spec.template` as a typed pod template; `Ok(None)` when the rollout has none (e.g.
    /// `workloadRef`), `Err` when the raw JSON is not a pod template.
    pub fn pod_template(&self) -> Result<Option<PodTemplateSpec>, serde_json::Error> {
        self.spec
            .template
            .as_ref()
            .map(|raw| serde_json::from_value(raw.clone()))
            .transpose()
    }

    /// Replaces `spec.template` with a typed pod template. Pod fields that k8s-openapi does not
    /// know are lost this way; for targeted edits prefer [`Rollout::set_image`] or the raw JSON.
    pub fn set_pod_template(
        &mut self,
        template: &PodTemplateSpec,
    ) -> Result<(), serde_json::Error> {
        self.spec.template = Some(serde_json::to_value(template)?);
        Ok(())
    }

    /// `(container name, image)` of every container, init container and ephemeral container in
    /// `spec.template`, in that order, read from the raw JSON.
    pub fn images(&self) -> Vec<(String, String)> {
        let Some(spec) = self.spec.template.as_ref().and_then(|t| t.get("spec")) else {
            return Vec::new();
        };
        CONTAINER_LISTS
            .iter()
            .filter_map(|list| spec.get(*list)?.as_array())
            .flatten()
            .filter_map(|container| {
                let name = container.get("name")?.as_str()?;
                let image = container
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                Some((name.to_owned(), image.to_owned()))
            })
            .collect()
    }

    /// Sets the image of every container named `container` (`*` = all) in containers, init
    /// containers and ephemeral containers, as `kubectl argo rollouts set image` does; edits the
    /// raw JSON so nothing else in the template changes. Returns how many containers changed.
    pub fn set_image(&mut self, container: &str, image: &str) -> usize {
        let Some(spec) = self.spec.template.as_mut().and_then(|t| t.get_mut("spec")) else {
            return 0;
        };
        let mut changed = 0;
        for list in CONTAINER_LISTS {
            let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
                continue;
            };
            for entry in containers {
                let named = entry.get("name").and_then(Value::as_str);
                if (container == "*" || named == Some(container))
                    && let Some(fields) = entry.as_object_mut()
                {
                    fields.insert("image".to_owned(), Value::String(image.to_owned()));
                    changed += 1;
                }
            }
        }
        changed
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rollout(spec: &Value) -> Rollout {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "r"},
            "spec": spec
        }))
        .unwrap()
    }

    #[test]
    fn step_kind_names_table() {
        let cases = [
            (json!({"setWeight": 5}), Some("setWeight")),
            (json!({"pause": {}}), Some("pause")),
            (json!({"pause": {"duration": "30s"}}), Some("pause")),
            (
                json!({"analysis": {"templates": [{"templateName": "t"}]}}),
                Some("analysis"),
            ),
            (json!({"experiment": {"templates": []}}), Some("experiment")),
            (
                json!({"setCanaryScale": {"replicas": 2}}),
                Some("setCanaryScale"),
            ),
            (
                json!({"setHeaderRoute": {"name": "h"}}),
                Some("setHeaderRoute"),
            ),
            (
                json!({"setMirrorRoute": {"name": "m"}}),
                Some("setMirrorRoute"),
            ),
            (json!({"plugin": {"name": "p"}}), Some("plugin")),
            (json!({}), None),
            (json!({"setWeight": 5, "pause": {}}), None),
            (json!({"futureStep": {}}), None),
        ];
        for (step, expected) in cases {
            let parsed: CanaryStep = serde_json::from_value(step.clone()).unwrap();
            assert_eq!(parsed.kind_name(), expected, "step {step}");
        }
    }

    #[test]
    fn step_kind_borrows_the_one_set_field() {
        let step = |value: Value| serde_json::from_value::<CanaryStep>(value).unwrap();
        assert_eq!(
            step(json!({"setWeight": 20})).kind(),
            Some(StepKind::SetWeight(20))
        );
        let pause = step(json!({"pause": {"duration": 30}}));
        match pause.kind() {
            Some(StepKind::Pause(p)) => assert_eq!(p.duration(), Some(Ok(Duration::from_secs(30)))),
            other => panic!("expected a pause, got {other:?}"),
        }
        let plugin = step(json!({"plugin": {"name": "notify"}}));
        assert!(matches!(plugin.kind(), Some(StepKind::Plugin(p)) if p.name == "notify"));
        assert!(matches!(
            step(json!({"setMirrorRoute": {"name": "m"}})).kind(),
            Some(StepKind::SetMirrorRoute(_))
        ));
        assert_eq!(step(json!({})).kind(), None);
        assert_eq!(step(json!({"setWeight": 1, "pause": {}})).kind(), None);
    }

    #[test]
    fn current_step_follows_the_status_index() {
        let mut r =
            rollout(&json!({"strategy": {"canary": {"steps": [{"setWeight": 5}, {"pause": {}}]}}}));
        assert!(r.current_step().is_none(), "no status yet");
        r.status = Some(RolloutStatus {
            current_step_index: Some(1),
            ..RolloutStatus::default()
        });
        assert_eq!(
            r.current_step().and_then(CanaryStep::kind_name),
            Some("pause")
        );
        r.status.as_mut().unwrap().current_step_index = Some(2);
        assert!(r.current_step().is_none(), "past the last step");
        r.status.as_mut().unwrap().current_step_index = Some(-1);
        assert!(r.current_step().is_none());
    }

    #[test]
    fn strategy_kind_and_steps() {
        let canary =
            rollout(&json!({"strategy": {"canary": {"steps": [{"setWeight": 5}, {"pause": {}}]}}}));
        assert_eq!(canary.strategy_kind(), Some(StrategyKind::Canary));
        assert_eq!(canary.steps().len(), 2);
        let blue_green = rollout(&json!({"strategy": {"blueGreen": {"activeService": "a"}}}));
        assert_eq!(blue_green.strategy_kind(), Some(StrategyKind::BlueGreen));
        assert!(blue_green.steps().is_empty());
        let both = rollout(&json!({"strategy": {"canary": {}, "blueGreen": {}}}));
        assert_eq!(both.strategy_kind(), None);
        assert_eq!(rollout(&json!({})).strategy_kind(), None);
        assert_eq!(rollout(&json!({})).desired_replicas(), 1);
        assert_eq!(rollout(&json!({"replicas": 4})).desired_replicas(), 4);
    }

    #[test]
    fn pause_duration_accessor() {
        let indefinite: RolloutPause = serde_json::from_value(json!({})).unwrap();
        assert_eq!(indefinite.duration(), None);
        let seconds: RolloutPause = serde_json::from_value(json!({"duration": 30})).unwrap();
        assert_eq!(seconds.duration(), Some(Ok(Duration::from_secs(30))));
        let text: RolloutPause = serde_json::from_value(json!({"duration": "1h"})).unwrap();
        assert_eq!(text.duration(), Some(Ok(Duration::from_secs(3600))));
    }

    #[test]
    fn observed_generation_reads_both_forms_and_writes_a_string() {
        let mut status: RolloutStatus =
            serde_json::from_value(json!({"observedGeneration": "7"})).unwrap();
        assert_eq!(status.observed_generation(), Some(7));
        let numeric: RolloutStatus =
            serde_json::from_value(json!({"observedGeneration": 7})).unwrap();
        assert_eq!(numeric.observed_generation(), Some(7));
        status.set_observed_generation(8);
        assert_eq!(
            serde_json::to_value(&status).unwrap(),
            json!({"observedGeneration": "8"})
        );
        assert_eq!(RolloutStatus::default().observed_generation(), None);
    }

    #[test]
    fn pod_template_converts_to_typed_and_back() {
        let mut r = rollout(&json!({
            "template": {
                "metadata": {"labels": {"app": "demo"}},
                "spec": {"containers": [{"name": "demo", "image": "argoproj/rollouts-demo:blue"}]}
            }
        }));
        let template = r.pod_template().unwrap().unwrap();
        let containers = &template.spec.as_ref().unwrap().containers;
        assert_eq!(
            containers[0].image.as_deref(),
            Some("argoproj/rollouts-demo:blue")
        );
        let mut changed = template.clone();
        changed.spec.as_mut().unwrap().containers[0].image = Some("x:yellow".into());
        r.set_pod_template(&changed).unwrap();
        assert_eq!(
            r.spec.template.unwrap()["spec"]["containers"][0]["image"],
            json!("x:yellow")
        );
        assert!(rollout(&json!({})).pod_template().unwrap().is_none());
        assert!(
            rollout(&json!({"template": {"spec": 3}}))
                .pod_template()
                .is_err()
        );
    }

    #[test]
    fn images_and_set_image_edit_only_the_named_containers() {
        let mut r = rollout(&json!({
            "template": {"spec": {
                "initContainers": [{"name": "migrate", "image": "app:1"}],
                "containers": [
                    {"name": "app", "image": "app:1", "futureField": true},
                    {"name": "sidecar", "image": "proxy:9"}
                ]
            }}
        }));
        assert_eq!(
            r.images(),
            [
                ("app".to_owned(), "app:1".to_owned()),
                ("sidecar".to_owned(), "proxy:9".to_owned()),
                ("migrate".to_owned(), "app:1".to_owned())
            ]
        );
        assert_eq!(r.set_image("app", "app:2"), 1);
        let template = r.spec.template.as_ref().unwrap();
        assert_eq!(
            template["spec"]["containers"][0],
            json!({"name": "app", "image": "app:2", "futureField": true})
        );
        assert_eq!(template["spec"]["initContainers"][0]["image"], "app:1");
        assert_eq!(r.set_image("*", "all:3"), 3);
        assert!(r.images().iter().all(|(_, image)| image == "all:3"));
        assert_eq!(r.set_image("missing", "x:1"), 0);
        assert_eq!(rollout(&json!({})).set_image("*", "x:1"), 0);
        assert!(rollout(&json!({})).images().is_empty());
    }

    #[test]
    fn rollout_phase_parses_wire_spelling() {
        for phase in RolloutPhase::ALL {
            assert_eq!(RolloutPhase::parse(phase.as_str()), Some(phase));
        }
        assert_eq!(RolloutPhase::parse("healthy"), None);
    }
}
