//! Scenarios with the Experiment controller in the loop: the world runs the rollout planner and
//! [`crate::controller::experiment::plan::plan`] for every Experiment to a joint fixed point, so
//! a canary `experiment` step is carried by the real Experiment decisions instead of a
//! hand-written phase. Pure, like the parent module.

use super::{World, plan, rollout, service};
use crate::controller::experiment::plan::{
    ExperimentSnapshot, apply_to_objects, plan as experiment_plan,
};
use crate::controller::traffic::{ObjectKey, RouterKind};
use kube::ResourceExt;
use serde_json::json;

impl World {
    /// Plans and applies the rollout and every Experiment until no pass plans anything, playing
    /// the kubelet in between.
    fn settle_with_experiments(&mut self) {
        for _ in 0..200 {
            self.kubelet(true);
            let rollout_plan = plan(&self.snapshot());
            self.last_requeue = rollout_plan.requeue_after;
            let mut busy = !rollout_plan.actions.is_empty();
            self.apply(&rollout_plan);
            for index in 0..self.experiments.len() {
                let snapshot = ExperimentSnapshot {
                    experiment: self.experiments[index].clone(),
                    replica_sets: self.replica_sets.clone(),
                    services: self.services.clone(),
                    analysis_runs: self.analysis_runs.clone(),
                    analysis_templates: self.analysis_templates.clone(),
                    cluster_analysis_templates: Vec::new(),
                    now: self.now,
                };
                let decided = experiment_plan(&snapshot);
                if decided.actions.is_empty() {
                    continue;
                }
                busy = true;
                let mut experiment = self.experiments[index].clone();
                apply_to_objects(
                    &decided.actions,
                    &mut experiment,
                    &mut self.replica_sets,
                    &mut self.services,
                    &mut self.analysis_runs,
                );
                self.experiments[index] = experiment;
            }
            if !busy {
                return;
            }
        }
        panic!("no joint fixed point; events: {:?}", self.events);
    }

    /// `spec.replicas` of the ReplicaSets an Experiment owns.
    fn experiment_pods(&self) -> i32 {
        self.replica_sets
            .iter()
            .filter(|rs| rs.owner_references().iter().any(|o| o.kind == "Experiment"))
            .map(|rs| rs.spec.replicas.unwrap_or(0))
            .sum()
    }
}

/// S25 (TestIstioHostSplitExperimentStep): `[setWeight 10, experiment{template specRef canary,
/// weight 20}]` with an Istio host split. At the experiment step the route holds stable 70,
/// canary 10 and the experiment Service 20; promotion puts it back to 100/0 without the
/// experiment destination, and the Experiment's ReplicaSet goes away after its scale-down
/// delay, the Experiment ending Successful.
#[test]
fn s25_experiment_step_istio() {
    let canary = json!({
        "canaryService": "demo-canary", "stableService": "demo-stable",
        "trafficRouting": {"istio": {"virtualService": {"name": "vs", "routes": ["primary"]}}},
        "steps": [
            {"setWeight": 10},
            {"experiment": {"templates": [{"name": "experiment", "specRef": "canary", "weight": 20}]}}
        ]
    });
    let mut world = World::new(rollout(1, &canary));
    world.services = vec![service("demo-stable"), service("demo-canary")];
    let key = ObjectKey {
        kind: RouterKind::VirtualService,
        namespace: "default".to_owned(),
        name: "vs".to_owned(),
    };
    world.traffic.served.insert(
        RouterKind::VirtualService,
        "networking.istio.io/v1alpha3".to_owned(),
    );
    world.traffic.objects.insert(
        key.clone(),
        json!({"metadata": {"name": "vs"}, "spec": {"http": [{"name": "primary", "route": [
            {"destination": {"host": "demo-stable"}, "weight": 100},
            {"destination": {"host": "demo-canary"}, "weight": 0}]}]}}),
    );
    let route = |world: &World| -> Vec<(String, i64)> {
        world.traffic.objects[&key]["spec"]["http"][0]["route"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["destination"]["host"].as_str().unwrap().to_owned(),
                    d["weight"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    world.settle_with_experiments();
    assert_eq!(world.phase().0, "Healthy");
    let rev1 = world.hash_of("nginx:1");

    world.set_image("nginx:2");
    world.settle_with_experiments();
    assert_eq!(world.status().current_step_index, Some(1));
    assert_eq!(world.experiments.len(), 1);
    let experiment = world.experiments[0].clone();
    let status = experiment.status.clone().unwrap();
    assert_eq!(status.phase_text.as_deref(), Some("Running"));
    let template = &status.template_statuses.unwrap()[0];
    let service_name = template.service_name.clone().unwrap();
    let rs = world
        .replica_sets
        .iter()
        .find(|rs| rs.owner_references().iter().any(|o| o.kind == "Experiment"))
        .unwrap()
        .clone();
    assert_eq!(service_name, rs.name_any());
    assert!(
        rs.name_any()
            .starts_with(&format!("{}-experiment-", experiment.name_any()))
    );
    assert!(world.services.iter().any(|s| s.name_any() == service_name));
    assert_eq!(
        route(&world),
        vec![
            ("demo-stable".to_owned(), 70),
            ("demo-canary".to_owned(), 10),
            (service_name.clone(), 20)
        ]
    );
    let weights = world.status().canary.unwrap().weights.unwrap();
    assert_eq!((weights.canary.weight, weights.stable.weight), (10, 70));
    let additional = weights.additional.unwrap();
    assert_eq!(additional.len(), 1);
    assert_eq!(additional[0].weight, 20);
    assert_eq!(
        additional[0].service_name.as_deref(),
        Some(service_name.as_str())
    );
    // Stable keeps its pod, the canary has one, the experiment template one.
    assert_eq!(world.pods("nginx:1"), 1);
    assert_eq!(world.experiment_pods(), 1);

    world.promote();
    world.settle_with_experiments();
    assert_eq!(world.phase().0, "Healthy");
    let rev2 = world.hash_of("nginx:2");
    assert_eq!(world.status().stable_rs.as_deref(), Some(rev2.as_str()));
    assert_eq!(
        route(&world),
        vec![
            ("demo-stable".to_owned(), 100),
            ("demo-canary".to_owned(), 0)
        ]
    );
    assert_eq!(world.selector_of("demo-stable"), rev2);
    assert_ne!(rev1, rev2);
    assert_eq!(world.experiments[0].spec.terminate, Some(true));
    // The experiment keeps its pod through its default 30 s scale-down delay.
    assert_eq!(world.experiment_pods(), 1);
    world.advance(31);
    world.settle_with_experiments();
    assert_eq!(world.experiment_pods(), 0);
    assert!(world.services.iter().all(|s| s.name_any() != service_name));
    let done = world.experiments[0].status.clone().unwrap();
    assert_eq!(done.phase_text.as_deref(), Some("Successful"));
}
