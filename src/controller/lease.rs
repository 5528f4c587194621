//! Leadership for the in-process controller: the `rolltop-controller` Lease contract of
//! `design.md`, and detection of an Argo Rollouts operator that would fight over the same
//! objects. The decisions (who holds a Lease, who may take it, which namespaces a cluster-wide
//! driver skips, whether Argo runs) are pure functions of Lease/Deployment objects and a clock
//! reading; [`acquire`], [`LeaseGuard`] and [`detect_argo_operator`] are the thin I/O shell.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams, PostParams};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cluster::client::Scope;

/// The name of every rolltop controller Lease.
pub const LEASE_NAME: &str = "rolltop-controller";
/// Where the cluster-wide (`-A`) driver's Lease lives.
pub const CLUSTER_LEASE_NAMESPACE: &str = "kube-system";
/// How long a Lease stays live without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews.
pub const RENEW_INTERVAL: Duration = Duration::from_secs(2);
/// The Deployment name of an Argo Rollouts operator installation.
pub const ARGO_DEPLOYMENT_NAME: &str = "argo-rollouts";
/// The leader-election Lease of an Argo Rollouts operator.
pub const ARGO_LEASE_NAME: &str = "argo-rollouts-controller-lock";

/// Who holds a Lease at a given instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// Nobody, or a holder whose last renewal is older than the lease duration.
    Vacant,
    /// This process.
    Mine,
    /// Another live holder.
    Other {
        /// Its `holderIdentity`.
        identity: String,
        /// Time since its last renewal, when recorded.
        renewed_ago: Option<Duration>,
    },
}

/// A Lease another driver holds, which is why this one may not drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `namespace/name` of the Lease.
    pub lease: String,
    /// The live holder's identity.
    pub identity: String,
    /// Time since its last renewal.
    pub renewed_ago: Option<Duration>,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the Lease {} is held by {}", self.lease, self.identity)?;
        if let Some(ago) = self.renewed_ago {
            write!(f, " (renewed {}s ago)", ago.as_secs())?;
        }
        Ok(())
    }
}

/// The namespace holding the Lease for a driving scope.
pub fn lease_namespace(scope: &Scope) -> &str {
    scope.namespace().unwrap_or(CLUSTER_LEASE_NAMESPACE)
}

/// Who holds `lease` at `now`, seen from `me`. A Lease without a renew time or duration counts
/// as expired: a holder that never renewed cannot prove it is alive.
pub fn holder(lease: Option<&Lease>, me: &str, now: Timestamp) -> Holder {
    let Some(spec) = lease.and_then(|lease| lease.spec.as_ref()) else {
        return Holder::Vacant;
    };
    let identity = match spec.holder_identity.as_deref() {
        None | Some("") => return Holder::Vacant,
        Some(identity) => identity,
    };
    if identity == me {
        return Holder::Mine;
    }
    let (Some(renewed), Some(seconds)) = (spec.renew_time.as_ref(), spec.lease_duration_seconds)
    else {
        return Holder::Vacant;
    };
    let expires = renewed
        .0
        .checked_add(SignedDuration::from_secs(i64::from(seconds)))
        .unwrap_or(renewed.0);
    if expires <= now {
        return Holder::Vacant;
    }
    // A renewal stamped in our future (clock skew) has no meaningful age.
    let renewed_ago = Duration::try_from(now.duration_since(renewed.0)).ok();
    Holder::Other {
        identity: identity.to_owned(),
        renewed_ago,
    }
}

/// Whether `me` may take or renew `lease` at `now`.
pub fn may_acquire(lease: Option<&Lease>, me: &str, now: Timestamp) -> bool {
    !matches!(holder(lease, me, now), Holder::Other { .. })
}

fn refusal(lease: Option<&Lease>, namespace: &str, me: &str, now: Timestamp) -> Option<Refusal> {
    match holder(lease, me, now) {
        Holder::Other {
            identity,
            renewed_ago,
        } => Some(Refusal {
            lease: format!("{namespace}/{LEASE_NAME}"),
            identity,
            renewed_ago,
        }),
        Holder::Vacant | Holder::Mine => None,
    }
}

