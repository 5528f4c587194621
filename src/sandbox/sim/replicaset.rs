//! The simulated ReplicaSet controller (apps/v1): keeps `spec.replicas` active pods per
//! ReplicaSet, adopts matching orphans, deletes the pods Kubernetes would delete first on
//! scale-down, and reports `status` counts and refused creations (`ReplicaFailure`).
//!
//! Pods belong to a ReplicaSet by their controller ownerReference, not by labels: a pod whose
//! labels no longer match (a changed template hash) still counts, as in Kubernetes.
//! Simplifications: no logarithmic time bucketing when ranking pods for deletion, no
//! co-location ranking, and finished pods beyond
//! [`SimConfig::finished_pods_kept`] are deleted (Kubernetes leaves them to the pod GC).

use std::cmp::{Ordering, Reverse};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams, Patch, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::json;

use super::clock::{after, earliest, settled, stored, until};
use super::names::random_suffix;
use super::{
    Component, Context, Notice, ReconcileError, SimConfig, drain, ignore_not_found,
    is_already_exists, merge_patch, patch_params, selector,
};

/// Annotation Kubernetes uses to rank pods for scale-down (lower cost goes first).
pub const DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

/// Most pods created in one reconcile; the creations' watch events bring the next round, so
/// a ReplicaSet asking for a million replicas cannot stall the simulator in one pass.
pub const MAX_BURST: usize = 100;

/// How long a ReplicaSet waits after a refused pod creation before trying again.
const CREATE_RETRY: Duration = Duration::from_secs(2);

/// What the ReplicaSet controller does to one ReplicaSet now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplicaSetPlan {
    /// Pods to create from the template.
    pub create: usize,
    /// Names of pods to delete, in order.
    pub delete: Vec<String>,
    /// Names of orphan pods to adopt (add our controller ownerReference).
    pub adopt: Vec<String>,
    /// The new status, when it differs from the current one.
    pub status: Option<ReplicaSetStatus>,
    /// When a ready pod becomes available (`minReadySeconds`), to recount then.
    pub requeue_after: Option<Duration>,
}

/// Decides creations, deletions, adoptions and status for `rs`, given the pods of its
/// namespace.
pub fn plan_replicaset(
    rs: &ReplicaSet,
    pods: &[Pod],
    now: Timestamp,
    config: &SimConfig,
) -> ReplicaSetPlan {
    let Some(uid) = rs.metadata.uid.as_deref() else {
        return ReplicaSetPlan::default();
    };
    if rs.metadata.deletion_timestamp.is_some() {
        return ReplicaSetPlan::default();
    }
    let spec = &rs.spec;
    let desired = usize::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0);
    let owned: Vec<&Pod> = pods
        .iter()
        .filter(|p| controller_uid(p) == Some(uid))
        .collect();
    let adopt: Vec<&Pod> = if selector::is_empty(&spec.selector) {
        Vec::new()
    } else {
        pods.iter()
            .filter(|p| controller_uid(p).is_none() && is_active(p))
            .filter(|p| selector::matches(&spec.selector, labels(p)))
            .collect()
    };
    let active: Vec<&Pod> = owned
        .iter()
        .chain(adopt.iter())
        .copied()
        .filter(|p| is_active(p))
        .collect();

    let mut plan = ReplicaSetPlan {
        adopt: adopt
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect(),
        ..ReplicaSetPlan::default()
    };
    match active.len().cmp(&desired) {
        Ordering::Less => plan.create = (desired - active.len()).min(MAX_BURST),
        Ordering::Greater => plan.delete = pods_to_delete(&active, active.len() - desired, now),
        Ordering::Equal => {}
    }
    plan.delete
        .extend(finished_pods_to_delete(&owned, config.finished_pods_kept));

    let min_ready =
        Duration::from_secs(u64::try_from(spec.min_ready_seconds.unwrap_or(0)).unwrap_or(0));
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let ready: Vec<&Pod> = active
        .iter()
        .copied()
        .filter(|p| ready_since(p).is_some())
        .collect();
    // With no minReadySeconds a pod is available the moment it is ready.
    let available_at = |p: &Pod| {
        ready_since(p).map(|since| {
            if min_ready.is_zero() {
                since
            } else {
                after(settled(since), min_ready)
            }
        })
    };
    let available = ready
        .iter()
        .filter(|p| available_at(p).is_some_and(|at| at <= now))
        .count();
    let next_available = earliest(
        ready
            .iter()
            .filter_map(|p| available_at(p))
            .filter(|at| *at > now)
            .map(Some),
    );
    let old = rs.status.clone().unwrap_or_default();
    let status = ReplicaSetStatus {
        replicas: count(active.len()),
        fully_labeled_replicas: Some(count(
            active
                .iter()
                .filter(|p| {
                    let have = labels(p);
                    template_labels.iter().all(|(k, v)| have.get(k) == Some(v))
                })
                .count(),
        )),
        ready_replicas: Some(count(ready.len())),
        available_replicas: Some(count(available)),
        observed_generation: rs.metadata.generation.or(old.observed_generation),
        ..old.clone()
    };
    // A creation failure is over once there is nothing left to create.
    let status = if plan.create == 0 {
        with_replica_failure(status, None, now)
    } else {
        status
    };
    plan.status = (status != old).then_some(status);
    plan.requeue_after = next_available.map(|at| until(now, at));
    plan
}

