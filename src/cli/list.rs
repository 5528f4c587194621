//! `rolltop list rollouts [-w] [--name N] [--timestamps]`: one row per rollout with the
//! plugin's columns (spec §6.6), `NAMESPACE` first with `-A`, `TIMESTAMP` (UTC, when the row
//! was printed) before everything with `--timestamps`. The row text is a pure function of the Rollout; the watch
//! prints a row again only when it changed.

use std::collections::BTreeMap;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use kube::api::{Api, ListParams};
use kube::runtime::{WatchStreamExt, watcher};

use super::output::{Cell, min_width, tabulate, write_stdout};
use crate::crd::Rollout;
use crate::model::{RolloutExtras, RolloutSummary, Strategy};

const HEADER: [&str; 9] = [
    "NAME",
    "STRATEGY",
    "STATUS",
    "STEP",
    "SET-WEIGHT",
    "READY",
    "DESIRED",
    "UP-TO-DATE",
    "AVAILABLE",
];
/// The plugin's minimum cell widths (`%-10s %-9s %-12s %-4s %-10s %-5s %-7d %-10d %-9d`).
const MIN_WIDTHS: [usize; 9] = [10, 9, 12, 4, 10, 5, 7, 10, 9];

/// The cells of one rollout, before alignment.
pub fn row(rollout: &Rollout, with_namespace: bool) -> Vec<String> {
    let summary = RolloutSummary::from_rollout(rollout, RolloutExtras::default());
    let strategy = if rollout.strategy_kind().is_some() {
        summary.strategy.word()
    } else {
        "unknown"
    };
    let step = match (summary.strategy, summary.step_index) {
        (Strategy::Canary, Some(index)) if !summary.steps.is_empty() => {
            format!("{index}/{}", summary.steps.len())
        }
        _ => "-".to_owned(),
    };
    let weight = match summary.strategy {
        Strategy::Canary => summary.desired_weight.to_string(),
        Strategy::BlueGreen => "-".to_owned(),
    };
    let r = summary.replicas;
    let mut cells = Vec::new();
    if with_namespace {
        cells.push(summary.key.namespace.clone());
    }
    cells.extend([
        summary.key.name.clone(),
        strategy.to_owned(),
        summary.phase.word().to_owned(),
        step,
        weight,
        format!("{}/{}", r.ready, r.current),
        r.desired.to_string(),
        r.updated.to_string(),
        r.available.to_string(),
    ]);
    cells
}

/// `prefix` leading cells (TIMESTAMP, NAMESPACE) have no minimum width.
fn padded(cells: &[String], prefix: usize) -> Vec<String> {
    let offset = prefix;
    cells
        .iter()
        .enumerate()
        .map(|(i, cell)| match i.checked_sub(offset) {
            Some(column) => min_width(cell, MIN_WIDTHS[column]),
            None => cell.clone(),
        })
        .collect()
}

fn header(with_namespace: bool, timestamps: bool) -> Vec<String> {
    let mut cells: Vec<String> = Vec::new();
    if timestamps {
        cells.push("TIMESTAMP".to_owned());
    }
    if with_namespace {
        cells.push("NAMESPACE".to_owned());
    }
    cells.extend(HEADER.iter().map(|h| (*h).to_owned()));
    cells
}

/// The table for `rollouts`, sorted by namespace and name; `None` when there are none.
pub fn render_list(rollouts: &[Rollout], with_namespace: bool) -> Option<String> {
    render_list_at(rollouts, with_namespace, None)
}

/// `--timestamps` formats the time as the plugin does (`2006-01-02T15:04:05Z`).
pub fn timestamp(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// [`render_list`] with a leading TIMESTAMP column when `timestamp` is given.
pub fn render_list_at(
    rollouts: &[Rollout],
    with_namespace: bool,
    timestamp: Option<&str>,
) -> Option<String> {
    if rollouts.is_empty() {
        return None;
    }
    let mut rows: Vec<Vec<String>> = rollouts.iter().map(|r| row(r, with_namespace)).collect();
    rows.sort();
    if let Some(stamp) = timestamp {
        for row in &mut rows {
            row.insert(0, stamp.to_owned());
        }
    }
    let prefix = usize::from(with_namespace) + usize::from(timestamp.is_some());
    let mut table = vec![header(with_namespace, timestamp.is_some())];
    table.extend(rows);
    let cells: Vec<Vec<Cell>> = table
        .iter()
        .map(|r| padded(r, prefix).into_iter().map(Cell::plain).collect())
        .collect();
    Some(tabulate(&cells, 2))
}

/// One line of the watch output: minimum widths and two spaces, no global alignment (rows
/// arrive one at a time).
fn watch_line(cells: &[String], prefix: usize) -> String {
    format!("{}\n", padded(cells, prefix).join("  ").trim_end())
}

/// What `list rollouts` was asked for.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub watch: bool,
    /// Only the rollout with this name (`--name`).
    pub name: Option<String>,
    /// A leading TIMESTAMP column (`--timestamps`).
    pub timestamps: bool,
}

