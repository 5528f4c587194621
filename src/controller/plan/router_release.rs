//! Router objects a Rollout no longer references (spec §5.3, the reference's DestinationRule
//! controller): a DestinationRule still marked `managed-by-rollouts` for this Rollout after
//! `trafficRouting` was removed or changed gets its hash labels and the annotation back off.
//! The shell reads such objects only when the Rollout's status still records traffic weights
//! ([`crate::controller::traffic::read::may_hold_released_objects`]).

use super::{Action, Planner};
use crate::controller::traffic::released_router_changes;

impl Planner<'_> {
    /// Emits the patches that release unreferenced router objects.
    pub(super) fn release_unreferenced_routers(&mut self) {
        let changes = released_router_changes(self.rollout, &self.snap.traffic);
        self.actions
            .extend(changes.into_iter().map(Action::Traffic));
    }
}
