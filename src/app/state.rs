//! The cockpit's whole state, owned by the event loop and changed only by `update`.
//! Row strings that depend only on data are formatted here when data changes; the visible-row
//! index is recomputed only on data, filter or sort changes, so a frame just slices it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::model::{
    ActionPlan, Driver, EventView, ResourceKey, RevisionView, RolloutSummary, SortColumn, TreeLine,
};

use super::pager::{LogsView, YamlView};
use super::settings::Settings;

/// Rows of the screen that are not list rows: header, column titles, input/notice line, footer.
pub const LIST_CHROME_ROWS: u16 = 4;

/// Which namespaces the watchers cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Namespace(String),
    AllNamespaces,
}

impl Scope {
    /// The namespace, or `None` for all namespaces.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Self::Namespace(namespace) => Some(namespace),
            Self::AllNamespaces => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Namespace(namespace) => format!("ns {namespace}"),
            Self::AllNamespaces => "all namespaces".to_owned(),
        }
    }
}

/// How the cockpit was started: where it points and what it may do.
#[derive(Debug, Clone)]
pub struct StartOptions {
    pub context: String,
    pub cluster: String,
    pub scope: Scope,
    pub readonly: bool,
    pub now: DateTime<Utc>,
}

/// One list row: the summary plus the strings formatted once per data change.
#[derive(Debug, Clone)]
pub struct RolloutRow {
    pub summary: RolloutSummary,
    pub step: String,
    pub images: String,
    pub images_ascii: String,
    pub analysis: String,
    pub analysis_ascii: String,
    /// Lower-cased text the filter matches against.
    search: String,
}

impl RolloutRow {
    pub fn new(summary: RolloutSummary) -> Self {
        let step = summary.step_text().unwrap_or_else(|| "-".to_owned());
        let (analysis, analysis_ascii) = match &summary.analysis {
            Some(run) if !run.counts.is_empty() => (
                format!("{} {}", run.phase.word(), run.counts.to_text(false)),
                format!("{} {}", run.phase.word(), run.counts.to_text(true)),
            ),
            Some(run) => (
                format!("{} {}", run.phase.glyph(), run.phase.word()),
                format!("{} {}", run.phase.ascii_glyph(), run.phase.word()),
            ),
            None => (String::new(), String::new()),
        };
        let images = summary.images_text("→");
        let images_ascii = summary.images_text("->");
        let search = format!(
            "{}/{} {} {} {}",
            summary.key.namespace,
            summary.key.name,
            summary.strategy.word(),
            summary.phase.word(),
            images
        )
        .to_lowercase();
        Self {
            summary,
            step,
            images,
            images_ascii,
            analysis,
            analysis_ascii,
            search,
        }
    }

    /// Case-insensitive substring match; `needle` is already lower-case.
    pub fn matches(&self, needle: &str) -> bool {
        needle.is_empty() || self.search.contains(needle)
    }
}

/// The one-line input at the bottom and what Enter does with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    Command,
    /// `i`, first prompt: which container.
    ImageContainer,
    /// `i`, second prompt: the new image for `container`.
    Image {
        container: String,
    },
    /// A destructive action in a protected namespace: type the rollout's `name` to send.
    TypeName {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub kind: InputKind,
    pub text: String,
}

/// The rollout that is open in the detail view and its watched children.
#[derive(Debug, Clone)]
pub struct DetailState {
    pub key: ResourceKey,
    pub revisions: Vec<RevisionView>,
    pub tree: Vec<TreeLine>,
    pub events: Vec<EventView>,
    pub unfold: bool,
    /// The selected tree line (`l` and `y` act on it); the tree window follows it.
    pub scroll: usize,
    /// The metric charts panel (`m`), `docs/triage.md`.
    pub charts: super::triage_detail::DetailCharts,
}

#[derive(Debug, Clone)]
pub enum View {
    List,
    Detail(DetailState),
    /// A pod's log, or canary and stable logs side by side.
    Logs(LogsView),
    /// One object's YAML.
    Yaml(YamlView),
}

