//! The simulated Job runner (batch/v1): creates each Job's pods, lets the kubelet run them
//! (Job pods exit 0 after the run duration unless their command says `exit N` or their
//! behaviour annotation says `fail`), and ends the Job `Complete` or `Failed`
//! (`BackoffLimitExceeded`, `DeadlineExceeded`), as Argo Rollouts' job metric provider reads.
//!
//! Supported: `completions`, `parallelism`, `backoffLimit` (default 6; retries create new
//! pods, and with `restartPolicy: OnFailure` container restarts count as failures),
//! `activeDeadlineSeconds`, `suspend`. Not simulated: indexed completion, pod failure
//! policies, success policies, the exponential delay between retries (retries start at once),
//! `ttlSecondsAfterFinished`.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams, Patch, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::json;

use super::clock::{after, settled, stored, until};
use super::names::random_suffix;
use super::replicaset::{controller_uid, is_active, ready_since};
use super::{
    Component, Context, Notice, ReconcileError, drain, ignore_not_found, is_already_exists,
    merge_patch, patch_params,
};

/// The default `spec.backoffLimit`.
pub const DEFAULT_BACKOFF_LIMIT: i32 = 6;

/// What the Job runner does to one Job now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobPlan {
    /// Pods to create from the template.
    pub create: usize,
    /// Names of active pods to delete (the Job ended or was suspended).
    pub delete: Vec<String>,
    /// The new status, when it differs from the current one.
    pub status: Option<JobStatus>,
    /// When `activeDeadlineSeconds` runs out, to fail the Job then.
    pub requeue_after: Option<Duration>,
    /// `Completed`, `BackoffLimitExceeded` or `DeadlineExceeded` when the Job ends.
    pub notices: Vec<Notice>,
}

/// Decides pods and status of `job`, given the pods of its namespace.
pub fn plan_job(job: &Job, pods: &[Pod], now: Timestamp) -> JobPlan {
    let (Some(uid), Some(spec)) = (job.metadata.uid.as_deref(), job.spec.as_ref()) else {
        return JobPlan::default();
    };
    let old = job.status.clone().unwrap_or_default();
    if job.metadata.deletion_timestamp.is_some() || finished(&old) {
        return JobPlan::default();
    }
    let owned: Vec<&Pod> = pods
        .iter()
        .filter(|p| controller_uid(p) == Some(uid))
        .collect();
    let active: Vec<&Pod> = owned.iter().copied().filter(|p| is_active(p)).collect();
    let phase_count = |phase: &str| {
        owned
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase))
            .count()
    };
    let succeeded = count(phase_count("Succeeded"));
    let on_failure = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        == Some("OnFailure");
    // With OnFailure the kubelet retries in place; Kubernetes counts those restarts.
    let restarts: i32 = if on_failure {
        active
            .iter()
            .filter_map(|p| p.status.as_ref()?.container_statuses.as_ref())
            .flatten()
            .fold(0_i32, |total, c| total.saturating_add(c.restart_count))
    } else {
        0
    };
    let failed = count(phase_count("Failed")).saturating_add(restarts);
    let completions = spec.completions.unwrap_or(1).max(1);
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let backoff_limit = spec.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT).max(0);
    let suspended = spec.suspend == Some(true);
    let start_time = old
        .start_time
        .as_ref()
        .map(|t| t.0)
        .or((!suspended).then_some(now));
    let deadline = spec
        .active_deadline_seconds
        .zip(start_time)
        .map(|(secs, start)| {
            after(
                settled(start),
                Duration::from_secs(u64::try_from(secs).unwrap_or(0)),
            )
        });

    let mut plan = JobPlan::default();
    let ending: Option<(&str, &str, &str)> = if succeeded >= completions {
        Some((
            "Complete",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        ))
    } else if failed > backoff_limit {
        Some((
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ))
    } else if deadline.is_some_and(|d| now >= d) {
        Some((
            "Failed",
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        ))
    } else {
        None
    };
    let mut conditions = old.conditions.clone().unwrap_or_default();
    let still_active;
    if let Some((kind, reason, message)) = ending {
        plan.delete = names(&active);
        still_active = 0;
        plan.notices.push(if kind == "Complete" {
            Notice::normal("Completed", "Job completed")
        } else {
            Notice::warning(reason, message)
        });
        let interim = if kind == "Complete" {
            "SuccessCriteriaMet"
        } else {
            "FailureTarget"
        };
        for (type_, reason) in [(interim, reason), (kind, reason)] {
            conditions.push(JobCondition {
                type_: type_.to_owned(),
                status: "True".to_owned(),
                reason: Some(reason.to_owned()),
                message: Some(message.to_owned()),
                last_probe_time: Some(stored(now)),
                last_transition_time: Some(stored(now)),
            });
        }
    } else if suspended {
        plan.delete = names(&active);
        still_active = 0;
    } else {
        let wanted = usize::try_from(parallelism.min(completions - succeeded)).unwrap_or(0);
        plan.create = wanted.saturating_sub(active.len());
        still_active = active.len() + plan.create;
        plan.requeue_after = deadline.map(|d| until(now, d));
    }

    let status = JobStatus {
        start_time: start_time.map(stored),
        completion_time: match ending {
            Some(("Complete", _, _)) => Some(stored(now)),
            _ => old.completion_time.clone(),
        },
        active: (still_active > 0).then(|| count(still_active)),
        ready: Some(count(
            active.iter().filter(|p| ready_since(p).is_some()).count(),
        )),
        succeeded: (succeeded > 0).then_some(succeeded),
        failed: (failed > 0).then_some(failed),
        conditions: (!conditions.is_empty()).then_some(conditions),
        ..old.clone()
    };
    plan.status = (status != old).then_some(status);
    plan
}

