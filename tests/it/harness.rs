//! The one place end-to-end tests get a cluster from: an in-process sandbox API server with
//! rolltop's CRDs and the simulated ReplicaSet/kubelet controllers, a kubeconfig for the built
//! binary and `kubectl`, the in-process rollout runner, and the reads and writes the controller
//! tests share (status, owned ReplicaSets, Service selectors, router objects, the operator
//! actions as the kubectl plugin sends them). Every wait polls the API server until a predicate
//! holds and fails after a generous deadline; nothing asserts on timing.
//!
//! Not every test module uses every function, hence the module-wide `dead_code` allowance.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::{Client, ResourceExt};
use rolltop::cluster::client::Scope;
use rolltop::controller::runner::{self, RunOptions};
use rolltop::controller::traffic::RouterKind;
use rolltop::controller::traffic::crds::schemaless_crd;
use rolltop::crd::Rollout;
use rolltop::sandbox::sim::{self, SimConfig, SimHandle};
use rolltop::sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long any single wait may take before the test fails; generous for a loaded 2-core CI.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// The simulated kubelet of most controller tests: pods start and become ready quickly.
pub fn fast_sim() -> SimConfig {
    SimConfig {
        ready_delay: Duration::from_millis(100),
        start_delay: Duration::from_millis(50),
        ..SimConfig::default()
    }
}

/// A sandbox with its simulated controllers, a client and a kubeconfig file for child processes.
pub struct Cluster {
    pub client: Client,
    pub sandbox: Sandbox,
    pub kubeconfig: tempfile::NamedTempFile,
    _sim: SimHandle,
}

/// A sandbox with rolltop's CRDs established, the given namespaces (plus `kube-system`) and the
/// fast simulated kubelet.
pub async fn cluster(namespaces: &[&str]) -> Cluster {
    cluster_with(namespaces, fast_sim()).await
}

/// As [`cluster`] with a chosen simulated kubelet (readiness delays, crashing images).
pub async fn cluster_with(namespaces: &[&str], sim_config: SimConfig) -> Cluster {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = sandbox.client().await.unwrap();
    let sim = sim::spawn(client.clone(), sim_config);
    rolltop::crd::install(&client).await.unwrap();
    rolltop::crd::wait_established(&client, Duration::from_secs(30))
        .await
        .unwrap();
    let api: Api<Namespace> = Api::all(client.clone());
    for ns in namespaces.iter().chain(&["kube-system"]) {
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
        let _ = api.create(&PostParams::default(), &namespace).await;
    }
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(kubeconfig.path(), sandbox.kubeconfig_yaml()).unwrap();
    Cluster {
        client,
        sandbox,
        kubeconfig,
        _sim: sim,
    }
}

impl Cluster {
    /// Installs the schemaless router CRDs rolltop ships for sandboxes without a mesh.
    pub async fn install_routers(&self, kinds: &[RouterKind]) {
        let api = Api::<CustomResourceDefinition>::all(self.client.clone());
        for kind in kinds {
            let crd = schemaless_crd(*kind).unwrap();
            api.create(&PostParams::default(), &crd).await.unwrap();
        }
    }

    /// Istio's VirtualService and DestinationRule kinds.
    pub async fn install_istio(&self) {
        self.install_routers(&[RouterKind::VirtualService, RouterKind::DestinationRule])
            .await;
    }

    /// Runs the built `rolltop` binary against this sandbox (`--kubeconfig` appended), as an
    /// operator's script would; returns (exit code, stdout, stderr).
    pub async fn rolltop(&self, args: &[&str]) -> (i32, String, String) {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rolltop"))
            .args(args)
            .arg("--kubeconfig")
            .arg(self.kubeconfig.path())
            .env("NO_COLOR", "1")
            .output()
            .await
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A plugin-compatible action (`promote NAME`, `abort NAME`, `retry rollout NAME`,
    /// `promote NAME --full`, `undo NAME`, …) sent by the built binary, which sends the
    /// kubectl-argo-rollouts patches; panics with its output when it fails.
    pub async fn plugin(&self, ns: &str, args: &[&str]) {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["-n", ns]);
        let (code, stdout, stderr) = self.rolltop(&full).await;
        assert_eq!(code, 0, "rolltop {args:?} failed:\n{stdout}\n{stderr}");
    }
}

/// A runner started in-process; `stop` ends it gracefully.
pub struct Runner {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), runner::RunControllerError>>,
}

/// Starts the rollout controller in-process for `scope`.
pub fn start_runner(client: &Client, scope: Scope, identity: Option<&str>) -> Runner {
    let (stop, stopped) = oneshot::channel::<()>();
    let options = RunOptions {
        identity: identity.map(str::to_owned),
    };
    let task = tokio::spawn(runner::run_with(
        client.clone(),
        scope,
        options,
        async move {
            let _ = stopped.await;
        },
    ));
    Runner { stop, task }
}

