//! The AnalysisRun engine against real servers: the shared Prometheus from `prometheus.rs` for
//! every measured value, and in-process HTTP servers only where a misbehaving server is the
//! point (slow, 500, malformed, POST refused) or for the web provider's JSON endpoint.

use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{any, get, post};
use chrono::Utc;
use rolltop::controller::analysis::prometheus::{
    self as prom, BasicAuth, PrometheusMetric, RangeQuery,
};
use rolltop::controller::analysis::web::{WebMethod, WebMetric};
use rolltop::controller::analysis::{
    AnalysisPhase, Header, Measurement, MetricDefinition, MetricResult, Provider, RunStatus,
    Secrets, apply_assessment, assess_run, measure, provider_metadata, record_measurement,
    run_pass,
};

use crate::prometheus::{
    R4_SUCCESS_RATIO, R5_ERRORS, closed_port, prometheus, require_installed, serve,
};

const R5_SERIES: &str =
    r#"http_requests_total{code="500",namespace="kubota-test",service="rollouts-demo-canary"}"#;
const R5_QUERY: &str = r#"delta(http_requests_total{code="500",namespace="kubota-test",service="rollouts-demo-canary"}[5m])"#;
const R4_QUERY: &str = r#"sum(irate(istio_requests_total{reporter="source",destination_service=~"nginx.default.svc.cluster.local",response_code!~"5.*"}[5m])) / sum(irate(istio_requests_total{reporter="source",destination_service=~"nginx.default.svc.cluster.local"}[5m]))"#;

fn prometheus_metric(name: &str, address: &str, query: &str, success: &str) -> MetricDefinition {
    MetricDefinition {
        name: name.to_string(),
        success_condition: success.to_string(),
        provider: Provider::Prometheus(PrometheusMetric {
            address: address.to_string(),
            query: query.to_string(),
            ..PrometheusMetric::default()
        }),
        ..MetricDefinition::default()
    }
}

fn with_failure(mut metric: MetricDefinition, failure: &str) -> MetricDefinition {
    metric.failure_condition = failure.to_string();
    metric
}

fn with_prometheus(
    mut metric: MetricDefinition,
    edit: impl FnOnce(&mut PrometheusMetric),
) -> MetricDefinition {
    if let Provider::Prometheus(config) = &mut metric.provider {
        edit(config);
    }
    metric
}

/// The single float inside a `[x]` value string.
fn single_value(value: &str) -> f64 {
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap();
    prom::parse_sample_value(inner).unwrap()
}

/// Measures `metric` `times` times through the engine and assesses the run after each.
async fn run_engine(
    metric: &MetricDefinition,
    times: usize,
) -> (MetricResult, rolltop::controller::analysis::RunAssessment) {
    let metrics = [metric.clone()];
    let mut results = vec![MetricResult {
        name: metric.name.clone(),
        metadata: provider_metadata(metric, &Secrets::default()),
        ..MetricResult::default()
    }];
    let mut last = None;
    for _ in 0..times {
        let measurement = measure(metric, &Secrets::default()).await;
        record_measurement(&mut results[0], measurement, Utc::now());
        let run = assess_run(&metrics, &results, false);
        apply_assessment(&metrics, &mut results, &run);
        last = Some(run);
    }
    (results.remove(0), last.unwrap())
}

#[tokio::test]
async fn r5_error_count_fails_with_the_measured_value() {
    let url = &prometheus().url;
    let metric = prometheus_metric("http_error_count", url, R5_QUERY, "result[0] <= 5");
    let (result, run) = run_engine(&metric, 1).await;
    let measurement = &result.measurements[0];
    assert_eq!(measurement.phase, AnalysisPhase::Failed, "{measurement:?}");
    // About 16, as the field report's [16.311243770937153]: delta() extrapolates to the window
    // edges, and the value shrinks as the backfilled history ages (prometheus.rs).
    let measured = single_value(&measurement.value);
    let errors = f64::from(R5_ERRORS);
    assert!(
        measured > errors / 2.0 && measured <= errors * 1.1,
        "{}",
        measurement.value
    );
    assert_eq!(run.phase, AnalysisPhase::Failed);
    assert_eq!(
        run.message,
        "Metric \"http_error_count\" assessed Failed due to failed (1) > failureLimit (0)"
    );
    assert_eq!(result.metadata["ResolvedPrometheusQuery"], R5_QUERY);
}