/// `status` with the `ReplicaFailure` condition set (pod creation failed with `message`) or
/// removed (`None`). The condition keeps its transition time while the failure lasts.
pub fn with_replica_failure(
    mut status: ReplicaSetStatus,
    message: Option<&str>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let mut conditions = status.conditions.take().unwrap_or_default();
    let previous = conditions
        .iter()
        .position(|c| c.type_.as_deref() == Some("ReplicaFailure"))
        .map(|i| conditions.remove(i));
    if let Some(message) = message {
        conditions.push(ReplicaSetCondition {
            type_: Some("ReplicaFailure".to_owned()),
            status: Some("True".to_owned()),
            reason: Some("FailedCreate".to_owned()),
            message: Some(message.to_owned()),
            last_transition_time: Some(
                previous
                    .and_then(|p| p.last_transition_time)
                    .unwrap_or_else(|| stored(now)),
            ),
        });
    }
    status.conditions = (!conditions.is_empty()).then_some(conditions);
    status
}

/// The `n` pods Kubernetes deletes first when scaling down (`ActivePodsWithRanks`, minus
/// co-location and logarithmic buckets): unscheduled before scheduled, Pending before
/// Running, not ready before ready, lower deletion cost first, ready for a shorter time
/// first, more restarts first, newer before older; names break ties.
pub fn pods_to_delete(pods: &[&Pod], n: usize, now: Timestamp) -> Vec<String> {
    let mut ranked: Vec<&Pod> = pods.to_vec();
    ranked.sort_by_cached_key(|p| {
        let scheduled = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty());
        let phase_rank = match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
            Some("Running") => 2,
            Some("Unknown") => 1,
            _ => 0,
        };
        let ready = ready_since(p);
        let cost = p
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DELETION_COST_ANNOTATION))
            .and_then(|c| c.trim().parse::<i32>().ok())
            .unwrap_or(0);
        // Later "ready since" means ready for less time: delete those first.
        let ready_for = ready.map(|since| Reverse(since.min(now)));
        let restarts = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.iter().map(|c| c.restart_count).max())
            .unwrap_or(0);
        // Pods without a creation time count as the newest.
        let created = p
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(Reverse(Timestamp::MAX), |t| Reverse(t.0));
        (
            scheduled,
            phase_rank,
            ready.is_some(),
            cost,
            ready_for,
            Reverse(restarts),
            created,
            p.metadata.name.clone().unwrap_or_default(),
        )
    });
    ranked
        .into_iter()
        .take(n)
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

/// Finished pods beyond `kept`, oldest first.
fn finished_pods_to_delete(owned: &[&Pod], kept: usize) -> Vec<String> {
    let mut finished: Vec<&Pod> = owned
        .iter()
        .copied()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && !is_active(p))
        .collect();
    if finished.len() <= kept {
        return Vec::new();
    }
    finished.sort_by_key(|p| {
        (
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            p.metadata.name.clone(),
        )
    });
    let excess = finished.len() - kept;
    finished
        .into_iter()
        .take(excess)
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

