//! The edge between the AnalysisRun custom resource and the engine: it turns `spec` (metrics,
//! args, dryRun, measurementRetention) into [`MetricDefinition`]s and [`Secrets`], reads
//! `status` into a [`RunStatus`], and writes a [`RunStatus`] back as the `status` JSON the
//! reference controller writes (Go's `omitempty` rules, `metav1.Time` seconds). It also computes
//! the JSON merge patch between two statuses. Secret values are fetched by the caller (the
//! reconciler) and only ever reach status masked. Pure.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Map, Value, json};

use super::args::{
    RESOLVE_ARGS_MESSAGE_PREFIX, RunArgument, secrets_of, substitute_args, validate_arguments,
};
use super::assessment::RunSummary;
use super::duration::parse_go_duration_std;
use super::job;
use super::prometheus::{self, BasicAuth, RangeQuery};
use super::rules::{dry_run_metrics, measurement_retention};
use super::validation::{SPEC_INVALID_MESSAGE_PREFIX, validate_metrics};
use super::web::{self, WebMethod};
use super::{
    AnalysisPhase, Header, Measurement, MetricDefinition, MetricResult, Provider, RunStatus,
    Secrets,
};
use crate::crd::analysis::{
    AnalysisRunSpec, AnalysisRunStatus, Metric, SecretKeyRef, WebMetricHeader,
};
use crate::crd::time::{format_time, parse_time};

/// A `valueFrom.secretKeyRef` argument the caller must read from the run's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretArgument {
    pub arg: String,
    pub secret: String,
    pub key: String,
}

/// The secret arguments of a run, in spec order. An argument that also has a `value` is left
/// out: [`run_inputs`] rejects it before any Secret matters.
pub fn secret_arguments(spec: &AnalysisRunSpec) -> Vec<SecretArgument> {
    spec.args
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter(|arg| arg.value.is_none())
        .filter_map(|arg| {
            let SecretKeyRef { name, key, .. } =
                arg.value_from.as_ref()?.secret_key_ref.as_ref()?;
            Some(SecretArgument {
                arg: arg.name.clone(),
                secret: name.clone(),
                key: key.clone(),
            })
        })
        .collect()
}

/// The message of a secret that could not be read, as the reference words it, with the run
/// message prefix (`Unable to resolve metric arguments: secrets "db" not found`).
pub fn secret_error_message(argument: &SecretArgument, secret_found: bool) -> String {
    let cause = if secret_found {
        format!(
            "key '{}' does not exist in secret '{}'",
            argument.key, argument.secret
        )
    } else {
        format!("secrets \"{}\" not found", argument.secret)
    };
    format!("{RESOLVE_ARGS_MESSAGE_PREFIX}{cause}")
}

/// The run's arguments with values: `value` as written, secret arguments from `secret_values`
/// (arg name → value, resolved by the caller). `fieldRef` and `podTemplateHashValue` are
/// resolved by the Rollout or Experiment that creates a run, which writes `value`; on a run
/// they have no value, so substitution reports `argument "x" was not supplied`, as the
/// reference does.
pub fn run_arguments(
    spec: &AnalysisRunSpec,
    secret_values: &BTreeMap<String, String>,
) -> Vec<RunArgument> {
    spec.args
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|arg| {
            let secret = arg
                .value_from
                .as_ref()
                .is_some_and(|from| from.secret_key_ref.is_some());
            let value = if secret {
                secret_values.get(&arg.name).cloned()
            } else {
                arg.value.clone()
            };
            RunArgument {
                name: arg.name.clone(),
                value,
                secret,
            }
        })
        .collect()
}

/// What the engine needs for a pass, built from the spec.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunInputs {
    pub metrics: Vec<MetricDefinition>,
    pub secrets: Secrets,
    pub terminate: bool,
}

