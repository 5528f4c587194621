//! The Prometheus metric provider: an instant query made the way the reference's client makes it
//! (`POST <address>/api/v1/query`, form body `query` and `time`, `GET` retry on 405/501, the
//! metric's headers and basic auth, a whole-request timeout), the conversion of the JSON answer
//! into the condition `result` and the measurement `value` string, and `query_range` for the
//! cockpit's sparklines. Parsing and formatting are pure; `instant_query`, `query_range` and
//! `measure` do the HTTP. Every failure is an Error measurement with a message that names the
//! address and what went wrong; nothing here panics on a server's answer.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value as Json;
use thiserror::Error;

use super::condition::{MetricValue, evaluate_conditions};
use super::duration::{parse_go_duration, parse_go_duration_std};
use super::{
    AnalysisPhase, Header, Measurement, MetricDefinition, Secrets, error_chain, error_measurement,
    mask_measurement,
};

/// `timeout` when the metric sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// TCP connect bound, as the reference's dialer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Where the reference looks when `address` is empty.
pub const ADDRESS_ENV: &str = "ARGO_ROLLOUTS_PROMETHEUS_ADDRESS";
/// Metric-result metadata key holding the query after argument substitution.
pub const RESOLVED_QUERY_KEY: &str = "ResolvedPrometheusQuery";

/// `provider.prometheus`, parsed. OAuth2 and SigV4 are not supported in process yet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrometheusMetric {
    /// Empty means `ARGO_ROLLOUTS_PROMETHEUS_ADDRESS`.
    pub address: String,
    pub query: String,
    /// Whole seconds; `None` means 30, negative is a configuration error.
    pub timeout_seconds: Option<i64>,
    pub insecure: bool,
    pub headers: Vec<Header>,
    pub basic_auth: Option<BasicAuth>,
    /// `rangeQuery`: query `/api/v1/query_range` instead of an instant query.
    pub range_query: Option<RangeQuery>,
}

/// `rangeQuery{start, end, step}` as written: `start`/`end` are time expressions, `step` a Go
/// duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeQuery {
    pub start: String,
    pub end: String,
    pub step: String,
}

/// Evaluates a `rangeQuery` time expression. The reference evaluates these with expr's time
/// functions; rolltop supports the forms the reference documents for analysis, `now()` and
/// `now() - duration("…")` / `now() + duration("…")`, without expr-lang's `temporal` feature.
pub fn evaluate_time_expression(
    expression: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    let compact: String = expression.chars().filter(|c| !c.is_whitespace()).collect();
    if compact == "now()" {
        return Ok(now);
    }
    let unsupported = || {
        format!(
            "unsupported time expression {expression:?}: rolltop evaluates now(), \
             now() - duration(\"…\") and now() + duration(\"…\")"
        )
    };
    let rest = compact.strip_prefix("now()").ok_or_else(unsupported)?;
    let (sign, rest) = match rest.as_bytes().first() {
        Some(b'-') => (-1, &rest[1..]),
        Some(b'+') => (1, &rest[1..]),
        _ => return Err(unsupported()),
    };
    let argument = rest
        .strip_prefix("duration(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(unsupported)?;
    let text = argument
        .strip_prefix('"')
        .and_then(|a| a.strip_suffix('"'))
        .or_else(|| {
            argument
                .strip_prefix('\'')
                .and_then(|a| a.strip_suffix('\''))
        })
        .ok_or_else(unsupported)?;
    let delta = parse_go_duration(text)?;
    let time = if sign < 0 {
        now.checked_sub_signed(delta)
    } else {
        now.checked_add_signed(delta)
    };
    time.ok_or_else(|| format!("time out of range: {expression:?}"))
}

/// The resolved range of a `rangeQuery`, or the reference's message for a bad field.
pub fn resolve_range(
    range: &RangeQuery,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, Duration), String> {
    let start = evaluate_time_expression(&range.start, now)
        .map_err(|e| format!("failed to parse rangeQuery.start as time: {e}"))?;
    let end = evaluate_time_expression(&range.end, now)
        .map_err(|e| format!("failed to parse rangeQuery.end as time: {e}"))?;
    let step = parse_go_duration_std(&range.step)
        .map_err(|e| format!("failed to parse rangeQuery.step as duration: {e}"))?;
    Ok((start, end, step))
}

/// `authentication.basicAuth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

/// The reference requires both halves of `basicAuth`; the message names the missing one.
pub fn basic_auth_error(auth: &BasicAuth) -> Option<&'static str> {
    if auth.username.is_empty() {
        Some("missing mandatory parameter in metric for basic auth setup: username")
    } else if auth.password.is_empty() {
        Some("missing mandatory parameter in metric for basic auth setup: password")
    } else {
        None
    }
}

