//! `rolltop get rollout NAME`: the header block and revision tree of
//! `kubectl argo rollouts get rollout`, line for line (spec §6.2–6.5). [`render_get`] is pure
//! (objects in, text out, clock and colour as arguments) so golden tests pin it; [`load_view`]
//! reads the objects once and [`watch`] redraws from kube-runtime reflectors as they change.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream::BoxStream};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};

use super::output::{Cell, glyph_colour, paint, tabulate, tag_colour, write_stdout};
use crate::crd::Rollout;
use crate::crd::{AnalysisRun, Experiment};
use crate::model::revisions::build_revisions_with_experiments;
use crate::model::{
    Branch, Phase, RolloutExtras, RolloutSummary, Strategy, TreeKind, TreeLine, age, build_tree,
    human_duration,
};

/// Width of the header labels (`Name:` padded), as the plugin prints them.
const LABEL_WIDTH: usize = 17;
/// When a ReplicaSet kept for a delay will be scaled down (RFC 3339).
const SCALE_DOWN_DEADLINE: &str = "scale-down-deadline";
const POD_TEMPLATE_HASH: &str = "rollouts-pod-template-hash";
/// Tags that name a ReplicaSet's role, in the order the Images line lists them.
const IMAGE_TAGS: [&str; 6] = ["canary", "stable", "active", "preview", "ping", "pong"];
/// The plugin redraws at most this often while watching.
/// The Rollout's tree glyph (the model's tree starts at revisions).
const ROLLOUT_GLYPH: &str = "⟳";
const REDRAW_MIN_INTERVAL: Duration = Duration::from_millis(200);

/// Everything `get rollout` draws: the rollout and the objects of its tree.
#[derive(Debug, Clone)]
pub struct RolloutView {
    pub rollout: Rollout,
    pub replica_sets: Vec<ReplicaSet>,
    pub pods: Vec<Pod>,
    pub analysis_runs: Vec<AnalysisRun>,
    /// Experiments in the namespace (those the rollout owns are shown).
    pub experiments: Vec<Experiment>,
}

/// The label selector of the rollout's pods (`spec.selector.matchLabels`), for listing its
/// ReplicaSets and Pods.
pub fn selector_of(rollout: &Rollout) -> String {
    rollout
        .spec
        .selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref())
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Reads the rollout and its ReplicaSets, Pods and AnalysisRuns once.
pub async fn load_view(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<RolloutView, kube::Error> {
    let rollout = Api::<Rollout>::namespaced(client.clone(), namespace)
        .get(name)
        .await?;
    let params = ListParams::default().labels(&selector_of(&rollout));
    let replica_sets = Api::<ReplicaSet>::namespaced(client.clone(), namespace)
        .list(&params)
        .await?
        .items;
    let pods = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&params)
        .await?
        .items;
    let analysis_runs = Api::<AnalysisRun>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await?
        .items;
    let experiments = list_experiments(client, namespace).await?;
    Ok(RolloutView {
        rollout,
        replica_sets,
        pods,
        analysis_runs,
        experiments,
    })
}

/// Experiments in the namespace; none when the cluster has no Experiment CRD (404), since a
/// cluster may run rollouts without ever installing it.
async fn list_experiments(
    client: &kube::Client,
    namespace: &str,
) -> Result<Vec<Experiment>, kube::Error> {
    match Api::<Experiment>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
    {
        Ok(list) => Ok(list.items),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
        Err(error) => Err(error),
    }
}

/// `Σ:<template>` for each ReplicaSet an owned Experiment runs (named
/// `<experiment>-<template>-<hash>`), as the plugin tags their images.
fn experiment_tags(view: &RolloutView) -> BTreeMap<String, Vec<String>> {
    let uid = view.rollout.metadata.uid.as_deref();
    let mut tags = BTreeMap::new();
    for experiment in &view.experiments {
        let owned = experiment
            .metadata
            .owner_references
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|o| Some(o.uid.as_str()) == uid);
        if !owned {
            continue;
        }
        let experiment_name = experiment.metadata.name.as_deref().unwrap_or_default();
        let experiment_uid = experiment.metadata.uid.as_deref();
        for rs in &view.replica_sets {
            let owned_by_experiment = rs
                .metadata
                .owner_references
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|o| Some(o.uid.as_str()) == experiment_uid);
            if !owned_by_experiment {
                continue;
            }
            let rs_name = rs.metadata.name.clone().unwrap_or_default();
            let template = experiment
                .spec
                .templates
                .iter()
                .map(|t| t.name.as_str())
                .filter(|t| rs_name.starts_with(&format!("{experiment_name}-{t}-")))
                .max_by_key(|t| t.len());
            if let Some(template) = template {
                tags.insert(rs_name, vec![format!("Σ:{template}")]);
            }
        }
    }
    tags
}

