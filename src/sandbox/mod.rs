//! A Kubernetes-API-compatible HTTP server on loopback, with simulated kubelet, ReplicaSet and
//! Job controllers. It never runs the rollout controller itself.
//!
//! This module is the server's public face: [`Sandbox::start`] serves the API (built-in kinds
//! and any CRD) on a loopback address, in memory or persisted with `--data-dir`; [`run`] is the
//! `rolltop sandbox` command. Storage, patch rules, discovery, tables, authorization and the
//! HTTP handler live in the submodules. With `--scenario`, [`run`] also loads the field-report
//! scenarios ([`scenario`]) and runs the traffic simulator ([`traffic`]) with its exporter
//! ([`metrics_export`]); [`Traffic::start`] does the latter for `rolltop demo` too.

pub mod authz;
pub mod discovery;
pub mod disruption;
pub mod event;
pub mod metrics_export;
pub mod patch;
pub mod path;
pub mod persist;
pub mod protobuf;
pub mod registry;
pub mod scenario;
pub mod selector;
pub mod server;
pub mod sim;
pub mod status;
pub mod store;
pub mod table;
pub mod traffic;
pub mod write;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::watch;

pub use authz::{DenyRule, ParseDenyRuleError};

use persist::{PersistError, Persistence};
use server::AppState;
use store::Store;

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Keep objects across restarts in a redb database in this directory.
    pub data_dir: Option<PathBuf>,
    /// Requests these rules match get 403 Forbidden.
    pub deny: Vec<DenyRule>,
    /// How many changes watches can resume from; older resourceVersions get 410 Gone.
    pub watch_history: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            deny: Vec::new(),
            watch_history: store::HISTORY_LIMIT,
        }
    }
}

/// Why the sandbox could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("opening the sandbox store: {0}")]
    Store(#[from] PersistError),
    #[error("building the HTTP client for service proxies: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("building a kube client for the sandbox: {0}")]
    Client(String),
}

/// A running sandbox server.
pub struct Sandbox {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

impl Sandbox {
    /// Opens the store and starts serving; returns once the socket is bound.
    pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        // reqwest (service proxy) and kube clients need the process-wide rustls provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Opening (and, after a restart, loading) the database is blocking file I/O.
        let data_dir = config.data_dir.clone();
        let history = config.watch_history;
        let store = tokio::task::spawn_blocking(move || {
            let db = data_dir.as_deref().map(Persistence::open).transpose()?;
            Store::open(db, history)
        })
        .await
        .map_err(|e| SandboxError::Client(format!("opening the store panicked: {e}")))??;
        let listener = bind(config.listen).map_err(|source| SandboxError::Bind {
            addr: config.listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
            addr: config.listen,
            source,
        })?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        let state = Arc::new(AppState {
            store,
            deny: config.deny,
            server_address: addr.to_string(),
            shutdown: shutdown_rx.clone(),
            http,
            requests: server::RequestCounter::default(),
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(Arc::clone(&state));
        let mut stop = shutdown_rx;
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "sandbox server stopped");
            }
        });
        tracing::info!(%addr, "sandbox serving");
        Ok(Sandbox {
            addr,
            state,
            shutdown,
            server,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests served so far, in total.
    pub fn request_count(&self) -> u64 {
        self.state.requests.snapshot().values().sum()
    }

    /// Requests served so far, by `User-Agent` (empty string when the header is absent), so a
    /// benchmark can tell one client's requests from another's.
    pub fn request_counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.state.requests.snapshot()
    }

    /// A kubeconfig with one context, `sandbox`, whose namespace is `default`.
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig_for(&self.url())
    }

    /// A kube client pointed at this sandbox (namespace `default`).
    pub async fn client(&self) -> Result<kube::Client, SandboxError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&self.kubeconfig_yaml())
            .map_err(|e| SandboxError::Client(e.to_string()))?;
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .map_err(|e| SandboxError::Client(e.to_string()))?;
        kube::Client::try_from(config).map_err(|e| SandboxError::Client(e.to_string()))
    }

    /// Stops serving: open watches end, connections drain, and the store is closed (each
    /// write was already committed, so nothing is lost).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        self.state.store.close();
    }
}

/// Binds with SO_REUSEADDR so that a restarted sandbox can take the same port at once.
fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// The kubeconfig text for a sandbox URL.
pub fn kubeconfig_for(url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: sandbox
  cluster:
    server: {url}
contexts:
- name: sandbox
  context:
    cluster: sandbox
    user: sandbox
    namespace: default
current-context: sandbox
users:
- name: sandbox
  user: {{}}
"
    )
}

