//! Seed R5 end to end: a canary whose new version answers 500s is promoted into a step analysis
//! that reads the error counter from a real Prometheus, fails, aborts the rollout, and after a
//! retry (the canary restarted, the counter flat) passes and completes the rollout. Everything
//! is real except the cluster (the in-process sandbox with its simulated kubelet): rolltop's
//! controller (rollouts + AnalysisRuns, in process), the rolltop binary for `set image`,
//! `promote` and `retry` as the operator types them, a Prometheus of the test's own, and the
//! system Prometheus observes: a tiny exporter serving the canary's `http_requests_total`, whose
//! value the test sets the way the canary's traffic would (16 errors, then a restarted process).
//! The second test is R5's open problem: the query returns nothing, and the run must say so.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, ResourceExt};
use rolltop::crd::{AnalysisRun, AnalysisTemplate, Rollout};
use serde_json::{Value, json};

use crate::harness::{self, Runner, eventually_within, start_namespace_runner};
use crate::prometheus::{Prometheus, prometheus, serve, start_scraping};

const NS: &str = "kubota-test";
const ROLLOUT: &str = "rollouts-demo";
/// Waits here include Prometheus scrapes and the analysis interval.
const DEADLINE: Duration = Duration::from_secs(120);
const V1: &str = "quay.io/brancz/prometheus-example-app:v0.1.0";
const V2: &str = "quay.io/brancz/prometheus-example-app:v0.2.0";
/// R5's query, as the field report wrote it.
const R5_QUERY: &str = r#"delta(http_requests_total{code="500",namespace="kubota-test",service="rollouts-demo-canary"}[5m])"#;

/// The shared sandbox with rolltop's controller driving `NS` (stopped when dropped).
#[allow(clippy::struct_field_names)]
struct Cluster {
    sandbox: harness::Cluster,
    client: Client,
    _runner: Runner,
}

async fn cluster() -> Cluster {
    let cluster = harness::cluster(&[NS]).await;
    let client = cluster.client.clone();
    let runner = start_namespace_runner(&client, NS);
    Cluster {
        sandbox: cluster,
        client,
        _runner: runner,
    }
}

async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_within(what, DEADLINE, probe).await
}

impl Cluster {
    /// `kubectl argo rollouts`-style action by the rolltop binary; fails the test on error.
    async fn plugin(&self, args: &[&str]) {
        self.sandbox.plugin(NS, args).await;
    }

    async fn rollout_status(&self) -> Value {
        let rollout = Api::<Rollout>::namespaced(self.client.clone(), NS)
            .get(ROLLOUT)
            .await
            .unwrap();
        serde_json::to_value(&rollout.status).unwrap()
    }

    async fn wait_rollout(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        eventually(what, || async {
            let status = self.rollout_status().await;
            done(&status).then_some(status)
        })
        .await
    }

    /// Waits for the canary to pause at its `pause: {}` step (index 1).
    async fn wait_paused_at_pause_step(&self) -> Value {
        self.wait_rollout("paused at step 1", |s| {
            s["phase"] == "Paused"
                && s["currentStepIndex"] == 1
                && s["pauseConditions"][0]["reason"] == "CanaryPauseStep"
        })
        .await
    }

    /// The step AnalysisRuns, oldest first.
    async fn step_runs(&self) -> Vec<AnalysisRun> {
        let mut runs = Api::<AnalysisRun>::namespaced(self.client.clone(), NS)
            .list(&ListParams::default().labels("rollout-type=Step"))
            .await
            .unwrap()
            .items;
        runs.sort_by_key(|r| r.metadata.creation_timestamp.clone().map(|t| t.0));
        runs
    }

    /// Waits for a step run other than `except` to complete; returns its name and status.
    async fn wait_step_run_completed(&self, except: &[String]) -> (String, Value) {
        eventually("a completed step AnalysisRun", || async {
            self.step_runs().await.into_iter().find_map(|run| {
                let name = run.name_any();
                let status = serde_json::to_value(&run.status).unwrap();
                let done = matches!(
                    status["phase"].as_str(),
                    Some("Successful" | "Failed" | "Error" | "Inconclusive")
                );
                (done && !except.contains(&name)).then_some((name, status))
            })
        })
        .await
    }

    async fn replica_sets(&self) -> Vec<ReplicaSet> {
        Api::<ReplicaSet>::namespaced(self.client.clone(), NS)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
    }