fn label(name: &str, value: &str) -> String {
    let line = format!("{:<LABEL_WIDTH$}{value}", format!("{name}:"));
    format!("{}\n", line.trim_end())
}

fn hash_of(rs: &ReplicaSet) -> Option<&str> {
    rs.metadata
        .labels
        .as_ref()?
        .get(POD_TEMPLATE_HASH)
        .map(String::as_str)
}

/// ActualWeight without a traffic router: the canary ReplicaSet's share of available pods
/// (spec §6.2); the summary only approximates this from the Rollout alone.
fn actual_weight(view: &RolloutView, summary: &RolloutSummary) -> u8 {
    let Some(status) = &view.rollout.status else {
        return summary.actual_weight;
    };
    let steps = view.rollout.steps().len();
    let index = summary.step_index.map_or(0, |i| i as usize);
    let past_last = steps == 0 || index >= steps;
    let available = status.available_replicas.unwrap_or(0);
    if (past_last && !summary.aborted) || available <= 0 || summary.traffic_routed {
        return summary.actual_weight;
    }
    let canary_available = view
        .replica_sets
        .iter()
        .find(|rs| hash_of(rs).is_some() && hash_of(rs) == status.current_pod_hash.as_deref())
        .and_then(|rs| rs.status.as_ref())
        .and_then(|s| s.available_replicas)
        .unwrap_or(0);
    u8::try_from(i64::from(canary_available) * 100 / i64::from(available)).unwrap_or(100)
}

fn painted_tags(tags: &[&str], color: bool) -> String {
    tags.iter()
        .map(|tag| paint(tag, tag_colour(tag), color))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Images block: every image of a ReplicaSet that has pods, with its role tags.
fn images(view: &RolloutView, tags_by_rs: &BTreeMap<String, Vec<String>>, color: bool) -> String {
    // image -> (tags, how many ReplicaSets run it)
    let mut images: BTreeMap<String, (Vec<String>, usize)> = BTreeMap::new();
    for rs in &view.replica_sets {
        if rs.status.as_ref().map_or(0, |s| s.replicas) <= 0 {
            continue;
        }
        let name = rs.metadata.name.clone().unwrap_or_default();
        let Some(tags) = tags_by_rs.get(&name) else {
            // Not one of the rollout's ReplicaSets.
            continue;
        };
        let mut ordered: Vec<String> = IMAGE_TAGS
            .iter()
            .filter(|tag| tags.iter().any(|t| t == *tag))
            .map(|tag| (*tag).to_owned())
            .chain(tags.iter().filter(|t| t.starts_with("Σ:")).cloned())
            .collect();
        let containers = rs
            .spec
            .template
            .as_ref()
            .and_then(|t| t.spec.as_ref())
            .map(|s| s.containers.clone())
            .unwrap_or_default();
        for container in containers {
            let entry = images
                .entry(container.image.unwrap_or_default())
                .or_default();
            entry.0.append(&mut ordered.clone());
            entry.1 += 1;
        }
        ordered.clear();
    }
    let mut lines = Vec::new();
    for (image, (mut tags, sources)) in images {
        if sources > 1 {
            tags.sort();
            tags.dedup();
        }
        let refs: Vec<&str> = tags.iter().map(String::as_str).collect();
        if refs.is_empty() {
            lines.push(image);
        } else {
            lines.push(format!("{image} ({})", painted_tags(&refs, color)));
        }
    }
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i == 0 {
            out.push_str(&label("Images", line));
        } else {
            out.push_str(&" ".repeat(LABEL_WIDTH));
            out.push_str(line);
            out.push('\n');
        }
    }
    if lines.is_empty() {
        out.push_str(&label("Images", ""));
    }
    out
}

fn phase_cell(phase: Phase, color: bool) -> Cell {
    let glyph = phase.glyph();
    Cell::painted(
        format!("{glyph} {}", phase.word()),
        format!(
            "{} {}",
            paint(glyph, glyph_colour(glyph), color),
            phase.word()
        ),
    )
}

fn branch_text(branch: Branch) -> &'static str {
    match branch {
        Branch::Pipe => "│  ",
        Branch::Blank => "   ",
        Branch::Tee => "├──",
        Branch::Elbow => "└──",
    }
}

fn kind_word(kind: TreeKind) -> &'static str {
    match kind {
        TreeKind::ReplicaSet => "ReplicaSet",
        TreeKind::Pod => "Pod",
        TreeKind::AnalysisRun => "AnalysisRun",
        TreeKind::Experiment => "Experiment",
        TreeKind::Job => "Job",
        TreeKind::Revision | TreeKind::Folded => "",
    }
}