/// Builds the engine inputs (§2.1 steps 2–4). `Err` is the run message of an Error run
/// (`Unable to resolve metric arguments: …`, `Analysis spec invalid: …`).
pub fn run_inputs(spec: &AnalysisRunSpec, args: &[RunArgument]) -> Result<RunInputs, String> {
    validate_arguments(spec.args.as_deref().unwrap_or_default().iter().map(|arg| {
        (
            arg.name.as_str(),
            arg.value.is_some(),
            arg.value_from.is_some(),
        )
    }))
    .map_err(|e| format!("{RESOLVE_ARGS_MESSAGE_PREFIX}{e}"))?;
    let secrets = secrets_of(args);
    let mut metrics = Vec::with_capacity(spec.metrics.len());
    for (index, metric) in spec.metrics.iter().enumerate() {
        let template = serde_json::to_string(metric).map_err(|e| e.to_string())?;
        let resolved = substitute_args(&template, args)
            .map_err(|e| secrets.mask(&format!("{RESOLVE_ARGS_MESSAGE_PREFIX}{e}")))?;
        let resolved: Metric = serde_json::from_str(&resolved).map_err(|e| {
            secrets.mask(&format!(
                "{RESOLVE_ARGS_MESSAGE_PREFIX}metrics[{index}]: {e}"
            ))
        })?;
        let definition = metric_definition(&resolved).map_err(|e| {
            secrets.mask(&format!(
                "{SPEC_INVALID_MESSAGE_PREFIX}metrics[{index}]: {e}"
            ))
        })?;
        metrics.push(definition);
    }
    validate_metrics(&metrics).map_err(|e| format!("{SPEC_INVALID_MESSAGE_PREFIX}{e}"))?;

    let names: Vec<&str> = spec.metrics.iter().map(|m| m.name.as_str()).collect();
    let dry_rules: Vec<String> = spec
        .dry_run
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|rule| rule.metric_name.clone())
        .collect();
    let retention_rules: Vec<(String, usize)> = spec
        .measurement_retention
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|rule| {
            (
                rule.metric_name.clone(),
                usize::try_from(rule.limit).unwrap_or(0),
            )
        })
        .collect();
    let dry = dry_run_metrics(&dry_rules, &names)
        .map_err(|e| format!("{SPEC_INVALID_MESSAGE_PREFIX}{e}"))?;
    let retention = measurement_retention(&retention_rules, &names)
        .map_err(|e| format!("{SPEC_INVALID_MESSAGE_PREFIX}{e}"))?;
    for metric in &mut metrics {
        metric.dry_run = dry.contains(&metric.name);
        // A limit of 0 keeps the default of 10, as in the reference.
        metric.measurement_retention = retention.get(&metric.name).copied().filter(|&l| l > 0);
    }
    Ok(RunInputs {
        metrics,
        secrets,
        terminate: spec.terminate.unwrap_or(false),
    })
}

/// `IntOrString.IntValue()`: a string that is not a number counts as 0, as in Go.
fn int_value(value: Option<&IntOrString>) -> Option<i64> {
    value.map(|v| match v {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(text) => text.trim().parse().unwrap_or(0),
    })
}

fn headers(list: Option<&Vec<WebMetricHeader>>) -> Vec<Header> {
    list.map(|headers| {
        headers
            .iter()
            .map(|h| Header {
                key: h.key.clone(),
                value: h.value.clone(),
            })
            .collect()
    })
    .unwrap_or_default()
}

/// Rather than query without the credentials the metric asks for (and fail with a confusing
/// 401), a metric using an authentication rolltop does not implement errors the run.
fn unsupported_authentication(provider: &str, kind: &str) -> String {
    format!("{provider} authentication.{kind} is not implemented by rolltop's in-process analysis")
}

