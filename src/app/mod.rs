//! The cockpit: the one event loop that owns `State`, the pure `update`, and the effects that
//! talk to the cluster. Not built yet; `rolltop` without a subcommand says so.
