//! Duration strings as Argo reads them. The CRD types keep durations as the user wrote them
//! (`"30s"`, `"1h30m"`, `600`), so that a round-trip changes nothing; these pure parsers turn them
//! into [`std::time::Duration`] when a decision needs a number.
//!
//! Two rule sets exist upstream and both are mirrored here:
//! - [`parse_go_duration`]: Go's `time.ParseDuration`, used for metric `interval` / `initialDelay`,
//!   experiment `duration` and `rangeQuery.step`. A bare number other than `0` is invalid.
//! - [`parse_pause_duration`]: a canary `pause.duration`, an int-or-string where an integer or a
//!   unitless string counts seconds and anything else is a Go duration; Argo keeps whole seconds.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Why a duration string was rejected. Messages follow Go's `time.ParseDuration` wording so
/// that an AnalysisRun message written by rolltop reads like one written by Argo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("time: invalid duration \"{0}\"")]
    Invalid(String),
    #[error("time: missing unit in duration \"{0}\"")]
    MissingUnit(String),
    #[error("time: unknown unit \"{unit}\" in duration \"{input}\"")]
    UnknownUnit { unit: String, input: String },
    /// Go accepts negative durations; a wait cannot be negative, so rolltop rejects them.
    #[error("negative duration \"{0}\"")]
    Negative(String),
}

/// Nanoseconds per Go duration unit.
fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        _ => return None,
    })
}

/// Parses a Go duration string (`300ms`, `1.5h`, `2h45m`, `0`). Units: `ns`, `us`/`µs`, `ms`, `s`,
/// `m`, `h`; a leading `+` is allowed; a leading `-` is rejected unless the value is zero.
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    let (negative, total) = parse_go_nanos(input)?;
    if negative && total > 0 {
        return Err(DurationError::Negative(input.to_owned()));
    }
    let secs = (total / 1_000_000_000) as u64;
    let subsec = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, subsec))
}

/// Parses a Go duration string keeping its sign (`-1h` is an hour back), for offsets such as a
/// metric's `rangeQuery.start`. Same syntax and errors as [`parse_go_duration`].
pub fn parse_go_duration_signed(input: &str) -> Result<chrono::TimeDelta, DurationError> {
    let (negative, total) = parse_go_nanos(input)?;
    // parse_go_nanos caps the total at i64::MAX nanoseconds, Go's own limit.
    let delta = chrono::TimeDelta::nanoseconds(total as i64);
    Ok(if negative { -delta } else { delta })
}

/// The one implementation of Go's `time.ParseDuration` syntax: the sign and the magnitude in
/// nanoseconds (at most `i64::MAX`, as in Go).
fn parse_go_nanos(input: &str) -> Result<(bool, u128), DurationError> {
    let invalid = || DurationError::Invalid(input.to_owned());
    let (negative, mut rest) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if rest == "0" {
        return Ok((negative, 0));
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_number) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = after_number
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after_number.len(), |(i, _)| i);
        let (unit, remaining) = after_number.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(input.to_owned()));
        }
        let scale = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
            unit: unit.to_owned(),
            input: input.to_owned(),
        })?;
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut nanos = whole.checked_mul(scale).ok_or_else(invalid)?;
        // Fractions are truncated to whole nanoseconds, as Go does.
        let mut place = scale;
        for digit in frac_part.bytes() {
            place /= 10;
            if place == 0 {
                break;
            }
            nanos += u128::from(digit - b'0') * place;
        }
        total = total.checked_add(nanos).ok_or_else(invalid)?;
        rest = remaining;
    }
    // Go's limit is i64 nanoseconds (about 290 years); anything larger is an overflow there.
    if total > i64::MAX as u128 {
        return Err(invalid());
    }
    Ok((negative, total))
}

