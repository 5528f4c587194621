//! The object store: every object as JSON, one global resourceVersion counter, a bounded watch
//! history and a broadcast of changes for live watches. Garbage collection through
//! ownerReferences and CRD (un)registration happen here, inside the same write, so watchers see
//! one consistent sequence of events. Persistence (when configured) commits each write.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::persist::{Batch, Persistence, Snapshot};
use super::registry::{Registry, ResourceKind};
use super::status::ApiError;

/// How many changes the watch history keeps by default; older resourceVersions get 410 Gone.
pub const HISTORY_LIMIT: usize = 20_000;
const BROADCAST_CAPACITY: usize = 32_768;
const CRD_KEY: &str = "apiextensions.k8s.io/customresourcedefinitions";
const NAMESPACE_KEY: &str = "/namespaces";

/// ADDED, MODIFIED or DELETED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "ADDED" => Some(Self::Added),
            "MODIFIED" => Some(Self::Modified),
            "DELETED" => Some(Self::Deleted),
            _ => None,
        }
    }
}

/// One committed change, as watches see it.
#[derive(Debug, Clone)]
pub struct Change {
    pub resource_version: u64,
    pub kind_key: String,
    pub namespace: String,
    pub change_type: ChangeType,
    pub object: Value,
    /// The object before the change (for selector transitions).
    pub previous: Option<Value>,
}

impl Change {
    fn to_json(&self) -> Value {
        json!({"rv": self.resource_version, "key": self.kind_key, "ns": self.namespace,
               "type": self.change_type.as_str(), "object": self.object, "previous": self.previous})
    }

    fn from_json(rv: u64, v: &Value) -> Option<Self> {
        Some(Self {
            resource_version: rv,
            kind_key: v.get("key")?.as_str()?.to_owned(),
            namespace: v.get("ns")?.as_str()?.to_owned(),
            change_type: ChangeType::parse(v.get("type")?.as_str()?)?,
            object: v.get("object")?.clone(),
            previous: v.get("previous").filter(|p| !p.is_null()).cloned(),
        })
    }
}

/// How dependents of a deleted object are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents are deleted too (background and foreground both land here).
    Cascade,
    /// Dependents lose their ownerReference to the deleted object.
    Orphan,
}

/// Why the store could not start.
pub use super::persist::PersistError;

type ObjectKey = (String, String, String);

struct Inner {
    resource_version: u64,
    objects: BTreeMap<ObjectKey, Value>,
    history: VecDeque<Arc<Change>>,
    history_floor: u64,
    registry: Arc<Registry>,
    db: Option<Persistence>,
    history_limit: usize,
}

/// The shared store.
pub struct Store {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<Change>>,
}

/// What a watch starts from.
pub struct Subscription {
    /// Changes to send first (replayed history or the current objects as ADDED).
    pub backlog: Vec<Arc<Change>>,
    /// Only changes with a resourceVersion above this come from `live`.
    pub after: u64,
    pub live: broadcast::Receiver<Arc<Change>>,
}

fn storage_key(key: &ObjectKey) -> String {
    format!("{}|{}|{}", key.0, key.1, key.2)
}

fn parse_storage_key(raw: &str) -> Option<ObjectKey> {
    let mut parts = raw.splitn(3, '|');
    Some((
        parts.next()?.to_owned(),
        parts.next()?.to_owned(),
        parts.next()?.to_owned(),
    ))
}

fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A stored object as clients of `kind` see it (only `events.k8s.io` Events differ).
pub fn outward(kind: &ResourceKind, stored: &Value) -> Value {
    if kind.is_events_v1() {
        super::event::to_events_v1(stored)
    } else {
        stored.clone()
    }
}

/// A client's object in its stored shape.
fn inward(kind: &ResourceKind, object: Value) -> Value {
    if kind.is_events_v1() {
        super::event::to_core(&object)
    } else {
        object
    }
}

/// RFC 3339 with second precision, as the API server writes timestamps.
pub fn now_timestamp() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn namespace_object(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
           "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
}

