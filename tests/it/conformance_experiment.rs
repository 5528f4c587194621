//! The Experiment controller end to end (spec S25 and the Experiment kind itself): an in-process
//! sandbox with the simulated ReplicaSet/kubelet/Job controllers and the runner, which drives
//! Rollouts, AnalysisRuns and Experiments in its namespace. A canary `experiment` step's
//! Experiment runs its templates as ReplicaSets and weighted templates become Istio
//! destinations; an Experiment applied on its own runs to Successful after its `duration`; a
//! failing analysis fails the Experiment and aborts the rollout's step. Every wait polls.

use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, ResourceExt};
use rolltop::crd::{AnalysisRun, AnalysisTemplate, Experiment};
use rolltop::sandbox::sim::SimConfig;
use serde_json::{Value, json};

use crate::harness::{
    canary_rollout, cluster, cluster_with, create_dynamic, create_rollout, create_service,
    eventually, fast_sim, get_json, set_image, start_namespace_runner, status, virtual_services,
    wait_healthy, wait_status,
};

async fn experiment(client: &Client, ns: &str, name: &str) -> Option<Experiment> {
    Api::<Experiment>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()
}

/// The Experiment's status as JSON (`Null` before the controller wrote one).
async fn experiment_status(client: &Client, ns: &str, name: &str) -> Value {
    let experiment = experiment(client, ns, name).await;
    serde_json::to_value(experiment.and_then(|e| e.status)).unwrap()
}

async fn wait_experiment(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    eventually(what, || async {
        let status = experiment_status(client, ns, name).await;
        check(&status).then_some(status)
    })
    .await
}

/// ReplicaSets whose controller owner is the Experiment `name`.
async fn experiment_replica_sets(client: &Client, ns: &str, name: &str) -> Vec<ReplicaSet> {
    Api::<ReplicaSet>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|rs| {
            rs.owner_references()
                .iter()
                .any(|o| o.kind == "Experiment" && o.name == name)
        })
        .collect()
}

async fn create_job_template(client: &Client, ns: &str, name: &str, script: &str) {
    let template: AnalysisTemplate = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": name},
        "spec": {"metrics": [{
            "name": "check",
            "provider": {"job": {"spec": {
                "backoffLimit": 0,
                "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "check", "image": "busybox:1.36",
                                    "command": ["sh", "-c", script]}],
                }},
            }}},
        }]}
    }))
    .unwrap();
    Api::<AnalysisTemplate>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
}

/// The (host, weight) pairs of the VirtualService's first http route.
async fn route(client: &Client, ns: &str) -> Vec<(String, i64)> {
    let vs = get_json(&virtual_services(client, ns), "vs").await.unwrap();
    vs["spec"]["http"][0]["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["destination"]["host"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                d["weight"].as_i64().unwrap_or_default(),
            )
        })
        .collect()
}

