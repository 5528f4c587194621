//! SMI TrafficSplit routing (spec §5.6), pure: the TrafficSplit (`trafficSplitName`, default the
//! rollout name) that rolltop creates and owns, with `spec.service` = the root Service and two
//! backends, canary `w` and stable `100 − w` (plus one backend per weighted experiment
//! destination while an experiment step runs). `split.smi-spec.io/v1alpha1` writes weights as
//! quantities (strings), later versions as integers.

use serde_json::{Value, json};

use super::{DesiredTraffic, ObjectWrite, TrafficRoutingError, owned_by, owner_reference};

fn weight(api_version: &str, weight: i64) -> Value {
    if api_version.ends_with("/v1alpha1") {
        json!(weight.to_string())
    } else {
        json!(weight)
    }
}

/// The TrafficSplit spec for `desired`.
pub fn desired_spec(api_version: &str, desired: &DesiredTraffic<'_>) -> Value {
    let root = desired
        .rollout
        .traffic_routing()
        .and_then(|r| r.smi.as_ref())
        .and_then(|smi| smi.root_service.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| desired.stable_service.to_owned());
    let canary = i64::from(desired.canary_weight);
    json!({
        "service": root,
        "backends": [
            {"service": desired.canary_service, "weight": weight(api_version, canary)},
            {"service": desired.stable_service, "weight": weight(api_version, 100 - canary)},
        ]
    })
}

/// [`desired_spec`] with one backend per experiment destination between the canary and the
/// stable backend (spec §5.6, §5.7): stable weight `100 − canary − Σ experiment`.
pub fn desired_spec_with_experiments(
    api_version: &str,
    desired: &DesiredTraffic<'_>,
    experiments: &[super::ExperimentDestination],
) -> Value {
    let mut spec = desired_spec(api_version, desired);
    if experiments.is_empty() {
        return spec;
    }
    let canary = i64::from(desired.canary_weight);
    let extra: i64 = experiments.iter().map(|e| i64::from(e.weight)).sum();
    let mut backends = vec![json!({
        "service": desired.canary_service, "weight": weight(api_version, canary)
    })];
    backends.extend(experiments.iter().map(
        |e| json!({"service": e.service, "weight": weight(api_version, i64::from(e.weight))}),
    ));
    backends.push(json!({
        "service": desired.stable_service,
        "weight": weight(api_version, 100 - canary - extra),
    }));
    spec["backends"] = Value::Array(backends);
    spec
}

/// [`traffic_split_change`] while a weighted experiment runs (three or more backends).
pub fn traffic_split_change_with_experiments(
    live: Option<&Value>,
    api_version: &str,
    name: &str,
    desired: &DesiredTraffic<'_>,
    experiments: &[super::ExperimentDestination],
) -> Result<Option<ObjectWrite>, TrafficRoutingError> {
    let base = traffic_split_change(live, api_version, name, desired)?;
    if experiments.is_empty() {
        return Ok(base);
    }
    let spec = desired_spec_with_experiments(api_version, desired, experiments);
    match (base, live) {
        (Some(ObjectWrite::Create(mut object)), _) => {
            object["spec"] = spec;
            Ok(Some(ObjectWrite::Create(object)))
        }
        (_, Some(live)) if live.get("spec") == Some(&spec) => Ok(None),
        _ => Ok(Some(ObjectWrite::Patch(json!({"spec": spec})))),
    }
}

/// Create the TrafficSplit, or merge-patch its spec when it differs; `None` when it matches.
/// A TrafficSplit of that name not owned by the Rollout is refused.
pub fn traffic_split_change(
    live: Option<&Value>,
    api_version: &str,
    name: &str,
    desired: &DesiredTraffic<'_>,
) -> Result<Option<ObjectWrite>, TrafficRoutingError> {
    use kube::ResourceExt;
    let spec = desired_spec(api_version, desired);
    let Some(live) = live else {
        return Ok(Some(ObjectWrite::Create(json!({
            "apiVersion": api_version,
            "kind": "TrafficSplit",
            "metadata": {
                "name": name,
                "namespace": desired.rollout.namespace().unwrap_or_default(),
                "ownerReferences": [owner_reference(desired.rollout)],
            },
            "spec": spec,
        }))));
    };
    if !owned_by(live, desired.rollout) {
        return Err(TrafficRoutingError::Refused(format!(
            "TrafficSplit `{name}` already exists and is not owned by Rollout `{}`",
            desired.rollout.name_any()
        )));
    }
    if live.get("spec") == Some(&spec) {
        return Ok(None);
    }
    Ok(Some(ObjectWrite::Patch(json!({"spec": spec}))))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crd::Rollout;

    fn rollout(smi: &Value) -> Rollout {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "demo", "namespace": "shop", "uid": "u-1"},
            "spec": {"strategy": {"canary": {
                "canaryService": "demo-canary", "stableService": "demo-stable",
                "trafficRouting": {"smi": smi}}}}
        }))
        .unwrap()
    }

    fn desired(rollout: &Rollout, weight: i32) -> DesiredTraffic<'_> {
        DesiredTraffic {
            rollout,
            canary_service: "demo-canary",
            stable_service: "demo-stable",
            canary_weight: weight,
            max_weight: 100,
            remove_managed_routes: false,
            route_step: None,
            canary_hash: "",
            stable_hash: "",
        }
    }

    #[test]
    fn creates_then_patches_the_split() {
        let r = rollout(&json!({}));
        // (apiVersion, canary weight value, stable weight value)
        let cases = [
            ("split.smi-spec.io/v1alpha1", json!("5"), json!("95")),
            ("split.smi-spec.io/v1alpha3", json!(5), json!(95)),
        ];
        for (api_version, canary, stable) in cases {
            let Some(ObjectWrite::Create(object)) =
                traffic_split_change(None, api_version, "demo", &desired(&r, 5)).unwrap()
            else {
                panic!("expected a create");
            };
            assert_eq!(object["apiVersion"], api_version);
            assert_eq!(object["spec"]["service"], "demo-stable");
            assert_eq!(
                object["spec"]["backends"],
                json!([{"service": "demo-canary", "weight": canary},
                       {"service": "demo-stable", "weight": stable}])
            );
            assert_eq!(
                traffic_split_change(Some(&object), api_version, "demo", &desired(&r, 5)).unwrap(),
                None
            );
            let Some(ObjectWrite::Patch(patch)) =
                traffic_split_change(Some(&object), api_version, "demo", &desired(&r, 0)).unwrap()
            else {
                panic!("expected a patch");
            };
            assert_eq!(
                patch["spec"]["backends"][0]["weight"],
                weight(api_version, 0)
            );
        }
    }

    #[test]
    fn root_service_and_foreign_splits() {
        let r = rollout(&json!({"rootService": "demo", "trafficSplitName": "split"}));
        let spec = desired_spec("split.smi-spec.io/v1alpha2", &desired(&r, 30));
        assert_eq!(spec["service"], "demo");
        let foreign = json!({"metadata": {"name": "split"}, "spec": spec});
        assert!(
            traffic_split_change(
                Some(&foreign),
                "split.smi-spec.io/v1alpha2",
                "split",
                &desired(&r, 30)
            )
            .is_err()
        );
    }
}
