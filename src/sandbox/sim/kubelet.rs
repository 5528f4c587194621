//! The simulated kubelet: schedules every pod to the sandbox node and walks it through
//! Pending -> Running -> Ready, or through the misbehaviours of [`super::behavior`]
//! (CrashLoopBackOff, never Ready, Failed, Jobs' containers running to completion).
//!
//! The whole lifecycle is a pure function of the pod and the time ([`next_pod_status`]): the
//! timestamps in the pod's own status (`startTime`, `state.running.startedAt`,
//! `lastState.terminated.finishedAt`) say how far along it is, so a restarted sandbox picks
//! up where it left. Status goes out through the `/status` subresource as a merge patch.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::{Api, Patch};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::json;

use super::behavior::{Script, container_script};
use super::clock::{after, earliest, settled, stored, until};
use super::names::{digest, pod_ip};
use super::{
    Component, Context, Notice, ReconcileError, SimConfig, drain, merge_patch, patch_params,
};

/// What the kubelet does to one pod now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KubeletStep {
    /// Bind the pod to this node (`spec.nodeName`) before writing status.
    pub bind_to: Option<String>,
    /// The new status, when it differs from the current one.
    pub status: Option<PodStatus>,
    /// When to look again, if something is due later.
    pub requeue_after: Option<Duration>,
    /// Events the kubelet reports about the pod for this step.
    pub notices: Vec<Notice>,
}

/// The next step of `pod`'s lifecycle at `now`.
pub fn next_pod_status(pod: &Pod, now: Timestamp, config: &SimConfig) -> KubeletStep {
    // A pod without containers is invalid; a real API server would have refused it.
    let Some(spec) = pod.spec.as_ref().filter(|s| !s.containers.is_empty()) else {
        return KubeletStep::default();
    };
    let old = pod.status.clone().unwrap_or_default();
    if pod.metadata.deletion_timestamp.is_some()
        || matches!(old.phase.as_deref(), Some("Succeeded" | "Failed"))
    {
        return KubeletStep::default();
    }
    let bind_to = spec
        .node_name
        .as_deref()
        .is_none_or(str::is_empty)
        .then(|| config.node_name.clone());
    let (status, deadline) = match old.start_time.as_ref() {
        None => (
            pending_status(pod, spec, &old, now, config),
            Some(after(settled(now), config.start_delay)),
        ),
        Some(start) if old.phase.as_deref() == Some("Pending") || old.phase.is_none() => {
            let starts_at = after(settled(start.0), config.start_delay);
            if now < starts_at {
                (old.clone(), Some(starts_at))
            } else {
                running_status(pod, spec, &old, now, config)
            }
        }
        Some(_) => running_status(pod, spec, &old, now, config),
    };
    let notices = pod_notices(pod, &old, &status, bind_to.as_deref(), config);
    KubeletStep {
        bind_to,
        status: (status != old).then_some(status),
        requeue_after: deadline.map(|d| until(now, d)),
        notices,
    }
}

/// The events a kubelet reports for a step: scheduling, container starts, back-offs.
fn pod_notices(
    pod: &Pod,
    old: &PodStatus,
    new: &PodStatus,
    bound_to: Option<&str>,
    config: &SimConfig,
) -> Vec<Notice> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let mut notices = Vec::new();
    if let Some(node) = bound_to {
        notices.push(Notice::normal(
            "Scheduled",
            format!("Successfully assigned {namespace}/{name} to {node}"),
        ));
    }
    for container in new.container_statuses.iter().flatten() {
        let before = old
            .container_statuses
            .iter()
            .flatten()
            .find(|c| c.name == container.name);
        let state = container.state.as_ref();
        let started = state.is_some_and(|s| s.running.is_some())
            && before.and_then(|b| b.container_id.as_ref()) != container.container_id.as_ref();
        if started {
            notices.push(Notice::normal(
                "Pulled",
                format!(
                    "Container image \"{}\" already present on machine",
                    container.image
                ),
            ));
            notices.push(Notice::normal(
                "Created",
                format!("Created container: {}", container.name),
            ));
            notices.push(Notice::normal(
                "Started",
                format!("Started container {}", container.name),
            ));
            // A container that never passes readiness says so, as a failing probe would.
            let never_ready = pod
                .spec
                .iter()
                .flat_map(|spec| &spec.containers)
                .find(|c| c.name == container.name)
                .map(|c| container_script(pod, c, config))
                .is_some_and(|script| script.exit.is_none() && script.ready_after.is_none());
            if never_ready {
                notices.push(Notice::warning(
                    "Unhealthy",
                    "Readiness probe failed: HTTP probe failed with statuscode: 503",
                ));
            }
        }
        let backing_off = |s: Option<&ContainerState>| {
            s.and_then(|s| s.waiting.as_ref())
                .is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff"))
        };
        if backing_off(state) && !backing_off(before.and_then(|b| b.state.as_ref())) {
            notices.push(Notice::warning(
                "BackOff",
                format!(
                    "Back-off restarting failed container {} in pod {name}_{namespace}({uid})",
                    container.name
                ),
            ));
        }
    }
    notices
}

