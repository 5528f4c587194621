//! The basic-canary and analysis conformance scenarios of the controller spec (§8 S1–S12, S14,
//! S30–S32) end to end: an in-process sandbox with the simulated ReplicaSet/kubelet/Job
//! controllers, the real runner over HTTP, operator actions sent by the built binary as the
//! kubectl plugin sends them, and assertions on ReplicaSet sizes, Service selectors, status and
//! AnalysisRun counts read back from the API server. Crashing and never-ready canaries are image
//! tags the simulated kubelet honours; slow readiness is the pod `ready-delay` annotation;
//! analyses run real Jobs in the sandbox, or the `web` provider against a loopback endpoint the
//! test serves. Pauses and delays are a few seconds, and every check polls until the state is
//! reached.

use std::time::Duration;

use rolltop::sandbox::sim::SimConfig;
use serde_json::{Value, json};

use crate::harness::{
    Cluster, Runner, analysis_run_phases, analysis_runs, canary_rollout, cluster_with,
    create_analysis_template, create_dynamic, create_rollout, create_service, dynamic_api,
    fast_sim, hash_of_revision, job_metric, owned_replica_sets, patch_spec, replica_counts,
    replicas_by_revision, rollout_from, rs_hash, selector_hash, start_namespace_runner, status,
    wait_counts, wait_healthy, wait_revisions, wait_status,
};

const NS: &str = "conformance";
const V1: &str = "nginx:1.0";
const V2: &str = "nginx:2.0";
const V3: &str = "nginx:3.0";
/// The simulated kubelet restarts containers of this tag forever (CrashLoopBackOff).
const CRASHING: &str = "nginx:2.0-crashloop";
/// Runs but never passes readiness.
const NEVER_READY: &str = "nginx:2.0-never-ready";

/// A sandbox with the given simulated kubelet and the runner started on [`NS`].
async fn start(sim: SimConfig) -> (Cluster, Runner) {
    let cluster = cluster_with(&[NS], sim).await;
    let runner = start_namespace_runner(&cluster.client, NS);
    (cluster, runner)
}

/// The fast kubelet, with Job pods (analysis measurements) running one second.
fn analysis_sim() -> SimConfig {
    SimConfig {
        run_duration: Duration::from_secs(1),
        ..fast_sim()
    }
}

/// Creates the rollout and waits for its first revision to be Healthy.
async fn deploy(cluster: &Cluster, rollout: &rolltop::crd::Rollout) {
    create_rollout(&cluster.client, NS, rollout).await;
    let name = rollout.metadata.name.clone().unwrap();
    wait_healthy(&cluster.client, NS, &name).await;
}

/// `kubectl argo rollouts set image NAME app=IMAGE`.
async fn set_image(cluster: &Cluster, name: &str, image: &str) {
    cluster
        .plugin(NS, &["set", "image", name, &format!("app={image}")])
        .await;
}

/// Paused by a canary pause step at `index`.
async fn wait_paused_at(cluster: &Cluster, name: &str, index: i64) -> Value {
    wait_status(
        &cluster.client,
        NS,
        name,
        &format!("{name} paused at step {index}"),
        |s| {
            s["phase"] == "Paused"
                && s["currentStepIndex"] == index
                && s["pauseConditions"][0]["reason"] == "CanaryPauseStep"
        },
    )
    .await
}

/// Healthy on the revision whose ReplicaSet has `hash`.
async fn wait_healthy_on(cluster: &Cluster, name: &str, hash: &str) -> Value {
    wait_status(
        &cluster.client,
        NS,
        name,
        &format!("{name} Healthy on {hash}"),
        |s| s["phase"] == "Healthy" && s["stableRS"] == hash && s["currentPodHash"] == hash,
    )
    .await
}

async fn wait_degraded_with(cluster: &Cluster, name: &str, message_part: &str) -> Value {
    wait_status(
        &cluster.client,
        NS,
        name,
        &format!("{name} Degraded with {message_part:?}"),
        |s| {
            s["phase"] == "Degraded"
                && s["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(message_part))
        },
    )
    .await
}

async fn run_count(cluster: &Cluster, name: &str) -> usize {
    analysis_runs(&cluster.client, NS, name).await.len()
}

/// The name of the ReplicaSet with revision `revision`.
async fn rs_name_of_revision(cluster: &Cluster, name: &str, revision: u32) -> String {
    owned_replica_sets(&cluster.client, NS, name)
        .await
        .into_iter()
        .find(|rs| {
            rs.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("rollout.argoproj.io/revision"))
                .is_some_and(|r| r == &revision.to_string())
        })
        .and_then(|rs| rs.metadata.name)
        .unwrap_or_default()
}

