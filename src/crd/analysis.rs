//! AnalysisTemplate, ClusterAnalysisTemplate and AnalysisRun, plus the argument, metric and
//! provider shapes that Rollouts and Experiments share with them.
//!
//! Providers the specs detail (Prometheus, Web, Job) are typed; the others (Datadog, New Relic,
//! Wavefront, Kayenta, CloudWatch, Graphite, InfluxDB, SkyWalking, plugins) are kept as raw JSON
//! so they survive a round-trip untouched. Every struct keeps fields it does not model in `extra`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::unknown::skip_extra;

/// Fields of an object that this version of rolltop does not model, kept verbatim.
pub type Extra = BTreeMap<String, Value>;

/// The shared spec of AnalysisTemplate and ClusterAnalysisTemplate.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "AnalysisTemplate",
    namespaced,
    shortname = "at",
    schema = "disabled",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since resource was created"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateSpec {
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Argument>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<Vec<DryRun>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurement_retention: Option<Vec<MeasurementRetention>>,
    /// Nested template references, resolved recursively when a run is built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub templates: Option<Vec<AnalysisTemplateRef>>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// A cluster-scoped AnalysisTemplate; same spec, referenced with `clusterScope: true`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "ClusterAnalysisTemplate",
    shortname = "cat",
    schema = "disabled",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since resource was created"
    )
)]
#[serde(transparent)]
pub struct ClusterAnalysisTemplateSpec(pub AnalysisTemplateSpec);

/// A cluster template reads like a namespaced one: `cluster_template.spec.metrics`.
impl std::ops::Deref for ClusterAnalysisTemplateSpec {
    type Target = AnalysisTemplateSpec;

    fn deref(&self) -> &AnalysisTemplateSpec {
        &self.0
    }
}

impl std::ops::DerefMut for ClusterAnalysisTemplateSpec {
    fn deref_mut(&mut self) -> &mut AnalysisTemplateSpec {
        &mut self.0
    }
}

impl From<AnalysisTemplateSpec> for ClusterAnalysisTemplateSpec {
    fn from(spec: AnalysisTemplateSpec) -> Self {
        Self(spec)
    }
}

/// An AnalysisRun: the metrics to measure, with arguments already merged in.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "AnalysisRun",
    namespaced,
    status = "AnalysisRunStatus",
    shortname = "ar",
    schema = "disabled",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.phase",
        description = "AnalysisRun status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since resource was created"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunSpec {
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Argument>>,
    /// Set to stop taking measurements; the run then completes (§2.7 of the analysis spec).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminate: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<Vec<DryRun>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurement_retention: Option<Vec<MeasurementRetention>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_strategy: Option<TtlStrategy>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// Deletion of a completed run after a number of seconds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TtlStrategy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_after_completion: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_after_failure: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_after_success: Option<i32>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// One metric: how often to measure, when a measurement passes, and where the value comes from.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    pub name: String,
    /// Go duration string; see [`crate::crd::duration::parse_go_duration`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Go duration string, counted from the run's `status.startedAt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<IntOrString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_condition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_condition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_limit: Option<IntOrString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inconclusive_limit: Option<IntOrString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_error_limit: Option<IntOrString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_success_limit: Option<IntOrString>,
    #[serde(default)]
    pub provider: MetricProvider,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// Where a metric's value comes from. Exactly one provider should be set; each key under
/// `plugin` counts as one provider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricProvider {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusMetric>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: Option<WebMetric>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<JobMetric>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kayenta: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datadog: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wavefront: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_relic: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_watch: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graphite: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub influxdb: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skywalking: Option<Value>,
    /// Metric plugins by name (`argoproj-labs/sample-prometheus: {...}`), configuration kept raw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<BTreeMap<String, Value>>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

impl MetricProvider {
    /// The names of the providers that are set, in a fixed order (`plugin` entries as
    /// `plugin/<name>`); validation wants exactly one.
    pub fn kinds(&self) -> Vec<String> {
        let fixed = [
            ("prometheus", self.prometheus.is_some()),
            ("web", self.web.is_some()),
            ("job", self.job.is_some()),
            ("kayenta", self.kayenta.is_some()),
            ("datadog", self.datadog.is_some()),
            ("wavefront", self.wavefront.is_some()),
            ("newRelic", self.new_relic.is_some()),
            ("cloudWatch", self.cloud_watch.is_some()),
            ("graphite", self.graphite.is_some()),
            ("influxdb", self.influxdb.is_some()),
            ("skywalking", self.skywalking.is_some()),
        ];
        let mut kinds: Vec<String> = fixed
            .iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| (*name).to_owned())
            .collect();
        if let Some(plugins) = &self.plugin {
            kinds.extend(plugins.keys().map(|name| format!("plugin/{name}")));
        }
        kinds
    }
}

