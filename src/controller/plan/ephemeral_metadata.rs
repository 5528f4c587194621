//! Ephemeral pod metadata (spec §7.3): `canaryMetadata` / `stableMetadata` (blue-green:
//! `previewMetadata` / `activeMetadata`) labels and annotations on the pods of the respective
//! ReplicaSets. While an update is in progress the new RS carries the canary metadata and the
//! stable RS the stable metadata; once promoted (or on the first deploy) the new RS carries the
//! stable metadata; other RSs carry none. The metadata goes into the RS pod template — recorded
//! in the `rollout.argoproj.io/ephemeral-metadata` annotation so that keys we injected and no
//! longer want are removed, and template comparison ignores them — and onto the RS's live pods
//! by merge patch, without a restart. Keys set by others are never touched.

use std::collections::BTreeMap;

use kube::ResourceExt;
use serde_json::{Map, Value, json};

use super::{Action, Planner};
use crate::controller::new_replica_set::EPHEMERAL_METADATA_ANNOTATION;
use crate::crd::rollout::PodTemplateMetadata;

/// Labels and annotations, as injected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ephemeral {
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
}

impl Ephemeral {
    /// The desired metadata of a strategy field.
    pub fn of(metadata: Option<&PodTemplateMetadata>) -> Self {
        Ephemeral {
            labels: metadata.and_then(|m| m.labels.clone()).unwrap_or_default(),
            annotations: metadata
                .and_then(|m| m.annotations.clone())
                .unwrap_or_default(),
        }
    }

    /// What the `ephemeral-metadata` annotation records (empty when unreadable).
    pub fn recorded(annotation: Option<&str>) -> Self {
        let parsed: Value = annotation
            .and_then(|raw| serde_json::from_str(raw).ok())
            .unwrap_or(Value::Null);
        let map = |field: &str| -> BTreeMap<String, String> {
            parsed
                .get(field)
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default()
        };
        Ephemeral {
            labels: map("labels"),
            annotations: map("annotations"),
        }
    }

    fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.annotations.is_empty()
    }

    /// The annotation value recording this metadata; `None` when there is nothing to record.
    pub fn annotation(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut object = Map::new();
        if !self.labels.is_empty() {
            object.insert("labels".into(), json!(self.labels));
        }
        if !self.annotations.is_empty() {
            object.insert("annotations".into(), json!(self.annotations));
        }
        Some(Value::Object(object).to_string())
    }

    /// Whether an object with these labels and annotations already carries all of it.
    pub fn carried_by(
        &self,
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self
                .annotations
                .iter()
                .all(|(k, v)| annotations.get(k) == Some(v))
    }
}

/// The `metadata` merge patch that moves an object from the `recorded` injection to the
/// `desired` one: desired keys set, previously injected keys no longer desired removed.
/// `None` when both are the same.
pub fn metadata_patch(recorded: &Ephemeral, desired: &Ephemeral) -> Option<Value> {
    if recorded == desired {
        return None;
    }
    let field = |old: &BTreeMap<String, String>, new: &BTreeMap<String, String>| {
        let mut patch = Map::new();
        for key in old.keys().filter(|k| !new.contains_key(*k)) {
            patch.insert(key.clone(), Value::Null);
        }
        for (key, value) in new {
            patch.insert(key.clone(), json!(value));
        }
        patch
    };
    let mut patch = Map::new();
    let labels = field(&recorded.labels, &desired.labels);
    if !labels.is_empty() {
        patch.insert("labels".into(), Value::Object(labels));
    }
    let annotations = field(&recorded.annotations, &desired.annotations);
    if !annotations.is_empty() {
        patch.insert("annotations".into(), Value::Object(annotations));
    }
    Some(Value::Object(patch))
}

/// Merges `desired` into a pod template's metadata (JSON) for a ReplicaSet being created.
pub fn inject_into_template(template: &mut Value, desired: &Ephemeral) {
    let Some(root) = template.as_object_mut() else {
        return;
    };
    let meta = root.entry("metadata").or_insert_with(|| json!({}));
    for (field, values) in [
        ("labels", &desired.labels),
        ("annotations", &desired.annotations),
    ] {
        if values.is_empty() {
            continue;
        }
        let Some(meta) = meta.as_object_mut() else {
            return;
        };
        let target = meta.entry(field).or_insert_with(|| json!({}));
        if let Some(target) = target.as_object_mut() {
            for (k, v) in values {
                target.insert(k.clone(), json!(v));
            }
        }
    }
}

