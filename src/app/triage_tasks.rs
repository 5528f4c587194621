//! The triage layer's I/O, run by `effects`: a task that follows one AnalysisRun (or the newest
//! run of a rollout) and refreshes the live Prometheus charts of its metrics on the bounded
//! `metrics::budget` schedule, with the owning rollout's step boundaries from its Events; the
//! detail view's chart task, which reads the rollout and its analysis templates and refreshes
//! their charts (canary and stable) on the same schedule; a task that lists the runs of the
//! scope for `:ar`; and the one-shot re-check behind `e`. Everything comes back as
//! `Msg::Triage`. Nothing here writes to the cluster: objects are read and watched, Prometheus
//! is queried, conditions are evaluated in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::controller::analysis::prometheus::{resolve_range, to_result};
use crate::controller::analysis::{AnalysisPhase, Provider, evaluate_conditions};
use crate::crd::analysis::AnalysisTemplateSpec;
use crate::crd::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Rollout};
use crate::metrics::PrometheusClient;
use crate::metrics::budget::{AnswerCache, RefreshPolicy, RefreshSchedule};
use crate::model::metric_chart::{
    RolloutCharts, Side, StepMark, TemplateKey, describe_template, referenced_templates,
    rollout_charts, step_marks,
};
use crate::model::triage::{
    ChartView, RecheckView, RunRow, SeriesView, TriageRun, align_points, job_pod_line,
    newest_run_of, series_labels, sort_runs,
};
use crate::model::{EventView, ResourceKey};

use super::msg::Msg;
use super::triage::{RecheckRequest, TriageEvent, TriageTarget};

/// How far back a chart looks.
pub const CHART_WINDOW: Duration = Duration::from_secs(30 * 60);
/// Points per chart over the window (one every 30 s).
pub const CHART_POINTS: u32 = 60;
/// Job pods are listed every this many chart polls (seconds).
const JOB_POD_POLL_TICKS: u64 = 5;
/// How often the follow task asks the schedule whether a chart is due.
const CHART_POLL: Duration = Duration::from_secs(1);
/// The rollout's Events (step boundaries) are listed every this many chart polls (seconds).
const STEP_MARK_POLL_TICKS: u64 = 15;
/// The detail view re-reads the rollout and its templates every this many polls (seconds).
const TEMPLATE_REREAD_TICKS: u64 = 30;

/// What the chart loops of successive triage views share, so closing and reopening a view
/// neither refetches nor escapes the query budget: the refresh schedule and the last answers,
/// keyed by where the query goes and the query itself.
pub struct ChartMemory {
    schedule: RefreshSchedule<String>,
    answers: AnswerCache<String, ChartView>,
    epoch: Instant,
}

impl Default for ChartMemory {
    fn default() -> Self {
        let policy = RefreshPolicy::default();
        Self {
            schedule: RefreshSchedule::new(policy),
            answers: AnswerCache::new(policy.chart_refresh),
            epoch: Instant::now(),
        }
    }
}

type SharedCharts = Arc<Mutex<ChartMemory>>;

/// The running triage tasks of one cockpit.
pub struct TriageTasks {
    charts: SharedCharts,
    client: kube::Client,
    prometheus_override: Option<String>,
    messages: UnboundedSender<Msg>,
    follow: Option<JoinHandle<()>>,
    runs: Option<JoinHandle<()>>,
    detail: Option<JoinHandle<()>>,
}

impl TriageTasks {
    pub fn new(client: kube::Client, messages: UnboundedSender<Msg>) -> Self {
        Self {
            charts: SharedCharts::default(),
            client,
            prometheus_override: None,
            messages,
            follow: None,
            runs: None,
            detail: None,
        }
    }

    /// `--prometheus URL`: every chart and re-check goes there.
    pub fn set_prometheus(&mut self, url: Option<String>) {
        self.prometheus_override = url;
    }

    /// After a context switch: new tasks use the new client.
    pub fn set_client(&mut self, client: kube::Client) {
        self.stop_follow();
        self.stop_runs();
        self.stop_detail_charts();
        self.client = client;
    }

    fn prometheus(&self) -> Result<PrometheusClient, String> {
        PrometheusClient::new(Some(self.client.clone()), self.prometheus_override.clone())
            .map_err(|e| e.to_string())
    }

