//! Placeholder: filled by the sim work.
