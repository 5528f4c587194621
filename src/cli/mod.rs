//! The command line: the clap contract ([`args`]) and the non-interactive commands.

pub mod args;
pub mod lint;

pub use args::Cli;
