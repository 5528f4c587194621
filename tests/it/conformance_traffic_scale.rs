//! Spec §8 S15–S20 and S23 end to end: traffic-routed canaries whose replica counts and weights
//! follow `setCanaryScale`, the scale-down delays and `dynamicStableScale`, driven by the
//! in-process runner against the sandbox (simulated kubelet and ReplicaSet controller) with the
//! operator actions sent by the built binary. Routers as the spec names them: NGINX for S15,
//! ALB (an Ingress carrying the action annotation) for S16–S20, an Istio VirtualService for S23.
//! The reference tests' readiness gate is a real `spec.readinessGates` entry; the test plays
//! the gate's controller with [`open_readiness_gates`].

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::{Client, ResourceExt};
use rolltop::crd::Rollout;
use serde_json::{Value, json};

use crate::harness::{
    Cluster, canary_rollout, cluster, create_dynamic, create_rollout, create_service, eventually,
    get_json, ingresses, open_readiness_gates, owned_replica_sets, patch_status, rs_hash,
    rs_replicas, selector, set_image, start_namespace_runner, status, virtual_services,
    wait_healthy, wait_phase, wait_status,
};

const NS: &str = "scale";
/// The readiness gate the S18–S20 pods carry.
const GATE: &str = "rolltop.dev/test-ready";
const DEADLINE_KEY: &str = "scale-down-deadline";

/// A cluster with `APP-stable` / `APP-canary` Services and an Ingress `APP` whose rule points at
/// `APP-stable` (ALB `use-annotation` style, also what NGINX needs as its stable Ingress).
async fn routed_cluster(app: &str) -> Cluster {
    let cluster = cluster(&[NS]).await;
    for svc in ["stable", "canary"] {
        create_service(&cluster.client, NS, &format!("{app}-{svc}"), app, 80).await;
    }
    create_dynamic(
        &ingresses(&cluster.client, NS),
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": app},
            "spec": {"rules": [{"http": {"paths": [{"path": "/*", "pathType": "ImplementationSpecific",
                "backend": {"service": {"name": format!("{app}-stable"),
                                        "port": {"name": "use-annotation"}}}}]}}]}
        }),
    )
    .await;
    cluster
}

/// A canary over `APP-canary` / `APP-stable` with `routing`, merged with `extra`.
fn routed_rollout(app: &str, replicas: i32, routing: &Value, extra: &Value) -> Rollout {
    let mut canary = json!({
        "canaryService": format!("{app}-canary"),
        "stableService": format!("{app}-stable"),
        "trafficRouting": routing,
    });
    json_patch::merge(&mut canary, extra);
    canary_rollout(app, replicas, "nginx:1", &canary)
}

fn alb(app: &str) -> Value {
    json!({"alb": {"ingress": app, "servicePort": 80}})
}

/// The same Rollout with a readiness gate on its pods.
fn gated(mut rollout: Rollout) -> Rollout {
    let mut value = serde_json::to_value(&rollout).unwrap();
    value["spec"]["template"]["spec"]["readinessGates"] = json!([{"conditionType": GATE}]);
    rollout = serde_json::from_value(value).unwrap();
    rollout
}

async fn replica_set(client: &Client, app: &str, hash: &str) -> Option<ReplicaSet> {
    owned_replica_sets(client, NS, app)
        .await
        .into_iter()
        .find(|rs| rs_hash(rs) == hash)
}

/// (spec.replicas, scale-down-deadline) of the ReplicaSet with `hash` ((0, None) when absent).
async fn rs_state(client: &Client, app: &str, hash: &str) -> (i32, Option<String>) {
    replica_set(client, app, hash)
        .await
        .map_or((0, None), |rs| {
            (
                rs_replicas(&rs),
                rs.annotations().get(DEADLINE_KEY).cloned(),
            )
        })
}

