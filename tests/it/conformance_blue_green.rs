//! The blue-green conformance scenarios of the controller spec (§8 S33–S40) end to end: an
//! in-process sandbox with the simulated ReplicaSet/kubelet/Job controllers, the real runner
//! over HTTP, operator actions sent by the built binary as the kubectl plugin sends them, and
//! assertions on ReplicaSet sizes, active/preview Service selectors, `(d,c,u,r,a)` and
//! AnalysisRun counts read back from the API server. Pre- and post-promotion analyses run real
//! Jobs in the sandbox (2 s each); delays are a few seconds, and every check polls.

use std::time::Duration;

use rolltop::sandbox::sim::SimConfig;
use serde_json::{Value, json};

use crate::harness::{
    Cluster, Runner, analysis_run_phases, blue_green_rollout, cluster_with,
    create_analysis_template, create_rollout, create_service, eventually, fast_sim,
    hash_of_revision, job_metric, patch_spec, replicas_by_revision, rollout_from, selector_hash,
    start_namespace_runner, status, wait_counts, wait_healthy, wait_revisions, wait_status,
};

const NS: &str = "conformance";
const V1: &str = "nginx:1.0";
const V2: &str = "nginx:2.0";
const V3: &str = "nginx:3.0";

/// A sandbox whose Job pods run two seconds, with the runner started on [`NS`] and the
/// `pass`/`fail` AnalysisTemplates (a Job exiting 0 / 1) plus `exit-code` (a Job exiting with
/// its `exit-code` argument).
async fn start() -> (Cluster, Runner) {
    let cluster = cluster_with(
        &[NS],
        SimConfig {
            run_duration: Duration::from_secs(2),
            ..fast_sim()
        },
    )
    .await;
    let c = &cluster.client;
    for (name, script) in [("pass", "exit 0"), ("fail", "exit 1")] {
        create_analysis_template(
            c,
            NS,
            name,
            json!({"metrics": [job_metric(name, "busybox:1.36", script)]}),
        )
        .await;
    }
    create_analysis_template(
        c,
        NS,
        "exit-code",
        json!({"args": [{"name": "exit-code"}],
               "metrics": [job_metric("exit", "busybox:1.36", "exit {{args.exit-code}}")]}),
    )
    .await;
    let runner = start_namespace_runner(c, NS);
    (cluster, runner)
}

/// Creates `NAME-active` (and `NAME-preview` when the strategy names it), the rollout, and
/// waits for its first revision to be Healthy.
async fn deploy(cluster: &Cluster, name: &str, replicas: i32, blue_green: &Value) {
    let c = &cluster.client;
    create_service(c, NS, &format!("{name}-active"), name, 80).await;
    if blue_green.get("previewService").is_some() {
        create_service(c, NS, &format!("{name}-preview"), name, 80).await;
    }
    let mut strategy = blue_green.clone();
    strategy["activeService"] = json!(format!("{name}-active"));
    create_rollout(c, NS, &blue_green_rollout(name, replicas, V1, &strategy)).await;
    wait_healthy(c, NS, name).await;
}

async fn set_image(cluster: &Cluster, name: &str, image: &str) {
    cluster
        .plugin(NS, &["set", "image", name, &format!("app={image}")])
        .await;
}

/// Waits for the active (and preview, when given) Service to select these hashes.
async fn wait_services(cluster: &Cluster, name: &str, active: &str, preview: Option<&str>) {
    let c = &cluster.client;
    eventually(
        &format!("{name} active → {active}, preview → {preview:?}"),
        || async {
            let active_now = selector_hash(c, NS, &format!("{name}-active")).await;
            let preview_ok = match preview {
                Some(hash) => {
                    selector_hash(c, NS, &format!("{name}-preview"))
                        .await
                        .as_deref()
                        == Some(hash)
                }
                None => true,
            };
            (active_now.as_deref() == Some(active) && preview_ok).then_some(())
        },
    )
    .await;
}