    pub fn follow(&mut self, target: TriageTarget) {
        self.stop_follow();
        let client = self.client.clone();
        let prometheus = self.prometheus();
        let messages = self.messages.clone();
        let charts = Arc::clone(&self.charts);
        self.follow = Some(tokio::spawn(follow(
            client, prometheus, charts, target, messages,
        )));
    }

    pub fn stop_follow(&mut self) {
        if let Some(task) = self.follow.take() {
            task.abort();
        }
    }

    pub fn list_runs(&mut self, namespace: Option<String>) {
        self.stop_runs();
        let client = self.client.clone();
        let messages = self.messages.clone();
        self.runs = Some(tokio::spawn(list_runs(client, namespace, messages)));
    }

    /// Charts the Prometheus metrics of `key`'s analysis templates (the detail view's panel).
    pub fn watch_detail_charts(&mut self, key: ResourceKey) {
        self.stop_detail_charts();
        let client = self.client.clone();
        let prometheus = self.prometheus();
        let messages = self.messages.clone();
        let charts = Arc::clone(&self.charts);
        self.detail = Some(tokio::spawn(detail_charts(
            client, prometheus, charts, key, messages,
        )));
    }

    pub fn stop_detail_charts(&mut self) {
        if let Some(task) = self.detail.take() {
            task.abort();
        }
    }

    pub fn stop_runs(&mut self) {
        if let Some(task) = self.runs.take() {
            task.abort();
        }
    }

    pub fn recheck(&self, request: RecheckRequest) {
        let prometheus = self.prometheus();
        let messages = self.messages.clone();
        tokio::spawn(async move {
            let view = recheck(prometheus, request).await;
            let _ = messages.send(Msg::Triage(TriageEvent::Recheck(view)));
        });
    }
}

impl Drop for TriageTasks {
    fn drop(&mut self) {
        self.stop_follow();
        self.stop_runs();
        self.stop_detail_charts();
    }
}

fn send(messages: &UnboundedSender<Msg>, event: TriageEvent) -> bool {
    messages.send(Msg::Triage(event)).is_ok()
}

/// The run the target names among the watched runs.
fn pick(target: &TriageTarget, store: &reflector::Store<AnalysisRun>) -> Result<TriageRun, String> {
    match target {
        TriageTarget::NewestOf(rollout) => {
            let runs: Vec<AnalysisRun> = store.state().iter().map(|r| (**r).clone()).collect();
            newest_run_of(&runs, &rollout.name)
                .map(TriageRun::from_run)
                .ok_or_else(|| {
                    format!("rollout {rollout} has no AnalysisRun (none was started yet)")
                })
        }
        TriageTarget::Run(key) => store
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
            .map(|run| TriageRun::from_run(&run))
            .ok_or_else(|| format!("AnalysisRun {key} does not exist (deleted?)")),
    }
}

