//! Controller benchmark (plain main, `harness = false`): the in-process sandbox, the simulated
//! ReplicaSet/kubelet controllers and rolltop's rollout controller (cluster-wide), with
//! `ROLLTOP_BENCH_ROLLOUTS` (default 500) canary Rollouts of 4 replicas and 4 steps
//! (`setWeight 25, pause 1s, setWeight 50, pause 1s`) spread over `ROLLTOP_BENCH_NAMESPACES`
//! (default 25) namespaces. It creates them all, waits until all are Healthy, then sets a new
//! image on all and waits until every one is Healthy on revision 2.
//!
//! Measured (printed, never asserted):
//! - reaction latency: from the bench's write (create, `set image`) returning to the first watch
//!   event showing the controller's answer (a status / the revision-2 annotation);
//! - time until all are Healthy, for the initial deploy and for the update;
//! - API requests the controller made (the sandbox counts requests by `User-Agent`, and the
//!   controller's client sends its own), per rollout and per canary step of the update.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use http::HeaderValue;
use http::header::USER_AGENT;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use rolltop::cluster::client::Scope;
use rolltop::controller::runner;
use rolltop::crd::Rollout;
use rolltop::sandbox::sim::{self, SimConfig};
use rolltop::sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

const CONTROLLER_AGENT: &str = "rolltop-controller-bench";
const STEPS: u64 = 4;
const PHASE_DEADLINE: Duration = Duration::from_secs(900);

type Key = (String, String);

#[derive(Default)]
struct Observed {
    written: Option<Instant>,
    reacted: Option<Instant>,
    healthy: Option<Instant>,
}

#[derive(Default)]
struct Book {
    /// Which revision this phase waits for ("1" for the deploy, "2" for the update).
    revision: String,
    rollouts: HashMap<Key, Observed>,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(label: &str, mut samples: Vec<Duration>) {
    if samples.is_empty() {
        println!("{label:<34} no samples");
        return;
    }
    samples.sort();
    println!(
        "{label:<34} n={:<4} p50={:>9.2?} p90={:>9.2?} p99={:>9.2?} max={:>9.2?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.90),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );
}

fn rollout(name: &str, image: &str) -> Rollout {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            },
            "strategy": {"canary": {"steps": [
                {"setWeight": 25}, {"pause": {"duration": "1s"}},
                {"setWeight": 50}, {"pause": {"duration": "1s"}}
            ]}}
        }
    }))
    .unwrap()
}

/// Records, per rollout, the first event carrying the controller's answer to the current
/// phase's write and the first event where it is Healthy on the phase's revision.
fn observe(book: &Mutex<Book>, rollout: &Rollout) {
    let now = Instant::now();
    let key = (rollout.namespace().unwrap_or_default(), rollout.name_any());
    let revision = rollout
        .annotations()
        .get("rollout.argoproj.io/revision")
        .cloned();
    let status = rollout.status.clone().unwrap_or_default();
    let mut book = book.lock().unwrap();
    let wanted = book.revision.clone();
    let Some(entry) = book.rollouts.get_mut(&key) else {
        return;
    };
    if entry.written.is_none() {
        return;
    }
    let answered = if wanted == "1" {
        status.phase_text.is_some()
    } else {
        revision.as_deref() == Some(wanted.as_str())
    };
    if answered && entry.reacted.is_none() {
        entry.reacted = Some(now);
    }
    // The controller's own revision-annotation patch arrives before its status patch, with the
    // old (Healthy) status: only a status that observed the current generation counts.
    let observed = status.observed_generation() == rollout.metadata.generation;
    let healthy = observed
        && status.phase_text.as_deref() == Some("Healthy")
        && revision.as_deref() == Some(wanted.as_str())
        && status.stable_rs.is_some()
        && status.stable_rs == status.current_pod_hash;
    if healthy && entry.healthy.is_none() {
        entry.healthy = Some(now);
    }
}

async fn controller_client(sandbox: &Sandbox) -> Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&sandbox.kubeconfig_yaml()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    config
        .headers
        .push((USER_AGENT, HeaderValue::from_static(CONTROLLER_AGENT)));
    Client::try_from(config).unwrap()
}

fn controller_requests(sandbox: &Sandbox) -> u64 {
    sandbox
        .request_counts()
        .get(CONTROLLER_AGENT)
        .copied()
        .unwrap_or(0)
}

