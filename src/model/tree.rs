//! The revision › ReplicaSet › Pod (and Experiment, AnalysisRun › Job) tree of one rollout, flattened into
//! `TreeLine`s once when the data changes, so the detail view only slices and draws.
//! Ordering follows `kubectl argo rollouts get rollout`; old scaled-down revisions fold into one
//! line. No I/O; the inputs are plain views built at the cluster edge.

use chrono::{DateTime, Utc};

use super::rollout::{AnalysisCounts, AnalysisPhase};

/// How a line should be toned; the UI maps tones to theme roles, glyphs carry the same meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Ok,
    Progress,
    Warn,
    Bad,
    Muted,
}

/// A status cell: glyph (Unicode and ASCII) plus the word, never colour alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMark {
    pub glyph: &'static str,
    pub ascii: &'static str,
    pub word: String,
    pub tone: Tone,
}

/// ReplicaSet status, by the CLI's rule (ReplicaFailure, Progressing, ScaledDown, Healthy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaSetStatus {
    Healthy,
    Progressing,
    ReplicaFailure,
    ScaledDown,
}

impl ReplicaSetStatus {
    pub fn mark(self) -> StatusMark {
        let (glyph, ascii, word, tone) = match self {
            Self::Healthy => ("✔", "+", "Healthy", Tone::Ok),
            Self::Progressing => ("◌", "~", "Progressing", Tone::Progress),
            Self::ReplicaFailure => ("✖", "x", "ReplicaFailure", Tone::Bad),
            Self::ScaledDown => ("•", "-", "ScaledDown", Tone::Muted),
        };
        StatusMark {
            glyph,
            ascii,
            word: word.to_owned(),
            tone,
        }
    }
}

/// A pod as `kubectl get pods` summarises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub name: String,
    /// `Running`, `Pending`, `CrashLoopBackOff`, `Init:0/1`, ...
    pub status: String,
    pub ready: u32,
    pub containers: u32,
    pub restarts: u32,
    pub created: DateTime<Utc>,
}

/// The CLI's pod status icon table.
pub fn pod_mark(status: &str) -> StatusMark {
    let (glyph, ascii, tone) = if status.starts_with("Init:") {
        ("◌", "~", Tone::Progress)
    } else if status.starts_with("Signal:") || status.starts_with("ExitCode:") {
        ("✖", "x", Tone::Bad)
    } else if status.ends_with("Error") || status.starts_with("Err") {
        ("⚠", "!", Tone::Warn)
    } else {
        match status {
            "Pending" | "Terminating" | "ContainerCreating" => ("◌", "~", Tone::Progress),
            "Running" | "Completed" => ("✔", "+", Tone::Ok),
            "Failed" | "InvalidImageName" | "CrashLoopBackOff" => ("✖", "x", Tone::Bad),
            "ImagePullBackOff" | "RegistryUnavailable" => ("⚠", "!", Tone::Warn),
            "Unknown" => ("?", "?", Tone::Warn),
            _ => (" ", " ", Tone::Muted),
        }
    };
    StatusMark {
        glyph,
        ascii,
        word: status.to_owned(),
        tone,
    }
}

pub fn analysis_mark(phase: AnalysisPhase) -> StatusMark {
    let tone = match phase {
        AnalysisPhase::Pending => Tone::Muted,
        AnalysisPhase::Running => Tone::Progress,
        AnalysisPhase::Successful => Tone::Ok,
        AnalysisPhase::Failed => Tone::Bad,
        AnalysisPhase::Error | AnalysisPhase::Inconclusive => Tone::Warn,
    };
    StatusMark {
        glyph: phase.glyph(),
        ascii: phase.ascii_glyph(),
        word: phase.word().to_owned(),
        tone,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSetView {
    pub name: String,
    pub status: ReplicaSetStatus,
    /// `stable`, `canary`, `active`, `preview`, `delay:3h59m`, in the CLI's order.
    pub tags: Vec<String>,
    pub created: DateTime<Utc>,
    pub pods: Vec<PodView>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisRunView {
    pub name: String,
    pub phase: AnalysisPhase,
    pub counts: AnalysisCounts,
    pub created: DateTime<Utc>,
    /// One per measurement that ran a Job (`metadata.job-name`), in measurement order.
    pub jobs: Vec<JobView>,
}

/// A Job a job-provider measurement ran; its status is the measurement's phase, as the CLI
/// shows it (the Job object itself may be gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    pub name: String,
    pub phase: AnalysisPhase,
    pub started: Option<DateTime<Utc>>,
}

/// An Experiment of a canary step, with the ReplicaSets and AnalysisRuns it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentView {
    pub name: String,
    /// `None` while the Experiment has no phase yet (drawn blank, as the CLI does).
    pub phase: Option<AnalysisPhase>,
    pub created: DateTime<Utc>,
    pub replica_sets: Vec<ReplicaSetView>,
    pub analysis_runs: Vec<AnalysisRunView>,
}

/// One revision of the rollout with what it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionView {
    pub revision: u32,
    pub replica_sets: Vec<ReplicaSetView>,
    pub experiments: Vec<ExperimentView>,
    pub analysis_runs: Vec<AnalysisRunView>,
}

