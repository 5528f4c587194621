//! `rolltop lint FILE`: offline validation of Argo Rollouts manifests. The pure core,
//! [`lint_documents`], reads a multi-document YAML stream and reports what the Argo controller
//! would reject (InvalidSpec, with the reference's messages), what would break an analysis at run
//! time (unguarded `result[...]` conditions, seeds R5) and what rolltop does not understand
//! (unknown fields, usually typos). References between objects are checked only against what the
//! file itself contains: nothing here talks to a cluster. [`run`] is the thin shell that reads
//! the file, prints the report and chooses the exit code.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::controller::analysis::args::validate_arguments;
use crate::controller::analysis::condition::guard_suggestion;
use crate::controller::analysis::lint::{ConditionField, ConditionFinding, lint_conditions};
use crate::controller::analysis::prometheus::PrometheusMetric as EnginePrometheus;
use crate::controller::analysis::validation::validate_metrics;
use crate::controller::analysis::web::WebMetric as EngineWeb;
use crate::controller::analysis::{MetricDefinition, Provider};
use crate::controller::fenceposts::{IntOrPercent, Rounding, both_fenceposts_literally_zero};
use crate::controller::validation;
use crate::crd::analysis::{AnalysisTemplateRef, AnalysisTemplateSpec, Argument, Metric};
use crate::crd::rollout::{
    AntiAffinity, BlueGreenStrategy, CanaryStep, CanaryStrategy, IstioTrafficRouting,
    RolloutAnalysis, RolloutPause, TrafficRouting,
};
use crate::crd::{
    AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Rollout, UnknownFieldsError,
    parse_go_duration, unknown_fields_of,
};

/// How bad a finding is: errors make `rolltop lint` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

/// One problem in one document of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// 1-based index of the document in the stream (empty documents are not counted).
    pub document: usize,
    /// The document's `kind` (empty when the document could not be read).
    pub kind: String,
    /// The document's `metadata.name` (empty when unknown).
    pub name: String,
    /// Where in the document (`spec.strategy.canary.steps[1].setWeight`); empty for the whole.
    pub path: String,
    pub message: String,
    /// How to fix it, when there is a concrete fix to offer.
    pub suggestion: Option<String>,
}

/// Field names that a wrongly-cased key most likely meant (`setweight` → `setWeight`).
const KNOWN_FIELD_NAMES: &[&str] = &[
    "setWeight",
    "pause",
    "experiment",
    "analysis",
    "setCanaryScale",
    "setHeaderRoute",
    "setMirrorRoute",
    "plugin",
    "duration",
    "canaryService",
    "stableService",
    "activeService",
    "previewService",
    "trafficRouting",
    "maxSurge",
    "maxUnavailable",
    "virtualService",
    "virtualServices",
    "destinationRule",
    "templates",
    "templateName",
    "clusterScope",
    "successCondition",
    "failureCondition",
    "failureLimit",
    "inconclusiveLimit",
    "consecutiveErrorLimit",
    "consecutiveSuccessLimit",
    "initialDelay",
    "interval",
    "count",
    "provider",
    "prometheus",
    "address",
    "query",
    "autoPromotionEnabled",
    "autoPromotionSeconds",
    "prePromotionAnalysis",
    "postPromotionAnalysis",
    "scaleDownDelaySeconds",
    "dynamicStableScale",
    "managedRoutes",
];

/// What the file itself defines, for checking references between documents.
#[derive(Default)]
struct FileIndex {
    /// Service name → `spec.selector`.
    services: BTreeMap<String, BTreeMap<String, String>>,
    /// VirtualService name → its HTTP routes as (name, destination hosts and subsets).
    virtual_services: BTreeMap<String, Vec<HttpRoute>>,
    /// AnalysisTemplate name → spec.
    templates: BTreeMap<String, AnalysisTemplateSpec>,
    /// ClusterAnalysisTemplate name → spec.
    cluster_templates: BTreeMap<String, AnalysisTemplateSpec>,
}

struct HttpRoute {
    name: Option<String>,
    /// `destination.host` values.
    hosts: Vec<String>,
}

/// One document, read.
struct Document {
    index: usize,
    value: Value,
}

/// Lints every document of a YAML stream. Documents that are not Argo kinds only serve as
/// reference targets (Services, Istio VirtualServices). Findings come in document order.
pub fn lint_documents(text: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut documents = Vec::new();
    for (index, (first_line, chunk)) in split_documents(text).into_iter().enumerate() {
        let index = index + 1;
        // Blank lines in front keep the parser's line numbers those of the file.
        let padded = format!("{}{chunk}", "\n".repeat(first_line));
        match serde_saphyr::from_str::<Value>(&padded) {
            Ok(Value::Null) => {}
            // `kubectl get -o yaml` writes a `List`; its items share the document's number.
            Ok(Value::Object(mut list))
                if list.get("kind").and_then(Value::as_str) == Some("List")
                    && list.get("items").is_some_and(Value::is_array) =>
            {
                if let Some(Value::Array(items)) = list.remove("items") {
                    documents.extend(items.into_iter().map(|value| Document { index, value }));
                }
            }
            Ok(value) => documents.push(Document { index, value }),
            Err(error) => findings.push(Finding {
                severity: Severity::Error,
                document: index,
                kind: String::new(),
                name: String::new(),
                path: String::new(),
                message: format!(
                    "malformed YAML: {}",
                    one_line(&error.without_snippet().to_string())
                ),
                suggestion: None,
            }),
        }
    }
    let index = build_index(&documents);
    for document in &documents {
        lint_document(document, &index, &mut findings);
    }
    let any_argo = documents.iter().any(|d| is_argo_kind(&d.value));
    if findings.is_empty() && !any_argo {
        // Linting the wrong file must not look like a clean bill of health.
        findings.push(Finding {
            severity: Severity::Warning,
            document: 0,
            kind: String::new(),
            name: String::new(),
            path: String::new(),
            message: "nothing to lint: no Rollout, AnalysisTemplate, ClusterAnalysisTemplate, \
                      AnalysisRun or Experiment in this file"
                .to_owned(),
            suggestion: None,
        });
    }
    findings.sort_by_key(|f| f.document);
    findings
}