/// Whether `me` may drive `scope`: a per-namespace driver needs its own Lease free *and* no
/// live cluster-wide holder; a cluster-wide driver needs only the `kube-system` Lease (it skips
/// namespaces with live holders rather than refusing, see [`cluster_driver_skips`]).
pub fn may_drive(
    scope: &Scope,
    cluster_lease: Option<&Lease>,
    namespace_lease: Option<&Lease>,
    me: &str,
    now: Timestamp,
) -> Result<(), Refusal> {
    if let Some(refused) = refusal(cluster_lease, CLUSTER_LEASE_NAMESPACE, me, now) {
        return Err(refused);
    }
    if let Scope::Namespace(namespace) = scope
        && let Some(refused) = refusal(namespace_lease, namespace, me, now)
    {
        return Err(refused);
    }
    Ok(())
}

/// Whether a cluster-wide driver leaves a namespace alone: it has a live per-namespace holder.
pub fn cluster_driver_skips(namespace_lease: Option<&Lease>, me: &str, now: Timestamp) -> bool {
    matches!(holder(namespace_lease, me, now), Holder::Other { .. })
}

/// The spec `me` writes to take or renew a Lease whose current spec is `previous`.
pub fn held_spec(previous: Option<&LeaseSpec>, me: &str, now: Timestamp) -> LeaseSpec {
    let previous_holder = previous.and_then(|spec| spec.holder_identity.as_deref());
    let renewing = previous_holder == Some(me);
    let transitions = previous
        .and_then(|spec| spec.lease_transitions)
        .unwrap_or(0);
    LeaseSpec {
        holder_identity: Some(me.to_owned()),
        lease_duration_seconds: Some(lease_duration_seconds()),
        renew_time: Some(MicroTime(now)),
        acquire_time: if renewing {
            previous.and_then(|spec| spec.acquire_time.clone())
        } else {
            Some(MicroTime(now))
        },
        lease_transitions: Some(match previous_holder {
            Some(holder) if !holder.is_empty() && holder != me => transitions + 1,
            _ => transitions,
        }),
        ..LeaseSpec::default()
    }
}

/// The spec of a released Lease: no holder, so the next driver takes it at once.
pub fn released_spec(previous: &LeaseSpec) -> LeaseSpec {
    LeaseSpec {
        holder_identity: None,
        renew_time: None,
        ..previous.clone()
    }
}

fn lease_duration_seconds() -> i32 {
    i32::try_from(LEASE_DURATION.as_secs()).unwrap_or(i32::MAX)
}

/// Evidence that an Argo Rollouts operator runs in the cluster, in words, or `None`.
pub fn argo_operator(deployments: &[Deployment], leases: &[Lease]) -> Option<String> {
    let named = |meta: &ObjectMeta, name: &str| meta.name.as_deref() == Some(name);
    if let Some(deployment) = deployments
        .iter()
        .find(|d| named(&d.metadata, ARGO_DEPLOYMENT_NAME))
    {
        return Some(format!(
            "an Argo Rollouts operator is installed (Deployment {}/{ARGO_DEPLOYMENT_NAME})",
            deployment
                .metadata
                .namespace
                .as_deref()
                .unwrap_or("default")
        ));
    }
    leases
        .iter()
        .find(|l| named(&l.metadata, ARGO_LEASE_NAME))
        .map(|lease| {
            format!(
                "an Argo Rollouts operator holds leadership (Lease {}/{ARGO_LEASE_NAME})",
                lease.metadata.namespace.as_deref().unwrap_or("default")
            )
        })
}

/// A unique identity for this process: host, pid and a random suffix.
pub fn identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "rolltop".to_owned());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}_{}_{}", std::process::id(), &suffix[..8])
}

/// Why the Lease could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum AcquireLeaseError {
    /// Another live driver holds it.
    #[error("{0}; not driving")]
    Held(Refusal),
    /// The API call failed.
    #[error("{action} Lease {namespace}/{LEASE_NAME}: {source}")]
    Api {
        /// What was attempted.
        action: &'static str,
        /// The Lease's namespace.
        namespace: String,
        /// Cause.
        source: kube::Error,
    },
}

fn not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

fn conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

