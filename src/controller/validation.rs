//! Rollout validation (spec §1.5, `getRolloutValidationErrors`): the static spec checks and the
//! referenced-Service checks whose first failure becomes the `InvalidSpec` condition
//! (`The Rollout "<name>" is invalid: <err>`). Errors are rendered like Kubernetes field errors
//! (`<path>: Invalid value: <value>: <detail>`, `<path>: Required value: <detail>`) with the
//! reference's detail strings, so phase messages read the same as under the Argo controller.
//! Pure: it reads the [`Snapshot`] and returns text.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use crate::controller::fenceposts::{IntOrPercent, Rounding, both_fenceposts_literally_zero};
use crate::controller::snapshot::{MANAGED_BY_ANNOTATION, Snapshot};
use crate::crd::rollout::RolloutAnalysis;
use crate::crd::{CanaryStrategy, Rollout};

/// `MissingFieldMessage`.
pub fn missing_field(field: &str) -> String {
    format!("Rollout has missing field '{field}'")
}

/// `SetWeight needs to be between 0 and 100`.
pub const INVALID_SET_WEIGHT: &str = "SetWeight needs to be between 0 and 100";
/// `Duration needs to be greater than 0`.
pub const INVALID_DURATION: &str = "Duration needs to be greater than 0";
/// Both fenceposts zero.
pub const INVALID_MAX_SURGE_MAX_UNAVAILABLE: &str =
    "MaxSurge and MaxUnavailable both can not be zero";
/// A step with zero or several kinds.
pub const INVALID_STEP: &str =
    "Step must have one of the following set: experiment, setWeight, setCanaryScale or pause";
/// Both strategies set.
pub const INVALID_STRATEGY: &str = "Multiple Strategies can not be listed";
/// Same stable and canary Service.
pub const DUPLICATED_SERVICES_CANARY: &str = "This rollout uses the same service for the stable and canary services, but two different services are required.";
/// Same active and preview Service (also both empty).
pub const DUPLICATED_SERVICES_BLUE_GREEN: &str = "This rollout uses the same service for the active and preview services, but two different services are required.";
/// Blue-green `scaleDownDelayRevisionLimit` above `revisionHistoryLimit`.
pub const SCALE_DOWN_LIMIT_LARGER_THAN_REVISION_LIMIT: &str =
    "This rollout's revision history limit can not be smaller than the rollout's scale down limit";
/// Traffic routing without both Services.
pub const INVALID_TRAFFIC_ROUTING: &str =
    "Canary service and Stable service must to be set to use Traffic Routing";
/// `setCanaryScale` without traffic routing.
pub const INVALID_SET_CANARY_SCALE: &str = "SetCanaryScale requires TrafficRouting to be set";
/// `scaleDownDelaySeconds` without traffic routing.
pub const INVALID_CANARY_SCALE_DOWN_DELAY: &str =
    "Canary scaleDownDelaySeconds can only be used with traffic routing";
/// `dynamicStableScale` without traffic routing.
pub const INVALID_DYNAMIC_STABLE_SCALE: &str =
    "Canary dynamicStableScale can only be used with traffic routing";
/// Anti-affinity with zero or two strategies.
pub const INVALID_ANTI_AFFINITY_STRATEGY: &str =
    "AntiAffinity must have exactly one strategy listed";
/// Anti-affinity weight out of range.
pub const INVALID_ANTI_AFFINITY_WEIGHT: &str = "AntiAffinity weight must be between 1-100";

/// `field.Invalid(path, value, detail).Error()`; `value` is already rendered Go-style.
fn invalid(path: &str, value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {value}: {detail}")
}

/// `field.Required(path, detail).Error()`.
fn required(path: &str, detail: &str) -> String {
    if detail.is_empty() {
        format!("{path}: Required value")
    } else {
        format!("{path}: Required value: {detail}")
    }
}