async fn follow(
    client: kube::Client,
    prometheus: Result<PrometheusClient, String>,
    charts: SharedCharts,
    target: TriageTarget,
    messages: UnboundedSender<Msg>,
) {
    let namespace = match &target {
        TriageTarget::NewestOf(key) | TriageTarget::Run(key) => key.namespace.clone(),
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let api: Api<AnalysisRun> = Api::namespaced(client, &namespace);
    let (store, writer) = reflector::store();
    let mut ticks: u64 = 0;
    let mut stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .boxed();
    let mut poll = tokio::time::interval(CHART_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Charts already on this view's screen (a cached answer is sent once).
    let mut shown: Vec<String> = Vec::new();
    let mut synced = false;
    let mut current: Option<TriageRun> = None;
    loop {
        tokio::select! {
            event = stream.next() => {
                let Some(event) = event else { return };
                match event {
                    Ok(watcher::Event::InitDone) => synced = true,
                    Ok(_) => {}
                    Err(error) => {
                        if current.is_none() && !send(&messages, TriageEvent::NoRun(format!(
                            "watching AnalysisRuns in {namespace}: {error}"
                        ))) {
                            return;
                        }
                        continue;
                    }
                }
                if !synced {
                    continue;
                }
                let ok = match pick(&target, &store) {
                    Ok(run) if current.as_ref() == Some(&run) => true,
                    Ok(run) => {
                        current = Some(run.clone());
                        send(&messages, TriageEvent::Run(Box::new(run)))
                    }
                    Err(reason) => {
                        current = None;
                        send(&messages, TriageEvent::NoRun(reason))
                    }
                };
                if !ok {
                    return;
                }
            }
            _ = poll.tick() => {
                let Some(run) = &current else { continue };
                // Job metrics: their Job's pods, every few seconds.
                if ticks.is_multiple_of(JOB_POD_POLL_TICKS) {
                    for job in run.metrics.iter().filter_map(|m| m.job.clone()) {
                        let lines = job_pods(&pods, &job).await;
                        if !send(&messages, TriageEvent::JobPods { job, pods: lines }) {
                            return;
                        }
                    }
                }
                // The owning rollout's step boundaries, for the live chart's time axis.
                if ticks.is_multiple_of(STEP_MARK_POLL_TICKS)
                    && let Some(rollout) = &run.rollout
                {
                    let marks = rollout_step_marks(&events, rollout).await;
                    if !send(&messages, TriageEvent::StepMarks(marks)) {
                        return;
                    }
                }
                ticks += 1;
                let items: Vec<ChartItem<()>> = run
                    .metrics
                    .iter()
                    .filter(|m| m.is_prometheus())
                    .filter_map(|m| {
                        Some(ChartItem {
                            tag: (),
                            metric: m.name.clone(),
                            address: m.address.clone(),
                            query: m.query.clone()?,
                        })
                    })
                    .collect();
                let Some(answers) =
                    refresh_charts(&charts, &mut shown, prometheus.as_ref(), &items).await
                else {
                    return;
                };
                for ((), view) in answers {
                    if !send(&messages, TriageEvent::Chart(view)) {
                        return;
                    }
                }
            }
        }
    }
}

/// One query a chart loop keeps fresh: its tag for the screen (`()` in triage, the chart id and
/// side in the detail view), the metric it charts, where it goes and the query.
struct ChartItem<T> {
    tag: T,
    metric: String,
    address: Option<String>,
    query: String,
}

/// The cache and budget key of a query: where it goes and the query itself, so the same query
/// in triage and in the detail view is one query.
fn chart_key(address: Option<&str>, query: &str) -> String {
    format!("{}\n{query}", address.unwrap_or_default())
}

/// The answers to put on screen now: cached answers this screen has not shown yet, and a fresh
/// answer for every query the shared schedule allows (the global per-minute budget holds across
/// the triage view and the detail view). `None` when the shared memory is unusable.
async fn refresh_charts<T: Clone>(
    charts: &SharedCharts,
    shown: &mut Vec<String>,
    prometheus: Result<&PrometheusClient, &String>,
    items: &[ChartItem<T>],
) -> Option<Vec<(T, ChartView)>> {
    let keys: Vec<String> = items
        .iter()
        .map(|i| chart_key(i.address.as_deref(), &i.query))
        .collect();
    let mut answers: Vec<(T, ChartView)> = Vec::new();
    let (due, now) = {
        let Ok(mut memory) = charts.lock() else {
            return None;
        };
        let now = memory.epoch.elapsed();
        let due = memory.schedule.due(&keys, now);
        for (item, key) in items.iter().zip(&keys) {
            if due.contains(key) || shown.contains(key) {
                continue;
            }
            if let Some(view) = memory.answers.fresh(key, now) {
                let mut view = view.clone();
                view.metric.clone_from(&item.metric);
                answers.push((item.tag.clone(), view));
                shown.push(key.clone());
            }
        }
        (due, now)
    };
    // A query asked by two charts is sent once.
    let mut sent: Vec<&String> = Vec::new();
    let fetches = items
        .iter()
        .zip(&keys)
        .filter(|(_, k)| due.contains(k))
        .filter(|(_, k)| {
            if sent.contains(k) {
                false
            } else {
                sent.push(k);
                true
            }
        });
    let fetches = fetches.map(|(item, key)| async move {
        (
            key.clone(),
            chart(
                prometheus,
                item.metric.clone(),
                item.address.clone(),
                item.query.clone(),
            )
            .await,
        )
    });
    for (key, view) in futures::future::join_all(fetches).await {
        if let Ok(mut memory) = charts.lock() {
            memory.answers.store(key.clone(), now, view.clone());
        }
        for (item, _) in items.iter().zip(&keys).filter(|(_, k)| **k == key) {
            let mut view = view.clone();
            view.metric.clone_from(&item.metric);
            answers.push((item.tag.clone(), view));
        }
        if !shown.contains(&key) {
            shown.push(key);
        }
    }
    Some(answers)
}

/// The step boundaries of rollout `name` from its Events (`RolloutUpdated`,
/// `RolloutStepCompleted`); a failed list marks nothing (the chart is still drawn).
async fn rollout_step_marks(events: &Api<Event>, name: &str) -> Vec<StepMark> {
    let Ok(list) = events.list(&kube::api::ListParams::default()).await else {
        return Vec::new();
    };
    let views: Vec<EventView> = list
        .items
        .iter()
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some("Rollout")
                && e.involved_object.name.as_deref() == Some(name)
        })
        .map(EventView::from_event)
        .collect();
    step_marks(&views, None)
}

