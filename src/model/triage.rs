//! The triage view of one AnalysisRun, derived purely from the object: every metric with its
//! phase, provider, query (arguments resolved, secret values masked), conditions, the counters
//! against their limits, the last measurement, the measured values as points for a sparkline,
//! a threshold when a condition is a simple comparison, and a plain-words explanation when an
//! empty result made a measurement Error. Metrics are ordered failing first. Also the rows of
//! the `:ar` run list. No I/O; the watcher builds these at the edge and the cockpit only reads
//! them. Argument substitution and limits reuse `controller::analysis` so the view says exactly
//! what the engine decided.

use std::cmp::Reverse;

use chrono::{DateTime, Utc};

use crate::controller::analysis::args::{RunArgument, substitute_args};
use crate::controller::analysis::assessment::{
    DEFAULT_CONSECUTIVE_ERROR_LIMIT, DEFAULT_FAILURE_LIMIT, DEFAULT_INCONCLUSIVE_LIMIT,
};
use crate::controller::analysis::condition::{NO_DATA_REASON, guard_suggestion};
use crate::controller::analysis::prometheus::parse_sample_value;
use crate::controller::analysis::secrets::SECRET_MASK;
use crate::controller::analysis::{AnalysisPhase, MetricDefinition, MetricResult, adapter};
use crate::crd::AnalysisRun;
use crate::crd::analysis::Metric;

use super::ResourceKey;

/// One value of a measurement as a sparkline point: numbers are drawn, the rest labelled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValuePoint {
    Number(f64),
    NaN,
    PosInf,
    NegInf,
    /// The provider answered with no data (`[]`).
    Empty,
    /// The measurement has no value (an Error before any answer, or still running).
    Missing,
    /// A live chart's step where Prometheus had no sample: drawn as nothing, not counted.
    Gap,
}

impl ValuePoint {
    /// The first value of a measurement's `value` string (`[16]`, `0.99`, `[NaN,1]`, `[]`).
    pub fn parse(value: &str) -> Self {
        let text = value.trim();
        if text.is_empty() {
            return Self::Missing;
        }
        let inner = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'));
        let first = match inner {
            Some(inner) if inner.trim().is_empty() => return Self::Empty,
            Some(inner) => inner.split(',').next().unwrap_or_default().trim(),
            None => text,
        };
        match parse_sample_value(first).or_else(|| first.parse::<f64>().ok()) {
            Some(v) if v.is_nan() => Self::NaN,
            Some(v) if v == f64::INFINITY => Self::PosInf,
            Some(v) if v == f64::NEG_INFINITY => Self::NegInf,
            Some(v) => Self::Number(v),
            None => Self::Missing,
        }
    }

    /// A sample value as a point.
    pub fn from_f64(value: f64) -> Self {
        if value.is_nan() {
            Self::NaN
        } else if value == f64::INFINITY {
            Self::PosInf
        } else if value == f64::NEG_INFINITY {
            Self::NegInf
        } else {
            Self::Number(value)
        }
    }

    pub fn number(self) -> Option<f64> {
        match self {
            Self::Number(v) => Some(v),
            _ => None,
        }
    }

    /// The label drawn for a point that has no height.
    pub fn label(self) -> Option<&'static str> {
        match self {
            Self::Number(_) => None,
            Self::NaN => Some("NaN"),
            Self::PosInf => Some("+Inf"),
            Self::NegInf => Some("-Inf"),
            Self::Empty => Some("empty"),
            Self::Missing => Some("no value"),
            Self::Gap => Some("gap"),
        }
    }
}

/// A comparison operator of a simple condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Eq => "==",
            Self::Ne => "!=",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "<" => Self::Lt,
            "<=" => Self::Le,
            ">" => Self::Gt,
            ">=" => Self::Ge,
            "==" => Self::Eq,
            "!=" => Self::Ne,
            _ => return None,
        })
    }

    /// `a op b` read from the other side: `5 >= x` is `x <= 5`.
    fn flipped(self) -> Self {
        match self {
            Self::Lt => Self::Gt,
            Self::Le => Self::Ge,
            Self::Gt => Self::Lt,
            Self::Ge => Self::Le,
            other => other,
        }
    }

    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Self::Lt => left < right,
            Self::Le => left <= right,
            Self::Gt => left > right,
            Self::Ge => left >= right,
            #[allow(clippy::float_cmp)]
            Self::Eq => left == right,
            #[allow(clippy::float_cmp)]
            Self::Ne => left != right,
        }
    }
}

/// Which condition a threshold comes from: a value passing a success threshold is good, a value
/// passing a failure threshold is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdKind {
    Success,
    Failure,
}

/// `result[0] <= 5` as a line to draw: values where `value op limit` holds are on the `kind` side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub kind: ThresholdKind,
    pub op: CompareOp,
    pub limit: f64,
}

impl Threshold {
    pub fn describe(&self) -> String {
        let side = match self.kind {
            ThresholdKind::Success => "pass",
            ThresholdKind::Failure => "fail",
        };
        format!("{side} when value {} {}", self.op.symbol(), self.limit)
    }
}

