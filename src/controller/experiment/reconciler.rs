//! The Experiment controller loop: a kube-runtime `Controller` over Experiments (one namespace or
//! all) that owns their ReplicaSets, Services and AnalysisRuns. Each reconcile reads the
//! Experiment and its namespace's objects, asks [`plan`](super::plan::plan) what to do, carries
//! the actions out and requeues at the plan's wake-up. The status is merge-patched with the
//! resourceVersion it was planned from, so a concurrent writer (a user's `terminate`, a test)
//! is never overwritten: the conflict is retried from a fresh read. A cluster-wide driver
//! skips namespaces whose own Lease another driver holds, as the other loops do.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType as KubeEventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Resource as _, ResourceExt as _};
use serde_json::json;

use super::plan::{ExperimentAction, ExperimentSnapshot, plan};
use crate::controller::plan::EventType;
use crate::crd::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Experiment};

/// The event reporter name.
pub const CONTROLLER_NAME: &str = "rolltop-experiments";
/// Back-off after a failed reconcile.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(2);
/// How long a skipped namespace waits before its Lease is checked again.
const SKIPPED_NAMESPACE_RECHECK: Duration = Duration::from_secs(5);

/// Reconciling one Experiment failed on an API call; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("reading Experiment {name}: {source}")]
    Read { name: String, source: kube::Error },
    #[error("listing {kind} in {namespace}: {source}")]
    List {
        kind: &'static str,
        namespace: String,
        source: kube::Error,
    },
    #[error("{action} {target} for Experiment {name}: {source}")]
    Apply {
        action: &'static str,
        target: String,
        name: String,
        source: kube::Error,
    },
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
    #[error("the Experiment API is not served (is the CRD installed?): {0}")]
    NotServed(kube::Error),
}

struct Context {
    client: kube::Client,
    recorder: Recorder,
    skip_held_namespaces_as: Option<String>,
}

/// Runs the Experiment controller until `shutdown` completes. `namespace: None` watches every
/// namespace; then namespaces whose per-namespace Lease another live identity than
/// `skip_held_namespaces_as` holds are skipped.
pub async fn run_with(
    client: kube::Client,
    namespace: Option<String>,
    skip_held_namespaces_as: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), RunControllerError> {
    fn api<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let experiments: Api<Experiment> = api(&client, namespace.as_deref());
    experiments
        .list(&ListParams::default().limit(1))
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
        client: client.clone(),
        recorder,
        skip_held_namespaces_as,
    });
    Controller::new(experiments, watcher::Config::default())
        .owns(
            api::<ReplicaSet>(&client, namespace.as_deref()),
            watcher::Config::default(),
        )
        .owns(
            api::<AnalysisRun>(&client, namespace.as_deref()),
            watcher::Config::default(),
        )
        .owns(
            api::<Service>(&client, namespace.as_deref()),
            watcher::Config::default(),
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "experiment reconcile");
            }
        })
        .await;
    Ok(())
}

// kube-runtime's error policy signature takes the Arcs by value.
#[allow(clippy::needless_pass_by_value)]
fn error_policy(experiment: Arc<Experiment>, error: &ReconcileError, _: Arc<Context>) -> Action {
    tracing::warn!(experiment = %experiment.name_any(), %error, "experiment reconcile failed");
    Action::requeue(RETRY_AFTER_ERROR)
}

