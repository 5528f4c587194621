//! Measurement assessment: the reference's counters (§2.3), metric phase and limit reasons
//! (§2.4–2.5), run phase, message and summaries (§2.6–2.7), measurement scheduling (§2.2) and
//! retention (§2.9). Pure functions over [`MetricDefinition`] and [`MetricResult`]; the caller
//! supplies `now` and writes the outcome to the AnalysisRun status.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{AnalysisPhase, Measurement, MetricDefinition, MetricResult};

/// `failureLimit` when unset: the first Failed measurement fails the metric.
pub const DEFAULT_FAILURE_LIMIT: i64 = 0;
/// `inconclusiveLimit` when unset.
pub const DEFAULT_INCONCLUSIVE_LIMIT: i64 = 0;
/// `consecutiveErrorLimit` when unset: the fifth Error in a row errors the metric.
pub const DEFAULT_CONSECUTIVE_ERROR_LIMIT: i64 = 4;
/// Measurements kept per metric unless a `measurementRetention` rule says otherwise.
pub const DEFAULT_MEASUREMENT_RETENTION: usize = 10;
/// The gap after an Error measurement (and for a metric without interval), whatever the interval.
pub const ERROR_RETRY_INTERVAL: Duration = Duration::from_secs(10);

/// Folds a measurement into its metric result (§2.3). A measurement that replaces an in-flight
/// one (the last entry has no `finishedAt`) replaces it; otherwise it is appended. A completed
/// measurement without `finishedAt` gets `now`. The metric message follows the last measurement.
pub fn record_measurement(
    result: &mut MetricResult,
    mut measurement: Measurement,
    now: DateTime<Utc>,
) {
    if measurement.phase.is_completed() {
        if measurement.finished_at.is_none() {
            measurement.finished_at = Some(now);
        }
        match measurement.phase {
            AnalysisPhase::Successful => {
                result.successful += 1;
                result.count += 1;
                result.consecutive_error = 0;
                result.consecutive_success += 1;
            }
            AnalysisPhase::Failed => {
                result.failed += 1;
                result.count += 1;
                result.consecutive_error = 0;
                result.consecutive_success = 0;
            }
            AnalysisPhase::Inconclusive => {
                result.inconclusive += 1;
                result.count += 1;
                result.consecutive_error = 0;
                result.consecutive_success = 0;
            }
            AnalysisPhase::Error => {
                result.error += 1;
                result.consecutive_error += 1;
                result.consecutive_success = 0;
            }
            AnalysisPhase::Pending | AnalysisPhase::Running => {}
        }
    }
    if result.phase == AnalysisPhase::Pending {
        result.phase = AnalysisPhase::Running;
    }
    result.message.clone_from(&measurement.message);
    match result.measurements.last_mut() {
        Some(last) if last.finished_at.is_none() => *last = measurement,
        _ => result.measurements.push(measurement),
    }
}

/// Keeps the newest `limit` measurements (10 when `None` or 0). Counters are not reduced.
pub fn trim_measurements(result: &mut MetricResult, limit: Option<usize>) {
    let keep = limit
        .filter(|&l| l > 0)
        .unwrap_or(DEFAULT_MEASUREMENT_RETENTION);
    let excess = result.measurements.len().saturating_sub(keep);
    result.measurements.drain(..excess);
}

/// How many counted measurements finish the metric; `None` means unbounded (an interval with no
/// count runs until a limit is hit or the run is terminated).
pub fn effective_count(metric: &MetricDefinition) -> Option<i64> {
    match metric.count {
        Some(count) if count > 0 => Some(count),
        _ if metric.interval.is_none() => Some(1),
        _ => None,
    }
}

/// The phase of one metric and, when a limit was violated, the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricAssessment {
    pub name: String,
    pub phase: AnalysisPhase,
    /// `failed (1) > failureLimit (0)` and the like; `None` when no limit was violated.
    pub reason: Option<String>,
}

