//! Table tests of the weighted experiment destinations (spec §5.7) across the routers: the S25
//! ALB and SMI equivalents, and removal once the experiment is gone.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::{
    DesiredTraffic, ExperimentDestination, ObjectKey, RouterKind, TrafficChange, TrafficObjects,
    router_changes_with_experiments,
};
use crate::crd::Rollout;

fn rollout(routing: &Value) -> Rollout {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "demo", "namespace": "shop", "uid": "u-1"},
        "spec": {"strategy": {"canary": {
            "canaryService": "demo-canary", "stableService": "demo-stable",
            "trafficRouting": routing}}}
    }))
    .unwrap()
}

fn desired(rollout: &Rollout, weight: i32) -> DesiredTraffic<'_> {
    DesiredTraffic {
        rollout,
        canary_service: "demo-canary",
        stable_service: "demo-stable",
        canary_weight: weight,
        max_weight: 100,
        remove_managed_routes: false,
        route_step: None,
        canary_hash: "c",
        stable_hash: "s",
    }
}

fn experiment(weight: i32) -> Vec<ExperimentDestination> {
    vec![ExperimentDestination {
        service: "demo-exp".to_owned(),
        pod_template_hash: "e".to_owned(),
        weight,
    }]
}

fn key(kind: RouterKind, name: &str) -> ObjectKey {
    ObjectKey {
        kind,
        namespace: "shop".to_owned(),
        name: name.to_owned(),
    }
}

fn only_patch(changes: &[TrafficChange]) -> &Value {
    assert_eq!(changes.len(), 1, "{changes:?}");
    match &changes[0] {
        TrafficChange::Patch { patch, .. } => patch,
        TrafficChange::Create { object, .. } => object,
    }
}

/// TestALBExperimentStep: TargetGroups canary 10, experiment 20, stable 70, port "80"; without
/// the experiment the action is back to two groups.
#[test]
fn alb_action_carries_the_experiment_target_group() {
    let r = rollout(&json!({"alb": {"ingress": "web", "servicePort": 80}}));
    let mut objects = TrafficObjects::default();
    objects.objects.insert(
        key(RouterKind::Ingress, "web"),
        json!({"metadata": {"name": "web"}, "spec": {"rules": [{"http": {"paths": [
            {"path": "/*", "backend": {"service": {"name": "demo-stable",
                                                    "port": {"name": "use-annotation"}}}}]}}]}}),
    );
    let changes =
        router_changes_with_experiments(&desired(&r, 10), &experiment(20), &objects).unwrap();
    let patch = only_patch(&changes);
    let action: Value = serde_json::from_str(
        patch["metadata"]["annotations"]["alb.ingress.kubernetes.io/actions.demo-stable"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        action["ForwardConfig"]["TargetGroups"],
        json!([
            {"ServiceName": "demo-canary", "ServicePort": "80", "Weight": 10},
            {"ServiceName": "demo-exp", "ServicePort": "80", "Weight": 20},
            {"ServiceName": "demo-stable", "ServicePort": "80", "Weight": 70}
        ])
    );
    // Applied, the same desire plans nothing; without the experiment, two groups again.
    let ingress = objects
        .objects
        .get_mut(&key(RouterKind::Ingress, "web"))
        .unwrap();
    json_patch::merge(ingress, patch);
    assert!(
        router_changes_with_experiments(&desired(&r, 10), &experiment(20), &objects)
            .unwrap()
            .is_empty()
    );
    let changes = router_changes_with_experiments(&desired(&r, 0), &[], &objects).unwrap();
    let patch = only_patch(&changes);
    let action: Value = serde_json::from_str(
        patch["metadata"]["annotations"]["alb.ingress.kubernetes.io/actions.demo-stable"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        action["ForwardConfig"]["TargetGroups"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// TestSMIExperimentStep: three backends `[canary 5, <experiment svc> 5, stable 90]`, back to
/// two backends 0/100 after promotion.
#[test]
fn smi_split_gets_a_third_backend() {
    let r = rollout(&json!({"smi": {}}));
    for (api_version, w5, w90) in [
        ("split.smi-spec.io/v1alpha1", json!("5"), json!("90")),
        ("split.smi-spec.io/v1alpha3", json!(5), json!(90)),
    ] {
        let mut objects = TrafficObjects::default();
        objects
            .served
            .insert(RouterKind::TrafficSplit, api_version.to_owned());
        let changes =
            router_changes_with_experiments(&desired(&r, 5), &experiment(5), &objects).unwrap();
        let TrafficChange::Create { object, .. } = &changes[0] else {
            panic!("expected a create: {changes:?}");
        };
        assert_eq!(
            object["spec"]["backends"],
            json!([{"service": "demo-canary", "weight": w5},
                   {"service": "demo-exp", "weight": w5},
                   {"service": "demo-stable", "weight": w90}])
        );
        objects
            .objects
            .insert(key(RouterKind::TrafficSplit, "demo"), object.clone());
        assert!(
            router_changes_with_experiments(&desired(&r, 5), &experiment(5), &objects)
                .unwrap()
                .is_empty()
        );
        let changes = router_changes_with_experiments(&desired(&r, 0), &[], &objects).unwrap();
        let patch = only_patch(&changes);
        assert_eq!(patch["spec"]["backends"].as_array().unwrap().len(), 2);
        assert_eq!(patch["spec"]["backends"][1]["service"], "demo-stable");
    }
}

/// Istio host split: the experiment destination is appended at its weight and the stable
/// destination gives it up; once the experiment is gone it is deleted from the route.
#[test]
fn istio_route_appends_then_drops_the_experiment_destination() {
    let r = rollout(&json!({"istio": {"virtualService": {"name": "vs"}}}));
    let mut objects = TrafficObjects::default();
    objects.served.insert(
        RouterKind::VirtualService,
        "networking.istio.io/v1beta1".to_owned(),
    );
    objects.objects.insert(
        key(RouterKind::VirtualService, "vs"),
        json!({"metadata": {"name": "vs", "resourceVersion": "4"},
               "spec": {"http": [{"route": [
                   {"destination": {"host": "demo-stable"}, "weight": 90},
                   {"destination": {"host": "demo-canary"}, "weight": 10}]}]}}),
    );
    let changes =
        router_changes_with_experiments(&desired(&r, 10), &experiment(20), &objects).unwrap();
    let patch = only_patch(&changes);
    assert_eq!(patch["metadata"]["resourceVersion"], "4");
    assert_eq!(
        patch["spec"]["http"][0]["route"],
        json!([{"destination": {"host": "demo-stable"}, "weight": 70},
               {"destination": {"host": "demo-canary"}, "weight": 10},
               {"destination": {"host": "demo-exp"}, "weight": 20}])
    );
    let vs = objects
        .objects
        .get_mut(&key(RouterKind::VirtualService, "vs"))
        .unwrap();
    json_patch::merge(vs, patch);
    assert!(
        router_changes_with_experiments(&desired(&r, 10), &experiment(20), &objects)
            .unwrap()
            .is_empty()
    );
    let changes = router_changes_with_experiments(&desired(&r, 0), &[], &objects).unwrap();
    assert_eq!(
        only_patch(&changes)["spec"]["http"][0]["route"],
        json!([{"destination": {"host": "demo-stable"}, "weight": 100},
               {"destination": {"host": "demo-canary"}, "weight": 0}])
    );
}
