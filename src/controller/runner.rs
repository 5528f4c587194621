//! The controller loop: a kube-runtime `Controller` over Rollouts that owns ReplicaSets and
//! AnalysisRuns and watches the Services rollouts reference. Each reconcile is
//! [`read_snapshot`] → [`plan`] → [`apply`], requeued at the plan's `requeue_after`; the
//! AnalysisRun and Experiment reconcilers run alongside in the same scope. Leadership is the caller's job
//! ([`crate::controller::lease`]); a cluster-wide runner only consults per-namespace Leases to
//! skip namespaces another driver holds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::cluster::client::Scope;
use crate::controller::apply::{ApplyPlanError, ReadSnapshotError, apply, read_snapshot};
use crate::controller::lease::{
    AcquireLeaseError, LEASE_NAME, acquire, cluster_driver_skips, detect_argo_operator, identity,
};
use crate::controller::plan::plan;
use crate::crd::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Experiment, Rollout};

/// First retry delay after a failed reconcile; doubles per consecutive failure.
const RETRY_BASE: Duration = Duration::from_millis(500);
/// Cap of the retry delay.
const RETRY_MAX: Duration = Duration::from_secs(30);
/// How often a cluster-wide runner looks again at a namespace another driver holds.
const SKIPPED_NAMESPACE_RECHECK: Duration = Duration::from_secs(5);

/// Why one reconcile failed; every case is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Read(#[from] ReadSnapshotError),
    #[error(transparent)]
    Apply(#[from] ApplyPlanError),
    #[error("reading Lease {namespace}/{LEASE_NAME}: {source}")]
    ReadLease {
        namespace: String,
        source: kube::Error,
    },
}

/// Why `rolltop controller` stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error("looking for an Argo Rollouts operator: {0}")]
    Detect(kube::Error),
    #[error(
        "{0}; two controllers would fight over the same rollouts. Stop it, or pass --force to \
         drive anyway"
    )]
    ArgoOperator(String),
    #[error(transparent)]
    Lease(#[from] AcquireLeaseError),
    #[error(transparent)]
    Run(#[from] RunControllerError),
    #[error("lost the Lease {0} to another driver or to failed renewals; stopped driving")]
    LeaseLost(String),
    #[error("installing the SIGINT/SIGTERM handlers: {0}")]
    Signal(std::io::Error),
}

/// Completes on the first SIGINT or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled, so a signal is never lost between the two.
pub fn termination_signal()
-> Result<impl Future<Output = ()> + Send + Sync + 'static, std::io::Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
    })
}

/// `rolltop controller`: refuse when an Argo Rollouts operator runs (unless `force`), take the
/// scope's Lease (or say who holds it), drive until `shutdown`, then release the Lease.
pub async fn drive(
    client: Client,
    scope: Scope,
    force: bool,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), DriveError> {
    if let Some(evidence) = detect_argo_operator(&client)
        .await
        .map_err(DriveError::Detect)?
    {
        if force {
            tracing::warn!(%evidence, "driving anyway (--force)");
        } else {
            return Err(DriveError::ArgoOperator(evidence));
        }
    }
    let me = identity();
    let guard = acquire(&client, &scope, &me).await?;
    eprintln!(
        "rolltop controller: driving {} as {me} (Lease {})",
        scope_label(&scope),
        guard.lease()
    );
    let lost = guard.lost().shared();
    let stop = {
        let lost = lost.clone();
        async move {
            tokio::select! {
                () = shutdown => {}
                () = lost => {}
            }
        }
    };
    let options = RunOptions { identity: Some(me) };
    let result = run_with(client, scope, options, stop).await;
    if lost.peek().is_some() {
        return Err(DriveError::LeaseLost(guard.lease()));
    }
    let lease = guard.lease();
    if let Err(error) = guard.release().await {
        tracing::warn!(%lease, %error, "releasing the lease failed; it expires on its own");
    }
    result?;
    eprintln!("rolltop controller: stopped; Lease {lease} released");
    Ok(())
}