/// Starts the rollout controller in-process for one namespace.
pub fn start_namespace_runner(client: &Client, ns: &str) -> Runner {
    start_runner(client, Scope::Namespace(ns.to_owned()), None)
}

impl Runner {
    /// Asks the runner to stop and waits for it to return Ok.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("runner stops")
            .unwrap()
            .unwrap();
    }

    /// Drops the runner without a graceful stop, the way a killed process would leave things
    /// (its Lease is not released).
    pub fn kill(self) {
        self.task.abort();
    }
}

/// Polls `probe` every 50 ms until it returns `Some`, failing after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, DEADLINE, probe).await
}

/// As [`eventually`] with a longer deadline, for waits that include a scrape or a query window.
pub async fn eventually_within<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Rollout from its JSON manifest.
pub fn rollout_from(manifest: Value) -> Rollout {
    serde_json::from_value(manifest).unwrap()
}

/// A canary Rollout named `name` with pods labelled `app: name`, one container `app`, and the
/// given `strategy.canary` block.
pub fn canary_rollout(name: &str, replicas: i32, image: &str, canary: &Value) -> Rollout {
    rollout_from(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            },
            "strategy": {"canary": canary}
        }
    }))
}

/// A blue-green Rollout named `name` with the given `strategy.blueGreen` block.
pub fn blue_green_rollout(name: &str, replicas: i32, image: &str, blue_green: &Value) -> Rollout {
    rollout_from(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            },
            "strategy": {"blueGreen": blue_green}
        }
    }))
}

pub async fn create_rollout(client: &Client, ns: &str, rollout: &Rollout) {
    Api::<Rollout>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), rollout)
        .await
        .unwrap();
}

/// The Rollout's status as JSON (`Null` before the controller wrote one).
pub async fn status(client: &Client, ns: &str, name: &str) -> Value {
    let rollout = Api::<Rollout>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap();
    serde_json::to_value(&rollout.status).unwrap()
}

/// Waits until the Rollout's status satisfies `check` and returns it.
pub async fn wait_status(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let start = tokio::time::Instant::now();
    loop {
        let status = status(client, ns, name).await;
        if check(&status) {
            return status;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out waiting for {ns}/{name}: {what}; last status: {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn wait_phase(client: &Client, ns: &str, name: &str, phase: &str) -> Value {
    wait_status(
        client,
        ns,
        name,
        &format!("{ns}/{name} phase {phase}"),
        |s| s["phase"] == phase,
    )
    .await
}

/// Healthy and observed at the current generation with no update in flight.
pub async fn wait_healthy(client: &Client, ns: &str, name: &str) -> Value {
    wait_status(client, ns, name, &format!("{ns}/{name} Healthy"), |s| {
        s["phase"] == "Healthy" && s["stableRS"] == s["currentPodHash"]
    })
    .await
}

/// `kubectl argo rollouts set image`-like: replace the container list.
pub async fn set_image(client: &Client, ns: &str, name: &str, image: &str) {
    patch_spec(
        client,
        ns,
        name,
        json!({"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}),
    )
    .await;
}

/// A merge patch of the Rollout's `spec`.
pub async fn patch_spec(client: &Client, ns: &str, name: &str, spec: Value) {
    Api::<Rollout>::namespaced(client.clone(), ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": spec})),
        )
        .await
        .unwrap();
}

/// A merge patch of the Rollout's status subresource (`patch` includes the `status` key).
pub async fn patch_status(client: &Client, ns: &str, name: &str, patch: &Value) {
    Api::<Rollout>::namespaced(client.clone(), ns)
        .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
}

/// ReplicaSets whose controller owner is the Rollout `name`.
pub async fn owned_replica_sets(client: &Client, ns: &str, name: &str) -> Vec<ReplicaSet> {
    Api::<ReplicaSet>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|rs| {
            rs.owner_references()
                .iter()
                .any(|o| o.kind == "Rollout" && o.name == name)
        })
        .collect()
}

pub fn rs_hash(rs: &ReplicaSet) -> String {
    rs.labels()
        .get("rollouts-pod-template-hash")
        .cloned()
        .unwrap_or_default()
}

pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(0)
}

/// Desired replicas per pod-template hash of the Rollout's ReplicaSets.
pub async fn replicas_by_hash(client: &Client, ns: &str, name: &str) -> BTreeMap<String, i32> {
    owned_replica_sets(client, ns, name)
        .await
        .iter()
        .map(|rs| (rs_hash(rs), rs_replicas(rs)))
        .collect()
}

/// Desired replicas of the ReplicaSet with revision annotation `revision` (0 when absent).
pub async fn replicas_of_revision(client: &Client, ns: &str, name: &str, revision: u32) -> i32 {
    owned_replica_sets(client, ns, name)
        .await
        .iter()
        .find(|rs| {
            rs.annotations()
                .get("rollout.argoproj.io/revision")
                .is_some_and(|r| r == &revision.to_string())
        })
        .map_or(0, rs_replicas)
}

/// Live pods (not being deleted) per `rollouts-pod-template-hash` label, for pods with
/// `app: app`.
pub async fn pods_by_hash(client: &Client, ns: &str, app: &str) -> BTreeMap<String, usize> {
    let pods = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap();
    let mut counts = BTreeMap::new();
    for pod in pods.items {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let hash = pod
            .labels()
            .get("rollouts-pod-template-hash")
            .cloned()
            .unwrap_or_default();
        *counts.entry(hash).or_insert(0) += 1;
    }
    counts
}

/// A ClusterIP Service selecting `app: app` on `port`.
pub async fn create_service(client: &Client, ns: &str, name: &str, app: &str, port: i32) {
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": {"app": app}, "ports": [{"port": port, "targetPort": port}]}
    }))
    .unwrap();
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &service)
        .await
        .unwrap();
}

