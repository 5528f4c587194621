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
use rolltop::crd::{AnalysisRun, Experiment, Rollout, install, wait_established};
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

/// A clock a week after the newest fixture object was created: every object reads `7d` (the
/// oldest is at most seconds older, still within the same hour).
fn a_week_later(view: &rolltop::cli::get::RolloutView) -> DateTime<Utc> {
    let stamps = std::iter::once(&view.rollout.metadata)
        .chain(view.replica_sets.iter().map(|o| &o.metadata))
        .chain(view.pods.iter().map(|o| &o.metadata))
        .chain(view.analysis_runs.iter().map(|o| &o.metadata))
        .map(|meta| meta.creation_timestamp.as_ref().unwrap().0.as_second());
    let newest = stamps.max().unwrap();
    DateTime::from_timestamp(newest, 0).unwrap() + chrono::Duration::days(7)
}

async fn golden(env: &Env, ns: &str, name: &str) -> String {
    let view = load_view(&env.client, ns, name).await.unwrap();
    render_get(&view, a_week_later(&view), false)
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
    // --name keeps one rollout (field selector on the server); --timestamps leads each row.
    let run = env
        .rolltop(&[
            "list",
            "rollouts",
            "-A",
            "--name",
            "canary-demo",
            "--timestamps",
        ])
        .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(
        lines[0].starts_with("TIMESTAMP             NAMESPACE  NAME"),
        "{}",
        run.stdout
    );
    let stamp = lines[1].split_whitespace().next().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%SZ").is_ok(),
        "{stamp}"
    );
    assert!(
        lines[1].contains("  default    canary-demo  Canary"),
        "{}",
        run.stdout
    );
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
    assert_eq!(
        run.stderr,
        "error: rollouts.argoproj.io \"doesnotexist\" not found\n"
    );
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

/// An API server whose Rollout CRD has no status subresource (an old install): `/status`
/// answers 404 and the status patch goes to the main resource instead, as the plugin does.
#[tokio::test]
async fn status_patches_fall_back_to_the_main_resource() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use rolltop::cluster::actions::send;
    use rolltop::model::{Action, RolloutExtras, RolloutSummary, plan_action};

    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = sandbox.client().await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for mut crd in rolltop::crd::crds() {
        for version in &mut crd.spec.versions {
            if crd.spec.names.kind == "Rollout" {
                version.subresources = None;
            }
        }
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    wait_established(&client, Duration::from_secs(10))
        .await
        .unwrap();
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), "default");
    let mut object = rollout_object(
        "old",
        1,
        &json!({"canary": {"steps": [{"setWeight": 10}, {"pause": {}}]}}),
        "x:1",
    );
    object["status"] = json!({"currentStepIndex": 1, "currentPodHash": "b", "stableRS": "a"});
    let typed: Rollout = serde_json::from_value(object).unwrap();
    rollouts
        .create(&PostParams::default(), &typed)
        .await
        .unwrap();
    let status_404 = rollouts
        .patch_status("old", &PatchParams::default(), &Patch::Merge(json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(status_404, kube::Error::Api(ref s) if s.code == 404),
        "{status_404:?}"
    );

    let read = rollouts.get("old").await.unwrap();
    let summary = RolloutSummary::from_rollout(&read, RolloutExtras::default());
    let plan = plan_action(&summary, &Action::Abort, Utc::now(), false).unwrap();
    let lines = send(&client, "default", "old", &plan).await.unwrap();
    assert_eq!(
        lines,
        [r#"PATCH rollout (merge) {"status":{"abort":true}} (no status subresource)"#]
    );
    assert_eq!(
        rollouts.get("old").await.unwrap().status.unwrap().abort,
        Some(true)
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn list_watch_prints_a_row_when_it_changes() {
    let env = env().await;
    canary_fixture(&env).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rolltop"))
        .args(["list", "rollouts", "-w", "--kubeconfig"])
        .arg(env.kubeconfig.path())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rollouts: Api<Rollout> = Api::namespaced(env.client.clone(), "default");
    // A change that leaves the row alone prints nothing; a new step prints the row again.
    rollouts
        .patch_status(
            "canary-demo",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"message": "still paused"}})),
        )
        .await
        .unwrap();
    rollouts
        .patch_status(
            "canary-demo",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"currentStepIndex": 2}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("NAME        STRATEGY"), "{stdout}");
    assert!(lines[1].contains("1/4   20 "), "{stdout}");
    assert!(lines[2].contains("2/4   50 "), "{stdout}");
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn set_image_on_a_workload_ref_updates_the_deployment() {
    use k8s_openapi::api::apps::v1::Deployment;
    let env = env().await;
    let labels = json!({"app": "wl"});
    let _: Deployment = env
        .create(
            "default",
            json!({"metadata": {"name": "wl-deploy"},
                "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "app", "image": "x:1"}]}}}}),
            None,
        )
        .await;
    let _: Rollout = env
        .create(
            "default",
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "metadata": {"name": "wl"},
                "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                    "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "wl-deploy"},
                    "strategy": {"canary": {"steps": [{"setWeight": 50}]}}}}),
            None,
        )
        .await;
    let run = env.rolltop(&["set", "image", "wl", "app=x:2"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "deployment \"wl\" image updated\n");
    let read = Api::<Deployment>::namespaced(env.client.clone(), "default")
        .get("wl-deploy")
        .await
        .unwrap();
    let pod = read.spec.template.spec.unwrap();
    assert_eq!(pod.containers[0].image.as_deref(), Some("x:2"));
    let run = env.rolltop(&["undo", "wl"]).await;
    assert_eq!(
        run.code,
        Some(1),
        "undo through a workloadRef says it is not supported"
    );
    env.sandbox.shutdown().await;
}

