//! Timestamps in Argo objects (`abortedAt`, `pauseConditions[].startTime`, measurement
//! `startedAt`, ...). The CRD types keep them as the strings the cluster holds, so that reading
//! and writing an object never reformats a time another writer chose; these two functions convert
//! at the edges of a decision.

use chrono::{DateTime, SecondsFormat, Utc};

/// Parses an RFC 3339 timestamp (`2024-01-01T10:00:30Z`, with or without fractional seconds or
/// an offset). Anything else is `None`: a malformed time on a cluster object is not a reason to
/// fail reading the whole object.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// Formats a time the way Kubernetes `metav1.Time` does: UTC, whole seconds, `Z` suffix.
pub fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parses_kubernetes_and_offset_forms() {
        let expected = Utc.with_ymd_and_hms(2024, 1, 1, 10, 0, 30).unwrap();
        assert_eq!(parse_time("2024-01-01T10:00:30Z"), Some(expected));
        assert_eq!(parse_time("2024-01-01T11:00:30+01:00"), Some(expected));
        assert_eq!(
            parse_time("2024-01-01T10:00:30.250Z"),
            Some(expected + chrono::Duration::milliseconds(250))
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
    }

    #[test]
    fn formats_whole_seconds_in_utc() {
        let time = Utc.with_ymd_and_hms(2024, 1, 1, 10, 0, 30).unwrap()
            + chrono::Duration::milliseconds(999);
        assert_eq!(format_time(time), "2024-01-01T10:00:30Z");
        assert_eq!(
            parse_time(&format_time(time)).unwrap().timestamp(),
            1_704_103_230
        );
    }
}