async fn wait_hash(cluster: &Cluster, name: &str, revision: u32) -> String {
    eventually(&format!("{name} revision {revision}"), || async {
        let hash = hash_of_revision(&cluster.client, NS, name, revision).await;
        (!hash.is_empty()).then_some(hash)
    })
    .await
}

async fn wait_runs(cluster: &Cluster, name: &str, phases: &[&str]) {
    eventually(&format!("{name} AnalysisRuns {phases:?}"), || async {
        (analysis_run_phases(&cluster.client, NS, name).await == phases).then_some(())
    })
    .await;
}

async fn wait_phase_stable(cluster: &Cluster, name: &str, phase: &str, stable: &str) -> Value {
    wait_status(
        &cluster.client,
        NS,
        name,
        &format!("{name} {phase} with stable {stable}"),
        |s| s["phase"] == phase && s["stableRS"] == stable,
    )
    .await
}

/// S33 TestBlueGreenUpdate: the active Service switches once the new revision is fully
/// available and the old one stays scaled up for `scaleDownDelaySeconds` (3 s here); and
/// TestKubectlWaitForPaused: without auto-promotion the update waits with `Paused=True`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s33_basic_blue_green() {
    let (cluster, _runner) = start().await;
    let c = &cluster.client;
    deploy(&cluster, "s33", 3, &json!({"scaleDownDelaySeconds": 3})).await;
    wait_counts(c, NS, "s33", (3, 3, 3, 3, 3)).await;
    let hash1 = wait_hash(&cluster, "s33", 1).await;
    wait_services(&cluster, "s33", &hash1, None).await;

    set_image(&cluster, "s33", V2).await;
    let hash2 = wait_hash(&cluster, "s33", 2).await;
    wait_services(&cluster, "s33", &hash2, None).await;
    wait_phase_stable(&cluster, "s33", "Healthy", &hash2).await;
    wait_revisions(c, NS, "s33", &[(1, 3), (2, 3)]).await;
    wait_counts(c, NS, "s33", (3, 6, 3, 3, 3)).await;
    wait_revisions(c, NS, "s33", &[(1, 0), (2, 3)]).await;
    wait_counts(c, NS, "s33", (3, 3, 3, 3, 3)).await;

    // Manual promotion.
    deploy(&cluster, "s33m", 1, &json!({"autoPromotionEnabled": false})).await;
    let manual1 = wait_hash(&cluster, "s33m", 1).await;
    set_image(&cluster, "s33m", V2).await;
    let paused_condition = |s: &Value| {
        s["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Paused"))
            .map_or(Value::Null, |c| c["status"].clone())
    };
    wait_status(c, NS, "s33m", "s33m Paused=True", |s| {
        s["phase"] == "Paused" && paused_condition(s) == "True"
    })
    .await;
    wait_services(&cluster, "s33m", &manual1, None).await;
    cluster.plugin(NS, &["promote", "s33m"]).await;
    let manual2 = wait_hash(&cluster, "s33m", 2).await;
    let s = wait_phase_stable(&cluster, "s33m", "Healthy", &manual2).await;
    assert_eq!(paused_condition(&s), "False", "{s:#}");
    wait_services(&cluster, "s33m", &manual2, None).await;
}

