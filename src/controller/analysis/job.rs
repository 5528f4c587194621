//! The Job metric provider (§3.4): a measurement creates a `batch/v1` Job from the metric's job
//! spec, owned by the AnalysisRun, and stays Running (with `job-name` / `job-namespace` metadata
//! and a `resumeAt`) until the Job's `Complete` or `Failed` condition ends it Successful or
//! Failed; a pod stuck on an image error ends it Inconclusive. Conditions are not evaluated.
//! Terminating deletes the Job (foreground) and ends the measurement Inconclusive. Old Jobs of a
//! metric are garbage-collected down to the measurement retention. The decisions (names, the
//! Job object, the outcome of a Job, the resume delay, which Jobs to collect) are pure; `run`,
//! `resume`, `terminate` and `garbage_collect` are the API calls around them.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};

use super::{AnalysisPhase, Measurement, MetricResult, Secrets, error_measurement};

/// The Job label naming the AnalysisRun's UID (also on the pod template).
pub const RUN_UID_LABEL: &str = "analysisrun.argoproj.io/uid";
/// The Job annotation naming the AnalysisRun.
pub const RUN_NAME_ANNOTATION: &str = "analysisrun.argoproj.io/name";
/// The Job annotation naming the AnalysisRun's namespace.
pub const RUN_NAMESPACE_ANNOTATION: &str = "analysisrun.argoproj.io/namespace";
/// The Job annotation naming the metric.
pub const METRIC_NAME_ANNOTATION: &str = "analysisrun.argoproj.io/metric-name";
/// Measurement metadata: the Job's name.
pub const JOB_NAME_KEY: &str = "job-name";
/// Measurement metadata: the Job's namespace.
pub const JOB_NAMESPACE_KEY: &str = "job-namespace";
/// Kubernetes object names that end up in label values (the Job controller puts the Job name
/// in its pods' `job-name` label) must fit 63 characters.
const MAX_JOB_NAME: usize = 63;
/// Container waiting reasons that will never resolve by themselves.
const TERMINAL_WAITING_REASONS: [&str; 3] =
    ["ErrImagePull", "ImagePullBackOff", "InvalidImageName"];

/// `provider.job`, as the engine needs it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobMetric {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The `batch/v1` JobSpec as written (after argument substitution).
    pub spec: Value,
}

/// The AnalysisRun a Job measurement belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunIdentity {
    pub name: String,
    pub namespace: String,
    pub uid: String,
}

/// What the Job provider needs to reach the cluster.
#[derive(Clone)]
pub struct JobContext {
    pub client: kube::Client,
    pub run: RunIdentity,
}

/// The numeric suffix of the next Job: every measurement ever taken (counted or Error) plus one.
pub fn job_suffix(result: Option<&MetricResult>) -> i64 {
    result.map_or(1, |r| r.count + r.error + 1)
}

/// `<runUID>.<metric>.<n>`, with the metric part shortened so that the name fits 63 characters.
pub fn job_name(run_uid: &str, metric_name: &str, suffix: i64) -> String {
    let suffix = suffix.to_string();
    let room = MAX_JOB_NAME.saturating_sub(run_uid.len() + suffix.len() + 2);
    let mut metric: &str = metric_name;
    if metric.len() > room {
        let mut end = room;
        while !metric.is_char_boundary(end) {
            end -= 1;
        }
        metric = &metric[..end];
    }
    format!("{run_uid}.{metric}.{suffix}")
}