/// A Go string value as a field error prints it (`%q`).
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// An `intstr.IntOrString` value as a field error prints it (`%#v`: the value type has no
/// `String()` method, only the pointer does).
fn go_int_or_string(value: &IntOrString) -> String {
    match value {
        IntOrString::Int(n) => format!("intstr.IntOrString{{Type:0, IntVal:{n}, StrVal:\"\"}}"),
        IntOrString::String(s) => {
            format!(
                "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
                quoted(s)
            )
        }
    }
}

/// A `map[string]string` as `%#v` prints it (keys sorted).
fn go_string_map(map: &BTreeMap<String, String>) -> String {
    let body = map
        .iter()
        .map(|(k, v)| format!("{}:{}", quoted(k), quoted(v)))
        .collect::<Vec<_>>()
        .join(", ");
    format!("map[string]string{{{body}}}")
}

/// The first validation error of the snapshot's Rollout, rendered as the InvalidSpec condition
/// message (`The Rollout "<name>" is invalid: <err>`); `None` when valid.
pub fn invalid_spec_message(snapshot: &Snapshot) -> Option<String> {
    let rollout = &snapshot.rollout;
    first_error(snapshot).map(|err| {
        format!(
            "The Rollout {} is invalid: {err}",
            quoted(&rollout.name_any())
        )
    })
}

fn first_error(snapshot: &Snapshot) -> Option<String> {
    let rollout = &snapshot.rollout;
    if let Some(err) = spec_error(rollout) {
        return Some(err);
    }
    if let Some(err) = strategy_error(rollout) {
        return Some(err);
    }
    // The reference reads every referenced object first (Services, then analysis templates)
    // and validates their contents afterwards.
    referenced_service_error(snapshot)
        .or_else(|| missing_analysis_template_error(snapshot))
        .or_else(|| service_selector_error(snapshot))
        .or_else(|| {
            crate::controller::traffic::validation_error(&snapshot.rollout, &snapshot.traffic)
        })
}

fn spec_error(rollout: &Rollout) -> Option<String> {
    let spec = &rollout.spec;
    if rollout.desired_replicas() < 0 {
        return Some(invalid(
            "spec.replicas",
            &rollout.desired_replicas().to_string(),
            "must be greater than or equal to 0",
        ));
    }
    if spec.workload_ref.is_none() {
        let Some(selector) = spec.selector.as_ref() else {
            return Some(required("spec.selector", &missing_field(".spec.selector")));
        };
        let labels = selector.match_labels.clone().unwrap_or_default();
        if labels.is_empty()
            && selector
                .match_expressions
                .as_ref()
                .is_none_or(Vec::is_empty)
        {
            return Some(invalid(
                "spec.selector",
                "&v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}",
                "empty selector is invalid for deployment",
            ));
        }
        let template = spec.template.as_ref();
        let containers = template
            .and_then(|t| t.pointer("/spec/containers"))
            .and_then(serde_json::Value::as_array);
        if containers.is_none_or(Vec::is_empty) {
            return Some(required("spec.template.spec.containers", ""));
        }
        let template_labels: BTreeMap<String, String> = template
            .and_then(|t| t.pointer("/metadata/labels"))
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default();
        if labels
            .iter()
            .any(|(k, v)| template_labels.get(k) != Some(v))
        {
            return Some(invalid(
                "spec.template.metadata.labels",
                &go_string_map(&template_labels),
                "`selector` does not match template `labels`",
            ));
        }
    }
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let deadline = spec.progress_deadline_seconds.unwrap_or(600);
    if deadline <= min_ready {
        return Some(invalid(
            "spec.progressDeadlineSeconds",
            &deadline.to_string(),
            "must be greater than minReadySeconds",
        ));
    }
    None
}

