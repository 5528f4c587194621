//! The real `kubectl` binary against an in-process sandbox: apply a Rollout-like CRD and its
//! objects, get (tables, -A, short names, -w), patch in every flavour, replace, scale, delete
//! with cascade, api-resources and server-side apply. Each test has its own kubeconfig and
//! discovery cache directory.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rolltop::sandbox::{Sandbox, SandboxConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

const KUBECTL: &str = "/usr/bin/kubectl";

struct Kubectl {
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Kubectl {
    fn new(sandbox: &Sandbox) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, sandbox.kubeconfig_yaml()).unwrap();
        let cache = dir.path().join("cache");
        Self {
            _dir: dir,
            kubeconfig,
            cache,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(KUBECTL);
        command
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .arg(format!("--cache-dir={}", self.cache.display()))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self.command(args).spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("kubectl finished in time")
            .unwrap();
        Run {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    async fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "").await
    }

    /// Runs and insists on success, returning stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert!(
            run.ok,
            "kubectl {args:?} failed: {}{}",
            run.stdout, run.stderr
        );
        run.stdout
    }

    async fn apply(&self, yaml: &str, extra: &[&str]) -> String {
        let mut args = vec!["apply", "-f", "-"];
        args.extend_from_slice(extra);
        let run = self.run_with_stdin(&args, yaml).await;
        assert!(run.ok, "kubectl apply failed: {}{}", run.stdout, run.stderr);
        run.stdout
    }
}

const ROLLOUT_CRD: &str = r"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: rollouts.argoproj.io
spec:
  group: argoproj.io
  scope: Namespaced
  names:
    plural: rollouts
    singular: rollout
    kind: Rollout
    listKind: RolloutList
    shortNames: [ro]
    categories: [all]
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.HPAReplicas
        labelSelectorPath: .status.selector
    additionalPrinterColumns:
    - name: Desired
      type: integer
      jsonPath: .spec.replicas
    - name: Phase
      type: string
      jsonPath: .status.phase
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
";

fn rollout_yaml(name: &str, namespace: &str, replicas: u32) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: {name}
  namespace: {namespace}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: app
        image: shop/{name}:1
"
    )
}

async fn sandbox_with_crd() -> (Sandbox, Kubectl) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let kubectl = Kubectl::new(&sandbox);
    let out = kubectl.apply(ROLLOUT_CRD, &[]).await;
    assert!(
        out.contains("customresourcedefinition.apiextensions.k8s.io/rollouts.argoproj.io created"),
        "{out}"
    );
    (sandbox, kubectl)
}