/// Splits a stream at `---` document markers (and drops `...` end markers). Chunks with only
/// comments and blank lines are dropped, so numbering counts real documents, as kubectl does.
/// Each chunk comes with the 0-based line it starts on.
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut start_line = 0;
    let mut offset = 0;
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end();
        let marker =
            bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t") || bare == "...";
        if marker {
            chunks.push((start_line, &text[start..offset]));
            // `--- {a: 1}`: content after the marker belongs to the new document.
            (start, start_line) = if bare.starts_with("--- ") || bare.starts_with("---\t") {
                (offset + 3, number)
            } else {
                (offset + line.len(), number + 1)
            };
        }
        offset += line.len();
    }
    chunks.push((start_line, &text[start..]));
    chunks
        .into_iter()
        .filter(|(_, chunk)| {
            chunk.lines().any(|line| {
                let line = line.trim();
                !line.is_empty() && !line.starts_with('#')
            })
        })
        .collect()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn build_index(documents: &[Document]) -> FileIndex {
    let mut index = FileIndex::default();
    for document in documents {
        let value = &document.value;
        let name = str_at(value, "/metadata/name").to_owned();
        match str_at(value, "/kind") {
            "Service" => {
                let selector = value
                    .pointer("/spec/selector")
                    .and_then(Value::as_object)
                    .map(|labels| {
                        labels
                            .iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                index.services.insert(name, selector);
            }
            "VirtualService" => {
                let routes = value
                    .pointer("/spec/http")
                    .and_then(Value::as_array)
                    .map(|routes| routes.iter().map(http_route).collect())
                    .unwrap_or_default();
                index.virtual_services.insert(name, routes);
            }
            "AnalysisTemplate" => {
                if let Ok(template) = serde_json::from_value::<AnalysisTemplate>(value.clone()) {
                    index.templates.insert(name, template.spec);
                }
            }
            "ClusterAnalysisTemplate" => {
                if let Ok(template) =
                    serde_json::from_value::<ClusterAnalysisTemplate>(value.clone())
                {
                    index.cluster_templates.insert(name, template.spec.0);
                }
            }
            _ => {}
        }
    }
    index
}

fn http_route(route: &Value) -> HttpRoute {
    let hosts = route
        .get("route")
        .and_then(Value::as_array)
        .map(|destinations| {
            destinations
                .iter()
                .map(|d| str_at(d, "/destination/host").to_owned())
                .collect()
        })
        .unwrap_or_default();
    HttpRoute {
        name: route.get("name").and_then(Value::as_str).map(str::to_owned),
        hosts,
    }
}

/// Collects the findings of one document.
struct Report<'a> {
    findings: &'a mut Vec<Finding>,
    document: usize,
    kind: String,
    name: String,
}

impl Report<'_> {
    fn push(
        &mut self,
        severity: Severity,
        path: &str,
        message: String,
        suggestion: Option<String>,
    ) {
        self.findings.push(Finding {
            severity,
            document: self.document,
            kind: self.kind.clone(),
            name: self.name.clone(),
            path: path.to_owned(),
            message,
            suggestion,
        });
    }

    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.push(Severity::Error, path, message.into(), None);
    }

    fn error_hint(&mut self, path: &str, message: impl Into<String>, hint: impl Into<String>) {
        self.push(Severity::Error, path, message.into(), Some(hint.into()));
    }

    fn warning(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        self.push(Severity::Warning, path, message.into(), hint);
    }
}

/// One of the kinds rolltop lints. Another group's `Rollout` (an unrelated CRD) is not ours to
/// judge; a document without `apiVersion` is given the benefit of the doubt.
fn is_argo_kind(value: &Value) -> bool {
    let api_version = str_at(value, "/apiVersion");
    (api_version.is_empty() || api_version.starts_with("argoproj.io/"))
        && matches!(
            str_at(value, "/kind"),
            "Rollout"
                | "AnalysisTemplate"
                | "ClusterAnalysisTemplate"
                | "AnalysisRun"
                | "Experiment"
        )
}

fn lint_document(document: &Document, index: &FileIndex, findings: &mut Vec<Finding>) {
    let value = &document.value;
    if !is_argo_kind(value) {
        return;
    }
    let kind = str_at(value, "/kind");
    let mut report = Report {
        findings,
        document: document.index,
        kind: kind.to_owned(),
        name: str_at(value, "/metadata/name").to_owned(),
    };
    match unknown_fields_of(value) {
        Ok(paths) => {
            for path in paths {
                let hint = misspelling_of(&path).map_or_else(
                    || {
                        "check the spelling: rolltop ignores this field, and so may Argo Rollouts"
                            .to_owned()
                    },
                    |known| format!("did you mean `{known}`?"),
                );
                report.warning(
                    &path,
                    "unknown field: not part of the Argo Rollouts API rolltop models",
                    Some(hint),
                );
            }
        }
        Err(UnknownFieldsError::Decode { source, .. }) => {
            report.error("", format!("cannot read the {kind}: {source}"));
            return;
        }
        Err(error @ UnknownFieldsError::NotArgoKind(_)) => {
            report.error("", error.to_string());
            return;
        }
    }
    // `unknown_fields_of` decoded the same value successfully, so these decodes succeed too;
    // the `if let` only keeps this panic-free.
    match kind {
        "Rollout" => {
            if let Ok(rollout) = serde_json::from_value::<Rollout>(value.clone()) {
                lint_rollout(&rollout, index, &mut report);
            }
        }
        "AnalysisTemplate" => {
            if let Ok(template) = serde_json::from_value::<AnalysisTemplate>(value.clone()) {
                lint_template(&template.spec, index, &mut report);
            }
        }
        "ClusterAnalysisTemplate" => {
            if let Ok(template) = serde_json::from_value::<ClusterAnalysisTemplate>(value.clone()) {
                lint_template(&template.spec, index, &mut report);
            }
        }
        "AnalysisRun" => {
            if let Ok(run) = serde_json::from_value::<AnalysisRun>(value.clone()) {
                lint_metrics(
                    &run.spec.metrics,
                    run.spec.args.as_deref().unwrap_or_default(),
                    "spec.metrics",
                    &mut report,
                );
            }
        }
        _ => {}
    }
}

/// The known field a wrongly-cased last path segment stands for.
fn misspelling_of(path: &str) -> Option<&'static str> {
    let last = path.rsplit('.').next().unwrap_or(path);
    let last = last.split('[').next().unwrap_or(last);
    KNOWN_FIELD_NAMES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(last) && **known != last)
        .copied()
}

fn lint_rollout(rollout: &Rollout, index: &FileIndex, report: &mut Report<'_>) {
    let spec = &rollout.spec;
    if spec.workload_ref.is_none() {
        match &spec.selector {
            None => report.error("spec.selector", validation::missing_field(".spec.selector")),
            Some(selector)
                if selector
                    .match_labels
                    .as_ref()
                    .is_none_or(BTreeMap::is_empty)
                    && selector
                        .match_expressions
                        .as_ref()
                        .is_none_or(Vec::is_empty) =>
            {
                report.error(
                    "spec.selector",
                    "This rollout is selecting all pods. A non-empty selector is required.",
                );
            }
            Some(_) => {}
        }
    }
    let template_labels = template_labels(rollout);
    let strategy = spec.strategy.as_ref();
    let canary = strategy.and_then(|s| s.canary.as_ref());
    let blue_green = strategy.and_then(|s| s.blue_green.as_ref());
    match (canary, blue_green) {
        (None, None) => report.error(
            "spec.strategy",
            validation::missing_field(".spec.strategy.canary or .spec.strategy.blueGreen"),
        ),
        (Some(_), Some(_)) => {
            report.error("spec.strategy", "Multiple Strategies can not be listed");
        }
        (Some(canary), None) => lint_canary(canary, index, &template_labels, report),
        (None, Some(blue_green)) => lint_blue_green(blue_green, index, &template_labels, report),
    }
}

