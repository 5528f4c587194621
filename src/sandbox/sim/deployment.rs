//! A simple simulated Deployment controller (apps/v1): one ReplicaSet per pod template, named
//! `<deployment>-<pod-template-hash>`, the current one scaled to `spec.replicas` and every
//! older one to zero at once (no surge arithmetic); `Recreate` waits for the old pods to be
//! gone before scaling the new ReplicaSet up. Status counts, `Available` and `Progressing`
//! conditions and the `deployment.kubernetes.io/revision` annotations follow Kubernetes.
//!
//! Argo Rollouts' `workloadRef` scales a referenced Deployment to zero; this controller makes
//! its ReplicaSets and pods follow. Simplifications: no progress deadline, no hash-collision
//! handling, paused Deployments are only counted.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams, Patch, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::clock::stored;
use super::names::template_hash;
use super::{
    Component, Context, Notice, ReconcileError, drain, ignore_not_found, is_already_exists,
    merge_patch, patch_params,
};

/// Label (and selector key) tying a ReplicaSet and its pods to one pod template.
pub const HASH_LABEL: &str = "pod-template-hash";
/// Revision annotation on Deployments and their ReplicaSets.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
const DESIRED_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
const MAX_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";

/// What the Deployment controller does to one Deployment now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeploymentPlan {
    /// A ReplicaSet to create for the current template.
    pub create: Option<ReplicaSet>,
    /// Merge patches for existing ReplicaSets (replicas, revision), by name.
    pub patch_replica_sets: Vec<(String, Value)>,
    /// A merge patch for the Deployment's metadata (its revision annotation).
    pub patch_deployment: Option<Value>,
    /// Old, empty ReplicaSets beyond `revisionHistoryLimit` (default 10), oldest first.
    pub delete_replica_sets: Vec<String>,
    /// The new status, when it differs from the current one.
    pub status: Option<DeploymentStatus>,
    /// `ScalingReplicaSet` events for the resizes above.
    pub notices: Vec<Notice>,
}

