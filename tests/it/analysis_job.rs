//! Job metrics end to end: an in-process sandbox with the simulated kubelet and Job runner, the
//! AnalysisRun reconciler measuring runs whose metrics use `provider.job`. The Jobs the engine
//! creates are run by the sandbox's Job runner (pods exit 0, or `exit N` when their command says
//! so), and the tests read the Jobs and the run status from the API server.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use rolltop::controller::analysis::reconciler;
use rolltop::crd::AnalysisRun;
use rolltop::sandbox::sim::SimConfig;
use serde_json::{Value, json};
use tokio::sync::oneshot;

const NAMESPACE: &str = "default";
const DEADLINE: Duration = Duration::from_secs(90);

struct Harness {
    _cluster: crate::harness::Cluster,
    _stop: oneshot::Sender<()>,
    runs: Api<AnalysisRun>,
    jobs: Api<Job>,
}

/// A sandbox whose Job pods run for `run_duration`, with the reconciler started.
async fn harness(run_duration: Duration) -> Harness {
    let cluster = crate::harness::cluster_with(
        &[NAMESPACE],
        SimConfig {
            start_delay: Duration::from_millis(50),
            ready_delay: Duration::from_millis(50),
            run_duration,
            ..SimConfig::default()
        },
    )
    .await;
    let client = cluster.client.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let reconciler_client = client.clone();
    tokio::spawn(async move {
        reconciler::run(reconciler_client, Some(NAMESPACE.to_string()), async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Harness {
        _cluster: cluster,
        _stop: stop,
        runs: Api::namespaced(client.clone(), NAMESPACE),
        jobs: Api::namespaced(client, NAMESPACE),
    }
}

/// A metric whose Job runs `sh -c "<script>"` once (no retries).
fn job_metric(name: &str, script: &str) -> Value {
    json!({
        "name": name,
        // Ignored for Job metrics, as in the reference: the Job's outcome decides.
        "successCondition": "false",
        "provider": {"job": {
            "metadata": {"labels": {"team": "checkout"}, "annotations": {"owner": "release"}},
            "spec": {
                "backoffLimit": 0,
                "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "check", "image": "busybox:1.36",
                                    "command": ["sh", "-c", script]}],
                }},
            },
        }},
    })
}

impl Harness {
    async fn create(&self, name: &str, metrics: Value) -> AnalysisRun {
        self.create_spec(name, json!({"metrics": metrics})).await
    }