/// The Service's `rollouts-pod-template-hash` selector, if any.
pub async fn selector_hash(client: &Client, ns: &str, service: &str) -> Option<String> {
    let service = Api::<Service>::namespaced(client.clone(), ns)
        .get(service)
        .await
        .unwrap();
    service
        .spec?
        .selector?
        .get("rollouts-pod-template-hash")
        .cloned()
}

/// The Service's whole selector.
pub async fn selector(client: &Client, ns: &str, service: &str) -> BTreeMap<String, String> {
    Api::<Service>::namespaced(client.clone(), ns)
        .get(service)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.selector)
        .unwrap_or_default()
}

/// An API for a kind k8s-openapi does not know (the router kinds, or anything by GVK).
pub fn dynamic_api(
    client: &Client,
    ns: &str,
    api_version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(client.clone(), ns, &resource)
}

pub fn virtual_services(client: &Client, ns: &str) -> Api<DynamicObject> {
    dynamic_api(
        client,
        ns,
        "networking.istio.io/v1alpha3",
        "VirtualService",
        "virtualservices",
    )
}

pub fn destination_rules(client: &Client, ns: &str) -> Api<DynamicObject> {
    dynamic_api(
        client,
        ns,
        "networking.istio.io/v1alpha3",
        "DestinationRule",
        "destinationrules",
    )
}

pub fn traffic_splits(client: &Client, ns: &str) -> Api<DynamicObject> {
    dynamic_api(
        client,
        ns,
        "split.smi-spec.io/v1alpha3",
        "TrafficSplit",
        "trafficsplits",
    )
}

pub fn ingresses(client: &Client, ns: &str) -> Api<DynamicObject> {
    dynamic_api(client, ns, "networking.k8s.io/v1", "Ingress", "ingresses")
}

pub async fn create_dynamic(api: &Api<DynamicObject>, object: Value) {
    let object: DynamicObject = serde_json::from_value(object).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
}

pub async fn get_json(api: &Api<DynamicObject>, name: &str) -> Option<Value> {
    api.get_opt(name)
        .await
        .unwrap()
        .map(|o| serde_json::to_value(o).unwrap())
}

/// Plays the controller behind a pod readiness gate (`spec.readinessGates` with
/// `condition_type`): sets that condition True on pods of `app` with pod-template hash `hash`
/// whose containers are ready, until `count` of them carry it. The sandbox kubelet keeps such a
/// pod un-Ready until then.
pub async fn open_readiness_gates(
    client: &Client,
    ns: &str,
    app: &str,
    hash: &str,
    condition_type: &str,
    count: usize,
) {
    let pods = Api::<Pod>::namespaced(client.clone(), ns);
    let has = |pod: &Pod, kind: &str| {
        pod.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == kind && c.status == "True"))
    };
    eventually(
        &format!("{count} pods of {app}/{hash} past readiness gate {condition_type}"),
        || async {
            let list = pods
                .list(
                    &ListParams::default()
                        .labels(&format!("app={app},rollouts-pod-template-hash={hash}")),
                )
                .await
                .unwrap()
                .items;
            let live: Vec<&Pod> = list
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            let mut open = live.iter().filter(|p| has(p, condition_type)).count();
            for pod in live
                .iter()
                .filter(|p| !has(p, condition_type) && has(p, "ContainersReady"))
            {
                if open >= count {
                    break;
                }
                let patch = json!([{"op": "add", "path": "/status/conditions/-", "value": {
                    "type": condition_type, "status": "True",
                    "lastTransitionTime": "2026-01-01T00:00:00Z"
                }}]);
                let patched = pods
                    .patch_status(
                        &pod.name_any(),
                        &PatchParams::default(),
                        &Patch::<Value>::Json(serde_json::from_value(patch).unwrap()),
                    )
                    .await;
                if patched.is_ok() {
                    open += 1;
                }
            }
            (open >= count).then_some(())
        },
    )
    .await;
}

