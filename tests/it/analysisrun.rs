//! The AnalysisRun reconciler end to end: runs are created through `kube::Api<AnalysisRun>` on an
//! in-process sandbox, the reconciler (`controller::analysis::reconciler::run`) measures them
//! against the shared real Prometheus, and the tests read the status the reconciler wrote.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Secret};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use rolltop::controller::analysis::reconciler;
use rolltop::crd::{AnalysisRun, install, wait_established};
use rolltop::sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::prometheus::prometheus;

const NAMESPACE: &str = "default";
const DEADLINE: Duration = Duration::from_secs(90);

struct Harness {
    sandbox: Sandbox,
    client: kube::Client,
    runs: Api<AnalysisRun>,
}

impl Harness {
    async fn start() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let client = sandbox.client().await.unwrap();
        install(&client).await.unwrap();
        wait_established(&client, Duration::from_secs(10))
            .await
            .unwrap();
        let runs = Api::namespaced(client.clone(), NAMESPACE);
        Self {
            sandbox,
            client,
            runs,
        }
    }

    /// Starts a reconciler for the namespace; sending on the returned channel stops it.
    fn reconciler(&self) -> (oneshot::Sender<()>, JoinHandle<()>) {
        let (stop, stopped) = oneshot::channel::<()>();
        let client = self.client.clone();
        let task = tokio::spawn(async move {
            reconciler::run(client, Some(NAMESPACE.to_string()), async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        (stop, task)
    }

    async fn create(&self, name: &str, spec: Value) -> AnalysisRun {
        let run: AnalysisRun = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AnalysisRun",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec,
        }))
        .unwrap();
        self.runs
            .create(&PostParams::default(), &run)
            .await
            .unwrap()
    }

    /// Polls until `done` holds for the run's status JSON; panics with the last status.
    async fn wait_for(&self, name: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = tokio::time::Instant::now();
        loop {
            let run = self.runs.get(name).await.unwrap();
            let status = serde_json::to_value(&run.status).unwrap();
            if done(&status) {
                return status;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{name}: no {what} within {DEADLINE:?}; status: {status:#}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_completed(&self, name: &str) -> Value {
        self.wait_for(name, "completed phase", |status| {
            matches!(
                status["phase"].as_str(),
                Some("Successful" | "Failed" | "Error" | "Inconclusive")
            )
        })
        .await
    }

    /// The sorted reasons of the run's Events once `expected` are all recorded (Events are
    /// written after the status, so they may trail it).
    async fn event_reasons(&self, name: &str, expected: &[&str]) -> Vec<String> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), NAMESPACE);
        let start = tokio::time::Instant::now();
        loop {
            let mut reasons: Vec<String> = events
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .filter(|e| e.involved_object.name.as_deref() == Some(name))
                .filter_map(|e| e.reason)
                .collect();
            reasons.sort();
            if expected
                .iter()
                .all(|r| reasons.iter().any(|have| have == r))
                || start.elapsed() > Duration::from_secs(10)
            {
                return reasons;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn prometheus_metric(name: &str, query: &str, extra: Value) -> Value {
    let Value::Object(extra) = extra else {
        panic!("extra fields must be an object: {extra}")
    };
    let mut metric = json!({
        "name": name,
        "provider": {"prometheus": {"address": prometheus().url, "query": query}},
    });
    metric.as_object_mut().unwrap().extend(extra);
    metric
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successful_run_records_the_measured_values() {
    let harness = Harness::start().await;
    let (_stop, _task) = harness.reconciler();
    harness
        .create(
            "ok",
            json!({"metrics": [prometheus_metric(
                "ratio",
                "rolltop_test_gauge{case=\"ratio\"}",
                json!({"interval": "1s", "count": 2, "successCondition": "result[0] >= 0.9"}),
            )]}),
        )
        .await;
    let status = harness.wait_completed("ok").await;
    assert_eq!(status["phase"], "Successful", "{status:#}");
    let result = &status["metricResults"][0];
    assert_eq!(result["phase"], "Successful");
    assert_eq!(
        (result["count"].as_i64(), result["successful"].as_i64()),
        (Some(2), Some(2))
    );
    let measurements = result["measurements"].as_array().unwrap();
    assert_eq!(measurements.len(), 2);
    for measurement in measurements {
        assert_eq!(measurement["phase"], "Successful");
        assert_eq!(measurement["value"], "[0.97]");
    }
    assert_eq!(
        result["metadata"]["ResolvedPrometheusQuery"],
        "rolltop_test_gauge{case=\"ratio\"}"
    );
    assert_eq!(status["runSummary"], json!({"count": 1, "successful": 1}));
    assert_eq!(status["dryRunSummary"], json!({}));
    assert!(status["startedAt"].is_string() && status["completedAt"].is_string());
    let reasons = harness
        .event_reasons("ok", &["AnalysisRunSuccessful", "MetricSuccessful"])
        .await;
    assert_eq!(reasons, ["AnalysisRunSuccessful", "MetricSuccessful"]);
    harness.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_metric_fails_the_run_with_the_reference_message() {
    let harness = Harness::start().await;
    let (_stop, _task) = harness.reconciler();
    harness
        .create(
            "bad",
            json!({"metrics": [
                prometheus_metric(
                    "ratio",
                    "rolltop_test_gauge{case=\"ratio\"}",
                    json!({"successCondition": "result[0] >= 0.99", "failureLimit": 0}),
                ),
                prometheus_metric("background", "vector(1)", json!({"interval": "1s"})),
            ]}),
        )
        .await;
    let status = harness.wait_completed("bad").await;
    assert_eq!(status["phase"], "Failed", "{status:#}");
    assert_eq!(
        status["message"],
        "Metric \"ratio\" assessed Failed due to failed (1) > failureLimit (0)"
    );
    assert_eq!(
        status["metricResults"][0]["measurements"][0]["value"],
        "[0.97]"
    );
    // The unbounded sibling was terminated, not left running.
    assert_eq!(status["metricResults"][1]["phase"], "Successful");
    let reasons = harness
        .event_reasons("bad", &["AnalysisRunFailed", "MetricFailed"])
        .await;
    assert!(
        reasons.contains(&"AnalysisRunFailed".to_string()),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"MetricFailed".to_string()), "{reasons:?}");
    harness.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unguarded_empty_result_errors_after_the_error_limit() {
    let harness = Harness::start().await;
    let (_stop, _task) = harness.reconciler();
    harness
        .create(
            "empty",
            json!({"metrics": [prometheus_metric(
                "missing",
                "rolltop_test_gauge{case=\"absent\"}",
                json!({"interval": "1s", "successCondition": "result[0] <= 5",
                       "consecutiveErrorLimit": 1}),
            )]}),
        )
        .await;
    let status = harness.wait_completed("empty").await;
    assert_eq!(status["phase"], "Error", "{status:#}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Metric \"missing\" assessed Error due to consecutiveErrors (2) > \
             consecutiveErrorLimit (1): \"Error Message: could not evaluate successCondition \
             \"result[0] <= 5\": metric result is nil or empty: no data returned from the \
             metric provider."
        ),
        "{message}"
    );
    let result = &status["metricResults"][0];
    assert_eq!(
        (
            result["error"].as_i64(),
            result["consecutiveError"].as_i64()
        ),
        (Some(2), Some(2))
    );
    assert_eq!(result["measurements"].as_array().unwrap().len(), 2);
    harness.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_run_ends_successful() {
    let harness = Harness::start().await;
    let (_stop, _task) = harness.reconciler();
    harness
        .create(
            "forever",
            json!({"metrics": [prometheus_metric(
                "up", "vector(1)", json!({"interval": "1s", "successCondition": "result[0] == 1"}),
            )]}),
        )
        .await;
    harness
        .wait_for("forever", "first measurement", |status| {
            status["metricResults"][0]["count"].as_i64() >= Some(1)
        })
        .await;
    harness
        .runs
        .patch(
            "forever",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"terminate": true}})),
        )
        .await
        .unwrap();
    let status = harness.wait_completed("forever").await;
    assert_eq!(status["phase"], "Successful", "{status:#}");
    assert_eq!(status["message"], "Run Terminated");
    assert_eq!(status["metricResults"][0]["phase"], "Successful");
    harness.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_arguments_never_reach_the_status() {
    const SECRET: &str = "s3cr3t-t0ken";
    let harness = Harness::start().await;
    let (_stop, _task) = harness.reconciler();
    let secrets: Api<Secret> = Api::namespaced(harness.client.clone(), NAMESPACE);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "prom-creds"},
        "stringData": {"token": SECRET},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let metric = |name: &str| {
        let mut metric = prometheus_metric(
            name,
            "rolltop_test_gauge{case=\"ratio\", token!=\"{{args.token}}\"}",
            json!({"successCondition": "result[0] >= 0.9"}),
        );
        metric["provider"]["prometheus"]["headers"] =
            json!([{"key": "Authorization", "value": "Bearer {{args.token}}"}]);
        metric
    };
    harness
        .create(
            "secret",
            json!({"metrics": [metric("guarded")],
                   "args": [{"name": "token",
                             "valueFrom": {"secretKeyRef": {"name": "prom-creds", "key": "token"}}}]}),
        )
        .await;
    harness
        .create(
            "no-secret",
            json!({"metrics": [metric("guarded")],
                   "args": [{"name": "token",
                             "valueFrom": {"secretKeyRef": {"name": "absent", "key": "token"}}}]}),
        )
        .await;
    let status = harness.wait_completed("secret").await;
    assert_eq!(status["phase"], "Successful", "{status:#}");
    let text = status.to_string();
    assert!(!text.contains(SECRET), "{status:#}");
    assert_eq!(
        status["metricResults"][0]["metadata"]["ResolvedPrometheusQuery"],
        "rolltop_test_gauge{case=\"ratio\", token!=\"*****\"}"
    );
    let missing = harness.wait_completed("no-secret").await;
    assert_eq!(missing["phase"], "Error");
    assert_eq!(
        missing["message"],
        "Unable to resolve metric arguments: secrets \"absent\" not found"
    );
    harness.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_reconciler_continues_without_duplicate_measurements() {
    let harness = Harness::start().await;
    let (stop, task) = harness.reconciler();
    harness
        .create(
            "restart",
            json!({"metrics": [prometheus_metric(
                "up", "vector(1)",
                json!({"interval": "2s", "count": 3, "successCondition": "result[0] == 1"}),
            )]}),
        )
        .await;
    harness
        .wait_for("restart", "first measurement", |status| {
            status["metricResults"][0]["count"].as_i64() >= Some(1)
        })
        .await;
    stop.send(()).unwrap();
    task.await.unwrap();
    let paused = harness.runs.get("restart").await.unwrap();
    let count_at_stop = paused
        .status
        .as_ref()
        .unwrap()
        .metric_results
        .as_ref()
        .unwrap()[0]
        .count
        .unwrap();
    assert!(count_at_stop < 3, "the run finished before the restart");
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (_stop, _task) = harness.reconciler();
    let status = harness.wait_completed("restart").await;
    assert_eq!(status["phase"], "Successful", "{status:#}");
    let result = &status["metricResults"][0];
    assert_eq!(result["count"], 3);
    let measurements = result["measurements"].as_array().unwrap();
    assert_eq!(measurements.len(), 3, "{status:#}");
    let started: Vec<i64> = measurements
        .iter()
        .map(|m| {
            chrono::DateTime::parse_from_rfc3339(m["startedAt"].as_str().unwrap())
                .unwrap()
                .timestamp()
        })
        .collect();
    for pair in started.windows(2) {
        assert!(
            pair[1] - pair[0] >= 1,
            "measurements too close: {started:?}"
        );
    }
    harness.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_run_is_deleted_after_its_ttl() {
    let harness = Harness::start().await;
    let (_stop, _task) = harness.reconciler();
    harness
        .create(
            "short-lived",
            json!({"metrics": [prometheus_metric("up", "vector(1)", json!({}))],
                   "ttlStrategy": {"secondsAfterSuccess": 1, "secondsAfterCompletion": 3600}}),
        )
        .await;
    harness
        .create(
            "kept",
            json!({"metrics": [prometheus_metric("up", "vector(1)", json!({}))],
                   "ttlStrategy": {"secondsAfterFailure": 1}}),
        )
        .await;
    let status = harness.wait_completed("short-lived").await;
    assert_eq!(status["phase"], "Successful", "{status:#}");
    let start = tokio::time::Instant::now();
    while harness.runs.get_opt("short-lived").await.unwrap().is_some() {
        assert!(start.elapsed() < DEADLINE, "the run outlived its TTL");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A Successful run with only a failure TTL stays.
    let kept = harness.wait_completed("kept").await;
    assert_eq!(kept["phase"], "Successful");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(harness.runs.get_opt("kept").await.unwrap().is_some());
    harness.sandbox.shutdown().await;
}