/// The status of a pod just scheduled: IPs assigned, containers being created.
fn pending_status(
    pod: &Pod,
    spec: &PodSpec,
    old: &PodStatus,
    now: Timestamp,
    config: &SimConfig,
) -> PodStatus {
    let waiting = |reason: &str| ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_owned()),
            message: None,
        }),
        ..ContainerState::default()
    };
    let fresh = |c: &Container, reason: &str| ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        image_id: String::new(),
        ready: false,
        started: Some(false),
        restart_count: 0,
        state: Some(waiting(reason)),
        ..ContainerStatus::default()
    };
    let has_init = spec.init_containers.as_ref().is_some_and(|c| !c.is_empty());
    let key = pod
        .metadata
        .uid
        .as_deref()
        .or(pod.metadata.name.as_deref())
        .unwrap_or_default();
    let ip = pod_ip(key);
    let mut status = old.clone();
    status.phase = Some("Pending".to_owned());
    status.start_time = Some(stored(now));
    status.host_ip = Some(config.host_ip.clone());
    status.host_ips = Some(vec![HostIP {
        ip: config.host_ip.clone(),
    }]);
    status.pod_ip = Some(ip.clone());
    status.pod_ips = Some(vec![PodIP { ip }]);
    status.qos_class = Some(qos_class(spec).to_owned());
    status.container_statuses = Some(
        spec.containers
            .iter()
            .map(|c| {
                fresh(
                    c,
                    if has_init {
                        "PodInitializing"
                    } else {
                        "ContainerCreating"
                    },
                )
            })
            .collect(),
    );
    status.init_container_statuses = has_init.then(|| {
        spec.init_containers
            .iter()
            .flatten()
            .map(|c| fresh(c, "PodInitializing"))
            .collect()
    });
    let not_ready = Some((
        "ContainersNotReady",
        unready_message(spec.containers.iter().map(|c| c.name.as_str())),
    ));
    status.conditions = Some(conditions(
        old,
        now,
        &[
            ("PodReadyToStartContainers", false, None),
            (
                "Initialized",
                !has_init,
                has_init.then(|| {
                    (
                        "ContainersNotInitialized",
                        "containers with incomplete status: [init]".to_owned(),
                    )
                }),
            ),
            ("Ready", false, not_ready.clone()),
            ("ContainersReady", false, not_ready),
            ("PodScheduled", true, None),
        ],
    ));
    status
}

/// The status of a started pod: each container advanced, the phase and conditions derived.
fn running_status(
    pod: &Pod,
    spec: &PodSpec,
    old: &PodStatus,
    now: Timestamp,
    config: &SimConfig,
) -> (PodStatus, Option<Timestamp>) {
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    let uid = pod.metadata.uid.as_deref().unwrap_or(pod_name);
    let mut deadlines = Vec::new();
    let containers: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| {
            let previous = old
                .container_statuses
                .iter()
                .flatten()
                .find(|s| s.name == c.name);
            let script = container_script(pod, c, config);
            let (status, deadline) =
                advance_container(c, previous, script, uid, pod_name, now, config);
            deadlines.push(deadline);
            status
        })
        .collect();
    let init = spec.init_containers.as_ref().map(|inits| {
        inits
            .iter()
            .map(|c| completed_init_container(c, old, uid, now))
            .collect::<Vec<_>>()
    });

    let all_done = containers.iter().all(|c| terminated(c).is_some());
    let all_succeeded = containers
        .iter()
        .all(|c| terminated(c).is_some_and(|t| t.exit_code == 0));
    let phase = match (all_done, all_succeeded) {
        (true, true) => "Succeeded",
        (true, false) => "Failed",
        _ => "Running",
    };
    let all_ready = containers.iter().all(|c| c.ready);
    let ready_reason = match phase {
        "Succeeded" => Some(("PodCompleted", String::new())),
        "Failed" => Some(("PodFailed", String::new())),
        _ if all_ready => None,
        _ => Some((
            "ContainersNotReady",
            unready_message(
                containers
                    .iter()
                    .filter(|c| !c.ready)
                    .map(|c| c.name.as_str()),
            ),
        )),
    };
    let running = phase == "Running";
    // Readiness gates: the pod is Ready only once every gate's condition, written by someone
    // else (a load balancer controller, or a test), is True; ContainersReady ignores them.
    let gate_reason = (running && all_ready)
        .then(|| readiness_gate_unmet(spec, old))
        .flatten();
    let pod_ready_reason = gate_reason
        .map(|message| ("ReadinessGatesNotReady", message))
        .or_else(|| ready_reason.clone());

    let mut status = old.clone();
    status.phase = Some(phase.to_owned());
    status.container_statuses = Some(containers);
    status.init_container_statuses = init;
    status.conditions = Some(conditions(
        old,
        now,
        &[
            ("PodReadyToStartContainers", running, None),
            ("Initialized", true, None),
            (
                "Ready",
                running && all_ready && pod_ready_reason.is_none(),
                pod_ready_reason,
            ),
            ("ContainersReady", running && all_ready, ready_reason),
            ("PodScheduled", true, None),
        ],
    ));
    (status, earliest(deadlines))
}

