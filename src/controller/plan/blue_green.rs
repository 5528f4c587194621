//! The blue-green half of the planner (spec §6): preview Service to the new ReplicaSet at once,
//! stable and new RS sizes (with `previewReplicaCount`), the old RSs' scale-down delay, the
//! `BlueGreenPause` and auto-promotion, the active Service switch once the new RS is saturated,
//! promotion, the abort scale-down delay of the new RS, and the pre/post-promotion AnalysisRuns
//! (`<rollout>-<hash>-<revision>-pre|post`). Not planned yet: target-group verification.

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::step_analysis::is_terminal;
use super::{
    Action, EventType, INCONCLUSIVE_ANALYSIS_RUN, Planner, format_time, json, parse_time, reason,
};
use crate::controller::hash::POD_TEMPLATE_HASH_LABEL;
use crate::controller::replicas::blue_green::{
    BlueGreenNewReplicaSetInput, PreviewCheckPointInput, blue_green_new_rs_replicas,
    is_ready_for_pause, is_saturated, scale_up_preview_check_point,
};
use crate::controller::replicas::scale_down::{
    AbortedNewReplicaSet, BlueGreenScaleDownInput, OtherReplicaSet, SCALE_DOWN_DEADLINE_ANNOTATION,
    StrategyKind, abort_scale_down_delay, decide_aborted_new_replica_set,
    format_scale_down_deadline, plan_blue_green_scale_down, scale_down_delay,
};
use crate::crd::AnalysisPhase;
use crate::crd::BlueGreenStrategy;
use crate::crd::rollout::BlueGreenStatus;
use crate::crd::rollout::RolloutAnalysisRunStatus;

/// Pause-condition reason of the blue-green pause before promotion.
pub const BLUE_GREEN_PAUSE: &str = "BlueGreenPause";

