//! Argo-compatible custom resource types, group `argoproj.io`, version `v1alpha1`: Rollout,
//! AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun and Experiment, their CRDs, and the
//! pure parsers for the duration and time strings they carry.
//!
//! The types are lenient and lossless by design: optional fields stay `None` and are not written
//! back, int-or-string fields keep their form, pod templates stay raw JSON, and fields this
//! version does not model are kept in each struct's `extra` map. The controller, the analysis
//! engine, the cockpit and the CLI can therefore read and write objects that the Argo operator,
//! `kubectl argo rollouts` or Argo CD also touch without erasing anything. Decisions about these
//! objects live elsewhere (`model`, `controller`); this module only shapes and parses them.

pub mod analysis;
pub mod definition;
pub mod duration;
pub mod experiment;
pub mod label_selector;
pub mod rollout;
pub mod time;
pub mod unknown;

pub use analysis::{
    AnalysisPhase, AnalysisRun, AnalysisRunSpec, AnalysisRunStatus, AnalysisTemplate,
    AnalysisTemplateSpec, Argument, ClusterAnalysisTemplate, ClusterAnalysisTemplateSpec,
    Measurement, Metric, MetricProvider, MetricResult,
};
pub use definition::{FIELD_MANAGER, InstallError, crds, crds_yaml, install, wait_established};
pub use duration::{DurationError, parse_go_duration, parse_pause_duration};
pub use experiment::{Experiment, ExperimentSpec, ExperimentStatus};
pub use rollout::{
    BlueGreenStrategy, CanaryStep, CanaryStrategy, Rollout, RolloutPhase, RolloutSpec,
    RolloutStatus, StepKind, StrategyKind,
};
pub use unknown::{UnknownFieldsError, unknown_fields, unknown_fields_of};

/// The API group of every Argo Rollouts kind.
pub const GROUP: &str = "argoproj.io";
/// The only served version.
pub const VERSION: &str = "v1alpha1";
/// `GROUP/VERSION`, as written in `apiVersion`.
pub const API_VERSION: &str = "argoproj.io/v1alpha1";
