//! AWS Load Balancer Controller routing (spec §5.5), pure: the forward action annotation
//! `<prefix>/actions.<rootService>` on each referenced Ingress, with the canary and stable target
//! groups weighted, and the `rollouts.argoproj.io/managed-alb-annotations` bookkeeping. The
//! user's other annotations (R2's `ssl-redirect` and header-condition actions) are never
//! touched: the patch names only the two keys it owns.
//!
//! `setHeaderRoute` adds `<prefix>/actions.<route>` (100 % to the canary),
//! `<prefix>/conditions.<route>` (the http-header condition) and a `/*` path to that action in
//! every rule; the managed routes are removed again at promotion or abort.
//!
//! With `pingPong` the target groups are the ping and pong Services in their current roles
//! (`status.canary.stablePingPong`), never the stable/canary Service fields.
//!
//! Not done: target-group verification, and the Ingress controller's reset of actions after the
//! Rollout is deleted.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{DesiredTraffic, ManagedRouteStep};
use crate::crd::rollout::SetHeaderRoute;

/// Default annotation prefix of the AWS Load Balancer Controller.
pub const DEFAULT_PREFIX: &str = "alb.ingress.kubernetes.io";
/// Which annotations each Rollout manages on the Ingress (JSON map rollout → keys).
pub const MANAGED_ANNOTATIONS: &str = "rollouts.argoproj.io/managed-alb-annotations";