/// One metric after substitution → the engine's definition; `Err` is the reference's message
/// without the `metrics[i]: ` prefix.
pub fn metric_definition(metric: &Metric) -> Result<MetricDefinition, String> {
    let interval = metric
        .interval
        .as_deref()
        .filter(|text| !text.is_empty())
        .map(parse_go_duration_std)
        .transpose()
        .map_err(|e| format!("invalid interval string: {e}"))?;
    let initial_delay = metric
        .initial_delay
        .as_deref()
        .filter(|text| !text.is_empty())
        .map(parse_go_duration_std)
        .transpose()
        .map_err(|e| format!("invalid startDelay string: {e}"))?;
    let kinds = metric.provider.kinds();
    if kinds.len() > 1 {
        return Err("multiple providers specified".to_string());
    }
    let provider = if let Some(config) = &metric.provider.prometheus {
        let authentication = config.authentication.as_ref();
        if authentication.is_some_and(|a| a.oauth2.is_some()) {
            return Err(unsupported_authentication("prometheus", "oauth2"));
        }
        // The reference signs with SigV4 only for Amazon Managed Prometheus addresses.
        if authentication.is_some_and(|a| a.sigv4.is_some())
            && config
                .address
                .as_deref()
                .is_some_and(|a| a.contains("aps-workspaces"))
        {
            return Err(unsupported_authentication("prometheus", "sigv4"));
        }
        let basic_auth = config
            .authentication
            .as_ref()
            .and_then(|auth| auth.basic_auth.as_ref())
            .map(|basic| BasicAuth {
                username: basic.username.clone().unwrap_or_default(),
                password: basic.password.clone().unwrap_or_default(),
            });
        let range_query = config.range_query.as_ref().map(|range| RangeQuery {
            start: range.start.clone().unwrap_or_default(),
            end: range.end.clone().unwrap_or_default(),
            step: range.step.clone().unwrap_or_default(),
        });
        Provider::Prometheus(prometheus::PrometheusMetric {
            address: config.address.clone().unwrap_or_default(),
            query: config.query.clone().unwrap_or_default(),
            timeout_seconds: config.timeout,
            insecure: config.insecure.unwrap_or(false),
            headers: headers(config.headers.as_ref()),
            basic_auth,
            range_query,
        })
    } else if let Some(config) = &metric.provider.web {
        if config
            .authentication
            .as_ref()
            .is_some_and(|a| a.oauth2.is_some())
        {
            return Err(unsupported_authentication("web", "oauth2"));
        }
        let method = match config.method.as_deref().unwrap_or("GET") {
            "" | "GET" => WebMethod::Get,
            "POST" => WebMethod::Post,
            "PUT" => WebMethod::Put,
            other => return Err(format!("unsupported web method {other:?}")),
        };
        Provider::Web(web::WebMetric {
            url: config.url.clone().unwrap_or_default(),
            method,
            headers: headers(config.headers.as_ref()),
            body: config.body.clone(),
            json_body: config.json_body.clone(),
            timeout_seconds: config.timeout_seconds,
            json_path: config.json_path.clone().unwrap_or_default(),
            insecure: config.insecure.unwrap_or(false),
        })
    } else if let Some(config) = &metric.provider.job {
        let metadata = config.metadata.as_ref();
        Provider::Job(job::JobMetric {
            labels: metadata.and_then(|m| m.labels.clone()).unwrap_or_default(),
            annotations: metadata
                .and_then(|m| m.annotations.clone())
                .unwrap_or_default(),
            spec: config.spec.clone(),
        })
    } else if let Some(kind) = kinds.first() {
        return Err(format!(
            "provider {kind} is not supported by rolltop's in-process analysis \
             (supported: prometheus, web, job)"
        ));
    } else {
        Provider::None
    };
    Ok(MetricDefinition {
        name: metric.name.clone(),
        interval,
        initial_delay,
        count: int_value(metric.count.as_ref()),
        success_condition: metric.success_condition.clone().unwrap_or_default(),
        failure_condition: metric.failure_condition.clone().unwrap_or_default(),
        failure_limit: int_value(metric.failure_limit.as_ref()),
        inconclusive_limit: int_value(metric.inconclusive_limit.as_ref()),
        consecutive_error_limit: int_value(metric.consecutive_error_limit.as_ref()),
        consecutive_success_limit: int_value(metric.consecutive_success_limit.as_ref()),
        dry_run: false,
        measurement_retention: None,
        provider,
    })
}