/// S34 TestBlueGreenPreviewReplicaCount (+ …PromoteFull): the preview runs
/// `previewReplicaCount` pods until promotion, which scales it up before the switch; a pause
/// longer than the progress deadline stays Paused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s34_preview_replica_count() {
    let (cluster, _runner) = start().await;
    let c = &cluster.client;
    let strategy = json!({"previewService": "s34-preview", "previewReplicaCount": 1,
                          "autoPromotionEnabled": false, "scaleDownDelaySeconds": 5});
    deploy(&cluster, "s34", 2, &strategy).await;
    let hash1 = wait_hash(&cluster, "s34", 1).await;

    set_image(&cluster, "s34", V2).await;
    let hash2 = wait_hash(&cluster, "s34", 2).await;
    wait_phase_stable(&cluster, "s34", "Paused", &hash1).await;
    wait_revisions(c, NS, "s34", &[(1, 2), (2, 1)]).await;
    wait_counts(c, NS, "s34", (2, 3, 1, 2, 2)).await;
    wait_services(&cluster, "s34", &hash1, Some(&hash2)).await;

    cluster.plugin(NS, &["promote", "s34"]).await;
    wait_phase_stable(&cluster, "s34", "Healthy", &hash2).await;
    wait_counts(c, NS, "s34", (2, 4, 2, 2, 2)).await;
    wait_services(&cluster, "s34", &hash2, Some(&hash2)).await;

    // PromoteFull: paused past a 1 s progress deadline, still Paused.
    let mut strategy = strategy.clone();
    strategy["previewService"] = json!("s34f-preview");
    deploy(&cluster, "s34f", 2, &strategy).await;
    patch_spec(c, NS, "s34f", json!({"progressDeadlineSeconds": 1})).await;
    let full1 = wait_hash(&cluster, "s34f", 1).await;
    set_image(&cluster, "s34f", V2).await;
    wait_phase_stable(&cluster, "s34f", "Paused", &full1).await;
    // Waits past the deadline; nothing may change meanwhile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(status(c, NS, "s34f").await["phase"], "Paused");
    cluster.plugin(NS, &["promote", "s34f", "--full"]).await;
    let full2 = wait_hash(&cluster, "s34f", 2).await;
    wait_phase_stable(&cluster, "s34f", "Healthy", &full2).await;
    wait_counts(c, NS, "s34f", (2, 4, 2, 2, 2)).await;
}

/// S35 TestBlueGreenAnalysis: pre- and post-promotion runs, then re-applying the first
/// template inside the scale-down delay is a fast rollback: Healthy at once, no new run, the
/// old ReplicaSet reused as revision 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s35_pre_post_analysis_and_fast_rollback() {
    let (cluster, _runner) = start().await;
    let c = &cluster.client;
    let pass = json!({"templates": [{"templateName": "pass"}]});
    let strategy = json!({"previewService": "s35-preview", "autoPromotionEnabled": false,
                          "prePromotionAnalysis": pass, "postPromotionAnalysis": pass});
    deploy(&cluster, "s35", 1, &strategy).await;
    let hash1 = wait_hash(&cluster, "s35", 1).await;

    set_image(&cluster, "s35", V2).await;
    let hash2 = wait_hash(&cluster, "s35", 2).await;
    wait_phase_stable(&cluster, "s35", "Paused", &hash1).await;
    wait_runs(&cluster, "s35", &["Successful"]).await;
    wait_services(&cluster, "s35", &hash1, Some(&hash2)).await;

    cluster.plugin(NS, &["promote", "s35"]).await;
    wait_services(&cluster, "s35", &hash2, Some(&hash2)).await;
    wait_phase_stable(&cluster, "s35", "Healthy", &hash2).await;
    wait_runs(&cluster, "s35", &["Successful", "Successful"]).await;
    wait_counts(c, NS, "s35", (1, 2, 1, 1, 1)).await;

    set_image(&cluster, "s35", V1).await;
    wait_phase_stable(&cluster, "s35", "Healthy", &hash1).await;
    wait_services(&cluster, "s35", &hash1, Some(&hash1)).await;
    assert_eq!(analysis_run_phases(c, NS, "s35").await.len(), 2);
    assert_eq!(hash_of_revision(c, NS, "s35", 3).await, hash1);
    assert_eq!(replicas_by_revision(c, NS, "s35").await.len(), 2);
}

