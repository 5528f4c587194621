//! One reconcile pass of an AnalysisRun (§2.1 steps 5–10): decide which metrics are due, take
//! those measurements concurrently, fold them into the status, assess metrics and run, record
//! events, trim history, and say when to come back. `plan_measurements` and `complete_pass` are
//! pure; `run_pass` is the thin shell that measures in between. The status type mirrors
//! `AnalysisRun.status`; the controller converts it to and from the CRD.

use chrono::{DateTime, Utc};

use super::assessment::{
    DEFAULT_MEASUREMENT_RETENTION, MeasurementSchedule, RunSummary, apply_assessment, assess_run,
    is_terminating, next_measurement, next_wake_up, record_measurement, trim_measurements,
};
use super::job::{self, JobContext};
use super::{
    AnalysisPhase, Measurement, MetricDefinition, MetricResult, Provider, Secrets,
    error_measurement, measure, provider_metadata,
};

/// `AnalysisRun.status`, as the engine reads and writes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunStatus {
    /// `None` until the first pass (the CRD's empty string).
    pub phase: Option<AnalysisPhase>,
    pub message: String,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub metric_results: Vec<MetricResult>,
    pub run_summary: RunSummary,
    pub dry_run_summary: RunSummary,
}

impl RunStatus {
    pub fn is_completed(&self) -> bool {
        self.phase.is_some_and(AnalysisPhase::is_completed)
    }
}

/// A Kubernetes Event the pass wants recorded on the AnalysisRun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisEvent {
    /// `AnalysisRunFailed`, `MetricSuccessful`, ...
    pub reason: String,
    pub message: String,
    /// Warning for Error and Failed, Normal otherwise.
    pub warning: bool,
}

impl AnalysisEvent {
    fn completed(prefix: &str, text: String, phase: AnalysisPhase) -> Self {
        Self {
            reason: format!("{prefix}{phase}"),
            message: text,
            warning: matches!(phase, AnalysisPhase::Error | AnalysisPhase::Failed),
        }
    }
}

/// What the caller does after a pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PassOutcome {
    /// Something in the status changed (a measurement, a phase, the message, `startedAt`):
    /// write it.
    pub status_changed: bool,
    pub events: Vec<AnalysisEvent>,
    /// Run another pass at once: a metric just reached Failed, Error or Inconclusive, so the
    /// next pass terminates its siblings and ends the run (§2.1 step 10).
    pub rerun_now: bool,
    /// The earliest time a metric needs the next pass.
    pub next_wake_up: Option<DateTime<Utc>>,
}

/// What a pass does for one metric (§2.2, §2.1 step 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlannedTask {
    /// Take a new measurement.
    Measure,
    /// Look at the in-flight measurement (asynchronous providers: Job).
    Resume,
    /// The run is terminating: stop the in-flight measurement.
    Terminate,
}

/// The metrics that need work in this pass, by index, with what to do. Completed runs do
/// nothing. Pure.
pub fn plan_tasks(
    metrics: &[MetricDefinition],
    terminate: bool,
    status: &RunStatus,
    now: DateTime<Utc>,
) -> Vec<(usize, PlannedTask)> {
    if status.is_completed() {
        return Vec::new();
    }
    let terminating = is_terminating(terminate, metrics, &status.metric_results);
    metrics
        .iter()
        .enumerate()
        .filter_map(|(index, metric)| {
            let result = status.metric_results.iter().find(|r| r.name == metric.name);
            let task = match next_measurement(metric, result, status.started_at, now, terminating) {
                MeasurementSchedule::Measure => PlannedTask::Measure,
                MeasurementSchedule::Resume => PlannedTask::Resume,
                MeasurementSchedule::Terminate => PlannedTask::Terminate,
                MeasurementSchedule::MeasureAt(_)
                | MeasurementSchedule::ResumeAt(_)
                | MeasurementSchedule::Idle => return None,
            };
            Some((index, task))
        })
        .collect()
}

/// The indices of the metrics to measure anew now (the `Measure` tasks). Pure.
pub fn plan_measurements(
    metrics: &[MetricDefinition],
    terminate: bool,
    status: &RunStatus,
    now: DateTime<Utc>,
) -> Vec<usize> {
    plan_tasks(metrics, terminate, status, now)
        .into_iter()
        .filter(|(_, task)| *task == PlannedTask::Measure)
        .map(|(index, _)| index)
        .collect()
}

/// A terminated measurement that ended Successful or Inconclusive says so (§2.7).
pub fn terminated(mut measurement: Measurement) -> Measurement {
    if matches!(
        measurement.phase,
        AnalysisPhase::Successful | AnalysisPhase::Inconclusive
    ) {
        measurement.message = "Metric Terminated".to_string();
    }
    measurement
}

