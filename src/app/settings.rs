//! Per-context cockpit settings from `~/.config/rolltop/config.toml` (or
//! `$XDG_CONFIG_HOME/rolltop/config.toml`): `readonly`, a `protected` namespace glob whose
//! destructive actions ask to type the rollout's name, and `notify` (bell + OSC 9). Parsing and
//! the decisions are pure; `main` reads the file.
//!
//! ```toml
//! notify = true                 # default for every context
//! [contexts.prod-eu]
//! readonly = true
//! [contexts."kind-*"]           # a key may be a glob over context names
//! protected = "prod-*"          # namespaces whose destructive actions need the name typed
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::Action;

/// The file as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Bell and OSC 9 notifications, for every context unless one says otherwise.
    pub notify: Option<bool>,
    #[serde(default)]
    pub contexts: BTreeMap<String, ContextConfig>,
}

/// One `[contexts.NAME]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextConfig {
    pub readonly: Option<bool>,
    pub protected: Option<String>,
    pub notify: Option<bool>,
}

/// Why the config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
}

/// Where the config file lives, from `XDG_CONFIG_HOME` and `HOME`.
pub fn config_path(xdg_config_home: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
    let base = match (xdg_config_home, home) {
        (Some(config), _) if config.is_absolute() => config.to_path_buf(),
        (_, Some(home)) => home.join(".config"),
        _ => return None,
    };
    Some(base.join("rolltop").join("config.toml"))
}

/// Parses the file's text; `path` only names it in errors. Globs are checked here, so a typo
/// fails at start rather than silently protecting nothing.
pub fn parse_config(text: &str, path: &str) -> Result<ConfigFile, LoadConfigError> {
    let file: ConfigFile = toml::from_str(text).map_err(|e| LoadConfigError::Parse {
        path: path.to_owned(),
        message: e.message().to_owned(),
    })?;
    for (name, context) in &file.contexts {
        for glob in std::iter::once(name).chain(context.protected.as_ref()) {
            glob::Pattern::new(glob).map_err(|e| LoadConfigError::Parse {
                path: path.to_owned(),
                message: format!("[contexts.{name}]: invalid glob {glob:?}: {e}"),
            })?;
        }
    }
    Ok(file)
}

/// Reads the file at `path`; a missing file is an empty config.
pub fn load_config(path: Option<&Path>) -> Result<ConfigFile, LoadConfigError> {
    let Some(path) = path else {
        return Ok(ConfigFile::default());
    };
    match std::fs::read_to_string(path) {
        Ok(text) => parse_config(&text, &path.display().to_string()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(source) => Err(LoadConfigError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// What applies in one context, with the command-line flags folded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub file: ConfigFile,
    /// `--readonly` was given (it wins over every context).
    pub flag_readonly: bool,
    /// `--no-notify` was given.
    pub flag_no_notify: bool,
    /// The resolved `protected` glob of the current context.
    pub protected: Option<String>,
    pub notify: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self::new(ConfigFile::default(), false, false)
    }
}

impl Settings {
    pub fn new(file: ConfigFile, flag_readonly: bool, flag_no_notify: bool) -> Self {
        Self {
            file,
            flag_readonly,
            flag_no_notify,
            protected: None,
            notify: !flag_no_notify,
        }
    }

    /// The table for `context`: its exact name first, else the first glob key that matches.
    pub fn context_config(&self, context: &str) -> ContextConfig {
        if let Some(config) = self.file.contexts.get(context) {
            return config.clone();
        }
        self.file
            .contexts
            .iter()
            .find(|(key, _)| glob::Pattern::new(key).is_ok_and(|p| p.matches(context)))
            .map(|(_, config)| config.clone())
            .unwrap_or_default()
    }

    /// Applies `context`'s table; returns whether the cockpit is read-only there.
    pub fn enter_context(&mut self, context: &str) -> bool {
        let config = self.context_config(context);
        self.protected.clone_from(&config.protected);
        self.notify = !self.flag_no_notify && config.notify.or(self.file.notify).unwrap_or(true);
        self.flag_readonly || config.readonly.unwrap_or(false)
    }

    /// Whether `action` on a rollout in `namespace` needs its name typed before it is sent.
    pub fn needs_typed_name(&self, action: &Action, namespace: &str) -> bool {
        is_destructive(action)
            && self
                .protected
                .as_deref()
                .and_then(|glob| glob::Pattern::new(glob).ok())
                .is_some_and(|pattern| pattern.matches(namespace))
    }
}

/// Actions that move traffic or replace pods at once, or rewrite the pod template.
pub fn is_destructive(action: &Action) -> bool {
    matches!(
        action,
        Action::Abort
            | Action::PromoteFull
            | Action::Restart
            | Action::Undo
            | Action::SetImage { .. }
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FILE: &str = r#"
notify = false
[contexts.prod-eu]
readonly = true
[contexts."kind-*"]
protected = "prod-*"
notify = true
"#;

    #[test]
    fn contexts_resolve_by_exact_name_then_glob() {
        let file = parse_config(FILE, "config.toml").unwrap();
        let mut settings = Settings::new(file, false, false);
        assert!(settings.enter_context("prod-eu"));
        assert_eq!(settings.protected, None);
        assert!(!settings.notify, "the top-level default applies");
        assert!(!settings.enter_context("kind-rolltop"));
        assert_eq!(settings.protected.as_deref(), Some("prod-*"));
        assert!(settings.notify);
        assert!(!settings.enter_context("other"));
        assert_eq!(settings.protected, None);
        let mut flagged = Settings::new(ConfigFile::default(), true, true);
        assert!(flagged.enter_context("other"), "--readonly wins everywhere");
        assert!(!flagged.notify);
    }

    #[test]
    fn protected_namespaces_guard_destructive_actions_only() {
        let file = parse_config(FILE, "config.toml").unwrap();
        let mut settings = Settings::new(file, false, false);
        settings.enter_context("kind-a");
        let cases = [
            (Action::Abort, "prod-shop", true),
            (Action::Undo, "prod-shop", true),
            (Action::Restart, "prod-shop", true),
            (Action::PromoteFull, "prod-shop", true),
            (Action::Promote, "prod-shop", false),
            (Action::Retry, "prod-shop", false),
            (Action::Abort, "staging", false),
        ];
        for (action, namespace, want) in cases {
            assert_eq!(
                settings.needs_typed_name(&action, namespace),
                want,
                "{action:?} {namespace}"
            );
        }
    }

    #[test]
    fn bad_files_say_where() {
        let error = parse_config("[contexts.x]\nreadonly = 3\n", "c.toml").unwrap_err();
        assert!(error.to_string().starts_with("c.toml:"), "{error}");
        let error = parse_config("[contexts.x]\nprotected = \"[\"\n", "c.toml").unwrap_err();
        assert!(error.to_string().contains("invalid glob"), "{error}");
        let error = parse_config("[contexts.x]\nreadnly = true\n", "c.toml").unwrap_err();
        assert!(error.to_string().contains("readnly"), "{error}");
        assert_eq!(
            config_path(None, Some(Path::new("/home/u"))),
            Some(PathBuf::from("/home/u/.config/rolltop/config.toml"))
        );
        assert_eq!(load_config(None).unwrap(), ConfigFile::default());
    }
}