/// A Prometheus query failed; the text becomes the Error measurement's message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PrometheusQueryError {
    #[error("{0}")]
    Config(String),
    #[error("{method} \"{url}\": {detail}")]
    Transport {
        method: &'static str,
        url: String,
        detail: String,
    },
    #[error(
        "{method} \"{url}\": context deadline exceeded (Prometheus did not answer within {}s)",
        timeout.as_secs_f64()
    )]
    Timeout {
        method: &'static str,
        url: String,
        timeout: Duration,
    },
    /// `status: error` from the API: `<errorType>: <error>` as the Go client prints it.
    #[error("{error_type}: {error}")]
    Api { error_type: String, error: String },
    /// A non-2xx answer that is not a Prometheus error envelope.
    #[error("{kind} error: {status}{}", body_excerpt(body))]
    Http {
        kind: &'static str,
        status: u16,
        body: String,
    },
    #[error(
        "malformed Prometheus response (HTTP {status}): {detail}{}",
        body_excerpt(body)
    )]
    Malformed {
        status: u16,
        detail: String,
        body: String,
    },
    #[error("Prometheus metric type not supported")]
    UnsupportedType,
}

fn body_excerpt(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return String::new();
    }
    let excerpt: String = body.chars().take(200).collect();
    let more = if body.chars().count() > 200 {
        "…"
    } else {
        ""
    };
    format!(" (body: {excerpt}{more})")
}

/// The `data` of a successful answer.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryData {
    Scalar(f64),
    /// One sample per series; the labels are kept for the cockpit, dropped for conditions.
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
    String(String),
}

/// One instant-vector element.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub timestamp: f64,
    pub value: f64,
}

/// One range-vector series: `(unix seconds, value)` points in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(f64, f64)>,
}

/// A successful answer with its warnings.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResponse {
    pub data: QueryData,
    pub warnings: Vec<String>,
}

