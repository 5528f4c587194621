//! Drop-in parity with `kubectl argo rollouts` in a release script: an in-process sandbox with
//! the simulated ReplicaSet/kubelet controllers, rolltop's CRDs and the rollout runner, driven
//! only by bash scripts written the way operators write them for the kubectl plugin, with `$RO`
//! standing for the plugin. The scripts use the plugin's own flag spellings and its wait idioms
//! (poll `get rollout` for `Paused`, `status --timeout`); the test checks their exit codes,
//! the plugin's lines in their output, and what the server holds afterwards.

use std::process::Output;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use rolltop::crd::Rollout;
use serde_json::{Value, json};

use crate::harness::{cluster, create_rollout, eventually, rollout_from, start_namespace_runner};

const NS: &str = "default";

/// The plugin's wait-for-pause idiom, shared by both scripts.
const WAIT_PAUSED: &str = "wait_paused() {
  for i in $(seq 1 300); do
    $RO get rollout demo --no-color | grep -q 'Status:.*Paused' && return 0
    sleep 0.2
  done
  echo 'never paused' >&2
  return 1
}
";

async fn rollout_status(client: &Client) -> Value {
    let rollout = Api::<Rollout>::namespaced(client.clone(), NS)
        .get("demo")
        .await
        .unwrap();
    serde_json::to_value(&rollout.status).unwrap()
}

/// Runs `script` under `bash -c` with `$RO` = the built binary and `$KUBECONFIG` set, off the
/// runtime's worker threads so the in-process sandbox and runner keep serving it.
async fn run_script(kubeconfig: &std::path::Path, script: &str) -> (Output, String) {
    let kubeconfig = kubeconfig.to_owned();
    let body = format!("set -euo pipefail\n{WAIT_PAUSED}{script}");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(body)
            .env("RO", env!("CARGO_BIN_EXE_rolltop"))
            .env("KUBECONFIG", kubeconfig)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// The image of the ReplicaSet the rollout names as stable.
async fn stable_image(client: &Client) -> String {
    let status = rollout_status(client).await;
    let stable = status["stableRS"].as_str().unwrap().to_owned();
    let sets = Api::<ReplicaSet>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let rs = sets
        .iter()
        .find(|rs| rs.labels().get("rollouts-pod-template-hash") == Some(&stable))
        .unwrap_or_else(|| panic!("no ReplicaSet with hash {stable}"));
    let template = rs.spec.template.as_ref().unwrap();
    template.spec.as_ref().unwrap().containers[0]
        .image
        .clone()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)]
async fn a_plugin_release_script_runs_unchanged() {
    let cluster = cluster(&[NS]).await;
    let client = cluster.client.clone();
    let kubeconfig = &cluster.kubeconfig;
    let runner = start_namespace_runner(&client, NS);

    let rollout = rollout_from(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "demo"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "demo"}},
            "template": {
                "metadata": {"labels": {"app": "demo"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}
            },
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}}
        }
    }));
    create_rollout(&client, NS, &rollout).await;
    eventually("demo Healthy", || async {
        (rollout_status(&client).await["phase"] == "Healthy").then_some(())
    })
    .await;

    // The release: new image, wait for the canary pause, look, promote, wait for Healthy.
    let (out, text) = run_script(
        kubeconfig.path(),
        "$RO set image demo app=nginx:1.26
$RO status demo --timeout 60s --watch=false || true
wait_paused
$RO get rollout demo --no-color
$RO list rollouts
$RO promote demo
$RO status demo --timeout 60s
",
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{text}");
    for line in [
        "rollout \"demo\" image updated",
        "Status:",
        "Strategy:",
        "Canary",
        "rollout 'demo' promoted",
        "Healthy",
    ] {
        assert!(text.contains(line), "missing {line:?}\n{text}");
    }
    // `get rollout` prints its own `NAME KIND STATUS` tree header; the list's is the one
    // whose columns start like the plugin's.
    assert!(
        text.lines().any(|l| {
            let columns: Vec<&str> = l.split_whitespace().collect();
            columns.starts_with(&["NAME", "STRATEGY", "STATUS", "STEP", "SET-WEIGHT"])
        }),
        "no `list rollouts` header\n{text}"
    );
    // `status` returned at the first Healthy it saw; the old ReplicaSet's pods may still be
    // going away (Progressing "old replicas are pending termination"), so wait for the end.
    let status = eventually("Healthy with old replicas gone", || async {
        let status = rollout_status(&client).await;
        (status["phase"] == "Healthy").then_some(status)
    })
    .await;
    assert_eq!(status["stableRS"], status["currentPodHash"], "{status}");
    assert_eq!(stable_image(&client).await, "nginx:1.26");

    // Abort and retry: status must report the abort as Degraded (exit 1), then the retried
    // update is promoted in full.
    let (out, text) = run_script(
        kubeconfig.path(),
        "$RO set image demo app=nginx:1.27
wait_paused
$RO abort demo
if $RO status demo --timeout 20s; then
  echo 'status after abort exited 0' >&2
  exit 3
else
  code=$?
  if [ \"$code\" -ne 1 ]; then echo \"status after abort exited $code\" >&2; exit 4; fi
fi
echo 'abort reported Degraded'
$RO retry rollout demo
wait_paused
$RO promote demo --full
$RO status demo --timeout 60s
",
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{text}");
    for line in [
        "rollout 'demo' aborted",
        "Degraded",
        "abort reported Degraded",
        "rollout 'demo' retried",
        "rollout 'demo' fully promoted",
    ] {
        assert!(text.contains(line), "missing {line:?}\n{text}");
    }
    eventually("Healthy after the full promotion", || async {
        (rollout_status(&client).await["phase"] == "Healthy").then_some(())
    })
    .await;
    assert_eq!(stable_image(&client).await, "nginx:1.27");

    runner.stop().await;
}
