//! Events are stored once, as `v1` Events, and served through both `v1` and
//! `events.k8s.io/v1`, as the real server does: an Event recorded by kube-runtime's `Recorder`
//! (events.k8s.io) shows in `kubectl get events` (v1) and the other way round. These pure
//! functions convert between the two shapes.

use serde_json::{Map, Value};

/// Field renames between `v1` (left) and `events.k8s.io/v1` (right).
const RENAMES: [(&str, &str); 7] = [
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

fn rename(object: &Value, from_core: bool) -> Value {
    let Some(map) = object.as_object() else {
        return object.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let renamed = RENAMES.iter().find_map(|(core, new)| {
            if from_core && key == core {
                Some(*new)
            } else if !from_core && key == new {
                Some(*core)
            } else {
                None
            }
        });
        out.insert(renamed.unwrap_or(key).to_owned(), value.clone());
    }
    Value::Object(out)
}

/// A stored `v1` Event as `events.k8s.io/v1` clients see it.
pub fn to_events_v1(core: &Value) -> Value {
    let mut event = rename(core, true);
    if let Some(map) = event.as_object_mut()
        && !map.contains_key("reportingController")
        && let Some(component) = core.pointer("/source/component").cloned()
    {
        map.insert("reportingController".into(), component);
    }
    if let Some(map) = event.as_object_mut() {
        map.insert("apiVersion".into(), Value::from("events.k8s.io/v1"));
    }
    event
}

/// An `events.k8s.io/v1` Event in its stored `v1` shape.
pub fn to_core(event: &Value) -> Value {
    let mut core = rename(event, false);
    if let Some(map) = core.as_object_mut() {
        map.insert("apiVersion".into(), Value::from("v1"));
    }
    core
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_every_field() {
        let new = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "a"},
            "regarding": {"kind": "Rollout", "name": "r"}, "note": "step 2", "reason": "Paused",
            "type": "Normal", "reportingController": "rolltop", "reportingInstance": "x",
            "action": "Pause", "eventTime": "2026-01-01T00:00:00.000000Z"});
        let core = to_core(&new);
        assert_eq!(core["involvedObject"]["name"], "r");
        assert_eq!(core["message"], "step 2");
        assert_eq!(core["reportingComponent"], "rolltop");
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(to_events_v1(&core), new);
    }

    #[test]
    fn core_source_becomes_reporting_controller() {
        let core = json!({"involvedObject": {"name": "p"}, "source": {"component": "kubelet"}, "count": 3});
        let new = to_events_v1(&core);
        assert_eq!(new["reportingController"], "kubelet");
        assert_eq!(new["deprecatedSource"]["component"], "kubelet");
        assert_eq!(new["deprecatedCount"], 3);
    }
}
