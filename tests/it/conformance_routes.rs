//! §8 router route-shape scenarios end to end: S22 (subset-level Istio, its single-route
//! variant, and the DestinationRule handed back when `trafficRouting` is removed), S24 (update
//! in the middle of a weight-0 canary), S26/S27 (Istio header and mirror routes), S28 (ping-pong
//! on Istio and ALB) and S29 (ALB header route). Each test runs the in-process sandbox with the
//! simulated kubelet and the schemaless Istio CRDs, the rollout runner, and the built binary for
//! the operator's promote actions, then reads the router objects back. Every wait polls.

use kube::api::{Api, DynamicObject};
use serde_json::{Value, json};

use crate::harness::{
    Cluster, canary_rollout, cluster, create_dynamic, create_rollout, create_service,
    destination_rules, eventually, get_json, ingresses, patch_spec, replicas_by_hash,
    selector_hash, set_image, start_namespace_runner, virtual_services, wait_healthy, wait_status,
};

const ROLLOUT: &str = "demo";
const MANAGED_BY: &str = "argo-rollouts.argoproj.io/managed-by-rollouts";

/// (route name, [(subset or host, weight)]) of every http route of a VirtualService.
fn http_routes(vs: &Value) -> Vec<(String, Vec<(String, i64)>)> {
    vs["spec"]["http"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|route| {
            let destinations = route["route"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|d| {
                    let target = d["destination"]["subset"]
                        .as_str()
                        .or_else(|| d["destination"]["host"].as_str())
                        .unwrap_or_default();
                    (target.to_owned(), d["weight"].as_i64().unwrap_or(-1))
                })
                .collect();
            (
                route["name"].as_str().unwrap_or_default().to_owned(),
                destinations,
            )
        })
        .collect()
}

fn route(name: &str, destinations: &[(&str, i64)]) -> (String, Vec<(String, i64)>) {
    (
        name.to_owned(),
        destinations
            .iter()
            .map(|(target, weight)| ((*target).to_owned(), *weight))
            .collect(),
    )
}

/// Waits until the VirtualService `name` has exactly these http routes; returns it.
async fn wait_routes(
    api: &Api<DynamicObject>,
    name: &str,
    want: &[(String, Vec<(String, i64)>)],
) -> Value {
    eventually(
        &format!("VirtualService {name} routes {want:?}"),
        || async {
            let vs = get_json(api, name).await?;
            (http_routes(&vs) == want).then_some(vs)
        },
    )
    .await
}

fn virtual_service(name: &str, http: &Value) -> Value {
    json!({"apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
           "metadata": {"name": name},
           "spec": {"hosts": [ROLLOUT], "http": http}})
}

/// Waits for phase Paused at `index`, then promotes through the built binary.
async fn promote_at(cluster: &Cluster, ns: &str, index: i64) {
    wait_status(
        &cluster.client,
        ns,
        ROLLOUT,
        &format!("paused at step {index}"),
        |s| s["phase"] == "Paused" && s["currentStepIndex"] == index,
    )
    .await;
    cluster.plugin(ns, &["promote", ROLLOUT]).await;
}

async fn wait_paused_at(cluster: &Cluster, ns: &str, index: i64) -> Value {
    wait_status(
        &cluster.client,
        ns,
        ROLLOUT,
        &format!("paused at step {index}"),
        |s| s["phase"] == "Paused" && s["currentStepIndex"] == index,
    )
    .await
}

/// (subset, hash label) of each DestinationRule subset.
fn subset_hashes(dr: &Value) -> Vec<(String, Option<String>)> {
    dr["spec"]["subsets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_owned(),
                s["labels"]["rollouts-pod-template-hash"]
                    .as_str()
                    .map(str::to_owned),
            )
        })
        .collect()
}