fn phase_of(text: &str) -> AnalysisPhase {
    AnalysisPhase::parse(text).unwrap_or_default()
}

fn time_of(text: Option<&String>) -> Option<DateTime<Utc>> {
    text.and_then(|t| parse_time(t))
}

fn count_of(value: Option<i32>) -> i64 {
    i64::from(value.unwrap_or(0))
}

/// Reads the stored status; anything malformed reads as unset.
pub fn run_status(status: Option<&AnalysisRunStatus>) -> RunStatus {
    let Some(status) = status else {
        return RunStatus::default();
    };
    let summary = |s: Option<&crate::crd::analysis::RunSummary>| {
        s.map(|s| RunSummary {
            count: count_of(s.count),
            successful: count_of(s.successful),
            failed: count_of(s.failed),
            inconclusive: count_of(s.inconclusive),
            error: count_of(s.error),
        })
        .unwrap_or_default()
    };
    RunStatus {
        phase: status.phase_text.as_deref().and_then(AnalysisPhase::parse),
        message: status.message.clone().unwrap_or_default(),
        started_at: time_of(status.started_at.as_ref()),
        completed_at: time_of(status.completed_at.as_ref()),
        metric_results: status
            .metric_results
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|r| MetricResult {
                name: r.name.clone(),
                phase: phase_of(&r.phase_text),
                measurements: r
                    .measurements()
                    .iter()
                    .map(|m| Measurement {
                        phase: phase_of(&m.phase_text),
                        message: m.message.clone().unwrap_or_default(),
                        started_at: time_of(m.started_at.as_ref()),
                        finished_at: time_of(m.finished_at.as_ref()),
                        value: m.value.clone().unwrap_or_default(),
                        metadata: m.metadata.clone().unwrap_or_default(),
                        resume_at: time_of(m.resume_at.as_ref()),
                    })
                    .collect(),
                message: r.message.clone().unwrap_or_default(),
                count: count_of(r.count),
                successful: count_of(r.successful),
                failed: count_of(r.failed),
                inconclusive: count_of(r.inconclusive),
                error: count_of(r.error),
                consecutive_error: count_of(r.consecutive_error),
                consecutive_success: count_of(r.consecutive_success),
                dry_run: r.dry_run.unwrap_or(false),
                metadata: r.metadata.clone().unwrap_or_default(),
            })
            .collect(),
        run_summary: summary(status.run_summary.as_ref()),
        dry_run_summary: summary(status.dry_run_summary.as_ref()),
    }
}

/// When a completed run is to be deleted (§2.9): `secondsAfterSuccess` for Successful,
/// `secondsAfterFailure` for Failed, otherwise (and as the fallback) `secondsAfterCompletion`;
/// the run goes once the whole seconds since `completedAt` exceed the TTL. `None`: keep it.
pub fn ttl_deadline(spec: &AnalysisRunSpec, status: &RunStatus) -> Option<DateTime<Utc>> {
    let ttl = spec.ttl_strategy.as_ref()?;
    let completed_at = status.completed_at.filter(|_| status.is_completed())?;
    let seconds = match status.phase {
        Some(AnalysisPhase::Successful) => ttl.seconds_after_success,
        Some(AnalysisPhase::Failed) => ttl.seconds_after_failure,
        _ => None,
    }
    .or(ttl.seconds_after_completion)?;
    completed_at.checked_add_signed(chrono::TimeDelta::seconds(i64::from(seconds) + 1))
}

/// Go's `omitempty` helpers: a field is written only when it is not the zero value.
fn put_str(object: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        object.insert(key.into(), Value::String(value.into()));
    }
}

fn put_count(object: &mut Map<String, Value>, key: &str, value: i64) {
    if value != 0 {
        object.insert(key.into(), json!(value));
    }
}

fn put_time(object: &mut Map<String, Value>, key: &str, value: Option<DateTime<Utc>>) {
    if let Some(time) = value {
        object.insert(key.into(), Value::String(format_time(time)));
    }
}

