//! The Prometheus charts of a rollout's analysis, derived purely from the Rollout and the
//! AnalysisTemplates it references, before any AnalysisRun exists: which metrics the step
//! `analysis` templates, the background `canary.analysis` and the blue-green pre/post-promotion
//! analyses would measure, and their queries with the arguments resolved the way the rollout
//! would create the run (`value`, `valueFrom.podTemplateHashValue`, `fieldRef` metadata;
//! secret arguments masked and never queried). When an argument differs between the canary and
//! the stable side (`podTemplateHashValue: Latest` against the stable hash, or a value that is
//! the rollout's `canaryService`, rewritten to its `stableService`), the query is split into
//! one per side, so the detail view can draw both on one axis. Also the rollout's step
//! boundaries (`RolloutUpdated`, `RolloutStepCompleted`, pause starts) as marks on a chart's time
//! axis. No I/O: the task layer fetches the objects, the cockpit only reads these values.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kube::ResourceExt;

use crate::controller::analysis::args::{RunArgument, substitute_args};
use crate::controller::analysis::secrets::SECRET_MASK;
use crate::crd::Rollout;
use crate::crd::analysis::{AnalysisTemplateSpec, Argument};
use crate::crd::rollout::RolloutAnalysis;

use super::EventView;
use super::triage::{Threshold, ThresholdKind, extract_threshold};

/// Which side of a canary a query measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    Canary,
    Stable,
}

impl Side {
    pub fn word(self) -> &'static str {
        match self {
            Self::Canary => "canary",
            Self::Stable => "stable",
        }
    }
}

/// A template reference as the task layer fetches it: `(cluster_scope, name)`.
pub type TemplateKey = (bool, String);

/// Where an analysis is declared on the rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisSource {
    /// `step 2`, `background`, `pre-promotion`, `post-promotion`.
    pub label: String,
    pub analysis: RolloutAnalysis,
}

/// Every analysis the rollout declares, in the order the rollout would run them.
pub fn analysis_sources(rollout: &Rollout) -> Vec<AnalysisSource> {
    let mut sources = Vec::new();
    let Some(strategy) = rollout.spec.strategy.as_ref() else {
        return sources;
    };
    if let Some(canary) = &strategy.canary {
        if let Some(background) = &canary.analysis {
            sources.push(AnalysisSource {
                label: "background".to_owned(),
                analysis: background.analysis.clone(),
            });
        }
        for (index, step) in canary.steps.iter().flatten().enumerate() {
            if let Some(analysis) = &step.analysis {
                sources.push(AnalysisSource {
                    label: format!("step {index}"),
                    analysis: analysis.clone(),
                });
            }
        }
    }
    if let Some(blue_green) = &strategy.blue_green {
        for (label, analysis) in [
            ("pre-promotion", &blue_green.pre_promotion_analysis),
            ("post-promotion", &blue_green.post_promotion_analysis),
        ] {
            if let Some(analysis) = analysis {
                sources.push(AnalysisSource {
                    label: label.to_owned(),
                    analysis: analysis.clone(),
                });
            }
        }
    }
    sources
}

