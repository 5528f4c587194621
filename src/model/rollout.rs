//! `RolloutSummary`: the slim, plain view of one Rollout that the cockpit list, detail and
//! actions need, plus the derivations on it (phase glyphs and words, step labels, pause
//! countdowns, the "needs a human first" order). Built from cluster objects at the edge; no I/O.

use std::cmp::Ordering;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Namespace and name: how a Rollout is addressed everywhere in the cockpit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ResourceKey {
    pub namespace: String,
    pub name: String,
}

impl ResourceKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The rollout strategy, named as `kubectl argo rollouts` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strategy {
    Canary,
    BlueGreen,
}

impl Strategy {
    pub fn word(self) -> &'static str {
        match self {
            Self::Canary => "Canary",
            Self::BlueGreen => "BlueGreen",
        }
    }
}

/// Argo's rollout phase (`status.phase`), plus `Unknown` for a status not yet written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Healthy,
    Progressing,
    Paused,
    Degraded,
    Unknown,
}

impl Phase {
    /// Parses Argo's phase word; anything else (or nothing) is `Unknown`, never a panic.
    pub fn from_word(word: &str) -> Self {
        match word {
            "Healthy" => Self::Healthy,
            "Progressing" => Self::Progressing,
            "Paused" => Self::Paused,
            "Degraded" => Self::Degraded,
            _ => Self::Unknown,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Self::Healthy => "Healthy",
            Self::Progressing => "Progressing",
            Self::Paused => "Paused",
            Self::Degraded => "Degraded",
            Self::Unknown => "Unknown",
        }
    }

    /// The glyph `kubectl argo rollouts get` prints for this phase.
    pub fn glyph(self) -> &'static str {
        match self {
            Self::Healthy => "✔",
            Self::Progressing => "◌",
            Self::Paused => "॥",
            Self::Degraded => "✖",
            Self::Unknown => "?",
        }
    }

    /// The `--ascii` glyph; distinct per phase so meaning survives without colour or Unicode.
    pub fn ascii_glyph(self) -> &'static str {
        match self {
            Self::Healthy => "+",
            Self::Progressing => "~",
            Self::Paused => "=",
            Self::Degraded => "x",
            Self::Unknown => "?",
        }
    }
}

/// The kind of a canary step, spelled as in the Rollout spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    SetWeight,
    Pause,
    Analysis,
    Experiment,
    SetCanaryScale,
    SetHeaderRoute,
    SetMirrorRoute,
    Plugin,
}

impl StepKind {
    pub fn word(self) -> &'static str {
        match self {
            Self::SetWeight => "setWeight",
            Self::Pause => "pause",
            Self::Analysis => "analysis",
            Self::Experiment => "experiment",
            Self::SetCanaryScale => "setCanaryScale",
            Self::SetHeaderRoute => "setHeaderRoute",
            Self::SetMirrorRoute => "setMirrorRoute",
            Self::Plugin => "plugin",
        }
    }
}

/// One canary step as the timeline shows it: `setWeight 20`, `pause 30s`, `pause` (manual).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepView {
    pub kind: StepKind,
    /// The step's value as written (`20`, `30s`, `failure-count`); empty for a manual pause.
    pub value: String,
}

impl StepView {
    pub fn new(kind: StepKind, value: impl Into<String>) -> Self {
        Self {
            kind,
            value: value.into(),
        }
    }

    pub fn label(&self) -> String {
        if self.value.is_empty() {
            self.kind.word().to_owned()
        } else {
            format!("{} {}", self.kind.word(), self.value)
        }
    }

    /// A pause step without a duration waits for a human (`pause: {}`).
    pub fn is_manual_pause(&self) -> bool {
        self.kind == StepKind::Pause && self.value.is_empty()
    }
}

/// Where a step stands relative to `status.currentStepIndex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    Done,
    Current,
    Pending,
}

