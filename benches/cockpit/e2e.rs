//! The cockpit binary measured end to end against in-process sandboxes, inside a private tmux
//! server (the terminal whose bytes are counted). Prints one line per number; asserts nothing.
//! Numbers from a debug build (`cargo build --benches`) must be labelled as such.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use rolltop::crd::Rollout;
use rolltop::sandbox::sim::{self, SimConfig};
use rolltop::sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

/// Requests in flight while filling a sandbox.
const FILL_CONCURRENCY: usize = 16;
/// How long screens wait for text before the bench gives up.
const DEADLINE: Duration = Duration::from_secs(300);

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap_or_else(|error| panic!("tmux: {error}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn launch(socket: &str, command: &str) -> Self {
        let tmux = Self {
            socket: socket.to_owned(),
        };
        tmux.cmd(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "app",
            "-x",
            "120",
            "-y",
            "40",
            "-e",
            "TERM=xterm-256color",
            command,
        ]);
        tmux.cmd(&["set", "-g", "status", "off"]);
        tmux
    }

    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "app"])
    }

    fn pid(&self) -> u32 {
        self.cmd(&["display", "-p", "-t", "app", "#{pane_pid}"])
            .trim()
            .parse()
            .unwrap_or(0)
    }

    async fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) {
        let started = Instant::now();
        while !done(&self.screen()) {
            assert!(
                started.elapsed() < DEADLINE,
                "timed out: {what}\n{}",
                self.screen()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Bytes the program writes to its terminal during `window`.
    async fn bytes_during(&self, window: Duration, file: &Path) -> u64 {
        let _ = std::fs::remove_file(file);
        self.cmd(&[
            "pipe-pane",
            "-t",
            "app",
            "-o",
            &format!("cat >> {}", file.display()),
        ]);
        tokio::time::sleep(window).await;
        self.cmd(&["pipe-pane", "-t", "app"]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::metadata(file).map_or(0, |m| m.len())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.cmd(&["kill-server"]);
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

fn rollout(namespace: &str, name: &str, steps: &serde_json::Value) -> Rollout {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": format!("shop/{name}:1.0")}]}
            },
            "strategy": {"canary": {"steps": steps}}
        }
    }))
    .unwrap_or_else(|error| panic!("{error}"))
}

async fn sandbox() -> (Sandbox, kube::Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::start(SandboxConfig::default())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let client = sandbox
        .client()
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    rolltop::crd::install(&client)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    rolltop::crd::wait_established(&client, Duration::from_secs(30))
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    (sandbox, client)
}

/// `rollouts` rollouts over `namespaces` namespaces, each with `pods` Pending pods.
async fn fill(client: &kube::Client, rollouts: usize, namespaces: usize, pods: usize) {
    let started = Instant::now();
    let ns_api: Api<Namespace> = Api::all(client.clone());
    for n in 0..namespaces {
        let namespace: Namespace = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("bench-{n:02}")}}),
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let _ = ns_api.create(&PostParams::default(), &namespace).await;
    }
    let steps = json!([{"setWeight": 20}, {"pause": {}}]);
    futures::stream::iter(0..rollouts)
        .map(|i| {
            let client = client.clone();
            let steps = steps.clone();
            async move {
                let namespace = format!("bench-{:02}", i % namespaces);
                let name = format!("svc-{i:05}");
                let rollouts: Api<Rollout> = Api::namespaced(client.clone(), &namespace);
                rollouts
                    .create(&PostParams::default(), &rollout(&namespace, &name, &steps))
                    .await
                    .unwrap_or_else(|error| panic!("{error}"));
                let pod_api: Api<Pod> = Api::namespaced(client, &namespace);
                for p in 0..pods {
                    let pod: Pod = serde_json::from_value(json!({
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": format!("{name}-{p}"), "namespace": namespace,
                                     "labels": {"app": name}},
                        "spec": {"containers": [{"name": "app", "image": format!("shop/{name}:1.0")}]}
                    }))
                    .unwrap_or_else(|error| panic!("{error}"));
                    pod_api
                        .create(&PostParams::default(), &pod)
                        .await
                        .unwrap_or_else(|error| panic!("{error}"));
                }
            }
        })
        .buffer_unordered(FILL_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    println!(
        "(filled {rollouts} rollouts and {} pods in {:.1?})",
        rollouts * pods,
        started.elapsed()
    );
}

fn command(dir: &Path, sandbox: &Sandbox, args: &str) -> String {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, sandbox.kubeconfig_yaml()).unwrap_or_else(|e| panic!("{e}"));
    format!(
        "env ROLLTOP_TIMINGS={dir}/timings XDG_CONFIG_HOME={dir} XDG_STATE_HOME={dir} \
         KUBECONFIG={} {} {args}",
        kubeconfig.display(),
        env!("CARGO_BIN_EXE_rolltop"),
        dir = dir.display()
    )
}