/// An object owned by `owner` (an Experiment) with a fixed name, status written through
/// `/status`.
async fn owned_by_experiment<K>(
    env: &Env,
    ns: &str,
    owner_exp: &Experiment,
    object: Value,
    status: Value,
) -> K
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let mut object = object;
    object["metadata"]["ownerReferences"] = json!([{"apiVersion": "argoproj.io/v1alpha1",
        "kind": "Experiment", "name": owner_exp.metadata.name.as_deref().unwrap(),
        "uid": owner_exp.metadata.uid.as_deref().unwrap(), "controller": true}]);
    env.create(ns, object, Some(status)).await
}

/// The spec §6.5 experiment example (revision-2 subtree, two of its job lines): Experiment with
/// its ReplicaSets and Pods under the revision, the run with ✔/✖/?/⚠ counters and one Job line
/// per job measurement, and `Σ:<template>` image tags.
#[tokio::test]
async fn get_rollout_with_an_experiment_and_jobs_matches_the_plugin_example() {
    let env = env().await;
    let ns = "default";
    let name = "rollout-experiment-analysis";
    let ro = rollout(
        &env,
        ns,
        rollout_object(
            name,
            1,
            &json!({"canary": {"steps": [{"setWeight": 25}, {"experiment": {"templates": [
                {"name": "baseline", "specRef": "stable"}, {"name": "canary", "specRef": "canary"}]}}]}}),
            "argoproj/rollouts-demo:yellow",
        ),
        json!({"phase": "Degraded", "message": "ProgressDeadlineExceeded", "currentStepIndex": 1,
            "replicas": 2, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2,
            "currentPodHash": "6f646bf7b7", "stableRS": "f6db98dff"}),
    )
    .await;
    let experiment_name = "rollout-experiment-analysis-6f646bf7b7-1-vcv27";
    let experiment: Experiment = env
        .create(
            ns,
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Experiment",
                "metadata": {"name": experiment_name,
                    "annotations": {"rollout.argoproj.io/revision": "2"},
                    "ownerReferences": owner("Rollout", name, ro.metadata.uid.as_deref().unwrap())},
                "spec": {"templates": [
                    {"name": "baseline", "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "argoproj/rollouts-demo:blue"}]}}},
                    {"name": "canary", "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "argoproj/rollouts-demo:yellow"}]}}}]}}),
            None,
        )
        .await;
    // Experiment has no status subresource: the phase is part of the object.
    let experiments: Api<Experiment> = Api::namespaced(env.client.clone(), ns);
    experiments
        .patch(
            experiment_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running"}})),
        )
        .await
        .unwrap();
    let canary = RsSpec {
        app: name,
        hash: "6f646bf7b7",
        revision: 2,
        replicas: 1,
        image: "argoproj/rollouts-demo:yellow",
    };
    let stable = RsSpec {
        app: name,
        hash: "f6db98dff",
        revision: 1,
        replicas: 1,
        image: "argoproj/rollouts-demo:blue",
    };
    let rs = replica_set(&env, ns, &ro, &canary).await;
    pod(&env, ns, &rs, "wn5w8", 0).await;
    replica_set(&env, ns, &ro, &stable).await;
    for (template, hash, pod_name, image) in [
        (
            "baseline",
            "7d768b8b5f",
            "7dczdst",
            "argoproj/rollouts-demo:blue",
        ),
        (
            "canary",
            "7699dcf5d",
            "7699vgr24",
            "argoproj/rollouts-demo:yellow",
        ),
    ] {
        let rs_name = format!("{experiment_name}-{template}-{hash}");
        let labels = json!({"app": name, "rollouts-pod-template-hash": hash});
        let rs: ReplicaSet = owned_by_experiment(
            &env,
            ns,
            &experiment,
            json!({"metadata": {"name": rs_name, "labels": labels,
                    "annotations": {"rollout.argoproj.io/revision": "2"}},
                "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "app", "image": image}]}}}}),
            json!({"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}),
        )
        .await;
        let _: Pod = env
            .create(
                ns,
                json!({"metadata": {"name": format!("{experiment_name}-{template}-{pod_name}"),
                        "labels": labels,
                        "ownerReferences": owner("ReplicaSet", &rs_name, rs.metadata.uid.as_deref().unwrap())},
                    "spec": {"containers": [{"name": "app", "image": image}]}}),
                Some(json!({"phase": "Running", "containerStatuses": [{"name": "app", "image": image,
                    "imageID": "", "ready": true, "restartCount": 0,
                    "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]})),
            )
            .await;
    }
    // Job measurements started just before the run was written, so they read `7d` too.
    let started = (Utc::now() - chrono::Duration::seconds(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let run = "rollout-experiment-analysis-random-fail-6f646bf7b7-skqcr";
    analysis_run(
        &env,
        ns,
        &ro,
        run,
        2,
        json!({"phase": "Inconclusive", "metricResults": [{"name": "random-fail", "phase": "Inconclusive",
            "successful": 4, "failed": 4, "inconclusive": 1, "error": 1, "count": 10,
            "measurements": [
                {"phase": "Failed", "startedAt": started, "metadata": {"job-name": format!("{run}-rzl6lt")}},
                {"phase": "Successful", "startedAt": started, "metadata": {"job-name": format!("{run}-r8lqpd")}}]}]}),
    )
    .await;
    let text = golden(&env, ns, name).await;
    let tree: String =
        text.lines()
            .skip_while(|l| !l.starts_with("NAME"))
            .fold(String::new(), |mut out, l| {
                out.push_str(l.trim_end());
                out.push('\n');
                out
            });
    let expected = "\
NAME                                                                           KIND         STATUS          AGE  INFO
⟳ rollout-experiment-analysis                                                  Rollout      ✖ Degraded      7d
├──# revision:2
│  ├──⧉ rollout-experiment-analysis-6f646bf7b7                                 ReplicaSet   ✔ Healthy       7d   canary
│  │  └──□ rollout-experiment-analysis-6f646bf7b7-wn5w8                        Pod          ✔ Running       7d   ready:1/1
│  ├──Σ rollout-experiment-analysis-6f646bf7b7-1-vcv27                         Experiment   ◌ Running       7d
│  │  ├──⧉ rollout-experiment-analysis-6f646bf7b7-1-vcv27-baseline-7d768b8b5f  ReplicaSet   ✔ Healthy       7d
│  │  │  └──□ rollout-experiment-analysis-6f646bf7b7-1-vcv27-baseline-7dczdst  Pod          ✔ Running       7d   ready:1/1
│  │  └──⧉ rollout-experiment-analysis-6f646bf7b7-1-vcv27-canary-7699dcf5d     ReplicaSet   ✔ Healthy       7d
│  │     └──□ rollout-experiment-analysis-6f646bf7b7-1-vcv27-canary-7699vgr24  Pod          ✔ Running       7d   ready:1/1
│  └──α rollout-experiment-analysis-random-fail-6f646bf7b7-skqcr               AnalysisRun  ? Inconclusive  7d   ✔ 4,✖ 4,? 1,⚠ 1
│     ├──⊞ rollout-experiment-analysis-random-fail-6f646bf7b7-skqcr-rzl6lt     Job          ✖ Failed        7d
│     └──⊞ rollout-experiment-analysis-random-fail-6f646bf7b7-skqcr-r8lqpd     Job          ✔ Successful    7d
└──# revision:1
   └──⧉ rollout-experiment-analysis-f6db98dff                                  ReplicaSet   ✔ Healthy       7d   stable
";
    assert_eq!(tree, expected, "\n{text}");
    assert!(
        text.contains("argoproj/rollouts-demo:blue (stable, Σ:baseline)"),
        "{text}"
    );
    assert!(
        text.contains("argoproj/rollouts-demo:yellow (canary, Σ:canary)"),
        "{text}"
    );
    env.sandbox.shutdown().await;
}