/// `provider.prometheus`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusMetric {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<PrometheusAuthentication>,
    /// Whole seconds; default 30.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<WebMetricHeader>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_query: Option<PrometheusRangeQuery>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// Authentication for the Prometheus provider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusAuthentication {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigv4: Option<Sigv4Config>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Config>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// AWS SigV4 signing (Amazon Managed Prometheus).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sigv4Config {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// OAuth2 client-credentials configuration (Prometheus and Web providers).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Config {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// HTTP basic authentication.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuth {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `rangeQuery`: `start` and `end` are expr expressions, `step` a Go duration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusRangeQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// A request header for the Web and Prometheus providers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebMetricHeader {
    pub key: String,
    pub value: String,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `provider.web`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebMetric {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<WebMetricHeader>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_body: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<WebMetricAuthentication>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// Authentication for the Web provider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebMetricAuthentication {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Config>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// `provider.job`: a Kubernetes Job whose success or failure is the measurement.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobMetric {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ObjectLabelsAnnotations>,
    /// A `batch/v1` JobSpec, kept raw; see [`JobMetric::job_spec`].
    #[serde(default)]
    pub spec: Value,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

impl JobMetric {
    /// The Job spec as a typed value.
    pub fn job_spec(&self) -> Result<k8s_openapi::api::batch::v1::JobSpec, serde_json::Error> {
        serde_json::from_value(self.spec.clone())
    }
}

/// Labels and annotations to put on created objects (Jobs, AnalysisRuns, pods): the same shape
/// as a rollout's ephemeral pod metadata, so one type serves both.
pub type ObjectLabelsAnnotations = super::rollout::PodTemplateMetadata;

/// An argument: on a template (`value`, `secretKeyRef`, `fieldRef`, or nothing = required) or
/// passed by a Rollout/Experiment (`value`, `podTemplateHashValue`, `fieldRef`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Argument {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ValueFrom>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// Where an argument's value comes from when it is not literal.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValueFrom {
    /// Template arguments only: read at measurement time from a Secret in the run's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldRef>,
    /// Rollout arguments only: `Stable` or `Latest`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_template_hash_value: Option<String>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// A key of a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// A downward-API style path into the owning object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldRef {
    pub field_path: String,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// A dry-run rule: metrics whose name matches the (unanchored) regex never decide the run.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    pub metric_name: String,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// How many measurements to keep for metrics whose name matches the (unanchored) regex.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeasurementRetention {
    pub metric_name: String,
    pub limit: i32,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// A reference to an AnalysisTemplate (or ClusterAnalysisTemplate with `clusterScope`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateRef {
    pub template_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_scope: Option<bool>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// Phases of AnalysisRuns, metric results and measurements (and Experiments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnalysisPhase {
    Pending,
    Running,
    Successful,
    Failed,
    Error,
    Inconclusive,
}

impl AnalysisPhase {
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Running,
        Self::Successful,
        Self::Failed,
        Self::Error,
        Self::Inconclusive,
    ];

    /// The wire spelling.
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

    /// Parses the wire spelling; anything else (including `""`) is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|phase| phase.as_str() == text)
    }

    /// Successful, Failed, Error and Inconclusive are terminal.
    pub fn is_completed(self) -> bool {
        matches!(
            self,
            Self::Successful | Self::Failed | Self::Error | Self::Inconclusive
        )
    }
}