/// One container's next status and when it next changes by itself.
fn advance_container(
    container: &Container,
    previous: Option<&ContainerStatus>,
    script: Script,
    uid: &str,
    pod_name: &str,
    now: Timestamp,
    config: &SimConfig,
) -> (ContainerStatus, Option<Timestamp>) {
    let image = container.image.clone().unwrap_or_default();
    let restart_count = previous.map_or(0, |p| p.restart_count);
    let last_state = previous.and_then(|p| p.last_state.clone());
    let state = previous.and_then(|p| p.state.as_ref());
    let start_fresh = |restart_count: i32, last_state: Option<ContainerState>| {
        let status = ContainerStatus {
            name: container.name.clone(),
            image_id: image_id(&image),
            container_id: Some(format!(
                "containerd://{}",
                digest(&[uid, &container.name, &restart_count.to_string()])
            )),
            image: image.clone(),
            ready: false,
            started: Some(true),
            restart_count,
            state: Some(ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(stored(now)),
                }),
                ..ContainerState::default()
            }),
            last_state,
            ..ContainerStatus::default()
        };
        let deadline = earliest([
            script.exit.map(|e| after(settled(now), e.after)),
            script.ready_after.map(|d| after(settled(now), d)),
        ]);
        (status, deadline)
    };

    let Some(previous) = previous else {
        return start_fresh(0, None);
    };
    if let Some(running) = state.and_then(|s| s.running.as_ref()) {
        let started = running.started_at.as_ref().map_or(now, |t| t.0);
        let base = settled(started);
        if let Some(exit) = script.exit {
            let ends = after(base, exit.after);
            if now >= ends {
                return exited(previous, script, exit.code, started, pod_name, now, config);
            }
        }
        let ready_at = script.ready_after.map(|d| after(base, d));
        let ready = previous.ready || ready_at.is_some_and(|at| now >= at);
        let mut status = previous.clone();
        status.ready = ready;
        status.started = Some(true);
        status.image.clone_from(&image);
        let deadline = earliest([
            script.exit.map(|e| after(base, e.after)),
            ready_at.filter(|_| !ready),
        ]);
        return (status, deadline);
    }
    if state.and_then(|s| s.terminated.as_ref()).is_some() {
        return (previous.clone(), None);
    }
    let backing_off = state
        .and_then(|s| s.waiting.as_ref())
        .is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff"));
    if backing_off {
        let finished = last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| t.finished_at.as_ref())
            .map_or(now, |t| t.0);
        let restart_at = after(settled(finished), crash_backoff(restart_count, config));
        if now < restart_at {
            return (previous.clone(), Some(restart_at));
        }
        return start_fresh(restart_count.saturating_add(1), last_state);
    }
    start_fresh(restart_count, last_state)
}

/// The container after its process exited with `code`: restarted after a back-off, or done.
fn exited(
    previous: &ContainerStatus,
    script: Script,
    code: i32,
    started: Timestamp,
    pod_name: &str,
    now: Timestamp,
    config: &SimConfig,
) -> (ContainerStatus, Option<Timestamp>) {
    let terminated = ContainerStateTerminated {
        exit_code: code,
        reason: Some(if code == 0 { "Completed" } else { "Error" }.to_owned()),
        started_at: Some(Time(started)),
        finished_at: Some(stored(now)),
        container_id: previous.container_id.clone(),
        ..ContainerStateTerminated::default()
    };
    let mut status = previous.clone();
    status.ready = false;
    status.started = Some(false);
    if script.restartable {
        let backoff = crash_backoff(previous.restart_count, config);
        status.last_state = Some(ContainerState {
            terminated: Some(terminated),
            ..ContainerState::default()
        });
        status.state = Some(ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("CrashLoopBackOff".to_owned()),
                message: Some(format!(
                    "back-off {} restarting failed container={} pod={pod_name}",
                    go_duration(backoff),
                    previous.name
                )),
            }),
            ..ContainerState::default()
        });
        (status, Some(after(settled(now), backoff)))
    } else {
        status.state = Some(ContainerState {
            terminated: Some(terminated),
            ..ContainerState::default()
        });
        (status, None)
    }
}

