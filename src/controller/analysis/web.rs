//! The Web metric provider: one HTTP request (method, headers, body or JSON body, timeout), the
//! `jsonPath` selection of the answer (Kubernetes JSONPath braces accepted) and the reference's
//! value string (compact JSON, keys sorted, HTML characters escaped as Go's encoder does).
//! Selection and formatting are pure; `measure` does the request. Failures are Error
//! measurements with the reference's wording where it has one.

use std::time::Duration;

use chrono::Utc;
use jsonpath_rust::JsonPath;
use serde_json::Value as Json;

use super::condition::{MetricValue, evaluate_conditions};
use super::prometheus::shared_client;
use super::{
    AnalysisPhase, Header, Measurement, MetricDefinition, Secrets, error_chain, error_measurement,
    mask_measurement,
};

/// `timeoutSeconds` when unset, zero or negative.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// `jsonPath` when unset: the whole document.
pub const DEFAULT_JSON_PATH: &str = "{$}";

/// `provider.web`, parsed. OAuth2 is not supported in process yet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WebMetric {
    pub url: String,
    pub method: WebMethod,
    pub headers: Vec<Header>,
    pub body: Option<String>,
    pub json_body: Option<Json>,
    pub timeout_seconds: Option<i64>,
    /// Empty means `{$}`.
    pub json_path: String,
    pub insecure: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebMethod {
    #[default]
    Get,
    Post,
    Put,
}

/// Checks the reference's payload rules before any request is made.
fn validate(config: &WebMetric) -> Result<(), String> {
    if config.body.is_some() && config.json_body.is_some() {
        return Err(
            "use either Body or JSONBody; both cannot exists for WebMetric payload".to_string(),
        );
    }
    if (config.body.is_some() || config.json_body.is_some()) && config.method == WebMethod::Get {
        return Err(
            "Body/JSONBody can only be used with POST or PUT WebMetric Method types".to_string(),
        );
    }
    Ok(())
}

/// Turns a Kubernetes-style JSONPath (`{$.a.b}`, `{.a.b}`) into an RFC 9535 path (`$.a.b`).
pub fn normalize_json_path(path: &str) -> String {
    let trimmed = path.trim();
    let inner = trimmed
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(trimmed)
        .trim();
    if inner.is_empty() {
        "$".to_string()
    } else if inner.starts_with('$') {
        inner.to_string()
    } else if inner.starts_with('.') || inner.starts_with('[') {
        format!("${inner}")
    } else {
        format!("$.{inner}")
    }
}

/// Selects the condition `result` and the measurement `value` from a response body (§3.3):
/// the first JSONPath match of a JSON body; the raw text of a body that is not JSON.
///
/// A body that is not JSON while the metric sets its own `jsonPath` is an error here, where the
/// reference silently falls back to the raw text: the path cannot mean anything then, and the
/// fallback turns a broken endpoint into a confusing Failed measurement.
pub fn select(body: &str, json_path: &str) -> Result<(MetricValue, String), String> {
    let parsed: Result<Json, _> = serde_json::from_str(body);
    let custom_path = !json_path.trim().is_empty() && normalize_json_path(json_path) != "$";
    let document = match parsed {
        Ok(document) => document,
        Err(error) if custom_path => {
            let excerpt: String = body.chars().take(120).collect();
            return Err(format!(
                "response body is not JSON ({error}), so jsonPath {json_path} cannot be applied; \
                 body starts with: {excerpt:?}"
            ));
        }
        Err(_) => return Ok((MetricValue::Text(body.to_string()), body.to_string())),
    };
    let path = normalize_json_path(json_path);
    let matches = document
        .query(&path)
        .map_err(|error| format!("Could not find JSONPath in body: {error}"))?;
    let Some(first) = matches.first() else {
        return Err(format!(
            "Could not find JSONPath in body: {json_path} matched nothing"
        ));
    };
    Ok((MetricValue::Json((*first).clone()), go_json(first)))
}

/// Compact JSON as Go's `json.Marshal` writes a decoded value: object keys sorted, integral
/// floats without a fraction, and `<`, `>`, `&` escaped.
pub fn go_json(value: &Json) -> String {
    let text = serde_json::to_string(&canonical(value)).unwrap_or_default();
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn canonical(value: &Json) -> Json {
    match value {
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Json::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&map[k])))
                    .collect(),
            )
        }
        Json::Array(items) => Json::Array(items.iter().map(canonical).collect()),
        Json::Number(n) => match n.as_f64() {
            // Go decodes every number to float64 and prints 1.0 as 1.
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => Json::from(f as i64),
            _ => value.clone(),
        },
        other => other.clone(),
    }
}

/// Takes one measurement: request, select, evaluate.
pub async fn measure(
    metric: &MetricDefinition,
    config: &WebMetric,
    secrets: &Secrets,
) -> Measurement {
    let started = Utc::now();
    let mut measurement = match request(config).await {
        Ok(body) => match select(&body, &config.json_path) {
            Ok((result, value)) => match evaluate_conditions(
                &metric.success_condition,
                &metric.failure_condition,
                &result,
            ) {
                Ok(phase) => Measurement {
                    phase,
                    value,
                    ..Measurement::default()
                },
                Err(error) => Measurement {
                    phase: AnalysisPhase::Error,
                    message: error.to_string(),
                    ..Measurement::default()
                },
            },
            Err(message) => error_measurement(started, &message, secrets),
        },
        Err(message) => error_measurement(started, &message, secrets),
    };
    measurement.started_at = Some(started);
    measurement.finished_at = Some(Utc::now());
    mask_measurement(&mut measurement, secrets);
    measurement
}

