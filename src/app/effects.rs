//! Runs the `Effect`s `update` returns: starts and stops watchers, reconnects for another
//! context, sends actions (`cluster::actions::send`, in a task of its own). Results come back
//! as `Msg`s on the loop's inbox; nothing here touches `State` or the terminal. Watch tasks are
//! aborted when replaced or on drop.

use kube::Client;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::cli::args::ClusterArgs;
use crate::cluster::actions;
use crate::cluster::client::connect;
use crate::cluster::watch::{self, WatchEvent};
use crate::model::ResourceKey;

use super::msg::Effect;
use super::state::Scope;
use super::triage::TriageTarget;
use super::triage_tasks::TriageTasks;

/// What the loop should do after an effect ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    Continue,
    Quit,
    /// Show this on the status line (effects that are not built yet say so).
    Notice(String),
}

/// The watchers and the client they use.
pub struct EffectRunner {
    client: Client,
    cluster_args: ClusterArgs,
    scope: Scope,
    watch_events: UnboundedSender<WatchEvent>,
    action_results: UnboundedSender<super::Msg>,
    list: Option<JoinHandle<()>>,
    detail: Option<JoinHandle<()>>,
    triage: TriageTasks,
}

impl EffectRunner {
    pub fn new(
        client: Client,
        cluster_args: ClusterArgs,
        scope: Scope,
        watch_events: UnboundedSender<WatchEvent>,
        action_results: UnboundedSender<super::Msg>,
    ) -> Self {
        let triage = TriageTasks::new(client.clone(), action_results.clone());
        Self {
            client,
            cluster_args,
            scope,
            watch_events,
            action_results,
            list: None,
            detail: None,
            triage,
        }
    }

    /// `--prometheus URL` for the triage charts and re-checks.
    pub fn set_prometheus(&mut self, url: Option<String>) {
        self.triage.set_prometheus(url);
    }

    /// (Re)starts the list watchers for the current scope.
    pub fn start_list(&mut self) {
        if let Some(task) = self.list.take() {
            task.abort();
        }
        let namespace = match &self.scope {
            Scope::Namespace(ns) => Some(ns.clone()),
            Scope::AllNamespaces => None,
        };
        self.list = Some(watch::spawn_list(
            self.client.clone(),
            namespace,
            self.watch_events.clone(),
        ));
    }

    fn start_detail(&mut self, key: ResourceKey) {
        self.stop_detail();
        self.detail = Some(watch::spawn_detail(
            self.client.clone(),
            key,
            self.watch_events.clone(),
        ));
    }

    fn stop_detail(&mut self) {
        if let Some(task) = self.detail.take() {
            task.abort();
        }
    }

    pub async fn run(&mut self, effect: Effect) -> After {
        match effect {
            Effect::Quit => return After::Quit,
            Effect::WatchDetail(key) => self.start_detail(key),
            Effect::StopDetail => self.stop_detail(),
            Effect::SetScope(scope) => {
                self.stop_detail();
                self.triage.stop_follow();
                self.triage.stop_runs();
                self.scope = scope;
                self.start_list();
            }
            Effect::SwitchContext(context) => {
                self.stop_detail();
                let args = ClusterArgs {
                    context: Some(context.clone()),
                    ..self.cluster_args.clone()
                };
                match connect(&args).await {
                    Ok(connection) => {
                        self.triage.set_client(connection.client.clone());
                        self.client = connection.client;
                        self.cluster_args = args;
                        self.start_list();
                    }
                    Err(error) => {
                        // Keep watching the old context rather than showing nothing.
                        self.start_list();
                        return After::Notice(format!("switching to context {context}: {error}"));
                    }
                }
            }
            Effect::Send { key, plan, .. } => {
                // Off the loop: a slow API server must not freeze the keys.
                let client = self.client.clone();
                let results = self.action_results.clone();
                tokio::spawn(async move {
                    let outcome = actions::send(&client, &key.namespace, &key.name, &plan)
                        .await
                        .map(drop)
                        .map_err(|error| error.to_string());
                    let _ = results.send(super::Msg::ActionFinished {
                        key,
                        verb: plan.action.verb().to_owned(),
                        outcome,
                    });
                });
            }
            Effect::OpenLogs(key) => {
                return After::Notice(format!("not implemented yet: logs of {key}"));
            }
            Effect::ShowYaml(key) => {
                return After::Notice(format!("not implemented yet: YAML of {key}"));
            }
            Effect::OpenTriage(key) => self.triage.follow(TriageTarget::NewestOf(key)),
            Effect::OpenTriageRun(key) => self.triage.follow(TriageTarget::Run(key)),
            Effect::StopTriage => self.triage.stop_follow(),
            Effect::ListAnalysisRuns => {
                let namespace = match &self.scope {
                    Scope::Namespace(ns) => Some(ns.clone()),
                    Scope::AllNamespaces => None,
                };
                self.triage.list_runs(namespace);
            }
            Effect::StopAnalysisRuns => self.triage.stop_runs(),
            Effect::Recheck(request) => self.triage.recheck(*request),
        }
        After::Continue
    }
}

impl Drop for EffectRunner {
    fn drop(&mut self) {
        self.stop_detail();
        if let Some(task) = self.list.take() {
            task.abort();
        }
    }
}
