//! The simulated controllers against a real in-process sandbox server, through `kube::Client`
//! over HTTP: ReplicaSets keep ready pods and scale down the right ones, misbehaving pods
//! misbehave, Deployments make ReplicaSets, Jobs succeed or fail after their retries, and
//! deleting an owner collects its pods. Every wait polls the server until a predicate holds
//! and fails after a generous deadline; nothing asserts on timing.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use rolltop::sandbox::sim::{self, SimConfig, SimHandle};
use rolltop::sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(20);

/// A sandbox with the simulators running, and a client to it.
struct Cluster {
    client: Client,
    _sim: SimHandle,
    _sandbox: Sandbox,
}

async fn cluster() -> Cluster {
    cluster_with(SandboxConfig::default()).await
}

async fn cluster_with(sandbox_config: SandboxConfig) -> Cluster {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::start(sandbox_config).await.unwrap();
    let client = sandbox.client().await.unwrap();
    let config = SimConfig {
        ready_delay: Duration::from_millis(100),
        start_delay: Duration::from_millis(50),
        run_duration: Duration::from_millis(200),
        crash_after: Duration::from_millis(100),
        crash_backoff: Duration::from_millis(100),
        max_crash_backoff: Duration::from_millis(400),
        ..SimConfig::default()
    };
    let sim = sim::spawn(client.clone(), config);
    Cluster {
        client,
        _sim: sim,
        _sandbox: sandbox,
    }
}

/// Polls `probe` until it yields a value; panics naming `what` after the deadline.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = tokio::time::Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn owned_by<'a>(pods: &'a [Pod], uid: &str) -> Vec<&'a Pod> {
    pods.iter()
        .filter(|p| {
            p.owner_references()
                .iter()
                .any(|o| o.uid == uid && o.controller == Some(true))
        })
        .collect()
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

async fn list_pods(api: &Api<Pod>) -> Vec<Pod> {
    api.list(&ListParams::default()).await.unwrap().items
}

fn replica_set(name: &str, replicas: i32, annotations: &serde_json::Value) -> ReplicaSet {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations},
                "spec": {"containers": [{"name": "app", "image": "registry.local/app:v1"}]}
            }
        }
    }))
    .unwrap()
}

fn bare_pod(
    name: &str,
    labels: &serde_json::Value,
    annotations: &serde_json::Value,
    image: &str,
) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {"containers": [{"name": "app", "image": image}]}
    }))
    .unwrap()
}

fn status_counts(rs: &ReplicaSet) -> (i32, Option<i32>, Option<i32>, Option<i32>) {
    let s = rs.status.clone().unwrap_or_default();
    (
        s.replicas,
        s.fully_labeled_replicas,
        s.ready_replicas,
        s.available_replicas,
    )
}

