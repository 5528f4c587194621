//! Placeholder: filled by the sandbox_api work.
