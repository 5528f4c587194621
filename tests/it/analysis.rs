//! Placeholder: filled by the analysis work.