/// A new pod for `rs` named `<rs>-<suffix>`, or `None` when the ReplicaSet has no template
/// or no uid to own it by.
pub fn pod_for_replicaset(rs: &ReplicaSet, suffix: &str) -> Option<Pod> {
    let name = rs.metadata.name.as_deref()?;
    let template = rs.spec.template.as_ref()?;
    let template_meta = template.metadata.clone().unwrap_or_default();
    Some(Pod {
        metadata: ObjectMeta {
            name: Some(format!("{name}-{suffix}")),
            namespace: rs.metadata.namespace.clone(),
            labels: template_meta.labels,
            annotations: template_meta.annotations,
            finalizers: template_meta.finalizers,
            owner_references: Some(vec![owner_reference(rs)?]),
            ..ObjectMeta::default()
        },
        spec: Some(template.spec.clone()?),
        status: None,
    })
}

/// The controller ownerReference pods of `rs` carry.
pub fn owner_reference(rs: &ReplicaSet) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: "apps/v1".to_owned(),
        kind: "ReplicaSet".to_owned(),
        name: rs.metadata.name.clone()?,
        uid: rs.metadata.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// The uid of the pod's controlling owner, if it has one.
pub fn controller_uid(pod: &Pod) -> Option<&str> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.as_str())
}

/// Not being deleted and not finished: the pods a ReplicaSet counts.
pub fn is_active(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && !matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        )
}

/// When the pod's Ready condition last turned True, if it is Ready now.
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let ready = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    Some(
        ready
            .last_transition_time
            .as_ref()
            .map_or(Timestamp::UNIX_EPOCH, |t| t.0),
    )
}

fn labels(pod: &Pod) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    pod.metadata.labels.as_ref().unwrap_or(&EMPTY)
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Runs the ReplicaSet controller over every namespace until aborted.
pub(super) async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let stream = Controller::new(
        Api::<ReplicaSet>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(Api::<Pod>::all(client), watcher::Config::default())
    .run(reconcile, super::retry_soon, ctx);
    drain("replicaset", stream).await;
}

