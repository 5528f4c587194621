//! Watchers that feed the cockpit: one kube-runtime `watcher` (default backoff) per kind and
//! scope. The list needs Rollouts and AnalysisRuns of the scope; the rollout that is open also
//! needs its ReplicaSets, Pods, AnalysisRuns, Experiments and Events. Objects arrive as `DynamicObject` and
//! are decoded one by one, so one malformed object is skipped (and reported) instead of breaking
//! the whole watch. managedFields are dropped at the edge and everything is converted to `model`
//! types in the watcher task; the cockpit never sees a Kubernetes object.
//!
//! Boundaries: no terminal, no `app` types. A task sends `WatchEvent`s on a channel and ends
//! when the receiver is gone or the task is aborted (dropping the streams ends the watches).

use std::collections::BTreeMap;

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::crd::{AnalysisRun, Experiment, Rollout};
use crate::model::AnalysisSummary;
use crate::model::event::sort_events;
use crate::model::revisions::build_revisions_with_experiments;
use crate::model::{EventView, ResourceKey, RevisionView, RolloutExtras, RolloutSummary};

/// What the watchers tell the cockpit.
#[derive(Debug, Clone)]
pub enum WatchEvent {
    /// A rollout of the scope was added or changed (or one of its AnalysisRuns did).
    Upsert(Box<RolloutSummary>),
    Remove(ResourceKey),
    /// The complete list of the scope (watch start or restart); replaces everything.
    Resynced(Vec<RolloutSummary>),
    /// The children of the open rollout, rebuilt after each change.
    Detail {
        key: ResourceKey,
        revisions: Vec<RevisionView>,
        events: Vec<EventView>,
    },
    /// An object that could not be decoded; the watch goes on without it.
    Skipped(String),
    /// The watch broke; the watcher retries with backoff.
    Failed(String),
}

/// Watches the Rollouts and AnalysisRuns of `namespace` (`None`: all namespaces).
pub fn spawn_list(
    client: Client,
    namespace: Option<String>,
    events: UnboundedSender<WatchEvent>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let rollouts = dynamic_watch::<Rollout>(&client, namespace.as_deref(), None);
        let runs = dynamic_watch::<AnalysisRun>(&client, namespace.as_deref(), None);
        let mut merged = futures::stream::select(
            rollouts.map(|event| (Kind::Rollout, event)),
            runs.map(|event| (Kind::AnalysisRun, event)),
        );
        let mut list = ListStore::default();
        while let Some((kind, event)) = merged.next().await {
            let out = match event {
                Ok(event) => list.apply(kind, event),
                Err(error) => vec![WatchEvent::Failed(format!("watching {kind}s: {error}"))],
            };
            for event in out {
                if events.send(event).is_err() {
                    return;
                }
            }
        }
    })
}

/// Watches everything the detail view of `key` shows.
pub fn spawn_detail(
    client: Client,
    key: ResourceKey,
    events: UnboundedSender<WatchEvent>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let ns = Some(key.namespace.as_str());
        let by_name = format!("metadata.name={}", key.name);
        let about = format!(
            "involvedObject.kind=Rollout,involvedObject.name={}",
            key.name
        );
        let streams = vec![
            dynamic_watch::<Rollout>(&client, ns, Some(&by_name))
                .map(|e| (Kind::Rollout, e))
                .boxed(),
            dynamic_watch::<ReplicaSet>(&client, ns, None)
                .map(|e| (Kind::ReplicaSet, e))
                .boxed(),
            dynamic_watch::<Pod>(&client, ns, None)
                .map(|e| (Kind::Pod, e))
                .boxed(),
            dynamic_watch::<AnalysisRun>(&client, ns, None)
                .map(|e| (Kind::AnalysisRun, e))
                .boxed(),
            dynamic_watch::<Experiment>(&client, ns, None)
                .map(|e| (Kind::Experiment, e))
                .boxed(),
            dynamic_watch::<Event>(&client, ns, Some(&about))
                .map(|e| (Kind::Event, e))
                .boxed(),
        ];
        let mut merged = futures::stream::select_all(streams);
        let mut detail = DetailStore::default();
        while let Some((kind, event)) = merged.next().await {
            let mut out = Vec::new();
            match event {
                Ok(event) => {
                    if detail.apply(kind, event, &mut out) {
                        out.push(detail.snapshot(&key));
                    }
                }
                // Many clusters run rollouts without the Experiment CRD: its absence is no
                // failure worth a status line, the tree just has no experiments.
                Err(error) if kind == Kind::Experiment => {
                    tracing::debug!("watching Experiments of {key}: {error}");
                }
                Err(error) => out.push(WatchEvent::Failed(format!(
                    "watching {kind}s of {key}: {error}"
                ))),
            }
            for event in out {
                if events.send(event).is_err() {
                    return;
                }
            }
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rollout,
    AnalysisRun,
    ReplicaSet,
    Pod,
    Experiment,
    Event,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Rollout => "Rollout",
            Kind::AnalysisRun => "AnalysisRun",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Pod => "Pod",
            Kind::Experiment => "Experiment",
            Kind::Event => "Event",
        })
    }
}

