//! The command-line contract, exercised through the built binary.

use std::process::Command;

fn rolltop(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rolltop"))
        .args(args)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .expect("runs rolltop")
}

#[test]
fn bad_usage_exits_2() {
    let out = rolltop(&["promote"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = rolltop(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn version_prints_the_crate_version() {
    let out = rolltop(&["version"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.trim(),
        format!("rolltop {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn completions_are_generated_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = rolltop(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("rolltop"), "{shell}");
        assert!(text.contains("promote"), "{shell}");
    }
}

#[test]
fn every_subcommand_has_help_with_examples() {
    for args in [
        vec!["demo"],
        vec!["sandbox"],
        vec!["get", "rollout"],
        vec!["list", "rollouts"],
        vec!["promote"],
        vec!["abort"],
        vec!["retry", "rollout"],
        vec!["restart"],
        vec!["pause"],
        vec!["set", "image"],
        vec!["undo"],
        vec!["status"],
        vec!["lint"],
        vec!["terminate", "analysisrun"],
    ] {
        let mut full = args.clone();
        full.push("--help");
        let out = rolltop(&full);
        assert!(out.status.success(), "{args:?}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("Examples:"),
            "{args:?} has no examples:\n{text}"
        );
    }
}

/// `rolltop sandbox` as a user runs it: `ready <url>` on stdout, a kubeconfig kubectl can use,
/// pods from the simulated controllers, and exit 0 on SIGTERM.
#[test]
fn sandbox_command_serves_until_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rolltop"))
        .args(["sandbox", "--ready-delay", "200ms", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts rolltop sandbox");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("ready http://127.0.0.1:"), "{line:?}");

    let kubectl = |args: &[&str]| {
        Command::new("kubectl")
            .args(args)
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .expect("runs kubectl")
    };
    let manifest = dir.path().join("web.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  \
         selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    \
         spec: {containers: [{name: web, image: nginx:1.25}]}\n",
    )
    .unwrap();
    let out = kubectl(&["apply", "-f", manifest.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let out = kubectl(&["get", "pods", "-l", "app=web", "--no-headers"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.lines().filter(|l| l.contains("1/1")).count() == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pods never became ready: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "{exit:?}");
}