/// Phase of an AnalysisRun (or of one metric), as Argo spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnalysisPhase {
    Pending,
    Running,
    Successful,
    Failed,
    Error,
    Inconclusive,
}

impl AnalysisPhase {
    pub fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "Pending" => Self::Pending,
            "Running" => Self::Running,
            "Successful" => Self::Successful,
            "Failed" => Self::Failed,
            "Error" => Self::Error,
            "Inconclusive" => Self::Inconclusive,
            _ => return None,
        })
    }

    pub fn word(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Successful => "Successful",
            Self::Failed => "Failed",
            Self::Error => "Error",
            Self::Inconclusive => "Inconclusive",
        }
    }

    pub fn glyph(self) -> &'static str {
        match self {
            Self::Pending => "◷",
            Self::Running => "◌",
            Self::Successful => "✔",
            Self::Failed => "✖",
            Self::Error => "⚠",
            Self::Inconclusive => "?",
        }
    }

    pub fn ascii_glyph(self) -> &'static str {
        match self {
            Self::Pending => ".",
            Self::Running => "~",
            Self::Successful => "+",
            Self::Failed => "x",
            Self::Error => "!",
            Self::Inconclusive => "?",
        }
    }
}

/// Measurement counters summed over an AnalysisRun's metric results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AnalysisCounts {
    pub successful: u32,
    pub failed: u32,
    pub inconclusive: u32,
    pub error: u32,
}

impl AnalysisCounts {
    pub fn is_empty(self) -> bool {
        self.successful + self.failed + self.inconclusive + self.error == 0
    }

    /// Only the non-zero counters, joined as the CLI tree does: `✔ 4,✖ 4,? 1,⚠ 1`.
    pub fn to_text(self, ascii: bool) -> String {
        let marks: [(&str, &str, u32); 4] = [
            ("✔", "ok", self.successful),
            ("✖", "fail", self.failed),
            ("?", "?", self.inconclusive),
            ("⚠", "err", self.error),
        ];
        marks
            .iter()
            .filter(|(_, _, n)| *n > 0)
            .map(|(glyph, word, n)| {
                if ascii {
                    format!("{word} {n}")
                } else {
                    format!("{glyph} {n}")
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The latest AnalysisRun of a rollout, reduced to what the list column shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisSummary {
    pub name: String,
    pub phase: AnalysisPhase,
    pub counts: AnalysisCounts,
}

/// Replica counts of `status` (and `spec.replicas` as desired).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Replicas {
    pub desired: i32,
    pub current: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
}

/// Why the rollout is paused (the first `status.pauseConditions[]` entry, or `spec.paused`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseInfo {
    /// Argo's reason word: `CanaryPauseStep`, `BlueGreenPause`, `InconclusiveAnalysisRun`, or
    /// `manually paused` for `spec.paused`.
    pub reason: String,
    /// `pauseConditions[].startTime`.
    pub started: Option<DateTime<Utc>>,
    /// The pause step's duration; `None` waits for a human.
    pub duration: Option<Duration>,
}

/// The services and hashes of a blue-green rollout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlueGreenView {
    pub active_service: String,
    pub preview_service: Option<String>,
    /// Pod-template hash behind the active service (`status.blueGreen.activeSelector`).
    pub active_hash: Option<String>,
    /// Pod-template hash behind the preview service (`status.blueGreen.previewSelector`).
    pub preview_hash: Option<String>,
    pub auto_promotion: bool,
}

/// Everything the cockpit shows and gates on for one Rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutSummary {
    pub key: ResourceKey,
    pub strategy: Strategy,
    pub phase: Phase,
    /// `status.abort`.
    pub aborted: bool,
    /// `status.message`.
    pub message: String,
    /// `status.currentStepIndex`; `None` when unset.
    pub step_index: Option<u32>,
    pub steps: Vec<StepView>,
    /// Weight the controller has asked for (the CLI's SetWeight).
    pub desired_weight: u8,
    /// Weight the traffic router (or replica ratio) has applied (the CLI's ActualWeight).
    pub actual_weight: u8,
    /// A traffic router (Istio, ALB, NGINX, SMI, ...) sets the weight; without one the weight
    /// follows available pod counts.
    pub traffic_routed: bool,
    pub pause: Option<PauseInfo>,
    /// `spec.paused`.
    pub spec_paused: bool,
    /// `status.controllerPause`.
    pub controller_pause: bool,
    /// `status.canary.currentStepAnalysisRunStatus.status == Inconclusive`.
    pub step_analysis_inconclusive: bool,
    /// `status.currentPodHash == status.stableRS`: nothing left to promote.
    pub fully_promoted: bool,
    pub analysis: Option<AnalysisSummary>,
    pub stable_image: Option<String>,
    pub canary_image: Option<String>,
    /// Container names of the pod template (what `set image` can target).
    pub containers: Vec<String>,
    /// `rollout.argoproj.io/revision` of the current template.
    pub revision: u32,
    pub created: DateTime<Utc>,
    pub replicas: Replicas,
    pub blue_green: Option<BlueGreenView>,
}

impl RolloutSummary {
    /// A minimal healthy canary; the starting point for adapters and fixtures.
    pub fn new(key: ResourceKey, strategy: Strategy, created: DateTime<Utc>) -> Self {
        Self {
            key,
            strategy,
            phase: Phase::Healthy,
            aborted: false,
            message: String::new(),
            step_index: None,
            steps: Vec::new(),
            desired_weight: 100,
            actual_weight: 100,
            traffic_routed: false,
            pause: None,
            spec_paused: false,
            controller_pause: false,
            step_analysis_inconclusive: false,
            fully_promoted: true,
            analysis: None,
            stable_image: None,
            canary_image: None,
            containers: Vec::new(),
            revision: 1,
            created,
            replicas: Replicas::default(),
            blue_green: None,
        }
    }