fn template_labels(rollout: &Rollout) -> BTreeMap<String, String> {
    rollout
        .spec
        .template
        .as_ref()
        .and_then(|t| t.pointer("/metadata/labels"))
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn int_or_percent(value: &IntOrString) -> IntOrPercent {
    match value {
        IntOrString::Int(n) => IntOrPercent::Int(i64::from(*n)),
        IntOrString::String(s) => IntOrPercent::Percent(s.clone()),
    }
}

fn lint_canary(
    canary: &CanaryStrategy,
    index: &FileIndex,
    template_labels: &BTreeMap<String, String>,
    report: &mut Report<'_>,
) {
    const BASE: &str = "spec.strategy.canary";
    let surge = canary.max_surge.as_ref().map(int_or_percent);
    let unavailable = canary.max_unavailable.as_ref().map(int_or_percent);
    let mut fenceposts_readable = true;
    for (field, value) in [("maxSurge", &surge), ("maxUnavailable", &unavailable)] {
        if let Some(value) = value
            && let Err(error) = value.scaled(100, Rounding::Down)
        {
            fenceposts_readable = false;
            report.error_hint(
                &format!("{BASE}.{field}"),
                error.to_string(),
                "use a pod count (2) or a percentage (\"25%\"); a string without % is also \
                 read as a percentage",
            );
        }
    }
    if fenceposts_readable && both_fenceposts_literally_zero(surge.as_ref(), unavailable.as_ref()) {
        report.error_hint(
            &format!("{BASE}.maxSurge"),
            validation::INVALID_MAX_SURGE_MAX_UNAVAILABLE,
            "allow at least one extra pod (maxSurge: 1) or one unavailable pod (maxUnavailable: 1)",
        );
    }

    let canary_service = canary.canary_service.as_deref().unwrap_or_default();
    let stable_service = canary.stable_service.as_deref().unwrap_or_default();
    if !canary_service.is_empty() && canary_service == stable_service {
        report.error(
            &format!("{BASE}.stableService"),
            "This rollout uses the same service for the stable and canary services, but two \
             different services are required.",
        );
    }
    let routing = canary.traffic_routing.as_ref();
    let istio = routing.and_then(|r| r.istio.as_ref());
    let needs_services = routing.is_some()
        && istio.is_none_or(|i| i.destination_rule.is_none())
        && canary.ping_pong.is_none();
    if needs_services {
        for (field, value) in [
            ("stableService", stable_service),
            ("canaryService", canary_service),
        ] {
            if value.is_empty() {
                report.error_hint(
                    &format!("{BASE}.{field}"),
                    validation::INVALID_TRAFFIC_ROUTING,
                    format!(
                        "name the Service that selects the {} pods in {field}",
                        &field[..6]
                    ),
                );
            }
        }
    }
    for (field, service) in [
        ("canaryService", canary_service),
        ("stableService", stable_service),
    ] {
        check_service(
            &format!("{BASE}.{field}"),
            service,
            index,
            template_labels,
            report,
        );
    }
    if let Some(istio) = istio {
        lint_istio(istio, canary_service, stable_service, index, report);
    }

    for (i, step) in canary.steps.iter().flatten().enumerate() {
        let path = format!("{BASE}.steps[{i}]");
        let kinds = step.kind_names();
        match kinds.as_slice() {
            [] => report.error_hint(
                &path,
                validation::INVALID_STEP,
                "give the step exactly one kind, e.g. `- setWeight: 20` or `- pause: {}`",
            ),
            [_] => {}
            several => report.error_hint(
                &path,
                format!(
                    "{} (this step sets {})",
                    validation::INVALID_STEP,
                    several.join(" and ")
                ),
                "split it into one list item per kind",
            ),
        }
        if let Some(weight) = step.set_weight {
            let max = routing.and_then(|r| r.max_traffic_weight).unwrap_or(100);
            if !(0..=max).contains(&weight) {
                report.error(
                    &format!("{path}.setWeight"),
                    format!("SetWeight needs to be between 0 and {max}"),
                );
            }
        }
        if let Some(Err(error)) = step.pause.as_ref().and_then(RolloutPause::duration) {
            report.error_hint(
                &format!("{path}.pause.duration"),
                format!("Duration needs to be greater than 0 ({error})"),
                "use seconds (30) or a Go duration (\"30s\", \"5m\", \"1h30m\"); `pause: {}` waits \
                 for a promote",
            );
        }
        if step.set_canary_scale.is_some() && routing.is_none() {
            report.error(
                &format!("{path}.setCanaryScale"),
                validation::INVALID_SET_CANARY_SCALE,
            );
        }
        if let Some(analysis) = &step.analysis {
            check_analysis_refs(&format!("{path}.analysis"), analysis, true, index, report);
        }
        if let Some(experiment) = &step.experiment {
            for (j, analysis) in experiment.analyses.iter().flatten().enumerate() {
                let reference = AnalysisTemplateRef {
                    template_name: analysis.template_name.clone(),
                    cluster_scope: analysis.cluster_scope,
                    ..AnalysisTemplateRef::default()
                };
                check_template_ref(
                    &format!("{path}.experiment.analyses[{j}]"),
                    &reference,
                    analysis.args.as_deref().unwrap_or_default(),
                    false,
                    index,
                    report,
                );
            }
        }
        check_step_routes(&path, step, routing, report);
    }
    if routing.is_none() {
        if canary.scale_down_delay_seconds.is_some() {
            report.error(
                &format!("{BASE}.scaleDownDelaySeconds"),
                validation::INVALID_CANARY_SCALE_DOWN_DELAY,
            );
        }
        if canary.dynamic_stable_scale == Some(true) {
            report.error(
                &format!("{BASE}.dynamicStableScale"),
                validation::INVALID_DYNAMIC_STABLE_SCALE,
            );
        }
    } else if canary.scale_down_delay_seconds.is_some() && canary.dynamic_stable_scale == Some(true)
    {
        report.error(
            &format!("{BASE}.dynamicStableScale"),
            "Canary dynamicStableScale cannot be used with scaleDownDelaySeconds",
        );
    }
    check_anti_affinity(
        &format!("{BASE}.antiAffinity"),
        canary.anti_affinity.as_ref(),
        report,
    );
    if let Some(background) = &canary.analysis {
        check_analysis_refs(
            &format!("{BASE}.analysis"),
            &background.analysis,
            false,
            index,
            report,
        );
    }
}

fn lint_blue_green(
    blue_green: &BlueGreenStrategy,
    index: &FileIndex,
    template_labels: &BTreeMap<String, String>,
    report: &mut Report<'_>,
) {
    const BASE: &str = "spec.strategy.blueGreen";
    let active = blue_green.active_service.as_deref().unwrap_or_default();
    let preview = blue_green.preview_service.as_deref().unwrap_or_default();
    if active.is_empty() {
        report.error_hint(
            &format!("{BASE}.activeService"),
            validation::missing_field(".spec.strategy.blueGreen.activeService"),
            "name the Service that receives production traffic",
        );
    } else if active == preview {
        report.error(
            &format!("{BASE}.activeService"),
            "This rollout uses the same service for the active and preview services, but two \
             different services are required.",
        );
    }
    if let Some(unavailable) = &blue_green.max_unavailable
        && let Err(error) = int_or_percent(unavailable).scaled(100, Rounding::Down)
    {
        report.error(&format!("{BASE}.maxUnavailable"), error.to_string());
    }
    check_anti_affinity(
        &format!("{BASE}.antiAffinity"),
        blue_green.anti_affinity.as_ref(),
        report,
    );
    for (field, service) in [("activeService", active), ("previewService", preview)] {
        if field == "previewService" && preview == active {
            continue;
        }
        check_service(
            &format!("{BASE}.{field}"),
            service,
            index,
            template_labels,
            report,
        );
    }
    for (field, analysis) in [
        ("prePromotionAnalysis", &blue_green.pre_promotion_analysis),
        ("postPromotionAnalysis", &blue_green.post_promotion_analysis),
    ] {
        if let Some(analysis) = analysis {
            check_analysis_refs(&format!("{BASE}.{field}"), analysis, true, index, report);
        }
    }
}

/// `setHeaderRoute` / `setMirrorRoute` need a traffic router that supports them and a
/// `managedRoutes` entry of the same name.
fn check_step_routes(
    path: &str,
    step: &CanaryStep,
    routing: Option<&TrafficRouting>,
    report: &mut Report<'_>,
) {
    let header = step
        .set_header_route
        .as_ref()
        .map(|r| ("setHeaderRoute", &r.name));
    let mirror = step
        .set_mirror_route
        .as_ref()
        .map(|r| ("setMirrorRoute", &r.name));
    for (field, name) in header.into_iter().chain(mirror) {
        let field_path = format!("{path}.{field}");
        let supported = routing.is_some_and(|r| {
            r.istio.is_some()
                || (field == "setHeaderRoute" && (r.alb.is_some() || r.apisix.is_some()))
                || r.plugins.is_some()
        });
        if !supported {
            report.error(
                &field_path,
                if field == "setHeaderRoute" {
                    "SetHeaderRoute requires TrafficRouting, supports Istio and ALB and Apisix"
                } else {
                    "SetMirrorRoute requires TrafficRouting, supports Istio only"
                },
            );
            continue;
        }
        match routing.and_then(|r| r.managed_routes.as_ref()) {
            None => report.error_hint(
                "spec.strategy.canary.trafficRouting.managedRoutes",
                "Rollout has missing field 'spec.strategy.canary.trafficRouting.managedRoutes'",
                format!("list the route: `managedRoutes: [{{name: {name}}}]`"),
            ),
            Some(routes) if !routes.iter().any(|r| &r.name == name) => report.error_hint(
                &field_path,
                "Steps define a route that does not exist in \
                 spec.strategy.canary.trafficRouting.managedRoutes",
                format!("add `- name: {name}` to managedRoutes"),
            ),
            Some(_) => {}
        }
    }
}

/// Exactly one anti-affinity kind; a preferred weight in 1..=100.
fn check_anti_affinity(path: &str, anti_affinity: Option<&AntiAffinity>, report: &mut Report<'_>) {
    let Some(anti_affinity) = anti_affinity else {
        return;
    };
    if anti_affinity.preferred.is_some() == anti_affinity.required.is_some() {
        report.error(path, validation::INVALID_ANTI_AFFINITY_STRATEGY);
    }
    if let Some(preferred) = &anti_affinity.preferred
        && !(1..=100).contains(&preferred.weight)
    {
        report.error(
            &format!("{path}.weight"),
            validation::INVALID_ANTI_AFFINITY_WEIGHT,
        );
    }
}

/// A Service named by the rollout: checked against the file's Service of that name (selector
/// keys must match the pod template's labels); one missing from the file may be in the cluster.
fn check_service(
    path: &str,
    service: &str,
    index: &FileIndex,
    template_labels: &BTreeMap<String, String>,
    report: &mut Report<'_>,
) {
    if service.is_empty() || index.services.is_empty() {
        return;
    }
    let Some(selector) = index.services.get(service) else {
        report.warning(
            path,
            format!("Service \"{service}\" is not defined in this file"),
            Some("it must exist in the rollout's namespace before the rollout starts".to_owned()),
        );
        return;
    };
    for (key, value) in selector {
        if key == "rollouts-pod-template-hash" {
            continue;
        }
        if template_labels.get(key) != Some(value) {
            report.error_hint(
                path,
                format!("Service \"{service}\" has unmatch label \"{key}\" in rollout"),
                format!(
                    "the pod template needs the label {key}: {value}, or the Service's selector \
                     must drop it"
                ),
            );
        }
    }
}

/// Routes named in `istio.virtualService(s)` must exist in a VirtualService of the file, and
/// each must send traffic to both the canary and the stable Service.
fn lint_istio(
    istio: &IstioTrafficRouting,
    canary_service: &str,
    stable_service: &str,
    index: &FileIndex,
    report: &mut Report<'_>,
) {
    let uses_subsets = istio.destination_rule.is_some();
    for (i, reference) in istio.all_virtual_services().into_iter().enumerate() {
        // `name.namespace` (optionally `.svc.cluster.local`) names a VirtualService elsewhere.
        let name = reference.name.split('.').next().unwrap_or_default();
        let path = if istio
            .virtual_service
            .as_ref()
            .is_some_and(|vs| std::ptr::eq(vs, reference))
        {
            "spec.strategy.canary.trafficRouting.istio.virtualService".to_owned()
        } else {
            let offset = usize::from(istio.virtual_service.is_some());
            format!(
                "spec.strategy.canary.trafficRouting.istio.virtualServices[{}]",
                i.saturating_sub(offset)
            )
        };
        let Some(routes) = index.virtual_services.get(name) else {
            continue;
        };
        for (r, route_name) in reference.routes.iter().flatten().enumerate() {
            let Some(route) = routes
                .iter()
                .find(|rt| rt.name.as_deref() == Some(route_name))
            else {
                let named: Vec<&str> = routes.iter().filter_map(|rt| rt.name.as_deref()).collect();
                report.error_hint(
                    &format!("{path}.routes[{r}]"),
                    format!(
                        "HTTP Route '{route_name}' is not found in the defined Virtual Service."
                    ),
                    if named.is_empty() {
                        format!(
                            "give the route in VirtualService \"{name}\" a `name: {route_name}`"
                        )
                    } else {
                        format!(
                            "VirtualService \"{name}\" has the routes {}",
                            named.join(", ")
                        )
                    },
                );
                continue;
            };
            if uses_subsets {
                continue;
            }
            for (role, service) in [("canary", canary_service), ("stable", stable_service)] {
                let host_matches =
                    |host: &String| host == service || host.split('.').next() == Some(service);
                if !service.is_empty() && !route.hosts.iter().any(host_matches) {
                    report.error_hint(
                        &format!("{path}.routes[{r}]"),
                        format!(
                            "HTTP Route '{route_name}' of VirtualService \"{name}\" has no \
                             destination with host '{service}' (the {role} service)"
                        ),
                        format!("add a destination `host: {service}` to the route"),
                    );
                }
            }
        }
    }
}

/// The templates an analysis names: when the file defines them, their arguments must be
/// passed and (for `finite`: step and blue-green analyses) every metric must end.
fn check_analysis_refs(
    path: &str,
    analysis: &RolloutAnalysis,
    finite: bool,
    index: &FileIndex,
    report: &mut Report<'_>,
) {
    check_argument_sources(&format!("{path}.args"), analysis.args(), report);
    for (i, reference) in analysis.templates().iter().enumerate() {
        let template_path = format!("{path}.templates[{i}]");
        check_template_ref(
            &template_path,
            reference,
            analysis.args(),
            finite,
            index,
            report,
        );
    }
}

/// One template reference: see [`check_analysis_refs`].
fn check_template_ref(
    template_path: &str,
    reference: &AnalysisTemplateRef,
    args: &[Argument],
    finite: bool,
    index: &FileIndex,
    report: &mut Report<'_>,
) {
    let Some((kind, template)) = find_template(reference, index) else {
        let other = if reference.cluster_scope == Some(true) {
            index
                .templates
                .contains_key(&reference.template_name)
                .then_some(("an AnalysisTemplate", "remove `clusterScope: true`"))
        } else {
            index
                .cluster_templates
                .contains_key(&reference.template_name)
                .then_some(("a ClusterAnalysisTemplate", "add `clusterScope: true`"))
        };
        if let Some((defined, fix)) = other {
            report.error_hint(
                template_path,
                format!(
                    "\"{}\" is defined in this file as {defined}, but the reference looks \
                         for the other kind",
                    reference.template_name
                ),
                fix,
            );
        } else {
            let kind = template_kind(reference);
            report.warning(
                template_path,
                format!(
                    "{kind} \"{}\" is not defined in this file",
                    reference.template_name
                ),
                Some(format!(
                    "it must exist in the cluster, or add the {kind} to this file"
                )),
            );
        }
        return;
    };
    check_arguments(template_path, kind, reference, template, args, report);
    if finite {
        for metric in &template.metrics {
            let count = metric.count.as_ref().and_then(int_value).unwrap_or(0);
            if count <= 0 && metric.interval.is_some() {
                let written = metric.count.as_ref().map_or_else(
                    || "<nil>".to_owned(),
                    |c| match c {
                        IntOrString::Int(n) => n.to_string(),
                        IntOrString::String(s) => s.clone(),
                    },
                );
                report.error_hint(
                    template_path,
                    format!(
                        "{kind} {} has metric {} which runs indefinitely. Invalid value for \
                             count: {written}",
                        reference.template_name, metric.name
                    ),
                    "set a positive `count` on the metric, or run it as background analysis",
                );
            }
        }
    }
}

fn template_kind(reference: &AnalysisTemplateRef) -> &'static str {
    if reference.cluster_scope == Some(true) {
        "ClusterAnalysisTemplate"
    } else {
        "AnalysisTemplate"
    }
}