/// The threshold of a simple comparison between the result and a number: `result[0] <= 5`,
/// `result < 0.5`, `5 >= result[0]`, also behind a `len(result) > 0 &&` / `len(result) == 0 ||`
/// guard. Anything more complex has no single line to draw: `None`.
pub fn extract_threshold(condition: &str, kind: ThresholdKind) -> Option<Threshold> {
    let compact: String = condition.chars().filter(|c| !c.is_whitespace()).collect();
    let mut body = compact.as_str();
    for guard in ["len(result)>0&&", "len(result)==0||"] {
        if let Some(rest) = body.strip_prefix(guard) {
            body = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .unwrap_or(rest);
        }
    }
    let (at, op_text) = ["<=", ">=", "==", "!=", "<", ">"]
        .iter()
        .find_map(|op| body.find(op).map(|at| (at, *op)))?;
    let op = CompareOp::parse(op_text)?;
    let (left, right) = (&body[..at], &body[at + op_text.len()..]);
    let is_result = |side: &str| matches!(side, "result" | "result[0]");
    let number = |side: &str| side.parse::<f64>().ok().filter(|v| v.is_finite());
    if is_result(left) {
        Some(Threshold {
            kind,
            op,
            limit: number(right)?,
        })
    } else if is_result(right) {
        Some(Threshold {
            kind,
            op: op.flipped(),
            limit: number(left)?,
        })
    } else {
        None
    }
}

/// One counter next to its limit, as the operator reads it: `failed 1 > failureLimit 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterLine {
    pub text: String,
    /// The limit is exceeded: this counter decided the metric's phase.
    pub exceeded: bool,
}

fn counter(name: &str, value: i64, limit_name: &str, limit: i64) -> CounterLine {
    let exceeded = value > limit;
    let op = if exceeded { ">" } else { "<=" };
    CounterLine {
        text: format!("{name} {value} {op} {limit_name} {limit}"),
        exceeded,
    }
}

/// The counters of `result` against the limits of `metric`, in the engine's check order.
pub fn counter_lines(metric: &MetricLimits, result: &MetricResult) -> Vec<CounterLine> {
    let mut lines = Vec::new();
    let failure_limit = metric.failure_limit.unwrap_or(DEFAULT_FAILURE_LIMIT);
    if failure_limit >= 0 {
        lines.push(counter(
            "failed",
            result.failed,
            "failureLimit",
            failure_limit,
        ));
    } else {
        lines.push(CounterLine {
            text: format!("failed {} (failureLimit -1: no limit)", result.failed),
            exceeded: false,
        });
    }
    lines.push(counter(
        "inconclusive",
        result.inconclusive,
        "inconclusiveLimit",
        metric
            .inconclusive_limit
            .unwrap_or(DEFAULT_INCONCLUSIVE_LIMIT),
    ));
    lines.push(counter(
        "consecutiveErrors",
        result.consecutive_error,
        "consecutiveErrorLimit",
        metric
            .consecutive_error_limit
            .unwrap_or(DEFAULT_CONSECUTIVE_ERROR_LIMIT),
    ));
    if let Some(limit) = metric.consecutive_success_limit.filter(|l| *l > 0) {
        lines.push(CounterLine {
            text: format!(
                "consecutiveSuccess {} of consecutiveSuccessLimit {limit}",
                result.consecutive_success
            ),
            exceeded: false,
        });
    }
    let count = match metric.count {
        Some(count) if count > 0 => format!("measured {} of count {count}", result.count),
        _ => format!("measured {} (no count: runs until stopped)", result.count),
    };
    lines.push(CounterLine {
        text: format!("{count}, errors in total {}", result.error),
        exceeded: false,
    });
    lines
}

/// The limits of a metric as written (after argument substitution); `None` is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricLimits {
    pub count: Option<i64>,
    pub failure_limit: Option<i64>,
    pub inconclusive_limit: Option<i64>,
    pub consecutive_error_limit: Option<i64>,
    pub consecutive_success_limit: Option<i64>,
}

/// The explanation shown when an empty result made a measurement Error, with both guards.
pub fn explain_empty_result(condition: &str) -> String {
    let guard = guard_suggestion(condition);
    format!(
        "The query returned no data (an empty result), so \"{}\" had nothing to compare and the \
         measurement is Error, not Failed. Add a guard: \"{}\" (the condition fails when there \
         is no data) or \"{}\" (it passes when there is no data).",
        condition.trim(),
        guard.false_when_empty,
        guard.true_when_empty
    )
}

/// The last measurement of a metric.
#[derive(Debug, Clone, PartialEq)]
pub struct LastMeasurement {
    pub phase: AnalysisPhase,
    pub value: String,
    pub message: String,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One metric of the run, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct TriageMetric {
    pub name: String,
    pub phase: AnalysisPhase,
    pub dry_run: bool,
    /// `prometheus`, `web`, `job`, … (the provider key as written).
    pub provider: String,
    pub address: Option<String>,
    /// The query (or URL) with arguments resolved and secret values masked.
    pub query: Option<String>,
    pub success_condition: String,
    pub failure_condition: String,
    pub limits: MetricLimits,
    pub counters: Vec<CounterLine>,
    pub message: String,
    pub last: Option<LastMeasurement>,
    /// The measured values, oldest first (the measurements status keeps).
    pub values: Vec<ValuePoint>,
    /// When each of those measurements finished (or started), for marks on the live chart.
    pub measured_at: Vec<DateTime<Utc>>,
    pub threshold: Option<Threshold>,
    /// Plain words for an Error caused by an empty result.
    pub explanation: Option<String>,
    /// The Job of a job metric's last measurement (`job-name` metadata).
    pub job: Option<String>,
    /// What `e` evaluates: the definition with real values, `Err` says why a re-check cannot run.
    pub recheck: Result<MetricDefinition, String>,
}

impl TriageMetric {
    /// Prometheus metrics get a live chart of their query.
    pub fn is_prometheus(&self) -> bool {
        self.provider == "prometheus"
    }
}

/// One AnalysisRun for the triage view.
#[derive(Debug, Clone, PartialEq)]
pub struct TriageRun {
    pub key: ResourceKey,
    pub rollout: Option<String>,
    pub phase: Option<AnalysisPhase>,
    pub message: String,
    pub created: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Failing first (Failed, Error, Inconclusive, …, Successful), spec order within a phase.
    pub metrics: Vec<TriageMetric>,
}

/// The metric's provider key as written in the spec.
fn provider_name(metric: &Metric) -> String {
    metric
        .provider
        .kinds()
        .first()
        .map_or_else(|| "none".to_owned(), ToString::to_string)
}

fn int_of(
    value: Option<&k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>,
) -> Option<i64> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    value.map(|v| match v {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(text) => text.trim().parse().unwrap_or(0),
    })
}