/// S22 on one cluster: subsets follow the revisions through update and promotion; returns the
/// cluster and the hashes of the first and second revisions (the runner is stopped).
async fn subset_split(ns: &str, route_name: Option<&str>) -> (Cluster, String, String) {
    let cluster = cluster(&[ns]).await;
    let client = &cluster.client;
    cluster.install_istio().await;
    create_service(client, ns, ROLLOUT, ROLLOUT, 80).await;
    let mut primary = json!({"route": [
        {"destination": {"host": ROLLOUT, "subset": "stable"}, "weight": 100},
        {"destination": {"host": ROLLOUT, "subset": "canary"}, "weight": 0}]});
    let mut reference = json!({"name": "vs"});
    if let Some(name) = route_name {
        primary["name"] = json!(name);
        reference["routes"] = json!([name]);
    }
    let vs_api = virtual_services(client, ns);
    create_dynamic(&vs_api, virtual_service("vs", &json!([primary]))).await;
    let dr_api = destination_rules(client, ns);
    create_dynamic(
        &dr_api,
        json!({"apiVersion": "networking.istio.io/v1alpha3", "kind": "DestinationRule",
               "metadata": {"name": "dr"},
               "spec": {"host": ROLLOUT, "subsets": [
                   {"name": "canary", "labels": {"app": ROLLOUT}},
                   {"name": "stable", "labels": {"app": ROLLOUT}}]}}),
    )
    .await;
    create_rollout(
        client,
        ns,
        &canary_rollout(
            ROLLOUT,
            1,
            "nginx:1",
            &json!({"trafficRouting": {"istio": {"virtualService": reference,
                        "destinationRule": {"name": "dr", "canarySubsetName": "canary",
                                            "stableSubsetName": "stable"}}},
                    "steps": [{"setWeight": 10}, {"pause": {}}]}),
        ),
    )
    .await;
    let runner = start_namespace_runner(client, ns);
    let name = route_name.unwrap_or_default();
    let split =
        |stable: i64, canary: i64| vec![route(name, &[("stable", stable), ("canary", canary)])];
    let pair = |canary: &str, stable: &str| {
        vec![
            ("canary".to_owned(), Some(canary.to_owned())),
            ("stable".to_owned(), Some(stable.to_owned())),
        ]
    };
    let healthy = wait_healthy(client, ns, ROLLOUT).await;
    let rev1 = healthy["stableRS"].as_str().unwrap().to_owned();
    wait_routes(&vs_api, "vs", &split(100, 0)).await;
    eventually("both subsets on rev1", || async {
        let dr = get_json(&dr_api, "dr").await?;
        (subset_hashes(&dr) == pair(&rev1, &rev1)).then_some(())
    })
    .await;

    set_image(client, ns, ROLLOUT, "nginx:2").await;
    let paused = wait_paused_at(&cluster, ns, 1).await;
    let rev2 = paused["currentPodHash"].as_str().unwrap().to_owned();
    wait_routes(&vs_api, "vs", &split(90, 10)).await;
    let dr = get_json(&dr_api, "dr").await.unwrap();
    assert_eq!(subset_hashes(&dr), pair(&rev2, &rev1));

    cluster.plugin(ns, &["promote", ROLLOUT]).await;
    wait_status(client, ns, ROLLOUT, "rev2 stable", |s| {
        s["phase"] == "Healthy" && s["stableRS"] == rev2.as_str()
    })
    .await;
    wait_routes(&vs_api, "vs", &split(100, 0)).await;
    eventually("both subsets on rev2", || async {
        let dr = get_json(&dr_api, "dr").await?;
        (subset_hashes(&dr) == pair(&rev2, &rev2)).then_some(())
    })
    .await;
    let dr = get_json(&dr_api, "dr").await.unwrap();
    assert_eq!(dr["metadata"]["annotations"][MANAGED_BY], ROLLOUT);
    // The previous stable keeps its pod for the scale-down delay.
    assert_eq!(
        replicas_by_hash(client, ns, ROLLOUT).await.get(&rev1),
        Some(&1)
    );
    runner.stop().await;
    (cluster, rev1, rev2)
}

