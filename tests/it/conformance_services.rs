//! End-to-end conformance of the Service companion controller (§8 S13), ReplicaSet adoption and
//! release, the referenced-resource InvalidSpec rows, and AnalysisRun retention, against the
//! sandbox with its simulated ReplicaSet/kubelet/Job controllers and the in-process runner.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use rolltop::crd::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate};
use serde_json::{Value, json};

use crate::harness::{
    blue_green_rollout, canary_rollout, cluster, create_rollout, create_service, eventually,
    patch_spec, selector, start_namespace_runner, status, wait_healthy, wait_phase,
};

const MANAGED_BY: &str = "argo-rollouts.argoproj.io/managed-by-rollouts";

async fn managed_by(client: &kube::Client, ns: &str, service: &str) -> Option<String> {
    Api::<Service>::namespaced(client.clone(), ns)
        .get(service)
        .await
        .unwrap()
        .annotations()
        .get(MANAGED_BY)
        .cloned()
}

fn counts(status: &Value, desired: i64) -> (i64, i64, i64, i64, i64) {
    let n = |key: &str| status[key].as_i64().unwrap_or(0);
    (
        desired,
        n("replicas"),
        n("updatedReplicas"),
        n("readyReplicas"),
        n("availableReplicas"),
    )
}

/// §8 S13 TestBlueGreenToCanary: the former active Service loses the hash selector and the
/// managed-by annotation once the strategy no longer names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s13_blue_green_to_canary() {
    let ns = "s13";
    let c = cluster(&[ns]).await;
    let client = &c.client;
    create_service(client, ns, "s13-active", "s13", 80).await;
    let runner = start_namespace_runner(client, ns);
    create_rollout(
        client,
        ns,
        &blue_green_rollout("s13", 2, "nginx:1", &json!({"activeService": "s13-active"})),
    )
    .await;
    wait_healthy(client, ns, "s13").await;
    let first = eventually("the active Service selects revision 1", || async {
        let sel = selector(client, ns, "s13-active").await;
        sel.get("rollouts-pod-template-hash").cloned()
    })
    .await;
    assert_eq!(
        managed_by(client, ns, "s13-active").await.as_deref(),
        Some("s13")
    );

    patch_spec(
        client,
        ns,
        "s13",
        json!({
            "template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}},
            "strategy": {"blueGreen": null, "canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}}
        }),
    )
    .await;
    wait_phase(client, ns, "s13", "Paused").await;
    let paused = eventually("(2,2,1,2,2) while paused", || async {
        let now = status(client, ns, "s13").await;
        (now["phase"] == "Paused" && counts(&now, 2) == (2, 2, 1, 2, 2)).then_some(now)
    })
    .await;
    assert_eq!(paused["stableRS"].as_str(), Some(first.as_str()));
    eventually(
        "the former active Service keeps only its own selector",
        || async {
            let sel = selector(client, ns, "s13-active").await;
            let want: BTreeMap<String, String> = [("app".to_owned(), "s13".to_owned())].into();
            (sel == want && managed_by(client, ns, "s13-active").await.is_none()).then_some(())
        },
    )
    .await;
    runner.stop().await;
}

/// An orphan ReplicaSet matching the selector is adopted; once its labels stop matching it is
/// released again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_replica_set_is_adopted_then_released() {
    let ns = "adopt";
    let c = cluster(&[ns]).await;
    let client = &c.client;
    let runner = start_namespace_runner(client, ns);
    create_rollout(
        client,
        ns,
        &canary_rollout("adopt", 1, "nginx:1", &json!({})),
    )
    .await;
    wait_healthy(client, ns, "adopt").await;
    let uid = kube::Api::<rolltop::crd::Rollout>::namespaced(client.clone(), ns)
        .get("adopt")
        .await
        .unwrap()
        .uid()
        .unwrap();
    let orphan: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "adopt-orphan", "labels": {"app": "adopt", "rollouts-pod-template-hash": "orphan"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "adopt", "rollouts-pod-template-hash": "orphan"}},
            "template": {
                "metadata": {"labels": {"app": "adopt", "rollouts-pod-template-hash": "orphan"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:0"}]}
            }
        }
    }))
    .unwrap();
    let replica_sets = Api::<ReplicaSet>::namespaced(client.clone(), ns);
    replica_sets
        .create(&PostParams::default(), &orphan)
        .await
        .unwrap();
    let controller_of = |rs: ReplicaSet| {
        rs.owner_references()
            .iter()
            .find(|o| o.controller == Some(true))
            .map(|o| (o.kind.clone(), o.name.clone(), o.uid.clone()))
    };
    eventually("the orphan is adopted", || async {
        let rs = replica_sets.get("adopt-orphan").await.unwrap();
        (controller_of(rs) == Some(("Rollout".into(), "adopt".into(), uid.clone()))).then_some(())
    })
    .await;
    replica_sets
        .patch(
            "adopt-orphan",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": {"app": "elsewhere"}}})),
        )
        .await
        .unwrap();
    eventually("the relabelled ReplicaSet is released", || async {
        let rs = replica_sets.get("adopt-orphan").await.unwrap();
        controller_of(rs).is_none().then_some(())
    })
    .await;
    // The rollout's own ReplicaSet is kept and the rollout stays Healthy.
    let own = crate::harness::owned_replica_sets(client, ns, "adopt").await;
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(status(client, ns, "adopt").await["phase"], "Healthy");
    runner.stop().await;
}

