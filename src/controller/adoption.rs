//! ReplicaSet adoption and release (spec §3.1 step 3, the reference claims ReplicaSets the way
//! the Deployment controller does): a ReplicaSet of the namespace with no controller owner
//! whose labels match the Rollout's selector is adopted (our controller ownerReference is
//! added); a ReplicaSet the Rollout controls whose labels no longer match is released (that
//! ownerReference is removed). ReplicaSets another controller owns, and ReplicaSets being
//! deleted, are never touched; a Rollout being deleted (or one without a uid or a selector)
//! claims nothing.
//!
//! Pure: [`replica_set_claims`] decides, [`Claim::patch`] is the merge patch the shell sends,
//! and [`claimed`] is the snapshot as it will be once the patches land, so the planner works
//! with the claimed set in the same pass, as the reference does.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use serde_json::{Value, json};

use crate::controller::snapshot::Snapshot;
use crate::crd::Rollout;
use crate::crd::label_selector as selector;

/// What happens to one ReplicaSet's ownership.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Add the Rollout's controller ownerReference; the list becomes `owner_references`.
    Adopt {
        name: String,
        owner_references: Vec<OwnerReference>,
    },
    /// Drop the Rollout's ownerReference; the list becomes `owner_references`.
    Release {
        name: String,
        owner_references: Vec<OwnerReference>,
    },
}

impl Claim {
    /// The ReplicaSet's name.
    pub fn name(&self) -> &str {
        match self {
            Claim::Adopt { name, .. } | Claim::Release { name, .. } => name,
        }
    }

    /// The merge patch of the ReplicaSet's `metadata.ownerReferences` (a merge patch replaces
    /// the whole list; an empty list is removed).
    pub fn patch(&self) -> Value {
        let refs = match self {
            Claim::Adopt {
                owner_references, ..
            }
            | Claim::Release {
                owner_references, ..
            } => owner_references,
        };
        if refs.is_empty() {
            json!({"metadata": {"ownerReferences": null}})
        } else {
            json!({"metadata": {"ownerReferences": refs}})
        }
    }
}

/// The controller ownerReference a Rollout puts on its ReplicaSets.
pub fn controller_reference(rollout: &Rollout) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: crate::crd::API_VERSION.to_owned(),
        kind: "Rollout".to_owned(),
        name: rollout.name_any(),
        uid: rollout.metadata.uid.clone().filter(|uid| !uid.is_empty())?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// Whether `owner` is this Rollout (kind, name, and uid when the reference carries one).
fn is_this_rollout(owner: &OwnerReference, rollout: &Rollout) -> bool {
    owner.kind == "Rollout"
        && owner.name == rollout.name_any()
        && (owner.uid.is_empty() || Some(owner.uid.as_str()) == rollout.metadata.uid.as_deref())
}

/// The adoptions and releases the snapshot's ReplicaSets need, in list order.
pub fn replica_set_claims(rollout: &Rollout, replica_sets: &[ReplicaSet]) -> Vec<Claim> {
    let Some(ours) = controller_reference(rollout) else {
        return Vec::new();
    };
    let Some(rollout_selector) = rollout.spec.selector.as_ref() else {
        return Vec::new();
    };
    if rollout.metadata.deletion_timestamp.is_some() || selector::is_empty(rollout_selector) {
        return Vec::new();
    }
    let namespace = rollout.namespace();
    replica_sets
        .iter()
        .filter(|rs| rs.metadata.deletion_timestamp.is_none() && rs.namespace() == namespace)
        .filter_map(|rs| {
            let refs = rs.owner_references();
            let matches = selector::matches(rollout_selector, rs.labels());
            match refs.iter().find(|o| o.controller == Some(true)) {
                Some(controller) if is_this_rollout(controller, rollout) && !matches => {
                    Some(Claim::Release {
                        name: rs.name_any(),
                        owner_references: refs
                            .iter()
                            .filter(|o| !is_this_rollout(o, rollout))
                            .cloned()
                            .collect(),
                    })
                }
                None if matches => {
                    let mut owner_references: Vec<OwnerReference> = refs
                        .iter()
                        .filter(|o| !is_this_rollout(o, rollout))
                        .cloned()
                        .collect();
                    owner_references.push(ours.clone());
                    Some(Claim::Adopt {
                        name: rs.name_any(),
                        owner_references,
                    })
                }
                _ => None,
            }
        })
        .collect()
}