impl RevisionView {
    /// Old news: every ReplicaSet scaled down and untagged, and no run still going.
    fn is_foldable(&self) -> bool {
        self.replica_sets
            .iter()
            .all(|rs| rs.status == ReplicaSetStatus::ScaledDown && rs.tags.is_empty())
            && self
                .analysis_runs
                .iter()
                .all(|run| !matches!(run.phase, AnalysisPhase::Running | AnalysisPhase::Pending))
            && self.experiments.iter().all(|e| {
                !matches!(
                    e.phase,
                    None | Some(AnalysisPhase::Running | AnalysisPhase::Pending)
                )
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeKind {
    Revision,
    ReplicaSet,
    Pod,
    AnalysisRun,
    Experiment,
    Job,
    /// Old scaled-down revisions folded into one line.
    Folded,
}

impl TreeKind {
    pub fn glyph(self) -> &'static str {
        match self {
            Self::Revision => "#",
            Self::ReplicaSet => "⧉",
            Self::Pod => "□",
            Self::AnalysisRun => "α",
            Self::Experiment => "Σ",
            Self::Job => "⊞",
            Self::Folded => "…",
        }
    }

    pub fn ascii_glyph(self) -> &'static str {
        match self {
            Self::Revision => "#",
            Self::ReplicaSet => "[RS]",
            Self::Pod => "[P]",
            Self::AnalysisRun => "[AR]",
            Self::Experiment => "[EX]",
            Self::Job => "[J]",
            Self::Folded => "...",
        }
    }
}

/// A segment of the guide drawn left of a line: one per ancestor level, then the connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branch {
    /// An ancestor with siblings still to come (`│  `).
    Pipe,
    /// An ancestor that was the last child (`   `).
    Blank,
    /// This line has siblings after it (`├──`).
    Tee,
    /// This line is the last child (`└──`).
    Elbow,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeLine {
    pub depth: usize,
    pub branches: Vec<Branch>,
    pub kind: TreeKind,
    pub name: String,
    pub status: Option<StatusMark>,
    pub created: Option<DateTime<Utc>>,
    /// `stable,canary`, `ready:1/1,restarts:3`, `✔ 2,✖ 1` (ASCII form in `info_ascii`).
    pub info: String,
    pub info_ascii: String,
}

struct Node {
    line: TreeLine,
    children: Vec<Node>,
}

fn node(kind: TreeKind, name: String) -> Node {
    Node {
        line: TreeLine {
            depth: 0,
            branches: Vec::new(),
            kind,
            name,
            status: None,
            created: None,
            info: String::new(),
            info_ascii: String::new(),
        },
        children: Vec::new(),
    }
}

fn pod_node(pod: &PodView) -> Node {
    let mut n = node(TreeKind::Pod, pod.name.clone());
    n.line.status = Some(pod_mark(&pod.status));
    n.line.created = Some(pod.created);
    let mut info = format!("ready:{}/{}", pod.ready, pod.containers);
    if pod.restarts > 0 {
        info = format!("{info},restarts:{}", pod.restarts);
    }
    n.line.info_ascii.clone_from(&info);
    n.line.info = info;
    n
}

fn replica_set_node(rs: &ReplicaSetView) -> Node {
    let mut n = node(TreeKind::ReplicaSet, rs.name.clone());
    n.line.status = Some(rs.status.mark());
    n.line.created = Some(rs.created);
    n.line.info = rs.tags.join(",");
    n.line.info_ascii.clone_from(&n.line.info);
    let mut pods: Vec<&PodView> = rs.pods.iter().collect();
    pods.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.name.cmp(&b.name)));
    n.children = pods.into_iter().map(pod_node).collect();
    n
}