/// Waits until `check` holds for `{hash: (replicas, has deadline)}` of the Rollout's ReplicaSets.
async fn wait_sets(
    client: &Client,
    app: &str,
    what: &str,
    check: impl Fn(&BTreeMap<String, (i32, bool)>) -> bool,
) -> BTreeMap<String, (i32, bool)> {
    eventually(what, || async {
        let sets: BTreeMap<String, (i32, bool)> = owned_replica_sets(client, NS, app)
            .await
            .iter()
            .map(|rs| {
                (
                    rs_hash(rs),
                    (rs_replicas(rs), rs.annotations().contains_key(DEADLINE_KEY)),
                )
            })
            .collect();
        check(&sets).then_some(sets)
    })
    .await
}

fn size(sets: &BTreeMap<String, (i32, bool)>, hash: &str) -> i32 {
    sets.get(hash).map_or(0, |s| s.0)
}

fn delayed(sets: &BTreeMap<String, (i32, bool)>, hash: &str) -> bool {
    sets.get(hash).is_some_and(|s| s.1)
}

/// `status.canary.weights` as (canary hash, canary weight, stable hash, stable weight).
fn weights(status: &Value) -> (String, i64, String, i64) {
    let w = &status["canary"]["weights"];
    (
        w["canary"]["podTemplateHash"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        w["canary"]["weight"].as_i64().unwrap_or(-1),
        w["stable"]["podTemplateHash"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        w["stable"]["weight"].as_i64().unwrap_or(-1),
    )
}

/// The canary weight of the ALB action on the Ingress `app`.
async fn alb_canary_weight(client: &Client, app: &str) -> Option<i64> {
    let ingress = get_json(&ingresses(client, NS), app).await?;
    let action = ingress["metadata"]["annotations"]
        [format!("alb.ingress.kubernetes.io/actions.{app}-stable")]
    .as_str()?
    .to_owned();
    let action: Value = serde_json::from_str(&action).ok()?;
    action["ForwardConfig"]["TargetGroups"][0]["Weight"].as_i64()
}

async fn wait_alb_weight(client: &Client, app: &str, weight: i64) {
    eventually(&format!("ALB canary weight {weight}"), || async {
        (alb_canary_weight(client, app).await == Some(weight)).then_some(())
    })
    .await;
}

async fn wait_selector(client: &Client, service: &str, hash: &str) {
    eventually(&format!("{service} selects {hash}"), || async {
        (selector(client, NS, service)
            .await
            .get("rollouts-pod-template-hash")
            .map(String::as_str)
            == Some(hash))
        .then_some(())
    })
    .await;
}

fn hash_of(status: &Value, field: &str) -> String {
    status[field].as_str().unwrap().to_owned()
}

/// Paused at `index` with the given `currentPodHash`.
async fn wait_paused_at(client: &Client, app: &str, index: i64) -> Value {
    wait_status(client, NS, app, &format!("paused at step {index}"), |s| {
        s["phase"] == "Paused" && s["currentStepIndex"] == index
    })
    .await
}

/// Observes for `seconds` that `check` keeps holding (for "is kept" statements; the runner
/// requeues well within that time, so a wrong controller would break it).
async fn holds_for(seconds: u64, what: &str, check: impl AsyncFn() -> bool) {
    let end = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while tokio::time::Instant::now() < end {
        assert!(check().await, "{what} no longer holds");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// S15 TestCanarySetCanaryScale (NGINX, R=4): 0/4 at the first pause, 1/4 after
/// `setCanaryScale{weight 25}`, still 1/4 at weight 50, 3/4 after `setCanaryScale{replicas 3}`,
/// 2/4 after `matchTrafficWeight`, then 4. Adapted: the timed pauses (10 s, 5 s) are 600 s
/// and promoted by the operator once observed, so a slow machine cannot run past them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s15_set_canary_scale() {
    const APP: &str = "scs";
    let cluster = routed_cluster(APP).await;
    let client = &cluster.client;
    let steps = json!([
        {"pause": {}},
        {"setCanaryScale": {"weight": 25}},
        {"pause": {"duration": "100s"}},
        {"setWeight": 50},
        {"pause": {"duration": "600s"}},
        {"setCanaryScale": {"replicas": 3}},
        {"pause": {}},
        {"setCanaryScale": {"matchTrafficWeight": true}},
        {"pause": {"duration": "600s"}}
    ]);
    create_rollout(
        client,
        NS,
        &routed_rollout(
            APP,
            4,
            &json!({"nginx": {"stableIngress": APP}}),
            &json!({"steps": steps}),
        ),
    )
    .await;
    let runner = start_namespace_runner(client, NS);
    let stable = hash_of(&wait_healthy(client, NS, APP).await, "stableRS");
    set_image(client, NS, APP, "nginx:2").await;
    let canary = hash_of(&wait_paused_at(client, APP, 0).await, "currentPodHash");
    let counts = || async {
        (
            rs_state(client, APP, &canary).await.0,
            rs_state(client, APP, &stable).await.0,
        )
    };
    assert_eq!(counts().await, (0, 4));
    for (index, want) in [(2, (1, 4)), (4, (1, 4)), (6, (3, 4)), (8, (2, 4))] {
        cluster.plugin(NS, &["promote", APP]).await;
        wait_paused_at(client, APP, index).await;
        assert_eq!(counts().await, want, "step {index}");
        if index == 4 {
            // The weight moved to 50 while the canary stays pinned at one pod.
            let canary_ingress = format!("{APP}-{APP}-canary");
            eventually("canary Ingress at weight 50", || async {
                let live = get_json(&ingresses(client, NS), &canary_ingress).await?;
                (live["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"]
                    == "50")
                    .then_some(())
            })
            .await;
        }
    }
    cluster.plugin(NS, &["promote", APP]).await;
    let done = wait_healthy(client, NS, APP).await;
    assert_eq!(hash_of(&done, "stableRS"), canary);
    assert_eq!(rs_state(client, APP, &canary).await.0, 4);
    runner.stop().await;
}

/// S16 TestCanaryScaleDownDelay (ALB, no steps, `scaleDownDelayRevisionLimit: 1`). Adapted:
/// `scaleDownDelaySeconds: 300` instead of the default 30 s, so that a slow machine does not
/// reach a deadline between the revisions (the default is covered by the pure simulation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s16_scale_down_delay_and_revision_limit() {
    const APP: &str = "delay";
    let cluster = routed_cluster(APP).await;
    let client = &cluster.client;
    create_rollout(
        client,
        NS,
        &routed_rollout(
            APP,
            1,
            &alb(APP),
            &json!({"scaleDownDelayRevisionLimit": 1, "scaleDownDelaySeconds": 300}),
        ),
    )
    .await;
    let runner = start_namespace_runner(client, NS);
    let rev1 = hash_of(&wait_healthy(client, NS, APP).await, "stableRS");
    let healthy_on_new = |from: String| {
        wait_status(client, NS, APP, "healthy on a new revision", move |s| {
            s["phase"] == "Healthy" && s["stableRS"] == s["currentPodHash"] && s["stableRS"] != from
        })
    };
    set_image(client, NS, APP, "nginx:2").await;
    let rev2 = hash_of(&healthy_on_new(rev1.clone()).await, "stableRS");
    wait_sets(client, APP, "rev1 kept with a deadline", |s| {
        size(s, &rev1) == 1 && delayed(s, &rev1)
    })
    .await;
    set_image(client, NS, APP, "nginx:3").await;
    let rev3 = hash_of(&healthy_on_new(rev2.clone()).await, "stableRS");
    wait_sets(
        client,
        APP,
        "rev1 at 0 without deadline, rev2 delayed",
        |s| size(s, &rev1) == 0 && !delayed(s, &rev1) && size(s, &rev2) == 1 && delayed(s, &rev2),
    )
    .await;
    // Back to revision 2's template: that ReplicaSet becomes revision 4 without a deadline.
    set_image(client, NS, APP, "nginx:2").await;
    let back = hash_of(&healthy_on_new(rev3.clone()).await, "stableRS");
    assert_eq!(back, rev2);
    wait_sets(client, APP, "rev4 without deadline, rev3 delayed", |s| {
        size(s, &rev1) == 0
            && !delayed(s, &rev1)
            && size(s, &rev2) == 1
            && !delayed(s, &rev2)
            && size(s, &rev3) == 1
            && delayed(s, &rev3)
    })
    .await;
    let rs = replica_set(client, APP, &rev2).await.unwrap();
    assert_eq!(rs.annotations()["rollout.argoproj.io/revision"], "4");
    runner.stop().await;
}

/// S16 TestCanaryScaleDownDelayWithProgressDeadline: with `progressDeadlineSeconds: 5`, the
/// previous stable waiting out its delay never makes the rollout Degraded. Adapted: a 12 s
/// delay, watched until the old ReplicaSet is scaled down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s16_scale_down_delay_with_progress_deadline() {
    const APP: &str = "deadline";
    let cluster = routed_cluster(APP).await;
    let client = &cluster.client;
    let mut rollout = routed_rollout(
        APP,
        1,
        &alb(APP),
        &json!({"scaleDownDelayRevisionLimit": 1, "scaleDownDelaySeconds": 12}),
    );
    rollout.spec.progress_deadline_seconds = Some(5);
    create_rollout(client, NS, &rollout).await;
    let runner = start_namespace_runner(client, NS);
    let rev1 = hash_of(&wait_healthy(client, NS, APP).await, "stableRS");
    set_image(client, NS, APP, "nginx:2").await;
    wait_status(client, NS, APP, "rev2 healthy", |s| {
        s["phase"] == "Healthy" && s["stableRS"] == s["currentPodHash"] && s["stableRS"] != rev1
    })
    .await;
    eventually(
        "rev1 scaled down after its delay, never Degraded",
        || async {
            let phase = status(client, NS, APP).await["phase"].clone();
            assert_ne!(phase, "Degraded", "a pending scale-down timed out");
            (rs_state(client, APP, &rev1).await.0 == 0).then_some(())
        },
    )
    .await;
    assert_eq!(status(client, NS, APP).await["phase"], "Healthy");
    runner.stop().await;
}

/// The S17 rollout (ALB, R=1, `[setCanaryScale{replicas 1}, pause{}]`) updated to Paused;
/// returns (stable, canary) hashes.
async fn s17_paused(cluster: &Cluster, app: &str, abort_delay: i64) -> (String, String) {
    let client = &cluster.client;
    create_rollout(
        client,
        NS,
        &routed_rollout(
            app,
            1,
            &alb(app),
            &json!({"abortScaleDownDelaySeconds": abort_delay,
                    "steps": [{"setCanaryScale": {"replicas": 1}}, {"pause": {}}]}),
        ),
    )
    .await;
    let stable = hash_of(&wait_healthy(client, NS, app).await, "stableRS");
    set_image(client, NS, app, "nginx:2").await;
    let canary = hash_of(
        &wait_phase(client, NS, app, "Paused").await,
        "currentPodHash",
    );
    (stable, canary)
}

/// S17 TestCanaryScaleDownOnAbort (`abortScaleDownDelaySeconds: 1`): abort → Degraded, the
/// canary Service selects `{app, stable hash}`, and the canary goes to 0 pods after the delay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s17_abort_scale_down_delay() {
    const APP: &str = "abortd";
    let cluster = routed_cluster(APP).await;
    let client = &cluster.client;
    let runner = start_namespace_runner(client, NS);
    let (stable, canary) = s17_paused(&cluster, APP, 1).await;
    cluster.plugin(NS, &["abort", APP]).await;
    wait_phase(client, NS, APP, "Degraded").await;
    wait_selector(client, &format!("{APP}-canary"), &stable).await;
    assert_eq!(
        selector(client, NS, &format!("{APP}-canary")).await,
        BTreeMap::from([
            ("app".to_owned(), APP.to_owned()),
            ("rollouts-pod-template-hash".to_owned(), stable.clone()),
        ])
    );
    wait_sets(
        client,
        APP,
        "canary scaled to 0 after the abort delay",
        |s| size(s, &canary) == 0,
    )
    .await;
    eventually("canary pods gone", || async {
        let pods = crate::harness::pods_by_hash(client, NS, APP).await;
        (pods.get(&canary).copied().unwrap_or(0) == 0).then_some(())
    })
    .await;
    assert_eq!(status(client, NS, APP).await["phase"], "Degraded");
    runner.stop().await;
}