#[tokio::test]
async fn r4_success_rate_succeeds_with_the_measured_value() {
    let url = &prometheus().url;
    let metric = prometheus_metric("request-success-rate", url, R4_QUERY, "result[0] >= 0.95");
    let measurement = measure(&metric, &Secrets::default()).await;
    assert_eq!(
        measurement.phase,
        AnalysisPhase::Successful,
        "{measurement:?}"
    );
    assert!(
        (single_value(&measurement.value) - R4_SUCCESS_RATIO).abs() < 1e-9,
        "{}",
        measurement.value
    );
    assert!(measurement.message.is_empty());
    let (started, finished) = (
        measurement.started_at.unwrap(),
        measurement.finished_at.unwrap(),
    );
    assert!(started <= finished);
}

#[tokio::test]
async fn scraped_sample_and_scalar_results() {
    let url = &prometheus().url;
    let vector = prometheus_metric(
        "ratio",
        url,
        r#"rolltop_test_gauge{case="ratio"}"#,
        "result[0] == 0.97",
    );
    let measurement = measure(&vector, &Secrets::default()).await;
    assert_eq!(
        (measurement.phase, measurement.value.as_str()),
        (AnalysisPhase::Successful, "[0.97]")
    );
    let scalar = prometheus_metric(
        "scalar",
        url,
        r#"scalar(rolltop_test_gauge{case="ratio"})"#,
        "result > 0.95",
    );
    let measurement = measure(&scalar, &Secrets::default()).await;
    assert_eq!(
        (measurement.phase, measurement.value.as_str()),
        (AnalysisPhase::Successful, "0.97")
    );
}

#[tokio::test]
async fn empty_result_unguarded_is_an_error_that_says_no_data() {
    let url = &prometheus().url;
    let query = r#"sum(rate(http_requests_total{service="does-not-exist"}[5m]))"#;
    let metric = prometheus_metric("empty", url, query, "result[0] >= 0.95");
    let (result, run) = run_engine(&metric, 5).await;
    let measurement = result.measurements.last().unwrap();
    assert_eq!(
        (measurement.phase, measurement.value.as_str()),
        (AnalysisPhase::Error, "")
    );
    assert!(
        measurement.message.starts_with(
            "could not evaluate successCondition \"result[0] >= 0.95\": metric result is nil or empty"
        ),
        "{}",
        measurement.message
    );
    assert!(
        measurement
            .message
            .contains("The query returned no data (empty result)")
    );
    assert!(
        measurement
            .message
            .contains("len(result) > 0 && result[0] >= 0.95")
    );
    // Five errors in a row (> consecutiveErrorLimit 4) error the metric and the run.
    assert_eq!(result.phase, AnalysisPhase::Error);
    assert_eq!(run.phase, AnalysisPhase::Error);
    assert!(run.message.starts_with(
        "Metric \"empty\" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4): \"Error Message: could not evaluate"
    ), "{}", run.message);
}

#[tokio::test]
async fn empty_result_guarded_decides_by_the_guard() {
    let url = &prometheus().url;
    let query = r#"http_requests_total{service="does-not-exist"}"#;
    let passes = prometheus_metric("m", url, query, "len(result) == 0 || result[0] >= 0.95");
    let measurement = measure(&passes, &Secrets::default()).await;
    assert_eq!(
        (measurement.phase, measurement.value.as_str()),
        (AnalysisPhase::Successful, "[]")
    );
    let fails = prometheus_metric("m", url, query, "len(result) > 0 && result[0] >= 0.95");
    let measurement = measure(&fails, &Secrets::default()).await;
    assert_eq!(
        (measurement.phase, measurement.value.as_str()),
        (AnalysisPhase::Failed, "[]")
    );
}