    /// `n/m` as the CLI prints Step; `None` for blue-green or without steps.
    pub fn step_text(&self) -> Option<String> {
        if self.strategy != Strategy::Canary || self.steps.is_empty() {
            return None;
        }
        let index = self.step_index.unwrap_or(0);
        Some(format!("{index}/{}", self.steps.len()))
    }

    pub fn step_state(&self, index: usize) -> StepState {
        let current = self.step_index.unwrap_or(0) as usize;
        match index.cmp(&current) {
            Ordering::Less => StepState::Done,
            Ordering::Equal => StepState::Current,
            Ordering::Greater => StepState::Pending,
        }
    }

    pub fn weights_differ(&self) -> bool {
        self.desired_weight != self.actual_weight
    }

    /// Time left on a timed pause, zero once elapsed; `None` when not on a timed pause.
    pub fn pause_remaining(&self, now: DateTime<Utc>) -> Option<Duration> {
        let pause = self.pause.as_ref()?;
        let duration = pause.duration?;
        let started = pause.started?;
        let elapsed = (now - started).to_std().unwrap_or(Duration::ZERO);
        Some(duration.saturating_sub(elapsed))
    }

    /// Paused waiting for a person: `pause: {}`, `spec.paused`, or a blue-green without
    /// auto-promotion. Argo's dashboard leaves `CanaryPauseStep` out; operators want it in.
    pub fn is_manual_pause(&self) -> bool {
        self.spec_paused
            || self
                .pause
                .as_ref()
                .is_some_and(|pause| pause.duration.is_none())
    }

    pub fn is_inconclusive(&self) -> bool {
        self.step_analysis_inconclusive
            || self
                .analysis
                .as_ref()
                .is_some_and(|run| run.phase == AnalysisPhase::Inconclusive)
            || self
                .pause
                .as_ref()
                .is_some_and(|pause| pause.reason.starts_with("Inconclusive"))
    }