/// Parses a Prometheus HTTP API answer (any status code) into data or a typed error. Pure.
pub fn parse_response(status: u16, body: &str) -> Result<QueryResponse, PrometheusQueryError> {
    let envelope: Result<Json, _> = serde_json::from_str(body);
    let envelope = match envelope {
        Ok(Json::Object(map)) => map,
        Ok(_) | Err(_) if !(200..300).contains(&status) => {
            return Err(PrometheusQueryError::Http {
                kind: if status < 500 { "client" } else { "server" },
                status,
                body: body.to_string(),
            });
        }
        Ok(_) => return Err(malformed(status, "the answer is not a JSON object", body)),
        Err(error) => return Err(malformed(status, &error.to_string(), body)),
    };
    match envelope.get("status").and_then(Json::as_str) {
        Some("success") => {}
        Some("error") => {
            return Err(PrometheusQueryError::Api {
                error_type: text_field(&envelope, "errorType")
                    .unwrap_or("error")
                    .to_string(),
                error: text_field(&envelope, "error").unwrap_or("").to_string(),
            });
        }
        _ => return Err(malformed(status, "missing \"status\"", body)),
    }
    let warnings = envelope
        .get("warnings")
        .and_then(Json::as_array)
        .map(|w| {
            w.iter()
                .filter_map(Json::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let data = envelope
        .get("data")
        .ok_or_else(|| malformed(status, "missing \"data\"", body))?;
    let result = data.get("result").unwrap_or(&Json::Null);
    let data = match data.get("resultType").and_then(Json::as_str) {
        Some("scalar") => QueryData::Scalar(
            parse_pair(result)
                .map(|(_, v)| v)
                .ok_or_else(|| malformed(status, "bad scalar", body))?,
        ),
        Some("string") => QueryData::String(
            result
                .get(1)
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
        ),
        Some("vector") => QueryData::Vector(
            result
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|item| {
                    let (timestamp, value) = parse_pair(item.get("value")?)?;
                    Some(Sample {
                        labels: parse_labels(item.get("metric")),
                        timestamp,
                        value,
                    })
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| malformed(status, "bad vector sample", body))?,
        ),
        Some("matrix") => QueryData::Matrix(
            result
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|item| {
                    let points = item
                        .get("values")?
                        .as_array()?
                        .iter()
                        .map(parse_pair)
                        .collect::<Option<Vec<_>>>()?;
                    Some(Series {
                        labels: parse_labels(item.get("metric")),
                        points,
                    })
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| malformed(status, "bad matrix series", body))?,
        ),
        _ => return Err(PrometheusQueryError::UnsupportedType),
    };
    Ok(QueryResponse { data, warnings })
}

fn malformed(status: u16, detail: &str, body: &str) -> PrometheusQueryError {
    PrometheusQueryError::Malformed {
        status,
        detail: detail.to_string(),
        body: body.to_string(),
    }
}

fn text_field<'a>(map: &'a serde_json::Map<String, Json>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Json::as_str)
}

/// `[<unix seconds>, "<value>"]`; values are strings so that `NaN` and `±Inf` survive JSON.
fn parse_pair(pair: &Json) -> Option<(f64, f64)> {
    let timestamp = pair.get(0)?.as_f64()?;
    let value = parse_sample_value(pair.get(1)?.as_str()?)?;
    Some((timestamp, value))
}

/// Prometheus sample text: Go float syntax plus `NaN`, `+Inf`, `-Inf`.
pub fn parse_sample_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

fn parse_labels(metric: Option<&Json>) -> BTreeMap<String, String> {
    metric
        .and_then(Json::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The condition `result` and the measurement `value` for an answer (§3.2): scalar → float,
/// vector → list, matrix → flattened list, anything else unsupported.
pub fn to_result(data: &QueryData) -> Result<(MetricValue, String), PrometheusQueryError> {
    match data {
        QueryData::Scalar(value) => Ok((MetricValue::Float(*value), format_float(*value))),
        QueryData::Vector(samples) => {
            let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
            let text = format_floats(&values);
            Ok((MetricValue::Floats(values), text))
        }
        QueryData::Matrix(series) => {
            let values: Vec<f64> = series
                .iter()
                .flat_map(|s| s.points.iter().map(|(_, v)| *v))
                .collect();
            let text = format_floats(&values);
            Ok((MetricValue::Floats(values), text))
        }
        QueryData::String(_) => Err(PrometheusQueryError::UnsupportedType),
    }
}

/// A float as Go's `strconv.FormatFloat(f, 'f', -1, 64)` prints it: shortest round-trip
/// digits, never an exponent, and `NaN` / `+Inf` / `-Inf`.
pub fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value == f64::INFINITY {
        "+Inf".to_string()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        // Rust's Display is already shortest round-trip without exponent.
        value.to_string()
    }
}

/// `[v1,v2,...]`, comma-separated with no spaces; `[]` when empty.
pub fn format_floats(values: &[f64]) -> String {
    let inner: Vec<String> = values.iter().map(|v| format_float(*v)).collect();
    format!("[{}]", inner.join(","))
}

/// The metric-result metadata: the query after argument substitution, secrets masked.
pub fn metadata(config: &PrometheusMetric, secrets: &Secrets) -> BTreeMap<String, String> {
    BTreeMap::from([(RESOLVED_QUERY_KEY.to_string(), secrets.mask(&config.query))])
}

/// Builds an HTTP client for the providers. Installs the ring crypto provider first
/// (idempotent): reqwest is built without one, see `notes/test-infra.md`.
pub fn build_client(insecure: bool) -> Result<reqwest::Client, PrometheusQueryError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .tls_danger_accept_invalid_certs(insecure)
        .build()
        .map_err(|error| PrometheusQueryError::Config(format!("cannot build HTTP client: {error}")))
}

/// The process-wide client for `insecure` (built once: building one loads the platform's root
/// certificates and costs tens of milliseconds, about as much as a query). Timeouts are set per
/// request, so one client serves every metric. It keeps no idle connections: a pooled
/// connection belongs to the tokio runtime that opened it and fails once that runtime is gone
/// (each test, CLI command or cockpit may run its own), and measurements are an interval apart,
/// so reuse would save little.
pub fn shared_client(insecure: bool) -> Result<reqwest::Client, PrometheusQueryError> {
    static SECURE: OnceLock<reqwest::Client> = OnceLock::new();
    static INSECURE: OnceLock<reqwest::Client> = OnceLock::new();
    let cell = if insecure { &INSECURE } else { &SECURE };
    if let Some(client) = cell.get() {
        return Ok(client.clone());
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .tls_danger_accept_invalid_certs(insecure)
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|error| {
            PrometheusQueryError::Config(format!("cannot build HTTP client: {error}"))
        })?;
    Ok(cell.get_or_init(|| client).clone())
}

/// The address to query: the metric's, else the environment's, validated as the reference does.
pub fn resolve_address(configured: &str) -> Result<reqwest::Url, PrometheusQueryError> {
    let address = if configured.is_empty() {
        std::env::var(ADDRESS_ENV).unwrap_or_default()
    } else {
        configured.to_string()
    };
    if address.is_empty() {
        return Err(PrometheusQueryError::Config(
            "prometheus address is not configured".to_string(),
        ));
    }
    match reqwest::Url::parse(&address) {
        Ok(url) if url.has_host() && !url.scheme().is_empty() => Ok(url),
        // The reference's wording, typo included, so that searches for it find rolltop too.
        _ => Err(PrometheusQueryError::Config(
            "prometheus address is not is url format".to_string(),
        )),
    }
}

fn timeout_of(config: &PrometheusMetric) -> Result<Duration, PrometheusQueryError> {
    match config.timeout_seconds {
        None | Some(0) => Ok(DEFAULT_TIMEOUT),
        Some(seconds) if seconds < 0 => Err(PrometheusQueryError::Config(
            "prometheus timeout should not be negative".to_string(),
        )),
        Some(seconds) => Ok(Duration::from_secs(seconds.unsigned_abs())),
    }
}

/// Form-encoding: everything but unreserved characters is percent-encoded.
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode_form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, FORM),
                utf8_percent_encode(v, FORM)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Unix seconds with a nanosecond fraction, as the Go client sends `time`.