/// S17 TestCanaryUnScaleDownOnAbort (`abortScaleDownDelaySeconds: 0`): the canary keeps its
/// pod and gets no deadline. "Keeps" is observed for 5 s after the abort settled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s17_abort_without_scale_down() {
    const APP: &str = "abortk";
    let cluster = routed_cluster(APP).await;
    let client = &cluster.client;
    let runner = start_namespace_runner(client, NS);
    let (stable, canary) = s17_paused(&cluster, APP, 0).await;
    cluster.plugin(NS, &["abort", APP]).await;
    wait_phase(client, NS, APP, "Degraded").await;
    wait_selector(client, &format!("{APP}-canary"), &stable).await;
    holds_for(5, "canary kept at 1 without deadline", async || {
        rs_state(client, APP, &canary).await == (1, None)
    })
    .await;
    runner.stop().await;
}

/// S17 TestCanaryScaleDownOnAbortNoTrafficRouting: a basic canary with Services points the
/// canary Service back at the stable hash and scales the canary to 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s17_abort_without_traffic_routing() {
    const APP: &str = "abortb";
    let cluster = cluster(&[NS]).await;
    let client = &cluster.client;
    for svc in ["stable", "canary"] {
        create_service(client, NS, &format!("{APP}-{svc}"), APP, 80).await;
    }
    let rollout = canary_rollout(
        APP,
        2,
        "nginx:1",
        &json!({"canaryService": format!("{APP}-canary"), "stableService": format!("{APP}-stable"),
                "steps": [{"setWeight": 50}, {"pause": {}}]}),
    );
    create_rollout(client, NS, &rollout).await;
    let runner = start_namespace_runner(client, NS);
    let stable = hash_of(&wait_healthy(client, NS, APP).await, "stableRS");
    set_image(client, NS, APP, "nginx:2").await;
    let canary = hash_of(
        &wait_phase(client, NS, APP, "Paused").await,
        "currentPodHash",
    );
    wait_selector(client, &format!("{APP}-canary"), &canary).await;
    cluster.plugin(NS, &["abort", APP]).await;
    wait_phase(client, NS, APP, "Degraded").await;
    wait_selector(client, &format!("{APP}-canary"), &stable).await;
    wait_sets(client, APP, "canary 0, stable 2", |s| {
        size(s, &canary) == 0 && size(s, &stable) == 2
    })
    .await;
    runner.stop().await;
}

