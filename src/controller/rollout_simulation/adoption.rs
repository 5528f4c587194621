//! ReplicaSet adoption driven through the planner: a Rollout deleted with `--cascade=orphan`
//! and applied again takes its ReplicaSet back instead of creating a new one.

use kube::ResourceExt;
use serde_json::json;

use super::{World, rollout};

#[test]
fn a_recreated_rollout_adopts_its_orphaned_replica_set() {
    let mut w = World::new(rollout(
        3,
        &json!({"steps": [{"setWeight": 50}, {"pause": {}}]}),
    ));
    w.settle();
    let hash = w.hash_of("nginx:1");
    // `kubectl delete rollout demo --cascade=orphan`, then the same manifest applied again:
    // the ReplicaSet loses its owner, the new Rollout object has a new uid and no status.
    for rs in &mut w.replica_sets {
        rs.metadata.owner_references = None;
    }
    w.rollout.metadata.uid = Some("uid-demo-2".into());
    w.rollout.status = None;
    w.settle();
    assert_eq!(w.replica_sets.len(), 1, "no second ReplicaSet");
    let rs = &w.replica_sets[0];
    let owner = &rs.owner_references()[0];
    assert_eq!(
        (
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_str(),
            owner.controller
        ),
        ("Rollout", "demo", "uid-demo-2", Some(true))
    );
    assert_eq!(w.pods("nginx:1"), 3);
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert_eq!(w.status().stable_rs.as_deref(), Some(hash.as_str()));

    // Relabelling the pod template (and selector) leaves the old ReplicaSet behind, released.
    w.edit_spec(&json!({
        "selector": {"matchLabels": {"app": "demo-v2"}},
        "template": {"metadata": {"labels": {"app": "demo-v2"}}}
    }));
    w.settle();
    let old = w
        .replica_sets
        .iter()
        .find(|rs| rs.name_any().ends_with(&hash))
        .unwrap();
    assert!(
        old.owner_references().is_empty(),
        "released: {:?}",
        old.metadata.owner_references
    );
}