/// An action waiting for `y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub context: String,
    pub key: ResourceKey,
    pub plan: ActionPlan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    Confirm(Confirm),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeLevel {
    Info,
    Warn,
    Error,
}

/// A one-line message on the status line; expires after `NOTICE_TTL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub level: NoticeLevel,
    pub text: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct State {
    pub now: DateTime<Utc>,
    pub context: String,
    pub cluster: String,
    pub scope: Scope,
    pub readonly: bool,
    pub rollouts: BTreeMap<ResourceKey, RolloutRow>,
    /// Keys of the filtered, sorted rows; the list draws a window of it.
    pub visible: Vec<ResourceKey>,
    pub selected: usize,
    pub offset: usize,
    /// List rows that fit on screen (height minus `LIST_CHROME_ROWS`).
    pub viewport_rows: usize,
    pub width: u16,
    pub height: u16,
    pub sort: SortColumn,
    pub filter: String,
    pub input: Option<Input>,
    pub view: View,
    pub overlay: Overlay,
    pub notice: Option<Notice>,
    /// True once the first complete list of the scope arrived.
    pub synced: bool,
    pub last_event: Option<DateTime<Utc>>,
    pub watch_error: Option<String>,
    pub quitting: bool,
    /// Something on screen changed since the last draw.
    pub dirty: bool,
    /// Who drives the rollouts in scope; `None` until the embedded controller reports.
    pub driver: Option<Driver>,
    /// The scope the embedded controller was started for (the start scope); `:ns` changes
    /// `scope`, never this.
    pub driven_scope: Scope,
    /// The context the embedded controller was started in; the driver is shown only there.
    pub driven_context: String,
    /// Per-context settings (protected namespaces, notifications).
    pub settings: Settings,
    /// Identifies the current log stream, so lines of a closed one are dropped.
    pub log_stream: u64,
    /// The AnalysisRun triage view, drawn over the list or detail view (Esc closes it).
    pub triage: Option<super::triage::TriageState>,
    /// The `:ar` run list, drawn over the list or detail view.
    pub runs: Option<super::triage::RunsState>,
}

impl State {
    pub fn new(options: StartOptions) -> Self {
        Self {
            now: options.now,
            driven_context: options.context.clone(),
            context: options.context,
            cluster: options.cluster,
            driven_scope: options.scope.clone(),
            scope: options.scope,
            readonly: options.readonly,
            rollouts: BTreeMap::new(),
            visible: Vec::new(),
            selected: 0,
            offset: 0,
            viewport_rows: 20,
            width: 80,
            height: 24,
            sort: SortColumn::default(),
            filter: String::new(),
            input: None,
            view: View::List,
            overlay: Overlay::None,
            notice: None,
            synced: false,
            last_event: None,
            watch_error: None,
            quitting: false,
            dirty: true,
            driver: None,
            settings: Settings::default(),
            log_stream: 0,
            triage: None,
            runs: None,
        }
    }

    pub fn selected_key(&self) -> Option<&ResourceKey> {
        self.visible.get(self.selected)
    }

    pub fn selected_row(&self) -> Option<&RolloutRow> {
        self.selected_key().and_then(|key| self.rollouts.get(key))
    }

    /// The rollout actions apply to: the open one in the detail view, else the selected row.
    pub fn target_key(&self) -> Option<&ResourceKey> {
        match &self.view {
            View::Detail(detail) => Some(&detail.key),
            View::List => self.selected_key(),
            View::Logs(logs) => Some(&logs.rollout),
            View::Yaml(_) => None,
        }
    }

    /// The rows in the list window: `visible[offset..offset + viewport_rows]`.
    pub fn window(&self) -> impl Iterator<Item = (usize, &RolloutRow)> {
        let end = (self.offset + self.viewport_rows).min(self.visible.len());
        let start = self.offset.min(end);
        self.visible[start..end]
            .iter()
            .enumerate()
            .filter_map(move |(i, key)| self.rollouts.get(key).map(|row| (start + i, row)))
    }
}