/// The Job a measurement creates: the metric's spec, the metric's labels and annotations plus
/// the run's, and a controller reference to the AnalysisRun. `Err` is the measurement message
/// (a job spec that is not a JobSpec).
pub fn new_job(
    run: &RunIdentity,
    metric_name: &str,
    config: &JobMetric,
    suffix: i64,
) -> Result<Job, String> {
    let mut labels = config.labels.clone();
    labels.insert(RUN_UID_LABEL.to_string(), run.uid.clone());
    let mut annotations = config.annotations.clone();
    annotations.insert(RUN_NAME_ANNOTATION.to_string(), run.name.clone());
    annotations.insert(RUN_NAMESPACE_ANNOTATION.to_string(), run.namespace.clone());
    annotations.insert(METRIC_NAME_ANNOTATION.to_string(), metric_name.to_string());
    let mut spec = config.spec.clone();
    if !spec.is_object() {
        return Err("job spec is not an object".to_string());
    }
    // The pods carry the run's UID too, so they can be found by run.
    let template_labels = spec
        .as_object_mut()
        .map(|s| s.entry("template").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
        .map(|t| t.entry("metadata").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
        .map(|m| m.entry("labels").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut);
    if let Some(template_labels) = template_labels {
        template_labels.insert(RUN_UID_LABEL.to_string(), Value::String(run.uid.clone()));
    }
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(&run.uid, metric_name, suffix),
            "namespace": run.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AnalysisRun",
                "name": run.name,
                "uid": run.uid,
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": spec,
    });
    serde_json::from_value(job).map_err(|e| format!("invalid job spec: {e}"))
}

/// Where a Job stands, as the measurement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Running,
    Successful,
    Failed,
    /// A pod cannot start; the message names pod, container and reason.
    Inconclusive(String),
}

/// The outcome of `job` given its pods: the `Complete` / `Failed` conditions decide; otherwise a
/// container waiting on an image error makes it Inconclusive.
pub fn job_outcome(job: &Job, pods: &[Pod]) -> JobOutcome {
    let conditions = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let holds = |kind: &str| {
        conditions
            .iter()
            .any(|c| c.type_ == kind && c.status == "True")
    };
    if holds("Failed") {
        return JobOutcome::Failed;
    }
    if holds("Complete") {
        return JobOutcome::Successful;
    }
    for pod in pods {
        let Some(status) = &pod.status else { continue };
        let containers = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        for container in containers {
            let Some(waiting) = container.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
                continue;
            };
            let reason = waiting.reason.as_deref().unwrap_or_default();
            if TERMINAL_WAITING_REASONS.contains(&reason) {
                return JobOutcome::Inconclusive(format!(
                    "Pod {}, container {} has terminal error ({reason}): {}",
                    pod.metadata.name.as_deref().unwrap_or_default(),
                    container.name,
                    waiting.message.as_deref().unwrap_or_default()
                ));
            }
        }
    }
    JobOutcome::Running
}