fn strategy_error(rollout: &Rollout) -> Option<String> {
    match (rollout.canary(), rollout.blue_green()) {
        (None, None) => Some(required(
            "spec.strategy",
            &missing_field(".spec.strategy.canary or .spec.strategy.blueGreen"),
        )),
        (Some(_), Some(_)) => Some(invalid(
            "spec.strategy",
            &quoted("blueGreen: true canary: true"),
            INVALID_STRATEGY,
        )),
        (Some(canary), None) => canary_error(canary),
        (None, Some(bg)) => {
            let active = bg.active_service.as_deref().unwrap_or_default();
            if Some(active) == bg.preview_service.as_deref().or(Some("")) {
                return Some(invalid(
                    "spec.strategy.activeService",
                    &quoted(active),
                    DUPLICATED_SERVICES_BLUE_GREEN,
                ));
            }
            let history = rollout.spec.revision_history_limit.unwrap_or(10);
            if let Some(limit) = bg.scale_down_delay_revision_limit
                && history < limit
            {
                return Some(invalid(
                    "spec.strategy.scaleDownDelayRevisionLimit",
                    &limit.to_string(),
                    SCALE_DOWN_LIMIT_LARGER_THAN_REVISION_LIMIT,
                ));
            }
            None
        }
    }
}

fn int_or_percent(value: &IntOrString) -> IntOrPercent {
    match value {
        IntOrString::Int(n) => IntOrPercent::Int(i64::from(*n)),
        IntOrString::String(s) => IntOrPercent::Percent(s.clone()),
    }
}

fn canary_error(canary: &CanaryStrategy) -> Option<String> {
    // The reference validates the canary block under `spec.strategy` (not `.canary`).
    let path = "spec.strategy";
    let surge = canary.max_surge.as_ref().map(int_or_percent);
    let unavailable = canary.max_unavailable.as_ref().map(int_or_percent);
    if both_fenceposts_literally_zero(surge.as_ref(), unavailable.as_ref()) {
        let shown = canary
            .max_surge
            .as_ref()
            .map_or_else(|| "null".to_owned(), go_int_or_string);
        return Some(invalid(
            &format!("{path}.maxSurge"),
            &shown,
            INVALID_MAX_SURGE_MAX_UNAVAILABLE,
        ));
    }
    for (field, raw, parsed) in [
        ("maxSurge", canary.max_surge.as_ref(), surge.as_ref()),
        (
            "maxUnavailable",
            canary.max_unavailable.as_ref(),
            unavailable.as_ref(),
        ),
    ] {
        if let (Some(raw), Some(parsed)) = (raw, parsed)
            && parsed.scaled(100, Rounding::Up).is_err()
        {
            // Stricter than the reference, which silently resolves an unreadable value to 0.
            return Some(invalid(
                &format!("{path}.{field}"),
                &go_int_or_string(raw),
                "invalid value for IntOrString: invalid type: string is not a percentage",
            ));
        }
    }
    let stable_service = canary.stable_service.as_deref().unwrap_or_default();
    let canary_service = canary.canary_service.as_deref().unwrap_or_default();
    if !stable_service.is_empty() && stable_service == canary_service {
        return Some(invalid(
            &format!("{path}.stableService"),
            &quoted(stable_service),
            DUPLICATED_SERVICES_CANARY,
        ));
    }
    let traffic = canary.traffic_routing.as_ref();
    let needs_services = traffic.is_some_and(|tr| {
        !(tr.istio
            .as_ref()
            .is_some_and(|i| i.destination_rule.is_some())
            || canary.ping_pong.is_some())
    });
    if needs_services {
        if stable_service.is_empty() {
            return Some(invalid(
                &format!("{path}.stableService"),
                "\"\"",
                INVALID_TRAFFIC_ROUTING,
            ));
        }
        if canary_service.is_empty() {
            return Some(invalid(
                &format!("{path}.canaryService"),
                "\"\"",
                INVALID_TRAFFIC_ROUTING,
            ));
        }
    }
    if traffic.is_none() {
        if let Some(delay) = canary.scale_down_delay_seconds {
            return Some(invalid(
                &format!("{path}.scaleDownDelaySeconds"),
                &delay.to_string(),
                INVALID_CANARY_SCALE_DOWN_DELAY,
            ));
        }
        if canary.dynamic_stable_scale == Some(true) {
            return Some(invalid(
                &format!("{path}.dynamicStableScale"),
                "true",
                INVALID_DYNAMIC_STABLE_SCALE,
            ));
        }
    }
    for (i, step) in canary
        .steps
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let step_path = format!("{path}.steps[{i}]");
        let core = [
            step.set_weight.is_some(),
            step.pause.is_some(),
            step.experiment.is_some(),
            step.analysis.is_some(),
        ];
        if core.iter().filter(|set| **set).count() > 1 {
            let value = format!(
                "step.Experiment: {} step.Pause: {} step.SetWeight: {} step.Analysis: {}",
                step.experiment.is_some(),
                step.pause.is_some(),
                step.set_weight.is_some(),
                step.analysis.is_some()
            );
            return Some(invalid(&step_path, &quoted(&value), INVALID_STEP));
        }
        if step.kind_names().is_empty() {
            let value = format!(
                "step.Experiment: {} step.Pause: {} step.SetWeight: {} step.Analysis: {} step.SetCanaryScale: {} step.SetHeaderRoute: {} step.SetMirrorRoutes: {}",
                step.experiment.is_none(),
                step.pause.is_none(),
                step.set_weight.is_none(),
                step.analysis.is_none(),
                step.set_canary_scale.is_none(),
                step.set_header_route.is_none(),
                step.set_mirror_route.is_none()
            );
            return Some(invalid(&step_path, &quoted(&value), INVALID_STEP));
        }
        if let Some(weight) = step.set_weight
            && !(0..=100).contains(&weight)
        {
            return Some(invalid(
                &format!("{step_path}.setWeight"),
                &weight.to_string(),
                INVALID_SET_WEIGHT,
            ));
        }
        if let Some(pause) = step.pause.as_ref()
            && let Some(Err(_)) = pause.duration()
        {
            return Some(invalid(
                &format!("{step_path}.pause.duration"),
                "-1",
                INVALID_DURATION,
            ));
        }
        if step.set_canary_scale.is_some() && traffic.is_none() {
            return Some(required(
                &format!("{path}.trafficRouting"),
                INVALID_SET_CANARY_SCALE,
            ));
        }
    }
    if let Some(anti) = canary.anti_affinity.as_ref() {
        let (preferred, required_term) = (anti.preferred.as_ref(), anti.required.as_ref());
        if preferred.is_some() == required_term.is_some() {
            let value = format!(
                "antiAffinity.PreferredDuringSchedulingIgnoredDuringExecution: {} antiAffinity.RequiredDuringSchedulingIgnoredDuringExecution: {}",
                preferred.is_some(),
                required_term.is_some()
            );
            return Some(invalid(
                &format!("{path}.antiAffinity"),
                &quoted(&value),
                INVALID_ANTI_AFFINITY_STRATEGY,
            ));
        }
        if let Some(p) = preferred
            && !(1..=100).contains(&p.weight)
        {
            return Some(invalid(
                &format!("{path}.antiAffinity.weight"),
                &p.weight.to_string(),
                INVALID_ANTI_AFFINITY_WEIGHT,
            ));
        }
    }
    None
}