impl Planner<'_> {
    /// (canary, stable) metadata of the strategy: canary/stable, or blue-green preview/active.
    fn ephemeral_fields(&self) -> (Option<&PodTemplateMetadata>, Option<&PodTemplateMetadata>) {
        if let Some(canary) = self.rollout.canary() {
            return (
                canary.canary_metadata.as_ref(),
                canary.stable_metadata.as_ref(),
            );
        }
        if let Some(bg) = self.rollout.blue_green() {
            return (bg.preview_metadata.as_ref(), bg.active_metadata.as_ref());
        }
        (None, None)
    }

    /// The metadata the new RS should carry now (canary mid-update, stable otherwise).
    pub(super) fn new_rs_ephemeral(&self, new_hash: &str) -> Ephemeral {
        let (canary, stable) = self.ephemeral_fields();
        let stable_hash = self.status.stable_rs.as_deref().unwrap_or_default();
        if stable_hash.is_empty() || stable_hash == new_hash {
            Ephemeral::of(stable)
        } else {
            Ephemeral::of(canary)
        }
    }

    /// §7.3 each pass: bring every owned RS's template, and the live pods of those that
    /// should carry metadata, to the metadata of its role.
    pub(super) fn reconcile_ephemeral_metadata(&mut self) {
        let (canary, stable) = self.ephemeral_fields();
        let (canary, stable) = (Ephemeral::of(canary), Ephemeral::of(stable));
        let Some(new) = self.new_rs.clone() else {
            return;
        };
        let promoted =
            self.fully_promoted() || self.status.stable_rs.as_deref().is_none_or(str::is_empty);
        let mut roles: Vec<(String, Ephemeral)> = vec![(
            new.name.clone(),
            if promoted {
                stable.clone()
            } else {
                canary.clone()
            },
        )];
        if let Some(stable_rs) = self.distinct_stable() {
            roles.push((stable_rs.name.clone(), stable.clone()));
        }
        roles.extend(
            self.others
                .iter()
                .map(|rs| (rs.name.clone(), Ephemeral::default())),
        );
        let owned = self.snap.owned_replica_sets();
        let mut actions = Vec::new();
        for (rs_name, desired) in roles {
            let Some(rs) = owned.iter().find(|rs| rs.name_any() == rs_name) else {
                continue;
            };
            let recorded = Ephemeral::recorded(
                rs.annotations()
                    .get(EPHEMERAL_METADATA_ANNOTATION)
                    .map(String::as_str),
            );
            let pods = self.snap.pods.iter().filter(|pod| {
                pod.metadata.deletion_timestamp.is_none()
                    && pod
                        .owner_references()
                        .iter()
                        .any(|o| o.kind == "ReplicaSet" && o.name == rs_name)
            });
            if let Some(patch) = metadata_patch(&recorded, &desired) {
                actions.push(Action::PatchReplicaSet {
                    name: rs_name.clone(),
                    patch: json!({
                        "metadata": {"annotations": {
                            EPHEMERAL_METADATA_ANNOTATION: desired.annotation(),
                        }},
                        "spec": {"template": {"metadata": patch.clone()}},
                    }),
                });
                for pod in pods {
                    actions.push(Action::PatchPod {
                        name: pod.name_any(),
                        patch: json!({ "metadata": patch }),
                    });
                }
            } else if !desired.is_empty() {
                // Pods created before the template carried the metadata get it in place.
                for pod in pods.filter(|pod| !desired.carried_by(pod.labels(), pod.annotations())) {
                    if let Some(patch) = metadata_patch(&Ephemeral::default(), &desired) {
                        actions.push(Action::PatchPod {
                            name: pod.name_any(),
                            patch: json!({ "metadata": patch }),
                        });
                    }
                }
            }
        }
        self.actions.extend(actions);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn eph(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> Ephemeral {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        Ephemeral {
            labels: map(labels),
            annotations: map(annotations),
        }
    }

    #[test]
    fn metadata_patch_table() {
        let cases = [
            ("nothing either side", eph(&[], &[]), eph(&[], &[]), None),
            (
                "same injection",
                eph(&[("role", "canary")], &[]),
                eph(&[("role", "canary")], &[]),
                None,
            ),
            (
                "first injection",
                eph(&[], &[]),
                eph(&[("role", "canary")], &[("a", "1")]),
                Some(json!({"labels": {"role": "canary"}, "annotations": {"a": "1"}})),
            ),
            (
                "promotion: canary keys replaced by stable ones",
                eph(&[("role", "canary"), ("canary-only", "x")], &[]),
                eph(&[("role", "stable")], &[]),
                Some(json!({"labels": {"role": "stable", "canary-only": null}})),
            ),
            (
                "no longer desired at all",
                eph(&[("role", "stable")], &[("a", "1")]),
                eph(&[], &[]),
                Some(json!({"labels": {"role": null}, "annotations": {"a": null}})),
            ),
        ];
        for (label, recorded, desired, want) in cases {
            assert_eq!(metadata_patch(&recorded, &desired), want, "{label}");
        }
    }

    #[test]
    fn annotation_round_trip_and_injection() {
        let desired = eph(&[("role", "canary")], &[("a", "1")]);
        let annotation = desired.annotation().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&annotation).unwrap(),
            json!({"labels": {"role": "canary"}, "annotations": {"a": "1"}})
        );
        assert_eq!(Ephemeral::recorded(Some(&annotation)), desired);
        assert_eq!(Ephemeral::recorded(Some("not json")), Ephemeral::default());
        assert_eq!(Ephemeral::default().annotation(), None);
        let mut template = json!({"metadata": {"labels": {"app": "demo"}}, "spec": {}});
        inject_into_template(&mut template, &desired);
        assert_eq!(
            template["metadata"],
            json!({"labels": {"app": "demo", "role": "canary"}, "annotations": {"a": "1"}})
        );
        let labels = BTreeMap::from([("role".to_owned(), "canary".to_owned())]);
        let annotations = BTreeMap::from([("a".to_owned(), "1".to_owned())]);
        assert!(desired.carried_by(&labels, &annotations));
        assert!(!desired.carried_by(&labels, &BTreeMap::new()));
    }
}
