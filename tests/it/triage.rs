//! Incident triage end to end: the in-process sandbox, the AnalysisRun controller (in this
//! process) measuring a failing canary against a real Prometheus (`prometheus.rs`: one of the
//! test's own scraping a live gauge for the cockpit tests, so the value does not age; the
//! shared backfilled one for the range queries), and the built `rolltop` cockpit
//! (`--readonly`: triage never writes) in a private tmux server. The cockpit reaches Prometheus
//! only through the sandbox's `services/proxy` (a Service and its Endpoints pointing at the
//! loopback Prometheus), as it would over SSH. Screens are polled with generous deadlines;
//! nothing sleeps and asserts.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Endpoints, Service};
use kube::api::{Api, PostParams};
use rolltop::crd::{AnalysisRun, Rollout};
use rolltop::metrics::{PrometheusClient, Route};
use rolltop::sandbox::SandboxConfig;
use serde_json::json;

use crate::prometheus::prometheus;
use crate::sandbox_api::start;
use crate::tmux::Tmux;

const R5_QUERY: &str = r#"delta(http_requests_total{code="500",namespace="kubota-test",service="{{args.service}}"}[5m])"#;

/// A Service `prometheus` (port 9090) in `default` whose Endpoints are the real Prometheus.
pub(crate) async fn expose_prometheus(client: &kube::Client, url: &str) {
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    services
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "prometheus"},
                "spec": {"ports": [{"name": "web", "port": 9090}]}}))
            .unwrap(),
        )
        .await
        .unwrap();
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    endpoints
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "prometheus"},
                "subsets": [{"addresses": [{"ip": "127.0.0.1"}],
                             "ports": [{"name": "web", "port": port}]}]}))
            .unwrap(),
        )
        .await
        .unwrap();
}

/// R5's canary error count as a live gauge: the same labels and the same 16 errors as the
/// backfilled history, but scraped every second, so the value does not age while a long test
/// binary runs (the backfill's `delta` falls below the limit a few minutes after start-up).
const LIVE_QUERY: &str =
    r#"max(rolltop_canary_errors{namespace="kubota-test",service="{{args.service}}"})"#;

async fn canary_errors() -> &'static str {
    "# HELP rolltop_canary_errors Errors of the canary in the last 5 minutes.\n\
     # TYPE rolltop_canary_errors gauge\n\
     rolltop_canary_errors{namespace=\"kubota-test\",service=\"rollouts-demo-canary\"} 16\n"
}

/// A Prometheus of the test's own scraping the live canary gauge as job `rolltop-it` (so
/// `up{job="rolltop-it"}` answers as on the shared one); returns it once a 30-minute range
/// query at 30 s steps has a point, so the first chart is not empty.
pub(crate) async fn live_prometheus() -> crate::prometheus::Prometheus {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = crate::prometheus::serve(
        axum::Router::new().route("/metrics", axum::routing::get(canary_errors)),
    )
    .await;
    let prometheus = tokio::task::spawn_blocking(move || {
        crate::prometheus::start_scraping(exporter, crate::prometheus::SCRAPE_JOB)
    })
    .await
    .unwrap()
    .unwrap();
    let client = PrometheusClient::new(None, None).unwrap();
    let route = Route::Direct(prometheus.url.clone());
    let query = LIVE_QUERY.replace("{{args.service}}", "rollouts-demo-canary");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let end = chrono::Utc::now();
        let start = end - chrono::TimeDelta::minutes(30);
        let answer = prometheus_range(&client, &route, &query, start, end).await;
        if answer.is_ok_and(|points| points > 0) {
            return prometheus;
        }
        assert!(Instant::now() < deadline, "no range point in 90 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn prometheus_range(
    client: &PrometheusClient,
    route: &Route,
    query: &str,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
) -> Result<usize, String> {
    client
        .range(route, query, start, end, Duration::from_secs(30))
        .await
        .map(|series| series.first().map_or(0, |s| s.points.len()))
        .map_err(|e| e.to_string())
}

/// The rollout `checkout` and an AnalysisRun it owns, measuring R5's canary error count.
pub(crate) async fn failing_analysis(client: &kube::Client, prometheus_url: &str) {
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), "default");
    let rollout: Rollout = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {"metadata": {"labels": {"app": "checkout"}},
                         "spec": {"containers": [{"name": "app", "image": "shop/checkout:2.0"}]}},
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}
        }
    }))
    .unwrap();
    let rollout = rollouts
        .create(&PostParams::default(), &rollout)
        .await
        .unwrap();
    let uid = rollout.metadata.uid.clone().unwrap();
    let runs: Api<AnalysisRun> = Api::namespaced(client.clone(), "default");
    let run: AnalysisRun = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": "checkout-6cf78c66c5-2-1", "namespace": "default",
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "name": "checkout", "uid": uid, "controller": true}]},
        "spec": {
            "args": [{"name": "service", "value": "rollouts-demo-canary"}],
            "metrics": [
                {"name": "error-count", "count": 1, "failureLimit": 0,
                 "successCondition": "result[0] <= 5",
                 "provider": {"prometheus": {"address": prometheus_url, "query": LIVE_QUERY}}},
                {"name": "no-such-series", "count": 1, "consecutiveErrorLimit": 0,
                 "successCondition": "result[0] < 1",
                 "provider": {"prometheus": {"address": prometheus_url,
                    "query": "sum(rate(no_such_metric_total[5m])) by (service)"}}},
                {"name": "scrape-up", "count": 1,
                 "successCondition": "result[0] == 1",
                 "provider": {"prometheus": {"address": prometheus_url,
                    "query": "up{job=\"rolltop-it\"}"}}}
            ]
        }
    }))
    .unwrap();
    runs.create(&PostParams::default(), &run).await.unwrap();
}