/// A template whose one metric asks a local endpoint that always answers `{"ok": true}` and
/// succeeds when `ok` is `succeed_on`, failing otherwise. `endless`: measured every second until
/// the run is terminated (as a web measurement is never in flight for long, a terminated run
/// ends Successful); otherwise measured once, at once.
async fn web_template(cluster: &Cluster, name: &str, succeed_on: bool, endless: bool) {
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(|| async { r#"{"ok": true}"# }),
    );
    let address = crate::prometheus::serve(app).await;
    let mut metric = json!({
        "name": "health",
        "successCondition": format!("result == {succeed_on}"),
        "provider": {"web": {"url": format!("http://{address}/health"), "jsonPath": "{$.ok}"}},
    });
    if endless {
        metric["interval"] = json!("1s");
    }
    create_analysis_template(&cluster.client, NS, name, json!({"metrics": [metric]})).await;
}

/// A pod template annotation making the simulated kubelet report pods Ready only after `delay`.
fn with_ready_delay(mut rollout: Value, delay: &str) -> Value {
    rollout["spec"]["template"]["metadata"]["annotations"] =
        json!({"sandbox.rolltop.dev/ready-delay": delay});
    rollout
}

fn canary_json(name: &str, replicas: i32, canary: &Value) -> Value {
    serde_json::to_value(canary_rollout(name, replicas, V1, canary)).unwrap()
}

/// S1 TestRolloutScalingWhenPaused: scaling a paused canary goes through the scaling path and
/// keeps the step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s1_scaling_a_paused_canary() {
    let (cluster, _runner) = start(fast_sim()).await;
    let c = &cluster.client;
    let canary = json!({"steps": [{"setWeight": 25}, {"pause": {}}]});
    deploy(&cluster, &canary_rollout("s1", 1, V1, &canary)).await;

    set_image(&cluster, "s1", V2).await;
    wait_paused_at(&cluster, "s1", 1).await;
    wait_revisions(c, NS, "s1", &[(1, 1), (2, 1)]).await;

    patch_spec(c, NS, "s1", json!({"replicas": 8})).await;
    wait_revisions(c, NS, "s1", &[(1, 6), (2, 2)]).await;
    patch_spec(c, NS, "s1", json!({"replicas": 4})).await;
    wait_revisions(c, NS, "s1", &[(1, 3), (2, 1)]).await;
    let s = wait_paused_at(&cluster, "s1", 1).await;
    assert_eq!(s["pauseConditions"].as_array().unwrap().len(), 1, "{s:#}");
}

/// S2 TestRolloutWithMaxSurgeScalingDuringUpdate: no steps, maxSurge 100%. The new revision
/// never becomes ready (the reference's canary is not ready before the checks either), so the
/// surged sizes hold while the test scales.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_no_steps_max_surge_100() {
    let (cluster, _runner) = start(fast_sim()).await;
    let c = &cluster.client;
    deploy(
        &cluster,
        &canary_rollout("s2", 4, V1, &json!({"maxSurge": "100%"})),
    )
    .await;

    set_image(&cluster, "s2", NEVER_READY).await;
    wait_revisions(c, NS, "s2", &[(1, 3), (2, 4)]).await;
    wait_counts(c, NS, "s2", (4, 7, 4, 3, 3)).await;

    patch_spec(c, NS, "s2", json!({"replicas": 8})).await;
    wait_revisions(c, NS, "s2", &[(1, 3), (2, 8)]).await;
    wait_counts(c, NS, "s2", (8, 11, 8, 3, 3)).await;
    patch_spec(c, NS, "s2", json!({"replicas": 4})).await;
    wait_revisions(c, NS, "s2", &[(1, 3), (2, 4)]).await;
    wait_counts(c, NS, "s2", (4, 7, 4, 3, 3)).await;
}

/// S3 TestRolloutScalingDuringUpdate: a crashing canary with maxSurge 2 / maxUnavailable 0;
/// stable cannot shrink and the canary is never available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_crashing_canary_max_surge_2() {
    let (cluster, _runner) = start(fast_sim()).await;
    let c = &cluster.client;
    let canary = json!({"maxSurge": 2, "maxUnavailable": 0});
    deploy(&cluster, &canary_rollout("s3", 4, V1, &canary)).await;

    set_image(&cluster, "s3", CRASHING).await;
    wait_revisions(c, NS, "s3", &[(1, 4), (2, 2)]).await;
    patch_spec(c, NS, "s3", json!({"replicas": 8})).await;
    wait_revisions(c, NS, "s3", &[(1, 4), (2, 6)]).await;
    patch_spec(c, NS, "s3", json!({"replicas": 4})).await;
    wait_revisions(c, NS, "s3", &[(1, 4), (2, 2)]).await;
    assert_eq!(replica_counts(c, NS, "s3").await.4, 4);
}

