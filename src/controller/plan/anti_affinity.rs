//! Anti-affinity injection (spec §7.4): while an update is in progress (a stable RS exists and
//! is not the new one), the new ReplicaSet's pod template gets a pod anti-affinity term that
//! keeps its pods off the nodes of the stable pods — label selector
//! `rollouts-pod-template-hash In [<stable hash>]`, the rollout's namespace, topology key
//! `kubernetes.io/hostname` — as a weighted preferred term or as a required term, next to the
//! template's own affinity. The term is added when the new ReplicaSet is created; template
//! comparison ignores it (`new_replica_set`), so the hash and new-RS detection are unaffected.

use serde_json::{Value, json};

use super::Planner;
use crate::controller::hash::POD_TEMPLATE_HASH_LABEL;
use crate::crd::rollout::AntiAffinity;

/// The topology key of the injected term.
pub const ANTI_AFFINITY_TOPOLOGY_KEY: &str = "kubernetes.io/hostname";

/// Adds the anti-affinity term for `stable_hash` to a pod template (JSON), keeping the
/// template's own affinity rules.
pub fn inject_anti_affinity(
    template: &mut Value,
    anti_affinity: &AntiAffinity,
    stable_hash: &str,
    namespace: &str,
) {
    let term = json!({
        "labelSelector": {"matchExpressions": [{
            "key": POD_TEMPLATE_HASH_LABEL,
            "operator": "In",
            "values": [stable_hash],
        }]},
        "namespaces": [namespace],
        "topologyKey": ANTI_AFFINITY_TOPOLOGY_KEY,
    });
    let (field, entry) = if let Some(preferred) = anti_affinity.preferred.as_ref() {
        (
            "preferredDuringSchedulingIgnoredDuringExecution",
            json!({"weight": preferred.weight, "podAffinityTerm": term}),
        )
    } else if anti_affinity.required.is_some() {
        ("requiredDuringSchedulingIgnoredDuringExecution", term)
    } else {
        return;
    };
    let Some(root) = template.as_object_mut() else {
        return;
    };
    let mut node = root.entry("spec").or_insert_with(|| json!({}));
    for key in ["affinity", "podAntiAffinity", field] {
        let Some(object) = node.as_object_mut() else {
            return;
        };
        let default = if key == field { json!([]) } else { json!({}) };
        node = object.entry(key).or_insert(default);
    }
    if let Some(terms) = node.as_array_mut() {
        terms.push(entry);
    }
}

impl Planner<'_> {
    /// §7.4 at creation: the new RS's template gets the term while a different stable RS
    /// exists.
    pub(super) fn new_rs_anti_affinity(&self, template: &mut Value, new_hash: &str) {
        let anti_affinity = self
            .rollout
            .canary()
            .and_then(|c| c.anti_affinity.as_ref())
            .or_else(|| {
                self.rollout
                    .blue_green()
                    .and_then(|b| b.anti_affinity.as_ref())
            });
        let Some(anti_affinity) = anti_affinity else {
            return;
        };
        let Some(stable) = self.status.stable_rs.as_deref().filter(|s| !s.is_empty()) else {
            return;
        };
        if stable == new_hash {
            return;
        }
        let namespace = self
            .rollout
            .metadata
            .namespace
            .as_deref()
            .unwrap_or("default");
        inject_anti_affinity(template, anti_affinity, stable, namespace);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn anti(value: &Value) -> AntiAffinity {
        serde_json::from_value(value.clone()).unwrap()
    }

    #[test]
    fn injection_table() {
        let term = json!({
            "labelSelector": {"matchExpressions": [{
                "key": "rollouts-pod-template-hash", "operator": "In", "values": ["stable1"]
            }]},
            "namespaces": ["shop"],
            "topologyKey": "kubernetes.io/hostname",
        });
        let own = json!({"weight": 5, "podAffinityTerm": {"topologyKey": "zone"}});
        let cases = [
            (
                "preferred, no affinity yet",
                json!({"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 40}}),
                json!({"spec": {"containers": []}}),
                json!({"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 40, "podAffinityTerm": term.clone()}
                ]}),
            ),
            (
                "required",
                json!({"requiredDuringSchedulingIgnoredDuringExecution": {}}),
                json!({"spec": {}}),
                json!({"requiredDuringSchedulingIgnoredDuringExecution": [term.clone()]}),
            ),
            (
                "the template's own terms are kept",
                json!({"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 1}}),
                json!({"spec": {"affinity": {"podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [own.clone()]
                }}}}),
                json!({"preferredDuringSchedulingIgnoredDuringExecution": [
                    own.clone(), {"weight": 1, "podAffinityTerm": term.clone()}
                ]}),
            ),
        ];
        for (label, spec, mut template, want) in cases {
            inject_anti_affinity(&mut template, &anti(&spec), "stable1", "shop");
            assert_eq!(
                template["spec"]["affinity"]["podAntiAffinity"], want,
                "{label}"
            );
        }
        let mut untouched = json!({"spec": {}});
        inject_anti_affinity(&mut untouched, &anti(&json!({})), "stable1", "shop");
        assert_eq!(untouched, json!({"spec": {}}), "neither kind set");
    }
}