/// The colour of a tree line's name: tagged ReplicaSets like their tag, pending and running
/// runs like their glyph.
fn name_colour(line: &TreeLine) -> Option<super::output::Colour> {
    match line.kind {
        TreeKind::ReplicaSet => line.info.split(',').find_map(tag_colour),
        TreeKind::AnalysisRun | TreeKind::Experiment => line
            .status
            .as_ref()
            .filter(|s| s.word == "Pending" || s.word == "Running")
            .and_then(|s| glyph_colour(s.glyph)),
        _ => None,
    }
}

fn tree_row(line: &TreeLine, prefix: &str, now: DateTime<Utc>, color: bool) -> Vec<Cell> {
    let guides: String = line.branches.iter().map(|b| branch_text(*b)).collect();
    let glyph = line.kind.glyph();
    let plain_name = format!("{prefix}{guides}{glyph} {}", line.name);
    let painted_name = format!(
        "{prefix}{guides}{glyph} {}",
        paint(&line.name, name_colour(line), color)
    );
    let status = line.status.as_ref().map_or_else(Cell::default, |mark| {
        Cell::painted(
            format!("{} {}", mark.glyph, mark.word),
            format!(
                "{} {}",
                paint(mark.glyph, glyph_colour(mark.glyph), color),
                mark.word
            ),
        )
    });
    let info = if line.kind == TreeKind::ReplicaSet {
        let painted = line
            .info
            .split(',')
            .filter(|t| !t.is_empty())
            .map(|tag| paint(tag, tag_colour(tag), color))
            .collect::<Vec<_>>()
            .join(",");
        Cell::painted(line.info.clone(), painted)
    } else {
        Cell::plain(line.info.clone())
    };
    vec![
        Cell::painted(plain_name, painted_name),
        Cell::plain(kind_word(line.kind)),
        status,
        Cell::plain(line.created.map(|c| age(c, now)).unwrap_or_default()),
        info,
    ]
}

/// The `delay:<d>` / `delay:passed` tag of a ReplicaSet with a `scale-down-deadline`
/// annotation, after its role tags (spec §6.3); the model leaves it out because it needs `now`.
fn add_delay_tags(lines: &mut [TreeLine], replica_sets: &[ReplicaSet], now: DateTime<Utc>) {
    for line in lines.iter_mut().filter(|l| l.kind == TreeKind::ReplicaSet) {
        let deadline = replica_sets
            .iter()
            .find(|rs| rs.metadata.name.as_deref() == Some(line.name.as_str()))
            .and_then(|rs| rs.metadata.annotations.as_ref()?.get(SCALE_DOWN_DEADLINE))
            .and_then(|text| crate::crd::time::parse_time(text));
        let Some(deadline) = deadline else {
            continue;
        };
        let tag = match (deadline - now).to_std() {
            Ok(left) if !left.is_zero() => format!("delay:{}", human_duration(left)),
            _ => "delay:passed".to_owned(),
        };
        if !line.info.is_empty() {
            line.info.push(',');
            line.info_ascii.push(',');
        }
        line.info.push_str(&tag);
        line.info_ascii.push_str(&tag);
    }
}