    async fn create_release(&self, prometheus_url: &str, query: &str) {
        let template: AnalysisTemplate = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": {"name": "failure-count", "namespace": NS},
            "spec": {"metrics": [{
                "name": "http_error_count",
                "successCondition": "result[0] <= 5",
                "provider": {"prometheus": {"address": prometheus_url, "query": query}},
            }]},
        }))
        .unwrap();
        Api::<AnalysisTemplate>::namespaced(self.client.clone(), NS)
            .create(&PostParams::default(), &template)
            .await
            .unwrap();
        let rollout: Rollout = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": ROLLOUT, "namespace": NS},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": ROLLOUT}},
                "template": {
                    "metadata": {"labels": {"app": ROLLOUT},
                                 "annotations": {"sidecar.istio.io/inject": "true"}},
                    "spec": {"containers": [{"name": ROLLOUT, "image": V1}]},
                },
                "strategy": {"canary": {"steps": [
                    {"setWeight": 50},
                    {"pause": {}},
                    {"analysis": {"templates": [{"templateName": "failure-count"}]}},
                ]}},
            },
        }))
        .unwrap();
        Api::<Rollout>::namespaced(self.client.clone(), NS)
            .create(&PostParams::default(), &rollout)
            .await
            .unwrap();
        self.wait_rollout("the first revision Healthy", |s| s["phase"] == "Healthy")
            .await;
    }
}

/// The canary's request counter, as its `/metrics` endpoint shows it.
async fn canary_metrics(State(errors): State<Arc<AtomicU64>>) -> String {
    format!(
        "# HELP http_requests_total Count of all HTTP requests\n\
         # TYPE http_requests_total counter\n\
         http_requests_total{{code=\"500\",namespace=\"kubota-test\",service=\"rollouts-demo-canary\"}} {}\n",
        errors.load(Ordering::SeqCst)
    )
}