/// The S18–S20 rollout (ALB, R=4, `dynamicStableScale`, steps `[setWeight 25, pause{},
/// setWeight 75, pause{}]`, pods behind the readiness gate) created, made Healthy and updated to
/// the first pause with one canary pod ready; returns (stable, canary) hashes.
async fn dynamic_at_first_pause(cluster: &Cluster, app: &str, extra: &Value) -> (String, String) {
    let client = &cluster.client;
    let mut canary = json!({
        "dynamicStableScale": true,
        "steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 75}, {"pause": {}}]
    });
    json_patch::merge(&mut canary, extra);
    create_rollout(
        client,
        NS,
        &gated(routed_rollout(app, 4, &alb(app), &canary)),
    )
    .await;
    let first = eventually("first ReplicaSet", || async {
        owned_replica_sets(client, NS, app)
            .await
            .first()
            .map(rs_hash)
    })
    .await;
    open_readiness_gates(client, NS, app, &first, GATE, 4).await;
    let stable = hash_of(&wait_healthy(client, NS, app).await, "stableRS");
    assert_eq!(stable, first);
    set_image(client, NS, app, "nginx:2").await;
    let canary = eventually("canary ReplicaSet", || async {
        owned_replica_sets(client, NS, app)
            .await
            .iter()
            .map(rs_hash)
            .find(|h| *h != stable)
    })
    .await;
    open_readiness_gates(client, NS, app, &canary, GATE, 1).await;
    wait_paused_at(client, app, 1).await;
    wait_sets(client, app, "stable 3 / canary 1", |s| {
        size(s, &stable) == 3 && size(s, &canary) == 1
    })
    .await;
    wait_alb_weight(client, app, 25).await;
    (stable, canary)
}