impl std::fmt::Display for AnalysisPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the analysis engine has measured so far.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunStatus {
    /// Wire string; see [`AnalysisRunStatus::phase`] for the typed value.
    #[serde(rename = "phase", skip_serializing_if = "Option::is_none")]
    pub phase_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_results: Option<Vec<MetricResult>>,
    /// RFC 3339; see [`crate::crd::time`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_summary: Option<RunSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run_summary: Option<RunSummary>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

impl AnalysisRunStatus {
    /// The run phase, `None` while unset (`""` before the first reconcile) or unknown.
    pub fn phase(&self) -> Option<AnalysisPhase> {
        self.phase_text.as_deref().and_then(AnalysisPhase::parse)
    }

    /// The result of the metric with this name, if it has been measured.
    pub fn metric_result(&self, name: &str) -> Option<&MetricResult> {
        self.metric_results
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|result| result.name == name)
    }
}

impl AnalysisRun {
    /// The run phase from status, `None` before the engine has written one.
    pub fn phase(&self) -> Option<AnalysisPhase> {
        self.status.as_ref().and_then(AnalysisRunStatus::phase)
    }

    /// Whether `spec.terminate` is set.
    pub fn is_terminating(&self) -> bool {
        self.spec.terminate.unwrap_or(false)
    }
}

/// Counts of metrics (not measurements) by outcome.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successful: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inconclusive: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<i32>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

/// One metric's measurements and counters.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    pub name: String,
    #[serde(rename = "phase", default)]
    pub phase_text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurements: Option<Vec<Measurement>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// successful + failed + inconclusive (errors are not counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successful: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inconclusive: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_error: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_success: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Provider metadata, e.g. `ResolvedPrometheusQuery`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

impl MetricResult {
    pub fn phase(&self) -> Option<AnalysisPhase> {
        AnalysisPhase::parse(&self.phase_text)
    }

    pub fn measurements(&self) -> &[Measurement] {
        self.measurements.as_deref().unwrap_or_default()
    }
}

/// One measurement of a metric.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    #[serde(rename = "phase", default)]
    pub phase_text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The provider's value as text (`[0.99]`, `NaN`, `{"a":1}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// When an asynchronous provider (Job) should be polled again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_at: Option<String>,
    #[serde(flatten, skip_serializing_if = "skip_extra")]
    pub extra: Extra,
}

impl Measurement {
    pub fn phase(&self) -> Option<AnalysisPhase> {
        AnalysisPhase::parse(&self.phase_text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn phases_parse_their_wire_spelling_and_nothing_else() {
        for phase in AnalysisPhase::ALL {
            assert_eq!(AnalysisPhase::parse(phase.as_str()), Some(phase));
        }
        assert_eq!(AnalysisPhase::parse(""), None);
        assert_eq!(AnalysisPhase::parse("successful"), None);
        let completed: Vec<_> = AnalysisPhase::ALL
            .into_iter()
            .filter(|phase| phase.is_completed())
            .collect();
        assert_eq!(
            completed,
            [
                AnalysisPhase::Successful,
                AnalysisPhase::Failed,
                AnalysisPhase::Error,
                AnalysisPhase::Inconclusive
            ]
        );
    }

    #[test]
    fn provider_kinds_lists_every_set_provider() {
        let provider: MetricProvider = serde_json::from_value(serde_json::json!({
            "prometheus": {"query": "up"},
            "datadog": {"query": "avg:x"},
            "plugin": {"argoproj-labs/sample": {}}
        }))
        .unwrap();
        assert_eq!(
            provider.kinds(),
            ["prometheus", "datadog", "plugin/argoproj-labs/sample"]
        );
        assert!(MetricProvider::default().kinds().is_empty());
    }
}