#[tokio::test]
async fn nan_and_inf_values() {
    let url = &prometheus().url;
    let nan = r#"scalar(rolltop_test_gauge{case="nan"})"#;
    let inf = r#"scalar(rolltop_test_gauge{case="inf"})"#;
    let cases = [
        (
            with_failure(
                prometheus_metric("p3", url, nan, "result >= 0.9"),
                "result < 0.9",
            ),
            AnalysisPhase::Inconclusive,
            "NaN",
        ),
        (
            prometheus_metric("p4", url, nan, "result >= 0.9 || isNaN(result)"),
            AnalysisPhase::Successful,
            "NaN",
        ),
        (
            prometheus_metric("p5", url, nan, "result >= 0.9"),
            AnalysisPhase::Failed,
            "NaN",
        ),
        (
            prometheus_metric("p6", url, inf, "result >= 0.9"),
            AnalysisPhase::Successful,
            "+Inf",
        ),
        (
            with_failure(prometheus_metric("p7", url, inf, ""), "isInf(result)"),
            AnalysisPhase::Failed,
            "+Inf",
        ),
        (
            prometheus_metric(
                "v",
                url,
                r#"rolltop_test_gauge{case="nan"}"#,
                "all(result, isNaN(#))",
            ),
            AnalysisPhase::Successful,
            "[NaN]",
        ),
        (
            prometheus_metric(
                "ninf",
                url,
                r#"-rolltop_test_gauge{case="inf"}"#,
                "isInf(result[0])",
            ),
            AnalysisPhase::Successful,
            "[-Inf]",
        ),
    ];
    for (metric, phase, value) in cases {
        let measurement = measure(&metric, &Secrets::default()).await;
        assert_eq!(
            (measurement.phase, measurement.value.as_str()),
            (phase, value),
            "{}: {measurement:?}",
            metric.name
        );
    }
}

#[tokio::test]
async fn unsupported_and_invalid_queries_are_errors() {
    let url = &prometheus().url;
    let string = prometheus_metric("s", url, "\"hello\"", "true");
    let measurement = measure(&string, &Secrets::default()).await;
    assert_eq!(
        (measurement.phase, measurement.message.as_str()),
        (AnalysisPhase::Error, "Prometheus metric type not supported")
    );
    let broken = prometheus_metric("b", url, "sum(rate(x[5m])", "true");
    let measurement = measure(&broken, &Secrets::default()).await;
    assert_eq!(measurement.phase, AnalysisPhase::Error);
    assert!(
        measurement
            .message
            .starts_with("bad_data: invalid parameter \"query\""),
        "{}",
        measurement.message
    );
}

#[tokio::test]
async fn prometheus_down_errors_the_metric_after_the_limit() {
    let address = format!("http://{}", closed_port());
    let metric = prometheus_metric("down", &address, "up", "result[0] == 1");
    let (result, run) = run_engine(&metric, 5).await;
    let measurement = &result.measurements[0];
    assert_eq!(measurement.phase, AnalysisPhase::Error);
    assert!(
        measurement
            .message
            .starts_with(&format!("Post \"{address}/api/v1/query\": ")),
        "{}",
        measurement.message
    );
    assert!(
        measurement.message.contains("Connection refused"),
        "{}",
        measurement.message
    );
    assert_eq!(result.consecutive_error, 5);
    assert_eq!(result.phase, AnalysisPhase::Error);
    assert_eq!(run.phase, AnalysisPhase::Error);
    assert!(
        run.message
            .contains("consecutiveErrors (5) > consecutiveErrorLimit (4)")
    );
}

#[tokio::test]
async fn slow_prometheus_times_out() {
    let app = Router::new().route(
        "/api/v1/query",
        any(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "too late"
        }),
    );
    let address = format!("http://{}", serve(app).await);
    let metric = with_prometheus(prometheus_metric("slow", &address, "up", "true"), |p| {
        p.timeout_seconds = Some(1);
    });
    let started = std::time::Instant::now();
    let measurement = measure(&metric, &Secrets::default()).await;
    assert_eq!(measurement.phase, AnalysisPhase::Error);
    assert!(
        measurement.message.contains("context deadline exceeded"),
        "{}",
        measurement.message
    );
    assert!(
        measurement.message.contains("within 1s"),
        "{}",
        measurement.message
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the timeout must cut the request short"
    );
}