/// When to look at a running Job again: `sqrt(2 × seconds since the measurement started)`
/// seconds from now (quick at first, slower for long Jobs).
pub fn resume_delay(started_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Duration {
    let elapsed = started_at
        .and_then(|start| (now - start).to_std().ok())
        .unwrap_or_default()
        .as_secs_f64();
    Duration::from_secs_f64((2.0 * elapsed).sqrt())
}

/// Folds a Job's outcome into the in-flight `measurement` at `now`.
pub fn resumed(
    mut measurement: Measurement,
    outcome: JobOutcome,
    now: DateTime<Utc>,
) -> Measurement {
    let phase = match outcome {
        JobOutcome::Running => {
            let delay =
                TimeDelta::from_std(resume_delay(measurement.started_at, now)).unwrap_or_default();
            measurement.resume_at = Some(now + delay);
            return measurement;
        }
        JobOutcome::Successful => AnalysisPhase::Successful,
        JobOutcome::Failed => AnalysisPhase::Failed,
        JobOutcome::Inconclusive(message) => {
            measurement.message = message;
            AnalysisPhase::Inconclusive
        }
    };
    measurement.phase = phase;
    measurement.finished_at = Some(now);
    measurement.resume_at = None;
    measurement
}

/// The Jobs of one metric to delete so that the newest `keep` remain, oldest first. `jobs` are
/// `(name, creation time)`; equal times keep their order.
pub fn jobs_to_collect(mut jobs: Vec<(String, Option<DateTime<Utc>>)>, keep: usize) -> Vec<String> {
    jobs.sort_by_key(|(_, created)| *created);
    let excess = jobs.len().saturating_sub(keep);
    jobs.into_iter()
        .take(excess)
        .map(|(name, _)| name)
        .collect()
}

fn job_name_of(measurement: &Measurement) -> Option<&str> {
    measurement
        .metadata
        .get(JOB_NAME_KEY)
        .map(String::as_str)
        .filter(|name| !name.is_empty())
}

fn api_error_text(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

/// Starts a measurement: creates the Job (reusing one this run already created under the same
/// name, e.g. after a status write was lost) and returns a Running measurement.
pub async fn run(
    context: &JobContext,
    metric_name: &str,
    config: &JobMetric,
    result: Option<&MetricResult>,
    secrets: &Secrets,
) -> Measurement {
    let now = Utc::now();
    let job = match new_job(&context.run, metric_name, config, job_suffix(result)) {
        Ok(job) => job,
        Err(message) => return error_measurement(now, &message, secrets),
    };
    let name = job.metadata.name.clone().unwrap_or_default();
    let jobs: Api<Job> = Api::namespaced(context.client.clone(), &context.run.namespace);
    match jobs.create(&PostParams::default(), &job).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let owned = match jobs.get(&name).await {
                Ok(existing) => existing
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.controller == Some(true) && o.uid == context.run.uid),
                Err(_) => false,
            };
            if !owned {
                return error_measurement(now, &status.message, secrets);
            }
        }
        Err(error) => return error_measurement(now, &api_error_text(&error), secrets),
    }
    Measurement {
        phase: AnalysisPhase::Running,
        started_at: Some(now),
        metadata: BTreeMap::from([
            (JOB_NAME_KEY.to_string(), name),
            (JOB_NAMESPACE_KEY.to_string(), context.run.namespace.clone()),
        ]),
        resume_at: Some(now),
        ..Measurement::default()
    }
}

