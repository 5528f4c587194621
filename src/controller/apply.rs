//! The thin I/O shell around [`plan`](crate::controller::plan::plan): read a [`Snapshot`] of one
//! Rollout from the cluster ([`read_snapshot`]) and carry out a [`Plan`]'s actions through
//! `kube::Client` ([`apply`]) — creates, merge patches on objects and on the Rollout `status`
//! subresource, and core/v1 Events. It makes no decisions: everything it writes was decided by
//! the planner. Reading the clock happens here (event timestamps) and in the caller (`now`).

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::controller::plan::{Action, EventType, Plan};
use crate::controller::snapshot::{DESIRED_REPLICAS_ANNOTATION, Snapshot};
use crate::controller::traffic::TrafficChange;
use crate::crd::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Experiment, Rollout};

/// The event source component name.
pub const EVENT_COMPONENT: &str = "rollouts-controller";

/// Why reading a snapshot failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadSnapshotError {
    /// Reading the Rollout.
    #[error("reading Rollout {namespace}/{name}: {source}")]
    Rollout {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        source: kube::Error,
    },
    /// Listing a kind in the namespace.
    #[error("listing {kind} in {namespace}: {source}")]
    List {
        /// Kind listed.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Cause.
        source: kube::Error,
    },
    /// Reading the traffic-router objects.
    #[error(transparent)]
    Traffic(#[from] crate::controller::traffic::read::ReadTrafficObjectsError),
}

/// Why applying a plan failed; actions before the failing one were applied.
#[derive(Debug, thiserror::Error)]
#[error("applying {action} to {target}: {source}")]
pub struct ApplyPlanError {
    /// Which action (`create ReplicaSet`, `patch Rollout status`, ...).
    pub action: &'static str,
    /// Object name.
    pub target: String,
    /// Cause.
    pub source: kube::Error,
}

/// Reads the Rollout and the namespace's ReplicaSets, AnalysisRuns and Services.
pub async fn read_snapshot(
    client: &Client,
    namespace: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Snapshot, ReadSnapshotError> {
    let rollout = Api::<Rollout>::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .map_err(|source| ReadSnapshotError::Rollout {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source,
        })?;
    let list_error = |kind: &'static str| {
        move |source| ReadSnapshotError::List {
            kind,
            namespace: namespace.to_owned(),
            source,
        }
    };
    let params = ListParams::default();
    let replica_sets = Api::<ReplicaSet>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
        .map_err(list_error("ReplicaSet"))?
        .items;
    let analysis_runs = Api::<AnalysisRun>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
        .map_err(list_error("AnalysisRun"))?
        .items;
    let services = Api::<Service>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
        .map_err(list_error("Service"))?
        .items;
    let analysis_templates = Api::<AnalysisTemplate>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
        .map_err(list_error("AnalysisTemplate"))?
        .items;
    let cluster_analysis_templates = Api::<ClusterAnalysisTemplate>::all(client.clone())
        .list(&params)
        .await
        .map_err(list_error("ClusterAnalysisTemplate"))?
        .items;
    let traffic = if rollout.traffic_routing().is_some() {
        crate::controller::traffic::read::read_traffic_objects(client, &rollout).await?
    } else if crate::controller::traffic::read::may_hold_released_objects(&rollout) {
        crate::controller::traffic::read::read_released_objects(client, &rollout).await?
    } else {
        crate::controller::traffic::TrafficObjects::default()
    };
    // Pods and Experiments are read only when this rollout needs them (restartAt pending,
    // experiment steps): most reconciles never look at them, and pods are the biggest list.
    let pods = if Snapshot::needs_pods(&rollout) {
        Api::<Pod>::namespaced(client.clone(), namespace)
            .list(&params)
            .await
            .map_err(list_error("Pod"))?
            .items
    } else {
        Vec::new()
    };
    let experiments = if Snapshot::needs_experiments(&rollout) {
        Api::<Experiment>::namespaced(client.clone(), namespace)
            .list(&params)
            .await
            .map_err(list_error("Experiment"))?
            .items
    } else {
        Vec::new()
    };
    let workload = match Snapshot::workload_name(&rollout) {
        Some(target) => Api::<Deployment>::namespaced(client.clone(), namespace)
            .get_opt(target)
            .await
            .map_err(list_error("Deployment"))?,
        None => None,
    };
    Ok(Snapshot {
        rollout,
        replica_sets,
        analysis_runs,
        analysis_templates,
        cluster_analysis_templates,
        services,
        now,
        traffic,
        pods,
        experiments,
        workload,
    })
}