/// S18/S19: from the first pause, promote with three canary pods ready to index 3.
async fn dynamic_at_last_pause(cluster: &Cluster, app: &str, extra: &Value) -> (String, String) {
    let client = &cluster.client;
    let (stable, canary) = dynamic_at_first_pause(cluster, app, extra).await;
    cluster.plugin(NS, &["promote", app]).await;
    eventually("canary RS at 3", || async {
        (rs_state(client, app, &canary).await.0 == 3).then_some(())
    })
    .await;
    open_readiness_gates(client, NS, app, &canary, GATE, 3).await;
    wait_paused_at(client, app, 3).await;
    wait_sets(client, app, "stable 1 / canary 3", |s| {
        size(s, &stable) == 1 && size(s, &canary) == 3
    })
    .await;
    wait_alb_weight(client, app, 75).await;
    (stable, canary)
}

/// S18 TestCanaryDynamicStableScale: on abort the canary shrinks only as stable pods become
/// ready, and the canary Service stays on the canary until the weight is 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s18_dynamic_stable_scale_abort() {
    const APP: &str = "dyn";
    let cluster = routed_cluster(APP).await;
    let client = &cluster.client;
    let runner = start_namespace_runner(client, NS);
    let (stable, canary) = dynamic_at_last_pause(&cluster, APP, &json!({})).await;
    cluster.plugin(NS, &["abort", APP]).await;
    wait_phase(client, NS, APP, "Degraded").await;
    // The stable RS grows first; with its new pods unready the weight stays at 75.
    wait_sets(client, APP, "stable grows to 3, canary kept", |s| {
        size(s, &stable) == 3 && size(s, &canary) == 3
    })
    .await;
    assert_eq!(weights(&status(client, NS, APP).await).1, 75);
    assert_eq!(alb_canary_weight(client, APP).await, Some(75));
    let canary_svc = format!("{APP}-canary");
    wait_selector(client, &canary_svc, &canary).await;
    open_readiness_gates(client, NS, APP, &stable, GATE, 3).await;
    wait_sets(client, APP, "canary 1 while stable 4", |s| {
        size(s, &stable) == 4 && size(s, &canary) == 1
    })
    .await;
    wait_alb_weight(client, APP, 25).await;
    wait_selector(client, &canary_svc, &canary).await;
    open_readiness_gates(client, NS, APP, &stable, GATE, 4).await;
    wait_sets(client, APP, "canary 0, stable 4", |s| {
        size(s, &stable) == 4 && size(s, &canary) == 0
    })
    .await;
    wait_selector(client, &canary_svc, &stable).await;
    wait_alb_weight(client, APP, 0).await;
    runner.stop().await;
}

