//! Patch semantics and write rules, as pure functions: JSON merge patch, JSON patch, the
//! strategic merge patch subset the sandbox supports (merge keys for the lists rolltop and
//! kubectl touch), the `metadata.generation` rule and object-name validation.

use serde_json::{Map, Value};

/// The patch flavours a `PATCH` request can carry, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Why a patch could not be applied; the message goes into a Status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyPatchError {
    #[error("the JSON patch is not a list of operations: {0}")]
    JsonPatchShape(String),
    #[error("the JSON patch failed: {0}")]
    JsonPatchFailed(String),
}

/// RFC 7386 merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// RFC 6902 JSON patch.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), ApplyPatchError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApplyPatchError::JsonPatchShape(e.to_string()))?;
    json_patch::patch(target, &ops).map_err(|e| ApplyPatchError::JsonPatchFailed(e.to_string()))
}

/// The merge key of a list field, by field name, for the lists the sandbox merges
/// strategically. `ports` is keyed by `containerPort` in containers and `port` in Services.
fn merge_key(field: &str, sample: &Value) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => Some("name"),
        "volumeMounts" | "volumeDevices" => Some("mountPath"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        "hostAliases" => Some("ip"),
        "ports" => {
            if sample.get("containerPort").is_some() {
                Some("containerPort")
            } else {
                Some("port")
            }
        }
        _ => None,
    }
}

/// Strategic merge patch for built-in kinds: JSON merge, except that lists with a known merge
/// key merge element by element, and the directives kubectl sends (`$patch`,
/// `$setElementOrder/...`, `$deleteFromPrimitiveList/...`, `$retainKeys`) are honoured or
/// dropped.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replaced = patch_map.clone();
        replaced.remove("$patch");
        *target = Value::Object(replaced);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (key, value) in patch_map {
        if key == "$patch" || key == "$retainKeys" || key.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(remove)) =
                (target_map.get_mut(field), value)
            {
                list.retain(|item| !remove.contains(item));
            }
            continue;
        }
        match value {
            Value::Null => {
                target_map.remove(key);
            }
            Value::Object(_) => {
                let entry = target_map.entry(key.clone()).or_insert(Value::Null);
                strategic_merge(entry, value);
            }
            Value::Array(items) => {
                let merge_by = items.first().and_then(|first| merge_key(key, first));
                if let (Some(merge_by), Some(Value::Array(existing))) =
                    (merge_by, target_map.get_mut(key))
                {
                    merge_list(existing, items, merge_by);
                } else {
                    let cleaned: Vec<Value> = items
                        .iter()
                        .filter(|i| i.get("$patch").is_none())
                        .cloned()
                        .collect();
                    target_map.insert(key.clone(), Value::Array(cleaned));
                }
            }
            other => {
                target_map.insert(key.clone(), other.clone());
            }
        }
    }
}

fn merge_list(existing: &mut Vec<Value>, items: &[Value], merge_by: &str) {
    for item in items {
        let Some(key) = item.get(merge_by).cloned() else {
            existing.push(item.clone());
            continue;
        };
        let position = existing.iter().position(|e| e.get(merge_by) == Some(&key));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(i), true) => {
                existing.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut existing[i], item),
            (None, false) => {
                let mut fresh = Value::Object(Map::new());
                strategic_merge(&mut fresh, item);
                existing.push(fresh);
            }
        }
    }
}

