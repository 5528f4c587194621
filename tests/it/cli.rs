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
