//! The controller end to end: an in-process sandbox with the simulated ReplicaSet/kubelet
//! controllers and rolltop's CRDs, the rollout runner started in-process (and once as the built
//! binary), driven the way operators drive Argo Rollouts: create, `set image`, promote through a
//! status merge patch, abort. Every wait polls the API server until a predicate holds and fails
//! after a generous deadline; nothing asserts on timing.

use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use rolltop::cluster::client::Scope;
use rolltop::controller::lease::{self, AcquireLeaseError, LEASE_NAME};
use rolltop::controller::runner::{self, DriveError};
use rolltop::crd::Rollout;
use serde_json::{Value, json};

use crate::harness::{
    DEADLINE, cluster, create_rollout, eventually, owned_replica_sets, patch_status, rs_hash,
    rs_replicas, set_image, start_runner, status, wait_phase,
};

const NS: &str = "shop";

/// Four replicas through `setWeight 25, pause, setWeight 75, pause 2s`.
fn canary_rollout(name: &str, image: &str) -> Rollout {
    crate::harness::canary_rollout(
        name,
        4,
        image,
        &json!({"steps": [
            {"setWeight": 25},
            {"pause": {}},
            {"setWeight": 75},
            {"pause": {"duration": "2s"}}
        ]}),
    )
}

/// Updates the image and waits for the pause at step index 1 with one canary pod.
async fn update_to_first_pause(client: &Client, name: &str, image: &str) -> (String, String) {
    let stable = status(client, NS, name).await["stableRS"]
        .as_str()
        .unwrap()
        .to_owned();
    set_image(client, NS, name, image).await;
    let paused = eventually("pause at step 1 with the canary at 1 replica", || async {
        let status = status(client, NS, name).await;
        let current = status["currentPodHash"].as_str()?.to_owned();
        if current == stable || status["currentStepIndex"] != 1 {
            return None;
        }
        let conditions = status["pauseConditions"].as_array()?;
        if conditions.is_empty() || status["phase"] != "Paused" {
            return None;
        }
        let sets = owned_replica_sets(client, NS, name).await;
        let canary = sets.iter().find(|rs| rs_hash(rs) == current)?;
        (rs_replicas(canary) == 1).then_some((current, status))
    })
    .await;
    let (current, status) = paused;
    assert_eq!(status["pauseConditions"][0]["reason"], "CanaryPauseStep");
    assert_eq!(status["stableRS"], stable.as_str());
    (stable, current)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_update_pause_promote_and_abort() {
    let cluster = cluster(&[NS]).await;
    let client = &cluster.client;
    let runner = start_runner(client, Scope::Namespace(NS.into()), None);
    create_rollout(client, NS, &canary_rollout("checkout", "shop/checkout:v1")).await;
    let healthy = wait_phase(client, NS, "checkout", "Healthy").await;
    assert_eq!(healthy["stableRS"], healthy["currentPodHash"]);

    let (old, new) = update_to_first_pause(client, "checkout", "shop/checkout:v2").await;

    // Promote as the kubectl plugin does: clear the pause conditions on the status subresource.
    patch_status(
        client,
        NS,
        "checkout",
        &json!({"status": {"pauseConditions": null}}),
    )
    .await;
    let done = wait_phase(client, NS, "checkout", "Healthy").await;
    assert_eq!(done["stableRS"], new.as_str());
    assert_eq!(done["currentPodHash"], new.as_str());
    let sets = eventually("the old ReplicaSet scaled to 0", || async {
        let sets = owned_replica_sets(client, NS, "checkout").await;
        let old_rs = sets.iter().find(|rs| rs_hash(rs) == old)?;
        (rs_replicas(old_rs) == 0).then_some(sets)
    })
    .await;
    let new_rs = sets.iter().find(|rs| rs_hash(rs) == new).unwrap();
    assert_eq!(rs_replicas(new_rs), 4);

    // A third revision, aborted at the first pause: Degraded, stable restored.
    let (stable, canary) = update_to_first_pause(client, "checkout", "shop/checkout:v3").await;
    assert_eq!(stable, new);
    patch_status(client, NS, "checkout", &json!({"status": {"abort": true}})).await;
    let degraded = wait_phase(client, NS, "checkout", "Degraded").await;
    assert_eq!(degraded["stableRS"], stable.as_str());
    eventually("the aborted canary scaled to 0 and stable at 4", || async {
        let sets = owned_replica_sets(client, NS, "checkout").await;
        let canary_rs = sets.iter().find(|rs| rs_hash(rs) == canary)?;
        let stable_rs = sets.iter().find(|rs| rs_hash(rs) == stable)?;
        (rs_replicas(canary_rs) == 0 && rs_replicas(stable_rs) == 4).then_some(())
    })
    .await;
    runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_runner_finishes_a_timed_pause_with_the_same_replica_sets() {
    let cluster = cluster(&[NS]).await;
    let client = &cluster.client;
    let runner = start_runner(client, Scope::Namespace(NS.into()), None);
    create_rollout(client, NS, &canary_rollout("cart", "shop/cart:v1")).await;
    wait_phase(client, NS, "cart", "Healthy").await;
    let (old, new) = update_to_first_pause(client, "cart", "shop/cart:v2").await;
    patch_status(
        client,
        NS,
        "cart",
        &json!({"status": {"pauseConditions": null}}),
    )
    .await;
    eventually("the timed pause at step 3", || async {
        let status = status(client, NS, "cart").await;
        (status["currentStepIndex"] == 3 && status["pauseConditions"].is_array()).then_some(())
    })
    .await;
    let before: Vec<String> = owned_replica_sets(client, NS, "cart")
        .await
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    runner.stop().await;

    let runner = start_runner(client, Scope::Namespace(NS.into()), None);
    let done = wait_phase(client, NS, "cart", "Healthy").await;
    assert_eq!(done["stableRS"], new.as_str());
    let mut after: Vec<String> = owned_replica_sets(client, NS, "cart")
        .await
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    let mut before = before;
    before.sort();
    after.sort();
    assert_eq!(before, after);
    assert_ne!(old, new);
    runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_wide_runner_skips_namespaces_with_their_own_driver() {
    let cluster = cluster(&["held", "free"]).await;
    let client = &cluster.client;
    let held = lease::acquire(client, &Scope::Namespace("held".into()), "other-driver")
        .await
        .unwrap();
    // A cluster-wide driver may start while a namespace has its own driver...
    let wide = lease::acquire(client, &Scope::AllNamespaces, "wide-driver")
        .await
        .unwrap();
    // ...but a new per-namespace driver respects the live cluster-wide holder.
    let refused = lease::acquire(client, &Scope::Namespace("free".into()), "late")
        .await
        .err()
        .unwrap();
    let AcquireLeaseError::Held(refusal) = refused else {
        panic!("expected a refusal, got {refused}");
    };
    assert_eq!(refusal.lease, "kube-system/rolltop-controller");
    assert_eq!(refusal.identity, "wide-driver");

    let runner = start_runner(client, Scope::AllNamespaces, Some("wide-driver"));
    create_rollout(client, "held", &canary_rollout("a", "a:v1")).await;
    create_rollout(client, "free", &canary_rollout("b", "b:v1")).await;
    wait_phase(client, "free", "b", "Healthy").await;
    // The held namespace's rollout is left alone while its driver holds the Lease (the free
    // one being Healthy shows the runner has had every chance to act on it).
    assert_eq!(status(client, "held", "a").await, Value::Null);
    assert!(owned_replica_sets(client, "held", "a").await.is_empty());
    // Once that driver releases, the cluster-wide runner takes the namespace over.
    held.release().await.unwrap();
    wait_phase(client, "held", "a", "Healthy").await;
    runner.stop().await;
    wide.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_drive_next_to_an_argo_rollouts_operator() {
    let cluster = cluster(&["argo-rollouts", NS]).await;
    let client = &cluster.client;
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "argo-rollouts", "namespace": "argo-rollouts"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "argo-rollouts"}},
            "template": {
                "metadata": {"labels": {"app": "argo-rollouts"}},
                "spec": {"containers": [{"name": "argo-rollouts", "image": "argo-rollouts:v1"}]}
            }
        }
    }))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), "argo-rollouts")
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    let error = runner::drive(
        client.clone(),
        Scope::Namespace(NS.into()),
        false,
        std::future::pending(),
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(error, DriveError::ArgoOperator(_)), "{error}");
    assert!(
        error.to_string().contains("argo-rollouts/argo-rollouts"),
        "{error}"
    );
    assert!(error.to_string().contains("--force"), "{error}");
    // No Lease was taken.
    let leases: Api<Lease> = Api::namespaced(client.clone(), NS);
    assert!(leases.get_opt(LEASE_NAME).await.unwrap().is_none());
    // With --force it drives (and stops cleanly, releasing the Lease).
    runner::drive(
        client.clone(),
        Scope::Namespace(NS.into()),
        true,
        tokio::time::sleep(Duration::from_millis(300)),
    )
    .await
    .unwrap();
    let lease = leases.get(LEASE_NAME).await.unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity, None);
}

