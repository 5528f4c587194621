//! Success and failure conditions: the expr-lang evaluation of `successCondition` /
//! `failureCondition` against a provider's `result`, the decision table that maps the two
//! outcomes to a measurement phase, and the empty-result guard check `rolltop lint` uses.
//!
//! The reference evaluates conditions with the Go `expr` library; rolltop uses the Rust
//! `expr-lang` port. Where the two differ, this module adapts (registered functions, a small
//! static type check, error rewording); the remaining differences are listed in
//! `docs/analysis.md`. Pure: no I/O, no clock.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use expr::{Context, Environment, Program, Value};
use thiserror::Error;

use super::AnalysisPhase;

/// A provider's result, typed as the reference types it for conditions (§4.2): Prometheus gives
/// a float (scalar) or a list of floats (vector, matrix); Web gives a JSON value or, for a body
/// that is not JSON, the raw text.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    Nil,
    Float(f64),
    Floats(Vec<f64>),
    Json(serde_json::Value),
    Text(String),
}

impl MetricValue {
    /// The reference's "nil or empty" test that swaps an evaluation error for the no-data
    /// message: nil, or an empty list.
    pub fn is_nil_or_empty(&self) -> bool {
        match self {
            Self::Nil | Self::Json(serde_json::Value::Null) => true,
            Self::Floats(values) => values.is_empty(),
            Self::Json(serde_json::Value::Array(values)) => values.is_empty(),
            _ => false,
        }
    }

    /// Whether `isNil()` / `default()` see a nil provider result (an empty list is not nil).
    pub fn is_nil(&self) -> bool {
        matches!(self, Self::Nil | Self::Json(serde_json::Value::Null))
    }

    /// The value bound to `result`. JSON numbers become floats, as Go decodes them to float64.
    pub fn to_expr(&self) -> Value {
        match self {
            Self::Nil => Value::Nil,
            Self::Float(value) => Value::Float(*value),
            Self::Floats(values) => Value::Array(values.iter().map(|v| Value::Float(*v)).collect()),
            Self::Json(value) => json_to_expr(value),
            Self::Text(text) => Value::String(text.clone()),
        }
    }
}

fn json_to_expr(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::Array(items.iter().map(json_to_expr).collect()),
        serde_json::Value::Object(map) => Value::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_expr(v)))
                .collect(),
        ),
    }
}

/// Which of the two conditions an error is about; displayed as the reference's field name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionKind {
    Success,
    Failure,
}

impl std::fmt::Display for ConditionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Success => "successCondition",
            Self::Failure => "failureCondition",
        })
    }
}

/// A condition could not be evaluated; the measurement becomes Error with this text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConditionError {
    /// The reference's wording, unchanged.
    #[error("could not evaluate {kind} \"{condition}\": {reason}")]
    Evaluate {
        kind: ConditionKind,
        condition: String,
        reason: String,
    },
    /// The provider returned nil or an empty list and the condition failed on it. The first
    /// part is the reference's message; the rest says plainly what happened and how to guard.
    #[error(
        "could not evaluate {kind} \"{condition}\": {NO_DATA_REASON}. The query returned no data \
         (empty result); {}",
        guard_suggestion(condition)
    )]
    NoData {
        kind: ConditionKind,
        condition: String,
    },
}

/// The reference's replacement text for an evaluation error on a nil or empty result.
pub const NO_DATA_REASON: &str =
    "metric result is nil or empty: no data returned from the metric provider";

/// The two guard forms for a condition that indexes `result[...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardSuggestion {
    /// `len(result) > 0 && <condition>`: false when the query returns no data.
    pub false_when_empty: String,
    /// `len(result) == 0 || <condition>`: true when the query returns no data.
    pub true_when_empty: String,
}

impl std::fmt::Display for GuardSuggestion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "guard the condition with \"{}\" (false when there is no data) or \"{}\" (true when \
             there is no data)",
            self.false_when_empty, self.true_when_empty
        )
    }
}