    pub fn attention(&self) -> Attention {
        if self.phase == Phase::Degraded {
            Attention::Degraded
        } else if self.aborted {
            Attention::Aborted
        } else if self.is_manual_pause() {
            Attention::ManualPause
        } else if self.is_inconclusive() {
            Attention::Inconclusive
        } else if self.weights_differ() {
            Attention::WeightMismatch
        } else if matches!(self.phase, Phase::Paused | Phase::Progressing) {
            Attention::InFlight
        } else if self.phase == Phase::Unknown {
            Attention::Unknown
        } else {
            Attention::Settled
        }
    }

    /// `stable → canary` images, or the one image when they are the same.
    pub fn images_text(&self, arrow: &str) -> String {
        match (&self.stable_image, &self.canary_image) {
            (Some(stable), Some(canary)) if stable != canary => {
                format!("{} {arrow} {}", short_image(stable), short_image(canary))
            }
            (Some(image), _) | (None, Some(image)) => short_image(image).to_owned(),
            (None, None) => String::new(),
        }
    }
}

/// The image without its registry path: `quay.io/brancz/app:v0.2.0` → `app:v0.2.0`.
pub fn short_image(image: &str) -> &str {
    image.rsplit('/').next().unwrap_or(image)
}

/// How urgently a rollout needs a human, most urgent first (the default sort).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Attention {
    Degraded,
    Aborted,
    ManualPause,
    Inconclusive,
    WeightMismatch,
    InFlight,
    Unknown,
    Settled,
}

/// The list's sort columns; `S` cycles through them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortColumn {
    #[default]
    Attention,
    Namespace,
    Name,
    Status,
    Age,
}

impl SortColumn {
    #[must_use]
    pub fn next(self) -> Self {
        match self {
            Self::Attention => Self::Namespace,
            Self::Namespace => Self::Name,
            Self::Name => Self::Status,
            Self::Status => Self::Age,
            Self::Age => Self::Attention,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Self::Attention => "attention",
            Self::Namespace => "namespace",
            Self::Name => "name",
            Self::Status => "status",
            Self::Age => "age",
        }
    }
}

/// Total order of two rollouts under a sort column; ties break on namespace/name so the list
/// never reshuffles between equal rows.
pub fn compare_rollouts(a: &RolloutSummary, b: &RolloutSummary, column: SortColumn) -> Ordering {
    let primary = match column {
        SortColumn::Attention => a.attention().cmp(&b.attention()),
        SortColumn::Namespace => a.key.namespace.cmp(&b.key.namespace),
        SortColumn::Name => a.key.name.cmp(&b.key.name),
        SortColumn::Status => a.phase.word().cmp(b.phase.word()),
        // Youngest first: the rollout someone just created is the one they look for.
        SortColumn::Age => b.created.cmp(&a.created),
    };
    primary.then_with(|| a.key.cmp(&b.key))
}

