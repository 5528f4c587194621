//! The CLI against a live in-process sandbox: `get rollout` golden output (canary, blue-green,
//! aborted) at a fixed clock from objects read back through kube::Client, `list rollouts -A`,
//! every action checked by reading back what the server stored, refusals, `status` exit codes
//! and a closed stdout pipe. Rollouts, ReplicaSets, Pods and AnalysisRuns are created as
//! fixtures (no rollout controller runs), their statuses written through `/status`.

// Fixture futures hold whole Rollouts; boxing each await would only add noise to the tests.
#![allow(clippy::large_futures)]

use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::Resource;
use rolltop::cli::get::{load_view, render_get};
use rolltop::crd::{AnalysisRun, Rollout, install, wait_established};
use rolltop::sandbox::{Sandbox, SandboxConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

struct Env {
    sandbox: Sandbox,
    client: kube::Client,
    kubeconfig: tempfile::NamedTempFile,
}

async fn env() -> Env {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = sandbox.client().await.unwrap();
    install(&client).await.unwrap();
    wait_established(&client, Duration::from_secs(10))
        .await
        .unwrap();
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(kubeconfig.path(), sandbox.kubeconfig_yaml()).unwrap();
    Env {
        sandbox,
        client,
        kubeconfig,
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Env {
    async fn rolltop(&self, args: &[&str]) -> Run {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rolltop"))
            .args(args)
            .arg("--kubeconfig")
            .arg(self.kubeconfig.path())
            .output()
            .await
            .unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    async fn namespace(&self, name: &str) {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    }

    /// Creates an object, then writes `status` through the status subresource when given.
    async fn create<K>(&self, ns: &str, object: Value, status: Option<Value>) -> K
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Serialize
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        let typed: K = serde_json::from_value(object).unwrap();
        let created = api.create(&PostParams::default(), &typed).await.unwrap();
        let Some(status) = status else {
            return created;
        };
        let name = created.meta().name.clone().unwrap();
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .unwrap()
    }

    async fn rollout(&self, ns: &str, name: &str) -> Rollout {
        Api::<Rollout>::namespaced(self.client.clone(), ns)
            .get(name)
            .await
            .unwrap()
    }
}

fn owner(kind: &str, name: &str, uid: &str) -> Value {
    let api_version = if kind == "Rollout" {
        "argoproj.io/v1alpha1"
    } else {
        "apps/v1"
    };
    json!([{"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": true}])
}

/// A Rollout with `status`, whose observedGeneration matches its generation (as a controller
/// that has seen the spec would write it).
async fn rollout(env: &Env, ns: &str, object: Value, mut status: Value) -> Rollout {
    let created: Rollout = env.create(ns, object, None).await;
    status["observedGeneration"] = json!(created.metadata.generation.unwrap_or(1).to_string());
    let api: Api<Rollout> = Api::namespaced(env.client.clone(), ns);
    api.patch_status(
        created.metadata.name.as_deref().unwrap(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .unwrap()
}

struct RsSpec<'a> {
    app: &'a str,
    hash: &'a str,
    revision: u32,
    replicas: i32,
    image: &'a str,
}

async fn replica_set(env: &Env, ns: &str, owner_ro: &Rollout, spec: &RsSpec<'_>) -> ReplicaSet {
    let name = format!("{}-{}", spec.app, spec.hash);
    let labels = json!({"app": spec.app, "rollouts-pod-template-hash": spec.hash});
    env.create(
        ns,
        json!({
            "metadata": {"name": name, "labels": labels,
                "annotations": {"rollout.argoproj.io/revision": spec.revision.to_string()},
                "ownerReferences": owner("Rollout", owner_ro.metadata.name.as_deref().unwrap(),
                    owner_ro.metadata.uid.as_deref().unwrap())},
            "spec": {"replicas": spec.replicas, "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "app", "image": spec.image}]}}}
        }),
        Some(
            json!({"replicas": spec.replicas, "readyReplicas": spec.replicas,
            "availableReplicas": spec.replicas}),
        ),
    )
    .await
}

async fn pod(env: &Env, ns: &str, rs: &ReplicaSet, suffix: &str, restarts: i32) -> Pod {
    let rs_name = rs.metadata.name.clone().unwrap();
    let labels = rs.metadata.labels.clone().unwrap();
    env.create(
        ns,
        json!({
            "metadata": {"name": format!("{rs_name}-{suffix}"), "labels": labels,
                "ownerReferences": owner("ReplicaSet", &rs_name, rs.metadata.uid.as_deref().unwrap())},
            "spec": {"containers": [{"name": "app", "image": "x"}]}
        }),
        Some(json!({"phase": "Running", "containerStatuses": [{"name": "app", "image": "x",
            "imageID": "", "ready": true, "restartCount": restarts,
            "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]})),
    )
    .await
}

async fn analysis_run(
    env: &Env,
    ns: &str,
    owner_ro: &Rollout,
    name: &str,
    revision: u32,
    status: Value,
) -> AnalysisRun {
    // AnalysisRun has no status subresource: the status is part of the object.
    env.create(
        ns,
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": name,
                "annotations": {"rollout.argoproj.io/revision": revision.to_string()},
                "ownerReferences": owner("Rollout", owner_ro.metadata.name.as_deref().unwrap(),
                    owner_ro.metadata.uid.as_deref().unwrap())},
            "spec": {"metrics": [{"name": "web", "provider": {"web": {"url": "http://x"}}}]},
            "status": status
        }),
        None,
    )
    .await
}

/// A clock a week after the rollout was created: every fixture object reads `7d`.
fn a_week_later(rollout: &Rollout) -> DateTime<Utc> {
    let created = rollout.metadata.creation_timestamp.as_ref().unwrap().0;
    DateTime::from_timestamp(created.as_second(), 0).unwrap() + chrono::Duration::days(7)
}

async fn golden(env: &Env, ns: &str, name: &str) -> String {
    let view = load_view(&env.client, ns, name).await.unwrap();
    render_get(&view, a_week_later(&view.rollout), false)
}

fn rollout_object(name: &str, replicas: i32, strategy: &Value, image: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}},
            "strategy": strategy}
    })
}

/// The spec §6.5 blue-green example, rebuilt object by object.
async fn blue_green_fixture(env: &Env) {
    env.namespace("jesse-test").await;
    let ns = "jesse-test";
    let ro = rollout(
        env,
        ns,
        rollout_object(
            "bluegreen-demo",
            3,
            &json!({"blueGreen": {"activeService": "active", "previewService": "preview",
                "autoPromotionEnabled": false}}),
            "argoproj/rollouts-demo:green",
        ),
        json!({"phase": "Paused", "message": "BlueGreenPause", "controllerPause": true,
            "pauseConditions": [{"reason": "BlueGreenPause", "startTime": "2026-01-01T00:00:00Z"}],
            "replicas": 6, "updatedReplicas": 3, "readyReplicas": 6, "availableReplicas": 3,
            "currentPodHash": "74b948fccb", "stableRS": "6cbccd9f99",
            "blueGreen": {"activeSelector": "6cbccd9f99", "previewSelector": "74b948fccb"}}),
    )
    .await;
    let app = "bluegreen-demo";
    let preview = RsSpec {
        app,
        hash: "74b948fccb",
        revision: 11,
        replicas: 3,
        image: "argoproj/rollouts-demo:green",
    };
    let active = RsSpec {
        app,
        hash: "6cbccd9f99",
        revision: 10,
        replicas: 3,
        image: "argoproj/rollouts-demo:blue",
    };
    let old = RsSpec {
        app,
        hash: "746d5fddf6",
        revision: 8,
        replicas: 0,
        image: "argoproj/rollouts-demo:red",
    };
    let rs = replica_set(env, ns, &ro, &preview).await;
    for suffix in ["5jz59", "mkhrl", "vvj2t"] {
        pod(env, ns, &rs, suffix, 0).await;
    }
    let rs = replica_set(env, ns, &ro, &active).await;
    for suffix in ["gk78v", "kxj8g", "t2d4f"] {
        pod(env, ns, &rs, suffix, 0).await;
    }
    replica_set(env, ns, &ro, &old).await;
}

#[tokio::test]
async fn get_rollout_blue_green_matches_the_plugin_example() {
    let env = env().await;
    blue_green_fixture(&env).await;
    let text = golden(&env, "jesse-test", "bluegreen-demo").await;
    let expected = "\
Name:            bluegreen-demo
Namespace:       jesse-test
Status:          ॥ Paused
Message:         BlueGreenPause
Strategy:        BlueGreen
Images:          argoproj/rollouts-demo:blue (stable, active)
                 argoproj/rollouts-demo:green (preview)
Replicas:
  Desired:       3
  Current:       6
  Updated:       3
  Ready:         6
  Available:     3

NAME                                        KIND        STATUS        AGE  INFO
⟳ bluegreen-demo                            Rollout     ॥ Paused      7d
├──# revision:11
│  └──⧉ bluegreen-demo-74b948fccb           ReplicaSet  ✔ Healthy     7d   preview
│     ├──□ bluegreen-demo-74b948fccb-5jz59  Pod         ✔ Running     7d   ready:1/1
│     ├──□ bluegreen-demo-74b948fccb-mkhrl  Pod         ✔ Running     7d   ready:1/1
│     └──□ bluegreen-demo-74b948fccb-vvj2t  Pod         ✔ Running     7d   ready:1/1
├──# revision:10
│  └──⧉ bluegreen-demo-6cbccd9f99           ReplicaSet  ✔ Healthy     7d   stable,active
│     ├──□ bluegreen-demo-6cbccd9f99-gk78v  Pod         ✔ Running     7d   ready:1/1
│     ├──□ bluegreen-demo-6cbccd9f99-kxj8g  Pod         ✔ Running     7d   ready:1/1
│     └──□ bluegreen-demo-6cbccd9f99-t2d4f  Pod         ✔ Running     7d   ready:1/1
└──# revision:8
   └──⧉ bluegreen-demo-746d5fddf6           ReplicaSet  • ScaledDown  7d
";
    assert_eq!(text, expected, "\n{text}");

    // The binary prints the same header and tree (ages are real-time there).
    let run = env
        .rolltop(&[
            "get",
            "rollout",
            "bluegreen-demo",
            "-n",
            "jesse-test",
            "--no-color",
        ])
        .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with(&expected[..expected.find("NAME ").unwrap()])
    );
    assert!(
        run.stdout
            .contains("│  └──⧉ bluegreen-demo-6cbccd9f99           ReplicaSet  ✔ Healthy")
    );
    assert!(
        !run.stdout.contains('\u{1b}'),
        "--no-color prints no escapes"
    );
    let colored = env
        .rolltop(&["get", "rollout", "bluegreen-demo", "-n", "jesse-test"])
        .await;
    assert!(colored.stdout.contains("\u{1b}[32m✔\u{1b}[0m Healthy"));
    let json = env
        .rolltop(&[
            "get",
            "ro",
            "bluegreen-demo",
            "-n",
            "jesse-test",
            "-o",
            "json",
        ])
        .await;
    let object: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        object["status"]["blueGreen"]["activeSelector"],
        "6cbccd9f99"
    );
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn get_rollout_aborted_canary_matches_the_plugin_example() {
    let env = env().await;
    let ns = "default";
    let name = "rollout-background-analysis";
    let message =
        "RolloutAborted: metric \"web\" assessed Failed due to failed (1) > failureLimit (0)";
    let ro = rollout(
        &env,
        ns,
        rollout_object(
            name,
            1,
            &json!({"canary": {"steps": [{"setWeight": 10}, {"pause": {}}]}}),
            "argoproj/rollouts-demo:yellow",
        ),
        json!({"phase": "Degraded", "message": message, "abort": true, "currentStepIndex": 0,
            "replicas": 1, "updatedReplicas": 0, "readyReplicas": 1, "availableReplicas": 1,
            "currentPodHash": "db976bc44", "stableRS": "7d84d44bb8"}),
    )
    .await;
    let canary = RsSpec {
        app: name,
        hash: "db976bc44",
        revision: 2,
        replicas: 0,
        image: "argoproj/rollouts-demo:yellow",
    };
    let stable = RsSpec {
        app: name,
        hash: "7d84d44bb8",
        revision: 1,
        replicas: 1,
        image: "argoproj/rollouts-demo:blue",
    };
    replica_set(&env, ns, &ro, &canary).await;
    let rs = replica_set(&env, ns, &ro, &stable).await;
    pod(&env, ns, &rs, "z5wps", 0).await;
    analysis_run(
        &env,
        ns,
        &ro,
        "rollout-background-analysis-db976bc44-2",
        2,
        json!({"phase": "Failed", "metricResults": [{"name": "web", "phase": "Failed", "failed": 1, "count": 1}]}),
    )
    .await;
    let text = golden(&env, ns, name).await;
    let expected = "\
Name:            rollout-background-analysis
Namespace:       default
Status:          ✖ Degraded
Message:         RolloutAborted: metric \"web\" assessed Failed due to failed (1) > failureLimit (0)
Strategy:        Canary
  Step:          0/2
  SetWeight:     0
  ActualWeight:  0
Images:          argoproj/rollouts-demo:blue (stable)
Replicas:
  Desired:       1
  Current:       1
  Updated:       0
  Ready:         1
  Available:     1

NAME                                                     KIND         STATUS        AGE  INFO
⟳ rollout-background-analysis                            Rollout      ✖ Degraded    7d
├──# revision:2
│  ├──⧉ rollout-background-analysis-db976bc44            ReplicaSet   • ScaledDown  7d   canary
│  └──α rollout-background-analysis-db976bc44-2          AnalysisRun  ✖ Failed      7d   ✖ 1
└──# revision:1
   └──⧉ rollout-background-analysis-7d84d44bb8           ReplicaSet   ✔ Healthy     7d   stable
      └──□ rollout-background-analysis-7d84d44bb8-z5wps  Pod          ✔ Running     7d   ready:1/1
";
    assert_eq!(text, expected, "\n{text}");

    // Degraded: `status` exits 1 and says why; promote is refused until a retry.
    let run = env.rolltop(&["status", name]).await;
    assert_eq!(run.code, Some(1));
    assert_eq!(run.stdout, format!("Degraded - {message}\n"));
    assert!(
        run.stderr.contains("degraded state with message"),
        "{}",
        run.stderr
    );
    let before = env.rollout(ns, name).await;
    let run = env.rolltop(&["promote", name]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains(&format!("rolltop retry rollout {name}")),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.rollout(ns, name).await.status,
        before.status,
        "a refusal writes nothing"
    );
    env.sandbox.shutdown().await;
}

/// A canary paused at step 1 of 4 with a running background analysis.
async fn canary_fixture(env: &Env) -> Rollout {
    let ns = "default";
    let name = "canary-demo";
    let ro = rollout(
        env,
        ns,
        rollout_object(
            name,
            5,
            &json!({"canary": {"steps": [{"setWeight": 20}, {"pause": {}},
                {"setWeight": 50}, {"pause": {"duration": "10s"}}]}}),
            "registry.example/shop:v2",
        ),
        json!({"phase": "Paused", "message": "CanaryPauseStep", "controllerPause": true,
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}],
            "currentStepIndex": 1,
            "replicas": 5, "updatedReplicas": 1, "readyReplicas": 5, "availableReplicas": 5,
            "currentPodHash": "5b8c7d9f4", "stableRS": "66f8d9c7b"}),
    )
    .await;
    let canary = RsSpec {
        app: name,
        hash: "5b8c7d9f4",
        revision: 2,
        replicas: 1,
        image: "registry.example/shop:v2",
    };
    let stable = RsSpec {
        app: name,
        hash: "66f8d9c7b",
        revision: 1,
        replicas: 4,
        image: "registry.example/shop:v1",
    };
    let rs = replica_set(env, ns, &ro, &canary).await;
    pod(env, ns, &rs, "x7k2p", 2).await;
    let rs = replica_set(env, ns, &ro, &stable).await;
    for suffix in ["a1b2c", "d3e4f", "g5h6i", "j7k8l"] {
        pod(env, ns, &rs, suffix, 0).await;
    }
    analysis_run(
        env,
        ns,
        &ro,
        "canary-demo-5b8c7d9f4-2",
        2,
        json!({"phase": "Running", "metricResults": [{"name": "web", "phase": "Running", "successful": 2, "count": 2}]}),
    )
    .await;
    env.rollout(ns, name).await
}