async fn reconcile(rs: Arc<ReplicaSet>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let (Some(namespace), Some(name)) = (
        rs.metadata.namespace.as_deref(),
        rs.metadata.name.as_deref(),
    ) else {
        return Ok(Action::await_change());
    };
    let replica_sets: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), namespace);
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    // Read fresh: the watch cache can lag our own writes, which would double-create pods.
    let Some(rs) = replica_sets.get_opt(name).await? else {
        return Ok(Action::await_change());
    };
    let listed = pods.list(&ListParams::default()).await?.items;
    let plan = plan_replicaset(&rs, &listed, Timestamp::now(), &ctx.config);
    let params = patch_params("replicaset");

    if let Some(owner) = owner_reference(&rs) {
        for pod_name in &plan.adopt {
            let Some(pod) = listed
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(pod_name))
            else {
                continue;
            };
            let mut refs: Vec<OwnerReference> =
                pod.metadata.owner_references.clone().unwrap_or_default();
            refs.push(owner.clone());
            let body = json!({ "metadata": {
                "ownerReferences": refs,
                "resourceVersion": pod.metadata.resource_version,
            }});
            ignore_not_found(pods.patch(pod_name, &params, &Patch::Merge(&body)).await)?;
            tracing::info!(replicaset = name, pod = pod_name, "adopted orphan pod");
        }
    }
    let mut notices = Vec::new();
    let mut failure = None;
    for _ in 0..plan.create {
        match create_pod(&pods, &rs).await {
            Ok(Some(created)) => notices.push(Notice::normal(
                "SuccessfulCreate",
                format!("Created pod: {created}"),
            )),
            Ok(None) => {}
            // Refused (a --deny rule, an invalid template): report it as Kubernetes does.
            Err(ReconcileError::Api(kube::Error::Api(refusal))) => {
                let message = refusal.message.clone();
                notices.push(Notice::warning(
                    "FailedCreate",
                    format!("Error creating: {message}"),
                ));
                failure = Some(message);
                break;
            }
            Err(err) => return Err(err),
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
    ctx.announce(Component::ReplicaSetController, rs.object_ref(&()), notices);
    let status = match &failure {
        Some(message) => Some(with_replica_failure(
            plan.status
                .clone()
                .or_else(|| rs.status.clone())
                .unwrap_or_default(),
            Some(message),
            Timestamp::now(),
        )),
        None => plan.status.clone(),
    };
    if let Some(status) = &status {
        let old = serde_json::to_value(rs.status.clone().unwrap_or_default())?;
        if let Some(change) = merge_patch::between(&old, &serde_json::to_value(status)?) {
            let body = json!({ "status": change });
            ignore_not_found(
                replica_sets
                    .patch_status(name, &params, &Patch::Merge(&body))
                    .await,
            )?;
        }
    }
    if failure.is_some() {
        return Ok(Action::requeue(CREATE_RETRY));
    }
    Ok(plan
        .requeue_after
        .map_or_else(Action::await_change, Action::requeue))
}

/// Creates one pod, drawing a new name when the random one is taken; returns its name.
async fn create_pod(pods: &Api<Pod>, rs: &ReplicaSet) -> Result<Option<String>, ReconcileError> {
    for _ in 0..5 {
        let Some(pod) = pod_for_replicaset(rs, &random_suffix()) else {
            tracing::warn!(replicaset = ?rs.metadata.name, "ReplicaSet has no pod template; skipped");
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
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::api::core::v1::{
        Container, ContainerStatus, PodCondition, PodSpec, PodStatus, PodTemplateSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};

    const T0: i64 = 1_800_000_000;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(T0 + secs).unwrap()
    }

    fn labels_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn rs(replicas: i32, min_ready: i32) -> ReplicaSet {
        let app = labels_of(&[("app", "web"), ("pod-template-hash", "abc")]);
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web-abc".into()),
                namespace: Some("default".into()),
                uid: Some("rs-uid".into()),
                generation: Some(4),
                ..ObjectMeta::default()
            },
            spec: ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: Some(min_ready),
                selector: LabelSelector {
                    match_labels: Some(app.clone()),
                    ..LabelSelector::default()
                },
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(app),
                        annotations: Some(labels_of(&[("team", "blue")])),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "app".into(),
                            image: Some("app:v1".into()),
                            ..Container::default()
                        }],
                        ..PodSpec::default()
                    }),
                }),
            },
            status: None,
        }
    }

    /// A pod owned by `web-abc`: `(name, created, phase, ready since, restarts)`.
    fn pod(name: &str, created: i64, phase: &str, ready: Option<i64>, restarts: i32) -> Pod {
        let mut pod = pod_for_replicaset(&rs(1, 0), "x").unwrap();
        pod.metadata.name = Some(name.into());
        pod.metadata.creation_timestamp = Some(Time(at(created)));
        pod.spec.as_mut().unwrap().node_name =
            (phase != "Unscheduled").then(|| "sandbox-node".into());
        pod.status = Some(PodStatus {
            phase: Some(
                if phase == "Unscheduled" {
                    "Pending"
                } else {
                    phase
                }
                .into(),
            ),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready.is_some() { "True" } else { "False" }.into(),
                last_transition_time: Some(Time(at(ready.unwrap_or(created)))),
                ..PodCondition::default()
            }]),
            container_statuses: Some(vec![ContainerStatus {
                name: "app".into(),
                restart_count: restarts,
                ..ContainerStatus::default()
            }]),
            ..PodStatus::default()
        });
        pod
    }

    #[test]
    fn new_pods_copy_the_template_and_point_at_their_owner() {
        let pod = pod_for_replicaset(&rs(3, 0), "b2c4d").unwrap();
        assert_eq!(pod.metadata.name.as_deref(), Some("web-abc-b2c4d"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(
            pod.metadata.labels.as_ref().unwrap()["pod-template-hash"],
            "abc"
        );
        assert_eq!(pod.metadata.annotations.as_ref().unwrap()["team"], "blue");
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (
                owner.api_version.as_str(),
                owner.kind.as_str(),
                owner.name.as_str(),
                owner.uid.as_str()
            ),
            ("apps/v1", "ReplicaSet", "web-abc", "rs-uid")
        );
        assert_eq!(
            (owner.controller, owner.block_owner_deletion),
            (Some(true), Some(true))
        );
        assert_eq!(
            pod.spec.unwrap().containers[0].image.as_deref(),
            Some("app:v1")
        );

        let mut no_template = rs(1, 0);
        no_template.spec.template = None;
        assert_eq!(pod_for_replicaset(&no_template, "b2c4d"), None);
    }

    #[test]
    fn scale_up_creates_the_missing_pods() {
        let pods = [pod("a", 0, "Running", Some(5), 0)];
        let plan = plan_replicaset(&rs(3, 0), &pods, at(100), &SimConfig::default());
        assert_eq!(plan.create, 2);
        assert!(plan.delete.is_empty());
        let status = plan.status.unwrap();
        assert_eq!(status.replicas, 1);
        assert_eq!(status.ready_replicas, Some(1));
        assert_eq!(status.available_replicas, Some(1));
        assert_eq!(status.fully_labeled_replicas, Some(1));
        assert_eq!(status.observed_generation, Some(4));
    }

    #[test]
    fn replica_failure_is_set_kept_and_cleared() {
        let failing = with_replica_failure(ReplicaSetStatus::default(), Some("forbidden"), at(5));
        let condition = &failing.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (
                condition.type_.as_deref(),
                condition.reason.as_deref(),
                condition.message.as_deref()
            ),
            (
                Some("ReplicaFailure"),
                Some("FailedCreate"),
                Some("forbidden")
            )
        );
        let still = with_replica_failure(failing.clone(), Some("forbidden again"), at(50));
        let condition = &still.conditions.as_ref().unwrap()[0];
        assert_eq!(condition.last_transition_time, Some(Time(at(5))));
        assert_eq!(condition.message.as_deref(), Some("forbidden again"));

        // Once nothing is left to create, the plan clears it.
        let mut set = rs(1, 0);
        set.status = Some(failing);
        let plan = plan_replicaset(
            &set,
            &[pod("a", 0, "Running", Some(1), 0)],
            at(60),
            &SimConfig::default(),
        );
        assert_eq!(plan.status.unwrap().conditions, None);
        // While pods are still missing, it stays.
        let mut short = rs(2, 0);
        short.status = set.status.clone();
        let plan = plan_replicaset(
            &short,
            &[pod("a", 0, "Running", Some(1), 0)],
            at(60),
            &SimConfig::default(),
        );
        assert_eq!(plan.status.unwrap().conditions.unwrap().len(), 1);
    }

    #[test]
    fn creations_come_in_bursts() {
        let plan = plan_replicaset(&rs(1_000_000, 0), &[], at(0), &SimConfig::default());
        assert_eq!(plan.create, MAX_BURST);
        let plan = plan_replicaset(&rs(-3, 0), &[], at(0), &SimConfig::default());
        assert_eq!(plan.create, 0);
    }

    #[test]
    fn nothing_to_do_when_counts_and_status_match() {
        let pods = [pod("a", 0, "Running", Some(5), 0)];
        let mut set = rs(1, 0);
        set.status = plan_replicaset(&set, &pods, at(100), &SimConfig::default()).status;
        assert_eq!(
            plan_replicaset(&set, &pods, at(200), &SimConfig::default()),
            ReplicaSetPlan::default()
        );
    }

    #[test]
    fn scale_down_deletion_order_table() {
        let now = at(1000);
        let cases: Vec<(&str, Vec<Pod>, usize, Vec<&str>)> = vec![
            (
                "unscheduled before pending before running",
                vec![
                    pod("running", 0, "Running", Some(10), 0),
                    pod("pending", 0, "Pending", None, 0),
                    pod("unscheduled", 0, "Unscheduled", None, 0),
                ],
                2,
                vec!["unscheduled", "pending"],
            ),
            (
                "not ready before ready",
                vec![
                    pod("ready", 0, "Running", Some(10), 0),
                    pod("unready", 0, "Running", None, 0),
                ],
                1,
                vec!["unready"],
            ),
            (
                "ready for less time first",
                vec![
                    pod("long", 0, "Running", Some(10), 0),
                    pod("short", 0, "Running", Some(500), 0),
                ],
                1,
                vec!["short"],
            ),
            (
                "more restarts first",
                vec![
                    pod("calm", 0, "Running", Some(10), 0),
                    pod("flappy", 0, "Running", Some(10), 7),
                ],
                1,
                vec!["flappy"],
            ),
            (
                "newer before older",
                vec![
                    pod("old", 0, "Running", Some(10), 0),
                    pod("new", 50, "Running", Some(10), 0),
                ],
                1,
                vec!["new"],
            ),
        ];
        for (name, pods, n, want) in cases {
            let refs: Vec<&Pod> = pods.iter().collect();
            assert_eq!(pods_to_delete(&refs, n, now), want, "{name}");
        }
    }

    #[test]
    fn deletion_cost_outranks_age() {
        let mut cheap = pod("cheap-old", 0, "Running", Some(10), 0);
        cheap.metadata.annotations = Some(labels_of(&[(DELETION_COST_ANNOTATION, "-5")]));
        let pods = [cheap, pod("new", 50, "Running", Some(10), 0)];
        let refs: Vec<&Pod> = pods.iter().collect();
        assert_eq!(pods_to_delete(&refs, 1, at(1000)), ["cheap-old"]);
    }

    #[test]
    fn scale_down_plan_deletes_the_surplus() {
        let pods = [
            pod("a", 0, "Running", Some(10), 0),
            pod("b", 1, "Running", Some(10), 0),
            pod("c", 2, "Pending", None, 0),
        ];
        let plan = plan_replicaset(&rs(1, 0), &pods, at(100), &SimConfig::default());
        assert_eq!(plan.create, 0);
        assert_eq!(plan.delete, ["c", "b"]);
    }

    #[test]
    fn pods_are_counted_by_ownership_not_labels() {
        let mut relabelled = pod("a", 0, "Running", Some(10), 0);
        relabelled.metadata.labels =
            Some(labels_of(&[("app", "web"), ("pod-template-hash", "zzz")]));
        let mut foreign = pod("b", 0, "Running", Some(10), 0);
        foreign.metadata.owner_references.as_mut().unwrap()[0].uid = "other".into();
        let plan = plan_replicaset(
            &rs(1, 0),
            &[relabelled, foreign],
            at(100),
            &SimConfig::default(),
        );
        assert_eq!(plan.create, 0);
        assert!(plan.delete.is_empty());
        assert!(plan.adopt.is_empty());
        let status = plan.status.unwrap();
        assert_eq!(status.replicas, 1);
        assert_eq!(status.fully_labeled_replicas, Some(0));
    }

    #[test]
    fn matching_orphans_are_adopted() {
        let mut orphan = pod("orphan", 0, "Running", Some(10), 0);
        orphan.metadata.owner_references = None;
        let mut stranger = pod("stranger", 0, "Running", Some(10), 0);
        stranger.metadata.owner_references = None;
        stranger.metadata.labels = Some(labels_of(&[("app", "db")]));
        let plan = plan_replicaset(
            &rs(2, 0),
            &[orphan, stranger],
            at(100),
            &SimConfig::default(),
        );
        assert_eq!(plan.adopt, ["orphan"]);
        assert_eq!(plan.create, 1);
    }

    #[test]
    fn min_ready_seconds_delays_availability() {
        let pods = [
            pod("a", 0, "Running", Some(90), 0),
            pod("b", 0, "Running", Some(10), 0),
        ];
        let plan = plan_replicaset(&rs(2, 30), &pods, at(100), &SimConfig::default());
        let status = plan.status.unwrap();
        assert_eq!(status.ready_replicas, Some(2));
        assert_eq!(status.available_replicas, Some(1));
        // Ready at 90 s, stored to the second, available from 121 s.
        assert_eq!(plan.requeue_after, Some(Duration::from_secs(21)));
    }

    #[test]
    fn finished_pods_are_replaced_and_pruned() {
        let config = SimConfig {
            finished_pods_kept: 1,
            ..SimConfig::default()
        };
        let pods = [
            pod("dead-1", 0, "Failed", None, 0),
            pod("dead-2", 5, "Failed", None, 0),
            pod("dead-3", 9, "Failed", None, 0),
        ];
        let plan = plan_replicaset(&rs(1, 0), &pods, at(100), &config);
        assert_eq!(plan.create, 1);
        assert_eq!(plan.delete, ["dead-1", "dead-2"]);
        assert_eq!(plan.status.unwrap().replicas, 0);
    }

    #[test]
    fn deleting_or_odd_replicasets_are_left_alone() {
        let mut deleting = rs(3, 0);
        deleting.metadata.deletion_timestamp = Some(Time(at(0)));
        let mut no_uid = rs(3, 0);
        no_uid.metadata.uid = None;
        for set in [deleting, no_uid] {
            assert_eq!(
                plan_replicaset(&set, &[], at(0), &SimConfig::default()),
                ReplicaSetPlan::default()
            );
        }
    }
}