/// The part of an object whose change bumps `metadata.generation`: everything except
/// `metadata` and `status`.
fn spec_part(object: &Value) -> Map<String, Value> {
    object
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether an update from `old` to `new` must bump `metadata.generation`.
pub fn generation_changes(old: &Value, new: &Value) -> bool {
    spec_part(old) != spec_part(new)
}

/// DNS-1123 subdomain check for object names; `None` when valid, else the reason text the
/// real server uses.
pub fn invalid_name_reason(name: &str) -> Option<String> {
    const SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
        alphanumeric characters, '-' or '.', and must start and end with an alphanumeric \
        character (e.g. 'example.com', regex used for validation is \
        '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    if name.len() > 253 {
        return Some("must be no more than 253 characters".to_owned());
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.split('.').all(label_ok) {
        None
    } else {
        Some(SUBDOMAIN.to_owned())
    }
}

/// DNS-1123 label check (namespaces, Services).
pub fn invalid_label_reason(name: &str) -> Option<String> {
    if name.len() > 63 {
        return Some("must be no more than 63 characters".to_owned());
    }
    if name.contains('.') {
        return Some(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \
             '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or \
             '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
                .to_owned(),
        );
    }
    invalid_name_reason(name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patch_kinds_from_content_type() {
        let cases = [
            ("application/merge-patch+json", Some(PatchKind::Merge)),
            (
                "application/json-patch+json; charset=utf-8",
                Some(PatchKind::Json),
            ),
            (
                "application/strategic-merge-patch+json",
                Some(PatchKind::Strategic),
            ),
            ("application/apply-patch+yaml", Some(PatchKind::Apply)),
            ("application/json", None),
        ];
        for (ct, expected) in cases {
            assert_eq!(PatchKind::from_content_type(ct), expected, "{ct}");
        }
    }

    #[test]
    fn strategic_merge_cases() {
        let cases = [
            (
                "containers merge by name",
                json!({"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}),
                json!({"spec": {"containers": [{"name": "b", "image": "b:2"}]}}),
                json!({"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}]}}),
            ),
            (
                "env merges by name and appends new",
                json!({"env": [{"name": "X", "value": "1"}]}),
                json!({"env": [{"name": "Y", "value": "2"}]}),
                json!({"env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}),
            ),
            (
                "container ports by containerPort",
                json!({"ports": [{"containerPort": 80, "name": "http"}]}),
                json!({"ports": [{"containerPort": 80, "protocol": "TCP"}]}),
                json!({"ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}]}),
            ),
            (
                "service ports by port",
                json!({"ports": [{"port": 80, "targetPort": 8080}]}),
                json!({"ports": [{"port": 443, "targetPort": 8443}]}),
                json!({"ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}]}),
            ),
            (
                "$patch delete removes an element",
                json!({"volumes": [{"name": "a"}, {"name": "b"}]}),
                json!({"volumes": [{"name": "a", "$patch": "delete"}]}),
                json!({"volumes": [{"name": "b"}]}),
            ),
            (
                "lists without a key replace",
                json!({"args": ["a", "b"]}),
                json!({"args": ["c"]}),
                json!({"args": ["c"]}),
            ),
            (
                "null deletes and directives are dropped",
                json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"containers": [{"name": "a"}]}}),
                json!({"metadata": {"labels": {"a": null}}, "spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "a", "image": "x"}]}}),
                json!({"metadata": {"labels": {"b": "2"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}}),
            ),
            (
                "conditions by type",
                json!({"conditions": [{"type": "Ready", "status": "False"}, {"type": "Available", "status": "True"}]}),
                json!({"conditions": [{"type": "Ready", "status": "True"}]}),
                json!({"conditions": [{"type": "Ready", "status": "True"}, {"type": "Available", "status": "True"}]}),
            ),
            (
                "$deleteFromPrimitiveList",
                json!({"finalizers": ["a", "b"]}),
                json!({"$deleteFromPrimitiveList/finalizers": ["a"]}),
                json!({"finalizers": ["b"]}),
            ),
        ];
        for (name, mut target, patch, expected) in cases {
            strategic_merge(&mut target, &patch);
            assert_eq!(target, expected, "{name}");
        }
    }

    #[test]
    fn generation_rule() {
        let base = json!({"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"replicas": 1}, "status": {"x": 1}});
        let cases = [
            (
                json!({"metadata": {"name": "x", "labels": {"a": "2"}}, "spec": {"replicas": 1}, "status": {"x": 1}}),
                false,
            ),
            (
                json!({"metadata": {"name": "x"}, "spec": {"replicas": 1}, "status": {"x": 2}}),
                false,
            ),
            (
                json!({"metadata": {"name": "x"}, "spec": {"replicas": 2}, "status": {"x": 1}}),
                true,
            ),
            (
                json!({"metadata": {"name": "x"}, "spec": {"replicas": 1}, "data": {"k": "v"}}),
                true,
            ),
        ];
        for (new, expected) in cases {
            assert_eq!(generation_changes(&base, &new), expected, "{new}");
        }
    }

    #[test]
    fn name_validation() {
        for good in ["web", "web-1", "a.b.c", "0abc"] {
            assert_eq!(invalid_name_reason(good), None, "{good}");
        }
        for bad in ["Web", "-web", "web-", "a..b", "web_1", ""] {
            assert!(invalid_name_reason(bad).is_some(), "{bad}");
        }
        assert!(invalid_label_reason("a.b").is_some());
    }

    #[test]
    fn json_patch_applies_and_reports_errors() {
        let mut doc = json!({"spec": {"replicas": 1}});
        json_patch(
            &mut doc,
            &json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]),
        )
        .unwrap();
        assert_eq!(doc, json!({"spec": {"replicas": 3}}));
        assert!(json_patch(&mut doc, &json!([{"op": "remove", "path": "/nope"}])).is_err());
        assert!(json_patch(&mut doc, &json!({"op": "x"})).is_err());
    }
}