pub fn format_unix_time(time: DateTime<Utc>) -> String {
    format!("{}.{:09}", time.timestamp(), time.timestamp_subsec_nanos())
}

/// Everything one API call needs besides the endpoint parameters.
#[derive(Debug, Clone)]
pub struct Endpoint<'a> {
    pub client: &'a reqwest::Client,
    pub address: &'a reqwest::Url,
    pub timeout: Duration,
    pub headers: &'a [Header],
    pub basic_auth: Option<&'a BasicAuth>,
}

/// `POST <address>/api/v1/<api>` with a form body, retried as `GET` on 405/501.
async fn call(
    endpoint: &Endpoint<'_>,
    api: &str,
    params: &[(&str, &str)],
) -> Result<QueryResponse, PrometheusQueryError> {
    let base = endpoint.address.as_str().trim_end_matches('/');
    let url = format!("{base}/api/v1/{api}");
    let form = encode_form(params);
    let (status, body) = send(endpoint, reqwest::Method::POST, &url, &form).await?;
    let (status, body) = if status == 405 || status == 501 {
        send(endpoint, reqwest::Method::GET, &format!("{url}?{form}"), "").await?
    } else {
        (status, body)
    };
    parse_response(status, &body)
}

async fn send(
    endpoint: &Endpoint<'_>,
    method: reqwest::Method,
    url: &str,
    form: &str,
) -> Result<(u16, String), PrometheusQueryError> {
    let verb = if method == reqwest::Method::POST {
        "Post"
    } else {
        "Get"
    };
    let mut request = endpoint
        .client
        .request(method.clone(), url)
        .timeout(endpoint.timeout);
    if method == reqwest::Method::POST {
        request = request
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form.to_string());
    }
    if let Some(auth) = endpoint.basic_auth {
        request = request.basic_auth(&auth.username, Some(&auth.password));
    }
    let mut headers = reqwest::header::HeaderMap::new();
    for header in endpoint.headers {
        let name = reqwest::header::HeaderName::from_bytes(header.key.as_bytes());
        let value = reqwest::header::HeaderValue::from_str(&header.value);
        match (name, value) {
            (Ok(name), Ok(value)) => {
                headers.insert(name, value);
            }
            _ => {
                return Err(PrometheusQueryError::Config(format!(
                    "invalid header {:?}",
                    header.key
                )));
            }
        }
    }
    let transport = |error: reqwest::Error| {
        if error.is_timeout() {
            PrometheusQueryError::Timeout {
                method: verb,
                url: url.to_string(),
                timeout: endpoint.timeout,
            }
        } else {
            PrometheusQueryError::Transport {
                method: verb,
                url: url.to_string(),
                detail: error_chain(&error),
            }
        }
    };
    let response = request.headers(headers).send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(transport)?;
    Ok((status, body))
}

