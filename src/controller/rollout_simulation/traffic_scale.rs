//! Traffic-routed canary scenarios about replica counts and weights (spec §8 S15–S20, S23):
//! `setCanaryScale`, the scale-down delay and its revision limit, the abort scale-down delay,
//! and `dynamicStableScale` on abort and on a rollback to the stable template. The world holds
//! the router object the scenario names (NGINX stable Ingress, ALB Ingress, Istio
//! VirtualService), and a gated kubelet plays the readiness gate the reference tests control:
//! at most N pods of a given image become available.

use super::*;
use crate::controller::traffic::{ObjectKey, RouterKind};

/// `scale-down-deadline`.
const DEADLINE: &str = "scale-down-deadline";

impl World {
    /// A world with `demo-stable` / `demo-canary` Services and one router object.
    fn routed(replicas: i32, canary: &Value, kind: RouterKind, name: &str, object: Value) -> Self {
        let mut world = World::new(rollout(replicas, canary));
        world.services = vec![service("demo-stable"), service("demo-canary")];
        let api_version = match kind {
            RouterKind::VirtualService | RouterKind::DestinationRule => {
                "networking.istio.io/v1alpha3"
            }
            RouterKind::Ingress => "networking.k8s.io/v1",
            RouterKind::TrafficSplit => "split.smi-spec.io/v1alpha3",
        };
        world.traffic.served.insert(kind, api_version.to_owned());
        world.traffic.objects.insert(
            ObjectKey {
                kind,
                namespace: "default".to_owned(),
                name: name.to_owned(),
            },
            object,
        );
        world
    }

    /// An ALB-routed canary over the Ingress `ing` whose rule points at `demo-stable`.
    fn alb(replicas: i32, canary: &Value) -> Self {
        let mut canary = canary.clone();
        canary["canaryService"] = json!("demo-canary");
        canary["stableService"] = json!("demo-stable");
        canary["trafficRouting"] = json!({"alb": {"ingress": "ing", "servicePort": 80}});
        World::routed(replicas, &canary, RouterKind::Ingress, "ing", ingress())
    }

    /// A world whose kubelet is gated: `gate` caps the available pods of an image's
    /// ReplicaSet (the readiness gate of the reference e2e tests); other images are ready.
    fn settle_gated(&mut self, gate: &[(&str, i32)]) {
        for _ in 0..100 {
            for rs in &mut self.replica_sets {
                let spec = rs.spec.replicas.unwrap_or(0);
                let image = World::image_of(rs);
                let cap = gate
                    .iter()
                    .find(|(i, _)| *i == image)
                    .map_or(spec, |(_, n)| *n);
                let available = spec.min(cap);
                rs.status = Some(ReplicaSetStatus {
                    replicas: spec,
                    ready_replicas: Some(available),
                    available_replicas: Some(available),
                    ..ReplicaSetStatus::default()
                });
            }
            let plan = plan(&self.snapshot());
            self.last_requeue = plan.requeue_after;
            if plan.actions.is_empty() {
                return;
            }
            self.apply(&plan);
        }
        panic!(
            "plan did not reach a fixed point; events: {:?}",
            self.events
        );
    }

    /// `kubectl argo rollouts abort`.
    fn abort(&mut self) {
        self.patch_status(&json!({"abort": true}));
    }

    /// The ReplicaSet running `image`.
    fn rs_of(&self, image: &str) -> &ReplicaSet {
        self.replica_sets
            .iter()
            .find(|rs| World::image_of(rs) == image)
            .unwrap()
    }

    /// Its `scale-down-deadline`, if any.
    fn deadline_of(&self, image: &str) -> Option<String> {
        self.rs_of(image).annotations().get(DEADLINE).cloned()
    }

    /// Its `rollout.argoproj.io/revision`.
    fn revision_of(&self, image: &str) -> String {
        self.rs_of(image).annotations()[REVISION_ANNOTATION].clone()
    }

    /// `status.canary.weights` as (canary hash, canary weight, stable hash, stable weight).
    fn weights(&self) -> (String, i32, String, i32) {
        let w = self.status().canary.unwrap().weights.unwrap();
        (
            w.canary.pod_template_hash.unwrap_or_default(),
            w.canary.weight,
            w.stable.pod_template_hash.unwrap_or_default(),
            w.stable.weight,
        )
    }

    fn step(&self) -> Option<i32> {
        self.status().current_step_index
    }