/// The run's arguments for display: secret values (never read by the cockpit) show as the mask.
fn display_arguments(run: &AnalysisRun) -> Vec<RunArgument> {
    adapter::run_arguments(&run.spec, &std::collections::BTreeMap::new())
        .into_iter()
        .map(|mut arg| {
            if arg.secret {
                arg.value = Some(SECRET_MASK.to_owned());
            }
            arg
        })
        .collect()
}

/// A metric with `{{args.x}}` substituted; the raw metric when substitution fails (the run
/// message then says why).
fn resolve_metric(metric: &Metric, args: &[RunArgument]) -> Metric {
    serde_json::to_string(metric)
        .ok()
        .and_then(|text| substitute_args(&text, args).ok())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| metric.clone())
}

fn build_metric(
    metric: &Metric,
    result: Option<&MetricResult>,
    uses_secrets: bool,
    dry_run: bool,
) -> TriageMetric {
    let provider = provider_name(metric);
    let (address, query) = match (&metric.provider.prometheus, &metric.provider.web) {
        (Some(p), _) => (p.address.clone(), p.query.clone()),
        (None, Some(w)) => (None, w.url.clone()),
        _ => (None, None),
    };
    let limits = MetricLimits {
        count: int_of(metric.count.as_ref()),
        failure_limit: int_of(metric.failure_limit.as_ref()),
        inconclusive_limit: int_of(metric.inconclusive_limit.as_ref()),
        consecutive_error_limit: int_of(metric.consecutive_error_limit.as_ref()),
        consecutive_success_limit: int_of(metric.consecutive_success_limit.as_ref()),
    };
    let success_condition = metric.success_condition.clone().unwrap_or_default();
    let failure_condition = metric.failure_condition.clone().unwrap_or_default();
    let empty = MetricResult::default();
    let result_or_empty = result.unwrap_or(&empty);
    let last = result_or_empty.measurements.last();
    let explanation = last.and_then(|m| {
        let no_data = m.phase == AnalysisPhase::Error
            && (m.message.contains(NO_DATA_REASON) || m.value.trim() == "[]");
        if !no_data {
            return None;
        }
        let about_failure = m.message.contains("failureCondition") && !failure_condition.is_empty();
        let condition = if about_failure || success_condition.is_empty() {
            &failure_condition
        } else {
            &success_condition
        };
        Some(explain_empty_result(condition))
    });
    let threshold = extract_threshold(&success_condition, ThresholdKind::Success)
        .or_else(|| extract_threshold(&failure_condition, ThresholdKind::Failure));
    let recheck = if provider != "prometheus" {
        Err(format!(
            "re-check runs Prometheus metrics only ({provider} is not)"
        ))
    } else if uses_secrets {
        Err("the query uses secret arguments, which the cockpit does not read".to_owned())
    } else {
        adapter::metric_definition(metric)
    };
    TriageMetric {
        name: metric.name.clone(),
        phase: result.map_or(AnalysisPhase::Pending, |r| r.phase),
        dry_run,
        provider,
        address,
        query,
        success_condition,
        failure_condition,
        limits,
        counters: result
            .map(|r| counter_lines(&limits, r))
            .unwrap_or_default(),
        message: result_or_empty.message.clone(),
        last: last.map(|m| LastMeasurement {
            phase: m.phase,
            value: m.value.clone(),
            message: m.message.clone(),
            finished_at: m.finished_at.or(m.started_at),
        }),
        values: result_or_empty
            .measurements
            .iter()
            .map(|m| {
                // The engine drops the value of a measurement whose condition met no data.
                if m.value.trim().is_empty() && m.message.contains(NO_DATA_REASON) {
                    ValuePoint::Empty
                } else {
                    ValuePoint::parse(&m.value)
                }
            })
            .collect(),
        measured_at: result_or_empty
            .measurements
            .iter()
            .filter_map(|m| m.finished_at.or(m.started_at))
            .collect(),
        threshold,
        explanation,
        job: last.and_then(|m| m.metadata.get("job-name").cloned()),
        recheck,
    }
}

/// Failing first: the engine's severity rank, highest first; ties keep spec order.
pub fn sort_failing_first(metrics: &mut [TriageMetric]) {
    metrics.sort_by_key(|m| Reverse(m.phase.severity()));
}

