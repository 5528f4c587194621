//! `spec.workloadRef` (spec §3.1 step 2, §3.13): a Rollout without its own pod template takes
//! the template — and the selector when it has none — from an `apps/v1` Deployment, in memory
//! only (never written back). A missing Deployment is InvalidSpec on `spec.workloadRef`. The
//! migration scale-down follows `scaleDown` for the first revision only: `onsuccess` scales the
//! Deployment to 0 once the rollout is Healthy; `progressively` also does, and before that keeps
//! the Deployment at `R − readyReplicas` of the rollout so that capacity moves over as the
//! rollout's pods become ready; `never` (or empty) leaves it alone. Other referenced kinds
//! (ReplicaSet, PodTemplate) are not implemented yet and say so as InvalidSpec.

use kube::ResourceExt;

use super::{Action, Planner};
use crate::controller::snapshot::Snapshot;

/// The resolved snapshot (template and selector filled in from the Deployment), `Ok(None)` when
/// the rollout has no `workloadRef`, or the InvalidSpec message.
pub fn resolve(snapshot: &Snapshot) -> Result<Option<Snapshot>, String> {
    let rollout = &snapshot.rollout;
    let Some(reference) = rollout.spec.workload_ref.as_ref() else {
        return Ok(None);
    };
    let name = rollout.name_any();
    let kind = reference.kind.as_deref().unwrap_or_default();
    let target = reference.name.as_deref().unwrap_or_default();
    if kind != "Deployment" {
        return Err(format!(
            "The Rollout \"{name}\" is invalid: spec.workloadRef.kind: Unsupported value: \
             \"{kind}\": rolltop resolves only apps/v1 Deployment (ReplicaSet and PodTemplate \
             are not implemented yet)"
        ));
    }
    let Some(deployment) = snapshot
        .workload
        .as_ref()
        .filter(|d| d.name_any() == target)
    else {
        return Err(format!(
            "The Rollout \"{name}\" is invalid: spec.workloadRef.name: Invalid value: \
             \"{target}\": deployments.apps \"{target}\" not found"
        ));
    };
    let spec = deployment.spec.clone();
    let template = serde_json::to_value(&spec.template).map_err(|e| {
        format!("The Rollout \"{name}\" is invalid: spec.workloadRef: unreadable template: {e}")
    })?;
    let mut resolved = snapshot.clone();
    resolved.rollout.spec.template = Some(template);
    if resolved.rollout.spec.selector.is_none() {
        resolved.rollout.spec.selector = Some(spec.selector);
    }
    Ok(Some(resolved))
}

/// `scaleDown` of a workloadRef.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleDown {
    /// `never` or empty: the Deployment is left alone.
    Never,
    /// `onsuccess`: to 0 once Healthy.
    OnSuccess,
    /// `progressively`: `R − ready` until Healthy, then 0.
    Progressively,
}

impl ScaleDown {
    /// Reads the field (unknown values count as `never`).
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("onsuccess") => ScaleDown::OnSuccess,
            Some("progressively") => ScaleDown::Progressively,
            _ => ScaleDown::Never,
        }
    }
}

/// The Deployment's `spec.replicas` the migration wants now, if any (§3.13).
pub fn deployment_replicas(
    scale_down: ScaleDown,
    first_revision: bool,
    healthy: bool,
    replicas: i32,
    ready: i32,
) -> Option<i32> {
    if !first_revision {
        return None;
    }
    match scale_down {
        ScaleDown::Never => None,
        ScaleDown::OnSuccess => healthy.then_some(0),
        ScaleDown::Progressively if healthy => Some(0),
        ScaleDown::Progressively => (ready > 0).then(|| (replicas - ready).max(0)),
    }
}

impl Planner<'_> {
    /// §3.13 after the pass: resize the referenced Deployment when the migration asks for it.
    pub(super) fn scale_down_workload(&mut self) {
        let Some(reference) = self.rollout.spec.workload_ref.as_ref() else {
            return;
        };
        let Some(deployment) = self.snap.workload.as_ref() else {
            return;
        };
        let first_revision = self.new_rs.as_ref().is_some_and(|rs| rs.revision == 1);
        let healthy = self.status.phase_text.as_deref() == Some("Healthy");
        let want = deployment_replicas(
            ScaleDown::parse(reference.scale_down.as_deref()),
            first_revision,
            healthy,
            self.replicas,
            self.status.ready_replicas.unwrap_or(0),
        );
        let current = deployment.spec.replicas.unwrap_or(1);
        if let Some(replicas) = want.filter(|want| *want != current) {
            self.actions.push(Action::ScaleDeployment {
                name: deployment.name_any(),
                replicas,
            });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn migration_scale_down_table() {
        use ScaleDown::{Never, OnSuccess, Progressively};
        // (mode, first revision, healthy, R, ready, wanted)
        let cases = [
            (Never, true, true, 4, 4, None),
            (OnSuccess, true, false, 4, 2, None),
            (OnSuccess, true, true, 4, 4, Some(0)),
            (OnSuccess, false, true, 4, 4, None),
            (Progressively, true, false, 4, 0, None),
            (Progressively, true, false, 4, 1, Some(3)),
            (Progressively, true, false, 4, 6, Some(0)),
            (Progressively, true, true, 4, 4, Some(0)),
            (Progressively, false, false, 4, 1, None),
        ];
        for (mode, first, healthy, replicas, ready, want) in cases {
            assert_eq!(
                deployment_replicas(mode, first, healthy, replicas, ready),
                want,
                "{mode:?} first={first} healthy={healthy} ready={ready}"
            );
        }
        assert_eq!(ScaleDown::parse(Some("onsuccess")), OnSuccess);
        assert_eq!(ScaleDown::parse(Some("progressively")), Progressively);
        assert_eq!(ScaleDown::parse(Some("")), Never);
        assert_eq!(ScaleDown::parse(None), Never);
    }
}
