//! The cockpit's pure core: `State`, the `Msg`/`Effect` protocol, the keymap and
//! `update(&mut State, Msg) -> Vec<Effect>`. The event loop that owns `State` and runs the
//! effects against a cluster is the shell (not built yet); everything here is I/O-free.

pub mod keymap;
pub mod msg;
pub mod state;
pub mod update;

#[cfg(test)]
mod flows;

pub use msg::{Effect, Msg, RolloutEvent};
pub use state::{Scope, StartOptions, State};
pub use update::update;