/// S19 TestCanaryDynamicStableScaleAbortScaleDownDelay: with an explicit abort delay the canary
/// keeps its 3 pods (no deadline) while the weight steps back, gets the deadline once the
/// stable RS is fully available, and goes to 0 after it. Adapted: a 15 s delay, so the
/// deadline is observable on a slow machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s19_dynamic_stable_scale_abort_scale_down_delay() {
    const APP: &str = "dynd";
    let cluster = routed_cluster(APP).await;
    let client = &cluster.client;
    let runner = start_namespace_runner(client, NS);
    let (stable, canary) =
        dynamic_at_last_pause(&cluster, APP, &json!({"abortScaleDownDelaySeconds": 15})).await;
    cluster.plugin(NS, &["abort", APP]).await;
    wait_phase(client, NS, APP, "Degraded").await;
    wait_sets(
        client,
        APP,
        "stable grows to 3, canary 3 without deadline",
        |s| size(s, &stable) == 3 && size(s, &canary) == 3 && !delayed(s, &canary),
    )
    .await;
    assert_eq!(weights(&status(client, NS, APP).await).1, 75);
    open_readiness_gates(client, NS, APP, &stable, GATE, 3).await;
    wait_status(client, NS, APP, "weight 25", |s| weights(s).1 == 25).await;
    wait_sets(client, APP, "stable 4, canary still 3", |s| {
        size(s, &stable) == 4 && size(s, &canary) == 3 && !delayed(s, &canary)
    })
    .await;
    open_readiness_gates(client, NS, APP, &stable, GATE, 4).await;
    let s = wait_status(client, NS, APP, "weights 0/100", |s| {
        let w = weights(s);
        (w.1, w.3) == (0, 100)
    })
    .await;
    assert_eq!(s["phase"], "Degraded");
    wait_sets(client, APP, "canary 3 with a deadline", |s| {
        size(s, &canary) == 3 && delayed(s, &canary)
    })
    .await;
    wait_sets(client, APP, "canary 0 after the deadline", |s| {
        size(s, &canary) == 0
    })
    .await;
    wait_selector(client, &format!("{APP}-canary"), &stable).await;
    runner.stop().await;
}

