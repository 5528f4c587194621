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
    referenced_service_error(snapshot).or_else(|| {
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

/// Referenced Services must exist and must not be managed by another Rollout (pitfall §9.13).
fn referenced_service_error(snapshot: &Snapshot) -> Option<String> {
    let rollout = &snapshot.rollout;
    let name = rollout.name_any();
    let referenced = if let Some(canary) = rollout.canary() {
        [
            ("canary.stableService", canary.stable_service.as_deref()),
            ("canary.canaryService", canary.canary_service.as_deref()),
        ]
    } else {
        let bg = rollout.blue_green()?;
        [
            ("blueGreen.activeService", bg.active_service.as_deref()),
            ("blueGreen.previewService", bg.preview_service.as_deref()),
        ]
    };
    for (field, service) in referenced {
        let Some(service) = service.filter(|s| !s.is_empty()) else {
            continue;
        };
        let path = format!("spec.strategy.{field}");
        let Some(svc) = snapshot.service(service) else {
            return Some(invalid(
                &path,
                &quoted(service),
                &format!("services {} not found", quoted(service)),
            ));
        };
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