fn to_time(at: DateTime<Utc>) -> Option<Time> {
    k8s_openapi::jiff::Timestamp::from_second(at.timestamp())
        .ok()
        .map(Time)
}

/// Carries out `plan` for `rollout` in order. An `AlreadyExists` on create is not an error (the
/// next pass finds the object).
pub async fn apply(client: &Client, rollout: &Rollout, plan: &Plan) -> Result<(), ApplyPlanError> {
    let namespace = rollout.namespace().unwrap_or_else(|| "default".to_owned());
    let name = rollout.name_any();
    let merge = PatchParams::default();
    let replica_sets = Api::<ReplicaSet>::namespaced(client.clone(), &namespace);
    let rollouts = Api::<Rollout>::namespaced(client.clone(), &namespace);
    for (index, action) in plan.actions.iter().enumerate() {
        let fail = |action: &'static str, target: &str| {
            let target = target.to_owned();
            move |source| ApplyPlanError {
                action,
                target,
                source,
            }
        };
        match action {
            Action::CreateReplicaSet(rs) => {
                match replica_sets.create(&PostParams::default(), rs).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 409 => {}
                    Err(source) => return Err(fail("create ReplicaSet", &rs.name_any())(source)),
                }
            }
            Action::ScaleReplicaSet {
                name: rs,
                replicas,
                desired_replicas,
            } => {
                let patch = json!({
                    "metadata": {"annotations": {DESIRED_REPLICAS_ANNOTATION: desired_replicas.to_string()}},
                    "spec": {"replicas": replicas},
                });
                replica_sets
                    .patch(rs, &merge, &Patch::Merge(&patch))
                    .await
                    .map_err(fail("scale ReplicaSet", rs))?;
            }
            Action::DeleteReplicaSet { name: rs } => {
                match replica_sets.delete(rs, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(source) => return Err(fail("delete ReplicaSet", rs)(source)),
                }
            }
            Action::PatchReplicaSet { name: rs, patch } => {
                replica_sets
                    .patch(rs, &merge, &Patch::Merge(patch))
                    .await
                    .map_err(fail("patch ReplicaSet", rs))?;
            }
            Action::PatchRollout(patch) => {
                rollouts
                    .patch(&name, &merge, &Patch::Merge(patch))
                    .await
                    .map_err(fail("patch Rollout", &name))?;
            }
            Action::PatchRolloutStatus(patch) => {
                // The subresource takes a patch of the whole object.
                let patch = json!({ "status": patch });
                rollouts
                    .patch_status(&name, &merge, &Patch::Merge(&patch))
                    .await
                    .map_err(fail("patch Rollout status", &name))?;
            }
            Action::PatchService { name: svc, patch } => {
                Api::<Service>::namespaced(client.clone(), &namespace)
                    .patch(svc, &merge, &Patch::Merge(patch))
                    .await
                    .map_err(fail("patch Service", svc))?;
            }
            Action::CreateAnalysisRun(run) => {
                Api::<AnalysisRun>::namespaced(client.clone(), &namespace)
                    .create(&PostParams::default(), run)
                    .await
                    .map_err(fail("create AnalysisRun", &run.name_any()))?;
            }
            Action::PatchAnalysisRun { name: run, patch } => {
                Api::<AnalysisRun>::namespaced(client.clone(), &namespace)
                    .patch(run, &merge, &Patch::Merge(patch))
                    .await
                    .map_err(fail("patch AnalysisRun", run))?;
            }
            Action::Traffic(change) => apply_traffic_change(client, change)
                .await
                .map_err(fail("write traffic router object", &traffic_target(change)))?,
            Action::ScaleDeployment {
                name: deployment,
                replicas,
            } => {
                Api::<Deployment>::namespaced(client.clone(), &namespace)
                    .patch(
                        deployment,
                        &merge,
                        &Patch::Merge(&json!({"spec": {"replicas": replicas}})),
                    )
                    .await
                    .map_err(fail("scale Deployment", deployment))?;
            }
            Action::PatchPod { name: pod, patch } => {
                match Api::<Pod>::namespaced(client.clone(), &namespace)
                    .patch(pod, &merge, &Patch::Merge(patch))
                    .await
                {
                    Ok(_) => {}
                    // The pod went away since the snapshot: nothing left to label.
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(source) => return Err(fail("patch Pod", pod)(source)),
                }
            }
            Action::EvictPod { name: pod } => {
                match Api::<Pod>::namespaced(client.clone(), &namespace)
                    .evict(pod, &EvictParams::default())
                    .await
                {
                    Ok(_) => {}
                    // 429: a PodDisruptionBudget forbids it now; 404: already gone. The planner
                    // requeues while old pods remain.
                    Err(kube::Error::Api(status)) if status.code == 429 || status.code == 404 => {}
                    Err(source) => return Err(fail("evict Pod", pod)(source)),
                }
            }
            Action::CreateExperiment(experiment) => {
                match Api::<Experiment>::namespaced(client.clone(), &namespace)
                    .create(&PostParams::default(), experiment)
                    .await
                {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 409 => {}
                    Err(source) => {
                        return Err(fail("create Experiment", &experiment.name_any())(source));
                    }
                }
            }
            Action::PatchExperiment {
                name: experiment,
                patch,
            } => {
                Api::<Experiment>::namespaced(client.clone(), &namespace)
                    .patch(experiment, &merge, &Patch::Merge(patch))
                    .await
                    .map_err(fail("patch Experiment", experiment))?;
            }
            Action::RecordEvent {
                reason,
                message,
                kind,
            } => {
                let event = rollout_event(rollout, index, reason, message, *kind, Utc::now());
                Api::<Event>::namespaced(client.clone(), &namespace)
                    .create(&PostParams::default(), &event)
                    .await
                    .map_err(fail("record Event", reason))?;
            }
        }
    }
    Ok(())
}

