//! The triage layer's I/O, run by `effects`: a task that follows one AnalysisRun (or the newest
//! run of a rollout) and refreshes the live Prometheus charts of its metrics on the bounded
//! `metrics::budget` schedule; a task that lists the runs of the scope for `:ar`; and the
//! one-shot re-check behind `e`. Everything comes back as `Msg::Triage`. Nothing here writes
//! to the cluster: runs are watched, Prometheus is queried, conditions are evaluated in memory.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::controller::analysis::prometheus::{resolve_range, to_result};
use crate::controller::analysis::{AnalysisPhase, Provider, evaluate_conditions};
use crate::crd::AnalysisRun;
use crate::metrics::PrometheusClient;
use crate::metrics::budget::{AnswerCache, RefreshPolicy, RefreshSchedule};
use crate::model::triage::{
    ChartView, RecheckView, RunRow, SeriesView, TriageRun, ValuePoint, job_pod_line, newest_run_of,
    series_labels, sort_runs,
};

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
                ticks += 1;
                let charted: Vec<(String, Option<String>, String)> = run
                    .metrics
                    .iter()
                    .filter(|m| m.is_prometheus())
                    .filter_map(|m| Some((m.name.clone(), m.address.clone(), m.query.clone()?)))
                    .collect();
                let key = |address: &Option<String>, query: &str| {
                    format!("{}\n{query}", address.as_deref().unwrap_or_default())
                };
                let keys: Vec<String> = charted.iter().map(|(_, a, q)| key(a, q)).collect();
                let (due, cached, now) = {
                    let Ok(mut memory) = charts.lock() else { return };
                    let now = memory.epoch.elapsed();
                    let due = memory.schedule.due(&keys, now);
                    let cached: Vec<ChartView> = charted
                        .iter()
                        .zip(&keys)
                        .filter(|(_, k)| !due.contains(k) && !shown.contains(k))
                        .filter_map(|((name, _, _), k)| {
                            let mut view = memory.answers.fresh(k, now)?.clone();
                            view.metric.clone_from(name);
                            Some(view)
                        })
                        .collect();
                    (due, cached, now)
                };
                for view in cached {
                    if let Some(k) = charted.iter().zip(&keys).find(|((n, _, _), _)| *n == view.metric).map(|(_, k)| k.clone()) {
                        shown.push(k);
                    }
                    if !send(&messages, TriageEvent::Chart(view)) {
                        return;
                    }
                }
                let fetches = charted
                    .into_iter()
                    .zip(keys)
                    .filter(|(_, k)| due.contains(k))
                    .map(|((name, address, query), k)| {
                        let client = prometheus.as_ref();
                        async move { (k, chart(client, name, address, query).await) }
                    });
                for (k, view) in futures::future::join_all(fetches).await {
                    if let Ok(mut memory) = charts.lock() {
                        memory.answers.store(k.clone(), now, view.clone());
                    }
                    if !shown.contains(&k) {
                        shown.push(k);
                    }
                    if !send(&messages, TriageEvent::Chart(view)) {
                        return;
                    }
                }
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
                                    values: s
                                        .points
                                        .iter()
                                        .map(|(_, v)| ValuePoint::from_f64(*v))
                                        .collect(),
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