fn put_map(object: &mut Map<String, Value>, key: &str, value: &BTreeMap<String, String>) {
    if !value.is_empty() {
        object.insert(key.into(), json!(value));
    }
}

fn summary_json(summary: &RunSummary) -> Value {
    let mut object = Map::new();
    put_count(&mut object, "count", summary.count);
    put_count(&mut object, "successful", summary.successful);
    put_count(&mut object, "failed", summary.failed);
    put_count(&mut object, "inconclusive", summary.inconclusive);
    put_count(&mut object, "error", summary.error);
    Value::Object(object)
}

fn measurement_json(measurement: &Measurement) -> Value {
    let mut object = Map::new();
    object.insert("phase".into(), json!(measurement.phase.as_str()));
    put_str(&mut object, "message", &measurement.message);
    put_time(&mut object, "startedAt", measurement.started_at);
    put_time(&mut object, "finishedAt", measurement.finished_at);
    put_str(&mut object, "value", &measurement.value);
    put_map(&mut object, "metadata", &measurement.metadata);
    put_time(&mut object, "resumeAt", measurement.resume_at);
    Value::Object(object)
}

fn metric_result_json(result: &MetricResult) -> Value {
    let mut object = Map::new();
    object.insert("name".into(), json!(result.name));
    object.insert("phase".into(), json!(result.phase.as_str()));
    if !result.measurements.is_empty() {
        object.insert(
            "measurements".into(),
            Value::Array(result.measurements.iter().map(measurement_json).collect()),
        );
    }
    put_str(&mut object, "message", &result.message);
    put_count(&mut object, "count", result.count);
    put_count(&mut object, "successful", result.successful);
    put_count(&mut object, "failed", result.failed);
    put_count(&mut object, "inconclusive", result.inconclusive);
    put_count(&mut object, "error", result.error);
    put_count(&mut object, "consecutiveError", result.consecutive_error);
    put_count(
        &mut object,
        "consecutiveSuccess",
        result.consecutive_success,
    );
    put_map(&mut object, "metadata", &result.metadata);
    if result.dry_run {
        object.insert("dryRun".into(), Value::Bool(true));
    }
    Value::Object(object)
}

/// The `status` object as the reference writes it. `dryRunSummary` is always present (`{}`
/// when all zeros), `runSummary` too once the run has been assessed.
pub fn status_json(status: &RunStatus) -> Value {
    let mut object = Map::new();
    if let Some(phase) = status.phase {
        object.insert("phase".into(), json!(phase.as_str()));
    }
    put_str(&mut object, "message", &status.message);
    if !status.metric_results.is_empty() {
        object.insert(
            "metricResults".into(),
            Value::Array(
                status
                    .metric_results
                    .iter()
                    .map(metric_result_json)
                    .collect(),
            ),
        );
    }
    put_time(&mut object, "startedAt", status.started_at);
    put_time(&mut object, "completedAt", status.completed_at);
    if status.phase.is_some() {
        object.insert("runSummary".into(), summary_json(&status.run_summary));
        object.insert(
            "dryRunSummary".into(),
            summary_json(&status.dry_run_summary),
        );
    }
    Value::Object(object)
}

