//! Metric validation (§1.4): the checks the reference makes before measuring, with its messages.
//! An invalid spec turns the run into Error with `Analysis spec invalid: <message>`. Parsing
//! errors (bad durations, several providers) belong to the adapter that builds the
//! [`MetricDefinition`]s; this checks the parsed values. Pure.

use super::{MetricDefinition, Provider};

/// The prefix the reference puts before a validation message in the run message.
pub const SPEC_INVALID_MESSAGE_PREFIX: &str = "Analysis spec invalid: ";

/// Checks every metric; the first problem is returned as the reference words it
/// (`metrics[1]: duplicate name 'error-rate'`).
pub fn validate_metrics(metrics: &[MetricDefinition]) -> Result<(), String> {
    if metrics.is_empty() {
        return Err("no metrics specified".to_string());
    }
    for (index, metric) in metrics.iter().enumerate() {
        if metrics[..index].iter().any(|m| m.name == metric.name) {
            return Err(format!(
                "metrics[{index}]: duplicate name '{}'",
                metric.name
            ));
        }
        validate_metric(metric).map_err(|message| format!("metrics[{index}]: {message}"))?;
    }
    Ok(())
}

fn validate_metric(metric: &MetricDefinition) -> Result<(), String> {
    let success_limit = metric.consecutive_success_limit.unwrap_or(0);
    let failure_limit = metric.failure_limit.unwrap_or(0);
    let inconclusive_limit = metric.inconclusive_limit.unwrap_or(0);
    if success_limit < 0 {
        return Err("consecutiveSuccessLimit must be >= 0".to_string());
    }
    if failure_limit < -1 {
        return Err("failureLimit must be >= 0, or -1 to be disabled".to_string());
    }
    if failure_limit == -1 && success_limit == 0 {
        return Err("failureLimit and consecutiveSuccessLimit cannot both be disabled".to_string());
    }
    if inconclusive_limit < 0 {
        return Err("inconclusiveLimit must be >= 0".to_string());
    }
    if metric.consecutive_error_limit.is_some_and(|l| l < 0) {
        return Err("consecutiveErrorLimit must be >= 0".to_string());
    }
    if let Some(count) = metric.count.filter(|&c| c > 0) {
        if failure_limit >= 0 && count < failure_limit + success_limit {
            return Err(format!(
                "count ({count}) must be >= failureLimit + consecutiveSuccessLimit \
                 ({failure_limit} + {success_limit}) if both >= 0"
            ));
        }
        if failure_limit < 0 && count < success_limit {
            return Err("count must be >= consecutiveSuccessLimit".to_string());
        }
        if count < inconclusive_limit {
            return Err("count must be >= inconclusiveLimit".to_string());
        }
        if count > 1 && metric.interval.is_none() {
            return Err("interval must be specified when count > 1".to_string());
        }
    }
    if metric.provider == Provider::None {
        return Err("no provider specified".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::analysis::web::WebMetric;
    use std::time::Duration;

    fn valid(name: &str) -> MetricDefinition {
        MetricDefinition {
            name: name.into(),
            provider: Provider::Web(WebMetric::default()),
            ..MetricDefinition::default()
        }
    }

    #[test]
    fn reference_messages() {
        assert_eq!(validate_metrics(&[]), Err("no metrics specified".into()));
        assert_eq!(validate_metrics(&[valid("a"), valid("b")]), Ok(()));
        assert_eq!(
            validate_metrics(&[valid("a"), valid("a")]),
            Err("metrics[1]: duplicate name 'a'".into())
        );
        let cases = [
            (
                MetricDefinition {
                    consecutive_success_limit: Some(-1),
                    ..valid("m")
                },
                "consecutiveSuccessLimit must be >= 0",
            ),
            (
                MetricDefinition {
                    failure_limit: Some(-2),
                    ..valid("m")
                },
                "failureLimit must be >= 0, or -1 to be disabled",
            ),
            (
                MetricDefinition {
                    failure_limit: Some(-1),
                    ..valid("m")
                },
                "failureLimit and consecutiveSuccessLimit cannot both be disabled",
            ),
            (
                MetricDefinition {
                    inconclusive_limit: Some(-1),
                    ..valid("m")
                },
                "inconclusiveLimit must be >= 0",
            ),
            (
                MetricDefinition {
                    consecutive_error_limit: Some(-1),
                    ..valid("m")
                },
                "consecutiveErrorLimit must be >= 0",
            ),
            (
                MetricDefinition {
                    count: Some(3),
                    failure_limit: Some(2),
                    consecutive_success_limit: Some(2),
                    interval: Some(Duration::from_secs(1)),
                    ..valid("m")
                },
                "count (3) must be >= failureLimit + consecutiveSuccessLimit (2 + 2) if both >= 0",
            ),
            (
                MetricDefinition {
                    count: Some(2),
                    failure_limit: Some(-1),
                    consecutive_success_limit: Some(3),
                    interval: Some(Duration::from_secs(1)),
                    ..valid("m")
                },
                "count must be >= consecutiveSuccessLimit",
            ),
            (
                MetricDefinition {
                    count: Some(1),
                    inconclusive_limit: Some(2),
                    ..valid("m")
                },
                "count must be >= inconclusiveLimit",
            ),
            (
                MetricDefinition {
                    count: Some(2),
                    ..valid("m")
                },
                "interval must be specified when count > 1",
            ),
            (
                MetricDefinition {
                    provider: Provider::None,
                    ..valid("m")
                },
                "no provider specified",
            ),
        ];
        for (metric, message) in cases {
            assert_eq!(
                validate_metrics(&[metric]),
                Err(format!("metrics[0]: {message}"))
            );
        }
    }
}