/// Decides the ReplicaSets and status of `deploy`, given the ReplicaSets of its namespace.
pub fn plan_deployment(
    deploy: &Deployment,
    replica_sets: &[ReplicaSet],
    now: Timestamp,
) -> DeploymentPlan {
    let spec = &deploy.spec;
    let (Some(uid), Some(name)) = (
        deploy.metadata.uid.as_deref(),
        deploy.metadata.name.as_deref(),
    ) else {
        return DeploymentPlan::default();
    };
    if deploy.metadata.deletion_timestamp.is_some() {
        return DeploymentPlan::default();
    }
    let old_status = deploy.status.clone().unwrap_or_default();
    let hash = pod_template_hash(deploy);
    let desired = spec.replicas.unwrap_or(1).max(0);
    let owned: Vec<&ReplicaSet> = replica_sets
        .iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.controller == Some(true) && o.uid == uid)
        })
        .collect();
    let current = owned
        .iter()
        .copied()
        .find(|rs| label(rs, HASH_LABEL) == Some(hash.as_str()));
    let others: Vec<&ReplicaSet> = owned
        .iter()
        .copied()
        .filter(|rs| label(rs, HASH_LABEL) != Some(hash.as_str()))
        .collect();
    let max_other_revision = others
        .iter()
        .filter_map(|rs| revision(rs))
        .max()
        .unwrap_or(0);
    let current_revision = current
        .and_then(revision)
        .filter(|r| *r > max_other_revision)
        .unwrap_or(max_other_revision.saturating_add(1));

    let recreate = spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate");
    let old_pods_left = others.iter().any(|rs| {
        rs.status.as_ref().is_some_and(|s| s.replicas > 0) || rs.spec.replicas.unwrap_or(1) > 0
    });
    let paused = spec.paused == Some(true);
    let target = if recreate && old_pods_left {
        0
    } else {
        desired
    };

    let mut plan = DeploymentPlan::default();
    if !paused {
        for rs in &others {
            let from = rs.spec.replicas.unwrap_or(1);
            if let (true, Some(rs_name)) = (from != 0, rs.metadata.name.clone()) {
                plan.notices.push(scaling(&rs_name, from, 0));
                plan.patch_replica_sets
                    .push((rs_name, json!({ "spec": { "replicas": 0 } })));
            }
        }
        match current {
            None => {
                plan.create = new_replica_set(deploy, &hash, target, current_revision);
                if target > 0 {
                    plan.notices
                        .push(scaling(&format!("{name}-{hash}"), 0, target));
                }
            }
            Some(rs) => {
                let mut patch = serde_json::Map::new();
                if rs.spec.replicas != Some(target) {
                    patch.insert("spec".into(), json!({ "replicas": target }));
                    plan.notices.push(scaling(
                        rs.metadata.name.as_deref().unwrap_or_default(),
                        rs.spec.replicas.unwrap_or(1),
                        target,
                    ));
                }
                if revision(rs) != Some(current_revision)
                    || annotation(rs, DESIRED_ANNOTATION) != Some(desired.to_string().as_str())
                {
                    patch.insert(
                        "metadata".into(),
                        json!({ "annotations": {
                            REVISION_ANNOTATION: current_revision.to_string(),
                            DESIRED_ANNOTATION: desired.to_string(),
                            MAX_ANNOTATION: desired.to_string(),
                        }}),
                    );
                }
                if let (false, Some(rs_name)) = (patch.is_empty(), rs.metadata.name.clone()) {
                    plan.patch_replica_sets
                        .push((rs_name, Value::Object(patch)));
                }
            }
        }
        plan.delete_replica_sets = pruned_history(&others, spec.revision_history_limit);
        let deploy_revision = deploy
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION_ANNOTATION));
        if deploy_revision != Some(&current_revision.to_string()) {
            plan.patch_deployment = Some(json!({ "metadata": { "annotations": {
                REVISION_ANNOTATION: current_revision.to_string(),
            }}}));
        }
    }

    // Saturating: counts come from the cluster and may be absurd.
    let sum = |f: fn(&ReplicaSet) -> i32| {
        owned
            .iter()
            .fold(0_i32, |total, rs| total.saturating_add(f(rs)))
    };
    let replicas = sum(|rs| rs.status.as_ref().map_or(0, |s| s.replicas));
    let ready = sum(|rs| {
        rs.status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0)
    });
    let available = sum(|rs| {
        rs.status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0)
    });
    let updated = current
        .and_then(|rs| rs.status.as_ref())
        .map_or(0, |s| s.replicas);
    let current_name = current
        .and_then(|rs| rs.metadata.name.clone())
        .unwrap_or_else(|| format!("{name}-{hash}"));

    let min_available = desired - max_unavailable(deploy, desired);
    let available_condition = if available >= min_available {
        (
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".to_owned(),
        )
    } else {
        (
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".to_owned(),
        )
    };
    let complete =
        current.is_some() && updated == desired && replicas == desired && available == desired;
    let progressing_condition = if current.is_none() {
        (
            "True",
            "NewReplicaSetCreated",
            format!("Created new replica set \"{current_name}\""),
        )
    } else if complete {
        (
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{current_name}\" has successfully progressed."),
        )
    } else {
        (
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{current_name}\" is progressing."),
        )
    };
    let status = DeploymentStatus {
        observed_generation: deploy
            .metadata
            .generation
            .or(old_status.observed_generation),
        replicas: Some(replicas),
        updated_replicas: Some(updated),
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        unavailable_replicas: Some(desired.saturating_sub(available).max(0)),
        conditions: Some(vec![
            condition(&old_status, "Available", available_condition, now),
            condition(&old_status, "Progressing", progressing_condition, now),
        ]),
        ..old_status.clone()
    };
    plan.status = (status != old_status).then_some(status);
    plan
}

/// Old ReplicaSets with no pods, beyond `limit` (default 10), lowest revision first.
fn pruned_history(others: &[&ReplicaSet], limit: Option<i32>) -> Vec<String> {
    let limit = usize::try_from(limit.unwrap_or(10)).unwrap_or(0);
    let mut empty: Vec<&ReplicaSet> = others
        .iter()
        .copied()
        .filter(|rs| {
            rs.spec.replicas == Some(0)
                && rs.status.as_ref().is_none_or(|s| s.replicas == 0)
                && rs.metadata.deletion_timestamp.is_none()
        })
        .collect();
    let excess = empty.len().saturating_sub(limit);
    empty.sort_by_key(|rs| (revision(rs).unwrap_or(0), rs.metadata.name.clone()));
    empty
        .into_iter()
        .take(excess)
        .filter_map(|rs| rs.metadata.name.clone())
        .collect()
}