/// The Services the strategy names, with the field path each is named at.
fn referenced_service_fields(rollout: &Rollout) -> Vec<(&'static str, &str)> {
    let mut fields = Vec::new();
    if let Some(canary) = rollout.canary() {
        fields.extend(
            [
                ("canary.stableService", canary.stable_service.as_deref()),
                ("canary.canaryService", canary.canary_service.as_deref()),
            ]
            .into_iter()
            .filter_map(|(field, svc)| svc.map(|svc| (field, svc))),
        );
        if let Some(ping_pong) = canary.ping_pong.as_ref() {
            fields.push((
                "canary.pingPong.pingService",
                ping_pong.ping_service.as_str(),
            ));
            fields.push((
                "canary.pingPong.pongService",
                ping_pong.pong_service.as_str(),
            ));
        }
    } else if let Some(bg) = rollout.blue_green() {
        fields.extend(
            [
                ("blueGreen.activeService", bg.active_service.as_deref()),
                ("blueGreen.previewService", bg.preview_service.as_deref()),
            ]
            .into_iter()
            .filter_map(|(field, svc)| svc.map(|svc| (field, svc))),
        );
    }
    fields.retain(|(_, svc)| !svc.is_empty());
    fields
}

/// Referenced Services must exist.
fn referenced_service_error(snapshot: &Snapshot) -> Option<String> {
    referenced_service_fields(&snapshot.rollout)
        .into_iter()
        .find(|(_, service)| snapshot.service(service).is_none())
        .map(|(field, service)| {
            invalid(
                &format!("spec.strategy.{field}"),
                &quoted(service),
                &format!("services {} not found", quoted(service)),
            )
        })
}

