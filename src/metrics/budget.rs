//! How often charts may query Prometheus: a pure refresh schedule with a per-chart minimum
//! interval and a global budget of queries per minute, plus the cache of the last answers. The
//! clock is passed in (`Duration` since any fixed start), so tests and the benchmark drive it
//! with a simulated clock. With the defaults, 50 visible charts cost at most
//! `MAX_QUERIES_PER_MINUTE` queries per minute, however often the screen asks.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::Duration;

/// A chart is refreshed at most this often.
pub const CHART_REFRESH: Duration = Duration::from_secs(30);
/// All charts together send at most this many queries in any 60 s window.
pub const MAX_QUERIES_PER_MINUTE: usize = 60;

const MINUTE: Duration = Duration::from_secs(60);

/// The limits of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    pub chart_refresh: Duration,
    pub max_per_minute: usize,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            chart_refresh: CHART_REFRESH,
            max_per_minute: MAX_QUERIES_PER_MINUTE,
        }
    }
}

/// Which charts to query now; remembers what it allowed.
#[derive(Debug, Clone)]
pub struct RefreshSchedule<K> {
    policy: RefreshPolicy,
    last_fetch: HashMap<K, Duration>,
    /// Times of the queries allowed in the last minute, oldest first.
    recent: VecDeque<Duration>,
}

impl<K: Hash + Eq + Clone> RefreshSchedule<K> {
    pub fn new(policy: RefreshPolicy) -> Self {
        Self {
            policy,
            last_fetch: HashMap::new(),
            recent: VecDeque::new(),
        }
    }

    /// The charts among `visible` to query at `now`: never fetched or older than the refresh
    /// interval, longest-waiting first, as many as the minute's budget still allows. The
    /// returned charts count as fetched at `now`.
    pub fn due(&mut self, visible: &[K], now: Duration) -> Vec<K> {
        while self
            .recent
            .front()
            .is_some_and(|at| now.saturating_sub(*at) >= MINUTE)
        {
            self.recent.pop_front();
        }
        let room = self.policy.max_per_minute.saturating_sub(self.recent.len());
        let mut stale: Vec<(Option<Duration>, usize)> = visible
            .iter()
            .enumerate()
            .filter_map(|(index, key)| match self.last_fetch.get(key) {
                None => Some((None, index)),
                Some(at) if now.saturating_sub(*at) >= self.policy.chart_refresh => {
                    Some((Some(*at), index))
                }
                Some(_) => None,
            })
            .collect();
        // Never-fetched first (None < Some), then the oldest answer, then screen order.
        stale.sort();
        let chosen: Vec<K> = stale
            .into_iter()
            .take(room)
            .map(|(_, index)| visible[index].clone())
            .collect();
        for key in &chosen {
            self.last_fetch.insert(key.clone(), now);
            self.recent.push_back(now);
        }
        chosen
    }

    /// When the next chart becomes due (for the caller's timer); `None` with nothing visible.
    pub fn next_due(&self, visible: &[K], now: Duration) -> Option<Duration> {
        let per_chart = visible
            .iter()
            .map(|key| {
                self.last_fetch
                    .get(key)
                    .map_or(now, |at| *at + self.policy.chart_refresh)
            })
            .min()?;
        let budget = if self.recent.len() >= self.policy.max_per_minute {
            self.recent.front().map_or(now, |at| *at + MINUTE)
        } else {
            now
        };
        Some(per_chart.max(budget).max(now))
    }

    /// Forgets a chart that is no longer shown.
    pub fn forget(&mut self, key: &K) {
        self.last_fetch.remove(key);
    }
}

/// The last answer per query, with when it was fetched.
#[derive(Debug, Clone)]
pub struct AnswerCache<K, V> {
    entries: HashMap<K, (Duration, V)>,
    max_age: Duration,
}

impl<K: Hash + Eq, V> AnswerCache<K, V> {
    pub fn new(max_age: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            max_age,
        }
    }

    /// The cached answer if it is younger than the cache's max age at `now`.
    pub fn fresh(&self, key: &K, now: Duration) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|(at, _)| now.saturating_sub(*at) < self.max_age)
            .map(|(_, value)| value)
    }

    pub fn store(&mut self, key: K, now: Duration, value: V) {
        self.entries.insert(key, (now, value));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_chart_is_refreshed_at_most_once_per_interval() {
        let mut schedule = RefreshSchedule::new(RefreshPolicy::default());
        let charts = ["a"];
        assert_eq!(schedule.due(&charts, secs(0)), vec!["a"]);
        assert!(schedule.due(&charts, secs(1)).is_empty());
        assert!(schedule.due(&charts, secs(29)).is_empty());
        assert_eq!(schedule.due(&charts, secs(30)), vec!["a"]);
        assert_eq!(schedule.next_due(&charts, secs(31)), Some(secs(60)));
    }

    #[test]
    fn fifty_charts_stay_within_the_minute_budget() {
        let mut schedule = RefreshSchedule::new(RefreshPolicy::default());
        let charts: Vec<u32> = (0..50).collect();
        let mut per_minute = vec![0usize; 10];
        // The screen asks every second for ten simulated minutes.
        for second in 0..600 {
            let fetched = schedule.due(&charts, secs(second)).len();
            per_minute[(second / 60) as usize] += fetched;
        }
        for (minute, count) in per_minute.iter().enumerate() {
            assert!(*count <= MAX_QUERIES_PER_MINUTE, "minute {minute}: {count}");
        }
        // Over time every chart is refreshed (the budget rotates, nobody starves).
        let last_minute = per_minute[9];
        assert!(last_minute >= 50, "{per_minute:?}");
    }

    #[test]
    fn the_longest_waiting_chart_goes_first_when_the_budget_is_short() {
        let policy = RefreshPolicy {
            chart_refresh: secs(10),
            max_per_minute: 2,
        };
        let mut schedule = RefreshSchedule::new(policy);
        assert_eq!(schedule.due(&["a", "b", "c"], secs(0)), vec!["a", "b"]);
        // Budget spent for this minute: "c" waits.
        assert!(schedule.due(&["a", "b", "c"], secs(30)).is_empty());
        assert_eq!(
            schedule.next_due(&["a", "b", "c"], secs(30)),
            Some(secs(60))
        );
        // A new minute: "c" was never fetched, so it goes before the stale "a".
        assert_eq!(schedule.due(&["a", "b", "c"], secs(60)), vec!["c", "a"]);
    }

    #[test]
    fn cache_answers_until_it_is_too_old() {
        let mut cache = AnswerCache::new(secs(30));
        cache.store("q", secs(0), 1);
        assert_eq!(cache.fresh(&"q", secs(29)), Some(&1));
        assert_eq!(cache.fresh(&"q", secs(30)), None);
        assert_eq!(cache.fresh(&"other", secs(0)), None);
    }
}