#[tokio::test]
async fn get_rollout_paused_canary() {
    let env = env().await;
    canary_fixture(&env).await;
    let text = golden(&env, "default", "canary-demo").await;
    let expected = "\
Name:            canary-demo
Namespace:       default
Status:          ॥ Paused
Message:         CanaryPauseStep
Strategy:        Canary
  Step:          1/4
  SetWeight:     20
  ActualWeight:  20
Images:          registry.example/shop:v1 (stable)
                 registry.example/shop:v2 (canary)
Replicas:
  Desired:       5
  Current:       5
  Updated:       1
  Ready:         5
  Available:     5

NAME                                    KIND         STATUS     AGE  INFO
⟳ canary-demo                           Rollout      ॥ Paused   7d
├──# revision:2
│  ├──⧉ canary-demo-5b8c7d9f4           ReplicaSet   ✔ Healthy  7d   canary
│  │  └──□ canary-demo-5b8c7d9f4-x7k2p  Pod          ✔ Running  7d   ready:1/1,restarts:2
│  └──α canary-demo-5b8c7d9f4-2         AnalysisRun  ◌ Running  7d   ✔ 2
└──# revision:1
   └──⧉ canary-demo-66f8d9c7b           ReplicaSet   ✔ Healthy  7d   stable
      ├──□ canary-demo-66f8d9c7b-a1b2c  Pod          ✔ Running  7d   ready:1/1
      ├──□ canary-demo-66f8d9c7b-d3e4f  Pod          ✔ Running  7d   ready:1/1
      ├──□ canary-demo-66f8d9c7b-g5h6i  Pod          ✔ Running  7d   ready:1/1
      └──□ canary-demo-66f8d9c7b-j7k8l  Pod          ✔ Running  7d   ready:1/1
";
    assert_eq!(text, expected, "\n{text}");
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn list_rollouts_all_namespaces_has_the_plugin_columns() {
    let env = env().await;
    blue_green_fixture(&env).await;
    canary_fixture(&env).await;
    let run = env.rolltop(&["list", "rollouts", "-A"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let expected = "\
NAMESPACE   NAME            STRATEGY   STATUS        STEP  SET-WEIGHT  READY  DESIRED  UP-TO-DATE  AVAILABLE
default     canary-demo     Canary     Paused        1/4   20          5/5    5        1           5
jesse-test  bluegreen-demo  BlueGreen  Paused        -     -           6/6    3        3           3
";
    assert_eq!(run.stdout, expected, "\n{}", run.stdout);
    let run = env.rolltop(&["list", "rollouts", "-n", "jesse-test"]).await;
    assert!(
        run.stdout.starts_with("NAME            STRATEGY"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.lines().count(), 2);
    let run = env.rolltop(&["list", "rollouts", "-n", "empty"]).await;
    assert_eq!(run.code, Some(0));
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.trim(), "No resources found.");
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_closed_stdout_pipe_ends_quietly() {
    let env = env().await;
    canary_fixture(&env).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rolltop"))
        .args(["list", "rollouts", "-A", "--kubeconfig"])
        .arg(env.kubeconfig.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before rolltop writes: its first write gets EPIPE.
    drop(child.stdout.take());
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn actions_send_the_plugin_patches() {
    let env = env().await;
    let ns = "default";
    let name = "canary-demo";
    canary_fixture(&env).await;

    // promote at a pause step: only the pause conditions go (the controller moves on).
    let run = env.rolltop(&["promote", name]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "rollout 'canary-demo' promoted\n");
    let status = env.rollout(ns, name).await.status.unwrap();
    assert_eq!(status.pause_conditions, None);
    assert_eq!(status.current_step_index, Some(1));

    // promote --skip-current-step: step 1 -> 2.
    let run = env.rolltop(&["promote", name, "--skip-current-step"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let status = env.rollout(ns, name).await.status.unwrap();
    assert_eq!(status.current_step_index, Some(2));

    // pause sets spec.paused; promote then clears it too.
    let run = env.rolltop(&["pause", name]).await;
    assert_eq!(run.stdout, "rollout 'canary-demo' paused\n");
    assert_eq!(env.rollout(ns, name).await.spec.paused, Some(true));
    let run = env.rolltop(&["promote", name]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let read = env.rollout(ns, name).await;
    assert_eq!(read.spec.paused, Some(false));
    // No pause condition: unpaused and one step forward, as the plugin does.
    assert_eq!(read.status.unwrap().current_step_index, Some(3));

    // abort, then abort again is refused, then retry clears it.
    let run = env.rolltop(&["abort", name]).await;
    assert_eq!(run.stdout, "rollout 'canary-demo' aborted\n");
    assert_eq!(
        env.rollout(ns, name).await.status.unwrap().abort,
        Some(true)
    );
    let run = env.rolltop(&["abort", name]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("already aborted"), "{}", run.stderr);
    let run = env.rolltop(&["retry", "rollout", name]).await;
    assert_eq!(run.stdout, "rollout 'canary-demo' retried\n");
    assert_eq!(
        env.rollout(ns, name).await.status.unwrap().abort,
        Some(false)
    );
    let run = env.rolltop(&["retry", "ro", name]).await;
    assert_eq!(
        run.code,
        Some(1),
        "retry of a rollout that is not aborted is refused"
    );

    // promote --full: promoteFull in status (canary != stable).
    let run = env.rolltop(&["promote", name, "--full"]).await;
    assert_eq!(run.stdout, "rollout 'canary-demo' fully promoted\n");
    assert_eq!(
        env.rollout(ns, name).await.status.unwrap().promote_full,
        Some(true)
    );

    // restart --in 10m: restartAt ten minutes from now.
    let before = Utc::now();
    let run = env.rolltop(&["restart", name, "--in", "10m"]).await;
    assert_eq!(run.stdout, "rollout 'canary-demo' restarts in 10m\n");
    let at = env.rollout(ns, name).await.spec.restart_at.unwrap();
    let at = DateTime::parse_from_rfc3339(&at)
        .unwrap()
        .with_timezone(&Utc);
    let delta = at - before;
    assert!(
        delta >= chrono::Duration::seconds(599) && delta <= chrono::Duration::seconds(610),
        "{delta}"
    );

    // set image: the template changes, nothing else.
    let run = env
        .rolltop(&["set", "image", name, "app=registry.example/shop:v3"])
        .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "rollout \"canary-demo\" image updated\n");
    let read = env.rollout(ns, name).await;
    assert_eq!(
        read.images(),
        [("app".to_owned(), "registry.example/shop:v3".to_owned())]
    );
    let run = env.rolltop(&["set", "image", name, "sidecar=x:1"]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("no container named"), "{}", run.stderr);

    // undo: the template of revision 1's ReplicaSet, without the hash label.
    let run = env.rolltop(&["undo", name, "--to-revision", "1"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "rollout 'canary-demo' undo\n");
    let read = env.rollout(ns, name).await;
    assert_eq!(
        read.images(),
        [("app".to_owned(), "registry.example/shop:v1".to_owned())]
    );
    let template = read.spec.template.unwrap();
    assert_eq!(template["metadata"]["labels"], json!({"app": name}));
    let run = env.rolltop(&["undo", name, "--to-revision", "1"]).await;
    assert_eq!(
        run.stdout,
        "skipped rollback (current template already matches revision 1)\n"
    );
    let run = env.rolltop(&["undo", name, "--to-revision", "9"]).await;
    assert_eq!(run.code, Some(1));

    // terminate analysisrun: spec.terminate on the main resource.
    let run = env
        .rolltop(&["terminate", "analysisrun", "canary-demo-5b8c7d9f4-2"])
        .await;
    assert_eq!(
        run.stdout,
        "analysisRun 'canary-demo-5b8c7d9f4-2' terminated\n"
    );
    let read = Api::<AnalysisRun>::namespaced(env.client.clone(), ns)
        .get("canary-demo-5b8c7d9f4-2")
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&read).unwrap()["spec"]["terminate"],
        true
    );

    // --readonly never writes; a missing rollout is the server's NotFound.
    let run = env.rolltop(&["pause", name, "--readonly"]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("read-only"), "{}", run.stderr);
    let run = env.rolltop(&["abort", "doesnotexist"]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("not found"), "{}", run.stderr);
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn status_exit_codes_follow_the_plugin() {
    let env = env().await;
    canary_fixture(&env).await;
    // Paused without watching: printed with its message, exit 0.
    let run = env
        .rolltop(&["status", "canary-demo", "--watch=false"])
        .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "Paused - CanaryPauseStep\n");
    // Watching a paused rollout past the timeout: exit 1.
    let run = env
        .rolltop(&["status", "canary-demo", "--timeout", "1s"])
        .await;
    assert_eq!(run.code, Some(1));
    assert_eq!(run.stdout, "Paused - CanaryPauseStep\n");
    assert!(run.stderr.contains("exceeded timeout"), "{}", run.stderr);

    // Becoming Healthy while watched: the new line, exit 0.
    let watcher = tokio::spawn({
        let path = env.kubeconfig.path().to_owned();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_rolltop"))
                .args(["status", "canary-demo", "--timeout", "20s", "--kubeconfig"])
                .arg(path)
                .output()
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    Api::<Rollout>::namespaced(env.client.clone(), "default")
        .patch_status(
            "canary-demo",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Healthy", "message": "",
                "pauseConditions": null, "controllerPause": false}})),
        )
        .await
        .unwrap();
    let out = watcher.await.unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.ends_with("Healthy\n"), "{stdout}");
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn get_watch_redraws_until_done() {
    let env = env().await;
    canary_fixture(&env).await;
    let watcher = tokio::spawn({
        let path = env.kubeconfig.path().to_owned();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_rolltop"))
                .args([
                    "get",
                    "rollout",
                    "canary-demo",
                    "-w",
                    "--until-done",
                    "--no-color",
                ])
                .arg("--kubeconfig")
                .arg(path)
                .output()
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Api::<Rollout>::namespaced(env.client.clone(), "default")
        .patch_status(
            "canary-demo",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Healthy", "message": "",
                "pauseConditions": null, "controllerPause": false, "currentStepIndex": 4}})),
        )
        .await
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), watcher)
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let frames: Vec<&str> = stdout.split("\u{1b}[H\u{1b}[2J\u{1b}[0;0H").collect();
    assert!(frames.len() >= 3, "at least two redraws: {stdout}");
    assert!(
        frames[1].contains("Status:          ॥ Paused"),
        "{}",
        frames[1]
    );
    let last = frames.last().unwrap();
    assert!(last.contains("Status:          ✔ Healthy"), "{last}");
    assert!(last.contains("  Step:          4/4"), "{last}");
    env.sandbox.shutdown().await;
}
