//! The traffic simulator's numbers for the outside world, on `--metrics-listen`:
//!
//! - `GET /metrics`: Prometheus text exposition (format 0.0.4) shaped like Istio's telemetry
//!   (`istio_requests_total`, `istio_request_duration_milliseconds` histogram, one series per
//!   reporter `source` and `destination`) and like the example app scraped through a
//!   ServiceMonitor (`http_requests_total{code,namespace,service,pod_template_hash,...}`), so a
//!   real Prometheus answers the field reports' queries unchanged.
//! - `GET /traffic/{namespace}/{service}?window=5m`: the same counts as JSON over a window, for
//!   the web metric provider when no Prometheus is installed.
//!
//! [`exposition`] is pure; [`serve`] is the thin HTTP shell around shared
//! [`TrafficStats`](super::traffic::TrafficStats).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::traffic::{LATENCY_BUCKETS_MS, SeriesKey, SharedStats, TrafficStats};

/// The Content-Type of the Prometheus text format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes a label value as the text format requires (backslash, quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", body.join(","))
}

fn istio_labels<'a>(
    key: &'a SeriesKey,
    reporter: &'a str,
    fqdn: &'a str,
) -> Vec<(&'a str, String)> {
    vec![
        ("reporter", reporter.to_owned()),
        ("source_workload", "traffic-generator".to_owned()),
        ("source_workload_namespace", "rolltop-system".to_owned()),
        ("destination_service", fqdn.to_owned()),
        ("destination_service_name", key.service.clone()),
        ("destination_service_namespace", key.namespace.clone()),
        ("destination_workload", key.workload.clone()),
        ("destination_workload_namespace", key.namespace.clone()),
        ("destination_canonical_revision", key.hash.clone()),
        ("request_protocol", "http".to_owned()),
        ("response_code", key.code.to_string()),
        (
            "response_flags",
            if key.code == 503 && key.hash.is_empty() {
                "UH"
            } else {
                "-"
            }
            .to_owned(),
        ),
    ]
}

fn render(pairs: &[(&str, String)], extra: Option<(&str, &str)>) -> String {
    let mut all: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if let Some(extra) = extra {
        all.push(extra);
    }
    labels(&all)
}

/// Formats a float as Prometheus does (`+Inf`, integral values without a fraction).
fn number(value: f64) -> String {
    if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

/// The whole exposition for the current counters.
pub fn exposition(stats: &TrafficStats) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP istio_requests_total Requests seen by the (simulated) mesh."
    );
    let _ = writeln!(out, "# TYPE istio_requests_total counter");
    for (key, histogram) in &stats.series {
        let fqdn = format!("{}.{}.svc.cluster.local", key.service, key.namespace);
        for reporter in ["source", "destination"] {
            let pairs = istio_labels(key, reporter, &fqdn);
            let _ = writeln!(
                out,
                "istio_requests_total{} {}",
                render(&pairs, None),
                histogram.count
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP istio_request_duration_milliseconds Request duration seen by the (simulated) mesh."
    );
    let _ = writeln!(out, "# TYPE istio_request_duration_milliseconds histogram");
    for (key, histogram) in &stats.series {
        let fqdn = format!("{}.{}.svc.cluster.local", key.service, key.namespace);
        for reporter in ["source", "destination"] {
            let pairs = istio_labels(key, reporter, &fqdn);
            let mut cumulative = 0;
            for (bound, count) in LATENCY_BUCKETS_MS.iter().zip(histogram.buckets.iter()) {
                cumulative += count;
                let le = number(*bound);
                let _ = writeln!(
                    out,
                    "istio_request_duration_milliseconds_bucket{} {cumulative}",
                    render(&pairs, Some(("le", &le)))
                );
            }
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_bucket{} {}",
                render(&pairs, Some(("le", "+Inf"))),
                histogram.count
            );
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_sum{} {}",
                render(&pairs, None),
                number(histogram.sum_ms)
            );
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_count{} {}",
                render(&pairs, None),
                histogram.count
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP http_requests_total Requests served by the example app, per Service it was reached through."
    );
    let _ = writeln!(out, "# TYPE http_requests_total counter");
    for (key, histogram) in &stats.series {
        // The mesh's own 503s never reached an app.
        if key.hash.is_empty() && key.code == 503 {
            continue;
        }
        let code = key.code.to_string();
        let pairs = [
            ("code", code.as_str()),
            ("handler", "found"),
            ("method", "get"),
            ("namespace", key.namespace.as_str()),
            ("service", key.service.as_str()),
            ("pod_template_hash", key.hash.as_str()),
            ("workload", key.workload.as_str()),
        ];
        let _ = writeln!(
            out,
            "http_requests_total{} {}",
            labels(&pairs),
            histogram.count
        );
    }
    out
}

#[derive(serde::Deserialize)]
struct WindowQuery {
    window: Option<String>,
}

