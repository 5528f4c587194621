//! The cockpit end to end: the built `rolltop` binary inside a private tmux server, pointed at
//! an in-process sandbox by a kubeconfig file. Rollouts come from the real API server; screens
//! are read with `capture-pane` and polled until the expected text appears (no fixed sleeps).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use rolltop::crd::Rollout;
use rolltop::sandbox::SandboxConfig;
use serde_json::json;

use crate::sandbox_api::start;
use crate::tmux::Tmux;

pub(crate) fn rollout(name: &str, image: &str) -> Rollout {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            },
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}
        }
    }))
    .unwrap()
}

pub(crate) async fn create_with_status(
    api: &Api<Rollout>,
    name: &str,
    image: &str,
    status: serde_json::Value,
) {
    api.create(&PostParams::default(), &rollout(name, image))
        .await
        .unwrap();
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cockpit_lists_watches_opens_filters_and_quits_cleanly() {
    let (sandbox, client) = start(SandboxConfig::default()).await;
    rolltop::crd::install(&client).await.unwrap();
    rolltop::crd::wait_established(&client, Duration::from_secs(30))
        .await
        .unwrap();
    let api: Api<Rollout> = Api::namespaced(client.clone(), "default");
    create_with_status(
        &api,
        "checkout",
        "shop/checkout:1.0",
        json!({"phase": "Healthy", "replicas": 2, "readyReplicas": 2, "availableReplicas": 2}),
    )
    .await;
    create_with_status(
        &api,
        "payments",
        "shop/payments:2.0",
        json!({"phase": "Paused", "message": "CanaryPauseStep", "currentStepIndex": 1,
               "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}],
               "controllerPause": true}),
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, sandbox.kubeconfig_yaml()).unwrap();
    let tmux = Tmux::new(
        &format!("rolltop-cockpit-{}", std::process::id()),
        dir.path(),
    );
    let exit_file = dir.path().join("exit-status");
    let command = cockpit_command(&kubeconfig, &exit_file);
    tmux.start(&[], &command);

    tmux.wait_for("both rollouts with their status words", |s| {
        s.contains("checkout")
            && s.contains("payments")
            && s.contains("Healthy")
            && s.contains("Paused")
    })
    .await;
    assert_eq!(tmux.display("#{alternate_on}"), "1");

    // A new rollout arrives through the watch.
    create_with_status(
        &api,
        "search",
        "shop/search:3.0",
        json!({"phase": "Degraded", "message": "ProgressDeadlineExceeded"}),
    )
    .await;
    tmux.wait_for("the third rollout", |s| {
        s.contains("search") && s.contains("Degraded")
    })
    .await;

    tmux.keys(&["j"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the detail view", |s| {
        s.contains("STEPS") && s.contains("REVISIONS")
    })
    .await;
    tmux.keys(&["Escape"]);
    tmux.wait_for("the list again", |s| s.contains("STRATEGY"))
        .await;

    tmux.keys(&["/"]);
    tmux.literal("pay");
    tmux.keys(&["Enter"]);
    tmux.wait_for("only the filtered row", |s| {
        s.contains("payments") && !s.contains("checkout") && !s.contains("search:3.0")
    })
    .await;

    // Promote the paused canary: confirm, send through the API server, see the result.
    tmux.keys(&["p"]);
    tmux.wait_for("the confirmation", |s| s.contains("y send"))
        .await;
    tmux.keys(&["y"]);
    tmux.wait_for("the action's outcome", |s| {
        s.contains("payments: sent") || s.contains("failed")
    })
    .await;
    let screen = tmux.screen();
    assert!(screen.contains("payments: sent"), "{screen}");
    let promoted = api.get("payments").await.unwrap();
    let status = promoted.status.unwrap();
    assert!(status.pause_conditions().is_empty(), "{status:?}");

    tmux.keys(&["q"]);
    assert_eq!(tmux.exit_status(&exit_file).await, "0", "{}", tmux.screen());
    // Restored: back on the main screen, which holds none of the cockpit's drawing.
    assert_eq!(tmux.display("#{alternate_on}"), "0");
    let after = tmux.screen();
    assert!(!after.contains("STRATEGY"), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_cockpit_with_exit_0_and_the_terminal_restored() {
    let (sandbox, client) = start(SandboxConfig::default()).await;
    rolltop::crd::install(&client).await.unwrap();
    rolltop::crd::wait_established(&client, Duration::from_secs(30))
        .await
        .unwrap();
    let api: Api<Rollout> = Api::namespaced(client.clone(), "default");
    create_with_status(
        &api,
        "checkout",
        "shop/checkout:1.0",
        json!({"phase": "Healthy"}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, sandbox.kubeconfig_yaml()).unwrap();
    let tmux = Tmux::new(
        &format!("rolltop-sigterm-{}", std::process::id()),
        dir.path(),
    );
    let exit_file = dir.path().join("exit-status");
    let command = cockpit_command(&kubeconfig, &exit_file);
    tmux.start(&[], &command);
    tmux.wait_for("the rollout", |s| {
        s.contains("checkout") && s.contains("Healthy")
    })
    .await;
    // The pane runs a shell that waits for rolltop and records its exit status.
    let shell_pid = tmux.display("#{pane_pid}");
    let children = Command::new("pgrep")
        .args(["-P", &shell_pid])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&children.stdout).trim().to_owned();
    assert!(!pid.is_empty(), "no rolltop under the pane's shell");
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    assert_eq!(tmux.exit_status(&exit_file).await, "0", "{}", tmux.screen());
    assert_eq!(tmux.display("#{alternate_on}"), "0");
    assert!(!tmux.screen().contains("checkout"));
}

/// The pane's command: rolltop (its embedded controller off: these tests drive statuses by
/// hand), then its exit status written to `exit_file`. tmux 3.3 can leave
/// `#{pane_dead_status}` empty when it has not reaped the process yet (seen under load), so the
/// status comes from the shell that waited for rolltop instead.
fn cockpit_command(kubeconfig: &Path, exit_file: &Path) -> String {
    format!(
        "{} --kubeconfig {} --controller off; echo $? > {}",
        env!("CARGO_BIN_EXE_rolltop"),
        kubeconfig.display(),
        exit_file.display()
    )
}
