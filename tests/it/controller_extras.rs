//! The controller's restart, experiment-step and Lease-skipping behaviour end to end: an
//! in-process sandbox with the simulated ReplicaSet/kubelet controllers, rolltop's CRDs and the
//! runner started in-process, driven the way operators drive Argo Rollouts (`restart` as a
//! `spec.restartAt` patch, `set image`). The experiment test forces the Experiment's final
//! phase by hand (the Experiment controller, which runs in the same runner, keeps a final phase
//! someone else wrote: its status writes carry a resourceVersion precondition), so it tests the
//! rollout side of the step on its own; `conformance_experiment` runs Experiments for real.
//! Every wait polls the API server until a predicate holds and fails after a generous deadline.

use std::collections::BTreeSet;

use chrono::{SubsecRound, Utc};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use rolltop::cluster::client::Scope;
use rolltop::controller::lease;
use rolltop::crd::{AnalysisRun, Experiment, Rollout};
use serde_json::{Value, json};

use crate::harness::{self, cluster, eventually, start_runner};

const NS: &str = "shop";

fn rollout(name: &str, steps: &Value) -> Rollout {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "app:v1"}]}
            },
            "strategy": {"canary": {"steps": steps}}
        }
    }))
    .unwrap()
}

async fn wait_status(
    client: &Client,
    name: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    harness::wait_status(client, NS, name, what, done).await
}

async fn create(client: &Client, rollout: &Rollout) {
    harness::create_rollout(client, NS, rollout).await;
}

async fn patch_spec(client: &Client, name: &str, spec: Value) {
    harness::patch_spec(client, NS, name, spec).await;
}

async fn pod_names(client: &Client, app: &str) -> BTreeSet<String> {
    Api::<Pod>::namespaced(client.clone(), NS)
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(ResourceExt::name_any)
        .collect()
}

/// `rolltop restart` on a Healthy canary: every pod that predates `restartAt` is evicted and
/// replaced, `status.restartedAt` records the request, and the rollout ends Healthy again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_at_replaces_every_older_pod() {
    let cluster = cluster(&[NS]).await;
    let client = &cluster.client;
    let runner = start_runner(client, Scope::Namespace(NS.into()), None);
    create(
        client,
        &rollout("web", &json!([{"setWeight": 25}, {"pause": {}}])),
    )
    .await;
    wait_status(client, "web", "Healthy with 4 available", |s| {
        s["phase"] == "Healthy" && s["availableReplicas"] == 4
    })
    .await;
    let before = eventually("4 running pods", || async {
        let pods = pod_names(client, "web").await;
        (pods.len() == 4).then_some(pods)
    })
    .await;
    // The next whole second: every current pod was created strictly before it.
    let restart_at = (Utc::now() + chrono::TimeDelta::seconds(1))
        .trunc_subsecs(0)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    patch_spec(client, "web", json!({"restartAt": restart_at})).await;
    let done = wait_status(client, "web", "restartedAt recorded", |s| {
        s["restartedAt"] == restart_at.as_str()
    })
    .await;
    assert_eq!(done["restartedAt"], restart_at.as_str());
    let after = eventually("4 replacement pods", || async {
        let pods = pod_names(client, "web").await;
        (pods.len() == 4).then_some(pods)
    })
    .await;
    assert!(
        before.is_disjoint(&after),
        "old pods survived the restart: {before:?} vs {after:?}"
    );
    wait_status(client, "web", "Healthy after the restart", |s| {
        s["phase"] == "Healthy" && s["availableReplicas"] == 4
    })
    .await;
    runner.stop().await;
}

async fn experiment(client: &Client, name: &str) -> Option<Experiment> {
    Api::<Experiment>::namespaced(client.clone(), NS)
        .get_opt(name)
        .await
        .unwrap()
}

/// Writes the Experiment's phase over whatever the Experiment controller recorded.
async fn set_experiment_phase(client: &Client, name: &str, phase: &str, message: &str) {
    Api::<Experiment>::namespaced(client.clone(), NS)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"phase": phase, "message": message}})),
        )
        .await
        .unwrap();
}

