//! The Experiment controller, as Argo Rollouts' `experiments/` controller behaves: each template
//! of an Experiment runs as a ReplicaSet the Experiment owns (with a Service when the template
//! asks for one), the Experiment's analyses run as AnalysisRuns it owns (evaluated by the
//! AnalysisRun engine in `controller::analysis`), and `status` follows the templates and runs
//! to a final phase (`duration`, `progressDeadlineSeconds`, `spec.terminate`,
//! `scaleDownDelaySeconds`). [`plan`] decides everything from an [`plan::ExperimentSnapshot`];
//! [`reconciler`] is the thin kube-runtime shell the controller runner starts next to the
//! Rollout and AnalysisRun loops, under the same Lease. A canary `experiment` step creates the
//! Experiment (`controller::plan`); this controller runs it.

pub mod plan;
pub mod reconciler;