/// Reads the rollout and every template it references; a template that cannot be read is a
/// reason in words (not found, no permission), never a silent gap.
pub async fn read_rollout_charts(
    client: &kube::Client,
    key: &ResourceKey,
) -> Result<RolloutCharts, String> {
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), &key.namespace);
    let rollout = rollouts
        .get(&key.name)
        .await
        .map_err(|e| format!("reading rollout {key}: {}", read_error(&e)))?;
    let mut templates: BTreeMap<TemplateKey, Result<AnalysisTemplateSpec, String>> =
        BTreeMap::new();
    for template in referenced_templates(&rollout) {
        let answer = if template.0 {
            Api::<ClusterAnalysisTemplate>::all(client.clone())
                .get(&template.1)
                .await
                .map(|t| t.spec.0)
        } else {
            Api::<AnalysisTemplate>::namespaced(client.clone(), &key.namespace)
                .get(&template.1)
                .await
                .map(|t| t.spec)
        };
        let answer = answer.map_err(|e| {
            let scope = if template.0 {
                String::new()
            } else {
                format!(" in {}", key.namespace)
            };
            format!(
                "{}{scope}: {}",
                describe_template(&template),
                read_error(&e)
            )
        });
        templates.insert(template, answer);
    }
    Ok(rollout_charts(&rollout, &templates))
}

/// A failed read in words: not found and forbidden are said plainly.
fn read_error(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if status.code == 404 => "not found".to_owned(),
        kube::Error::Api(status) if status.code == 403 => {
            format!("no permission to read it (RBAC): {}", status.message)
        }
        other => other.to_string(),
    }
}