/// `list rollouts`: the table once, or with `watch` a header and one line per change.
pub async fn run(
    client: &kube::Client,
    namespace: Option<&str>,
    options: &ListOptions,
) -> anyhow::Result<ExitCode> {
    let api: Api<Rollout> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let with_namespace = namespace.is_none();
    let by_name = options
        .name
        .as_ref()
        .map(|name| format!("metadata.name={name}"));
    if !options.watch {
        let mut params = ListParams::default();
        if let Some(selector) = &by_name {
            params = params.fields(selector);
        }
        let rollouts = api.list(&params).await?.items;
        let stamp = options.timestamps.then(|| timestamp(Utc::now()));
        match render_list_at(&rollouts, with_namespace, stamp.as_deref()) {
            Some(text) => write_stdout(&text)?,
            None => eprintln!("No resources found."),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let prefix = usize::from(with_namespace) + usize::from(options.timestamps);
    write_stdout(&watch_line(
        &header(with_namespace, options.timestamps),
        prefix,
    ))?;
    let mut last: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut config = watcher::Config::default();
    if let Some(selector) = &by_name {
        config = config.fields(selector);
    }
    let mut stream = watcher(api, config)
        .default_backoff()
        .applied_objects()
        .boxed();
    while let Some(event) = stream.next().await {
        let rollout = match event {
            Ok(rollout) => rollout,
            Err(error) => {
                tracing::warn!("watching rollouts: {error}");
                continue;
            }
        };
        let key = (
            rollout.metadata.namespace.clone().unwrap_or_default(),
            rollout.metadata.name.clone().unwrap_or_default(),
        );
        let cells = row(&rollout, with_namespace);
        if last.get(&key) != Some(&cells) {
            let mut line = cells.clone();
            if options.timestamps {
                line.insert(0, timestamp(Utc::now()));
            }
            write_stdout(&watch_line(&line, prefix))?;
            last.insert(key, cells);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_canary_row_matches_the_plugin_example() {
        let rollout: Rollout = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "can-guestbook", "namespace": "test", "generation": 2},
            "spec": {"replicas": 5, "strategy": {"canary": {"steps": [
                {"setWeight": 10}, {"pause": {}}, {"setWeight": 50}]}}},
            "status": {"phase": "Progressing", "observedGeneration": "2", "currentStepIndex": 1,
                "replicas": 4, "readyReplicas": 1, "updatedReplicas": 3, "availableReplicas": 2,
                "currentPodHash": "b", "stableRS": "a"}
        }))
        .unwrap();
        let text = render_list(std::slice::from_ref(&rollout), false).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "can-guestbook  Canary     Progressing   1/3   10          1/4    5        3           2"
        );
        assert_eq!(
            lines[0],
            "NAME           STRATEGY   STATUS        STEP  SET-WEIGHT  READY  DESIRED  UP-TO-DATE  AVAILABLE"
        );
        let stamp = timestamp(
            DateTime::parse_from_rfc3339("2026-03-04T05:06:07.89Z")
                .unwrap()
                .with_timezone(&Utc),
        );
        assert_eq!(stamp, "2026-03-04T05:06:07Z");
        let text = render_list_at(&[rollout], true, Some(&stamp)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "TIMESTAMP             NAMESPACE  NAME           STRATEGY   STATUS        STEP  SET-WEIGHT  READY  DESIRED  UP-TO-DATE  AVAILABLE"
        );
        assert_eq!(
            lines[1],
            "2026-03-04T05:06:07Z  test       can-guestbook  Canary     Progressing   1/3   10          1/4    5        3           2"
        );
    }
}