fn sleep_template(name: &str) -> AnalysisTemplate {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": name},
        "spec": {"metrics": [{
            "name": "smoke",
            "provider": {"job": {"spec": {
                "backoffLimit": 0,
                "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "check", "image": "busybox:1.36", "command": ["sh", "-c", "exit 0"]}]
                }}
            }}}
        }]}
    }))
    .unwrap()
}

/// The referenced-resource InvalidSpec rows end to end: a missing AnalysisTemplate (cleared when
/// it is created) and a Service whose selector the template labels do not satisfy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referenced_resources_invalid_spec() {
    let ns = "refs";
    let c = cluster(&[ns]).await;
    let client = &c.client;
    let runner = start_namespace_runner(client, ns);
    create_rollout(
        client,
        ns,
        &canary_rollout(
            "refs",
            1,
            "nginx:1",
            &json!({"steps": [{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "smoke"}]}}]}),
        ),
    )
    .await;
    let degraded = wait_phase(client, ns, "refs", "Degraded").await;
    assert_eq!(
        degraded["message"],
        "InvalidSpec: The Rollout \"refs\" is invalid: spec.strategy.canary.steps[1].analysis.templates: Invalid value: \"smoke\": AnalysisTemplate 'smoke' not found"
    );
    Api::<AnalysisTemplate>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &sleep_template("smoke"))
        .await
        .unwrap();
    wait_healthy(client, ns, "refs").await;

    // A ClusterAnalysisTemplate that appears later clears the InvalidSpec the same way.
    patch_spec(
        client,
        ns,
        "refs",
        json!({"strategy": {"canary": {"analysis": {"templates": [{"templateName": "refs-cluster", "clusterScope": true}]}}}}),
    )
    .await;
    let degraded = wait_phase(client, ns, "refs", "Degraded").await;
    assert_eq!(
        degraded["message"],
        "InvalidSpec: The Rollout \"refs\" is invalid: spec.strategy.canary.analysis.templates: Invalid value: \"refs-cluster\": ClusterAnalysisTemplate 'refs-cluster' not found"
    );
    let cluster_template: ClusterAnalysisTemplate = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ClusterAnalysisTemplate",
        "metadata": {"name": "refs-cluster"},
        "spec": serde_json::to_value(&sleep_template("x").spec).unwrap()
    }))
    .unwrap();
    Api::<ClusterAnalysisTemplate>::all(client.clone())
        .create(&PostParams::default(), &cluster_template)
        .await
        .unwrap();
    wait_healthy(client, ns, "refs").await;
    patch_spec(
        client,
        ns,
        "refs",
        json!({"strategy": {"canary": {"analysis": null}}}),
    )
    .await;

    let mismatched: Service = serde_json::from_value(json!({
        "metadata": {"name": "refs-stable"},
        "spec": {"selector": {"app": "refs", "version": "v1"}, "ports": [{"port": 80}]}
    }))
    .unwrap();
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &mismatched)
        .await
        .unwrap();
    create_service(client, ns, "refs-canary", "refs", 80).await;
    patch_spec(
        client,
        ns,
        "refs",
        json!({"strategy": {"canary": {"stableService": "refs-stable", "canaryService": "refs-canary"}}}),
    )
    .await;
    let degraded = wait_phase(client, ns, "refs", "Degraded").await;
    assert_eq!(
        degraded["message"],
        "InvalidSpec: The Rollout \"refs\" is invalid: spec.strategy.canary.stableService: Invalid value: \"refs-stable\": Service \"refs-stable\" has unmatch label \"version\" in rollout"
    );
    runner.stop().await;
}

/// `analysis.successfulRunHistoryLimit: 1`: of three Successful step runs, only the newest stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_runs_beyond_the_history_limit_are_deleted() {
    let ns = "retain";
    let c = cluster(&[ns]).await;
    let client = &c.client;
    Api::<AnalysisTemplate>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &sleep_template("smoke"))
        .await
        .unwrap();
    let runner = start_namespace_runner(client, ns);
    let analysis = json!({"analysis": {"templates": [{"templateName": "smoke"}]}});
    let mut rollout = canary_rollout(
        "retain",
        1,
        "nginx:1",
        &json!({"steps": [analysis.clone(), analysis.clone(), analysis]}),
    );
    rollout.spec.analysis =
        Some(serde_json::from_value(json!({"successfulRunHistoryLimit": 1})).unwrap());
    create_rollout(client, ns, &rollout).await;
    wait_healthy(client, ns, "retain").await;
    crate::harness::set_image(client, ns, "retain", "nginx:2").await;
    let runs = Api::<AnalysisRun>::namespaced(client.clone(), ns);
    let left = eventually("Healthy on revision 2 with one run left", || async {
        let now = status(client, ns, "retain").await;
        let names: Vec<String> = runs
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(ResourceExt::name_any)
            .collect();
        let done = now["phase"] == "Healthy" && now["stableRS"] == now["currentPodHash"];
        (done && names.len() == 1).then_some(names)
    })
    .await;
    assert!(
        left[0].ends_with("-2-2"),
        "the newest (step 2) run stays: {left:?}"
    );
    runner.stop().await;
}