/// A watch of `K` as raw objects, so decoding can fail per object.
fn dynamic_watch<K>(
    client: &Client,
    namespace: Option<&str>,
    field_selector: Option<&str>,
) -> BoxStream<'static, Result<watcher::Event<DynamicObject>, watcher::Error>>
where
    K: Resource,
    K::DynamicType: Default,
{
    let resource = ApiResource::erase::<K>(&K::DynamicType::default());
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let mut config = watcher::Config::default();
    if let Some(fields) = field_selector {
        config = config.fields(fields);
    }
    watcher(api, config).default_backoff().boxed()
}

/// Decodes one object; managedFields are dropped first (nothing here reads them).
fn decode<K: DeserializeOwned>(kind: Kind, mut object: DynamicObject) -> Result<K, String> {
    object.metadata.managed_fields = None;
    let name = format!(
        "{}/{}",
        object.metadata.namespace.as_deref().unwrap_or_default(),
        object.metadata.name.as_deref().unwrap_or_default()
    );
    let value = serde_json::to_value(object).map_err(|e| format!("{kind} {name}: {e}"))?;
    serde_json::from_value(value).map_err(|e| format!("skipped {kind} {name}: {e}"))
}

fn key_of(meta: &kube::api::ObjectMeta) -> ResourceKey {
    ResourceKey {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
    }
}

/// Objects of one kind with Init..InitDone buffered, so a restart replaces them atomically.
struct Store<K> {
    items: BTreeMap<ResourceKey, K>,
    pending: Option<BTreeMap<ResourceKey, K>>,
    synced: bool,
}

impl<K> Default for Store<K> {
    fn default() -> Self {
        Self {
            items: BTreeMap::new(),
            pending: None,
            synced: false,
        }
    }
}

/// What one watch event did to a store.
enum Change {
    Upsert(ResourceKey),
    Remove(ResourceKey),
    Resynced,
    Nothing,
}

impl<K: DeserializeOwned + Resource> Store<K> {
    fn apply(
        &mut self,
        kind: Kind,
        event: watcher::Event<DynamicObject>,
        notes: &mut Vec<WatchEvent>,
    ) -> Change {
        match event {
            watcher::Event::Init => {
                self.pending = Some(BTreeMap::new());
                Change::Nothing
            }
            watcher::Event::InitApply(object) => {
                match decode::<K>(kind, object) {
                    Ok(item) => {
                        let key = key_of(item.meta());
                        self.pending
                            .get_or_insert_with(BTreeMap::new)
                            .insert(key, item);
                    }
                    Err(note) => notes.push(WatchEvent::Skipped(note)),
                }
                Change::Nothing
            }
            watcher::Event::InitDone => {
                self.items = self.pending.take().unwrap_or_default();
                self.synced = true;
                Change::Resynced
            }
            watcher::Event::Apply(object) => match decode::<K>(kind, object) {
                Ok(item) => {
                    let key = key_of(item.meta());
                    self.items.insert(key.clone(), item);
                    Change::Upsert(key)
                }
                Err(note) => {
                    notes.push(WatchEvent::Skipped(note));
                    Change::Nothing
                }
            },
            watcher::Event::Delete(object) => {
                let key = key_of(&object.metadata);
                self.items.remove(&key);
                Change::Remove(key)
            }
        }
    }

    fn values(&self) -> Vec<K>
    where
        K: Clone,
    {
        self.items.values().cloned().collect()
    }
}

/// The list watcher's memory: rollouts and runs, to attach each rollout's latest run.
#[derive(Default)]
struct ListStore {
    rollouts: Store<Rollout>,
    runs: Store<AnalysisRun>,
}

