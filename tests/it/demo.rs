//! `rolltop demo` and `rolltop sandbox --scenario` end to end, with the built binary: the real
//! `kubectl` sees the five scenarios of the headless sandbox; the demo, run in a private tmux
//! server with `ROLLTOP_DEMO_FAST=1`, shows all five, moves them, and R5's analysis fails and
//! aborts the rollout (checked on screen and through the demo's own API server, whose URL the
//! cockpit header shows); with Prometheus, R5's query is answered through `services/proxy`.
//! Everything is polled with generous deadlines: CI machines are slow and shared.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kube::Api;
use rolltop::crd::Rollout;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::tmux::Tmux;

const KUBECTL: &str = "/usr/bin/kubectl";
const R5_QUERY: &str = "delta(http_requests_total{code=\"500\",namespace=\"kubota-test\",service=\"rollouts-demo-canary\"}[5m])";

/// The row of the list that shows `namespace`.
fn row<'a>(screen: &'a str, namespace: &str) -> &'a str {
    screen
        .lines()
        .find(|l| {
            l.split_whitespace()
                .next()
                .map(|first| first.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()))
                == Some(namespace)
        })
        .unwrap_or("")
}

/// `http://127.0.0.1:PORT` from the cockpit header (`cluster http://127.0.0.1:PORT/`).
fn cluster_url(screen: &str) -> Option<String> {
    let start = screen.find("http://127.0.0.1:")?;
    let rest = &screen[start..];
    let end = rest.find(|c: char| c.is_whitespace())?;
    Some(rest[..end].trim_end_matches('/').to_owned())
}

async fn client_for(url: &str) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig =
        kube::config::Kubeconfig::from_yaml(&rolltop::sandbox::kubeconfig_for(url)).unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Starts `rolltop demo` in tmux with its temporary files under `dir`; returns the tmux server
/// and the file the shell writes rolltop's exit status to.
fn start_demo(dir: &Path, name: &str, prometheus: bool) -> (Tmux, PathBuf) {
    let tmux = Tmux::new(&format!("rolltop-{name}-{}", std::process::id()), dir);
    let exit_file = dir.join("exit-status");
    let command = format!(
        "{} demo; echo $? > {}",
        env!("CARGO_BIN_EXE_rolltop"),
        exit_file.display()
    );
    let tmpdir = format!("TMPDIR={}", dir.display());
    let prometheus = format!(
        "ROLLTOP_DEMO_PROMETHEUS={}",
        if prometheus { "on" } else { "off" }
    );
    tmux.start(&["ROLLTOP_DEMO_FAST=1", &tmpdir, &prometheus], &command);
    (tmux, exit_file)
}

