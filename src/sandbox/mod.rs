//! A Kubernetes-API-compatible HTTP server on loopback, with simulated kubelet, ReplicaSet and
//! Job controllers. It never runs the rollout controller itself.
pub mod sim;
