//! The controller embedded in the cockpit (`--controller auto|on|off`). Unlike `rolltop
//! controller`, which refuses and exits when it may not drive, this keeps running and reports
//! who drives instead ([`Driver`]): it takes the scope's Lease when it can (and, in `auto`, only
//! when no Argo Rollouts operator is detected), drives until the Lease is lost or the cockpit
//! quits (then releases it), and otherwise looks again every few seconds. With `off` it only
//! observes, so the header can still say whether another rolltop or an operator drives.
//!
//! Boundaries: the decisions are `lease`'s pure functions; this module is the loop around them
//! and sends `Driver` values on a channel. It never names the cockpit's types.

use std::time::Duration;

use futures::FutureExt;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ListParams};
use tokio::sync::{mpsc, watch};

use crate::cluster::client::Scope;
use crate::controller::lease::{
    AcquireLeaseError, CLUSTER_LEASE_NAMESPACE, Holder, LEASE_NAME, acquire, detect_argo_operator,
    holder, identity, lease_namespace,
};
use crate::controller::runner::{RunOptions, run_with};
use crate::model::Driver;

/// How often a rolltop that does not drive looks again at the Lease and for an operator.
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(3);
/// How long a stopping controller may finish its reconciles before it is dropped.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// `--controller` as the embedded loop understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddedMode {
    /// Drive when no operator is detected and the Lease is free.
    Auto,
    /// Drive whenever the Lease is free, even next to a detected operator.
    On,
    /// Never drive; observe who does.
    Off,
}

/// Runs until `shutdown` turns true, reporting each change of driver on `report`. When it
/// held the Lease, it is released before this returns.
pub async fn run_embedded(
    client: Client,
    scope: Scope,
    mode: EmbeddedMode,
    off_reason: String,
    report: mpsc::UnboundedSender<Driver>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last: Option<Driver> = None;
    let mut say = |driver: Driver| {
        if last.as_ref() != Some(&driver) {
            last = Some(driver.clone());
            let _ = report.send(driver);
        }
    };
    let me = identity();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let driver = match mode {
            EmbeddedMode::Off => observe(&client, &scope, &me, &off_reason).await,
            EmbeddedMode::Auto | EmbeddedMode::On => {
                match try_drive(&client, &scope, mode, &me, &mut say, &mut shutdown).await {
                    Some(driver) => driver,
                    // Drove until shutdown and released the Lease.
                    None => return,
                }
            }
        };
        say(driver);
        tokio::select! {
            () = tokio::time::sleep(RECHECK_INTERVAL) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// One attempt to drive. `None` when it drove and `shutdown` ended it; otherwise who drives
/// instead (or why nobody does).
async fn try_drive(
    client: &Client,
    scope: &Scope,
    mode: EmbeddedMode,
    me: &str,
    say: &mut impl FnMut(Driver),
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Driver> {
    match detect_argo_operator(client).await {
        Ok(Some(evidence)) if mode == EmbeddedMode::Auto => {
            return Some(Driver::ArgoOperator { evidence });
        }
        Ok(Some(evidence)) => tracing::warn!(%evidence, "driving anyway (--controller on)"),
        Ok(None) => {}
        Err(error) => {
            return Some(Driver::Nobody {
                reason: format!("looking for an Argo operator: {error}"),
            });
        }
    }
    let guard = match acquire(client, scope, me).await {
        Ok(guard) => guard,
        Err(AcquireLeaseError::Held(refusal)) => {
            return Some(Driver::OtherRolltop {
                identity: refusal.identity,
                lease: refusal.lease,
            });
        }
        Err(error) => {
            return Some(Driver::Nobody {
                reason: error.to_string(),
            });
        }
    };
    say(Driver::ThisRolltop {
        lease: guard.lease(),
    });
    let lost = guard.lost();
    let stop = {
        let mut shutdown = shutdown.clone();
        async move {
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => {}
                () = lost => {}
            }
        }
    }
    .boxed()
    .shared();
    let options = RunOptions {
        identity: Some(me.to_owned()),
    };
    let run = run_with(client.clone(), scope.clone(), options, stop.clone());
    // A graceful stop waits for reconciles in flight; a stuck one must not keep the Lease
    // (reconciles are idempotent: the next driver redoes an interrupted one).
    let deadline = async {
        stop.await;
        tokio::time::sleep(STOP_GRACE).await;
    };
    let result = tokio::select! {
        result = run => result,
        () = deadline => {
            tracing::warn!("the controller did not stop within {STOP_GRACE:?}; dropped");
            Ok(())
        }
    };
    let lease = guard.lease();
    if let Err(error) = guard.release().await {
        tracing::warn!(%lease, %error, "releasing the lease failed; it expires on its own");
    }
    if *shutdown.borrow() {
        return None;
    }
    Some(match result {
        Err(error) => Driver::Nobody {
            reason: error.to_string(),
        },
        Ok(()) => Driver::Nobody {
            reason: format!("lost the Lease {lease}"),
        },
    })
}

/// Who drives, without taking part: another rolltop's live Lease (the cluster-wide one or the
/// scope's; with `-A` any namespace's), else an operator, else nobody.
async fn observe(client: &Client, scope: &Scope, me: &str, off_reason: &str) -> Driver {
    let now = Timestamp::now();
    let leases: Vec<Lease> = match scope {
        Scope::AllNamespaces => {
            let params = ListParams::default().fields(&format!("metadata.name={LEASE_NAME}"));
            Api::<Lease>::all(client.clone())
                .list(&params)
                .await
                .map(|list| list.items)
                .unwrap_or_default()
        }
        Scope::Namespace(_) => {
            let mut found = Vec::new();
            for namespace in [CLUSTER_LEASE_NAMESPACE, lease_namespace(scope)] {
                let api: Api<Lease> = Api::namespaced(client.clone(), namespace);
                if let Ok(Some(lease)) = api.get_opt(LEASE_NAME).await {
                    found.push(lease);
                }
            }
            found
        }
    };
    for lease in &leases {
        if let Holder::Other { identity, .. } = holder(Some(lease), me, now) {
            return Driver::OtherRolltop {
                identity,
                lease: format!(
                    "{}/{LEASE_NAME}",
                    lease.metadata.namespace.as_deref().unwrap_or_default()
                ),
            };
        }
    }
    match detect_argo_operator(client).await {
        Ok(Some(evidence)) => Driver::ArgoOperator { evidence },
        _ => Driver::Nobody {
            reason: off_reason.to_owned(),
        },
    }
}