fn scope_label(scope: &Scope) -> String {
    match scope {
        Scope::AllNamespaces => "all namespaces".to_owned(),
        Scope::Namespace(ns) => format!("namespace {ns}"),
    }
}

/// Why the controller could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunControllerError {
    #[error(
        "the Rollout API is not served (is the CRD installed? try `rolltop install-crds`): {0}"
    )]
    NotServed(kube::Error),
    #[error(transparent)]
    Analysis(#[from] crate::controller::analysis::reconciler::RunControllerError),
    #[error(transparent)]
    Experiment(#[from] crate::controller::experiment::reconciler::RunControllerError),
}

struct Context {
    client: Client,
    /// This driver's Lease identity, when a cluster-wide runner must skip held namespaces.
    skip_held_namespaces_as: Option<String>,
    /// Consecutive failures per Rollout, for the backoff.
    failures: Mutex<HashMap<ObjectRef<Rollout>, u32>>,
}

/// Options of [`run`] beyond the scope.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The Lease identity of this driver. With [`Scope::AllNamespaces`], rollouts in namespaces
    /// whose `rolltop-controller` Lease another identity holds are skipped.
    pub identity: Option<String>,
}

/// How long the loops may finish in-flight reconciles after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Drives every Rollout in `scope` until `shutdown` completes.
pub async fn run(
    client: Client,
    scope: Scope,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), RunControllerError> {
    run_with(client, scope, RunOptions::default(), shutdown).await
}