impl TriageRun {
    pub fn from_run(run: &AnalysisRun) -> Self {
        let meta = &run.metadata;
        let status = adapter::run_status(run.status.as_ref());
        let args = display_arguments(run);
        let uses_secrets = args.iter().any(|a| a.secret);
        let dry: Vec<&str> = run
            .spec
            .dry_run
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|d| d.metric_name.as_str())
            .collect();
        let mut metrics: Vec<TriageMetric> = run
            .spec
            .metrics
            .iter()
            .map(|metric| {
                let resolved = resolve_metric(metric, &args);
                let result = status.metric_results.iter().find(|r| r.name == metric.name);
                let dry_run = result.is_some_and(|r| r.dry_run)
                    || dry.iter().any(|d| *d == metric.name || *d == ".*");
                build_metric(&resolved, result, uses_secrets, dry_run)
            })
            .collect();
        sort_failing_first(&mut metrics);
        Self {
            key: ResourceKey {
                namespace: meta.namespace.clone().unwrap_or_default(),
                name: meta.name.clone().unwrap_or_default(),
            },
            rollout: meta
                .owner_references
                .iter()
                .flatten()
                .find(|o| o.kind == "Rollout")
                .map(|o| o.name.clone()),
            phase: status.phase,
            message: status.message,
            created: meta
                .creation_timestamp
                .as_ref()
                .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0)),
            started_at: status.started_at,
            completed_at: status.completed_at,
            metrics,
        }
    }
}

/// One row of the `:ar` list.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub key: ResourceKey,
    pub rollout: String,
    pub phase: Option<AnalysisPhase>,
    /// The first failing metric and its decisive counter, else the run message.
    pub reason: String,
    pub created: Option<DateTime<Utc>>,
}

impl RunRow {
    pub fn from_triage(run: &TriageRun) -> Self {
        let reason = run
            .metrics
            .first()
            .filter(|m| m.phase.severity() >= AnalysisPhase::Inconclusive.severity())
            .map_or_else(
                || run.message.clone(),
                |m| {
                    let why = m
                        .counters
                        .iter()
                        .find(|c| c.exceeded)
                        .map_or_else(|| m.phase.as_str().to_owned(), |c| c.text.clone());
                    format!("{}: {why}", m.name)
                },
            );
        Self {
            key: run.key.clone(),
            rollout: run.rollout.clone().unwrap_or_default(),
            phase: run.phase,
            reason,
            created: run.created,
        }
    }
}

/// Failing first, then newest first, then by key.
pub fn sort_runs(rows: &mut [RunRow]) {
    rows.sort_by(|a, b| {
        let rank = |r: &RunRow| r.phase.map_or(2, AnalysisPhase::severity);
        rank(b)
            .cmp(&rank(a))
            .then_with(|| b.created.cmp(&a.created))
            .then_with(|| a.key.cmp(&b.key))
    });
}

/// The newest run owned by the rollout `name` among `runs` (creation time, then name).
pub fn newest_run_of<'a>(runs: &'a [AnalysisRun], name: &str) -> Option<&'a AnalysisRun> {
    runs.iter()
        .filter(|run| {
            run.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "Rollout" && o.name == name)
        })
        .max_by(|a, b| {
            a.metadata
                .creation_timestamp
                .cmp(&b.metadata.creation_timestamp)
                .then_with(|| a.metadata.name.cmp(&b.metadata.name))
        })
}

/// One series of a live chart: its distinguishing labels and the values over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesView {
    pub label: String,
    pub values: Vec<ValuePoint>,
}

/// A live chart of a metric's query over the last window, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartView {
    pub metric: String,
    /// Where the query went (URL or service proxy), said on screen.
    pub route: String,
    pub window: std::time::Duration,
    pub fetched_at: DateTime<Utc>,
    /// An empty list is an empty result (drawn and labelled as such).
    pub series: Result<Vec<SeriesView>, String>,
}

/// The labels that tell series apart (`service=checkout-canary`), or the whole set when one.
pub fn series_labels(all: &[std::collections::BTreeMap<String, String>]) -> Vec<String> {
    all.iter()
        .map(|labels| {
            let differing: Vec<String> = labels
                .iter()
                .filter(|(k, v)| {
                    k.as_str() != "__name__"
                        && (all.len() == 1 || all.iter().any(|other| other.get(*k) != Some(*v)))
                })
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if differing.is_empty() {
                "{}".to_owned()
            } else {
                differing.join(",")
            }
        })
        .collect()
}

/// What `e` found: the outcome the metric would have if measured now.
#[derive(Debug, Clone, PartialEq)]
pub struct RecheckView {
    pub metric: String,
    pub at: DateTime<Utc>,
    /// `Ok((phase, value))` from the engine's conditions; `Err` is the reason (unreachable,
    /// empty result, …) in the engine's words.
    pub outcome: Result<(AnalysisPhase, String), String>,
}

impl RecheckView {
    /// One line for the screen: `re-check 12:03:04: Failed, value [16] — a retry would fail`.
    pub fn describe(&self) -> String {
        match &self.outcome {
            Ok((phase, value)) => {
                let verdict = match phase {
                    AnalysisPhase::Successful => "a retry would pass this metric",
                    AnalysisPhase::Failed => "a retry would fail again",
                    AnalysisPhase::Inconclusive => "a retry would be inconclusive",
                    _ => "a retry would not decide",
                };
                format!("{phase}, value {value}: {verdict}")
            }
            Err(reason) => format!("Error: {reason}"),
        }
    }
}

/// Four runs in the shapes triage must explain (failed, errored on an empty result,
/// inconclusive, successful), relative to a fixed clock, for the view's tests.
#[cfg(test)]
pub mod fixtures {
    #![allow(clippy::unwrap_used)]

    use chrono::{DateTime, TimeDelta, Utc};
    use serde_json::{Value, json};