/// S36 TestBlueGreenPrePromotionFail: a failing pre-promotion run aborts; fixing the
/// analysis argument and `retry` promotes with a second run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s36_pre_promotion_failure_and_retry() {
    let (cluster, _runner) = start().await;
    let c = &cluster.client;
    let analysis = |code: &str| {
        json!({"templates": [{"templateName": "exit-code"}],
               "args": [{"name": "exit-code", "value": code}]})
    };
    let strategy = json!({"previewService": "s36-preview", "previewReplicaCount": 1,
                          "abortScaleDownDelaySeconds": 0,
                          "prePromotionAnalysis": analysis("1")});
    deploy(&cluster, "s36", 2, &strategy).await;
    let hash1 = wait_hash(&cluster, "s36", 1).await;

    set_image(&cluster, "s36", V2).await;
    let hash2 = wait_hash(&cluster, "s36", 2).await;
    wait_phase_stable(&cluster, "s36", "Degraded", &hash1).await;
    wait_runs(&cluster, "s36", &["Failed"]).await;
    wait_services(&cluster, "s36", &hash1, Some(&hash2)).await;

    patch_spec(
        c,
        NS,
        "s36",
        json!({"strategy": {"blueGreen": {"prePromotionAnalysis": analysis("0")}}}),
    )
    .await;
    cluster.plugin(NS, &["retry", "rollout", "s36"]).await;
    wait_phase_stable(&cluster, "s36", "Healthy", &hash2).await;
    wait_runs(&cluster, "s36", &["Failed", "Successful"]).await;
    wait_services(&cluster, "s36", &hash2, Some(&hash2)).await;
}

/// S37 TestBlueGreenPostPromotionFail: a failing post-promotion run switches the active
/// Service back to the stable revision. TestBlueGreenAbortAndUpdate: a new good update after
/// that keeps the aborted revision waiting out its abort delay and promotes normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s37_post_promotion_failure() {
    let (cluster, _runner) = start().await;
    let strategy = json!({"previewService": "s37-preview", "autoPromotionEnabled": false,
                          "postPromotionAnalysis": {"templates": [{"templateName": "fail"}]}});
    deploy(&cluster, "s37", 1, &strategy).await;
    let hash1 = wait_hash(&cluster, "s37", 1).await;

    set_image(&cluster, "s37", V2).await;
    let hash2 = wait_hash(&cluster, "s37", 2).await;
    wait_phase_stable(&cluster, "s37", "Paused", &hash1).await;
    wait_services(&cluster, "s37", &hash1, Some(&hash2)).await;

    cluster.plugin(NS, &["promote", "s37"]).await;
    // The switch happens before the post-promotion run, which runs 2 s.
    wait_services(&cluster, "s37", &hash2, Some(&hash2)).await;
    wait_phase_stable(&cluster, "s37", "Degraded", &hash1).await;
    wait_runs(&cluster, "s37", &["Failed"]).await;
    wait_services(&cluster, "s37", &hash1, Some(&hash2)).await;

    patch_spec(
        &cluster.client,
        NS,
        "s37",
        json!({"template": {"spec": {"containers": [{"name": "app", "image": V3}]}},
               "strategy": {"blueGreen": {
                   "postPromotionAnalysis": {"templates": [{"templateName": "pass"}]}}}}),
    )
    .await;
    let hash3 = wait_hash(&cluster, "s37", 3).await;
    wait_phase_stable(&cluster, "s37", "Paused", &hash1).await;
    wait_services(&cluster, "s37", &hash1, Some(&hash3)).await;
    wait_revisions(&cluster.client, NS, "s37", &[(1, 1), (2, 1), (3, 1)]).await;
    assert!(
        has_deadline(&cluster, "s37", 2).await,
        "rev2 waits out its abort delay"
    );

    cluster.plugin(NS, &["promote", "s37"]).await;
    wait_phase_stable(&cluster, "s37", "Healthy", &hash3).await;
    wait_services(&cluster, "s37", &hash3, Some(&hash3)).await;
    wait_runs(&cluster, "s37", &["Failed", "Successful"]).await;
    eventually("rev1 and rev2 scheduled for scale-down", || async {
        (has_deadline(&cluster, "s37", 1).await && has_deadline(&cluster, "s37", 2).await)
            .then_some(())
    })
    .await;
}