/// The event a Deployment reports when it resizes one of its ReplicaSets.
fn scaling(rs_name: &str, from: i32, to: i32) -> Notice {
    let direction = if to > from { "up" } else { "down" };
    Notice::normal(
        "ScalingReplicaSet",
        format!("Scaled {direction} replica set {rs_name} from {from} to {to}"),
    )
}

/// The hash of the Deployment's pod template (without any hash label it may carry).
pub fn pod_template_hash(deploy: &Deployment) -> String {
    let mut template = deploy.spec.template.clone();
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(HASH_LABEL);
    }
    let collisions = deploy.status.as_ref().and_then(|s| s.collision_count);
    template_hash(&template, collisions)
}

/// The ReplicaSet for the current template: selector and labels gain the hash label.
fn new_replica_set(
    deploy: &Deployment,
    hash: &str,
    replicas: i32,
    revision: u64,
) -> Option<ReplicaSet> {
    let name = deploy.metadata.name.as_deref()?;
    let spec = &deploy.spec;
    let mut template = spec.template.clone();
    let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert(HASH_LABEL.to_owned(), hash.to_owned());
    let labels = meta.labels.clone();
    let mut selector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(HASH_LABEL.to_owned(), hash.to_owned());
    let desired = spec.replicas.unwrap_or(1).max(0).to_string();
    Some(ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{name}-{hash}")),
            namespace: deploy.metadata.namespace.clone(),
            labels,
            annotations: Some(BTreeMap::from([
                (REVISION_ANNOTATION.to_owned(), revision.to_string()),
                (DESIRED_ANNOTATION.to_owned(), desired.clone()),
                (MAX_ANNOTATION.to_owned(), desired),
            ])),
            owner_references: Some(vec![OwnerReference {
                api_version: "apps/v1".to_owned(),
                kind: "Deployment".to_owned(),
                name: name.to_owned(),
                uid: deploy.metadata.uid.clone()?,
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..ObjectMeta::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        },
        status: None,
    })
}

/// `maxUnavailable` of a rolling update (default 25 %, rounded down); zero for Recreate.
fn max_unavailable(deploy: &Deployment, desired: i32) -> i32 {
    let strategy = deploy.spec.strategy.as_ref();
    if strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate") {
        return 0;
    }
    let value = strategy
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_unavailable.clone())
        .unwrap_or(IntOrString::String("25%".to_owned()));
    let n = match value {
        IntOrString::Int(n) => n,
        IntOrString::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<i64>().ok())
            .map_or(0, |p| {
                let n = i64::from(desired).saturating_mul(p) / 100;
                i32::try_from(n).unwrap_or(if n < 0 { 0 } else { i32::MAX })
            }),
    };
    n.clamp(0, desired)
}

/// A condition that keeps its times while it does not change.
fn condition(
    old: &DeploymentStatus,
    kind: &str,
    (status, reason, message): (&str, &str, String),
    now: Timestamp,
) -> DeploymentCondition {
    let previous = old
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some(kind));
    let same_status = previous.filter(|p| p.status.as_deref() == Some(status));
    let same_everything = same_status
        .filter(|p| p.reason.as_deref() == Some(reason) && p.message.as_deref() == Some(&message));
    DeploymentCondition {
        type_: Some(kind.to_owned()),
        status: Some(status.to_owned()),
        last_transition_time: Some(
            same_status
                .and_then(|p| p.last_transition_time.clone())
                .unwrap_or_else(|| stored(now)),
        ),
        last_update_time: Some(
            same_everything
                .and_then(|p| p.last_update_time.clone())
                .unwrap_or_else(|| stored(now)),
        ),
        reason: Some(reason.to_owned()),
        message: Some(message),
    }
}

fn label<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

fn annotation<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

fn revision(rs: &ReplicaSet) -> Option<u64> {
    annotation(rs, REVISION_ANNOTATION)?.parse().ok()
}

/// Runs the Deployment controller over every namespace until aborted.
pub(super) async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let stream = Controller::new(
        Api::<Deployment>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(Api::<ReplicaSet>::all(client), watcher::Config::default())
    .run(reconcile, super::retry_soon, ctx);
    drain("deployment", stream).await;
}