async fn request(config: &WebMetric) -> Result<String, String> {
    validate(config)?;
    let client = shared_client(config.insecure).map_err(|error| error.to_string())?;
    let timeout = match config.timeout_seconds {
        Some(seconds) if seconds > 0 => Duration::from_secs(seconds.unsigned_abs()),
        _ => DEFAULT_TIMEOUT,
    };
    let method = match config.method {
        WebMethod::Get => reqwest::Method::GET,
        WebMethod::Post => reqwest::Method::POST,
        WebMethod::Put => reqwest::Method::PUT,
    };
    let verb = match config.method {
        WebMethod::Get => "Get",
        WebMethod::Post => "Post",
        WebMethod::Put => "Put",
    };
    let mut request = client.request(method, &config.url).timeout(timeout);
    if let Some(json) = &config.json_body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_string(json).unwrap_or_default());
    } else if let Some(body) = &config.body {
        request = request.body(body.clone());
    }
    for header in &config.headers {
        request = request.header(header.key.as_str(), header.value.as_str());
    }
    let describe = |error: reqwest::Error| {
        if error.is_timeout() {
            format!(
                "{verb} \"{}\": context deadline exceeded (no answer within {}s)",
                config.url,
                timeout.as_secs()
            )
        } else if error.is_builder() {
            format!("{verb} \"{}\": {error}", config.url)
        } else {
            format!("{verb} \"{}\": {}", config.url, error_chain(&error))
        }
    };
    let response = request.send().await.map_err(describe)?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!(
            "received non 2xx response code: {}",
            status.as_u16()
        ));
    }
    response.text().await.map_err(describe)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_path_forms() {
        assert_eq!(normalize_json_path(""), "$");
        assert_eq!(normalize_json_path("{$}"), "$");
        assert_eq!(
            normalize_json_path("{$.key[0].key2.value}"),
            "$.key[0].key2.value"
        );
        assert_eq!(normalize_json_path("{.key}"), "$.key");
    }

    #[test]
    fn selection_and_values_match_the_reference() {
        let body = r#"{"a": 1, "b": true, "c": [1, 2, 3, 4], "d": null}"#;
        let (_, value) = select(body, "").unwrap();
        assert_eq!(value, r#"{"a":1,"b":true,"c":[1,2,3,4],"d":null}"#); // W1
        let body = r#"{"key": [{"key2": {"value": "1"}}]}"#;
        let (result, value) = select(body, "{$.key[0].key2.value}").unwrap();
        assert_eq!(
            (result, value.as_str()),
            (MetricValue::Json(json!("1")), "\"1\"")
        ); // W3
        let body = r#"{"key":{"num":1.2,"bool":true,"mapfield":{"foo":"bar"}}}"#;
        let (_, value) = select(body, "{$.key}").unwrap();
        assert_eq!(value, r#"{"bool":true,"mapfield":{"foo":"bar"},"num":1.2}"#); // W11
        let (_, value) = select(r#"{"key": [1,2,3,4,5,6]}"#, "{$.key}").unwrap();
        assert_eq!(value, "[1,2,3,4,5,6]"); // W10
        let (_, value) = select(r#"{"v": -1.1, "w": 2.0, "h": "<&>"}"#, "").unwrap();
        assert_eq!(value, r#"{"h":"\u003c\u0026\u003e","v":-1.1,"w":2}"#);
        // W12/W13: a body that is not JSON is the raw text with the default path.
        let (result, value) = select("test: notJson", "").unwrap();
        assert_eq!(
            (result, value.as_str()),
            (MetricValue::Text("test: notJson".into()), "test: notJson")
        );
        let (_, value) = select("", "").unwrap();
        assert_eq!(value, "");
    }

    #[test]
    fn selection_errors_are_explained() {
        let body = r#"{"key": [{"key2": {"value": "true"}}]}"#;
        let error = select(body, "{$.key[0].key2.novalue}").unwrap_err();
        assert!(error.contains("Could not find JSONPath in body"), "{error}"); // W14
        let error = select("<html>502 Bad Gateway</html>", "{$.ratio}").unwrap_err();
        assert!(error.starts_with("response body is not JSON"), "{error}");
        assert!(error.contains("502 Bad Gateway"), "{error}");
    }

    #[test]
    fn payload_rules() {
        let both = WebMetric {
            method: WebMethod::Post,
            body: Some("x".into()),
            json_body: Some(json!({})),
            ..WebMetric::default()
        };
        assert_eq!(
            validate(&both).unwrap_err(),
            "use either Body or JSONBody; both cannot exists for WebMetric payload"
        );
        let get_with_body = WebMetric {
            body: Some("x".into()),
            ..WebMetric::default()
        };
        assert_eq!(
            validate(&get_with_body).unwrap_err(),
            "Body/JSONBody can only be used with POST or PUT WebMetric Method types"
        );
    }
}
