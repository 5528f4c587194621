//! PodDisruptionBudgets for the sandbox's eviction subresource: whether evicting one pod would
//! take a budget below what it protects, the way the API server's eviction handler decides
//! (healthy = Ready and not being deleted; `minAvailable` or `maxUnavailable`, a count or a
//! percentage of the pods the budget selects, percentages rounded up). Pure: the server reads
//! the pod, the budgets and the pods of the namespace and answers 429 when this says no.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use crate::crd::label_selector;

/// The API server's refusal text for an eviction a budget forbids.
pub const EVICTION_REFUSED: &str =
    "Cannot evict pod as it would violate the pod's disruption budget.";

fn labels(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn is_healthy(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_none()
        && pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
}

/// A count, or `N%` of `total` rounded up; `None` when unparsable.
fn resolve(value: &Value, total: usize) -> Option<usize> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Value::String(s) => {
            let percent: usize = s.strip_suffix('%')?.trim().parse().ok()?;
            Some((total * percent).div_ceil(100))
        }
        _ => None,
    }
}

/// `Some(reason)` when evicting `pod` would break a budget of `budgets`, given every pod of
/// its namespace in `pods`. A budget without a selector, or with an unparsable bound,
/// protects nothing (the real API server rejects such budgets at creation).
pub fn eviction_refusal(pod: &Value, budgets: &[Value], pods: &[Value]) -> Option<String> {
    let pod_labels = labels(pod);
    for budget in budgets {
        let Some(selector) = budget
            .pointer("/spec/selector")
            .and_then(|s| serde_json::from_value::<LabelSelector>(s.clone()).ok())
        else {
            continue;
        };
        if label_selector::is_empty(&selector) || !label_selector::matches(&selector, &pod_labels) {
            continue;
        }
        let selected: Vec<&Value> = pods
            .iter()
            .filter(|p| label_selector::matches(&selector, &labels(p)))
            .collect();
        let expected = selected.len();
        let healthy = selected.iter().filter(|p| is_healthy(p)).count();
        let desired = if let Some(min) = budget.pointer("/spec/minAvailable") {
            resolve(min, expected)
        } else if let Some(max) = budget.pointer("/spec/maxUnavailable") {
            resolve(max, expected).map(|max| expected.saturating_sub(max))
        } else {
            None
        };
        let Some(desired) = desired else { continue };
        // An unhealthy pod costs the budget nothing, so it may go while the budget holds.
        let refused = if is_healthy(pod) {
            healthy <= desired
        } else {
            healthy < desired
        };
        if refused {
            return Some(EVICTION_REFUSED.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(name: &str, ready: bool) -> Value {
        json!({"metadata": {"name": name, "labels": {"app": "web"}},
               "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
    }

    /// A budget selecting `app: web` with one bound (`minAvailable` or `maxUnavailable`).
    fn budget(bound: &Value) -> Value {
        let mut spec = serde_json::Map::new();
        spec.insert(
            "selector".to_owned(),
            json!({"matchLabels": {"app": "web"}}),
        );
        if let Some(bound) = bound.as_object() {
            spec.extend(bound.clone());
        }
        json!({"metadata": {"name": "pdb"}, "spec": spec})
    }

    #[test]
    fn budgets_refuse_evictions_that_would_break_them() {
        let four: Vec<Value> = (0..4).map(|i| pod(&format!("p{i}"), true)).collect();
        let three_of_four: Vec<Value> = (0..4).map(|i| pod(&format!("p{i}"), i != 3)).collect();
        let other = json!({"metadata": {"name": "o", "labels": {"app": "other"}},
                           "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let cases = [
            (
                "minAvailable 4 of 4 healthy",
                budget(&json!({"minAvailable": 4})),
                &four,
                &four[0],
                true,
            ),
            (
                "minAvailable 3 of 4 healthy",
                budget(&json!({"minAvailable": 3})),
                &four,
                &four[0],
                false,
            ),
            (
                "minAvailable 100%",
                budget(&json!({"minAvailable": "100%"})),
                &four,
                &four[0],
                true,
            ),
            (
                "minAvailable 75% rounds up to 3",
                budget(&json!({"minAvailable": "75%"})),
                &four,
                &four[0],
                false,
            ),
            (
                "maxUnavailable 0",
                budget(&json!({"maxUnavailable": 0})),
                &four,
                &four[0],
                true,
            ),
            (
                "maxUnavailable 1",
                budget(&json!({"maxUnavailable": 1})),
                &four,
                &four[0],
                false,
            ),
            (
                "maxUnavailable 1, one already down",
                budget(&json!({"maxUnavailable": 1})),
                &three_of_four,
                &three_of_four[0],
                true,
            ),
            (
                "an unhealthy pod may go while the budget holds",
                budget(&json!({"maxUnavailable": 1})),
                &three_of_four,
                &three_of_four[3],
                false,
            ),
            (
                "unselected pod",
                budget(&json!({"minAvailable": 4})),
                &four,
                &other,
                false,
            ),
            (
                "bad bound protects nothing",
                budget(&json!({"minAvailable": "lots"})),
                &four,
                &four[0],
                false,
            ),
        ];
        for (label, budget, pods, target, refused) in cases {
            assert_eq!(
                eviction_refusal(target, &[budget], pods).is_some(),
                refused,
                "{label}"
            );
        }
    }
}
