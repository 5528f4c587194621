//! Secret argument values (`valueFrom.secretKeyRef`) and their masking: every message, value
//! and metadata entry the engine produces passes through [`Secrets::mask`], so a secret never
//! reaches the AnalysisRun status, a log line or the screen. Pure.

/// What the reference writes in place of a secret value.
pub const SECRET_MASK: &str = "*****";

/// The resolved values of the run's secret arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    /// Collects the secret values; empty strings are ignored (masking "" would mask everything).
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut values: Vec<String> = values
            .into_iter()
            .map(Into::into)
            .filter(|v| !v.is_empty())
            .collect();
        // Longest first, so a secret that contains another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        Self { values }
    }

    /// `text` with every occurrence of every secret replaced by `*****`.
    pub fn mask(&self, text: &str) -> String {
        self.values.iter().fold(text.to_string(), |masked, secret| {
            masked.replace(secret.as_str(), SECRET_MASK)
        })
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence_longest_first() {
        let secrets = Secrets::new(["tok", "token-123", ""]);
        assert_eq!(
            secrets.mask("Bearer token-123 and tok"),
            "Bearer ***** and *****"
        );
        assert_eq!(Secrets::default().mask("plain"), "plain");
    }
}