/// Both guard forms for `condition`.
pub fn guard_suggestion(condition: &str) -> GuardSuggestion {
    let condition = condition.trim();
    GuardSuggestion {
        false_when_empty: format!("len(result) > 0 && {}", parenthesize(condition)),
        true_when_empty: format!("len(result) == 0 || {}", parenthesize(condition)),
    }
}

/// A condition joined with `&&` / `||` keeps its meaning only if it has no top-level `||` / `&&`
/// of its own; wrap it then. (A lint suggestion: over-wrapping is harmless, under-wrapping is not.)
fn parenthesize(condition: &str) -> String {
    let lowered = format!(" {condition} ");
    if condition.contains("||")
        || condition.contains("&&")
        || lowered.contains(" or ")
        || lowered.contains(" and ")
        || condition.contains('?')
    {
        format!("({condition})")
    } else {
        condition.to_string()
    }
}

/// True when `condition` indexes `result[...]` without any `len(result)` guard, so an empty
/// Prometheus vector makes every measurement Error (seeds R5). Whitespace is ignored.
pub fn unguarded_result_index(condition: &str) -> bool {
    let compact: String = condition.chars().filter(|c| !c.is_whitespace()).collect();
    let indexes = compact.match_indices("result[").any(|(at, _)| {
        // `result` must be the whole identifier, not the tail of `myresult[`.
        compact[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'))
    });
    indexes && !compact.contains("len(result)")
}

/// The environment shared by every evaluation: expr-lang's builtins plus the reference's
/// helpers. `isNil` and `default` read the provider result from the context, as the reference
/// does (they ignore their first argument).
static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.add_function("asInt", |call| match call.args.first() {
        Some(Value::Integer(i)) => Ok(Value::Integer(*i)),
        Some(Value::Float(f)) => Ok(Value::Integer(f.trunc() as i64)),
        Some(Value::String(s)) => s.parse::<i64>().map(Value::Integer).map_err(|_| {
            expr::Error::ExprError(format!("strconv.ParseInt: parsing {s:?}: invalid syntax"))
        }),
        other => Err(expr::Error::ExprError(format!(
            "asInt: cannot convert {} to int",
            go_type_name(other.unwrap_or(&Value::Nil))
        ))),
    });
    env.add_function("asFloat", |call| match call.args.first() {
        Some(Value::Integer(i)) => Ok(Value::Float(*i as f64)),
        Some(Value::Float(f)) => Ok(Value::Float(*f)),
        Some(Value::String(s)) => parse_go_float(s).map(Value::Float).ok_or_else(|| {
            expr::Error::ExprError(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))
        }),
        other => Err(expr::Error::ExprError(format!(
            "asFloat: cannot convert {} to float64",
            go_type_name(other.unwrap_or(&Value::Nil))
        ))),
    });
    env.add_function("isNaN", |call| match call.args.first() {
        Some(Value::Float(f)) => Ok(Value::Bool(f.is_nan())),
        Some(Value::Integer(_)) => Ok(Value::Bool(false)),
        other => Err(expr::Error::ExprError(format!(
            "isNaN: expected float64, got {}",
            go_type_name(other.unwrap_or(&Value::Nil))
        ))),
    });
    env.add_function("isInf", |call| match call.args.first() {
        Some(Value::Float(f)) => Ok(Value::Bool(f.is_infinite())),
        Some(Value::Integer(_)) => Ok(Value::Bool(false)),
        other => Err(expr::Error::ExprError(format!(
            "isInf: expected float64, got {}",
            go_type_name(other.unwrap_or(&Value::Nil))
        ))),
    });
    env.add_function("isNil", |call| {
        Ok(Value::Bool(call.ctx.get(RESULT).is_none_or(Value::is_nil)))
    });
    env.add_function("default", |call| {
        let Some(fallback) = call.args.get(1) else {
            return Err(expr::Error::ExprError(
                "default() takes two arguments".to_string(),
            ));
        };
        match call.ctx.get(RESULT) {
            Some(result) if !result.is_nil() => Ok(result.clone()),
            _ => Ok(fallback.clone()),
        }
    });
    env
});

const RESULT: &str = "result";

