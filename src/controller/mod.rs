//! The in-process Argo Rollouts controller, a library: pure `plan(snapshot, now)` decisions and
//! an `apply` step that patches through `kube::Client`. It never imports the cockpit.

pub mod adoption;
pub mod analysis;
pub mod apply;
pub mod canary_steps;
pub mod embedded;
pub mod experiment;
pub mod fenceposts;
pub mod hash;
pub mod lease;
pub mod new_replica_set;
pub mod plan;
pub mod replicas;
pub mod retention;
#[cfg(test)]
mod rollout_simulation;
pub mod rollout_status;
pub mod runner;
pub mod services;
pub mod snapshot;
pub mod traffic;
pub mod validation;
