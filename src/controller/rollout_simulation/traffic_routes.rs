//! §8 router route-shape scenarios played in the parent module's [`World`]: Istio subset-level
//! routing and its release when `trafficRouting` is removed (S22), an update in the middle of a
//! weight-0 canary (S24), Istio header and mirror routes with their ordering and removal (S26,
//! S27), ping-pong Services on Istio and ALB (S28) and the ALB header route (S29). The router
//! objects live in the world's `traffic` map and are changed only by the planner's
//! `Action::Traffic` patches.

use serde_json::{Value, json};

use super::{World, rollout, service};
use crate::controller::traffic::{ObjectKey, RouterKind};

const ALB_PREFIX: &str = "alb.ingress.kubernetes.io";

impl World {
    /// Serves `kind` and stores `object` under its name; returns its key.
    fn put_router(&mut self, kind: RouterKind, api_version: &str, object: Value) -> ObjectKey {
        let key = ObjectKey {
            kind,
            namespace: "default".to_owned(),
            name: object["metadata"]["name"].as_str().unwrap().to_owned(),
        };
        self.traffic.served.insert(kind, api_version.to_owned());
        self.traffic.objects.insert(key.clone(), object);
        key
    }

    fn router(&self, key: &ObjectKey) -> &Value {
        &self.traffic.objects[key]
    }