#[derive(Serialize)]
struct ForwardAction {
    #[serde(rename = "Type")]
    kind: &'static str,
    #[serde(rename = "ForwardConfig")]
    forward_config: ForwardConfig,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ForwardConfig {
    target_groups: Vec<TargetGroup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_group_stickiness_config: Option<Stickiness>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TargetGroup {
    service_name: String,
    service_port: String,
    weight: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Stickiness {
    enabled: bool,
    duration_seconds: i64,
}

/// The action annotation value: canary first, then stable with `100 − canary` (hard-coded 100
/// as in the reference), `ServicePort` as a string, field order as the AWS controller documents.
pub fn forward_action(
    canary_service: &str,
    stable_service: &str,
    port: i32,
    canary_weight: i32,
    stickiness: Option<(bool, i64)>,
) -> String {
    let group = |service: &str, weight: i64| TargetGroup {
        service_name: service.to_owned(),
        service_port: port.to_string(),
        weight,
    };
    let action = ForwardAction {
        kind: "forward",
        forward_config: ForwardConfig {
            target_groups: vec![
                group(canary_service, i64::from(canary_weight)),
                group(stable_service, 100 - i64::from(canary_weight)),
            ],
            target_group_stickiness_config: stickiness.map(|(enabled, duration_seconds)| {
                Stickiness {
                    enabled,
                    duration_seconds,
                }
            }),
        },
    };
    serde_json::to_string(&action).unwrap_or_default()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HeaderCondition {
    field: &'static str,
    http_header_config: HttpHeaderConfig,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpHeaderConfig {
    http_header_name: String,
    values: Vec<String>,
}

/// The forward action of a header route: everything to the canary.
fn header_action(canary_service: &str, port: i32) -> String {
    let action = ForwardAction {
        kind: "forward",
        forward_config: ForwardConfig {
            target_groups: vec![TargetGroup {
                service_name: canary_service.to_owned(),
                service_port: port.to_string(),
                weight: 100,
            }],
            target_group_stickiness_config: None,
        },
    };
    serde_json::to_string(&action).unwrap_or_default()
}

/// The http-header conditions of a header route; exact values of one header are merged (ALB
/// matches only exact values).
fn header_conditions(route: &SetHeaderRoute) -> String {
    let mut conditions: Vec<HeaderCondition> = Vec::new();
    for m in route.matches.iter().flatten() {
        let Some(value) = m.header_value.as_ref().and_then(|v| v.exact.clone()) else {
            continue;
        };
        match conditions
            .iter_mut()
            .find(|c| c.http_header_config.http_header_name == m.header_name)
        {
            Some(existing) => existing.http_header_config.values.push(value),
            None => conditions.push(HeaderCondition {
                field: "http-header",
                http_header_config: HttpHeaderConfig {
                    http_header_name: m.header_name.clone(),
                    values: vec![value],
                },
            }),
        }
    }
    serde_json::to_string(&conditions).unwrap_or_default()
}

fn path_backend(path: &Value) -> Option<&str> {
    path.pointer("/backend/service/name")
        .and_then(Value::as_str)
}

/// The Ingress rules with the `/*` path to `route` added in front (or removed).
fn rules_with_route_path(ingress: &Value, route: &str, present: bool) -> Option<Vec<Value>> {
    let old: Vec<Value> = ingress
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut rules = old.clone();
    for rule in &mut rules {
        let Some(paths) = rule
            .pointer_mut("/http/paths")
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        let has = paths.iter().any(|p| path_backend(p) == Some(route));
        if present && !has {
            paths.insert(
                0,
                json!({"path": "/*", "pathType": "ImplementationSpecific",
                       "backend": {"service": {"name": route, "port": {"name": "use-annotation"}}}}),
            );
        } else if !present && has {
            paths.retain(|p| path_backend(p) != Some(route));
        }
    }
    (rules != old).then_some(rules)
}

/// The merge patch of one ALB Ingress's annotations, or `None` when both owned annotations are
/// already as desired.
pub fn ingress_patch(ingress: &Value, desired: &DesiredTraffic<'_>) -> Option<Value> {
    use kube::ResourceExt;
    let alb = desired.rollout.traffic_routing()?.alb.as_ref()?;
    let prefix = alb
        .annotation_prefix
        .as_deref()
        .filter(|p| !p.is_empty())
        .unwrap_or(DEFAULT_PREFIX);
    let root = alb
        .root_service
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(desired.stable_service);
    let key = format!("{prefix}/actions.{root}");
    // With `pingPong` ALB always forwards to the ping and pong Services, whatever the
    // stable/canary Service fields say (spec §5.1); their roles swap at each promotion.
    let (stable_service, canary_service) = super::ping_pong_services(desired.rollout)
        .unwrap_or((desired.stable_service, desired.canary_service));
    let stickiness = alb
        .stickiness_config
        .as_ref()
        .filter(|s| s.enabled == Some(true))
        .map(|s| (true, s.duration_seconds.unwrap_or(0)));
    let value = forward_action(
        canary_service,
        stable_service,
        alb.service_port.unwrap_or(0),
        desired.canary_weight,
        stickiness,
    );
    let annotations = ingress
        .pointer("/metadata/annotations")
        .and_then(Value::as_object);
    let live = |k: &str| annotations.and_then(|a| a.get(k)).and_then(Value::as_str);
    let mut managed: Map<String, Value> = live(MANAGED_ANNOTATIONS)
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    managed.insert(desired.rollout.name_any(), json!([key]));
    let managed = Value::Object(managed).to_string();
    let mut patch = Map::new();
    if live(&key) != Some(value.as_str()) {
        patch.insert(key, Value::String(value));
    }
    if live(MANAGED_ANNOTATIONS) != Some(managed.as_str()) {
        patch.insert(MANAGED_ANNOTATIONS.to_owned(), Value::String(managed));
    }
    // Header routes: (route name, Some((action, conditions)) to set, None to remove).
    let mut routes: Vec<(String, Option<(String, String)>)> = Vec::new();
    if desired.remove_managed_routes {
        routes.extend(
            desired
                .managed_routes()
                .into_iter()
                .map(|name| (name, None)),
        );
    } else if let Some(ManagedRouteStep::Header(route)) = desired.route_step.as_ref() {
        let set = route.matches.as_ref().map(|_| {
            (
                header_action(canary_service, alb.service_port.unwrap_or(0)),
                header_conditions(route),
            )
        });
        routes.push((route.name.clone(), set));
    }
    let mut rules: Option<Vec<Value>> = None;
    for (name, set) in routes {
        let action_key = format!("{prefix}/actions.{name}");
        let condition_key = format!("{prefix}/conditions.{name}");
        match &set {
            Some((action, conditions)) => {
                for (k, v) in [(action_key, action), (condition_key, conditions)] {
                    if live(&k) != Some(v.as_str()) {
                        patch.insert(k, json!(v));
                    }
                }
            }
            None => {
                for k in [action_key, condition_key] {
                    if live(&k).is_some() {
                        patch.insert(k, Value::Null);
                    }
                }
            }
        }
        let base = rules
            .as_ref()
            .map_or_else(|| ingress.clone(), |r| json!({"spec": {"rules": r}}));
        if let Some(changed) = rules_with_route_path(&base, &name, set.is_some()) {
            rules = Some(changed);
        }
    }
    let mut out = Map::new();
    if !patch.is_empty() {
        out.insert("metadata".to_owned(), json!({"annotations": patch}));
    }
    if let Some(rules) = rules {
        out.insert("spec".to_owned(), json!({"rules": rules}));
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crd::Rollout;

    /// seeds.md R2: the `tomozo` Ingress with the user's own actions and condition.
    fn r2_ingress() -> Value {
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "tomozo", "annotations": {
                "kubernetes.io/ingress.class": "alb",
                "alb.ingress.kubernetes.io/actions.ssl-redirect":
                    "{\"Type\": \"redirect\", \"RedirectConfig\": {\"Protocol\": \"HTTPS\", \"Port\": \"443\", \"StatusCode\": \"HTTP_301\"}}",
                "alb.ingress.kubernetes.io/conditions.x-canary-header":
                    "[{\"Field\":\"http-header\",\"HttpHeaderConfig\":{\"HttpHeaderName\": \"X-Canary\", \"Values\":[\"true\"]}}]",
                "alb.ingress.kubernetes.io/actions.x-canary-header":
                    "{\"Type\":\"forward\",\"ForwardConfig\":{\"TargetGroups\":[{\"ServiceName\":\"tomozo-canary\",\"ServicePort\":\"8080\"}]}}"
            }},
            "spec": {"rules": [{"http": {"paths": [
                {"path": "/*", "pathType": "ImplementationSpecific",
                 "backend": {"service": {"name": "ssl-redirect", "port": {"name": "use-annotation"}}}},
                {"path": "/*", "pathType": "ImplementationSpecific",
                 "backend": {"service": {"name": "x-canary-header", "port": {"name": "use-annotation"}}}},
                {"path": "/*", "pathType": "ImplementationSpecific",
                 "backend": {"service": {"name": "tomozo-stable", "port": {"name": "use-annotation"}}}}
            ]}}]}
        })
    }

    fn r2_rollout(extra: &Value) -> Rollout {
        let mut alb = json!({"ingress": "tomozo", "servicePort": 8080});
        if let (Some(a), Some(e)) = (alb.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                a.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "tomozo"},
            "spec": {"strategy": {"canary": {
                "canaryService": "tomozo-canary", "stableService": "tomozo-stable",
                "trafficRouting": {"alb": alb}}}}
        }))
        .unwrap()
    }

