//! Watches on the optional router kinds (Istio VirtualService / DestinationRule, SMI
//! TrafficSplit) for the controller loop. Their CRDs may be absent: each kind's watcher starts
//! only once discovery finds it, discovery is repeated every [`DISCOVERY_RECHECK`] until then, and
//! a kind that appears wakes every Rollout that references it (so an `InvalidSpec` about a
//! missing kind clears without a spec edit). Every event on a router object wakes the Rollouts
//! that name it. Ingresses are built in and watched by the runner directly.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use futures::{FutureExt, StreamExt};
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};

use super::read::{api_resource, served_version};
use super::{ObjectKey, RouterKind, referenced_objects};
use crate::crd::Rollout;

/// How often discovery looks again for router kinds not served yet.
pub const DISCOVERY_RECHECK: Duration = Duration::from_secs(15);

/// The kinds whose CRDs may be missing.
const OPTIONAL_KINDS: [RouterKind; 3] = [
    RouterKind::VirtualService,
    RouterKind::DestinationRule,
    RouterKind::TrafficSplit,
];

/// The Rollouts in `store` that reference the object (`kind`, `namespace`, `name`).
pub fn rollouts_referencing(
    store: &Store<Rollout>,
    kind: RouterKind,
    namespace: &str,
    name: &str,
) -> Vec<ObjectRef<Rollout>> {
    let key = ObjectKey {
        kind,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    };
    store
        .state()
        .into_iter()
        .filter(|rollout| referenced_objects(rollout).contains(&key))
        .map(|rollout| ObjectRef::from_obj(&*rollout))
        .collect()
}

fn any_rollout_needs(store: &Store<Rollout>, kind: RouterKind) -> bool {
    store
        .state()
        .iter()
        .any(|rollout| referenced_objects(rollout).iter().any(|k| k.kind == kind))
}

fn any_rollout_names(store: &Store<Rollout>, key: &ObjectKey) -> bool {
    store
        .state()
        .iter()
        .any(|rollout| referenced_objects(rollout).contains(key))
}

/// Runs until `shutdown`: discovers the optional kinds, watches the served ones (in `namespace`,
/// or cluster-wide), and sends `()` into `trigger` whenever a Rollout must look again. The runner
/// turns that into a reconcile of every Rollout (kube-runtime's per-object external triggers are
/// behind unstable features), so only events on objects some Rollout names are sent.
pub async fn watch_optional_router_kinds(
    client: Client,
    namespace: Option<String>,
    store: Store<Rollout>,
    trigger: UnboundedSender<()>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let shutdown = shutdown.fuse();
    futures::pin_mut!(shutdown);
    let mut started = BTreeSet::new();
    let mut watchers = Vec::new();
    loop {
        for kind in OPTIONAL_KINDS {
            if started.contains(&kind) {
                continue;
            }
            let version = match served_version(&client, kind).await {
                Ok(Some(version)) => version,
                Ok(None) => continue,
                Err(error) => {
                    tracing::debug!(%error, kind = kind.kind(), "router kind discovery");
                    continue;
                }
            };
            tracing::info!(kind = kind.kind(), %version, "watching router kind");
            started.insert(kind);
            if any_rollout_needs(&store, kind) {
                let _ = trigger.unbounded_send(());
            }
            let resource = api_resource(kind, &version);
            let api: Api<DynamicObject> = match namespace.as_deref() {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
                None => Api::all_with(client.clone(), &resource),
            };
            let store = store.clone();
            let trigger = trigger.clone();
            watchers.push(tokio::spawn(async move {
                let events = watcher(api, watcher::Config::default())
                    .default_backoff()
                    .touched_objects();
                futures::pin_mut!(events);
                while let Some(event) = events.next().await {
                    let Ok(object) = event else {
                        continue;
                    };
                    let key = ObjectKey {
                        kind,
                        namespace: object.namespace().unwrap_or_default(),
                        name: object.name_any(),
                    };
                    if any_rollout_names(&store, &key) && trigger.unbounded_send(()).is_err() {
                        return;
                    }
                }
            }));
        }
        if started.len() == OPTIONAL_KINDS.len() {
            (&mut shutdown).await;
            break;
        }
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(DISCOVERY_RECHECK) => {}
        }
    }
    for task in watchers {
        task.abort();
    }
}