/// The RFC 7386 merge patch that turns `old` into `new`: changed values, `null` for removed
/// keys, nested objects patched key by key, arrays replaced whole. `Null` means no change.
pub fn merge_patch(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (key, old_value) in old {
                match new.get(key) {
                    None => {
                        patch.insert(key.clone(), Value::Null);
                    }
                    Some(new_value) if new_value != old_value => {
                        let nested = merge_patch(old_value, new_value);
                        // Null here means "no difference", which cannot happen for unequal values
                        // unless the new value is itself null.
                        patch.insert(
                            key.clone(),
                            if nested.is_null() {
                                new_value.clone()
                            } else {
                                nested
                            },
                        );
                    }
                    Some(_) => {}
                }
            }
            for (key, new_value) in new {
                if !old.contains_key(key) {
                    patch.insert(key.clone(), new_value.clone());
                }
            }
            if patch.is_empty() {
                Value::Null
            } else {
                Value::Object(patch)
            }
        }
        _ if old == new => Value::Null,
        _ => new.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn spec(value: Value) -> AnalysisRunSpec {
        serde_json::from_value(value).unwrap()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    fn prometheus_metric(name: &str, query: &str) -> Value {
        json!({"name": name, "interval": "1s", "count": "{{args.n}}",
               "successCondition": "result[0] > 0", "failureLimit": 1,
               "provider": {"prometheus": {"address": "http://p:9090", "query": query,
                   "headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}]}}})
    }

    #[test]
    fn spec_becomes_engine_inputs_with_secrets_substituted() {
        let spec = spec(json!({
            "metrics": [prometheus_metric("rate", "up{job=\"{{args.job}}\"}")],
            "args": [{"name": "job", "value": "api"}, {"name": "n", "value": "3"},
                     {"name": "token", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
            "dryRun": [{"metricName": "ra"}],
            "measurementRetention": [{"metricName": ".*", "limit": 4}],
            "terminate": true
        }));
        assert_eq!(
            secret_arguments(&spec),
            [SecretArgument {
                arg: "token".into(),
                secret: "s".into(),
                key: "k".into()
            }]
        );
        let values = BTreeMap::from([("token".to_string(), "t0p".to_string())]);
        let args = run_arguments(&spec, &values);
        let inputs = run_inputs(&spec, &args).unwrap();
        assert!(inputs.terminate);
        assert_eq!(inputs.secrets.mask("Bearer t0p"), "Bearer *****");
        let metric = &inputs.metrics[0];
        assert_eq!(metric.interval, Some(Duration::from_secs(1)));
        assert_eq!(
            (metric.count, metric.failure_limit, metric.dry_run),
            (Some(3), Some(1), true)
        );
        assert_eq!(metric.measurement_retention, Some(4));
        let Provider::Prometheus(config) = &metric.provider else {
            panic!("not prometheus: {:?}", metric.provider)
        };
        assert_eq!(config.query, "up{job=\"api\"}");
        assert_eq!(config.headers[0].value, "Bearer t0p");
    }

    #[test]
    fn spec_errors_carry_the_reference_messages() {
        let base = |metric: Value, args: Value| spec(json!({"metrics": [metric], "args": args}));
        let web = |extra: Value| {
            let mut metric = json!({"name": "w", "provider": {"web": {"url": "http://x"}}});
            metric
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            metric
        };
        let cases = [
            (
                base(
                    prometheus_metric("m", "{{args.missing}}"),
                    json!([{"name": "n", "value": "1"}, {"name": "token", "value": "x"}]),
                ),
                "Unable to resolve metric arguments: failed to resolve {{args.missing}}",
            ),
            (
                base(
                    web(json!({})),
                    json!([{"name": "hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]),
                ),
                "Unable to resolve metric arguments: argument \"hash\" was not supplied",
            ),
            (
                base(web(json!({"interval": "5"})), json!([])),
                "Analysis spec invalid: metrics[0]: invalid interval string: time: missing unit in duration \"5\"",
            ),
            (
                base(web(json!({"initialDelay": "x"})), json!([])),
                "Analysis spec invalid: metrics[0]: invalid startDelay string: time: invalid duration \"x\"",
            ),
            (
                base(
                    json!({"name": "j", "provider": {"job": {"spec": {}}, "web": {}}}),
                    json!([]),
                ),
                "Analysis spec invalid: metrics[0]: multiple providers specified",
            ),
            (
                base(json!({"name": "n"}), json!([])),
                "Analysis spec invalid: metrics[0]: no provider specified",
            ),
            (
                base(
                    json!({"name": "p", "provider": {"prometheus": {"address": "http://p",
                        "authentication": {"oauth2": {"tokenUrl": "http://t", "clientId": "c"}}}}}),
                    json!([]),
                ),
                "Analysis spec invalid: metrics[0]: prometheus authentication.oauth2 is not \
                 implemented by rolltop's in-process analysis",
            ),
            (
                base(
                    json!({"name": "p", "provider": {"prometheus": {
                        "address": "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1",
                        "authentication": {"sigv4": {"region": "eu-west-1"}}}}}),
                    json!([]),
                ),
                "Analysis spec invalid: metrics[0]: prometheus authentication.sigv4 is not \
                 implemented by rolltop's in-process analysis",
            ),
            (
                base(
                    web(json!({"provider": {"web": {"url": "http://x",
                        "authentication": {"oauth2": {"tokenUrl": "http://t"}}}}})),
                    json!([]),
                ),
                "Analysis spec invalid: metrics[0]: web authentication.oauth2 is not \
                 implemented by rolltop's in-process analysis",
            ),
            (
                base(web(json!({"count": 2})), json!([])),
                "Analysis spec invalid: metrics[0]: interval must be specified when count > 1",
            ),
            (
                base(
                    web(json!({})),
                    json!([{"name": "token", "value": "x",
                            "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]),
                ),
                "Unable to resolve metric arguments: arg 'token' has both Value and ValueFrom fields",
            ),
            (
                spec(json!({"metrics": [web(json!({}))], "dryRun": [{"metricName": "*"}]})),
                "Analysis spec invalid: dryRun[0]: Rule didn't match any metric name(s)",
            ),
        ];
        for (spec, expected) in cases {
            let args = run_arguments(&spec, &BTreeMap::new());
            assert_eq!(run_inputs(&spec, &args).unwrap_err(), expected);
        }
    }

    #[test]
    fn job_metrics_keep_their_spec_and_metadata() {
        let spec = spec(
            json!({"metrics": [{"name": "smoke", "successCondition": "ignored",
            "provider": {"job": {"metadata": {"labels": {"team": "{{args.team}}"},
                                              "annotations": {"a": "b"}},
                                 "spec": {"backoffLimit": 0, "template": {"spec": {}}}}}}],
            "args": [{"name": "team", "value": "web"}]}),
        );
        let inputs = run_inputs(&spec, &run_arguments(&spec, &BTreeMap::new())).unwrap();
        let Provider::Job(config) = &inputs.metrics[0].provider else {
            panic!("{:?}", inputs.metrics[0].provider)
        };
        assert_eq!(
            config.labels,
            BTreeMap::from([("team".into(), "web".into())])
        );
        assert_eq!(
            config.annotations,
            BTreeMap::from([("a".into(), "b".into())])
        );
        assert_eq!(
            config.spec,
            json!({"backoffLimit": 0, "template": {"spec": {}}})
        );
    }

    #[test]
    fn an_argument_with_value_and_secret_reads_no_secret() {
        let spec = spec(json!({"metrics": [], "args": [
            {"name": "both", "value": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "only", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}));
        let names: Vec<String> = secret_arguments(&spec).into_iter().map(|a| a.arg).collect();
        assert_eq!(names, ["only"]);
    }

    #[test]
    fn secret_messages_follow_the_reference() {
        let argument = SecretArgument {
            arg: "token".into(),
            secret: "creds".into(),
            key: "api".into(),
        };
        assert_eq!(
            secret_error_message(&argument, false),
            "Unable to resolve metric arguments: secrets \"creds\" not found"
        );
        assert_eq!(
            secret_error_message(&argument, true),
            "Unable to resolve metric arguments: key 'api' does not exist in secret 'creds'"
        );
    }

    fn sample_status() -> RunStatus {
        RunStatus {
            phase: Some(AnalysisPhase::Failed),
            message: "Metric \"m\" assessed Failed due to failed (1) > failureLimit (0)".into(),
            started_at: Some(at(0)),
            completed_at: Some(at(2)),
            metric_results: vec![MetricResult {
                name: "m".into(),
                phase: AnalysisPhase::Failed,
                measurements: vec![Measurement {
                    phase: AnalysisPhase::Failed,
                    started_at: Some(at(1)),
                    finished_at: Some(at(1)),
                    value: "[0.97]".into(),
                    ..Measurement::default()
                }],
                count: 1,
                failed: 1,
                metadata: BTreeMap::from([(
                    "ResolvedPrometheusQuery".to_string(),
                    "up".to_string(),
                )]),
                ..MetricResult::default()
            }],
            run_summary: RunSummary {
                count: 1,
                failed: 1,
                ..RunSummary::default()
            },
            dry_run_summary: RunSummary::default(),
        }
    }

    #[test]
    fn status_json_follows_go_omitempty_and_reads_back() {
        let status = sample_status();
        let written = status_json(&status);
        assert_eq!(
            written,
            json!({
                "phase": "Failed",
                "message": "Metric \"m\" assessed Failed due to failed (1) > failureLimit (0)",
                "metricResults": [{
                    "name": "m", "phase": "Failed",
                    "measurements": [{"phase": "Failed", "startedAt": "2023-11-14T22:13:21Z",
                                      "finishedAt": "2023-11-14T22:13:21Z", "value": "[0.97]"}],
                    "count": 1, "failed": 1,
                    "metadata": {"ResolvedPrometheusQuery": "up"}
                }],
                "startedAt": "2023-11-14T22:13:20Z",
                "completedAt": "2023-11-14T22:13:22Z",
                "runSummary": {"count": 1, "failed": 1},
                "dryRunSummary": {}
            })
        );
        let typed: AnalysisRunStatus = serde_json::from_value(written).unwrap();
        assert_eq!(run_status(Some(&typed)), status);
        assert_eq!(run_status(None), RunStatus::default());
        assert_eq!(status_json(&RunStatus::default()), json!({}));
    }

    #[test]
    fn ttl_picks_the_phase_specific_limit() {
        let completed = |phase| RunStatus {
            phase: Some(phase),
            completed_at: Some(at(100)),
            ..RunStatus::default()
        };
        let with_ttl = |ttl: Value| spec(json!({"metrics": [], "ttlStrategy": ttl}));
        let both = with_ttl(json!({"secondsAfterCompletion": 60, "secondsAfterSuccess": 5}));
        let cases = [
            (&both, AnalysisPhase::Successful, Some(at(106))),
            (&both, AnalysisPhase::Error, Some(at(161))),
            (&both, AnalysisPhase::Failed, Some(at(161))),
            (
                &with_ttl(json!({"secondsAfterFailure": 0})),
                AnalysisPhase::Failed,
                Some(at(101)),
            ),
            (
                &with_ttl(json!({"secondsAfterFailure": 0})),
                AnalysisPhase::Successful,
                None,
            ),
            (
                &spec(json!({"metrics": []})),
                AnalysisPhase::Successful,
                None,
            ),
        ];
        for (spec, phase, expected) in cases {
            assert_eq!(ttl_deadline(spec, &completed(phase)), expected, "{phase}");
        }
        let running = RunStatus {
            phase: Some(AnalysisPhase::Running),
            ..completed(AnalysisPhase::Running)
        };
        assert_eq!(ttl_deadline(&both, &running), None);
    }

    #[test]
    fn merge_patch_sets_changes_and_nulls_removals() {
        let cases = [
            (json!({}), json!({"a": 1}), json!({"a": 1})),
            (json!({"a": 1, "b": 2}), json!({"a": 1}), json!({"b": null})),
            (
                json!({"s": {"x": 1, "y": 2}}),
                json!({"s": {"x": 3}}),
                json!({"s": {"x": 3, "y": null}}),
            ),
            (json!({"l": [1, 2]}), json!({"l": [1]}), json!({"l": [1]})),
            (json!({"a": 1}), json!({"a": 1}), Value::Null),
        ];
        for (old, new, expected) in cases {
            let patch = merge_patch(&old, &new);
            assert_eq!(patch, expected, "{old} -> {new}");
            let mut applied = old.clone();
            json_patch::merge(&mut applied, &patch);
            if !patch.is_null() {
                assert_eq!(applied, new);
            }
        }
    }
}
