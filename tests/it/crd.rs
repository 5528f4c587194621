//! Placeholder: filled by the crd work.
