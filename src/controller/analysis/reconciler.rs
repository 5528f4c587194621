//! The AnalysisRun controller loop: a kube-runtime `Controller` over AnalysisRuns (one namespace
//! or all) that, for each run, reads the Secrets its arguments name, builds the engine inputs
//! (`adapter`), runs one engine pass (`run::run_pass`), writes `status` with a JSON merge patch,
//! records the pass's Events, and requeues at the engine's next wake-up. Everything that matters
//! lives in the object's status, re-read from the API server before each pass, so a restarted
//! reconciler continues where the last one stopped. Completed runs are deleted when their
//! `ttlStrategy` runs out. Job metrics reach the cluster through a `job::JobContext` naming the
//! run; a Job's progress is polled at the measurement's `resumeAt`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Resource as _, ResourceExt as _};
use serde_json::{Value, json};

use super::adapter::{
    merge_patch, run_arguments, run_inputs, run_status, secret_arguments, secret_error_message,
    status_json, ttl_deadline,
};
use super::job::{JobContext, RunIdentity};
use super::run::{AnalysisEvent, run_pass_with};
use super::{AnalysisPhase, RunStatus};
use crate::crd::AnalysisRun;

/// The field manager and event reporter name.
pub const CONTROLLER_NAME: &str = "rolltop-analysis";
/// How many passes one reconcile runs back to back when a metric has just completed badly
/// (§2.1 step 10: the next pass terminates the siblings and ends the run).
const MAX_PASSES: usize = 3;
/// Back-off after an API error (the run itself is unchanged, so this only retries I/O).
const RETRY_AFTER_API_ERROR: Duration = Duration::from_secs(5);

/// Reconciling one AnalysisRun failed on an API call; the run is retried later.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("reading AnalysisRun {name}: {source}")]
    Read { name: String, source: kube::Error },
    #[error("reading secret {secret} for AnalysisRun {name}: {source}")]
    ReadSecret {
        name: String,
        secret: String,
        source: kube::Error,
    },
    #[error("deleting expired AnalysisRun {name}: {source}")]
    Delete { name: String, source: kube::Error },
    #[error("writing the status of AnalysisRun {name}: {source}")]
    WriteStatus { name: String, source: kube::Error },
    #[error(
        "reading Lease {namespace}/{}: {source}",
        crate::controller::lease::LEASE_NAME
    )]
    ReadLease {
        namespace: String,
        source: kube::Error,
    },
}

/// The controller stopped for a reason other than the shutdown signal.
#[derive(Debug, thiserror::Error)]
pub enum RunControllerError {
    #[error("the AnalysisRun API is not served (is the CRD installed?): {0}")]
    NotServed(kube::Error),
}

struct Context {
    client: kube::Client,
    recorder: Recorder,
    /// A cluster-wide driver's identity: runs in namespaces whose own Lease another live holder
    /// has are left to that holder (design.md, Controller architecture).
    skip_held_namespaces_as: Option<String>,
}

/// How long a skipped namespace waits before its Lease is checked again.
const SKIPPED_NAMESPACE_RECHECK: Duration = Duration::from_secs(5);

/// Runs the AnalysisRun controller until `shutdown` completes. `namespace: None` watches every
/// namespace.
pub async fn run(
    client: kube::Client,
    namespace: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), RunControllerError> {
    run_with(client, namespace, None, shutdown).await
}

/// [`run`], skipping (and re-checking every 5 s) the namespaces whose per-namespace Lease
/// another live identity than `skip_held_namespaces_as` holds — what a cluster-wide driver does.
pub async fn run_with(
    client: kube::Client,
    namespace: Option<String>,
    skip_held_namespaces_as: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), RunControllerError> {
    let api: Api<AnalysisRun> = match &namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    // Fail fast with a clear message instead of a watcher that retries forever.
    api.list(&kube::api::ListParams::default().limit(1))
        .await
        .map_err(RunControllerError::NotServed)?;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: CONTROLLER_NAME.to_string(),
            instance: None,
        },
    );
    let context = Arc::new(Context {
        client,
        recorder,
        skip_held_namespaces_as,
    });
    Controller::new(api, watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "analysisrun reconcile");
            }
        })
        .await;
    Ok(())
}

// kube-runtime's error policy signature takes the Arcs by value.
#[allow(clippy::needless_pass_by_value)]
fn error_policy(run: Arc<AnalysisRun>, error: &ReconcileError, _: Arc<Context>) -> Action {
    tracing::warn!(run = %run.name_any(), %error, "analysisrun reconcile failed");
    Action::requeue(RETRY_AFTER_API_ERROR)
}

/// Secret argument values by arg name, or the run message when one cannot be read.
async fn secret_values(
    client: &kube::Client,
    namespace: &str,
    run: &AnalysisRun,
) -> Result<Result<BTreeMap<String, String>, String>, ReconcileError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut values = BTreeMap::new();
    for argument in secret_arguments(&run.spec) {
        let Some(secret) = secrets.get_opt(&argument.secret).await.map_err(|source| {
            ReconcileError::ReadSecret {
                name: run.name_any(),
                secret: argument.secret.clone(),
                source,
            }
        })?
        else {
            return Ok(Err(secret_error_message(&argument, false)));
        };
        let data = secret.data.unwrap_or_default();
        let string_data = secret.string_data.unwrap_or_default();
        let value = data
            .get(&argument.key)
            .map(|bytes| String::from_utf8_lossy(&bytes.0).into_owned())
            .or_else(|| string_data.get(&argument.key).cloned());
        match value {
            Some(value) => {
                values.insert(argument.arg, value);
            }
            None => return Ok(Err(secret_error_message(&argument, true))),
        }
    }
    Ok(Ok(values))
}

