//! rolltop: a terminal cockpit, an in-process Argo Rollouts controller, a sandbox cluster and a
//! CLI, in one crate.
//!
//! Module map (arrows are the only allowed imports; nothing below `app` imports ratatui):
//!
//! - [`cli`]: the command-line contract and the non-interactive commands.
//! - [`crd`]: Argo-compatible custom resource types (`argoproj.io/v1alpha1`).
//! - [`model`]: pure derived views of cluster objects (summaries, phases, weights, trees).
//! - [`cluster`]: kube adapters (watchers, actions as patches, RBAC checks).
//! - [`controller`]: the in-process rollout and analysis controller, a library.
//! - [`metrics`]: the Prometheus HTTP client used by the cockpit.
//! - [`app`] and [`ui`]: the cockpit's state, update loop and pure views.
//! - [`sandbox`]: a Kubernetes-API-compatible server on loopback with simulated controllers.
//! - [`demo`]: `rolltop demo`, composing sandbox, scenarios, controller and cockpit.

pub mod app;
pub mod cli;
pub mod cluster;
pub mod controller;
pub mod crd;
pub mod demo;
pub mod metrics;
pub mod model;
pub mod sandbox;
pub mod ui;
