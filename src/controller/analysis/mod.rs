//! The AnalysisRun engine: metric providers, condition evaluation and run assessment, measured
//! exactly as Argo Rollouts does. The decisions (argument substitution, validation, conditions,
//! counters, metric and run phases, scheduling, retention, lint findings) are pure functions over
//! the small input types defined here; the providers (`prometheus`, `web`, `job`) are the only
//! code that does I/O, and `run::run_pass` is the thin shell that calls them. The CRD types are
//! adapted to these inputs by the controller, so this module does not depend on `crate::crd`.
//! See `docs/analysis.md`.

pub mod adapter;
pub mod args;
pub mod assessment;
pub mod condition;
pub mod duration;
pub mod job;
pub mod lint;
pub mod prometheus;
pub mod reconciler;
pub mod rules;
pub mod run;
pub mod secrets;
pub mod validation;
pub mod web;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use assessment::{
    MeasurementSchedule, MetricAssessment, RunAssessment, RunSummary, apply_assessment,
    assess_metric, assess_run, effective_count, is_terminating, next_measurement, next_wake_up,
    record_measurement, trim_measurements,
};
pub use condition::{
    ConditionError, ConditionKind, GuardSuggestion, MetricValue, evaluate_condition,
    evaluate_conditions, guard_suggestion, unguarded_result_index,
};
pub use run::{
    AnalysisEvent, PassOutcome, PlannedTask, RunStatus, complete_pass, plan_measurements,
    plan_tasks, run_pass, run_pass_with,
};
pub use secrets::Secrets;

/// The phase of a measurement, a metric result or a whole AnalysisRun (Argo's `AnalysisPhase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AnalysisPhase {
    #[default]
    Pending,
    Running,
    Successful,
    Failed,
    Error,
    Inconclusive,
}

impl AnalysisPhase {
    /// Successful, Failed, Error and Inconclusive never change once reached.
    pub fn is_completed(self) -> bool {
        matches!(
            self,
            Self::Successful | Self::Failed | Self::Error | Self::Inconclusive
        )
    }

    /// The reference's severity rank: Successful < Running < Pending < Inconclusive < Error < Failed.
    pub fn severity(self) -> u8 {
        match self {
            Self::Successful => 0,
            Self::Running => 1,
            Self::Pending => 2,
            Self::Inconclusive => 3,
            Self::Error => 4,
            Self::Failed => 5,
        }
    }

    /// The status string Argo writes (`Successful`, `Failed`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Successful => "Successful",
            Self::Failed => "Failed",
            Self::Error => "Error",
            Self::Inconclusive => "Inconclusive",
        }
    }

    /// Parses the status string; anything unknown (including "") is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "Pending" => Self::Pending,
            "Running" => Self::Running,
            "Successful" => Self::Successful,
            "Failed" => Self::Failed,
            "Error" => Self::Error,
            "Inconclusive" => Self::Inconclusive,
            _ => return None,
        })
    }
}

impl fmt::Display for AnalysisPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One measurement, as stored in `status.metricResults[].measurements[]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Measurement {
    pub phase: AnalysisPhase,
    /// Empty when the measurement has nothing to say (a plain Successful, say).
    pub message: String,
    pub started_at: Option<DateTime<Utc>>,
    /// `None` while the measurement is still in flight (only asynchronous providers, e.g. Job).
    pub finished_at: Option<DateTime<Utc>>,
    pub value: String,
    pub metadata: BTreeMap<String, String>,
    pub resume_at: Option<DateTime<Utc>>,
}

/// The counters and history of one metric (`status.metricResults[]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricResult {
    pub name: String,
    pub phase: AnalysisPhase,
    pub measurements: Vec<Measurement>,
    pub message: String,
    /// successful + failed + inconclusive: errors are not counted.
    pub count: i64,
    pub successful: i64,
    pub failed: i64,
    pub inconclusive: i64,
    pub error: i64,
    pub consecutive_error: i64,
    pub consecutive_success: i64,
    pub dry_run: bool,
    pub metadata: BTreeMap<String, String>,
}

/// A metric as the engine needs it: the reference's `Metric` after argument substitution, with
/// every `IntOrString` resolved and every duration parsed. `None` means "not set" so that each
/// default lives in one place (`assessment`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricDefinition {
    pub name: String,
    pub interval: Option<Duration>,
    pub initial_delay: Option<Duration>,
    pub count: Option<i64>,
    pub success_condition: String,
    pub failure_condition: String,
    pub failure_limit: Option<i64>,
    pub inconclusive_limit: Option<i64>,
    pub consecutive_error_limit: Option<i64>,
    pub consecutive_success_limit: Option<i64>,
    /// Whether a `dryRun` rule matched this metric.
    pub dry_run: bool,
    /// The `measurementRetention` limit that matched this metric, if any (else 10 are kept).
    pub measurement_retention: Option<usize>,
    pub provider: Provider,
}

/// The metric provider, parsed. Only the providers rolltop runs in process are listed; the
/// adapter reports the others as unsupported.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Provider {
    #[default]
    None,
    Prometheus(prometheus::PrometheusMetric),
    Web(web::WebMetric),
    /// Asynchronous: measured through [`run::run_pass_with`] with a [`job::JobContext`].
    Job(job::JobMetric),
}

/// One HTTP header of a provider (`headers[]{key,value}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: String,
}

/// Takes one measurement of `metric` with its provider, masking `secrets` in everything it
/// returns. Provider failures become Error measurements, never `Err`.
pub async fn measure(metric: &MetricDefinition, secrets: &Secrets) -> Measurement {
    match &metric.provider {
        Provider::Prometheus(config) => prometheus::measure(metric, config, secrets).await,
        Provider::Web(config) => web::measure(metric, config, secrets).await,
        Provider::Job(_) => error_measurement(
            Utc::now(),
            "the job provider needs a cluster: measure it through run_pass_with",
            secrets,
        ),
        Provider::None => error_measurement(Utc::now(), "no provider specified", secrets),
    }
}

/// The metric-level metadata a provider attaches when the metric result is first created
/// (`ResolvedPrometheusQuery` for Prometheus), with secrets masked.
pub fn provider_metadata(metric: &MetricDefinition, secrets: &Secrets) -> BTreeMap<String, String> {
    match &metric.provider {
        Provider::Prometheus(config) => prometheus::metadata(config, secrets),
        Provider::Web(_) | Provider::Job(_) | Provider::None => BTreeMap::new(),
    }
}

/// An Error measurement that starts and finishes at `at`, its message masked.
pub(crate) fn error_measurement(
    at: DateTime<Utc>,
    message: &str,
    secrets: &Secrets,
) -> Measurement {
    Measurement {
        phase: AnalysisPhase::Error,
        message: secrets.mask(message),
        started_at: Some(at),
        finished_at: Some(at),
        ..Measurement::default()
    }
}

/// Masks secrets in everything a provider wrote into `measurement`.
pub(crate) fn mask_measurement(measurement: &mut Measurement, secrets: &Secrets) {
    if secrets.is_empty() {
        return;
    }
    measurement.message = secrets.mask(&measurement.message);
    measurement.value = secrets.mask(&measurement.value);
    for value in measurement.metadata.values_mut() {
        *value = secrets.mask(value);
    }
}

/// The causes under a reqwest error ("tcp connect error: Connection refused (os error 111)"):
/// the top-level text only repeats the URL.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    if parts.is_empty() {
        error.to_string()
    } else {
        parts.join(": ")
    }
}
