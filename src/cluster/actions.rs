//! Sends a planned operator action (`model::ActionPlan`) to the API server with the requests
//! `kubectl argo rollouts` makes: merge patches to `/status` falling back to the main resource
//! on 404, a GET+PUT for `set image` retried on conflicts, and the JSON Patch of `undo` whose
//! pod template is read from the target ReplicaSet at send time. The plan decides *what*;
//! this module only talks to the cluster. The CLI and the cockpit both call [`send`].

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::crd::{AnalysisRun, Rollout};
use crate::model::{Action, ActionPlan, PatchKind, PatchRequest, PatchTarget};

/// The label Argo adds to every pod template it owns; ignored when comparing templates.
const POD_TEMPLATE_HASH: &str = "rollouts-pod-template-hash";
const REVISION_ANNOTATION: &str = "rollout.argoproj.io/revision";
/// How often `set image` re-reads and retries after a 409 Conflict, as the plugin does.
const UPDATE_ATTEMPTS: usize = 5;

/// The first line `send` returns when `undo` found nothing to change.
pub const UNDO_SKIPPED: &str = "skipped rollback";

/// Why an action could not be sent; each names the request that failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("{0}")]
    Api(#[from] kube::Error),
    #[error("rollout {name:?} has no container named {container:?}")]
    UnknownContainer { name: String, container: String },
    #[error("rollout {0:?} uses workloadRef; rolltop does not edit referenced workloads yet")]
    WorkloadRef(String),
    #[error("rollout {0:?} has no pod template")]
    NoTemplate(String),
    #[error("unable to find a ReplicaSet of rollout {name:?} for revision {revision}")]
    RevisionNotFound { name: String, revision: String },
    #[error("gave up after {UPDATE_ATTEMPTS} conflicting updates of rollout {0:?}")]
    Conflicts(String),
    #[error("malformed request body: {0}")]
    Body(#[from] serde_json::Error),
}

/// Options the plan does not carry.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendOptions {
    /// `undo --to-revision N`; `None` is the second-highest revision.
    pub undo_to_revision: Option<u64>,
}

/// Sends every request of `plan` in order; returns one line per request done.
pub async fn send(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    plan: &ActionPlan,
) -> Result<Vec<String>, ActionError> {
    send_with(client, namespace, name, plan, SendOptions::default()).await
}

/// [`send`] with options the plan does not carry (`undo --to-revision`).
pub async fn send_with(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    plan: &ActionPlan,
    options: SendOptions,
) -> Result<Vec<String>, ActionError> {
    let api: Api<Rollout> = Api::namespaced(client.clone(), namespace);
    let mut lines = Vec::new();
    for request in &plan.requests {
        match request.kind {
            PatchKind::Merge => lines.push(merge(&api, name, request).await?),
            PatchKind::SetImageUpdate => {
                let Action::SetImage { container, image } = &plan.action else {
                    return Err(ActionError::Body(serde::de::Error::custom(
                        "a set-image request without a set-image action",
                    )));
                };
                lines.push(set_image(&api, name, container, image).await?);
            }
            PatchKind::JsonPatchFromReplicaSet => {
                let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
                lines.push(undo(&api, &replica_sets, name, options.undo_to_revision).await?);
            }
        }
    }
    Ok(lines)
}

fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

async fn merge(
    api: &Api<Rollout>,
    name: &str,
    request: &PatchRequest,
) -> Result<String, ActionError> {
    let params = PatchParams::default();
    let patch = Patch::Merge(&request.body);
    match request.target {
        PatchTarget::Rollout => {
            api.patch(name, &params, &patch).await?;
            Ok(request.describe())
        }
        PatchTarget::StatusSubresource => match api.patch_status(name, &params, &patch).await {
            Ok(_) => Ok(request.describe()),
            // An API server without the status subresource: the plugin sends the same body
            // to the main resource.
            Err(error) if is_not_found(&error) => {
                api.patch(name, &params, &patch).await?;
                Ok(format!(
                    "PATCH rollout (merge) {} (no status subresource)",
                    request.body
                ))
            }
            Err(error) => Err(error.into()),
        },
    }
}

async fn set_image(
    api: &Api<Rollout>,
    name: &str,
    container: &str,
    image: &str,
) -> Result<String, ActionError> {
    for _ in 0..UPDATE_ATTEMPTS {
        let mut rollout = api.get(name).await?;
        if rollout.spec.workload_ref.is_some() {
            return Err(ActionError::WorkloadRef(name.to_owned()));
        }
        if rollout.set_image(container, image) == 0 {
            return Err(ActionError::UnknownContainer {
                name: name.to_owned(),
                container: container.to_owned(),
            });
        }
        match api.replace(name, &PostParams::default(), &rollout).await {
            Ok(_) => return Ok(format!("PUT rollout {container}={image}")),
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => return Err(error.into()),
        }
    }
    Err(ActionError::Conflicts(name.to_owned()))
}