fn find_template<'a>(
    reference: &AnalysisTemplateRef,
    index: &'a FileIndex,
) -> Option<(&'static str, &'a AnalysisTemplateSpec)> {
    let kind = template_kind(reference);
    let templates = if reference.cluster_scope == Some(true) {
        &index.cluster_templates
    } else {
        &index.templates
    };
    templates.get(&reference.template_name).map(|t| (kind, t))
}

/// An argument takes its value from `value` or from `valueFrom`, never both: the engine
/// refuses such a run with this message, so lint says it before anything is applied.
fn check_argument_sources(path: &str, args: &[Argument], report: &mut Report<'_>) {
    let declared = args
        .iter()
        .map(|a| (a.name.as_str(), a.value.is_some(), a.value_from.is_some()));
    if let Err(message) = validate_arguments(declared) {
        report.error_hint(path, message, "keep either `value` or `valueFrom`");
    }
}

/// Every template argument without a default value must be passed by the analysis.
fn check_arguments(
    path: &str,
    kind: &str,
    reference: &AnalysisTemplateRef,
    template: &AnalysisTemplateSpec,
    passed: &[Argument],
    report: &mut Report<'_>,
) {
    let passed: BTreeSet<&str> = passed.iter().map(|a| a.name.as_str()).collect();
    for argument in template.args.iter().flatten() {
        let has_default = argument.value.is_some() || argument.value_from.is_some();
        if !has_default && !passed.contains(argument.name.as_str()) {
            report.error_hint(
                path,
                format!(
                    "{kind} \"{}\" requires argument \"{}\", which this analysis does not pass",
                    reference.template_name, argument.name
                ),
                format!(
                    "add `args: [{{name: {}, value: ...}}]` to the analysis",
                    argument.name
                ),
            );
        }
    }
}

