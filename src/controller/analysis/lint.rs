//! Static checks on a metric's conditions for `rolltop lint`: the mistakes that make an
//! AnalysisRun fail for reasons unrelated to the release (seeds R5: an empty Prometheus result
//! indexed without a guard; spec §2.12: a vector compared as a number, conversion helpers on
//! bad input). Each finding says what will happen and how to fix it. Pure.

use super::condition::{MetricValue, evaluate_condition, guard_suggestion, unguarded_result_index};
use super::{MetricDefinition, Provider};

/// Which condition a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionField {
    SuccessCondition,
    FailureCondition,
}

impl std::fmt::Display for ConditionField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::SuccessCondition => "successCondition",
            Self::FailureCondition => "failureCondition",
        })
    }
}

/// One problem found in a metric's conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConditionFinding {
    /// `result[...]` without `len(result)`: an empty answer errors every measurement.
    UnguardedIndex {
        field: ConditionField,
        condition: String,
        false_when_empty: String,
        true_when_empty: String,
    },
    /// The condition does not parse, or names something other than `result` and the helpers.
    Invalid {
        field: ConditionField,
        condition: String,
        error: String,
    },
    /// A Prometheus vector is a list: `result > 1` is a type error on every measurement.
    VectorComparedAsNumber {
        field: ConditionField,
        condition: String,
    },
    /// Neither condition is set: every measurement is Successful (the docs say Inconclusive).
    NoConditions,
}

impl ConditionFinding {
    /// One line for the lint report.
    pub fn message(&self) -> String {
        match self {
            Self::UnguardedIndex {
                field,
                condition,
                false_when_empty,
                true_when_empty,
            } => format!(
                "{field} \"{condition}\" indexes result without checking len(result): when the \
                 query returns no data every measurement is Error and 5 in a row fail the \
                 analysis. Use \"{false_when_empty}\" (no data = false) or \"{true_when_empty}\" \
                 (no data = true)"
            ),
            Self::Invalid {
                field,
                condition,
                error,
            } => format!("{field} \"{condition}\" cannot be evaluated: {error}"),
            Self::VectorComparedAsNumber { field, condition } => format!(
                "{field} \"{condition}\" compares result as a number, but a Prometheus query \
                 returns a list: use result[0] (guarded) or all(result, # ...)"
            ),
            Self::NoConditions => "no successCondition or failureCondition: every measurement \
                                   is Successful"
                .to_string(),
        }
    }
}

/// Checks both conditions of `metric`. Job metrics have none to check: the Job's outcome is
/// the measurement and conditions are ignored, as in the reference.
pub fn lint_conditions(metric: &MetricDefinition) -> Vec<ConditionFinding> {
    let mut findings = Vec::new();
    if matches!(metric.provider, Provider::Job(_)) {
        return findings;
    }
    if metric.success_condition.trim().is_empty() && metric.failure_condition.trim().is_empty() {
        findings.push(ConditionFinding::NoConditions);
        return findings;
    }
    for (field, condition) in [
        (ConditionField::SuccessCondition, &metric.success_condition),
        (ConditionField::FailureCondition, &metric.failure_condition),
    ] {
        if condition.trim().is_empty() {
            continue;
        }
        if let Some(finding) = lint_condition(field, condition, &metric.provider) {
            findings.push(finding);
        }
    }
    findings
}

fn lint_condition(
    field: ConditionField,
    condition: &str,
    provider: &Provider,
) -> Option<ConditionFinding> {
    // A representative answer: a one-element vector for Prometheus; for the web provider the
    // shape is unknown, so only parse errors and unknown names are reported.
    let sample = match provider {
        Provider::Prometheus(_) => MetricValue::Floats(vec![1.0]),
        Provider::Web(_) | Provider::Job(_) | Provider::None => MetricValue::Nil,
    };
    if let Err(error) = evaluate_condition(condition, &sample) {
        let structural = error.starts_with("syntax error") || error.starts_with("unknown name");
        if structural {
            return Some(ConditionFinding::Invalid {
                field,
                condition: condition.to_string(),
                error,
            });
        }
        if matches!(provider, Provider::Prometheus(_))
            && evaluate_condition(condition, &MetricValue::Float(1.0)).is_ok()
        {
            return Some(ConditionFinding::VectorComparedAsNumber {
                field,
                condition: condition.to_string(),
            });
        }
    }
    if unguarded_result_index(condition) {
        let suggestion = guard_suggestion(condition);
        return Some(ConditionFinding::UnguardedIndex {
            field,
            condition: condition.to_string(),
            false_when_empty: suggestion.false_when_empty,
            true_when_empty: suggestion.true_when_empty,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::analysis::prometheus::PrometheusMetric;

    fn prometheus(success: &str, failure: &str) -> MetricDefinition {
        MetricDefinition {
            name: "m".into(),
            success_condition: success.into(),
            failure_condition: failure.into(),
            provider: Provider::Prometheus(PrometheusMetric::default()),
            ..MetricDefinition::default()
        }
    }

    #[test]
    fn seeds_r5_condition_is_flagged_with_both_fixes() {
        let findings = lint_conditions(&prometheus("result[0] <= 5", ""));
        assert_eq!(findings.len(), 1);
        let message = findings[0].message();
        assert!(
            message.starts_with("successCondition \"result[0] <= 5\" indexes result"),
            "{message}"
        );
        assert!(
            message.contains("\"len(result) > 0 && result[0] <= 5\""),
            "{message}"
        );
        assert!(
            message.contains("\"len(result) == 0 || result[0] <= 5\""),
            "{message}"
        );
    }

    #[test]
    fn clean_and_broken_conditions() {
        assert!(
            lint_conditions(&prometheus("len(result) > 0 && result[0] >= 0.95", "")).is_empty()
        );
        assert!(
            lint_conditions(&prometheus("all(result, # < 5)", "any(result, # > 10)")).is_empty()
        );
        assert_eq!(
            lint_conditions(&prometheus("", "")),
            [ConditionFinding::NoConditions]
        );
        let findings = lint_conditions(&prometheus("result > 0.95", ""));
        assert!(
            matches!(findings[0], ConditionFinding::VectorComparedAsNumber { .. }),
            "{findings:?}"
        );
        let findings = lint_conditions(&prometheus("", "reslt[0] > 5"));
        assert!(
            matches!(&findings[0], ConditionFinding::Invalid { field: ConditionField::FailureCondition, error, .. } if error == "unknown name reslt"),
            "{findings:?}"
        );
        let findings = lint_conditions(&prometheus("result[0] >=", ""));
        assert!(
            findings[0]
                .message()
                .contains("cannot be evaluated: syntax error"),
            "{findings:?}"
        );
    }
}
