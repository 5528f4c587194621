//! Placeholder: filled by the kubectl work.