/// Waits for the `list_synced_ms` stamp; returns (first frame ms, list synced ms).
async fn timings(dir: &Path) -> (String, String) {
    let path = dir.join("timings");
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let field = |name: &str| {
            text.lines()
                .find(|line| line.starts_with(name))
                .map(|line| line[name.len()..].trim().to_owned())
        };
        if let (Some(first), Some(synced)) = (field("first_frame_ms"), field("list_synced_ms")) {
            return (first, synced);
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no timings in {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rolltop-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

async fn five_thousand_rollouts(dir: &Path) {
    let (sandbox, client) = sandbox().await;
    fill(&client, 5_000, 50, 0).await;
    let tmux = Tmux::launch(
        &format!("rolltop-bench-a-{}", std::process::id()),
        &command(dir, &sandbox, "-A --controller off"),
    );
    let (first, synced) = timings(dir).await;
    println!("e2e: first frame after start                 {first} ms");
    let (millis, rows) = synced.split_once(' ').unwrap_or((&synced, ""));
    println!("e2e: full list of 5,000 rollouts from start  {millis} ms ({rows})");
    drop(tmux);
    let _ = std::fs::remove_file(dir.join("timings"));
}

async fn memory_and_idle(dir: &Path, idle_wait: Duration) {
    let (sandbox, client) = sandbox().await;
    fill(&client, 1_000, 20, 5).await;
    let tmux = Tmux::launch(
        &format!("rolltop-bench-b-{}", std::process::id()),
        &command(dir, &sandbox, "-A --controller off"),
    );
    timings(dir).await;
    let synced = Instant::now();
    tmux.wait_for("the list", |s| s.contains("svc-")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = tmux.pid();
    println!(
        "e2e: RSS, list of 1,000 rollouts (5,000 pods in the cluster)   {} MiB",
        rss_kib(pid) / 1024
    );
    tmux.cmd(&["send-keys", "-t", "app", "Enter"]);
    tmux.wait_for("the detail view", |s| s.contains("REVISIONS"))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "e2e: RSS, detail open (watching 250 pods of its namespace)     {} MiB",
        rss_kib(pid) / 1024
    );
    tmux.cmd(&["send-keys", "-t", "app", "Escape"]);
    let ticking = tmux
        .bytes_during(Duration::from_secs(10), &dir.join("ticking.bytes"))
        .await;
    println!("e2e: bytes over 10 s, no data change, ages counting seconds   {ticking}");
    if idle_wait.is_zero() {
        println!(
            "e2e: idle (every age on screen in minutes): skipped, set ROLLTOP_BENCH_IDLE_WAIT=610"
        );
        return;
    }
    let remaining = idle_wait.saturating_sub(synced.elapsed());
    tokio::time::sleep(remaining).await;
    let idle = tmux
        .bytes_during(Duration::from_secs(10), &dir.join("idle.bytes"))
        .await;
    println!("e2e: bytes over 10 s idle (ages past 10 minutes)             {idle}");
    let minute = tmux
        .bytes_during(Duration::from_secs(60), &dir.join("idle-minute.bytes"))
        .await;
    println!("e2e: bytes over the next 60 s idle (minute turnovers)        {minute}");
    drop(tmux);
    let _ = std::fs::remove_file(dir.join("timings"));
}

async fn during_a_rollout(dir: &Path) {
    let (sandbox, client) = sandbox().await;
    let _sim = sim::spawn(
        client.clone(),
        SimConfig {
            ready_delay: Duration::from_millis(500),
            ..SimConfig::default()
        },
    );
    let api: Api<Rollout> = Api::namespaced(client.clone(), "default");
    let steps = json!([{"setWeight": 20}, {"pause": {"duration": "15s"}},
                       {"setWeight": 60}, {"pause": {"duration": "15s"}}]);
    api.create(
        &PostParams::default(),
        &rollout("default", "checkout", &steps),
    )
    .await
    .unwrap_or_else(|error| panic!("{error}"));
    let tmux = Tmux::launch(
        &format!("rolltop-bench-c-{}", std::process::id()),
        &command(dir, &sandbox, "-n default --controller on"),
    );
    tmux.wait_for("Healthy under this rolltop", |s| {
        s.contains("Healthy") && s.contains("this rolltop")
    })
    .await;
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "shop/checkout:2.0"}]}}}});
    api.patch("checkout", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let bytes = tmux
        .bytes_during(Duration::from_secs(60), &dir.join("rollout.bytes"))
        .await;
    println!("e2e: bytes per minute while a canary steps through 20% → 60% → 100%   {bytes}");
}

pub fn run() {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("e2e: skipped (no tmux)");
        return;
    }
    let idle_wait = std::env::var("ROLLTOP_BENCH_IDLE_WAIT")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::ZERO, Duration::from_secs);
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|error| panic!("{error}"));
    let dir = tempdir();
    runtime.block_on(async {
        five_thousand_rollouts(&dir).await;
        during_a_rollout(&dir).await;
        memory_and_idle(&dir, idle_wait).await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}