/// S20 TestCanaryDynamicStableScaleRollbackToStable: `undo` at the first pause; the old stable
/// RS (now revision 3) grows back to 4 while traffic and the canary Service stay on the
/// abandoned canary, until its fourth pod is ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s20_dynamic_stable_scale_rollback_to_stable() {
    const APP: &str = "dynr";
    let cluster = routed_cluster(APP).await;
    let client = &cluster.client;
    let runner = start_namespace_runner(client, NS);
    let (rev1, rev2) = dynamic_at_first_pause(&cluster, APP, &json!({})).await;
    assert_eq!(
        weights(&status(client, NS, APP).await),
        (rev2.clone(), 25, rev1.clone(), 75)
    );
    cluster
        .plugin(NS, &["undo", APP, "--to-revision", "1"])
        .await;
    wait_sets(client, APP, "rev3 scaled to 4, rev2 kept at 1", |s| {
        size(s, &rev1) == 4 && size(s, &rev2) == 1
    })
    .await;
    let rs = replica_set(client, APP, &rev1).await.unwrap();
    assert_eq!(rs.annotations()["rollout.argoproj.io/revision"], "3");
    let s = wait_status(client, NS, APP, "rolled back to rev1's template", |s| {
        s["currentPodHash"] == rev1.as_str()
    })
    .await;
    assert_eq!(weights(&s), (rev2.clone(), 25, rev1.clone(), 75));
    wait_selector(client, &format!("{APP}-canary"), &rev2).await;
    wait_selector(client, &format!("{APP}-stable"), &rev1).await;
    assert_eq!(alb_canary_weight(client, APP).await, Some(25));
    open_readiness_gates(client, NS, APP, &rev1, GATE, 4).await;
    wait_sets(client, APP, "rev2 scaled to 0", |s| {
        size(s, &rev1) == 4 && size(s, &rev2) == 0
    })
    .await;
    wait_selector(client, &format!("{APP}-canary"), &rev1).await;
    wait_selector(client, &format!("{APP}-stable"), &rev1).await;
    wait_status(client, NS, APP, "weights on rev3 at 0/100", |s| {
        weights(s) == (rev1.clone(), 0, rev1.clone(), 100)
    })
    .await;
    wait_alb_weight(client, APP, 0).await;
    runner.stop().await;
}

