//! RBAC checks before an action is sent: each request of an `ActionPlan` as the
//! SelfSubjectAccessReview attributes it needs (verb, `argoproj.io` rollouts, subresource,
//! namespace, name), asked of the API server. The attribute mapping is pure; [`check_plan`]
//! does the requests and answers with the first denied permission, if any.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

use crate::model::{ActionPlan, PatchKind, PatchTarget};

const ROLLOUTS_GROUP: &str = "argoproj.io";

/// A permission the action needs, in kubectl's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(sub) = self.subresource {
            write!(f, "/{sub}")?;
        }
        Ok(())
    }
}

/// Why the check itself could not be made (not a denial).
#[derive(Debug, thiserror::Error)]
#[error("asking the API server whether {permission} is allowed: {source}")]
pub struct CheckAccessError {
    pub permission: String,
    pub source: kube::Error,
}

/// A denied permission with the authorizer's reason, when it gave one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub permission: Permission,
    pub reason: Option<String>,
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not allowed: {} (RBAC)", self.permission)?;
        if let Some(reason) = &self.reason {
            write!(f, ": {reason}")?;
        }
        Ok(())
    }
}

/// The permissions the plan's requests need, without duplicates, in request order.
pub fn permissions_for(plan: &ActionPlan) -> Vec<Permission> {
    let rollouts = |verb, subresource| Permission {
        verb,
        group: ROLLOUTS_GROUP,
        resource: "rollouts",
        subresource,
    };
    let mut needed = Vec::new();
    for request in &plan.requests {
        let more = match (request.kind.clone(), request.target) {
            (
                PatchKind::Merge | PatchKind::JsonPatchFromReplicaSet,
                PatchTarget::StatusSubresource,
            ) => vec![rollouts("patch", Some("status"))],
            (PatchKind::Merge | PatchKind::JsonPatchFromReplicaSet, PatchTarget::Rollout) => {
                vec![rollouts("patch", None)]
            }
            (PatchKind::SetImageUpdate, _) => {
                vec![rollouts("get", None), rollouts("update", None)]
            }
        };
        for permission in more {
            if !needed.contains(&permission) {
                needed.push(permission);
            }
        }
    }
    needed
}

/// Asks the API server about each permission the plan needs on `namespace/name`; the first
/// denied one, or `None` when all are allowed.
pub async fn check_plan(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    plan: &ActionPlan,
) -> Result<Option<Denied>, CheckAccessError> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    for permission in permissions_for(plan) {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(permission.verb.to_owned()),
                    group: Some(permission.group.to_owned()),
                    resource: Some(permission.resource.to_owned()),
                    subresource: permission.subresource.map(str::to_owned),
                    namespace: Some(namespace.to_owned()),
                    name: Some(name.to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|source| CheckAccessError {
                permission: permission.to_string(),
                source,
            })?;
        let status = answer.status.unwrap_or_default();
        if !status.allowed || status.denied == Some(true) {
            let reason = status.reason.filter(|r| !r.is_empty());
            return Ok(Some(Denied { permission, reason }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, PatchRequest};
    use serde_json::json;

    fn request(target: PatchTarget, kind: PatchKind) -> PatchRequest {
        PatchRequest {
            target,
            kind,
            body: json!({}),
        }
    }

    #[test]
    fn each_request_needs_its_verb_and_subresource() {
        let plan = ActionPlan {
            action: Action::Promote,
            effect: String::new(),
            requests: vec![
                request(PatchTarget::StatusSubresource, PatchKind::Merge),
                request(PatchTarget::Rollout, PatchKind::Merge),
                request(PatchTarget::StatusSubresource, PatchKind::Merge),
            ],
        };
        let texts: Vec<String> = permissions_for(&plan)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(texts, ["patch rollouts/status", "patch rollouts"]);
        let plan = ActionPlan {
            action: Action::SetImage {
                container: "app".into(),
                image: "x".into(),
            },
            effect: String::new(),
            requests: vec![request(PatchTarget::Rollout, PatchKind::SetImageUpdate)],
        };
        let texts: Vec<String> = permissions_for(&plan)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(texts, ["get rollouts", "update rollouts"]);
    }
}
