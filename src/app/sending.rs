//! Sending a confirmed action, the careful way: SelfSubjectAccessReview for every permission
//! the plan needs first (a denied one is reported and nothing is sent), then the requests, then
//! one line in the local audit log. Runs in a task of its own; the outcome comes back to the
//! loop as `Msg::ActionFinished`.

use std::path::PathBuf;

use tokio::sync::mpsc::UnboundedSender;

use crate::cluster::access::check_plan;
use crate::cluster::actions;
use crate::cluster::audit::{self, AuditEntry};
use crate::model::{ActionPlan, ResourceKey};

use super::msg::Msg;

/// Who sends, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Sender {
    /// The kubeconfig user of the context.
    pub user: String,
    /// Where audit lines go; `None` when no location is known (then a warning follows each
    /// action).
    pub audit_log: Option<PathBuf>,
}

/// Checks, sends and records one action; reports on `results`.
pub fn spawn_send(
    client: kube::Client,
    sender: Sender,
    context: String,
    key: ResourceKey,
    plan: ActionPlan,
    results: UnboundedSender<Msg>,
) {
    tokio::spawn(async move {
        let verb = plan.action.verb().to_owned();
        let outcome = match check_plan(&client, &key.namespace, &key.name, &plan).await {
            Ok(Some(denied)) => Err(format!("nothing sent, {denied}")),
            Err(error) => Err(format!("nothing sent, {error}")),
            Ok(None) => {
                let sent = actions::send(&client, &key.namespace, &key.name, &plan)
                    .await
                    .map(drop)
                    .map_err(|error| error.to_string());
                let entry = AuditEntry {
                    at: chrono::Utc::now(),
                    context: &context,
                    user: &sender.user,
                    namespace: &key.namespace,
                    rollout: &key.name,
                    plan: &plan,
                    outcome: sent.as_ref().copied().map_err(String::as_str),
                };
                match audit::append(sender.audit_log.as_deref(), &entry) {
                    Ok(()) => sent,
                    Err(error) => sent
                        .map_err(|e| format!("{e}; {error}"))
                        .and_then(|()| Err(format!("sent, but not recorded: {error}"))),
                }
            }
        };
        let _ = results.send(Msg::ActionFinished { key, verb, outcome });
    });
}