/// Looks at the measurement's Job and its pods; still running gives the measurement back with a
/// later `resumeAt`. A Job that cannot be read is an Error measurement.
pub async fn resume(
    context: &JobContext,
    measurement: Measurement,
    secrets: &Secrets,
) -> Measurement {
    let now = Utc::now();
    let Some(name) = job_name_of(&measurement).map(str::to_owned) else {
        return error_measurement(now, "job metadata reference missing", secrets);
    };
    let namespace = measurement
        .metadata
        .get(JOB_NAMESPACE_KEY)
        .cloned()
        .unwrap_or_else(|| context.run.namespace.clone());
    let jobs: Api<Job> = Api::namespaced(context.client.clone(), &namespace);
    let job = match jobs.get(&name).await {
        Ok(job) => job,
        Err(error) => {
            let mut failed = error_measurement(now, &api_error_text(&error), secrets);
            failed.started_at = measurement.started_at;
            failed.metadata = measurement.metadata;
            return failed;
        }
    };
    let pods = match job.metadata.uid.as_deref() {
        Some(uid) if job_outcome(&job, &[]) == JobOutcome::Running => {
            let pods: Api<Pod> = Api::namespaced(context.client.clone(), &namespace);
            let selector = format!("batch.kubernetes.io/controller-uid={uid}");
            pods.list(&ListParams::default().labels(&selector))
                .await
                .map(|list| list.items)
                .unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let mut measurement = resumed(measurement, job_outcome(&job, &pods), now);
    super::mask_measurement(&mut measurement, secrets);
    measurement
}

/// Deletes the measurement's Job (foreground, so its pods go first) and ends the measurement
/// Inconclusive, as the reference does for a Job that was no longer needed.
pub async fn terminate(
    context: &JobContext,
    mut measurement: Measurement,
    secrets: &Secrets,
) -> Measurement {
    let now = Utc::now();
    if let Some(name) = job_name_of(&measurement) {
        let namespace = measurement
            .metadata
            .get(JOB_NAMESPACE_KEY)
            .cloned()
            .unwrap_or_else(|| context.run.namespace.clone());
        let jobs: Api<Job> = Api::namespaced(context.client.clone(), &namespace);
        match jobs.delete(name, &DeleteParams::foreground()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => {
                let mut failed = error_measurement(now, &api_error_text(&error), secrets);
                failed.started_at = measurement.started_at;
                failed.metadata = measurement.metadata;
                return failed;
            }
        }
    }
    measurement.phase = AnalysisPhase::Inconclusive;
    measurement.finished_at = Some(now);
    measurement.resume_at = None;
    measurement
}

/// Deletes the oldest Jobs of `metric_name` in this run beyond `keep`. Best effort: a failure is
/// logged and retried on a later pass.
pub async fn garbage_collect(context: &JobContext, metric_name: &str, keep: usize) {
    let jobs: Api<Job> = Api::namespaced(context.client.clone(), &context.run.namespace);
    let selector = format!("{RUN_UID_LABEL}={}", context.run.uid);
    let list = match jobs.list(&ListParams::default().labels(&selector)).await {
        Ok(list) => list.items,
        Err(error) => {
            tracing::warn!(%error, run = %context.run.name, "listing analysis jobs");
            return;
        }
    };
    let of_metric = list
        .into_iter()
        .filter(|job| {
            job.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(METRIC_NAME_ANNOTATION))
                .is_some_and(|name| name == metric_name)
        })
        .map(|job| {
            let created = job
                .metadata
                .creation_timestamp
                .as_ref()
                .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0));
            (job.metadata.name.unwrap_or_default(), created)
        })
        .collect();
    for name in jobs_to_collect(of_metric, keep) {
        match jobs.delete(&name, &DeleteParams::foreground()).await {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(error) => tracing::warn!(%error, job = %name, "collecting an analysis job"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    const UID: &str = "0b5c7a1e-1f7c-4c2a-9d7e-3f1a2b3c4d5e";

    fn run() -> RunIdentity {
        RunIdentity {
            name: "smoke".into(),
            namespace: "shop".into(),
            uid: UID.into(),
        }
    }

    #[test]
    fn job_names_fit_63_characters() {
        let cases = [
            ("test", 1, format!("{UID}.test.1")),
            (
                "a-very-long-metric-name-indeed",
                12,
                format!("{UID}.a-very-long-metric-name.12"),
            ),
            ("x", 1234, format!("{UID}.x.1234")),
        ];
        for (metric, suffix, want) in cases {
            let name = job_name(UID, metric, suffix);
            assert_eq!(name, want);
            assert!(name.len() <= 63, "{name}");
        }
    }

    #[test]
    fn the_suffix_counts_every_measurement_taken() {
        assert_eq!(job_suffix(None), 1);
        let result = MetricResult {
            count: 2,
            error: 1,
            ..MetricResult::default()
        };
        assert_eq!(job_suffix(Some(&result)), 4);
    }

    #[test]
    fn the_job_is_owned_by_the_run_and_labelled_as_the_reference_does() {
        let config = JobMetric {
            labels: BTreeMap::from([("team".into(), "web".into())]),
            annotations: BTreeMap::from([("foo".into(), "bar".into())]),
            spec: json!({
                "backoffLimit": 1,
                "template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "t", "image": "busybox", "command": ["sh", "-c", "exit 0"]}]}},
            }),
        };
        let job = new_job(&run(), "smoke", &config, 1).unwrap();
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(json["metadata"]["name"], format!("{UID}.smoke.1"));
        assert_eq!(json["metadata"]["namespace"], "shop");
        assert_eq!(
            json["metadata"]["labels"],
            json!({"team": "web", RUN_UID_LABEL: UID})
        );
        assert_eq!(
            json["metadata"]["annotations"],
            json!({"foo": "bar", RUN_NAME_ANNOTATION: "smoke",
                   RUN_NAMESPACE_ANNOTATION: "shop", METRIC_NAME_ANNOTATION: "smoke"})
        );
        assert_eq!(
            json["metadata"]["ownerReferences"],
            json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun", "name": "smoke",
                    "uid": UID, "controller": true, "blockOwnerDeletion": true}])
        );
        assert_eq!(json["spec"]["backoffLimit"], 1);
        assert_eq!(
            json["spec"]["template"]["metadata"]["labels"][RUN_UID_LABEL],
            UID
        );
    }

    #[test]
    fn a_spec_that_is_not_a_job_spec_is_an_error() {
        for spec in [json!("nope"), json!({"backoffLimit": "many"})] {
            let config = JobMetric {
                spec,
                ..JobMetric::default()
            };
            assert!(new_job(&run(), "m", &config, 1).is_err());
        }
    }

    fn job_with(conditions: &[(&str, &str)]) -> Job {
        let conditions: Vec<Value> = conditions
            .iter()
            .map(|(kind, status)| json!({"type": kind, "status": status}))
            .collect();
        serde_json::from_value(
            json!({"metadata": {"name": "j"}, "status": {"conditions": conditions}}),
        )
        .unwrap()
    }

    fn waiting_pod(reason: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "j-abcde"},
            "status": {"containerStatuses": [{"name": "t", "image": "x", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": reason, "message": "no such image"}}}]},
        }))
        .unwrap()
    }

    #[test]
    fn job_outcomes() {
        let cases: Vec<(Job, Vec<Pod>, JobOutcome)> = vec![
            (job_with(&[]), vec![], JobOutcome::Running),
            (
                job_with(&[("SuccessCriteriaMet", "True"), ("Complete", "True")]),
                vec![],
                JobOutcome::Successful,
            ),
            (
                job_with(&[("FailureTarget", "True"), ("Failed", "True")]),
                vec![],
                JobOutcome::Failed,
            ),
            (
                job_with(&[("Complete", "False")]),
                vec![],
                JobOutcome::Running,
            ),
            (
                job_with(&[("FailureTarget", "True")]),
                vec![],
                JobOutcome::Running,
            ),
            (
                job_with(&[]),
                vec![waiting_pod("ContainerCreating")],
                JobOutcome::Running,
            ),
            (
                job_with(&[]),
                vec![waiting_pod("ImagePullBackOff")],
                JobOutcome::Inconclusive(
                    "Pod j-abcde, container t has terminal error (ImagePullBackOff): no such image"
                        .into(),
                ),
            ),
        ];
        for (job, pods, want) in cases {
            assert_eq!(job_outcome(&job, &pods), want, "{:?}", job.status);
        }
    }

    #[test]
    fn running_jobs_are_looked_at_again_after_sqrt_two_t() {
        assert_eq!(resume_delay(Some(at(0)), at(0)), Duration::ZERO);
        assert_eq!(resume_delay(Some(at(0)), at(8)), Duration::from_secs(4));
        assert_eq!(resume_delay(Some(at(0)), at(50)), Duration::from_secs(10));
        let running = Measurement {
            phase: AnalysisPhase::Running,
            started_at: Some(at(0)),
            resume_at: Some(at(0)),
            ..Measurement::default()
        };
        let again = resumed(running.clone(), JobOutcome::Running, at(8));
        assert_eq!(
            (again.phase, again.resume_at, again.finished_at),
            (AnalysisPhase::Running, Some(at(12)), None)
        );
        let done = resumed(running.clone(), JobOutcome::Failed, at(8));
        assert_eq!(
            (done.phase, done.resume_at, done.finished_at),
            (AnalysisPhase::Failed, None, Some(at(8)))
        );
        let stuck = resumed(running, JobOutcome::Inconclusive("Pod p".into()), at(8));
        assert_eq!(
            (stuck.phase, stuck.message.as_str()),
            (AnalysisPhase::Inconclusive, "Pod p")
        );
    }

    #[test]
    fn garbage_collection_keeps_the_newest() {
        let jobs = vec![
            ("c".to_string(), Some(at(30))),
            ("a".to_string(), Some(at(10))),
            ("b".to_string(), Some(at(20))),
        ];
        assert_eq!(jobs_to_collect(jobs.clone(), 2), ["a"]);
        assert_eq!(jobs_to_collect(jobs.clone(), 0), ["a", "b", "c"]);
        assert!(jobs_to_collect(jobs, 10).is_empty());
    }
}