async fn read_snapshot(
    client: &kube::Client,
    namespace: &str,
    experiment: Experiment,
) -> Result<ExperimentSnapshot, ReconcileError> {
    let params = ListParams::default();
    let list_error = |kind: &'static str| {
        move |source| ReconcileError::List {
            kind,
            namespace: namespace.to_owned(),
            source,
        }
    };
    let replica_sets = Api::<ReplicaSet>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
        .map_err(list_error("ReplicaSet"))?
        .items;
    let services = Api::<Service>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
        .map_err(list_error("Service"))?
        .items;
    let analysis_runs = Api::<AnalysisRun>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
        .map_err(list_error("AnalysisRun"))?
        .items;
    let needs_templates = experiment
        .spec
        .analyses
        .as_ref()
        .is_some_and(|a| !a.is_empty());
    let (analysis_templates, cluster_analysis_templates) = if needs_templates {
        (
            Api::<AnalysisTemplate>::namespaced(client.clone(), namespace)
                .list(&params)
                .await
                .map_err(list_error("AnalysisTemplate"))?
                .items,
            Api::<ClusterAnalysisTemplate>::all(client.clone())
                .list(&params)
                .await
                .map_err(list_error("ClusterAnalysisTemplate"))?
                .items,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(ExperimentSnapshot {
        experiment,
        replica_sets,
        services,
        analysis_runs,
        analysis_templates,
        cluster_analysis_templates,
        now: chrono::Utc::now(),
    })
}

async fn reconcile(object: Arc<Experiment>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let name = object.name_any();
    let namespace = object.namespace().unwrap_or_else(|| "default".to_owned());
    if let Some(me) = &ctx.skip_held_namespaces_as {
        let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
            Api::namespaced(ctx.client.clone(), &namespace);
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
            return Ok(Action::requeue(SKIPPED_NAMESPACE_RECHECK));
        }
    }
    let experiments: Api<Experiment> = Api::namespaced(ctx.client.clone(), &namespace);
    // The watch cache may lag our own last write: plan from a fresh read.
    let Some(experiment) =
        experiments
            .get_opt(&name)
            .await
            .map_err(|source| ReconcileError::Read {
                name: name.clone(),
                source,
            })?
    else {
        return Ok(Action::await_change());
    };
    if experiment.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let resource_version = experiment.resource_version();
    let snapshot = read_snapshot(&ctx.client, &namespace, experiment).await?;
    let decided = plan(&snapshot);
    let fail = |action: &'static str, target: &str| {
        let target = target.to_owned();
        let name = name.clone();
        move |source| ReconcileError::Apply {
            action,
            target,
            name,
            source,
        }
    };
    let merge = PatchParams::default();
    let replica_sets = Api::<ReplicaSet>::namespaced(ctx.client.clone(), &namespace);
    let services = Api::<Service>::namespaced(ctx.client.clone(), &namespace);
    let runs = Api::<AnalysisRun>::namespaced(ctx.client.clone(), &namespace);
    for action in &decided.actions {
        match action {
            ExperimentAction::CreateReplicaSet(rs) => {
                match replica_sets.create(&PostParams::default(), rs).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 409 => {}
                    Err(source) => return Err(fail("create ReplicaSet", &rs.name_any())(source)),
                }
            }
            ExperimentAction::PatchReplicaSet { name: rs, patch } => {
                replica_sets
                    .patch(rs, &merge, &Patch::Merge(patch))
                    .await
                    .map_err(fail("patch ReplicaSet", rs))?;
            }
            ExperimentAction::CreateService(service) => {
                match services.create(&PostParams::default(), service).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 409 => {}
                    Err(source) => {
                        return Err(fail("create Service", &service.name_any())(source));
                    }
                }
            }
            ExperimentAction::DeleteService { name: service } => {
                match services.delete(service, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(source) => return Err(fail("delete Service", service)(source)),
                }
            }
            ExperimentAction::CreateAnalysisRun(run) => {
                match runs.create(&PostParams::default(), run).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 409 => {}
                    Err(source) => {
                        return Err(fail("create AnalysisRun", &run.name_any())(source));
                    }
                }
            }
            ExperimentAction::PatchAnalysisRun { name: run, patch } => {
                runs.patch(run, &merge, &Patch::Merge(patch))
                    .await
                    .map_err(fail("patch AnalysisRun", run))?;
            }
            ExperimentAction::PatchStatus(patch) => {
                // The Experiment CRD has no status subresource (as upstream): patch the object,
                // guarded by the resourceVersion the plan was made from.
                let body = json!({
                    "metadata": {"resourceVersion": resource_version},
                    "status": patch,
                });
                experiments
                    .patch(&name, &merge, &Patch::Merge(&body))
                    .await
                    .map_err(fail("patch status of", &name))?;
            }
            ExperimentAction::RecordEvent {
                reason,
                message,
                kind,
            } => {
                let event = Event {
                    type_: match kind {
                        EventType::Normal => KubeEventType::Normal,
                        EventType::Warning => KubeEventType::Warning,
                    },
                    reason: reason.clone(),
                    note: Some(message.clone()),
                    action: "Reconcile".to_owned(),
                    secondary: None,
                };
                // Events are best effort.
                if let Err(error) = ctx
                    .recorder
                    .publish(&event, &snapshot.experiment.object_ref(&()))
                    .await
                {
                    tracing::warn!(%error, %reason, "recording an experiment event");
                }
            }
        }
    }
    if !decided.actions.is_empty() {
        tracing::info!(
            experiment = %format!("{namespace}/{name}"),
            actions = decided.actions.len(),
            "applied experiment plan"
        );
    }
    Ok(decided
        .requeue_after
        .map_or_else(Action::await_change, Action::requeue))
}