/// A canary `experiment` step: the controller creates the Experiment (named after hash,
/// revision and step, owned by the rollout, templates copied from the stable and canary
/// ReplicaSets), records it in `currentExperiment`, waits while it runs, moves on when it
/// succeeds, and aborts the next update when its Experiment fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiment_step_waits_for_the_experiment() {
    let cluster = cluster(&[NS]).await;
    let client = &cluster.client;
    let runner = start_runner(client, Scope::Namespace(NS.into()), None);
    let steps = json!([
        {"setWeight": 25},
        {"experiment": {"duration": "30s", "templates": [
            {"name": "baseline", "specRef": "stable"},
            {"name": "canary", "specRef": "canary"}
        ]}},
        {"pause": {}}
    ]);
    create(client, &rollout("shop", &steps)).await;
    wait_status(client, "shop", "Healthy", |s| s["phase"] == "Healthy").await;
    patch_spec(
        client,
        "shop",
        json!({"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}),
    )
    .await;
    let recorded = wait_status(client, "shop", "currentExperiment", |s| {
        s["canary"]["currentExperiment"].is_string()
    })
    .await;
    let name = recorded["canary"]["currentExperiment"]
        .as_str()
        .unwrap()
        .to_owned();
    let hash = recorded["currentPodHash"].as_str().unwrap();
    assert_eq!(name, format!("shop-{hash}-2-1"));
    assert_eq!(recorded["currentStepIndex"], 1);
    let created = eventually("the Experiment", || experiment(client, &name)).await;
    assert_eq!(created.owner_references()[0].kind, "Rollout");
    assert_eq!(created.owner_references()[0].name, "shop");
    let images: Vec<&str> = created
        .spec
        .templates
        .iter()
        .map(|t| {
            t.template.as_ref().unwrap()["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(images, ["app:v1", "app:v2"]);

    set_experiment_phase(client, &name, "Running", "").await;
    set_experiment_phase(client, &name, "Successful", "").await;
    let paused = wait_status(client, "shop", "the pause after the experiment", |s| {
        s["currentStepIndex"] == 2 && s["phase"] == "Paused"
    })
    .await;
    assert_eq!(paused["message"], "CanaryPauseStep");

    // The next update's Experiment fails: the rollout aborts with its message.
    patch_spec(
        client,
        "shop",
        json!({"template": {"spec": {"containers": [{"name": "app", "image": "app:v3"}]}}}),
    )
    .await;
    let recorded = wait_status(client, "shop", "a second experiment", |s| {
        s["canary"]["currentExperiment"]
            .as_str()
            .is_some_and(|n| n != name)
    })
    .await;
    let second = recorded["canary"]["currentExperiment"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually("the second Experiment", || experiment(client, &second)).await;
    set_experiment_phase(client, &second, "Failed", "canary pods crashed").await;
    let degraded = wait_status(client, "shop", "Degraded", |s| s["phase"] == "Degraded").await;
    let message = degraded["message"].as_str().unwrap();
    assert!(message.contains("canary pods crashed"), "{message}");
    runner.stop().await;
}

fn analysis_run(name: &str) -> AnalysisRun {
    // A web metric against a closed loopback port: every pass records an Error measurement, so
    // the reconciler writes a status as soon as it looks at the run.
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {"name": name},
        "spec": {"metrics": [{
            "name": "probe",
            "interval": "1s",
            "provider": {"web": {"url": "http://127.0.0.1:9/", "timeoutSeconds": 1}}
        }]}
    }))
    .unwrap()
}

/// A cluster-wide driver's AnalysisRun reconciler leaves runs alone in a namespace whose own
/// Lease another driver holds, and takes them over once that Lease is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_wide_analysis_reconciler_skips_held_namespaces() {
    let cluster = cluster(&["held", "free"]).await;
    let client = &cluster.client;
    let held = lease::acquire(client, &Scope::Namespace("held".into()), "other-driver")
        .await
        .unwrap();
    let runner = start_runner(client, Scope::AllNamespaces, Some("wide-driver"));
    for ns in ["held", "free"] {
        Api::<AnalysisRun>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &analysis_run("probe"))
            .await
            .unwrap();
    }
    let run_status = |ns: &'static str| async move {
        let run = Api::<AnalysisRun>::namespaced(client.clone(), ns)
            .get("probe")
            .await
            .unwrap();
        serde_json::to_value(&run.status).unwrap()
    };
    eventually("the free namespace's run measured twice", || async {
        let status = run_status("free").await;
        let measured = status["metricResults"][0]["measurements"]
            .as_array()
            .map_or(0, Vec::len);
        (measured >= 2).then_some(())
    })
    .await;
    // Two passes a second apart in the free namespace show the reconciler has had every
    // chance to act on the held one.
    assert_eq!(run_status("held").await, Value::Null);
    held.release().await.unwrap();
    eventually(
        "the held namespace's run measured after release",
        || async { (run_status("held").await != Value::Null).then_some(()) },
    )
    .await;
    runner.stop().await;
}

async fn pod_labels(
    client: &Client,
    app: &str,
) -> Vec<(String, std::collections::BTreeMap<String, String>)> {
    Api::<Pod>::namespaced(client.clone(), NS)
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            let hash = p
                .labels()
                .get("rollouts-pod-template-hash")
                .cloned()
                .unwrap_or_default();
            (hash, p.labels().clone())
        })
        .collect()
}