/// S23 TestIstioAbortUpdateDeleteAllCanaryPods (Istio VirtualService, R=5): abort at the
/// second pause keeps the canary's 4 `setCanaryScale` pods with a `scale-down-deadline` (default
/// 30 s) and the stable RS at 5. First TestIstioAbortUpdate: an abort while Healthy is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s23_abort_keeps_canary_pods_under_delay() {
    const APP: &str = "istioab";
    let cluster = routed_cluster(APP).await;
    let client = &cluster.client;
    cluster.install_istio().await;
    let vs = virtual_services(client, NS);
    eventually("VirtualService kind served", || async {
        vs.list(&kube::api::ListParams::default()).await.ok()
    })
    .await;
    create_dynamic(
        &vs,
        json!({
            "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
            "metadata": {"name": APP},
            "spec": {"hosts": [APP], "http": [{"name": "primary", "route": [
                {"destination": {"host": format!("{APP}-stable")}, "weight": 100},
                {"destination": {"host": format!("{APP}-canary")}, "weight": 0}]}]}
        }),
    )
    .await;
    create_rollout(
        client,
        NS,
        &routed_rollout(
            APP,
            5,
            &json!({"istio": {"virtualService": {"name": APP, "routes": ["primary"]}}}),
            &json!({"steps": [
                {"setCanaryScale": {"replicas": 2}}, {"setWeight": 20}, {"pause": {}},
                {"setCanaryScale": {"replicas": 4}}, {"setWeight": 40}, {"pause": {}}
            ]}),
        ),
    )
    .await;
    let runner = start_namespace_runner(client, NS);
    let stable = hash_of(&wait_healthy(client, NS, APP).await, "stableRS");
    // TestIstioAbortUpdate: an abort on a Healthy rollout is dropped and it stays Healthy. The
    // CLI refuses to abort a rollout without an update, so the plugin's patch is sent raw.
    patch_status(client, NS, APP, &json!({"status": {"abort": true}})).await;
    wait_status(client, NS, APP, "abort dropped, still Healthy", |s| {
        s["abort"].is_null() && s["phase"] == "Healthy"
    })
    .await;
    set_image(client, NS, APP, "nginx:2").await;
    let canary = hash_of(&wait_paused_at(client, APP, 2).await, "currentPodHash");
    let split = || async {
        let live = get_json(&vs, APP).await.unwrap();
        live["spec"]["http"][0]["route"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["weight"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(rs_state(client, APP, &canary).await.0, 2);
    eventually("VirtualService at 80/20", || async {
        (split().await == vec![80, 20]).then_some(())
    })
    .await;
    cluster.plugin(NS, &["promote", APP]).await;
    wait_paused_at(client, APP, 5).await;
    assert_eq!(rs_state(client, APP, &canary).await.0, 4);
    eventually("VirtualService at 60/40", || async {
        (split().await == vec![60, 40]).then_some(())
    })
    .await;
    cluster.plugin(NS, &["abort", APP]).await;
    wait_phase(client, NS, APP, "Degraded").await;
    let sets = wait_sets(client, APP, "canary 4 with a deadline, stable 5", |s| {
        size(s, &canary) == 4 && delayed(s, &canary) && size(s, &stable) == 5
    })
    .await;
    assert_eq!(sets.len(), 2);
    eventually("VirtualService back to 100/0", || async {
        (split().await == vec![100, 0]).then_some(())
    })
    .await;
    runner.stop().await;
}
