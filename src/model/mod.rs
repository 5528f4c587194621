//! Pure derived views of cluster objects: rollout summaries, phases, weights, pod trees.
//! No I/O and no ratatui here.