/// The detail view's charts: the rollout's analysis templates, re-read every
/// `TEMPLATE_REREAD_TICKS` seconds, and each chart's queries (one per side when split) on the
/// shared schedule, so the global per-minute budget covers triage and detail charts together.
async fn detail_charts(
    client: kube::Client,
    prometheus: Result<PrometheusClient, String>,
    charts: SharedCharts,
    key: ResourceKey,
    messages: UnboundedSender<Msg>,
) {
    let mut poll = tokio::time::interval(CHART_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut ticks: u64 = 0;
    let mut shown: Vec<String> = Vec::new();
    let mut items: Vec<ChartItem<(String, Option<Side>)>> = Vec::new();
    loop {
        poll.tick().await;
        if ticks.is_multiple_of(TEMPLATE_REREAD_TICKS) {
            let read = read_rollout_charts(&client, &key).await;
            items = read
                .as_ref()
                .map(|c| {
                    c.charts
                        .iter()
                        .flat_map(|chart| {
                            chart.queries.iter().map(|q| ChartItem {
                                tag: (chart.id.clone(), q.side),
                                metric: chart.metric.clone(),
                                address: chart.address.clone(),
                                query: q.query.clone(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let event = TriageEvent::DetailSpecs {
                rollout: key.clone(),
                charts: read,
            };
            if !send(&messages, event) {
                return;
            }
        }
        ticks += 1;
        let Some(answers) = refresh_charts(&charts, &mut shown, prometheus.as_ref(), &items).await
        else {
            return;
        };
        for ((id, side), view) in answers {
            let event = TriageEvent::DetailChart {
                rollout: key.clone(),
                id,
                side,
                view,
            };
            if !send(&messages, event) {
                return;
            }
        }
    }
}

/// The status lines of the pods of Job `job` (label `job-name`); a failed list says why.
async fn job_pods(pods: &Api<Pod>, job: &str) -> Vec<String> {
    let params = kube::api::ListParams::default().labels(&format!("job-name={job}"));
    match pods.list(&params).await {
        Ok(list) => list.items.iter().map(job_pod_line).collect(),
        Err(error) => vec![format!("listing pods: {error}")],
    }
}

/// One chart: the query over the last `CHART_WINDOW`.
async fn chart(
    prometheus: Result<&PrometheusClient, &String>,
    metric: String,
    address: Option<String>,
    query: String,
) -> ChartView {
    let now = Utc::now();
    let start = now - chrono::TimeDelta::from_std(CHART_WINDOW).unwrap_or_default();
    let step = CHART_WINDOW / CHART_POINTS;
    let (route, series) = match prometheus {
        Err(error) => (String::new(), Err(error.clone())),
        Ok(client) => match client.route_for(address.as_deref()) {
            Err(error) => (String::new(), Err(error.to_string())),
            Ok(route) => {
                let answer = client.range(&route, &query, start, now, step).await;
                (
                    route.describe(),
                    answer
                        .map(|series| {
                            let labels: Vec<_> = series.iter().map(|s| s.labels.clone()).collect();
                            series_labels(&labels)
                                .into_iter()
                                .zip(&series)
                                .map(|(label, s)| SeriesView {
                                    label,
                                    // One time grid for every series (start to now, inclusive).
                                    values: align_points(
                                        &s.points,
                                        start,
                                        step,
                                        CHART_POINTS as usize + 1,
                                    ),
                                })
                                .collect()
                        })
                        .map_err(|e| e.to_string()),
                )
            }
        },
    };
    ChartView {
        metric,
        route,
        window: CHART_WINDOW,
        fetched_at: now,
        series,
    }
}

async fn list_runs(
    client: kube::Client,
    namespace: Option<String>,
    messages: UnboundedSender<Msg>,
) {
    let api: Api<AnalysisRun> = match &namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let (store, writer) = reflector::store();
    let mut stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .boxed();
    let mut synced = false;
    while let Some(event) = stream.next().await {
        let ok = match event {
            Err(error) => send(
                &messages,
                TriageEvent::RunsFailed(format!("watching AnalysisRuns: {error}")),
            ),
            Ok(event) => {
                synced |= matches!(event, watcher::Event::InitDone);
                if synced {
                    let mut rows: Vec<RunRow> = store
                        .state()
                        .iter()
                        .map(|run| RunRow::from_triage(&TriageRun::from_run(run)))
                        .collect();
                    sort_runs(&mut rows);
                    send(&messages, TriageEvent::Runs(rows))
                } else {
                    true
                }
            }
        };
        if !ok {
            return;
        }
    }
}

/// `e`: one query now and the metric's conditions, as the engine would measure it.
async fn recheck(
    prometheus: Result<PrometheusClient, String>,
    request: RecheckRequest,
) -> RecheckView {
    let at = Utc::now();
    let metric = request.definition.name.clone();
    let outcome = async {
        let client = prometheus?;
        let Provider::Prometheus(config) = &request.definition.provider else {
            return Err("only Prometheus metrics can be re-checked".to_owned());
        };
        let route = client
            .route_for(Some(config.address.as_str()).filter(|a| !a.is_empty()))
            .map_err(|e| e.to_string())?;
        let data = match &config.range_query {
            None => client
                .instant(&route, &config.query, at)
                .await
                .map_err(|e| e.to_string())?,
            Some(range) => {
                let (start, end, step) = resolve_range(range, at)?;
                crate::controller::analysis::prometheus::QueryData::Matrix(
                    client
                        .range(&route, &config.query, start, end, step)
                        .await
                        .map_err(|e| e.to_string())?,
                )
            }
        };
        let (result, value) = to_result(&data).map_err(|e| e.to_string())?;
        let phase: AnalysisPhase = evaluate_conditions(
            &request.definition.success_condition,
            &request.definition.failure_condition,
            &result,
        )
        .map_err(|e| e.to_string())?;
        Ok((phase, value))
    }
    .await;
    RecheckView {
        metric,
        at,
        outcome,
    }
}
