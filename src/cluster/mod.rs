//! Adapters between rolltop and a Kubernetes API server, reached only through `kube::Client`:
//! client construction from kubeconfig, scoped watchers, actions as patches, RBAC checks.

pub mod access;
pub mod actions;
pub mod audit;
pub mod client;
pub mod objects;
pub mod watch;
