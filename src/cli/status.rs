//! `rolltop status NAME`: the rollout's status word (and message) as the plugin prints it
//! (spec §6.7). By default it watches until Healthy (exit 0) or Degraded (exit 1), printing a
//! line each time the text changes; `--timeout` ends the watch with exit 1.

use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};

use super::output::write_stdout;
use crate::crd::Rollout;
use crate::model::{Phase, RolloutExtras, RolloutSummary};

/// `Healthy`, or `Paused - BlueGreenPause`; with `bare_final` Healthy and Degraded are printed
/// alone, as `--watch=false` does.
pub fn status_text(summary: &RolloutSummary, bare_final: bool) -> String {
    let word = summary.phase.word();
    let is_final = matches!(summary.phase, Phase::Healthy | Phase::Degraded);
    if summary.message.is_empty() || (bare_final && is_final) {
        word.to_owned()
    } else {
        format!("{word} - {}", summary.message)
    }
}

fn finish(summary: &RolloutSummary) -> ExitCode {
    if summary.phase == Phase::Degraded {
        eprintln!(
            "error: The rollout is in a degraded state with message: {}",
            summary.message
        );
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs `status`; `timeout` of zero (or none) waits forever.
pub async fn run(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    watch: bool,
    timeout: Option<Duration>,
) -> anyhow::Result<ExitCode> {
    let api: Api<Rollout> = Api::namespaced(client.clone(), namespace);
    if !watch {
        let rollout = api.get(name).await?;
        let summary = RolloutSummary::from_rollout(&rollout, RolloutExtras::default());
        write_stdout(&format!("{}\n", status_text(&summary, true)))?;
        return Ok(finish(&summary));
    }
    // Fail fast, with the server's words, when the rollout does not exist.
    api.get(name).await?;
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher(api, config)
        .default_backoff()
        .applied_objects()
        .boxed();
    let watch = async {
        let mut last = String::new();
        while let Some(event) = stream.next().await {
            let rollout = match event {
                Ok(rollout) => rollout,
                Err(error) => {
                    tracing::warn!("watching rollout {name}: {error}");
                    continue;
                }
            };
            let summary = RolloutSummary::from_rollout(&rollout, RolloutExtras::default());
            let text = status_text(&summary, false);
            if text != last {
                write_stdout(&format!("{text}\n"))?;
                last = text;
            }
            if matches!(summary.phase, Phase::Healthy | Phase::Degraded) {
                return Ok(finish(&summary));
            }
        }
        anyhow::Ok(ExitCode::FAILURE)
    };
    match timeout.filter(|t| !t.is_zero()) {
        None => watch.await,
        Some(limit) => {
            if let Ok(result) = tokio::time::timeout(limit, watch).await {
                result
            } else {
                eprintln!("error: Rollout status watch exceeded timeout");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ResourceKey, Strategy};
    use chrono::DateTime;

    #[test]
    fn final_states_print_bare_only_without_watch() {
        let mut summary = RolloutSummary::new(
            ResourceKey::new("ns", "x"),
            Strategy::BlueGreen,
            DateTime::UNIX_EPOCH,
        );
        summary.phase = Phase::Paused;
        summary.message = "BlueGreenPause".to_owned();
        assert_eq!(status_text(&summary, true), "Paused - BlueGreenPause");
        summary.phase = Phase::Degraded;
        summary.message = "RolloutAborted: stop".to_owned();
        assert_eq!(status_text(&summary, true), "Degraded");
        assert_eq!(
            status_text(&summary, false),
            "Degraded - RolloutAborted: stop"
        );
        summary.phase = Phase::Healthy;
        summary.message.clear();
        assert_eq!(status_text(&summary, false), "Healthy");
    }
}