/// [`run`] with options.
pub async fn run_with(
    client: Client,
    scope: Scope,
    options: RunOptions,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), RunControllerError> {
    fn api<K>(client: &Client, scope: &Scope) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match scope {
            Scope::AllNamespaces => Api::all(client.clone()),
            Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
        }
    }
    let rollouts: Api<Rollout> = api(&client, &scope);
    rollouts
        .list(&kube::api::ListParams::default().limit(1))
        .await
        .map_err(RunControllerError::NotServed)?;
    let shutdown = shutdown.boxed().shared();
    let analysis = crate::controller::analysis::reconciler::run_with(
        client.clone(),
        scope.namespace().map(str::to_owned),
        match scope {
            Scope::AllNamespaces => options.identity.clone(),
            Scope::Namespace(_) => None,
        },
        shutdown.clone(),
    );
    // Boxed: the Experiment loop's future is large, and every caller of `run_with` carries it.
    let experiments = Box::pin(crate::controller::experiment::reconciler::run_with(
        client.clone(),
        scope.namespace().map(str::to_owned),
        match scope {
            Scope::AllNamespaces => options.identity.clone(),
            Scope::Namespace(_) => None,
        },
        shutdown.clone(),
    ));
    let context = Arc::new(Context {
        client: client.clone(),
        skip_held_namespaces_as: match scope {
            Scope::AllNamespaces => options.identity.clone(),
            Scope::Namespace(_) => None,
        },
        failures: Mutex::new(HashMap::new()),
    });
    // The companion Service controller: strips the injected selector from Services no Rollout
    // names any more (spec §5.1, `controller::services`).
    let service_loop = crate::controller::services::run(
        client.clone(),
        scope.clone(),
        context.skip_held_namespaces_as.clone(),
        shutdown.clone(),
    )
    .boxed();
    let controller = Controller::new(rollouts, watcher::Config::default());
    let store = controller.store();
    // Router objects: Ingresses are built in; Istio/SMI kinds are watched once discovered.
    let (router_trigger, router_events) = futures::channel::mpsc::unbounded();
    let router_watch = crate::controller::traffic::watch::watch_optional_router_kinds(
        client.clone(),
        scope.namespace().map(str::to_owned),
        store.clone(),
        router_trigger,
        shutdown.clone(),
    );
    let ingress_store = store.clone();
    let orphan_store = store.clone();
    let template_store = store.clone();
    let cluster_template_store = store.clone();
    let workload_store = controller.store();
    let rollouts_loop = controller
        .owns(
            api::<ReplicaSet>(&client, &scope),
            watcher::Config::default(),
        )
        .owns(
            api::<AnalysisRun>(&client, &scope),
            watcher::Config::default(),
        )
        .owns(
            api::<Experiment>(&client, &scope),
            watcher::Config::default(),
        )
        .watches(
            api::<Service>(&client, &scope),
            watcher::Config::default(),
            move |service| {
                let namespace = service.namespace();
                let name = service.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|rollout| {
                        rollout.namespace() == namespace
                            && referenced_services(rollout).contains(&name.as_str())
                    })
                    .map(|rollout| ObjectRef::from_obj(&*rollout))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            api::<ReplicaSet>(&client, &scope),
            watcher::Config::default(),
            move |replica_set| orphan_claimants(&orphan_store.state(), &replica_set),
        )
        .watches(
            api::<AnalysisTemplate>(&client, &scope),
            watcher::Config::default(),
            move |template| {
                // A template created after the Rollout clears its InvalidSpec (spec §1.5).
                let namespace = template.namespace();
                let name = template.name_any();
                template_store
                    .state()
                    .into_iter()
                    .filter(|rollout| {
                        rollout.namespace() == namespace
                            && crate::controller::validation::referenced_analysis_templates(rollout)
                                .contains(&(name.clone(), false))
                    })
                    .map(|rollout| ObjectRef::from_obj(&*rollout))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            // Cluster-scoped; `read_snapshot` lists these cluster-wide already.
            Api::<ClusterAnalysisTemplate>::all(client.clone()),
            watcher::Config::default(),
            move |template| {
                let name = template.name_any();
                cluster_template_store
                    .state()
                    .into_iter()
                    .filter(|rollout| {
                        crate::controller::validation::referenced_analysis_templates(rollout)
                            .contains(&(name.clone(), true))
                    })
                    .map(|rollout| ObjectRef::from_obj(&*rollout))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            api::<Ingress>(&client, &scope),
            watcher::Config::default(),
            move |ingress| {
                crate::controller::traffic::watch::rollouts_referencing(
                    &ingress_store,
                    crate::controller::traffic::RouterKind::Ingress,
                    &ingress.namespace().unwrap_or_default(),
                    &ingress.name_any(),
                )
            },
        )
        .watches(
            api::<Deployment>(&client, &scope),
            watcher::Config::default(),
            move |deployment| {
                // A workloadRef rollout follows its Deployment's template (spec §3.1 step 2).
                let namespace = deployment.namespace();
                let name = deployment.name_any();
                workload_store
                    .state()
                    .into_iter()
                    .filter(|rollout| {
                        rollout.namespace() == namespace
                            && crate::controller::snapshot::Snapshot::workload_name(rollout)
                                == Some(name.as_str())
                    })
                    .map(|rollout| ObjectRef::from_obj(&*rollout))
                    .collect::<Vec<_>>()
            },
        )
        .reconcile_all_on(router_events)
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "rollout reconcile");
            }
        });
    tracing::info!(?scope, "controller running");
    let loops = async {
        tokio::join!(
            rollouts_loop,
            analysis,
            router_watch,
            experiments,
            service_loop
        )
    };
    // A graceful stop waits for reconciles in flight; one stuck on a slow or vanished API server
    // must not keep the caller (and its Lease) forever, so the loops get a bounded grace.
    let grace = async {
        shutdown.await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        ((), analysis, (), experiments, ()) = loops => {
            analysis?;
            experiments?;
        }
        () = grace => tracing::warn!("controller loops still busy {SHUTDOWN_GRACE:?} after shutdown; dropping them"),
    }
    tracing::info!("controller stopped");
    Ok(())
}

/// The Rollouts an orphan ReplicaSet (no controller owner) should wake: those of its namespace
/// whose selector matches its labels, so one of them adopts it (`controller::adoption`). Owned
/// ReplicaSets are left to `.owns()`.
fn orphan_claimants(
    rollouts: &[Arc<Rollout>],
    replica_set: &ReplicaSet,
) -> Vec<ObjectRef<Rollout>> {
    if replica_set
        .owner_references()
        .iter()
        .any(|o| o.controller == Some(true))
    {
        return Vec::new();
    }
    let namespace = replica_set.namespace();
    rollouts
        .iter()
        .filter(|rollout| {
            rollout.namespace() == namespace
                && rollout.spec.selector.as_ref().is_some_and(|selector| {
                    !crate::crd::label_selector::is_empty(selector)
                        && crate::crd::label_selector::matches(selector, replica_set.labels())
                })
        })
        .map(|rollout| ObjectRef::from_obj(&**rollout))
        .collect()
}

