//! Analysis throughput against a real Prometheus (the integration tests' harness): raw instant
//! queries per second, full measurements (query + condition + measurement) per second, both
//! sequential and concurrent, pure condition evaluations per second, and the whole engine:
//! 1,000 concurrent AnalysisRuns (`ANALYSIS_BENCH_RUNS`, each `count: 3`, `interval: 1s`)
//! created on an in-process sandbox and measured by the AnalysisRun reconciler until all
//! complete, reporting measurements per second and the query load Prometheus saw (its own
//! `prometheus_http_requests_total` for `/api/v1/query`). Run with `cargo bench --bench
//! analysis` (or build with `cargo build --benches` and run the debug binary for debug numbers);
//! `ANALYSIS_BENCH=runs` runs only the AnalysisRun part.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../tests/it/prometheus.rs"]
mod prometheus;

use std::time::{Duration, Instant};

use chrono::Utc;
use futures::stream::{self, StreamExt};
use rolltop::controller::analysis::prometheus::{
    self as prom, Endpoint, PrometheusMetric, build_client, measure_with, resolve_address,
};
use rolltop::controller::analysis::{
    AnalysisPhase, MetricDefinition, MetricValue, Provider, Secrets, evaluate_conditions,
    reconciler,
};
use rolltop::crd::{AnalysisRun, install, wait_established};
use rolltop::sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

const QUERY: &str = r#"sum(irate(istio_requests_total{response_code!~"5.*"}[5m])) / sum(irate(istio_requests_total[5m]))"#;
const ROUNDS: usize = 300;
const CONCURRENCY: usize = 8;