/// S25 (TestIstioHostSplitExperimentStep): `[setWeight 10, experiment{template specRef canary,
/// weight 20}]` with an Istio host split. At the experiment step the route is stable 70,
/// canary 10 and the experiment's Service 20, the experiment's ReplicaSet runs the canary pod
/// template; promotion returns the route to 100/0 and the experiment's ReplicaSet and Service
/// go away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s25_istio_host_split_with_a_weighted_experiment_step() {
    const NS: &str = "s25";
    let cluster = cluster(&[NS]).await;
    let client = &cluster.client;
    cluster.install_istio().await;
    create_service(client, NS, "stable", "s25", 80).await;
    create_service(client, NS, "canary", "s25", 80).await;
    create_dynamic(
        &virtual_services(client, NS),
        json!({
            "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
            "metadata": {"name": "vs"},
            "spec": {"hosts": ["s25.example.com"], "http": [{"name": "primary", "route": [
                {"destination": {"host": "stable"}, "weight": 100},
                {"destination": {"host": "canary"}, "weight": 0}]}]}
        }),
    )
    .await;
    let runner = start_namespace_runner(client, NS);
    let canary = json!({
        "canaryService": "canary", "stableService": "stable",
        "trafficRouting": {"istio": {"virtualService": {"name": "vs", "routes": ["primary"]}}},
        "steps": [
            {"setWeight": 10},
            {"experiment": {"templates": [
                {"name": "experiment", "specRef": "canary", "weight": 20}]}}
        ]
    });
    create_rollout(client, NS, &canary_rollout("s25", 1, "app:v1", &canary)).await;
    wait_healthy(client, NS, "s25").await;

    set_image(client, NS, "s25", "app:v2").await;
    let recorded = wait_status(client, NS, "s25", "the experiment step", |s| {
        s["currentStepIndex"] == 1 && s["canary"]["currentExperiment"].is_string()
    })
    .await;
    let name = recorded["canary"]["currentExperiment"]
        .as_str()
        .unwrap()
        .to_owned();
    let running = wait_experiment(client, NS, &name, "the experiment's Service", |s| {
        s["phase"] == "Running" && s["templateStatuses"][0]["serviceName"].is_string()
    })
    .await;
    let service = running["templateStatuses"][0]["serviceName"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(running["availableAt"].is_string());
    let split = eventually("stable 70 / canary 10 / experiment 20", || async {
        let route = route(client, NS).await;
        (route.len() == 3).then_some(route)
    })
    .await;
    assert_eq!(
        split,
        vec![
            ("stable".to_owned(), 70),
            ("canary".to_owned(), 10),
            (service.clone(), 20)
        ]
    );
    let weights = status(client, NS, "s25").await["canary"]["weights"].clone();
    assert_eq!(weights["stable"]["weight"], 70);
    assert_eq!(weights["additional"][0]["serviceName"], service.as_str());
    assert_eq!(weights["additional"][0]["weight"], 20);
    // The experiment's ReplicaSet runs the canary's pod template under its own hash.
    let replica_sets = experiment_replica_sets(client, NS, &name).await;
    assert_eq!(replica_sets.len(), 1);
    let rs = &replica_sets[0];
    assert_eq!(rs.name_any(), service);
    assert!(rs.name_any().starts_with(&format!("{name}-experiment-")));
    assert_eq!(rs.spec.replicas, Some(1));
    let image = rs
        .spec
        .template
        .as_ref()
        .unwrap()
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .image
        .clone();
    assert_eq!(image.as_deref(), Some("app:v2"));
    let selector = Api::<Service>::namespaced(client.clone(), NS)
        .get(&service)
        .await
        .unwrap()
        .spec
        .unwrap()
        .selector
        .unwrap();
    assert_eq!(
        selector.get("rollouts-pod-template-hash"),
        rs.labels().get("rollouts-pod-template-hash")
    );

    cluster.plugin(NS, &["promote", "s25"]).await;
    wait_healthy(client, NS, "s25").await;
    let back = eventually("the route back at 100/0", || async {
        let route = route(client, NS).await;
        (route.len() == 2 && route[0].1 == 100).then_some(route)
    })
    .await;
    assert_eq!(
        back,
        vec![("stable".to_owned(), 100), ("canary".to_owned(), 0)]
    );
    // Terminated at promotion; scaled away after the default 30 s scale-down delay.
    assert_eq!(
        experiment(client, NS, &name).await.unwrap().spec.terminate,
        Some(true)
    );
    let done = wait_experiment(client, NS, &name, "the experiment Successful", |s| {
        s["phase"] == "Successful"
    })
    .await;
    assert_eq!(done["templateStatuses"][0]["status"], "Successful");
    let replica_sets = experiment_replica_sets(client, NS, &name).await;
    assert_eq!(replica_sets[0].spec.replicas, Some(0));
    assert!(
        Api::<Service>::namespaced(client.clone(), NS)
            .get_opt(&service)
            .await
            .unwrap()
            .is_none()
    );
    runner.stop().await;
}

