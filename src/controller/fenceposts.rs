//! Resolution of Kubernetes int-or-percent rollout knobs (`maxSurge`, `maxUnavailable`) into pod
//! counts, the way the Argo Rollouts controller does it (spec §1.2, §4.0). Pure arithmetic over
//! plain numbers: the CRD adapter turns `IntOrString` fields into [`IntOrPercent`] and calls in
//! here; nothing in this module reads cluster objects.

use thiserror::Error;

/// A Kubernetes `IntOrString` value as it appears in a rollout strategy.
///
/// Argo treats **every** string as a percentage: `"25"` and `"25%"` both mean 25 % (spec §4.0 ⚠,
/// pitfall §9.10), so `maxSurge: "1"` is one percent, not one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntOrPercent {
    /// An absolute pod count.
    Int(i64),
    /// A percentage of `spec.replicas`, with or without the trailing `%`.
    Percent(String),
}

/// Why an [`IntOrPercent`] could not be turned into a pod count.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResolveIntOrPercentError {
    /// The string form does not hold a whole number of percent.
    #[error("invalid percentage {value:?}: expected a whole number optionally followed by '%'")]
    InvalidPercent { value: String },
}

/// How a percentage that does not divide evenly is rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Round towards +∞ (used for `maxSurge`).
    Up,
    /// Round towards −∞ (used for `maxUnavailable`).
    Down,
}

impl IntOrPercent {
    /// The Argo default for both canary knobs: the string `"25"`, i.e. 25 %.
    pub fn default_canary() -> Self {
        IntOrPercent::Percent("25".to_owned())
    }

    /// Parses the percent number out of the string form (`"25%"` and `"25"` → 25).
    fn percent(value: &str) -> Result<i64, ResolveIntOrPercentError> {
        let digits = value.trim().strip_suffix('%').unwrap_or(value.trim());
        digits
            .parse::<i64>()
            .map_err(|_| ResolveIntOrPercentError::InvalidPercent {
                value: value.to_owned(),
            })
    }

    /// Resolves this value against `total` pods. Negative results are clamped to 0 because a
    /// negative surge or unavailability budget has no meaning (the reference rejects them in
    /// validation; we never want a negative count to leak into replica math).
    pub fn scaled(&self, total: i32, rounding: Rounding) -> Result<i32, ResolveIntOrPercentError> {
        let value = match self {
            IntOrPercent::Int(n) => *n,
            IntOrPercent::Percent(s) => {
                let pct = Self::percent(s)?;
                let product = pct.saturating_mul(i64::from(total));
                match rounding {
                    Rounding::Up => {
                        product.div_euclid(100) + i64::from(product.rem_euclid(100) != 0)
                    }
                    Rounding::Down => product.div_euclid(100),
                }
            }
        };
        Ok(value.clamp(0, i64::from(i32::MAX)) as i32)
    }

    /// True when the value is literally zero (`0`, `"0"`, `"0%"`), the case validation rejects
    /// when it holds for both knobs.
    pub fn is_literal_zero(&self) -> bool {
        match self {
            IntOrPercent::Int(n) => *n == 0,
            IntOrPercent::Percent(s) => Self::percent(s).is_ok_and(|p| p == 0),
        }
    }
}

/// Resolved surge and unavailability budgets, in pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fenceposts {
    /// Pods allowed above `spec.replicas`.
    pub max_surge: i32,
    /// Pods allowed below `spec.replicas` among available pods.
    pub max_unavailable: i32,
}

/// Resolves the canary `maxSurge`/`maxUnavailable` pair for `replicas` desired pods
/// (`resolveFenceposts` plus Argo's `MaxSurge`/`MaxUnavailable` wrappers):
///
/// * unset knobs default to 25 %;
/// * surge percentages round up, unavailable percentages round down;
/// * if both resolve to 0 (e.g. `"0%"`/`"0%"`, or 25 % of 1 pod with surge 0) unavailable becomes
///   1 so the rollout can still make progress;
/// * unavailable is capped at `replicas` (so `replicas == 0` gives 0).
pub fn resolve_canary_fenceposts(
    max_surge: Option<&IntOrPercent>,
    max_unavailable: Option<&IntOrPercent>,
    replicas: i32,
) -> Result<Fenceposts, ResolveIntOrPercentError> {
    let default = IntOrPercent::default_canary();
    let surge = max_surge
        .unwrap_or(&default)
        .scaled(replicas, Rounding::Up)?;
    let mut unavailable = max_unavailable
        .unwrap_or(&default)
        .scaled(replicas, Rounding::Down)?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok(Fenceposts {
        max_surge: surge,
        max_unavailable: unavailable.min(replicas.max(0)),
    })
}

/// Resolves the blue-green budgets. Blue-green never surges (`maxSurge` is 0 by definition); its
/// `maxUnavailable` (default 25 %, ⚠ the docs claim 0 — the code default is followed) is only used
/// by the pod restarter. Because surge is 0, an unavailability that rounds to 0 becomes 1.
pub fn resolve_blue_green_fenceposts(
    max_unavailable: Option<&IntOrPercent>,
    replicas: i32,
) -> Result<Fenceposts, ResolveIntOrPercentError> {
    let zero = IntOrPercent::Int(0);
    resolve_canary_fenceposts(Some(&zero), max_unavailable, replicas)
}