/// The metric phase (§2.4), with limit checks in the reference's order: a later violation
/// overwrites an earlier one, so Error beats Inconclusive beats Failed.
pub fn assess_metric(
    metric: &MetricDefinition,
    result: Option<&MetricResult>,
    terminating: bool,
) -> MetricAssessment {
    let assessed = |phase, reason| MetricAssessment {
        name: metric.name.clone(),
        phase,
        reason,
    };
    let Some(result) = result.filter(|r| !r.measurements.is_empty()) else {
        let phase = if terminating {
            AnalysisPhase::Successful
        } else {
            AnalysisPhase::Pending
        };
        return assessed(phase, None);
    };
    if result
        .measurements
        .last()
        .is_some_and(|m| !m.phase.is_completed())
    {
        return assessed(AnalysisPhase::Running, None);
    }

    let failure_limit = metric.failure_limit.unwrap_or(DEFAULT_FAILURE_LIMIT);
    let inconclusive_limit = metric
        .inconclusive_limit
        .unwrap_or(DEFAULT_INCONCLUSIVE_LIMIT);
    let error_limit = metric
        .consecutive_error_limit
        .unwrap_or(DEFAULT_CONSECUTIVE_ERROR_LIMIT);
    let mut violation = None;
    if failure_limit >= 0 && result.failed > failure_limit {
        violation = Some((
            AnalysisPhase::Failed,
            format!(
                "failed ({}) > failureLimit ({failure_limit})",
                result.failed
            ),
        ));
    }
    if result.inconclusive > inconclusive_limit {
        violation = Some((
            AnalysisPhase::Inconclusive,
            format!(
                "inconclusive ({}) > inconclusiveLimit ({inconclusive_limit})",
                result.inconclusive
            ),
        ));
    }
    if result.consecutive_error > error_limit {
        violation = Some((
            AnalysisPhase::Error,
            format!(
                "consecutiveErrors ({}) > consecutiveErrorLimit ({error_limit})",
                result.consecutive_error
            ),
        ));
    }
    if let Some((phase, reason)) = violation {
        return assessed(phase, Some(reason));
    }

    let success_limit = metric.consecutive_success_limit.unwrap_or(0);
    if success_limit > 0 && result.consecutive_success >= success_limit {
        return assessed(AnalysisPhase::Successful, None);
    }
    if effective_count(metric).is_some_and(|count| result.count >= count) {
        let phase = match (failure_limit >= 0, success_limit > 0) {
            (true, true) => AnalysisPhase::Inconclusive,
            (false, true) => AnalysisPhase::Failed,
            _ => AnalysisPhase::Successful,
        };
        return assessed(phase, None);
    }
    let phase = if terminating {
        AnalysisPhase::Successful
    } else {
        AnalysisPhase::Running
    };
    assessed(phase, None)
}

/// What a metric needs next (§2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasurementSchedule {
    /// Take a new measurement now.
    Measure,
    /// Take the next measurement at this time.
    MeasureAt(DateTime<Utc>),
    /// Resume the in-flight measurement now.
    Resume,
    /// Resume the in-flight measurement at this time.
    ResumeAt(DateTime<Utc>),
    /// The run is terminating: terminate the in-flight measurement.
    Terminate,
    /// Nothing to do and nothing to wait for: completed, count reached, or terminating.
    Idle,
}

impl MeasurementSchedule {
    /// When the engine must wake up for this metric, if it has to wait.
    pub fn wake_at(self) -> Option<DateTime<Utc>> {
        match self {
            Self::MeasureAt(at) | Self::ResumeAt(at) => Some(at),
            _ => None,
        }
    }
}

/// When `metric` is next measured. `run_started_at` is the run's `status.startedAt` (`None`
/// before the first pass, which waits for it when the metric has an `initialDelay`).
pub fn next_measurement(
    metric: &MetricDefinition,
    result: Option<&MetricResult>,
    run_started_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    terminating: bool,
) -> MeasurementSchedule {
    if result.is_some_and(|r| r.phase.is_completed()) {
        return MeasurementSchedule::Idle;
    }
    let last = result.and_then(|r| r.measurements.last());
    if let Some(last) = last.filter(|m| m.finished_at.is_none()) {
        if terminating {
            return MeasurementSchedule::Terminate;
        }
        return match last.resume_at {
            Some(at) if at > now => MeasurementSchedule::ResumeAt(at),
            _ => MeasurementSchedule::Resume,
        };
    }
    if terminating {
        return MeasurementSchedule::Idle;
    }
    let Some(last) = last else {
        return match metric.initial_delay {
            Some(delay) => {
                let at = later_by(run_started_at.unwrap_or(now), delay);
                if run_started_at.is_some() && now >= at {
                    MeasurementSchedule::Measure
                } else {
                    MeasurementSchedule::MeasureAt(at)
                }
            }
            None => MeasurementSchedule::Measure,
        };
    };
    if effective_count(metric).is_some_and(|count| result.is_some_and(|r| r.count >= count)) {
        return MeasurementSchedule::Idle;
    }
    let gap = if last.phase == AnalysisPhase::Error {
        ERROR_RETRY_INTERVAL
    } else {
        metric.interval.unwrap_or(ERROR_RETRY_INTERVAL)
    };
    let finished = last.finished_at.unwrap_or(now);
    let due = later_by(finished, gap);
    if now > due {
        MeasurementSchedule::Measure
    } else {
        MeasurementSchedule::MeasureAt(due)
    }
}