/// Init containers have all run to completion by the time the pod runs.
fn completed_init_container(
    container: &Container,
    old: &PodStatus,
    uid: &str,
    now: Timestamp,
) -> ContainerStatus {
    let previous = old
        .init_container_statuses
        .iter()
        .flatten()
        .find(|s| s.name == container.name);
    if let Some(done) = previous.filter(|p| terminated(p).is_some()) {
        return done.clone();
    }
    let image = container.image.clone().unwrap_or_default();
    let container_id = format!("containerd://{}", digest(&[uid, &container.name, "init"]));
    ContainerStatus {
        name: container.name.clone(),
        image_id: image_id(&image),
        image,
        container_id: Some(container_id.clone()),
        ready: true,
        started: Some(false),
        restart_count: 0,
        state: Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: 0,
                reason: Some("Completed".to_owned()),
                started_at: Some(stored(now)),
                finished_at: Some(stored(now)),
                container_id: Some(container_id),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        }),
        ..ContainerStatus::default()
    }
}

fn terminated(status: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    status.state.as_ref()?.terminated.as_ref()
}

/// The CrashLoopBackOff delay after `restart_count` restarts: doubling, capped.
pub fn crash_backoff(restart_count: i32, config: &SimConfig) -> Duration {
    let doublings = restart_count.clamp(0, 16) as u32;
    config
        .crash_backoff
        .saturating_mul(1 << doublings)
        .min(config.max_crash_backoff)
}

/// A digest-shaped image ID, as a container runtime reports after pulling.
fn image_id(image: &str) -> String {
    let repository = image.split('@').next().unwrap_or(image);
    let repository = match repository.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => repository,
    };
    format!("{repository}@sha256:{}", digest(&[image]))
}

/// Durations as Go prints them in kubelet messages (`10s`, `1m20s`).
fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match (secs / 60, secs % 60) {
        (0, 0) => format!("{}ms", d.as_millis()),
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m0s"),
        (m, s) => format!("{m}m{s}s"),
    }
}

fn unready_message<'a>(names: impl Iterator<Item = &'a str>) -> String {
    format!(
        "containers with unready status: [{}]",
        names.collect::<Vec<_>>().join(" ")
    )
}

