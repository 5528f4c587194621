//! Argument substitution (§1.10): `{{args.<name>}}` placeholders in a metric serialized as JSON
//! are replaced by the argument values, escaped the way Go's `strconv.Quote` escapes a string
//! body, so that a value can never break the JSON. The adapter serializes the CRD metric,
//! substitutes, then parses it into a [`super::MetricDefinition`]. Pure.

use std::fmt::Write as _;

use thiserror::Error;

use super::Secrets;

/// An argument after the run's args were merged: its value, if one was resolved, and whether it
/// came from a Secret (`valueFrom.secretKeyRef`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArgument {
    pub name: String,
    pub value: Option<String>,
    pub secret: bool,
}

/// Substitution failed; the run becomes Error with `Unable to resolve metric arguments: <this>`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResolveArgsError {
    #[error("argument \"{0}\" was not supplied")]
    NotSupplied(String),
    /// The tag as written, whitespace included.
    #[error("failed to resolve {{{{{0}}}}}")]
    Unresolved(String),
}

/// The prefix the reference puts before a [`ResolveArgsError`] in the run message.
pub const RESOLVE_ARGS_MESSAGE_PREFIX: &str = "Unable to resolve metric arguments: ";

/// Checks argument declarations before anything is resolved: an argument may have a literal
/// `value` or a `valueFrom`, never both. `args` are `(name, has value, has valueFrom)` in spec
/// order; `Err` is the reference's message for the first offender.
pub fn validate_arguments<'a>(
    args: impl IntoIterator<Item = (&'a str, bool, bool)>,
) -> Result<(), String> {
    for (name, has_value, has_value_from) in args {
        if has_value && has_value_from {
            return Err(format!("arg '{name}' has both Value and ValueFrom fields"));
        }
    }
    Ok(())
}

/// Replaces every `{{ args.<name> }}` in `template`. Every argument must have a value, referenced
/// or not, as in the reference; a placeholder that names no argument is an error.
pub fn substitute_args(template: &str, args: &[RunArgument]) -> Result<String, ResolveArgsError> {
    if let Some(missing) = args.iter().find(|a| a.value.is_none()) {
        return Err(ResolveArgsError::NotSupplied(missing.name.clone()));
    }
    let mut output = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(length) = rest[start + 2..].find("}}") else {
            break;
        };
        output.push_str(&rest[..start]);
        let tag = &rest[start + 2..start + 2 + length];
        let value = tag
            .trim()
            .strip_prefix("args.")
            .and_then(|name| args.iter().find(|a| a.name == name))
            .and_then(|a| a.value.as_deref())
            .ok_or_else(|| ResolveArgsError::Unresolved(tag.to_string()))?;
        output.push_str(&go_quote_body(value));
        rest = &rest[start + 2 + length + 2..];
    }
    output.push_str(rest);
    Ok(output)
}

/// The secret argument values, for masking.
pub fn secrets_of(args: &[RunArgument]) -> Secrets {
    Secrets::new(
        args.iter()
            .filter(|a| a.secret)
            .filter_map(|a| a.value.clone()),
    )
}

/// `strconv.Quote(value)` without the surrounding quotes.
fn go_quote_body(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\u{7}' => quoted.push_str("\\a"),
            '\u{8}' => quoted.push_str("\\b"),
            '\u{c}' => quoted.push_str("\\f"),
            '\u{b}' => quoted.push_str("\\v"),
            c if c.is_control() && (c as u32) < 0x80 => {
                let _ = write!(quoted, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04x}", c as u32);
            }
            c => quoted.push(c),
        }
    }
    quoted
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn arg(name: &str, value: Option<&str>) -> RunArgument {
        RunArgument {
            name: name.into(),
            value: value.map(str::to_string),
            secret: false,
        }
    }

    #[test]
    fn substitutes_with_trimmed_tags_and_escaping() {
        let template = r#"{"query":"rate(x{service=\"{{args.service-name}}\"}[{{ args.window }}])","count":"{{args.n}}"}"#;
        let args = [
            arg("service-name", Some("nginx")),
            arg("window", Some("5m")),
            arg("n", Some("3")),
        ];
        assert_eq!(
            substitute_args(template, &args).unwrap(),
            r#"{"query":"rate(x{service=\"nginx\"}[5m])","count":"3"}"#
        );
        let tricky =
            substitute_args(r#"{"q":"{{args.v}}"}"#, &[arg("v", Some("a\"b\\c\nd"))]).unwrap();
        assert_eq!(tricky, r#"{"q":"a\"b\\c\nd"}"#);
        let parsed: serde_json::Value = serde_json::from_str(&tricky).unwrap();
        assert_eq!(parsed["q"], "a\"b\\c\nd");
    }

    #[test]
    fn errors_use_the_reference_wording() {
        let error = substitute_args("{{args.metric-name}}", &[]).unwrap_err();
        assert_eq!(error.to_string(), "failed to resolve {{args.metric-name}}");
        assert_eq!(
            format!("{RESOLVE_ARGS_MESSAGE_PREFIX}{error}"),
            "Unable to resolve metric arguments: failed to resolve {{args.metric-name}}"
        );
        let error = substitute_args("plain", &[arg("n", None)]).unwrap_err();
        assert_eq!(error.to_string(), "argument \"n\" was not supplied");
        assert_eq!(
            substitute_args("{{ unterminated", &[]).unwrap(),
            "{{ unterminated"
        );
    }

    #[test]
    fn secrets_are_collected() {
        let args = [
            RunArgument {
                name: "token".into(),
                value: Some("s3cr3t".into()),
                secret: true,
            },
            arg("service", Some("nginx")),
        ];
        assert_eq!(secrets_of(&args).mask("s3cr3t nginx"), "***** nginx");
    }
}