/// `time + duration`, saturating: an absurd interval from a spec must not panic the engine.
fn later_by(time: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(duration)
        .ok()
        .and_then(|delta| time.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The earliest time any metric needs attention (§2.2 "next wake-up"), or `None`.
pub fn next_wake_up(
    metrics: &[MetricDefinition],
    results: &[MetricResult],
    run_started_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    terminating: bool,
) -> Option<DateTime<Utc>> {
    metrics
        .iter()
        .filter_map(|metric| {
            let result = results.iter().find(|r| r.name == metric.name);
            next_measurement(metric, result, run_started_at, now, terminating).wake_at()
        })
        .min()
}

/// `status.runSummary` / `status.dryRunSummary`: counts of metrics, not of measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunSummary {
    pub count: i64,
    pub successful: i64,
    pub failed: i64,
    pub inconclusive: i64,
    pub error: i64,
}

/// The outcome of one assessment pass over the whole run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAssessment {
    pub phase: AnalysisPhase,
    pub message: String,
    /// Whether the run was terminating during this pass (`spec.terminate`, or a non-dry-run
    /// metric already Failed, Error or Inconclusive).
    pub terminating: bool,
    pub run_summary: RunSummary,
    pub dry_run_summary: RunSummary,
    /// One entry per metric, in spec order.
    pub metrics: Vec<MetricAssessment>,
}

/// Whether the run is terminating (§2.7), decided from the metric phases stored before the pass.
pub fn is_terminating(
    terminate: bool,
    metrics: &[MetricDefinition],
    results: &[MetricResult],
) -> bool {
    terminate
        || results.iter().any(|r| {
            let dry_run = metrics
                .iter()
                .find(|m| m.name == r.name)
                .map_or(r.dry_run, |m| m.dry_run);
            !dry_run
                && matches!(
                    r.phase,
                    AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive
                )
        })
}

/// The run phase and message (§2.6): the worst completed non-dry-run metric, or Running while any
/// metric is not completed. `terminate` is the run's `spec.terminate`.
pub fn assess_run(
    metrics: &[MetricDefinition],
    results: &[MetricResult],
    terminate: bool,
) -> RunAssessment {
    let terminating = is_terminating(terminate, metrics, results);
    let mut worst = AnalysisPhase::Successful;
    let mut worst_message = String::new();
    let mut everything_completed = true;
    let mut run_summary = RunSummary::default();
    let mut dry_run_summary = RunSummary::default();
    let mut assessments = Vec::with_capacity(metrics.len());

    for metric in metrics {
        let result = results.iter().find(|r| r.name == metric.name);
        let assessment = assess_metric(metric, result, terminating);
        let summary = if metric.dry_run {
            &mut dry_run_summary
        } else {
            &mut run_summary
        };
        summary.count += 1;
        if assessment.phase.is_completed() {
            let bucket = match (&assessment.reason, assessment.phase) {
                (Some(_), AnalysisPhase::Error) => &mut summary.error,
                (Some(_), AnalysisPhase::Failed) => &mut summary.failed,
                (Some(_), AnalysisPhase::Inconclusive) => &mut summary.inconclusive,
                _ => &mut summary.successful,
            };
            *bucket += 1;
            if !metric.dry_run && assessment.phase.severity() > worst.severity() {
                worst = assessment.phase;
                if let Some(reason) = &assessment.reason {
                    worst_message = format!(
                        "Metric \"{}\" assessed {} due to {reason}",
                        metric.name, assessment.phase
                    );
                    if let Some(message) = result.map(|r| &r.message).filter(|m| !m.is_empty()) {
                        worst_message = format!("{worst_message}: \"Error Message: {message}\"");
                    }
                }
            }
        } else {
            everything_completed = false;
        }
        assessments.push(assessment);
    }

    let (phase, message) = if everything_completed {
        if worst_message.is_empty() && terminate {
            worst_message = "Run Terminated".to_string();
        }
        (worst, worst_message)
    } else {
        (AnalysisPhase::Running, String::new())
    };
    RunAssessment {
        phase,
        message,
        terminating,
        run_summary,
        dry_run_summary,
        metrics: assessments,
    }
}