async fn lease_holder(client: &Client, ns: &str) -> Option<String> {
    Api::<Lease>::namespaced(client.clone(), ns)
        .get_opt(LEASE_NAME)
        .await
        .unwrap()
        .and_then(|lease| lease.spec?.holder_identity)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_drives_holds_the_lease_and_releases_it_on_sigterm() {
    let cluster = cluster(&[NS]).await;
    let client = &cluster.client;
    let kubeconfig = cluster.kubeconfig.path();
    let controller = |extra: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rolltop"));
        command
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["controller", "-n", NS])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    };
    let first = controller(&[]).spawn().unwrap();
    let holder = eventually("the binary to take the Lease", || lease_holder(client, NS)).await;

    // It drives: a rollout becomes Healthy.
    create_rollout(client, NS, &canary_rollout("web", "web:v1")).await;
    wait_phase(client, NS, "web", "Healthy").await;

    // A second driver for the same namespace is refused, naming the holder.
    let second = controller(&[]).output().await.unwrap();
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains(&holder), "{stderr}");
    assert!(stderr.contains("shop/rolltop-controller"), "{stderr}");

    let pid = first.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::time::timeout(DEADLINE, first.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(lease_holder(client, NS).await, None, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_notices_when_another_driver_takes_its_lease() {
    let cluster = cluster(&[NS]).await;
    let client = &cluster.client;
    let guard = lease::acquire(client, &Scope::Namespace(NS.into()), "first")
        .await
        .unwrap();
    // Renewals keep it: a second identity is refused.
    let refused = lease::acquire(client, &Scope::Namespace(NS.into()), "second").await;
    assert!(matches!(refused, Err(AcquireLeaseError::Held(_))));
    // Someone overwrites the holder (as a driver that saw it expired would).
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = json!({"spec": {"holderIdentity": "thief", "renewTime": now}});
    Api::<Lease>::namespaced(client.clone(), NS)
        .patch(LEASE_NAME, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    tokio::time::timeout(DEADLINE, guard.lost())
        .await
        .expect("the renewer reports the loss");
    // Releasing a lost Lease leaves the new holder alone.
    guard.release().await.unwrap();
    assert_eq!(lease_holder(client, NS).await.as_deref(), Some("thief"));
}
