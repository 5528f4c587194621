//! Traffic routing end to end: an in-process sandbox with the simulated ReplicaSet/kubelet
//! controllers, rolltop's CRDs plus minimal Istio and SMI CRDs (schemaless, as a mesh would
//! install them), and the rollout runner in-process. The field reports' objects (seeds.md R1, R2,
//! R5) are applied as written; the tests then drive `set image`, promote and abort through the
//! API, as the kubectl plugin does, and read the router objects back. Every wait polls.

use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use rolltop::controller::traffic::RouterKind;
use rolltop::crd::Rollout;
use rolltop::model::{RolloutExtras, RolloutSummary};
use serde_json::{Value, json};

use crate::harness::{
    cluster, create_dynamic, create_rollout, create_service, dynamic_api, eventually, get_json,
    patch_spec, patch_status, selector_hash, start_namespace_runner, virtual_services, wait_status,
};

/// seeds.md R1's Rollout (replicas 1, steps setWeight 5 / pause), with the given routing.
fn r1_rollout(name: &str, image: &str, routing: &Value, steps: &Value) -> Rollout {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1, "revisionHistoryLimit": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": name, "image": image,
                             "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                             "resources": {"requests": {"memory": "32Mi", "cpu": "5m"}}}]}},
            "strategy": {"canary": {
                "canaryService": format!("{name}-canary"),
                "stableService": format!("{name}-stable"),
                "trafficRouting": routing,
                "steps": steps}}
        }
    }))
    .unwrap()
}

/// `set image` for R1-style rollouts, whose container is named after the rollout.
async fn set_image(client: &Client, ns: &str, name: &str, image: &str) {
    patch_spec(
        client,
        ns,
        name,
        json!({"template": {"spec": {"containers": [{"name": name, "image": image}]}}}),
    )
    .await;
}

/// `kubectl argo rollouts promote` on a canary paused at step `index`.
async fn promote(client: &Client, ns: &str, name: &str, index: i64) {
    wait_status(client, ns, name, "paused before promote", |s| {
        s["phase"] == "Paused" && s["currentStepIndex"] == index
    })
    .await;
    patch_status(
        client,
        ns,
        name,
        &json!({"status": {"pauseConditions": null, "currentStepIndex": index + 1}}),
    )
    .await;
}

/// (host, weight) of each destination of the VirtualService's http route `route`.
async fn vs_weights(api: &Api<DynamicObject>, name: &str, route: &str) -> Vec<(String, i64)> {
    let vs = get_json(api, name).await.unwrap();
    vs["spec"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == route)
        .unwrap()["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["destination"]["host"].as_str().unwrap().to_owned(),
                d["weight"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

async fn wait_vs_weights(
    api: &Api<DynamicObject>,
    name: &str,
    route: &str,
    stable: i64,
    canary: i64,
) {
    let want = |host: &str, w| (host.to_owned(), w);
    eventually(
        &format!("VirtualService {name} at {stable}/{canary}"),
        || async {
            let got = vs_weights(api, name, route).await;
            (got == vec![
                want("rollouts-demo-stable", stable),
                want("rollouts-demo-canary", canary),
            ])
            .then_some(())
        },
    )
    .await;
}

const R1_NS: &str = "argo-apl";

fn r1_virtual_service() -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
        "metadata": {"name": "rollouts-demo-vsvc"},
        "spec": {"gateways": ["rollouts-demo-gateway"], "hosts": ["*"],
                 "http": [{"name": "primary", "route": [
                     {"destination": {"host": "rollouts-demo-stable"}, "weight": 100},
                     {"destination": {"host": "rollouts-demo-canary"}, "weight": 0}]}]}
    })
}

