//! The sandbox API server driven by real kube-rs clients (typed k8s-openapi kinds and
//! `DynamicObject`) and raw HTTP, each test against its own in-process server on port 0.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Namespace, Pod, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use rolltop::sandbox::{DenyRule, Sandbox, SandboxConfig};
use serde_json::{Value, json};

pub(crate) async fn start(config: SandboxConfig) -> (Sandbox, kube::Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::start(config).await.unwrap();
    let client = sandbox.client().await.unwrap();
    (sandbox, client)
}

/// A Rollout-like CRD: two served versions, status and scale subresources, printer columns.
pub(crate) fn rollout_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "rollouts.argoproj.io"},
        "spec": {
            "group": "argoproj.io",
            "scope": "Namespaced",
            "names": {"plural": "rollouts", "singular": "rollout", "kind": "Rollout",
                      "listKind": "RolloutList", "shortNames": ["ro"], "categories": ["all"]},
            "versions": [
                {"name": "v1alpha1", "served": true, "storage": true,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                 "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.HPAReplicas", "labelSelectorPath": ".status.selector"}},
                 "additionalPrinterColumns": [
                    {"name": "Desired", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Current", "type": "integer", "jsonPath": ".status.replicas"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]},
                {"name": "v1beta1", "served": true, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                 "subresources": {"status": {}}}
            ]
        }
    })
}

fn rollout_resource(version: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", version, "Rollout"),
        "rollouts",
    )
}

async fn install_rollout_crd(client: &kube::Client) -> Api<DynamicObject> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(rollout_crd()).unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    Api::namespaced_with(client.clone(), "default", &rollout_resource("v1alpha1"))
}

fn rollout(name: &str, replicas: i64) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}}
    }))
    .unwrap()
}