/// An instant query at `time`.
pub async fn instant_query(
    endpoint: &Endpoint<'_>,
    query: &str,
    time: DateTime<Utc>,
) -> Result<QueryResponse, PrometheusQueryError> {
    let time = format_unix_time(time);
    call(endpoint, "query", &[("query", query), ("time", &time)]).await
}

/// A range query on an endpoint (`POST /api/v1/query_range`, GET fallback).
pub async fn range_query(
    endpoint: &Endpoint<'_>,
    query: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    step: Duration,
) -> Result<QueryResponse, PrometheusQueryError> {
    let start = format_unix_time(start);
    let end = format_unix_time(end);
    let step = format!("{}", step.as_secs_f64());
    call(
        endpoint,
        "query_range",
        &[
            ("query", query),
            ("start", &start),
            ("end", &end),
            ("step", &step),
        ],
    )
    .await
}

/// A range query for sparklines: every series with its points.
pub async fn query_range(
    address: &str,
    query: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    step: Duration,
) -> Result<Vec<Series>, PrometheusQueryError> {
    let client = shared_client(false)?;
    let address = resolve_address(address)?;
    let endpoint = Endpoint {
        client: &client,
        address: &address,
        timeout: DEFAULT_TIMEOUT,
        headers: &[],
        basic_auth: None,
    };
    match range_query(&endpoint, query, start, end, step).await?.data {
        QueryData::Matrix(series) => Ok(series),
        _ => Err(PrometheusQueryError::UnsupportedType),
    }
}

/// Takes one measurement: query now, evaluate the conditions, and build the measurement.
pub async fn measure(
    metric: &MetricDefinition,
    config: &PrometheusMetric,
    secrets: &Secrets,
) -> Measurement {
    let client = match shared_client(config.insecure) {
        Ok(client) => client,
        Err(error) => return error_measurement(Utc::now(), &error.to_string(), secrets),
    };
    measure_with(&client, metric, config, secrets).await
}