/// Folds the measurements taken in this pass (`(metric index, measurement)`) into `status` and
/// assesses the run. Pure.
pub fn complete_pass(
    metrics: &[MetricDefinition],
    terminate: bool,
    status: &mut RunStatus,
    taken: Vec<(usize, Measurement)>,
    secrets: &Secrets,
    now: DateTime<Utc>,
) -> PassOutcome {
    let mut outcome = PassOutcome::default();
    if status.is_completed() {
        return outcome;
    }
    outcome.status_changed = !taken.is_empty();
    for (index, measurement) in taken {
        let Some(metric) = metrics.get(index) else {
            continue;
        };
        let existing = status
            .metric_results
            .iter()
            .position(|r| r.name == metric.name);
        let position = existing.unwrap_or_else(|| {
            status.metric_results.push(MetricResult {
                name: metric.name.clone(),
                phase: AnalysisPhase::Running,
                dry_run: metric.dry_run,
                metadata: provider_metadata(metric, secrets),
                ..MetricResult::default()
            });
            status.metric_results.len() - 1
        });
        record_measurement(&mut status.metric_results[position], measurement, now);
    }

    let before: Vec<(String, AnalysisPhase)> = status
        .metric_results
        .iter()
        .map(|r| (r.name.clone(), r.phase))
        .collect();
    let run = assess_run(metrics, &status.metric_results, terminate);
    apply_assessment(metrics, &mut status.metric_results, &run);
    for result in &status.metric_results {
        let was = before
            .iter()
            .find(|(name, _)| *name == result.name)
            .map(|(_, phase)| *phase);
        if result.phase.is_completed() && was != Some(result.phase) {
            outcome.events.push(AnalysisEvent::completed(
                "Metric",
                format!(
                    "Metric '{}' Completed. Result: {}",
                    result.name, result.phase
                ),
                result.phase,
            ));
            if !result.dry_run
                && matches!(
                    result.phase,
                    AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive
                )
            {
                outcome.rerun_now = true;
            }
        }
    }

    if status.started_at.is_none() {
        status.started_at = Some(now);
        outcome.status_changed = true;
    }
    status.run_summary = run.run_summary;
    status.dry_run_summary = run.dry_run_summary;
    if status.phase != Some(run.phase) {
        status.phase = Some(run.phase);
        status.message.clone_from(&run.message);
        outcome.status_changed = true;
        if run.phase.is_completed() {
            status.completed_at.get_or_insert(now);
            outcome.events.push(AnalysisEvent::completed(
                "AnalysisRun",
                format!("Analysis Completed. Result: {}", run.phase),
                run.phase,
            ));
        }
    }
    for result in &mut status.metric_results {
        let retention = metrics
            .iter()
            .find(|m| m.name == result.name)
            .and_then(|m| m.measurement_retention);
        trim_measurements(result, retention);
    }

    if status.is_completed() {
        outcome.rerun_now = false;
    } else {
        let terminating = is_terminating(terminate, metrics, &status.metric_results);
        outcome.next_wake_up = next_wake_up(
            metrics,
            &status.metric_results,
            status.started_at,
            now,
            terminating,
        );
    }
    outcome
}

/// One pass without a cluster: Prometheus and Web metrics are measured; a Job metric becomes
/// an Error measurement (use [`run_pass_with`]). `now` is the pass's clock for scheduling and
/// counters; measurements carry their own start and finish times.
pub async fn run_pass(
    metrics: &[MetricDefinition],
    terminate: bool,
    status: &mut RunStatus,
    secrets: &Secrets,
    now: DateTime<Utc>,
) -> PassOutcome {
    run_pass_with(metrics, terminate, status, secrets, now, None).await
}