async fn read_lease(api: &Api<Lease>, namespace: &str) -> Result<Option<Lease>, AcquireLeaseError> {
    match api.get(LEASE_NAME).await {
        Ok(lease) => Ok(Some(lease)),
        Err(error) if not_found(&error) => Ok(None),
        Err(source) => Err(AcquireLeaseError::Api {
            action: "reading",
            namespace: namespace.to_owned(),
            source,
        }),
    }
}

/// A held Lease, renewed in the background until [`LeaseGuard::release`].
pub struct LeaseGuard {
    api: Api<Lease>,
    namespace: String,
    identity: String,
    renewer: JoinHandle<()>,
    lost: watch::Receiver<bool>,
}

/// Takes the Lease for `scope` as `identity`, or says who holds it. Optimistic concurrency
/// (create, or replace at the read resourceVersion) settles races between two drivers.
pub async fn acquire(
    client: &kube::Client,
    scope: &Scope,
    identity: &str,
) -> Result<LeaseGuard, AcquireLeaseError> {
    let namespace = lease_namespace(scope).to_owned();
    let api: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    let cluster_api: Api<Lease> = Api::namespaced(client.clone(), CLUSTER_LEASE_NAMESPACE);
    let api_error = |action: &'static str| {
        let namespace = namespace.clone();
        move |source| AcquireLeaseError::Api {
            action,
            namespace,
            source,
        }
    };
    loop {
        let cluster_lease = read_lease(&cluster_api, CLUSTER_LEASE_NAMESPACE).await?;
        let own = if matches!(scope, Scope::AllNamespaces) {
            cluster_lease.clone()
        } else {
            read_lease(&api, &namespace).await?
        };
        let now = Timestamp::now();
        may_drive(scope, cluster_lease.as_ref(), own.as_ref(), identity, now)
            .map_err(AcquireLeaseError::Held)?;
        let spec = held_spec(own.as_ref().and_then(|l| l.spec.as_ref()), identity, now);
        let written = match own {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(LEASE_NAME.to_owned()),
                        namespace: Some(namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(spec),
                };
                api.create(&PostParams::default(), &lease).await
            }
            Some(mut lease) => {
                lease.spec = Some(spec);
                api.replace(LEASE_NAME, &PostParams::default(), &lease)
                    .await
            }
        };
        match written {
            Ok(_) => break,
            // Another driver wrote between our read and write: decide again on fresh data.
            Err(error) if conflict(&error) => {}
            Err(error) => return Err(api_error("writing")(error)),
        }
    }
    let (lost_tx, lost) = watch::channel(false);
    let renewer = tokio::spawn(renew(api.clone(), identity.to_owned(), lost_tx));
    tracing::info!(lease = %format!("{namespace}/{LEASE_NAME}"), %identity, "lease acquired");
    Ok(LeaseGuard {
        api,
        namespace,
        identity: identity.to_owned(),
        renewer,
        lost,
    })
}

/// Renews every [`RENEW_INTERVAL`]; reports loss when another holder took the Lease or no
/// renewal succeeded for a whole lease duration.
async fn renew(api: Api<Lease>, identity: String, lost: watch::Sender<bool>) {
    let mut last_success = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(RENEW_INTERVAL);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let result = match api.get(LEASE_NAME).await {
            Ok(mut lease) => {
                let now = Timestamp::now();
                if holder(Some(&lease), &identity, now) != Holder::Mine {
                    tracing::error!(%identity, "lease taken by another holder");
                    let _ = lost.send(true);
                    return;
                }
                lease.spec = Some(held_spec(lease.spec.as_ref(), &identity, now));
                api.replace(LEASE_NAME, &PostParams::default(), &lease)
                    .await
                    .map(|_| ())
            }
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => last_success = tokio::time::Instant::now(),
            Err(error) => {
                tracing::warn!(%error, "renewing the lease failed");
                if last_success.elapsed() >= LEASE_DURATION {
                    let _ = lost.send(true);
                    return;
                }
            }
        }
    }
}

impl LeaseGuard {
    /// `namespace/name` of the held Lease.
    pub fn lease(&self) -> String {
        format!("{}/{LEASE_NAME}", self.namespace)
    }

