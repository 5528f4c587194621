//! Restart safety end to end: the same rollout runs in two namespaces of one sandbox, each
//! driven by its own in-process runner. In `calm` the runner is left alone; in `killed` it is
//! killed (the task aborted, no graceful stop, its in-flight requests dropped) during a timed
//! pause or while ReplicaSets scale, and a new runner is started. The killed rollout must
//! finish exactly as the undisturbed one: the same ReplicaSets with the same sizes, the same
//! AnalysisRuns (no duplicates), and the pause timed from the start it recorded in status.

use std::collections::BTreeMap;
use std::time::Duration;

use rolltop::sandbox::sim::SimConfig;
use serde_json::{Value, json};

use crate::harness::{
    Cluster, analysis_runs, canary_rollout, cluster_with, create_analysis_template, create_rollout,
    eventually, fast_sim, job_metric, owned_replica_sets, replicas_by_hash, rollout_from,
    start_namespace_runner, status, wait_healthy, wait_status,
};

const CALM: &str = "calm";
const KILLED: &str = "killed";

async fn start() -> Cluster {
    let cluster = cluster_with(
        &[CALM, KILLED],
        SimConfig {
            run_duration: Duration::from_secs(1),
            ..fast_sim()
        },
    )
    .await;
    for ns in [CALM, KILLED] {
        create_analysis_template(
            &cluster.client,
            ns,
            "pass",
            json!({"metrics": [job_metric("pass", "busybox:1.36", "exit 0")]}),
        )
        .await;
        create_analysis_template(
            &cluster.client,
            ns,
            "forever",
            json!({"metrics": [job_metric("sleep", "busybox:never-ready", "sleep 86400")]}),
        )
        .await;
    }
    cluster
}

async fn set_image(cluster: &Cluster, ns: &str, name: &str, image: &str) {
    cluster
        .plugin(ns, &["set", "image", name, &format!("app={image}")])
        .await;
}

/// The rollout's ReplicaSet names.
async fn replica_set_names(cluster: &Cluster, ns: &str, name: &str) -> Vec<String> {
    let mut names: Vec<String> = owned_replica_sets(&cluster.client, ns, name)
        .await
        .into_iter()
        .filter_map(|rs| rs.metadata.name)
        .collect();
    names.sort();
    names
}

/// AnalysisRuns per `rollout-type` and phase.
async fn runs_by_type(
    cluster: &Cluster,
    ns: &str,
    name: &str,
) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for run in analysis_runs(&cluster.client, ns, name).await {
        let kind = run
            .metadata
            .labels
            .clone()
            .unwrap_or_default()
            .get("rollout-type")
            .cloned()
            .unwrap_or_default();
        let phase = serde_json::to_value(&run.status).unwrap()["phase"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        *counts.entry((kind, phase)).or_insert(0) += 1;
    }
    counts
}

/// Both namespaces ended the same way: Healthy on the same hash, the same ReplicaSets with the
/// same sizes, the same AnalysisRuns.
async fn assert_same_outcome(cluster: &Cluster, name: &str) {
    let c = &cluster.client;
    let calm = wait_healthy(c, CALM, name).await;
    let killed = wait_healthy(c, KILLED, name).await;
    assert_eq!(calm["stableRS"], killed["stableRS"]);
    assert_eq!(
        replica_set_names(cluster, CALM, name).await,
        replica_set_names(cluster, KILLED, name).await
    );
    // Old ReplicaSets scale to 0 on their own; wait for both to settle before comparing.
    let settled = |ns: &'static str| async move {
        eventually(&format!("{ns}/{name} settled"), || async {
            let sizes = replicas_by_hash(c, ns, name).await;
            (sizes.values().filter(|n| **n > 0).count() == 1).then_some(sizes)
        })
        .await
    };
    assert_eq!(settled(CALM).await, settled(KILLED).await);
    // Runs terminated at promotion finish on the AnalysisRun reconciler's next pass.
    let finished = |ns: &'static str| async move {
        eventually(&format!("{ns}/{name} AnalysisRuns finished"), || async {
            let runs = runs_by_type(cluster, ns, name).await;
            let done = runs.keys().all(|(_, phase)| {
                matches!(
                    phase.as_str(),
                    "Successful" | "Failed" | "Error" | "Inconclusive"
                )
            });
            done.then_some(runs)
        })
        .await
    };
    let calm_runs = finished(CALM).await;
    assert_eq!(calm_runs, finished(KILLED).await);
    assert!(!calm_runs.is_empty());
}