    fn desired(rollout: &Rollout, weight: i32) -> DesiredTraffic<'_> {
        DesiredTraffic {
            rollout,
            canary_service: "tomozo-canary",
            stable_service: "tomozo-stable",
            canary_weight: weight,
            max_weight: 100,
            remove_managed_routes: false,
            route_step: None,
            canary_hash: "",
            stable_hash: "",
        }
    }

    #[test]
    fn r2_action_json_is_exactly_the_reports() {
        let rollout = r2_rollout(&json!({}));
        let patch = ingress_patch(&r2_ingress(), &desired(&rollout, 0)).unwrap();
        let annotations = patch["metadata"]["annotations"].as_object().unwrap();
        assert_eq!(
            annotations["alb.ingress.kubernetes.io/actions.tomozo-stable"],
            "{\"Type\":\"forward\",\"ForwardConfig\":{\"TargetGroups\":[{\"ServiceName\":\"tomozo-canary\",\"ServicePort\":\"8080\",\"Weight\":0},{\"ServiceName\":\"tomozo-stable\",\"ServicePort\":\"8080\",\"Weight\":100}]}}"
        );
        assert_eq!(
            annotations[MANAGED_ANNOTATIONS],
            "{\"tomozo\":[\"alb.ingress.kubernetes.io/actions.tomozo-stable\"]}"
        );
        // The user's annotations are not part of the patch, so they survive untouched.
        assert_eq!(annotations.len(), 2);
    }

    #[test]
    fn weights_stickiness_prefix_and_root_service() {
        // (extra alb fields, weight, key, value)
        let cases = [
            (
                json!({}),
                10,
                "alb.ingress.kubernetes.io/actions.tomozo-stable",
                "{\"Type\":\"forward\",\"ForwardConfig\":{\"TargetGroups\":[{\"ServiceName\":\"tomozo-canary\",\"ServicePort\":\"8080\",\"Weight\":10},{\"ServiceName\":\"tomozo-stable\",\"ServicePort\":\"8080\",\"Weight\":90}]}}",
            ),
            (
                json!({"stickinessConfig": {"enabled": true, "durationSeconds": 3600},
                       "rootService": "tomozo-root", "annotationPrefix": "custom.aws"}),
                100,
                "custom.aws/actions.tomozo-root",
                "{\"Type\":\"forward\",\"ForwardConfig\":{\"TargetGroups\":[{\"ServiceName\":\"tomozo-canary\",\"ServicePort\":\"8080\",\"Weight\":100},{\"ServiceName\":\"tomozo-stable\",\"ServicePort\":\"8080\",\"Weight\":0}],\"TargetGroupStickinessConfig\":{\"Enabled\":true,\"DurationSeconds\":3600}}}",
            ),
        ];
        for (extra, weight, key, value) in cases {
            let rollout = r2_rollout(&extra);
            let patch = ingress_patch(&r2_ingress(), &desired(&rollout, weight)).unwrap();
            assert_eq!(patch["metadata"]["annotations"][key], value, "{key}");
        }
    }

    /// S29 (TestAlbHeaderRoute): the header route forwards to the canary, then goes away.
    #[test]
    fn header_route_action_condition_and_path() {
        let rollout: Rollout = serde_json::from_value(json!({
            "metadata": {"name": "tomozo"},
            "spec": {"strategy": {"canary": {
                "canaryService": "tomozo-canary", "stableService": "tomozo-stable",
                "trafficRouting": {"alb": {"ingress": "tomozo", "servicePort": 8080},
                                   "managedRoutes": [{"name": "header-route"}]}}}}
        }))
        .unwrap();
        let step: SetHeaderRoute = serde_json::from_value(json!({"name": "header-route",
            "match": [{"headerName": "Custom-Header", "headerValue": {"exact": "a"}},
                      {"headerName": "Custom-Header", "headerValue": {"exact": "b"}}]}))
        .unwrap();
        let mut ingress = r2_ingress();
        let first = ingress_patch(&ingress, &desired(&rollout, 20)).unwrap();
        for (k, v) in first["metadata"]["annotations"].as_object().unwrap() {
            ingress["metadata"]["annotations"][k] = v.clone();
        }
        let with_route = DesiredTraffic {
            route_step: Some(ManagedRouteStep::Header(&step)),
            ..desired(&rollout, 20)
        };
        let patch = ingress_patch(&ingress, &with_route).unwrap();
        let annotations = &patch["metadata"]["annotations"];
        assert_eq!(
            annotations["alb.ingress.kubernetes.io/actions.header-route"],
            "{\"Type\":\"forward\",\"ForwardConfig\":{\"TargetGroups\":[{\"ServiceName\":\"tomozo-canary\",\"ServicePort\":\"8080\",\"Weight\":100}]}}"
        );
        assert_eq!(
            annotations["alb.ingress.kubernetes.io/conditions.header-route"],
            "[{\"field\":\"http-header\",\"httpHeaderConfig\":{\"httpHeaderName\":\"Custom-Header\",\"values\":[\"a\",\"b\"]}}]"
        );
        let paths = patch["spec"]["rules"][0]["http"]["paths"]
            .as_array()
            .unwrap();
        assert_eq!(paths.len(), 4);
        assert_eq!(paths[0]["backend"]["service"]["name"], "header-route");
        assert_eq!(
            paths[0]["backend"]["service"]["port"]["name"],
            "use-annotation"
        );
        // Applied, then promoted: both annotations and the path are removed.
        for (k, v) in annotations.as_object().unwrap() {
            ingress["metadata"]["annotations"][k] = v.clone();
        }
        ingress["spec"] = patch["spec"].clone();
        let done = DesiredTraffic {
            remove_managed_routes: true,
            ..desired(&rollout, 0)
        };
        let patch = ingress_patch(&ingress, &done).unwrap();
        assert_eq!(
            patch["metadata"]["annotations"]["alb.ingress.kubernetes.io/actions.header-route"],
            Value::Null
        );
        assert_eq!(
            patch["metadata"]["annotations"]["alb.ingress.kubernetes.io/conditions.header-route"],
            Value::Null
        );
        assert_eq!(patch["spec"]["rules"], r2_ingress()["spec"]["rules"]);
    }

    #[test]
    fn ping_pong_target_groups_follow_the_roles() {
        let mut r = r2_rollout(&json!({"rootService": "tomozo-stable"}));
        r.spec
            .strategy
            .as_mut()
            .unwrap()
            .canary
            .as_mut()
            .unwrap()
            .ping_pong =
            serde_json::from_value(json!({"pingService": "ping", "pongService": "pong"})).unwrap();
        let key = "alb.ingress.kubernetes.io/actions.tomozo-stable";
        let group = |service: &str, weight: i32| {
            format!(
                "{{\"ServiceName\":\"{service}\",\"ServicePort\":\"8080\",\"Weight\":{weight}}}"
            )
        };
        let action = |canary: &str, stable: &str, weight: i32| {
            format!(
                "{{\"Type\":\"forward\",\"ForwardConfig\":{{\"TargetGroups\":[{},{}]}}}}",
                group(canary, weight),
                group(stable, 100 - weight)
            )
        };
        // (stablePingPong, canary weight) ⇒ (canary Service, stable Service)
        let cases = [
            (None, 0, ("ping", "pong")),
            (Some("ping"), 25, ("pong", "ping")),
            (Some("pong"), 0, ("ping", "pong")),
            (Some("pong"), 75, ("ping", "pong")),
        ];
        for (stable_ping_pong, weight, (canary, stable)) in cases {
            r.status =
                serde_json::from_value(json!({"canary": {"stablePingPong": stable_ping_pong}}))
                    .unwrap();
            let patch = ingress_patch(&r2_ingress(), &desired(&r, weight)).unwrap();
            assert_eq!(
                patch["metadata"]["annotations"][key],
                action(canary, stable, weight),
                "{stable_ping_pong:?}"
            );
        }
    }

    #[test]
    fn no_patch_when_already_applied_and_other_rollouts_are_kept() {
        let rollout = r2_rollout(&json!({}));
        let mut ingress = r2_ingress();
        let first = ingress_patch(&ingress, &desired(&rollout, 10)).unwrap();
        for (k, v) in first["metadata"]["annotations"].as_object().unwrap() {
            ingress["metadata"]["annotations"][k] = v.clone();
        }
        assert_eq!(ingress_patch(&ingress, &desired(&rollout, 10)), None);
        ingress["metadata"]["annotations"][MANAGED_ANNOTATIONS] =
            json!("{\"other\":[\"alb.ingress.kubernetes.io/actions.other\"]}");
        let patch = ingress_patch(&ingress, &desired(&rollout, 10)).unwrap();
        assert_eq!(
            patch["metadata"]["annotations"][MANAGED_ANNOTATIONS],
            "{\"other\":[\"alb.ingress.kubernetes.io/actions.other\"],\"tomozo\":[\"alb.ingress.kubernetes.io/actions.tomozo-stable\"]}"
        );
    }
}
