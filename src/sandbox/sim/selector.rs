//! Label-selector matching for the simulated ReplicaSet controller (adopting orphan pods,
//! counting fully labelled replicas); the matcher itself lives in
//! [`crate::crd::label_selector`], which the controller shares.

pub use crate::crd::label_selector::{is_empty, matches};