fn analysis_run_node(run: &AnalysisRunView) -> Node {
    let mut n = node(TreeKind::AnalysisRun, run.name.clone());
    n.line.status = Some(analysis_mark(run.phase));
    n.line.created = Some(run.created);
    n.line.info = run.counts.to_text(false);
    n.line.info_ascii = run.counts.to_text(true);
    n.children = run
        .jobs
        .iter()
        .map(|job| {
            let mut j = node(TreeKind::Job, job.name.clone());
            j.line.status = Some(analysis_mark(job.phase));
            j.line.created = job.started;
            j
        })
        .collect();
    n
}

/// Runs in the CLI's order: creation ascending, then name descending.
fn analysis_run_nodes(runs: &[AnalysisRunView]) -> Vec<Node> {
    let mut runs: Vec<&AnalysisRunView> = runs.iter().collect();
    runs.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| b.name.cmp(&a.name)));
    runs.into_iter().map(analysis_run_node).collect()
}

fn replica_set_nodes(replica_sets: &[ReplicaSetView]) -> Vec<Node> {
    let mut replica_sets: Vec<&ReplicaSetView> = replica_sets.iter().collect();
    replica_sets.sort_by(|a, b| a.name.cmp(&b.name));
    replica_sets.into_iter().map(replica_set_node).collect()
}

fn experiment_node(experiment: &ExperimentView) -> Node {
    let mut n = node(TreeKind::Experiment, experiment.name.clone());
    n.line.status = Some(experiment.phase.map_or_else(
        || StatusMark {
            glyph: " ",
            ascii: " ",
            word: String::new(),
            tone: Tone::Muted,
        },
        analysis_mark,
    ));
    n.line.created = Some(experiment.created);
    n.children = replica_set_nodes(&experiment.replica_sets);
    n.children
        .extend(analysis_run_nodes(&experiment.analysis_runs));
    n
}

/// A revision's children in the CLI's order: ReplicaSets, Experiments, AnalysisRuns.
fn revision_node(revision: &RevisionView) -> Node {
    let mut root = node(
        TreeKind::Revision,
        format!("revision:{}", revision.revision),
    );
    root.children = replica_set_nodes(&revision.replica_sets);
    let mut experiments: Vec<&ExperimentView> = revision.experiments.iter().collect();
    experiments.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.name.cmp(&b.name)));
    root.children
        .extend(experiments.into_iter().map(experiment_node));
    root.children
        .extend(analysis_run_nodes(&revision.analysis_runs));
    root
}

fn flatten(nodes: Vec<Node>, guides: &[Branch], depth: usize, out: &mut Vec<TreeLine>) {
    let count = nodes.len();
    for (i, mut n) in nodes.into_iter().enumerate() {
        let last = i + 1 == count;
        let mut branches = guides.to_vec();
        if depth > 0 {
            branches.push(if last { Branch::Elbow } else { Branch::Tee });
        }
        n.line.depth = depth;
        n.line.branches = branches;
        out.push(n.line);
        let mut child_guides = guides.to_vec();
        if depth > 0 {
            child_guides.push(if last { Branch::Blank } else { Branch::Pipe });
        }
        flatten(n.children, &child_guides, depth + 1, out);
    }
}