/// Guaranteed when every container's limits cover cpu and memory and requests equal them,
/// BestEffort when nobody asked for anything, Burstable otherwise.
fn qos_class(spec: &PodSpec) -> &'static str {
    let all = || {
        spec.containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
    };
    let asks_nothing = all().all(|c| {
        c.resources.as_ref().is_none_or(|r| {
            r.requests
                .as_ref()
                .is_none_or(std::collections::BTreeMap::is_empty)
                && r.limits
                    .as_ref()
                    .is_none_or(std::collections::BTreeMap::is_empty)
        })
    });
    if asks_nothing {
        return "BestEffort";
    }
    let guaranteed = all().all(|c| {
        let Some(resources) = c.resources.as_ref() else {
            return false;
        };
        let Some(limits) = resources.limits.as_ref() else {
            return false;
        };
        ["cpu", "memory"].iter().all(|k| {
            limits.contains_key(*k)
                && resources
                    .requests
                    .as_ref()
                    .and_then(|r| r.get(*k))
                    .is_none_or(|req| Some(req) == limits.get(*k))
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// A condition's type, whether it holds, and why not (reason, message) when it does not.
type WantedCondition<'a> = (&'a str, bool, Option<(&'a str, String)>);

/// Pod conditions in kubelet order; a condition keeps its `lastTransitionTime` while its
/// status stays the same.
/// The first `spec.readinessGates` entry whose condition is not True, as the kubelet's
/// message for it; `None` when every gate passes (or there are none).
fn readiness_gate_unmet(spec: &PodSpec, status: &PodStatus) -> Option<String> {
    spec.readiness_gates.iter().flatten().find_map(|gate| {
        let kind = gate.condition_type.as_str();
        match status.conditions.iter().flatten().find(|c| c.type_ == kind) {
            None => Some(format!(
                "corresponding condition of pod readiness gate \"{kind}\" does not exist."
            )),
            Some(c) if c.status != "True" => Some(format!(
                "the status of pod readiness gate \"{kind}\" is not \"True\", but {}",
                c.status
            )),
            Some(_) => None,
        }
    })
}

/// The kubelet's own conditions, followed by any other condition already on the pod (readiness
/// gate conditions belong to whoever wrote them and must survive the kubelet's writes).
fn conditions(
    old: &PodStatus,
    now: Timestamp,
    wanted: &[WantedCondition<'_>],
) -> Vec<PodCondition> {
    let foreign = old
        .conditions
        .iter()
        .flatten()
        .filter(|c| wanted.iter().all(|(kind, _, _)| c.type_ != *kind))
        .cloned();
    wanted
        .iter()
        .map(|(kind, ok, reason)| {
            let status = if *ok { "True" } else { "False" };
            let previous = old
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == *kind && c.status == status);
            let (reason, message) = match reason {
                Some((reason, message)) if !*ok => (
                    Some((*reason).to_owned()),
                    (!message.is_empty()).then(|| message.clone()),
                ),
                _ => (None, None),
            };
            PodCondition {
                type_: (*kind).to_owned(),
                status: status.to_owned(),
                last_transition_time: Some(
                    previous
                        .and_then(|p| p.last_transition_time.clone())
                        .unwrap_or_else(|| stored(now)),
                ),
                last_probe_time: None,
                observed_generation: None,
                reason,
                message,
            }
        })
        .chain(foreign)
        .collect()
}

/// Runs the kubelet over every pod until aborted.
pub(super) async fn run(ctx: Arc<super::Context>) {
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    let stream =
        Controller::new(pods, watcher::Config::default()).run(reconcile, super::retry_soon, ctx);
    drain("kubelet", stream).await;
}

async fn reconcile(pod: Arc<Pod>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let (Some(namespace), Some(name)) = (
        pod.metadata.namespace.as_deref(),
        pod.metadata.name.as_deref(),
    ) else {
        return Ok(Action::await_change());
    };
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    // Decide from the watch cache, and guard every write with the resourceVersion the
    // decision was made on: if the cache lagged behind the server, the write is refused with
    // 409 and the newer pod arrives as a watch event, which reconciles again.
    let step = next_pod_status(&pod, Timestamp::now(), &ctx.config);
    let params = patch_params("kubelet");
    let mut resource_version = pod.metadata.resource_version.clone();
    if let Some(node) = &step.bind_to {
        let bind = json!({
            "metadata": { "resourceVersion": resource_version },
            "spec": { "nodeName": node },
        });
        match guarded(api.patch(name, &params, &Patch::Merge(&bind)).await)? {
            Some(bound) => resource_version = bound.metadata.resource_version,
            None => return Ok(Action::await_change()),
        }
    }
    if let Some(status) = &step.status {
        let old = serde_json::to_value(pod.status.clone().unwrap_or_default())?;
        let new = serde_json::to_value(status)?;
        if let Some(change) = merge_patch::between(&old, &new) {
            let body = json!({
                "metadata": { "resourceVersion": resource_version },
                "status": change,
            });
            if guarded(api.patch_status(name, &params, &Patch::Merge(&body)).await)?.is_none() {
                return Ok(Action::await_change());
            }
        }
    }
    ctx.announce(Component::Kubelet, pod.object_ref(&()), step.notices);
    Ok(step.requeue_after.map_or_else(Action::await_change, |d| {
        Action::requeue(d.max(Duration::from_millis(10)))
    }))
}

/// A guarded write's outcome: the object, or `None` when the pod is gone or changed since the
/// cache saw it (either way a watch event follows and the pod is looked at again).
fn guarded(result: Result<Pod, kube::Error>) -> Result<Option<Pod>, kube::Error> {
    match result {
        Ok(pod) => Ok(Some(pod)),
        Err(kube::Error::Api(status)) if status.is_not_found() || status.is_conflict() => Ok(None),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sandbox::sim::behavior::BEHAVIOR_ANNOTATION;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    const T0: i64 = 1_800_000_000;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(T0 * 1000 + ms).unwrap()
    }

    fn config() -> SimConfig {
        SimConfig {
            ready_delay: Duration::from_secs(2),
            start_delay: Duration::from_secs(1),
            run_duration: Duration::from_secs(3),
            crash_after: Duration::from_secs(1),
            crash_backoff: Duration::from_secs(2),
            max_crash_backoff: Duration::from_secs(5),
            ..SimConfig::default()
        }
    }

    fn pod(behavior: Option<&str>, command: &[&str], restart_policy: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some("web-abcde".into());
        pod.metadata.namespace = Some("default".into());
        pod.metadata.uid = Some("uid-1".into());
        if let Some(b) = behavior {
            pod.metadata.annotations =
                Some([(BEHAVIOR_ANNOTATION.to_owned(), b.to_owned())].into());
        }
        pod.spec = Some(PodSpec {
            restart_policy: Some(restart_policy.into()),
            containers: vec![Container {
                name: "app".into(),
                image: Some("registry.local/app:v1".into()),
                command: (!command.is_empty())
                    .then(|| command.iter().map(|s| (*s).to_owned()).collect()),
                ..Container::default()
            }],
            ..PodSpec::default()
        });
        pod
    }

    /// Applies steps at the given times (ms after T0), as the server would store them.
    fn run_until(mut pod: Pod, times: &[i64]) -> (Pod, KubeletStep) {
        let mut last = KubeletStep::default();
        for t in times {
            last = next_pod_status(&pod, at(*t), &config());
            if let Some(node) = &last.bind_to {
                pod.spec.as_mut().unwrap().node_name = Some(node.clone());
            }
            if let Some(status) = &last.status {
                // Round-trip through JSON exactly as the server stores it.
                let json = serde_json::to_value(status).unwrap();
                pod.status = Some(serde_json::from_value(json).unwrap());
            }
        }
        (pod, last)
    }

    fn phase(pod: &Pod) -> &str {
        pod.status.as_ref().unwrap().phase.as_deref().unwrap()
    }

    fn condition<'a>(pod: &'a Pod, kind: &str) -> &'a PodCondition {
        pod.status
            .as_ref()
            .unwrap()
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == kind)
            .unwrap()
    }

    fn container(pod: &Pod) -> &ContainerStatus {
        &pod.status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()[0]
    }

    #[test]
    fn a_new_pod_is_scheduled_and_pending() {
        let (pod, step) = run_until(pod(None, &[], "Always"), &[0]);
        assert_eq!(step.bind_to.as_deref(), Some("sandbox-node"));
        // The start second settles at 1 s, plus the 1 s start delay.
        assert_eq!(step.requeue_after, Some(Duration::from_secs(2)));
        assert_eq!(phase(&pod), "Pending");
        let status = pod.status.as_ref().unwrap();
        assert_eq!(status.host_ip.as_deref(), Some("172.18.0.2"));
        assert!(status.pod_ip.as_deref().unwrap().starts_with("10."));
        assert_eq!(status.start_time, Some(Time(at(0))));
        assert_eq!(status.qos_class.as_deref(), Some("BestEffort"));
        assert_eq!(condition(&pod, "PodScheduled").status, "True");
        assert_eq!(condition(&pod, "Ready").status, "False");
        let waiting = container(&pod)
            .state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap();
        assert_eq!(waiting.reason.as_deref(), Some("ContainerCreating"));
    }

    fn reasons(step: &KubeletStep) -> Vec<&str> {
        step.notices.iter().map(|n| n.reason.as_str()).collect()
    }

    #[test]
    fn steps_report_kubelet_events() {
        let (pending, step) = run_until(pod(None, &[], "Always"), &[0]);
        assert_eq!(reasons(&step), ["Scheduled"]);
        assert_eq!(
            step.notices[0].note,
            "Successfully assigned default/web-abcde to sandbox-node"
        );
        let (running, step) = run_until(pending, &[2000]);
        assert_eq!(reasons(&step), ["Pulled", "Created", "Started"]);
        assert_eq!(step.notices[2].note, "Started container app");
        let (_, step) = run_until(running, &[5000]);
        assert!(step.notices.is_empty());

        let (crashed, step) = run_until(pod(Some("crash"), &[], "Always"), &[0, 2000, 4000]);
        assert_eq!(reasons(&step), ["BackOff"]);
        assert!(step.notices[0].warning);
        let (_, step) = run_until(crashed, &[7000]);
        assert_eq!(reasons(&step), ["Pulled", "Created", "Started"]);
    }

    #[test]
    fn a_pending_pod_waits_for_the_start_delay() {
        let (_, step) = run_until(pod(None, &[], "Always"), &[0, 400]);
        assert_eq!(step.status, None);
        assert_eq!(step.bind_to, None);
        assert_eq!(step.requeue_after, Some(Duration::from_millis(1600)));
    }

    /// `spec.readinessGates`: containers ready is not enough; the gate's condition, written
    /// by someone else, makes the pod Ready and survives the kubelet's own writes.
    #[test]
    fn readiness_gate_holds_ready_until_its_condition_is_true() {
        let mut gated = pod(None, &[], "Always");
        gated.spec.as_mut().unwrap().readiness_gates =
            Some(vec![k8s_openapi::api::core::v1::PodReadinessGate {
                condition_type: "example.com/ready".into(),
            }]);
        let (held, _) = run_until(gated, &[0, 2000, 5000]);
        assert!(container(&held).ready);
        assert_eq!(condition(&held, "ContainersReady").status, "True");
        let ready = condition(&held, "Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_deref()),
            ("False", Some("ReadinessGatesNotReady"))
        );
        assert_eq!(
            ready.message.as_deref(),
            Some(
                "corresponding condition of pod readiness gate \"example.com/ready\" does not exist."
            )
        );
        let mut opened = held.clone();
        opened
            .status
            .as_mut()
            .unwrap()
            .conditions
            .as_mut()
            .unwrap()
            .push(PodCondition {
                type_: "example.com/ready".into(),
                status: "True".into(),
                ..PodCondition::default()
            });
        let (ready, _) = run_until(opened, &[6000]);
        assert_eq!(condition(&ready, "Ready").status, "True");
        assert_eq!(condition(&ready, "example.com/ready").status, "True");
    }

    #[test]
    fn a_normal_pod_runs_then_becomes_ready() {
        let (running, step) = run_until(pod(None, &[], "Always"), &[0, 2000]);
        assert_eq!(phase(&running), "Running");
        let c = container(&running);
        assert!(!c.ready);
        assert_eq!(c.started, Some(true));
        assert!(
            c.image_id.starts_with("registry.local/app@sha256:"),
            "{}",
            c.image_id
        );
        assert!(
            c.container_id
                .as_deref()
                .unwrap()
                .starts_with("containerd://")
        );
        assert_eq!(condition(&running, "ContainersReady").status, "False");
        assert_eq!(step.requeue_after, Some(Duration::from_secs(3)));

        // Never early: not ready before the start second has settled plus the delay.
        let (_, step) = run_until(running.clone(), &[4500]);
        assert_eq!(step.status, None);
        assert_eq!(step.requeue_after, Some(Duration::from_millis(500)));
        let (ready, step) = run_until(running.clone(), &[5000]);
        assert!(container(&ready).ready);
        assert_eq!(condition(&ready, "Ready").status, "True");
        assert_eq!(
            condition(&ready, "Ready").last_transition_time,
            Some(Time(at(5000)))
        );
        assert_eq!(
            condition(&ready, "PodScheduled").last_transition_time,
            Some(Time(at(0)))
        );
        assert_eq!(step.requeue_after, None);

        // Steady state: nothing to write, nothing to wait for.
        let (_, step) = run_until(ready, &[60_000]);
        assert_eq!(step, KubeletStep::default());
    }

    #[test]
    fn a_crashing_pod_loops_with_growing_restarts() {
        let (crashed, step) = run_until(pod(Some("crash"), &[], "Always"), &[0, 2000, 4000]);
        assert_eq!(phase(&crashed), "Running");
        let c = container(&crashed);
        let waiting = c.state.as_ref().unwrap().waiting.as_ref().unwrap();
        assert_eq!(waiting.reason.as_deref(), Some("CrashLoopBackOff"));
        let last = c.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
        assert_eq!(c.restart_count, 0);
        assert!(!c.ready);
        assert_eq!(step.requeue_after, Some(Duration::from_secs(3)));

        let (restarted, _) = run_until(crashed, &[7000]);
        let c = container(&restarted);
        assert!(c.state.as_ref().unwrap().running.is_some());
        assert_eq!(c.restart_count, 1);

        // Crash again after 1 s; the back-off doubles to 4 s, then caps at 5 s.
        let (again, step) = run_until(restarted, &[9000]);
        assert_eq!(step.requeue_after, Some(Duration::from_secs(5)));
        let (later, _) = run_until(again, &[14_000, 16_000, 22_000, 24_000]);
        let c = container(&later);
        assert_eq!(c.restart_count, 3);
        assert_eq!(condition(&later, "Ready").status, "False");
    }

    #[test]
    fn never_ready_runs_forever_unready() {
        let (started, step) = run_until(pod(Some("never-ready"), &[], "Always"), &[0, 2000]);
        let reasons: Vec<&str> = step.notices.iter().map(|n| n.reason.as_str()).collect();
        assert_eq!(reasons, ["Pulled", "Created", "Started", "Unhealthy"]);
        let (pod, step) = run_until(started, &[60_000]);
        assert_eq!(phase(&pod), "Running");
        assert!(!container(&pod).ready);
        let ready = condition(&pod, "Ready");
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
        assert_eq!(
            ready.message.as_deref(),
            Some("containers with unready status: [app]")
        );
        assert_eq!(step.requeue_after, None);
    }

    #[test]
    fn fail_ends_in_phase_failed() {
        let (pod, step) = run_until(pod(Some("fail"), &[], "Always"), &[0, 2000, 6000]);
        assert_eq!(phase(&pod), "Failed");
        let t = container(&pod)
            .state
            .as_ref()
            .unwrap()
            .terminated
            .clone()
            .unwrap();
        assert_eq!(t.exit_code, 1);
        assert_eq!(
            condition(&pod, "Ready").reason.as_deref(),
            Some("PodFailed")
        );
        assert_eq!(step.requeue_after, None);
        // Finished pods are left alone.
        let (_, step) = run_until(pod, &[100_000]);
        assert_eq!(step, KubeletStep::default());
    }

    #[test]
    fn job_pods_run_to_completion() {
        let mut job_pod = pod(None, &[], "Never");
        job_pod.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "batch/v1".into(),
            kind: "Job".into(),
            name: "j".into(),
            uid: "job-uid".into(),
            controller: Some(true),
            ..OwnerReference::default()
        }]);
        let (done, _) = run_until(job_pod.clone(), &[0, 2000, 6000]);
        assert_eq!(phase(&done), "Succeeded");
        assert_eq!(
            condition(&done, "Ready").reason.as_deref(),
            Some("PodCompleted")
        );

        job_pod.spec.as_mut().unwrap().containers[0].command =
            Some(vec!["sh".into(), "-c".into(), "exit 3".into()]);
        let (failed, _) = run_until(job_pod, &[0, 2000, 6000]);
        assert_eq!(phase(&failed), "Failed");
        let t = container(&failed)
            .state
            .as_ref()
            .unwrap()
            .terminated
            .clone()
            .unwrap();
        assert_eq!(t.exit_code, 3);
    }

    #[test]
    fn on_failure_restarts_a_failing_command_in_place() {
        let (pod, _) = run_until(
            pod(None, &["sh", "-c", "exit 1"], "OnFailure"),
            &[0, 2000, 6000],
        );
        assert_eq!(phase(&pod), "Running");
        let c = container(&pod);
        assert_eq!(
            c.state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("CrashLoopBackOff")
        );
    }

    #[test]
    fn deleted_and_specless_pods_are_skipped() {
        let mut deleted = pod(None, &[], "Always");
        deleted.metadata.deletion_timestamp = Some(Time(at(0)));
        assert_eq!(
            next_pod_status(&deleted, at(0), &config()),
            KubeletStep::default()
        );
        assert_eq!(
            next_pod_status(&Pod::default(), at(0), &config()),
            KubeletStep::default()
        );
    }

    #[test]
    fn init_containers_complete_before_the_pod_runs() {
        let mut p = pod(None, &[], "Always");
        p.spec.as_mut().unwrap().init_containers = Some(vec![Container {
            name: "init".into(),
            image: Some("busybox".into()),
            ..Container::default()
        }]);
        let (pending, _) = run_until(p, &[0]);
        assert_eq!(condition(&pending, "Initialized").status, "False");
        let (running, _) = run_until(pending, &[2000]);
        assert_eq!(condition(&running, "Initialized").status, "True");
        let init = &running
            .status
            .as_ref()
            .unwrap()
            .init_container_statuses
            .as_ref()
            .unwrap()[0];
        assert_eq!(
            init.state
                .as_ref()
                .unwrap()
                .terminated
                .as_ref()
                .unwrap()
                .exit_code,
            0
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let cfg = config();
        let secs: Vec<u64> = (0..5).map(|n| crash_backoff(n, &cfg).as_secs()).collect();
        assert_eq!(secs, [2, 4, 5, 5, 5]);
        assert_eq!(crash_backoff(-3, &cfg), Duration::from_secs(2));
        assert_eq!(crash_backoff(i32::MAX, &cfg), Duration::from_secs(5));
    }

    #[test]
    fn qos_class_table() {
        use k8s_openapi::api::core::v1::ResourceRequirements;
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
        let with = |requests: &[(&str, &str)], limits: &[(&str, &str)]| {
            let map = |pairs: &[(&str, &str)]| {
                (!pairs.is_empty()).then(|| {
                    pairs
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
                        .collect()
                })
            };
            PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    resources: Some(ResourceRequirements {
                        requests: map(requests),
                        limits: map(limits),
                        ..ResourceRequirements::default()
                    }),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }
        };
        assert_eq!(qos_class(&with(&[], &[])), "BestEffort");
        assert_eq!(qos_class(&with(&[("cpu", "1")], &[])), "Burstable");
        assert_eq!(
            qos_class(&with(&[], &[("cpu", "1"), ("memory", "1Gi")])),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&with(
                &[("cpu", "500m")],
                &[("cpu", "1"), ("memory", "1Gi")]
            )),
            "Burstable"
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_millis(100)), "100ms");
    }
}