#[tokio::test]
async fn apply_get_and_errors_with_the_real_kubectl() {
    let (sandbox, kubectl) = sandbox_with_crd().await;
    kubectl
        .apply(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n",
            &[],
        )
        .await;
    let out = kubectl
        .apply(&rollout_yaml("checkout", "default", 3), &[])
        .await;
    assert!(
        out.contains("rollout.argoproj.io/checkout created"),
        "{out}"
    );
    kubectl
        .apply(&rollout_yaml("payments", "prod", 2), &[])
        .await;
    // A second apply of a changed manifest goes through the update path.
    let out = kubectl
        .apply(&rollout_yaml("checkout", "default", 4), &[])
        .await;
    assert!(
        out.contains("rollout.argoproj.io/checkout configured"),
        "{out}"
    );

    let get = kubectl.ok(&["get", "ro"]).await;
    let header: Vec<&str> = get.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "DESIRED", "PHASE", "AGE"]);
    assert!(
        get.lines()
            .any(|l| l.starts_with("checkout") && l.split_whitespace().nth(1) == Some("4")),
        "{get}"
    );

    let all = kubectl.ok(&["get", "rollouts.argoproj.io", "-A"]).await;
    assert!(
        all.lines().next().unwrap().starts_with("NAMESPACE"),
        "{all}"
    );
    assert!(
        all.contains("prod") && all.contains("payments") && all.contains("checkout"),
        "{all}"
    );

    let jsonpath = kubectl
        .ok(&[
            "get",
            "ro",
            "checkout",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .await;
    assert_eq!(jsonpath, "shop/checkout:1");

    let missing = kubectl.run(&["get", "ro", "missing"]).await;
    assert!(!missing.ok);
    assert!(
        missing
            .stderr
            .contains("Error from server (NotFound): rollouts.argoproj.io \"missing\" not found"),
        "{}",
        missing.stderr
    );

    let resources = kubectl.ok(&["api-resources"]).await;
    let rollouts_line = resources
        .lines()
        .find(|l| l.starts_with("rollouts"))
        .unwrap();
    let columns: Vec<&str> = rollouts_line.split_whitespace().collect();
    assert_eq!(
        columns,
        ["rollouts", "ro", "argoproj.io/v1alpha1", "true", "Rollout"]
    );
    assert!(
        resources.lines().any(|l| l.starts_with("pods ")),
        "{resources}"
    );

    let pods = kubectl.run(&["get", "pods", "-A"]).await;
    assert!(
        pods.ok && pods.stderr.contains("No resources found"),
        "{}",
        pods.stderr
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn patch_flavours_replace_and_scale_with_the_real_kubectl() {
    let (sandbox, kubectl) = sandbox_with_crd().await;
    kubectl
        .apply(&rollout_yaml("checkout", "default", 1), &[])
        .await;

    kubectl
        .ok(&[
            "patch",
            "ro",
            "checkout",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"paused":true}}"#,
        ])
        .await;
    kubectl
        .ok(&[
            "patch",
            "ro",
            "checkout",
            "--type",
            "json",
            "-p",
            r#"[{"op":"replace","path":"/spec/replicas","value":2}]"#,
        ])
        .await;
    let status = kubectl
        .ok(&[
            "patch",
            "ro",
            "checkout",
            "--subresource",
            "status",
            "--type",
            "merge",
            "-p",
            r#"{"status":{"phase":"Paused","HPAReplicas":2,"selector":"app=checkout"}}"#,
        ])
        .await;
    assert!(status.contains("patched"), "{status}");
    let view = kubectl
        .ok(&[
            "get",
            "ro",
            "checkout",
            "-o",
            "jsonpath={.spec.paused} {.spec.replicas} {.status.phase} {.metadata.generation}",
        ])
        .await;
    assert_eq!(view, "true 2 Paused 3");

    // Strategic merge on a CRD is refused as by the real server; on a Deployment it merges.
    let strategic = kubectl
        .run(&[
            "patch",
            "ro",
            "checkout",
            "-p",
            r#"{"spec":{"replicas":5}}"#,
        ])
        .await;
    assert!(!strategic.ok);
    assert!(
        strategic.stderr.contains("UnsupportedMediaType")
            || strategic.stderr.contains("unknown format"),
        "{}",
        strategic.stderr
    );
    kubectl
        .apply(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: app\n        image: web:1\n      - name: sidecar\n        image: side:1\n",
            &[],
        )
        .await;
    kubectl
        .ok(&[
            "patch",
            "deployment",
            "web",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"web:2"}]}}}}"#,
        ])
        .await;
    let images = kubectl
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].image}",
        ])
        .await;
    assert_eq!(images, "web:2 side:1");

    // Scale goes through the scale subresource and reads back an autoscaling/v1 Scale.
    let scaled = kubectl
        .ok(&["scale", "ro", "checkout", "--replicas=4"])
        .await;
    assert!(scaled.contains("scaled"), "{scaled}");
    assert_eq!(
        kubectl
            .ok(&["get", "ro", "checkout", "-o", "jsonpath={.spec.replicas}"])
            .await,
        "4"
    );

    // replace with a stale resourceVersion fails like the real server.
    let current = kubectl.ok(&["get", "ro", "checkout", "-o", "yaml"]).await;
    kubectl
        .ok(&["label", "ro", "checkout", "team=payments"])
        .await;
    let stale = kubectl
        .run_with_stdin(
            &["replace", "-f", "-"],
            &current.replace("replicas: 4", "replicas: 7"),
        )
        .await;
    assert!(!stale.ok);
    assert!(
        stale.stderr.contains("the object has been modified"),
        "{}",
        stale.stderr
    );
    assert!(
        stale.stderr.contains("Error from server (Conflict)"),
        "{}",
        stale.stderr
    );

    // Server-side apply creates and then updates.
    let out = kubectl
        .apply(&rollout_yaml("ssa", "default", 1), &["--server-side"])
        .await;
    assert!(out.contains("serverside-applied"), "{out}");
    kubectl
        .apply(&rollout_yaml("ssa", "default", 6), &["--server-side"])
        .await;
    assert_eq!(
        kubectl
            .ok(&["get", "ro", "ssa", "-o", "jsonpath={.spec.replicas}"])
            .await,
        "6"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn delete_cascades_to_owned_pods_with_the_real_kubectl() {
    let (sandbox, kubectl) = sandbox_with_crd().await;
    kubectl
        .apply(
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web-abc\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: app\n        image: web:1\n",
            &[],
        )
        .await;
    let uid = kubectl
        .ok(&["get", "rs", "web-abc", "-o", "jsonpath={.metadata.uid}"])
        .await;
    for pod in ["web-abc-1", "web-abc-2"] {
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\n  labels: {{app: web}}\n  ownerReferences:\n  - apiVersion: apps/v1\n    kind: ReplicaSet\n    name: web-abc\n    uid: {uid}\n    controller: true\nspec:\n  containers:\n  - name: app\n    image: web:1\n"
        );
        kubectl.apply(&yaml, &[]).await;
    }
    let pods = kubectl.ok(&["get", "pods"]).await;
    let header: Vec<&str> = pods.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert!(
        pods.contains("web-abc-1") && pods.contains("Pending"),
        "{pods}"
    );

    let deleted = kubectl.ok(&["delete", "rs", "web-abc"]).await;
    assert!(
        deleted.contains("replicaset.apps \"web-abc\" deleted"),
        "{deleted}"
    );
    let after = kubectl.run(&["get", "pods"]).await;
    assert!(
        after.stderr.contains("No resources found") || after.stdout.contains("No resources found"),
        "{}{}",
        after.stdout,
        after.stderr
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn get_watch_streams_rows_with_the_real_kubectl() {
    let (sandbox, kubectl) = sandbox_with_crd().await;
    kubectl
        .apply(&rollout_yaml("watched", "default", 1), &[])
        .await;
    let mut child = kubectl.command(&["get", "ro", "-w"]).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = async || {
        tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("kubectl printed a line in time")
            .unwrap()
            .unwrap()
    };
    let header = next_line().await;
    assert!(
        header.starts_with("NAME") && header.contains("DESIRED"),
        "{header}"
    );
    let first = next_line().await;
    assert!(first.starts_with("watched"), "{first}");
    kubectl
        .ok(&[
            "patch",
            "ro",
            "watched",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"replicas":5}}"#,
        ])
        .await;
    let update = next_line().await;
    assert!(
        update.starts_with("watched") && update.split_whitespace().nth(1) == Some("5"),
        "{update}"
    );
    child.kill().await.unwrap();
    sandbox.shutdown().await;
}