impl Planner<'_> {
    /// One blue-green pass after the shared preamble (new RS, classification, paused
    /// conditions).
    pub(super) fn run_blue_green(&mut self) {
        let Some(bg) = self.rollout.blue_green().cloned() else {
            return;
        };
        let Some(new) = self.new_rs.clone() else {
            return;
        };
        let halted = self.spec_paused() || self.inconclusive();
        if !halted && let Some(preview) = bg.preview_service.clone().filter(|s| !s.is_empty()) {
            self.point_service(&preview, &new.hash);
        }
        if self.status.current_pod_hash.as_deref() != Some(new.hash.as_str()) {
            self.reset_for_new_template();
            if let Some(status) = self.status.blue_green.as_mut() {
                status.scale_up_preview_check_point = None;
                status.pre_promotion_analysis_run_status = None;
                status.post_promotion_analysis_run_status = None;
            }
            self.record_selectors(&bg);
            self.persist();
            return;
        }
        self.garbage_collect_history();
        self.reconcile_ephemeral_metadata();
        self.reconcile_restart();
        self.scale_blue_green(&bg);
        let pre_ok = self.blue_green_analysis(&bg, Promotion::Pre);
        if self.inconclusive() {
            // An inconclusive run halts service switching (§3.6): write status only.
            self.record_selectors(&bg);
            self.persist();
            return;
        }
        let pause_completed = self.blue_green_pause(&bg, pre_ok);
        self.switch_active(&bg, pause_completed);
        self.blue_green_analysis(&bg, Promotion::Post);
        self.blue_green_status(&bg, pause_completed);
        self.persist();
    }

    fn inconclusive(&self) -> bool {
        self.status
            .pause_conditions()
            .iter()
            .any(|p| p.reason == super::INCONCLUSIVE_ANALYSIS_RUN)
    }

    fn active_selector(&self, bg: &BlueGreenStrategy) -> Option<String> {
        bg.active_service
            .as_deref()
            .and_then(|svc| self.service_selector(svc))
    }

    fn checkpoint(&self) -> bool {
        self.status
            .blue_green
            .as_ref()
            .and_then(|b| b.scale_up_preview_check_point)
            == Some(true)
    }

    fn desired_new_replicas(&self, bg: &BlueGreenStrategy) -> i32 {
        // The stable RS always runs R: on the initial deploy (promoted before the active
        // Service points anywhere) previewReplicaCount would otherwise block saturation.
        let active_is_new =
            self.active_selector(bg) == Some(self.new_hash()) || self.fully_promoted();
        blue_green_new_rs_replicas(&BlueGreenNewReplicaSetInput {
            replicas: self.replicas,
            preview_replica_count: bg.preview_replica_count,
            active_is_new_rs: active_is_new,
            promote_full: self.promote_full() || self.fast_rollback(),
            paused: self.spec_paused() || !self.status.pause_conditions().is_empty(),
            scale_up_preview_check_point: self.checkpoint(),
        })
    }

    /// §6.1 step 6: stable → R, new → desired, old RSs through the delay helper; deadlines on
    /// the new and stable RS are removed.
    fn scale_blue_green(&mut self, bg: &BlueGreenStrategy) {
        let aborted = self.aborted();
        let fast_rollback = self.fast_rollback();
        let new_name = self.new_rs.as_ref().map(|rs| rs.name.clone());
        for rs in self
            .new_rs
            .iter()
            .chain(self.distinct_stable())
            .cloned()
            .collect::<Vec<_>>()
        {
            // While aborted the new RS's deadline is the abort delay: keep it. During a fast
            // rollback it is what marks the rollback: keep it until promotion.
            let is_new = Some(&rs.name) == new_name.as_ref();
            if rs.deadline.is_some() && !((aborted || fast_rollback) && is_new) {
                self.actions.push(Action::PatchReplicaSet {
                    name: rs.name.clone(),
                    patch: json!({"metadata": {"annotations": {SCALE_DOWN_DEADLINE_ANNOTATION: null}}}),
                });
            }
        }
        // Unlike canary, blue-green still scales while `spec.paused` (spec §3.6).
        if let Some(stable) = self.distinct_stable().cloned()
            && (stable.size.spec != self.replicas
                || stable.desired_annotation != Some(self.replicas))
        {
            self.scale(&stable.name, self.replicas);
        }
        if let Some(new) = self.new_rs.clone() {
            let desired = if self.aborted() {
                self.aborted_new_replicas(bg, &new)
            } else {
                self.desired_new_replicas(bg)
            };
            if new.size.spec != desired
                || (desired > 0 && new.desired_annotation != Some(self.replicas))
            {
                self.scale(&new.name, desired);
            }
        }
        let active = self.active_selector(bg);
        let preview = bg
            .preview_service
            .as_deref()
            .and_then(|svc| self.service_selector(svc));
        let others: Vec<OtherReplicaSet> = self
            .others
            .iter()
            .map(|rs| OtherReplicaSet {
                revision: rs.revision,
                size: rs.size,
                referenced: Some(&rs.hash) == active.as_ref() || Some(&rs.hash) == preview.as_ref(),
                scale_down_deadline: rs.deadline,
            })
            .collect();
        let plan = plan_blue_green_scale_down(&BlueGreenScaleDownInput {
            replicas: self.replicas,
            others: &others,
            blocked: self.inconclusive(),
            scale_down_delay: scale_down_delay(
                StrategyKind::BlueGreen,
                bg.scale_down_delay_seconds,
            ),
            scale_down_delay_revision_limit: bg.scale_down_delay_revision_limit,
            now: self.now,
        });
        if let Some(at) = plan.requeue_at {
            self.requeue_at(at + chrono::Duration::seconds(1));
        }
        for change in plan.changes {
            let Some(rs) = self.others.get(change.index).cloned() else {
                continue;
            };
            if let Some(at) = change.add_deadline {
                self.actions.push(Action::PatchReplicaSet {
                    name: rs.name.clone(),
                    patch: json!({"metadata": {"annotations": {
                        SCALE_DOWN_DEADLINE_ANNOTATION: format_scale_down_deadline(at)
                    }}}),
                });
            }
            if change.replicas != rs.size.spec {
                self.scale(&rs.name, change.replicas);
            }
        }
    }

    /// §3.7 blue-green abort: the new (preview) RS keeps its size until the stable RS is fully
    /// available, then gets `scale-down-deadline = now + abortScaleDownDelaySeconds` (default
    /// 30 s; 0 = never) and goes to 0 after it.
    fn aborted_new_replicas(&mut self, bg: &BlueGreenStrategy, new: &super::RsView) -> i32 {
        let delay =
            abort_scale_down_delay(StrategyKind::BlueGreen, bg.abort_scale_down_delay_seconds);
        let Some(stable) = self.distinct_stable().cloned() else {
            return new.size.spec;
        };
        let Some(abort_delay) = delay.delay else {
            return new.size.spec;
        };
        match decide_aborted_new_replica_set(
            new.deadline,
            abort_delay,
            stable.size.available,
            self.replicas,
            self.now,
        ) {
            AbortedNewReplicaSet::Hold {
                add_deadline,
                requeue_at,
            } => {
                if let Some(at) = add_deadline {
                    self.actions.push(Action::PatchReplicaSet {
                        name: new.name.clone(),
                        patch: json!({"metadata": {"annotations": {
                            SCALE_DOWN_DEADLINE_ANNOTATION: format_scale_down_deadline(at)
                        }}}),
                    });
                }
                if let Some(at) = requeue_at {
                    self.requeue_at(at + chrono::Duration::seconds(1));
                }
                new.size.spec
            }
            AbortedNewReplicaSet::ScaleToZero => 0,
            AbortedNewReplicaSet::ScaleToComputed => self.desired_new_replicas(bg),
        }
    }

    /// §3.9 blue-green fast rollback: the template went back to an older ReplicaSet that is
    /// still scaled up, waiting out its scale-down delay (it carries a `scale-down-deadline`),
    /// and this update was never aborted. Pause and analyses are skipped and the active Service
    /// switches as soon as the RS is saturated; the deadline stays on the RS until promotion so
    /// every pass sees the same answer.
    fn fast_rollback(&self) -> bool {
        !self.aborted()
            && self.status.aborted_at.is_none()
            && !self.fully_promoted()
            && self.new_rs.as_ref().is_some_and(|rs| rs.deadline.is_some())
    }

    fn fast_tracked(&self, bg: &BlueGreenStrategy) -> bool {
        let active = self.active_selector(bg);
        self.promote_full()
            || self.fully_promoted()
            || self.fast_rollback()
            || active.as_deref().is_none_or(str::is_empty)
            || active == Some(self.new_hash())
    }

    /// §6.3 `reconcileBlueGreenPause` and `CompletedBlueGreenPause`: returns whether the pause
    /// before promotion is complete.
    fn blue_green_pause(&mut self, bg: &BlueGreenStrategy, pre_ok: bool) -> bool {
        let Some(new) = self.new_rs.clone() else {
            return false;
        };
        let desired = self.desired_new_replicas(bg);
        if self.aborted() || self.spec_paused() || !is_ready_for_pause(Some(new.size), desired) {
            return false;
        }
        let auto = bg.auto_promotion_enabled.unwrap_or(true);
        let seconds = i64::from(bg.auto_promotion_seconds.unwrap_or(0).max(0));
        if self.fast_tracked(bg) || self.checkpoint() {
            self.remove_pause(BLUE_GREEN_PAUSE);
            return true;
        }
        if !pre_ok {
            // The pause only starts once pre-promotion analysis succeeded.
            return false;
        }
        if auto && seconds == 0 {
            self.remove_pause(BLUE_GREEN_PAUSE);
            return true;
        }
        let started = self
            .status
            .pause_conditions()
            .iter()
            .find(|p| p.reason == BLUE_GREEN_PAUSE)
            .map(|p| parse_time(&p.start_time).unwrap_or(self.now));
        match started {
            None if self.status.controller_pause == Some(true) => true,
            None => {
                self.add_pause_condition(BLUE_GREEN_PAUSE);
                self.event(
                    reason::PAUSED,
                    format!("Rollout is paused ({BLUE_GREEN_PAUSE})"),
                    EventType::Normal,
                );
                if auto {
                    self.requeue_at(self.now + chrono::Duration::seconds(seconds + 1));
                }
                false
            }
            Some(start) if auto => {
                let at = start + chrono::Duration::seconds(seconds);
                if self.now > at {
                    self.remove_pause(BLUE_GREEN_PAUSE);
                    true
                } else {
                    self.requeue_at(at + chrono::Duration::seconds(1));
                    false
                }
            }
            Some(_) => false,
        }
    }

    fn remove_pause(&mut self, reason: &str) {
        if let Some(conds) = self.status.pause_conditions.as_mut() {
            conds.retain(|p| p.reason != reason);
        }
    }

    /// §6.3 active switch: to the new RS once it is saturated and the pause is over (or
    /// fast-tracked), back to the stable RS when aborted.
    fn switch_active(&mut self, bg: &BlueGreenStrategy, pause_completed: bool) {
        let Some(active) = bg.active_service.clone() else {
            return;
        };
        if self.spec_paused() || self.inconclusive() {
            return;
        }
        let Some(new) = self.new_rs.clone() else {
            return;
        };
        let current = self.service_selector(&active);
        let target = if self.aborted() {
            self.status.stable_rs.clone().filter(|s| !s.is_empty())
        } else {
            let desired = self.desired_new_replicas(bg);
            let ready = is_ready_for_pause(Some(new.size), desired)
                && is_saturated(Some(new.size), new.desired_annotation, self.replicas);
            if ready && (self.fast_tracked(bg) || pause_completed) {
                Some(new.hash.clone())
            } else {
                current.clone()
            }
        };
        if let Some(target) = target
            && current.as_ref() != Some(&target)
        {
            self.point_service(&active, &target);
        }
    }

    fn record_selectors(&mut self, bg: &BlueGreenStrategy) {
        let active = self.active_selector(bg);
        let preview = bg
            .preview_service
            .as_deref()
            .and_then(|svc| self.service_selector(svc));
        let status = self
            .status
            .blue_green
            .get_or_insert_with(BlueGreenStatus::default);
        status.active_selector = active;
        status.preview_selector = preview;
    }

    /// §6.3 promotion and the preview checkpoint.
    fn blue_green_status(&mut self, bg: &BlueGreenStrategy, pause_completed: bool) {
        let Some(new) = self.new_rs.clone() else {
            return;
        };
        self.record_selectors(bg);
        let checkpoint = scale_up_preview_check_point(&PreviewCheckPointInput {
            preview_replica_count: bg.preview_replica_count,
            previous: self.checkpoint(),
            aborted_with_template_change: false,
            fully_promoted_or_unknown: self.fully_promoted(),
            pre_promotion_successful: true,
            pause_completed,
            new_rs_available: new.size.available,
        });
        if let Some(status) = self.status.blue_green.as_mut() {
            status.scale_up_preview_check_point = checkpoint.then_some(true);
        }
        let active = self.active_selector(bg).unwrap_or_default();
        let stable = self.status.stable_rs.clone().unwrap_or_default();
        let why = if stable.is_empty() || active.is_empty() {
            Some("Initial deploy")
        } else if active != new.hash {
            None
        } else if self.promote_full() {
            Some("Full promotion requested")
        } else if self.fully_promoted() || self.fast_rollback() {
            Some("Fast rollback")
        } else if self.aborted()
            || (bg.post_promotion_analysis.is_some()
                && self
                    .blue_green_run_status(Promotion::Post)
                    .map(|s| s.status)
                    != Some(AnalysisPhase::Successful.as_str().to_owned()))
        {
            None
        } else {
            Some("Completed blue-green update")
        };
        if let Some(why) = why {
            if !self.fully_promoted() {
                self.event(
                    reason::COMPLETED,
                    format!(
                        "Rollout completed update to revision {} ({}): {why}",
                        new.revision, new.hash
                    ),
                    EventType::Normal,
                );
            }
            self.status.pause_conditions = None;
            self.status.promote_full = None;
            self.status.abort = None;
            self.status.stable_rs = Some(new.hash.clone());
            if let Some(status) = self.status.blue_green.as_mut() {
                status.scale_up_preview_check_point = None;
            }
        } else if self.aborted() {
            self.status.pause_conditions = None;
            if self.status.aborted_at.is_none() {
                self.status.aborted_at = Some(format_time(self.now));
            }
        }
        self.settle_pause_and_abort_fields();
    }
}