    use crate::controller::analysis::{ConditionError, ConditionKind};
    use crate::crd::AnalysisRun;

    fn at(now: DateTime<Utc>, minutes_ago: i64) -> String {
        (now - TimeDelta::minutes(minutes_ago))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    fn measurement(
        now: DateTime<Utc>,
        minutes_ago: i64,
        phase: &str,
        value: &str,
        message: &str,
    ) -> Value {
        let mut m = json!({"phase": phase, "startedAt": at(now, minutes_ago), "finishedAt": at(now, minutes_ago)});
        if !value.is_empty() {
            m["value"] = json!(value);
        }
        if !message.is_empty() {
            m["message"] = json!(message);
        }
        m
    }

    #[allow(clippy::needless_pass_by_value)]
    fn run(name: &str, now: DateTime<Utc>, spec: Value, status: Value) -> AnalysisRun {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AnalysisRun",
            "metadata": {
                "name": name, "namespace": "kubota-test",
                "creationTimestamp": at(now, 7),
                "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                    "name": "rollouts-demo", "uid": "u-1", "controller": true}]
            },
            "spec": spec,
            "status": status,
        }))
        .unwrap()
    }

    const ERRORS_QUERY: &str = "sum(delta(http_requests_total{code=~\"5..\",namespace=\"kubota-test\",service=\"{{args.service-name}}\"}[5m]))";

    /// R5: the canary's 5xx count crossed `result[0] <= 5` once; failureLimit 0.
    pub fn failed(now: DateTime<Utc>) -> AnalysisRun {
        let spec = json!({
            "args": [{"name": "service-name", "value": "rollouts-demo-canary"}],
            "metrics": [
                {"name": "latency-p99", "interval": "1m", "successCondition": "result[0] < 0.5",
                 "provider": {"prometheus": {"address": "http://prometheus.monitoring.svc:9090",
                    "query": "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{service=\"{{args.service-name}}\"}[5m])) by (le))"}}},
                {"name": "error-count", "interval": "1m", "failureLimit": 0,
                 "successCondition": "result[0] <= 5",
                 "provider": {"prometheus": {"address": "http://prometheus.monitoring.svc:9090",
                    "query": ERRORS_QUERY}}}
            ]
        });
        let status = json!({
            "phase": "Failed",
            "message": "Metric \"error-count\" assessed Failed due to failed (1) > failureLimit (0)",
            "startedAt": at(now, 7), "completedAt": at(now, 4),
            "metricResults": [
                {"name": "latency-p99", "phase": "Successful", "count": 3, "successful": 3,
                 "consecutiveSuccess": 3,
                 "measurements": [measurement(now, 7, "Successful", "[0.21]", ""),
                                  measurement(now, 6, "Successful", "[0.25]", ""),
                                  measurement(now, 5, "Successful", "[0.23]", "")]},
                {"name": "error-count", "phase": "Failed", "count": 4, "successful": 3, "failed": 1,
                 "measurements": [measurement(now, 7, "Successful", "[0]", ""),
                                  measurement(now, 6, "Successful", "[2]", ""),
                                  measurement(now, 5, "Successful", "[4]", ""),
                                  measurement(now, 4, "Failed", "[16]", "")]}
            ]
        });
        run("rollouts-demo-6cf78c66c5-2-1", now, spec, status)
    }

    /// An unguarded `result[0]` met an empty vector five times: Error, not Failed.
    pub fn errored(now: DateTime<Utc>) -> AnalysisRun {
        let condition = "result[0] < 0.05";
        let message = ConditionError::NoData {
            kind: ConditionKind::Success,
            condition: condition.to_owned(),
        }
        .to_string();
        let spec = json!({
            "args": [{"name": "service-name", "value": "checkout-canary"}],
            "metrics": [{"name": "error-rate", "interval": "30s", "successCondition": condition,
                "provider": {"prometheus": {"address": "http://prometheus.monitoring.svc:9090",
                    "query": "sum(rate(http_requests_total{service=\"{{args.service-name}}\",code=~\"5..\"}[1m])) / sum(rate(http_requests_total{service=\"{{args.service-name}}\"}[1m]))"}}}]
        });
        let measurements: Vec<Value> = (0..5)
            .map(|i| measurement(now, 6 - i, "Error", "", &message))
            .collect();
        let status = json!({
            "phase": "Error",
            "message": "Metric \"error-rate\" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4)",
            "startedAt": at(now, 7), "completedAt": at(now, 2),
            "metricResults": [{"name": "error-rate", "phase": "Error", "error": 5,
                "consecutiveError": 5, "message": message.clone(), "measurements": measurements}]
        });
        run("checkout-7f9c-3-1", now, spec, status)
    }

    /// Between success and failure: 0.97 is neither `>= 0.99` nor `< 0.95`; a NaN before it.
    pub fn inconclusive(now: DateTime<Utc>) -> AnalysisRun {
        let spec = json!({
            "args": [{"name": "service-name", "value": "nginx"},
                     {"name": "api-token", "valueFrom": {"secretKeyRef": {"name": "slo-api", "key": "token"}}}],
            "metrics": [
                {"name": "success-rate", "interval": "1m", "successCondition": "result[0] >= 0.99",
                 "failureCondition": "result[0] < 0.95",
                 "provider": {"prometheus": {"address": "http://prometheus.monitoring.svc:9090",
                    "query": "sum(irate(istio_requests_total{destination_service=~\"{{args.service-name}}.default.svc.cluster.local\",response_code!~\"5.*\"}[5m])) / sum(irate(istio_requests_total{destination_service=~\"{{args.service-name}}.default.svc.cluster.local\"}[5m]))"}}},
                {"name": "slo-budget", "successCondition": "result.ok == true",
                 "provider": {"web": {"url": "https://slo.example.com/api/budget?service={{args.service-name}}&token={{args.api-token}}", "jsonPath": "{$.data}"}}},
                {"name": "smoke-test", "provider": {"job": {"spec": {"template": {"spec": {
                    "containers": [{"name": "smoke", "image": "shop/smoke:1"}],
                    "restartPolicy": "Never"}}}}}}
            ]
        });
        let status = json!({
            "phase": "Inconclusive",
            "message": "Metric \"success-rate\" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0)",
            "startedAt": at(now, 7), "completedAt": at(now, 3),
            "metricResults": [
                {"name": "success-rate", "phase": "Inconclusive", "count": 3, "successful": 1,
                 "inconclusive": 1, "error": 1,
                 "measurements": [measurement(now, 6, "Successful", "[0.995]", ""),
                                  measurement(now, 5, "Error", "[NaN]", "could not evaluate successCondition \"result[0] >= 0.99\": NaN"),
                                  measurement(now, 3, "Inconclusive", "[0.97]", "")]},
                {"name": "slo-budget", "phase": "Successful", "count": 1, "successful": 1,
                 "measurements": [measurement(now, 6, "Successful", "{\"ok\":true}", "")]},
                {"name": "smoke-test", "phase": "Running", "count": 0,
                 "measurements": [{"phase": "Running", "startedAt": at(now, 5),
                    "metadata": {"job-name": "nginx-5d8f-4-1.smoke-test.1"}}]}
            ]
        });
        run("nginx-5d8f-4-1", now, spec, status)
    }

    /// Every metric passed its count.
    pub fn successful(now: DateTime<Utc>) -> AnalysisRun {
        let spec = json!({
            "args": [{"name": "service-name", "value": "tomozo-canary"}],
            "metrics": [{"name": "error-count", "interval": "1m", "count": 5,
                "successCondition": "len(result) > 0 && result[0] <= 5",
                "provider": {"prometheus": {"address": "http://prometheus.monitoring.svc:9090",
                    "query": ERRORS_QUERY}}}]
        });
        let values = ["[0]", "[1]", "[0]", "[3]", "[2]"];
        let measurements: Vec<Value> = values
            .iter()
            .enumerate()
            .map(|(i, v)| measurement(now, 6 - i as i64, "Successful", v, ""))
            .collect();
        let status = json!({
            "phase": "Successful",
            "message": "",
            "startedAt": at(now, 7), "completedAt": at(now, 2),
            "metricResults": [{"name": "error-count", "phase": "Successful", "count": 5,
                "successful": 5, "consecutiveSuccess": 5, "measurements": measurements}]
        });
        run("tomozo-66b9-5-1", now, spec, status)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::model::field_reports::fixed_now;

    #[test]
    fn value_points() {
        let cases = [
            ("[16]", ValuePoint::Number(16.0)),
            ("0.99", ValuePoint::Number(0.99)),
            ("[NaN,1]", ValuePoint::NaN),
            ("[+Inf]", ValuePoint::PosInf),
            ("-Inf", ValuePoint::NegInf),
            ("[]", ValuePoint::Empty),
            ("", ValuePoint::Missing),
            ("{\"ok\":true}", ValuePoint::Missing),
        ];
        for (text, want) in cases {
            assert_eq!(ValuePoint::parse(text), want, "{text}");
        }
    }

    #[test]
    fn thresholds_of_simple_comparisons() {
        use CompareOp::{Ge, Gt, Le, Lt};
        let s = ThresholdKind::Success;
        let cases = [
            ("result[0] <= 5", Some((Le, 5.0))),
            ("result < 0.5", Some((Lt, 0.5))),
            ("5 >= result[0]", Some((Le, 5.0))),
            ("0.99 < result[0]", Some((Gt, 0.99))),
            ("len(result) > 0 && result[0] >= 0.95", Some((Ge, 0.95))),
            ("len(result) == 0 || (result[0] <= 5)", Some((Le, 5.0))),
            ("result[0] <= 5 && result[1] <= 5", None),
            ("result.ok == true", None),
            ("isNaN(result[0])", None),
            ("", None),
        ];
        for (condition, want) in cases {
            let got = extract_threshold(condition, s).map(|t| (t.op, t.limit));
            assert_eq!(got, want, "{condition}");
        }
    }

    #[test]
    fn counters_against_limits() {
        let result = MetricResult {
            failed: 1,
            inconclusive: 0,
            consecutive_error: 5,
            count: 4,
            error: 5,
            ..MetricResult::default()
        };
        let lines: Vec<(String, bool)> = counter_lines(&MetricLimits::default(), &result)
            .into_iter()
            .map(|c| (c.text, c.exceeded))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("failed 1 > failureLimit 0".to_owned(), true),
                ("inconclusive 0 <= inconclusiveLimit 0".to_owned(), false),
                (
                    "consecutiveErrors 5 > consecutiveErrorLimit 4".to_owned(),
                    true
                ),
                (
                    "measured 4 (no count: runs until stopped), errors in total 5".to_owned(),
                    false
                ),
            ]
        );
        let limits = MetricLimits {
            failure_limit: Some(-1),
            consecutive_success_limit: Some(3),
            count: Some(10),
            ..MetricLimits::default()
        };
        let texts: Vec<String> = counter_lines(&limits, &result)
            .into_iter()
            .map(|c| c.text)
            .collect();
        assert_eq!(texts[0], "failed 1 (failureLimit -1: no limit)");
        assert_eq!(
            texts[3],
            "consecutiveSuccess 0 of consecutiveSuccessLimit 3"
        );
        assert_eq!(texts[4], "measured 4 of count 10, errors in total 5");
    }

    #[test]
    fn failed_run_puts_the_failing_metric_first_with_its_resolved_query() {
        let run = TriageRun::from_run(&fixtures::failed(fixed_now()));
        let names: Vec<&str> = run.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["error-count", "latency-p99"]);
        let metric = &run.metrics[0];
        assert_eq!(metric.phase, AnalysisPhase::Failed);
        assert_eq!(
            metric.query.as_deref(),
            Some(
                "sum(delta(http_requests_total{code=~\"5..\",namespace=\"kubota-test\",\
                 service=\"rollouts-demo-canary\"}[5m]))"
            )
        );
        assert!(metric.counters[0].exceeded);
        assert_eq!(metric.counters[0].text, "failed 1 > failureLimit 0");
        assert_eq!(metric.last.as_ref().unwrap().value, "[16]");
        assert_eq!(
            metric.threshold,
            Some(Threshold {
                kind: ThresholdKind::Success,
                op: CompareOp::Le,
                limit: 5.0
            })
        );
        assert!(metric.recheck.is_ok());
        assert_eq!(run.rollout.as_deref(), Some("rollouts-demo"));
    }

    #[test]
    fn empty_result_errors_are_explained_with_both_guards() {
        let run = TriageRun::from_run(&fixtures::errored(fixed_now()));
        let metric = &run.metrics[0];
        assert_eq!(metric.phase, AnalysisPhase::Error);
        assert_eq!(metric.values, vec![ValuePoint::Empty; 5]);
        let why = metric.explanation.as_deref().unwrap();
        assert!(why.contains("no data (an empty result)"), "{why}");
        assert!(
            why.contains("\"len(result) > 0 && result[0] < 0.05\""),
            "{why}"
        );
        assert!(
            why.contains("\"len(result) == 0 || result[0] < 0.05\""),
            "{why}"
        );
        assert_eq!(
            metric.counters[2].text,
            "consecutiveErrors 5 > consecutiveErrorLimit 4"
        );
    }

    #[test]
    fn secret_arguments_are_masked_and_block_the_recheck() {
        let run = TriageRun::from_run(&fixtures::inconclusive(fixed_now()));
        let web = run.metrics.iter().find(|m| m.provider == "web").unwrap();
        assert_eq!(
            web.query.as_deref(),
            Some("https://slo.example.com/api/budget?service=nginx&token=*****")
        );
        let prom = &run.metrics[0];
        assert_eq!(prom.name, "success-rate");
        assert_eq!(prom.values[1], ValuePoint::NaN);
        assert!(prom.recheck.as_ref().unwrap_err().contains("secret"));
    }

    #[test]
    fn run_rows_sort_failing_first() {
        let now = fixed_now();
        let mut rows: Vec<RunRow> = [
            fixtures::successful(now),
            fixtures::inconclusive(now),
            fixtures::failed(now),
            fixtures::errored(now),
        ]
        .iter()
        .map(|r| RunRow::from_triage(&TriageRun::from_run(r)))
        .collect();
        sort_runs(&mut rows);
        let phases: Vec<_> = rows.iter().map(|r| r.phase.unwrap()).collect();
        assert_eq!(
            phases,
            [
                AnalysisPhase::Failed,
                AnalysisPhase::Error,
                AnalysisPhase::Inconclusive,
                AnalysisPhase::Successful
            ]
        );
        assert_eq!(rows[0].reason, "error-count: failed 1 > failureLimit 0");
    }

    #[test]
    fn newest_run_of_a_rollout() {
        let now = fixed_now();
        let mut older = fixtures::failed(now);
        older.metadata.name = Some("a-older".into());
        older.metadata.creation_timestamp = fixtures::successful(now - chrono::TimeDelta::hours(1))
            .metadata
            .creation_timestamp;
        let newer = fixtures::errored(now);
        let runs = vec![older, newer];
        assert_eq!(
            newest_run_of(&runs, "rollouts-demo")
                .unwrap()
                .metadata
                .name
                .as_deref(),
            Some("checkout-7f9c-3-1")
        );
        assert!(newest_run_of(&runs, "other").is_none());
    }

    #[test]
    fn series_are_labelled_by_what_differs() {
        let series = |service: &str| {
            std::collections::BTreeMap::from([
                ("__name__".to_owned(), "x".to_owned()),
                ("job".to_owned(), "app".to_owned()),
                ("service".to_owned(), service.to_owned()),
            ])
        };
        assert_eq!(
            series_labels(&[series("canary"), series("stable")]),
            ["service=canary", "service=stable"]
        );
        assert_eq!(series_labels(&[series("c")]), ["job=app,service=c"]);
        assert_eq!(series_labels(&[std::collections::BTreeMap::new()]), ["{}"]);
    }
}