/// An Experiment applied on its own: two templates run as ReplicaSets, the analysis starts once
/// both are available and passes, and after `duration` (plus the scale-down delay) the templates
/// are scaled away and the Experiment ends Successful.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_experiment_runs_its_duration_to_successful() {
    const NS: &str = "lab";
    // Job pods that finish quickly: the analysis must end well inside the duration (a run still
    // measuring when the duration ends is terminated, and its Job measurement is inconclusive).
    let sim = SimConfig {
        run_duration: Duration::from_millis(300),
        ..fast_sim()
    };
    let cluster = cluster_with(&[NS], sim).await;
    let client = &cluster.client;
    create_job_template(client, NS, "pass", "exit 0").await;
    let runner = start_namespace_runner(client, NS);
    let template = |name: &str, image: &str| {
        json!({
            "name": name, "replicas": 2,
            "selector": {"matchLabels": {"app": "lab", "role": name}},
            "template": {"metadata": {"labels": {"app": "lab", "role": name}},
                         "spec": {"containers": [{"name": "app", "image": image}]}}
        })
    };
    let manifest: Experiment = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Experiment",
        "metadata": {"name": "lab"},
        "spec": {
            "duration": "10s",
            "scaleDownDelaySeconds": 1,
            "templates": [template("baseline", "app:v1"), template("canary", "app:v2")],
            "analyses": [{"name": "smoke", "templateName": "pass"}]
        }
    }))
    .unwrap();
    Api::<Experiment>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &manifest)
        .await
        .unwrap();

    let running = wait_experiment(client, NS, "lab", "both templates Running", |s| {
        s["phase"] == "Running"
            && s["templateStatuses"][0]["status"] == "Running"
            && s["templateStatuses"][1]["status"] == "Running"
    })
    .await;
    assert!(running["availableAt"].is_string());
    let replica_sets = experiment_replica_sets(client, NS, "lab").await;
    assert_eq!(replica_sets.len(), 2);
    for rs in &replica_sets {
        assert_eq!(rs.spec.replicas, Some(2));
        assert_eq!(rs.labels()["app"], "lab");
        let hash = rs.labels()["rollouts-pod-template-hash"].clone();
        let role = rs.labels()["role"].clone();
        assert_eq!(rs.name_any(), format!("lab-{role}-{hash}"));
    }
    let run = eventually("the analysis run", || async {
        Api::<AnalysisRun>::namespaced(client.clone(), NS)
            .get_opt("lab-smoke")
            .await
            .unwrap()
    })
    .await;
    assert_eq!(run.owner_references()[0].kind, "Experiment");

    let done = wait_experiment(client, NS, "lab", "Successful", |s| {
        s["phase"] == "Successful"
    })
    .await;
    assert_eq!(done["analysisRuns"][0]["phase"], "Successful");
    assert_eq!(done["templateStatuses"][0]["status"], "Successful");
    assert_eq!(done["templateStatuses"][1]["status"], "Successful");
    let conditions = done["conditions"].as_array().unwrap();
    assert_eq!(conditions[0]["reason"], "ExperimentCompleted");
    for rs in experiment_replica_sets(client, NS, "lab").await {
        assert_eq!(rs.spec.replicas, Some(0), "{}", rs.name_any());
    }
    runner.stop().await;
}

/// A failing analysis in a canary `experiment` step: the Experiment ends Failed with the
/// analysis's result, its templates are scaled away, and the rollout aborts with the
/// Experiment's phase in its message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_experiment_analysis_aborts_the_step() {
    const NS: &str = "fails";
    let cluster = cluster(&[NS]).await;
    let client = &cluster.client;
    create_job_template(client, NS, "fail", "exit 1").await;
    let runner = start_namespace_runner(client, NS);
    let canary = json!({"steps": [
        {"setWeight": 50},
        {"experiment": {
            "scaleDownDelaySeconds": 0,
            "templates": [{"name": "canary", "specRef": "canary"}],
            "analyses": [{"name": "check", "templateName": "fail"}]
        }},
        {"pause": {}}
    ]});
    create_rollout(client, NS, &canary_rollout("web", 2, "app:v1", &canary)).await;
    wait_healthy(client, NS, "web").await;
    set_image(client, NS, "web", "app:v2").await;
    let recorded = wait_status(client, NS, "web", "the experiment step", |s| {
        s["canary"]["currentExperiment"].is_string()
    })
    .await;
    let name = recorded["canary"]["currentExperiment"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed = wait_experiment(client, NS, &name, "the Experiment Failed", |s| {
        s["phase"] == "Failed"
    })
    .await;
    assert_eq!(failed["analysisRuns"][0]["phase"], "Failed");
    let degraded = wait_status(client, NS, "web", "Degraded", |s| s["phase"] == "Degraded").await;
    let message = degraded["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("Experiment '{name}' phase failed")),
        "{message}"
    );
    assert_eq!(degraded["abort"], true);
    eventually("the experiment's ReplicaSet scaled away", || async {
        let replica_sets = experiment_replica_sets(client, NS, &name).await;
        (!replica_sets.is_empty() && replica_sets.iter().all(|rs| rs.spec.replicas == Some(0)))
            .then_some(())
    })
    .await;
    runner.stop().await;
}
