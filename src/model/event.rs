//! Kubernetes Events about a rollout, reduced to what the detail view lists (newest last).

use chrono::{DateTime, Utc};

/// `type` of a Kubernetes Event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventView {
    pub last_seen: DateTime<Utc>,
    pub kind: EventType,
    pub reason: String,
    pub message: String,
    pub count: u32,
}