/// S22 TestIstioSubsetSplit, then `trafficRouting: null`: the DestinationRule loses the
/// managed-by annotation and both hash labels, and rev1 is scaled to 0 as a basic canary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s22_istio_subset_split() {
    const NS: &str = "s22";
    let (cluster, rev1, rev2) = subset_split(NS, Some("primary")).await;
    let client = &cluster.client;
    let runner = start_namespace_runner(client, NS);
    patch_spec(
        client,
        NS,
        ROLLOUT,
        json!({"strategy": {"canary": {"trafficRouting": null}}}),
    )
    .await;
    let dr_api = destination_rules(client, NS);
    let dr = eventually("DestinationRule released", || async {
        let dr = get_json(&dr_api, "dr").await?;
        dr["metadata"]["annotations"]
            .get(MANAGED_BY)
            .is_none()
            .then_some(dr)
    })
    .await;
    assert_eq!(
        subset_hashes(&dr),
        vec![("canary".to_owned(), None), ("stable".to_owned(), None)]
    );
    assert_eq!(dr["spec"]["subsets"][1]["labels"]["app"], ROLLOUT);
    eventually("rev1 scaled to 0", || async {
        let replicas = replicas_by_hash(client, NS, ROLLOUT).await;
        (replicas.get(&rev1) == Some(&0) && replicas.get(&rev2) == Some(&1)).then_some(())
    })
    .await;
    let status = wait_healthy(client, NS, ROLLOUT).await;
    assert!(status["canary"]["weights"].is_null(), "{status}");
    runner.stop().await;
}

/// S22 TestIstioSubsetSplitSingleRoute: one unnamed route, no `routes` in the reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s22_istio_subset_split_single_route() {
    subset_split("s22-single", None).await;
}

/// Host-level Istio: Services `stable-service` / `canary-service`, a VirtualService `vs` with
/// route `primary` holding `http` destinations, and the Rollout with `canary`.
async fn host_level(ns: &str, replicas: i32, primary: &Value, canary: &Value) -> Cluster {
    let cluster = cluster(&[ns]).await;
    let client = &cluster.client;
    cluster.install_istio().await;
    for service in ["stable-service", "canary-service"] {
        create_service(client, ns, service, ROLLOUT, 80).await;
    }
    create_dynamic(
        &virtual_services(client, ns),
        virtual_service("vs", &json!([primary])),
    )
    .await;
    create_rollout(
        client,
        ns,
        &canary_rollout(ROLLOUT, replicas, "nginx:1", canary),
    )
    .await;
    cluster
}

fn primary_route(stable: i64, canary: i64) -> Value {
    json!({"name": "primary", "route": [
        {"destination": {"host": "stable-service"}, "weight": stable},
        {"destination": {"host": "canary-service"}, "weight": canary}]})
}

fn primary(stable: i64, canary: i64) -> (String, Vec<(String, i64)>) {
    route(
        "primary",
        &[("stable-service", stable), ("canary-service", canary)],
    )
}

fn host_canary(managed: &[&str], steps: &Value) -> Value {
    let managed: Vec<Value> = managed.iter().map(|n| json!({"name": n})).collect();
    json!({"canaryService": "canary-service", "stableService": "stable-service",
           "trafficRouting": {"managedRoutes": managed,
               "istio": {"virtualService": {"name": "vs", "routes": ["primary"]}}},
           "steps": steps})
}

/// S24 TestIstioUpdateInMiddleZeroCanaryReplicas: a second update while paused at weight 0
/// moves the one canary pod to rev3 and pauses again; the split stays 100/0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s24_istio_update_in_the_middle() {
    const NS: &str = "s24";
    let cluster = host_level(
        NS,
        2,
        &primary_route(100, 0),
        &host_canary(
            &[],
            &json!([{"setWeight": 0}, {"setCanaryScale": {"replicas": 1}}, {"pause": {}}]),
        ),
    )
    .await;
    let client = &cluster.client;
    let runner = start_namespace_runner(client, NS);
    let vs_api = virtual_services(client, NS);
    let rev1 = wait_healthy(client, NS, ROLLOUT).await["stableRS"]
        .as_str()
        .unwrap()
        .to_owned();
    set_image(client, NS, ROLLOUT, "nginx:2").await;
    let rev2 = wait_paused_at(&cluster, NS, 2).await["currentPodHash"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually("rev1 2 / rev2 1", || async {
        let replicas = replicas_by_hash(client, NS, ROLLOUT).await;
        (replicas.get(&rev1) == Some(&2) && replicas.get(&rev2) == Some(&1)).then_some(())
    })
    .await;
    wait_routes(&vs_api, "vs", &[primary(100, 0)]).await;

    set_image(client, NS, ROLLOUT, "nginx:3").await;
    let paused = wait_status(client, NS, ROLLOUT, "paused on rev3", |s| {
        s["phase"] == "Paused"
            && s["currentStepIndex"] == 2
            && s["currentPodHash"] != rev2.as_str()
            && s["canary"]["weights"]["canary"]["podTemplateHash"] == s["currentPodHash"]
    })
    .await;
    let rev3 = paused["currentPodHash"].as_str().unwrap().to_owned();
    assert_eq!(paused["canary"]["weights"]["canary"]["weight"], 0);
    eventually("rev1 2 / rev2 0 / rev3 1", || async {
        let replicas = replicas_by_hash(client, NS, ROLLOUT).await;
        (replicas.get(&rev1) == Some(&2)
            && replicas.get(&rev2) == Some(&0)
            && replicas.get(&rev3) == Some(&1))
        .then_some(())
    })
    .await;
    wait_routes(&vs_api, "vs", &[primary(100, 0)]).await;
    assert_eq!(
        selector_hash(client, NS, "canary-service").await,
        Some(rev3.clone())
    );
    runner.stop().await;
}