impl ListStore {
    fn apply(&mut self, kind: Kind, event: watcher::Event<DynamicObject>) -> Vec<WatchEvent> {
        let mut out = Vec::new();
        if kind == Kind::Rollout {
            match self.rollouts.apply(kind, event, &mut out) {
                Change::Upsert(key) => {
                    if let Some(summary) = self.summary(&key) {
                        out.push(WatchEvent::Upsert(Box::new(summary)));
                    }
                }
                Change::Remove(key) => out.push(WatchEvent::Remove(key)),
                Change::Resynced => out.push(self.resynced()),
                Change::Nothing => {}
            }
        } else {
            let owner = match &event {
                watcher::Event::Apply(object) | watcher::Event::Delete(object) => {
                    rollout_owner(&object.metadata)
                }
                _ => None,
            };
            match self.runs.apply(kind, event, &mut out) {
                Change::Upsert(_) | Change::Remove(_) => {
                    if let Some(summary) = owner.and_then(|key| self.summary(&key)) {
                        out.push(WatchEvent::Upsert(Box::new(summary)));
                    }
                }
                // Runs listed after the rollouts: the rows gain their analysis column.
                Change::Resynced if self.rollouts.synced => out.push(self.resynced()),
                Change::Resynced | Change::Nothing => {}
            }
        }
        out
    }

    fn resynced(&self) -> WatchEvent {
        WatchEvent::Resynced(
            self.rollouts
                .items
                .keys()
                .filter_map(|key| self.summary(key))
                .collect(),
        )
    }

    fn summary(&self, key: &ResourceKey) -> Option<RolloutSummary> {
        let rollout = self.rollouts.items.get(key)?;
        let uid = rollout.metadata.uid.as_deref();
        let latest = self
            .runs
            .items
            .range(
                ResourceKey {
                    namespace: key.namespace.clone(),
                    name: String::new(),
                }..,
            )
            .take_while(|(run_key, _)| run_key.namespace == key.namespace)
            .map(|(_, run)| run)
            .filter(|run| owned_by(&run.metadata, uid, &key.name))
            .max_by(|a, b| {
                a.metadata
                    .creation_timestamp
                    .cmp(&b.metadata.creation_timestamp)
                    .then_with(|| a.metadata.name.cmp(&b.metadata.name))
            });
        let extras = RolloutExtras {
            stable_image: None,
            analysis: latest.map(AnalysisSummary::from_run),
        };
        Some(RolloutSummary::from_rollout(rollout, extras))
    }
}

/// The Rollout a run belongs to, from its controller ownerReference.
fn rollout_owner(meta: &kube::api::ObjectMeta) -> Option<ResourceKey> {
    let owner = meta
        .owner_references
        .as_ref()?
        .iter()
        .find(|owner| owner.kind == "Rollout")?;
    Some(ResourceKey {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: owner.name.clone(),
    })
}

fn owned_by(meta: &kube::api::ObjectMeta, uid: Option<&str>, name: &str) -> bool {
    meta.owner_references.iter().flatten().any(|owner| {
        owner.kind == "Rollout" && uid.map_or(owner.name == name, |uid| owner.uid == uid)
    })
}

/// The detail watcher's memory: everything one rollout's tree is built from.
#[derive(Default)]
struct DetailStore {
    rollout: Store<Rollout>,
    replica_sets: Store<ReplicaSet>,
    pods: Store<Pod>,
    runs: Store<AnalysisRun>,
    experiments: Store<Experiment>,
    events: Store<Event>,
}

impl DetailStore {
    /// Applies one event; true when the view should be rebuilt.
    fn apply(
        &mut self,
        kind: Kind,
        event: watcher::Event<DynamicObject>,
        out: &mut Vec<WatchEvent>,
    ) -> bool {
        let change = match kind {
            Kind::Rollout => self.rollout.apply(kind, event, out),
            Kind::ReplicaSet => self.replica_sets.apply(kind, event, out),
            Kind::Pod => self.pods.apply(kind, event, out),
            Kind::AnalysisRun => self.runs.apply(kind, event, out),
            Kind::Experiment => self.experiments.apply(kind, event, out),
            Kind::Event => self.events.apply(kind, event, out),
        };
        !matches!(change, Change::Nothing)
    }

