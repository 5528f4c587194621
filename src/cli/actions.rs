//! The action commands (`promote`, `abort`, `retry rollout`, `restart`, `pause`, `set image`,
//! `undo`, `terminate analysisrun`): read the rollout, ask the shared planner
//! (`model::plan_action`) whether the action can work, send its requests through
//! `cluster::actions`, and print what was done in the plugin's words. A refusal prints why
//! and exits 1 without writing.

use std::process::ExitCode;

use chrono::Utc;
use kube::api::Api;
use serde_json::json;

use crate::cluster::actions::{SendOptions, UNDO_SKIPPED, send_with, terminate_analysis_run};
use crate::crd::{Rollout, parse_go_duration};
use crate::model::{
    Action, ActionPlan, ActionRefused, PatchKind, PatchRequest, PatchTarget, RolloutExtras,
    RolloutSummary, Strategy, human_duration, plan_action,
};

/// What the operator typed, before the rollout is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Promote { full: bool, skip_current_step: bool },
    Abort,
    Retry,
    Restart { after: Option<String> },
    Pause,
    SetImage { assignment: String },
    Undo { to_revision: Option<u64> },
}

/// A refusal in CLI words: the planner's reason plus the command that helps, if any.
fn refusal(name: &str, refused: &ActionRefused) -> String {
    match refused {
        ActionRefused::AbortedRetryFirst => format!(
            "rollout '{name}' is aborted: run `rolltop retry rollout {name}` first, then promote"
        ),
        ActionRefused::AlreadyAborted => format!(
            "rollout '{name}' is already aborted: `rolltop retry rollout {name}` restarts the update"
        ),
        other => format!("rollout '{name}': {other}"),
    }
}

/// `promote --skip-current-step`: the plugin's status patch `currentStepIndex: N+1`, capped at
/// the number of steps (not a planner case: the cockpit has no such key).
fn skip_current_step(summary: &RolloutSummary) -> Result<ActionPlan, String> {
    if summary.strategy == Strategy::BlueGreen {
        return Err("Cannot skip steps of a bluegreen rollout. Run without a flags".to_owned());
    }
    if summary.steps.is_empty() {
        return Err("Cannot skip steps of a rollout without steps".to_owned());
    }
    let next = (summary.step_index.unwrap_or(0) as usize + 1).min(summary.steps.len());
    Ok(ActionPlan {
        action: Action::Promote,
        effect: format!("skip to step {next}/{}", summary.steps.len()),
        requests: vec![PatchRequest {
            target: PatchTarget::StatusSubresource,
            kind: PatchKind::Merge,
            body: json!({"status": {"currentStepIndex": next}}),
        }],
    })
}

fn split_assignment(assignment: &str) -> Result<(String, String), String> {
    match assignment.split_once('=') {
        Some((container, image)) if !container.is_empty() => {
            Ok((container.to_owned(), image.to_owned()))
        }
        _ => Err(format!("expected CONTAINER=IMAGE, got {assignment:?}")),
    }
}

