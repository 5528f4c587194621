//! Registers the one simulated node, as a kubelet does on start, so that `kubectl get nodes`
//! and cockpits listing nodes see where the pods run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeCondition, NodeStatus, NodeSystemInfo};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PostParams};
use serde_json::json;

use super::clock::stored;
use super::{Context, SimConfig, is_already_exists, patch_params};

/// The Node object the simulated kubelet registers.
pub fn sandbox_node(config: &SimConfig, now: Timestamp) -> Node {
    let resources = BTreeMap::from([
        ("cpu".to_owned(), Quantity("8".to_owned())),
        ("memory".to_owned(), Quantity("16Gi".to_owned())),
        ("pods".to_owned(), Quantity("250".to_owned())),
        ("ephemeral-storage".to_owned(), Quantity("100Gi".to_owned())),
    ]);
    let condition = |kind: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: kind.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_heartbeat_time: Some(stored(now)),
        last_transition_time: Some(stored(now)),
    };
    Node {
        metadata: ObjectMeta {
            name: Some(config.node_name.clone()),
            labels: Some(BTreeMap::from([
                (
                    "kubernetes.io/hostname".to_owned(),
                    config.node_name.clone(),
                ),
                ("kubernetes.io/os".to_owned(), "linux".to_owned()),
                (
                    "kubernetes.io/arch".to_owned(),
                    std::env::consts::ARCH.to_owned(),
                ),
                (
                    "node-role.kubernetes.io/control-plane".to_owned(),
                    String::new(),
                ),
            ])),
            ..ObjectMeta::default()
        },
        spec: None,
        status: Some(NodeStatus {
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".to_owned(),
                    address: config.host_ip.clone(),
                },
                NodeAddress {
                    type_: "Hostname".to_owned(),
                    address: config.node_name.clone(),
                },
            ]),
            allocatable: Some(resources.clone()),
            capacity: Some(resources),
            conditions: Some(vec![
                condition(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                condition(
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                condition(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                condition(
                    "Ready",
                    "True",
                    "KubeletReady",
                    "kubelet is posting ready status",
                ),
            ]),
            node_info: Some(NodeSystemInfo {
                architecture: std::env::consts::ARCH.to_owned(),
                operating_system: "linux".to_owned(),
                os_image: "rolltop sandbox".to_owned(),
                kubelet_version: "v1.32.0".to_owned(),
                kube_proxy_version: String::new(),
                container_runtime_version: "containerd://sandbox".to_owned(),
                kernel_version: String::new(),
                machine_id: String::new(),
                system_uuid: String::new(),
                boot_id: String::new(),
                ..NodeSystemInfo::default()
            }),
            ..NodeStatus::default()
        }),
    }
}

/// Creates the node (if missing) and writes its status; retries a few times while the server
/// comes up, then gives up with a warning (pods still run without a Node object).
pub(super) async fn register(ctx: Arc<Context>) {
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    for attempt in 1..=5_u32 {
        match try_register(&nodes, &ctx.config).await {
            Ok(()) => return,
            Err(err) => {
                tracing::debug!(attempt, error = %err, "registering the sandbox node failed");
                tokio::time::sleep(Duration::from_millis(200) * attempt).await;
            }
        }
    }
    tracing::warn!(node = %ctx.config.node_name, "could not register the sandbox node");
}

async fn try_register(nodes: &Api<Node>, config: &SimConfig) -> Result<(), kube::Error> {
    let node = sandbox_node(config, Timestamp::now());
    match nodes.create(&PostParams::default(), &node).await {
        Err(err) if !is_already_exists(&err) => return Err(err),
        _ => {}
    }
    let body = json!({ "status": node.status });
    nodes
        .patch_status(
            &config.node_name,
            &patch_params("kubelet"),
            &Patch::Merge(&body),
        )
        .await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_node_is_ready_and_addressed() {
        let config = SimConfig::default();
        let node = sandbox_node(&config, Timestamp::UNIX_EPOCH);
        assert_eq!(node.metadata.name.as_deref(), Some("sandbox-node"));
        let status = node.status.unwrap();
        let ready = status
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(status.addresses.unwrap()[0].address, config.host_ip);
    }
}
