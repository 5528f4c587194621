//! Go duration strings (`DurationString` in the CRDs: `300ms`, `30s`, `1h30m`, `-1h`), parsed
//! with Go's `time.ParseDuration` rules and error texts, which the reference embeds in its
//! messages (`failed to parse rangeQuery.step as duration: time: invalid duration "??"`).
//! A bare number other than `0` is invalid, and there is no unit above `h`. Pure.

use chrono::TimeDelta;

/// Parses a Go duration; the error is Go's text (`time: invalid duration "x"`).
pub fn parse_go_duration(text: &str) -> Result<TimeDelta, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(TimeDelta::zero());
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (whole, after) = rest.split_at(digits_end);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => {
                let end = after
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after.len());
                after.split_at(end)
            }
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let unit_end = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {text:?}"));
        }
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        };
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        let mut component = whole.checked_mul(unit_nanos).ok_or_else(invalid)?;
        let mut scale = unit_nanos;
        for digit in fraction.bytes() {
            scale /= 10;
            component += u128::from(digit - b'0') * scale;
        }
        total_nanos = total_nanos.checked_add(component).ok_or_else(invalid)?;
        rest = after;
    }
    let nanos = i64::try_from(total_nanos).map_err(|_| invalid())?;
    let delta = TimeDelta::nanoseconds(nanos);
    Ok(if negative { -delta } else { delta })
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