async fn reconcile(deploy: Arc<Deployment>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let (Some(namespace), Some(name)) = (
        deploy.metadata.namespace.as_deref(),
        deploy.metadata.name.as_deref(),
    ) else {
        return Ok(Action::await_change());
    };
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), namespace);
    let replica_sets: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(deploy) = deployments.get_opt(name).await? else {
        return Ok(Action::await_change());
    };
    let listed = replica_sets.list(&ListParams::default()).await?.items;
    let plan = plan_deployment(&deploy, &listed, Timestamp::now());
    let params = patch_params("deployment");

    if let Some(rs) = &plan.create {
        match replica_sets.create(&PostParams::default(), rs).await {
            Err(err) if is_already_exists(&err) => {
                tracing::warn!(deployment = name, replicaset = ?rs.metadata.name,
                    "a ReplicaSet with the new name exists but is not ours; skipped");
            }
            other => {
                other?;
            }
        }
    }
    for rs_name in &plan.delete_replica_sets {
        ignore_not_found(replica_sets.delete(rs_name, &DeleteParams::default()).await)?;
    }
    for (rs_name, patch) in &plan.patch_replica_sets {
        ignore_not_found(
            replica_sets
                .patch(rs_name, &params, &Patch::Merge(patch))
                .await,
        )?;
    }
    if let Some(patch) = &plan.patch_deployment {
        ignore_not_found(deployments.patch(name, &params, &Patch::Merge(patch)).await)?;
    }
    if let Some(status) = &plan.status {
        let old = serde_json::to_value(deploy.status.clone().unwrap_or_default())?;
        if let Some(change) = merge_patch::between(&old, &serde_json::to_value(status)?) {
            let body = json!({ "status": change });
            ignore_not_found(
                deployments
                    .patch_status(name, &params, &Patch::Merge(&body))
                    .await,
            )?;
        }
    }
    ctx.announce(
        Component::DeploymentController,
        deploy.object_ref(&()),
        plan.notices.clone(),
    );
    Ok(Action::await_change())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentSpec, DeploymentStrategy, ReplicaSetStatus};
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn deploy(image: &str, replicas: i32) -> Deployment {
        let labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("d-uid".into()),
                generation: Some(2),
                ..ObjectMeta::default()
            },
            spec: DeploymentSpec {
                replicas: Some(replicas),
                selector: LabelSelector {
                    match_labels: Some(labels.clone()),
                    ..LabelSelector::default()
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "app".into(),
                            image: Some(image.into()),
                            ..Container::default()
                        }],
                        ..PodSpec::default()
                    }),
                },
                ..DeploymentSpec::default()
            },
            status: None,
        }
    }

    /// The ReplicaSet the controller would create, with the given spec and status replicas.
    fn rs_for(
        d: &Deployment,
        spec_replicas: i32,
        status: (i32, i32, i32),
        revision: u64,
    ) -> ReplicaSet {
        let mut rs = new_replica_set(d, &pod_template_hash(d), spec_replicas, revision).unwrap();
        rs.status = Some(ReplicaSetStatus {
            replicas: status.0,
            ready_replicas: Some(status.1),
            available_replicas: Some(status.2),
            ..ReplicaSetStatus::default()
        });
        rs
    }

    #[test]
    fn a_new_deployment_gets_a_hashed_replicaset() {
        let d = deploy("app:v1", 3);
        let plan = plan_deployment(&d, &[], at(0));
        let rs = plan.create.unwrap();
        let hash = pod_template_hash(&d);
        assert_eq!(rs.metadata.name.unwrap(), format!("web-{hash}"));
        assert_eq!(rs.metadata.labels.as_ref().unwrap()[HASH_LABEL], hash);
        let spec = rs.spec;
        assert_eq!(spec.replicas, Some(3));
        assert_eq!(
            spec.selector.match_labels.as_ref().unwrap()[HASH_LABEL],
            hash
        );
        let template_labels = spec.template.unwrap().metadata.unwrap().labels.unwrap();
        assert_eq!(template_labels[HASH_LABEL], hash);
        assert_eq!(template_labels["app"], "web");
        assert_eq!(rs.metadata.annotations.unwrap()[REVISION_ANNOTATION], "1");
        let owner = &rs.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("Deployment", "d-uid")
        );
        let status = plan.status.unwrap();
        assert_eq!(status.observed_generation, Some(2));
        let progressing = &status.conditions.as_ref().unwrap()[1];
        assert_eq!(progressing.reason.as_deref(), Some("NewReplicaSetCreated"));
        assert_eq!(
            plan.patch_deployment,
            Some(json!({"metadata": {"annotations": {REVISION_ANNOTATION: "1"}}}))
        );
    }

    #[test]
    fn the_hash_ignores_an_existing_hash_label_and_follows_the_template() {
        let d = deploy("app:v1", 1);
        let mut labelled = d.clone();
        labelled
            .spec
            .template
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(HASH_LABEL.into(), "x".into());
        assert_eq!(pod_template_hash(&d), pod_template_hash(&labelled));
        assert_ne!(
            pod_template_hash(&d),
            pod_template_hash(&deploy("app:v2", 1))
        );
        // Scaling does not change the template.
        assert_eq!(
            pod_template_hash(&d),
            pod_template_hash(&deploy("app:v1", 7))
        );
    }

    #[test]
    fn a_settled_deployment_reports_complete_and_needs_nothing() {
        let mut d = deploy("app:v1", 2);
        d.metadata.annotations = Some(BTreeMap::from([(REVISION_ANNOTATION.into(), "1".into())]));
        let rs = rs_for(&d, 2, (2, 2, 2), 1);
        let plan = plan_deployment(&d, std::slice::from_ref(&rs), at(10));
        assert_eq!(plan.create, None);
        assert!(
            plan.patch_replica_sets.is_empty(),
            "{:?}",
            plan.patch_replica_sets
        );
        assert_eq!(plan.patch_deployment, None);
        let status = plan.status.unwrap();
        assert_eq!(
            (
                status.replicas,
                status.updated_replicas,
                status.ready_replicas,
                status.available_replicas,
                status.unavailable_replicas
            ),
            (Some(2), Some(2), Some(2), Some(2), Some(0))
        );
        let conditions = status.conditions.clone().unwrap();
        assert_eq!(conditions[0].status.as_deref(), Some("True"));
        assert_eq!(
            conditions[1].reason.as_deref(),
            Some("NewReplicaSetAvailable")
        );
        d.status = Some(status);
        assert_eq!(
            plan_deployment(&d, &[rs], at(20)),
            DeploymentPlan::default()
        );
    }

    #[test]
    fn a_template_change_scales_the_old_replicaset_to_zero() {
        let old = deploy("app:v1", 3);
        let old_rs = rs_for(&old, 3, (3, 3, 3), 1);
        let new = deploy("app:v2", 3);
        let plan = plan_deployment(&new, std::slice::from_ref(&old_rs), at(10));
        assert_eq!(plan.create.as_ref().unwrap().spec.replicas, Some(3));
        assert_eq!(
            plan.create.unwrap().metadata.annotations.unwrap()[REVISION_ANNOTATION],
            "2"
        );
        assert_eq!(
            plan.patch_replica_sets,
            [(
                old_rs.metadata.name.clone().unwrap(),
                json!({"spec": {"replicas": 0}})
            )]
        );
        let notes: Vec<&str> = plan.notices.iter().map(|n| n.note.as_str()).collect();
        let new_name = format!("web-{}", pod_template_hash(&new));
        let old_name = old_rs.metadata.name.clone().unwrap();
        assert_eq!(
            notes,
            [
                format!("Scaled down replica set {old_name} from 3 to 0"),
                format!("Scaled up replica set {new_name} from 0 to 3"),
            ]
        );
        let status = plan.status.unwrap();
        assert_eq!(status.updated_replicas, Some(0));
        assert_eq!(status.replicas, Some(3));
    }

    #[test]
    fn recreate_waits_for_old_pods() {
        let mut new = deploy("app:v2", 2);
        new.spec.strategy = Some(DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        });
        let old_rs = rs_for(&deploy("app:v1", 2), 0, (2, 2, 2), 1);
        let plan = plan_deployment(&new, &[old_rs], at(0));
        assert_eq!(plan.create.unwrap().spec.replicas, Some(0));
        let gone = rs_for(&deploy("app:v1", 2), 0, (0, 0, 0), 1);
        let plan = plan_deployment(&new, &[gone], at(0));
        assert_eq!(plan.create.unwrap().spec.replicas, Some(2));
    }

    #[test]
    fn scaling_to_zero_follows_spec_replicas() {
        let mut d = deploy("app:v1", 0);
        d.metadata.annotations = Some(BTreeMap::from([(REVISION_ANNOTATION.into(), "1".into())]));
        let mut rs = rs_for(&deploy("app:v1", 3), 3, (3, 3, 3), 1);
        rs.metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(DESIRED_ANNOTATION.into(), "0".into());
        let plan = plan_deployment(&d, &[rs.clone()], at(0));
        assert_eq!(
            plan.patch_replica_sets,
            [(rs.metadata.name.unwrap(), json!({"spec": {"replicas": 0}}))]
        );
    }

    #[test]
    fn rolling_back_bumps_the_old_replicaset_revision() {
        let v1 = deploy("app:v1", 1);
        let v1_rs = rs_for(&v1, 0, (0, 0, 0), 1);
        let v2_rs = rs_for(&deploy("app:v2", 1), 1, (1, 1, 1), 2);
        let plan = plan_deployment(&v1, &[v1_rs.clone(), v2_rs.clone()], at(0));
        assert_eq!(plan.create, None);
        let v1_patch = plan
            .patch_replica_sets
            .iter()
            .find(|(n, _)| Some(n) == v1_rs.metadata.name.as_ref())
            .unwrap();
        assert_eq!(v1_patch.1["spec"]["replicas"], 1);
        assert_eq!(
            v1_patch.1["metadata"]["annotations"][REVISION_ANNOTATION],
            "3"
        );
    }

    #[test]
    fn history_beyond_the_limit_is_pruned() {
        let mut d = deploy("app:v9", 1);
        d.spec.revision_history_limit = Some(2);
        let old: Vec<ReplicaSet> = (1..=4)
            .map(|n| rs_for(&deploy(&format!("app:v{n}"), 1), 0, (0, 0, 0), n))
            .collect();
        let plan = plan_deployment(&d, &old, at(0));
        let oldest: Vec<String> = old[..2]
            .iter()
            .map(|rs| rs.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(plan.delete_replica_sets, oldest);
        // A ReplicaSet still holding pods is kept whatever its age.
        let mut busy = old.clone();
        busy[0].status.as_mut().unwrap().replicas = 1;
        let plan = plan_deployment(&d, &busy, at(0));
        assert_eq!(
            plan.delete_replica_sets,
            [old[1].metadata.name.clone().unwrap()]
        );
    }

    #[test]
    fn unavailability_budget_table() {
        use k8s_openapi::api::apps::v1::RollingUpdateDeployment;
        let with = |value: Option<IntOrString>| {
            let mut d = deploy("app:v1", 10);
            d.spec.strategy = Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: value,
                    max_surge: None,
                }),
            });
            d
        };
        assert_eq!(max_unavailable(&with(None), 10), 2);
        assert_eq!(max_unavailable(&with(Some(IntOrString::Int(3))), 10), 3);
        assert_eq!(
            max_unavailable(&with(Some(IntOrString::String("50%".into()))), 10),
            5
        );
        assert_eq!(max_unavailable(&with(Some(IntOrString::Int(30))), 10), 10);
        assert_eq!(
            max_unavailable(&with(Some(IntOrString::String("x".into()))), 10),
            0
        );
    }

    #[test]
    fn absurd_counts_saturate_instead_of_panicking() {
        let mut d = deploy("app:v1", i32::MAX);
        d.spec.strategy = Some(DeploymentStrategy {
            type_: None,
            rolling_update: Some(k8s_openapi::api::apps::v1::RollingUpdateDeployment {
                max_unavailable: Some(IntOrString::String("99999999999999999%".into())),
                max_surge: None,
            }),
        });
        let huge = rs_for(&d, i32::MAX, (i32::MAX, i32::MAX, i32::MAX), 1);
        let mut other = rs_for(&deploy("app:v0", 1), 5, (i32::MAX, -5, i32::MAX), 1);
        other.metadata.name = Some("web-other".into());
        let plan = plan_deployment(&d, &[huge, other], at(0));
        let status = plan.status.unwrap();
        assert_eq!(status.replicas, Some(i32::MAX));
        assert_eq!(status.unavailable_replicas, Some(0));
    }

    #[test]
    fn odd_deployments_are_left_alone() {
        let mut no_uid = deploy("app:v1", 1);
        no_uid.metadata.uid = None;
        let mut deleting = deploy("app:v1", 1);
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at(0)));
        for d in [no_uid, deleting] {
            assert_eq!(plan_deployment(&d, &[], at(0)), DeploymentPlan::default());
        }
    }
}
