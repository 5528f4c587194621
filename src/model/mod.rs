//! Pure derived views of cluster objects: rollout summaries, phases, weights, pod trees, and
//! the operator actions as planned requests. No I/O and no drawing here; the cluster adapter
//! builds these structs at the edge and the cockpit only reads them.

pub mod action;
pub mod alert;
pub mod driver;
pub mod event;
pub mod field_reports;
pub mod metric_chart;
pub mod revisions;
pub mod rollout;
pub mod rollout_crd;
pub mod tree;
pub mod triage;

pub use action::{
    Action, ActionPlan, ActionRefused, PatchKind, PatchRequest, PatchTarget, plan_action,
};
pub use driver::Driver;
pub use event::{EventType, EventView};
pub use rollout::{
    AnalysisCounts, AnalysisPhase, AnalysisSummary, Attention, BlueGreenView, PauseInfo, Phase,
    Replicas, ResourceKey, RolloutSummary, SortColumn, StepKind, StepState, StepView, Strategy,
    age, compare_rollouts, human_duration,
};
pub use rollout_crd::RolloutExtras;
pub use tree::{
    Branch, ExperimentView, JobView, RevisionView, StatusMark, Tone, TreeKind, TreeLine, build_tree,
};