    /// The http routes of a VirtualService as (name, [(host or subset, weight)]).
    fn http_routes(&self, key: &ObjectKey) -> Vec<(String, Vec<(String, i64)>)> {
        self.router(key)["spec"]["http"]
            .as_array()
            .unwrap()
            .iter()
            .map(|route| {
                let destinations = route["route"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| {
                        let target = d["destination"]["subset"]
                            .as_str()
                            .or_else(|| d["destination"]["host"].as_str())
                            .unwrap();
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

    /// An annotation of a router object.
    fn router_annotation(&self, key: &ObjectKey, name: &str) -> Option<String> {
        self.router(key)["metadata"]["annotations"][name]
            .as_str()
            .map(str::to_owned)
    }

    /// `kubectl argo rollouts promote --full`.
    fn promote_full(&mut self) {
        self.patch_status(&json!({"promoteFull": true}));
    }

    fn stable_ping_pong(&self) -> Option<String> {
        self.status().canary.and_then(|c| c.stable_ping_pong)
    }
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

fn virtual_service(http: &Value) -> Value {
    json!({"apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
           "metadata": {"name": "vs", "namespace": "default"},
           "spec": {"hosts": ["demo"], "http": http}})
}

/// The subset-level world of S22: one VirtualService routing to the `stable` / `canary`
/// subsets of the DestinationRule `dr`, no canary/stable Services.
fn subset_world(routes: Option<&[&str]>) -> (World, ObjectKey, ObjectKey) {
    let mut vs_ref = json!({"name": "vs"});
    let mut primary = json!({"route": [
        {"destination": {"host": "demo", "subset": "stable"}, "weight": 100},
        {"destination": {"host": "demo", "subset": "canary"}, "weight": 0}]});
    if let Some(routes) = routes {
        vs_ref["routes"] = json!(routes);
        primary["name"] = json!(routes[0]);
    }
    let canary = json!({
        "trafficRouting": {"istio": {"virtualService": vs_ref,
            "destinationRule": {"name": "dr", "canarySubsetName": "canary",
                                "stableSubsetName": "stable"}}},
        "steps": [{"setWeight": 10}, {"pause": {}}]
    });
    let mut world = World::new(rollout(1, &canary));
    world.services = vec![service("demo")];
    let api = "networking.istio.io/v1alpha3";
    let vs = world.put_router(
        RouterKind::VirtualService,
        api,
        virtual_service(&json!([primary])),
    );
    let dr = world.put_router(
        RouterKind::DestinationRule,
        api,
        json!({"apiVersion": api, "kind": "DestinationRule",
               "metadata": {"name": "dr", "namespace": "default"},
               "spec": {"host": "demo", "subsets": [
                   {"name": "canary", "labels": {"app": "demo"}},
                   {"name": "stable", "labels": {"app": "demo"}}]}}),
    );
    (world, vs, dr)
}

/// (subset name, hash label) of each DestinationRule subset.
fn subset_hashes(world: &World, dr: &ObjectKey) -> Vec<(String, Option<String>)> {
    world.router(dr)["spec"]["subsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["labels"]["rollouts-pod-template-hash"]
                    .as_str()
                    .map(str::to_owned),
            )
        })
        .collect()
}

/// S22 up to the promotion: 100/0 on rev1, 90/10 with the subsets on rev2/rev1, 100/0 on rev2.
fn play_subset_split(world: &mut World, vs: &ObjectKey, dr: &ObjectKey, route_name: &str) {
    let split = |world: &World, stable: i64, canary: i64| {
        assert_eq!(
            world.http_routes(vs),
            vec![route(route_name, &[("stable", stable), ("canary", canary)])]
        );
    };
    let pair = |canary: &str, stable: &str| {
        vec![
            ("canary".to_owned(), Some(canary.to_owned())),
            ("stable".to_owned(), Some(stable.to_owned())),
        ]
    };
    world.settle();
    assert_eq!(world.phase().0, "Healthy");
    let rev1 = world.hash_of("nginx:1");
    assert_eq!(subset_hashes(world, dr), pair(&rev1, &rev1));
    split(world, 100, 0);
    assert_eq!(
        world
            .router_annotation(dr, "argo-rollouts.argoproj.io/managed-by-rollouts")
            .as_deref(),
        Some("demo")
    );

    world.set_image("nginx:2");
    world.settle();
    let rev2 = world.hash_of("nginx:2");
    assert_eq!(
        world.phase(),
        ("Paused".to_owned(), "CanaryPauseStep".to_owned())
    );
    split(world, 90, 10);
    assert_eq!(subset_hashes(world, dr), pair(&rev2, &rev1));

    world.promote();
    world.settle();
    assert_eq!(world.phase().0, "Healthy");
    split(world, 100, 0);
    assert_eq!(subset_hashes(world, dr), pair(&rev2, &rev2));
    // The previous stable keeps its pod through the scale-down delay.
    assert_eq!((world.pods("nginx:1"), world.pods("nginx:2")), (1, 1));
}

/// S22 TestIstioSubsetSplit: subsets follow the revisions, and removing `trafficRouting` hands
/// the DestinationRule back (no annotation, no hash labels) and scales the old revision away as
/// a basic canary would.
#[test]
fn s22_istio_subset_split_and_traffic_routing_removal() {
    let (mut world, vs, dr) = subset_world(Some(&["primary"]));
    play_subset_split(&mut world, &vs, &dr, "primary");

    world.edit_spec(&json!({"strategy": {"canary": {"trafficRouting": null}}}));
    world.settle();
    assert_eq!(world.phase().0, "Healthy");
    assert_eq!(
        world.router_annotation(&dr, "argo-rollouts.argoproj.io/managed-by-rollouts"),
        None
    );
    assert_eq!(
        subset_hashes(&world, &dr),
        vec![("canary".to_owned(), None), ("stable".to_owned(), None)]
    );
    // Other labels and the subsets themselves stay.
    assert_eq!(
        world.router(&dr)["spec"]["subsets"][0]["labels"]["app"],
        "demo"
    );
    assert_eq!((world.pods("nginx:1"), world.pods("nginx:2")), (0, 1));
    assert!(world.status().canary.unwrap().weights.is_none());
}

/// S22 TestIstioSubsetSplitSingleRoute: a VirtualService with one unnamed route and no
/// `routes` in the reference behaves the same.
#[test]
fn s22_istio_subset_split_single_route() {
    let (mut world, vs, dr) = subset_world(None);
    play_subset_split(&mut world, &vs, &dr, "");
}

/// S24 TestIstioUpdateInMiddleZeroCanaryReplicas: a second update while paused at weight 0
/// with one canary pod moves that pod to the newest revision and pauses again at weight 0.
#[test]
fn s24_istio_update_in_the_middle_with_zero_weight() {
    let canary = json!({
        "canaryService": "demo-canary", "stableService": "demo-stable",
        "trafficRouting": {"istio": {"virtualService": {"name": "vs", "routes": ["primary"]}}},
        "steps": [{"setWeight": 0}, {"setCanaryScale": {"replicas": 1}}, {"pause": {}}]
    });
    let mut world = World::new(rollout(2, &canary));
    world.services = vec![service("demo-stable"), service("demo-canary")];
    let vs = world.put_router(
        RouterKind::VirtualService,
        "networking.istio.io/v1alpha3",
        virtual_service(&json!([{"name": "primary", "route": [
            {"destination": {"host": "demo-stable"}, "weight": 100},
            {"destination": {"host": "demo-canary"}, "weight": 0}]}])),
    );
    let at_zero = vec![route(
        "primary",
        &[("demo-stable", 100), ("demo-canary", 0)],
    )];
    world.settle();
    assert_eq!(world.phase().0, "Healthy");

    world.set_image("nginx:2");
    world.settle();
    assert_eq!(
        world.phase(),
        ("Paused".to_owned(), "CanaryPauseStep".to_owned())
    );
    assert_eq!((world.pods("nginx:1"), world.pods("nginx:2")), (2, 1));
    assert_eq!(world.http_routes(&vs), at_zero);

    world.set_image("nginx:3");
    // While the newest canary has no available pod the weight is 0 for it.
    world.settle_with(false);
    let weights = world.status().canary.unwrap().weights.unwrap();
    assert_eq!(weights.canary.weight, 0);
    world.settle();
    assert_eq!(
        world.phase(),
        ("Paused".to_owned(), "CanaryPauseStep".to_owned())
    );
    assert_eq!(world.status().current_step_index, Some(2));
    assert_eq!(
        (
            world.pods("nginx:1"),
            world.pods("nginx:2"),
            world.pods("nginx:3")
        ),
        (2, 0, 1)
    );
    assert_eq!(world.http_routes(&vs), at_zero);
    let rev3 = world.hash_of("nginx:3");
    assert_eq!(world.selector_of("demo-canary"), rev3);
    let weights = world.status().canary.unwrap().weights.unwrap();
    assert_eq!(
        (weights.canary.weight, weights.canary.pod_template_hash),
        (0, Some(rev3))
    );
}

/// The host-level world of S26/S27: Services `canary-service` / `stable-service`, route
/// `primary` at stable 80 / canary 20 as the reference's manifests write it, R=5.
fn managed_route_world(managed: &[&str], steps: &Value) -> (World, ObjectKey) {
    let managed: Vec<Value> = managed.iter().map(|n| json!({"name": n})).collect();
    let canary = json!({
        "canaryService": "canary-service", "stableService": "stable-service",
        "trafficRouting": {"managedRoutes": managed,
            "istio": {"virtualService": {"name": "vs", "routes": ["primary"]}}},
        "steps": steps
    });
    let mut world = World::new(rollout(5, &canary));
    world.services = vec![service("stable-service"), service("canary-service")];
    let vs = world.put_router(
        RouterKind::VirtualService,
        "networking.istio.io/v1alpha3",
        virtual_service(&json!([{"name": "primary", "route": [
            {"destination": {"host": "stable-service"}, "weight": 80},
            {"destination": {"host": "canary-service"}, "weight": 20}]}])),
    );
    (world, vs)
}

fn primary(stable: i64, canary: i64) -> (String, Vec<(String, i64)>) {
    route(
        "primary",
        &[("stable-service", stable), ("canary-service", canary)],
    )
}

/// S26 TestIstioHostHeaderRoute: the header route goes first while its steps are in force, is
/// replaced by the next `setHeaderRoute`, removed by one without `match`, and the weighted route
/// ends at 100/0 after `promote --full`.
#[test]
fn s26_istio_header_route() {
    let header = |regex: &str| {
        json!({"setHeaderRoute": {"name": "set-header-1",
            "match": [{"headerName": "agent", "headerValue": {"regex": regex}}]}})
    };
    let steps = json!([
        {"setWeight": 20}, header("firefox(.*)"), {"pause": {}},
        header("chrome(.*)"), {"pause": {}},
        {"setWeight": 40}, {"setHeaderRoute": {"name": "set-header-1"}}, {"pause": {}}
    ]);
    let (mut world, vs) = managed_route_world(&["set-header-1"], &steps);
    world.settle();
    assert_eq!(world.phase().0, "Healthy");
    assert_eq!(world.http_routes(&vs), vec![primary(100, 0)]);

    let header_route = |regex: &str| {
        json!({"name": "set-header-1",
               "match": [{"headers": {"agent": {"regex": regex}}}],
               "route": [{"destination": {"host": "canary-service"}, "weight": 100}]})
    };
    world.set_image("nginx:2");
    world.settle();
    assert_eq!(world.phase().0, "Paused");
    assert_eq!(world.status().current_step_index, Some(2));
    assert_eq!(
        world.router(&vs)["spec"]["http"][0],
        header_route("firefox(.*)")
    );
    assert_eq!(world.http_routes(&vs)[1], primary(80, 20));

    world.promote();
    world.settle();
    assert_eq!(world.status().current_step_index, Some(4));
    assert_eq!(world.http_routes(&vs).len(), 2);
    assert_eq!(
        world.router(&vs)["spec"]["http"][0],
        header_route("chrome(.*)")
    );

    world.promote();
    world.settle();
    assert_eq!(world.phase().0, "Paused");
    assert_eq!(world.status().current_step_index, Some(7));
    assert_eq!(world.http_routes(&vs), vec![primary(60, 40)]);

    world.promote_full();
    world.settle();
    assert_eq!(world.phase().0, "Healthy");
    assert_eq!(world.http_routes(&vs), vec![primary(100, 0)]);
}

/// S27 TestIstioHostMirrorRoute: mirror routes are prepended in `managedRoutes` order, carry
/// the weighted split and follow it, and only `primary` is left after `promote --full`.
#[test]
fn s27_istio_mirror_routes() {
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
    let (mut world, vs) = managed_route_world(&["mirror-route-1", "mirror-route-2"], &steps);
    world.settle();
    assert_eq!(world.http_routes(&vs), vec![primary(100, 0)]);

    world.set_image("nginx:2");
    world.settle();
    assert_eq!(world.phase().0, "Paused");
    assert_eq!(world.status().current_step_index, Some(3));
    let weighted = |name: &str, stable: i64, canary: i64| {
        route(
            name,
            &[("stable-service", stable), ("canary-service", canary)],
        )
    };
    assert_eq!(
        world.http_routes(&vs),
        vec![
            weighted("mirror-route-1", 80, 20),
            weighted("mirror-route-2", 80, 20),
            primary(80, 20)
        ]
    );
    let http = &world.router(&vs)["spec"]["http"];
    assert_eq!(http[0]["mirrorPercentage"], json!({"value": 100}));
    assert_eq!(http[0]["match"], json!([{"uri": {"prefix": "/"}}]));
    assert_eq!(http[1]["mirrorPercentage"], json!({"value": 80}));
    assert_eq!(
        http[1]["match"],
        json!([{"method": {"exact": "GET"}, "uri": {"prefix": "/"}}])
    );
    for i in 0..2 {
        assert_eq!(http[i]["mirror"], json!({"host": "canary-service"}));
    }

    world.promote();
    world.settle();
    assert_eq!(world.status().current_step_index, Some(5));
    assert_eq!(
        world.router(&vs)["spec"]["http"][0]["match"],
        json!([{"uri": {"prefix": "/rewrite"}}])
    );
    world.promote();
    world.settle();
    assert_eq!(world.status().current_step_index, Some(8));
    assert_eq!(
        world.http_routes(&vs),
        vec![weighted("mirror-route-2", 60, 40), primary(60, 40)]
    );

    world.promote_full();
    world.settle();
    assert_eq!(world.phase().0, "Healthy");
    assert_eq!(world.http_routes(&vs), vec![primary(100, 0)]);
}

/// The ping-pong canary block of S28 with the given router.
fn ping_pong_rollout(routing: &Value) -> World {
    let canary = json!({
        "pingPong": {"pingService": "ping", "pongService": "pong"},
        "trafficRouting": routing,
        "steps": [{"setWeight": 25}, {"pause": {}}]
    });
    let mut world = World::new(rollout(1, &canary));
    world.services = vec![service("ping"), service("pong"), service("root")];
    world
}

/// Plays S28 (two updates, each promoted) and checks `split` = (ping weight, pong weight) at
/// every stop, the roles in `stablePingPong`, and that no selector is swapped back.
fn play_ping_pong(world: &mut World, split: &dyn Fn(&World) -> (i64, i64)) {
    world.settle();
    assert_eq!(world.phase().0, "Healthy");
    let rev1 = world.hash_of("nginx:1");
    assert_eq!(world.stable_ping_pong().as_deref(), Some("ping"));
    assert_eq!(split(world), (100, 0));
    assert_eq!(world.selector_of("ping"), rev1);

    world.set_image("nginx:2");
    world.settle();
    let rev2 = world.hash_of("nginx:2");
    assert_eq!(world.phase().0, "Paused");
    assert_eq!(split(world), (75, 25));
    assert_eq!(world.selector_of("ping"), rev1);
    assert_eq!(world.selector_of("pong"), rev2);
    let weights = world.status().canary.unwrap().weights.unwrap();
    assert_eq!(weights.canary.service_name.as_deref(), Some("pong"));
    assert_eq!(weights.stable.service_name.as_deref(), Some("ping"));

    world.promote();
    world.settle();
    assert_eq!(world.phase().0, "Healthy");
    assert_eq!(world.stable_ping_pong().as_deref(), Some("pong"));
    assert_eq!(split(world), (0, 100));
    // The roles swapped; no selector moved back.
    assert_eq!(world.selector_of("ping"), rev1);
    assert_eq!(world.selector_of("pong"), rev2);

    world.set_image("nginx:3");
    world.settle();
    let rev3 = world.hash_of("nginx:3");
    assert_eq!(world.phase().0, "Paused");
    assert_eq!(split(world), (25, 75));
    assert_eq!(world.selector_of("ping"), rev3);
    assert_eq!(world.selector_of("pong"), rev2);

    world.promote();
    world.settle();
    assert_eq!(world.phase().0, "Healthy");
    assert_eq!(world.stable_ping_pong().as_deref(), Some("ping"));
    assert_eq!(split(world), (100, 0));
}

/// S28 TestIstioPingPongUpdate: host-level VirtualService on the ping and pong Services.
#[test]
fn s28_istio_ping_pong() {
    let mut world = ping_pong_rollout(
        &json!({"istio": {"virtualService": {"name": "vs", "routes": ["primary"]}}}),
    );
    let vs = world.put_router(
        RouterKind::VirtualService,
        "networking.istio.io/v1alpha3",
        virtual_service(&json!([{"name": "primary", "route": [
            {"destination": {"host": "ping"}, "weight": 100},
            {"destination": {"host": "pong"}, "weight": 0}]}])),
    );
    play_ping_pong(&mut world, &|world: &World| {
        let routes = world.http_routes(&vs);
        let weight = |host: &str| {
            routes[0]
                .1
                .iter()
                .find(|(h, _)| h == host)
                .map(|(_, w)| *w)
                .unwrap()
        };
        (weight("ping"), weight("pong"))
    });
}

/// An ALB Ingress whose only rule forwards to the action named after `root`.
fn alb_ingress(root: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": "ingress", "namespace": "default",
                        "annotations": {"kubernetes.io/ingress.class": "alb"}},
           "spec": {"rules": [{"http": {"paths": [
               {"path": "/*", "pathType": "ImplementationSpecific",
                "backend": {"service": {"name": root, "port": {"name": "use-annotation"}}}}]}}]}})
}

/// (service, weight) of each target group of a forward action annotation.
fn target_groups(action: &str) -> Vec<(String, i64)> {
    let action: Value = serde_json::from_str(action).unwrap();
    action["ForwardConfig"]["TargetGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["ServiceName"].as_str().unwrap().to_owned(),
                g["Weight"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// S28 TestALBPingPongUpdate: the action annotation of the root Service forwards to ping and
/// pong in their current roles.
#[test]
fn s28_alb_ping_pong() {
    let mut world = ping_pong_rollout(
        &json!({"alb": {"ingress": "ingress", "rootService": "root", "servicePort": 80}}),
    );
    let ingress = world.put_router(
        RouterKind::Ingress,
        "networking.k8s.io/v1",
        alb_ingress("root"),
    );
    play_ping_pong(&mut world, &|world: &World| {
        let action = world
            .router_annotation(&ingress, &format!("{ALB_PREFIX}/actions.root"))
            .unwrap();
        let groups = target_groups(&action);
        let weight = |service: &str| {
            groups
                .iter()
                .find(|(s, _)| s == service)
                .map(|(_, w)| *w)
                .unwrap()
        };
        (weight("ping"), weight("pong"))
    });
}

/// S29 TestAlbHeaderRoute: `actions.header-route` forwards everything to the canary while its
/// step is in force, with the header condition and a `/*` path in front; the step without
/// `match` removes all three; the weighted action stays at 20/80 meanwhile.
#[test]
fn s29_alb_header_route() {
    let canary = json!({
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
    });
    let mut world = World::new(rollout(5, &canary));
    world.services = vec![service("stable-service"), service("canary-service")];
    let ingress = world.put_router(
        RouterKind::Ingress,
        "networking.k8s.io/v1",
        alb_ingress("action1"),
    );
    let action1 = |world: &World| {
        target_groups(
            &world
                .router_annotation(&ingress, &format!("{ALB_PREFIX}/actions.action1"))
                .unwrap(),
        )
    };
    let split = |canary: i64| {
        vec![
            ("canary-service".to_owned(), canary),
            ("stable-service".to_owned(), 100 - canary),
        ]
    };
    let header_action = format!("{ALB_PREFIX}/actions.header-route");
    let header_condition = format!("{ALB_PREFIX}/conditions.header-route");
    let paths = |world: &World| -> Vec<String> {
        world.router(&ingress)["spec"]["rules"][0]["http"]["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["backend"]["service"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    world.settle();
    assert_eq!(world.phase().0, "Healthy");
    assert_eq!(world.router_annotation(&ingress, &header_action), None);
    assert_eq!(action1(&world), split(0));

    world.set_image("nginx:2");
    world.settle();
    assert_eq!(world.phase().0, "Paused");
    assert_eq!(action1(&world), split(20));

    world.promote();
    world.settle();
    assert_eq!(world.status().current_step_index, Some(3));
    assert_eq!(
        world.router_annotation(&ingress, &header_action).as_deref(),
        Some(
            "{\"Type\":\"forward\",\"ForwardConfig\":{\"TargetGroups\":[{\"ServiceName\":\
             \"canary-service\",\"ServicePort\":\"8080\",\"Weight\":100}]}}"
        )
    );
    assert_eq!(
        world
            .router_annotation(&ingress, &header_condition)
            .as_deref(),
        Some(
            "[{\"field\":\"http-header\",\"httpHeaderConfig\":{\"httpHeaderName\":\
             \"Custom-Header\",\"values\":[\"Mozilla*\"]}}]"
        )
    );
    assert_eq!(paths(&world), vec!["header-route", "action1"]);
    assert_eq!(action1(&world), split(20));

    world.promote();
    world.settle();
    assert_eq!(world.status().current_step_index, Some(5));
    assert_eq!(world.router_annotation(&ingress, &header_action), None);
    assert_eq!(world.router_annotation(&ingress, &header_condition), None);
    assert_eq!(paths(&world), vec!["action1"]);
    assert_eq!(action1(&world), split(20));
}