fn int_value(value: &IntOrString) -> Option<i64> {
    match value {
        IntOrString::Int(n) => Some(i64::from(*n)),
        // `{{args.count}}` cannot be known offline.
        IntOrString::String(s) => s.trim().parse().ok(),
    }
}

/// A template's metrics; a template composed of other templates (`spec.templates`) may have no
/// metrics of its own, and the templates it names are checked like a rollout's references.
fn lint_template(spec: &AnalysisTemplateSpec, index: &FileIndex, report: &mut Report<'_>) {
    check_argument_sources(
        "spec.args",
        spec.args.as_deref().unwrap_or_default(),
        report,
    );
    let composed = spec.templates.as_ref().is_some_and(|t| !t.is_empty());
    for (i, reference) in spec.templates.iter().flatten().enumerate() {
        check_template_ref(
            &format!("spec.templates[{i}]"),
            reference,
            spec.args.as_deref().unwrap_or_default(),
            false,
            index,
            report,
        );
    }
    if composed && spec.metrics.is_empty() {
        return;
    }
    lint_metrics(
        &spec.metrics,
        spec.args.as_deref().unwrap_or_default(),
        "spec.metrics",
        report,
    );
}

/// Metric validation (reference messages) and condition checks for a template or run.
fn lint_metrics(metrics: &[Metric], args: &[Argument], base: &str, report: &mut Report<'_>) {
    let mut definitions = Vec::new();
    let mut all_parsed = true;
    for (i, metric) in metrics.iter().enumerate() {
        let path = format!("{base}[{i}]");
        match metric_definition(metric, args) {
            Ok(definition) => definitions.push((i, definition)),
            Err((field, message)) => {
                all_parsed = false;
                report.error(
                    &format!("{path}.{field}"),
                    format!("metrics[{i}]: {message}"),
                );
            }
        }
    }
    if all_parsed {
        let parsed: Vec<MetricDefinition> = definitions.iter().map(|(_, d)| d.clone()).collect();
        if let Err(message) = validate_metrics(&parsed) {
            // The message starts with `metrics[i]`; point at that metric when it does.
            let path = message
                .strip_prefix("metrics[")
                .and_then(|rest| rest.split_once(']'))
                .map_or_else(|| base.to_owned(), |(i, _)| format!("{base}[{i}]"));
            report.error(&path, message);
        }
    }
    for (i, definition) in &definitions {
        for finding in lint_conditions(definition) {
            lint_condition_finding(&format!("{base}[{i}]"), &metrics[*i], &finding, report);
        }
    }
}

fn lint_condition_finding(
    path: &str,
    metric: &Metric,
    finding: &ConditionFinding,
    report: &mut Report<'_>,
) {
    match finding {
        ConditionFinding::UnguardedIndex { field, .. } => {
            // Quote the condition as written, `{{args.x}}` placeholders included.
            let written = match field {
                ConditionField::SuccessCondition => metric.success_condition.as_deref(),
                ConditionField::FailureCondition => metric.failure_condition.as_deref(),
            }
            .unwrap_or_default()
            .trim();
            let guards = guard_suggestion(written);
            report.warning(
                &format!("{path}.{field}"),
                format!(
                    "{field} \"{written}\" indexes result without checking len(result): when \
                     the query returns no data every measurement is Error, and the analysis \
                     fails after consecutiveErrorLimit+1 of them"
                ),
                Some(format!(
                    "use \"{}\" (no data counts as failure) or \"{}\" (no data counts as \
                     success)",
                    guards.false_when_empty, guards.true_when_empty
                )),
            );
        }
        ConditionFinding::Invalid { field, .. }
        | ConditionFinding::VectorComparedAsNumber { field, .. } => {
            report.error(&format!("{path}.{field}"), finding.message());
        }
        ConditionFinding::NoConditions => {
            report.warning(path, finding.message(), None);
        }
    }
}

/// Turns a CRD metric into the engine's definition, as far as offline validation needs it.
/// `Err((field, message))` carries the reference's parse messages.
fn metric_definition(
    metric: &Metric,
    args: &[Argument],
) -> Result<MetricDefinition, (&'static str, String)> {
    let interval = metric
        .interval
        .as_deref()
        .map(parse_go_duration)
        .transpose()
        .map_err(|e| ("interval", format!("invalid interval string: {e}")))?;
    let initial_delay = metric
        .initial_delay
        .as_deref()
        .map(parse_go_duration)
        .transpose()
        .map_err(|e| ("initialDelay", format!("invalid startDelay string: {e}")))?;
    let kinds = metric.provider.kinds();
    let provider = match kinds.as_slice() {
        [] => Provider::None,
        [_] => match (&metric.provider.prometheus, &metric.provider.web) {
            (Some(prometheus), _) => Provider::Prometheus(EnginePrometheus {
                address: prometheus.address.clone().unwrap_or_default(),
                query: prometheus.query.clone().unwrap_or_default(),
                ..EnginePrometheus::default()
            }),
            // Other providers stand in as "a provider whose result shape is unknown", which is
            // how the condition checks treat the web provider.
            _ => Provider::Web(EngineWeb::default()),
        },
        _ => return Err(("provider", "multiple providers specified".to_owned())),
    };
    Ok(MetricDefinition {
        name: metric.name.clone(),
        interval,
        initial_delay,
        count: metric.count.as_ref().and_then(int_value),
        success_condition: fill_placeholders(metric.success_condition.as_deref(), args),
        failure_condition: fill_placeholders(metric.failure_condition.as_deref(), args),
        failure_limit: metric.failure_limit.as_ref().and_then(int_value),
        inconclusive_limit: metric.inconclusive_limit.as_ref().and_then(int_value),
        consecutive_error_limit: metric.consecutive_error_limit.as_ref().and_then(int_value),
        consecutive_success_limit: metric
            .consecutive_success_limit
            .as_ref()
            .and_then(int_value),
        provider,
        ..MetricDefinition::default()
    })
}