#[tokio::test]
async fn broken_servers_are_explained() {
    let app = Router::new()
        .route(
            "/500/api/v1/query",
            any(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "upstream connect error") }),
        )
        .route(
            "/malformed/api/v1/query",
            any(|| async { "{\"status\":\"success\",\"data\":" }),
        );
    let base = format!("http://{}", serve(app).await);
    let failing = prometheus_metric("m", &format!("{base}/500"), "up", "true");
    let measurement = measure(&failing, &Secrets::default()).await;
    assert_eq!(measurement.phase, AnalysisPhase::Error);
    assert_eq!(
        measurement.message,
        "server error: 500 (body: upstream connect error)"
    );
    let malformed = prometheus_metric("m", &format!("{base}/malformed"), "up", "true");
    let measurement = measure(&malformed, &Secrets::default()).await;
    assert_eq!(measurement.phase, AnalysisPhase::Error);
    assert!(
        measurement
            .message
            .starts_with("malformed Prometheus response (HTTP 200): "),
        "{}",
        measurement.message
    );
}

/// A proxy in front of the real Prometheus that refuses POST (405) and requires a tenant header,
/// like some gateways do: the provider must retry as GET and send the metric's headers.
#[tokio::test]
async fn get_fallback_headers_and_basic_auth_reach_prometheus() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let upstream = prometheus().url.clone();
    let app = Router::new().route(
        "/api/v1/query",
        post(|| async { StatusCode::METHOD_NOT_ALLOWED }).get(
            move |headers: HeaderMap, request: Request| {
                let upstream = upstream.clone();
                async move {
                    if headers.get("x-scope-orgid").and_then(|v| v.to_str().ok())
                        != Some("tenant-a")
                    {
                        return (StatusCode::UNAUTHORIZED, "no tenant".to_string());
                    }
                    // base64("rolltop:pa55"), what basic auth must send.
                    if headers.get("authorization").and_then(|v| v.to_str().ok())
                        != Some("Basic cm9sbHRvcDpwYTU1")
                    {
                        return (StatusCode::FORBIDDEN, "bad credentials".to_string());
                    }
                    let query = request.uri().query().unwrap_or_default().to_string();
                    let body = reqwest::get(format!("{upstream}/api/v1/query?{query}"))
                        .await
                        .unwrap()
                        .text()
                        .await
                        .unwrap();
                    (StatusCode::OK, body)
                }
            },
        ),
    );
    let address = format!("http://{}", serve(app).await);
    let metric = with_prometheus(
        prometheus_metric(
            "gw",
            &address,
            r#"rolltop_test_gauge{case="ratio"}"#,
            "result[0] > 0.9",
        ),
        |p| {
            p.headers = vec![Header {
                key: "X-Scope-OrgID".into(),
                value: "tenant-a".into(),
            }];
            p.basic_auth = Some(BasicAuth {
                username: "rolltop".into(),
                password: "pa55".into(),
            });
        },
    );
    let measurement = measure(&metric, &Secrets::default()).await;
    assert_eq!(
        (measurement.phase, measurement.value.as_str()),
        (AnalysisPhase::Successful, "[0.97]"),
        "{measurement:?}"
    );
    let no_auth = with_prometheus(metric.clone(), |p| p.basic_auth = None);
    let measurement = measure(&no_auth, &Secrets::default()).await;
    assert_eq!(
        measurement.message,
        "client error: 403 (body: bad credentials)"
    );
    let no_header = with_prometheus(metric, |p| p.headers.clear());
    let measurement = measure(&no_header, &Secrets::default()).await;
    assert_eq!(measurement.message, "client error: 401 (body: no tenant)");
}

