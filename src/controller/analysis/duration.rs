//! Go duration strings (`DurationString` in the CRDs: `300ms`, `30s`, `1h30m`, `-1h`), parsed
//! with Go's `time.ParseDuration` rules and error texts, which the reference embeds in its
//! messages (`failed to parse rangeQuery.step as duration: time: invalid duration "??"`).
//! A bare number other than `0` is invalid, and there is no unit above `h`. Pure.

use chrono::TimeDelta;

/// Parses a Go duration; the error is Go's text (`time: invalid duration "x"`). The syntax lives
/// in one place, [`crate::crd::duration`]; this keeps the engine's `String` errors.
pub fn parse_go_duration(text: &str) -> Result<TimeDelta, String> {
    crate::crd::duration::parse_go_duration_signed(text).map_err(|error| error.to_string())
}

/// A non-negative duration for `interval` / `initialDelay`.
pub fn parse_go_duration_std(text: &str) -> Result<std::time::Duration, String> {
    parse_go_duration(text)?
        .to_std()
        .map_err(|_| format!("time: negative duration {text:?}"))
}

/// A duration printed as Go's `Duration.String()` does for whole units (`1m0s`, `1h30m0s`,
/// `300ms`), for messages that echo a step.
pub fn format_go_duration(delta: TimeDelta) -> String {
    let nanos = delta.num_nanoseconds().unwrap_or(i64::MAX);
    if nanos == 0 {
        return "0s".to_string();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let nanos = nanos.unsigned_abs();
    if nanos < 1_000_000_000 {
        return match nanos {
            n if n % 1_000_000 == 0 => format!("{sign}{}ms", n / 1_000_000),
            n if n % 1_000 == 0 => format!("{sign}{}µs", n / 1_000),
            n => format!("{sign}{n}ns"),
        };
    }
    let seconds = nanos / 1_000_000_000;
    let fraction = nanos % 1_000_000_000;
    let (hours, minutes, secs) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    let secs = if fraction == 0 {
        format!("{secs}s")
    } else {
        let digits = format!("{fraction:09}");
        format!("{secs}.{}s", digits.trim_end_matches('0'))
    };
    match (hours, minutes) {
        (0, 0) => format!("{sign}{secs}"),
        (0, m) => format!("{sign}{m}m{secs}"),
        (h, m) => format!("{sign}{h}h{m}m{secs}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_syntax() {
        let ok = [
            ("0", 0),
            ("300ms", 300_000_000),
            ("30s", 30_000_000_000),
            ("5m", 300_000_000_000),
            ("1h30m", 5_400_000_000_000),
            ("1.5s", 1_500_000_000),
            (".5s", 500_000_000),
            ("-1h", -3_600_000_000_000),
            ("+2m", 120_000_000_000),
            ("1us", 1_000),
        ];
        for (text, nanos) in ok {
            assert_eq!(
                parse_go_duration(text),
                Ok(TimeDelta::nanoseconds(nanos)),
                "{text}"
            );
        }
        assert_eq!(
            parse_go_duration("??"),
            Err("time: invalid duration \"??\"".into())
        );
        assert_eq!(
            parse_go_duration("30"),
            Err("time: missing unit in duration \"30\"".into())
        );
        assert_eq!(
            parse_go_duration("1d"),
            Err("time: unknown unit \"d\" in duration \"1d\"".into())
        );
        assert_eq!(
            parse_go_duration(""),
            Err("time: invalid duration \"\"".into())
        );
        assert!(parse_go_duration_std("-1s").is_err());
    }

    #[test]
    fn go_duration_strings() {
        assert_eq!(format_go_duration(TimeDelta::minutes(1)), "1m0s");
        assert_eq!(format_go_duration(TimeDelta::minutes(90)), "1h30m0s");
        assert_eq!(format_go_duration(TimeDelta::milliseconds(300)), "300ms");
        assert_eq!(format_go_duration(TimeDelta::milliseconds(1500)), "1.5s");
        assert_eq!(format_go_duration(TimeDelta::zero()), "0s");
    }
}