/// Runs one action command against rollout `name`; returns the exit code.
pub async fn run(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    request: Request,
    readonly: bool,
) -> anyhow::Result<ExitCode> {
    let rollout = Api::<Rollout>::namespaced(client.clone(), namespace)
        .get(name)
        .await?;
    let summary = RolloutSummary::from_rollout(&rollout, RolloutExtras::default());
    let now = Utc::now();
    let mut after_text = "0s".to_owned();
    let mut options = SendOptions::default();
    let planned = match &request {
        Request::Promote {
            skip_current_step: true,
            ..
        } => {
            if readonly {
                Err(refusal(name, &ActionRefused::ReadOnly))
            } else {
                skip_current_step(&summary)
            }
        }
        Request::Promote { full, .. } => {
            let action = if *full {
                Action::PromoteFull
            } else {
                Action::Promote
            };
            plan_action(&summary, &action, now, readonly).map_err(|r| refusal(name, &r))
        }
        Request::Abort => {
            plan_action(&summary, &Action::Abort, now, readonly).map_err(|r| refusal(name, &r))
        }
        Request::Retry => {
            plan_action(&summary, &Action::Retry, now, readonly).map_err(|r| refusal(name, &r))
        }
        Request::Pause => {
            plan_action(&summary, &Action::Pause, now, readonly).map_err(|r| refusal(name, &r))
        }
        Request::Restart { after } => {
            let delay = match after {
                Some(text) => parse_go_duration(text)
                    .map_err(|e| anyhow::anyhow!("invalid --in {text:?}: {e}"))?,
                None => std::time::Duration::ZERO,
            };
            after_text = human_duration(delay);
            let at = now + chrono::Duration::from_std(delay)?;
            plan_action(&summary, &Action::Restart, at, readonly).map_err(|r| refusal(name, &r))
        }
        Request::SetImage { assignment } => match split_assignment(assignment) {
            Ok((container, image)) => plan_action(
                &summary,
                &Action::SetImage { container, image },
                now,
                readonly,
            )
            .map_err(|r| refusal(name, &r)),
            Err(message) => Err(message),
        },
        Request::Undo { to_revision } => {
            options.undo_to_revision = *to_revision;
            // With an explicit revision the planner's "no earlier revision" check does not
            // apply: the ReplicaSet lookup decides.
            let check = if to_revision.is_some() {
                let mut any = summary.clone();
                any.revision = any.revision.max(2);
                plan_action(&any, &Action::Undo, now, readonly)
            } else {
                plan_action(&summary, &Action::Undo, now, readonly)
            };
            check.map_err(|r| refusal(name, &r))
        }
    };
    let plan = match planned {
        Ok(plan) => plan,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let lines = send_with(client, namespace, name, &plan, options).await?;
    for line in &lines {
        tracing::info!("{line}");
    }
    let done = match request {
        Request::Promote { full: true, .. } => format!("rollout '{name}' fully promoted"),
        Request::Promote { .. } => format!("rollout '{name}' promoted"),
        Request::Abort => format!("rollout '{name}' aborted"),
        Request::Retry => format!("rollout '{name}' retried"),
        Request::Pause => format!("rollout '{name}' paused"),
        Request::Restart { .. } => format!("rollout '{name}' restarts in {after_text}"),
        Request::SetImage { .. } => format!("rollout \"{name}\" image updated"),
        Request::Undo { .. } => lines
            .iter()
            .find(|l| l.starts_with(UNDO_SKIPPED))
            .cloned()
            .unwrap_or_else(|| format!("rollout '{name}' undo")),
    };
    super::output::write_stdout(&format!("{done}\n"))?;
    Ok(ExitCode::SUCCESS)
}

/// `terminate analysisrun NAME`.
pub async fn terminate(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    readonly: bool,
) -> anyhow::Result<ExitCode> {
    if readonly {
        eprintln!("error: {}", ActionRefused::ReadOnly);
        return Ok(ExitCode::FAILURE);
    }
    let line = terminate_analysis_run(client, namespace, name).await?;
    tracing::info!("{line}");
    super::output::write_stdout(&format!("analysisRun '{name}' terminated\n"))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ResourceKey, StepKind, StepView};
    use chrono::DateTime;

    #[test]
    fn skip_current_step_follows_the_plugin() {
        let mut summary = RolloutSummary::new(
            ResourceKey::new("ns", "x"),
            Strategy::Canary,
            DateTime::UNIX_EPOCH,
        );
        assert!(skip_current_step(&summary).is_err());
        summary.steps = vec![
            StepView::new(StepKind::SetWeight, "20"),
            StepView::new(StepKind::Pause, ""),
        ];
        summary.step_index = Some(1);
        let plan = skip_current_step(&summary).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plan.requests[0].body,
            json!({"status": {"currentStepIndex": 2}})
        );
        summary.step_index = Some(2);
        let plan = skip_current_step(&summary).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plan.requests[0].body,
            json!({"status": {"currentStepIndex": 2}})
        );
        summary.strategy = Strategy::BlueGreen;
        assert!(skip_current_step(&summary).is_err());
    }

    #[test]
    fn assignments_split_at_the_first_equals_sign() {
        assert_eq!(
            split_assignment("app=reg/x:v2").ok(),
            Some(("app".to_owned(), "reg/x:v2".to_owned()))
        );
        assert!(split_assignment("noequals").is_err());
        assert!(split_assignment("=img").is_err());
    }
}