/// The Services a Rollout's strategy names (canary stable/canary and ping/pong, blue-green
/// active/preview).
pub fn referenced_services(rollout: &Rollout) -> Vec<&str> {
    let mut names = Vec::new();
    if let Some(canary) = rollout.canary() {
        names.extend(canary.stable_service.as_deref());
        names.extend(canary.canary_service.as_deref());
        if let Some(ping_pong) = canary.ping_pong.as_ref() {
            names.push(&ping_pong.ping_service);
            names.push(&ping_pong.pong_service);
        }
    }
    if let Some(blue_green) = rollout.blue_green() {
        names.extend(blue_green.active_service.as_deref());
        names.extend(blue_green.preview_service.as_deref());
    }
    names
}

async fn reconcile(rollout: Arc<Rollout>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = rollout.namespace().unwrap_or_default();
    let name = rollout.name_any();
    if let Some(me) = &ctx.skip_held_namespaces_as {
        let leases: Api<Lease> = Api::namespaced(ctx.client.clone(), &namespace);
        let lease =
            leases
                .get_opt(LEASE_NAME)
                .await
                .map_err(|source| ReconcileError::ReadLease {
                    namespace: namespace.clone(),
                    source,
                })?;
        if cluster_driver_skips(lease.as_ref(), me, Timestamp::now()) {
            tracing::debug!(%namespace, "namespace driven by its own Lease holder; skipping");
            return Ok(Action::requeue(SKIPPED_NAMESPACE_RECHECK));
        }
    }
    let snapshot = match read_snapshot(&ctx.client, &namespace, &name, chrono::Utc::now()).await {
        Ok(snapshot) => snapshot,
        // Deleted since the event: nothing to drive.
        Err(ReadSnapshotError::Rollout {
            source: kube::Error::Api(status),
            ..
        }) if status.code == 404 => return Ok(Action::await_change()),
        Err(error) => return Err(error.into()),
    };
    let decided = plan(&snapshot);
    if !decided.actions.is_empty() {
        tracing::info!(
            rollout = %format!("{namespace}/{name}"),
            actions = decided.actions.len(),
            "applying plan"
        );
    }
    apply(&ctx.client, &snapshot.rollout, &decided).await?;
    if let Ok(mut failures) = ctx.failures.lock() {
        failures.remove(&ObjectRef::from_obj(&*rollout));
    }
    Ok(decided
        .requeue_after
        .map_or_else(Action::await_change, Action::requeue))
}

/// The backoff after `failures` consecutive failed reconciles.
pub fn retry_delay(failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    RETRY_BASE.saturating_mul(factor).min(RETRY_MAX)
}

// kube-runtime's error policy signature takes the Arcs by value.
#[allow(clippy::needless_pass_by_value)]
fn error_policy(rollout: Arc<Rollout>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let failures = ctx.failures.lock().map_or(1, |mut failures| {
        let count = failures.entry(ObjectRef::from_obj(&*rollout)).or_insert(0);
        *count = count.saturating_add(1);
        *count
    });
    let delay = retry_delay(failures);
    tracing::warn!(
        rollout = %format!("{}/{}", rollout.namespace().unwrap_or_default(), rollout.name_any()),
        %error,
        retry_in_ms = delay.as_millis(),
        "rollout reconcile failed"
    );
    Action::requeue(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_then_caps() {
        let cases = [
            (0, 500),
            (1, 500),
            (2, 1_000),
            (3, 2_000),
            (6, 16_000),
            (7, 30_000),
            (100, 30_000),
        ];
        for (failures, millis) in cases {
            assert_eq!(
                retry_delay(failures),
                Duration::from_millis(millis),
                "{failures}"
            );
        }
    }
}