/// Go's `strconv.ParseFloat` accepts what Rust's parser does, plus `+Inf`-style spellings.
fn parse_go_float(text: &str) -> Option<f64> {
    match text.to_ascii_lowercase().as_str() {
        "+inf" | "+infinity" => Some(f64::INFINITY),
        _ => text.parse::<f64>().ok(),
    }
}

/// The Go type name the reference prints in type errors.
fn go_type_name(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) => "int",
        Value::Bool(_) => "bool",
        Value::Float(_) => "float64",
        Value::Nil => "nil",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Bytes(_) => "[]uint8",
        Value::Map(_) | Value::KeyedMap(_) => "map[string]interface {}",
        // Time values exist only if another crate in the build enables expr-lang's `temporal`
        // feature (Cargo unifies features); keep compiling if one does.
        #[allow(unreachable_patterns)]
        _ => "time.Time",
    }
}

/// Evaluates one condition against `result`: the bare error text on failure, like the
/// reference's `EvalCondition` (no "could not evaluate" prefix).
pub fn evaluate_condition(condition: &str, result: &MetricValue) -> Result<bool, String> {
    if let Some(error) = mismatched_literal_comparison(condition) {
        return Err(error);
    }
    let program = compile_cached(condition)?;
    let mut context = Context::default();
    context.insert(RESULT, result.to_expr());
    match ENVIRONMENT.run(&program, &context) {
        Ok(Value::Bool(outcome)) => Ok(outcome),
        Ok(other) => Err(format!("expected bool, but got {}", go_type_name(&other))),
        Err(error) => Err(runtime_error_text(&error)),
    }
}

/// Conditions compiled so far. A run re-evaluates the same few conditions every interval, and
/// parsing dominates evaluation; the cache is cleared when it grows past `PROGRAM_CACHE_LIMIT`
/// so that arguments substituted into conditions cannot grow it without bound.
static PROGRAMS: LazyLock<Mutex<HashMap<String, Compiled>>> = LazyLock::new(Mutex::default);
/// A compiled condition, or its one-line compile error.
type Compiled = Result<Arc<Program>, String>;
const PROGRAM_CACHE_LIMIT: usize = 1024;

fn compile_cached(condition: &str) -> Compiled {
    let mut programs = PROGRAMS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(compiled) = programs.get(condition) {
        return compiled.clone();
    }
    let compiled = expr::compile(condition)
        .map(Arc::new)
        .map_err(|error| compile_error_text(&error));
    if programs.len() >= PROGRAM_CACHE_LIMIT {
        programs.clear();
    }
    programs.insert(condition.to_string(), compiled.clone());
    compiled
}

/// Maps both conditions to a measurement phase (§4.3): success first, failure second; the first
/// error stops evaluation.
pub fn evaluate_conditions(
    success_condition: &str,
    failure_condition: &str,
    result: &MetricValue,
) -> Result<AnalysisPhase, ConditionError> {
    let evaluate = |kind: ConditionKind, condition: &str| {
        evaluate_condition(condition, result).map_err(|reason| {
            if result.is_nil_or_empty() {
                ConditionError::NoData {
                    kind,
                    condition: condition.to_string(),
                }
            } else {
                ConditionError::Evaluate {
                    kind,
                    condition: condition.to_string(),
                    reason,
                }
            }
        })
    };
    let success = if success_condition.is_empty() {
        None
    } else {
        Some(evaluate(ConditionKind::Success, success_condition)?)
    };
    let failure = if failure_condition.is_empty() {
        None
    } else {
        Some(evaluate(ConditionKind::Failure, failure_condition)?)
    };
    Ok(match (success, failure) {
        // A true failureCondition wins even over a true successCondition.
        (_, Some(true)) | (Some(false), None) => AnalysisPhase::Failed,
        (Some(false), Some(false)) => AnalysisPhase::Inconclusive,
        _ => AnalysisPhase::Successful,
    })
}