    fn snapshot(&self, key: &ResourceKey) -> WatchEvent {
        let revisions = match self.rollout.items.get(key) {
            Some(rollout) => build_revisions_with_experiments(
                rollout,
                &self.replica_sets.values(),
                &self.pods.values(),
                &self.runs.values(),
                &self.experiments.values(),
            ),
            None => Vec::new(),
        };
        let mut events: Vec<EventView> = self
            .events
            .items
            .values()
            .map(EventView::from_event)
            .collect();
        sort_events(&mut events);
        WatchEvent::Detail {
            key: key.clone(),
            revisions,
            events,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: serde_json::Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    fn rollout(name: &str, replicas: &serde_json::Value) -> DynamicObject {
        object(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                         "managedFields": [{"manager": "kubectl"}]},
            "spec": {"replicas": replicas, "strategy": {"canary": {}},
                     "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}
        }))
    }

    #[test]
    fn init_events_become_one_resync_and_a_malformed_rollout_is_skipped() {
        let mut list = ListStore::default();
        assert!(list.apply(Kind::Rollout, watcher::Event::Init).is_empty());
        let good = list.apply(
            Kind::Rollout,
            watcher::Event::InitApply(rollout("checkout", &json!(3))),
        );
        assert!(good.is_empty());
        let bad = list.apply(
            Kind::Rollout,
            watcher::Event::InitApply(rollout("broken", &json!("three"))),
        );
        assert!(
            matches!(&bad[..], [WatchEvent::Skipped(note)] if note.contains("shop/broken")),
            "{bad:?}"
        );
        let done = list.apply(Kind::Rollout, watcher::Event::InitDone);
        match &done[..] {
            [WatchEvent::Resynced(items)] => {
                assert_eq!(items.len(), 1);
                assert_eq!(items[0].key.name, "checkout");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            list.rollouts
                .items
                .values()
                .all(|r| r.metadata.managed_fields.is_none())
        );
    }

    #[test]
    fn apply_upserts_delete_removes_and_a_run_refreshes_its_rollout() {
        let mut list = ListStore::default();
        list.apply(Kind::Rollout, watcher::Event::Init);
        list.apply(Kind::Rollout, watcher::Event::InitDone);
        let up = list.apply(
            Kind::Rollout,
            watcher::Event::Apply(rollout("checkout", &json!(3))),
        );
        assert!(matches!(&up[..], [WatchEvent::Upsert(s)] if s.key.name == "checkout"));
        let run = object(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": "checkout-run-1", "namespace": "shop",
                         "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1",
                             "kind": "Rollout", "name": "checkout", "uid": "uid-checkout"}]},
            "spec": {"metrics": []},
            "status": {"phase": "Running"}
        }));
        let refreshed = list.apply(Kind::AnalysisRun, watcher::Event::Apply(run));
        match &refreshed[..] {
            [WatchEvent::Upsert(s)] => {
                assert_eq!(s.analysis.as_ref().unwrap().name, "checkout-run-1");
            }
            other => panic!("{other:?}"),
        }
        let gone = list.apply(
            Kind::Rollout,
            watcher::Event::Delete(rollout("checkout", &json!(3))),
        );
        assert!(matches!(&gone[..], [WatchEvent::Remove(k)] if k.name == "checkout"));
    }

    #[test]
    fn the_detail_tree_shows_the_rollouts_experiments() {
        let mut detail = DetailStore::default();
        let mut out = Vec::new();
        assert!(detail.apply(
            Kind::Rollout,
            watcher::Event::Apply(rollout("checkout", &json!(1))),
            &mut out
        ));
        let experiment = object(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Experiment",
            "metadata": {"name": "checkout-6f6-2-0", "namespace": "shop",
                         "annotations": {"rollout.argoproj.io/revision": "2"},
                         "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1",
                             "kind": "Rollout", "name": "checkout", "uid": "uid-checkout"}]},
            "spec": {"templates": []},
            "status": {"phase": "Running"}
        }));
        assert!(detail.apply(
            Kind::Experiment,
            watcher::Event::Apply(experiment),
            &mut out
        ));
        let key = ResourceKey {
            namespace: "shop".into(),
            name: "checkout".into(),
        };
        let WatchEvent::Detail { revisions, .. } = detail.snapshot(&key) else {
            panic!("not a detail snapshot");
        };
        let lines = crate::model::build_tree(&revisions, true);
        assert!(
            lines
                .iter()
                .any(|l| l.kind == crate::model::TreeKind::Experiment
                    && l.name == "checkout-6f6-2-0"
                    && l.status.as_ref().is_some_and(|s| s.word == "Running")),
            "{lines:?}"
        );
    }
}