/// Whether the ReplicaSet of `revision` carries a `scale-down-deadline`.
async fn has_deadline(cluster: &Cluster, name: &str, revision: u32) -> bool {
    crate::harness::owned_replica_sets(&cluster.client, NS, name)
        .await
        .iter()
        .find(|rs| {
            rs.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("rollout.argoproj.io/revision"))
                .is_some_and(|r| r == &revision.to_string())
        })
        .and_then(|rs| rs.metadata.annotations.as_ref())
        .is_some_and(|a| a.contains_key("scale-down-deadline"))
}

/// S38 TestBlueGreenKitchenSink: preview count, pre-promotion success, auto-promotion after
/// `autoPromotionSeconds` (3 s here), post-promotion failure back to the stable revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s38_kitchen_sink() {
    let (cluster, _runner) = start().await;
    let c = &cluster.client;
    let strategy = json!({"previewService": "s38-preview", "previewReplicaCount": 1,
                          "autoPromotionSeconds": 3, "scaleDownDelaySeconds": 2,
                          "prePromotionAnalysis": {"templates": [{"templateName": "pass"}]},
                          "postPromotionAnalysis": {"templates": [{"templateName": "fail"}]}});
    deploy(&cluster, "s38", 2, &strategy).await;
    let hash1 = wait_hash(&cluster, "s38", 1).await;

    set_image(&cluster, "s38", V2).await;
    let hash2 = wait_hash(&cluster, "s38", 2).await;
    wait_phase_stable(&cluster, "s38", "Paused", &hash1).await;
    wait_runs(&cluster, "s38", &["Successful"]).await;
    wait_services(&cluster, "s38", &hash1, Some(&hash2)).await;
    wait_revisions(c, NS, "s38", &[(1, 2), (2, 1)]).await;
    wait_counts(c, NS, "s38", (2, 3, 1, 2, 2)).await;

    // Auto-promotion: rev2 scaled to 2, active switched, post run started.
    wait_services(&cluster, "s38", &hash2, Some(&hash2)).await;
    wait_revisions(c, NS, "s38", &[(1, 2), (2, 2)]).await;
    assert_eq!(analysis_run_phases(c, NS, "s38").await.len(), 2);

    wait_phase_stable(&cluster, "s38", "Degraded", &hash1).await;
    wait_runs(&cluster, "s38", &["Successful", "Failed"]).await;
    wait_services(&cluster, "s38", &hash1, Some(&hash2)).await;
    wait_revisions(c, NS, "s38", &[(1, 2), (2, 2)]).await;
}

/// S39 TestBlueGreenScaleDownDelay: `scaleDownDelayRevisionLimit` bounds how many old
/// revisions wait out a (day-long) scale-down delay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s39_scale_down_delay_revision_limit() {
    let (cluster, _runner) = start().await;
    let c = &cluster.client;
    let strategy = json!({"scaleDownDelaySeconds": 86400, "scaleDownDelayRevisionLimit": 2});
    deploy(&cluster, "s39", 1, &strategy).await;

    set_image(&cluster, "s39", V2).await;
    let hash2 = wait_hash(&cluster, "s39", 2).await;
    wait_phase_stable(&cluster, "s39", "Healthy", &hash2).await;
    wait_revisions(c, NS, "s39", &[(1, 1), (2, 1)]).await;
    wait_counts(c, NS, "s39", (1, 2, 1, 1, 1)).await;

    set_image(&cluster, "s39", V3).await;
    let hash3 = wait_hash(&cluster, "s39", 3).await;
    wait_phase_stable(&cluster, "s39", "Healthy", &hash3).await;
    set_image(&cluster, "s39", "nginx:4.0").await;
    let hash4 = wait_hash(&cluster, "s39", 4).await;
    wait_phase_stable(&cluster, "s39", "Healthy", &hash4).await;
    wait_revisions(c, NS, "s39", &[(1, 0), (2, 1), (3, 1), (4, 1)]).await;
    wait_counts(c, NS, "s39", (1, 3, 1, 1, 1)).await;

    patch_spec(
        c,
        NS,
        "s39",
        json!({"strategy": {"blueGreen": {"scaleDownDelayRevisionLimit": 1}}}),
    )
    .await;
    wait_revisions(c, NS, "s39", &[(1, 0), (2, 0), (3, 1), (4, 1)]).await;
    wait_counts(c, NS, "s39", (1, 2, 1, 1, 1)).await;
}

