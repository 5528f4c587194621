//! The command line: the clap contract ([`args`]) and the non-interactive commands.

pub mod actions;
pub mod args;
pub mod get;
pub mod list;
pub mod output;
pub mod status;

pub use args::Cli;
