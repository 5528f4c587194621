//! Label and field selectors, parsed once per request and matched against stored objects.
//! Grammar as `kubectl` and the API server accept it: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
//! `a notin (x)`, `a` (exists), `!a` (does not exist); field selectors take `=`, `==`, `!=`.

use serde_json::Value;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelRequirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(pub Vec<LabelRequirement>);

/// Why a selector could not be parsed; the message goes into a 400 BadRequest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse requirement: {0}")]
pub struct ParseSelectorError(pub String);

/// Splits on commas that are not inside parentheses.
fn split_top_level(raw: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in raw.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&raw[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&raw[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(raw: &str) -> Result<Vec<String>, ParseSelectorError> {
    let inner = raw
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            ParseSelectorError(format!("expected a set in parentheses, found {raw:?}"))
        })?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect())
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

impl LabelSelector {
    pub fn parse(raw: &str) -> Result<Self, ParseSelectorError> {
        let mut requirements = Vec::new();
        for part in split_top_level(raw) {
            let requirement = if let Some(key) = part.strip_prefix('!') {
                LabelRequirement::DoesNotExist(key.trim().to_owned())
            } else if let Some((key, value)) = part.split_once("!=") {
                LabelRequirement::NotEquals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, value)) = part.split_once("==") {
                LabelRequirement::Equals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, value)) = part.split_once('=') {
                LabelRequirement::Equals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, set)) = part.split_once(" notin ") {
                LabelRequirement::NotIn(key.trim().to_owned(), parse_set(set)?)
            } else if let Some((key, set)) = part.split_once(" in ") {
                LabelRequirement::In(key.trim().to_owned(), parse_set(set)?)
            } else {
                LabelRequirement::Exists(part.trim().to_owned())
            };
            let key = match &requirement {
                LabelRequirement::Equals(k, _)
                | LabelRequirement::NotEquals(k, _)
                | LabelRequirement::In(k, _)
                | LabelRequirement::NotIn(k, _)
                | LabelRequirement::Exists(k)
                | LabelRequirement::DoesNotExist(k) => k,
            };
            if !valid_key(key) {
                return Err(ParseSelectorError(format!("{part:?}: invalid label key")));
            }
            requirements.push(requirement);
        }
        Ok(Self(requirements))
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.0.iter().all(|requirement| match requirement {
            LabelRequirement::Equals(k, v) => label(k) == Some(v.as_str()),
            LabelRequirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            LabelRequirement::In(k, set) => label(k).is_some_and(|l| set.iter().any(|s| s == l)),
            LabelRequirement::NotIn(k, set) => label(k).is_none_or(|l| set.iter().all(|s| s != l)),
            LabelRequirement::Exists(k) => label(k).is_some(),
            LabelRequirement::DoesNotExist(k) => label(k).is_none(),
        })
    }
}

/// One requirement of a field selector: a dotted field path, equal or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub value: String,
    pub negated: bool,
}

/// A parsed field selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<FieldRequirement>);

impl FieldSelector {
    pub fn parse(raw: &str) -> Result<Self, ParseSelectorError> {
        let mut requirements = Vec::new();
        for part in split_top_level(raw) {
            let (field, value, negated) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, false)
            } else {
                return Err(ParseSelectorError(format!(
                    "{part:?}: field selectors need an operator"
                )));
            };
            let field = field.trim();
            if field.is_empty() {
                return Err(ParseSelectorError(format!("{part:?}: empty field")));
            }
            requirements.push(FieldRequirement {
                field: field.to_owned(),
                value: value.trim().to_owned(),
                negated,
            });
        }
        Ok(Self(requirements))
    }

    /// Whether the object's fields satisfy every requirement. A missing field reads as "", as
    /// the real server's field sets do for unset strings.
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|r| {
            let actual = field_value(object, &r.field);
            (actual == r.value) != r.negated
        })
    }
}

/// The string value of a dotted field path (`status.phase`, `involvedObject.name`).
pub fn field_value(object: &Value, field: &str) -> String {
    let mut current = object;
    for segment in field.split('.') {
        match current.get(segment) {
            Some(next) => current = next,
            None => return String::new(),
        }
    }
    match current {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"metadata": {"name": "web-1", "namespace": "shop",
                            "labels": {"app": "web", "tier": "front"}},
               "spec": {"nodeName": "node-a"}, "status": {"phase": "Running"}})
    }

    #[test]
    fn label_selectors() {
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app=api", false),
            ("app in (api,web)", true),
            ("app in (api)", false),
            ("app notin (api)", true),
            ("app notin (web, api)", false),
            ("tier", true),
            ("missing", false),
            ("!missing", true),
            ("!tier", false),
            ("app=web,tier in (front),!canary", true),
            ("missing!=x", true),
            ("missing notin (x)", true),
        ];
        for (raw, expected) in cases {
            let selector = LabelSelector::parse(raw).unwrap();
            assert_eq!(selector.matches(&pod()), expected, "{raw}");
        }
    }

    #[test]
    fn bad_label_selectors_are_errors() {
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a b=c").is_err());
    }

    #[test]
    fn field_selectors() {
        let cases = [
            ("metadata.name=web-1", true),
            ("metadata.name==web-2", false),
            ("metadata.namespace=shop,status.phase=Running", true),
            ("status.phase!=Running", false),
            ("spec.nodeName=node-a", true),
            ("involvedObject.name=", true),
        ];
        for (raw, expected) in cases {
            let selector = FieldSelector::parse(raw).unwrap();
            assert_eq!(selector.matches(&pod()), expected, "{raw}");
        }
        assert!(FieldSelector::parse("metadata.name").is_err());
    }
}