/// S26 TestIstioHostHeaderRoute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s26_istio_header_route() {
    const NS: &str = "s26";
    let header = |regex: &str| {
        json!({"setHeaderRoute": {"name": "set-header-1",
            "match": [{"headerName": "agent", "headerValue": {"regex": regex}}]}})
    };
    let steps = json!([
        {"setWeight": 20}, header("firefox(.*)"), {"pause": {}},
        header("chrome(.*)"), {"pause": {}},
        {"setWeight": 40}, {"setHeaderRoute": {"name": "set-header-1"}}, {"pause": {}}
    ]);
    let cluster = host_level(
        NS,
        5,
        &primary_route(80, 20),
        &host_canary(&["set-header-1"], &steps),
    )
    .await;
    let client = &cluster.client;
    let runner = start_namespace_runner(client, NS);
    let vs_api = virtual_services(client, NS);
    wait_healthy(client, NS, ROLLOUT).await;
    wait_routes(&vs_api, "vs", &[primary(100, 0)]).await;

    let header_route = |regex: &str| {
        json!({"name": "set-header-1",
               "match": [{"headers": {"agent": {"regex": regex}}}],
               "route": [{"destination": {"host": "canary-service"}, "weight": 100}]})
    };
    let with_header = [
        route("set-header-1", &[("canary-service", 100)]),
        primary(80, 20),
    ];
    set_image(client, NS, ROLLOUT, "nginx:2").await;
    wait_paused_at(&cluster, NS, 2).await;
    let vs = wait_routes(&vs_api, "vs", &with_header).await;
    assert_eq!(vs["spec"]["http"][0], header_route("firefox(.*)"));

    cluster.plugin(NS, &["promote", ROLLOUT]).await;
    wait_paused_at(&cluster, NS, 4).await;
    let vs = wait_routes(&vs_api, "vs", &with_header).await;
    assert_eq!(vs["spec"]["http"][0], header_route("chrome(.*)"));

    cluster.plugin(NS, &["promote", ROLLOUT]).await;
    wait_paused_at(&cluster, NS, 7).await;
    wait_routes(&vs_api, "vs", &[primary(60, 40)]).await;

    cluster.plugin(NS, &["promote", ROLLOUT, "--full"]).await;
    wait_healthy(client, NS, ROLLOUT).await;
    wait_routes(&vs_api, "vs", &[primary(100, 0)]).await;
    runner.stop().await;
}