/// The whole `get rollout` text at `now`; `color` adds the plugin's ANSI colours.
pub fn render_get(view: &RolloutView, now: DateTime<Utc>, color: bool) -> String {
    let rollout = &view.rollout;
    let summary = RolloutSummary::from_rollout(rollout, RolloutExtras::default());
    let revisions = build_revisions_with_experiments(
        rollout,
        &view.replica_sets,
        &view.pods,
        &view.analysis_runs,
        &view.experiments,
    );
    let mut tags_by_rs: BTreeMap<String, Vec<String>> = revisions
        .iter()
        .flat_map(|r| &r.replica_sets)
        .map(|rs| (rs.name.clone(), rs.tags.clone()))
        .collect();
    tags_by_rs.extend(experiment_tags(view));

    let mut out = String::new();
    out.push_str(&label("Name", &summary.key.name));
    out.push_str(&label("Namespace", &summary.key.namespace));
    let glyph = summary.phase.glyph();
    out.push_str(&label(
        "Status",
        &format!(
            "{} {}",
            paint(glyph, glyph_colour(glyph), color),
            summary.phase.word()
        ),
    ));
    if !summary.message.is_empty() {
        out.push_str(&label("Message", &summary.message));
    }
    out.push_str(&label("Strategy", summary.strategy.word()));
    if summary.strategy == Strategy::Canary {
        let steps = rollout.steps().len();
        let step = match summary.step_index {
            Some(index) if steps > 0 => format!("{index}/{steps}"),
            _ => String::new(),
        };
        out.push_str(&label("  Step", &step));
        out.push_str(&label("  SetWeight", &summary.desired_weight.to_string()));
        out.push_str(&label(
            "  ActualWeight",
            &actual_weight(view, &summary).to_string(),
        ));
    }
    out.push_str(&images(view, &tags_by_rs, color));
    out.push_str("Replicas:\n");
    let replicas = summary.replicas;
    out.push_str(&label("  Desired", &replicas.desired.to_string()));
    out.push_str(&label("  Current", &replicas.current.to_string()));
    out.push_str(&label("  Updated", &replicas.updated.to_string()));
    out.push_str(&label("  Ready", &replicas.ready.to_string()));
    out.push_str(&label("  Available", &replicas.available.to_string()));
    out.push('\n');

    let mut lines = build_tree(&revisions, true);
    add_delay_tags(&mut lines, &view.replica_sets, now);
    let mut rows = vec![
        ["NAME", "KIND", "STATUS", "AGE", "INFO"]
            .iter()
            .map(|h| Cell::plain(*h))
            .collect::<Vec<_>>(),
    ];
    rows.push(vec![
        Cell::plain(format!("{ROLLOUT_GLYPH} {}", summary.key.name)),
        Cell::plain("Rollout"),
        phase_cell(summary.phase, color),
        Cell::plain(age(summary.created, now)),
        Cell::plain(""),
    ]);
    let last_revision = lines.iter().rposition(|l| l.depth == 0);
    let mut in_last = false;
    for (i, line) in lines.iter().enumerate() {
        let prefix = if line.depth == 0 {
            in_last = Some(i) == last_revision;
            if in_last { "└──" } else { "├──" }
        } else if in_last {
            "   "
        } else {
            "│  "
        };
        rows.push(tree_row(line, prefix, now, color));
    }
    out.push_str(&tabulate(&rows, 2));
    out
}

/// `get rollout -o json|yaml`: the object as stored, without managed fields.
pub fn render_object(rollout: &Rollout, yaml: bool) -> anyhow::Result<String> {
    let mut rollout = rollout.clone();
    rollout.metadata.managed_fields = None;
    if yaml {
        Ok(serde_saphyr::to_string(&rollout)?)
    } else {
        Ok(format!("{}\n", serde_json::to_string_pretty(&rollout)?))
    }
}

/// Which of the four watched kinds an event came from, and whether its initial list is done.
enum Change {
    Ready(usize),
    Changed,
}

fn changes<K>(
    index: usize,
    stream: impl futures::Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static,
) -> BoxStream<'static, Change>
where
    K: Send + 'static,
{
    stream
        .filter_map(move |event| async move {
            match event {
                Ok(watcher::Event::InitDone) => Some(Change::Ready(index)),
                Ok(_) => Some(Change::Changed),
                Err(error) => {
                    tracing::warn!("watch: {error}");
                    None
                }
            }
        })
        .boxed()
}

fn snapshot<K>(store: &reflector::Store<K>) -> Vec<K>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    store.state().iter().map(|k| (**k).clone()).collect()
}