    async fn create_spec(&self, name: &str, spec: Value) -> AnalysisRun {
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
            tokio::time::sleep(Duration::from_millis(100)).await;
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

    /// Waits until the run's first measurement is in flight and returns it.
    async fn wait_in_flight(&self, name: &str) -> Value {
        let status = self
            .wait_for(name, "running job measurement", |status| {
                status["metricResults"][0]["measurements"][0]["phase"] == "Running"
            })
            .await;
        status["metricResults"][0]["measurements"][0].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_metrics_succeed_and_fail_with_their_jobs() {
    let h = harness(Duration::from_secs(2)).await;
    let ok = h
        .create("job-ok", json!([job_metric("smoke", "exit 0")]))
        .await;
    let bad = h
        .create("job-bad", json!([job_metric("smoke", "./check; exit 3")]))
        .await;
    let ok_uid = ok.metadata.uid.clone().unwrap();

    // While the Job runs, the measurement is in flight and names its Job.
    let in_flight = h.wait_in_flight("job-ok").await;
    let job_name = format!("{ok_uid}.smoke.1");
    assert_eq!(in_flight["metadata"]["job-name"], job_name.as_str());
    assert_eq!(in_flight["metadata"]["job-namespace"], NAMESPACE);
    assert!(in_flight["finishedAt"].is_null(), "{in_flight:#}");

    let job = h.jobs.get(&job_name).await.unwrap();
    let labels = job.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["team"], "checkout");
    assert_eq!(labels["analysisrun.argoproj.io/uid"], ok_uid);
    let annotations = job.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(annotations["owner"], "release");
    assert_eq!(annotations["analysisrun.argoproj.io/name"], "job-ok");
    assert_eq!(annotations["analysisrun.argoproj.io/namespace"], NAMESPACE);
    assert_eq!(annotations["analysisrun.argoproj.io/metric-name"], "smoke");
    let owner = &job.metadata.owner_references.clone().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
        ("AnalysisRun", "job-ok", ok_uid.as_str())
    );
    assert_eq!(owner.controller, Some(true));

    // The Job completes: Successful, although the (ignored) successCondition says false.
    let status = h.wait_completed("job-ok").await;
    assert_eq!(status["phase"], "Successful", "{status:#}");
    let result = &status["metricResults"][0];
    assert_eq!(
        (&result["phase"], &result["count"], &result["successful"]),
        (&json!("Successful"), &json!(1), &json!(1)),
        "{status:#}"
    );
    let measurement = &result["measurements"][0];
    assert_eq!(measurement["phase"], "Successful");
    assert!(measurement["finishedAt"].is_string(), "{measurement:#}");
    assert!(measurement["resumeAt"].is_null(), "{measurement:#}");

    // The failing Job fails the metric and the run with the reference's message.
    let status = h.wait_completed("job-bad").await;
    assert_eq!(status["phase"], "Failed", "{status:#}");
    assert_eq!(
        status["message"],
        "Metric \"smoke\" assessed Failed due to failed (1) > failureLimit (0)"
    );
    let bad_job = format!("{}.smoke.1", bad.metadata.uid.unwrap());
    let job = h.jobs.get(&bad_job).await.unwrap();
    let failed = job
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .any(|c| c.type_ == "Failed" && c.status == "True");
    assert!(failed, "the sandbox's Job runner failed the Job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_a_run_deletes_its_running_job() {
    // Jobs that would run for ten minutes: only termination ends this one.
    let h = harness(Duration::from_secs(600)).await;
    let run = h
        .create("job-long", json!([job_metric("soak", "exit 0")]))
        .await;
    let in_flight = h.wait_in_flight("job-long").await;
    let job_name = in_flight["metadata"]["job-name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(job_name, format!("{}.soak.1", run.metadata.uid.unwrap()));
    assert!(h.jobs.get_opt(&job_name).await.unwrap().is_some());

    h.runs
        .patch(
            "job-long",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"terminate": true}})),
        )
        .await
        .unwrap();
    let status = h.wait_completed("job-long").await;
    // The Job was no longer needed: the measurement is Inconclusive (§3.4), which counts
    // toward inconclusiveLimit (0), so the run ends Inconclusive and says why.
    assert_eq!(status["phase"], "Inconclusive", "{status:#}");
    assert_eq!(
        status["message"],
        "Metric \"soak\" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0): \
         \"Error Message: Metric Terminated\""
    );
    let measurement = &status["metricResults"][0]["measurements"][0];
    assert_eq!(measurement["phase"], "Inconclusive");
    assert_eq!(measurement["message"], "Metric Terminated");

    let start = tokio::time::Instant::now();
    while h.jobs.get_opt(&job_name).await.unwrap().is_some() {
        assert!(start.elapsed() < DEADLINE, "job {job_name} was not deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_jobs_are_collected_down_to_the_retention() {
    let h = harness(Duration::from_millis(300)).await;
    let mut metric = job_metric("repeat", "exit 0");
    metric["interval"] = json!("1s");
    metric["count"] = json!(3);
    let run = h
        .create_spec(
            "job-repeat",
            json!({"metrics": [metric],
                   "measurementRetention": [{"metricName": "repeat", "limit": 2}]}),
        )
        .await;
    let status = h.wait_completed("job-repeat").await;
    assert_eq!(status["phase"], "Successful", "{status:#}");
    let result = &status["metricResults"][0];
    assert_eq!(result["count"], 3, "{status:#}");
    assert_eq!(result["measurements"].as_array().unwrap().len(), 2);

    // Three Jobs were created, one per measurement; the oldest is deleted.
    let uid = run.metadata.uid.unwrap();
    let start = tokio::time::Instant::now();
    loop {
        let mut names: Vec<String> = h
            .jobs
            .list(
                &kube::api::ListParams::default()
                    .labels(&format!("analysisrun.argoproj.io/uid={uid}")),
            )
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|job| job.metadata.name)
            .collect();
        names.sort();
        if names == [format!("{uid}.repeat.2"), format!("{uid}.repeat.3")] {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "jobs left: {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
