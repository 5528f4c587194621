//! Query load of the triage charts: 50 visible charts asking for a refresh every second for ten
//! simulated minutes, through the real refresh schedule (`metrics::budget`), each allowed
//! query sent to the integration tests' real Prometheus. Reports the queries per minute the
//! schedule allowed and the `query_range` answers Prometheus returned for them, and what the same
//! screen would cost without the schedule. Run with
//! `cargo bench --bench triage` (or `cargo test --bench triage` for a debug-build run).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../tests/it/prometheus.rs"]
mod prometheus;

use std::time::{Duration, Instant};

use chrono::Utc;
use rolltop::metrics::budget::{RefreshPolicy, RefreshSchedule};
use rolltop::metrics::{PrometheusClient, Route};

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
    });
}