/// S27 TestIstioHostMirrorRoute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s27_istio_mirror_routes() {
    const NS: &str = "s27";
    let mirror = |name: &str, percentage: i64, matches: &Value| json!({"setMirrorRoute": {"name": name, "percentage": percentage, "match": matches}});
    let steps = json!([
        {"setWeight": 20},
        mirror("mirror-route-1", 100, &json!([{"path": {"prefix": "/"}}])),
        mirror("mirror-route-2", 80,
               &json!([{"path": {"prefix": "/"}, "method": {"exact": "GET"}}])),
        {"pause": {}},
        mirror("mirror-route-1", 100, &json!([{"path": {"prefix": "/rewrite"}}])),
        {"pause": {}},
        {"setWeight": 40}, {"setMirrorRoute": {"name": "mirror-route-1"}}, {"pause": {}}
    ]);
    let cluster = host_level(
        NS,
        5,
        &primary_route(80, 20),
        &host_canary(&["mirror-route-1", "mirror-route-2"], &steps),
    )
    .await;
    let client = &cluster.client;
    let runner = start_namespace_runner(client, NS);
    let vs_api = virtual_services(client, NS);
    wait_healthy(client, NS, ROLLOUT).await;
    wait_routes(&vs_api, "vs", &[primary(100, 0)]).await;
    let weighted = |name: &str, stable: i64, canary: i64| {
        route(
            name,
            &[("stable-service", stable), ("canary-service", canary)],
        )
    };

    set_image(client, NS, ROLLOUT, "nginx:2").await;
    wait_paused_at(&cluster, NS, 3).await;
    let vs = wait_routes(
        &vs_api,
        "vs",
        &[
            weighted("mirror-route-1", 80, 20),
            weighted("mirror-route-2", 80, 20),
            primary(80, 20),
        ],
    )
    .await;
    let http = &vs["spec"]["http"];
    assert_eq!(http[0]["mirrorPercentage"], json!({"value": 100}));
    assert_eq!(http[1]["mirrorPercentage"], json!({"value": 80}));
    assert_eq!(
        http[1]["match"],
        json!([{"method": {"exact": "GET"}, "uri": {"prefix": "/"}}])
    );
    assert_eq!(http[0]["mirror"], json!({"host": "canary-service"}));

    promote_at(&cluster, NS, 3).await;
    wait_paused_at(&cluster, NS, 5).await;
    let vs = get_json(&vs_api, "vs").await.unwrap();
    assert_eq!(
        vs["spec"]["http"][0]["match"],
        json!([{"uri": {"prefix": "/rewrite"}}])
    );
    cluster.plugin(NS, &["promote", ROLLOUT]).await;
    wait_paused_at(&cluster, NS, 8).await;
    wait_routes(
        &vs_api,
        "vs",
        &[weighted("mirror-route-2", 60, 40), primary(60, 40)],
    )
    .await;

    cluster.plugin(NS, &["promote", ROLLOUT, "--full"]).await;
    wait_healthy(client, NS, ROLLOUT).await;
    wait_routes(&vs_api, "vs", &[primary(100, 0)]).await;
    runner.stop().await;
}

/// A ping-pong Rollout (`setWeight 25`, `pause`) on `routing`, with Services ping, pong, root.
async fn ping_pong(ns: &str, routing: &Value) -> Cluster {
    let cluster = cluster(&[ns]).await;
    let client = &cluster.client;
    for service in ["ping", "pong", "root"] {
        create_service(client, ns, service, ROLLOUT, 80).await;
    }
    create_rollout(
        client,
        ns,
        &canary_rollout(
            ROLLOUT,
            1,
            "nginx:1",
            &json!({"pingPong": {"pingService": "ping", "pongService": "pong"},
                    "trafficRouting": routing,
                    "steps": [{"setWeight": 25}, {"pause": {}}]}),
        ),
    )
    .await;
    cluster
}