    /// (pods of `nginx:2`, pods of `nginx:1`).
    fn canary_stable(&self) -> (i32, i32) {
        (self.pods("nginx:2"), self.pods("nginx:1"))
    }
}

/// An Ingress with one rule to `demo-stable` (ALB `use-annotation`, or the NGINX stable one).
fn ingress() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "ing", "namespace": "default"},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "demo-stable", "port": {"number": 80}}}}]}}]}
    })
}

/// The ALB action's canary weight on the Ingress `ing`.
fn alb_canary_weight(world: &World) -> i64 {
    let key = ObjectKey {
        kind: RouterKind::Ingress,
        namespace: "default".to_owned(),
        name: "ing".to_owned(),
    };
    let action = world.traffic.objects[&key]["metadata"]["annotations"]
        ["alb.ingress.kubernetes.io/actions.demo-stable"]
        .as_str()
        .unwrap()
        .to_owned();
    let action: Value = serde_json::from_str(&action).unwrap();
    action["ForwardConfig"]["TargetGroups"][0]["Weight"]
        .as_i64()
        .unwrap()
}

/// §8 S15 / §4.3 TestCanarySetCanaryScale (NGINX, R=4): the canary follows `setCanaryScale`,
/// not the weight, until `matchTrafficWeight`: 0/4, 1/4, 1/4 at weight 50, 3/4, 2/4, then 4.
#[test]
fn s15_set_canary_scale() {
    let canary = json!({
        "canaryService": "demo-canary", "stableService": "demo-stable",
        "trafficRouting": {"nginx": {"stableIngress": "ing"}},
        "steps": [
            {"pause": {}},
            {"setCanaryScale": {"weight": 25}},
            {"pause": {"duration": "100s"}},
            {"setWeight": 50},
            {"pause": {"duration": "10s"}},
            {"setCanaryScale": {"replicas": 3}},
            {"pause": {}},
            {"setCanaryScale": {"matchTrafficWeight": true}},
            {"pause": {"duration": "5s"}}
        ]
    });
    let mut w = World::routed(4, &canary, RouterKind::Ingress, "ing", ingress());
    w.settle();
    assert_eq!(w.phase().0, "Healthy");
    w.set_image("nginx:2");
    w.settle();
    assert_eq!((w.step(), w.canary_stable()), (Some(0), (0, 4)));
    w.promote();
    w.settle();
    assert_eq!((w.step(), w.canary_stable()), (Some(2), (1, 4)));
    w.promote();
    w.settle();
    assert_eq!((w.step(), w.canary_stable()), (Some(4), (1, 4)));
    // The weight moved to 50 while the canary stays pinned at one pod.
    let canary_ingress = ObjectKey {
        kind: RouterKind::Ingress,
        namespace: "default".to_owned(),
        name: "demo-ing-canary".to_owned(),
    };
    assert_eq!(
        w.traffic.objects[&canary_ingress]["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
        "50"
    );
    assert_eq!(w.weights().1, 50);
    w.advance(11);
    w.settle();
    assert_eq!((w.step(), w.canary_stable()), (Some(6), (3, 4)));
    w.promote();
    w.settle();
    assert_eq!((w.step(), w.canary_stable()), (Some(8), (2, 4)));
    w.advance(6);
    w.settle();
    assert_eq!(w.phase().0, "Healthy");
    assert_eq!(
        w.canary_stable(),
        (4, 4),
        "the old stable waits out its delay"
    );
    w.advance(31);
    w.settle();
    assert_eq!(w.canary_stable(), (4, 0));
}

/// §8 S16 TestCanaryScaleDownDelay (ALB, no steps, `scaleDownDelayRevisionLimit: 1`): only the
/// newest previous stable keeps its pod under a deadline; a revision scaled to 0 loses its
/// deadline, and a revision that comes back as the new one loses it too.
#[test]
fn s16_scale_down_delay_and_revision_limit() {
    let mut w = World::alb(1, &json!({"scaleDownDelayRevisionLimit": 1}));
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.phase().0, "Healthy");
    assert_eq!((w.pods("nginx:1"), w.pods("nginx:2")), (1, 1));
    assert!(w.deadline_of("nginx:1").is_some());
    w.set_image("nginx:3");
    w.settle();
    assert_eq!(w.phase().0, "Healthy");
    assert_eq!((w.pods("nginx:1"), w.deadline_of("nginx:1")), (0, None));
    assert_eq!(w.pods("nginx:2"), 1);
    assert!(w.deadline_of("nginx:2").is_some());
    // Back to revision 2's template: it becomes revision 4 without a deadline.
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.phase().0, "Healthy");
    assert_eq!(w.revision_of("nginx:2"), "4");
    assert_eq!((w.pods("nginx:2"), w.deadline_of("nginx:2")), (1, None));
    assert_eq!((w.pods("nginx:1"), w.deadline_of("nginx:1")), (0, None));
    assert_eq!(w.pods("nginx:3"), 1);
    assert!(w.deadline_of("nginx:3").is_some());
    w.advance(31);
    w.settle();
    assert_eq!((w.pods("nginx:3"), w.deadline_of("nginx:3")), (0, None));
}