/// Whether the Job has ended (a `Complete` or `Failed` condition is True).
pub fn finished(status: &JobStatus) -> bool {
    status
        .conditions
        .iter()
        .flatten()
        .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
}

/// A new pod for `job`, named `<job>-<suffix>`, with the Job's tracking labels; `None` when
/// the Job lacks a name or uid.
pub fn pod_for_job(job: &Job, suffix: &str) -> Option<Pod> {
    let name = job.metadata.name.as_deref()?;
    let uid = job.metadata.uid.as_deref()?;
    let template = &job.spec.as_ref()?.template;
    let template_meta = template.metadata.clone().unwrap_or_default();
    let mut labels = template_meta.labels.unwrap_or_default();
    for (key, value) in [
        ("job-name", name),
        ("batch.kubernetes.io/job-name", name),
        ("controller-uid", uid),
        ("batch.kubernetes.io/controller-uid", uid),
    ] {
        labels.insert(key.to_owned(), value.to_owned());
    }
    let mut annotations = template_meta.annotations.unwrap_or_default();
    annotations.insert("batch.kubernetes.io/job-tracking".to_owned(), String::new());
    Some(Pod {
        metadata: ObjectMeta {
            name: Some(format!("{name}-{suffix}")),
            namespace: job.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".to_owned(),
                kind: "Job".to_owned(),
                name: name.to_owned(),
                uid: uid.to_owned(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    })
}

fn names(pods: &[&Pod]) -> Vec<String> {
    pods.iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Runs the Job runner over every namespace until aborted.
pub(super) async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let stream = Controller::new(Api::<Job>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Pod>::all(client), watcher::Config::default())
        .run(reconcile, super::retry_soon, ctx);
    drain("job", stream).await;
}

async fn reconcile(job: Arc<Job>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let (Some(namespace), Some(name)) = (
        job.metadata.namespace.as_deref(),
        job.metadata.name.as_deref(),
    ) else {
        return Ok(Action::await_change());
    };
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(job) = jobs.get_opt(name).await? else {
        return Ok(Action::await_change());
    };
    let listed = pods.list(&ListParams::default()).await?.items;
    let plan = plan_job(&job, &listed, Timestamp::now());
    let params = patch_params("job");

    let mut notices = Vec::new();
    for _ in 0..plan.create {
        if let Some(created) = create_pod(&pods, &job).await? {
            notices.push(Notice::normal(
                "SuccessfulCreate",
                format!("Created pod: {created}"),
            ));
        }
    }
    for pod_name in &plan.delete {
        if ignore_not_found(pods.delete(pod_name, &DeleteParams::default()).await)?.is_some() {
            notices.push(Notice::normal(
                "SuccessfulDelete",
                format!("Deleted pod: {pod_name}"),
            ));
        }
    }
    if let Some(status) = &plan.status {
        let old = serde_json::to_value(job.status.clone().unwrap_or_default())?;
        if let Some(change) = merge_patch::between(&old, &serde_json::to_value(status)?) {
            let body = json!({ "status": change });
            ignore_not_found(jobs.patch_status(name, &params, &Patch::Merge(&body)).await)?;
        }
    }
    notices.extend(plan.notices.iter().cloned());
    ctx.announce(Component::JobController, job.object_ref(&()), notices);
    Ok(plan
        .requeue_after
        .map_or_else(Action::await_change, Action::requeue))
}

/// Creates one pod, drawing a new name when the random one is taken; returns its name.
async fn create_pod(pods: &Api<Pod>, job: &Job) -> Result<Option<String>, ReconcileError> {
    for _ in 0..5 {
        let Some(pod) = pod_for_job(job, &random_suffix()) else {
            tracing::warn!(job = ?job.metadata.name, "Job has no name or uid; skipped");
            return Ok(None);
        };
        match pods.create(&PostParams::default(), &pod).await {
            Err(err) if is_already_exists(&err) => {}
            other => return Ok(other?.metadata.name),
        }
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::JobSpec;
    use k8s_openapi::api::core::v1::{
        Container, ContainerStatus, PodCondition, PodSpec, PodStatus, PodTemplateSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use std::collections::BTreeMap;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn job(backoff_limit: Option<i32>, restart_policy: &str) -> Job {
        Job {
            metadata: ObjectMeta {
                name: Some("smoke".into()),
                namespace: Some("default".into()),
                uid: Some("job-uid".into()),
                ..ObjectMeta::default()
            },
            spec: Some(JobSpec {
                backoff_limit,
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(BTreeMap::from([("app".into(), "smoke".into())])),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(PodSpec {
                        restart_policy: Some(restart_policy.into()),
                        containers: vec![Container {
                            name: "run".into(),
                            image: Some("busybox".into()),
                            command: Some(vec!["sh".into(), "-c".into(), "exit 1".into()]),
                            ..Container::default()
                        }],
                        ..PodSpec::default()
                    }),
                },
                ..JobSpec::default()
            }),
            status: None,
        }
    }

    fn pod(name: &str, phase: &str, restarts: i32) -> Pod {
        let mut pod = pod_for_job(&job(None, "Never"), "x").unwrap();
        pod.metadata.name = Some(name.into());
        pod.status = Some(PodStatus {
            phase: Some(phase.into()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if phase == "Running" { "True" } else { "False" }.into(),
                ..PodCondition::default()
            }]),
            container_statuses: Some(vec![ContainerStatus {
                name: "run".into(),
                restart_count: restarts,
                ..ContainerStatus::default()
            }]),
            ..PodStatus::default()
        });
        pod
    }

    /// Feeds the plan's status back, as the server would.
    fn settle(mut job: Job, pods: &[Pod], now: Timestamp) -> (Job, JobPlan) {
        let plan = plan_job(&job, pods, now);
        if let Some(status) = &plan.status {
            job.status = Some(status.clone());
        }
        (job, plan)
    }

    #[test]
    fn job_pods_carry_the_tracking_labels_and_owner() {
        let pod = pod_for_job(&job(None, "Never"), "k2x9z").unwrap();
        assert_eq!(pod.metadata.name.as_deref(), Some("smoke-k2x9z"));
        let labels = pod.metadata.labels.unwrap();
        assert_eq!(labels["job-name"], "smoke");
        assert_eq!(labels["batch.kubernetes.io/job-name"], "smoke");
        assert_eq!(labels["controller-uid"], "job-uid");
        assert_eq!(labels["app"], "smoke");
        let owner = &pod.metadata.owner_references.unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.controller), ("Job", Some(true)));
        assert_eq!(pod.spec.unwrap().restart_policy.as_deref(), Some("Never"));
    }

    #[test]
    fn a_new_job_starts_one_pod() {
        let plan = plan_job(&job(None, "Never"), &[], at(0));
        assert_eq!(plan.create, 1);
        let status = plan.status.unwrap();
        assert_eq!(status.start_time, Some(Time(at(0))));
        assert_eq!(status.active, Some(1));
        assert_eq!(status.conditions, None);
    }

    #[test]
    fn a_succeeded_pod_completes_the_job() {
        let (done, plan) = settle(job(None, "Never"), &[pod("smoke-a", "Succeeded", 0)], at(5));
        assert_eq!(plan.create, 0);
        assert_eq!(plan.notices, [Notice::normal("Completed", "Job completed")]);
        let status = done.status.as_ref().unwrap();
        assert_eq!(status.succeeded, Some(1));
        assert_eq!(status.active, None);
        assert_eq!(status.completion_time, Some(Time(at(5))));
        let kinds: Vec<(&str, &str, Option<&str>)> = status
            .conditions
            .iter()
            .flatten()
            .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_deref()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("SuccessCriteriaMet", "True", Some("CompletionsReached")),
                ("Complete", "True", Some("CompletionsReached")),
            ]
        );
        // A finished job is never touched again.
        assert_eq!(
            plan_job(&done, &[pod("smoke-a", "Succeeded", 0)], at(50)),
            JobPlan::default()
        );
    }

    #[test]
    fn failures_retry_until_the_backoff_limit() {
        let j = job(Some(2), "Never");
        let one = [pod("a", "Failed", 0)];
        let plan = plan_job(&j, &one, at(1));
        assert_eq!(plan.create, 1);
        assert_eq!(plan.status.as_ref().unwrap().failed, Some(1));

        let two = [pod("a", "Failed", 0), pod("b", "Failed", 0)];
        assert_eq!(plan_job(&j, &two, at(2)).create, 1);

        let three = [
            pod("a", "Failed", 0),
            pod("b", "Failed", 0),
            pod("c", "Failed", 0),
        ];
        let (failed, plan) = settle(j, &three, at(3));
        assert_eq!(plan.create, 0);
        assert_eq!(
            plan.notices,
            [Notice::warning(
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit"
            )]
        );
        let status = failed.status.unwrap();
        assert_eq!(status.failed, Some(3));
        assert_eq!(status.completion_time, None);
        let last = status.conditions.as_ref().unwrap().last().unwrap();
        assert_eq!(
            (last.type_.as_str(), last.reason.as_deref()),
            ("Failed", Some("BackoffLimitExceeded"))
        );
        assert!(finished(&status));
    }

    #[test]
    fn on_failure_restarts_count_against_the_limit() {
        let j = job(Some(2), "OnFailure");
        assert_eq!(
            plan_job(&j, &[pod("a", "Running", 2)], at(1)).delete,
            Vec::<String>::new()
        );
        let plan = plan_job(&j, &[pod("a", "Running", 3)], at(1));
        assert_eq!(plan.delete, ["a"]);
        assert!(finished(plan.status.as_ref().unwrap()));
    }

    #[test]
    fn the_default_backoff_limit_is_six() {
        let j = job(None, "Never");
        let six: Vec<Pod> = (0..6).map(|i| pod(&format!("p{i}"), "Failed", 0)).collect();
        assert_eq!(plan_job(&j, &six, at(1)).create, 1);
        let seven: Vec<Pod> = (0..7).map(|i| pod(&format!("p{i}"), "Failed", 0)).collect();
        assert!(finished(
            plan_job(&j, &seven, at(1)).status.as_ref().unwrap()
        ));
    }

    #[test]
    fn parallel_completions() {
        let mut j = job(None, "Never");
        let spec = j.spec.as_mut().unwrap();
        spec.completions = Some(3);
        spec.parallelism = Some(2);
        assert_eq!(plan_job(&j, &[], at(0)).create, 2);
        let one_done = [pod("a", "Succeeded", 0), pod("b", "Running", 0)];
        let plan = plan_job(&j, &one_done, at(1));
        assert_eq!(plan.create, 1);
        let status = plan.status.unwrap();
        assert_eq!(
            (status.active, status.ready, status.succeeded),
            (Some(2), Some(1), Some(1))
        );
    }

    #[test]
    fn the_active_deadline_fails_the_job() {
        let mut j = job(None, "Never");
        j.spec.as_mut().unwrap().active_deadline_seconds = Some(30);
        let (started, plan) = settle(j, &[], at(0));
        // Measured from the end of the stored start second.
        assert_eq!(plan.requeue_after, Some(Duration::from_secs(31)));
        let plan = plan_job(&started, &[pod("a", "Running", 0)], at(31));
        assert_eq!(plan.delete, ["a"]);
        let last = plan.status.unwrap().conditions.unwrap().pop().unwrap();
        assert_eq!(last.reason.as_deref(), Some("DeadlineExceeded"));
    }

    #[test]
    fn suspended_jobs_run_nothing() {
        let mut j = job(None, "Never");
        j.spec.as_mut().unwrap().suspend = Some(true);
        let plan = plan_job(&j, &[pod("a", "Running", 0)], at(0));
        assert_eq!(plan.create, 0);
        assert_eq!(plan.delete, ["a"]);
        assert_eq!(plan.status.unwrap().start_time, None);
    }

    #[test]
    fn absurd_restart_counts_saturate() {
        let j = job(Some(i32::MAX), "OnFailure");
        let pods = [pod("a", "Running", i32::MAX), pod("b", "Running", i32::MAX)];
        let plan = plan_job(&j, &pods, at(0));
        assert_eq!(plan.status.unwrap().failed, Some(i32::MAX));
    }

    #[test]
    fn foreign_pods_do_not_count() {
        let mut other = pod("x", "Succeeded", 0);
        other.metadata.owner_references.as_mut().unwrap()[0].uid = "someone-else".into();
        assert_eq!(plan_job(&job(None, "Never"), &[other], at(0)).create, 1);
    }
}