/// A range query's samples (`(unix seconds, value)`) placed on the chart's fixed time grid
/// (`slots` steps of `step` from `start`), so every series of a chart shares one time axis and
/// a series that began late starts late on screen; steps without a sample are gaps.
pub fn align_points(
    points: &[(f64, f64)],
    start: DateTime<Utc>,
    step: std::time::Duration,
    slots: usize,
) -> Vec<ValuePoint> {
    let mut out = vec![ValuePoint::Gap; slots];
    let step_secs = step.as_secs_f64();
    if step_secs <= 0.0 {
        return out;
    }
    let start_secs = start.timestamp_millis() as f64 / 1000.0;
    for (at, value) in points {
        let offset = (at - start_secs) / step_secs;
        if offset < -0.5 {
            continue;
        }
        let slot = offset.round() as usize;
        if let Some(cell) = out.get_mut(slot) {
            *cell = ValuePoint::from_f64(*value);
        }
    }
    out
}

/// The columns (0-based, of `width`) where times fall on a chart of `window` ending at `end`.
pub fn mark_columns(
    times: &[DateTime<Utc>],
    end: DateTime<Utc>,
    window: std::time::Duration,
    width: u16,
) -> Vec<u16> {
    let window_ms = window.as_millis() as f64;
    if width == 0 || window_ms <= 0.0 {
        return Vec::new();
    }
    let start = end - chrono::TimeDelta::from_std(window).unwrap_or_default();
    let mut columns: Vec<u16> = times
        .iter()
        .filter(|t| **t >= start && **t <= end)
        .map(|t| {
            let offset = (*t - start).num_milliseconds() as f64 / window_ms;
            ((offset * f64::from(width)).floor() as u16).min(width - 1)
        })
        .collect();
    columns.dedup();
    columns
}

