//! NGINX Ingress routing (spec §5.4), pure: the canary Ingress
//! `<rollout>-<stableIngress>-canary` that rolltop creates and owns next to each stable Ingress.
//! It copies the stable Ingress's class and TLS, keeps only the rules with a path to the stable
//! Service (those backends renamed to the canary Service), and carries
//! `<prefix>/canary: "true"` plus `<prefix>/canary-weight`. The stable Ingress is never changed.
//! Header routing goes through `additionalIngressAnnotations` (`canary-by-header`), as in the
//! reference; `setHeaderRoute` steps do nothing here.
//!
//! Only `networking.k8s.io/v1` Ingresses are handled (`extensions/v1beta1` is not served by
//! current clusters).

use serde_json::{Map, Value, json};

use super::{DesiredTraffic, ObjectWrite, TrafficRoutingError, owned_by, owner_reference};

/// Default annotation prefix of ingress-nginx.
pub const DEFAULT_PREFIX: &str = "nginx.ingress.kubernetes.io";

fn backend_service(path: &Value) -> Option<&str> {
    path.pointer("/backend/service/name")
        .or_else(|| path.pointer("/backend/serviceName"))
        .and_then(Value::as_str)
}

/// Whether any rule of the Ingress has a path whose backend is `service`.
pub fn has_backend(ingress: &Value, service: &str) -> bool {
    ingress
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|rule| rule.pointer("/http/paths").and_then(Value::as_array))
        .flatten()
        .any(|path| backend_service(path) == Some(service))
}

/// The canary Ingress the Rollout wants next to `stable`.
fn desired_canary_ingress(
    stable: &Value,
    name: &str,
    desired: &DesiredTraffic<'_>,
) -> Result<Value, TrafficRoutingError> {
    use kube::ResourceExt;
    let nginx = desired
        .rollout
        .traffic_routing()
        .and_then(|r| r.nginx.clone())
        .unwrap_or_default();
    let prefix = nginx
        .annotation_prefix
        .as_deref()
        .filter(|p| !p.is_empty())
        .unwrap_or(DEFAULT_PREFIX);
    let stable_name = stable
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let rules: Vec<Value> = stable
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|rule| {
            rule.pointer("/http/paths")
                .and_then(Value::as_array)
                .is_some_and(|paths| {
                    paths
                        .iter()
                        .any(|p| backend_service(p) == Some(desired.stable_service))
                })
        })
        .map(|rule| {
            let mut rule = rule.clone();
            if let Some(paths) = rule
                .pointer_mut("/http/paths")
                .and_then(Value::as_array_mut)
            {
                for path in paths {
                    if backend_service(path) != Some(desired.stable_service) {
                        continue;
                    }
                    if let Some(service) = path.pointer_mut("/backend/service") {
                        service["name"] = json!(desired.canary_service);
                    } else if let Some(backend) = path.pointer_mut("/backend") {
                        backend["serviceName"] = json!(desired.canary_service);
                    }
                }
            }
            rule
        })
        .collect();
    if rules.is_empty() {
        return Err(TrafficRoutingError::Refused(format!(
            "ingress `{stable_name}` has no rules using service {} backend",
            desired.stable_service
        )));
    }
    let mut annotations = Map::new();
    if let Some(class) = stable.pointer("/metadata/annotations/kubernetes.io~1ingress.class") {
        annotations.insert("kubernetes.io/ingress.class".to_owned(), class.clone());
    }
    for (key, value) in nginx.additional_ingress_annotations.iter().flatten() {
        let key = if key.starts_with(prefix) {
            key.clone()
        } else {
            format!("{prefix}/{key}")
        };
        annotations.insert(key, json!(value));
    }
    for (key, value) in nginx.canary_ingress_annotations.iter().flatten() {
        annotations.insert(key.clone(), json!(value));
    }
    annotations.insert(format!("{prefix}/canary"), json!("true"));
    annotations.insert(
        format!("{prefix}/canary-weight"),
        json!(desired.canary_weight.to_string()),
    );
    if let Some(total) = desired
        .rollout
        .traffic_routing()
        .and_then(|r| r.max_traffic_weight)
    {
        annotations.insert(
            format!("{prefix}/canary-weight-total"),
            json!(total.to_string()),
        );
    }
    let mut spec = Map::new();
    for field in ["ingressClassName", "tls"] {
        if let Some(value) = stable.pointer(&format!("/spec/{field}")) {
            spec.insert(field.to_owned(), value.clone());
        }
    }
    spec.insert("rules".to_owned(), Value::Array(rules));
    Ok(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": desired.rollout.namespace().unwrap_or_default(),
            "annotations": annotations,
            "ownerReferences": [owner_reference(desired.rollout)],
        },
        "spec": spec,
    }))
}