/// `get rollout --watch`: clears and redraws whenever something in the tree changes (and
/// every second, so ages tick). With `until_done`, returns at Healthy (exit 0) or Degraded
/// (exit 1).
pub async fn watch(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    color: bool,
    until_done: bool,
) -> anyhow::Result<ExitCode> {
    let first = Api::<Rollout>::namespaced(client.clone(), namespace)
        .get(name)
        .await?;
    let selector = selector_of(&first);
    let by_name = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let by_labels = watcher::Config::default().labels(&selector);

    let (rollouts, rollout_writer) = reflector::store::<Rollout>();
    let (replica_sets, rs_writer) = reflector::store::<ReplicaSet>();
    let (pods, pod_writer) = reflector::store::<Pod>();
    let (runs, run_writer) = reflector::store::<AnalysisRun>();
    let (experiments, experiment_writer) = reflector::store::<Experiment>();
    // Without the Experiment CRD a watcher would retry forever and the first frame never come.
    let has_experiments = Api::<Experiment>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().limit(1))
        .await
        .is_ok();
    let mut streams = vec![
        changes(
            0,
            reflector(
                rollout_writer,
                watcher(Api::namespaced(client.clone(), namespace), by_name).default_backoff(),
            ),
        ),
        changes(
            1,
            reflector(
                rs_writer,
                watcher(
                    Api::namespaced(client.clone(), namespace),
                    by_labels.clone(),
                )
                .default_backoff(),
            ),
        ),
        changes(
            2,
            reflector(
                pod_writer,
                watcher(Api::namespaced(client.clone(), namespace), by_labels).default_backoff(),
            ),
        ),
        changes(
            3,
            reflector(
                run_writer,
                watcher(
                    Api::namespaced(client.clone(), namespace),
                    watcher::Config::default(),
                )
                .default_backoff(),
            ),
        ),
    ];
    if has_experiments {
        streams.push(changes(
            4,
            reflector(
                experiment_writer,
                watcher(
                    Api::namespaced(client.clone(), namespace),
                    watcher::Config::default(),
                )
                .default_backoff(),
            ),
        ));
    }
    let mut events = futures::stream::select_all(streams);
    let mut ready = [false, false, false, false, !has_experiments];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_text = String::new();
    let mut last_draw = Instant::now()
        .checked_sub(REDRAW_MIN_INTERVAL)
        .unwrap_or_else(Instant::now);
    loop {
        tokio::select! {
            event = events.next() => match event {
                None => return Ok(ExitCode::SUCCESS),
                Some(Change::Ready(i)) => ready[i] = true,
                Some(Change::Changed) => {}
            },
            _ = tick.tick() => {}
        }
        if !ready.iter().all(|r| *r) || last_draw.elapsed() < REDRAW_MIN_INTERVAL {
            continue;
        }
        let Some(rollout) = snapshot(&rollouts).into_iter().next() else {
            continue;
        };
        let view = RolloutView {
            rollout,
            replica_sets: snapshot(&replica_sets),
            pods: snapshot(&pods),
            analysis_runs: snapshot(&runs),
            experiments: snapshot(&experiments),
        };
        let text = render_get(&view, Utc::now(), color);
        if text != last_text {
            write_stdout(&format!("\u{1b}[H\u{1b}[2J\u{1b}[0;0H{text}"))?;
            last_text = text;
            last_draw = Instant::now();
        }
        if until_done {
            let summary = RolloutSummary::from_rollout(&view.rollout, RolloutExtras::default());
            match summary.phase {
                Phase::Healthy => return Ok(ExitCode::SUCCESS),
                Phase::Degraded => return Ok(ExitCode::FAILURE),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view(deadline: &str) -> RolloutView {
        let rollout: Rollout = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "app", "namespace": "ns", "uid": "ro-1",
                "creationTimestamp": "2027-01-01T00:00:00Z"},
            "spec": {"strategy": {"blueGreen": {"activeService": "a"}}},
            "status": {"phase": "Healthy", "stableRS": "aaa", "currentPodHash": "aaa",
                "blueGreen": {"activeSelector": "aaa"}}
        }))
        .unwrap();
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "app-bbb", "uid": "rs-1", "creationTimestamp": "2027-01-01T00:00:00Z",
                "labels": {POD_TEMPLATE_HASH: "bbb"},
                "annotations": {"rollout.argoproj.io/revision": "1", SCALE_DOWN_DEADLINE: deadline},
                "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                    "name": "app", "uid": "ro-1"}]},
            "spec": {"replicas": 0, "selector": {}},
            "status": {"replicas": 0}
        }))
        .unwrap();
        RolloutView {
            rollout,
            replica_sets: vec![rs],
            pods: Vec::new(),
            analysis_runs: Vec::new(),
            experiments: Vec::new(),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        crate::crd::time::parse_time(text).unwrap()
    }

    #[test]
    fn a_scale_down_deadline_shows_as_a_delay_tag() {
        let text = render_get(
            &view("2027-01-01T04:00:00Z"),
            at("2027-01-01T00:00:01Z"),
            false,
        );
        let line = text.lines().find(|l| l.contains("app-bbb")).unwrap();
        assert!(line.ends_with("• ScaledDown  1s   delay:3h59m"), "{line}");
        let text = render_get(
            &view("2027-01-01T04:00:00Z"),
            at("2027-01-01T05:00:00Z"),
            false,
        );
        let line = text.lines().find(|l| l.contains("app-bbb")).unwrap();
        assert!(line.ends_with("delay:passed"), "{line}");
    }

    #[test]
    fn colour_marks_glyphs_and_tags_only() {
        let text = render_get(&view("x"), at("2027-01-02T00:00:00Z"), true);
        assert!(
            text.contains("Status:          \u{1b}[32m✔\u{1b}[0m Healthy"),
            "{text}"
        );
        let plain = render_get(&view("x"), at("2027-01-02T00:00:00Z"), false);
        assert!(!plain.contains('\u{1b}'));
    }
}
