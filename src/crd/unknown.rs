//! Which fields of a manifest this version of rolltop does not model. The types keep such fields
//! in their `extra` maps so nothing is lost; this module names them, for `rolltop lint` and for
//! anything that should say "rolltop does not understand `strategy.canary.newThing`" instead of
//! silently ignoring it.
//!
//! The check writes the typed object back with every `extra` map hidden and reports the paths
//! of the input that did not come back. Hiding is a thread-local switch held only for the
//! duration of that one serialization, so ordinary serialization (which must stay lossless) is
//! never affected, from this thread or any other.

use std::cell::Cell;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::analysis::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Extra};
use super::experiment::Experiment;
use super::rollout::Rollout;

thread_local! {
    static HIDE_EXTRA: Cell<bool> = const { Cell::new(false) };
}

/// `skip_serializing_if` of every `extra` map: skipped when empty, or while
/// [`unknown_fields`] is writing the modelled view of an object.
pub(crate) fn skip_extra(extra: &Extra) -> bool {
    extra.is_empty() || HIDE_EXTRA.with(Cell::get)
}

/// Resets the switch even if serialization unwinds.
struct HideExtra;

impl HideExtra {
    fn hold() -> Self {
        HIDE_EXTRA.with(|hide| hide.set(true));
        Self
    }
}

impl Drop for HideExtra {
    fn drop(&mut self) {
        HIDE_EXTRA.with(|hide| hide.set(false));
    }
}

/// Why a document could not be inspected.
#[derive(Debug, thiserror::Error)]
pub enum UnknownFieldsError {
    #[error("{0:?} is not an argoproj.io kind rolltop knows")]
    NotArgoKind(String),
    #[error("reading the {kind}: {source}")]
    Decode {
        kind: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The paths (`spec.strategy.canary.newThing`, `spec.strategy.canary.steps[1].futureStep`) that
/// `doc` sets but type `K` does not model. Explicit `null`s are not reported. Raw JSON parts
/// (pod templates, untyped providers, plugin configurations) count as modelled.
pub fn unknown_fields<K: Serialize + DeserializeOwned>(
    doc: &Value,
) -> Result<Vec<String>, serde_json::Error> {
    let typed: K = serde_json::from_value(doc.clone())?;
    let modelled = {
        let _hidden = HideExtra::hold();
        serde_json::to_value(&typed)?
    };
    let mut paths = Vec::new();
    collect_missing(doc, &modelled, "", &mut paths);
    Ok(paths)
}

/// [`unknown_fields`] for a document of any of the five kinds, chosen by its `kind`.
pub fn unknown_fields_of(doc: &Value) -> Result<Vec<String>, UnknownFieldsError> {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    let result = match kind {
        "Rollout" => unknown_fields::<Rollout>(doc),
        "AnalysisTemplate" => unknown_fields::<AnalysisTemplate>(doc),
        "ClusterAnalysisTemplate" => unknown_fields::<ClusterAnalysisTemplate>(doc),
        "AnalysisRun" => unknown_fields::<AnalysisRun>(doc),
        "Experiment" => unknown_fields::<Experiment>(doc),
        other => return Err(UnknownFieldsError::NotArgoKind(other.to_owned())),
    };
    result.map_err(|source| UnknownFieldsError::Decode {
        kind: kind.to_owned(),
        source,
    })
}

fn collect_missing(original: &Value, modelled: &Value, path: &str, out: &mut Vec<String>) {
    match (original, modelled) {
        (Value::Object(fields), Value::Object(kept)) => {
            for (key, value) in fields {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match kept.get(key) {
                    Some(kept_value) => collect_missing(value, kept_value, &child, out),
                    None if value.is_null() => {}
                    None => out.push(child),
                }
            }
        }
        (Value::Array(items), Value::Array(kept)) => {
            for (index, (item, kept_item)) in items.iter().zip(kept).enumerate() {
                collect_missing(item, kept_item, &format!("{path}[{index}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_unmodelled_paths_and_nothing_else() {
        let doc = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "r"},
            "spec": {
                "paused": null,
                "template": {"spec": {"futurePodField": 1, "containers": []}},
                "strategy": {"canary": {
                    "newThing": {"a": 1},
                    "steps": [{"setWeight": 5}, {"setweight": 10}, {"pause": {"duration": 5, "jitter": true}}]
                }}
            },
            "status": {"futureStatus": 1, "phase": "Healthy"}
        });
        assert_eq!(
            unknown_fields_of(&doc).unwrap(),
            [
                "spec.strategy.canary.newThing",
                "spec.strategy.canary.steps[1].setweight",
                "spec.strategy.canary.steps[2].pause.jitter",
                "status.futureStatus"
            ]
        );
        // Ordinary serialization still writes every extra field.
        let rollout: Rollout = serde_json::from_value(doc.clone()).unwrap();
        let written = serde_json::to_value(&rollout).unwrap();
        assert_eq!(
            written["spec"]["strategy"]["canary"]["newThing"],
            json!({"a": 1})
        );
    }

    #[test]
    fn other_kinds_and_errors() {
        let template = json!({
            "kind": "AnalysisTemplate",
            "metadata": {"name": "t"},
            "spec": {"metrics": [{"name": "m", "intervall": "1m", "provider": {"prometheus": {"query": "up"}}}]}
        });
        assert_eq!(
            unknown_fields_of(&template).unwrap(),
            ["spec.metrics[0].intervall"]
        );
        assert!(matches!(
            unknown_fields_of(&json!({"kind": "Deployment"})),
            Err(UnknownFieldsError::NotArgoKind(kind)) if kind == "Deployment"
        ));
        assert!(matches!(
            unknown_fields_of(&json!({"kind": "Rollout", "spec": {"replicas": "three"}})),
            Err(UnknownFieldsError::Decode { .. })
        ));
    }
}