#[tokio::test]
async fn deny_rules_show_in_kubectl_auth_can_i_and_forbidden_errors() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = SandboxConfig {
        deny: vec!["patch:rollouts:prod".parse().unwrap()],
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config).await.unwrap();
    let kubectl = Kubectl::new(&sandbox);
    kubectl.apply(ROLLOUT_CRD, &[]).await;
    kubectl
        .apply(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n",
            &[],
        )
        .await;
    kubectl
        .apply(&rollout_yaml("checkout", "prod", 1), &[])
        .await;

    let denied = kubectl
        .run(&[
            "auth",
            "can-i",
            "patch",
            "rollouts.argoproj.io",
            "-n",
            "prod",
        ])
        .await;
    assert!(!denied.ok, "{}", denied.stderr);
    assert_eq!(
        denied.stdout.trim(),
        "no - denied by the sandbox rule --deny patch:rollouts:prod"
    );
    let allowed = kubectl
        .run(&[
            "auth",
            "can-i",
            "patch",
            "rollouts.argoproj.io",
            "-n",
            "dev",
        ])
        .await;
    assert_eq!(
        (allowed.ok, allowed.stdout.trim()),
        (true, "yes"),
        "{}",
        allowed.stderr
    );

    let patch = kubectl
        .run(&[
            "patch",
            "ro",
            "checkout",
            "-n",
            "prod",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"paused":true}}"#,
        ])
        .await;
    assert!(!patch.ok);
    assert!(
        patch.stderr.contains(
            "Error from server (Forbidden): rollouts.argoproj.io \"checkout\" is forbidden: User \"sandbox\" cannot patch resource \"rollouts\" in API group \"argoproj.io\" in the namespace \"prod\""
        ),
        "{}",
        patch.stderr
    );
    sandbox.shutdown().await;
}