/// Waits until the demo's R5 rollout has aborted after a failed analysis, through the API.
async fn wait_for_r5_abort(client: &kube::Client, tmux: &Tmux) {
    let api: Api<Rollout> = Api::namespaced(client.clone(), "kubota-test");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(rollout) = api.get("rollouts-demo").await {
            let value = serde_json::to_value(&rollout).unwrap();
            if value.pointer("/status/abort") == Some(&serde_json::json!(true)) {
                let message = value
                    .pointer("/status/message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("");
                assert!(
                    message.contains("http_error_count") && message.contains("failed"),
                    "{message}"
                );
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "R5 never aborted; screen:\n{}",
            tmux.screen()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `q`, then exit status 0 and no temporary directory left behind.
async fn quit_cleanly(tmux: &Tmux, exit_file: &Path, dir: &Path) {
    tmux.cmd(&["send-keys", "-t", "app", "q"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(exit_file)
            && text.ends_with('\n')
        {
            break text.trim().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "rolltop demo did not exit: {}",
            tmux.screen()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, "0", "{}", tmux.screen());
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("rolltop-demo-"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_shows_five_scenarios_that_progress_and_r5_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let (tmux, exit_file) = start_demo(dir.path(), "demo-web", false);
    let scenarios = [
        ("argo-apl", "rollouts-demo"),
        ("tomozo", "tomozo"),
        ("sample-ns", "nginx"),
        ("default", "nginx"),
        ("kubota-test", "rollouts-demo"),
    ];
    let screen = tmux
        .wait_for_within("all five scenarios", Duration::from_secs(120), |s| {
            scenarios.iter().all(|(ns, name)| row(s, ns).contains(name))
        })
        .await;
    let url = cluster_url(&screen).expect("the header names the sandbox");
    let client = client_for(&url).await;

    // Progress: the canaries wait for promotion at their first pause, the blue/green for its
    // promotion, R4 moves past its first step on its own.
    tmux.wait_for_within(
        "canaries paused for promotion",
        Duration::from_secs(240),
        |s| {
            row(s, "argo-apl").contains("Paused")
                && row(s, "argo-apl").contains("1/2")
                && row(s, "tomozo").contains("Paused")
                && row(s, "sample-ns").contains("Paused")
        },
    )
    .await;
    // R4's step counter passes 1/6 on its own (timed pauses, background analysis).
    tmux.wait_for_within(
        "R4 moving through its steps",
        Duration::from_secs(240),
        |s| {
            let r4 = row(s, "default");
            ["2/6", "3/6", "4/6", "5/6", "6/6"]
                .iter()
                .any(|step| r4.contains(step))
                || r4.contains("Healthy") && r4.contains("6/6")
        },
    )
    .await;

    wait_for_r5_abort(&client, &tmux).await;
    // The story says what its "user" did, as an Event on the rollout.
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(client.clone(), "kubota-test");
    let reasons: Vec<String> = events
        .list(&kube::api::ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    assert!(
        reasons.iter().any(|r| r == "DemoUserRequests"),
        "{reasons:?}"
    );
    tmux.wait_for_within(
        "R5 degraded after its failed analysis",
        Duration::from_secs(60),
        |s| {
            let r5 = row(s, "kubota-test");
            r5.contains("Degraded") && r5.contains("Failed")
        },
    )
    .await;
    quit_cleanly(&tmux, &exit_file, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_prometheus_answers_r5_query_through_services_proxy() {
    crate::prometheus::require_installed(&[crate::prometheus::PROMETHEUS_BIN]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (tmux, exit_file) = start_demo(dir.path(), "demo-prom", true);
    let screen = tmux
        .wait_for_within("the R5 row", Duration::from_secs(120), |s| {
            row(s, "kubota-test").contains("rollouts-demo")
        })
        .await;
    let url = cluster_url(&screen).expect("the header names the sandbox");
    let client = client_for(&url).await;

    // The template the controller uses points at the Prometheus Service through the proxy.
    let templates: Api<rolltop::crd::AnalysisTemplate> =
        Api::namespaced(client.clone(), "kubota-test");
    let template = serde_json::to_value(templates.get("failure-count").await.unwrap()).unwrap();
    let address = template
        .pointer("/spec/metrics/0/provider/prometheus/address")
        .and_then(|a| a.as_str())
        .unwrap()
        .to_owned();
    assert_eq!(
        address,
        format!("{url}/api/v1/namespaces/istio-system/services/prometheus:9090/proxy")
    );

    // R5's query, as in the report, answered by the demo's Prometheus: the canary's 500s.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let query =
        reqwest::Url::parse_with_params(&format!("{address}/api/v1/query"), [("query", R5_QUERY)])
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    let errors = loop {
        let body: serde_json::Value = match http.get(query.clone()).send().await {
            Ok(reply) => reply.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        let value = body
            .pointer("/data/result/0/value/1")
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse::<f64>().ok());
        if let Some(value) = value.filter(|v| *v > 5.0) {
            break value;
        }
        assert!(
            Instant::now() < deadline,
            "no 500s for the canary in Prometheus: {body}; screen:\n{}",
            tmux.screen()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert!(errors > 5.0);
    wait_for_r5_abort(&client, &tmux).await;
    quit_cleanly(&tmux, &exit_file, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_scenario_all_is_what_kubectl_sees() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rolltop"))
        .args(["sandbox", "--scenario", "all", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .args(["--metrics-listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the sandbox printed nothing within 60 s")
        .unwrap()
        .unwrap();
    let url = ready.strip_prefix("ready ").expect(&ready).to_owned();

    let output = tokio::process::Command::new(KUBECTL)
        .env("KUBECONFIG", &kubeconfig)
        .arg(format!(
            "--cache-dir={}",
            dir.path().join("cache").display()
        ))
        .args(["get", "rollouts", "-A", "--no-headers"])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    let mut seen: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let mut cols = l.split_whitespace();
            (
                cols.next().unwrap_or_default().to_owned(),
                cols.next().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let expected: Vec<(String, String)> = [
        ("argo-apl", "rollouts-demo"),
        ("default", "nginx"),
        ("kubota-test", "rollouts-demo"),
        ("sample-ns", "nginx"),
        ("tomozo", "tomozo"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(seen, expected, "{text}");

    // The routers are stored too, and the traffic exporter is reachable through the proxy.
    let vs = tokio::process::Command::new(KUBECTL)
        .env("KUBECONFIG", &kubeconfig)
        .arg(format!(
            "--cache-dir={}",
            dir.path().join("cache").display()
        ))
        .args(["get", "virtualservices", "-A", "--no-headers"])
        .output()
        .await
        .unwrap();
    let vs_text = String::from_utf8_lossy(&vs.stdout);
    for name in ["rollouts-demo-vsvc", "nginx"] {
        assert!(vs_text.contains(name), "{vs:?}");
    }
    let metrics = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!(
            "{url}/api/v1/namespaces/rolltop-system/services/rolltop-traffic:http/proxy/metrics"
        ))
        .send()
        .await
        .unwrap();
    assert!(metrics.status().is_success());
    let body = metrics.text().await.unwrap();
    assert!(
        body.contains("# TYPE istio_requests_total counter"),
        "{body}"
    );

    // SIGTERM: exit 0.
    let pid = child.id().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn demo_refuses_an_unknown_scenario_before_starting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_rolltop"))
        .args(["demo", "--scenario", "r9"])
        .env("TMPDIR", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown scenario \"r9\": use none, all or r1..r5"),
        "{stderr}"
    );
}

/// Requests counted for one Service so far.
fn served(traffic: &rolltop::sandbox::Traffic, namespace: &str, service: &str) -> u64 {
    traffic
        .stats
        .lock()
        .unwrap()
        .series
        .iter()
        .filter(|(k, _)| k.namespace == namespace && k.service == service)
        .map(|(_, h)| h.count)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_follows_the_weights_written_in_the_virtual_service() {
    use rolltop::sandbox::scenario::{self, MetricsSource};
    let (sandbox, client) =
        crate::sandbox_api::start(rolltop::sandbox::SandboxConfig::default()).await;
    let _simulation = rolltop::sandbox::sim::spawn(
        client.clone(),
        rolltop::sandbox::sim::SimConfig {
            ready_delay: Duration::from_millis(200),
            start_delay: Duration::from_millis(100),
            ..rolltop::sandbox::sim::SimConfig::default()
        },
    );
    let traffic =
        rolltop::sandbox::Traffic::start(&sandbox, std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
    let r1 = scenario::select("r1").unwrap();
    scenario::load(
        &client,
        &r1,
        &MetricsSource::Web(traffic.proxy_url(&sandbox.url())),
    )
    .await
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(rolltop::controller::runner::run(
        client.clone(),
        rolltop::cluster::client::Scope::Namespace("argo-apl".into()),
        async move {
            let _ = stopped.await;
        },
    ));

    // Wait until the stable Service has ready pods behind it and takes the traffic.
    let deadline = Instant::now() + Duration::from_secs(120);
    while served(&traffic, "argo-apl", "rollouts-demo-stable") == 0 {
        assert!(
            Instant::now() < deadline,
            "no traffic reached the stable Service"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(served(&traffic, "argo-apl", "rollouts-demo-canary"), 0);

    // The controller keeps the VirtualService at the rollout's weight (100/0 once Healthy):
    // stop it, so the hand-written weights below stand.
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(15), controller).await;

    // A traffic router writes 70/30 into the VirtualService: the simulator follows.
    let vs: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        "argo-apl",
        &kube::api::ApiResource {
            group: "networking.istio.io".into(),
            version: "v1beta1".into(),
            api_version: "networking.istio.io/v1beta1".into(),
            kind: "VirtualService".into(),
            plural: "virtualservices".into(),
        },
    );
    vs.patch(
        "rollouts-demo-vsvc",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(
            serde_json::json!({"spec": {"http": [{"name": "primary", "route": [
            {"destination": {"host": "rollouts-demo-stable"}, "weight": 70},
            {"destination": {"host": "rollouts-demo-canary"}, "weight": 30}]}]}}),
        ),
    )
    .await
    .unwrap();
    // Let one tick see the new weights, then measure over at least 40 requests.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (stable0, canary0) = (
        served(&traffic, "argo-apl", "rollouts-demo-stable"),
        served(&traffic, "argo-apl", "rollouts-demo-canary"),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let (stable, canary) = loop {
        let stable = served(&traffic, "argo-apl", "rollouts-demo-stable") - stable0;
        let canary = served(&traffic, "argo-apl", "rollouts-demo-canary") - canary0;
        if stable + canary >= 40 {
            break (stable, canary);
        }
        assert!(
            Instant::now() < deadline,
            "too little traffic: {stable}/{canary}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let share = canary as f64 / (stable + canary) as f64;
    assert!(
        (0.2..=0.4).contains(&share),
        "canary share {share} ({canary} of {})",
        stable + canary
    );

    // The JSON statistics the web templates read, through the sandbox's services/proxy.
    let reply: serde_json::Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!(
            "{}/traffic/argo-apl/rollouts-demo-canary?window=10m",
            traffic.proxy_url(&sandbox.url())
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["service"], "rollouts-demo-canary");
    assert!(reply["requests"].as_u64().unwrap() >= canary, "{reply}");
    assert_eq!(reply["errors"], 0, "{reply}");
    assert_eq!(reply["successRate"], 1.0, "{reply}");

    drop(traffic);
    sandbox.shutdown().await;
}