/// `snapshot` with `claims` applied to its ReplicaSets' ownerReferences.
pub fn claimed(snapshot: &Snapshot, claims: &[Claim]) -> Snapshot {
    let mut claimed = snapshot.clone();
    for claim in claims {
        let refs = match claim {
            Claim::Adopt {
                owner_references, ..
            }
            | Claim::Release {
                owner_references, ..
            } => owner_references,
        };
        if let Some(rs) = claimed
            .replica_sets
            .iter_mut()
            .find(|rs| rs.name_any() == claim.name())
        {
            rs.metadata.owner_references = (!refs.is_empty()).then(|| refs.clone());
        }
    }
    claimed
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rollout(deleting: bool, uid: Option<&str>) -> Rollout {
        let mut r = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "demo", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"app": "demo"}}}
        });
        if let Some(uid) = uid {
            r["metadata"]["uid"] = json!(uid);
        }
        if deleting {
            r["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(r).unwrap()
    }

    fn owner(kind: &str, name: &str, uid: &str, controller: bool) -> Value {
        json!({"apiVersion": "v1", "kind": kind, "name": name, "uid": uid, "controller": controller})
    }

    fn rs(name: &str, app: &str, owners: &[Value], deleting: bool) -> ReplicaSet {
        let mut r = json!({
            "metadata": {"name": name, "namespace": "ns", "labels": {"app": app, "rollouts-pod-template-hash": "h"}},
            "spec": {"selector": {"matchLabels": {"app": app}}}
        });
        if !owners.is_empty() {
            r["metadata"]["ownerReferences"] = json!(owners);
        }
        if deleting {
            r["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(r).unwrap()
    }

    #[test]
    fn claims_table() {
        let ours = serde_json::to_value(controller_reference(&rollout(false, Some("u1"))).unwrap())
            .unwrap();
        let deployment = owner("Deployment", "demo", "d1", true);
        let garbage = owner("ConfigMap", "keep", "c1", false);
        let live = rollout(false, Some("u1"));
        // (what, rollout, rs, expected patch of the ownerReferences or None)
        let cases: Vec<(&str, Rollout, ReplicaSet, Option<Value>)> = vec![
            (
                "orphan that matches is adopted",
                live.clone(),
                rs("a", "demo", &[], false),
                Some(json!([ours])),
            ),
            (
                "non-controller owners are kept on adoption",
                live.clone(),
                rs("a", "demo", std::slice::from_ref(&garbage), false),
                Some(json!([garbage, ours])),
            ),
            (
                "orphan of another app is left alone",
                live.clone(),
                rs("a", "other", &[], false),
                None,
            ),
            (
                "an orphan being deleted is not adopted",
                live.clone(),
                rs("a", "demo", &[], true),
                None,
            ),
            (
                "another controller's RS is never taken",
                live.clone(),
                rs("a", "demo", std::slice::from_ref(&deployment), false),
                None,
            ),
            (
                "another controller's RS is never released either",
                live.clone(),
                rs("a", "other", &[deployment], false),
                None,
            ),
            (
                "our matching RS stays",
                live.clone(),
                rs("a", "demo", std::slice::from_ref(&ours), false),
                None,
            ),
            (
                "our RS whose labels changed is released",
                live.clone(),
                rs("a", "other", std::slice::from_ref(&ours), false),
                Some(Value::Null),
            ),
            (
                "release keeps other owners",
                live.clone(),
                rs("a", "other", &[garbage.clone(), ours.clone()], false),
                Some(json!([garbage])),
            ),
            (
                "a same-named Rollout with another uid is not us",
                live.clone(),
                rs("a", "other", &[owner("Rollout", "demo", "u0", true)], false),
                None,
            ),
            (
                "a Rollout being deleted claims nothing",
                rollout(true, Some("u1")),
                rs("a", "demo", &[], false),
                None,
            ),
            (
                "a Rollout without uid claims nothing",
                rollout(false, None),
                rs("a", "demo", &[], false),
                None,
            ),
        ];
        for (what, rollout, replica_set, want) in cases {
            let claims = replica_set_claims(&rollout, std::slice::from_ref(&replica_set));
            let got = claims
                .first()
                .map(|c| c.patch()["metadata"]["ownerReferences"].clone());
            assert_eq!(got, want, "{what}");
            assert!(claims.len() <= 1, "{what}");
        }
    }
}