/// S4 TestReduceWeightAndHonorMaxUnavailable: lowering the weight surges stable first and the
/// canary is not reduced until the new stable pods are available (pods here take 1.5 s to be
/// Ready, which is what makes the intermediate sizes observable); a failing step analysis
/// aborts with one AnalysisRun and scales back the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s4_reducing_weight_honours_max_unavailable() {
    let (cluster, _runner) = start(fast_sim()).await;
    let c = &cluster.client;
    web_template(&cluster, "fail", false, false).await;
    let canary = json!({"maxSurge": 2, "maxUnavailable": 0, "steps": [
        {"setWeight": 100}, {"pause": {}}, {"setWeight": 0}, {"pause": {}},
        {"setWeight": 100}, {"analysis": {"templates": [{"templateName": "fail"}]}}
    ]});
    let rollout = rollout_from(with_ready_delay(canary_json("s4", 3, &canary), "1500ms"));
    deploy(&cluster, &rollout).await;

    set_image(&cluster, "s4", V2).await;
    wait_paused_at(&cluster, "s4", 1).await;
    wait_revisions(c, NS, "s4", &[(1, 0), (2, 3)]).await;

    cluster.plugin(NS, &["promote", "s4"]).await;
    wait_revisions(c, NS, "s4", &[(1, 2), (2, 3)]).await;
    wait_paused_at(&cluster, "s4", 3).await;
    wait_revisions(c, NS, "s4", &[(1, 3), (2, 0)]).await;

    cluster.plugin(NS, &["promote", "s4"]).await;
    wait_degraded_with(&cluster, "s4", "RolloutAborted").await;
    wait_revisions(c, NS, "s4", &[(1, 2), (2, 3)]).await;
    wait_revisions(c, NS, "s4", &[(1, 3), (2, 0)]).await;
    assert_eq!(analysis_run_phases(c, NS, "s4").await, ["Failed"]);
}

/// S5 TestRolloutGoodToBadUpdate: a crashing update exceeds the progress deadline (2 s here);
/// a second crashing update scales the intermediate revision away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_good_to_bad_to_bad_update() {
    let (cluster, _runner) = start(fast_sim()).await;
    let c = &cluster.client;
    let canary = json!({"maxSurge": 1, "maxUnavailable": 0});
    deploy(&cluster, &canary_rollout("s5", 4, V1, &canary)).await;

    patch_spec(
        c,
        NS,
        "s5",
        json!({"progressDeadlineSeconds": 2,
               "template": {"spec": {"containers": [{"name": "app", "image": CRASHING}]}}}),
    )
    .await;
    let rs2 = eventually_rs_name(&cluster, "s5", 2).await;
    let s = wait_degraded_with(&cluster, "s5", &rs2).await;
    assert_eq!(
        s["message"],
        format!("ProgressDeadlineExceeded: ReplicaSet \"{rs2}\" has timed out progressing.")
    );
    wait_revisions(c, NS, "s5", &[(1, 4), (2, 1)]).await;

    set_image(&cluster, "s5", "nginx:3.0-crashloop").await;
    let rs3 = eventually_rs_name(&cluster, "s5", 3).await;
    wait_degraded_with(&cluster, "s5", &rs3).await;
    wait_revisions(c, NS, "s5", &[(1, 4), (2, 0), (3, 1)]).await;
}

async fn eventually_rs_name(cluster: &Cluster, name: &str, revision: u32) -> String {
    crate::harness::eventually(&format!("{name} revision {revision}"), || async {
        let rs = rs_name_of_revision(cluster, name, revision).await;
        (!rs.is_empty()).then_some(rs)
    })
    .await
}

/// S6 TestRolloutBadToGoodUpdate: a crashing first revision is stable at once (initial deploy)
/// and Degraded; fixing the image makes the rollout Healthy on the new revision. Variants:
/// …BadToGoodSetWeightUpdate (steps `setWeight 50, pause 2s`) ends the same way,
/// …BadToBadUpdate stays Degraded with one new pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_bad_to_good_update() {
    let (cluster, _runner) = start(fast_sim()).await;
    let c = &cluster.client;
    // As in the reference's functional tests: maxSurge 1, maxUnavailable 0.
    let mut rollout = canary_json("s6", 4, &json!({"maxSurge": 1, "maxUnavailable": 0}));
    rollout["spec"]["progressDeadlineSeconds"] = json!(2);
    rollout["spec"]["template"]["spec"]["containers"][0]["image"] = json!(CRASHING);
    create_rollout(c, NS, &rollout_from(rollout)).await;
    let rs1 = eventually_rs_name(&cluster, "s6", 1).await;
    let s = wait_degraded_with(&cluster, "s6", "ProgressDeadlineExceeded").await;
    assert_eq!(s["stableRS"], hash_of_revision(c, NS, "s6", 1).await);
    assert!(s["message"].as_str().unwrap().contains(&rs1), "{s:#}");

    set_image(&cluster, "s6", V2).await;
    let rev2 = eventually_rs_name(&cluster, "s6", 2).await;
    let hash2 = rev2.rsplit('-').next().unwrap().to_owned();
    wait_healthy_on(&cluster, "s6", &hash2).await;
    wait_revisions(c, NS, "s6", &[(1, 0), (2, 4)]).await;

    let steps = json!({"maxSurge": 1, "maxUnavailable": 0,
                       "steps": [{"setWeight": 50}, {"pause": {"duration": "2s"}}]});
    let plain = json!({"maxSurge": 1, "maxUnavailable": 0});
    for (name, canary, fixed) in [("s6w", steps, V2), ("s6b", plain, "nginx:3.0-crashloop")] {
        let mut rollout = canary_json(name, 4, &canary);
        rollout["spec"]["progressDeadlineSeconds"] = json!(2);
        rollout["spec"]["template"]["spec"]["containers"][0]["image"] = json!(CRASHING);
        create_rollout(c, NS, &rollout_from(rollout)).await;
        wait_degraded_with(&cluster, name, "ProgressDeadlineExceeded").await;
        set_image(&cluster, name, fixed).await;
    }
    let good2 = eventually_rs_name(&cluster, "s6w", 2).await;
    wait_healthy_on(&cluster, "s6w", good2.rsplit('-').next().unwrap()).await;
    wait_revisions(c, NS, "s6w", &[(1, 0), (2, 4)]).await;
    let bad2 = eventually_rs_name(&cluster, "s6b", 2).await;
    wait_degraded_with(&cluster, "s6b", &bad2).await;
    wait_revisions(c, NS, "s6b", &[(1, 4), (2, 1)]).await;
}

