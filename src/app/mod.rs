//! The cockpit's pure core: `State`, the `Msg`/`Effect` protocol, the keymap and
//! `update(&mut State, Msg) -> Vec<Effect>`, all I/O-free. The thin shell around it is
//! `run` (the event loop that owns `State` and the terminal) and `effects` (runs `Effect`s
//! against the cluster).

pub mod effects;
pub mod keymap;
pub mod msg;
pub mod pager;
pub mod protect;
pub mod run;
pub mod sending;
pub mod settings;
pub mod state;
pub mod triage;
pub mod triage_detail;
pub mod triage_tasks;
pub mod update;

#[cfg(test)]
mod flows;
#[cfg(test)]
mod pager_flows;

pub use msg::{Effect, Msg, RolloutEvent};
pub use state::{Scope, StartOptions, State};
pub use update::update;
