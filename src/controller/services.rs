//! The companion Service controller (spec §0 and §5.1, the reference's `service/service.go`): a
//! Service that carries the `argo-rollouts.argoproj.io/managed-by-rollouts` annotation but is
//! no longer referenced by any Rollout of its namespace (the strategy switched, the Rollout was
//! deleted, or its spec names another Service) gets the injected `rollouts-pod-template-hash`
//! selector and the annotation removed, so it selects every pod of the app again.
//!
//! [`selector_strip`] is the pure decision; [`run`] is the shell, a kube-runtime `Controller`
//! over Services that a Rollout event wakes for the Services that Rollout manages. It never
//! touches a Service without the annotation: only the controller (ours or Argo's) marks the
//! Services whose selector it owns.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::cluster::client::Scope;
use crate::controller::hash::POD_TEMPLATE_HASH_LABEL;
use crate::controller::lease::{LEASE_NAME, cluster_driver_skips};
use crate::controller::runner::referenced_services;
use crate::controller::snapshot::{MANAGED_BY_ANNOTATION, service_managed_by};
use crate::crd::Rollout;

/// The merge patch that hands `service` back to its owner, or `None` when it must stay as it is:
/// it is not marked as managed, or a live Rollout of its namespace among `rollouts` still names
/// it. Rollouts being deleted no longer count; Rollouts of other namespaces never do.
pub fn selector_strip(service: &Service, rollouts: &[Rollout]) -> Option<Value> {
    service_managed_by(service)?;
    let namespace = service.namespace();
    let name = service.name_any();
    let referenced = rollouts.iter().any(|rollout| {
        rollout.metadata.deletion_timestamp.is_none()
            && rollout.namespace() == namespace
            && referenced_services(rollout).contains(&name.as_str())
    });
    if referenced {
        return None;
    }
    let has_hash_selector = service
        .spec
        .as_ref()
        .and_then(|spec| spec.selector.as_ref())
        .is_some_and(|selector| selector.contains_key(POD_TEMPLATE_HASH_LABEL));
    let mut patch = json!({"metadata": {"annotations": {MANAGED_BY_ANNOTATION: null}}});
    if has_hash_selector {
        patch["spec"] = json!({"selector": {POD_TEMPLATE_HASH_LABEL: null}});
    }
    Some(patch)
}

/// The managed Services a Rollout event should wake: those whose annotation names it. A Rollout
/// that stopped naming a Service (or was deleted) is exactly the one whose name is on it.
fn services_managed_by(services: &[Arc<Service>], rollout: &Rollout) -> Vec<ObjectRef<Service>> {
    let namespace = rollout.namespace();
    let name = rollout.name_any();
    services
        .iter()
        .filter(|svc| svc.namespace() == namespace && service_managed_by(svc) == Some(&name))
        .map(|svc| ObjectRef::from_obj(&**svc))
        .collect()
}

/// Why one Service reconcile failed; retried after [`RETRY`].
#[derive(Debug, thiserror::Error)]
pub enum StripSelectorError {
    #[error("listing Rollouts in {namespace}: {source}")]
    ListRollouts {
        namespace: String,
        source: kube::Error,
    },
    #[error("reading Lease {namespace}/{LEASE_NAME}: {source}")]
    ReadLease {
        namespace: String,
        source: kube::Error,
    },
    #[error("patching Service {namespace}/{name}: {source}")]
    Patch {
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

/// Delay before a failed Service reconcile is retried.
const RETRY: Duration = Duration::from_secs(2);

struct Context {
    client: Client,
    skip_held_namespaces_as: Option<String>,
}

/// Runs the Service controller for `scope` until `shutdown`. `skip_held_namespaces_as` is the
/// cluster-wide driver's Lease identity: namespaces whose own Lease another identity holds are
/// left to that driver, as the rollout loop does.
pub async fn run(
    client: Client,
    scope: Scope,
    skip_held_namespaces_as: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let (services, rollouts): (Api<Service>, Api<Rollout>) = match &scope {
        Scope::AllNamespaces => (Api::all(client.clone()), Api::all(client.clone())),
        Scope::Namespace(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
    };
    let context = Arc::new(Context {
        client,
        skip_held_namespaces_as,
    });
    let controller = Controller::new(services, watcher::Config::default());
    let store = controller.store();
    controller
        .watches(rollouts, watcher::Config::default(), move |rollout| {
            services_managed_by(&store.state(), &rollout)
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "service reconcile");
            }
        })
        .await;
}

async fn reconcile(service: Arc<Service>, ctx: Arc<Context>) -> Result<Action, StripSelectorError> {
    if service_managed_by(&service).is_none() {
        return Ok(Action::await_change());
    }
    let namespace = service.namespace().unwrap_or_default();
    // A fresh list, not a cache: a cache lagging behind the event that woke us could still show
    // the Rollout that stopped naming this Service.
    let rollouts = Api::<Rollout>::namespaced(ctx.client.clone(), &namespace)
        .list(&ListParams::default())
        .await
        .map_err(|source| StripSelectorError::ListRollouts {
            namespace: namespace.clone(),
            source,
        })?;
    let Some(patch) = selector_strip(&service, &rollouts.items) else {
        return Ok(Action::await_change());
    };
    if let Some(me) = &ctx.skip_held_namespaces_as {
        let lease = Api::<Lease>::namespaced(ctx.client.clone(), &namespace)
            .get_opt(LEASE_NAME)
            .await
            .map_err(|source| StripSelectorError::ReadLease {
                namespace: namespace.clone(),
                source,
            })?;
        if cluster_driver_skips(lease.as_ref(), me, Timestamp::now()) {
            return Ok(Action::requeue(Duration::from_secs(5)));
        }
    }
    let name = service.name_any();
    tracing::info!(service = %format!("{namespace}/{name}"), "no rollout references it; removing the injected selector");
    Api::<Service>::namespaced(ctx.client.clone(), &namespace)
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| StripSelectorError::Patch {
            namespace,
            name,
            source,
        })?;
    Ok(Action::await_change())
}