#[cfg(test)]
mod align_tests {
    #![allow(clippy::unwrap_used)]
    use super::{ValuePoint, align_points};
    use chrono::{TimeDelta, TimeZone, Utc};

    type AlignCase = (Vec<(f64, f64)>, Vec<ValuePoint>);

    #[test]
    fn samples_land_on_their_step_and_the_rest_are_gaps() {
        let start = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let step = std::time::Duration::from_secs(30);
        let at = |s: i64| (start + TimeDelta::seconds(s)).timestamp() as f64;
        let cases: [AlignCase; 4] = [
            (vec![], vec![ValuePoint::Gap; 3]),
            (
                vec![(at(0), 1.0), (at(30), 2.0), (at(60), 3.0)],
                vec![
                    ValuePoint::Number(1.0),
                    ValuePoint::Number(2.0),
                    ValuePoint::Number(3.0),
                ],
            ),
            // A series that began late starts late; Prometheus' step jitter rounds.
            (
                vec![(at(59), 5.0), (at(-60), 9.0), (at(600), 9.0)],
                vec![ValuePoint::Gap, ValuePoint::Gap, ValuePoint::Number(5.0)],
            ),
            (
                vec![(at(30), f64::NAN)],
                vec![ValuePoint::Gap, ValuePoint::NaN, ValuePoint::Gap],
            ),
        ];
        for (points, want) in cases {
            assert_eq!(align_points(&points, start, step, 3), want, "{points:?}");
        }
    }
}

