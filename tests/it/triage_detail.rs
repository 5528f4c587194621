//! The rollout detail view's metric charts and the tree path into triage, end to end: the
//! in-process sandbox, a real Prometheus, and the built `rolltop` cockpit in a private tmux
//! server (`--readonly`). The charts test gives Prometheus an exporter of its own whose canary
//! and stable series differ, so the split of one templated query into two is visible in the
//! drawn bars. The tree test walks list → Enter → select the AnalysisRun line → Enter and reads
//! the failing metric's name, query, value, condition and limit. Screens are polled with
//! generous deadlines; nothing sleeps and asserts.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use kube::api::{Api, PostParams};
use rolltop::crd::{AnalysisTemplate, ClusterAnalysisTemplate};
use rolltop::metrics::{PrometheusClient, Route};
use rolltop::sandbox::SandboxConfig;
use serde_json::json;

use crate::harness::{canary_rollout, cluster, create_rollout};
use crate::prometheus::{serve, start_scraping};
use crate::sandbox_api::start;
use crate::tmux::Tmux;
use crate::triage::{expose_prometheus, failing_analysis, live_prometheus, wait_run_phase};

const JOB: &str = "rolltop-detail-charts";
const QUERY: &str = r#"sum(checkout_errors{service="{{args.service}}"})"#;
const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The canary errs twelve times as much as the stable.
async fn checkout_errors() -> &'static str {
    "# HELP checkout_errors Errors by service.\n\
     # TYPE checkout_errors gauge\n\
     checkout_errors{service=\"checkout-canary\"} 12\n\
     checkout_errors{service=\"checkout-stable\"} 1\n"
}