#[tokio::test]
async fn replicaset_keeps_ready_owned_pods_and_counts_them() {
    let c = cluster().await;
    let replica_sets: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let rs = replica_sets
        .create(
            &PostParams::default(),
            &replica_set("web", 3, &json!({"team": "blue"})),
        )
        .await
        .unwrap();
    let uid = rs.uid().unwrap();

    let rs = eventually("3 ready replicas in the ReplicaSet status", || async {
        let rs = replica_sets.get("web").await.unwrap();
        (status_counts(&rs) == (3, Some(3), Some(3), Some(3))).then_some(rs)
    })
    .await;
    assert_eq!(
        rs.status.unwrap().observed_generation,
        rs.metadata.generation
    );

    let all = list_pods(&pods).await;
    let owned = owned_by(&all, &uid);
    assert_eq!(owned.len(), 3);
    for pod in owned {
        let name = pod.name_any();
        let suffix = name.strip_prefix("web-").unwrap();
        assert_eq!(suffix.len(), 5, "{name}");
        assert!(
            suffix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "{name}"
        );
        assert_eq!(pod.labels()["app"], "web");
        assert_eq!(pod.annotations()["team"], "blue");
        let owner = &pod.owner_references()[0];
        assert_eq!(
            (owner.api_version.as_str(), owner.kind.as_str()),
            ("apps/v1", "ReplicaSet")
        );
        assert_eq!(owner.block_owner_deletion, Some(true));
        assert!(is_ready(pod), "{name} is not ready");
        assert_eq!(phase(pod), Some("Running"));
        assert_eq!(
            pod.spec.as_ref().unwrap().node_name.as_deref(),
            Some("sandbox-node")
        );
        let status = pod.status.as_ref().unwrap();
        assert!(status.pod_ip.as_deref().unwrap().starts_with("10."));
        assert!(status.host_ip.is_some() && status.start_time.is_some());
        let container = &status.container_statuses.as_ref().unwrap()[0];
        assert_eq!((container.name.as_str(), container.ready), ("app", true));
        assert_eq!(container.image, "registry.local/app:v1");
        assert!(container.image_id.contains("@sha256:"));
        assert!(container.state.as_ref().unwrap().running.is_some());
        let kinds: Vec<&str> = status
            .conditions
            .iter()
            .flatten()
            .map(|c| c.type_.as_str())
            .collect();
        for kind in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
            assert!(kinds.contains(&kind), "{name} lacks {kind}: {kinds:?}");
        }
    }

    // The simulators report what they did, as the real components would.
    let events: Api<K8sEvent> = Api::namespaced(c.client.clone(), "default");
    eventually("SuccessfulCreate and Started events", || async {
        let all = events.list(&ListParams::default()).await.ok()?.items;
        let about = |kind: &str, reason: &str| {
            all.iter().any(|e| {
                e.reason.as_deref() == Some(reason)
                    && e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some(kind)
            })
        };
        (about("ReplicaSet", "SuccessfulCreate")
            && about("Pod", "Scheduled")
            && about("Pod", "Started"))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn scaling_down_deletes_unready_and_cheap_pods_first() {
    let c = cluster().await;
    let replica_sets: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    // An orphan that matches the selector and never becomes ready: adopted, then first to go.
    pods.create(
        &PostParams::default(),
        &bare_pod(
            "orphan",
            &json!({"app": "api"}),
            &json!({"sandbox.rolltop.dev/behavior": "never-ready"}),
            "registry.local/app:v1",
        ),
    )
    .await
    .unwrap();
    let rs = replica_sets
        .create(&PostParams::default(), &replica_set("api", 3, &json!({})))
        .await
        .unwrap();
    let uid = rs.uid().unwrap();

    eventually("2 ready of 3 replicas, the orphan adopted", || async {
        let rs = replica_sets.get("api").await.unwrap();
        (status_counts(&rs) == (3, Some(3), Some(2), Some(2))).then_some(())
    })
    .await;
    let all = list_pods(&pods).await;
    let owned = owned_by(&all, &uid);
    assert!(
        owned.iter().any(|p| p.name_any() == "orphan"),
        "orphan was not adopted"
    );
    let keeper = owned
        .iter()
        .find(|p| p.name_any() != "orphan")
        .unwrap()
        .name_any();
    pods.patch(
        &keeper,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {
            "controller.kubernetes.io/pod-deletion-cost": "100"
        }}})),
    )
    .await
    .unwrap();

    replica_sets
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    let survivors = eventually("one pod left", || async {
        let all = list_pods(&pods).await;
        let names: Vec<String> = owned_by(&all, &uid).iter().map(|p| p.name_any()).collect();
        (names.len() == 1).then_some(names)
    })
    .await;
    assert_eq!(survivors, [keeper]);
    eventually("status follows the scale-down", || async {
        let rs = replica_sets.get("api").await.unwrap();
        (status_counts(&rs) == (1, Some(1), Some(1), Some(1))).then_some(())
    })
    .await;
}

