//! When to ring: a rollout that *starts* waiting for a human (a manual pause) or *starts*
//! failing (Degraded or aborted). A pure transition detector over two summaries of the same
//! rollout; the cockpit turns an [`Alert`] into a bell and an OSC 9 desktop notification.

use super::rollout::{Attention, RolloutSummary};

/// Why a rollout asks for attention now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alert {
    WaitingForHuman {
        rollout: String,
        reason: String,
    },
    Failed {
        rollout: String,
        aborted: bool,
        reason: String,
    },
}

impl Alert {
    /// One line for the notification and the status line.
    pub fn text(&self) -> String {
        match self {
            Self::WaitingForHuman { rollout, reason } => {
                format!("{rollout} is waiting for a human: {reason}")
            }
            Self::Failed {
                rollout,
                aborted: true,
                reason,
            } => format!("{rollout} was aborted: {reason}"),
            Self::Failed {
                rollout, reason, ..
            } => format!("{rollout} went Degraded: {reason}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Human,
    Failure,
}

fn need(summary: &RolloutSummary) -> Option<Need> {
    match summary.attention() {
        Attention::ManualPause => Some(Need::Human),
        Attention::Degraded | Attention::Aborted => Some(Need::Failure),
        _ => None,
    }
}

/// The alert for the change `before → after`, if it enters a state that needs a human. A
/// rollout seen for the first time (`before` is `None`) never rings: starting the cockpit or
/// re-listing must not replay every old failure.
pub fn alert(before: Option<&RolloutSummary>, after: &RolloutSummary) -> Option<Alert> {
    let before = before?;
    let now = need(after)?;
    if need(before) == Some(now) {
        return None;
    }
    let rollout = after.key.to_string();
    let reason = |fallback: &str| {
        if after.message.is_empty() {
            fallback.to_owned()
        } else {
            after.message.clone()
        }
    };
    Some(match now {
        Need::Human => Alert::WaitingForHuman {
            rollout,
            reason: after
                .pause
                .as_ref()
                .map(|pause| pause.reason.clone())
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| reason("paused")),
        },
        Need::Failure => Alert::Failed {
            rollout,
            aborted: after.aborted,
            reason: reason(if after.aborted { "aborted" } else { "Degraded" }),
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::Phase;
    use crate::model::field_reports::{field_reports, fixed_now};

    #[test]
    fn rings_only_on_entering_a_state_that_needs_a_human() {
        let paused = field_reports(fixed_now())
            .into_iter()
            .find(|s| s.attention() == Attention::ManualPause)
            .unwrap();
        let healthy = RolloutSummary::new(paused.key.clone(), paused.strategy, fixed_now());
        let mut degraded = healthy.clone();
        degraded.phase = Phase::Degraded;
        degraded.message = "ProgressDeadlineExceeded".into();
        let mut aborted = degraded.clone();
        aborted.aborted = true;
        assert_eq!(need(&paused), Some(Need::Human), "{paused:?}");
        let cases: [(Option<&RolloutSummary>, &RolloutSummary, Option<&str>); 7] = [
            (None, &paused, None),
            (Some(&healthy), &healthy, None),
            (Some(&healthy), &paused, Some("waiting")),
            (Some(&paused), &paused, None),
            (
                Some(&healthy),
                &degraded,
                Some("went Degraded: ProgressDeadlineExceeded"),
            ),
            (Some(&degraded), &aborted, None),
            (Some(&paused), &degraded, Some("Degraded")),
        ];
        for (before, after, want) in cases {
            let got = alert(before, after).map(|a| a.text());
            match want {
                None => assert_eq!(got, None),
                Some(text) => assert!(got.as_deref().is_some_and(|g| g.contains(text)), "{got:?}"),
            }
        }
    }
}