/// S40 TestBlueGreenExceedProgressDeadlineAbort (+ TestBlueGreenScaleDownOnAbort): a crashing
/// preview past a 1 s deadline is Degraded; with `progressDeadlineAbort` it is also aborted and
/// scaled away after `abortScaleDownDelaySeconds`; a manual abort scales the preview away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s40_progress_deadline_abort() {
    let (cluster, _runner) = start().await;
    let c = &cluster.client;
    let crashing = "nginx:2.0-crashloop";
    for (name, abort) in [("s40-keep", false), ("s40-abort", true)] {
        let mut rollout = serde_json::to_value(blue_green_rollout(
            name,
            1,
            V1,
            &json!({"activeService": format!("{name}-active"),
                    "abortScaleDownDelaySeconds": 2}),
        ))
        .unwrap();
        rollout["spec"]["progressDeadlineSeconds"] = json!(1);
        rollout["spec"]["progressDeadlineAbort"] = json!(abort);
        create_service(c, NS, &format!("{name}-active"), name, 80).await;
        create_rollout(c, NS, &rollout_from(rollout)).await;
        wait_healthy(c, NS, name).await;
        set_image(&cluster, name, crashing).await;
    }
    let degraded = |s: &Value| {
        s["phase"] == "Degraded"
            && s["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("ProgressDeadlineExceeded"))
    };
    let keep = wait_status(c, NS, "s40-keep", "s40-keep Degraded", degraded).await;
    assert_ne!(keep["abort"], true, "{keep:#}");
    wait_revisions(c, NS, "s40-keep", &[(1, 1), (2, 1)]).await;

    wait_status(c, NS, "s40-abort", "s40-abort aborted", |s| {
        s["phase"] == "Degraded" && s["abort"] == true
    })
    .await;
    wait_revisions(c, NS, "s40-abort", &[(1, 1), (2, 0)]).await;
    let s = status(c, NS, "s40-abort").await;
    assert_eq!(s["conditions"].as_array().unwrap().len(), 4, "{s:#}");
    // Past the abort delay the rollout without progressDeadlineAbort still keeps its preview.
    assert_eq!(replicas_by_revision(c, NS, "s40-keep").await[&2], 1);

    // Manual abort of a preview: scaled away after the delay.
    deploy(
        &cluster,
        "s40m",
        1,
        &json!({"autoPromotionEnabled": false, "abortScaleDownDelaySeconds": 1}),
    )
    .await;
    set_image(&cluster, "s40m", V2).await;
    let manual1 = wait_hash(&cluster, "s40m", 1).await;
    wait_phase_stable(&cluster, "s40m", "Paused", &manual1).await;
    wait_revisions(c, NS, "s40m", &[(1, 1), (2, 1)]).await;
    cluster.plugin(NS, &["abort", "s40m"]).await;
    wait_phase_stable(&cluster, "s40m", "Degraded", &manual1).await;
    wait_revisions(c, NS, "s40m", &[(1, 1), (2, 0)]).await;
}