/// Parses a canary `pause.duration`: an integer is seconds, a string of digits is seconds, any
/// other string is a Go duration. Argo converts the result to whole seconds (`1500ms` pauses 1 s).
pub fn parse_pause_duration(value: &IntOrString) -> Result<Duration, DurationError> {
    match value {
        IntOrString::Int(seconds) => u64::try_from(*seconds)
            .map(Duration::from_secs)
            .map_err(|_| DurationError::Negative(seconds.to_string())),
        IntOrString::String(text) => {
            if let Ok(seconds) = text.parse::<i64>() {
                return u64::try_from(seconds)
                    .map(Duration::from_secs)
                    .map_err(|_| DurationError::Negative(text.clone()));
            }
            let parsed = parse_go_duration(text)?;
            Ok(Duration::from_secs(parsed.as_secs()))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn go_durations_table() {
        let cases: &[(&str, Result<Duration, DurationError>)] = &[
            ("0", Ok(Duration::ZERO)),
            ("+0", Ok(Duration::ZERO)),
            ("-0", Ok(Duration::ZERO)),
            ("30s", Ok(Duration::from_secs(30))),
            ("5m", Ok(Duration::from_secs(300))),
            ("1h", Ok(Duration::from_secs(3600))),
            ("1h30m", Ok(Duration::from_secs(5400))),
            ("2h45m10s", Ok(Duration::from_secs(9910))),
            ("300ms", Ok(ms(300))),
            ("1.5h", Ok(Duration::from_secs(5400))),
            (".5s", Ok(ms(500))),
            ("1.s", Ok(Duration::from_secs(1))),
            ("10us", Ok(Duration::from_micros(10))),
            ("10\u{b5}s", Ok(Duration::from_micros(10))),
            ("10\u{3bc}s", Ok(Duration::from_micros(10))),
            ("7ns", Ok(Duration::from_nanos(7))),
            ("1m0s", Ok(Duration::from_secs(60))),
            ("+5s", Ok(Duration::from_secs(5))),
            ("", Err(DurationError::Invalid(String::new()))),
            ("30", Err(DurationError::MissingUnit("30".into()))),
            ("1h30", Err(DurationError::MissingUnit("1h30".into()))),
            ("??", Err(DurationError::Invalid("??".into()))),
            ("s", Err(DurationError::Invalid("s".into()))),
            (".s", Err(DurationError::Invalid(".s".into()))),
            (
                "1d",
                Err(DurationError::UnknownUnit {
                    unit: "d".into(),
                    input: "1d".into(),
                }),
            ),
            ("-1h", Err(DurationError::Negative("-1h".into()))),
            (
                "9999999999h",
                Err(DurationError::Invalid("9999999999h".into())),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(&parse_go_duration(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn go_duration_error_messages_match_go() {
        assert_eq!(
            parse_go_duration("??").unwrap_err().to_string(),
            "time: invalid duration \"??\""
        );
        assert_eq!(
            parse_go_duration("30").unwrap_err().to_string(),
            "time: missing unit in duration \"30\""
        );
        assert_eq!(
            parse_go_duration("3d").unwrap_err().to_string(),
            "time: unknown unit \"d\" in duration \"3d\""
        );
    }

    #[test]
    fn pause_durations_table() {
        let s = |text: &str| IntOrString::String(text.to_owned());
        let cases: &[(IntOrString, Result<Duration, DurationError>)] = &[
            (IntOrString::Int(30), Ok(Duration::from_secs(30))),
            (IntOrString::Int(0), Ok(Duration::ZERO)),
            (s("30"), Ok(Duration::from_secs(30))),
            (s("30s"), Ok(Duration::from_secs(30))),
            (s("10m"), Ok(Duration::from_secs(600))),
            (s("1h"), Ok(Duration::from_secs(3600))),
            (s("1500ms"), Ok(Duration::from_secs(1))),
            (
                IntOrString::Int(-5),
                Err(DurationError::Negative("-5".into())),
            ),
            (s("-5"), Err(DurationError::Negative("-5".into()))),
            (s("soon"), Err(DurationError::Invalid("soon".into()))),
            (
                s("2d"),
                Err(DurationError::UnknownUnit {
                    unit: "d".into(),
                    input: "2d".into(),
                }),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(&parse_pause_duration(input), expected, "input {input:?}");
        }
    }
}