fn traffic_target(change: &TrafficChange) -> String {
    let (TrafficChange::Patch { key, .. } | TrafficChange::Create { key, .. }) = change;
    format!("{} {}/{}", key.kind.kind(), key.namespace, key.name)
}

/// Creates (AlreadyExists is fine: the next pass patches it) or merge-patches a router object.
async fn apply_traffic_change(client: &Client, change: &TrafficChange) -> Result<(), kube::Error> {
    use crate::controller::traffic::read::api_resource;
    use kube::api::DynamicObject;
    match change {
        TrafficChange::Patch {
            key,
            api_version,
            patch,
        } => {
            let resource = api_resource(key.kind, api_version);
            Api::<DynamicObject>::namespaced_with(client.clone(), &key.namespace, &resource)
                .patch(&key.name, &PatchParams::default(), &Patch::Merge(patch))
                .await?;
        }
        TrafficChange::Create {
            key,
            api_version,
            object,
        } => {
            let resource = api_resource(key.kind, api_version);
            let object: DynamicObject =
                serde_json::from_value(object.clone()).map_err(kube::Error::SerdeError)?;
            match Api::<DynamicObject>::namespaced_with(client.clone(), &key.namespace, &resource)
                .create(&PostParams::default(), &object)
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(())
}

/// A core/v1 Event about the Rollout; the name is unique per (time, position in the plan).
fn rollout_event(
    rollout: &Rollout,
    index: usize,
    reason: &str,
    message: &str,
    kind: EventType,
    now: DateTime<Utc>,
) -> Event {
    let name = rollout.name_any();
    let nanos = now.timestamp_nanos_opt().unwrap_or_default();
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{nanos:x}{index:02x}")),
            namespace: rollout.namespace(),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some(crate::crd::API_VERSION.to_owned()),
            kind: Some("Rollout".to_owned()),
            name: Some(name),
            namespace: rollout.namespace(),
            uid: rollout.metadata.uid.clone(),
            resource_version: rollout.metadata.resource_version.clone(),
            ..ObjectReference::default()
        },
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        type_: Some(
            match kind {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
            .to_owned(),
        ),
        count: Some(1),
        first_timestamp: to_time(now),
        last_timestamp: to_time(now),
        source: Some(EventSource {
            component: Some(EVENT_COMPONENT.to_owned()),
            host: None,
        }),
        ..Event::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! Plan → apply → re-read against the in-process sandbox API server. The sandbox has no
    //! ReplicaSet controller or kubelet yet, so the test writes RS status counts itself (the
    //! part a kubelet would play); everything else goes through real kube-rs requests.

    use super::*;
    use crate::controller::plan::plan;
    use crate::sandbox::{Sandbox, SandboxConfig};
    use k8s_openapi::api::core::v1::Event;

    async fn mark_ready(client: &Client, namespace: &str) {
        let api = Api::<ReplicaSet>::namespaced(client.clone(), namespace);
        for rs in api.list(&ListParams::default()).await.unwrap().items {
            let n = rs.spec.replicas.unwrap_or(0);
            let patch =
                json!({"status": {"replicas": n, "readyReplicas": n, "availableReplicas": n}});
            api.patch_status(
                &rs.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .unwrap();
        }
    }

    async fn settle(client: &Client, passes: usize) {
        for _ in 0..passes {
            mark_ready(client, "default").await;
            let snapshot = read_snapshot(client, "default", "demo", Utc::now())
                .await
                .unwrap();
            let p = plan(&snapshot);
            if p.actions.is_empty() {
                return;
            }
            apply(client, &snapshot.rollout, &p).await.unwrap();
        }
        panic!("no fixed point");
    }

    #[tokio::test]
    async fn plan_and_apply_through_the_sandbox() {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let client = sandbox.client().await.unwrap();
        crate::crd::install(&client).await.unwrap();
        let services = Api::<Service>::namespaced(client.clone(), "default");
        for svc in ["demo-stable", "demo-canary"] {
            let svc: Service = serde_json::from_value(json!({
                "metadata": {"name": svc},
                "spec": {"selector": {"app": "demo"}, "ports": [{"port": 80}]}
            }))
            .unwrap();
            services.create(&PostParams::default(), &svc).await.unwrap();
        }
        let rollouts = Api::<Rollout>::namespaced(client.clone(), "default");
        let rollout: Rollout = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "demo"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "demo"}},
                "template": {"metadata": {"labels": {"app": "demo"}},
                             "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}},
                "strategy": {"canary": {"canaryService": "demo-canary", "stableService": "demo-stable",
                                        "steps": [{"setWeight": 50}, {"pause": {}}]}}
            }
        }))
        .unwrap();
        rollouts
            .create(&PostParams::default(), &rollout)
            .await
            .unwrap();
        settle(&client, 20).await;
        let live = rollouts.get("demo").await.unwrap();
        let status = live.status.clone().unwrap();
        assert_eq!(status.phase_text.as_deref(), Some("Healthy"));
        let rs = Api::<ReplicaSet>::namespaced(client.clone(), "default")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].spec.replicas, Some(2));
        assert_eq!(live.annotations()["rollout.argoproj.io/revision"], "1");
        let stable = services.get("demo-stable").await.unwrap();
        assert_eq!(
            stable.spec.unwrap().selector.unwrap()["rollouts-pod-template-hash"],
            status.stable_rs.clone().unwrap()
        );

        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}}});
        rollouts
            .patch("demo", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        settle(&client, 20).await;
        let live = rollouts.get("demo").await.unwrap();
        let status = live.status.clone().unwrap();
        assert_eq!(status.phase_text.as_deref(), Some("Paused"));
        assert_eq!(status.message.as_deref(), Some("CanaryPauseStep"));
        assert_eq!(status.current_step_index, Some(1));
        let events = Api::<Event>::namespaced(client.clone(), "default")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        let reasons: Vec<String> = events.iter().filter_map(|e| e.reason.clone()).collect();
        for reason in [
            "NewReplicaSetCreated",
            "RolloutCompleted",
            "RolloutStepCompleted",
            "RolloutPaused",
            "SwitchService",
        ] {
            assert!(
                reasons.iter().any(|r| r == reason),
                "{reason} missing in {reasons:?}"
            );
        }
        sandbox.shutdown().await;
    }
}