#[tokio::test]
async fn refused_pod_creation_is_reported_on_the_replicaset() {
    let c = cluster_with(SandboxConfig {
        deny: vec!["create:pods".parse().unwrap()],
        ..SandboxConfig::default()
    })
    .await;
    let replica_sets: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    replica_sets
        .create(
            &PostParams::default(),
            &replica_set("denied", 2, &json!({})),
        )
        .await
        .unwrap();
    let failure = eventually("a ReplicaFailure condition", || async {
        let rs = replica_sets.get("denied").await.unwrap();
        rs.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_.as_deref() == Some("ReplicaFailure"))
    })
    .await;
    assert_eq!(failure.status.as_deref(), Some("True"));
    assert_eq!(failure.reason.as_deref(), Some("FailedCreate"));
    assert!(
        failure.message.as_deref().unwrap().contains("forbidden"),
        "{failure:?}"
    );
    let events: Api<K8sEvent> = Api::namespaced(c.client.clone(), "default");
    eventually("a FailedCreate warning event", || async {
        let all = events.list(&ListParams::default()).await.ok()?.items;
        all.iter()
            .any(|e| {
                e.reason.as_deref() == Some("FailedCreate") && e.type_.as_deref() == Some("Warning")
            })
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn deleting_a_replicaset_collects_its_pods() {
    let c = cluster().await;
    let replica_sets: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let rs = replica_sets
        .create(&PostParams::default(), &replica_set("gc", 2, &json!({})))
        .await
        .unwrap();
    let uid = rs.uid().unwrap();
    eventually("2 ready replicas", || async {
        let rs = replica_sets.get("gc").await.unwrap();
        (status_counts(&rs).2 == Some(2)).then_some(())
    })
    .await;
    replica_sets
        .delete("gc", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the pods are garbage-collected", || async {
        let all = list_pods(&pods).await;
        let left = all
            .iter()
            .filter(|p| {
                p.owner_references().iter().any(|o| o.uid == uid)
                    || p.labels().get("app").map(String::as_str) == Some("gc")
            })
            .count();
        (left == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn restarted_simulators_continue_from_the_cluster_state() {
    let dir = tempfile::tempdir().unwrap();
    let persistent = || SandboxConfig {
        data_dir: Some(dir.path().to_owned()),
        ..SandboxConfig::default()
    };
    let first = cluster_with(persistent()).await;
    let replica_sets: Api<ReplicaSet> = Api::namespaced(first.client.clone(), "default");
    let rs = replica_sets
        .create(&PostParams::default(), &replica_set("keep", 2, &json!({})))
        .await
        .unwrap();
    let uid = rs.uid().unwrap();
    eventually("2 available replicas", || async {
        let rs = replica_sets.get("keep").await.unwrap();
        (status_counts(&rs).3 == Some(2)).then_some(())
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(first.client.clone(), "default");
    let mut before: Vec<String> = owned_by(&list_pods(&pods).await, &uid)
        .iter()
        .map(|p| p.name_any())
        .collect();
    let Cluster {
        _sim: sim,
        _sandbox: sandbox,
        ..
    } = first;
    drop(sim);
    sandbox.shutdown().await;

    let second = cluster_with(persistent()).await;
    let replica_sets: Api<ReplicaSet> = Api::namespaced(second.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(second.client.clone(), "default");
    // Scale up so the new simulators must act, then check they kept the old pods.
    replica_sets
        .patch(
            "keep",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    let after = eventually("3 available replicas after the restart", || async {
        let rs = replica_sets.get("keep").await.unwrap();
        if status_counts(&rs) != (3, Some(3), Some(3), Some(3)) {
            return None;
        }
        let all = list_pods(&pods).await;
        Some(
            owned_by(&all, &uid)
                .iter()
                .map(|p| p.name_any())
                .collect::<Vec<_>>(),
        )
    })
    .await;
    assert_eq!(after.len(), 3, "{after:?}");
    before.retain(|name| after.contains(name));
    assert_eq!(
        before.len(),
        2,
        "the pods from before the restart were replaced: {after:?}"
    );
}

#[tokio::test]
async fn misbehaving_pods_crash_stay_unready_or_fail() {
    let c = cluster().await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let specs = [
        ("crasher", json!({}), "registry.local/app:crashloop"),
        (
            "sulker",
            json!({"sandbox.rolltop.dev/behavior": "never-ready"}),
            "registry.local/app:v1",
        ),
        (
            "quitter",
            json!({"sandbox.rolltop.dev/behavior": "fail"}),
            "registry.local/app:v1",
        ),
        ("healthy", json!({}), "registry.local/app:v1"),
    ];
    for (name, annotations, image) in specs {
        pods.create(
            &PostParams::default(),
            &bare_pod(name, &json!({"app": name}), &annotations, image),
        )
        .await
        .unwrap();
    }

    let crasher = eventually("the crashing pod restarted twice", || async {
        let pod = pods.get("crasher").await.unwrap();
        let restarts = pod.status.as_ref()?.container_statuses.as_ref()?[0].restart_count;
        (restarts >= 2).then_some(pod)
    })
    .await;
    let status = &crasher
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0];
    let last = status
        .last_state
        .as_ref()
        .unwrap()
        .terminated
        .as_ref()
        .unwrap();
    assert_eq!(last.exit_code, 1);
    assert!(!is_ready(&crasher));
    eventually("the crashing pod shows CrashLoopBackOff", || async {
        let pod = pods.get("crasher").await.unwrap();
        let state = pod.status?.container_statuses?.first()?.state.clone()?;
        (state.waiting?.reason.as_deref() == Some("CrashLoopBackOff")).then_some(())
    })
    .await;

    eventually("the healthy pod is ready", || async {
        is_ready(&pods.get("healthy").await.unwrap()).then_some(())
    })
    .await;
    let sulker = pods.get("sulker").await.unwrap();
    assert_eq!(phase(&sulker), Some("Running"));
    assert!(!is_ready(&sulker), "a never-ready pod became ready");
    let container = &sulker
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0];
    assert_eq!(container.started, Some(true));
    assert!(!container.ready);

    let quitter = eventually("the failing pod fails", || async {
        let pod = pods.get("quitter").await.unwrap();
        (phase(&pod) == Some("Failed")).then_some(pod)
    })
    .await;
    let terminated = quitter.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(terminated.exit_code, 1);
}

#[tokio::test]
async fn deployment_makes_replicasets_and_follows_spec_replicas() {
    let c = cluster().await;
    let deployments: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    let replica_sets: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let deploy: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "shop"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "shop"}},
            "template": {
                "metadata": {"labels": {"app": "shop"}},
                "spec": {"containers": [{"name": "app", "image": "registry.local/shop:v1"}]}
            }
        }
    }))
    .unwrap();
    let deploy = deployments
        .create(&PostParams::default(), &deploy)
        .await
        .unwrap();
    let uid = deploy.uid().unwrap();

    let available = |updated: i32| {
        let deployments = deployments.clone();
        async move {
            let d = deployments.get("shop").await.ok()?;
            let s = d.status.clone()?;
            let progressed = s.conditions.iter().flatten().any(|c| {
                c.type_.as_deref() == Some("Progressing")
                    && c.reason.as_deref() == Some("NewReplicaSetAvailable")
            });
            let ok = s.available_replicas == Some(updated)
                && s.updated_replicas == Some(updated)
                && s.replicas == Some(updated)
                && s.observed_generation == d.metadata.generation
                && progressed;
            ok.then_some(d)
        }
    };
    let d = eventually("the deployment is available", || available(2)).await;
    let conditions = d.status.unwrap().conditions.unwrap();
    assert!(conditions.iter().any(|c| c.type_.as_deref() == Some("Available")
        && c.status.as_deref() == Some("True")));

    let first: Vec<ReplicaSet> = replica_sets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|rs| rs.owner_references().iter().any(|o| o.uid == uid))
        .collect();
    assert_eq!(first.len(), 1);
    let hash = first[0].labels()["pod-template-hash"].clone();
    assert_eq!(first[0].name_any(), format!("shop-{hash}"));
    assert_eq!(
        first[0].annotations()["deployment.kubernetes.io/revision"],
        "1"
    );
    let first_uid = first[0].uid().unwrap();

    deployments
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "registry.local/shop:v2"}
            ]}}}})),
        )
        .await
        .unwrap();
    eventually("the new template is rolled out", || available(2)).await;
    let old = replica_sets.get(&first[0].name_any()).await.unwrap();
    assert_eq!(old.spec.replicas, Some(0));
    eventually("the old ReplicaSet's pods are gone", || async {
        let all = list_pods(&pods).await;
        owned_by(&all, &first_uid).is_empty().then_some(())
    })
    .await;

    // Argo Rollouts' workloadRef scales the Deployment to zero; everything must follow.
    deployments
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 0}})),
        )
        .await
        .unwrap();
    eventually("the deployment scaled to zero", || async {
        let d = deployments.get("shop").await.unwrap();
        let s = d.status?;
        let all = list_pods(&pods).await;
        let shop_pods = all
            .iter()
            .filter(|p| p.labels().get("app").map(String::as_str) == Some("shop"))
            .count();
        (s.replicas == Some(0) && shop_pods == 0).then_some(())
    })
    .await;
}