fn revision(rs: &ReplicaSet) -> Option<u64> {
    rs.metadata
        .annotations
        .as_ref()?
        .get(REVISION_ANNOTATION)?
        .parse()
        .ok()
}

/// The pod template without Argo's hash label, as `undo` compares and writes it.
fn template_without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut template = template.clone();
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH);
    }
    template
}

/// The ReplicaSet `undo` goes back to: the one annotated with `to_revision`, or the
/// second-highest revision.
fn undo_target(replica_sets: &[ReplicaSet], to_revision: Option<u64>) -> Option<&ReplicaSet> {
    match to_revision {
        Some(wanted) if wanted > 0 => replica_sets.iter().find(|rs| revision(rs) == Some(wanted)),
        _ => {
            let mut by_revision: Vec<&ReplicaSet> = replica_sets
                .iter()
                .filter(|rs| revision(rs).is_some())
                .collect();
            by_revision.sort_by_key(|rs| std::cmp::Reverse(revision(rs)));
            by_revision.get(1).copied()
        }
    }
}

fn match_labels_selector(rollout: &Rollout) -> String {
    rollout
        .spec
        .selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref())
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

async fn undo(
    api: &Api<Rollout>,
    replica_sets: &Api<ReplicaSet>,
    name: &str,
    to_revision: Option<u64>,
) -> Result<String, ActionError> {
    let rollout = api.get(name).await?;
    if rollout.spec.workload_ref.is_some() {
        return Err(ActionError::WorkloadRef(name.to_owned()));
    }
    let uid = rollout.metadata.uid.clone().unwrap_or_default();
    let params = ListParams::default().labels(&match_labels_selector(&rollout));
    let controlled: Vec<ReplicaSet> = replica_sets
        .list(&params)
        .await?
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|o| o.uid == uid && o.controller == Some(true))
        })
        .collect();
    let revision_word = to_revision.map_or_else(|| "previous".to_owned(), |r| r.to_string());
    let target =
        undo_target(&controlled, to_revision).ok_or_else(|| ActionError::RevisionNotFound {
            name: name.to_owned(),
            revision: revision_word.clone(),
        })?;
    let rs_template = target
        .spec
        .template
        .as_ref()
        .map(template_without_hash)
        .ok_or_else(|| ActionError::NoTemplate(name.to_owned()))?;
    let current = rollout
        .pod_template()?
        .ok_or_else(|| ActionError::NoTemplate(name.to_owned()))?;
    let target_revision = revision(target).unwrap_or(0);
    if template_without_hash(&current) == rs_template {
        return Ok(format!(
            "{UNDO_SKIPPED} (current template already matches revision {target_revision})"
        ));
    }
    let body = json!([{"op": "replace", "path": "/spec/template", "value": rs_template}]);
    let patch: json_patch::Patch = serde_json::from_value(body.clone())?;
    api.patch(name, &PatchParams::default(), &Patch::<Value>::Json(patch))
        .await?;
    Ok(format!(
        "PATCH rollout (json) replace /spec/template with revision {target_revision}"
    ))
}

/// `terminate analysisrun`: a merge patch of `{"spec":{"terminate":true}}` on the main
/// resource (AnalysisRun has no status subresource).
pub async fn terminate_analysis_run(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<String, ActionError> {
    let api: Api<AnalysisRun> = Api::namespaced(client.clone(), namespace);
    let body = json!({"spec": {"terminate": true}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&body))
        .await?;
    Ok(format!("PATCH analysisrun (merge) {body}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rs(name: &str, revision: u64) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": {REVISION_ANNOTATION: revision.to_string()}},
            "spec": {"selector": {}}
        }))
        .unwrap()
    }

    #[test]
    fn undo_picks_the_second_highest_revision_or_the_one_asked() {
        let sets = [rs("a", 1), rs("c", 3), rs("b", 2)];
        let name = |r: Option<&ReplicaSet>| r.and_then(|r| r.metadata.name.clone());
        assert_eq!(name(undo_target(&sets, None)), Some("b".to_owned()));
        assert_eq!(name(undo_target(&sets, Some(0))), Some("b".to_owned()));
        assert_eq!(name(undo_target(&sets, Some(1))), Some("a".to_owned()));
        assert_eq!(name(undo_target(&sets, Some(7))), None);
        assert_eq!(name(undo_target(&sets[..1], None)), None);
    }
}