/// Validation rule: `maxSurge` and `maxUnavailable` must not both be literally zero
/// (message "MaxSurge and MaxUnavailable both can not be zero"). Unset knobs default to 25 % and
/// therefore never trip it.
pub fn both_fenceposts_literally_zero(
    max_surge: Option<&IntOrPercent>,
    max_unavailable: Option<&IntOrPercent>,
) -> bool {
    max_surge.is_some_and(IntOrPercent::is_literal_zero)
        && max_unavailable.is_some_and(IntOrPercent::is_literal_zero)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pct(s: &str) -> IntOrPercent {
        IntOrPercent::Percent(s.to_owned())
    }

    #[test]
    fn scaled_rounds_surge_up_and_unavailable_down() {
        let cases: &[(IntOrPercent, i32, Rounding, i32)] = &[
            (pct("25%"), 10, Rounding::Up, 3),
            (pct("25%"), 10, Rounding::Down, 2),
            (pct("25"), 10, Rounding::Up, 3),
            (pct("1"), 10, Rounding::Up, 1),
            (pct("1"), 1000, Rounding::Up, 10),
            (pct("100%"), 4, Rounding::Up, 4),
            (pct("20%"), 10, Rounding::Down, 2),
            (pct("0%"), 10, Rounding::Up, 0),
            (pct(" 50% "), 3, Rounding::Up, 2),
            (IntOrPercent::Int(2), 10, Rounding::Up, 2),
            (IntOrPercent::Int(-3), 10, Rounding::Up, 0),
            (pct("25%"), 0, Rounding::Up, 0),
        ];
        for (value, total, rounding, want) in cases {
            assert_eq!(
                value.scaled(*total, *rounding).unwrap(),
                *want,
                "{value:?} of {total} rounded {rounding:?}"
            );
        }
    }

    #[test]
    fn unparsable_percent_is_an_error() {
        assert_eq!(
            pct("abc").scaled(10, Rounding::Up),
            Err(ResolveIntOrPercentError::InvalidPercent {
                value: "abc".to_owned()
            })
        );
        assert!(pct("2.5%").scaled(10, Rounding::Up).is_err());
    }

    #[test]
    fn canary_fenceposts_defaults_to_25_percent() {
        let f = resolve_canary_fenceposts(None, None, 10).unwrap();
        assert_eq!(
            f,
            Fenceposts {
                max_surge: 3,
                max_unavailable: 2
            }
        );
        let f = resolve_canary_fenceposts(None, None, 4).unwrap();
        assert_eq!(
            f,
            Fenceposts {
                max_surge: 1,
                max_unavailable: 1
            }
        );
    }

    #[test]
    fn canary_fenceposts_table() {
        // (maxSurge, maxUnavailable, replicas, expected surge, expected unavailable)
        type Case = (Option<IntOrPercent>, Option<IntOrPercent>, i32, i32, i32);
        let cases: &[Case] = &[
            // TestCalculateReplicaCountsForCanary row "0%/0%": unavailable forced to 1.
            (Some(pct("0%")), Some(pct("0%")), 10, 0, 1),
            // 25 % of one pod rounds down to 0 while surge rounds up to 1: no forcing.
            (None, None, 1, 1, 0),
            (Some(IntOrPercent::Int(0)), None, 1, 0, 1),
            // Unavailable capped at replicas.
            (
                Some(IntOrPercent::Int(0)),
                Some(IntOrPercent::Int(5)),
                3,
                0,
                3,
            ),
            // No replicas: nothing may be unavailable even after forcing.
            (
                Some(IntOrPercent::Int(0)),
                Some(IntOrPercent::Int(0)),
                0,
                0,
                0,
            ),
            (Some(pct("100%")), Some(IntOrPercent::Int(0)), 4, 4, 0),
            (
                Some(IntOrPercent::Int(2)),
                Some(IntOrPercent::Int(0)),
                4,
                2,
                0,
            ),
            (Some(pct("20%")), Some(IntOrPercent::Int(0)), 10, 2, 0),
        ];
        for (surge, unavailable, replicas, want_surge, want_unavailable) in cases {
            let got =
                resolve_canary_fenceposts(surge.as_ref(), unavailable.as_ref(), *replicas).unwrap();
            assert_eq!(
                (got.max_surge, got.max_unavailable),
                (*want_surge, *want_unavailable),
                "surge {surge:?} unavailable {unavailable:?} R={replicas}"
            );
        }
    }

    #[test]
    fn blue_green_never_surges() {
        let f = resolve_blue_green_fenceposts(None, 4).unwrap();
        assert_eq!(
            f,
            Fenceposts {
                max_surge: 0,
                max_unavailable: 1
            }
        );
        let f = resolve_blue_green_fenceposts(None, 2).unwrap();
        assert_eq!(
            f,
            Fenceposts {
                max_surge: 0,
                max_unavailable: 1
            }
        );
        let f = resolve_blue_green_fenceposts(Some(&pct("75%")), 4).unwrap();
        assert_eq!(
            f,
            Fenceposts {
                max_surge: 0,
                max_unavailable: 3
            }
        );
    }

    #[test]
    fn literal_zero_validation() {
        let zero = IntOrPercent::Int(0);
        assert!(both_fenceposts_literally_zero(Some(&zero), Some(&pct("0"))));
        assert!(both_fenceposts_literally_zero(
            Some(&pct("0%")),
            Some(&zero)
        ));
        assert!(!both_fenceposts_literally_zero(None, Some(&zero)));
        assert!(!both_fenceposts_literally_zero(
            Some(&zero),
            Some(&IntOrPercent::Int(1))
        ));
    }
}
