//! `rolltop demo`: the five field reports, live, with no cluster. This module only composes
//! parts that exist on their own: the sandbox API server with its simulated controllers and
//! traffic ([`crate::sandbox`]), the scenarios ([`crate::sandbox::scenario`]), an optional
//! Prometheus child process scraping the traffic exporter, and the cockpit
//! ([`crate::app::run`]) with its embedded controller switched on
//! ([`crate::controller::embedded`]), which reaches the sandbox like any cluster, through a
//! kubeconfig file; actions are audited to the demo's temporary directory.
//!
//! The *story* is a small driver that acts like an operator would with `kubectl` a few seconds
//! after start: it sets each scenario's new image, and in R5 plays the report's user (sends
//! requests straight to the canary, then promotes, so the analysis fails and the rollout
//! aborts; after the abort the bad version is "fixed"). Everything else (promote R1/R2/R3,
//! retry R5) is left to the human. Its timings shrink with `ROLLTOP_DEMO_FAST=1`, for tests.
//!
//! On `q` (or SIGINT/SIGTERM, which the cockpit turns into a clean exit) everything stops: the
//! story, the controller (Lease released), Prometheus (killed and waited for), the traffic
//! simulator, the sandbox, and the temporary directory is removed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::cli::args::ClusterArgs;
use crate::crd::Rollout;
use crate::model::RolloutSummary;
use crate::model::action::{Action, plan_action};
use crate::model::rollout_crd::RolloutExtras;
use crate::sandbox::scenario::{self, MetricsSource, Scenario};
use crate::sandbox::traffic::{DIRECT_RPS_ANNOTATION, ERROR_RATE_ANNOTATION};
use crate::sandbox::{Sandbox, SandboxConfig, Traffic, sim};

/// Set to `1` to shorten the story's waits (tests, impatient people).
pub const FAST_ENV: &str = "ROLLTOP_DEMO_FAST";
/// Set to `off` to run without Prometheus even when it is installed (web-provider templates).
pub const PROMETHEUS_ENV: &str = "ROLLTOP_DEMO_PROMETHEUS";
/// Requests per second the R5 story's "user" sends straight to the canary Service.
const R5_DIRECT_RPS: &str = "5";

/// How to run the demo.
pub struct DemoOptions {
    /// `all`, `r1`..`r5`, or a comma-separated list.
    pub scenario: String,
    pub theme: crate::ui::Theme,
    /// Shorter story timings ([`FAST_ENV`]).
    pub fast: bool,
    /// Start Prometheus when it is on PATH (false: web-provider templates).
    pub prometheus: bool,
}

