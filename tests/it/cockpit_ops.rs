//! The cockpit end to end, second part: the embedded controller named in the header
//! (`--controller on` drives, `--controller off` says nobody does), pod logs from the
//! simulated kubelet, SelfSubjectAccessReview refusing an action the sandbox's `--deny` rules
//! forbid (nothing sent), and the audit line of an action that was sent. The real binary runs
//! in a private tmux server against an in-process sandbox.

use std::path::Path;
use std::time::Duration;

use kube::Api;
use kube::api::PostParams;
use rolltop::crd::Rollout;
use rolltop::sandbox::sim::{self, SimConfig};
use rolltop::sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

use crate::cockpit::{create_with_status, rollout};
use crate::sandbox_api::start;
use crate::tmux::Tmux;

/// Starts rolltop in tmux with `args`, its XDG config and state homes under `dir`, and
/// `KUBECONFIG` naming the given files (several files are merged as kubectl merges them).
fn launch(tmux: &Tmux, dir: &Path, kubeconfigs: &[&Path], args: &str) {
    let joined: Vec<String> = kubeconfigs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let command = format!(
        "env KUBECONFIG={} XDG_CONFIG_HOME={dir}/config XDG_STATE_HOME={dir}/state {} {args}; \
         echo $? > {dir}/exit-status",
        joined.join(":"),
        env!("CARGO_BIN_EXE_rolltop"),
        dir = dir.display(),
    );
    tmux.start(&[], &command);
}

async fn sandbox_with_crds(config: SandboxConfig) -> (Sandbox, kube::Client) {
    let (sandbox, client) = start(config).await;
    rolltop::crd::install(&client).await.unwrap();
    rolltop::crd::wait_established(&client, Duration::from_secs(30))
        .await
        .unwrap();
    (sandbox, client)
}

fn write_kubeconfig(dir: &Path, sandbox: &Sandbox) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(&path, sandbox.kubeconfig_yaml()).unwrap();
    path
}

async fn quit(tmux: &Tmux, dir: &Path) {
    tmux.keys(&["q"]);
    let status = tmux.exit_status(&dir.join("exit-status")).await;
    assert_eq!(status, "0", "{}", tmux.screen());
}

