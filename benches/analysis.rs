//! Analysis throughput against a real Prometheus (the integration tests' harness): raw instant
//! queries per second, full measurements (query + condition + measurement) per second, both
//! sequential and concurrent, and pure condition evaluations per second. Run with
//! `cargo bench --bench analysis` (or `cargo test --bench analysis` for a quick debug-build run).
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
};

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

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = prometheus::prometheus().url.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
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
}
