//! Authorization: everything is allowed unless a `--deny VERB:RESOURCE[:NAMESPACE]` rule
//! matches. Denials carry the real server's 403 message, and SelfSubjectAccessReview answers
//! by the same rules so RBAC-aware clients can be tested.

use std::fmt;
use std::str::FromStr;

use super::status::{ApiError, qualified};

/// The user every sandbox request is made as.
pub const USER: &str = "sandbox";

/// One `--deny` rule. `*` in verb or resource matches anything; a resource `rollouts` matches
/// only the main resource, `rollouts/status` one subresource and `rollouts/*` all of them.
/// A resource may be qualified by its group (`rollouts.argoproj.io`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyRule {
    pub verb: String,
    pub resource: String,
    pub namespace: Option<String>,
}

/// Why a `--deny` rule could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid --deny rule {rule:?}: expected VERB:RESOURCE[:NAMESPACE], e.g. patch:rollouts:prod"
)]
pub struct ParseDenyRuleError {
    pub rule: String,
}

impl FromStr for DenyRule {
    type Err = ParseDenyRuleError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let err = || ParseDenyRuleError {
            rule: raw.to_owned(),
        };
        let parts: Vec<&str> = raw.split(':').map(str::trim).collect();
        let (verb, resource, namespace) = match parts.as_slice() {
            [verb, resource] => (*verb, *resource, None),
            [verb, resource, ns] => (*verb, *resource, Some((*ns).to_owned())),
            _ => return Err(err()),
        };
        if verb.is_empty() || resource.is_empty() || namespace.as_deref() == Some("") {
            return Err(err());
        }
        Ok(Self {
            verb: verb.to_ascii_lowercase(),
            resource: resource.to_owned(),
            namespace,
        })
    }
}

impl fmt::Display for DenyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.verb, self.resource)?;
        if let Some(ns) = &self.namespace {
            write!(f, ":{ns}")?;
        }
        Ok(())
    }
}

/// What a request wants to do, in RBAC terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
}

impl DenyRule {
    fn matches(&self, a: &Attributes) -> bool {
        if self.verb != "*" && self.verb != a.verb {
            return false;
        }
        if let Some(ns) = &self.namespace
            && ns != "*"
            && *ns != a.namespace
        {
            return false;
        }
        if self.resource == "*" {
            return true;
        }
        let (resource, sub) = self
            .resource
            .split_once('/')
            .map_or((self.resource.as_str(), None), |(r, s)| (r, Some(s)));
        let resource_ok = resource == a.resource || resource == qualified(&a.group, &a.resource);
        let sub_ok = match sub {
            None => a.subresource.is_empty(),
            Some("*") => true,
            Some(s) => s == a.subresource,
        };
        resource_ok && sub_ok
    }
}

/// Whether any rule denies these attributes.
pub fn is_denied(rules: &[DenyRule], attributes: &Attributes) -> bool {
    denying_rule(rules, attributes).is_some()
}

/// The first rule that denies these attributes.
pub fn denying_rule<'a>(rules: &'a [DenyRule], attributes: &Attributes) -> Option<&'a DenyRule> {
    rules.iter().find(|r| r.matches(attributes))
}

/// The 403 the real server sends.
pub fn forbidden(a: &Attributes) -> ApiError {
    let target = if a.name.is_empty() {
        qualified(&a.group, &a.resource)
    } else {
        format!("{} \"{}\"", qualified(&a.group, &a.resource), a.name)
    };
    let resource = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let scope = if a.namespace.is_empty() {
        "at the cluster scope".to_owned()
    } else {
        format!("in the namespace \"{}\"", a.namespace)
    };
    ApiError::forbidden(format!(
        "{target} is forbidden: User \"{USER}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
        a.verb, a.group
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn attrs(verb: &str, resource: &str, sub: &str, ns: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: "argoproj.io".into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: ns.into(),
            name: "x".into(),
        }
    }

    #[test]
    fn parse_rules() {
        let rule: DenyRule = "patch:rollouts:prod".parse().unwrap();
        assert_eq!(rule.namespace.as_deref(), Some("prod"));
        assert_eq!(rule.to_string(), "patch:rollouts:prod");
        assert!("patch".parse::<DenyRule>().is_err());
        assert!("a:b:c:d".parse::<DenyRule>().is_err());
        assert!(":rollouts".parse::<DenyRule>().is_err());
    }

    #[test]
    fn rule_matching() {
        let cases = [
            (
                "patch:rollouts:prod",
                attrs("patch", "rollouts", "", "prod"),
                true,
            ),
            (
                "patch:rollouts:prod",
                attrs("patch", "rollouts", "", "dev"),
                false,
            ),
            (
                "patch:rollouts",
                attrs("patch", "rollouts", "status", "dev"),
                false,
            ),
            (
                "patch:rollouts/status",
                attrs("patch", "rollouts", "status", "dev"),
                true,
            ),
            (
                "patch:rollouts/*",
                attrs("patch", "rollouts", "scale", "dev"),
                true,
            ),
            ("*:rollouts", attrs("delete", "rollouts", "", "dev"), true),
            ("get:*", attrs("get", "pods", "log", "dev"), true),
            ("get:*", attrs("list", "pods", "", "dev"), false),
            (
                "patch:rollouts.argoproj.io",
                attrs("patch", "rollouts", "", "a"),
                true,
            ),
        ];
        for (rule, a, expected) in cases {
            let rule: DenyRule = rule.parse().unwrap();
            assert_eq!(
                is_denied(std::slice::from_ref(&rule), &a),
                expected,
                "{rule} {a:?}"
            );
        }
    }

    #[test]
    fn forbidden_message_shape() {
        let error = forbidden(&attrs("patch", "rollouts", "", "prod"));
        assert_eq!(
            error.message,
            "rollouts.argoproj.io \"x\" is forbidden: User \"sandbox\" cannot patch resource \
             \"rollouts\" in API group \"argoproj.io\" in the namespace \"prod\""
        );
        assert_eq!(error.code, 403);
        let mut cluster = attrs("list", "namespaces", "", "");
        cluster.group = String::new();
        cluster.name = String::new();
        assert_eq!(
            forbidden(&cluster).message,
            "namespaces is forbidden: User \"sandbox\" cannot list resource \"namespaces\" in \
             API group \"\" at the cluster scope"
        );
    }
}