/// S28: two promoted updates; `split` reads (ping weight, pong weight) from the router.
async fn play_ping_pong<F, Fut>(cluster: &Cluster, ns: &str, split: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<(i64, i64)>>,
{
    let client = &cluster.client;
    let wait_split = |want: (i64, i64)| {
        let split = &split;
        async move {
            eventually(&format!("ping/pong at {want:?}"), || async {
                (split().await == Some(want)).then_some(())
            })
            .await;
        }
    };
    let runner = start_namespace_runner(client, ns);
    let healthy = wait_healthy(client, ns, ROLLOUT).await;
    let rev1 = healthy["stableRS"].as_str().unwrap().to_owned();
    assert_eq!(healthy["canary"]["stablePingPong"], "ping");
    wait_split((100, 0)).await;
    assert_eq!(selector_hash(client, ns, "ping").await, Some(rev1.clone()));

    set_image(client, ns, ROLLOUT, "nginx:2").await;
    let paused = wait_paused_at(cluster, ns, 1).await;
    let rev2 = paused["currentPodHash"].as_str().unwrap().to_owned();
    wait_split((75, 25)).await;
    assert_eq!(selector_hash(client, ns, "pong").await, Some(rev2.clone()));
    assert_eq!(selector_hash(client, ns, "ping").await, Some(rev1.clone()));

    cluster.plugin(ns, &["promote", ROLLOUT]).await;
    let promoted = wait_status(client, ns, ROLLOUT, "rev2 stable on pong", |s| {
        s["phase"] == "Healthy" && s["stableRS"] == rev2.as_str()
    })
    .await;
    assert_eq!(promoted["canary"]["stablePingPong"], "pong");
    wait_split((0, 100)).await;
    // No selector swap: ping still selects rev1, pong rev2.
    assert_eq!(selector_hash(client, ns, "ping").await, Some(rev1.clone()));
    assert_eq!(selector_hash(client, ns, "pong").await, Some(rev2.clone()));

    set_image(client, ns, ROLLOUT, "nginx:3").await;
    let paused = wait_status(client, ns, ROLLOUT, "paused on rev3", |s| {
        s["phase"] == "Paused" && s["currentPodHash"] != rev2.as_str()
    })
    .await;
    let rev3 = paused["currentPodHash"].as_str().unwrap().to_owned();
    wait_split((25, 75)).await;
    assert_eq!(selector_hash(client, ns, "ping").await, Some(rev3.clone()));

    cluster.plugin(ns, &["promote", ROLLOUT]).await;
    let promoted = wait_status(client, ns, ROLLOUT, "rev3 stable on ping", |s| {
        s["phase"] == "Healthy" && s["stableRS"] == rev3.as_str()
    })
    .await;
    assert_eq!(promoted["canary"]["stablePingPong"], "ping");
    wait_split((100, 0)).await;
    runner.stop().await;
}

/// S28 TestIstioPingPongUpdate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s28_istio_ping_pong() {
    const NS: &str = "s28-istio";
    let cluster = ping_pong(
        NS,
        &json!({"istio": {"virtualService": {"name": "vs", "routes": ["primary"]}}}),
    )
    .await;
    cluster.install_istio().await;
    let vs_api = virtual_services(&cluster.client, NS);
    create_dynamic(
        &vs_api,
        virtual_service(
            "vs",
            &json!([{"name": "primary", "route": [
                {"destination": {"host": "ping"}, "weight": 100},
                {"destination": {"host": "pong"}, "weight": 0}]}]),
        ),
    )
    .await;
    play_ping_pong(&cluster, NS, || async {
        let vs = get_json(&vs_api, "vs").await?;
        let routes = http_routes(&vs);
        let weight = |host: &str| {
            routes
                .first()?
                .1
                .iter()
                .find(|(h, _)| h == host)
                .map(|(_, w)| *w)
        };
        Some((weight("ping")?, weight("pong")?))
    })
    .await;
}

/// An ALB Ingress `ingress` whose only rule forwards to the action of `root`.
async fn create_alb_ingress(api: &Api<DynamicObject>, root: &str) {
    create_dynamic(
        api,
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": "ingress",
                            "annotations": {"kubernetes.io/ingress.class": "alb"}},
               "spec": {"rules": [{"http": {"paths": [
                   {"path": "/*", "pathType": "ImplementationSpecific",
                    "backend": {"service": {"name": root,
                                            "port": {"name": "use-annotation"}}}}]}}]}}),
    )
    .await;
}

/// (service, weight) of each target group of the forward action annotation `key`.
fn target_groups(ingress: &Value, key: &str) -> Option<Vec<(String, i64)>> {
    let action: Value =
        serde_json::from_str(ingress["metadata"]["annotations"][key].as_str()?).ok()?;
    action["ForwardConfig"]["TargetGroups"]
        .as_array()?
        .iter()
        .map(|g| Some((g["ServiceName"].as_str()?.to_owned(), g["Weight"].as_i64()?)))
        .collect()
}

/// S28 TestALBPingPongUpdate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s28_alb_ping_pong() {
    const NS: &str = "s28-alb";
    let cluster = ping_pong(
        NS,
        &json!({"alb": {"ingress": "ingress", "rootService": "root", "servicePort": 80}}),
    )
    .await;
    let api = ingresses(&cluster.client, NS);
    create_alb_ingress(&api, "root").await;
    play_ping_pong(&cluster, NS, || async {
        let ingress = get_json(&api, "ingress").await?;
        let groups = target_groups(&ingress, "alb.ingress.kubernetes.io/actions.root")?;
        let weight = |service: &str| groups.iter().find(|(s, _)| s == service).map(|(_, w)| *w);
        Some((weight("ping")?, weight("pong")?))
    })
    .await;
}