#[cfg(test)]
mod mark_tests {
    use super::mark_columns;
    use chrono::{TimeDelta, TimeZone, Utc};

    #[test]
    fn marks_fall_where_the_time_is_in_the_window() {
        let end = Utc
            .timestamp_opt(1_800_000_000, 0)
            .single()
            .unwrap_or_default();
        let window = std::time::Duration::from_secs(600);
        let times = [
            end - TimeDelta::seconds(900),
            end - TimeDelta::seconds(600),
            end - TimeDelta::seconds(300),
            end,
        ];
        assert_eq!(mark_columns(&times, end, window, 10), vec![0, 5, 9]);
        assert!(mark_columns(&times, end, window, 0).is_empty());
    }
}

/// One line per pod of a job metric's Job: name, phase, and what its containers say
/// (`waiting: ImagePullBackOff`, `terminated: Error, exit 1`), for the `job` field.
pub fn job_pod_line(pod: &k8s_openapi::api::core::v1::Pod) -> String {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.as_ref();
    let phase = status
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".to_owned());
    let mut details: Vec<String> = Vec::new();
    for container in status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
    {
        let Some(state) = &container.state else {
            continue;
        };
        if let Some(waiting) = &state.waiting {
            details.push(format!(
                "{}: waiting {}",
                container.name,
                waiting.reason.clone().unwrap_or_default()
            ));
        } else if let Some(done) = &state.terminated {
            details.push(format!(
                "{}: {} exit {}",
                container.name,
                done.reason
                    .clone()
                    .unwrap_or_else(|| "terminated".to_owned()),
                done.exit_code
            ));
        }
    }
    if details.is_empty() {
        format!("{name} {phase}")
    } else {
        format!("{name} {phase} ({})", details.join(", "))
    }
}

#[cfg(test)]
mod job_tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn job_pods_say_phase_and_container_state() {
        let pod = |status: serde_json::Value| -> k8s_openapi::api::core::v1::Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "smoke-1-abcde"}, "status": status
            }))
            .unwrap()
        };
        let cases = [
            (
                serde_json::json!({"phase": "Running"}),
                "smoke-1-abcde Running",
            ),
            (
                serde_json::json!({"phase": "Failed", "containerStatuses": [{"name": "smoke",
                    "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                    "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
                "smoke-1-abcde Failed (smoke: Error exit 1)",
            ),
            (
                serde_json::json!({"phase": "Pending", "containerStatuses": [{"name": "smoke",
                    "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                    "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}),
                "smoke-1-abcde Pending (smoke: waiting ImagePullBackOff)",
            ),
            (serde_json::json!(null), "smoke-1-abcde Pending"),
        ];
        for (status, want) in cases {
            assert_eq!(super::job_pod_line(&pod(status)), want);
        }
    }
}