/// Every non-hash key of a referenced Service's selector must equal the pod template's label
/// (`Service "<name>" has unmatch label "<key>" in rollout`, keys in sorted order), and the
/// Service must not be managed by another Rollout (pitfall §9.13).
fn service_selector_error(snapshot: &Snapshot) -> Option<String> {
    let rollout = &snapshot.rollout;
    let name = rollout.name_any();
    let template_labels: BTreeMap<String, String> = rollout
        .spec
        .template
        .as_ref()
        .and_then(|t| t.pointer("/metadata/labels"))
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    for (field, service) in referenced_service_fields(rollout) {
        let path = format!("spec.strategy.{field}");
        let svc = snapshot.service(service)?;
        let selector = svc.spec.as_ref().and_then(|spec| spec.selector.as_ref());
        let unmatched = selector.into_iter().flatten().find(|(key, value)| {
            key.as_str() != crate::controller::hash::POD_TEMPLATE_HASH_LABEL
                && template_labels.get(*key) != Some(*value)
        });
        if let Some((key, _)) = unmatched {
            return Some(invalid(
                &path,
                &quoted(service),
                &format!(
                    "Service {} has unmatch label {} in rollout",
                    quoted(service),
                    quoted(key)
                ),
            ));
        }
        if let Some(owner) = svc.annotations().get(MANAGED_BY_ANNOTATION)
            && *owner != name
        {
            return Some(invalid(
                &path,
                &quoted(service),
                &format!("Service {} is managed by another Rollout", quoted(service)),
            ));
        }
    }
    None
}

/// The analysis references of the strategy with the field path of their `templates` list, in
/// the reference's order: blue-green pre then post; canary steps then background.
fn analysis_references(rollout: &Rollout) -> Vec<(String, &RolloutAnalysis)> {
    let mut refs = Vec::new();
    if let Some(bg) = rollout.blue_green() {
        if let Some(pre) = bg.pre_promotion_analysis.as_ref() {
            refs.push((
                "spec.strategy.blueGreen.prePromotionAnalysis.templates".to_owned(),
                pre,
            ));
        }
        if let Some(post) = bg.post_promotion_analysis.as_ref() {
            refs.push((
                "spec.strategy.blueGreen.postPromotionAnalysis.templates".to_owned(),
                post,
            ));
        }
    } else if let Some(canary) = rollout.canary() {
        for (i, step) in rollout.steps().iter().enumerate() {
            if let Some(analysis) = step.analysis.as_ref() {
                refs.push((
                    format!("spec.strategy.canary.steps[{i}].analysis.templates"),
                    analysis,
                ));
            }
        }
        if let Some(background) = canary.analysis.as_ref() {
            refs.push((
                "spec.strategy.canary.analysis.templates".to_owned(),
                &background.analysis,
            ));
        }
    }
    refs
}

/// The `(templateName, clusterScope)` pairs the strategy's analyses reference, in order.
pub fn referenced_analysis_templates(rollout: &Rollout) -> Vec<(String, bool)> {
    analysis_references(rollout)
        .into_iter()
        .flat_map(|(_, analysis)| analysis.templates())
        .map(|t| (t.template_name.clone(), t.cluster_scope == Some(true)))
        .collect()
}

