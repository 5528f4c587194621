//! Scenarios for the companion Service controller (`controller::services`) driven together with
//! the planner: the world plays the Service controller after each fixed point, as the runner
//! does alongside the rollout loop.

use serde_json::json;

use super::{World, blue_green_rollout, service};
use crate::controller::services::selector_strip;
use crate::controller::snapshot::MANAGED_BY_ANNOTATION;

impl World {
    /// One pass of the Service controller over every Service of the world.
    fn strip_unreferenced_services(&mut self) {
        let rollouts = [self.rollout.clone()];
        for svc in &mut self.services {
            if let Some(patch) = selector_strip(svc, &rollouts) {
                super::merge_into(svc, &patch);
            }
        }
    }

    /// The whole selector of a Service, `key=value` joined by commas.
    fn full_selector(&self, name: &str) -> String {
        let svc = self
            .services
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(name))
            .unwrap();
        super::super::snapshot::format_match_labels(svc.spec.as_ref().unwrap().selector.as_ref())
    }

    fn managed_by(&self, name: &str) -> Option<String> {
        let svc = self
            .services
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(name))
            .unwrap();
        svc.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(MANAGED_BY_ANNOTATION).cloned())
    }
}

/// §8 S13 TestBlueGreenToCanary: a Healthy blue-green rollout (R=2) gets a new template and a
/// canary strategy `[setWeight 50, pause{}]`. It pauses at `(2,2,1,2,2)` and the former active
/// Service, named by no rollout any more, keeps only its own `app` selector.
#[test]
fn s13_blue_green_to_canary() {
    let mut w = World::new(blue_green_rollout(
        2,
        &json!({"activeService": "demo-active"}),
    ));
    w.services = vec![service("demo-active")];
    w.settle();
    w.strip_unreferenced_services();
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    let h1 = w.hash_of("nginx:1");
    assert_eq!(
        w.full_selector("demo-active"),
        format!("app=demo,rollouts-pod-template-hash={h1}")
    );
    assert_eq!(w.managed_by("demo-active").as_deref(), Some("demo"));

    w.edit_spec(&json!({
        "template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}},
        "strategy": {"blueGreen": null, "canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}}
    }));
    w.settle();
    w.strip_unreferenced_services();
    w.settle();
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
    assert_eq!(w.counts(), (2, 2, 1, 2, 2));
    assert_eq!((w.pods("nginx:1"), w.pods("nginx:2")), (1, 1));
    assert_eq!(w.status().stable_rs.as_deref(), Some(h1.as_str()));
    assert_eq!(w.full_selector("demo-active"), "app=demo");
    assert_eq!(w.managed_by("demo-active"), None);

    w.promote();
    w.settle();
    w.strip_unreferenced_services();
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert_eq!((w.pods("nginx:1"), w.pods("nginx:2")), (0, 2));
    assert_eq!(w.full_selector("demo-active"), "app=demo", "stays stripped");
}

/// The planner alone keeps pointing a Service it still names: the Service controller leaves a
/// referenced Service alone through a whole blue-green update.
#[test]
fn referenced_services_keep_their_selector_through_an_update() {
    let mut w = World::new(blue_green_rollout(
        2,
        &json!({"activeService": "demo-active", "previewService": "demo-preview"}),
    ));
    w.services = vec![service("demo-active"), service("demo-preview")];
    w.settle();
    w.set_image("nginx:2");
    w.settle();
    w.strip_unreferenced_services();
    let h2 = w.hash_of("nginx:2");
    for svc in ["demo-active", "demo-preview"] {
        assert_eq!(
            w.full_selector(svc),
            format!("app=demo,rollouts-pod-template-hash={h2}")
        );
        assert_eq!(w.managed_by(svc).as_deref(), Some("demo"));
    }
    // Renaming the preview Service in the spec hands the old one back.
    w.services.push(service("demo-preview-2"));
    w.edit_spec(&json!({"strategy": {"blueGreen": {"previewService": "demo-preview-2"}}}));
    w.settle();
    w.strip_unreferenced_services();
    assert_eq!(w.full_selector("demo-preview"), "app=demo");
    assert_eq!(
        w.full_selector("demo-preview-2"),
        format!("app=demo,rollouts-pod-template-hash={h2}")
    );
    assert_eq!(
        w.full_selector("demo-active"),
        format!("app=demo,rollouts-pod-template-hash={h2}")
    );
}