/// S7 TestRolloutAbortRetryPromote: abort scales the canary away, retry re-runs the steps and
/// the timed pause resumes on its own. The pause lasts 5 s rather than the reference's 3 so a
/// loaded machine still aborts before it expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s7_abort_retry_auto_resume() {
    let (cluster, _runner) = start(fast_sim()).await;
    let c = &cluster.client;
    let canary = json!({"steps": [{"setWeight": 50}, {"pause": {"duration": "5s"}}]});
    deploy(&cluster, &canary_rollout("s7", 1, V1, &canary)).await;

    set_image(&cluster, "s7", V2).await;
    wait_paused_at(&cluster, "s7", 1).await;
    wait_revisions(c, NS, "s7", &[(1, 1), (2, 1)]).await;

    cluster.plugin(NS, &["abort", "s7"]).await;
    let s = wait_degraded_with(&cluster, "s7", "RolloutAborted").await;
    assert_eq!(
        s["message"],
        "RolloutAborted: Rollout aborted update to revision 2"
    );
    wait_revisions(c, NS, "s7", &[(1, 1), (2, 0)]).await;

    cluster.plugin(NS, &["retry", "rollout", "s7"]).await;
    wait_paused_at(&cluster, "s7", 1).await;
    wait_revisions(c, NS, "s7", &[(1, 1), (2, 1)]).await;
    let hash2 = hash_of_revision(c, NS, "s7", 2).await;
    wait_healthy_on(&cluster, "s7", &hash2).await;
    wait_revisions(c, NS, "s7", &[(1, 0), (2, 1)]).await;

    // The reference's event reasons, in the order the API server stored them (the reference
    // also starts with RolloutAddedToInformer, an informer event rolltop does not emit).
    let want = [
        "RolloutUpdated",
        "NewReplicaSetCreated",
        "RolloutNotCompleted",
        "ScalingReplicaSet",
        "RolloutCompleted",
        "RolloutUpdated",
        "NewReplicaSetCreated",
        "RolloutNotCompleted",
        "ScalingReplicaSet",
        "RolloutStepCompleted",
        "RolloutPaused",
        "ScalingReplicaSet",
        "RolloutAborted",
        "ScalingReplicaSet",
        "RolloutStepCompleted",
        "RolloutPaused",
        "RolloutStepCompleted",
        "RolloutResumed",
        "ScalingReplicaSet",
        "RolloutCompleted",
    ];
    let reasons = crate::harness::eventually("s7's last event recorded", || async {
        let reasons = event_reasons(&cluster, "s7").await;
        (reasons.len() >= want.len()).then_some(reasons)
    })
    .await;
    assert_eq!(reasons, want);
}

/// The reasons of the Events about rollout `name`, in the order they were created.
async fn event_reasons(cluster: &Cluster, name: &str) -> Vec<String> {
    let mut events: Vec<(u64, String)> =
        kube::Api::<k8s_openapi::api::core::v1::Event>::namespaced(cluster.client.clone(), NS)
            .list(&kube::api::ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| {
                e.involved_object.kind.as_deref() == Some("Rollout")
                    && e.involved_object.name.as_deref() == Some(name)
            })
            .map(|e| {
                let version = e
                    .metadata
                    .resource_version
                    .as_deref()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                (version, e.reason.unwrap_or_default())
            })
            .collect();
    events.sort();
    events.into_iter().map(|(_, reason)| reason).collect()
}

