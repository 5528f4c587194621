//! Simulated cluster controllers for the sandbox: a kubelet (pods go Pending -> Running ->
//! Ready, or crash, never get ready, or fail, by documented rules), a ReplicaSet controller, a
//! simple Deployment controller and a Job runner. They are ordinary kube-runtime controllers
//! that reach the sandbox server only through a [`kube::Client`] over HTTP, exactly as they
//! would reach a real cluster; they hold no state of their own beyond watch caches.
//!
//! Every decision is a pure function of the objects read and the current time
//! ([`kubelet::next_pod_status`], [`replicaset::plan_replicaset`],
//! [`deployment::plan_deployment`], [`job::plan_job`]); the reconcilers around them only read,
//! call the plan, and write the result. Timed steps (readiness, crash back-off, job run time)
//! are requeues, never polling loops.

pub mod behavior;
pub mod clock;
pub mod deployment;
pub mod job;
pub mod kubelet;
pub mod merge_patch;
pub mod names;
pub mod node;
pub mod replicaset;
pub mod selector;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::api::PatchParams;
use kube::runtime::controller::{self, Action};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Reports waiting for the event writer before new ones are dropped.
const EVENT_QUEUE: usize = 4096;

/// Tunable timings and names of the simulation. `Default` gives demo-friendly values; tests
/// shorten the delays.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Time from a container starting to it passing readiness.
    pub ready_delay: Duration,
    /// Time from a pod being scheduled to its containers running ("image pull").
    pub start_delay: Duration,
    /// How long containers that exit on their own (Job pods, `exit N` commands, `fail`) run.
    pub run_duration: Duration,
    /// How long a crashing container runs before it exits 1.
    pub crash_after: Duration,
    /// First CrashLoopBackOff delay; it doubles with each restart up to `max_crash_backoff`.
    pub crash_backoff: Duration,
    /// Cap of the CrashLoopBackOff delay.
    pub max_crash_backoff: Duration,
    /// The one node every pod is scheduled to.
    pub node_name: String,
    /// The node's address, reported as every pod's `hostIP`.
    pub host_ip: String,
    /// Finished (Failed or Succeeded) pods a ReplicaSet keeps before deleting the oldest, so
    /// a `fail` pod template cannot fill the sandbox with dead pods.
    pub finished_pods_kept: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            ready_delay: Duration::from_secs(2),
            start_delay: Duration::from_millis(500),
            run_duration: Duration::from_secs(3),
            crash_after: Duration::from_secs(1),
            crash_backoff: Duration::from_secs(2),
            max_crash_backoff: Duration::from_secs(30),
            node_name: "sandbox-node".to_owned(),
            host_ip: "172.18.0.2".to_owned(),
            finished_pods_kept: 3,
        }
    }
}

/// The running simulators. Dropping the handle aborts them.
pub struct SimHandle {
    tasks: Vec<JoinHandle<()>>,
}

impl SimHandle {
    /// Stops every simulator now (also done on drop).
    pub fn abort(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.abort();
    }
}

/// Starts the kubelet, ReplicaSet, Deployment and Job simulators against `client`, and
/// registers the node. Must be called inside a tokio runtime.
pub fn spawn(client: kube::Client, config: SimConfig) -> SimHandle {
    let (events, queue) = mpsc::channel(EVENT_QUEUE);
    let writer = write_events(client.clone(), config.node_name.clone(), queue);
    let ctx = Arc::new(Context {
        client,
        config,
        events,
    });
    let tasks = vec![
        tokio::spawn(writer),
        tokio::spawn(node::register(ctx.clone())),
        tokio::spawn(kubelet::run(ctx.clone())),
        tokio::spawn(replicaset::run(ctx.clone())),
        tokio::spawn(deployment::run(ctx.clone())),
        tokio::spawn(job::run(ctx)),
    ];
    SimHandle { tasks }
}

/// What every reconciler gets.
struct Context {
    client: Client,
    config: SimConfig,
    /// Where reconcilers drop the events they report; a separate task writes them.
    events: mpsc::Sender<Report>,
}