impl Store {
    /// An empty store (with `default` and `kube-system`), or the one saved in `db`.
    pub fn open(db: Option<Persistence>, history_limit: usize) -> Result<Self, PersistError> {
        let snapshot = match &db {
            Some(db) => db.load()?,
            None => Snapshot::default(),
        };
        let mut objects = BTreeMap::new();
        for (key, value) in snapshot.objects {
            if let Some(key) = parse_storage_key(&key) {
                objects.insert(key, value);
            }
        }
        let history: VecDeque<Arc<Change>> = snapshot
            .history
            .iter()
            .filter_map(|(rv, v)| Change::from_json(*rv, v).map(Arc::new))
            .collect();
        let registry = Arc::new(Registry::build(
            objects
                .iter()
                .filter(|(k, _)| k.0 == CRD_KEY)
                .map(|(_, v)| v),
        ));
        let inner = Inner {
            resource_version: snapshot.resource_version,
            history_floor: if db.is_some() {
                snapshot.history_floor
            } else {
                0
            },
            objects,
            history,
            registry,
            db,
            history_limit: history_limit.max(1),
        };
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        let store = Self {
            inner: Mutex::new(inner),
            events,
        };
        for ns in ["default", "kube-system", "kube-public"] {
            let exists = store.lock().objects.contains_key(&(
                NAMESPACE_KEY.to_owned(),
                String::new(),
                ns.to_owned(),
            ));
            if !exists {
                let kind = store
                    .registry()
                    .by_key(NAMESPACE_KEY)
                    .cloned()
                    .ok_or_else(|| {
                        PersistError::Seed("the Namespace kind is not registered".to_owned())
                    })?;
                store
                    .create(&kind, namespace_object(ns))
                    .map_err(|e| PersistError::Seed(e.message))?;
            }
        }
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written object (writes are
        // single inserts), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Closes the database (every write is already committed), so that a restarted sandbox
    /// can open it again even while stray tasks still hold the store. Later writes stay in
    /// memory only.
    pub fn close(&self) {
        drop(self.lock().db.take());
    }

    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.lock().registry)
    }

    pub fn resource_version(&self) -> u64 {
        self.lock().resource_version
    }