fn paused() -> serde_json::Value {
    json!({"phase": "Paused", "message": "CanaryPauseStep", "currentStepIndex": 1,
           "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}],
           "controllerPause": true})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_on_drives_and_the_pod_log_is_shown() {
    let (sandbox, client) = sandbox_with_crds(SandboxConfig::default()).await;
    let _sim = sim::spawn(
        client.clone(),
        SimConfig {
            ready_delay: Duration::from_millis(100),
            start_delay: Duration::from_millis(50),
            ..SimConfig::default()
        },
    );
    let api: Api<Rollout> = Api::namespaced(client.clone(), "default");
    api.create(
        &PostParams::default(),
        &rollout("checkout", "shop/checkout:1.0"),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &sandbox);
    let tmux = Tmux::new(
        &format!("rolltop-ops-on-{}", std::process::id()),
        dir.path(),
    );
    launch(&tmux, dir.path(), &[&kubeconfig], "--controller on");
    tmux.wait_for("this rolltop driving", |s| {
        s.contains("driver: this rolltop")
    })
    .await;
    // Only a controller makes the rollout Healthy: the sandbox never runs one itself.
    tmux.wait_for("the rollout driven to Healthy", |s| {
        s.contains("checkout") && s.contains("Healthy")
    })
    .await;
    tmux.keys(&["Enter"]);
    tmux.wait_for("two running pods in the tree", |s| {
        s.matches("Running").count() >= 2
    })
    .await;
    // Line 0 is the revision, 1 the ReplicaSet, 2 the first pod.
    tmux.keys(&["j", "j", "l"]);
    let screen = tmux
        .wait_for("the simulated pod log", |s| {
            s.contains("LOGS default/checkout") && s.contains("starting app from image")
        })
        .await;
    assert!(screen.contains("pod checkout-"), "{screen}");
    assert!(screen.contains("shop/checkout:1.0"), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("the detail view again", |s| s.contains("REVISIONS"))
        .await;
    quit(&tmux, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_promote_says_not_allowed_and_sends_nothing() {
    let deny = ["patch:rollouts", "patch:rollouts/status"]
        .iter()
        .map(|rule| rule.parse().unwrap())
        .collect();
    let (sandbox, client) = sandbox_with_crds(SandboxConfig {
        deny,
        ..SandboxConfig::default()
    })
    .await;
    let api: Api<Rollout> = Api::namespaced(client.clone(), "default");
    // Patches are denied, so the status is written with an update (PUT).
    let created = api
        .create(
            &PostParams::default(),
            &rollout("payments", "shop/payments:2.0"),
        )
        .await
        .unwrap();
    let mut with_status: Rollout = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": created.metadata,
        "spec": created.spec,
        "status": paused(),
    }))
    .unwrap();
    with_status.metadata.managed_fields = None;
    api.replace_status("payments", &PostParams::default(), &with_status)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &sandbox);
    let tmux = Tmux::new(
        &format!("rolltop-ops-deny-{}", std::process::id()),
        dir.path(),
    );
    launch(&tmux, dir.path(), &[&kubeconfig], "--controller off");
    tmux.wait_for("the paused rollout", |s| {
        s.contains("payments") && s.contains("Paused")
    })
    .await;
    tmux.keys(&["p"]);
    tmux.wait_for("the confirmation", |s| s.contains("y send"))
        .await;
    tmux.keys(&["y"]);
    let screen = tmux
        .wait_for("the refusal", |s| {
            s.contains("not allowed") || s.contains(": sent")
        })
        .await;
    assert!(
        screen.contains("not allowed: patch rollouts/status"),
        "{screen}"
    );
    assert!(screen.contains("nothing sent"), "{screen}");
    let status = api.get("payments").await.unwrap().status.unwrap();
    assert_eq!(status.pause_conditions().len(), 1, "{status:?}");
    assert!(
        !dir.path().join("state/rolltop/audit.log").exists(),
        "a refused action is not audited as sent"
    );
    quit(&tmux, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_off_says_nobody_drives_and_a_sent_action_is_audited() {
    let (sandbox, client) = sandbox_with_crds(SandboxConfig::default()).await;
    let api: Api<Rollout> = Api::namespaced(client.clone(), "default");
    create_with_status(&api, "payments", "shop/payments:2.0", paused()).await;
    let dir = tempfile::tempdir().unwrap();
    // KUBECONFIG with two files: the cluster in one, context and user in the other.
    let clusters = dir.path().join("clusters.yaml");
    std::fs::write(
        &clusters,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n    server: {}\n",
            sandbox.url()
        ),
    )
    .unwrap();
    let contexts = dir.path().join("contexts.yaml");
    std::fs::write(
        &contexts,
        "apiVersion: v1\nkind: Config\ncontexts:\n- name: sandbox\n  context:\n    \
         cluster: sandbox\n    user: alice\n    namespace: default\ncurrent-context: sandbox\n\
         users:\n- name: alice\n  user: {}\n",
    )
    .unwrap();
    let tmux = Tmux::new(
        &format!("rolltop-ops-off-{}", std::process::id()),
        dir.path(),
    );
    launch(
        &tmux,
        dir.path(),
        &[&clusters, &contexts],
        "--controller off",
    );
    tmux.wait_for("nobody driving", |s| {
        s.contains("driver: nobody (controller off)") && s.contains("payments")
    })
    .await;
    tmux.keys(&["p"]);
    tmux.wait_for("the confirmation", |s| s.contains("y send"))
        .await;
    tmux.keys(&["y"]);
    let screen = tmux
        .wait_for("the outcome", |s| {
            s.contains("payments: sent") || s.contains("failed")
        })
        .await;
    assert!(screen.contains("payments: sent"), "{screen}");
    let audit = std::fs::read_to_string(dir.path().join("state/rolltop/audit.log")).unwrap();
    let lines: Vec<serde_json::Value> = audit
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{audit}");
    let line = &lines[0];
    assert_eq!(line["context"], "sandbox");
    assert_eq!(line["user"], "alice");
    assert_eq!(line["namespace"], "default");
    assert_eq!(line["rollout"], "payments");
    assert_eq!(line["action"], "promote");
    assert_eq!(line["outcome"], "sent");
    assert!(
        line["requests"][0]
            .as_str()
            .unwrap()
            .contains(r#""pauseConditions":null"#),
        "{line}"
    );
    quit(&tmux, dir.path()).await;
}

/// The embedded controller without the cockpit: it names another rolltop's live Lease, takes
/// over when that holder releases it, and releases it on shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_controller_waits_for_another_holder_then_drives_and_releases() {
    use k8s_openapi::api::coordination::v1::Lease;
    use rolltop::cluster::client::Scope;
    use rolltop::controller::embedded::{EmbeddedMode, run_embedded};
    use rolltop::controller::lease::{LEASE_NAME, acquire};
    use rolltop::model::Driver;

    let (_sandbox, client) = sandbox_with_crds(SandboxConfig::default()).await;
    let scope = Scope::Namespace("default".into());
    let other = acquire(&client, &scope, "other-rolltop").await.unwrap();
    let (report, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run_embedded(
        client.clone(),
        scope.clone(),
        EmbeddedMode::Auto,
        String::new(),
        report,
        stopped,
    ));
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(60), reports.recv())
            .await
            .unwrap()
            .unwrap(),
        Driver::OtherRolltop {
            identity: "other-rolltop".into(),
            lease: format!("default/{LEASE_NAME}"),
        }
    );
    other.release().await.unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(60), reports.recv())
            .await
            .unwrap()
            .unwrap(),
        Driver::ThisRolltop {
            lease: format!("default/{LEASE_NAME}"),
        }
    );
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .unwrap()
        .unwrap();
    let leases: Api<Lease> = Api::namespaced(client, "default");
    let lease = leases.get(LEASE_NAME).await.unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity, None, "released");
}

/// With `--controller off` over every namespace, a rolltop driving one namespace is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_controller_off_names_a_namespace_driver_seen_from_all_namespaces() {
    use rolltop::cluster::client::Scope;
    use rolltop::controller::embedded::{EmbeddedMode, run_embedded};
    use rolltop::controller::lease::{LEASE_NAME, acquire};
    use rolltop::model::Driver;

    let (_sandbox, client) = sandbox_with_crds(SandboxConfig::default()).await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "shop"}})).unwrap(),
        )
        .await
        .unwrap();
    let other = acquire(&client, &Scope::Namespace("shop".into()), "shop-rolltop")
        .await
        .unwrap();
    let (report, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run_embedded(
        client.clone(),
        Scope::AllNamespaces,
        EmbeddedMode::Off,
        "controller off".into(),
        report,
        stopped,
    ));
    let first = tokio::time::timeout(Duration::from_secs(60), reports.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first,
        Driver::OtherRolltop {
            identity: "shop-rolltop".into(),
            lease: format!("shop/{LEASE_NAME}"),
        }
    );
    other.release().await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(60), reports.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        next,
        Driver::Nobody {
            reason: "controller off".into()
        }
    );
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .unwrap()
        .unwrap();
}