/// Killed while a canary waits out a timed pause, and kept dead past the pause's end: the new
/// runner advances from the start time recorded in status (never a fresh one), and neither the
/// step run nor the background run is created twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_a_timed_pause() {
    let cluster = start().await;
    let c = &cluster.client;
    let canary = json!({
        "analysis": {"templates": [{"templateName": "forever"}]},
        "steps": [{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "pass"}]}},
                  {"pause": {"duration": "3s"}}]
    });
    let calm_runner = start_namespace_runner(c, CALM);
    let killed_runner = start_namespace_runner(c, KILLED);
    for ns in [CALM, KILLED] {
        create_rollout(c, ns, &canary_rollout("web", 2, "nginx:1.0", &canary)).await;
        wait_healthy(c, ns, "web").await;
        set_image(&cluster, ns, "web", "nginx:2.0").await;
    }
    let paused = wait_status(c, KILLED, "web", "paused at the timed pause", |s| {
        s["currentStepIndex"] == 2 && s["pauseConditions"][0]["reason"] == "CanaryPauseStep"
    })
    .await;
    killed_runner.kill();
    let started = paused["pauseConditions"][0]["startTime"].clone();
    assert!(started.is_string(), "{paused:#}");
    let sets_before = replica_set_names(&cluster, KILLED, "web").await;

    // Nobody drives `killed` while its pause runs out.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let dead = status(c, KILLED, "web").await;
    assert_eq!(dead["currentStepIndex"], 2, "{dead:#}");

    let _restarted = start_namespace_runner(c, KILLED);
    let pause_started_again = |s: &Value| {
        s["pauseConditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["startTime"] != started))
    };
    eventually("killed/web Healthy without a new pause start", || async {
        let s = status(c, KILLED, "web").await;
        assert!(!pause_started_again(&s), "the pause restarted: {s:#}");
        (s["phase"] == "Healthy" && s["stableRS"] == s["currentPodHash"]).then_some(())
    })
    .await;
    assert_eq!(
        replica_set_names(&cluster, KILLED, "web").await,
        sets_before
    );
    assert_same_outcome(&cluster, "web").await;
    calm_runner.stop().await;
}

/// Killed while the new ReplicaSet scales up one pod at a time (each pod takes 1 s to be
/// Ready): the new runner finishes with the same two ReplicaSets and the one background run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_scaling() {
    let cluster = start().await;
    let c = &cluster.client;
    let mut rollout = serde_json::to_value(canary_rollout(
        "web",
        5,
        "nginx:1.0",
        &json!({"maxSurge": 1, "maxUnavailable": 0,
                "analysis": {"templates": [{"templateName": "forever"}]}}),
    ))
    .unwrap();
    rollout["spec"]["template"]["metadata"]["annotations"] =
        json!({"sandbox.rolltop.dev/ready-delay": "1s"});
    let rollout = rollout_from(rollout);
    let calm_runner = start_namespace_runner(c, CALM);
    let killed_runner = start_namespace_runner(c, KILLED);
    for ns in [CALM, KILLED] {
        create_rollout(c, ns, &rollout).await;
        wait_healthy(c, ns, "web").await;
        set_image(&cluster, ns, "web", "nginx:2.0").await;
    }
    let new_hash = wait_status(c, KILLED, "web", "killed/web scaling up", |s| {
        s["currentPodHash"] != s["stableRS"] && s["updatedReplicas"].as_i64().unwrap_or(0) >= 1
    })
    .await["currentPodHash"]
        .as_str()
        .unwrap()
        .to_owned();
    killed_runner.kill();
    let sizes = replicas_by_hash(c, KILLED, "web").await;
    assert!(
        sizes.get(&new_hash).is_some_and(|n| (1..5).contains(n)),
        "killed mid-scale: {sizes:?}"
    );
    let sets_before = replica_set_names(&cluster, KILLED, "web").await;

    let _restarted = start_namespace_runner(c, KILLED);
    wait_status(
        c,
        KILLED,
        "web",
        "killed/web Healthy on the new hash",
        |s| s["phase"] == "Healthy" && s["stableRS"] == new_hash.as_str(),
    )
    .await;
    assert_eq!(
        replica_set_names(&cluster, KILLED, "web").await,
        sets_before
    );
    assert_same_outcome(&cluster, "web").await;
    calm_runner.stop().await;
}

/// Killed as soon as the step AnalysisRun exists, perhaps before the rollout's status names
/// it: the new runner adopts that run instead of creating a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_a_step_analysis() {
    let cluster = start().await;
    let c = &cluster.client;
    let canary = json!({
        "steps": [{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "pass"}]}}]
    });
    let calm_runner = start_namespace_runner(c, CALM);
    let killed_runner = start_namespace_runner(c, KILLED);
    for ns in [CALM, KILLED] {
        create_rollout(c, ns, &canary_rollout("web", 2, "nginx:1.0", &canary)).await;
        wait_healthy(c, ns, "web").await;
        set_image(&cluster, ns, "web", "nginx:2.0").await;
    }
    eventually("killed/web's step run created", || async {
        (!analysis_runs(c, KILLED, "web").await.is_empty()).then_some(())
    })
    .await;
    killed_runner.kill();
    let runs_before: Vec<String> = analysis_runs(c, KILLED, "web")
        .await
        .into_iter()
        .filter_map(|run| run.metadata.name)
        .collect();

    let _restarted = start_namespace_runner(c, KILLED);
    wait_healthy(c, KILLED, "web").await;
    let runs_after: Vec<String> = analysis_runs(c, KILLED, "web")
        .await
        .into_iter()
        .filter_map(|run| run.metadata.name)
        .collect();
    assert_eq!(runs_after, runs_before);
    assert_same_outcome(&cluster, "web").await;
    calm_runner.stop().await;
}