// kube-runtime's error policy signature takes the Arcs by value.
#[allow(clippy::needless_pass_by_value)]
fn error_policy(_service: Arc<Service>, error: &StripSelectorError, _ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "service reconcile failed");
    Action::requeue(RETRY)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn service(
        name: &str,
        namespace: &str,
        managed_by: Option<&str>,
        hash: Option<&str>,
    ) -> Service {
        let mut selector = json!({"app": "demo"});
        if let Some(hash) = hash {
            selector[POD_TEMPLATE_HASH_LABEL] = json!(hash);
        }
        let mut svc = json!({
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector}
        });
        if let Some(owner) = managed_by {
            svc["metadata"]["annotations"] = json!({MANAGED_BY_ANNOTATION: owner, "keep": "me"});
        }
        serde_json::from_value(svc).unwrap()
    }

    fn rollout(name: &str, namespace: &str, strategy: &Value, deleting: bool) -> Rollout {
        let mut r = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"strategy": strategy}
        });
        if deleting {
            r["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(r).unwrap()
    }

    #[test]
    fn selector_strip_table() {
        let strip_both = json!({
            "metadata": {"annotations": {MANAGED_BY_ANNOTATION: null}},
            "spec": {"selector": {POD_TEMPLATE_HASH_LABEL: null}}
        });
        let strip_annotation = json!({"metadata": {"annotations": {MANAGED_BY_ANNOTATION: null}}});
        let active = json!({"blueGreen": {"activeService": "svc"}});
        let canary = json!({"canary": {"steps": [{"setWeight": 50}]}});
        let stable = json!({"canary": {"stableService": "svc", "canaryService": "other"}});
        let ping = json!({"canary": {"pingPong": {"pingService": "svc", "pongService": "pong"}}});
        let renamed = json!({"blueGreen": {"activeService": "svc-v2"}});
        let cases: Vec<(&str, Service, Vec<Rollout>, Option<Value>)> = vec![
            (
                "unmarked Service is never touched",
                service("svc", "ns", None, Some("abc")),
                vec![],
                None,
            ),
            (
                "still the active Service",
                service("svc", "ns", Some("demo"), Some("abc")),
                vec![rollout("demo", "ns", &active, false)],
                None,
            ),
            (
                "still the stable Service",
                service("svc", "ns", Some("demo"), Some("abc")),
                vec![rollout("demo", "ns", &stable, false)],
                None,
            ),
            (
                "still a ping-pong Service",
                service("svc", "ns", Some("demo"), Some("abc")),
                vec![rollout("demo", "ns", &ping, false)],
                None,
            ),
            (
                "named by another Rollout than the annotation says",
                service("svc", "ns", Some("old"), Some("abc")),
                vec![rollout("demo", "ns", &active, false)],
                None,
            ),
            (
                "blue-green switched to canary without Services",
                service("svc", "ns", Some("demo"), Some("abc")),
                vec![rollout("demo", "ns", &canary, false)],
                Some(strip_both.clone()),
            ),
            (
                "Service renamed in the spec",
                service("svc", "ns", Some("demo"), Some("abc")),
                vec![rollout("demo", "ns", &renamed, false)],
                Some(strip_both.clone()),
            ),
            (
                "Rollout deleted",
                service("svc", "ns", Some("demo"), Some("abc")),
                vec![],
                Some(strip_both.clone()),
            ),
            (
                "Rollout being deleted",
                service("svc", "ns", Some("demo"), Some("abc")),
                vec![rollout("demo", "ns", &active, true)],
                Some(strip_both),
            ),
            (
                "a Rollout of another namespace does not count",
                service("svc", "ns", Some("demo"), None),
                vec![rollout("demo", "other", &active, false)],
                Some(strip_annotation),
            ),
        ];
        for (what, svc, rollouts, want) in cases {
            assert_eq!(selector_strip(&svc, &rollouts), want, "{what}");
        }
    }

    #[test]
    fn a_rollout_event_wakes_the_services_it_manages() {
        let services = vec![
            Arc::new(service("a", "ns", Some("demo"), Some("h"))),
            Arc::new(service("b", "ns", Some("other"), Some("h"))),
            Arc::new(service("c", "ns", None, None)),
            Arc::new(service("d", "elsewhere", Some("demo"), Some("h"))),
        ];
        let woken = services_managed_by(&services, &rollout("demo", "ns", &json!({}), false));
        let names: Vec<_> = woken.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a"]);
    }
}
