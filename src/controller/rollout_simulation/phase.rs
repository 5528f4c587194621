//! Phase stability: the phase is recorded after every single planner pass (not only at fixed
//! points), and an update must never read Healthy before the old ReplicaSet's pods are gone and
//! then fall back to Progressing (the reference computes `status.replicas` over every owned
//! ReplicaSet, including a stable RS that is being demoted in the same pass).

use serde_json::json;

use super::{World, rollout};
use crate::controller::plan::plan;

impl World {
    /// As `settle`, recording after each applied pass `(phase, message, pods)`, where `pods`
    /// is the number of pods the ReplicaSets reported to that pass (Σ `status.replicas`).
    fn settle_recording_phases(&mut self) -> Vec<(String, String, i32)> {
        let mut seen = Vec::new();
        for _ in 0..100 {
            self.kubelet(true);
            let pods: i32 = self
                .replica_sets
                .iter()
                .map(|rs| rs.status.as_ref().map_or(0, |s| s.replicas))
                .sum();
            let next = plan(&self.snapshot());
            if next.actions.is_empty() {
                return seen;
            }
            self.apply(&next);
            let s = self.status();
            seen.push((
                s.phase_text.unwrap_or_default(),
                s.message.unwrap_or_default(),
                pods,
            ));
        }
        panic!("plan did not reach a fixed point");
    }
}

#[test]
fn healthy_only_once_old_replicas_are_gone_and_then_stays() {
    // (R, canary block): setWeight + pause promoted by the user, and a step list that
    // completes by itself.
    let cases = [
        (2, json!({"steps": [{"setWeight": 50}, {"pause": {}}]})),
        (
            4,
            json!({"steps": [{"setWeight": 25}, {"pause": {}}], "maxSurge": 1, "maxUnavailable": 0}),
        ),
        (3, json!({"steps": [{"setWeight": 34}]})),
        (5, json!({"maxSurge": "100%"})),
    ];
    for (replicas, canary) in cases {
        let mut w = World::new(rollout(replicas, &canary));
        w.settle();
        w.set_image("nginx:2");
        let mut seen = w.settle_recording_phases();
        if w.phase().0 == "Paused" {
            w.promote();
            seen.extend(w.settle_recording_phases());
        }
        let first_healthy = seen
            .iter()
            .position(|(phase, ..)| phase == "Healthy")
            .unwrap_or_else(|| panic!("R={replicas} {canary}: never Healthy: {seen:?}"));
        for (phase, message, pods) in &seen[first_healthy..] {
            assert_eq!(
                (phase.as_str(), message.as_str(), pods),
                ("Healthy", "", &replicas),
                "R={replicas} {canary}: Healthy with old pods, or left Healthy: {seen:?}"
            );
        }
        assert_eq!(w.pods("nginx:1"), 0);
    }
}