#[tokio::test]
async fn query_range_returns_series_for_sparklines() {
    let url = &prometheus().url;
    let end = Utc::now();
    let start = end - chrono::TimeDelta::minutes(10);
    let series = prom::query_range(url, R5_SERIES, start, end, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(series.len(), 1);
    let points = &series[0].points;
    assert!(points.len() >= 9, "{points:?}");
    assert!(
        points.windows(2).all(|w| w[0].1 <= w[1].1),
        "a counter never decreases: {points:?}"
    );
    // 16 errors per 5 minutes during the 10 minutes, up to the end of the history.
    let increase = points.last().unwrap().1 - points[0].1;
    let errors = f64::from(R5_ERRORS);
    assert!(
        increase >= errors && increase <= 2.0 * errors + 1e-6,
        "{points:?}"
    );
    assert_eq!(series[0].labels["service"], "rollouts-demo-canary");
}

#[tokio::test]
async fn secrets_never_leak_into_measurements() {
    const SECRET: &str = "hunter2-api-token";
    let secrets = Secrets::new([SECRET]);
    // A server that echoes what it received into its error answer, as many proxies do.
    let app = Router::new().route(
        "/api/v1/query",
        any(|headers: HeaderMap, body: String| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            (
                StatusCode::BAD_GATEWAY,
                format!("rejected {auth} for {body}"),
            )
        }),
    );
    let address = format!("http://{}", serve(app).await);
    let query = format!("up{{token=\"{SECRET}\"}}");
    let metric = with_prometheus(prometheus_metric("secret", &address, &query, "true"), |p| {
        p.headers = vec![Header {
            key: "Authorization".into(),
            value: format!("Bearer {SECRET}"),
        }];
    });
    let measurement = measure(&metric, &secrets).await;
    assert_eq!(measurement.phase, AnalysisPhase::Error);
    assert!(
        measurement.message.contains("rejected Bearer *****"),
        "{}",
        measurement.message
    );
    let metadata = provider_metadata(&metric, &secrets);
    // The web provider puts the URL into transport errors.
    let web = web_metric(
        &format!("http://{}/?token={SECRET}", closed_port()),
        "",
        "true",
    );
    let web_measurement = measure(&web, &secrets).await;
    assert_eq!(web_measurement.phase, AnalysisPhase::Error);
    assert!(
        web_measurement.message.contains("token=*****"),
        "{}",
        web_measurement.message
    );
    let everything = format!("{measurement:?} {metadata:?} {web_measurement:?}");
    assert!(
        !everything.contains(SECRET),
        "a secret leaked: {everything}"
    );
    assert!(everything.contains("*****"));
}

fn web_metric(url: &str, json_path: &str, success: &str) -> MetricDefinition {
    MetricDefinition {
        name: "web".into(),
        success_condition: success.to_string(),
        provider: Provider::Web(WebMetric {
            url: url.to_string(),
            json_path: json_path.to_string(),
            ..WebMetric::default()
        }),
        ..MetricDefinition::default()
    }
}

#[tokio::test]
async fn web_provider_against_a_json_endpoint() {
    let app = Router::new()
        .route("/status", get(|| async {
            serde_json::json!({"key": {"num": 1.2, "bool": true, "mapfield": {"foo": "bar"}}, "list": [1, 2, 3, 4, 5, 6]}).to_string()
        }))
        .route("/echo", post(|body: String| async move { body }))
        .route("/plain", get(|| async { "OK" }))
        .route("/teapot", get(|| async { (StatusCode::IM_A_TEAPOT, "{}") }));
    let base = format!("http://{}", serve(app).await);

    let w11 = web_metric(
        &format!("{base}/status"),
        "{$.key}",
        "result.num > 1.1 && result.bool && result.mapfield.foo == \"bar\"",
    );
    let m = measure(&w11, &Secrets::default()).await;
    assert_eq!(
        (m.phase, m.value.as_str()),
        (
            AnalysisPhase::Successful,
            r#"{"bool":true,"mapfield":{"foo":"bar"},"num":1.2}"#
        ),
        "{m:?}"
    );

    let w10 = web_metric(
        &format!("{base}/status"),
        "{$.list}",
        "any(result, {# > 6})",
    );
    let m = measure(&w10, &Secrets::default()).await;
    assert_eq!(
        (m.phase, m.value.as_str()),
        (AnalysisPhase::Failed, "[1,2,3,4,5,6]")
    );

    let w14 = web_metric(&format!("{base}/status"), "{$.key.novalue}", "true");
    let m = measure(&w14, &Secrets::default()).await;
    assert_eq!(m.phase, AnalysisPhase::Error);
    assert!(
        m.message.contains("Could not find JSONPath in body"),
        "{}",
        m.message
    );

    let mut posted = web_metric(&format!("{base}/echo"), "{$.weight}", "result == 20");
    if let Provider::Web(config) = &mut posted.provider {
        config.method = WebMethod::Post;
        config.json_body = Some(serde_json::json!({"weight": 20}));
    }
    let m = measure(&posted, &Secrets::default()).await;
    assert_eq!(
        (m.phase, m.value.as_str()),
        (AnalysisPhase::Successful, "20"),
        "{m:?}"
    );

    let plain = web_metric(&format!("{base}/plain"), "", "result == 'OK'");
    let m = measure(&plain, &Secrets::default()).await;
    assert_eq!(
        (m.phase, m.value.as_str()),
        (AnalysisPhase::Successful, "OK")
    );

    let plain_with_path = web_metric(&format!("{base}/plain"), "{$.ok}", "true");
    let m = measure(&plain_with_path, &Secrets::default()).await;
    assert_eq!(m.phase, AnalysisPhase::Error);
    assert!(
        m.message.starts_with("response body is not JSON"),
        "{}",
        m.message
    );

    let teapot = web_metric(&format!("{base}/teapot"), "", "true");
    let m = measure(&teapot, &Secrets::default()).await;
    assert_eq!(
        (m.phase, m.message.as_str()),
        (AnalysisPhase::Error, "received non 2xx response code: 418")
    );
}