pub(crate) async fn wait_run_phase(client: &kube::Client, phase: &str) {
    let runs: Api<AnalysisRun> = Api::namespaced(client.clone(), "default");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = runs.get("checkout-6cf78c66c5-2-1").await.unwrap();
        let now = run
            .status
            .as_ref()
            .and_then(|s| s.phase_text.clone())
            .unwrap_or_default();
        if now == phase {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "run phase {now:?}, want {phase}: {:?}",
            run.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_metric_query_value_condition_and_limit_within_three_keys_with_live_chart() {
    let live = live_prometheus().await;
    let prometheus_url = live.url.clone();
    let (sandbox, client) = start(SandboxConfig::default()).await;
    rolltop::crd::install(&client).await.unwrap();
    rolltop::crd::wait_established(&client, Duration::from_secs(30))
        .await
        .unwrap();
    expose_prometheus(&client, &prometheus_url).await;

    // The controller runs the analysis against the real Prometheus; the canary fails.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(rolltop::controller::analysis::reconciler::run(
        client.clone(),
        Some("default".into()),
        async move {
            let _ = stopped.await;
        },
    ));
    failing_analysis(&client, &prometheus_url).await;
    wait_run_phase(&client, "Failed").await;

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, sandbox.kubeconfig_yaml()).unwrap();
    // Charts and re-checks go to the in-cluster name, so through the API service proxy.
    let command = format!(
        "{} --kubeconfig {} --readonly --prometheus http://prometheus.default.svc:9090",
        env!("CARGO_BIN_EXE_rolltop"),
        kubeconfig.display()
    );
    let pane = Tmux::new("rolltop-triage", dir.path());
    pane.start(&[], &command);
    pane.wait_for("the rollout row", |s| s.contains("checkout"))
        .await;

    // Keystroke 1 of at most 3: `t` on the (only, selected) rollout.
    pane.keys(&["t"]);
    let screen = pane
        .wait_for("the failing metric explained", |s| {
            s.contains("AnalysisRun default/checkout-6cf78c66c5-2-1")
                && s.contains("error-count")
                && s.contains("service=\"rollouts-demo-canary\"")
                && s.contains("result[0] <= 5")
                && s.contains("failed 1 > failureLimit 0")
                && s.contains("Failed at")
        })
        .await;
    // Failing first: error-count is listed before the passing scrape-up.
    let failing = screen.find("Failed       error-count").unwrap();
    let errored = screen.find("Error        no-such-series").unwrap();
    let passing = screen.find("scrape-up").unwrap();
    assert!(failing < errored && errored < passing, "{screen}");
    // The measured value is a number above the limit.
    let value_line = screen
        .lines()
        .find(|l| l.starts_with("value"))
        .unwrap()
        .to_owned();
    let value: f64 = value_line
        .split('[')
        .nth(1)
        .and_then(|v| v.split(']').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value in {value_line:?}"));
    assert!(value > 5.0, "{value_line}");

    // The live chart: a range query through services/proxy, drawn from real data.
    let screen = pane
        .wait_for("the live chart", |s| {
            s.contains("live      error-count via API proxy default/prometheus:9090")
                && s.contains("points, min")
        })
        .await;
    assert!(!screen.contains("Prometheus unreachable"), "{screen}");

    // `e`: a dry-run re-check says the retry would fail again (the canary is still bad).
    pane.keys(&["e"]);
    pane.wait_for("the re-check outcome", |s| {
        s.contains("a retry would fail again")
    })
    .await;

    // The unguarded condition that met an empty vector: Error, explained with both guards.
    pane.keys(&["j"]);
    pane.wait_for("the empty-result explanation", |s| {
        s.contains("── no-such-series")
            && s.contains("The query returned no data")
            && s.contains("len(result) > 0 && result[0] < 1")
    })
    .await;

    pane.keys(&["Escape"]);
    pane.wait_for("back on the list", |s| s.contains("NAMESPACE"))
        .await;

    // `:ar` lists the run, Enter opens it again.
    pane.keys(&[":"]);
    pane.keys(&["a"]);
    pane.keys(&["r"]);
    pane.keys(&["Enter"]);
    pane.wait_for("the run list", |s| {
        s.contains("AnalysisRuns (1), failing first")
            && s.contains("default/checkout-6cf78c66c5-2-1")
            && s.contains("error-count: failed 1 > failureLimit 0")
    })
    .await;
    pane.keys(&["Enter"]);
    pane.wait_for("the run from the list", |s| {
        s.contains("AnalysisRun default/checkout-6cf78c66c5-2-1")
            && s.contains("limit     failed 1")
    })
    .await;
    pane.keys(&["Escape"]);
    pane.keys(&["Escape"]);
    pane.wait_for("back on the list", |s| s.contains("NAMESPACE"))
        .await;
    pane.keys(&["q"]);
    let _ = stop.send(());
    controller.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_queries_through_the_service_proxy_match_direct_ones() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let prometheus_url = tokio::task::spawn_blocking(|| prometheus().url.clone())
        .await
        .unwrap();
    let (_sandbox, client) = start(SandboxConfig::default()).await;
    expose_prometheus(&client, &prometheus_url).await;
    let prometheus = PrometheusClient::new(Some(client), None).unwrap();
    let query = R5_QUERY.replace("{{args.service}}", "rollouts-demo-canary");
    let end = chrono::Utc::now();
    let start = end - chrono::TimeDelta::minutes(30);
    let step = Duration::from_secs(30);
    let proxied = Route::ServiceProxy {
        namespace: "default".into(),
        service: "prometheus".into(),
        port: 9090,
    };
    let direct = Route::Direct(prometheus_url.clone());
    let via_proxy = prometheus
        .range(&proxied, &query, start, end, step)
        .await
        .unwrap();
    let via_direct = prometheus
        .range(&direct, &query, start, end, step)
        .await
        .unwrap();
    assert_eq!(via_proxy.len(), 1);
    assert!(via_proxy[0].points.len() > 10, "{via_proxy:?}");
    assert_eq!(via_proxy, via_direct);
    // The bad release's errors are in the window.
    assert!(via_proxy[0].points.iter().any(|(_, v)| *v > 5.0));

    // A service with no endpoints is a clear reason, never a blank chart.
    let missing = Route::ServiceProxy {
        namespace: "default".into(),
        service: "no-such-prometheus".into(),
        port: 9090,
    };
    let error = prometheus
        .range(&missing, &query, start, end, step)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("no-such-prometheus"), "{error}");
    assert!(error.contains("API proxy"), "{error}");

    // An instant query through the proxy answers like the engine expects.
    let data = prometheus
        .instant(&proxied, "up{job=\"rolltop-it\"}", end)
        .await
        .unwrap();
    let (result, _) = rolltop::controller::analysis::prometheus::to_result(&data).unwrap();
    assert_eq!(
        rolltop::controller::analysis::evaluate_conditions("result[0] == 1", "", &result).unwrap(),
        rolltop::controller::analysis::AnalysisPhase::Successful
    );
}