    /// Completes when the Lease is lost (another holder, or renewals failing for a lease
    /// duration); never completes while it is held.
    pub fn lost(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut lost = self.lost.clone();
        async move {
            if lost.wait_for(|lost| *lost).await.is_err() {
                // The renewer ended without reporting loss (released): never complete.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Stops renewing and clears the holder so the next driver can take over at once.
    pub async fn release(self) -> Result<(), kube::Error> {
        self.renewer.abort();
        let mut lease = self.api.get(LEASE_NAME).await?;
        if holder(Some(&lease), &self.identity, Timestamp::now()) != Holder::Mine {
            return Ok(());
        }
        lease.spec = lease.spec.as_ref().map(released_spec);
        self.api
            .replace(LEASE_NAME, &PostParams::default(), &lease)
            .await?;
        tracing::info!(lease = %format!("{}/{LEASE_NAME}", self.namespace), "lease released");
        Ok(())
    }
}

/// Looks for an Argo Rollouts operator (its Deployment in any namespace, or its leader Lease).
/// A list the caller may not make counts as no evidence, with a warning.
pub async fn detect_argo_operator(client: &kube::Client) -> Result<Option<String>, kube::Error> {
    async fn named<K>(client: &kube::Client, name: &str) -> Result<Vec<K>, kube::Error>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let params = ListParams::default().fields(&format!("metadata.name={name}"));
        match Api::<K>::all(client.clone()).list(&params).await {
            Ok(list) => Ok(list.items),
            Err(kube::Error::Api(status)) if status.code == 403 => {
                tracing::warn!(%name, "cannot list to detect Argo Rollouts; assuming absent");
                Ok(Vec::new())
            }
            Err(error) => Err(error),
        }
    }
    let deployments: Vec<Deployment> = named(client, ARGO_DEPLOYMENT_NAME).await?;
    let leases: Vec<Lease> = named(client, ARGO_LEASE_NAME).await?;
    Ok(argo_operator(&deployments, &leases))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    fn lease(namespace: &str, holder: Option<&str>, renewed: Option<i64>) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(LEASE_NAME.to_owned()),
                namespace: Some(namespace.to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_owned),
                lease_duration_seconds: Some(15),
                renew_time: renewed.map(|s| MicroTime(at(s))),
                ..LeaseSpec::default()
            }),
        }
    }

    #[test]
    fn holder_table() {
        let cases: Vec<(&str, Option<Lease>, i64, Holder)> = vec![
            ("absent", None, 0, Holder::Vacant),
            (
                "no holder",
                Some(lease("a", None, Some(0))),
                1,
                Holder::Vacant,
            ),
            (
                "empty holder",
                Some(lease("a", Some(""), Some(0))),
                1,
                Holder::Vacant,
            ),
            (
                "mine, even expired",
                Some(lease("a", Some("me"), Some(0))),
                100,
                Holder::Mine,
            ),
            (
                "other, live",
                Some(lease("a", Some("them"), Some(0))),
                3,
                Holder::Other {
                    identity: "them".into(),
                    renewed_ago: Some(Duration::from_secs(3)),
                },
            ),
            (
                "other, expired exactly",
                Some(lease("a", Some("them"), Some(0))),
                15,
                Holder::Vacant,
            ),
            (
                "other, long expired",
                Some(lease("a", Some("them"), Some(0))),
                60,
                Holder::Vacant,
            ),
            (
                "other, never renewed",
                Some(lease("a", Some("them"), None)),
                1,
                Holder::Vacant,
            ),
        ];
        for (name, lease, now, want) in cases {
            assert_eq!(holder(lease.as_ref(), "me", at(now)), want, "{name}");
        }
    }

    #[test]
    fn may_acquire_table() {
        let live = lease("a", Some("them"), Some(0));
        assert!(may_acquire(None, "me", at(0)));
        assert!(!may_acquire(Some(&live), "me", at(14)));
        assert!(may_acquire(Some(&live), "me", at(16)));
        assert!(may_acquire(Some(&live), "them", at(5)));
    }

    type Case<'a> = (
        &'a Scope,
        Option<&'a Lease>,
        Option<&'a Lease>,
        Option<&'a str>,
    );

    #[test]
    fn may_drive_table() {
        let ns = Scope::Namespace("shop".into());
        let all = Scope::AllNamespaces;
        let cluster_live = lease(CLUSTER_LEASE_NAMESPACE, Some("wide"), Some(0));
        let ns_live = lease("shop", Some("other"), Some(0));
        let cluster_dead = lease(CLUSTER_LEASE_NAMESPACE, Some("wide"), Some(-60));
        // (scope, cluster lease, namespace lease, refused by which lease)
        let cases: Vec<Case<'_>> = vec![
            (&ns, None, None, None),
            (
                &ns,
                Some(&cluster_live),
                None,
                Some("kube-system/rolltop-controller"),
            ),
            (&ns, Some(&cluster_dead), None, None),
            (&ns, None, Some(&ns_live), Some("shop/rolltop-controller")),
            (&all, None, None, None),
            (
                &all,
                Some(&cluster_live),
                None,
                Some("kube-system/rolltop-controller"),
            ),
            // A cluster-wide driver is not refused by per-namespace holders; it skips them.
            (&all, None, Some(&ns_live), None),
        ];
        for (scope, cluster, own, want) in cases {
            let got = may_drive(scope, cluster, own, "me", at(5)).err();
            assert_eq!(got.as_ref().map(|r| r.lease.as_str()), want, "{scope:?}");
        }
        let refused = may_drive(&ns, None, Some(&ns_live), "me", at(5)).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "the Lease shop/rolltop-controller is held by other (renewed 5s ago)"
        );
    }

    #[test]
    fn cluster_driver_skips_live_namespace_holders_only() {
        let live = lease("shop", Some("other"), Some(0));
        assert!(cluster_driver_skips(Some(&live), "me", at(1)));
        assert!(!cluster_driver_skips(Some(&live), "me", at(20)));
        assert!(!cluster_driver_skips(None, "me", at(1)));
        let released = lease("shop", None, None);
        assert!(!cluster_driver_skips(Some(&released), "me", at(1)));
    }

    #[test]
    fn held_spec_counts_transitions_and_keeps_acquire_time_on_renewal() {
        let taken = held_spec(None, "me", at(0));
        assert_eq!(taken.holder_identity.as_deref(), Some("me"));
        assert_eq!(taken.lease_duration_seconds, Some(15));
        assert_eq!(taken.lease_transitions, Some(0));
        let renewed = held_spec(Some(&taken), "me", at(2));
        assert_eq!(renewed.acquire_time, Some(MicroTime(at(0))));
        assert_eq!(renewed.renew_time, Some(MicroTime(at(2))));
        assert_eq!(renewed.lease_transitions, Some(0));
        let stolen = held_spec(Some(&renewed), "next", at(30));
        assert_eq!(stolen.acquire_time, Some(MicroTime(at(30))));
        assert_eq!(stolen.lease_transitions, Some(1));
        let released = released_spec(&stolen);
        assert_eq!(released.holder_identity, None);
        assert_eq!(released.lease_transitions, Some(1));
        let retaken = held_spec(Some(&released), "me", at(31));
        assert_eq!(retaken.lease_transitions, Some(1));
    }

    #[test]
    fn lease_namespace_by_scope() {
        assert_eq!(lease_namespace(&Scope::AllNamespaces), "kube-system");
        assert_eq!(lease_namespace(&Scope::Namespace("shop".into())), "shop");
    }

    #[test]
    fn argo_operator_evidence() {
        let deployment = Deployment {
            metadata: ObjectMeta {
                name: Some("argo-rollouts".into()),
                namespace: Some("argo-rollouts".into()),
                ..ObjectMeta::default()
            },
            ..Deployment::default()
        };
        let other = Deployment {
            metadata: ObjectMeta {
                name: Some("checkout".into()),
                ..ObjectMeta::default()
            },
            ..Deployment::default()
        };
        let mut argo_lease = lease("argo", Some("x"), Some(0));
        argo_lease.metadata.name = Some(ARGO_LEASE_NAME.into());
        assert_eq!(
            argo_operator(std::slice::from_ref(&other), &[lease("a", None, None)]),
            None
        );
        assert_eq!(
            argo_operator(&[other, deployment], &[]).as_deref(),
            Some("an Argo Rollouts operator is installed (Deployment argo-rollouts/argo-rollouts)")
        );
        assert_eq!(
            argo_operator(&[], &[argo_lease]).as_deref(),
            Some(
                "an Argo Rollouts operator holds leadership (Lease argo/argo-rollouts-controller-lock)"
            )
        );
    }
}