/// One pass: plan, run every task concurrently (new measurements, and for Job metrics resuming
/// or terminating the in-flight one), complete, and collect old Jobs. `jobs` reaches the
/// cluster for Job metrics; without it they are Error measurements.
pub async fn run_pass_with(
    metrics: &[MetricDefinition],
    terminate: bool,
    status: &mut RunStatus,
    secrets: &Secrets,
    now: DateTime<Utc>,
    jobs: Option<&JobContext>,
) -> PassOutcome {
    let tasks = plan_tasks(metrics, terminate, status, now);
    let snapshot: &RunStatus = status;
    let taken = futures::future::join_all(tasks.into_iter().map(|(index, task)| {
        let metric = &metrics[index];
        let result = snapshot
            .metric_results
            .iter()
            .find(|r| r.name == metric.name);
        let in_flight = result
            .and_then(|r| r.measurements.last())
            .cloned()
            .unwrap_or_default();
        async move {
            let measurement = match (&metric.provider, jobs, task) {
                (Provider::Job(config), Some(context), PlannedTask::Measure) => {
                    job::run(context, &metric.name, config, result, secrets).await
                }
                (Provider::Job(_), Some(context), PlannedTask::Resume) => {
                    job::resume(context, in_flight, secrets).await
                }
                (Provider::Job(_), Some(context), PlannedTask::Terminate) => {
                    terminated(job::terminate(context, in_flight, secrets).await)
                }
                (_, _, PlannedTask::Measure) => measure(metric, secrets).await,
                // Only Job measurements stay in flight; one left by anything else (a Job
                // metric measured without a cluster cannot be) is closed as an Error.
                (_, _, PlannedTask::Resume | PlannedTask::Terminate) => {
                    let mut closed = error_measurement(
                        Utc::now(),
                        "the in-flight measurement cannot be resumed without a cluster",
                        secrets,
                    );
                    closed.started_at = in_flight.started_at;
                    closed
                }
            };
            (index, measurement)
        }
    }))
    .await;
    let collect = jobs.is_some()
        && taken.iter().any(|(index, m)| {
            m.phase.is_completed() && matches!(metrics[*index].provider, Provider::Job(_))
        });
    let collected: Vec<(String, usize)> = if collect {
        taken
            .iter()
            .filter(|(index, _)| matches!(metrics[*index].provider, Provider::Job(_)))
            .map(|(index, _)| {
                let metric = &metrics[*index];
                (
                    metric.name.clone(),
                    metric
                        .measurement_retention
                        .unwrap_or(DEFAULT_MEASUREMENT_RETENTION),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let outcome = complete_pass(metrics, terminate, status, taken, secrets, now);
    if let Some(context) = jobs {
        for (metric, keep) in collected {
            job::garbage_collect(context, &metric, keep).await;
        }
    }
    outcome
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use AnalysisPhase::{Failed, Running, Successful};
    use std::time::Duration;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    fn measured(phase: AnalysisPhase, seconds: i64) -> Measurement {
        Measurement {
            phase,
            value: "[1]".into(),
            started_at: Some(at(seconds)),
            finished_at: Some(at(seconds)),
            ..Measurement::default()
        }
    }

    fn metric(name: &str, interval: Option<u64>, count: Option<i64>) -> MetricDefinition {
        MetricDefinition {
            name: name.into(),
            interval: interval.map(Duration::from_secs),
            count,
            ..MetricDefinition::default()
        }
    }

    #[test]
    fn timeline_a_three_successes() {
        let metrics = [metric("m", Some(60), Some(3))];
        let mut status = RunStatus::default();
        let mut now = 0;
        for _ in 0..3 {
            let due = plan_measurements(&metrics, false, &status, at(now));
            assert_eq!(due, [0], "at {now}");
            let taken = due
                .into_iter()
                .map(|i| (i, measured(Successful, now)))
                .collect();
            let outcome = complete_pass(
                &metrics,
                false,
                &mut status,
                taken,
                &Secrets::default(),
                at(now),
            );
            if let Some(wake) = outcome.next_wake_up {
                assert_eq!(wake, at(now + 60));
                now += 61;
            }
        }
        assert_eq!(status.phase, Some(Successful));
        assert_eq!(status.completed_at, Some(at(122)));
        assert_eq!(status.started_at, Some(at(0)));
        assert!(plan_measurements(&metrics, false, &status, at(1000)).is_empty());
    }

    #[test]
    fn failure_terminates_siblings_on_the_next_pass() {
        let metrics = [
            metric("fails", None, None),
            metric("background", Some(300), None),
        ];
        let mut status = RunStatus::default();
        let taken = vec![(0, measured(Failed, 0)), (1, measured(Successful, 0))];
        let first = complete_pass(
            &metrics,
            false,
            &mut status,
            taken,
            &Secrets::default(),
            at(0),
        );
        assert_eq!(
            status.phase,
            Some(Running),
            "terminating is decided from the phases before the pass"
        );
        assert!(first.rerun_now);
        assert_eq!(first.events[0].reason, "MetricFailed");
        assert!(first.events[0].warning);
        assert!(plan_measurements(&metrics, false, &status, at(1)).is_empty());
        let second = complete_pass(
            &metrics,
            false,
            &mut status,
            vec![],
            &Secrets::default(),
            at(1),
        );
        assert_eq!(status.phase, Some(Failed));
        assert_eq!(
            status.message,
            "Metric \"fails\" assessed Failed due to failed (1) > failureLimit (0)"
        );
        assert_eq!(status.metric_results[1].phase, Successful);
        let reasons: Vec<&str> = second.events.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["MetricSuccessful", "AnalysisRunFailed"]);
        assert_eq!(
            second.events[1].message,
            "Analysis Completed. Result: Failed"
        );
        assert!(!second.rerun_now);
    }

    #[test]
    fn initial_delay_skips_the_first_pass() {
        let delayed = MetricDefinition {
            initial_delay: Some(Duration::from_secs(30)),
            ..metric("d", Some(60), None)
        };
        let metrics = [delayed];
        let mut status = RunStatus::default();
        assert!(plan_measurements(&metrics, false, &status, at(0)).is_empty());
        let outcome = complete_pass(
            &metrics,
            false,
            &mut status,
            vec![],
            &Secrets::default(),
            at(0),
        );
        assert_eq!(
            (status.phase, status.started_at),
            (Some(Running), Some(at(0)))
        );
        assert_eq!(outcome.next_wake_up, Some(at(30)));
        assert_eq!(plan_measurements(&metrics, false, &status, at(30)), [0]);
        // Terminated while waiting: Successful, "Run Terminated".
        complete_pass(
            &metrics,
            true,
            &mut status,
            vec![],
            &Secrets::default(),
            at(10),
        );
        assert_eq!(
            (status.phase, status.message.as_str()),
            (Some(Successful), "Run Terminated")
        );
    }

    #[test]
    fn in_flight_job_measurements_are_resumed_or_terminated() {
        let job = MetricDefinition {
            provider: Provider::Job(job::JobMetric::default()),
            ..metric("smoke", None, None)
        };
        let metrics = [job, metric("rate", Some(60), None)];
        let in_flight = |resume_at: i64| Measurement {
            phase: AnalysisPhase::Running,
            started_at: Some(at(0)),
            resume_at: Some(at(resume_at)),
            ..Measurement::default()
        };
        let status = |resume_at: i64, rate: AnalysisPhase| RunStatus {
            phase: Some(Running),
            started_at: Some(at(0)),
            metric_results: vec![
                MetricResult {
                    name: "smoke".into(),
                    phase: Running,
                    measurements: vec![in_flight(resume_at)],
                    ..MetricResult::default()
                },
                MetricResult {
                    name: "rate".into(),
                    phase: rate,
                    measurements: vec![measured(Successful, 0)],
                    ..MetricResult::default()
                },
            ],
            ..RunStatus::default()
        };
        let cases = [
            // (resumeAt, rate phase, terminate, now, tasks)
            (5, Running, false, 1, vec![]),
            (5, Running, false, 5, vec![(0, PlannedTask::Resume)]),
            (
                5,
                Running,
                false,
                61,
                vec![(0, PlannedTask::Resume), (1, PlannedTask::Measure)],
            ),
            (5, Running, true, 1, vec![(0, PlannedTask::Terminate)]),
            (5, Failed, false, 1, vec![(0, PlannedTask::Terminate)]),
        ];
        for (resume_at, rate, terminate, now, want) in cases {
            let status = status(resume_at, rate);
            assert_eq!(
                plan_tasks(&metrics, terminate, &status, at(now)),
                want,
                "resumeAt {resume_at}, rate {rate}, terminate {terminate}, now {now}"
            );
        }
        assert_eq!(
            plan_measurements(&metrics, false, &status(5, Running), at(61)),
            [1]
        );
    }

    #[test]
    fn terminated_measurements_say_so() {
        for (phase, message) in [
            (Successful, "Metric Terminated"),
            (AnalysisPhase::Inconclusive, "Metric Terminated"),
            (AnalysisPhase::Error, "jobs.batch \"x\" is forbidden"),
        ] {
            let m = terminated(Measurement {
                phase,
                message: "jobs.batch \"x\" is forbidden".into(),
                ..Measurement::default()
            });
            assert_eq!(m.message, message, "{phase}");
        }
    }

    #[tokio::test]
    async fn without_a_cluster_a_job_metric_is_an_error_measurement() {
        let metrics = [MetricDefinition {
            provider: Provider::Job(job::JobMetric::default()),
            ..metric("smoke", None, None)
        }];
        let mut status = RunStatus::default();
        run_pass(
            &metrics,
            false,
            &mut status,
            &Secrets::default(),
            Utc::now(),
        )
        .await;
        let measurement = &status.metric_results[0].measurements[0];
        assert_eq!(measurement.phase, AnalysisPhase::Error);
        assert!(
            measurement.message.contains("needs a cluster"),
            "{measurement:?}"
        );
    }

    #[test]
    fn retention_trims_history() {
        let metrics = [MetricDefinition {
            measurement_retention: Some(2),
            ..metric("m", Some(1), None)
        }];
        let mut status = RunStatus::default();
        for i in 0..5 {
            complete_pass(
                &metrics,
                false,
                &mut status,
                vec![(0, measured(Successful, i * 2))],
                &Secrets::default(),
                at(i * 2),
            );
        }
        assert_eq!(status.metric_results[0].measurements.len(), 2);
        assert_eq!(status.metric_results[0].count, 5);
    }
}