#[tokio::test]
async fn measurements_carry_times() {
    let url = &prometheus().url;
    let metric = prometheus_metric("t", url, "vector(1)", "result[0] == 1");
    let before = Utc::now();
    let Measurement {
        phase,
        started_at,
        finished_at,
        ..
    } = measure(&metric, &Secrets::default()).await;
    assert_eq!(phase, AnalysisPhase::Successful);
    assert!(started_at.unwrap() >= before && finished_at.unwrap() >= started_at.unwrap());
}

/// Drives `run_pass` like the controller would: again at once after a metric completes badly,
/// otherwise at the next wake-up.
async fn run_to_completion(metrics: &[MetricDefinition], status: &mut RunStatus) -> Vec<String> {
    let mut events = Vec::new();
    for _ in 0..30 {
        let outcome = run_pass(metrics, false, status, &Secrets::default(), Utc::now()).await;
        events.extend(outcome.events.into_iter().map(|e| e.reason));
        if status.is_completed() {
            return events;
        }
        if outcome.rerun_now {
            continue;
        }
        let wake = outcome.next_wake_up.expect("a running run has a wake-up");
        let wait = (wake - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait + Duration::from_millis(20)).await;
    }
    panic!("the run did not complete: {status:?}");
}

#[tokio::test]
async fn r4_run_completes_successfully_after_count_measurements() {
    let url = &prometheus().url;
    let metric = MetricDefinition {
        interval: Some(Duration::from_secs(1)),
        count: Some(3),
        failure_limit: Some(1),
        ..prometheus_metric("request-success-rate", url, R4_QUERY, "result[0] >= 0.95")
    };
    let mut status = RunStatus::default();
    let events = run_to_completion(&[metric], &mut status).await;
    assert_eq!(
        (status.phase, status.message.as_str()),
        (Some(AnalysisPhase::Successful), "")
    );
    let result = &status.metric_results[0];
    assert_eq!((result.count, result.successful), (3, 3));
    assert!(
        result
            .measurements
            .iter()
            .all(|m| (single_value(&m.value) - R4_SUCCESS_RATIO).abs() < 1e-9)
    );
    assert_eq!(result.metadata["ResolvedPrometheusQuery"], R4_QUERY);
    assert_eq!(events, ["MetricSuccessful", "AnalysisRunSuccessful"]);
    assert!(status.completed_at.is_some() && status.started_at <= status.completed_at);
}

#[tokio::test]
async fn r5_run_fails_and_terminates_the_background_metric() {
    let url = &prometheus().url;
    let failing = prometheus_metric("http_error_count", url, R5_QUERY, "result[0] <= 5");
    let background = MetricDefinition {
        interval: Some(Duration::from_secs(300)),
        ..prometheus_metric("request-success-rate", url, R4_QUERY, "result[0] >= 0.95")
    };
    let mut status = RunStatus::default();
    let events = run_to_completion(&[failing, background], &mut status).await;
    assert_eq!(status.phase, Some(AnalysisPhase::Failed));
    assert_eq!(
        status.message,
        "Metric \"http_error_count\" assessed Failed due to failed (1) > failureLimit (0)"
    );
    assert_eq!(status.metric_results[1].phase, AnalysisPhase::Successful);
    assert_eq!(status.run_summary.failed, 1);
    assert_eq!(status.run_summary.successful, 1);
    assert_eq!(
        events,
        ["MetricFailed", "MetricSuccessful", "AnalysisRunFailed"]
    );
}