/// The templates the rollout references, each once (what the task layer reads).
pub fn referenced_templates(rollout: &Rollout) -> Vec<TemplateKey> {
    let mut keys: Vec<TemplateKey> = Vec::new();
    for source in analysis_sources(rollout) {
        for template in source.analysis.templates() {
            let key = (
                template.cluster_scope.unwrap_or(false),
                template.template_name.clone(),
            );
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// How a template reference reads on screen.
pub fn describe_template(key: &TemplateKey) -> String {
    if key.0 {
        format!("ClusterAnalysisTemplate {}", key.1)
    } else {
        format!("AnalysisTemplate {}", key.1)
    }
}

/// What an argument's value depends on, read from the rollout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SideContext {
    pub canary_service: Option<String>,
    pub stable_service: Option<String>,
    /// `status.currentPodHash`: what `podTemplateHashValue: Latest` resolves to.
    pub latest_hash: Option<String>,
    /// `status.stableRS`: what `podTemplateHashValue: Stable` resolves to.
    pub stable_hash: Option<String>,
    /// `metadata.*` field paths the rollout can answer (`metadata.name`, `metadata.labels['k']`).
    pub fields: BTreeMap<String, String>,
}

impl SideContext {
    pub fn of(rollout: &Rollout) -> Self {
        let canary = rollout
            .spec
            .strategy
            .as_ref()
            .and_then(|s| s.canary.as_ref());
        let status = rollout.status.as_ref();
        let mut fields = BTreeMap::new();
        fields.insert("metadata.name".to_owned(), rollout.name_any());
        if let Some(namespace) = rollout.namespace() {
            fields.insert("metadata.namespace".to_owned(), namespace);
        }
        if let Some(uid) = rollout.uid() {
            fields.insert("metadata.uid".to_owned(), uid);
        }
        for (k, v) in rollout.labels() {
            fields.insert(format!("metadata.labels['{k}']"), v.clone());
        }
        for (k, v) in rollout.annotations() {
            fields.insert(format!("metadata.annotations['{k}']"), v.clone());
        }
        Self {
            canary_service: canary.and_then(|c| c.canary_service.clone()),
            stable_service: canary.and_then(|c| c.stable_service.clone()),
            latest_hash: status.and_then(|s| s.current_pod_hash.clone()),
            stable_hash: status.and_then(|s| s.stable_rs.clone()),
            fields,
        }
    }
}

/// An argument's value on each side. `None` is a value the rollout cannot supply (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideValues {
    pub canary: Option<String>,
    pub stable: Option<String>,
    /// A Secret's value: shown masked, never read, never queried.
    pub secret: bool,
}

/// One argument's value per side, as the rollout would write it into the run for its canary,
/// and the same run rewritten to measure the stable side: `podTemplateHashValue: Latest` is the
/// current hash (stable side: the stable hash), `Stable` the stable hash on both; a value equal
/// to the rollout's `canaryService` becomes its `stableService` on the stable side; `fieldRef`
/// metadata reads the rollout; `secretKeyRef` is masked.
pub fn side_values(arg: &Argument, ctx: &SideContext) -> SideValues {
    let same = |value: Option<String>| SideValues {
        canary: value.clone(),
        stable: value,
        secret: false,
    };
    if let Some(from) = &arg.value_from {
        if from.secret_key_ref.is_some() {
            return SideValues {
                canary: Some(SECRET_MASK.to_owned()),
                stable: Some(SECRET_MASK.to_owned()),
                secret: true,
            };
        }
        if let Some(which) = from.pod_template_hash_value.as_deref() {
            return match which {
                "Stable" => same(ctx.stable_hash.clone()),
                _ => SideValues {
                    canary: ctx.latest_hash.clone(),
                    stable: ctx.stable_hash.clone(),
                    secret: false,
                },
            };
        }
        if let Some(field) = &from.field_ref {
            return same(ctx.fields.get(&field.field_path).cloned());
        }
    }
    match (&arg.value, &ctx.canary_service, &ctx.stable_service) {
        (Some(value), Some(canary), Some(stable)) if value == canary => SideValues {
            canary: Some(value.clone()),
            stable: Some(stable.clone()),
            secret: false,
        },
        (value, _, _) => same(value.clone()),
    }
}

/// The arguments of a run built from `templates` and the rollout's `args`: template defaults
/// first, the rollout's values override (as the controller merges them).
pub fn merged_arguments(
    templates: &[&AnalysisTemplateSpec],
    overrides: &[Argument],
) -> Vec<Argument> {
    let mut args: Vec<Argument> = Vec::new();
    for spec in templates {
        for arg in spec.args.iter().flatten() {
            if !args.iter().any(|a| a.name == arg.name) {
                args.push(arg.clone());
            }
        }
    }
    for arg in overrides {
        if let Some(existing) = args.iter_mut().find(|a| a.name == arg.name) {
            *existing = arg.clone();
        } else {
            args.push(arg.clone());
        }
    }
    args
}

/// One query of a chart: the side it measures (`None` when both sides are the same query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartQuery {
    pub side: Option<Side>,
    pub query: String,
}

/// A Prometheus metric of the rollout's analysis, ready to chart.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricChartSpec {
    /// Unique among the rollout's charts: `metric` plus, for repeated names, the template.
    pub id: String,
    pub metric: String,
    pub template: String,
    /// Where the rollout uses it (`step 2, background`).
    pub sources: Vec<String>,
    pub address: Option<String>,
    /// The query as shown: arguments resolved for the canary side, secrets masked.
    pub shown_query: String,
    /// What differs between the two queries (`service: checkout-canary | checkout-stable`).
    pub split: Option<String>,
    /// The queries to run; empty when the metric cannot be charted (`not_charted` says why).
    pub queries: Vec<ChartQuery>,
    pub not_charted: Option<String>,
    pub threshold: Option<Threshold>,
}