/// §8 S16 TestCanaryScaleDownDelayWithProgressDeadline: a pending delayed scale-down is not
/// progress that can time out.
#[test]
fn s16_scale_down_delay_with_progress_deadline() {
    let mut w = World::alb(1, &json!({"scaleDownDelayRevisionLimit": 1}));
    w.edit_spec(&json!({"progressDeadlineSeconds": 5}));
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.phase().0, "Healthy");
    for _ in 0..5 {
        w.advance(5);
        w.settle();
        assert_eq!(w.phase().0, "Healthy");
    }
    assert_eq!(w.pods("nginx:1"), 1, "still within the 30 s delay");
    w.advance(6);
    w.settle();
    assert_eq!((w.phase().0.as_str(), w.pods("nginx:1")), ("Healthy", 0));
}

/// §8 S17 TestCanaryScaleDownOnAbort (ALB, `abortScaleDownDelaySeconds: 1`): the canary
/// Service goes back to the stable hash at once, the canary keeps its pod until the deadline.
#[test]
fn s17_abort_scale_down_delay() {
    let mut w = World::alb(
        1,
        &json!({"abortScaleDownDelaySeconds": 1,
                "steps": [{"setCanaryScale": {"replicas": 1}}, {"pause": {}}]}),
    );
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.phase().0, "Paused");
    assert_eq!(w.canary_stable(), (1, 1));
    let stable = w.hash_of("nginx:1");
    w.abort();
    w.settle();
    assert_eq!(w.phase().0, "Degraded");
    assert_eq!(w.selector_of("demo-canary"), stable);
    assert_eq!(w.pods("nginx:2"), 1);
    assert!(w.deadline_of("nginx:2").is_some());
    assert_eq!(w.last_requeue, Some(Duration::from_secs(2)));
    w.advance(3);
    w.settle();
    assert_eq!(w.canary_stable(), (0, 1));
    assert_eq!(w.phase().0, "Degraded");
}

/// §8 S17 TestCanaryUnScaleDownOnAbort (`abortScaleDownDelaySeconds: 0`): the canary keeps
/// its `setCanaryScale` pod and gets no deadline.
#[test]
fn s17_abort_without_scale_down() {
    let mut w = World::alb(
        1,
        &json!({"abortScaleDownDelaySeconds": 0,
                "steps": [{"setCanaryScale": {"replicas": 1}}, {"pause": {}}]}),
    );
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    let stable = w.hash_of("nginx:1");
    w.abort();
    w.settle();
    assert_eq!(w.phase().0, "Degraded");
    assert_eq!(w.selector_of("demo-canary"), stable);
    w.advance(120);
    w.settle();
    assert_eq!(w.canary_stable(), (1, 1));
    assert_eq!(w.deadline_of("nginx:2"), None);
}

/// §8 S17 TestCanaryScaleDownOnAbortNoTrafficRouting: a basic canary with Services points the
/// canary Service back at stable and drains the canary at once.
#[test]
fn s17_abort_without_traffic_routing() {
    let mut w = World::new(rollout(
        2,
        &json!({"canaryService": "demo-canary", "stableService": "demo-stable",
                "steps": [{"setWeight": 50}, {"pause": {}}]}),
    ));
    w.services = vec![service("demo-stable"), service("demo-canary")];
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.canary_stable(), (1, 1));
    let stable = w.hash_of("nginx:1");
    assert_eq!(w.selector_of("demo-canary"), w.hash_of("nginx:2"));
    w.abort();
    w.settle();
    assert_eq!(w.phase().0, "Degraded");
    assert_eq!(w.selector_of("demo-canary"), stable);
    assert_eq!(w.canary_stable(), (0, 2));
}