/// `rolltop sandbox`: start, write the kubeconfig, print `ready <url>`, serve until SIGINT or
/// SIGTERM.
pub async fn run(args: &crate::cli::args::SandboxArgs) -> anyhow::Result<()> {
    let scenarios = scenario::select(&args.scenario)?;
    let metrics_listen: Option<SocketAddr> = args
        .metrics_listen
        .as_deref()
        .map(|addr| {
            addr.parse().with_context(|| {
                format!("--metrics-listen {addr:?} is not an address like 127.0.0.1:9101")
            })
        })
        .transpose()?;
    let deny = args
        .deny
        .iter()
        .map(|rule| rule.parse::<DenyRule>())
        .collect::<Result<Vec<_>, _>>()?;
    let listen: SocketAddr = args.listen.parse().with_context(|| {
        format!(
            "--listen {:?} is not an address like 127.0.0.1:8080",
            args.listen
        )
    })?;
    let sandbox = Sandbox::start(SandboxConfig {
        listen,
        data_dir: args.data_dir.clone(),
        deny,
        ..SandboxConfig::default()
    })
    .await?;
    let ready_delay = crate::crd::parse_go_duration(&args.ready_delay)
        .with_context(|| format!("--ready-delay {:?} is not a duration", args.ready_delay))?;
    // The simulated kubelet, ReplicaSet, Deployment and Job controllers talk to the server
    // over HTTP like any other client; they stop when `_simulation` drops.
    let _simulation = sim::spawn(
        sandbox.client().await?,
        sim::SimConfig {
            ready_delay,
            ..sim::SimConfig::default()
        },
    );
    // Traffic runs whenever there is something to route or someone asked for its metrics.
    let traffic = if scenarios.is_empty() && metrics_listen.is_none() {
        None
    } else {
        let listen = metrics_listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        Some(Traffic::start(&sandbox, listen).await?)
    };
    if let Some(traffic) = &traffic {
        // No Prometheus in the headless sandbox: R4 and R5 use their web-provider templates.
        let source = scenario::MetricsSource::Web(traffic.proxy_url(&sandbox.url()));
        scenario::load(&sandbox.client().await?, &scenarios, &source).await?;
        tracing::info!(metrics = %traffic.metrics_addr, "traffic simulator running");
    }
    std::fs::write(&args.kubeconfig_out, sandbox.kubeconfig_yaml())
        .with_context(|| format!("writing {}", args.kubeconfig_out.display()))?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "ready {}", sandbox.url())?;
        stdout.flush()?;
    }
    wait_for_signal().await?;
    drop(traffic);
    sandbox.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// The traffic simulator and its exporter, published in the sandbox as Service
/// `rolltop-system/rolltop-traffic`; both stop when this is dropped.
pub struct Traffic {
    /// The counters the simulator writes.
    pub stats: traffic::SharedStats,
    /// Where `/metrics` and `/traffic/...` are served.
    pub metrics_addr: SocketAddr,
    simulator: tokio::task::JoinHandle<()>,
    exporter: tokio::task::JoinHandle<()>,
}

/// Why the traffic simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartTrafficError {
    #[error(transparent)]
    Serve(#[from] metrics_export::ServeMetricsError),
    #[error("publishing the traffic exporter as a Service: {0}")]
    Register(#[from] scenario::LoadScenarioError),
    #[error(transparent)]
    Client(#[from] SandboxError),
}

impl Traffic {
    /// Starts the simulator against `sandbox` and serves its numbers on `listen`.
    pub async fn start(
        sandbox: &Sandbox,
        listen: SocketAddr,
    ) -> Result<Traffic, StartTrafficError> {
        let client = sandbox.client().await?;
        let (stats, simulator) = traffic::spawn(client.clone(), traffic::TrafficConfig::default());
        let (metrics_addr, exporter) =
            match metrics_export::serve(listen, std::sync::Arc::clone(&stats)).await {
                Ok(served) => served,
                Err(error) => {
                    simulator.abort();
                    return Err(error.into());
                }
            };
        let traffic = Traffic {
            stats,
            metrics_addr,
            simulator,
            exporter,
        };
        scenario::register_loopback_service(
            &client,
            scenario::TRAFFIC_NAMESPACE,
            scenario::TRAFFIC_SERVICE,
            80,
            metrics_addr,
        )
        .await?;
        Ok(traffic)
    }

    /// The exporter's address through the sandbox's `services/proxy`.
    pub fn proxy_url(&self, sandbox_url: &str) -> String {
        scenario::proxy_url(
            sandbox_url,
            scenario::TRAFFIC_NAMESPACE,
            scenario::TRAFFIC_SERVICE,
            "http",
        )
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.simulator.abort();
        self.exporter.abort();
    }
}