/// A metric whose Job runs `sh -c "<script>"` once in `image`: the sandbox's Job runner exits
/// with the script's `exit N` (0 without one) after its run duration; an image tagged
/// `never-ready` runs until the run is terminated.
pub fn job_metric(name: &str, image: &str, script: &str) -> Value {
    json!({
        "name": name,
        "provider": {"job": {"spec": {
            "backoffLimit": 0,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "check", "image": image, "command": ["sh", "-c", script]}],
            }},
        }}},
    })
}

/// Creates an AnalysisTemplate `name` with `spec` (its `metrics`, `args`).
pub async fn create_analysis_template(client: &Client, ns: &str, name: &str, spec: Value) {
    let template: rolltop::crd::AnalysisTemplate = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap();
    Api::<rolltop::crd::AnalysisTemplate>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
}

/// The AnalysisRuns the Rollout `name` owns, oldest first.
pub async fn analysis_runs(
    client: &Client,
    ns: &str,
    name: &str,
) -> Vec<rolltop::crd::AnalysisRun> {
    let mut runs: Vec<rolltop::crd::AnalysisRun> =
        Api::<rolltop::crd::AnalysisRun>::namespaced(client.clone(), ns)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|run| {
                run.owner_references()
                    .iter()
                    .any(|o| o.kind == "Rollout" && o.name == name)
            })
            .collect();
    runs.sort_by(|a, b| {
        (
            a.metadata.creation_timestamp.clone().map(|t| t.0),
            a.name_any(),
        )
            .cmp(&(
                b.metadata.creation_timestamp.clone().map(|t| t.0),
                b.name_any(),
            ))
    });
    runs
}

/// The phase of each AnalysisRun the Rollout owns, oldest first (`""` before the first status).
pub async fn analysis_run_phases(client: &Client, ns: &str, name: &str) -> Vec<String> {
    analysis_runs(client, ns, name)
        .await
        .iter()
        .map(|run| {
            serde_json::to_value(&run.status).unwrap()["phase"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// The pod-template hash of the Rollout's ReplicaSet with revision annotation `revision`.
pub async fn hash_of_revision(client: &Client, ns: &str, name: &str, revision: u32) -> String {
    owned_replica_sets(client, ns, name)
        .await
        .iter()
        .find(|rs| {
            rs.annotations()
                .get("rollout.argoproj.io/revision")
                .is_some_and(|r| r == &revision.to_string())
        })
        .map(rs_hash)
        .unwrap_or_default()
}

/// Desired replicas per revision annotation of the Rollout's ReplicaSets.
pub async fn replicas_by_revision(client: &Client, ns: &str, name: &str) -> BTreeMap<u32, i32> {
    owned_replica_sets(client, ns, name)
        .await
        .iter()
        .filter_map(|rs| {
            let revision = rs
                .annotations()
                .get("rollout.argoproj.io/revision")?
                .parse()
                .ok()?;
            Some((revision, rs_replicas(rs)))
        })
        .collect()
}

/// The reference's `(desired, current, updated, ready, available)` of a Rollout.
pub async fn replica_counts(client: &Client, ns: &str, name: &str) -> (i64, i64, i64, i64, i64) {
    let rollout = Api::<Rollout>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap();
    let status = serde_json::to_value(&rollout.status).unwrap();
    let field = |key: &str| status[key].as_i64().unwrap_or(0);
    (
        i64::from(rollout.spec.replicas.unwrap_or(1)),
        field("replicas"),
        field("updatedReplicas"),
        field("readyReplicas"),
        field("availableReplicas"),
    )
}

/// Waits until the Rollout's `(d,c,u,r,a)` equal `want`.
pub async fn wait_counts(client: &Client, ns: &str, name: &str, want: (i64, i64, i64, i64, i64)) {
    eventually(&format!("{ns}/{name} (d,c,u,r,a) = {want:?}"), || async {
        (replica_counts(client, ns, name).await == want).then_some(())
    })
    .await;
}

/// Waits until the Rollout's ReplicaSets have exactly `want` desired replicas per revision
/// (revisions absent from `want` must not exist or be at 0).
pub async fn wait_revisions(client: &Client, ns: &str, name: &str, want: &[(u32, i32)]) {
    eventually(
        &format!("{ns}/{name} replicas by revision {want:?}"),
        || async {
            let have = replicas_by_revision(client, ns, name).await;
            let matches = want
                .iter()
                .all(|(rev, n)| have.get(rev).copied().unwrap_or(0) == *n)
                && have
                    .iter()
                    .all(|(rev, n)| *n == 0 || want.iter().any(|(w, _)| w == rev));
            matches.then_some(())
        },
    )
    .await;
}