/// Every (Cluster)AnalysisTemplate the strategy references must exist:
/// `<path>: Invalid value: "<name>": AnalysisTemplate '<name>' not found` (or
/// `ClusterAnalysisTemplate '<name>' not found`).
fn missing_analysis_template_error(snapshot: &Snapshot) -> Option<String> {
    for (path, analysis) in analysis_references(&snapshot.rollout) {
        for template in analysis.templates() {
            let name = template.template_name.as_str();
            let (kind, found) = if template.cluster_scope == Some(true) {
                let found = snapshot
                    .cluster_analysis_templates
                    .iter()
                    .any(|t| t.name_any() == name);
                ("ClusterAnalysisTemplate", found)
            } else {
                let found = snapshot
                    .analysis_templates
                    .iter()
                    .any(|t| t.name_any() == name);
                ("AnalysisTemplate", found)
            };
            if !found {
                return Some(invalid(
                    &path,
                    &quoted(name),
                    &format!("{kind} '{name}' not found"),
                ));
            }
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn snapshot(
        strategy: &Value,
        services: &[Value],
        templates: &[&str],
        cluster: &[&str],
    ) -> Snapshot {
        let rollout: Rollout = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "demo", "namespace": "ns"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "demo"}},
                "template": {
                    "metadata": {"labels": {"app": "demo", "tier": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "nginx"}]}
                },
                "strategy": strategy
            }
        }))
        .unwrap();
        let template = |kind: &str, name: &str| {
            json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": kind,
                "metadata": {"name": name, "namespace": "ns"},
                "spec": {"metrics": [{"name": "m", "provider": {"job": {"spec": {}}}}]}
            })
        };
        Snapshot {
            rollout,
            replica_sets: Vec::new(),
            analysis_runs: Vec::new(),
            analysis_templates: templates
                .iter()
                .map(|n| serde_json::from_value(template("AnalysisTemplate", n)).unwrap())
                .collect(),
            cluster_analysis_templates: cluster
                .iter()
                .map(|n| serde_json::from_value(template("ClusterAnalysisTemplate", n)).unwrap())
                .collect(),
            services: services
                .iter()
                .map(|s| serde_json::from_value(s.clone()).unwrap())
                .collect(),
            now: chrono::DateTime::from_timestamp(1_750_000_000, 0).unwrap(),
            traffic: crate::controller::traffic::TrafficObjects::default(),
            pods: Vec::new(),
            experiments: Vec::new(),
            workload: None,
        }
    }

    fn svc(name: &str, selector: &Value, managed_by: Option<&str>) -> Value {
        let mut s =
            json!({"metadata": {"name": name, "namespace": "ns"}, "spec": {"selector": selector}});
        if let Some(owner) = managed_by {
            s["metadata"]["annotations"] = json!({MANAGED_BY_ANNOTATION: owner});
        }
        s
    }

    fn analysis(name: &str, cluster: bool) -> Value {
        json!({"templates": [{"templateName": name, "clusterScope": cluster}]})
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn referenced_resources_table() {
        let ok_svc = |name: &str| {
            svc(
                name,
                &json!({"app": "demo", "rollouts-pod-template-hash": "abc"}),
                Some("demo"),
            )
        };
        let canary = |extra: Value| {
            let mut c = json!({"canary": {"stableService": "stable", "canaryService": "canary"}});
            json_patch::merge(&mut c["canary"], &extra);
            c
        };
        let both = [ok_svc("stable"), ok_svc("canary")];
        let cases: Vec<(&str, Value, Vec<Value>, Vec<&str>, Vec<&str>, Option<&str>)> = vec![
            (
                "all present",
                canary(json!({})),
                both.to_vec(),
                vec![],
                vec![],
                None,
            ),
            (
                "selector key the template lacks",
                canary(json!({})),
                vec![
                    ok_svc("stable"),
                    svc("canary", &json!({"app": "demo", "version": "v1"}), None),
                ],
                vec![],
                vec![],
                Some(
                    "spec.strategy.canary.canaryService: Invalid value: \"canary\": Service \"canary\" has unmatch label \"version\" in rollout",
                ),
            ),
            (
                "selector value differs from the template label",
                json!({"blueGreen": {"activeService": "active"}}),
                vec![svc("active", &json!({"app": "other", "tier": "web"}), None)],
                vec![],
                vec![],
                Some(
                    "spec.strategy.blueGreen.activeService: Invalid value: \"active\": Service \"active\" has unmatch label \"app\" in rollout",
                ),
            ),
            (
                "the hash key and matching labels are fine",
                json!({"blueGreen": {"activeService": "active"}}),
                vec![svc(
                    "active",
                    &json!({"app": "demo", "tier": "web", "rollouts-pod-template-hash": "x"}),
                    None,
                )],
                vec![],
                vec![],
                None,
            ),
            (
                "managed by another Rollout",
                json!({"blueGreen": {"activeService": "active"}}),
                vec![svc("active", &json!({"app": "demo"}), Some("other"))],
                vec![],
                vec![],
                Some(
                    "spec.strategy.blueGreen.activeService: Invalid value: \"active\": Service \"active\" is managed by another Rollout",
                ),
            ),
            (
                "missing ping Service",
                json!({"canary": {"pingPong": {"pingService": "ping", "pongService": "pong"}}}),
                vec![svc("pong", &json!({"app": "demo"}), None)],
                vec![],
                vec![],
                Some(
                    "spec.strategy.canary.pingPong.pingService: Invalid value: \"ping\": services \"ping\" not found",
                ),
            ),
            (
                "step template present",
                canary(json!({"steps": [{"setWeight": 20}, {"analysis": analysis("t", false)}]})),
                both.to_vec(),
                vec!["t"],
                vec![],
                None,
            ),
            (
                "step template missing",
                canary(
                    json!({"steps": [{"setWeight": 20}, {"analysis": analysis("gone", false)}]}),
                ),
                both.to_vec(),
                vec!["t"],
                vec![],
                Some(
                    "spec.strategy.canary.steps[1].analysis.templates: Invalid value: \"gone\": AnalysisTemplate 'gone' not found",
                ),
            ),
            (
                "a namespaced template does not satisfy a cluster reference",
                canary(json!({"analysis": analysis("t", true)})),
                both.to_vec(),
                vec!["t"],
                vec![],
                Some(
                    "spec.strategy.canary.analysis.templates: Invalid value: \"t\": ClusterAnalysisTemplate 't' not found",
                ),
            ),
            (
                "cluster template present",
                canary(json!({"analysis": analysis("t", true)})),
                both.to_vec(),
                vec![],
                vec!["t"],
                None,
            ),
            (
                "pre-promotion template missing",
                json!({"blueGreen": {"activeService": "active", "prePromotionAnalysis": analysis("pre", false)}}),
                vec![svc("active", &json!({"app": "demo"}), None)],
                vec![],
                vec![],
                Some(
                    "spec.strategy.blueGreen.prePromotionAnalysis.templates: Invalid value: \"pre\": AnalysisTemplate 'pre' not found",
                ),
            ),
            (
                "post-promotion template missing",
                json!({"blueGreen": {"activeService": "active", "postPromotionAnalysis": analysis("post", true)}}),
                vec![svc("active", &json!({"app": "demo"}), None)],
                vec![],
                vec![],
                Some(
                    "spec.strategy.blueGreen.postPromotionAnalysis.templates: Invalid value: \"post\": ClusterAnalysisTemplate 'post' not found",
                ),
            ),
            (
                "a missing Service is reported before a missing template",
                json!({"blueGreen": {"activeService": "active", "prePromotionAnalysis": analysis("pre", false)}}),
                vec![],
                vec![],
                vec![],
                Some(
                    "spec.strategy.blueGreen.activeService: Invalid value: \"active\": services \"active\" not found",
                ),
            ),
            (
                "a missing template is reported before a selector mismatch",
                json!({"blueGreen": {"activeService": "active", "prePromotionAnalysis": analysis("pre", false)}}),
                vec![svc("active", &json!({"app": "other"}), None)],
                vec![],
                vec![],
                Some(
                    "spec.strategy.blueGreen.prePromotionAnalysis.templates: Invalid value: \"pre\": AnalysisTemplate 'pre' not found",
                ),
            ),
        ];
        for (what, strategy, services, templates, cluster, want) in cases {
            let snap = snapshot(&strategy, &services, &templates, &cluster);
            let got = invalid_spec_message(&snap);
            let want = want.map(|err| format!("The Rollout \"demo\" is invalid: {err}"));
            assert_eq!(got, want, "{what}");
        }
    }
}