/// [`measure`] with a caller-owned client.
pub async fn measure_with(
    client: &reqwest::Client,
    metric: &MetricDefinition,
    config: &PrometheusMetric,
    secrets: &Secrets,
) -> Measurement {
    let started = Utc::now();
    if let Some(message) = config.basic_auth.as_ref().and_then(basic_auth_error) {
        return error_measurement(started, message, secrets);
    }
    let prepared = resolve_address(&config.address).and_then(|a| Ok((a, timeout_of(config)?)));
    let (address, timeout) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => return error_measurement(started, &error.to_string(), secrets),
    };
    let endpoint = Endpoint {
        client,
        address: &address,
        timeout,
        headers: &config.headers,
        basic_auth: config.basic_auth.as_ref(),
    };
    let answer = match &config.range_query {
        None => instant_query(&endpoint, &config.query, started).await,
        Some(range) => match resolve_range(range, started) {
            Ok((start, end, step)) => range_query(&endpoint, &config.query, start, end, step).await,
            Err(message) => return error_measurement(started, &message, secrets),
        },
    };
    let mut measurement = match answer.and_then(|response| {
        let (result, value) = to_result(&response.data)?;
        Ok((response, result, value))
    }) {
        Ok((response, result, value)) => {
            let mut measurement = match evaluate_conditions(
                &metric.success_condition,
                &metric.failure_condition,
                &result,
            ) {
                Ok(phase) => Measurement {
                    phase,
                    value,
                    ..Measurement::default()
                },
                // The reference drops the computed value when a condition cannot be evaluated.
                Err(error) => Measurement {
                    phase: AnalysisPhase::Error,
                    message: error.to_string(),
                    ..Measurement::default()
                },
            };
            if !response.warnings.is_empty() {
                let quoted: Vec<String> = response
                    .warnings
                    .iter()
                    .map(|w| format!("\"{w}\""))
                    .collect();
                measurement
                    .metadata
                    .insert("warnings".to_string(), quoted.join(", "));
            }
            measurement
        }
        Err(error) => Measurement {
            phase: AnalysisPhase::Error,
            message: error.to_string(),
            ..Measurement::default()
        },
    };
    measurement.started_at = Some(started);
    measurement.finished_at = Some(Utc::now());
    mask_measurement(&mut measurement, secrets);
    measurement
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_needs_both_halves() {
        let auth = |username: &str, password: &str| BasicAuth {
            username: username.into(),
            password: password.into(),
        };
        let cases = [
            (auth("u", "p"), None),
            (
                auth("", "p"),
                Some("missing mandatory parameter in metric for basic auth setup: username"),
            ),
            (
                auth("u", ""),
                Some("missing mandatory parameter in metric for basic auth setup: password"),
            ),
            (
                auth("", ""),
                Some("missing mandatory parameter in metric for basic auth setup: username"),
            ),
        ];
        for (auth, want) in cases {
            assert_eq!(basic_auth_error(&auth), want, "{auth:?}");
        }
    }

    #[test]
    fn value_strings_match_the_reference() {
        assert_eq!(format_float(10.0), "10");
        assert_eq!(format_float(0.95), "0.95");
        assert_eq!(format_float(16.311_243_770_937_153), "16.311243770937153");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_floats(&[10.0, 11.0]), "[10,11]");
        assert_eq!(format_floats(&[]), "[]");
    }

    #[test]
    fn parses_every_result_type() {
        // Shapes recorded from Prometheus 2.42 (notes/test-infra.md §1).
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"http_requests_total","code":"500"},"value":[1795333142.922,"14"]}]}}"#;
        let parsed = parse_response(200, vector).unwrap();
        let (result, value) = to_result(&parsed.data).unwrap();
        assert_eq!(
            (result, value.as_str()),
            (MetricValue::Floats(vec![14.0]), "[14]")
        );

        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1795333143.048,"NaN"]}}"#;
        let (result, value) = to_result(&parse_response(200, scalar).unwrap().data).unwrap();
        assert!(matches!(result, MetricValue::Float(v) if v.is_nan()));
        assert_eq!(value, "NaN");

        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"1"},"values":[[1,"11"],[2,"12"]]},{"metric":{"a":"2"},"values":[[1,"13"],[2,"+Inf"]]}]}}"#;
        let (result, value) = to_result(&parse_response(200, matrix).unwrap().data).unwrap();
        assert_eq!(
            result,
            MetricValue::Floats(vec![11.0, 12.0, 13.0, f64::INFINITY])
        );
        assert_eq!(value, "[11,12,13,+Inf]");

        let string = r#"{"status":"success","data":{"resultType":"string","result":[1795333142.982,"hello"]}}"#;
        let error = to_result(&parse_response(200, string).unwrap().data).unwrap_err();
        assert_eq!(error.to_string(), "Prometheus metric type not supported");

        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        let (result, value) = to_result(&parse_response(200, empty).unwrap().data).unwrap();
        assert_eq!(
            (result, value.as_str()),
            (MetricValue::Floats(vec![]), "[]")
        );

        let warned = r#"{"status":"success","warnings":["warning","warning2"],"data":{"resultType":"scalar","result":[1,"10"]}}"#;
        assert_eq!(
            parse_response(200, warned).unwrap().warnings,
            ["warning", "warning2"]
        );
    }

    #[test]
    fn errors_are_explained() {
        let api = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:6: parse error: unclosed left parenthesis"}"#;
        assert_eq!(
            parse_response(400, api).unwrap_err().to_string(),
            "bad_data: invalid parameter \"query\": 1:6: parse error: unclosed left parenthesis"
        );
        assert_eq!(
            parse_response(500, "upstream exploded")
                .unwrap_err()
                .to_string(),
            "server error: 500 (body: upstream exploded)"
        );
        assert_eq!(
            parse_response(404, "").unwrap_err().to_string(),
            "client error: 404"
        );
        let malformed = parse_response(200, "{\"status\":\"succ")
            .unwrap_err()
            .to_string();
        assert!(
            malformed.starts_with("malformed Prometheus response (HTTP 200): "),
            "{malformed}"
        );
    }

    #[test]
    fn configuration_errors() {
        assert_eq!(
            resolve_address("not a url").unwrap_err().to_string(),
            "prometheus address is not is url format"
        );
        let negative = PrometheusMetric {
            timeout_seconds: Some(-20),
            ..PrometheusMetric::default()
        };
        assert_eq!(
            timeout_of(&negative).unwrap_err().to_string(),
            "prometheus timeout should not be negative"
        );
        assert_eq!(
            timeout_of(&PrometheusMetric::default()).unwrap(),
            DEFAULT_TIMEOUT
        );
    }

    #[test]
    fn form_body_and_time() {
        assert_eq!(
            encode_form(&[("query", "sum(x{code=\"500\"}) / 2"), ("time", "1.5")]),
            "query=sum%28x%7Bcode%3D%22500%22%7D%29%20%2F%202&time=1.5"
        );
        let time = DateTime::from_timestamp(1_723_897_271, 123_456_789).unwrap();
        assert_eq!(format_unix_time(time), "1723897271.123456789");
    }

    #[test]
    fn range_query_fields() {
        let now = DateTime::from_timestamp(1_692_000_000, 0).unwrap();
        let range = |start: &str, end: &str, step: &str| RangeQuery {
            start: start.into(),
            end: end.into(),
            step: step.into(),
        };
        let (start, end, step) =
            resolve_range(&range("now() - duration(\"1h\")", "now()", "1m"), now).unwrap();
        assert_eq!(
            (end - start, end, step),
            (chrono::TimeDelta::hours(1), now, Duration::from_secs(60))
        );
        // P12–P14
        assert_eq!(
            resolve_range(&range("now() - duration(\"??\")", "now()", "1m"), now).unwrap_err(),
            "failed to parse rangeQuery.start as time: time: invalid duration \"??\""
        );
        assert_eq!(
            resolve_range(&range("now()", "now() - duration(\"??\")", "1m"), now).unwrap_err(),
            "failed to parse rangeQuery.end as time: time: invalid duration \"??\""
        );
        assert_eq!(
            resolve_range(&range("now()", "now()", "??"), now).unwrap_err(),
            "failed to parse rangeQuery.step as duration: time: invalid duration \"??\""
        );
        let error = resolve_range(&range("date(\"2023-08-14\")", "now()", "1m"), now).unwrap_err();
        assert!(error.contains("unsupported time expression"), "{error}");
    }

    #[test]
    fn metadata_masks_secrets() {
        let config = PrometheusMetric {
            query: "up{token=\"s3cr3t\"}".into(),
            ..PrometheusMetric::default()
        };
        let metadata = metadata(&config, &Secrets::new(["s3cr3t"]));
        assert_eq!(metadata[RESOLVED_QUERY_KEY], "up{token=\"*****\"}");
    }
}