/// Flattens revisions (newest first) into tree lines. Old scaled-down revisions become one
/// `Folded` line unless `unfold` is set; the newest revision is never folded.
pub fn build_tree(revisions: &[RevisionView], unfold: bool) -> Vec<TreeLine> {
    let mut sorted: Vec<&RevisionView> = revisions.iter().collect();
    sorted.sort_by_key(|r| std::cmp::Reverse(r.revision));
    let mut roots = Vec::new();
    let mut folded = Vec::new();
    for (i, revision) in sorted.into_iter().enumerate() {
        if !unfold && i > 0 && revision.is_foldable() {
            folded.push(revision.revision);
        } else {
            roots.push(revision_node(revision));
        }
    }
    if !folded.is_empty() {
        let list = folded
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let noun = if folded.len() == 1 {
            "revision"
        } else {
            "revisions"
        };
        roots.push(node(
            TreeKind::Folded,
            format!("{} older {noun} scaled down ({list})", folded.len()),
        ));
    }
    let mut out = Vec::new();
    flatten(roots, &[], 0, &mut out);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn pod(name: &str, created: i64, restarts: u32) -> PodView {
        PodView {
            name: name.into(),
            status: "Running".into(),
            ready: 1,
            containers: 1,
            restarts,
            created: at(created),
        }
    }

    fn rs(
        name: &str,
        status: ReplicaSetStatus,
        tags: &[&str],
        pods: Vec<PodView>,
    ) -> ReplicaSetView {
        ReplicaSetView {
            name: name.into(),
            status,
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            created: at(0),
            pods,
        }
    }

    fn revisions() -> Vec<RevisionView> {
        vec![
            RevisionView {
                revision: 1,
                replica_sets: vec![rs("app-1", ReplicaSetStatus::ScaledDown, &[], vec![])],
                experiments: Vec::new(),
                analysis_runs: vec![],
            },
            RevisionView {
                revision: 3,
                replica_sets: vec![rs(
                    "app-3",
                    ReplicaSetStatus::Healthy,
                    &["canary"],
                    vec![pod("app-3-b", 20, 0), pod("app-3-a", 10, 2)],
                )],
                experiments: Vec::new(),
                analysis_runs: vec![AnalysisRunView {
                    name: "app-3-run".into(),
                    phase: AnalysisPhase::Failed,
                    counts: AnalysisCounts {
                        successful: 2,
                        failed: 1,
                        ..AnalysisCounts::default()
                    },
                    created: at(5),
                    jobs: Vec::new(),
                }],
            },
            RevisionView {
                revision: 2,
                replica_sets: vec![rs(
                    "app-2",
                    ReplicaSetStatus::Healthy,
                    &["stable"],
                    vec![pod("app-2-x", 0, 0)],
                )],
                experiments: Vec::new(),
                analysis_runs: vec![],
            },
        ]
    }

    #[test]
    fn tree_orders_revisions_and_draws_branches() {
        use Branch::{Blank, Elbow, Pipe, Tee};
        let lines = build_tree(&revisions(), false);
        let summary: Vec<(usize, TreeKind, &str, &str, Vec<Branch>)> = lines
            .iter()
            .map(|l| {
                (
                    l.depth,
                    l.kind,
                    l.name.as_str(),
                    l.info.as_str(),
                    l.branches.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (0, TreeKind::Revision, "revision:3", "", vec![]),
                (1, TreeKind::ReplicaSet, "app-3", "canary", vec![Tee]),
                (
                    2,
                    TreeKind::Pod,
                    "app-3-a",
                    "ready:1/1,restarts:2",
                    vec![Pipe, Tee]
                ),
                (2, TreeKind::Pod, "app-3-b", "ready:1/1", vec![Pipe, Elbow]),
                (
                    1,
                    TreeKind::AnalysisRun,
                    "app-3-run",
                    "✔ 2,✖ 1",
                    vec![Elbow]
                ),
                (0, TreeKind::Revision, "revision:2", "", vec![]),
                (1, TreeKind::ReplicaSet, "app-2", "stable", vec![Elbow]),
                (2, TreeKind::Pod, "app-2-x", "ready:1/1", vec![Blank, Elbow]),
                (
                    0,
                    TreeKind::Folded,
                    "1 older revision scaled down (1)",
                    "",
                    vec![]
                ),
            ]
        );
        assert_eq!(lines[4].info_ascii, "ok 2,fail 1");
    }

    #[test]
    fn unfold_shows_every_revision() {
        let lines = build_tree(&revisions(), true);
        assert!(lines.iter().all(|l| l.kind != TreeKind::Folded));
        assert!(lines.iter().any(|l| l.name == "revision:1"));
    }

    #[test]
    fn pod_marks_follow_the_cli_table() {
        let cases = [
            ("Running", "✔", Tone::Ok),
            ("Init:0/1", "◌", Tone::Progress),
            ("ExitCode:1", "✖", Tone::Bad),
            ("CrashLoopBackOff", "✖", Tone::Bad),
            ("ImagePullBackOff", "⚠", Tone::Warn),
            ("ErrImagePull", "⚠", Tone::Warn),
            ("ContainerCreating", "◌", Tone::Progress),
            ("Weird", " ", Tone::Muted),
        ];
        for (status, glyph, tone) in cases {
            let mark = pod_mark(status);
            assert_eq!((mark.glyph, mark.tone), (glyph, tone), "{status}");
            assert_eq!(mark.word, status);
        }
    }
}
