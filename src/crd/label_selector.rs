//! Label-selector matching (`matchLabels` and `matchExpressions`) over `metav1.LabelSelector`,
//! shared by the controller (ReplicaSet adoption) and the sandbox's ReplicaSet controller
//! (pod adoption, fully labelled replicas). Pure.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `labels` satisfy `selector`. An empty selector matches everything, as in
/// Kubernetes; an expression with an unknown operator matches nothing, so a malformed
/// selector never adopts pods.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    let by_expressions = selector.match_expressions.iter().flatten().all(|expr| {
        let value = labels.get(&expr.key);
        let values = expr.values.as_deref().unwrap_or_default();
        match expr.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}

/// Whether a selector selects nothing in particular (no labels, no expressions).
pub fn is_empty(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn expr(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.to_owned(),
            operator: operator.to_owned(),
            values: Some(values.iter().map(|v| (*v).to_owned()).collect()),
        }
    }

    #[test]
    fn selector_table() {
        let app = labels(&[("app", "web"), ("tier", "front")]);
        let cases: Vec<(&str, LabelSelector, bool)> = vec![
            ("empty selector", LabelSelector::default(), true),
            (
                "matching label",
                LabelSelector {
                    match_labels: Some(labels(&[("app", "web")])),
                    ..Default::default()
                },
                true,
            ),
            (
                "different value",
                LabelSelector {
                    match_labels: Some(labels(&[("app", "api")])),
                    ..Default::default()
                },
                false,
            ),
            (
                "missing label",
                LabelSelector {
                    match_labels: Some(labels(&[("hash", "abc")])),
                    ..Default::default()
                },
                false,
            ),
            (
                "In",
                LabelSelector {
                    match_expressions: Some(vec![expr("tier", "In", &["front", "back"])]),
                    ..Default::default()
                },
                true,
            ),
            (
                "NotIn on absent key",
                LabelSelector {
                    match_expressions: Some(vec![expr("zone", "NotIn", &["a"])]),
                    ..Default::default()
                },
                true,
            ),
            (
                "NotIn on listed value",
                LabelSelector {
                    match_expressions: Some(vec![expr("tier", "NotIn", &["front"])]),
                    ..Default::default()
                },
                false,
            ),
            (
                "Exists",
                LabelSelector {
                    match_expressions: Some(vec![expr("app", "Exists", &[])]),
                    ..Default::default()
                },
                true,
            ),
            (
                "DoesNotExist",
                LabelSelector {
                    match_expressions: Some(vec![expr("app", "DoesNotExist", &[])]),
                    ..Default::default()
                },
                false,
            ),
            (
                "unknown operator",
                LabelSelector {
                    match_expressions: Some(vec![expr("app", "Like", &["w"])]),
                    ..Default::default()
                },
                false,
            ),
        ];
        for (name, selector, want) in cases {
            assert_eq!(matches(&selector, &app), want, "{name}");
        }
    }

    #[test]
    fn emptiness() {
        assert!(is_empty(&LabelSelector::default()));
        assert!(is_empty(&LabelSelector {
            match_labels: Some(BTreeMap::new()),
            match_expressions: Some(vec![]),
        }));
        assert!(!is_empty(&LabelSelector {
            match_labels: Some(labels(&[("a", "b")])),
            ..Default::default()
        }));
    }
}