    pub fn get(&self, kind: &ResourceKind, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&(kind.storage_key(), namespace.to_owned(), name.to_owned()))
            .map(|v| outward(kind, v))
    }

    /// Objects of a kind, sorted by namespace then name, and the current resourceVersion.
    pub fn list(&self, kind: &ResourceKind, namespace: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.lock();
        let key = kind.storage_key();
        let items = inner
            .objects
            .range((key.clone(), String::new(), String::new())..)
            .take_while(|(k, _)| k.0 == key)
            .filter(|(k, _)| namespace.is_none_or(|ns| k.1 == ns))
            .map(|(_, v)| outward(kind, v))
            .collect();
        (items, inner.resource_version)
    }

    /// Stores a new object: assigns uid, creationTimestamp, generation and resourceVersion.
    pub fn create(&self, kind: &ResourceKind, object: Value) -> Result<Value, ApiError> {
        let mut object = inward(kind, object);
        let mut inner = self.lock();
        let namespace = if kind.namespaced {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_owned()
        } else {
            String::new()
        };
        let name = name_of(&object).to_owned();
        if kind.namespaced
            && !inner.objects.contains_key(&(
                NAMESPACE_KEY.to_owned(),
                String::new(),
                namespace.clone(),
            ))
        {
            return Err(ApiError::not_found("", "namespaces", &namespace));
        }
        let key = (kind.storage_key(), namespace, name.clone());
        if inner.objects.contains_key(&key) {
            return Err(ApiError::already_exists(&kind.group, &kind.plural, &name));
        }
        let rv = inner.resource_version + 1;
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            meta.insert("creationTimestamp".into(), json!(now_timestamp()));
            meta.insert("resourceVersion".into(), json!(rv.to_string()));
            meta.insert("generation".into(), json!(1));
        }
        let change = Change {
            resource_version: rv,
            kind_key: key.0.clone(),
            namespace: key.1.clone(),
            change_type: ChangeType::Added,
            object: object.clone(),
            previous: None,
        };
        let is_crd = key.0 == CRD_KEY;
        let orphaned = Self::all_owners_gone(&inner, &object);
        inner.objects.insert(key.clone(), object.clone());
        inner.resource_version = rv;
        if is_crd {
            Self::rebuild_registry(&mut inner);
        }
        let mut changes = vec![change];
        if orphaned {
            // A controller with a stale cache can create a dependent just after its owner was
            // deleted. Kubernetes' garbage collector deletes such objects shortly after; here it
            // happens in the same write, so watchers see ADDED then DELETED.
            Self::remove_cascade(&mut inner, &key, Propagation::Cascade, &mut changes);
        }
        self.commit(&mut inner, changes)
            .map(|()| outward(kind, &object))
    }

    /// Whether `object` names owners and none of them exists any more.
    fn all_owners_gone(inner: &Inner, object: &Value) -> bool {
        let Some(owner_uids) = object
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .map(|refs| {
                refs.iter()
                    .filter_map(|r| r.get("uid").and_then(Value::as_str))
                    .collect::<Vec<_>>()
            })
            .filter(|uids| !uids.is_empty())
        else {
            return false;
        };
        !inner.objects.values().any(|candidate| {
            candidate
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .is_some_and(|uid| owner_uids.contains(&uid))
        })
    }

    /// Replaces a stored object with `object` (already merged by the caller); the
    /// resourceVersion is assigned here. `expected_rv` enforces optimistic concurrency.
    pub fn replace(
        &self,
        kind: &ResourceKind,
        namespace: &str,
        name: &str,
        expected_rv: Option<&str>,
        build: impl FnOnce(&Value) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let key = (kind.storage_key(), namespace.to_owned(), name.to_owned());
        let Some(old) = inner.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(&kind.group, &kind.plural, name));
        };
        let old_rv = old
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(expected) = expected_rv
            && expected != old_rv
        {
            return Err(ApiError::conflict(&kind.group, &kind.plural, name));
        }
        let mut object = inward(kind, build(&outward(kind, &old))?);
        if object == old {
            // A no-op write keeps the resourceVersion and emits nothing, as the real server.
            return Ok(outward(kind, &old));
        }
        let rv = inner.resource_version + 1;
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), json!(rv.to_string()));
        }
        // An object marked for deletion goes once its last finalizer is removed.
        let finalized = object.pointer("/metadata/deletionTimestamp").is_some()
            && object
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
        inner.resource_version = rv;
        let mut changes = vec![Change {
            resource_version: rv,
            kind_key: key.0.clone(),
            namespace: key.1.clone(),
            change_type: ChangeType::Modified,
            object: object.clone(),
            previous: Some(old),
        }];
        inner.objects.insert(key.clone(), object.clone());
        if finalized {
            Self::remove_cascade(&mut inner, &key, Propagation::Cascade, &mut changes);
        }
        if key.0 == CRD_KEY {
            Self::rebuild_registry(&mut inner);
        }
        self.commit(&mut inner, changes)
            .map(|()| outward(kind, &object))
    }

    /// Deletes an object and handles its dependents; returns the object as deleted (with the
    /// deletion's resourceVersion). Objects with finalizers are only marked for deletion.
    pub fn delete(
        &self,
        kind: &ResourceKind,
        namespace: &str,
        name: &str,
        propagation: Propagation,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let key = (kind.storage_key(), namespace.to_owned(), name.to_owned());
        let Some(old) = inner.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(&kind.group, &kind.plural, name));
        };
        let has_finalizers = old
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        let mut changes = Vec::new();
        if has_finalizers {
            if old.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(old);
            }
            let rv = inner.resource_version + 1;
            inner.resource_version = rv;
            let mut marked = old.clone();
            marked["metadata"]["deletionTimestamp"] = json!(now_timestamp());
            marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            marked["metadata"]["resourceVersion"] = json!(rv.to_string());
            inner.objects.insert(key.clone(), marked.clone());
            changes.push(Change {
                resource_version: rv,
                kind_key: key.0.clone(),
                namespace: key.1.clone(),
                change_type: ChangeType::Modified,
                object: marked.clone(),
                previous: Some(old),
            });
            self.commit(&mut inner, changes)?;
            return Ok(outward(kind, &marked));
        }
        let deleted = Self::remove_cascade(&mut inner, &key, propagation, &mut changes);
        if key.0 == CRD_KEY {
            Self::rebuild_registry(&mut inner);
        }
        self.commit(&mut inner, changes)?;
        Ok(outward(kind, &deleted.unwrap_or(old)))
    }

    /// Removes one object, then its dependents (or orphans them), then — for a Namespace or
    /// a CRD — everything it contains. Pushes one change per touched object.
    fn remove_cascade(
        inner: &mut Inner,
        key: &ObjectKey,
        propagation: Propagation,
        changes: &mut Vec<Change>,
    ) -> Option<Value> {
        let mut queue = vec![(key.clone(), propagation)];
        let mut first = None;
        while let Some((key, propagation)) = queue.pop() {
            let Some(mut object) = inner.objects.remove(&key) else {
                continue;
            };
            let rv = inner.resource_version + 1;
            inner.resource_version = rv;
            object["metadata"]["resourceVersion"] = json!(rv.to_string());
            let uid = object
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            changes.push(Change {
                resource_version: rv,
                kind_key: key.0.clone(),
                namespace: key.1.clone(),
                change_type: ChangeType::Deleted,
                object: object.clone(),
                previous: None,
            });
            if first.is_none() {
                first = Some(object.clone());
            }
            // Everything inside a deleted Namespace or of a deleted CRD's kind goes too.
            let contained: Vec<ObjectKey> = if key.0 == NAMESPACE_KEY {
                inner
                    .objects
                    .keys()
                    .filter(|k| k.1 == key.2)
                    .cloned()
                    .collect()
            } else if key.0 == CRD_KEY {
                let kind_key = object
                    .pointer("/spec/group")
                    .and_then(Value::as_str)
                    .zip(object.pointer("/spec/names/plural").and_then(Value::as_str))
                    .map(|(g, p)| format!("{g}/{p}"));
                inner
                    .objects
                    .keys()
                    .filter(|k| Some(&k.0) == kind_key.as_ref())
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            queue.extend(contained.into_iter().map(|k| (k, Propagation::Cascade)));
            if uid.is_empty() {
                continue;
            }
            let dependents: Vec<ObjectKey> = inner
                .objects
                .iter()
                .filter(|(_, v)| {
                    v.pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .is_some_and(|refs| {
                            refs.iter()
                                .any(|r| r.get("uid").and_then(Value::as_str) == Some(&uid))
                        })
                })
                .map(|(k, _)| k.clone())
                .collect();
            for dependent in dependents {
                match propagation {
                    Propagation::Cascade => queue.push((dependent, Propagation::Cascade)),
                    Propagation::Orphan => {
                        let Some(current) = inner.objects.get(&dependent).cloned() else {
                            continue;
                        };
                        let mut updated = current.clone();
                        if let Some(refs) = updated
                            .pointer_mut("/metadata/ownerReferences")
                            .and_then(Value::as_array_mut)
                        {
                            refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(&uid));
                            if refs.is_empty()
                                && let Some(meta) = updated["metadata"].as_object_mut()
                            {
                                meta.remove("ownerReferences");
                            }
                        }
                        let rv = inner.resource_version + 1;
                        inner.resource_version = rv;
                        updated["metadata"]["resourceVersion"] = json!(rv.to_string());
                        inner.objects.insert(dependent.clone(), updated.clone());
                        changes.push(Change {
                            resource_version: rv,
                            kind_key: dependent.0.clone(),
                            namespace: dependent.1.clone(),
                            change_type: ChangeType::Modified,
                            object: updated,
                            previous: Some(current),
                        });
                    }
                }
            }
        }
        first
    }

    fn rebuild_registry(inner: &mut Inner) {
        inner.registry = Arc::new(Registry::build(
            inner
                .objects
                .iter()
                .filter(|(k, _)| k.0 == CRD_KEY)
                .map(|(_, v)| v),
        ));
    }

    /// Persists, records history and broadcasts a write's changes.
    fn commit(&self, inner: &mut Inner, changes: Vec<Change>) -> Result<(), ApiError> {
        let changes: Vec<Arc<Change>> = changes.into_iter().map(Arc::new).collect();
        let mut trimmed_floor = inner.history_floor;
        inner.history.extend(changes.iter().cloned());
        while inner.history.len() > inner.history_limit {
            if let Some(dropped) = inner.history.pop_front() {
                trimmed_floor = dropped.resource_version;
            }
        }
        inner.history_floor = trimmed_floor;
        if let Some(db) = &inner.db {
            let mut batch = Batch {
                history_floor: inner.history_floor,
                resource_version: inner.resource_version,
                ..Batch::default()
            };
            for change in &changes {
                let key = (
                    change.kind_key.clone(),
                    change.namespace.clone(),
                    name_of(&change.object).to_owned(),
                );
                match change.change_type {
                    ChangeType::Deleted => batch.deletes.push(storage_key(&key)),
                    _ => batch.puts.push((
                        storage_key(&key),
                        serde_json::to_vec(&change.object).unwrap_or_default(),
                    )),
                }
                batch.history.push((
                    change.resource_version,
                    serde_json::to_vec(&change.to_json()).unwrap_or_default(),
                ));
            }
            db.write(&batch)
                .map_err(|e| ApiError::internal(format!("persisting the write: {e}")))?;
        }
        for change in changes {
            // No receiver is fine: nobody is watching.
            let _ = self.events.send(change);
        }
        Ok(())
    }

    /// Starts a watch of one kind from `since` (None or 0: the current objects as ADDED).
    pub fn subscribe(&self, kind_key: &str, since: Option<u64>) -> Result<Subscription, ApiError> {
        let inner = self.lock();
        let live = self.events.subscribe();
        let after = inner.resource_version;
        let backlog = match since {
            None | Some(0) => inner
                .objects
                .range((kind_key.to_owned(), String::new(), String::new())..)
                .take_while(|(k, _)| k.0 == kind_key)
                .map(|(k, v)| {
                    Arc::new(Change {
                        resource_version: v
                            .pointer("/metadata/resourceVersion")
                            .and_then(Value::as_str)
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(after),
                        kind_key: k.0.clone(),
                        namespace: k.1.clone(),
                        change_type: ChangeType::Added,
                        object: v.clone(),
                        previous: None,
                    })
                })
                .collect(),
            Some(rv) => {
                if rv < inner.history_floor {
                    return Err(ApiError::expired(rv));
                }
                inner
                    .history
                    .iter()
                    .filter(|c| c.resource_version > rv && c.kind_key == kind_key)
                    .cloned()
                    .collect()
            }
        };
        Ok(Subscription {
            backlog,
            after,
            live,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kind(registry: &Registry, group: &str, plural: &str) -> ResourceKind {
        registry.find(group, "v1", plural).cloned().unwrap()
    }

    #[test]
    fn create_replace_delete_with_gc() {
        let store = Store::open(None, HISTORY_LIMIT).unwrap();
        let registry = store.registry();
        let rs = kind(&registry, "apps", "replicasets");
        let pods = kind(&registry, "", "pods");
        let owner = store
            .create(
                &rs,
                json!({"metadata": {"name": "web", "namespace": "default"}}),
            )
            .unwrap();
        let uid = owner["metadata"]["uid"].as_str().unwrap().to_owned();
        for name in ["a", "b"] {
            store
                .create(
                    &pods,
                    json!({"metadata": {"name": name, "namespace": "default",
                        "ownerReferences": [{"uid": uid, "kind": "ReplicaSet", "name": "web", "apiVersion": "apps/v1"}]}}),
                )
                .unwrap();
        }
        assert!(matches!(
            store.create(&pods, json!({"metadata": {"name": "a", "namespace": "default"}})),
            Err(e) if e.code == 409
        ));
        let stale = store.replace(&pods, "default", "a", Some("1"), |old| Ok(old.clone()));
        assert!(matches!(stale, Err(e) if e.reason == "Conflict"));
        store
            .delete(&rs, "default", "web", Propagation::Cascade)
            .unwrap();
        assert_eq!(store.list(&pods, None).0.len(), 0);
    }

    #[test]
    fn orphan_keeps_dependents_without_owner() {
        let store = Store::open(None, HISTORY_LIMIT).unwrap();
        let registry = store.registry();
        let rs = kind(&registry, "apps", "replicasets");
        let pods = kind(&registry, "", "pods");
        let owner = store
            .create(
                &rs,
                json!({"metadata": {"name": "web", "namespace": "default"}}),
            )
            .unwrap();
        store
            .create(
                &pods,
                json!({"metadata": {"name": "a", "namespace": "default",
                "ownerReferences": [{"uid": owner["metadata"]["uid"]}]}}),
            )
            .unwrap();
        store
            .delete(&rs, "default", "web", Propagation::Orphan)
            .unwrap();
        let pod = store.get(&pods, "default", "a").unwrap();
        assert!(pod.pointer("/metadata/ownerReferences").is_none());
    }

    #[test]
    fn dependent_created_after_its_owner_is_collected() {
        let store = Store::open(None, HISTORY_LIMIT).unwrap();
        let pods = kind(&store.registry(), "", "pods");
        let created = store
            .create(
                &pods,
                json!({"metadata": {"name": "late", "namespace": "default",
                "ownerReferences": [{"uid": "gone", "kind": "ReplicaSet", "name": "web"}]}}),
            )
            .unwrap();
        assert_eq!(created["metadata"]["name"], "late");
        assert!(store.get(&pods, "default", "late").is_none());
        let unowned = store
            .create(
                &pods,
                json!({"metadata": {"name": "free", "namespace": "default"}}),
            )
            .unwrap();
        assert_eq!(unowned["metadata"]["name"], "free");
        assert!(store.get(&pods, "default", "free").is_some());
    }

    #[test]
    fn missing_namespace_is_not_found() {
        let store = Store::open(None, HISTORY_LIMIT).unwrap();
        let pods = kind(&store.registry(), "", "pods");
        let error = store
            .create(
                &pods,
                json!({"metadata": {"name": "a", "namespace": "nope"}}),
            )
            .unwrap_err();
        assert_eq!(error.message, "namespaces \"nope\" not found");
    }
}