async fn reconcile(
    object: Arc<AnalysisRun>,
    context: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let name = object.name_any();
    let namespace = object.namespace().unwrap_or_else(|| "default".to_string());
    if let Some(me) = &context.skip_held_namespaces_as {
        let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
            Api::namespaced(context.client.clone(), &namespace);
        let lease = leases
            .get_opt(crate::controller::lease::LEASE_NAME)
            .await
            .map_err(|source| ReconcileError::ReadLease {
                namespace: namespace.clone(),
                source,
            })?;
        if crate::controller::lease::cluster_driver_skips(
            lease.as_ref(),
            me,
            k8s_openapi::jiff::Timestamp::now(),
        ) {
            tracing::debug!(%namespace, "namespace driven by its own Lease holder; skipping");
            return Ok(Action::requeue(SKIPPED_NAMESPACE_RECHECK));
        }
    }
    let api: Api<AnalysisRun> = Api::namespaced(context.client.clone(), &namespace);
    // The watch cache may lag our own last write; measuring from it could repeat a measurement.
    let Some(run) = api
        .get_opt(&name)
        .await
        .map_err(|source| ReconcileError::Read {
            name: name.clone(),
            source,
        })?
    else {
        return Ok(Action::await_change());
    };
    let before = run_status(run.status.as_ref());
    if before.is_completed() {
        return expire(&api, &run, &before).await;
    }
    let mut status = before.clone();
    let now = Utc::now();

    let inputs = match secret_values(&context.client, &namespace, &run).await? {
        Ok(values) => run_inputs(&run.spec, &run_arguments(&run.spec, &values)),
        Err(message) => Err(message),
    };
    let mut events = Vec::new();
    let mut wake = None;
    match inputs {
        Err(message) => {
            status.phase = Some(AnalysisPhase::Error);
            status.message = message;
            status.completed_at = Some(now);
            events.push(AnalysisEvent {
                reason: "AnalysisRunError".to_string(),
                message: "Analysis Completed. Result: Error".to_string(),
                warning: true,
            });
        }
        Ok(inputs) => {
            let jobs = JobContext {
                client: context.client.clone(),
                run: RunIdentity {
                    name: name.clone(),
                    namespace: namespace.clone(),
                    uid: run.metadata.uid.clone().unwrap_or_default(),
                },
            };
            for _ in 0..MAX_PASSES {
                let outcome = run_pass_with(
                    &inputs.metrics,
                    inputs.terminate,
                    &mut status,
                    &inputs.secrets,
                    Utc::now(),
                    Some(&jobs),
                )
                .await;
                events.extend(outcome.events);
                wake = outcome.next_wake_up;
                if !outcome.rerun_now {
                    break;
                }
            }
        }
    }

    write_status(&api, &name, &before, &status).await?;
    publish(&context.recorder, &run, &events).await;

    if status.is_completed() {
        return expire(&api, &run, &status).await;
    }
    // Whole-second status times can put the wake-up a little in the past; never spin.
    let delay = wake
        .map_or(Duration::from_secs(10), |at| {
            (at - Utc::now()).to_std().unwrap_or_default()
        })
        .max(Duration::from_millis(200));
    Ok(Action::requeue(delay))
}

/// Deletes a completed run whose `ttlStrategy` has run out, or comes back when it will.
async fn expire(
    api: &Api<AnalysisRun>,
    run: &AnalysisRun,
    status: &RunStatus,
) -> Result<Action, ReconcileError> {
    let Some(deadline) = ttl_deadline(&run.spec, status) else {
        return Ok(Action::await_change());
    };
    let now = Utc::now();
    if deadline > now {
        let wait = (deadline - now).to_std().unwrap_or_default();
        return Ok(Action::requeue(wait.max(Duration::from_millis(200))));
    }
    match api.delete(&run.name_any(), &DeleteParams::default()).await {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::await_change()),
        Err(source) => Err(ReconcileError::Delete {
            name: run.name_any(),
            source,
        }),
    }
}

async fn write_status(
    api: &Api<AnalysisRun>,
    name: &str,
    before: &RunStatus,
    after: &RunStatus,
) -> Result<(), ReconcileError> {
    let patch = merge_patch(&status_json(before), &status_json(after));
    if patch.is_null() {
        return Ok(());
    }
    let body: Value = json!({ "status": patch });
    // The AnalysisRun CRD has no status subresource (as upstream): the reference merge-patches
    // the object itself.
    api.patch(name, &PatchParams::default(), &Patch::Merge(&body))
        .await
        .map_err(|source| ReconcileError::WriteStatus {
            name: name.to_string(),
            source,
        })?;
    Ok(())
}

/// Events are best effort: a failure to record one never fails or repeats the pass.
async fn publish(recorder: &Recorder, run: &AnalysisRun, events: &[AnalysisEvent]) {
    let reference = run.object_ref(&());
    for event in events {
        let record = Event {
            type_: if event.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: event.reason.clone(),
            note: Some(event.message.clone()),
            action: "Reconcile".to_string(),
            secondary: None,
        };
        if let Err(error) = recorder.publish(&record, &reference).await {
            tracing::warn!(%error, reason = %event.reason, "recording an analysisrun event");
        }
    }
}