#[tokio::test]
async fn range_query_metric_flattens_the_matrix() {
    let url = &prometheus().url;
    let metric = with_prometheus(
        prometheus_metric(
            "errors-over-time",
            url,
            R5_SERIES,
            "len(result) == 6 && all(result, # > 0)",
        ),
        |p| {
            p.range_query = Some(RangeQuery {
                start: "now() - duration(\"5m\")".into(),
                end: "now()".into(),
                step: "1m".into(),
            });
        },
    );
    let measurement = measure(&metric, &Secrets::default()).await;
    assert_eq!(
        measurement.phase,
        AnalysisPhase::Successful,
        "{measurement:?}"
    );
    let values: Vec<f64> = measurement.value[1..measurement.value.len() - 1]
        .split(',')
        .map(|v| prom::parse_sample_value(v).unwrap())
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "{}",
        measurement.value
    );
    assert_eq!(
        measurement.value.matches(',').count(),
        5,
        "6 points: 5 minutes at 1m steps, both ends"
    );
    let bad = with_prometheus(metric, |p| {
        if let Some(range) = &mut p.range_query {
            range.step = "??".into();
        }
    });
    let measurement = measure(&bad, &Secrets::default()).await;
    assert_eq!(
        (measurement.phase, measurement.message.as_str()),
        (
            AnalysisPhase::Error,
            "failed to parse rangeQuery.step as duration: time: invalid duration \"??\""
        )
    );
}

/// R5's retry: once the canary stops failing, the same condition sees no new errors. The
/// backfilled errors start 20 minutes before start-up, so the window ending 30 minutes ago is
/// that calm period.
#[tokio::test]
async fn r5_retry_after_recovery_measures_zero_and_succeeds() {
    let url = &prometheus().url;
    let calm = R5_QUERY.replace("[5m])", "[5m] offset 30m)");
    let metric = prometheus_metric("http_error_count", url, &calm, "result[0] <= 5");
    let mut status = RunStatus::default();
    run_to_completion(&[metric], &mut status).await;
    assert_eq!(status.phase, Some(AnalysisPhase::Successful));
    assert_eq!(status.metric_results[0].measurements[0].value, "[0]");
}

/// Without Prometheus the suite must fail and say how to fix it, never skip.
#[test]
fn a_missing_prometheus_is_a_failure_that_names_the_fix() {
    let error = require_installed(&["/nonexistent/prometheus"]).unwrap_err();
    assert!(
        error.contains("/nonexistent/prometheus is missing"),
        "{error}"
    );
    assert!(error.contains("`.ci/run` installs it"), "{error}");
    assert_eq!(require_installed(&["/bin/sh"]), Ok(()));
}

#[tokio::test]
async fn slow_web_endpoint_times_out_and_headers_are_sent() {
    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "{}"
            }),
        )
        .route(
            "/tenant",
            get(|headers: HeaderMap| async move {
                let tenant = headers
                    .get("x-tenant")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none");
                serde_json::json!({ "tenant": tenant }).to_string()
            }),
        );
    let base = format!("http://{}", serve(app).await);
    let mut slow = web_metric(&format!("{base}/slow"), "", "true");
    if let Provider::Web(config) = &mut slow.provider {
        config.timeout_seconds = Some(1);
    }
    let started = std::time::Instant::now();
    let m = measure(&slow, &Secrets::default()).await;
    assert_eq!(m.phase, AnalysisPhase::Error);
    assert!(
        m.message
            .contains("context deadline exceeded (no answer within 1s)"),
        "{}",
        m.message
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    let mut tenant = web_metric(&format!("{base}/tenant"), "{$.tenant}", "result == 'blue'");
    if let Provider::Web(config) = &mut tenant.provider {
        config.headers = vec![Header {
            key: "X-Tenant".into(),
            value: "blue".into(),
        }];
    }
    let m = measure(&tenant, &Secrets::default()).await;
    assert_eq!(
        (m.phase, m.value.as_str()),
        (AnalysisPhase::Successful, "\"blue\""),
        "{m:?}"
    );
}
