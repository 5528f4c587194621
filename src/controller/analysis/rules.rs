//! `dryRun` and `measurementRetention` rules (§1.6): each rule's `metricName` is an unanchored
//! regular expression tested against every metric name, and a rule that matches nothing makes
//! the spec invalid. The result is what [`super::MetricDefinition`] carries (`dry_run`,
//! `measurement_retention`). Pure.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use thiserror::Error;

/// A rule matched no metric (an invalid pattern, such as a bare `*`, matches nothing).
/// Displayed as the reference writes it after `Analysis spec invalid: `.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MatchRulesError {
    #[error("dryRun[{0}]: Rule didn't match any metric name(s)")]
    DryRun(usize),
    #[error("measurementRetention[{0}]: Rule didn't match any metric name(s)")]
    MeasurementRetention(usize),
}

fn matching<'a>(pattern: &str, names: &'a [&'a str]) -> Vec<&'a str> {
    match Regex::new(pattern) {
        Ok(regex) => names
            .iter()
            .copied()
            .filter(|n| regex.is_match(n))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The names of the metrics that run in dry-run mode.
pub fn dry_run_metrics(
    rules: &[String],
    metric_names: &[&str],
) -> Result<BTreeSet<String>, MatchRulesError> {
    let mut matched = BTreeSet::new();
    for (index, rule) in rules.iter().enumerate() {
        let names = matching(rule, metric_names);
        if names.is_empty() {
            return Err(MatchRulesError::DryRun(index));
        }
        matched.extend(names.into_iter().map(str::to_string));
    }
    Ok(matched)
}

/// The retention limit per metric name; a later rule overrides an earlier one, as in the
/// reference.
pub fn measurement_retention(
    rules: &[(String, usize)],
    metric_names: &[&str],
) -> Result<BTreeMap<String, usize>, MatchRulesError> {
    let mut limits = BTreeMap::new();
    for (index, (rule, limit)) in rules.iter().enumerate() {
        let names = matching(rule, metric_names);
        if names.is_empty() {
            return Err(MatchRulesError::MeasurementRetention(index));
        }
        for name in names {
            limits.insert(name.to_string(), *limit);
        }
    }
    Ok(limits)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NAMES: [&str; 3] = ["success-rate", "error-rate", "latency"];

    #[test]
    fn unanchored_regex_matching() {
        let dry = dry_run_metrics(&["rate".into()], &NAMES).unwrap();
        assert_eq!(
            dry.into_iter().collect::<Vec<_>>(),
            ["error-rate", "success-rate"]
        );
        let all = dry_run_metrics(&[".*".into()], &NAMES).unwrap();
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn rules_that_match_nothing_are_errors() {
        let error = dry_run_metrics(&["latency".into(), "*".into()], &NAMES).unwrap_err();
        assert_eq!(
            error.to_string(),
            "dryRun[1]: Rule didn't match any metric name(s)"
        );
        let error = measurement_retention(&[("cpu".into(), 5)], &NAMES).unwrap_err();
        assert_eq!(
            error.to_string(),
            "measurementRetention[0]: Rule didn't match any metric name(s)"
        );
    }

    #[test]
    fn later_retention_rules_win() {
        let limits =
            measurement_retention(&[(".*".into(), 20), ("latency".into(), 3)], &NAMES).unwrap();
        assert_eq!(limits["latency"], 3);
        assert_eq!(limits["error-rate"], 20);
    }
}