impl Context {
    /// Queues `notices` about `regarding` for the event writer. Best effort: when the queue
    /// is full the notices are dropped, so event writes never slow a reconcile down.
    fn announce(&self, reporter: Component, regarding: ObjectReference, notices: Vec<Notice>) {
        if notices.is_empty() {
            return;
        }
        let report = Report {
            reporter,
            regarding,
            notices,
        };
        if let Err(err) = self.events.try_send(report) {
            tracing::debug!(error = %err, "event queue full; events dropped");
        }
    }
}

/// The Kubernetes component a simulator stands in for, named on its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Component {
    Kubelet,
    ReplicaSetController,
    DeploymentController,
    JobController,
}

/// Notices about one object from one component, on their way to the event writer.
struct Report {
    reporter: Component,
    regarding: ObjectReference,
    notices: Vec<Notice>,
}

/// Writes queued reports as `events.k8s.io/v1` Events until the queue closes. An event that
/// cannot be written is logged and dropped, never retried.
async fn write_events(client: Client, node_name: String, mut queue: mpsc::Receiver<Report>) {
    let recorder = |controller: &str, instance: &str| {
        Recorder::new(
            client.clone(),
            Reporter {
                controller: controller.to_owned(),
                instance: Some(instance.to_owned()),
            },
        )
    };
    let kubelet = recorder("kubelet", &node_name);
    let replicaset = recorder("replicaset-controller", "rolltop-sandbox");
    let deployment = recorder("deployment-controller", "rolltop-sandbox");
    let job = recorder("job-controller", "rolltop-sandbox");
    while let Some(report) = queue.recv().await {
        let recorder = match report.reporter {
            Component::Kubelet => &kubelet,
            Component::ReplicaSetController => &replicaset,
            Component::DeploymentController => &deployment,
            Component::JobController => &job,
        };
        for notice in &report.notices {
            let event = Event {
                type_: if notice.warning {
                    EventType::Warning
                } else {
                    EventType::Normal
                },
                reason: notice.reason.clone(),
                note: Some(notice.note.clone()),
                action: notice.reason.clone(),
                secondary: None,
            };
            if let Err(err) = recorder.publish(&event, &report.regarding).await {
                tracing::debug!(reason = %notice.reason, error = %err, "could not record an event");
            }
        }
    }
}

/// An event a simulator reports about the object it works on, as the real component would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub warning: bool,
    pub reason: String,
    pub note: String,
}

impl Notice {
    pub fn normal(reason: &str, note: impl Into<String>) -> Self {
        Self {
            warning: false,
            reason: reason.to_owned(),
            note: note.into(),
        }
    }

    pub fn warning(reason: &str, note: impl Into<String>) -> Self {
        Self {
            warning: true,
            reason: reason.to_owned(),
            note: note.into(),
        }
    }
}

/// Why a reconcile failed; the controller retries it after a short delay.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("kubernetes API call failed: {0}")]
    Api(#[from] kube::Error),
    #[error("could not encode an object: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Field manager recorded on every write, per simulator.
fn patch_params(manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(format!("rolltop-sandbox-{manager}")),
        ..PatchParams::default()
    }
}

/// Treats "already gone" as success: deleting or patching an object someone else removed.
fn ignore_not_found<T>(result: Result<T, kube::Error>) -> Result<Option<T>, kube::Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(None),
        Err(err) => Err(err),
    }
}

fn is_already_exists(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.is_already_exists())
}

/// Retry soon after a failed reconcile; the error itself is logged by [`drain`].
fn retry_soon<K>(_object: Arc<K>, _error: &ReconcileError, _ctx: Arc<Context>) -> Action {
    Action::requeue(Duration::from_secs(1))
}

/// Drives a controller's result stream to its end, logging failures instead of stopping.
async fn drain<K, S, QE>(name: &'static str, stream: S)
where
    K: kube::Resource,
    K::DynamicType: Debug,
    S: futures::Stream<
            Item = Result<(ObjectRef<K>, Action), controller::Error<ReconcileError, QE>>,
        >,
    QE: std::error::Error + 'static,
{
    stream
        .for_each(|result| async move {
            match result {
                Ok(_) => {}
                Err(controller::Error::ReconcilerFailed(err, object)) => {
                    tracing::warn!(simulator = name, %object, error = %err, "reconcile failed");
                }
                Err(err) => tracing::debug!(simulator = name, error = %err, "controller event"),
            }
        })
        .await;
}
