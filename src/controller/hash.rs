//! Pod-template and step-list hashes (spec §3.2): FNV-1a-32 over a canonical JSON rendering,
//! printed in decimal and passed through Kubernetes' "safe encoding" alphabet, so values look like
//! the reference's (`6f8b9c4d7`). The bytes cannot match the Go controller's (they depend on Go
//! struct field order and library versions, pitfall §9.2), so hashes are opaque names we mint for
//! *our* new ReplicaSets and step lists; finding the current ReplicaSet compares templates
//! instead ([`crate::controller::new_replica_set`]).

use serde_json::{Map, Value};

/// The label carrying the pod-template hash on ReplicaSets, pods and Service selectors.
pub const POD_TEMPLATE_HASH_LABEL: &str = "rollouts-pod-template-hash";

/// Kubernetes' `SafeEncodeString` alphabet: no vowels (no accidental words), no look-alikes.
const SAFE_ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV_OFFSET_BASIS: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a 32-bit over `bytes`, continuing from `state` (start with [`fnv1a32_start`]).
fn fnv1a32(mut state: u32, bytes: &[u8]) -> u32 {
    for byte in bytes {
        state ^= u32::from(*byte);
        state = state.wrapping_mul(FNV_PRIME);
    }
    state
}

/// The FNV-1a-32 offset basis.
fn fnv1a32_start() -> u32 {
    FNV_OFFSET_BASIS
}

/// `SafeEncodeString`: each character is replaced by `alphabet[codepoint mod 27]`; applied to the
/// decimal digits of a hash this maps `0-9` to `4 5 6 7 8 9 b c d f`.
pub fn safe_encode(input: &str) -> String {
    input
        .chars()
        .map(|c| char::from(SAFE_ALPHABET[(c as usize) % SAFE_ALPHABET.len()]))
        .collect()
}

/// Renders `value` with object keys sorted recursively and `null` members dropped, so the same
/// template always yields the same bytes whatever order the API server or the user wrote fields in.
pub fn canonical_json(value: &Value) -> String {
    canonicalize(value).to_string()
}

/// The canonical form behind [`canonical_json`].
pub fn canonicalize(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                let member = &map[key];
                if !member.is_null() {
                    out.insert(key.clone(), canonicalize(member));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonicalize).collect()),
        other => other.clone(),
    }
}

/// Removes the `rollouts-pod-template-hash` label from a PodTemplateSpec JSON, in place.
pub fn remove_pod_template_hash_label(template: &mut Value) {
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
}

/// `ComputePodTemplateHash`: hash of a PodTemplateSpec (given as JSON; the hash label is ignored)
/// with the optional `status.collisionCount`. A present collision count — even 0 — appends its
/// little-endian `u32` bytes followed by four zero bytes, so bumping it yields a fresh name.
pub fn pod_template_hash(template: &Value, collision_count: Option<i32>) -> String {
    let mut template = template.clone();
    remove_pod_template_hash_label(&mut template);
    let mut state = fnv1a32(fnv1a32_start(), canonical_json(&template).as_bytes());
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&count.cast_unsigned().to_le_bytes());
        state = fnv1a32(state, &bytes);
    }
    safe_encode(&state.to_string())
}

/// `ComputeStepHash`: hash of the canary `steps` array JSON (an absent list hashes like `null`).
/// Any change to the steps — even cosmetic — changes it and restarts the canary (pitfall §9.3).
pub fn step_hash(steps: Option<&Value>) -> String {
    let rendered = steps.map_or_else(|| "null".to_owned(), canonical_json);
    safe_encode(&fnv1a32(fnv1a32_start(), rendered.as_bytes()).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fnv1a32_reference_values() {
        // Published FNV-1a-32 test values.
        assert_eq!(fnv1a32(fnv1a32_start(), b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(fnv1a32_start(), b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(fnv1a32_start(), b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn safe_encode_maps_digits() {
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
        assert_eq!(safe_encode(""), "");
    }

    fn template() -> Value {
        json!({
            "metadata": {"labels": {"app": "guestbook"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
        })
    }

    #[test]
    fn pod_template_hash_is_stable_and_safe_encoded() {
        let hash = pod_template_hash(&template(), None);
        assert_eq!(hash, pod_template_hash(&template(), None));
        assert!(!hash.is_empty() && hash.len() <= 10);
        assert!(hash.bytes().all(|b| SAFE_ALPHABET.contains(&b)), "{hash}");
    }

    #[test]
    fn pod_template_hash_ignores_key_order_nulls_and_hash_label() {
        let reordered = json!({
            "spec": {"containers": [{"image": "nginx:1.27", "name": "app"}]},
            "metadata": {
                "creationTimestamp": null,
                "labels": {"rollouts-pod-template-hash": "abc", "app": "guestbook"}
            }
        });
        assert_eq!(
            pod_template_hash(&template(), None),
            pod_template_hash(&reordered, None)
        );
    }

    #[test]
    fn pod_template_hash_changes_with_template_and_collision_count() {
        let base = pod_template_hash(&template(), None);
        let mut changed = template();
        changed["spec"]["containers"][0]["image"] = json!("nginx:1.28");
        assert_ne!(base, pod_template_hash(&changed, None));
        // A present count, even 0, changes the hash; each count differs.
        let zero = pod_template_hash(&template(), Some(0));
        let one = pod_template_hash(&template(), Some(1));
        assert_ne!(base, zero);
        assert_ne!(zero, one);
    }

    #[test]
    fn step_hash_tracks_step_edits() {
        let steps = json!([{"setWeight": 20}, {"pause": {}}]);
        let same = json!([{"setWeight": 20}, {"pause": {}}]);
        let edited = json!([{"setWeight": 20}, {"pause": {"duration": "10s"}}]);
        assert_eq!(step_hash(Some(&steps)), step_hash(Some(&same)));
        assert_ne!(step_hash(Some(&steps)), step_hash(Some(&edited)));
        assert_ne!(step_hash(Some(&steps)), step_hash(None));
        assert_eq!(step_hash(None), step_hash(Some(&Value::Null)));
    }
}