/// The charts of a rollout's analysis, and what kept some from being read (a missing template,
/// no permission), in words.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RolloutCharts {
    pub charts: Vec<MetricChartSpec>,
    pub problems: Vec<String>,
}

fn run_arguments(args: &[Argument], values: &[SideValues], side: Side) -> Vec<RunArgument> {
    args.iter()
        .zip(values)
        .map(|(arg, v)| RunArgument {
            name: arg.name.clone(),
            value: match side {
                Side::Canary => v.canary.clone(),
                Side::Stable => v.stable.clone(),
            },
            secret: v.secret,
        })
        .collect()
}

/// The charts of every Prometheus metric of the rollout's analyses. `templates` holds what the
/// task layer read for each referenced template (`Err` is the reason in words).
pub fn rollout_charts(
    rollout: &Rollout,
    templates: &BTreeMap<TemplateKey, Result<AnalysisTemplateSpec, String>>,
) -> RolloutCharts {
    let ctx = SideContext::of(rollout);
    let mut out = RolloutCharts::default();
    for source in analysis_sources(rollout) {
        let mut specs: Vec<(String, &AnalysisTemplateSpec)> = Vec::new();
        for template in source.analysis.templates() {
            let key = (
                template.cluster_scope.unwrap_or(false),
                template.template_name.clone(),
            );
            match templates.get(&key) {
                Some(Ok(spec)) => specs.push((key.1.clone(), spec)),
                Some(Err(reason)) => {
                    if !out.problems.contains(reason) {
                        out.problems.push(reason.clone());
                    }
                }
                None => {
                    let reason = format!("{}: not read yet", describe_template(&key));
                    if !out.problems.contains(&reason) {
                        out.problems.push(reason);
                    }
                }
            }
        }
        let spec_refs: Vec<&AnalysisTemplateSpec> = specs.iter().map(|(_, s)| *s).collect();
        let args = merged_arguments(&spec_refs, source.analysis.args());
        let values: Vec<SideValues> = args.iter().map(|a| side_values(a, &ctx)).collect();
        for (template, spec) in &specs {
            for metric in &spec.metrics {
                let Some(prometheus) = &metric.provider.prometheus else {
                    continue;
                };
                let Some(raw_query) = &prometheus.query else {
                    continue;
                };
                let chart = chart_of(
                    &metric.name,
                    template,
                    &source.label,
                    prometheus.address.as_deref(),
                    raw_query,
                    &args,
                    &values,
                    metric,
                );
                merge_chart(&mut out.charts, chart);
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn chart_of(
    name: &str,
    template: &str,
    source: &str,
    address: Option<&str>,
    raw_query: &str,
    args: &[Argument],
    values: &[SideValues],
    metric: &crate::crd::analysis::Metric,
) -> MetricChartSpec {
    let canary_args = run_arguments(args, values, Side::Canary);
    let stable_args = run_arguments(args, values, Side::Stable);
    let secret = values.iter().any(|v| v.secret);
    let success = metric.success_condition.clone().unwrap_or_default();
    let failure = metric.failure_condition.clone().unwrap_or_default();
    let threshold = extract_threshold(&success, ThresholdKind::Success)
        .or_else(|| extract_threshold(&failure, ThresholdKind::Failure));
    // Only the arguments the query (or address) names decide whether it splits.
    let named = |arg: &Argument| {
        let tag = format!("args.{}", arg.name);
        raw_query.contains(&tag) || address.is_some_and(|a| a.contains(&tag))
    };
    let mut spec = MetricChartSpec {
        id: name.to_owned(),
        metric: name.to_owned(),
        template: template.to_owned(),
        sources: vec![source.to_owned()],
        address: None,
        shown_query: raw_query.to_owned(),
        split: None,
        queries: Vec::new(),
        not_charted: None,
        threshold,
    };
    let used: Vec<RunArgument> = canary_args
        .iter()
        .zip(args)
        .filter(|(_, arg)| named(arg))
        .map(|(r, _)| r.clone())
        .collect();
    if let Some(missing) = used.iter().find(|a| a.value.is_none()) {
        spec.not_charted = Some(format!(
            "argument \"{}\" has no value yet (the rollout supplies it when the run starts)",
            missing.name
        ));
        return spec;
    }
    let substitute = |text: &str, run_args: &[RunArgument]| {
        let used: Vec<RunArgument> = run_args
            .iter()
            .zip(args)
            .filter(|(_, arg)| named(arg))
            .map(|(r, _)| r.clone())
            .collect();
        substitute_args(text, &used).map_err(|e| e.to_string())
    };
    match substitute(raw_query, &canary_args) {
        Ok(query) => spec.shown_query = query,
        Err(reason) => {
            spec.not_charted = Some(reason);
            return spec;
        }
    }
    spec.address = address.map(|a| substitute(a, &canary_args).unwrap_or_else(|_| a.to_owned()));
    if secret && used.iter().any(|a| a.secret) {
        spec.not_charted =
            Some("the query uses secret arguments, which the cockpit does not read".to_owned());
        return spec;
    }
    let differing: Vec<String> = args
        .iter()
        .zip(values)
        .filter(|(arg, v)| named(arg) && v.canary != v.stable)
        .map(|(arg, v)| {
            format!(
                "{}: {} | {}",
                arg.name,
                v.canary.as_deref().unwrap_or("-"),
                v.stable.as_deref().unwrap_or("-")
            )
        })
        .collect();
    if differing.is_empty() {
        spec.queries.push(ChartQuery {
            side: None,
            query: spec.shown_query.clone(),
        });
        return spec;
    }
    spec.split = Some(differing.join(", "));
    spec.queries.push(ChartQuery {
        side: Some(Side::Canary),
        query: spec.shown_query.clone(),
    });
    if stable_args
        .iter()
        .zip(args)
        .any(|(r, arg)| named(arg) && r.value.is_none())
    {
        // No stable ReplicaSet yet: only the canary side can be measured.
        return spec;
    }
    if let Ok(query) = substitute(raw_query, &stable_args) {
        spec.queries.push(ChartQuery {
            side: Some(Side::Stable),
            query,
        });
    }
    spec
}

/// The same metric used by several analyses with the same queries is one chart; a different
/// metric with a repeated name gets the template in its id.
fn merge_chart(charts: &mut Vec<MetricChartSpec>, chart: MetricChartSpec) {
    if let Some(existing) = charts.iter_mut().find(|c| {
        c.metric == chart.metric && c.queries == chart.queries && c.address == chart.address
    }) {
        for source in chart.sources {
            if !existing.sources.contains(&source) {
                existing.sources.push(source);
            }
        }
        return;
    }
    let mut chart = chart;
    if charts.iter().any(|c| c.id == chart.id) {
        chart.id = format!("{}@{}", chart.metric, chart.template);
        let mut n = 2;
        while charts.iter().any(|c| c.id == chart.id) {
            chart.id = format!("{}@{}#{n}", chart.metric, chart.template);
            n += 1;
        }
    }
    charts.push(chart);
}

/// What a step-boundary mark stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StepMarkKind {
    /// `RolloutUpdated`: a new revision started.
    Update,
    /// `RolloutStepCompleted`, or a pause began (the step changed).
    Step,
}

/// A time the rollout changed step or started an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepMark {
    pub at: DateTime<Utc>,
    pub kind: StepMarkKind,
}

/// The step boundaries the cockpit can see: the rollout's `RolloutUpdated` and
/// `RolloutStepCompleted` events (their last occurrence) and the current pause's start.
pub fn step_marks(events: &[EventView], pause_started: Option<DateTime<Utc>>) -> Vec<StepMark> {
    let mut marks: Vec<StepMark> = events
        .iter()
        .filter_map(|event| {
            let kind = match event.reason.as_str() {
                "RolloutUpdated" => StepMarkKind::Update,
                "RolloutStepCompleted" => StepMarkKind::Step,
                _ => return None,
            };
            Some(StepMark {
                at: event.last_seen,
                kind,
            })
        })
        .chain(pause_started.map(|at| StepMark {
            at,
            kind: StepMarkKind::Step,
        }))
        .collect();
    marks.sort_by_key(|m| (m.at, m.kind));
    marks.dedup();
    marks
}

/// The columns (0-based, of `width`) of `marks` on a chart of `window` ending at `end`; marks
/// outside the window are dropped, and where two share a column the update wins (it is the
/// boundary that matters most when reading a regression).
pub fn step_mark_columns(
    marks: &[StepMark],
    end: DateTime<Utc>,
    window: std::time::Duration,
    width: u16,
) -> Vec<(u16, StepMarkKind)> {
    let mut columns: Vec<(u16, StepMarkKind)> = Vec::new();
    for mark in marks {
        let Some(&column) = super::triage::mark_columns(&[mark.at], end, window, width).first()
        else {
            continue;
        };
        match columns.iter_mut().find(|(c, _)| *c == column) {
            Some(existing) => existing.1 = existing.1.min(mark.kind),
            None => columns.push((column, mark.kind)),
        }
    }
    columns.sort_unstable();
    columns
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::model::EventType;

    fn arg(value: serde_json::Value) -> Argument {
        serde_json::from_value(value).unwrap()
    }

    fn ctx() -> SideContext {
        SideContext {
            canary_service: Some("checkout-canary".into()),
            stable_service: Some("checkout-stable".into()),
            latest_hash: Some("6cf78c66c5".into()),
            stable_hash: Some("5f9d8b7c44".into()),
            fields: BTreeMap::from([
                ("metadata.name".to_owned(), "checkout".to_owned()),
                ("metadata.labels['team']".to_owned(), "shop".to_owned()),
            ]),
        }
    }

    #[test]
    fn argument_values_per_side() {
        let some = |s: &str| Some(s.to_owned());
        let cases = [
            (
                json!({"name": "service", "value": "checkout-canary"}),
                some("checkout-canary"),
                some("checkout-stable"),
                false,
            ),
            (
                json!({"name": "service", "value": "checkout-stable"}),
                some("checkout-stable"),
                some("checkout-stable"),
                false,
            ),
            (
                json!({"name": "service", "value": "payments"}),
                some("payments"),
                some("payments"),
                false,
            ),
            (
                json!({"name": "hash", "valueFrom": {"podTemplateHashValue": "Latest"}}),
                some("6cf78c66c5"),
                some("5f9d8b7c44"),
                false,
            ),
            (
                json!({"name": "hash", "valueFrom": {"podTemplateHashValue": "Stable"}}),
                some("5f9d8b7c44"),
                some("5f9d8b7c44"),
                false,
            ),
            (
                json!({"name": "app", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
                some("checkout"),
                some("checkout"),
                false,
            ),
            (
                json!({"name": "team", "valueFrom": {"fieldRef":
                    {"fieldPath": "metadata.labels['team']"}}}),
                some("shop"),
                some("shop"),
                false,
            ),
            (
                json!({"name": "token", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}),
                some(SECRET_MASK),
                some(SECRET_MASK),
                true,
            ),
            (json!({"name": "required"}), None, None, false),
        ];
        for (input, canary, stable, secret) in cases {
            let got = side_values(&arg(input.clone()), &ctx());
            assert_eq!(
                got,
                SideValues {
                    canary,
                    stable,
                    secret
                },
                "{input}"
            );
        }
        // Without a stableService nothing is rewritten; without a stable hash the stable side
        // of Latest has no value.
        let bare = SideContext {
            stable_service: None,
            stable_hash: None,
            ..ctx()
        };
        let service = side_values(
            &arg(json!({"name": "s", "value": "checkout-canary"})),
            &bare,
        );
        assert_eq!(service.stable.as_deref(), Some("checkout-canary"));
        let latest = side_values(
            &arg(json!({"name": "h", "valueFrom": {"podTemplateHashValue": "Latest"}})),
            &bare,
        );
        assert_eq!(latest.stable, None);
    }

    fn rollout(canary: &serde_json::Value, status: &serde_json::Value) -> Rollout {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "checkout", "namespace": "shop"},
            "spec": {"strategy": {"canary": canary}},
            "status": status
        }))
        .unwrap()
    }

    fn template(value: serde_json::Value) -> AnalysisTemplateSpec {
        serde_json::from_value(value).unwrap()
    }

    const ERRORS: &str =
        r#"sum(rate(http_requests_total{code="500",service="{{args.service}}"}[5m]))"#;

    fn templates() -> BTreeMap<TemplateKey, Result<AnalysisTemplateSpec, String>> {
        BTreeMap::from([
            (
                (false, "errors".to_owned()),
                Ok(template(json!({
                    "args": [{"name": "service"}, {"name": "token",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
                    "metrics": [
                        {"name": "error-rate", "successCondition": "result[0] <= 5",
                         "provider": {"prometheus": {"address": "http://prometheus.monitoring.svc:9090",
                            "query": ERRORS}}},
                        {"name": "with-token", "provider": {"prometheus": {
                            "query": "up{token=\"{{args.token}}\"}"}}},
                        {"name": "smoke", "provider": {"job": {"spec": {}}}}
                    ]
                }))),
            ),
            (
                (true, "pods".to_owned()),
                Ok(template(json!({
                    "args": [{"name": "hash"}],
                    "metrics": [{"name": "restarts", "provider": {"prometheus": {
                        "query": "sum(kube_pod_container_status_restarts_total{pod_template_hash=\"{{args.hash}}\"})"}}}]
                }))),
            ),
            (
                (false, "gone".to_owned()),
                Err("AnalysisTemplate gone: not found in shop".to_owned()),
            ),
        ])
    }

    #[test]
    fn charts_resolve_split_mask_and_say_what_is_missing() {
        let rollout = rollout(
            &json!({
                "canaryService": "checkout-canary", "stableService": "checkout-stable",
                "analysis": {"templates": [{"templateName": "pods", "clusterScope": true}],
                    "args": [{"name": "hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]},
                "steps": [
                    {"setWeight": 20},
                    {"analysis": {"templates": [{"templateName": "errors"}, {"templateName": "gone"}],
                        "args": [{"name": "service", "value": "checkout-canary"}]}},
                    {"analysis": {"templates": [{"templateName": "errors"}],
                        "args": [{"name": "service", "value": "checkout-canary"}]}}
                ]
            }),
            &json!({"currentPodHash": "6cf78c66c5", "stableRS": "5f9d8b7c44"}),
        );
        assert_eq!(
            referenced_templates(&rollout),
            [
                (true, "pods".to_owned()),
                (false, "errors".to_owned()),
                (false, "gone".to_owned())
            ]
        );
        let charts = rollout_charts(&rollout, &templates());
        assert_eq!(
            charts.problems,
            ["AnalysisTemplate gone: not found in shop"]
        );
        let names: Vec<&str> = charts.charts.iter().map(|c| c.metric.as_str()).collect();
        assert_eq!(names, ["restarts", "error-rate", "with-token"]);

        let restarts = &charts.charts[0];
        assert_eq!(restarts.sources, ["background"]);
        assert_eq!(
            restarts.split.as_deref(),
            Some("hash: 6cf78c66c5 | 5f9d8b7c44")
        );
        assert_eq!(
            restarts.queries,
            [
                ChartQuery {
                    side: Some(Side::Canary),
                    query: "sum(kube_pod_container_status_restarts_total{pod_template_hash=\"6cf78c66c5\"})".into()
                },
                ChartQuery {
                    side: Some(Side::Stable),
                    query: "sum(kube_pod_container_status_restarts_total{pod_template_hash=\"5f9d8b7c44\"})".into()
                }
            ]
        );

        let errors = &charts.charts[1];
        assert_eq!(errors.sources, ["step 1", "step 2"]);
        assert_eq!(
            errors.shown_query,
            r#"sum(rate(http_requests_total{code="500",service="checkout-canary"}[5m]))"#
        );
        assert_eq!(errors.queries.len(), 2);
        assert!(errors.queries[1].query.contains("checkout-stable"));
        assert_eq!(
            errors.address.as_deref(),
            Some("http://prometheus.monitoring.svc:9090")
        );
        assert!((errors.threshold.unwrap().limit - 5.0).abs() < f64::EPSILON);

        let token = &charts.charts[2];
        assert!(token.queries.is_empty());
        assert_eq!(token.shown_query, "up{token=\"*****\"}");
        assert!(token.not_charted.as_deref().unwrap().contains("secret"));
    }

    #[test]
    fn no_split_when_both_sides_are_the_same_and_missing_args_are_said() {
        // Fully promoted: the current hash is the stable hash, so one query.
        let promoted = rollout(
            &json!({"analysis": {"templates": [{"templateName": "pods", "clusterScope": true}],
                "args": [{"name": "hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]}}),
            &json!({"currentPodHash": "5f9d8b7c44", "stableRS": "5f9d8b7c44"}),
        );
        let charts = rollout_charts(&promoted, &templates());
        assert_eq!(charts.charts[0].split, None);
        assert_eq!(charts.charts[0].queries.len(), 1);
        assert_eq!(charts.charts[0].queries[0].side, None);

        // A first rollout has no stable hash: the canary alone.
        let first = rollout(
            &json!({"analysis": {"templates": [{"templateName": "pods", "clusterScope": true}],
                "args": [{"name": "hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]}}),
            &json!({"currentPodHash": "6cf78c66c5"}),
        );
        let charts = rollout_charts(&first, &templates());
        assert_eq!(charts.charts[0].queries.len(), 1);
        assert_eq!(charts.charts[0].queries[0].side, Some(Side::Canary));

        // An argument nobody supplies: not charted, said why.
        let unsupplied = rollout(
            &json!({"steps": [{"analysis": {"templates": [{"templateName": "errors"}]}}]}),
            &json!({}),
        );
        let charts = rollout_charts(&unsupplied, &templates());
        let errors = &charts.charts[0];
        assert!(errors.queries.is_empty());
        assert!(
            errors
                .not_charted
                .as_deref()
                .unwrap()
                .contains("\"service\""),
            "{errors:?}"
        );
        // A template not read yet is a problem in words, never silence.
        let charts = rollout_charts(&unsupplied, &BTreeMap::new());
        assert_eq!(charts.problems, ["AnalysisTemplate errors: not read yet"]);
    }

    #[test]
    fn blue_green_pre_and_post_promotion_are_sources() {
        let rollout: Rollout = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"strategy": {"blueGreen": {"activeService": "web",
                "prePromotionAnalysis": {"templates": [{"templateName": "a"}]},
                "postPromotionAnalysis": {"templates": [{"templateName": "b"}]}}}}
        }))
        .unwrap();
        let labels: Vec<String> = analysis_sources(&rollout)
            .into_iter()
            .map(|s| s.label)
            .collect();
        assert_eq!(labels, ["pre-promotion", "post-promotion"]);
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
    }

    fn event(reason: &str, seconds: i64) -> EventView {
        EventView {
            last_seen: at(seconds),
            kind: EventType::Normal,
            reason: reason.into(),
            message: String::new(),
            count: 1,
        }
    }

    #[test]
    fn step_marks_come_from_events_and_the_pause() {
        let events = [
            event("RolloutStepCompleted", -300),
            event("RolloutUpdated", -600),
            event("ScalingReplicaSet", -590),
            event("RolloutStepCompleted", -300),
        ];
        assert_eq!(
            step_marks(&events, Some(at(-120))),
            [
                StepMark {
                    at: at(-600),
                    kind: StepMarkKind::Update
                },
                StepMark {
                    at: at(-300),
                    kind: StepMarkKind::Step
                },
                StepMark {
                    at: at(-120),
                    kind: StepMarkKind::Step
                },
            ]
        );
    }

    type MarkCase = (Vec<StepMark>, u16, Vec<(u16, StepMarkKind)>);

    #[test]
    fn step_mark_columns_on_the_time_axis() {
        let window = std::time::Duration::from_secs(1800);
        let end = at(0);
        let mark = |s: i64, kind| StepMark { at: at(s), kind };
        let cases: [MarkCase; 5] = [
            // Start, middle and end of a 60-column window.
            (
                vec![
                    mark(-1800, StepMarkKind::Update),
                    mark(-900, StepMarkKind::Step),
                    mark(0, StepMarkKind::Step),
                ],
                60,
                vec![
                    (0, StepMarkKind::Update),
                    (30, StepMarkKind::Step),
                    (59, StepMarkKind::Step),
                ],
            ),
            // Before the window or in the future: not drawn.
            (
                vec![mark(-1801, StepMarkKind::Step), mark(5, StepMarkKind::Step)],
                60,
                vec![],
            ),
            // Two marks in one column: the update wins.
            (
                vec![
                    mark(-850, StepMarkKind::Step),
                    mark(-900, StepMarkKind::Update),
                ],
                10,
                vec![(5, StepMarkKind::Update)],
            ),
            // A narrow chart.
            (
                vec![mark(-600, StepMarkKind::Step)],
                3,
                vec![(2, StepMarkKind::Step)],
            ),
            // No width, no marks.
            (vec![mark(-600, StepMarkKind::Step)], 0, vec![]),
        ];
        for (marks, width, want) in cases {
            assert_eq!(
                step_mark_columns(&marks, end, window, width),
                want,
                "{marks:?} at width {width}"
            );
        }
    }
}