fn job(name: &str, command: &str, backoff_limit: i32) -> Job {
    serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "metadata": {"labels": {"analysis": name}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "check", "image": "busybox:1.36",
                                    "command": ["sh", "-c", command]}]
                }
            }
        }
    }))
    .unwrap()
}

fn condition(job: &Job, kind: &str) -> Option<(String, Option<String>)> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == kind && c.status == "True")
        .map(|c| (c.type_.clone(), c.reason.clone()))
}

#[tokio::test]
async fn a_job_succeeds_and_another_fails_after_its_retries() {
    let c = cluster().await;
    let jobs: Api<Job> = Api::namespaced(c.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    jobs.create(&PostParams::default(), &job("smoke", "echo ok", 2))
        .await
        .unwrap();
    jobs.create(&PostParams::default(), &job("broken", "echo no; exit 1", 1))
        .await
        .unwrap();

    let done = eventually("the smoke job completes", || async {
        let job = jobs.get("smoke").await.unwrap();
        condition(&job, "Complete").map(|_| job)
    })
    .await;
    let status = done.status.clone().unwrap();
    assert_eq!(status.succeeded, Some(1));
    assert_eq!(status.failed, None);
    assert!(status.start_time.is_some() && status.completion_time.is_some());
    assert_eq!(status.active, None);

    let failed = eventually("the broken job fails", || async {
        let job = jobs.get("broken").await.unwrap();
        condition(&job, "Failed").map(|_| job)
    })
    .await;
    assert_eq!(
        condition(&failed, "Failed").unwrap().1.as_deref(),
        Some("BackoffLimitExceeded")
    );
    let status = failed.status.clone().unwrap();
    assert_eq!(status.failed, Some(2));
    assert_eq!(status.completion_time, None);

    let all = list_pods(&pods).await;
    let broken = owned_by(&all, &failed.uid().unwrap());
    assert_eq!(broken.len(), 2, "backoffLimit 1 means one retry");
    for pod in &broken {
        assert_eq!(phase(pod), Some("Failed"));
        assert_eq!(pod.labels()["job-name"], "broken");
        assert_eq!(pod.labels()["batch.kubernetes.io/job-name"], "broken");
        assert_eq!(pod.labels()["analysis"], "broken");
        assert_eq!(
            pod.spec.as_ref().unwrap().restart_policy.as_deref(),
            Some("Never")
        );
    }
    let smoke = owned_by(&all, &done.uid().unwrap());
    assert_eq!(smoke.len(), 1);
    assert_eq!(phase(smoke[0]), Some("Succeeded"));
}

#[tokio::test]
async fn the_sandbox_node_is_registered_ready() {
    let c = cluster().await;
    let nodes: Api<Node> = Api::all(c.client.clone());
    let node = eventually("the node exists with a Ready condition", || async {
        let node = nodes.get_opt("sandbox-node").await.ok()??;
        let ready = node
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        ready.then_some(node)
    })
    .await;
    let labels: &BTreeMap<String, String> = node.labels();
    assert_eq!(labels["kubernetes.io/hostname"], "sandbox-node");
}