/// S8 TestCanaryPromoteFull: promoting past a running step analysis cancels it, abort then
/// `promote --full` ends Healthy without creating any other run (the background analysis
/// starts at a step never reached). The "24h" analysis is a web metric measured every second
/// forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s8_promote_through_analysis_abort_promote_full() {
    let (cluster, _runner) = start(analysis_sim()).await;
    let c = &cluster.client;
    web_template(&cluster, "forever", true, true).await;
    let analysis = json!({"templates": [{"templateName": "forever"}]});
    let canary = json!({
        "analysis": {"templates": [{"templateName": "forever"}], "startingStep": 4},
        "steps": [{"pause": {"duration": "24h"}}, {"analysis": analysis}, {"pause": {}},
                  {"analysis": analysis}]
    });
    deploy(&cluster, &canary_rollout("s8", 1, V1, &canary)).await;

    set_image(&cluster, "s8", V2).await;
    wait_paused_at(&cluster, "s8", 0).await;
    cluster.plugin(NS, &["promote", "s8"]).await;
    wait_status(c, NS, "s8", "s8 running its step analysis", |s| {
        s["phase"] == "Progressing" && s["currentStepIndex"] == 1
    })
    .await;
    crate::harness::eventually("one Running step run", || async {
        (analysis_run_phases(c, NS, "s8").await == ["Running"]).then_some(())
    })
    .await;

    cluster.plugin(NS, &["promote", "s8"]).await;
    wait_paused_at(&cluster, "s8", 2).await;
    cluster.plugin(NS, &["abort", "s8"]).await;
    wait_degraded_with(&cluster, "s8", "RolloutAborted").await;
    // As with the reference plugin, `promote --full` of an aborted update sends `promoteFull`.
    cluster.plugin(NS, &["promote", "s8", "--full"]).await;
    let hash2 = hash_of_revision(c, NS, "s8", 2).await;
    wait_healthy_on(&cluster, "s8", &hash2).await;
    assert_eq!(run_count(&cluster, "s8").await, 1);
}

/// S9 TestCanaryWithPausedRollout: a second update while paused scales the intermediate
/// revision away; the canary/stable Services follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s9_update_while_paused() {
    let (cluster, _runner) = start(fast_sim()).await;
    let c = &cluster.client;
    create_service(c, NS, "s9-canary", "s9", 80).await;
    create_service(c, NS, "s9-stable", "s9", 80).await;
    let canary = json!({"canaryService": "s9-canary", "stableService": "s9-stable",
                        "steps": [{"setWeight": 20}, {"pause": {}}]});
    deploy(&cluster, &canary_rollout("s9", 3, V1, &canary)).await;

    set_image(&cluster, "s9", V2).await;
    wait_paused_at(&cluster, "s9", 1).await;
    set_image(&cluster, "s9", V3).await;
    wait_revisions(c, NS, "s9", &[(1, 3), (2, 0), (3, 1)]).await;
    let hash3 = hash_of_revision(c, NS, "s9", 3).await;
    wait_status(c, NS, "s9", "s9 paused on revision 3", |s| {
        s["phase"] == "Paused" && s["currentPodHash"] == hash3 && s["currentStepIndex"] == 1
    })
    .await;
    let hash1 = hash_of_revision(c, NS, "s9", 1).await;
    crate::harness::eventually("Services on revision 3 / revision 1", || async {
        (selector_hash(c, NS, "s9-canary").await.as_deref() == Some(hash3.as_str())
            && selector_hash(c, NS, "s9-stable").await.as_deref() == Some(hash1.as_str()))
        .then_some(())
    })
    .await;
}

/// S10 TestCanaryProgressDeadlineExceededWithPause: pods take 3 s to be Ready against a 1 s
/// deadline. The deadline turns the rollout Degraded while pods start, never while it waits on
/// the pause step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s10_progress_deadline_with_pause_step() {
    let (cluster, _runner) = start(fast_sim()).await;
    let c = &cluster.client;
    let canary = json!({"steps": [{"setWeight": 20}, {"pause": {}}]});
    let mut rollout = with_ready_delay(canary_json("s10", 3, &canary), "3s");
    rollout["spec"]["progressDeadlineSeconds"] = json!(1);
    create_rollout(c, NS, &rollout_from(rollout)).await;
    wait_degraded_with(&cluster, "s10", "ProgressDeadlineExceeded").await;
    wait_healthy(c, NS, "s10").await;

    set_image(&cluster, "s10", V2).await;
    let rs2 = eventually_rs_name(&cluster, "s10", 2).await;
    wait_degraded_with(&cluster, "s10", &rs2).await;
    wait_paused_at(&cluster, "s10", 1).await;
    wait_revisions(c, NS, "s10", &[(1, 3), (2, 1)]).await;

    cluster.plugin(NS, &["promote", "s10"]).await;
    wait_degraded_with(&cluster, "s10", &rs2).await;
    let hash2 = hash_of_revision(c, NS, "s10", 2).await;
    wait_healthy_on(&cluster, "s10", &hash2).await;
}