/// Writes a pass's metric phases into the results: completed phases never change, and a
/// dry-run metric that violated a limit gets `Metric assessed <Phase> due to <reason>`.
pub fn apply_assessment(
    metrics: &[MetricDefinition],
    results: &mut [MetricResult],
    assessment: &RunAssessment,
) {
    for (metric, metric_assessment) in metrics.iter().zip(&assessment.metrics) {
        let Some(result) = results.iter_mut().find(|r| r.name == metric.name) else {
            continue;
        };
        if result.phase.is_completed() {
            continue;
        }
        result.phase = metric_assessment.phase;
        result.dry_run = metric.dry_run;
        if metric.dry_run
            && metric_assessment.phase.is_completed()
            && let Some(reason) = &metric_assessment.reason
        {
            result.message = format!(
                "Metric assessed {} due to {reason}",
                metric_assessment.phase
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use AnalysisPhase::{Error, Failed, Inconclusive, Pending, Running, Successful};

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    fn done(phase: AnalysisPhase, finished: i64) -> Measurement {
        Measurement {
            phase,
            started_at: Some(at(finished)),
            finished_at: Some(at(finished)),
            ..Measurement::default()
        }
    }

    fn metric(name: &str) -> MetricDefinition {
        MetricDefinition {
            name: name.to_string(),
            ..MetricDefinition::default()
        }
    }

    fn every_minute(name: &str) -> MetricDefinition {
        MetricDefinition {
            interval: Some(Duration::from_secs(60)),
            ..metric(name)
        }
    }

    /// A result with the given counters and one completed measurement, as the reference tests
    /// build them (counters set directly).
    fn counters(setup: impl FnOnce(&mut MetricResult)) -> MetricResult {
        let mut result = MetricResult {
            name: "m".into(),
            phase: Running,
            measurements: vec![done(Successful, 0)],
            ..MetricResult::default()
        };
        setup(&mut result);
        result
    }

    #[test]
    fn metric_assessment_cases() {
        let fl_csl = |fl, csl, count| MetricDefinition {
            failure_limit: Some(fl),
            consecutive_success_limit: Some(csl),
            count,
            interval: Some(Duration::from_secs(60)),
            ..metric("m")
        };
        let running_last = MetricResult {
            measurements: vec![Measurement {
                phase: Running,
                ..Measurement::default()
            }],
            ..MetricResult::default()
        };
        // (case, metric, result, not terminating, terminating)
        let cases: Vec<(
            &str,
            MetricDefinition,
            Option<MetricResult>,
            AnalysisPhase,
            AnalysisPhase,
        )> = vec![
            ("A1", metric("m"), None, Pending, Successful),
            ("A2", metric("m"), Some(running_last), Running, Running),
            (
                "A3",
                MetricDefinition {
                    failure_limit: Some(2),
                    ..every_minute("m")
                },
                Some(counters(|r| {
                    r.failed = 3;
                    r.count = 3;
                })),
                Failed,
                Failed,
            ),
            (
                "A4",
                MetricDefinition {
                    failure_limit: Some(3),
                    ..every_minute("m")
                },
                Some(counters(|r| {
                    r.failed = 3;
                    r.count = 3;
                })),
                Running,
                Successful,
            ),
            (
                "A5",
                MetricDefinition {
                    inconclusive_limit: Some(2),
                    ..every_minute("m")
                },
                Some(counters(|r| r.inconclusive = 3)),
                Inconclusive,
                Inconclusive,
            ),
            (
                "A6",
                MetricDefinition {
                    inconclusive_limit: Some(3),
                    ..metric("m")
                },
                Some(counters(|r| r.inconclusive = 3)),
                Running,
                Successful,
            ),
            (
                "A7",
                every_minute("m"),
                Some(counters(|r| r.consecutive_error = 5)),
                Error,
                Error,
            ),
            (
                "A8",
                every_minute("m"),
                Some(counters(|r| r.consecutive_error = 4)),
                Running,
                Successful,
            ),
            (
                "A9",
                MetricDefinition {
                    count: Some(10),
                    ..every_minute("m")
                },
                Some(counters(|r| {
                    r.successful = 10;
                    r.count = 10;
                })),
                Successful,
                Successful,
            ),
            (
                "A10",
                MetricDefinition {
                    count: Some(10),
                    ..every_minute("m")
                },
                Some(counters(|r| {
                    r.successful = 5;
                    r.inconclusive = 5;
                    r.count = 10;
                })),
                Inconclusive,
                Inconclusive,
            ),
            (
                "A11",
                fl_csl(-1, 3, None),
                Some(counters(|r| r.consecutive_success = 3)),
                Successful,
                Successful,
            ),
            (
                "A12",
                fl_csl(-1, 5, None),
                Some(counters(|r| r.consecutive_success = 3)),
                Running,
                Successful,
            ),
            (
                "A13",
                fl_csl(-1, 5, Some(7)),
                Some(counters(|r| {
                    r.count = 7;
                    r.consecutive_success = 3;
                })),
                Failed,
                Failed,
            ),
            (
                "A14",
                fl_csl(4, 4, Some(10)),
                Some(counters(|r| {
                    r.failed = 4;
                    r.count = 10;
                    r.consecutive_success = 3;
                })),
                Inconclusive,
                Inconclusive,
            ),
            (
                "A15",
                fl_csl(4, 4, Some(10)),
                Some(counters(|r| {
                    r.failed = 5;
                    r.consecutive_success = 4;
                })),
                Failed,
                Failed,
            ),
            (
                "A16",
                fl_csl(4, 4, Some(10)),
                Some(counters(|r| {
                    r.failed = 3;
                    r.count = 8;
                    r.consecutive_success = 4;
                })),
                Successful,
                Successful,
            ),
            (
                "A17",
                fl_csl(4, 4, Some(10)),
                Some(counters(|r| {
                    r.failed = 3;
                    r.count = 8;
                    r.consecutive_success = 3;
                })),
                Running,
                Successful,
            ),
        ];
        for (case, definition, result, live, terminating) in cases {
            assert_eq!(
                assess_metric(&definition, result.as_ref(), false).phase,
                live,
                "{case}"
            );
            assert_eq!(
                assess_metric(&definition, result.as_ref(), true).phase,
                terminating,
                "{case} terminating"
            );
        }
    }

    #[test]
    fn limit_reasons_and_priority() {
        // A18: default failureLimit 0.
        let a = assess_metric(&metric("m"), Some(&counters(|r| r.failed = 1)), false);
        assert_eq!(a.phase, Failed);
        assert_eq!(a.reason.as_deref(), Some("failed (1) > failureLimit (0)"));
        // Error > Inconclusive > Failed when several limits are violated.
        let all = counters(|r| {
            r.failed = 1;
            r.inconclusive = 1;
            r.consecutive_error = 5;
        });
        let a = assess_metric(&metric("m"), Some(&all), false);
        assert_eq!(a.phase, Error);
        assert_eq!(
            a.reason.as_deref(),
            Some("consecutiveErrors (5) > consecutiveErrorLimit (4)")
        );
        let two = counters(|r| {
            r.failed = 1;
            r.inconclusive = 1;
        });
        let a = assess_metric(&metric("m"), Some(&two), false);
        assert_eq!(
            a.reason.as_deref(),
            Some("inconclusive (1) > inconclusiveLimit (0)")
        );
    }

    #[test]
    fn counters_follow_the_measurement_phase() {
        let mut result = MetricResult::default();
        for phase in [
            Successful,
            Successful,
            Error,
            Error,
            Failed,
            Inconclusive,
            Successful,
        ] {
            record_measurement(&mut result, done(phase, 0), at(0));
        }
        assert_eq!(
            (
                result.count,
                result.successful,
                result.failed,
                result.inconclusive,
                result.error
            ),
            (5, 3, 1, 1, 2)
        );
        assert_eq!(
            (result.consecutive_error, result.consecutive_success),
            (0, 1)
        );
        assert_eq!(result.phase, Running);
        // An in-flight measurement is replaced by its completion, not appended.
        record_measurement(
            &mut result,
            Measurement {
                phase: Running,
                ..Measurement::default()
            },
            at(1),
        );
        let finished = Measurement {
            phase: Error,
            message: "boom".into(),
            ..Measurement::default()
        };
        record_measurement(&mut result, finished, at(2));
        assert_eq!(result.measurements.len(), 8);
        assert_eq!(result.measurements[7].finished_at, Some(at(2)));
        assert_eq!(result.message, "boom");
        assert_eq!(result.consecutive_error, 1);
    }

    #[test]
    fn absurd_intervals_saturate() {
        let m = MetricDefinition {
            interval: Some(Duration::MAX),
            ..metric("m")
        };
        let mut r = MetricResult::default();
        record_measurement(&mut r, done(Successful, 0), at(0));
        assert_eq!(
            next_measurement(&m, Some(&r), None, at(1), false),
            MeasurementSchedule::MeasureAt(DateTime::<Utc>::MAX_UTC)
        );
    }

    #[test]
    fn retention_keeps_the_newest() {
        let mut result = MetricResult::default();
        for i in 0..15 {
            record_measurement(&mut result, done(Successful, i), at(i));
        }
        trim_measurements(&mut result, None);
        assert_eq!(result.measurements.len(), 10);
        assert_eq!(result.measurements[0].finished_at, Some(at(5)));
        trim_measurements(&mut result, Some(3));
        assert_eq!(result.measurements.len(), 3);
        assert_eq!(result.count, 15, "counters are not reduced by trimming");
    }

    #[test]
    fn scheduling() {
        let m = every_minute("m");
        let with_last = |phase| {
            let mut r = MetricResult::default();
            record_measurement(&mut r, done(phase, 100), at(100));
            r
        };
        assert_eq!(
            next_measurement(&m, None, None, at(0), false),
            MeasurementSchedule::Measure
        );
        // Interval after a completed measurement; 10 s after an Error whatever the interval.
        let ok = with_last(Successful);
        assert_eq!(
            next_measurement(&m, Some(&ok), None, at(120), false),
            MeasurementSchedule::MeasureAt(at(160))
        );
        assert_eq!(
            next_measurement(&m, Some(&ok), None, at(161), false),
            MeasurementSchedule::Measure
        );
        let errored = with_last(Error);
        assert_eq!(
            next_measurement(&m, Some(&errored), None, at(101), false),
            MeasurementSchedule::MeasureAt(at(110))
        );
        // No interval: one measurement, then idle; an Error is retried after 10 s.
        let single = metric("m");
        assert_eq!(
            next_measurement(&single, Some(&ok), None, at(500), false),
            MeasurementSchedule::Idle
        );
        assert_eq!(
            next_measurement(&single, Some(&errored), None, at(105), false),
            MeasurementSchedule::MeasureAt(at(110))
        );
        // initialDelay waits from the run's startedAt.
        let delayed = MetricDefinition {
            initial_delay: Some(Duration::from_secs(30)),
            ..m.clone()
        };
        assert_eq!(
            next_measurement(&delayed, None, Some(at(0)), at(10), false),
            MeasurementSchedule::MeasureAt(at(30))
        );
        assert_eq!(
            next_measurement(&delayed, None, Some(at(0)), at(30), false),
            MeasurementSchedule::Measure
        );
        assert_eq!(
            next_measurement(&delayed, None, None, at(5), false),
            MeasurementSchedule::MeasureAt(at(35)),
            "no startedAt yet: wait"
        );
        // Terminating: no new measurement; in-flight ones are terminated.
        assert_eq!(
            next_measurement(&m, Some(&ok), None, at(500), true),
            MeasurementSchedule::Idle
        );
        let mut in_flight = MetricResult::default();
        record_measurement(
            &mut in_flight,
            Measurement {
                phase: Running,
                resume_at: Some(at(50)),
                ..Measurement::default()
            },
            at(0),
        );
        assert_eq!(
            next_measurement(&m, Some(&in_flight), None, at(10), false),
            MeasurementSchedule::ResumeAt(at(50))
        );
        assert_eq!(
            next_measurement(&m, Some(&in_flight), None, at(10), true),
            MeasurementSchedule::Terminate
        );
        // Count reached.
        let counted = MetricDefinition {
            count: Some(1),
            ..m.clone()
        };
        assert_eq!(
            next_measurement(&counted, Some(&ok), None, at(500), false),
            MeasurementSchedule::Idle
        );
        let named_ok = MetricResult {
            name: "m".into(),
            ..ok
        };
        let delayed = MetricDefinition {
            name: "d".into(),
            ..delayed
        };
        assert_eq!(
            next_wake_up(
                &[m.clone(), delayed],
                std::slice::from_ref(&named_ok),
                Some(at(0)),
                at(20),
                false
            ),
            Some(at(30)),
            "the earliest of the initial delay and the interval"
        );
        assert_eq!(
            next_wake_up(&[m], &[named_ok], Some(at(0)), at(120), false),
            Some(at(160))
        );
    }

    /// Timeline B of §2.11: failureLimit 1, values fail, pass, fail.
    #[test]
    fn timeline_failure_limit() {
        let m = MetricDefinition {
            failure_limit: Some(1),
            count: Some(3),
            ..every_minute("m")
        };
        let metrics = [m];
        let mut results = vec![MetricResult {
            name: "m".into(),
            ..MetricResult::default()
        }];
        let mut phases = vec![];
        for (i, phase) in [Failed, Successful, Failed].into_iter().enumerate() {
            record_measurement(
                &mut results[0],
                done(phase, i as i64 * 60),
                at(i as i64 * 60),
            );
            let run = assess_run(&metrics, &results, false);
            apply_assessment(&metrics, &mut results, &run);
            phases.push((run.phase, run.message));
        }
        assert_eq!(phases[0], (Running, String::new()));
        assert_eq!(phases[1], (Running, String::new()));
        assert_eq!(
            phases[2],
            (
                Failed,
                "Metric \"m\" assessed Failed due to failed (2) > failureLimit (1)".to_string()
            )
        );
        assert_eq!(results[0].phase, Failed);
    }

    /// Timeline C of §2.11: five empty results in a row error the metric and the run.
    #[test]
    fn timeline_consecutive_errors() {
        let metrics = [every_minute("m")];
        let mut results = vec![MetricResult {
            name: "m".into(),
            ..MetricResult::default()
        }];
        let message = "could not evaluate successCondition \"result[0] >= 0.95\": no data";
        let mut last = None;
        for i in 0..5 {
            let m = Measurement {
                message: message.into(),
                ..done(Error, i * 10)
            };
            record_measurement(&mut results[0], m, at(i * 10));
            let run = assess_run(&metrics, &results, false);
            apply_assessment(&metrics, &mut results, &run);
            last = Some(run);
        }
        let run = last.unwrap();
        assert_eq!(run.phase, Error);
        assert_eq!(
            run.message,
            format!(
                "Metric \"m\" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4): \
                 \"Error Message: {message}\""
            )
        );
        assert_eq!(
            run.run_summary,
            RunSummary {
                count: 1,
                error: 1,
                ..RunSummary::default()
            }
        );
    }

    #[test]
    fn run_phase_is_the_worst_metric_and_waits_for_all() {
        let metrics = [metric("a"), metric("b"), metric("c")];
        let with = |name: &str, phase| {
            let mut r = MetricResult {
                name: name.into(),
                ..MetricResult::default()
            };
            record_measurement(&mut r, done(phase, 0), at(0));
            r
        };
        // c has not started: Running with an empty message.
        let run = assess_run(&metrics, &[with("a", Successful), with("b", Failed)], false);
        assert_eq!((run.phase, run.message.as_str()), (Running, ""));
        // The next pass is terminating (b Failed), so c is Successful and the run ends Failed.
        let mut results = vec![with("a", Successful), with("b", Failed)];
        apply_assessment(&metrics, &mut results, &run);
        let run = assess_run(&metrics, &results, false);
        assert!(run.terminating);
        assert_eq!(run.phase, Failed);
        assert_eq!(
            run.message,
            "Metric \"b\" assessed Failed due to failed (1) > failureLimit (0)"
        );
        assert_eq!(
            run.run_summary,
            RunSummary {
                count: 3,
                successful: 2,
                failed: 1,
                ..RunSummary::default()
            }
        );
        // Ties: the first metric in spec order supplies the message.
        let run = assess_run(
            &metrics,
            &[
                with("a", Inconclusive),
                with("b", Inconclusive),
                with("c", Successful),
            ],
            false,
        );
        assert_eq!(run.phase, Inconclusive);
        assert!(run.message.starts_with("Metric \"a\""), "{}", run.message);
    }

    #[test]
    fn dry_run_metrics_never_decide_the_run() {
        let dry = MetricDefinition {
            dry_run: true,
            ..metric("dry")
        };
        let metrics = [dry, metric("wet")];
        let mut dry_result = MetricResult {
            name: "dry".into(),
            ..MetricResult::default()
        };
        record_measurement(&mut dry_result, done(Failed, 0), at(0));
        let mut wet_result = MetricResult {
            name: "wet".into(),
            ..MetricResult::default()
        };
        record_measurement(&mut wet_result, done(Successful, 0), at(0));
        let mut results = vec![dry_result, wet_result];
        let run = assess_run(&metrics, &results, false);
        assert_eq!((run.phase, run.message.as_str()), (Successful, ""));
        assert_eq!(
            run.dry_run_summary,
            RunSummary {
                count: 1,
                failed: 1,
                ..RunSummary::default()
            }
        );
        assert_eq!(
            run.run_summary,
            RunSummary {
                count: 1,
                successful: 1,
                ..RunSummary::default()
            }
        );
        apply_assessment(&metrics, &mut results, &run);
        assert_eq!(
            results[0].message,
            "Metric assessed Failed due to failed (1) > failureLimit (0)"
        );
    }

    /// §8.3: `count: 0` is an unset count, so a metric with an interval runs until terminated.
    #[test]
    fn count_zero_is_unbounded_with_an_interval() {
        let zero = MetricDefinition {
            count: Some(0),
            ..every_minute("m")
        };
        assert_eq!(effective_count(&zero), None);
        assert_eq!(
            effective_count(&MetricDefinition {
                count: Some(0),
                ..metric("m")
            }),
            Some(1)
        );
        let many = counters(|r| {
            r.successful = 500;
            r.count = 500;
        });
        assert_eq!(assess_metric(&zero, Some(&many), false).phase, Running);
        assert_eq!(assess_metric(&zero, Some(&many), true).phase, Successful);
    }

    /// §8.8 (argoproj/argo-rollouts#4479): errors that are not consecutive never fail a metric
    /// and do not count, so a run can be Successful while most measurements are Error.
    #[test]
    fn interleaved_errors_still_succeed() {
        let metrics = [MetricDefinition {
            count: Some(3),
            ..every_minute("m")
        }];
        let mut results = vec![MetricResult {
            name: "m".into(),
            ..MetricResult::default()
        }];
        let phases = [
            Error, Error, Error, Error, Successful, Error, Error, Successful, Error, Successful,
        ];
        for (i, phase) in phases.into_iter().enumerate() {
            record_measurement(&mut results[0], done(phase, i as i64), at(i as i64));
        }
        let run = assess_run(&metrics, &results, false);
        assert_eq!((run.phase, run.message.as_str()), (Successful, ""));
        assert_eq!((results[0].error, results[0].count), (7, 3));
        trim_measurements(&mut results[0], Some(3));
        assert_eq!(
            results[0]
                .measurements
                .iter()
                .filter(|m| m.phase == Error)
                .count(),
            1
        );
    }

    #[test]
    fn terminated_runs() {
        // Timeline D / the tested case: a metric still waiting (initialDelay) ends Successful.
        let metrics = [MetricDefinition {
            initial_delay: Some(Duration::from_secs(60)),
            ..every_minute("m")
        }];
        let run = assess_run(&metrics, &[], true);
        assert_eq!(
            (run.phase, run.message.as_str()),
            (Successful, "Run Terminated")
        );
        // A limit reason replaces "Run Terminated".
        let mut failed = MetricResult {
            name: "m".into(),
            ..MetricResult::default()
        };
        record_measurement(&mut failed, done(Failed, 0), at(0));
        let run = assess_run(&metrics, &[failed], true);
        assert_eq!(run.phase, Failed);
        assert!(run.message.starts_with("Metric \"m\" assessed Failed"));
    }
}