/// Asks Prometheus for `query` and returns the first sample's value string, if any.
async fn instant_value(prometheus_url: &str, query: &str) -> Option<String> {
    let encoded = percent_encoding::utf8_percent_encode(query, percent_encoding::NON_ALPHANUMERIC);
    let body: Value = reqwest::Client::new()
        .get(format!("{prometheus_url}/api/v1/query?query={encoded}"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    body["data"]["result"][0]["value"][1]
        .as_str()
        .map(str::to_owned)
}

async fn wait_for_prometheus(prometheus_url: &str, what: &str, done: impl Fn(f64) -> bool) {
    eventually(what, || async {
        let value = instant_value(prometheus_url, R5_QUERY).await?;
        value.parse::<f64>().ok().filter(|v| done(*v))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)]
async fn r5_failing_canary_is_aborted_then_retried_and_promoted() {
    let cluster = cluster().await;
    let errors = Arc::new(AtomicU64::new(0));
    let exporter: SocketAddr = serve(
        Router::new()
            .route("/metrics", get(canary_metrics))
            .with_state(errors.clone()),
    )
    .await;
    let prom: Prometheus = tokio::task::spawn_blocking(move || start_scraping(exporter, "r5"))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("could not start Prometheus: {e}"));
    cluster.create_release(&prom.url, R5_QUERY).await;

    // Update image: the canary gets 50 % and the rollout pauses.
    cluster
        .plugin(&["set", "image", ROLLOUT, &format!("{ROLLOUT}={V2}")])
        .await;
    cluster.wait_paused_at_pause_step().await;

    // The user hits the canary, which answers 500 sixteen times; Prometheus scrapes it.
    errors.store(16, Ordering::SeqCst);
    wait_for_prometheus(&prom.url, "Prometheus to see the 500s", |v| v > 5.0).await;

    // PROMOTE: the analysis step measures the errors and fails.
    cluster.plugin(&["promote", ROLLOUT]).await;
    let (failed_run, status) = cluster.wait_step_run_completed(&[]).await;
    assert_eq!(status["phase"], "Failed", "{status:#}");
    assert_eq!(
        status["message"],
        "Metric \"http_error_count\" assessed Failed due to failed (1) > failureLimit (0)"
    );
    let result = &status["metricResults"][0];
    assert_eq!(result["metadata"]["ResolvedPrometheusQuery"], R5_QUERY);
    let value = result["measurements"][0]["value"].as_str().unwrap();
    let measured: f64 = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("value {value:?} is not a one-sample vector"));
    assert!(measured > 5.0, "measured {measured}");

    // The rollout aborts and the canary goes back to 0: traffic is all stable again.
    let aborted = cluster
        .wait_rollout("the rollout aborted", |s| {
            s["abort"] == true && s["phase"] == "Degraded"
        })
        .await;
    let message = aborted["message"].as_str().unwrap();
    assert!(
        message.starts_with("RolloutAborted: Rollout aborted update to revision 2")
            && message.ends_with(
                "Step-based analysis phase error/failed: Metric \"http_error_count\" assessed \
                 Failed due to failed (1) > failureLimit (0)"
            ),
        "{message}"
    );
    let canary_hash = aborted["currentPodHash"].as_str().unwrap().to_owned();
    let stable_hash = aborted["stableRS"].as_str().unwrap().to_owned();
    assert_ne!(canary_hash, stable_hash);
    eventually("the canary scaled to 0", || async {
        cluster.replica_sets().await.into_iter().find(|rs| {
            rs.labels().get("rollouts-pod-template-hash") == Some(&canary_hash)
                && rs.spec.replicas == Some(0)
        })
    })
    .await;

    // RETRY brings a fresh canary process: its counter starts again at 0 and stays flat.
    errors.store(0, Ordering::SeqCst);
    wait_for_prometheus(&prom.url, "the error delta back to 0", |v| v == 0.0).await;
    cluster.plugin(&["retry", "rollout", ROLLOUT]).await;
    cluster.wait_paused_at_pause_step().await;

    // PROMOTE again: the analysis measures 0 and passes; the rollout completes.
    cluster.plugin(&["promote", ROLLOUT]).await;
    let (passed_run, status) = cluster
        .wait_step_run_completed(std::slice::from_ref(&failed_run))
        .await;
    assert_ne!(passed_run, failed_run);
    assert_eq!(status["phase"], "Successful", "{status:#}");
    assert_eq!(
        status["metricResults"][0]["measurements"][0]["value"],
        "[0]"
    );
    let healthy = cluster
        .wait_rollout("the rollout Healthy on the new version", |s| {
            s["phase"] == "Healthy" && s["stableRS"] == canary_hash.as_str()
        })
        .await;
    assert_eq!(healthy["currentPodHash"], canary_hash.as_str());
    let stable = cluster
        .replica_sets()
        .await
        .into_iter()
        .find(|rs| rs.labels().get("rollouts-pod-template-hash") == Some(&canary_hash))
        .unwrap();
    let spec = stable.spec;
    assert_eq!(spec.replicas, Some(2));
    assert_eq!(
        spec.template.unwrap().spec.unwrap().containers[0]
            .image
            .as_deref(),
        Some(V2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r5_empty_result_errors_the_run_and_says_the_query_returned_nothing() {
    let cluster = cluster().await;
    // The shared Prometheus has R5's history, but nothing for this service: an empty vector.
    let query = r#"delta(http_requests_total{code="500",namespace="kubota-test",service="rollouts-demo-preview"}[5m])"#;
    cluster.create_release(&prometheus().url, query).await;
    cluster
        .plugin(&["set", "image", ROLLOUT, &format!("{ROLLOUT}={V2}")])
        .await;
    cluster.wait_paused_at_pause_step().await;
    cluster.plugin(&["promote", ROLLOUT]).await;

    // Each measurement is an Error that says plainly that there was no data and how to guard.
    let (_, status) = cluster.wait_step_run_completed(&[]).await;
    assert_eq!(status["phase"], "Error", "{status:#}");
    let result = &status["metricResults"][0];
    assert_eq!(
        (
            &result["error"],
            &result["consecutiveError"],
            &result["count"]
        ),
        (&json!(5), &json!(5), &Value::Null),
        "{status:#}"
    );
    for measurement in result["measurements"].as_array().unwrap() {
        assert_eq!(measurement["phase"], "Error");
        let message = measurement["message"].as_str().unwrap();
        assert!(
            message.starts_with(
                "could not evaluate successCondition \"result[0] <= 5\": metric result is nil \
                 or empty: no data returned from the metric provider. The query returned no data"
            ) && message.contains("len(result) > 0 && result[0] <= 5"),
            "{message}"
        );
    }
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Metric \"http_error_count\" assessed Error due to consecutiveErrors (5) > \
             consecutiveErrorLimit (4): \"Error Message: could not evaluate successCondition"
        ) && message.contains("The query returned no data"),
        "{message}"
    );

    // The rollout aborts with the run's message.
    let aborted = cluster
        .wait_rollout("the rollout aborted", |s| s["abort"] == true)
        .await;
    let rollout_message = aborted["message"].as_str().unwrap();
    assert!(
        rollout_message.contains(
            "Step-based analysis phase error/failed: Metric \"http_error_count\" assessed Error"
        ),
        "{rollout_message}"
    );
}
