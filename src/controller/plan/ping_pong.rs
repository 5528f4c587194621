//! Ping-pong Services of a traffic-routed canary (spec §3.4 step 6, §5.1): instead of
//! re-pointing a stable Service at each promotion, two Services take turns. While an update is
//! in flight the canary-role Service follows the new ReplicaSet; at promotion the roles swap
//! (`status.canary.stablePingPong` flips) and no selector moves. Which Service holds which role
//! is decided in [`crate::controller::traffic::ping_pong_services`]; the routers read the same
//! roles.

use super::Planner;
use crate::controller::traffic::{ping_pong_services, swapped_stable_ping_pong};

impl Planner<'_> {
    /// Points the canary-role Service at the new ReplicaSet while the rollout is not fully
    /// promoted (the stable-role Service already selects the stable pods).
    pub(super) fn reconcile_ping_pong_services(&mut self) {
        if self.fully_promoted() {
            return;
        }
        let Some((_, canary)) = ping_pong_services(self.rollout) else {
            return;
        };
        let Some(hash) = self.new_rs.as_ref().map(|rs| rs.hash.clone()) else {
            return;
        };
        let canary = canary.to_owned();
        self.point_service(&canary, &hash);
    }

    /// At a promotion that changes the stable ReplicaSet (the initial deploy included): the
    /// Service that carried the canary becomes the stable one.
    pub(super) fn swap_ping_pong_roles(&mut self) {
        if self
            .rollout
            .canary()
            .and_then(|c| c.ping_pong.as_ref())
            .is_none()
        {
            return;
        }
        let canary = self.status.canary.get_or_insert_with(Default::default);
        canary.stable_ping_pong =
            Some(swapped_stable_ping_pong(canary.stable_ping_pong.as_deref()).to_owned());
    }
}
