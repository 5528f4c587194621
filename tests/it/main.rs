//! rolltop's integration tests: one binary, one module per area, run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod analysis;
mod analysis_job;
mod analysis_r5;
mod analysisrun;
mod cli;
mod cli_cluster;
mod cockpit;
mod cockpit_ops;
mod conformance_blue_green;
mod conformance_canary;
mod conformance_restart;
mod controller;
mod controller_extras;
mod crd;
mod demo;
mod harness;
mod kubectl;
mod lint;
mod plugin_script;
mod prometheus;
mod sandbox_api;
mod sim;
mod traffic;
mod triage;