/// Kubernetes "human duration" as `kubectl get` prints ages: `45s`, `3m20s`, `5h`, `7d`.
pub fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (mins, hours, days) = (secs / 60, secs / 3600, secs / 86_400);
    if secs < 120 {
        format!("{secs}s")
    } else if mins < 10 {
        if secs.is_multiple_of(60) {
            format!("{mins}m")
        } else {
            format!("{mins}m{}s", secs % 60)
        }
    } else if hours < 3 {
        format!("{mins}m")
    } else if hours < 8 {
        if mins.is_multiple_of(60) {
            format!("{hours}h")
        } else {
            format!("{hours}h{}m", mins % 60)
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if days < 8 {
        if hours.is_multiple_of(24) {
            format!("{days}d")
        } else {
            format!("{days}d{}h", hours % 24)
        }
    } else if days < 365 * 2 {
        format!("{days}d")
    } else {
        let years = days / 365;
        if days.is_multiple_of(365) {
            format!("{years}y")
        } else {
            format!("{years}y{}d", days % 365)
        }
    }
}

/// Age of a timestamp at `now`; a timestamp in the future (clock skew) reads as `0s`.
pub fn age(created: DateTime<Utc>, now: DateTime<Utc>) -> String {
    human_duration((now - created).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn canary(name: &str) -> RolloutSummary {
        let mut summary =
            RolloutSummary::new(ResourceKey::new("default", name), Strategy::Canary, at(0));
        summary.steps = vec![
            StepView::new(StepKind::SetWeight, "20"),
            StepView::new(StepKind::Pause, ""),
        ];
        summary.step_index = Some(2);
        summary
    }

    #[test]
    fn human_duration_follows_kubectl() {
        let cases = [
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (200, "3m20s"),
            (599, "9m59s"),
            (600, "10m"),
            (3 * 3600 - 1, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 1800, "3h30m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (7 * 86_400 + 5 * 3600, "7d5h"),
            (8 * 86_400, "8d"),
            (729 * 86_400, "729d"),
            (730 * 86_400, "2y"),
            (731 * 86_400, "2y1d"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(Duration::from_secs(secs)), want, "{secs}s");
        }
    }

    #[test]
    fn future_timestamp_ages_as_zero() {
        assert_eq!(age(at(10), at(0)), "0s");
    }

    #[test]
    fn step_labels_name_the_argo_kind_and_value() {
        let cases = [
            (
                StepView::new(StepKind::SetWeight, "20"),
                "setWeight 20",
                false,
            ),
            (StepView::new(StepKind::Pause, "30s"), "pause 30s", false),
            (StepView::new(StepKind::Pause, ""), "pause", true),
            (
                StepView::new(StepKind::Analysis, "failure-count"),
                "analysis failure-count",
                false,
            ),
        ];
        for (step, label, manual) in cases {
            assert_eq!(step.label(), label);
            assert_eq!(step.is_manual_pause(), manual, "{label}");
        }
    }

    #[test]
    fn step_text_and_states() {
        let mut summary = canary("a");
        summary.step_index = Some(1);
        assert_eq!(summary.step_text().as_deref(), Some("1/2"));
        assert_eq!(summary.step_state(0), StepState::Done);
        assert_eq!(summary.step_state(1), StepState::Current);
        summary.strategy = Strategy::BlueGreen;
        assert_eq!(summary.step_text(), None);
    }

    #[test]
    fn pause_remaining_counts_down_and_stops_at_zero() {
        let mut summary = canary("a");
        summary.pause = Some(PauseInfo {
            reason: "CanaryPauseStep".into(),
            started: Some(at(100)),
            duration: Some(Duration::from_secs(30)),
        });
        let cases = [
            (100, Some(30)),
            (112, Some(18)),
            (130, Some(0)),
            (500, Some(0)),
            (50, Some(30)),
        ];
        for (now, want) in cases {
            assert_eq!(
                summary.pause_remaining(at(now)).map(|d| d.as_secs()),
                want,
                "now={now}"
            );
        }
        summary.pause.as_mut().unwrap().duration = None;
        assert_eq!(summary.pause_remaining(at(110)), None);
    }

    #[test]
    fn attention_ranks_what_needs_a_human() {
        let healthy = canary("healthy");
        let mut degraded = canary("degraded");
        degraded.phase = Phase::Degraded;
        degraded.aborted = true;
        let mut aborted = canary("aborted");
        aborted.aborted = true;
        aborted.phase = Phase::Progressing;
        let mut manual = canary("manual");
        manual.phase = Phase::Paused;
        manual.pause = Some(PauseInfo {
            reason: "CanaryPauseStep".into(),
            started: Some(at(0)),
            duration: None,
        });
        let mut timed = canary("timed");
        timed.phase = Phase::Paused;
        timed.pause = Some(PauseInfo {
            reason: "CanaryPauseStep".into(),
            started: Some(at(0)),
            duration: Some(Duration::from_secs(30)),
        });
        let mut inconclusive = canary("inconclusive");
        inconclusive.phase = Phase::Paused;
        inconclusive.analysis = Some(AnalysisSummary {
            name: "run".into(),
            phase: AnalysisPhase::Inconclusive,
            counts: AnalysisCounts::default(),
        });
        let mut mismatch = canary("mismatch");
        mismatch.phase = Phase::Progressing;
        mismatch.desired_weight = 20;
        mismatch.actual_weight = 5;
        let mut spec_paused = canary("spec-paused");
        spec_paused.spec_paused = true;

        let cases = [
            (&healthy, Attention::Settled),
            (&degraded, Attention::Degraded),
            (&aborted, Attention::Aborted),
            (&manual, Attention::ManualPause),
            (&spec_paused, Attention::ManualPause),
            (&timed, Attention::InFlight),
            (&inconclusive, Attention::Inconclusive),
            (&mismatch, Attention::WeightMismatch),
        ];
        for (summary, want) in cases {
            assert_eq!(summary.attention(), want, "{}", summary.key);
        }

        let mut all = [
            healthy.clone(),
            timed.clone(),
            mismatch.clone(),
            inconclusive.clone(),
            manual.clone(),
            aborted.clone(),
            degraded.clone(),
        ];
        all.sort_by(|a, b| compare_rollouts(a, b, SortColumn::Attention));
        let names: Vec<&str> = all.iter().map(|s| s.key.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "degraded",
                "aborted",
                "manual",
                "inconclusive",
                "mismatch",
                "timed",
                "healthy"
            ]
        );
    }

    #[test]
    fn sort_columns_cycle_and_break_ties_by_key() {
        let mut column = SortColumn::default();
        let mut seen = vec![column];
        for _ in 0..4 {
            column = column.next();
            seen.push(column);
        }
        assert_eq!(column.next(), SortColumn::Attention);
        assert_eq!(seen.len(), 5);

        let a = canary("a");
        let mut b = canary("b");
        b.created = at(10);
        assert_eq!(compare_rollouts(&a, &b, SortColumn::Name), Ordering::Less);
        assert_eq!(compare_rollouts(&a, &b, SortColumn::Age), Ordering::Greater);
        assert_eq!(
            compare_rollouts(&a, &a.clone(), SortColumn::Status),
            Ordering::Equal
        );
    }

    #[test]
    fn images_and_counts_text() {
        let mut summary = canary("a");
        summary.stable_image = Some("argoproj/rollouts-demo:blue".into());
        summary.canary_image = Some("argoproj/rollouts-demo:yellow".into());
        assert_eq!(
            summary.images_text("→"),
            "rollouts-demo:blue → rollouts-demo:yellow"
        );
        summary.canary_image = summary.stable_image.clone();
        assert_eq!(summary.images_text("→"), "rollouts-demo:blue");
        let counts = AnalysisCounts {
            successful: 4,
            failed: 4,
            inconclusive: 1,
            error: 0,
        };
        assert_eq!(counts.to_text(false), "✔ 4,✖ 4,? 1");
        assert_eq!(counts.to_text(true), "ok 4,fail 4,? 1");
        assert!(AnalysisCounts::default().is_empty());
    }

    #[test]
    fn phase_words_round_trip_and_glyphs_differ() {
        for phase in [
            Phase::Healthy,
            Phase::Progressing,
            Phase::Paused,
            Phase::Degraded,
        ] {
            assert_eq!(Phase::from_word(phase.word()), phase);
        }
        assert_eq!(Phase::from_word("bogus"), Phase::Unknown);
        let ascii: std::collections::HashSet<_> = [
            Phase::Healthy,
            Phase::Progressing,
            Phase::Paused,
            Phase::Degraded,
            Phase::Unknown,
        ]
        .iter()
        .map(|p| p.ascii_glyph())
        .collect();
        assert_eq!(ascii.len(), 5);
        assert!(ascii.iter().all(|g| g.is_ascii()));
    }
}