/// Create the canary Ingress, or merge-patch its annotations and spec when they drifted;
/// `None` when it is already right. An Ingress of that name owned by someone else is refused.
pub fn canary_ingress_change(
    stable: &Value,
    live: Option<&Value>,
    desired: &DesiredTraffic<'_>,
) -> Result<Option<ObjectWrite>, TrafficRoutingError> {
    use kube::ResourceExt;
    let stable_name = stable
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = super::nginx_canary_ingress_name(&desired.rollout.name_any(), stable_name);
    let want = desired_canary_ingress(stable, &name, desired)?;
    let Some(live) = live else {
        return Ok(Some(ObjectWrite::Create(want)));
    };
    if !owned_by(live, desired.rollout) {
        return Err(TrafficRoutingError::Refused(format!(
            "canary ingress `{name}` already exists and is not owned by Rollout `{}`",
            desired.rollout.name_any()
        )));
    }
    let mut annotations = Map::new();
    for (key, value) in want["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if live
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            != Some(value)
        {
            annotations.insert(key.clone(), value.clone());
        }
    }
    let mut patch = Map::new();
    if !annotations.is_empty() {
        patch.insert("metadata".to_owned(), json!({"annotations": annotations}));
    }
    let spec_differs = want["spec"]
        .as_object()
        .into_iter()
        .flatten()
        .any(|(k, v)| live.pointer(&format!("/spec/{k}")) != Some(v));
    if spec_differs {
        patch.insert("spec".to_owned(), want["spec"].clone());
    }
    Ok((!patch.is_empty()).then(|| ObjectWrite::Patch(Value::Object(patch))))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crd::Rollout;

    fn stable_ingress() -> Value {
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "shop",
                         "annotations": {"kubernetes.io/ingress.class": "nginx",
                                         "nginx.ingress.kubernetes.io/rewrite-target": "/"}},
            "spec": {
                "ingressClassName": "nginx",
                "tls": [{"hosts": ["shop.example"], "secretName": "tls"}],
                "rules": [
                    {"host": "shop.example", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix",
                         "backend": {"service": {"name": "web-stable", "port": {"number": 80}}}},
                        {"path": "/static", "pathType": "Prefix",
                         "backend": {"service": {"name": "cdn", "port": {"number": 80}}}}]}},
                    {"host": "admin.example", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix",
                         "backend": {"service": {"name": "admin", "port": {"number": 80}}}}]}}
                ]
            }
        })
    }

    fn rollout(nginx: &Value) -> Rollout {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u-1"},
            "spec": {"strategy": {"canary": {
                "canaryService": "web-canary", "stableService": "web-stable",
                "trafficRouting": {"nginx": nginx}}}}
        }))
        .unwrap()
    }

    fn desired(rollout: &Rollout, weight: i32) -> DesiredTraffic<'_> {
        DesiredTraffic {
            rollout,
            canary_service: "web-canary",
            stable_service: "web-stable",
            canary_weight: weight,
            max_weight: 100,
            remove_managed_routes: false,
            route_step: None,
            canary_hash: "",
            stable_hash: "",
        }
    }

    #[test]
    fn creates_the_canary_ingress_from_the_stable_one() {
        let r = rollout(&json!({"stableIngress": "web",
            "additionalIngressAnnotations": {"canary-by-header": "X-Canary"}}));
        let Some(ObjectWrite::Create(object)) =
            canary_ingress_change(&stable_ingress(), None, &desired(&r, 5)).unwrap()
        else {
            panic!("expected a create");
        };
        assert_eq!(object["metadata"]["name"], "web-web-canary");
        assert_eq!(
            object["metadata"]["annotations"],
            json!({
                "kubernetes.io/ingress.class": "nginx",
                "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary",
                "nginx.ingress.kubernetes.io/canary": "true",
                "nginx.ingress.kubernetes.io/canary-weight": "5",
            })
        );
        assert_eq!(object["metadata"]["ownerReferences"][0]["uid"], "u-1");
        let rules = object["spec"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 1, "the admin rule has no stable backend");
        assert_eq!(
            rules[0]["http"]["paths"][0]["backend"]["service"]["name"],
            "web-canary"
        );
        assert_eq!(
            rules[0]["http"]["paths"][1]["backend"]["service"]["name"],
            "cdn"
        );
        assert_eq!(object["spec"]["ingressClassName"], "nginx");
        assert_eq!(object["spec"]["tls"][0]["secretName"], "tls");
    }

    #[test]
    fn patches_only_the_weight_once_created_and_refuses_foreign_ingresses() {
        let r = rollout(&json!({"stableIngress": "web", "annotationPrefix": "custom.nginx"}));
        let Some(ObjectWrite::Create(live)) =
            canary_ingress_change(&stable_ingress(), None, &desired(&r, 5)).unwrap()
        else {
            panic!("expected a create");
        };
        assert_eq!(
            canary_ingress_change(&stable_ingress(), Some(&live), &desired(&r, 5)).unwrap(),
            None
        );
        let change =
            canary_ingress_change(&stable_ingress(), Some(&live), &desired(&r, 50)).unwrap();
        assert_eq!(
            change,
            Some(ObjectWrite::Patch(json!({"metadata": {"annotations":
                {"custom.nginx/canary-weight": "50"}}})))
        );
        let mut foreign = live.clone();
        foreign["metadata"]["ownerReferences"] = json!([]);
        assert!(matches!(
            canary_ingress_change(&stable_ingress(), Some(&foreign), &desired(&r, 50)),
            Err(TrafficRoutingError::Refused(_))
        ));
    }

    #[test]
    fn stable_ingress_without_the_stable_backend_is_refused() {
        let r = rollout(&json!({"stableIngress": "web"}));
        let mut stable = stable_ingress();
        stable["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] =
            json!("else");
        assert!(!has_backend(&stable, "web-stable"));
        assert!(canary_ingress_change(&stable, None, &desired(&r, 5)).is_err());
    }
}