/// Which blue-green AnalysisRun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Promotion {
    /// `prePromotionAnalysis` (infix `pre`).
    Pre,
    /// `postPromotionAnalysis` (infix `post`).
    Post,
}

impl Planner<'_> {
    fn blue_green_run_status(&self, which: Promotion) -> Option<RolloutAnalysisRunStatus> {
        let status = self.status.blue_green.as_ref()?;
        match which {
            Promotion::Pre => status.pre_promotion_analysis_run_status.clone(),
            Promotion::Post => status.post_promotion_analysis_run_status.clone(),
        }
    }

    fn set_blue_green_run_status(
        &mut self,
        which: Promotion,
        value: Option<RolloutAnalysisRunStatus>,
    ) {
        let status = self
            .status
            .blue_green
            .get_or_insert_with(BlueGreenStatus::default);
        match which {
            Promotion::Pre => status.pre_promotion_analysis_run_status = value,
            Promotion::Post => status.post_promotion_analysis_run_status = value,
        }
    }

    /// §6.4: create and follow the pre- or post-promotion run. Returns whether that gate is
    /// passed (not configured, skipped by a fast track, or its current run Successful).
    fn blue_green_analysis(&mut self, bg: &BlueGreenStrategy, which: Promotion) -> bool {
        let analysis = match which {
            Promotion::Pre => bg.pre_promotion_analysis.clone(),
            Promotion::Post => bg.post_promotion_analysis.clone(),
        };
        let Some(analysis) = analysis else {
            return true;
        };
        let Some(new) = self.new_rs.clone() else {
            return false;
        };
        let active = self.active_selector(bg);
        let active_is_new = active.as_deref() == Some(new.hash.as_str());
        let skip = self.aborted()
            || self.promote_full()
            || self.fully_promoted()
            || self.fast_rollback()
            || (which == Promotion::Pre
                && (active_is_new || active.as_deref().is_none_or(str::is_empty)));
        let should_start = match which {
            Promotion::Pre => is_ready_for_pause(Some(new.size), self.desired_new_replicas(bg)),
            Promotion::Post => {
                active_is_new && is_saturated(Some(new.size), new.desired_annotation, self.replicas)
            }
        };
        let current = self.blue_green_run_status(which);
        let live = current.as_ref().and_then(|c| {
            self.snap
                .analysis_runs
                .iter()
                .find(|run| run.name_any() == c.name)
                .cloned()
        });
        let stale = live.as_ref().is_some_and(|run| {
            run.labels()
                .get(POD_TEMPLATE_HASH_LABEL)
                .map(String::as_str)
                != Some(new.hash.as_str())
        });
        if skip || stale {
            if let Some(run) = live.as_ref()
                && !run.is_terminating()
                && run.phase().is_none_or(|p| !is_terminal(p))
            {
                self.actions.push(Action::PatchAnalysisRun {
                    name: run.name_any(),
                    patch: json!({"spec": {"terminate": true}}),
                });
            }
            if stale {
                self.set_blue_green_run_status(which, None);
            }
            if skip {
                // Promoted or fast-tracked: the gate does not apply (aborted: it is closed).
                return !self.aborted();
            }
        }
        // Retry (abort cleared, abortedAt still set): a failed run is replaced by a new one.
        let retrying = !self.aborted() && self.status.aborted_at.is_some();
        let live = live.filter(|run| {
            !(retrying
                && matches!(
                    run.phase(),
                    Some(
                        AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive
                    )
                ))
        });
        if let Some(run) = live.filter(|_| !stale) {
            let phase = run.phase();
            let message = run.status.as_ref().and_then(|s| s.message.clone());
            self.set_blue_green_run_status(
                which,
                Some(RolloutAnalysisRunStatus {
                    name: run.name_any(),
                    status: phase
                        .map(AnalysisPhase::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    message: message.clone(),
                    extra: BTreeMap::default(),
                }),
            );
            match phase {
                Some(AnalysisPhase::Successful) => return true,
                Some(AnalysisPhase::Failed | AnalysisPhase::Error) => {
                    let stage = match which {
                        Promotion::Pre => "pre-promotion",
                        Promotion::Post => "post-promotion",
                    };
                    self.status.abort = Some(true);
                    self.abort_reason = Some(format!(
                        "Blue/green {stage} analysis phase error/failed: {}",
                        message.unwrap_or_default()
                    ));
                }
                Some(AnalysisPhase::Inconclusive) if !self.inconclusive() => {
                    self.add_pause_condition(INCONCLUSIVE_ANALYSIS_RUN);
                }
                _ => {}
            }
            return false;
        }
        if should_start {
            let (infix, kind) = match which {
                Promotion::Pre => ("pre", "PrePromotion"),
                Promotion::Post => ("post", "PostPromotion"),
            };
            if let Some(run) = self.build_run(&analysis, Some(infix), kind, None) {
                self.set_blue_green_run_status(
                    which,
                    Some(RolloutAnalysisRunStatus {
                        name: run.name_any(),
                        status: String::new(),
                        message: None,
                        extra: BTreeMap::default(),
                    }),
                );
                self.create_run(run);
            }
        }
        false
    }
}