/// The phase never flickers: a watch records every status the controller writes during a
/// canary update promoted by the plugin; after the first Healthy every status stays Healthy
/// (the reference reports Healthy only once the old ReplicaSet's pods are gone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_is_reported_once_and_stays() {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};

    let ns = "steady";
    let c = cluster(&[ns]).await;
    let client = &c.client;
    let runner = start_namespace_runner(client, ns);
    create_rollout(
        client,
        ns,
        &canary_rollout(
            "steady",
            2,
            "nginx:1",
            &json!({"steps": [{"setWeight": 50}, {"pause": {}}]}),
        ),
    )
    .await;
    wait_healthy(client, ns, "steady").await;
    let rollouts = Api::<rolltop::crd::Rollout>::namespaced(client.clone(), ns);
    let mut stream = watcher(
        rollouts,
        watcher::Config::default().fields("metadata.name=steady"),
    )
    .applied_objects()
    .boxed();
    crate::harness::set_image(client, ns, "steady", "nginx:2").await;
    wait_phase(client, ns, "steady", "Paused").await;
    c.plugin(ns, &["promote", "steady"]).await;
    // Record (phase, message, replicas) of every status on revision 2 until it is Healthy with
    // the old ReplicaSet's pods gone.
    let mut seen: Vec<(String, String, i64)> = Vec::new();
    let record = async {
        while let Some(Ok(rollout)) = stream.next().await {
            let status = serde_json::to_value(rollout.status.clone().unwrap_or_default()).unwrap();
            let revision = rollout
                .annotations()
                .get("rollout.argoproj.io/revision")
                .cloned();
            if revision.as_deref() != Some("2") {
                continue;
            }
            let entry = (
                status["phase"].as_str().unwrap_or_default().to_owned(),
                status["message"].as_str().unwrap_or_default().to_owned(),
                status["replicas"].as_i64().unwrap_or(0),
            );
            if seen.last() != Some(&entry) {
                seen.push(entry.clone());
            }
            let old_pods = crate::harness::replicas_of_revision(client, ns, "steady", 1).await;
            if entry.0 == "Healthy" && entry.2 == 2 && old_pods == 0 {
                let rs_status: i32 = crate::harness::owned_replica_sets(client, ns, "steady")
                    .await
                    .iter()
                    .map(|rs| rs.status.as_ref().map_or(0, |s| s.replicas))
                    .sum();
                if rs_status == 2 {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(crate::harness::DEADLINE, record)
        .await
        .expect("Healthy on revision 2 with the old pods gone");
    let first = seen
        .iter()
        .position(|(phase, ..)| phase == "Healthy")
        .unwrap();
    assert!(
        seen[first..].iter().all(|(phase, ..)| phase == "Healthy"),
        "left Healthy after reporting it: {seen:?}"
    );
    runner.stop().await;
}

/// Deleting a Rollout hands its stable and canary Services back: the hash selector and the
/// managed-by annotation go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_rollout_strips_its_services() {
    let ns = "gone";
    let c = cluster(&[ns]).await;
    let client = &c.client;
    create_service(client, ns, "gone-stable", "gone", 80).await;
    create_service(client, ns, "gone-canary", "gone", 80).await;
    let runner = start_namespace_runner(client, ns);
    create_rollout(
        client,
        ns,
        &canary_rollout(
            "gone",
            1,
            "nginx:1",
            &json!({"stableService": "gone-stable", "canaryService": "gone-canary"}),
        ),
    )
    .await;
    wait_healthy(client, ns, "gone").await;
    for svc in ["gone-stable", "gone-canary"] {
        eventually("the Service is pointed and marked", || async {
            let sel = selector(client, ns, svc).await;
            (sel.contains_key("rollouts-pod-template-hash")
                && managed_by(client, ns, svc).await.as_deref() == Some("gone"))
            .then_some(())
        })
        .await;
    }
    Api::<rolltop::crd::Rollout>::namespaced(client.clone(), ns)
        .delete("gone", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    let want: BTreeMap<String, String> = [("app".to_owned(), "gone".to_owned())].into();
    for svc in ["gone-stable", "gone-canary"] {
        eventually("the Service is handed back", || async {
            let sel = selector(client, ns, svc).await;
            (sel == want && managed_by(client, ns, svc).await.is_none()).then_some(())
        })
        .await;
    }
    runner.stop().await;
}