/// The S18/S19 rollout paused at index 3 (rev1 1 / rev2 3, weights 75/25).
fn dynamic_at_last_pause(extra: &Value) -> World {
    let mut canary = json!({
        "dynamicStableScale": true,
        "steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 75}, {"pause": {}}]
    });
    json_patch::merge(&mut canary, extra);
    let mut w = World::alb(4, &canary);
    w.settle();
    w.set_image("nginx:2");
    w.settle_gated(&[("nginx:2", 1)]);
    assert_eq!(w.phase().0, "Paused");
    assert_eq!(w.canary_stable(), (1, 3));
    assert_eq!(alb_canary_weight(&w), 25);
    w.promote();
    w.settle_gated(&[("nginx:2", 3)]);
    assert_eq!(w.step(), Some(3));
    assert_eq!(w.canary_stable(), (3, 1));
    assert_eq!(w.weights().1, 75);
    w
}

/// §8 S18 TestCanaryDynamicStableScale (ALB, R=4): on abort the weight steps back only as
/// stable pods become ready, the canary shrinks behind it, and the canary Service stays on the
/// canary until the weight is 0.
#[test]
fn s18_dynamic_stable_scale_abort() {
    let mut w = dynamic_at_last_pause(&json!({}));
    let (stable, canary) = (w.hash_of("nginx:1"), w.hash_of("nginx:2"));
    w.abort();
    // The new stable pods are not ready: the weight stays, the stable RS grows first.
    w.settle_gated(&[("nginx:2", 3), ("nginx:1", 1)]);
    assert_eq!(w.phase().0, "Degraded");
    assert_eq!(w.weights().1, 75);
    assert_eq!(alb_canary_weight(&w), 75);
    assert_eq!(w.canary_stable(), (3, 3));
    assert_eq!(w.selector_of("demo-canary"), canary);
    // Three stable pods ready: weight 25, canary 1, stable 4.
    w.settle_gated(&[("nginx:2", 3), ("nginx:1", 3)]);
    assert_eq!(w.weights().1, 25);
    assert_eq!(alb_canary_weight(&w), 25);
    assert_eq!(w.canary_stable(), (1, 4));
    assert_eq!(w.selector_of("demo-canary"), canary);
    // The last stable pod ready: all traffic back, canary gone, Service on stable.
    w.settle_gated(&[]);
    assert_eq!(w.weights().1, 0);
    assert_eq!(alb_canary_weight(&w), 0);
    assert_eq!(w.canary_stable(), (0, 4));
    assert_eq!(w.selector_of("demo-canary"), stable);
    assert_eq!(w.phase().0, "Degraded");
}

/// §8 S19 TestCanaryDynamicStableScaleAbortScaleDownDelay: with an explicit abort delay the
/// canary keeps its 3 pods while the weight steps back, then gets a deadline once the stable RS
/// is fully available, and goes to 0 after it.
#[test]
fn s19_dynamic_stable_scale_abort_scale_down_delay() {
    let mut w = dynamic_at_last_pause(&json!({"abortScaleDownDelaySeconds": 5}));
    let (stable, canary) = (w.hash_of("nginx:1"), w.hash_of("nginx:2"));
    w.abort();
    w.settle_gated(&[("nginx:2", 3), ("nginx:1", 1)]);
    assert_eq!(w.weights().1, 75);
    assert_eq!(w.pods("nginx:2"), 3);
    assert_eq!(w.deadline_of("nginx:2"), None);
    w.settle_gated(&[("nginx:2", 3), ("nginx:1", 3)]);
    assert_eq!(w.weights().1, 25);
    assert_eq!(w.canary_stable(), (3, 4));
    assert_eq!(w.deadline_of("nginx:2"), None);
    assert_eq!(w.selector_of("demo-canary"), canary);
    w.settle_gated(&[]);
    let (_, canary_weight, _, stable_weight) = w.weights();
    assert_eq!((canary_weight, stable_weight), (0, 100));
    assert_eq!(w.pods("nginx:2"), 3);
    assert!(w.deadline_of("nginx:2").is_some());
    w.advance(6);
    w.settle();
    assert_eq!(w.canary_stable(), (0, 4));
    assert_eq!(w.selector_of("demo-canary"), stable);
}