fn json_reply(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn metrics(State(stats): State<SharedStats>) -> Response {
    let text = match stats.lock() {
        Ok(stats) => exposition(&stats),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], text).into_response()
}

async fn traffic(
    State(stats): State<SharedStats>,
    Path((namespace, service)): Path<(String, String)>,
    Query(query): Query<WindowQuery>,
) -> Response {
    let window = query.window.unwrap_or_else(|| "5m".to_owned());
    let Ok(duration) = crate::crd::parse_go_duration(&window) else {
        let message =
            serde_json::json!({"error": format!("window {window:?} is not a duration like 5m")});
        return json_reply(StatusCode::BAD_REQUEST, &message);
    };
    let totals = match stats.lock() {
        Ok(stats) => stats.window(&namespace, &service, duration.as_secs_f64()),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let Some(totals) = totals else {
        let message = serde_json::json!({
            "error": format!("no traffic seen for service {namespace}/{service}")
        });
        return json_reply(StatusCode::NOT_FOUND, &message);
    };
    json_reply(StatusCode::OK, &totals)
}

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
#[error("binding the metrics listener {addr}: {source}")]
pub struct ServeMetricsError {
    addr: SocketAddr,
    source: std::io::Error,
}

/// Serves `/metrics` and `/traffic/...` on `addr` (port 0 picks one); returns the bound address
/// and the server task (abort it to stop).
pub async fn serve(
    addr: SocketAddr,
    stats: SharedStats,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), ServeMetricsError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeMetricsError { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServeMetricsError { addr, source })?;
    let app = axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/traffic/{namespace}/{service}", get(traffic))
        .with_state(Arc::clone(&stats));
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::warn!(%error, "metrics exporter stopped");
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sandbox::traffic::{ClusterView, Flow};
    use serde_json::json;

    fn stats() -> TrafficStats {
        let view = ClusterView {
            namespaces: vec![json!({"metadata": {"name": "kubota-test", "annotations": {
                "sandbox.rolltop.dev/http-error-rate": "app:v2=1"}}})],
            services: vec![
                json!({"metadata": {"namespace": "kubota-test", "name": "rollouts-demo-canary"},
                                  "spec": {"selector": {"app": "rollouts-demo"}}}),
            ],
            pods: vec![json!({
                "metadata": {"namespace": "kubota-test", "name": "p",
                             "labels": {"app": "rollouts-demo", "rollouts-pod-template-hash": "abc"},
                             "ownerReferences": [{"name": "rollouts-demo-abc"}]},
                "spec": {"containers": [{"image": "app:v2"}]},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}
            })],
            ..ClusterView::default()
        };
        let flows = vec![Flow {
            namespace: "kubota-test".into(),
            service: "rollouts-demo-canary".into(),
            rps: 4.0,
        }];
        let mut stats = TrafficStats::default();
        stats.advance(&view, &flows, 2.0, 1.0);
        stats
    }

    #[test]
    fn exposition_has_istio_and_example_app_series() {
        let text = exposition(&stats());
        assert!(text.contains("# TYPE istio_requests_total counter\n"));
        assert!(
            text.contains(
                "istio_requests_total{reporter=\"source\",source_workload=\"traffic-generator\",\
             source_workload_namespace=\"rolltop-system\",\
             destination_service=\"rollouts-demo-canary.kubota-test.svc.cluster.local\",\
             destination_service_name=\"rollouts-demo-canary\",\
             destination_service_namespace=\"kubota-test\",\
             destination_workload=\"rollouts-demo-abc\",\
             destination_workload_namespace=\"kubota-test\",\
             destination_canonical_revision=\"abc\",request_protocol=\"http\",\
             response_code=\"500\",response_flags=\"-\"} 8\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "http_requests_total{code=\"500\",handler=\"found\",method=\"get\",\
             namespace=\"kubota-test\",service=\"rollouts-demo-canary\",\
             pod_template_hash=\"abc\",workload=\"rollouts-demo-abc\"} 8\n"
            ),
            "{text}"
        );
        // Histogram: cumulative buckets ending in +Inf == _count.
        let buckets: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.starts_with("istio_request_duration_milliseconds_bucket{reporter=\"source\"")
            })
            .collect();
        assert_eq!(buckets.len(), LATENCY_BUCKETS_MS.len() + 1);
        let values: Vec<u64> = buckets
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
        assert_eq!(*values.last().unwrap(), 8);
        assert!(buckets.last().unwrap().contains("le=\"+Inf\""));
    }

    #[test]
    fn every_sample_line_is_well_formed() {
        let text = exposition(&stats());
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            assert!(series.ends_with('}') && series.contains('{'), "{line}");
        }
    }

    #[test]
    fn label_values_are_escaped_and_numbers_formatted() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(5.0), "5");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(f64::INFINITY), "+Inf");
    }
}