fn report(what: &str, count: usize, elapsed: Duration) {
    println!(
        "{what:<48} {count:>6} in {:>8.3} s = {:>9.1} /s",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
}

/// How many instant queries Prometheus has answered, from its own `/metrics`.
async fn prometheus_queries(url: &str) -> f64 {
    let text = reqwest::Client::new()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| {
            line.starts_with("prometheus_http_requests_total{")
                && line.contains("handler=\"/api/v1/query\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Creates `runs` AnalysisRuns at once on a fresh sandbox, lets the reconciler measure them
/// all, and reports measurements per second and Prometheus' query rate.
async fn concurrent_runs(url: &str, runs: usize, count: u32) {
    const NAMESPACE: &str = "default";
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = sandbox.client().await.unwrap();
    install(&client).await.unwrap();
    wait_established(&client, Duration::from_secs(30))
        .await
        .unwrap();
    let api: kube::Api<AnalysisRun> = kube::Api::namespaced(client.clone(), NAMESPACE);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reconciler_client = client.clone();
    let reconciler = tokio::spawn(async move {
        reconciler::run(reconciler_client, Some(NAMESPACE.to_string()), async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    let queries_before = prometheus_queries(url).await;
    let started = Instant::now();
    stream::iter(0..runs)
        .map(|i| {
            let api = api.clone();
            let run: AnalysisRun = serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AnalysisRun",
                "metadata": {"name": format!("bench-{i}"), "namespace": NAMESPACE},
                "spec": {"metrics": [{
                    "name": "ratio",
                    "interval": "1s",
                    "count": count,
                    "successCondition": "len(result) > 0 && result[0] >= 0.95",
                    // The exporter's gauge: scraped all along, so the answer never ages out.
                    "provider": {"prometheus": {"address": url,
                                                "query": "rolltop_test_gauge{case=\"ratio\"}"}},
                }]},
            }))
            .unwrap();
            async move {
                api.create(&kube::api::PostParams::default(), &run)
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let created = started.elapsed();
    let (measurements, errors) = loop {
        let list = api.list(&kube::api::ListParams::default()).await.unwrap();
        let mut completed = 0;
        let mut measurements = 0;
        let mut errors = 0;
        for run in &list.items {
            let status = serde_json::to_value(&run.status).unwrap();
            if matches!(
                status["phase"].as_str(),
                Some("Successful" | "Failed" | "Error" | "Inconclusive")
            ) {
                completed += 1;
            }
            for result in status["metricResults"].as_array().into_iter().flatten() {
                measurements += result["count"].as_u64().unwrap_or(0);
                measurements += result["error"].as_u64().unwrap_or(0);
                errors += result["error"].as_u64().unwrap_or(0);
            }
        }
        if completed == runs {
            break (measurements, errors);
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "only {completed} of {runs} runs completed in 30 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let elapsed = started.elapsed();
    let queries = prometheus_queries(url).await - queries_before;
    let _ = stop.send(());
    let _ = reconciler.await;
    println!(
        "{runs} concurrent AnalysisRuns (count {count}, interval 1s): created in {:.1} s, all \
         completed in {:.1} s",
        created.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    report(
        &format!("  measurements ({errors} Error)"),
        usize::try_from(measurements).unwrap_or(usize::MAX),
        elapsed,
    );
    report(
        "  instant queries seen by Prometheus",
        queries as usize,
        elapsed,
    );
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = prometheus::prometheus().url.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let runs: usize = std::env::var("ANALYSIS_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    if std::env::var("ANALYSIS_BENCH").as_deref() == Ok("runs") {
        runtime.block_on(concurrent_runs(&url, runs, 3));
        return;
    }
    let runs_url = url.clone();
    runtime.block_on(async move {
        let client = build_client(false).unwrap();
        let address = resolve_address(&url).unwrap();
        let endpoint = Endpoint {
            client: &client,
            address: &address,
            timeout: Duration::from_secs(30),
            headers: &[],
            basic_auth: None,
        };

        let started = Instant::now();
        for _ in 0..ROUNDS {
            prom::instant_query(&endpoint, QUERY, Utc::now())
                .await
                .unwrap();
        }
        report("instant queries, sequential", ROUNDS, started.elapsed());

        let started = Instant::now();
        let answered = stream::iter(0..ROUNDS)
            .map(|_| prom::instant_query(&endpoint, QUERY, Utc::now()))
            .buffer_unordered(CONCURRENCY)
            .filter(|r| futures::future::ready(r.is_ok()))
            .count()
            .await;
        assert_eq!(answered, ROUNDS);
        report(
            &format!("instant queries, {CONCURRENCY} concurrent"),
            ROUNDS,
            started.elapsed(),
        );

        let metric = MetricDefinition {
            name: "success-rate".into(),
            success_condition: "len(result) > 0 && result[0] >= 0.95".into(),
            provider: Provider::Prometheus(PrometheusMetric {
                address: url.clone(),
                query: QUERY.into(),
                ..PrometheusMetric::default()
            }),
            ..MetricDefinition::default()
        };
        let Provider::Prometheus(config) = &metric.provider else {
            unreachable!()
        };
        let secrets = Secrets::default();

        let started = Instant::now();
        for _ in 0..ROUNDS {
            let m = measure_with(&client, &metric, config, &secrets).await;
            assert_eq!(m.phase, AnalysisPhase::Successful, "{m:?}");
        }
        report(
            "measurements, sequential (pooled client)",
            ROUNDS,
            started.elapsed(),
        );

        let started = Instant::now();
        let successful = stream::iter(0..ROUNDS)
            .map(|_| measure_with(&client, &metric, config, &secrets))
            .buffer_unordered(CONCURRENCY)
            .filter(|m| futures::future::ready(m.phase == AnalysisPhase::Successful))
            .count()
            .await;
        assert_eq!(successful, ROUNDS);
        report(
            &format!("measurements, {CONCURRENCY} concurrent"),
            ROUNDS,
            started.elapsed(),
        );

        let started = Instant::now();
        for _ in 0..ROUNDS {
            let m = prom::measure(&metric, config, &secrets).await;
            assert_eq!(m.phase, AnalysisPhase::Successful);
        }
        report(
            "measurements via measure() (no keep-alive)",
            ROUNDS,
            started.elapsed(),
        );
    });

    let result = MetricValue::Floats(vec![0.99]);
    let evaluations = 20_000;
    let started = Instant::now();
    for _ in 0..evaluations {
        let phase = evaluate_conditions(
            "len(result) > 0 && result[0] >= 0.95",
            "result[0] < 0.5",
            &result,
        );
        assert_eq!(phase, Ok(AnalysisPhase::Successful));
    }
    report(
        "condition pairs evaluated (pure)",
        evaluations,
        started.elapsed(),
    );

    runtime.block_on(concurrent_runs(&runs_url, runs, 3));
}
