//! Runs the `Effect`s `update` returns: starts and stops watchers, reconnects for another
//! context, sends actions (`cluster::actions::send`, in a task of its own). Results come back
//! as `Msg`s on the loop's inbox; nothing here touches `State` or the terminal. Watch tasks are
//! aborted when replaced or on drop.

use kube::Client;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::cli::args::ClusterArgs;
use crate::cluster::client::connect;
use crate::cluster::objects::{LogEvent, fetch_yaml, follow_log};
use crate::cluster::watch::{self, WatchEvent};
use crate::model::ResourceKey;

use super::msg::{Effect, LogSource};
use super::pager::LOG_TAIL_LINES;
use super::sending::{Sender, spawn_send};
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
    /// One task per followed pod log.
    logs: Vec<JoinHandle<()>>,
    sender: Sender,
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
            logs: Vec::new(),
            sender: Sender::default(),
            triage,
        }
    }

    /// Who sends actions and where they are recorded.
    #[must_use]
    pub fn with_sender(mut self, sender: Sender) -> Self {
        self.sender = sender;
        self
    }

    fn stop_logs(&mut self) {
        for task in self.logs.drain(..) {
            task.abort();
        }
    }

    fn follow_logs(&mut self, stream: u64, sources: Vec<LogSource>) {
        self.stop_logs();
        for (pane, source) in sources.into_iter().enumerate() {
            let results = self.action_results.clone();
            let send = move |event: LogEvent| {
                results
                    .send(super::Msg::Log {
                        stream,
                        pane,
                        event,
                    })
                    .is_ok()
            };
            self.logs.push(tokio::spawn(follow_log(
                self.client.clone(),
                source.namespace,
                source.pod,
                source.container,
                LOG_TAIL_LINES,
                send,
            )));
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
        // The detail view opens with its metric charts shown (`m` hides them).
        self.triage.watch_detail_charts(key.clone());
        self.detail = Some(watch::spawn_detail(
            self.client.clone(),
            key,
            self.watch_events.clone(),
        ));
    }

    fn stop_detail(&mut self) {
        self.triage.stop_detail_charts();
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
            Effect::Send { context, key, plan } => {
                // Off the loop: a slow API server must not freeze the keys.
                spawn_send(
                    self.client.clone(),
                    self.sender.clone(),
                    context,
                    key,
                    plan,
                    self.action_results.clone(),
                );
            }
            Effect::FollowLogs { stream, sources } => self.follow_logs(stream, sources),
            Effect::StopLogs => self.stop_logs(),
            Effect::FetchYaml { kind, key } => {
                let client = self.client.clone();
                let results = self.action_results.clone();
                tokio::spawn(async move {
                    let result = fetch_yaml(&client, kind, &key.namespace, &key.name)
                        .await
                        .map_err(|error| error.to_string());
                    let _ = results.send(super::Msg::Yaml { kind, key, result });
                });
            }
            Effect::Notify(text) => notify_terminal(&text),
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
            Effect::WatchDetailCharts(key) => self.triage.watch_detail_charts(key),
            Effect::StopDetailCharts => self.triage.stop_detail_charts(),
        }
        After::Continue
    }
}

/// A bell and an OSC 9 desktop notification (iTerm2, kitty, WezTerm, foot, Windows
/// Terminal). Control characters are dropped from the text so cluster data cannot end the
/// sequence early or inject others.
fn notify_terminal(text: &str) {
    use std::io::Write;
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "\x07\x1b]9;{clean}\x07");
    let _ = out.flush();
}

impl Drop for EffectRunner {
    fn drop(&mut self) {
        self.stop_detail();
        self.stop_logs();
        if let Some(task) = self.list.take() {
            task.abort();
        }
    }
}