fn istio_routing() -> Value {
    json!({"istio": {"virtualService": {"name": "rollouts-demo-vsvc", "routes": ["primary"]}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn istio_r1_host_level_canary_promote_and_abort() {
    let cluster = cluster(&[R1_NS]).await;
    let client = &cluster.client;
    cluster.install_istio().await;
    // R1 applies rollout, services, gateway, virtual service in that order.
    create_rollout(
        client,
        R1_NS,
        &r1_rollout(
            "rollouts-demo",
            "argoproj/rollouts-demo:blue",
            &istio_routing(),
            &json!([{"setWeight": 5}, {"pause": {}}]),
        ),
    )
    .await;
    create_service(client, R1_NS, "rollouts-demo-canary", "rollouts-demo", 80).await;
    create_service(client, R1_NS, "rollouts-demo-stable", "rollouts-demo", 80).await;
    let vs_api = virtual_services(client, R1_NS);
    create_dynamic(&vs_api, r1_virtual_service()).await;
    let runner = start_namespace_runner(client, R1_NS);

    let healthy = wait_status(
        client,
        R1_NS,
        "rollouts-demo",
        "Healthy with weights",
        |s| s["phase"] == "Healthy" && s["canary"]["weights"].is_object(),
    )
    .await;
    let blue = healthy["stableRS"].as_str().unwrap().to_owned();
    assert_eq!(
        healthy["canary"]["weights"],
        json!({"canary": {"serviceName": "rollouts-demo-canary", "podTemplateHash": blue, "weight": 0},
               "stable": {"serviceName": "rollouts-demo-stable", "podTemplateHash": blue, "weight": 100}})
    );
    wait_vs_weights(&vs_api, "rollouts-demo-vsvc", "primary", 100, 0).await;

    set_image(
        client,
        R1_NS,
        "rollouts-demo",
        "argoproj/rollouts-demo:yellow",
    )
    .await;
    let paused = wait_status(client, R1_NS, "rollouts-demo", "paused at 5 %", |s| {
        s["phase"] == "Paused"
            && s["currentStepIndex"] == 1
            && s["canary"]["weights"]["canary"]["weight"] == 5
    })
    .await;
    let yellow = paused["currentPodHash"].as_str().unwrap().to_owned();
    assert_ne!(yellow, blue);
    assert_eq!(
        paused["canary"]["weights"]["canary"]["podTemplateHash"],
        yellow.as_str()
    );
    assert_eq!(
        paused["canary"]["weights"]["stable"]["podTemplateHash"],
        blue.as_str()
    );
    assert_eq!(paused["canary"]["weights"]["stable"]["weight"], 95);
    wait_vs_weights(&vs_api, "rollouts-demo-vsvc", "primary", 95, 5).await;
    assert_eq!(
        selector_hash(client, R1_NS, "rollouts-demo-stable").await,
        Some(blue.clone())
    );
    assert_eq!(
        selector_hash(client, R1_NS, "rollouts-demo-canary").await,
        Some(yellow.clone())
    );
    // What the cockpit and `get rollout` show (SetWeight / ActualWeight) agrees with the router.
    let live = Api::<Rollout>::namespaced(client.clone(), R1_NS)
        .get("rollouts-demo")
        .await
        .unwrap();
    let summary = RolloutSummary::from_rollout(&live, RolloutExtras::default());
    assert_eq!((summary.desired_weight, summary.actual_weight), (5, 5));
    // Unknown fields of the VirtualService survive the weight patches.
    let vs = get_json(&vs_api, "rollouts-demo-vsvc").await.unwrap();
    assert_eq!(vs["spec"]["gateways"], json!(["rollouts-demo-gateway"]));

    promote(client, R1_NS, "rollouts-demo", 1).await;
    wait_status(
        client,
        R1_NS,
        "rollouts-demo",
        "yellow stable, weights 100/0",
        |s| {
            s["phase"] == "Healthy"
                && s["stableRS"] == yellow.as_str()
                && s["canary"]["weights"]["canary"]["weight"] == 0
                && s["canary"]["weights"]["stable"]["podTemplateHash"] == yellow.as_str()
        },
    )
    .await;
    wait_vs_weights(&vs_api, "rollouts-demo-vsvc", "primary", 100, 0).await;
    eventually("stable Service selector on the new revision", || async {
        (selector_hash(client, R1_NS, "rollouts-demo-stable")
            .await
            .as_deref()
            == Some(&yellow))
        .then_some(())
    })
    .await;

    // A third revision, aborted while paused: weight back to 0, canary Service back to stable.
    set_image(client, R1_NS, "rollouts-demo", "argoproj/rollouts-demo:red").await;
    wait_status(client, R1_NS, "rollouts-demo", "paused at 5 % again", |s| {
        s["phase"] == "Paused" && s["canary"]["weights"]["canary"]["weight"] == 5
    })
    .await;
    wait_vs_weights(&vs_api, "rollouts-demo-vsvc", "primary", 95, 5).await;
    patch_status(
        client,
        R1_NS,
        "rollouts-demo",
        &json!({"status": {"abort": true}}),
    )
    .await;
    let aborted = wait_status(client, R1_NS, "rollouts-demo", "aborted at weight 0", |s| {
        s["phase"] == "Degraded" && s["canary"]["weights"]["canary"]["weight"] == 0
    })
    .await;
    assert_eq!(aborted["stableRS"], yellow.as_str());
    wait_vs_weights(&vs_api, "rollouts-demo-vsvc", "primary", 100, 0).await;
    assert_eq!(
        selector_hash(client, R1_NS, "rollouts-demo-canary").await,
        Some(yellow.clone())
    );
    runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_istio_kind_and_virtual_service_are_invalid_spec_until_they_exist() {
    const NS: &str = "kubota-test";
    let cluster = cluster(&[NS]).await;
    let client = &cluster.client;
    create_service(client, NS, "rollouts-demo-canary", "rollouts-demo", 8080).await;
    create_service(client, NS, "rollouts-demo-stable", "rollouts-demo", 8080).await;
    // R5's steps, up to the pause (its analysis step needs Prometheus).
    create_rollout(
        client,
        NS,
        &r1_rollout(
            "rollouts-demo",
            "quay.io/brancz/prometheus-example-app:v0.2.0",
            &istio_routing(),
            &json!([{"setWeight": 50}, {"pause": {}}]),
        ),
    )
    .await;
    let runner = start_namespace_runner(client, NS);
    let prefix = "The Rollout \"rollouts-demo\" is invalid: \
                  spec.strategy.canary.trafficRouting.istio.virtualService.name: Invalid value: \
                  \"rollouts-demo-vsvc\": ";
    let no_kind = wait_status(
        client,
        NS,
        "rollouts-demo",
        "InvalidSpec without Istio",
        |s| s["phase"] == "Degraded",
    )
    .await;
    assert_eq!(
        no_kind["message"],
        format!(
            "InvalidSpec: {prefix}the server does not serve virtualservices.networking.istio.io \
             (is the VirtualService CRD installed?)"
        )
    );
    // Istio arrives later: the runner discovers it without a restart.
    cluster.install_istio().await;
    let expected = format!(
        "InvalidSpec: {prefix}virtualservices.networking.istio.io \"rollouts-demo-vsvc\" not found"
    );
    wait_status(
        client,
        NS,
        "rollouts-demo",
        "InvalidSpec naming the VirtualService",
        |s| s["message"] == expected.as_str(),
    )
    .await;
    // R5's VirtualService, with the `prometheus` route the controller must leave alone.
    let vs_api = virtual_services(client, NS);
    let prometheus_route = json!({"name": "prometheus", "match": [{"uri": {"prefix": "/api"}}],
        "route": [{"destination": {"host": "prometheus", "port": {"number": 9090}}}]});
    create_dynamic(
        &vs_api,
        json!({
            "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
            "metadata": {"name": "rollouts-demo-vsvc"},
            "spec": {"hosts": ["*"], "http": [
                {"name": "primary", "match": [{"uri": {"exact": "/"}}, {"uri": {"exact": "/err"}}],
                 "route": [{"destination": {"host": "rollouts-demo-stable", "port": {"number": 8080}}, "weight": 100},
                           {"destination": {"host": "rollouts-demo-canary", "port": {"number": 8080}}, "weight": 0}]},
                prometheus_route.clone()]}
        }),
    )
    .await;
    wait_status(
        client,
        NS,
        "rollouts-demo",
        "Healthy once the VirtualService exists",
        |s| s["phase"] == "Healthy",
    )
    .await;
    set_image(
        client,
        NS,
        "rollouts-demo",
        "quay.io/brancz/prometheus-example-app:v0.3.0",
    )
    .await;
    wait_vs_weights(&vs_api, "rollouts-demo-vsvc", "primary", 50, 50).await;
    let vs = get_json(&vs_api, "rollouts-demo-vsvc").await.unwrap();
    assert_eq!(vs["spec"]["http"][1], prometheus_route);
    assert_eq!(
        vs["spec"]["http"][0]["match"][1],
        json!({"uri": {"exact": "/err"}})
    );

    // A route the VirtualService lacks is named in the message too.
    let patch = json!({"spec": {"strategy": {"canary": {"trafficRouting": {"istio":
        {"virtualService": {"name": "rollouts-demo-vsvc", "routes": ["canary-only"]}}}}}}});
    Api::<Rollout>::namespaced(client.clone(), NS)
        .patch(
            "rollouts-demo",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
    wait_status(
        client,
        NS,
        "rollouts-demo",
        "InvalidSpec for the missing route",
        |s| {
            s["message"].as_str().is_some_and(|m| {
                m.ends_with("HTTP Route 'canary-only' is not found in the defined Virtual Service.")
            })
        },
    )
    .await;
    runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alb_r2_action_annotation_is_written_exactly() {
    const NS: &str = "tomozo";
    let cluster = cluster(&[NS]).await;
    let client = &cluster.client;
    for svc in ["tomozo-stable", "tomozo-canary"] {
        create_service(client, NS, svc, "tomozo", 8080).await;
    }
    let user_annotations = json!({
        "kubernetes.io/ingress.class": "alb",
        "alb.ingress.kubernetes.io/actions.ssl-redirect":
            "{\"Type\": \"redirect\", \"RedirectConfig\": { \"Protocol\": \"HTTPS\", \"Port\": \"443\", \"StatusCode\": \"HTTP_301\"}}",
        "alb.ingress.kubernetes.io/conditions.x-canary-header":
            "[{\"Field\":\"http-header\",\"HttpHeaderConfig\":{\"HttpHeaderName\": \"X-Canary\", \"Values\":[\"true\"]}}]",
        "alb.ingress.kubernetes.io/actions.x-canary-header":
            "{\"Type\":\"forward\",\"ForwardConfig\":{\"TargetGroups\":[{\"ServiceName\":\"tomozo-canary\",\"ServicePort\":\"8080\"}]}}"
    });
    let path = |service: &str| {
        json!({"path": "/*", "pathType": "ImplementationSpecific",
               "backend": {"service": {"name": service, "port": {"name": "use-annotation"}}}})
    };
    let ingress: Ingress = serde_json::from_value(json!({
        "metadata": {"name": "tomozo", "annotations": user_annotations},
        "spec": {"rules": [{"http": {"paths": [
            path("ssl-redirect"), path("x-canary-header"), path("tomozo-stable")]}}]}
    }))
    .unwrap();
    let ingresses = Api::<Ingress>::namespaced(client.clone(), NS);
    ingresses
        .create(&PostParams::default(), &ingress)
        .await
        .unwrap();
    create_rollout(
        client,
        NS,
        &r1_rollout(
            "tomozo",
            "tomozo:v1",
            &json!({"alb": {"ingress": "tomozo", "servicePort": 8080}}),
            &json!([{"setWeight": 10}, {"pause": {}}]),
        ),
    )
    .await;
    let runner = start_namespace_runner(client, NS);
    let action = |canary: i32| {
        format!(
            "{{\"Type\":\"forward\",\"ForwardConfig\":{{\"TargetGroups\":[{{\"ServiceName\":\"tomozo-canary\",\"ServicePort\":\"8080\",\"Weight\":{canary}}},{{\"ServiceName\":\"tomozo-stable\",\"ServicePort\":\"8080\",\"Weight\":{}}}]}}}}",
            100 - canary
        )
    };
    let key = "alb.ingress.kubernetes.io/actions.tomozo-stable";
    let wait_action = |canary: i32| {
        let ingresses = ingresses.clone();
        let want = action(canary);
        async move {
            eventually(&format!("ALB action at canary {canary}"), || async {
                let live = ingresses.get("tomozo").await.unwrap();
                (live.annotations().get(key) == Some(&want)).then_some(live)
            })
            .await
        }
    };
    let live = wait_action(0).await;
    // R2's exact string, and the user's annotations untouched.
    assert_eq!(
        live.annotations()[key],
        "{\"Type\":\"forward\",\"ForwardConfig\":{\"TargetGroups\":[{\"ServiceName\":\"tomozo-canary\",\"ServicePort\":\"8080\",\"Weight\":0},{\"ServiceName\":\"tomozo-stable\",\"ServicePort\":\"8080\",\"Weight\":100}]}}"
    );
    for (k, v) in user_annotations.as_object().unwrap() {
        assert_eq!(
            live.annotations().get(k).map(String::as_str),
            v.as_str(),
            "{k}"
        );
    }
    set_image(client, NS, "tomozo", "tomozo:v2").await;
    wait_action(10).await;
    promote(client, NS, "tomozo", 1).await;
    wait_status(client, NS, "tomozo", "promoted", |s| {
        s["phase"] == "Healthy" && s["stableRS"] == s["currentPodHash"]
    })
    .await;
    wait_action(0).await;
    runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_canary_ingress_and_smi_traffic_split_follow_the_weight() {
    const NS: &str = "web";
    let cluster = cluster(&[NS]).await;
    let client = &cluster.client;
    cluster.install_routers(&[RouterKind::TrafficSplit]).await;
    for svc in ["web-stable", "web-canary"] {
        create_service(client, NS, svc, "web", 80).await;
    }
    let ingress: Ingress = serde_json::from_value(json!({
        "metadata": {"name": "web", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
        "spec": {"rules": [{"host": "web.example", "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "web-stable", "port": {"number": 80}}}}]}}]}
    }))
    .unwrap();
    let ingresses = Api::<Ingress>::namespaced(client.clone(), NS);
    ingresses
        .create(&PostParams::default(), &ingress)
        .await
        .unwrap();
    create_rollout(
        client,
        NS,
        &r1_rollout(
            "web",
            "web:v1",
            &json!({"nginx": {"stableIngress": "web"}, "smi": {}}),
            &json!([{"setWeight": 20}, {"pause": {}}]),
        ),
    )
    .await;
    let runner = start_namespace_runner(client, NS);
    let splits = dynamic_api(
        client,
        NS,
        "split.smi-spec.io/v1alpha3",
        "TrafficSplit",
        "trafficsplits",
    );
    let wait_weight = |weight: i64| {
        let ingresses = ingresses.clone();
        let splits = splits.clone();
        async move {
            eventually(
                &format!("canary Ingress and TrafficSplit at {weight}"),
                || async {
                    let canary = ingresses.get_opt("web-web-canary").await.unwrap()?;
                    let split = get_json(&splits, "web").await?;
                    let annotations = canary.annotations();
                    let ingress_ok = annotations.get("nginx.ingress.kubernetes.io/canary-weight")
                        == Some(&weight.to_string())
                        && annotations
                            .get("nginx.ingress.kubernetes.io/canary")
                            .map(String::as_str)
                            == Some("true");
                    let split_ok = split["spec"]["backends"]
                        == json!([{"service": "web-canary", "weight": weight},
                              {"service": "web-stable", "weight": 100 - weight}]);
                    (ingress_ok && split_ok).then_some((canary, split))
                },
            )
            .await
        }
    };
    let (canary, split) = wait_weight(0).await;
    assert_eq!(canary.owner_references()[0].name, "web");
    let backend = serde_json::to_value(&canary.spec).unwrap()["rules"][0]["http"]["paths"][0]
        ["backend"]["service"]["name"]
        .clone();
    assert_eq!(backend, "web-canary");
    assert_eq!(split["spec"]["service"], "web-stable");
    // The stable Ingress itself is never changed.
    let stable = ingresses.get("web").await.unwrap();
    assert!(
        !stable
            .annotations()
            .contains_key("nginx.ingress.kubernetes.io/canary")
    );

    set_image(client, NS, "web", "web:v2").await;
    wait_weight(20).await;
    promote(client, NS, "web", 1).await;
    wait_status(client, NS, "web", "promoted", |s| {
        s["phase"] == "Healthy" && s["stableRS"] == s["currentPodHash"]
    })
    .await;
    wait_weight(0).await;
    runner.stop().await;
}

/// (subset, hash label) of each DestinationRule subset.
async fn subset_hashes(api: &Api<DynamicObject>, name: &str) -> Vec<(String, String)> {
    let dr = get_json(api, name).await.unwrap();
    dr["spec"]["subsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["labels"]["rollouts-pod-template-hash"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn istio_subset_level_split_labels_the_destination_rule() {
    const NS: &str = "subsets";
    let cluster = cluster(&[NS]).await;
    let client = &cluster.client;
    cluster.install_istio().await;
    create_service(client, NS, "app", "app", 80).await;
    let vs_api = virtual_services(client, NS);
    create_dynamic(
        &vs_api,
        json!({"apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
               "metadata": {"name": "app"},
               "spec": {"hosts": ["app"], "http": [{"name": "primary", "route": [
                   {"destination": {"host": "app", "subset": "stable"}, "weight": 100},
                   {"destination": {"host": "app", "subset": "canary"}, "weight": 0}]}]}}),
    )
    .await;
    let dr_api = dynamic_api(
        client,
        NS,
        "networking.istio.io/v1alpha3",
        "DestinationRule",
        "destinationrules",
    );
    create_dynamic(
        &dr_api,
        json!({"apiVersion": "networking.istio.io/v1alpha3", "kind": "DestinationRule",
               "metadata": {"name": "app"},
               "spec": {"host": "app", "subsets": [
                   {"name": "canary", "labels": {"app": "app"}},
                   {"name": "stable", "labels": {"app": "app"}}]}}),
    )
    .await;
    let mut rollout = r1_rollout(
        "app",
        "app:v1",
        &json!({"istio": {"virtualService": {"name": "app", "routes": ["primary"]},
                          "destinationRule": {"name": "app", "canarySubsetName": "canary",
                                              "stableSubsetName": "stable"}}}),
        &json!([{"setWeight": 10}, {"pause": {}}]),
    );
    if let Some(canary) = rollout
        .spec
        .strategy
        .as_mut()
        .and_then(|s| s.canary.as_mut())
    {
        canary.canary_service = None;
        canary.stable_service = None;
    }
    create_rollout(client, NS, &rollout).await;
    let runner = start_namespace_runner(client, NS);
    let healthy = wait_status(client, NS, "app", "Healthy", |s| s["phase"] == "Healthy").await;
    let v1 = healthy["stableRS"].as_str().unwrap().to_owned();
    let pair = |canary: &str, stable: &str| {
        vec![
            ("canary".to_owned(), canary.to_owned()),
            ("stable".to_owned(), stable.to_owned()),
        ]
    };
    eventually("both subsets on v1", || async {
        (subset_hashes(&dr_api, "app").await == pair(&v1, &v1)).then_some(())
    })
    .await;

    set_image(client, NS, "app", "app:v2").await;
    let paused = wait_status(client, NS, "app", "paused at 10 %", |s| {
        s["phase"] == "Paused" && s["canary"]["weights"]["canary"]["weight"] == 10
    })
    .await;
    let v2 = paused["currentPodHash"].as_str().unwrap().to_owned();
    assert_eq!(subset_hashes(&dr_api, "app").await, pair(&v2, &v1));
    let weights = |vs: Value| -> Vec<i64> {
        vs["spec"]["http"][0]["route"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["weight"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        weights(get_json(&vs_api, "app").await.unwrap()),
        vec![90, 10]
    );

    promote(client, NS, "app", 1).await;
    wait_status(client, NS, "app", "v2 stable", |s| {
        s["phase"] == "Healthy" && s["stableRS"] == v2.as_str()
    })
    .await;
    eventually("both subsets on v2 and the split back to 100/0", || async {
        let vs = get_json(&vs_api, "app").await?;
        (subset_hashes(&dr_api, "app").await == pair(&v2, &v2) && weights(vs) == vec![100, 0])
            .then_some(())
    })
    .await;
    let dr = get_json(&dr_api, "app").await.unwrap();
    assert_eq!(
        dr["metadata"]["annotations"]["argo-rollouts.argoproj.io/managed-by-rollouts"],
        "app"
    );
    runner.stop().await;
}
