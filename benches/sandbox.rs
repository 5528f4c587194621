//! Sandbox API server benchmark (plain main, `harness = false`): list latency with 5,000
//! objects through kube::Client and raw HTTP, and watch fan-out (10 and 50 concurrent watchers
//! each receiving 1,000 updates). Prints numbers; asserts nothing about speed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use rolltop::sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

const OBJECTS: usize = 5_000;
const LISTS: usize = 50;
const UPDATES: usize = 1_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{label:<34} n={:<4} p50={:>8.2?} p99={:>8.2?} max={:>8.2?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );
}

async fn fan_out(cms: &Api<ConfigMap>, watchers: usize) -> Duration {
    let rv = cms
        .list(&ListParams::default().limit(1))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut streams = Vec::new();
    for _ in 0..watchers {
        let stream = cms
            .watch(
                &WatchParams::default()
                    .fields("metadata.name=hot")
                    .timeout(290),
                &rv,
            )
            .await
            .unwrap()
            .boxed();
        streams.push(stream);
    }
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel(watchers);
    for mut stream in streams {
        let done = done_tx.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            while let Some(event) = stream.try_next().await.unwrap() {
                if matches!(event, WatchEvent::Modified(_)) {
                    seen += 1;
                    if seen == UPDATES {
                        break;
                    }
                }
            }
            done.send(Instant::now()).await.unwrap();
        });
    }
    let start = Instant::now();
    for i in 0..UPDATES {
        cms.patch(
            "hot",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"n": i.to_string()}})),
        )
        .await
        .unwrap();
    }
    let mut last = start;
    for _ in 0..watchers {
        last = last.max(done_rx.recv().await.unwrap());
    }
    last - start
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = sandbox.client().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());

    let start = Instant::now();
    for i in 0..OBJECTS {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": format!("cm-{i:05}"), "labels": {"app": format!("app-{}", i % 10)}},
            "data": {"key": "value", "index": i.to_string()}
        }))
        .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let elapsed = start.elapsed();
    println!(
        "create {OBJECTS} ConfigMaps (sequential)    {elapsed:.2?} ({:.0}/s)",
        OBJECTS as f64 / elapsed.as_secs_f64()
    );

    let mut samples = Vec::new();
    for _ in 0..LISTS {
        let t = Instant::now();
        let list = cms.list(&ListParams::default()).await.unwrap();
        assert_eq!(list.items.len(), OBJECTS);
        samples.push(t.elapsed());
    }
    report("list 5000 via kube::Client", samples);

    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/namespaces/default/configmaps", sandbox.url());
    let mut samples = Vec::new();
    for _ in 0..LISTS {
        let t = Instant::now();
        let body = http.get(&url).send().await.unwrap().bytes().await.unwrap();
        assert!(body.len() > OBJECTS * 100);
        samples.push(t.elapsed());
    }
    report("list 5000 via raw HTTP", samples);

    let mut samples = Vec::new();
    for _ in 0..LISTS {
        let t = Instant::now();
        let list = cms
            .list(&ListParams::default().labels("app=app-3"))
            .await
            .unwrap();
        assert_eq!(list.items.len(), OBJECTS / 10);
        samples.push(t.elapsed());
    }
    report("list label-selected 500 of 5000", samples);

    let mut samples = Vec::new();
    for _ in 0..LISTS {
        let t = Instant::now();
        let body = http
            .get(&url)
            .header(
                "accept",
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            )
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(!body.is_empty());
        samples.push(t.elapsed());
    }
    report("list 5000 as Table via raw HTTP", samples);

    let hot: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "hot"}})).unwrap();
    cms.create(&PostParams::default(), &hot).await.unwrap();
    for watchers in [10, 50] {
        let took = fan_out(&cms, watchers).await;
        println!(
            "watch fan-out {watchers:>2} watchers x {UPDATES} updates  {took:.2?} ({:.0} events/s delivered)",
            (watchers * UPDATES) as f64 / took.as_secs_f64()
        );
    }
    sandbox.shutdown().await;
}
