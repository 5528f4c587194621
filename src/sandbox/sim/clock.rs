//! Time arithmetic for the simulated controllers. Kubernetes stores `metav1.Time` with
//! one-second resolution, so every time the simulators write is floored to the second here
//! (comparing a freshly built status with the one read back from the server then only differs
//! when something really changed), and every delay is measured from the end of a stored
//! second ([`settled`]), so that no step comes early.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// `now` as the server will store it (whole seconds).
pub fn stored(now: Timestamp) -> Time {
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// The first instant at which a stored time has surely passed: the end of its second.
/// Deadlines are measured from here so that they are never early, whatever fraction of the
/// second the event really happened at (and so sub-second delays cannot spin a loop).
pub fn settled(stored: Timestamp) -> Timestamp {
    let second = Timestamp::from_second(stored.as_second()).unwrap_or(stored);
    after(second, Duration::from_secs(1))
}

/// The instant `delay` after `start`, saturating at the end of time.
pub fn after(start: Timestamp, delay: Duration) -> Timestamp {
    start.saturating_add(delay).unwrap_or(Timestamp::MAX)
}

/// How long from `now` until `deadline`; zero when it has passed.
pub fn until(now: Timestamp, deadline: Timestamp) -> Duration {
    Duration::try_from(deadline.duration_since(now)).unwrap_or(Duration::ZERO)
}

/// How long `since` lies before `now`; zero when it lies in the future.
pub fn elapsed(since: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(since)).unwrap_or(Duration::ZERO)
}

/// The earliest of the deadlines that are set.
pub fn earliest(deadlines: impl IntoIterator<Item = Option<Timestamp>>) -> Option<Timestamp> {
    deadlines.into_iter().flatten().min()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(second: i64, nanos: i32) -> Timestamp {
        Timestamp::new(second, nanos).unwrap()
    }

    #[test]
    fn stored_time_drops_fractions() {
        assert_eq!(stored(at(100, 999_000_000)).0, at(100, 0));
        assert_eq!(stored(at(100, 0)).0, at(100, 0));
    }

    #[test]
    fn settled_is_the_end_of_the_stored_second() {
        assert_eq!(settled(at(100, 0)), at(101, 0));
        assert_eq!(settled(at(100, 999_000_000)), at(101, 0));
    }

    #[test]
    fn after_and_until_are_inverse() {
        let start = at(10, 0);
        let deadline = after(start, Duration::from_millis(1500));
        assert_eq!(deadline, at(11, 500_000_000));
        assert_eq!(until(start, deadline), Duration::from_millis(1500));
        assert_eq!(until(deadline, start), Duration::ZERO);
        assert_eq!(elapsed(start, deadline), Duration::from_millis(1500));
        assert_eq!(elapsed(deadline, start), Duration::ZERO);
    }

    #[test]
    fn earliest_ignores_unset_deadlines() {
        assert_eq!(
            earliest([None, Some(at(5, 0)), Some(at(3, 0))]),
            Some(at(3, 0))
        );
        assert_eq!(earliest([None, None]), None);
    }
}