/// S11 TestCanaryWithSpecPause / TestNoResumeAfterPauseDurationIfUserPaused: `spec.paused`
/// shows as "manually paused" with one Progressing=Unknown condition, and an expired pause
/// step does not advance until the user unpauses. The 5 s pause leaves time to pause first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s11_spec_paused() {
    let (cluster, _runner) = start(fast_sim()).await;
    let c = &cluster.client;
    let canary = json!({"steps": [{"setWeight": 10}, {"pause": {"duration": "5s"}},
                                  {"setWeight": 20}]});
    deploy(&cluster, &canary_rollout("s11", 2, V1, &canary)).await;

    set_image(&cluster, "s11", V2).await;
    wait_paused_at(&cluster, "s11", 1).await;
    cluster.plugin(NS, &["pause", "s11"]).await;
    let progressing = |s: &Value| {
        s["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let paused = wait_status(c, NS, "s11", "s11 manually paused", |s| {
        s["phase"] == "Paused"
            && s["message"] == "manually paused"
            && progressing(s)["status"] == "Unknown"
            && progressing(s)["reason"] == "RolloutPaused"
    })
    .await;
    // Let the 5 s pause step expire (nothing may happen meanwhile; this waits, it does not
    // time anything).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let later = status(c, NS, "s11").await;
    assert_eq!(later["currentStepIndex"], 1, "{later:#}");
    assert_eq!(later["message"], "manually paused", "{later:#}");
    assert_eq!(
        progressing(&later)["lastTransitionTime"],
        progressing(&paused)["lastTransitionTime"],
        "the RolloutPaused condition is written once"
    );

    patch_spec(c, NS, "s11", json!({"paused": false})).await;
    let hash2 = hash_of_revision(c, NS, "s11", 2).await;
    wait_healthy_on(&cluster, "s11", &hash2).await;
}

/// S12 TestRolloutRestart: `restart` evicts as many pods as maxUnavailable (75 % of 4 = 3)
/// at once; pods take 2 s to be Ready so the evicted state is observable. The PDB variant is
/// `s12_restart_blocked_by_a_pod_disruption_budget`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s12_restart() {
    let (cluster, _runner) = start(fast_sim()).await;
    let c = &cluster.client;
    let canary = json!({"maxUnavailable": "75%", "steps": [{"setWeight": 25}, {"pause": {}}]});
    let rollout = rollout_from(with_ready_delay(canary_json("s12", 4, &canary), "2s"));
    deploy(&cluster, &rollout).await;
    set_image(&cluster, "s12", V2).await;
    wait_paused_at(&cluster, "s12", 1).await;
    wait_revisions(c, NS, "s12", &[(1, 3), (2, 1)]).await;
    wait_counts(c, NS, "s12", (4, 4, 1, 4, 4)).await;

    cluster.plugin(NS, &["restart", "s12"]).await;
    wait_counts(c, NS, "s12", (4, 4, 1, 1, 1)).await;
    let s = wait_status(c, NS, "s12", "s12 restarted every pod", |s| {
        s["restartedAt"].is_string()
    })
    .await;
    assert_eq!(s["phase"], "Paused", "{s:#}");
    wait_counts(c, NS, "s12", (4, 4, 1, 4, 4)).await;
}

/// S12 TestRolloutPDBRestart: maxUnavailable 100 % but a PodDisruptionBudget with
/// `minAvailable: 4` — the sandbox's eviction subresource answers 429 as the API server does,
/// so no pod goes and the counts stay `(4,4,1,4,4)`; once the budget is deleted the
/// controller's next attempt (it retries every 30 s) evicts them and the restart completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s12_restart_blocked_by_a_pod_disruption_budget() {
    let (cluster, _runner) = start(fast_sim()).await;
    let c = &cluster.client;
    let canary = json!({"maxUnavailable": "100%", "steps": [{"setWeight": 25}, {"pause": {}}]});
    deploy(&cluster, &rollout_from(canary_json("s12pdb", 4, &canary))).await;
    set_image(&cluster, "s12pdb", V2).await;
    wait_paused_at(&cluster, "s12pdb", 1).await;
    wait_counts(c, NS, "s12pdb", (4, 4, 1, 4, 4)).await;
    let budgets = dynamic_api(
        c,
        NS,
        "policy/v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
    );
    create_dynamic(
        &budgets,
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
               "metadata": {"name": "s12pdb", "namespace": NS},
               "spec": {"minAvailable": 4, "selector": {"matchLabels": {"app": "s12pdb"}}}}),
    )
    .await;
    let before = pod_names(c, "s12pdb").await;
    // The budget is enforced where the controller meets it: an eviction is refused with 429.
    let pods = kube::Api::<k8s_openapi::api::core::v1::Pod>::namespaced(c.clone(), NS);
    let first = before.iter().next().unwrap();
    match pods.evict(first, &kube::api::EvictParams::default()).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 429, "{status:?}");
            assert!(status.message.contains("disruption budget"), "{status:?}");
        }
        other => panic!("eviction not refused: {other:?}"),
    }

    cluster.plugin(NS, &["restart", "s12pdb"]).await;
    // The controller acts on restartAt at once; for a few seconds nothing may go away.
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(pod_names(c, "s12pdb").await, before, "a pod was evicted");
    }
    assert_eq!(replica_counts(c, NS, "s12pdb").await, (4, 4, 1, 4, 4));

    budgets
        .delete("s12pdb", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    let s = wait_status(
        c,
        NS,
        "s12pdb",
        "the restart done once the budget is gone",
        |s| s["restartedAt"].is_string(),
    )
    .await;
    assert_eq!(s["phase"], "Paused", "{s:#}");
    let after = pod_names(c, "s12pdb").await;
    assert!(after.is_disjoint(&before), "{before:?} {after:?}");
}

/// Names of the live pods of `app`.
async fn pod_names(client: &kube::Client, app: &str) -> std::collections::BTreeSet<String> {
    kube::Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client.clone(), NS)
        .list(&kube::api::ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.name)
        .collect()
}

