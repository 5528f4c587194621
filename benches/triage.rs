//! Query load of the triage charts: 50 visible charts asking for a refresh every second for ten
//! simulated minutes, through the real refresh schedule (`metrics::budget`), each allowed
//! query sent to the integration tests' real Prometheus. Reports the queries per minute the
//! schedule allowed and the `query_range` answers Prometheus returned for them, and what the same
//! screen would cost without the schedule. Run with
//! `cargo bench --bench triage` (or `cargo test --bench triage` for a debug-build run).
//!
//! Second part: the rollout detail view with 50 visible charts, each split into a canary and a
//! stable query (100 queries), built by `model::metric_chart` from 50 templates whose `service`
//! argument is the rollout's canaryService, refreshed through the same schedule for ten
//! simulated minutes. Reports the queries per minute and how old an answer gets at worst.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../tests/it/prometheus.rs"]
mod prometheus;

use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use chrono::Utc;
use rolltop::crd::Rollout;
use rolltop::crd::analysis::AnalysisTemplateSpec;
use rolltop::metrics::budget::{RefreshPolicy, RefreshSchedule};
use rolltop::metrics::{PrometheusClient, Route};
use rolltop::model::metric_chart::{TemplateKey, rollout_charts};
use serde_json::json;

const CHARTS: usize = 50;
const MINUTES: u64 = 10;
const SCREEN_POLL: Duration = Duration::from_secs(1);

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = prometheus::prometheus().url.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let client = PrometheusClient::new(None, None).unwrap();
        let route = Route::Direct(url);
        let charts: Vec<String> = (0..CHARTS)
            .map(|i| format!(r#"sum(rate(http_requests_total{{code="500"}}[5m])) * {}"#, i + 1))
            .collect();
        let mut schedule = RefreshSchedule::new(RefreshPolicy::default());
        let mut answered = 0usize;
        let wall = Instant::now();
        let mut per_minute = vec![0usize; MINUTES as usize];
        let polls = MINUTES * 60 / SCREEN_POLL.as_secs();
        for poll in 0..polls {
            let now = SCREEN_POLL * poll as u32;
            let due = schedule.due(&charts, now);
            per_minute[(now.as_secs() / 60) as usize] += due.len();
            let end = Utc::now();
            let start = end - chrono::TimeDelta::minutes(30);
            let fetches = due.iter().map(|query| {
                client.range(&route, query, start, end, Duration::from_secs(30))
            });
            for answer in futures::future::join_all(fetches).await {
                answer.unwrap();
                answered += 1;
            }
        }
        let elapsed = wall.elapsed();
        let allowed: usize = per_minute.iter().sum();
        let unbounded = CHARTS as u64 * 60 / SCREEN_POLL.as_secs();
        println!("triage charts: {CHARTS} visible, screen polls every {SCREEN_POLL:?}, {MINUTES} simulated minutes");
        println!("  queries allowed per minute: {per_minute:?}");
        println!(
            "  max per minute {} · mean per minute {:.1} · per chart per minute {:.2}",
            per_minute.iter().max().unwrap(),
            allowed as f64 / MINUTES as f64,
            allowed as f64 / MINUTES as f64 / CHARTS as f64
        );
        println!("  query_range answers from Prometheus: {answered} (allowed {allowed})");
        println!("  without the schedule: {unbounded} queries per minute");
        println!("  wall time for the real queries: {:.2} s", elapsed.as_secs_f64());
        detail_view(&client, &route).await;
    });
}

/// 50 templates, one Prometheus metric each, all used by one step whose `service` argument is
/// the canaryService: every chart splits into a canary and a stable query.
fn fifty_split_charts() -> Vec<String> {
    let templates: Vec<serde_json::Value> = (0..CHARTS)
        .map(|i| json!({"templateName": format!("t{i}")}))
        .collect();
    let rollout: Rollout = serde_json::from_value(json!({
        "metadata": {"name": "rollouts-demo", "namespace": "kubota-test"},
        "spec": {"strategy": {"canary": {
            "canaryService": "rollouts-demo-canary", "stableService": "rollouts-demo-stable",
            "steps": [{"analysis": {"templates": templates,
                "args": [{"name": "service", "value": "rollouts-demo-canary"}]}}]}}}
    }))
    .unwrap();
    let specs: BTreeMap<TemplateKey, Result<AnalysisTemplateSpec, String>> = (0..CHARTS)
        .map(|i| {
            let spec: AnalysisTemplateSpec = serde_json::from_value(json!({
                "args": [{"name": "service"}],
                "metrics": [{"name": format!("m{i}"), "provider": {"prometheus": {"query":
                    format!(r#"sum(rate(http_requests_total{{code="500",service="{{{{args.service}}}}"}}[5m])) * {}"#, i + 1)}}}]
            }))
            .unwrap();
            ((false, format!("t{i}")), Ok(spec))
        })
        .collect();
    let charts = rollout_charts(&rollout, &specs);
    assert_eq!(charts.charts.len(), CHARTS);
    charts
        .charts
        .iter()
        .flat_map(|c| {
            assert_eq!(c.queries.len(), 2, "{c:?}");
            c.queries.iter().map(|q| q.query.clone())
        })
        .collect()
}

async fn detail_view(client: &PrometheusClient, route: &Route) {
    let queries = fifty_split_charts();
    let mut schedule = RefreshSchedule::new(RefreshPolicy::default());
    let mut per_minute = vec![0usize; MINUTES as usize];
    let mut last_answer: BTreeMap<&String, Duration> = BTreeMap::new();
    let mut oldest = Duration::ZERO;
    let mut answered = 0usize;
    let polls = MINUTES * 60 / SCREEN_POLL.as_secs();
    for poll in 0..polls {
        let now = SCREEN_POLL * poll as u32;
        let due = schedule.due(&queries, now);
        per_minute[(now.as_secs() / 60) as usize] += due.len();
        let end = Utc::now();
        let start = end - chrono::TimeDelta::minutes(30);
        let fetches = due
            .iter()
            .map(|query| client.range(route, query, start, end, Duration::from_secs(30)));
        for answer in futures::future::join_all(fetches).await {
            answer.unwrap();
            answered += 1;
        }
        for query in &queries {
            if due.contains(query) {
                last_answer.insert(query, now);
            }
            // After the first two minutes every side has been fetched at least once.
            if let Some(at) = last_answer.get(query)
                && now.as_secs() >= 120
            {
                oldest = oldest.max(now.saturating_sub(*at));
            }
        }
    }
    let allowed: usize = per_minute.iter().sum();
    println!(
        "detail charts: {CHARTS} visible, each split canary/stable ({} queries), {MINUTES} simulated minutes",
        queries.len()
    );
    println!("  queries allowed per minute: {per_minute:?}");
    println!(
        "  max per minute {} · mean per minute {:.1} · per chart per minute {:.2}",
        per_minute.iter().max().unwrap(),
        allowed as f64 / MINUTES as f64,
        allowed as f64 / MINUTES as f64 / CHARTS as f64
    );
    println!("  query_range answers from Prometheus: {answered} (allowed {allowed})");
    println!(
        "  oldest answer on screen after the first two minutes: {} s",
        oldest.as_secs()
    );
    println!(
        "  without the schedule: {} queries per minute",
        queries.len() as u64 * 60 / SCREEN_POLL.as_secs()
    );
}
