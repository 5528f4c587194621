//! The JSON merge patch (RFC 7386) that turns one object into another. Status writes go out
//! as merge patches so that they never conflict with other writers' metadata changes; lists
//! are replaced whole (which is what merge patches do), and keys that disappeared are sent as
//! `null` so the server removes them (a `running` container state becoming `waiting`).

use serde_json::{Map, Value};

/// The merge patch taking `old` to `new`, or `None` when they are equal.
pub fn between(old: &Value, new: &Value) -> Option<Value> {
    if old == new {
        return None;
    }
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (key, new_value) in new {
                let changed = match old.get(key) {
                    Some(old_value) => between(old_value, new_value),
                    None => Some(new_value.clone()),
                };
                if let Some(change) = changed {
                    patch.insert(key.clone(), change);
                }
            }
            for key in old.keys() {
                if !new.contains_key(key) {
                    patch.insert(key.clone(), Value::Null);
                }
            }
            Some(Value::Object(patch))
        }
        _ => Some(new.clone()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_table() {
        let cases = [
            ("equal", json!({"a": 1}), json!({"a": 1}), None),
            (
                "changed scalar",
                json!({"a": 1}),
                json!({"a": 2}),
                Some(json!({"a": 2})),
            ),
            (
                "added key",
                json!({}),
                json!({"b": true}),
                Some(json!({"b": true})),
            ),
            (
                "removed key",
                json!({"a": 1, "b": 2}),
                json!({"a": 1}),
                Some(json!({"b": null})),
            ),
            (
                "nested change",
                json!({"s": {"running": {"at": "x"}, "n": 1}}),
                json!({"s": {"waiting": {"reason": "r"}, "n": 1}}),
                Some(json!({"s": {"waiting": {"reason": "r"}, "running": null}})),
            ),
            (
                "lists are replaced whole",
                json!({"l": [1, 2, 3]}),
                json!({"l": [1, 2]}),
                Some(json!({"l": [1, 2]})),
            ),
            (
                "object to scalar",
                json!({"a": {"b": 1}}),
                json!({"a": 3}),
                Some(json!({"a": 3})),
            ),
        ];
        for (name, old, new, want) in cases {
            assert_eq!(between(&old, &new), want, "{name}");
        }
    }

    #[test]
    fn applying_the_patch_reaches_the_target() {
        let old =
            json!({"phase": "Running", "c": [{"state": {"running": {}}}], "x": {"y": 1, "z": 2}});
        let new = json!({"phase": "Failed", "c": [{"state": {"terminated": {}}}], "x": {"y": 1}});
        let mut doc = old.clone();
        json_patch::merge(&mut doc, &between(&old, &new).unwrap());
        assert_eq!(doc, new);
    }
}