/// Replaces `{{args.x}}` placeholders in a condition so that it can be checked offline: with the
/// argument's value when the template gives one, else with `0`, which keeps the usual numeric
/// (`result[0] <= {{args.max}}`) and quoted (`"{{args.code}}"`) uses well-formed.
fn fill_placeholders(condition: Option<&str>, args: &[Argument]) -> String {
    let mut rest = condition.unwrap_or_default();
    let mut filled = String::new();
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            break;
        };
        filled.push_str(&rest[..open]);
        let name = rest[open + 2..open + close].trim();
        let name = name.strip_prefix("args.").unwrap_or(name);
        let value = args
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.value.as_deref())
            .unwrap_or("0");
        filled.push_str(value);
        rest = &rest[open + close + 2..];
    }
    filled.push_str(rest);
    filled
}

/// The linter report: one `FILE:DOC kind/name: severity: path: message` line per finding, an
/// indented `hint:` line when there is a fix, and the `N errors, M warnings` summary.
pub fn render(file: &str, findings: &[Finding]) -> String {
    let mut out = String::new();
    for finding in findings {
        let object = if finding.kind.is_empty() {
            String::new()
        } else if finding.name.is_empty() {
            format!(" {}", finding.kind)
        } else {
            format!(" {}/{}", finding.kind, finding.name)
        };
        let path = if finding.path.is_empty() {
            String::new()
        } else {
            format!("{}: ", finding.path)
        };
        let document = if finding.document == 0 {
            String::new()
        } else {
            format!(":{}", finding.document)
        };
        let _ = writeln!(
            out,
            "{file}{document}{object}: {}: {path}{}",
            finding.severity, finding.message
        );
        if let Some(hint) = &finding.suggestion {
            let _ = writeln!(out, "    hint: {hint}");
        }
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    let _ = writeln!(
        out,
        "{errors} error{}, {warnings} warning{}",
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" }
    );
    out
}

/// `rolltop lint FILE`: prints the report on stdout; exit 1 when there is an error (or the file
/// cannot be read), else 0.
pub fn run(file: &Path) -> ExitCode {
    let label = file.display().to_string();
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("error: reading {label}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let Ok(text) = String::from_utf8(bytes) else {
        eprintln!("error: reading {label}: not a UTF-8 text file");
        return ExitCode::FAILURE;
    };
    let findings = lint_documents(&text);
    print!("{}", render(&label, &findings));
    if findings.iter().any(|f| f.severity == Severity::Error) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A canary rollout whose strategy block is `strategy` (indented for `canary:`).
    fn canary(strategy: &str) -> String {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {{name: demo}}\nspec:\n  \
             selector: {{matchLabels: {{app: demo}}}}\n  template:\n    metadata: {{labels: {{app: \
             demo}}}}\n    spec: {{containers: [{{name: demo, image: demo:1}}]}}\n  strategy:\n    \
             canary:\n{strategy}"
        )
    }

    fn template(name: &str, metrics: &str) -> String {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {{name: {name}}}\n\
             spec:\n  metrics:\n{metrics}"
        )
    }

    /// (severity, path, message) of every finding.
    fn summary(text: &str) -> Vec<(Severity, String, String)> {
        lint_documents(text)
            .into_iter()
            .map(|f| (f.severity, f.path, f.message))
            .collect()
    }

    #[test]
    fn rollout_rules_table() {
        use Severity::{Error, Warning};
        let cases: &[(&str, String, Severity, &str, &str)] = &[
            (
                "no step kind",
                canary("      steps: [{}]\n"),
                Error,
                "spec.strategy.canary.steps[0]",
                validation::INVALID_STEP,
            ),
            (
                "two step kinds",
                canary("      steps: [{setWeight: 10, pause: {}}]\n"),
                Error,
                "spec.strategy.canary.steps[0]",
                "(this step sets setWeight and pause)",
            ),
            (
                "weight above 100",
                canary("      steps: [{setWeight: 101}]\n"),
                Error,
                "spec.strategy.canary.steps[0].setWeight",
                "SetWeight needs to be between 0 and 100",
            ),
            (
                "negative weight",
                canary("      steps: [{setWeight: -1}]\n"),
                Error,
                "spec.strategy.canary.steps[0].setWeight",
                "SetWeight needs to be between 0 and 100",
            ),
            (
                "bad pause",
                canary("      steps: [{pause: {duration: 5x}}]\n"),
                Error,
                "spec.strategy.canary.steps[0].pause.duration",
                "Duration needs to be greater than 0",
            ),
            (
                "bad maxSurge",
                canary("      maxSurge: lots\n"),
                Error,
                "spec.strategy.canary.maxSurge",
                "invalid percentage \"lots\"",
            ),
            (
                "both fenceposts zero",
                canary("      maxSurge: \"0%\"\n      maxUnavailable: 0\n"),
                Error,
                "spec.strategy.canary.maxSurge",
                "MaxSurge and MaxUnavailable both can not be zero",
            ),
            (
                "routing without services",
                canary("      trafficRouting: {nginx: {stableIngress: demo}}\n"),
                Error,
                "spec.strategy.canary.stableService",
                validation::INVALID_TRAFFIC_ROUTING,
            ),
            (
                "same canary and stable",
                canary("      canaryService: a\n      stableService: a\n"),
                Error,
                "spec.strategy.canary.stableService",
                "same service for the stable and canary services",
            ),
            (
                "setCanaryScale without routing",
                canary("      steps: [{setCanaryScale: {replicas: 1}}]\n"),
                Error,
                "spec.strategy.canary.steps[0].setCanaryScale",
                "SetCanaryScale requires TrafficRouting to be set",
            ),
            (
                "typo",
                canary("      steps: [{setweight: 10}]\n"),
                Warning,
                "spec.strategy.canary.steps[0].setweight",
                "unknown field",
            ),
            (
                "template elsewhere",
                canary("      steps: [{analysis: {templates: [{templateName: t}]}}]\n"),
                Warning,
                "spec.strategy.canary.steps[0].analysis.templates[0]",
                "AnalysisTemplate \"t\" is not defined in this file",
            ),
            (
                "header route without managed routes entry",
                canary(
                    "      canaryService: c\n      stableService: s\n      trafficRouting: {istio: \
                     {virtualService: {name: vs}}, managedRoutes: [{name: other}]}\n      steps: \
                     [{setHeaderRoute: {name: hdr}}]\n",
                ),
                Error,
                "spec.strategy.canary.steps[0].setHeaderRoute",
                "Steps define a route that does not exist in",
            ),
            (
                "mirror route with nginx",
                canary(
                    "      canaryService: c\n      stableService: s\n      trafficRouting: {nginx: \
                     {stableIngress: i}}\n      steps: [{setMirrorRoute: {name: m}}]\n",
                ),
                Error,
                "spec.strategy.canary.steps[0].setMirrorRoute",
                "SetMirrorRoute requires TrafficRouting, supports Istio only",
            ),
            (
                "scale-down delay without routing",
                canary("      scaleDownDelaySeconds: 30\n"),
                Error,
                "spec.strategy.canary.scaleDownDelaySeconds",
                "Canary scaleDownDelaySeconds can only be used with traffic routing",
            ),
            (
                "anti-affinity weight",
                canary(
                    "      antiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: {weight: \
                     0}}\n",
                ),
                Error,
                "spec.strategy.canary.antiAffinity.weight",
                "AntiAffinity weight must be between 1-100",
            ),
            (
                "anti-affinity with no kind",
                canary("      antiAffinity: {}\n"),
                Error,
                "spec.strategy.canary.antiAffinity",
                "AntiAffinity must have exactly one strategy listed",
            ),
            (
                "experiment analysis elsewhere",
                canary(
                    "      steps: [{experiment: {templates: [{name: a, specRef: canary}], analyses: \
                     [{name: x, templateName: smoke}]}}]\n",
                ),
                Warning,
                "spec.strategy.canary.steps[0].experiment.analyses[0]",
                "AnalysisTemplate \"smoke\" is not defined in this file",
            ),
        ];
        for (what, text, severity, path, message) in cases {
            let found = summary(text);
            assert!(
                found
                    .iter()
                    .any(|(s, p, m)| s == severity && p == path && m.contains(message)),
                "{what}: expected {severity} at {path} containing {message:?}, got {found:#?}"
            );
        }
    }

    #[test]
    fn blue_green_rules() {
        let rollout =
            |block: &str| canary("").replace("    canary:\n", &format!("    blueGreen: {block}\n"));
        let found = summary(&rollout("{previewService: p}"));
        assert!(
            found
                .iter()
                .any(|(_, p, m)| p == "spec.strategy.blueGreen.activeService"
                    && m == "Rollout has missing field '.spec.strategy.blueGreen.activeService'")
        );
        let found = summary(&rollout("{activeService: s, previewService: s}"));
        assert!(
            found
                .iter()
                .any(|(_, _, m)| m.contains("same service for the active and preview"))
        );
        assert_eq!(
            summary(&rollout("{activeService: a, previewService: p}")),
            vec![]
        );
    }

    #[test]
    fn strategy_and_selector_rules() {
        let both = canary("      steps: []\n").replace(
            "    canary:\n",
            "    blueGreen: {activeService: a}\n    canary:\n",
        );
        assert!(
            summary(&both)
                .iter()
                .any(|(_, _, m)| m == "Multiple Strategies can not be listed")
        );
        let none = canary("").replace("  strategy:\n    canary:\n", "  strategy: {}\n");
        assert!(
            summary(&none)
                .iter()
                .any(|(_, _, m)| m.contains("missing field '.spec.strategy.canary or"))
        );
        let all_pods = canary("      steps: []\n").replace("{matchLabels: {app: demo}}", "{}");
        assert!(
            summary(&all_pods)
                .iter()
                .any(|(_, _, m)| m.contains("selecting all pods"))
        );
    }

    #[test]
    fn clean_canary_has_no_findings() {
        let text = canary(
            "      maxSurge: \"25%\"\n      maxUnavailable: 0\n      steps:\n      - setWeight: 20\n      \
             - pause: {duration: 1h30m}\n      - pause: {duration: \"30\"}\n      - pause: {}\n",
        );
        assert_eq!(summary(&text), vec![]);
    }

    #[test]
    fn unguarded_index_warns_with_both_guards() {
        let text = template(
            "t",
            "  - name: m\n    successCondition: result[0] <= 5\n    provider: {prometheus: {address: \
             http://p:9090, query: up}}\n",
        );
        let findings = lint_documents(&text);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let finding = &findings[0];
        assert_eq!(finding.severity, Severity::Warning);
        assert_eq!(finding.path, "spec.metrics[0].successCondition");
        let hint = finding.suggestion.as_deref().unwrap();
        assert!(hint.contains("len(result) > 0 && result[0] <= 5"), "{hint}");
        assert!(
            hint.contains("len(result) == 0 || result[0] <= 5"),
            "{hint}"
        );
    }

    #[test]
    fn argument_placeholders_in_conditions() {
        let guarded = template(
            "t",
            "  - name: m\n    successCondition: len(result) > 0 && result[0] <= {{args.max}}\n    \
             provider: {prometheus: {query: up}}\n",
        )
        .replace("spec:\n", "spec:\n  args: [{name: max}]\n");
        assert_eq!(summary(&guarded), vec![]);
        let unguarded = guarded.replace("len(result) > 0 && ", "");
        let findings = lint_documents(&unguarded);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert!(
            findings[0]
                .message
                .contains("\"result[0] <= {{args.max}}\"")
        );
        let hint = findings[0].suggestion.as_deref().unwrap();
        assert!(
            hint.contains("len(result) > 0 && result[0] <= {{args.max}}"),
            "{hint}"
        );
        assert_eq!(
            fill_placeholders(
                Some("result[0] == \"{{ args.code }}\" || result[0] > {{args.n}}"),
                &[Argument {
                    name: "code".into(),
                    value: Some("500".into()),
                    ..Argument::default()
                }]
            ),
            "result[0] == \"500\" || result[0] > 0"
        );
    }

    #[test]
    fn metric_validation_uses_reference_messages() {
        let cases = [
            (
                "    interval: 1m\n    count: 2\n    failureLimit: 3\n",
                "metrics[0]: count (2) must be >= failureLimit + consecutiveSuccessLimit (3 + 0) if both >= 0",
            ),
            (
                "    count: 3\n",
                "metrics[0]: interval must be specified when count > 1",
            ),
            (
                "    interval: \"30\"\n",
                "metrics[0]: invalid interval string: time: missing unit in duration \"30\"",
            ),
            (
                "    initialDelay: soon\n",
                "metrics[0]: invalid startDelay string: time: invalid duration \"soon\"",
            ),
        ];
        for (fields, message) in cases {
            let text = template(
                "t",
                &format!(
                    "  - name: m\n{fields}    successCondition: len(result) > 0 && result[0] > 1\n    \
                     provider: {{prometheus: {{query: up}}}}\n"
                ),
            );
            let found = summary(&text);
            assert!(
                found
                    .iter()
                    .any(|(s, _, m)| *s == Severity::Error && m == message),
                "{message}: {found:#?}"
            );
        }
        let two = template(
            "t",
            "  - name: m\n    successCondition: \"true\"\n    provider: {prometheus: {query: up}, web: {url: http://x}}\n",
        );
        assert!(
            summary(&two)
                .iter()
                .any(|(_, p, m)| p == "spec.metrics[0].provider"
                    && m == "metrics[0]: multiple providers specified")
        );
        let none = template(
            "t",
            "  - name: m\n    successCondition: \"true\"\n    provider: {}\n",
        );
        assert!(
            summary(&none)
                .iter()
                .any(|(_, _, m)| m == "metrics[0]: no provider specified")
        );
    }

    #[test]
    fn references_inside_the_file() {
        let rollout = canary(
            "      canaryService: c\n      stableService: s\n      trafficRouting:\n        istio: \
             {virtualService: {name: vs, routes: [primary]}}\n      steps:\n      - analysis: \
             {templates: [{templateName: t}]}\n",
        );
        let service = |name: &str, app: &str| {
            format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {{selector: {{app: {app}}}}}\n"
            )
        };
        let vs = |route: &str, hosts: &str| {
            format!(
                "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {{name: vs}}\n\
                 spec:\n  http:\n  - name: {route}\n    route: [{hosts}]\n"
            )
        };
        let both = "{destination: {host: s}}, {destination: {host: c}}";
        let guarded = template(
            "t",
            "  - name: m\n    successCondition: len(result) > 0 && result[0] > 1\n    provider: {prometheus: {query: up}}\n",
        );
        let file = |parts: &[String]| parts.join("---\n");

        let good = file(&[
            rollout.clone(),
            service("c", "demo"),
            service("s", "demo"),
            vs("primary", both),
            guarded.clone(),
        ]);
        assert_eq!(summary(&good), vec![]);

        let bad_route = file(&[rollout.clone(), vs("main", both)]);
        assert!(
            summary(&bad_route)
                .iter()
                .any(|(s, p, m)| *s == Severity::Error
                    && p == "spec.strategy.canary.trafficRouting.istio.virtualService.routes[0]"
                    && m == "HTTP Route 'primary' is not found in the defined Virtual Service.")
        );

        let one_host = file(&[rollout.clone(), vs("primary", "{destination: {host: s}}")]);
        assert!(
            summary(&one_host)
                .iter()
                .any(|(_, _, m)| m.contains("no destination with host 'c'"))
        );

        let bad_labels = file(&[rollout.clone(), service("c", "other"), service("s", "demo")]);
        assert!(
            summary(&bad_labels)
                .iter()
                .any(|(s, p, m)| *s == Severity::Error
                    && p == "spec.strategy.canary.canaryService"
                    && m == "Service \"c\" has unmatch label \"app\" in rollout")
        );

        let missing_service = file(&[rollout.clone(), service("s", "demo")]);
        assert!(
            summary(&missing_service)
                .iter()
                .any(|(s, _, m)| *s == Severity::Warning
                    && m == "Service \"c\" is not defined in this file")
        );

        let endless = template(
            "t",
            "  - name: m\n    interval: 1m\n    successCondition: len(result) > 0 && result[0] > 1\n    provider: {prometheus: {query: up}}\n",
        );
        assert!(summary(&file(&[rollout.clone(), endless])).iter().any(|(_, _, m)| m
            == "AnalysisTemplate t has metric m which runs indefinitely. Invalid value for count: <nil>"));

        let with_arg = guarded.replace("spec:\n", "spec:\n  args: [{name: service}]\n");
        assert!(summary(&file(&[rollout.clone(), with_arg])).iter().any(|(_, _, m)| m
            == "AnalysisTemplate \"t\" requires argument \"service\", which this analysis does not pass"));

        let cluster = guarded.replace("kind: AnalysisTemplate", "kind: ClusterAnalysisTemplate");
        assert!(
            summary(&file(&[rollout, cluster]))
                .iter()
                .any(|(s, _, m)| *s == Severity::Error
                    && m.contains("defined in this file as a ClusterAnalysisTemplate"))
        );
    }

    #[test]
    fn documents_are_numbered_and_malformed_ones_reported() {
        let text = "# leading comment\n---\napiVersion: v1\nkind: ConfigMap\n---\n---\n\
                    kind: AnalysisTemplate\nmetadata: {name: [x\n";
        let findings = lint_documents(text);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].document, 2);
        assert!(
            findings[0].message.starts_with("malformed YAML"),
            "{}",
            findings[0].message
        );
        assert!(
            findings[0].message.contains("line 8"),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn list_items_are_linted() {
        let text = format!(
            "apiVersion: v1\nkind: List\nitems:\n- {}\n",
            template("t", "  - name: m\n    successCondition: result[0] > 1\n    provider: {prometheus: {query: up}}\n")
                .replace('\n', "\n  ")
        );
        let findings = lint_documents(&text);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!((findings[0].document, findings[0].name.as_str()), (1, "t"));
    }

    #[test]
    fn odd_shapes_are_errors_not_panics() {
        let cases = [
            "kind: Rollout\nmetadata: {name: r}\nspec: 5\n",
            "kind: Rollout\nmetadata: {name: r}\nspec: {strategy: {canary: {steps: oops}}}\n",
            "kind: Rollout\nmetadata: {name: r}\nspec: {strategy: {canary: {steps: [{setWeight: 99999999999}]}}}\n",
            "kind: AnalysisTemplate\nmetadata: {name: t}\nspec: {metrics: [{name: m, count: \"{{args.n}}\", provider: {}}]}\n",
            "kind: AnalysisRun\nmetadata: {name: r}\nspec: {metrics: []}\n",
        ];
        for text in cases {
            let findings = lint_documents(text);
            assert!(
                findings.iter().any(|f| f.severity == Severity::Error),
                "{text}: {findings:#?}"
            );
        }
        // Not YAML mappings at all, or another group's kind: nothing to lint, which is said.
        for text in [
            "- a\n- b\n---\n42\n",
            "apiVersion: example.com/v1\nkind: Rollout\nspec: 5\n",
            "",
        ] {
            let findings = lint_documents(text);
            assert_eq!(findings.len(), 1, "{findings:#?}");
            assert_eq!(findings[0].document, 0);
            assert!(findings[0].message.starts_with("nothing to lint"));
            assert!(render("f.yaml", &findings).starts_with("f.yaml: warning: nothing to lint"));
        }
    }

    #[test]
    fn composed_templates_need_no_metrics_of_their_own() {
        let guarded = template(
            "base",
            "  - name: m\n    successCondition: len(result) > 0 && result[0] > 1\n    provider: \
             {prometheus: {query: up}}\n",
        );
        let composed = "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: \
                        all}\nspec:\n  metrics: []\n  templates: [{templateName: base}]\n";
        assert_eq!(summary(&format!("{guarded}---\n{composed}")), vec![]);
        let found = summary(composed);
        assert!(
            found
                .iter()
                .any(|(s, p, _)| *s == Severity::Warning && p == "spec.templates[0]"),
            "{found:#?}"
        );
    }

    #[test]
    fn split_keeps_inline_document_content() {
        let chunks = split_documents("a: 1\n--- {b: 2}\n...\n# c\n");
        assert_eq!(chunks, vec![(0, "a: 1\n"), (1, " {b: 2}\n")]);
        assert_eq!(
            lint_documents("kind: ConfigMap\n--- {kind: AnalysisTemplate, metadata: {name: [x}\n")
                [0]
            .document,
            2
        );
    }

    #[test]
    fn render_prints_hint_and_summary() {
        let findings = vec![Finding {
            severity: Severity::Error,
            document: 2,
            kind: "Rollout".into(),
            name: "demo".into(),
            path: "spec.x".into(),
            message: "bad".into(),
            suggestion: Some("fix it".into()),
        }];
        assert_eq!(
            render("f.yaml", &findings),
            "f.yaml:2 Rollout/demo: error: spec.x: bad\n    hint: fix it\n1 error, 0 warnings\n"
        );
        assert_eq!(render("f.yaml", &[]), "0 errors, 0 warnings\n");
    }

    #[test]
    fn an_argument_with_both_value_and_value_from_is_an_error() {
        let text = r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t}
spec:
  args:
    - name: service
      value: web
      valueFrom: {podTemplateHashValue: Stable}
  metrics:
    - name: m
      provider: {web: {url: "http://x/{{args.service}}"}}
"#;
        let findings = lint_documents(text);
        assert!(
            findings.iter().any(|f| f.path == "spec.args"
                && f.message == "arg 'service' has both Value and ValueFrom fields"),
            "{findings:?}"
        );
    }
}