/// Waits until every rollout is Healthy on the phase's revision (or the deadline passes);
/// returns the elapsed time and how many completed.
async fn wait_all_healthy(book: &Mutex<Book>, since: Instant, total: usize) -> (Duration, usize) {
    loop {
        let done = book
            .lock()
            .unwrap()
            .rollouts
            .values()
            .filter(|o| o.healthy.is_some())
            .count();
        if done == total || since.elapsed() > PHASE_DEADLINE {
            let last = book
                .lock()
                .unwrap()
                .rollouts
                .values()
                .filter_map(|o| o.healthy)
                .max()
                .map_or(since.elapsed(), |at| at - since);
            return (last, done);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn latencies(book: &Mutex<Book>) -> Vec<Duration> {
    book.lock()
        .unwrap()
        .rollouts
        .values()
        .filter_map(|o| Some(o.reacted? - o.written?))
        .collect()
}

/// Starts a new phase: every rollout waits for `revision` again.
fn reset(book: &Mutex<Book>, revision: &str) {
    let mut book = book.lock().unwrap();
    revision.clone_into(&mut book.revision);
    for observed in book.rollouts.values_mut() {
        *observed = Observed::default();
    }
}

fn mark_written(book: &Mutex<Book>, key: Key) {
    book.lock()
        .unwrap()
        .rollouts
        .entry(key)
        .or_default()
        .written = Some(Instant::now());
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // `RUST_LOG=rolltop=info` shows one line per applied plan (stderr).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let rollouts = env_usize("ROLLTOP_BENCH_ROLLOUTS", 500);
    let namespaces = env_usize("ROLLTOP_BENCH_NAMESPACES", 25).max(1);
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = sandbox.client().await.unwrap();
    let sim = sim::spawn(
        client.clone(),
        SimConfig {
            ready_delay: Duration::from_millis(200),
            start_delay: Duration::from_millis(100),
            ..SimConfig::default()
        },
    );
    rolltop::crd::install(&client).await.unwrap();
    rolltop::crd::wait_established(&client, Duration::from_secs(30))
        .await
        .unwrap();
    let ns_api: Api<Namespace> = Api::all(client.clone());
    let ns_names: Vec<String> = (0..namespaces).map(|i| format!("bench-{i:02}")).collect();
    for ns in &ns_names {
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
        ns_api
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap();
    }
    let keys: Vec<Key> = (0..rollouts)
        .map(|i| (ns_names[i % namespaces].clone(), format!("app-{i:04}")))
        .collect();

    let book = Arc::new(Mutex::new(Book {
        revision: "1".to_owned(),
        rollouts: HashMap::new(),
    }));
    let watch = {
        let book = Arc::clone(&book);
        let api: Api<Rollout> = Api::all(client.clone());
        tokio::spawn(async move {
            watcher(api, watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .try_for_each(|rollout| {
                    observe(&book, &rollout);
                    async { Ok(()) }
                })
                .await
        })
    };

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(runner::run(
        controller_client(&sandbox).await,
        Scope::AllNamespaces,
        async move {
            let _ = stopped.await;
        },
    ));

    println!(
        "controller bench: {rollouts} rollouts x 4 replicas, {namespaces} namespaces, steps \
         setWeight 25 / pause 1s / setWeight 50 / pause 1s"
    );
    // Initial deploy.
    let start = Instant::now();
    stream::iter(keys.clone())
        .for_each_concurrent(8, |(ns, name)| {
            let client = client.clone();
            let book = Arc::clone(&book);
            async move {
                Api::<Rollout>::namespaced(client, &ns)
                    .create(&PostParams::default(), &rollout(&name, "app:v1"))
                    .await
                    .unwrap();
                mark_written(&book, (ns, name));
            }
        })
        .await;
    let (deploy, deployed) = wait_all_healthy(&book, start, rollouts).await;
    let deploy_requests = controller_requests(&sandbox);
    report("create -> first status", latencies(&book));
    println!(
        "initial deploy: {deployed}/{rollouts} Healthy after {deploy:.2?}; controller requests \
         {deploy_requests} ({:.1} per rollout)",
        deploy_requests as f64 / rollouts as f64
    );

    // Update: set image on all.
    reset(&book, "2");
    let start = Instant::now();
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}});
    stream::iter(keys.clone())
        .for_each_concurrent(8, |(ns, name)| {
            let client = client.clone();
            let book = Arc::clone(&book);
            let patch = patch.clone();
            async move {
                Api::<Rollout>::namespaced(client, &ns)
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .unwrap();
                mark_written(&book, (ns, name));
            }
        })
        .await;
    let (update, updated) = wait_all_healthy(&book, start, rollouts).await;
    let update_requests = controller_requests(&sandbox) - deploy_requests;
    report("set image -> revision 2 written", latencies(&book));
    println!(
        "update: {updated}/{rollouts} Healthy on revision 2 after {update:.2?}; controller \
         requests {update_requests} ({:.1} per rollout, {:.1} per step)",
        update_requests as f64 / rollouts as f64,
        update_requests as f64 / (rollouts as f64 * STEPS as f64)
    );
    println!("requests by user agent: {:?}", sandbox.request_counts());

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), controller).await;
    watch.abort();
    // The simulated controllers go first, so nothing is left talking to a closed server.
    drop(sim);
    sandbox.shutdown().await;
}