/// `canaryMetadata` / `stableMetadata` on live pods: stable pods say `role=stable`, canary pods
/// `role=canary` during the update, and after promotion the former canary pods are relabelled
/// in place (the canary-only label removed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_metadata_follows_promotion_on_live_pods() {
    let cluster = cluster(&[NS]).await;
    let client = &cluster.client;
    let runner = start_runner(client, Scope::Namespace(NS.into()), None);
    let mut web = rollout("meta", &json!([{"setWeight": 50}, {"pause": {}}]));
    web.spec.replicas = Some(2);
    let mut spec = serde_json::to_value(&web).unwrap();
    spec["spec"]["strategy"]["canary"]["canaryMetadata"] =
        json!({"labels": {"role": "canary", "canary-only": "yes"}});
    spec["spec"]["strategy"]["canary"]["stableMetadata"] = json!({"labels": {"role": "stable"}});
    create(client, &serde_json::from_value(spec).unwrap()).await;
    wait_status(client, "meta", "Healthy", |s| {
        s["phase"] == "Healthy" && s["availableReplicas"] == 2
    })
    .await;
    eventually("stable pods labelled", || async {
        let pods = pod_labels(client, "meta").await;
        (pods.len() == 2
            && pods
                .iter()
                .all(|(_, l)| l.get("role").map(String::as_str) == Some("stable")))
        .then_some(())
    })
    .await;
    patch_spec(
        client,
        "meta",
        json!({"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}),
    )
    .await;
    let paused = wait_status(client, "meta", "paused on the canary", |s| {
        s["phase"] == "Paused" && s["currentStepIndex"] == 1
    })
    .await;
    let canary_hash = paused["currentPodHash"].as_str().unwrap().to_owned();
    let canary_pods = eventually("one canary and one stable pod, labelled", || async {
        let pods = pod_labels(client, "meta").await;
        let canary: Vec<_> = pods.iter().filter(|(h, _)| *h == canary_hash).collect();
        let stable: Vec<_> = pods.iter().filter(|(h, _)| *h != canary_hash).collect();
        let ok = canary.len() == 1
            && stable.len() == 1
            && canary[0].1.get("role").map(String::as_str) == Some("canary")
            && canary[0].1.get("canary-only").map(String::as_str) == Some("yes")
            && stable[0].1.get("role").map(String::as_str) == Some("stable");
        ok.then_some(canary.len())
    })
    .await;
    assert_eq!(canary_pods, 1);
    Api::<Rollout>::namespaced(client.clone(), NS)
        .patch_status(
            "meta",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"pauseConditions": null}})),
        )
        .await
        .unwrap();
    wait_status(client, "meta", "Healthy on the new revision", |s| {
        s["phase"] == "Healthy" && s["stableRS"] == canary_hash.as_str()
    })
    .await;
    eventually("every pod relabelled stable", || async {
        let pods = pod_labels(client, "meta").await;
        let ok = pods.len() == 2
            && pods.iter().all(|(h, l)| {
                *h == canary_hash
                    && l.get("role").map(String::as_str) == Some("stable")
                    && !l.contains_key("canary-only")
            });
        ok.then_some(())
    })
    .await;
    runner.stop().await;
}

/// `workloadRef` migration: a Rollout without a template takes it from a running Deployment,
/// becomes Healthy with that template, and `scaleDown: progressively` scales the Deployment to
/// 0 once it is; a reference to a missing Deployment is InvalidSpec.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_ref_takes_the_deployment_template_and_scales_it_down() {
    use k8s_openapi::api::apps::v1::Deployment;
    let cluster = cluster(&[NS]).await;
    let client = &cluster.client;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "legacy"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "legacy"}},
            "template": {
                "metadata": {"labels": {"app": "legacy"}},
                "spec": {"containers": [{"name": "app", "image": "legacy:v7"}]}
            }
        }
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    let runner = start_runner(client, Scope::Namespace(NS.into()), None);
    let migrated: Rollout = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "legacy"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "legacy"}},
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "legacy",
                            "scaleDown": "progressively"},
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}}
        }
    }))
    .unwrap();
    create(client, &migrated).await;
    wait_status(client, "legacy", "Healthy", |s| {
        s["phase"] == "Healthy" && s["availableReplicas"] == 2
    })
    .await;
    let images: Vec<String> =
        Api::<k8s_openapi::api::apps::v1::ReplicaSet>::namespaced(client.clone(), NS)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|rs| rs.owner_references().iter().any(|o| o.kind == "Rollout"))
            .map(|rs| {
                rs.spec
                    .template
                    .as_ref()
                    .unwrap()
                    .spec
                    .as_ref()
                    .unwrap()
                    .containers[0]
                    .image
                    .clone()
                    .unwrap()
            })
            .collect();
    assert_eq!(images, ["legacy:v7"]);
    eventually("the Deployment scaled to 0", || async {
        let live = deployments.get("legacy").await.unwrap();
        (live.spec.replicas == Some(0)).then_some(())
    })
    .await;

    let dangling: Rollout = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "dangling"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "dangling"}},
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nowhere"},
            "strategy": {"canary": {}}
        }
    }))
    .unwrap();
    create(client, &dangling).await;
    let degraded = wait_status(client, "dangling", "InvalidSpec", |s| {
        s["phase"] == "Degraded"
    })
    .await;
    let message = degraded["message"].as_str().unwrap();
    assert!(message.contains("spec.workloadRef.name"), "{message}");
    runner.stop().await;
}