/// S14 TestRollBackToStable, end to end: `undo` while paused puts rev1's template back, which
/// reuses rev1's ReplicaSet as revision 3 and completes at once without a new ReplicaSet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s14_rollback_to_stable() {
    let (cluster, _runner) = start(fast_sim()).await;
    let c = &cluster.client;
    let canary = json!({"maxSurge": 1, "steps": [{"setWeight": 10}, {"pause": {}}]});
    deploy(&cluster, &canary_rollout("s14", 10, V1, &canary)).await;
    let hash1 = hash_of_revision(c, NS, "s14", 1).await;
    set_image(&cluster, "s14", V2).await;
    wait_paused_at(&cluster, "s14", 1).await;
    wait_revisions(c, NS, "s14", &[(1, 9), (2, 1)]).await;

    cluster.plugin(NS, &["undo", "s14"]).await;
    let s = wait_healthy_on(&cluster, "s14", &hash1).await;
    assert_eq!(s["currentStepIndex"], 2, "{s:#}");
    let sets = owned_replica_sets(c, NS, "s14").await;
    assert_eq!(sets.len(), 2, "no new ReplicaSet");
    let rs1 = sets.iter().find(|rs| rs_hash(rs) == hash1).unwrap();
    let annotations = rs1.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(annotations["rollout.argoproj.io/revision"], "3");
    assert_eq!(annotations["rollout.argoproj.io/revision-history"], "1");
    let rollout = kube::Api::<rolltop::crd::Rollout>::namespaced(c.clone(), NS)
        .get("s14")
        .await
        .unwrap();
    assert_eq!(
        rollout.metadata.annotations.unwrap_or_default()["rollout.argoproj.io/revision"],
        "3"
    );
    wait_revisions(c, NS, "s14", &[(3, 10)]).await;
}

/// S30 TestCanaryInlineAnalysis (+ TestCanaryInlineMultipleAnalysis): one run per analysis
/// step, two templates in one step still make one run; TestCanaryFailInlineMultipleAnalysis: a
/// failing step run turns the rollout Degraded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s30_step_analysis_count() {
    let (cluster, _runner) = start(analysis_sim()).await;
    let c = &cluster.client;
    for name in ["pass", "pass-too"] {
        create_analysis_template(
            c,
            NS,
            name,
            json!({"metrics": [job_metric(name, "busybox:1.36", "exit 0")]}),
        )
        .await;
    }
    let one = json!({"templates": [{"templateName": "pass"}]});
    let canary = json!({"steps": [
        {"setWeight": 10},
        {"analysis": {"templates": [{"templateName": "pass"}, {"templateName": "pass-too"}]}},
        {"pause": {}}, {"analysis": one}, {"analysis": one}
    ]});
    deploy(&cluster, &canary_rollout("s30", 2, V1, &canary)).await;
    assert_eq!(run_count(&cluster, "s30").await, 0);

    set_image(&cluster, "s30", V2).await;
    wait_paused_at(&cluster, "s30", 2).await;
    assert_eq!(analysis_run_phases(c, NS, "s30").await, ["Successful"]);
    let run = &analysis_runs(c, NS, "s30").await[0];
    assert_eq!(
        serde_json::to_value(&run.spec).unwrap()["metrics"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "both templates' metrics in one run"
    );

    cluster.plugin(NS, &["promote", "s30"]).await;
    let hash2 = hash_of_revision(c, NS, "s30", 2).await;
    wait_healthy_on(&cluster, "s30", &hash2).await;
    assert_eq!(
        analysis_run_phases(c, NS, "s30").await,
        ["Successful", "Successful", "Successful"]
    );

    create_analysis_template(
        c,
        NS,
        "fail",
        json!({"metrics": [job_metric("fail", "busybox:1.36", "exit 1")]}),
    )
    .await;
    let failing = json!({"steps": [
        {"setWeight": 10},
        {"analysis": {"templates": [{"templateName": "pass"}, {"templateName": "fail"}]}}
    ]});
    deploy(&cluster, &canary_rollout("s30f", 2, V1, &failing)).await;
    set_image(&cluster, "s30f", V2).await;
    wait_status(
        c,
        NS,
        "s30f",
        "s30f Progressing through its analysis",
        |s| s["phase"] == "Progressing" && s["currentStepIndex"] == 1,
    )
    .await;
    wait_degraded_with(&cluster, "s30f", "RolloutAborted").await;
    assert_eq!(analysis_run_phases(c, NS, "s30f").await, ["Failed"]);
}