/// §8 S20 TestCanaryDynamicStableScaleRollbackToStable: going back to the stable template
/// keeps the traffic (and the canary Service) on the previous canary until the stable RS is
/// fully available again.
#[test]
fn s20_dynamic_stable_scale_rollback_to_stable() {
    let mut w = World::alb(
        4,
        &json!({"dynamicStableScale": true,
                "steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 75}, {"pause": {}}]}),
    );
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.phase().0, "Paused");
    assert_eq!(w.canary_stable(), (1, 3));
    let (rev1, rev2) = (w.hash_of("nginx:1"), w.hash_of("nginx:2"));
    assert_eq!(w.weights(), (rev2.clone(), 25, rev1.clone(), 75));
    // `undo` to revision 1: its ReplicaSet becomes revision 3 and grows to 4.
    w.set_image("nginx:1");
    w.settle_gated(&[("nginx:1", 3)]);
    assert_eq!(w.revision_of("nginx:1"), "3");
    assert_eq!(w.canary_stable(), (1, 4));
    assert_eq!(w.selector_of("demo-canary"), rev2);
    assert_eq!(w.selector_of("demo-stable"), rev1);
    assert_eq!(w.weights(), (rev2.clone(), 25, rev1.clone(), 75));
    assert_eq!(alb_canary_weight(&w), 25);
    // The fourth pod ready: all traffic on revision 3, the old canary drained.
    w.settle_gated(&[]);
    assert_eq!(w.canary_stable(), (0, 4));
    assert_eq!(w.selector_of("demo-canary"), rev1);
    assert_eq!(w.selector_of("demo-stable"), rev1);
    assert_eq!(w.weights(), (rev1.clone(), 0, rev1, 100));
    assert_eq!(alb_canary_weight(&w), 0);
}

/// §8 S23 TestIstioAbortUpdateDeleteAllCanaryPods (R=5): an abort keeps the canary's 4
/// `setCanaryScale` pods under the default 30 s abort delay, with the stable RS at 5; and
/// TestIstioAbortUpdate: an abort on a Healthy rollout is dropped.
#[test]
fn s23_abort_keeps_canary_pods_under_delay() {
    let canary = json!({
        "canaryService": "demo-canary", "stableService": "demo-stable",
        "trafficRouting": {"istio": {"virtualService": {"name": "vs", "routes": ["primary"]}}},
        "steps": [
            {"setCanaryScale": {"replicas": 2}}, {"setWeight": 20}, {"pause": {}},
            {"setCanaryScale": {"replicas": 4}}, {"setWeight": 40}, {"pause": {}}
        ]
    });
    let vs = json!({"metadata": {"name": "vs"}, "spec": {"http": [{"name": "primary", "route": [
        {"destination": {"host": "demo-stable"}, "weight": 100},
        {"destination": {"host": "demo-canary"}, "weight": 0}]}]}});
    let mut w = World::routed(5, &canary, RouterKind::VirtualService, "vs", vs);
    let split = |w: &World| -> Vec<i64> {
        let key = ObjectKey {
            kind: RouterKind::VirtualService,
            namespace: "default".to_owned(),
            name: "vs".to_owned(),
        };
        w.traffic.objects[&key]["spec"]["http"][0]["route"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["weight"].as_i64().unwrap())
            .collect()
    };
    w.settle();
    // TestIstioAbortUpdate: an abort on a Healthy rollout is dropped.
    w.abort();
    w.settle();
    assert_eq!(w.phase(), ("Healthy".to_owned(), String::new()));
    assert_eq!(w.status().abort, None);
    w.set_image("nginx:2");
    w.settle();
    assert_eq!((w.phase().0.as_str(), w.step()), ("Paused", Some(2)));
    assert_eq!(w.canary_stable(), (2, 5));
    assert_eq!(split(&w), vec![80, 20]);
    w.promote();
    w.settle();
    assert_eq!((w.phase().0.as_str(), w.step()), ("Paused", Some(5)));
    assert_eq!(w.canary_stable(), (4, 5));
    assert_eq!(split(&w), vec![60, 40]);
    w.abort();
    w.settle();
    assert_eq!(w.phase().0, "Degraded");
    assert_eq!(w.canary_stable(), (4, 5));
    assert_eq!(split(&w), vec![100, 0]);
    let deadline = w.deadline_of("nginx:2").unwrap();
    let at = DateTime::parse_from_rfc3339(&deadline).unwrap();
    assert_eq!(at.timestamp(), w.now.timestamp() + 30);
    w.advance(31);
    w.settle();
    assert_eq!(w.canary_stable(), (0, 5));
}
