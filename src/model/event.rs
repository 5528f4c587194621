//! Kubernetes Events about a rollout, reduced to what the detail view lists (newest last).

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Event;

use super::rollout_crd::to_utc;

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

impl EventView {
    /// A `v1` Event as the detail view lists it. The time is the last occurrence
    /// (`lastTimestamp`, else `eventTime`, else creation), as `kubectl describe` shows it.
    pub fn from_event(event: &Event) -> Self {
        let last_seen = event
            .last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or_else(|| event.event_time.as_ref().map(|t| t.0))
            .or_else(|| event.metadata.creation_timestamp.as_ref().map(|t| t.0));
        let last_seen = to_utc(last_seen);
        Self {
            last_seen,
            kind: if event.type_.as_deref() == Some("Warning") {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: event.reason.clone().unwrap_or_default(),
            message: event.message.clone().unwrap_or_default(),
            count: event.count.and_then(|c| u32::try_from(c).ok()).unwrap_or(1),
        }
    }
}

/// Events sorted oldest first, so the detail view shows the newest at the bottom.
pub fn sort_events(events: &mut [EventView]) {
    events.sort_by(|a, b| {
        a.last_seen
            .cmp(&b.last_seen)
            .then_with(|| a.reason.cmp(&b.reason))
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_read_type_time_and_count() {
        let event: Event = serde_json::from_value(json!({
            "metadata": {"name": "e1", "creationTimestamp": "2027-01-15T07:00:00Z"},
            "involvedObject": {"kind": "Rollout", "name": "app"},
            "type": "Warning", "reason": "RolloutAborted", "message": "aborted",
            "count": 3, "lastTimestamp": "2027-01-15T07:59:00Z"
        }))
        .unwrap();
        let view = EventView::from_event(&event);
        assert_eq!(view.kind, EventType::Warning);
        assert_eq!((view.reason.as_str(), view.count), ("RolloutAborted", 3));
        assert_eq!(view.last_seen.to_rfc3339(), "2027-01-15T07:59:00+00:00");

        let bare: Event = serde_json::from_value(json!({
            "metadata": {"name": "e2", "creationTimestamp": "2027-01-15T07:00:00Z"},
            "involvedObject": {}
        }))
        .unwrap();
        let bare = EventView::from_event(&bare);
        assert_eq!((bare.kind, bare.count), (EventType::Normal, 1));
        let mut all = vec![view, bare];
        sort_events(&mut all);
        assert_eq!(all[0].reason, "");
    }
}