fn api_error(error: kube::Error) -> kube::core::Status {
    match error {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn config_map(name: &str, labels: &Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
    .unwrap()
}

#[tokio::test]
async fn create_get_list_replace_delete_typed() {
    let (sandbox, client) = start(SandboxConfig::default()).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"default".to_owned()) && names.contains(&"kube-system".to_owned()));

    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let created = cms
        .create(&PostParams::default(), &config_map("web", &json!({})))
        .await
        .unwrap();
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());

    let again = api_error(
        cms.create(&PostParams::default(), &config_map("web", &json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((again.code, again.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(again.message, "configmaps \"web\" already exists");

    let mut generated = config_map("", &json!({}));
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".into());
    let generated = cms
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    assert!(generated.metadata.name.unwrap().starts_with("gen-"));

    let invalid = api_error(
        cms.create(&PostParams::default(), &config_map("Not_Valid", &json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));
    assert!(
        invalid
            .message
            .starts_with("ConfigMap \"Not_Valid\" is invalid: metadata.name"),
        "{}",
        invalid.message
    );

    let missing_ns: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    let missing = api_error(
        missing_ns
            .create(&PostParams::default(), &config_map("x", &json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (missing.code, missing.message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );

    let mut fetched = cms.get("web").await.unwrap();
    fetched.data = Some([("k".to_owned(), "v2".to_owned())].into());
    let replaced = cms
        .replace("web", &PostParams::default(), &fetched)
        .await
        .unwrap();
    assert_eq!(replaced.data.unwrap()["k"], "v2");
    let rv_before: u64 = fetched.metadata.resource_version.unwrap().parse().unwrap();
    let rv_after: u64 = replaced.metadata.resource_version.unwrap().parse().unwrap();
    assert!(rv_after > rv_before);

    cms.delete("web", &DeleteParams::default()).await.unwrap();
    let gone = api_error(cms.get("web").await.unwrap_err());
    assert_eq!(
        (gone.code, gone.message.as_str()),
        (404, "configmaps \"web\" not found")
    );

    // dryRun validates and stores nothing.
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    cms.create(&dry, &config_map("dry", &json!({})))
        .await
        .unwrap();
    assert!(cms.get_opt("dry").await.unwrap().is_none());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn stale_update_is_a_conflict_with_the_kubernetes_message() {
    let (sandbox, client) = start(SandboxConfig::default()).await;
    let rollouts = install_rollout_crd(&client).await;
    let first = rollouts
        .create(&PostParams::default(), &rollout("x", 1))
        .await
        .unwrap();
    let mut newer = first.clone();
    newer.data["spec"]["replicas"] = json!(2);
    rollouts
        .replace("x", &PostParams::default(), &newer)
        .await
        .unwrap();
    let mut stale = first.clone();
    stale.data["spec"]["replicas"] = json!(3);
    let conflict = api_error(
        rollouts
            .replace("x", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!(conflict.code, 409);
    assert_eq!(conflict.reason, "Conflict");
    assert_eq!(
        conflict.message,
        "Operation cannot be fulfilled on rollouts.argoproj.io \"x\": the object has been modified; \
         please apply your changes to the latest version and try again"
    );
    assert_eq!(rollouts.get("x").await.unwrap().data["spec"]["replicas"], 2);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn crd_versions_status_scale_generation_and_unregistration() {
    let (sandbox, client) = start(SandboxConfig::default()).await;
    let rollouts = install_rollout_crd(&client).await;
    let mut with_status = rollout("demo", 2);
    with_status.data["status"] = json!({"phase": "ignored on create"});
    let created = rollouts
        .create(&PostParams::default(), &with_status)
        .await
        .unwrap();
    assert!(
        created.data.get("status").is_none(),
        "status is reset on create"
    );

    // Another served version reads the same storage with its own apiVersion.
    let beta: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &rollout_resource("v1beta1"));
    let via_beta = beta.get("demo").await.unwrap();
    assert_eq!(via_beta.types.unwrap().api_version, "argoproj.io/v1beta1");

    // Status subresource changes only status; main endpoint ignores status.
    let status_patch = json!({"status": {"replicas": 2, "HPAReplicas": 2, "selector": "app=demo"}, "spec": {"replicas": 9}});
    let after_status = rollouts
        .patch_status(
            "demo",
            &PatchParams::default(),
            &Patch::Merge(&status_patch),
        )
        .await
        .unwrap();
    assert_eq!(after_status.data["status"]["replicas"], 2);
    assert_eq!(after_status.data["spec"]["replicas"], 2);
    assert_eq!(after_status.metadata.generation, Some(1));
    let main = rollouts
        .patch(
            "demo",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 7}, "metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(main.data["status"]["replicas"], 2);
    assert_eq!(
        main.metadata.generation,
        Some(1),
        "metadata changes keep the generation"
    );
    let bumped = rollouts
        .patch(
            "demo",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(
                    json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]),
                )
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(bumped.metadata.generation, Some(2));

    // Scale subresource.
    let scale = rollouts.get_scale("demo").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(3));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=demo"));
    let scaled = rollouts
        .patch_scale(
            "demo",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(5));
    assert_eq!(
        rollouts.get("demo").await.unwrap().data["spec"]["replicas"],
        5
    );

    // Strategic merge is refused for custom resources, as the real server does.
    let strategic = api_error(
        rollouts
            .patch(
                "demo",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {"replicas": 1}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (strategic.code, strategic.reason.as_str()),
        (415, "UnsupportedMediaType")
    );

    // Deleting the CRD deletes its objects and unregisters the kind.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.delete("rollouts.argoproj.io", &DeleteParams::default())
        .await
        .unwrap();
    let unknown = api_error(rollouts.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(unknown.code, 404);
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(rollout_crd()).unwrap(),
    )
    .await
    .unwrap();
    assert!(
        rollouts
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn selectors_and_pagination() {
    let (sandbox, client) = start(SandboxConfig::default()).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    for (name, labels) in [
        ("a", json!({"app": "web", "tier": "front"})),
        ("b", json!({"app": "web", "tier": "back"})),
        ("c", json!({"app": "api"})),
        ("d", json!({})),
    ] {
        cms.create(&PostParams::default(), &config_map(name, &labels))
            .await
            .unwrap();
    }
    let names = |list: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        list.items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect()
    };
    let cases = [
        ("app=web", vec!["a", "b"]),
        ("app==web,tier!=back", vec!["a"]),
        ("app in (api, web),tier notin (front)", vec!["b", "c"]),
        ("tier", vec!["a", "b"]),
        ("!app", vec!["d"]),
    ];
    for (selector, expected) in cases {
        let got = names(
            cms.list(&ListParams::default().labels(selector))
                .await
                .unwrap(),
        );
        assert_eq!(got, expected, "{selector}");
    }
    let by_name = names(
        cms.list(&ListParams::default().fields("metadata.name=c"))
            .await
            .unwrap(),
    );
    assert_eq!(by_name, vec!["c"]);
    let not_c = names(
        cms.list(&ListParams::default().fields("metadata.name!=c,metadata.namespace=default"))
            .await
            .unwrap(),
    );
    assert_eq!(not_c, vec!["a", "b", "d"]);
    let bad = api_error(
        cms.list(&ListParams::default().labels("app in web"))
            .await
            .unwrap_err(),
    );
    assert_eq!(bad.code, 400);

    let mut seen = Vec::new();
    let mut params = ListParams::default().limit(3);
    loop {
        let page = cms.list(&params).await.unwrap();
        let token = page.metadata.continue_.clone().filter(|t| !t.is_empty());
        seen.extend(names(page));
        match token {
            Some(t) => params = params.continue_token(&t),
            None => break,
        }
    }
    assert_eq!(seen, vec!["a", "b", "c", "d"]);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn watch_events_resume_and_expire() {
    let (sandbox, client) = start(SandboxConfig {
        watch_history: 5,
        ..SandboxConfig::default()
    })
    .await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let list = cms.list(&ListParams::default()).await.unwrap();
    let start_rv = list.metadata.resource_version.unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(10), &start_rv)
        .await
        .unwrap()
        .boxed();
    cms.create(
        &PostParams::default(),
        &config_map("w", &json!({"app": "x"})),
    )
    .await
    .unwrap();
    cms.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap();
    cms.delete("w", &DeleteParams::default()).await.unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(_) => kinds.push("ADDED"),
            WatchEvent::Modified(_) => kinds.push("MODIFIED"),
            WatchEvent::Deleted(_) => kinds.push("DELETED"),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);

    // Resuming from the start replays the history.
    let mut replay = cms
        .watch(&WatchParams::default().timeout(5), &start_rv)
        .await
        .unwrap()
        .boxed();
    assert!(matches!(
        replay.try_next().await.unwrap(),
        Some(WatchEvent::Added(_))
    ));

    // Too old once the history (5 changes) has moved on: an ERROR event with 410 Expired.
    for i in 0..6 {
        cms.create(
            &PostParams::default(),
            &config_map(&format!("n{i}"), &json!({})),
        )
        .await
        .unwrap();
    }
    let mut expired = cms
        .watch(&WatchParams::default().timeout(5), &start_rv)
        .await
        .unwrap()
        .boxed();
    match expired.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410, got {other:?}"),
    }

    // timeoutSeconds ends the stream.
    let mut short = cms
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .unwrap()
        .boxed();
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while short.try_next().await.unwrap().is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the watch ended after its timeoutSeconds");

    // Label-selected watches see objects enter and leave the selection.
    let current = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut selected = cms
        .watch(
            &WatchParams::default().labels("team=a").timeout(10),
            &current,
        )
        .await
        .unwrap()
        .boxed();
    cms.patch(
        "n0",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
    )
    .await
    .unwrap();
    cms.patch(
        "n0",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "b"}}})),
    )
    .await
    .unwrap();
    assert!(matches!(
        selected.try_next().await.unwrap(),
        Some(WatchEvent::Added(_))
    ));
    assert!(matches!(
        selected.try_next().await.unwrap(),
        Some(WatchEvent::Deleted(_))
    ));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn kube_runtime_watcher_sees_changes() {
    let (sandbox, client) = start(SandboxConfig::default()).await;
    let rollouts = install_rollout_crd(&client).await;
    rollouts
        .create(&PostParams::default(), &rollout("one", 1))
        .await
        .unwrap();
    let mut events = watcher(rollouts.clone(), watcher::Config::default().any_semantic()).boxed();
    let mut initial = Vec::new();
    loop {
        match events.try_next().await.unwrap().unwrap() {
            watcher::Event::InitApply(o) => initial.push(o.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(initial, ["one"]);
    // Streaming lists (sendInitialEvents) end the replay with the initial-events-end bookmark.
    let mut streaming = watcher(
        rollouts.clone(),
        watcher::Config::default().streaming_lists(),
    )
    .boxed();
    let mut streamed = Vec::new();
    loop {
        match streaming.try_next().await.unwrap().unwrap() {
            watcher::Event::InitApply(o) => streamed.push(o.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(streamed, ["one"]);
    rollouts
        .create(&PostParams::default(), &rollout("two", 1))
        .await
        .unwrap();
    for stream in [&mut events, &mut streaming] {
        loop {
            if let watcher::Event::Apply(o) = stream.try_next().await.unwrap().unwrap() {
                assert_eq!(o.metadata.name.as_deref(), Some("two"));
                break;
            }
        }
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn owner_references_cascade_or_orphan() {
    let (sandbox, client) = start(SandboxConfig::default()).await;
    let replicasets: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let rs_json = |name: &str| -> ReplicaSet {
        serde_json::from_value(json!({"metadata": {"name": name},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}}))
        .unwrap()
    };
    for (owner_name, pod_names) in [("cascade", ["c1", "c2"]), ("orphan", ["o1", "o2"])] {
        let owner = replicasets
            .create(&PostParams::default(), &rs_json(owner_name))
            .await
            .unwrap();
        for pod_name in pod_names {
            let pod: Pod = serde_json::from_value(json!({"metadata": {"name": pod_name, "labels": {"app": owner_name},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner_name,
                                     "uid": owner.metadata.uid.clone().unwrap(), "controller": true}]},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]}}))
            .unwrap();
            pods.create(&PostParams::default(), &pod).await.unwrap();
        }
    }
    let current = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = pods
        .watch(
            &WatchParams::default().labels("app=cascade").timeout(10),
            &current,
        )
        .await
        .unwrap()
        .boxed();
    replicasets
        .delete("cascade", &DeleteParams::background())
        .await
        .unwrap();
    let left: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(left, ["o1", "o2"]);
    for _ in 0..2 {
        assert!(matches!(
            stream.try_next().await.unwrap(),
            Some(WatchEvent::Deleted(_))
        ));
    }
    replicasets
        .delete("orphan", &DeleteParams::orphan())
        .await
        .unwrap();
    let orphans = pods.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(orphans.len(), 2);
    assert!(
        orphans
            .iter()
            .all(|p| p.metadata.owner_references.is_none())
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn patch_flavours_on_builtins_and_server_side_apply() {
    let (sandbox, client) = start(SandboxConfig::default()).await;
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let deploy: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "sidecar", "image": "side:1"}]}}}}))
    .unwrap();
    deployments
        .create(&PostParams::default(), &deploy)
        .await
        .unwrap();
    let patched = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}]}]}}}})),
        )
        .await
        .unwrap();
    let containers = patched.spec.template.spec.unwrap().containers;
    assert_eq!(containers.len(), 2, "strategic merge keeps the sidecar");
    assert_eq!(containers[0].image.as_deref(), Some("app:2"));
    assert_eq!(containers[0].env.as_ref().unwrap().len(), 2);
    assert_eq!(patched.metadata.generation, Some(2));

    // The scale subresource of a built-in kind.
    let scale = deployments.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(1));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    deployments
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    let scaled = deployments.get("web").await.unwrap();
    assert_eq!(scaled.spec.replicas, Some(3));
    assert_eq!(scaled.metadata.generation, Some(3));

    let bad_json_patch = api_error(
        deployments
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Json::<()>(
                    serde_json::from_value(json!([{"op": "remove", "path": "/spec/nothing"}]))
                        .unwrap(),
                ),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(bad_json_patch.code, 422);

    // Server-side apply creates when missing, then merges.
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let ssa = PatchParams::apply("rolltop-test").force();
    let applied = cms
        .patch(
            "applied",
            &ssa,
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "applied"}, "data": {"a": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(applied.data.unwrap()["a"], "1");
    let applied = cms
        .patch(
            "applied",
            &ssa,
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "applied"}, "data": {"b": "2"}})),
        )
        .await
        .unwrap();
    assert_eq!(applied.data.unwrap().len(), 2);

    // A merge patch carrying a stale resourceVersion is a precondition failure.
    let stale = api_error(
        cms.patch(
            "applied",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"resourceVersion": "1"}, "data": {"c": "3"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(stale.code, 409);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn deny_rules_and_self_subject_access_reviews() {
    let deny = vec![
        "patch:rollouts:prod".parse::<DenyRule>().unwrap(),
        "delete:configmaps".parse().unwrap(),
    ];
    let (sandbox, client) = start(SandboxConfig {
        deny,
        ..SandboxConfig::default()
    })
    .await;
    install_rollout_crd(&client).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "prod"}})).unwrap(),
        )
        .await
        .unwrap();
    let prod: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "prod", &rollout_resource("v1alpha1"));
    prod.create(&PostParams::default(), &rollout("x", 1))
        .await
        .unwrap();
    let forbidden = api_error(
        prod.patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paused": true}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        (forbidden.code, forbidden.reason.as_str()),
        (403, "Forbidden")
    );
    assert_eq!(
        forbidden.message,
        "rollouts.argoproj.io \"x\" is forbidden: User \"sandbox\" cannot patch resource \"rollouts\" in API group \"argoproj.io\" in the namespace \"prod\""
    );
    // The status subresource is a different RBAC resource.
    prod.patch_status(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Paused"}})),
    )
    .await
    .unwrap();
    assert_eq!(
        prod.get("x").await.unwrap().data["spec"].get("paused"),
        None
    );

    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let review = |verb: &str, resource: &str, ns: &str| -> SelfSubjectAccessReview {
        serde_json::from_value(json!({"spec": {"resourceAttributes":
            {"verb": verb, "group": "argoproj.io", "resource": resource, "namespace": ns}}}))
        .unwrap()
    };
    let denied = reviews
        .create(&PostParams::default(), &review("patch", "rollouts", "prod"))
        .await
        .unwrap();
    assert!(!denied.status.unwrap().allowed);
    let allowed = reviews
        .create(&PostParams::default(), &review("patch", "rollouts", "dev"))
        .await
        .unwrap();
    assert!(allowed.status.unwrap().allowed);
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    cms.create(&PostParams::default(), &config_map("keep", &json!({})))
        .await
        .unwrap();
    assert_eq!(
        api_error(
            cms.delete("keep", &DeleteParams::default())
                .await
                .unwrap_err()
        )
        .code,
        403
    );
    assert!(cms.get_opt("keep").await.unwrap().is_some());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn malformed_bodies_and_media_types_lose_nothing() {
    let (sandbox, client) = start(SandboxConfig::default()).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    cms.create(&PostParams::default(), &config_map("safe", &json!({})))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/namespaces/default/configmaps", sandbox.url());
    let ssar = format!(
        "{}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        sandbox.url()
    );
    let cases: [(reqwest::Method, String, &str, &str, u16, &str); 10] = [
        (
            reqwest::Method::PUT,
            format!("{url}/safe"),
            "application/json",
            "[1]",
            400,
            "BadRequest",
        ),
        (
            reqwest::Method::PATCH,
            format!("{url}/fresh"),
            "application/apply-patch+yaml",
            "{\"metadata\": \"x\"}",
            201,
            "",
        ),
        (
            reqwest::Method::PATCH,
            format!("{url}/safe"),
            "application/json-patch+json",
            "[{\"op\": \"replace\", \"path\": \"\", \"value\": [1]}]",
            400,
            "BadRequest",
        ),
        (
            reqwest::Method::POST,
            ssar,
            "application/json",
            "[1]",
            400,
            "BadRequest",
        ),
        (
            reqwest::Method::GET,
            format!("{url}?labelSelector=a+in+b"),
            "application/json",
            "",
            400,
            "BadRequest",
        ),
        (
            reqwest::Method::POST,
            url.clone(),
            "application/json",
            "{not json",
            400,
            "BadRequest",
        ),
        (
            reqwest::Method::POST,
            url.clone(),
            "application/vnd.kubernetes.protobuf",
            "k8s\0",
            415,
            "UnsupportedMediaType",
        ),
        (
            reqwest::Method::PUT,
            format!("{url}/safe"),
            "application/json",
            "[1,2",
            400,
            "BadRequest",
        ),
        (
            reqwest::Method::PATCH,
            format!("{url}/safe"),
            "application/merge-patch+json",
            "{",
            400,
            "BadRequest",
        ),
        (
            reqwest::Method::PATCH,
            format!("{url}/safe"),
            "text/plain",
            "x",
            415,
            "UnsupportedMediaType",
        ),
    ];
    for (method, target, content_type, body, code, reason) in cases {
        let reply = http
            .request(method.clone(), &target)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), code, "{method} {content_type}");
        let status: Value = reply.json().await.unwrap();
        if code >= 400 {
            assert_eq!(status["kind"], "Status");
            assert_eq!(status["reason"], reason, "{status}");
        }
    }
    let protobuf: Value = http
        .post(&url)
        .header("content-type", "application/vnd.kubernetes.protobuf")
        .body("x")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        protobuf["message"]
            .as_str()
            .unwrap()
            .contains("--dry-run=client -o yaml | kubectl apply -f -")
    );
    let unknown = http
        .get(format!("{}/apis/nope.io/v1/things", sandbox.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    assert_eq!(cms.get("safe").await.unwrap().data.unwrap()["k"], "v");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn restart_with_data_dir_keeps_objects_and_resumes_watches() {
    let dir = tempfile::tempdir().unwrap();
    let config = SandboxConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..SandboxConfig::default()
    };
    let (sandbox, client) = start(config.clone()).await;
    let addr = sandbox.addr();
    install_rollout_crd(&client).await;
    let rollouts: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &rollout_resource("v1alpha1"));
    let created = rollouts
        .create(&PostParams::default(), &rollout("kept", 1))
        .await
        .unwrap();
    let rv_before: u64 = created
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();

    // A long-lived kube-runtime watcher across the restart.
    let mut events = watcher(rollouts.clone(), watcher::Config::default()).boxed();
    loop {
        if matches!(
            events.try_next().await.unwrap().unwrap(),
            watcher::Event::InitDone
        ) {
            break;
        }
    }
    sandbox.shutdown().await;

    let (sandbox, client) = start(SandboxConfig {
        listen: addr,
        ..config
    })
    .await;
    let rollouts: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &rollout_resource("v1alpha1"));
    let kept = rollouts.get("kept").await.unwrap();
    assert_eq!(kept.metadata.uid, created.metadata.uid);
    let updated = rollouts
        .patch(
            "kept",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    let rv_after: u64 = updated.metadata.resource_version.unwrap().parse().unwrap();
    assert!(
        rv_after > rv_before,
        "resource versions keep moving forward"
    );

    // A raw watch from the pre-restart resourceVersion replays the change.
    let mut resumed = rollouts
        .watch(&WatchParams::default().timeout(5), &rv_before.to_string())
        .await
        .unwrap()
        .boxed();
    match resumed.try_next().await.unwrap() {
        Some(WatchEvent::Modified(o)) => assert_eq!(o.data["spec"]["replicas"], 4),
        other => panic!("expected MODIFIED, got {other:?}"),
    }
    // The old watcher reconnects (with backoff) and sees the new state.
    let seen = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match events.next().await {
                Some(Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)))
                    if o.data["spec"]["replicas"] == 4 =>
                {
                    return true;
                }
                Some(_) => {}
                None => return false,
            }
        }
    })
    .await
    .unwrap();
    assert!(seen);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn pod_log_eviction_and_service_proxy() {
    let (sandbox, client) = start(SandboxConfig::default()).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "web-1"},
        "spec": {"containers": [{"name": "app", "image": "shop/web:1.2"}, {"name": "proxy", "image": "envoy:1"}]}})).unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let log = pods
        .logs(
            "web-1",
            &kube::api::LogParams {
                container: Some("app".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(log.contains("shop/web:1.2"), "{log}");
    let tail = pods
        .logs(
            "web-1",
            &kube::api::LogParams {
                container: Some("app".into()),
                tail_lines: Some(1),
                timestamps: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tail.lines().count(), 1);
    assert!(tail.starts_with("20"), "{tail}");
    assert_eq!(
        api_error(
            pods.logs("web-1", &kube::api::LogParams::default())
                .await
                .unwrap_err()
        )
        .code,
        400
    );
    pods.evict("web-1", &kube::api::EvictParams::default())
        .await
        .unwrap();
    assert!(pods.get_opt("web-1").await.unwrap().is_none());

    // A real HTTP server on loopback behind a Service and its Endpoints.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let backend = axum::Router::new().route(
        "/api/v1/query",
        axum::routing::get(|uri: axum::http::Uri| async move {
            format!("query={}", uri.query().unwrap_or_default())
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, backend).await.unwrap() });
    let services: Api<Service> = Api::default_namespaced(client.clone());
    services
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "prometheus"},
        "spec": {"ports": [{"name": "web", "port": 9090}]}}))
            .unwrap(),
        )
        .await
        .unwrap();
    let endpoints: Api<Endpoints> = Api::default_namespaced(client.clone());
    endpoints.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "prometheus"},
        "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "web", "port": port}]}]})).unwrap()).await.unwrap();
    let http = reqwest::Client::new();
    let reply = http
        .get(format!(
            "{}/api/v1/namespaces/default/services/prometheus:web/proxy/api/v1/query?query=up",
            sandbox.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    assert_eq!(reply.text().await.unwrap(), "query=query=up");
    server.abort();

    services
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "remote"}, "spec": {"ports": [{"port": 80}]}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    endpoints
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "remote"},
        "subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 80}]}]}))
            .unwrap(),
        )
        .await
        .unwrap();
    let refused = http
        .get(format!(
            "{}/api/v1/namespaces/default/services/remote/proxy/",
            sandbox.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 503);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn discovery_tables_and_openapi_over_http() {
    let (sandbox, client) = start(SandboxConfig::default()).await;
    install_rollout_crd(&client).await;
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "32")
    );
    let discovery = kube::discovery::Discovery::new(client.clone())
        .run()
        .await
        .unwrap();
    let (resource, caps) = discovery
        .groups()
        .flat_map(kube::discovery::ApiGroup::recommended_resources)
        .find(|(r, _)| r.plural == "rollouts")
        .unwrap();
    assert_eq!(resource.group, "argoproj.io");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);

    let http = reqwest::Client::new();
    let aggregated = http
        .get(format!("{}/apis", sandbox.url()))
        .header(
            "accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        aggregated.headers()["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let aggregated: Value = aggregated.json().await.unwrap();
    let argo = aggregated["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "argoproj.io")
        .unwrap();
    assert_eq!(
        argo["versions"][0]["resources"][0]["shortNames"],
        json!(["ro"])
    );

    let rollouts = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &rollout_resource("v1alpha1"),
    );
    rollouts
        .create(&PostParams::default(), &rollout("tbl", 3))
        .await
        .unwrap();
    let table = http
        .get(format!(
            "{}/apis/argoproj.io/v1alpha1/rollouts?limit=500",
            sandbox.url()
        ))
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        table.headers()["content-type"],
        "application/json;as=Table;v=v1;g=meta.k8s.io"
    );
    let table: Value = table.json().await.unwrap();
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Name", "Desired", "Current", "Age"]);
    assert_eq!(table["rows"][0]["cells"][0], "tbl");
    assert_eq!(table["rows"][0]["cells"][1], 3);

    let index: Value = http
        .get(format!("{}/openapi/v3", sandbox.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = index["paths"]["apis/argoproj.io/v1alpha1"]["serverRelativeURL"]
        .as_str()
        .unwrap();
    let doc: Value = http
        .get(format!("{}{url}", sandbox.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let patch =
        &doc["paths"]["/apis/argoproj.io/v1alpha1/namespaces/{namespace}/rollouts/{name}"]["patch"];
    assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Rollout");
    assert_eq!(
        http.get(format!("{}/openapi/v2", sandbox.url()))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn events_are_shared_between_v1_and_events_k8s_io() {
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    use k8s_openapi::api::events::v1::Event;
    let (sandbox, client) = start(SandboxConfig::default()).await;
    let recorder = kube::runtime::events::Recorder::new(
        client.clone(),
        kube::runtime::events::Reporter {
            controller: "rolltop-test".into(),
            instance: None,
        },
    );
    let regarding = k8s_openapi::api::core::v1::ObjectReference {
        kind: Some("Rollout".into()),
        name: Some("checkout".into()),
        namespace: Some("default".into()),
        api_version: Some("argoproj.io/v1alpha1".into()),
        ..Default::default()
    };
    recorder
        .publish(
            &kube::runtime::events::Event {
                type_: kube::runtime::events::EventType::Normal,
                reason: "RolloutPaused".into(),
                note: Some("paused at step 2".into()),
                action: "Pause".into(),
                secondary: None,
            },
            &regarding,
        )
        .await
        .unwrap();
    let core: Api<CoreEvent> = Api::default_namespaced(client.clone());
    let seen = core
        .list(&ListParams::default().fields("involvedObject.name=checkout"))
        .await
        .unwrap();
    assert_eq!(seen.items.len(), 1);
    assert_eq!(seen.items[0].message.as_deref(), Some("paused at step 2"));
    assert_eq!(seen.items[0].reason.as_deref(), Some("RolloutPaused"));
    let new: Api<Event> = Api::default_namespaced(client.clone());
    let listed = new
        .list(&ListParams::default().fields("regarding.name=checkout"))
        .await
        .unwrap();
    assert_eq!(listed.items[0].note.as_deref(), Some("paused at step 2"));
    assert_eq!(
        listed.items[0].reporting_controller.as_deref(),
        Some("rolltop-test")
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn sandbox_command_rejects_unknown_scenarios_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let args = |scenario: &str, deny: &[&str], listen: &str| rolltop::cli::args::SandboxArgs {
        kubeconfig_out: dir.path().join("kc"),
        listen: listen.into(),
        data_dir: None,
        scenario: scenario.into(),
        metrics_listen: None,
        deny: deny.iter().map(|d| (*d).to_owned()).collect(),
        ready_delay: "1s".into(),
    };
    let error = rolltop::sandbox::run(&args("r9", &[], "127.0.0.1:0"))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown scenario \"r9\": use none, all or r1..r5"
    );
    let error = rolltop::sandbox::run(&args("none", &["patch"], "127.0.0.1:0"))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("invalid --deny rule \"patch\""),
        "{error}"
    );
    let error = rolltop::sandbox::run(&args("none", &[], "nonsense"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("--listen"), "{error}");
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let (sandbox, client) = start(SandboxConfig::default()).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let mut held = config_map("held", &json!({}));
    held.metadata.finalizers = Some(vec!["rolltop.dev/cleanup".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let marked = cms.get("held").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    let rv = marked.metadata.resource_version.clone().unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("held").await.unwrap().is_none());
    assert!(matches!(
        stream.try_next().await.unwrap(),
        Some(WatchEvent::Modified(_))
    ));
    assert!(matches!(
        stream.try_next().await.unwrap(),
        Some(WatchEvent::Deleted(_))
    ));
    sandbox.shutdown().await;
}