/// Until a 30-minute range query at 30 s steps has a point for `service` (the first scrape may
/// fall between two steps).
async fn wait_for_range_point(url: &str, service: &str) {
    let client = PrometheusClient::new(None, None).unwrap();
    let route = Route::Direct(url.to_owned());
    let query = QUERY.replace("{{args.service}}", service);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let end = chrono::Utc::now();
        let start = end - chrono::TimeDelta::minutes(30);
        let answer = client
            .range(&route, &query, start, end, Duration::from_secs(30))
            .await;
        if answer
            .as_ref()
            .is_ok_and(|s| !s.is_empty() && !s[0].points.is_empty())
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no range point for {service}: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn line_with<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detail_view_charts_the_template_query_for_canary_and_stable() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = serve(Router::new().route("/metrics", get(checkout_errors))).await;
    let prometheus = tokio::task::spawn_blocking(move || start_scraping(exporter, JOB))
        .await
        .unwrap()
        .unwrap();
    let url = prometheus.url.clone();
    let cluster = cluster(&["shop"]).await;

    let templates: Api<AnalysisTemplate> = Api::namespaced(cluster.client.clone(), "shop");
    let template: AnalysisTemplate = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "errors", "namespace": "shop"},
        "spec": {
            "args": [{"name": "service"}],
            "metrics": [{"name": "error-count", "successCondition": "result[0] <= 5",
                "provider": {"prometheus": {"address": url, "query": QUERY}}}]
        }
    }))
    .unwrap();
    templates
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    let rollout = canary_rollout(
        "checkout",
        2,
        "shop/checkout:1.0",
        &json!({
            "canaryService": "checkout-canary",
            "stableService": "checkout-stable",
            "steps": [
                {"setWeight": 20},
                {"analysis": {"templates": [{"templateName": "errors"}],
                    "args": [{"name": "service", "value": "checkout-canary"}]}},
                {"analysis": {"templates": [{"templateName": "missing"}]}}
            ]
        }),
    );
    create_rollout(&cluster.client, "shop", &rollout).await;
    wait_for_range_point(&url, "checkout-canary").await;
    wait_for_range_point(&url, "checkout-stable").await;

    let dir = tempfile::tempdir().unwrap();
    let command = format!(
        "{} --kubeconfig {} --readonly -n shop",
        env!("CARGO_BIN_EXE_rolltop"),
        cluster.kubeconfig.path().display()
    );
    let pane = Tmux::new("rolltop-detail-charts", dir.path());
    pane.start_sized(160, 48, &[], &command);
    pane.wait_for("the rollout row", |s| s.contains("checkout"))
        .await;
    pane.keys(&["Enter"]);
    let screen = pane
        .wait_for("both sides charted", |s| {
            // The row labelled with the side: bars, then its last value.
            let drawn = |side: &str, last: &str| {
                s.lines().any(|l| {
                    l.starts_with(&format!("   {side} "))
                        && l.trim_end().ends_with(&format!("last {last}"))
                        && l.chars().any(|c| BLOCKS.contains(&c))
                })
            };
            s.contains("METRICS") && drawn("canary", "12") && drawn("stable", "1")
        })
        .await;
    // Titled with the metric name, where it is used, how it splits and where it went.
    let title = line_with(&screen, "error-count").unwrap();
    assert!(title.contains("step 1"), "{screen}");
    assert!(
        title.contains("split service: checkout-canary | checkout-stable"),
        "{screen}"
    );
    assert!(title.contains(&url), "{screen}");
    // The resolved query, as the run would measure the canary.
    assert!(
        screen.contains(r#"query sum(checkout_errors{service="checkout-canary"})"#),
        "{screen}"
    );
    // The template that does not exist is said, not silently skipped.
    assert!(
        screen.contains("AnalysisTemplate missing in shop: not found"),
        "{screen}"
    );

    // `m` hides the panel and says how to bring it back.
    pane.keys(&["m"]);
    pane.wait_for("the panel hidden", |s| s.contains("METRICS  hidden"))
        .await;
    pane.keys(&["m"]);
    pane.wait_for("the panel back", |s| {
        s.contains("error-count") && s.contains("from the analysis templates")
    })
    .await;
    pane.keys(&["q"]);
    drop(prometheus);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_metric_within_three_keys_through_the_detail_tree() {
    let live = live_prometheus().await;
    let prometheus_url = live.url.clone();
    let (sandbox, client) = start(SandboxConfig::default()).await;
    rolltop::crd::install(&client).await.unwrap();
    rolltop::crd::wait_established(&client, Duration::from_secs(30))
        .await
        .unwrap();
    expose_prometheus(&client, &prometheus_url).await;
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
    let command = format!(
        "{} --kubeconfig {} --readonly --prometheus http://prometheus.default.svc:9090",
        env!("CARGO_BIN_EXE_rolltop"),
        kubeconfig.display()
    );
    let pane = Tmux::new("rolltop-detail-tree", dir.path());
    pane.start(&[], &command);
    pane.wait_for("the rollout row", |s| s.contains("checkout"))
        .await;

    // Keystroke 1: Enter opens the detail view; the tree lists the run.
    pane.keys(&["Enter"]);
    pane.wait_for("the run in the tree", |s| {
        s.contains("REVISIONS") && s.contains("checkout-6cf78c66c5-2-1")
    })
    .await;
    // Keystroke 2: G selects the run (the tree's last line: no ReplicaSets here).
    pane.keys(&["G"]);
    // Keystroke 3: Enter on the run opens triage.
    pane.keys(&["Enter"]);
    let screen = pane
        .wait_for("metric, query, value, condition and limit", |s| {
            s.contains("AnalysisRun default/checkout-6cf78c66c5-2-1")
                && s.contains("error-count")
                && s.contains("service=\"rollouts-demo-canary\"")
                && s.contains("result[0] <= 5")
                && s.contains("failed 1 > failureLimit 0")
                && s.lines().any(|l| l.starts_with("value"))
        })
        .await;
    let value_line = screen.lines().find(|l| l.starts_with("value")).unwrap();
    let value: f64 = value_line
        .split('[')
        .nth(1)
        .and_then(|v| v.split(']').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value in {value_line:?}"));
    assert!(value > 5.0, "{value_line}");
    // Esc returns to the detail view it came from.
    pane.keys(&["Escape"]);
    pane.wait_for("back in the detail view", |s| s.contains("REVISIONS"))
        .await;
    pane.keys(&["q"]);
    let _ = stop.send(());
    controller.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_the_cockpit_may_not_read_are_said_in_words() {
    let config = SandboxConfig {
        deny: vec!["get:clusteranalysistemplates".parse().unwrap()],
        ..SandboxConfig::default()
    };
    let (_sandbox, client) = start(config).await;
    rolltop::crd::install(&client).await.unwrap();
    rolltop::crd::wait_established(&client, Duration::from_secs(30))
        .await
        .unwrap();
    let cluster_templates: Api<ClusterAnalysisTemplate> = Api::all(client.clone());
    let template: ClusterAnalysisTemplate = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ClusterAnalysisTemplate",
        "metadata": {"name": "shared-errors"},
        "spec": {"metrics": [{"name": "errors", "provider": {"prometheus": {"query": "up"}}}]}
    }))
    .unwrap();
    cluster_templates
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    let rollout = canary_rollout(
        "checkout",
        1,
        "shop/checkout:1.0",
        &json!({"analysis": {"templates": [{"templateName": "shared-errors", "clusterScope": true}]},
                "steps": [{"setWeight": 50}]}),
    );
    create_rollout(&client, "default", &rollout).await;
    let key = rolltop::model::ResourceKey::new("default", "checkout");
    let charts = rolltop::app::triage_tasks::read_rollout_charts(&client, &key)
        .await
        .unwrap();
    assert!(charts.charts.is_empty(), "{charts:?}");
    assert_eq!(charts.problems.len(), 1, "{charts:?}");
    assert!(
        charts.problems[0]
            .starts_with("ClusterAnalysisTemplate shared-errors: no permission to read it (RBAC)"),
        "{charts:?}"
    );
    // A rollout that does not exist is an error in words, not an empty panel.
    let gone = rolltop::model::ResourceKey::new("default", "gone");
    let error = rolltop::app::triage_tasks::read_rollout_charts(&client, &gone)
        .await
        .unwrap_err();
    assert_eq!(error, "reading rollout default/gone: not found");
}