/// Go's expr type-checks `asFloat(x) == "1.1"` at compile time and rejects it; expr-lang has no
/// static types and would quietly answer `false`. This catches that one documented case: a
/// conversion helper compared with `==`/`!=` to a string literal.
fn mismatched_literal_comparison(condition: &str) -> Option<String> {
    for (helper, go_type) in [("asFloat(", "float64"), ("asInt(", "int")] {
        for (start, _) in condition.match_indices(helper) {
            let mut depth = 0_i32;
            let mut end = None;
            for (offset, c) in condition[start..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(start + offset + 1);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let Some(end) = end else { continue };
            let rest = condition[end..].trim_start();
            for operator in ["==", "!="] {
                if let Some(after) = rest.strip_prefix(operator)
                    && after.trim_start().starts_with(['"', '\''])
                {
                    return Some(format!(
                        "invalid operation: {operator} (mismatched types {go_type} and string)"
                    ));
                }
            }
        }
    }
    None
}

/// Cuts a parser error down to one line, as the reference cuts compile errors to their message.
fn compile_error_text(error: &expr::Error) -> String {
    match error {
        expr::Error::PestError(pest) => {
            // pest renders " --> line:col", the source excerpt, then "  = expected ...".
            let rendered = pest.to_string();
            let position = rendered
                .lines()
                .find_map(|line| line.trim_start().strip_prefix("--> "))
                .unwrap_or("?");
            let message = rendered
                .lines()
                .rev()
                .find_map(|line| line.trim_start().strip_prefix("= "))
                .unwrap_or("invalid expression");
            format!("syntax error at {position}: {message}")
        }
        other => runtime_error_text(other),
    }
}

fn runtime_error_text(error: &expr::Error) -> String {
    let text = error.to_string();
    // expr-lang says "unknown variable: x" where Go's expr says "unknown name x".
    match text.strip_prefix("unknown variable: ") {
        Some(name) => format!("unknown name {name}"),
        None => text,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const NIL: MetricValue = MetricValue::Nil;

    fn t() -> MetricValue {
        MetricValue::Json(json!(true))
    }

    #[test]
    fn decision_table_er_cases() {
        use AnalysisPhase::{Failed, Inconclusive, Successful};
        // §4.4 #1–#6: (successCondition, failureCondition) → phase, result = true.
        let cases = [
            ("true", "false", Successful),
            ("true", "true", Failed),
            ("false", "false", Inconclusive),
            ("", "false", Successful),
            ("false", "", Failed),
            ("", "", Successful),
        ];
        for (success, failure, expected) in cases {
            assert_eq!(
                evaluate_conditions(success, failure, &t()).unwrap(),
                expected,
                "{success:?} / {failure:?}"
            );
        }
    }

    #[test]
    fn decision_table_error_cases() {
        // #7, #8, #11, #12
        let error = evaluate_conditions("a == true", "true", &t()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "could not evaluate successCondition \"a == true\": unknown name a"
        );
        let error = evaluate_conditions("true", "a == true", &t()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("could not evaluate failureCondition")
        );
        let error = evaluate_conditions("a == true", "", &t()).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("could not evaluate successCondition") && text.contains("a == true"));
        let error = evaluate_conditions("true", "invalidVar == true", &t()).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("could not evaluate failureCondition"));
        assert!(text.contains("invalidVar == true"));
    }

    #[test]
    fn nil_or_empty_results_say_no_data() {
        // #9 (nil) and #10 (empty float list), plus the plain-language hint.
        for result in [
            NIL,
            MetricValue::Floats(vec![]),
            MetricValue::Json(json!([])),
        ] {
            let error = evaluate_conditions("result[0] >= 0.95", "", &result).unwrap_err();
            let text = error.to_string();
            assert!(text.starts_with(
                "could not evaluate successCondition \"result[0] >= 0.95\": metric result is nil \
                 or empty: no data returned from the metric provider"
            ));
            assert!(
                text.contains("The query returned no data (empty result)"),
                "{text}"
            );
            assert!(
                text.contains("len(result) > 0 && result[0] >= 0.95"),
                "{text}"
            );
            assert!(
                text.contains("len(result) == 0 || result[0] >= 0.95"),
                "{text}"
            );
        }
    }

    #[test]
    fn guarded_conditions_handle_empty_results() {
        let empty = MetricValue::Floats(vec![]);
        assert_eq!(
            evaluate_conditions("len(result) == 0 || result[0] >= 0.95", "", &empty).unwrap(),
            AnalysisPhase::Successful
        );
        assert_eq!(
            evaluate_conditions("len(result) > 0 && result[0] >= 0.95", "", &empty).unwrap(),
            AnalysisPhase::Failed
        );
    }

    #[test]
    fn single_condition_cases() {
        let floats = |v: &[f64]| MetricValue::Floats(v.to_vec());
        let s = |v: &str| MetricValue::Json(json!(v));
        let n = |v: f64| MetricValue::Json(json!(v));
        let apdex = MetricValue::Json(json!({
            "service_apdex": {"label": null, "values": {"values": [2.0, 2.0]}}
        }));
        // (#, result, condition, Ok(outcome) or Err(substring))
        let cases: Vec<(u8, MetricValue, &str, Result<bool, &str>)> = vec![
            (13, t(), "result == true", Ok(true)),
            (14, t(), "result == false", Ok(false)),
            (15, t(), "1", Err("expected bool, but got int")),
            (
                16,
                t(),
                "invalidVariable",
                Err("unknown name invalidVariable"),
            ),
            (
                17,
                apdex,
                "all(result.service_apdex.values.values, {# > 1})",
                Ok(true),
            ),
            (18, floats(&[2.0, 2.0]), "2 in result", Ok(true)),
            (19, MetricValue::Float(5.0), "result > 1", Ok(true)),
            (20, t(), "result.Name() == 'hi'", Err("")),
            (
                21,
                s("1.1"),
                "asInt(result) == 1.1",
                Err("strconv.ParseInt"),
            ),
            (22, s("1"), "asInt(result) == 1", Ok(true)),
            (23, n(1.0), "asInt(result) == 1", Ok(true)),
            (24, n(1.123), "asInt(result) == 1", Ok(true)),
            (
                25,
                s("NotANum"),
                "asFloat(result) == 1.1",
                Err("strconv.ParseFloat: parsing \"NotANum\": invalid syntax"),
            ),
            (
                26,
                s("1.1"),
                "asFloat(result) == \"1.1\"",
                Err("invalid operation: == (mismatched types float64 and string)"),
            ),
            (27, s("1.1"), "asFloat(result) == 1.1", Ok(true)),
            (28, s("1.1"), "asFloat(result) >= 1.1", Ok(true)),
            (29, s("1.1"), "asFloat(result) <= 1.1", Ok(true)),
            (30, n(1.1), "asFloat(result) == 1.1", Ok(true)),
            (31, n(1.0), "asFloat(result) == 1", Ok(true)),
            (32, n(1.0), "asFloat(result) >= 1", Ok(true)),
        ];
        for (number, result, condition, expected) in cases {
            let actual = evaluate_condition(condition, &result);
            match expected {
                Ok(outcome) => assert_eq!(actual, Ok(outcome), "case #{number}: {condition}"),
                Err(fragment) => {
                    let error = actual.expect_err(&format!("case #{number} must fail"));
                    assert!(error.contains(fragment), "case #{number}: {error}");
                }
            }
        }
    }

    #[test]
    fn helper_cases() {
        let eval = |condition: &str, result: MetricValue| evaluate_condition(condition, &result);
        // #33
        assert_eq!(
            eval("asInt(result) == 1", MetricValue::Text("1".into())),
            Ok(true)
        );
        assert!(eval("asInt(result) == 1", MetricValue::Text("notint".into())).is_err());
        assert!(eval("asInt(result) == 1", MetricValue::Text("1.1".into())).is_err());
        assert_eq!(
            eval("asFloat(result) == 1", MetricValue::Text("1".into())),
            Ok(true)
        );
        assert!(eval("asFloat(result) == 1", MetricValue::Text("notfloat".into())).is_err());
        assert_eq!(
            eval("asFloat(result) == 1.1", MetricValue::Text("1.1".into())),
            Ok(true)
        );
        // #34: default ignores its first argument and reads the provider result.
        for fallback in [0, 1, 2] {
            let condition = format!("default(result, {fallback}) == {fallback}");
            assert_eq!(eval(&condition, NIL), Ok(true));
        }
        assert_eq!(
            eval("default(result, 0) == 1.0", MetricValue::Float(1.0)),
            Ok(true)
        );
        assert_eq!(eval("default(42, 7) == 7", NIL), Ok(true));
        // #35: isNil ignores its argument too.
        assert_eq!(eval("isNil(result)", NIL), Ok(true));
        assert_eq!(eval("isNil(1)", NIL), Ok(true));
        assert_eq!(
            eval("isNil(result)", MetricValue::Json(json!(null))),
            Ok(true)
        );
        for not_nil in [
            MetricValue::Float(1.0),
            MetricValue::Json(json!(["hi", "hello"])),
            MetricValue::Json(json!(1)),
            MetricValue::Json(json!(false)),
        ] {
            assert_eq!(eval("isNil(result)", not_nil), Ok(false));
        }
        // #36: nil-or-empty.
        assert!(NIL.is_nil_or_empty());
        assert!(MetricValue::Floats(vec![]).is_nil_or_empty());
        assert!(MetricValue::Json(json!([])).is_nil_or_empty());
        assert!(!MetricValue::Floats(vec![1.0]).is_nil_or_empty());
        assert!(!MetricValue::Json(json!(42)).is_nil_or_empty());
        assert!(!MetricValue::Text("hello".into()).is_nil_or_empty());
    }

    #[test]
    fn prometheus_shaped_cases() {
        use AnalysisPhase::{Failed, Inconclusive, Successful};
        let nan = MetricValue::Float(f64::NAN);
        let inf = MetricValue::Float(f64::INFINITY);
        let cases = [
            (
                "P1",
                MetricValue::Float(10.0),
                "result == 10",
                "result != 10",
                Successful,
            ),
            (
                "P2",
                MetricValue::Floats(vec![11.0, 12.0, 13.0, 14.0]),
                "all(result, # > 10)",
                "all(result, # < 10)",
                Successful,
            ),
            (
                "P3",
                nan.clone(),
                "result >= 0.9",
                "result < 0.9",
                Inconclusive,
            ),
            (
                "P4",
                nan.clone(),
                "result >= 0.9 || isNaN(result)",
                "",
                Successful,
            ),
            ("P5", nan, "result >= 0.9", "", Failed),
            ("P6", inf.clone(), "result >= 0.9", "", Successful),
            ("P7", inf, "", "isInf(result)", Failed),
            (
                "P8",
                MetricValue::Floats(vec![10.0, 11.0]),
                "10 in result",
                "len(result) != 2",
                Successful,
            ),
            (
                "P10",
                MetricValue::Floats(vec![10.0]),
                "result[0] == 10",
                "result[0] != 10",
                Successful,
            ),
        ];
        for (name, result, success, failure, expected) in cases {
            assert_eq!(
                evaluate_conditions(success, failure, &result).unwrap(),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn web_shaped_cases() {
        use AnalysisPhase::{Failed, Inconclusive, Successful};
        let body = json!({"a": 1, "b": true, "c": [1, 2, 3, 4], "d": null});
        let cases = [
            (
                "W1",
                MetricValue::Json(body.clone()),
                "result.a > 0 && result.b && all(result.c, {# < 5}) && result.d == nil",
                "",
                Successful,
            ),
            (
                "W2",
                MetricValue::Json(body),
                "result.a >= 2 && result.b && all(result.c, {# < 5}) && result.d == nil",
                "result.a <= 0 && result.b && all(result.c, {# < 5}) && result.d == nil",
                Inconclusive,
            ),
            (
                "W3",
                MetricValue::Json(json!("1")),
                "asInt(result) > 0",
                "asInt(result) <= 0",
                Successful,
            ),
            (
                "W4",
                MetricValue::Json(json!("0")),
                "asInt(result) > 0",
                "asInt(result) <= 0",
                Failed,
            ),
            (
                "W5",
                MetricValue::Json(json!("1.2")),
                "asFloat(result) > 1.1",
                "asFloat(result) < 1.3",
                Failed,
            ),
            (
                "W6",
                MetricValue::Json(json!(1)),
                "result > 0",
                "result <= 0",
                Successful,
            ),
            (
                "W7",
                MetricValue::Json(json!(-1.1)),
                "result > 0",
                "result <= 0",
                Failed,
            ),
            (
                "W8",
                MetricValue::Json(json!("true")),
                "result == \"true\"",
                "result == \"false\"",
                Successful,
            ),
            (
                "W9",
                MetricValue::Json(json!(false)),
                "result == true",
                "result == false",
                Failed,
            ),
            (
                "W10",
                MetricValue::Json(json!([1, 2, 3, 4, 5, 6])),
                "any(result, {# > 6})",
                "",
                Failed,
            ),
            (
                "W11",
                MetricValue::Json(json!({"num": 1.2, "bool": true, "mapfield": {"foo": "bar"}})),
                "result.num > 1.1 && result.bool && result.mapfield.foo == \"bar\"",
                "",
                Successful,
            ),
            (
                "W12",
                MetricValue::Text("test: notJson".into()),
                "result == 'test: notJson'",
                "",
                Successful,
            ),
            (
                "W13",
                MetricValue::Text("OK".into()),
                "result == 'fail123'",
                "",
                Failed,
            ),
        ];
        for (name, result, success, failure, expected) in cases {
            assert_eq!(
                evaluate_conditions(success, failure, &result).unwrap(),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn expr_syntax_the_reference_supports() {
        let floats = MetricValue::Floats(vec![2.0, 3.0]);
        for condition in [
            "all(result, # > 1)",
            "any(result, # > 2) and not none(result, # > 1) == true",
            "one(result, # > 2)",
            "len(filter(result, # > 2)) == 1",
            "map(result, # * 2)[1] == 6",
            "count(result, # > 1) == 2",
            "result[0] == 2 ? true : false",
            "'canary' startsWith 'can' && 'canary' endsWith 'ary' && 'canary' contains 'nar'",
        ] {
            assert_eq!(
                evaluate_condition(condition, &floats),
                Ok(true),
                "{condition}"
            );
        }
        assert_eq!(
            evaluate_condition("result > 1", &floats).map_err(|e| !e.is_empty()),
            Err(true),
            "a vector compared with a number is an error, as in the reference"
        );
        let error = evaluate_condition("result[0] >=", &floats).unwrap_err();
        assert!(error.starts_with("syntax error at 1:"), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }

    /// #37/#38: `now()`, `date()` and `duration()` need expr-lang's `temporal` feature, which
    /// rolltop leaves off; they fail with a message that says so (docs/analysis.md).
    #[test]
    fn time_functions_report_the_missing_feature() {
        for condition in ["now() > 0", "hello", "date(\"2023-08-14\") > 0"] {
            let error = evaluate_condition(condition, &t()).unwrap_err();
            assert!(!error.is_empty(), "{condition}");
        }
        let error = evaluate_condition("now() > 0", &t()).unwrap_err();
        assert!(error.contains("temporal"), "{error}");
    }

    #[test]
    fn unguarded_index_detection() {
        let cases = [
            ("result[0] >= 0.95", true),
            ("result [0] <= 5", true),
            ("len(result) > 0 && result[0] >= 0.95", false),
            ("len( result ) == 0 || result[0] >= 0.95", false),
            ("all(result, # > 1)", false),
            ("myresult[0] > 1", false),
            ("result > 1", false),
            ("", false),
        ];
        for (condition, expected) in cases {
            assert_eq!(unguarded_result_index(condition), expected, "{condition}");
        }
        let suggestion = guard_suggestion("result[0] >= 0.95");
        assert_eq!(
            suggestion.false_when_empty,
            "len(result) > 0 && result[0] >= 0.95"
        );
        assert_eq!(
            suggestion.true_when_empty,
            "len(result) == 0 || result[0] >= 0.95"
        );
        let wrapped = guard_suggestion("result[0] > 1 || result[1] > 1");
        assert_eq!(
            wrapped.true_when_empty,
            "len(result) == 0 || (result[0] > 1 || result[1] > 1)"
        );
    }
}
