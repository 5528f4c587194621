//! The local audit log of actions the cockpit sent: one JSON object per line (time, context,
//! user, namespace, rollout, action, the exact requests, outcome), appended to
//! `$XDG_STATE_HOME/rolltop/audit.log` or `~/.local/state/rolltop/audit.log`. Lines are built by
//! a pure function; [`append`] is the only I/O.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::model::ActionPlan;

/// Why an audit line could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AppendAuditError {
    #[error("no audit log location: neither XDG_STATE_HOME nor HOME is set")]
    NoLocation,
    #[error("writing the audit log {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// One sent action, as recorded.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub at: DateTime<Utc>,
    pub context: &'a str,
    pub user: &'a str,
    pub namespace: &'a str,
    pub rollout: &'a str,
    pub plan: &'a ActionPlan,
    /// `Ok(())` when the API server accepted every request, else its error.
    pub outcome: Result<(), &'a str>,
}

/// Where the audit log lives, from `XDG_STATE_HOME` and `HOME` (as given, for tests).
pub fn audit_path(xdg_state_home: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
    let base = match (xdg_state_home, home) {
        (Some(state), _) if state.is_absolute() => state.to_path_buf(),
        (_, Some(home)) => home.join(".local").join("state"),
        _ => return None,
    };
    Some(base.join("rolltop").join("audit.log"))
}

/// The audit path of this process's environment.
pub fn default_audit_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME").map(PathBuf::from);
    let home = std::env::var_os("HOME").map(PathBuf::from);
    audit_path(state.as_deref(), home.as_deref())
}

/// The JSON line for `entry` (no trailing newline).
pub fn audit_line(entry: &AuditEntry<'_>) -> String {
    let requests: Vec<Value> = entry
        .plan
        .requests
        .iter()
        .map(|request| Value::String(request.describe()))
        .collect();
    let outcome = match entry.outcome {
        Ok(()) => json!("sent"),
        Err(error) => json!(format!("failed: {error}")),
    };
    json!({
        "time": entry.at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "context": entry.context,
        "user": entry.user,
        "namespace": entry.namespace,
        "rollout": entry.rollout,
        "action": entry.plan.action.verb(),
        "effect": entry.plan.effect,
        "requests": requests,
        "outcome": outcome,
    })
    .to_string()
}

/// Appends one line to the log at `path`, creating the directory (mode as the umask allows).
pub fn append(path: Option<&Path>, entry: &AuditEntry<'_>) -> Result<(), AppendAuditError> {
    let path = path.ok_or(AppendAuditError::NoLocation)?;
    let error = |source| AppendAuditError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(error)?;
    let mut line = audit_line(entry);
    line.push('\n');
    // One write per line, so concurrent cockpits never interleave inside a line.
    file.write_all(line.as_bytes()).map_err(error)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::{Action, PatchKind, PatchRequest, PatchTarget};

    #[test]
    fn path_prefers_xdg_state_home_then_home() {
        let cases = [
            (
                Some("/x/state"),
                Some("/home/u"),
                Some("/x/state/rolltop/audit.log"),
            ),
            (
                None,
                Some("/home/u"),
                Some("/home/u/.local/state/rolltop/audit.log"),
            ),
            // The XDG spec ignores relative values.
            (
                Some("rel"),
                Some("/home/u"),
                Some("/home/u/.local/state/rolltop/audit.log"),
            ),
            (None, None, None),
        ];
        for (state, home, want) in cases {
            assert_eq!(
                audit_path(state.map(Path::new), home.map(Path::new)),
                want.map(PathBuf::from),
                "{state:?} {home:?}"
            );
        }
    }

    #[test]
    fn line_records_who_what_and_the_exact_patch() {
        let plan = ActionPlan {
            action: Action::Abort,
            effect: "traffic back to stable".into(),
            requests: vec![PatchRequest {
                target: PatchTarget::StatusSubresource,
                kind: PatchKind::Merge,
                body: json!({"status": {"abort": true}}),
            }],
        };
        let at = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let line = audit_line(&AuditEntry {
            at,
            context: "prod-eu",
            user: "alice",
            namespace: "shop",
            rollout: "checkout",
            plan: &plan,
            outcome: Err("forbidden"),
        });
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["time"], "2026-11-22T10:00:00.000Z");
        assert_eq!(value["context"], "prod-eu");
        assert_eq!(value["user"], "alice");
        assert_eq!(value["rollout"], "checkout");
        assert_eq!(value["action"], "abort");
        assert_eq!(
            value["requests"][0],
            r#"PATCH status (merge) {"status":{"abort":true}}"#
        );
        assert_eq!(value["outcome"], "failed: forbidden");
    }

    #[test]
    fn append_creates_the_directory_and_adds_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rolltop").join("audit.log");
        let plan = ActionPlan {
            action: Action::Retry,
            effect: String::new(),
            requests: Vec::new(),
        };
        let entry = AuditEntry {
            at: Utc::now(),
            context: "c",
            user: "u",
            namespace: "n",
            rollout: "r",
            plan: &plan,
            outcome: Ok(()),
        };
        append(Some(&path), &entry).unwrap();
        append(Some(&path), &entry).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(matches!(
            append(None, &entry),
            Err(AppendAuditError::NoLocation)
        ));
    }
}