/// S31 TestCanaryBackgroundAnalysis: the background run starts with the update and is
/// terminated, Successful, at promotion. Its web metric never finishes on its own (a Job
/// still running when terminated would end Inconclusive, spec analysis §2.7).
/// TestCanaryInconclusiveBackgroundAnalysis: an Inconclusive background run pauses the rollout
/// with `InconclusiveAnalysisRun`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s31_background_analysis() {
    let (cluster, _runner) = start(analysis_sim()).await;
    let c = &cluster.client;
    web_template(&cluster, "forever", true, true).await;
    let canary = json!({"analysis": {"templates": [{"templateName": "forever"}]},
                        "steps": [{"setWeight": 10}, {"pause": {}}]});
    deploy(&cluster, &canary_rollout("s31", 2, V1, &canary)).await;
    assert_eq!(run_count(&cluster, "s31").await, 0);

    set_image(&cluster, "s31", V2).await;
    wait_paused_at(&cluster, "s31", 1).await;
    crate::harness::eventually("the background run Running", || async {
        (analysis_run_phases(c, NS, "s31").await == ["Running"]).then_some(())
    })
    .await;
    let run = &analysis_runs(c, NS, "s31").await[0];
    assert_eq!(
        run.metadata.labels.clone().unwrap()["rollout-type"],
        "Background"
    );

    cluster.plugin(NS, &["promote", "s31"]).await;
    let hash2 = hash_of_revision(c, NS, "s31", 2).await;
    wait_healthy_on(&cluster, "s31", &hash2).await;
    crate::harness::eventually("the background run terminated Successful", || async {
        (analysis_run_phases(c, NS, "s31").await == ["Successful"]).then_some(())
    })
    .await;
    let run = &analysis_runs(c, NS, "s31").await[0];
    assert_eq!(serde_json::to_value(&run.spec).unwrap()["terminate"], true);

    // The endpoint answers 5, which meets neither condition: Inconclusive.
    let app = axum::Router::new().route("/value", axum::routing::get(|| async { "5" }));
    let address = crate::prometheus::serve(app).await;
    create_analysis_template(
        c,
        NS,
        "unsure",
        json!({"metrics": [{
            "name": "value",
            "successCondition": "result > 10",
            "failureCondition": "result < 0",
            "provider": {"web": {"url": format!("http://{address}/value")}},
        }]}),
    )
    .await;
    let unsure = json!({"analysis": {"templates": [{"templateName": "unsure"}]},
                        "steps": [{"setWeight": 10}, {"pause": {}}]});
    deploy(&cluster, &canary_rollout("s31i", 2, V1, &unsure)).await;
    set_image(&cluster, "s31i", V2).await;
    wait_status(c, NS, "s31i", "s31i paused by the inconclusive run", |s| {
        s["phase"] == "Paused" && s["message"] == "InconclusiveAnalysisRun"
    })
    .await;
    assert_eq!(analysis_run_phases(c, NS, "s31i").await, ["Inconclusive"]);
}

/// S32 rollback_window_test: inside `rollbackWindow.revisions: 2` a revert to an older
/// template skips the steps (no new run); outside it is a normal update. One replica instead
/// of the reference's two, and a web metric measured at once instead of a Job, keep the seven
/// updates short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s32_rollback_window() {
    let (cluster, _runner) = start(fast_sim()).await;
    let c = &cluster.client;
    web_template(&cluster, "pass", true, false).await;
    let mut rollout = canary_json(
        "s32",
        1,
        &json!({"steps": [{"setWeight": 50},
                          {"analysis": {"templates": [{"templateName": "pass"}]}}]}),
    );
    rollout["spec"]["rollbackWindow"] = json!({"revisions": 2});
    deploy(&cluster, &rollout_from(rollout)).await;

    let mut hashes = Vec::new();
    for (revision, image) in [(2, V2), (3, V3), (4, "nginx:4.0")] {
        set_image(&cluster, "s32", image).await;
        let rs = eventually_rs_name(&cluster, "s32", revision).await;
        let hash = rs.rsplit('-').next().unwrap().to_owned();
        wait_healthy_on(&cluster, "s32", &hash).await;
        assert_eq!(run_count(&cluster, "s32").await, revision as usize - 1);
        hashes.push(hash);
    }

    // Back to rev2's template: only rev3 lies between, inside the window.
    set_image(&cluster, "s32", V2).await;
    wait_healthy_on(&cluster, "s32", &hashes[0]).await;
    assert_eq!(run_count(&cluster, "s32").await, 3);
    assert_eq!(
        replicas_by_revision(c, NS, "s32").await.keys().max(),
        Some(&5)
    );

    // rev6 and rev7, then back to rev3's template: the ReplicaSets of rev4 and rev6 were
    // created between rev3's and the stable one's (rev5 reuses rev2's, created earlier), so
    // the revert lies outside the window and runs the steps again.
    for (revision, image, runs) in [(6, "nginx:6.0", 4), (7, "nginx:7.0", 5)] {
        set_image(&cluster, "s32", image).await;
        let rs = eventually_rs_name(&cluster, "s32", revision).await;
        wait_healthy_on(&cluster, "s32", rs.rsplit('-').next().unwrap()).await;
        assert_eq!(run_count(&cluster, "s32").await, runs);
    }
    set_image(&cluster, "s32", V3).await;
    crate::harness::eventually("a step run for the revert outside the window", || async {
        (run_count(&cluster, "s32").await == 6).then_some(())
    })
    .await;
    wait_healthy_on(&cluster, "s32", &hashes[1]).await;
}
