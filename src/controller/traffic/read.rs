//! The I/O edge of traffic routing: discover which router kinds the cluster serves (Istio and SMI
//! are optional CRDs) and read the router objects one Rollout references into
//! [`TrafficObjects`]. Objects are handled as [`DynamicObject`]s turned into JSON, because the
//! Istio and SMI types are not in k8s-openapi and unknown fields must survive.

use std::collections::BTreeMap;

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::gvk::GroupVersionKind;
use kube::discovery::{self, ApiGroup};

use super::{ObjectKey, RouterKind, TrafficObjects, referenced_objects};
use crate::crd::Rollout;

/// Why reading router objects failed (not "kind not served" and not "object missing": those are
/// recorded in [`TrafficObjects`] and reported as InvalidSpec by the planner).
#[derive(Debug, thiserror::Error)]
pub enum ReadTrafficObjectsError {
    /// Discovery of an API group failed.
    #[error("discovering API group {group}: {source}")]
    Discover {
        /// The group.
        group: &'static str,
        /// Cause.
        source: kube::Error,
    },
    /// Reading an object failed.
    #[error("reading {kind} {namespace}/{name}: {source}")]
    Get {
        /// Kind.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        source: kube::Error,
    },
}

/// The apiVersion the cluster prefers for `kind`, or `None` when the kind is not served.
/// Ingress is built in and always `networking.k8s.io/v1`.
pub async fn served_version(
    client: &Client,
    kind: RouterKind,
) -> Result<Option<String>, ReadTrafficObjectsError> {
    if kind == RouterKind::Ingress {
        return Ok(Some("networking.k8s.io/v1".to_owned()));
    }
    Ok(discover_group(client, kind.group())
        .await?
        .and_then(|group| recommended_api_version(&group, kind)))
}

/// The API group, or `None` when the cluster does not serve it.
async fn discover_group(
    client: &Client,
    group: &'static str,
) -> Result<Option<ApiGroup>, ReadTrafficObjectsError> {
    match discovery::group(client, group).await {
        Ok(found) => Ok(Some(found)),
        Err(kube::Error::Discovery(_)) => Ok(None),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(source) => Err(ReadTrafficObjectsError::Discover { group, source }),
    }
}

fn recommended_api_version(group: &ApiGroup, kind: RouterKind) -> Option<String> {
    group
        .recommended_kind(kind.kind())
        .map(|(resource, _)| resource.api_version)
}

/// The [`ApiResource`] of a router kind at `api_version`.
pub fn api_resource(kind: RouterKind, api_version: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, version, kind.kind()),
        kind.plural(),
    )
}

/// Reads every router object `rollout` references, after discovering the kinds it needs.
pub async fn read_traffic_objects(
    client: &Client,
    rollout: &Rollout,
) -> Result<TrafficObjects, ReadTrafficObjectsError> {
    let keys = referenced_objects(rollout);
    let mut served = BTreeMap::new();
    let mut objects = BTreeMap::new();
    // One discovery per API group (VirtualService and DestinationRule share one).
    let mut groups: BTreeMap<&'static str, Option<ApiGroup>> = BTreeMap::new();
    for kind in RouterKind::ALL {
        if !keys.iter().any(|k| k.kind == kind) {
            continue;
        }
        if kind == RouterKind::Ingress {
            served.insert(kind, "networking.k8s.io/v1".to_owned());
            continue;
        }
        if !groups.contains_key(kind.group()) {
            let found = discover_group(client, kind.group()).await?;
            groups.insert(kind.group(), found);
        }
        if let Some(version) = groups
            .get(kind.group())
            .and_then(Option::as_ref)
            .and_then(|group| recommended_api_version(group, kind))
        {
            served.insert(kind, version);
        }
    }
    for key in keys {
        let Some(version) = served.get(&key.kind) else {
            continue;
        };
        if let Some(object) = get_object(client, &key, version).await? {
            objects.insert(key, object);
        }
    }
    Ok(TrafficObjects { served, objects })
}

async fn get_object(
    client: &Client,
    key: &ObjectKey,
    api_version: &str,
) -> Result<Option<serde_json::Value>, ReadTrafficObjectsError> {
    let resource = api_resource(key.kind, api_version);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &key.namespace, &resource);
    let object = api
        .get_opt(&key.name)
        .await
        .map_err(|source| ReadTrafficObjectsError::Get {
            kind: key.kind.kind(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            source,
        })?;
    Ok(object.and_then(|mut o| {
        // Keep the object's own apiVersion/kind; DynamicObject carries them in `types`.
        if o.types.is_none() {
            o.types = Some(kube::core::TypeMeta {
                api_version: api_version.to_owned(),
                kind: key.kind.kind().to_owned(),
            });
        }
        serde_json::to_value(o).ok()
    }))
}

/// Whether the Rollout may still mark router objects it no longer references: it records
/// traffic weights in its status but has no `trafficRouting` any more (the pass right after the
/// user removed it). Only then does the shell look for such objects, so an ordinary Rollout
/// costs no extra request.
pub fn may_hold_released_objects(rollout: &Rollout) -> bool {
    rollout.traffic_routing().is_none()
        && rollout
            .status
            .as_ref()
            .and_then(|s| s.canary.as_ref())
            .is_some_and(|c| c.weights.is_some())
}

/// The DestinationRules of the Rollout's namespace that carry its `managed-by-rollouts`
/// annotation (empty when Istio is not served), for the planner to release them.
pub async fn read_released_objects(
    client: &Client,
    rollout: &Rollout,
) -> Result<TrafficObjects, ReadTrafficObjectsError> {
    use kube::ResourceExt;
    let kind = RouterKind::DestinationRule;
    let mut traffic = TrafficObjects::default();
    let Some(version) = served_version(client, kind).await? else {
        return Ok(traffic);
    };
    let namespace = rollout.namespace().unwrap_or_default();
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &namespace, &api_resource(kind, &version));
    let list = api
        .list(&kube::api::ListParams::default())
        .await
        .map_err(|source| ReadTrafficObjectsError::Get {
            kind: kind.kind(),
            namespace: namespace.clone(),
            name: String::new(),
            source,
        })?;
    let name = rollout.name_any();
    for object in list.items {
        let managed = object
            .annotations()
            .get(crate::controller::snapshot::MANAGED_BY_ANNOTATION)
            == Some(&name);
        if !managed {
            continue;
        }
        let key = ObjectKey {
            kind,
            namespace: namespace.clone(),
            name: object.name_any(),
        };
        if let Ok(value) = serde_json::to_value(&object) {
            traffic.objects.insert(key, value);
        }
    }
    traffic.served.insert(kind, version);
    Ok(traffic)
}