impl DemoOptions {
    /// Reads [`FAST_ENV`] and [`PROMETHEUS_ENV`].
    pub fn from_env(scenario: String, theme: crate::ui::Theme) -> Self {
        Self {
            scenario,
            theme,
            fast: std::env::var(FAST_ENV).is_ok_and(|v| v == "1" || v == "true"),
            prometheus: std::env::var(PROMETHEUS_ENV).map_or(true, |v| v != "off"),
        }
    }
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Scenario(#[from] scenario::LoadScenarioError),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error(transparent)]
    Traffic(#[from] crate::sandbox::StartTrafficError),
    #[error("creating the demo's temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error("starting Prometheus ({binary}): {message}")]
    Prometheus { binary: String, message: String },
    #[error("connecting the cockpit to the sandbox: {0}")]
    Connect(#[from] crate::cluster::client::ConnectError),
    #[error(transparent)]
    Cockpit(#[from] crate::app::run::CockpitError),
}

/// Story timings.
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// After a scenario is Healthy, before its update.
    update_after: Duration,
    /// How long R5's user hits the canary before promoting it.
    r5_hits: Duration,
}

impl Pace {
    fn new(fast: bool) -> Self {
        if fast {
            Self {
                update_after: Duration::from_secs(1),
                r5_hits: Duration::from_secs(10),
            }
        } else {
            Self {
                update_after: Duration::from_secs(5),
                r5_hits: Duration::from_secs(30),
            }
        }
    }
}

/// Where tracing goes while the demo holds the terminal (see `rolltop demo --help`).
pub fn log_path() -> PathBuf {
    std::env::temp_dir().join("rolltop-demo.log")
}

/// A Prometheus child process; killed (and waited for) on [`PrometheusChild::stop`], killed on
/// drop otherwise.
struct PrometheusChild {
    child: tokio::process::Child,
    addr: SocketAddr,
}

impl PrometheusChild {
    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The first executable `prometheus` on PATH.
pub fn find_prometheus() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("prometheus"))
        .find(|candidate| candidate.is_file())
}

fn free_loopback_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// The scrape configuration: the traffic exporter, every 2 s, labels as exported.
pub fn prometheus_config(target: SocketAddr) -> String {
    format!(
        "global:\n  scrape_interval: 2s\n  evaluation_interval: 2s\n\
         scrape_configs:\n  - job_name: rolltop-sandbox-traffic\n    honor_labels: true\n    \
         static_configs:\n      - targets: ['{target}']\n"
    )
}

async fn start_prometheus(
    binary: &Path,
    dir: &Path,
    target: SocketAddr,
) -> Result<PrometheusChild, DemoError> {
    let fail = |message: String| DemoError::Prometheus {
        binary: binary.display().to_string(),
        message,
    };
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, prometheus_config(target)).map_err(|e| fail(e.to_string()))?;
    let data = dir.join("prometheus-data");
    let log = std::fs::File::create(dir.join("prometheus.log")).map_err(|e| fail(e.to_string()))?;
    let log_err = log.try_clone().map_err(|e| fail(e.to_string()))?;
    let port = free_loopback_port().map_err(|e| fail(e.to_string()))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let child = tokio::process::Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--log.level=warn")
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let mut prometheus = PrometheusChild { child, addr };
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = http
            .get(format!("http://{addr}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return Ok(prometheus);
        }
        if let Ok(Some(status)) = prometheus.child.try_wait() {
            return Err(fail(format!(
                "exited with {status} before it was ready; see its log in {}",
                dir.display()
            )));
        }
        if Instant::now() > deadline {
            prometheus.stop().await;
            return Err(fail("not ready within 20 s".to_owned()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the demo until the cockpit quits, then stops everything it started.
pub async fn run(options: DemoOptions) -> Result<(), DemoError> {
    let scenarios = scenario::select(&options.scenario)?;
    let dir = tempfile::Builder::new()
        .prefix("rolltop-demo-")
        .tempdir()
        .map_err(DemoError::TempDir)?;
    let sandbox = Sandbox::start(SandboxConfig::default()).await?;
    let client = sandbox.client().await?;
    let simulation = sim::spawn(client.clone(), sim::SimConfig::default());
    let traffic = Traffic::start(&sandbox, SocketAddr::from(([127, 0, 0, 1], 0))).await?;

    let binary = options.prometheus.then(find_prometheus).flatten();
    let prometheus = match &binary {
        Some(binary) => Some(start_prometheus(binary, dir.path(), traffic.metrics_addr).await?),
        None => None,
    };
    let outcome = run_started(
        &options,
        &scenarios,
        &sandbox,
        &client,
        &traffic,
        prometheus.as_ref().map(|p| p.addr),
        dir.path(),
    )
    .await;

    if let Some(prometheus) = prometheus {
        prometheus.stop().await;
    }
    drop(traffic);
    simulation.abort();
    sandbox.shutdown().await;
    drop(dir);
    outcome
}

/// Everything after the processes are up; returns when the cockpit quits, with the controller
/// and story stopped.
async fn run_started(
    options: &DemoOptions,
    scenarios: &[&'static Scenario],
    sandbox: &Sandbox,
    client: &Client,
    traffic: &Traffic,
    prometheus: Option<SocketAddr>,
    dir: &Path,
) -> Result<(), DemoError> {
    let source = match prometheus {
        Some(addr) => {
            scenario::register_loopback_service(
                client,
                scenario::PROMETHEUS_NAMESPACE,
                scenario::PROMETHEUS_SERVICE,
                scenario::PROMETHEUS_PORT,
                addr,
            )
            .await?;
            MetricsSource::Prometheus(scenario::proxy_url(
                &sandbox.url(),
                scenario::PROMETHEUS_NAMESPACE,
                scenario::PROMETHEUS_SERVICE,
                &scenario::PROMETHEUS_PORT.to_string(),
            ))
        }
        None => MetricsSource::Web(traffic.proxy_url(&sandbox.url())),
    };
    scenario::load(client, scenarios, &source).await?;

    let story = tokio::spawn(story(
        client.clone(),
        scenarios.to_vec(),
        Pace::new(options.fast),
        match &source {
            MetricsSource::Prometheus(url) => Some(url.clone()),
            MetricsSource::Web(_) => None,
        },
    ));

    let kubeconfig = dir.join("kubeconfig");
    let cockpit = async {
        std::fs::write(&kubeconfig, sandbox.kubeconfig_yaml()).map_err(DemoError::TempDir)?;
        let cluster_args = ClusterArgs {
            kubeconfig: Some(kubeconfig.clone()),
            all_namespaces: true,
            ..ClusterArgs::default()
        };
        let connection = crate::cluster::client::connect(&cluster_args).await?;
        let names: Vec<&str> = scenarios.iter().map(|s| s.name).collect();
        let metrics = match prometheus {
            Some(addr) => format!("Prometheus http://{addr}"),
            None => "no prometheus on PATH: R4/R5 use web templates; \
                     apt install prometheus for live sparklines"
                .to_owned(),
        };
        // The cockpit's embedded controller drives every namespace (`--controller on`), so the
        // header says `driver: this rolltop` and `q` releases its Lease on the way out.
        crate::app::run::run(crate::app::run::CockpitOptions {
            connection,
            cluster_args,
            theme: options.theme.clone(),
            readonly: false,
            start_notice: Some(format!(
                "demo {} · controller: on (in-process) · {metrics}",
                names.join(",")
            )),
            controller: (crate::controller::embedded::EmbeddedMode::On, String::new()),
            sender: crate::app::sending::Sender {
                user: "demo".to_owned(),
                audit_log: Some(dir.join("audit.log")),
            },
            settings: crate::app::settings::Settings::default(),
            started: std::time::Instant::now(),
            timings: None,
            prometheus: None,
        })
        .await?;
        Ok::<(), DemoError>(())
    }
    .await;

    story.abort();
    cockpit
}

/// The operator's moves, per scenario, concurrently.
async fn story(
    client: Client,
    scenarios: Vec<&'static Scenario>,
    pace: Pace,
    prometheus: Option<String>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for scenario in scenarios {
        let client = client.clone();
        let prometheus = prometheus.clone();
        tasks.spawn(async move {
            if let Err(error) = Box::pin(scenario_story(
                &client,
                scenario,
                pace,
                prometheus.as_deref(),
            ))
            .await
            {
                tracing::warn!(scenario = scenario.name, %error, "demo story stopped");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Why a story step failed (logged, never fatal: the human can always act by hand).
#[derive(Debug, thiserror::Error)]
enum StoryError {
    #[error("{0}")]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Send(#[from] crate::cluster::actions::ActionError),
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

async fn rollout_status(client: &Client, scenario: &Scenario) -> Result<Rollout, StoryError> {
    let api: Api<Rollout> = Api::namespaced(client.clone(), scenario.namespace);
    Ok(api.get(scenario.rollout).await?)
}

/// Polls the rollout until `done` holds.
async fn wait_rollout(
    client: &Client,
    scenario: &Scenario,
    what: &str,
    timeout: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> Result<(), StoryError> {
    let deadline = Instant::now() + timeout;
    loop {
        let rollout = rollout_status(client, scenario).await?;
        let value = serde_json::to_value(&rollout).unwrap_or_default();
        if done(&value) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(StoryError::Timeout(format!("{} {what}", scenario.name)));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn act(client: &Client, scenario: &Scenario, action: Action) -> Result<(), StoryError> {
    let rollout = rollout_status(client, scenario).await?;
    let summary = RolloutSummary::from_rollout(&rollout, RolloutExtras::default());
    let plan = plan_action(&summary, &action, chrono::Utc::now(), false)
        .map_err(|refused| StoryError::Refused(refused.to_string()))?;
    crate::cluster::actions::send(client, scenario.namespace, scenario.rollout, &plan).await?;
    tracing::info!(
        scenario = scenario.name,
        action = action.verb(),
        "demo story acted"
    );
    Ok(())
}

fn phase(rollout: &serde_json::Value) -> &str {
    rollout
        .pointer("/status/phase")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
}

async fn scenario_story(
    client: &Client,
    scenario: &'static Scenario,
    pace: Pace,
    prometheus: Option<&str>,
) -> Result<(), StoryError> {
    wait_rollout(
        client,
        scenario,
        "to be Healthy",
        Duration::from_secs(180),
        |r| phase(r) == "Healthy",
    )
    .await?;
    tokio::time::sleep(pace.update_after).await;
    if scenario.name == "r4"
        && let Some(url) = prometheus
    {
        // A background analysis starts with the update: let Prometheus hold R4's traffic
        // first, or the very first measurement would see an empty result.
        wait_for_series(url, R4_READY_QUERY, Duration::from_secs(90)).await;
    }
    let (container, image) = scenario.update;
    Box::pin(act(
        client,
        scenario,
        Action::SetImage {
            container: container.to_owned(),
            image: image.to_owned(),
        },
    ))
    .await?;
    if scenario.name != "r5" {
        return Ok(());
    }
    // R5: the report's user hits the canary (it answers 500), then promotes.
    wait_rollout(
        client,
        scenario,
        "to pause at its canary",
        Duration::from_secs(180),
        |r| phase(r) == "Paused",
    )
    .await?;
    set_direct_hits(client, scenario, Some(R5_DIRECT_RPS)).await?;
    tell(
        client,
        scenario,
        "DemoUserRequests",
        &format!(
            "demo: a user sends {R5_DIRECT_RPS} requests/s straight to Service {}-canary \
             (annotation {DIRECT_RPS_ANNOTATION}); v0.3.0 answers 500, then the demo promotes",
            scenario.rollout
        ),
    )
    .await;
    tokio::time::sleep(pace.r5_hits).await;
    Box::pin(act(client, scenario, Action::Promote)).await?;
    wait_rollout(
        client,
        scenario,
        "to abort",
        Duration::from_secs(600),
        |r| {
            r.pointer("/status/abort")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false)
        },
    )
    .await?;
    // The user stops, and the team fixes v0.3.0: a later retry passes once the 500s have
    // left the analysis's 5-minute window.
    set_direct_hits(client, scenario, None).await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            scenario.namespace,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {ERROR_RATE_ANNOTATION: null}}})),
        )
        .await?;
    tell(
        client,
        scenario,
        "DemoFixed",
        &format!(
            "demo: the user stopped and v0.3.0 no longer answers 500 (namespace annotation \
             {ERROR_RATE_ANNOTATION} removed); retry, then promote once the 500s have left \
             the analysis's 5m window"
        ),
    )
    .await;
    Ok(())
}

/// Records what the story did as an Event on the rollout, so the cockpit's detail view tells
/// it; a failure to record is only logged.
async fn tell(client: &Client, scenario: &Scenario, reason: &str, note: &str) {
    use kube::Resource as _;
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let Ok(rollout) = rollout_status(client, scenario).await else {
        return;
    };
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "rolltop-demo".to_owned(),
            instance: None,
        },
    );
    let event = Event {
        type_: EventType::Normal,
        reason: reason.to_owned(),
        note: Some(note.to_owned()),
        action: reason.to_owned(),
        secondary: None,
    };
    if let Err(error) = recorder.publish(&event, &rollout.object_ref(&())).await {
        tracing::debug!(%error, reason, "could not record a demo event");
    }
}

/// R4's ratio query, as the readiness check of the demo's Prometheus.
const R4_READY_QUERY: &str = "sum(irate(istio_requests_total{reporter=\"source\",destination_service=~\"nginx.default.svc.cluster.local\"}[5m]))";

async fn set_direct_hits(
    client: &Client,
    scenario: &Scenario,
    rps: Option<&str>,
) -> Result<(), StoryError> {
    let services: Api<Service> = Api::namespaced(client.clone(), scenario.namespace);
    let canary = format!("{}-canary", scenario.rollout);
    services
        .patch(
            &canary,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {DIRECT_RPS_ANNOTATION: rps}}})),
        )
        .await?;
    Ok(())
}

/// Waits (bounded) until `query` returns a non-empty vector from Prometheus at `url`.
async fn wait_for_series(url: &str, query: &str, timeout: Duration) {
    let Ok(http) = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
    else {
        return;
    };
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let Ok(address) =
            reqwest::Url::parse_with_params(&format!("{url}/api/v1/query"), [("query", query)])
        else {
            return;
        };
        let reply = http.get(address).send().await;
        if let Ok(reply) = reply
            && let Ok(body) = reply.json::<serde_json::Value>().await
            && body
                .pointer("/data/result")
                .and_then(serde_json::Value::as_array)
                .is_some_and(|r| !r.is_empty())
        {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tracing::warn!(query, "Prometheus had no data in time; updating anyway");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_config_scrapes_the_exporter() {
        let text = prometheus_config(SocketAddr::from(([127, 0, 0, 1], 9101)));
        assert!(text.contains("scrape_interval: 2s"));
        assert!(text.contains("targets: ['127.0.0.1:9101']"));
        assert!(text.contains("honor_labels: true"));
    }

    #[test]
    fn fast_pace_is_shorter() {
        let (fast, normal) = (Pace::new(true), Pace::new(false));
        assert!(fast.update_after < normal.update_after && fast.r5_hits < normal.r5_hits);
    }
}