/// S29 TestAlbHeaderRoute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s29_alb_header_route() {
    const NS: &str = "s29";
    let cluster = cluster(&[NS]).await;
    let client = &cluster.client;
    for service in ["stable-service", "canary-service", "action1"] {
        create_service(client, NS, service, ROLLOUT, 8080).await;
    }
    let api = ingresses(client, NS);
    create_alb_ingress(&api, "action1").await;
    create_rollout(
        client,
        NS,
        &canary_rollout(
            ROLLOUT,
            5,
            "nginx:1",
            &json!({
                "canaryService": "canary-service", "stableService": "stable-service",
                "scaleDownDelaySeconds": 5,
                "trafficRouting": {"managedRoutes": [{"name": "header-route"}],
                    "alb": {"ingress": "ingress", "rootService": "action1", "servicePort": 8080}},
                "steps": [
                    {"setWeight": 20}, {"pause": {}},
                    {"setHeaderRoute": {"name": "header-route", "match": [
                        {"headerName": "Custom-Header", "headerValue": {"exact": "Mozilla*"}}]}},
                    {"pause": {}},
                    {"setHeaderRoute": {"name": "header-route"}},
                    {"pause": {}}
                ]
            }),
        ),
    )
    .await;
    let runner = start_namespace_runner(client, NS);
    let action1 = "alb.ingress.kubernetes.io/actions.action1";
    let header_action = "alb.ingress.kubernetes.io/actions.header-route";
    let header_condition = "alb.ingress.kubernetes.io/conditions.header-route";
    let split = |canary: i64| {
        vec![
            ("canary-service".to_owned(), canary),
            ("stable-service".to_owned(), 100 - canary),
        ]
    };
    let wait_action1 = |canary: i64| {
        let api = api.clone();
        let want = split(canary);
        async move {
            eventually(&format!("action1 at {canary}"), || async {
                let ingress = get_json(&api, "ingress").await?;
                (target_groups(&ingress, action1) == Some(want.clone())).then_some(ingress)
            })
            .await
        }
    };
    let paths = |ingress: &Value| -> Vec<String> {
        ingress["spec"]["rules"][0]["http"]["paths"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p["backend"]["service"]["name"].as_str().map(str::to_owned))
            .collect()
    };
    wait_healthy(client, NS, ROLLOUT).await;
    let ingress = wait_action1(0).await;
    assert!(ingress["metadata"]["annotations"][header_action].is_null());

    set_image(client, NS, ROLLOUT, "nginx:2").await;
    wait_paused_at(&cluster, NS, 1).await;
    wait_action1(20).await;

    cluster.plugin(NS, &["promote", ROLLOUT]).await;
    wait_paused_at(&cluster, NS, 3).await;
    let ingress = eventually("header route written", || async {
        let ingress = get_json(&api, "ingress").await?;
        ingress["metadata"]["annotations"][header_action]
            .is_string()
            .then_some(ingress)
    })
    .await;
    let annotations = &ingress["metadata"]["annotations"];
    assert_eq!(
        annotations[header_action],
        "{\"Type\":\"forward\",\"ForwardConfig\":{\"TargetGroups\":[{\"ServiceName\":\
         \"canary-service\",\"ServicePort\":\"8080\",\"Weight\":100}]}}"
    );
    assert_eq!(
        annotations[header_condition],
        "[{\"field\":\"http-header\",\"httpHeaderConfig\":{\"httpHeaderName\":\
         \"Custom-Header\",\"values\":[\"Mozilla*\"]}}]"
    );
    assert_eq!(paths(&ingress), vec!["header-route", "action1"]);
    assert_eq!(target_groups(&ingress, action1), Some(split(20)));

    cluster.plugin(NS, &["promote", ROLLOUT]).await;
    wait_paused_at(&cluster, NS, 5).await;
    let ingress = eventually("header route removed", || async {
        let ingress = get_json(&api, "ingress").await?;
        let annotations = &ingress["metadata"]["annotations"];
        (annotations[header_action].is_null()
            && annotations[header_condition].is_null()
            && paths(&ingress) == vec!["action1"])
        .then_some(ingress)
    })
    .await;
    assert_eq!(target_groups(&ingress, action1), Some(split(20)));
    runner.stop().await;
}
